"""Dose metrics (``twin.dose.metrics``): map summaries by area, the eye region's safety block,
coverage."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse
from _helpers import eye_maps

import twin
from twin._data import default_scene_path
from twin.dose.blocks import MeanMax
from twin.dose.hazards import skin_reflectance
from twin.dose.maps import DoseMaps, DoseSettings
from twin.dose.metrics import (
    REACH_FRACTION,
    blue_light,
    coverage,
    eye_reading,
    eye_safety,
    heating,
    map_metrics,
    weighted_percentile,
)
from twin.geometry import anatomy


def test_metrics_of_a_uniform_map():
    values = np.full(100, 20.0)
    m = map_metrics(values, np.ones(100), exposure_s=300.0, dose=DoseSettings())
    assert m.u0_min_over_mean == 1.0 and m.cv == 0.0
    assert m.fluence_j_cm2.mean == 6.0 and m.in_window_area_fraction == 1.0


def test_weighted_percentiles_with_equal_weights_are_numpys_hazen_percentiles():
    x = np.random.default_rng(0).random(1001)
    for q in (0.05, 0.5, 0.95):
        np.testing.assert_allclose(
            weighted_percentile(x, np.ones_like(x), q),
            np.percentile(x, 100 * q, method="hazen"),
            rtol=1e-12,
        )


def test_hot_spots_and_the_window_are_counted_by_area():
    e = np.array([10.0, 50.0, 150.0])
    m = map_metrics(e, np.array([100.0, 200.0, 300.0]), exposure_s=100.0, dose=DoseSettings())
    assert m.hot_spot_area_cm2 == 3.0
    assert math.isclose(m.in_window_area_fraction, 200.0 / 600.0)  # 5 J/cm2 and under 100


def test_an_eye_reading_weights_each_channel_and_counts_the_unlabelled_one_as_ir_and_blue():
    maps, areas = eye_maps(600.0)
    out = eye_reading(maps, areas, skin=maps)
    assert out.ir_irradiance_mw_cm2 == MeanMax(mean=(0.2 + 3 * 3.0) / 4, max=3.0)
    assert out.skin_ir_irradiance_mw_cm2 == out.ir_irradiance_mw_cm2
    # E_B = 0.8 blue + 0.001 red + 1.0 led at each eye point.
    e_b = np.array([0.8 * 0.5 + 0.03 + 0.2, 0.8 * 2.0 + 0.001 + 3.0])
    blue = out.blue_weighted_irradiance_mw_cm2
    assert blue.max == pytest.approx(e_b.max())
    assert blue.mean == pytest.approx((e_b[0] + 3 * e_b[1]) / 4)
    assert out.total_irradiance_mw_cm2.max == 30.7 and out.points == 2


def _blue(areas_mm2: dict, exposure_s: float = 600.0):
    # Point 0 reads 2 mW/cm^2 facing a 415 nm LED 20 mm away (B = 0.8) and 30 from a red one.
    facing = scipy.sparse.csr_array(np.array([[2.0, 30.0]]))
    return blue_light(
        facing,
        np.zeros((1, 3)),  # the detector point
        np.array([[0.0, 0.0, 20.0], [12.0, 0.0, 16.0]]),  # both LEDs 20 mm away
        channel=np.array(["blue", "red"]),
        wavelength_nm={"blue": 415.0, "red": 660.0},
        emitting_area_mm2=areas_mm2,
        e_b_max_mw_cm2=0.8 * 2.0 + 0.001 * 30.0,
        exposure_s=exposure_s,
    )


def test_blue_light_uses_the_radiance_where_every_blue_led_has_an_emitting_area():
    out = _blue({"blue": 4.0, "red": 4.0}, exposure_s=900.0)
    assert out.method == "large-source radiance"
    # The red LED: 10 * 0.001 * 30 * 400 / 4 = 30 W/m2/sr; the blue: 10 * 0.8 * 2 * 400 / 4.
    assert out.radiance_w_m2_sr == pytest.approx(1600.0)
    assert out.max_exposure_s == pytest.approx(1e6 / 1600.0) and not out.within_limit
    assert _blue({"blue": 4.0, "red": 4.0}, exposure_s=600.0).emitting_area_mm2 == {
        "blue": 4.0, "red": 4.0,
    }  # fmt: skip
    assert _blue({"blue": 400.0, "red": 4.0}).max_exposure_s is None  # 16 W/m2/sr


def test_blue_light_falls_back_to_the_small_source_bound_without_an_area():
    out = _blue({"red": 4.0})
    assert out.method == "small-source irradiance" and out.radiance_w_m2_sr is None
    assert out.max_exposure_s == pytest.approx(10.0 / 1.63)


def test_eye_safety_judges_the_cornea_and_keeps_the_eyelid_beside_it():
    maps, areas = eye_maps(600.0)
    lid = eye_reading(maps, areas, skin=maps)
    cornea = eye_reading(
        DoseMaps(
            {c: 4.0 * e for c, e in maps.irradiance_mw_cm2.items()}, 600.0, maps.wavelength_nm
        ),
        areas,
    )
    common = {"channels": maps.channels, "wavelength_nm": maps.wavelength_nm, "exposure_s": 600.0}
    out = eye_safety(lid, _blue({}), cornea=cornea, dose=DoseSettings(), **common)
    assert out.judged_on == "cornea" and out.ir_irradiance_mw_cm2.max == 12.0
    assert out.ir_limit_source == "exposure time"
    assert out.ir_limit_mw_cm2 == pytest.approx(1800.0 * 600.0**-0.75)
    assert out.ir_within_limit and out.risk_group["ir_eye"] == "RG1"
    assert out.ir_channels == ["led"] and out.unknown_wavelength_channels == ["led"]
    assert out.to_dict()["eyelid"]["ir_irradiance_mw_cm2"]["max"] == 3.0
    explicit = DoseSettings(eye_ir_limit_mw_cm2=10.0)
    out = eye_safety(lid, _blue({}), cornea=None, dose=explicit, **common)
    assert out.judged_on == "eyelid" and out.ir_irradiance_mw_cm2.max == 3.0
    assert out.ir_limit_source == "dose.eye_ir_limit_mw_cm2" and "cornea" not in out.to_dict()


def test_absorbed_power_is_the_unreflected_irradiance_per_region():
    maps = DoseMaps(
        {"red": np.array([10.0, 200.0]), "led": np.array([1.0, 1.0])}, 600.0, {"red": 634.0}
    )
    roi = np.array([True, False])
    out = heating(
        maps, np.array([1.0, 1.0]), roi=roi, regions={"a": ~roi, "none": ~roi & roi},
        dose=DoseSettings(),
    )  # fmt: skip
    r = skin_reflectance(634.0)
    assert out.reflectance == {"red": r, "led": 0.0}
    assert out.roi.absorbed_mw_cm2.max == pytest.approx((1 - r) * 10.0 + 1.0)
    assert out.roi.within_limit and out.limit_mw_cm2 == 50.0
    assert out.regions["a"].absorbed_mw_cm2.max == pytest.approx((1 - r) * 200.0 + 1.0)
    assert not out.regions["a"].within_limit and "none" not in out.regions


def test_coverage_counts_the_area_each_emitter_reaches_above_a_fraction_of_its_peak():
    # Three points (areas 1, 2, 3) under two emitters; the third point is not treated.
    reach = REACH_FRACTION
    matrix = scipy.sparse.csc_array(np.array([[1.0, 2.0], [0.5 * reach, 2.0 * reach], [1.0, 2.0]]))
    out = coverage(matrix, np.array([1.0, 2.0, 3.0]), np.array([True, True, False]), k_max=3)
    # Point 0 is reached by both, point 1 by the second alone (at exactly its threshold).
    assert out.at_least == (1.0, 1.0 / 3.0, 0.0)
    dark = coverage(scipy.sparse.csc_array((3, 2)), np.ones(3), np.zeros(3, dtype=bool))
    assert dark.at_least == (0.0, 0.0, 0.0, 0.0)


def test_the_cornea_is_judged_and_eye_shields_shade_it():
    scene = twin.load_scene(default_scene_path())
    bare = twin.render(scene).blocks.eye_safety
    shielded = twin.render(
        dataclasses.replace(scene, occluders=(anatomy.eye_shields(),))
    ).blocks.eye_safety
    assert bare.judged_on == "cornea" and bare.cornea is not None
    assert bare.ir_irradiance_mw_cm2 == bare.cornea.ir_irradiance_mw_cm2
    assert bare.ir_irradiance_mw_cm2.max > 0.1
    # The shields (flat disks 2 mm off the lids, not sealed) shade most of the cornea; light
    # still reaches it obliquely under their rims.
    lit, dark = bare.cornea.ir_irradiance_mw_cm2, shielded.cornea.ir_irradiance_mw_cm2
    assert dark.mean < 0.5 * lit.mean and dark.max < lit.max
    assert bare.blue_light.method == "large-source radiance"
    assert bare.ir_limit_source == "exposure time" and bare.risk_group["ir_eye"] == "RG0"
