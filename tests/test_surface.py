"""The immutable ``Surface`` (``twin.geometry.surface``): its arguments are checked, its arrays
cannot change, and both ways of sampling it account for all of its area."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import raises_naming

import twin
from twin.errors import InputError
from twin.geometry import phantoms


def test_surface_arguments_are_checked():
    with raises_naming("vertices", "(n, 3)", "(4, 2)", at="surface"):
        twin.Surface(np.zeros((4, 2)), [[0, 1, 2]])
    with raises_naming("face indices", "[0, 2]", "[0, 3]", at="surface"):
        twin.Surface(np.eye(3), [[0, 1, 3]])
    with raises_naming("1 vertices", "no face", "3", at="surface"):
        twin.Surface(np.vstack([np.eye(3), [[5, 5, 5]]]), [[0, 1, 2]])
    with raises_naming("'a'", "'b'", "overlap", at="surface"):
        twin.Surface(np.eye(3), [[0, 1, 2]], regions={"a": [0, 1], "b": [1]})


def test_a_surface_cannot_be_changed_in_place():
    head = phantoms.head(subdivisions=2)
    for array in (head.vertices_mm, head.faces):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_vertex_and_face_samples_share_out_the_whole_area():
    head = phantoms.head(subdivisions=2)
    for at in ("vertices", "centroids"):
        samples = head.samples(at=at)
        np.testing.assert_allclose(samples.areas_mm2.sum(), head.area_mm2, rtol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(samples.normals, axis=1), 1.0, rtol=1e-12)
    # Reversed windings turn every normal around, and a closed surface inside out.
    inside_out = head.flipped()
    np.testing.assert_allclose(inside_out.face_normals, -head.face_normals)
    assert inside_out.signed_volume_mm3 == pytest.approx(-head.signed_volume_mm3)


def test_area_mean_weights_each_point_by_its_area_and_matches_the_metrics(panel_render):
    from twin.dose.metrics import summary

    result, _ = panel_render
    maps = result.dose.total_irradiance_mw_cm2
    reported = result.metrics["roi"]["total"]["irradiance_mw_cm2"]["mean"]
    assert result.samples.area_mean(maps, where=result.roi) == pytest.approx(reported, rel=1e-12)
    roi_areas = result.samples.areas_mm2[result.roi]
    assert result.samples.area_mean(maps, where=result.roi) == pytest.approx(
        summary(maps[result.roi], roi_areas).mean
    )
    # the plain mean differs: the skin is sampled unevenly
    assert abs(maps[result.roi].mean() - reported) > 1e-3 * reported
    with pytest.raises(InputError, match=r"values: expected one value per point"):
        result.samples.area_mean(maps[:3])
    with pytest.raises(InputError, match=r"where: .* at least one point"):
        result.samples.area_mean(maps, where=np.zeros(len(maps), bool))
