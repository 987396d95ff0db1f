"""Dose metrics (``twin.dose.metrics``): map summaries by area, the eye region's safety block,
coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
from _helpers import eye_maps

from twin.dose.blocks import MeanMax
from twin.dose.maps import DoseMaps, DoseSettings
from twin.dose.metrics import (
    REACH_FRACTION,
    coverage,
    eye_safety,
    map_metrics,
    weighted_percentile,
)


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


def test_eye_safety_weights_each_channel_and_counts_the_unlabelled_one_as_ir_and_blue():
    maps, areas = eye_maps(600.0)
    out = eye_safety(maps, areas, DoseSettings())
    assert out.ir_channels == ["led"] and out.unknown_wavelength_channels == ["led"]
    assert out.ir_irradiance_mw_cm2 == MeanMax(mean=(0.2 + 3 * 3.0) / 4, max=3.0)
    # E_B = 0.8 blue + 0.001 red + 1.0 led at each eye point.
    e_b = np.array([0.8 * 0.5 + 0.03 + 0.2, 0.8 * 2.0 + 0.001 + 3.0])
    blue = out.blue_weighted_irradiance_mw_cm2
    assert blue.max == pytest.approx(e_b.max())
    assert blue.mean == pytest.approx((e_b[0] + 3 * e_b[1]) / 4)
    assert out.blue_light_max_exposure_s == pytest.approx(10.0 / e_b.max())
    assert out.blue_light_within_limit is False
    assert out.total_irradiance_mw_cm2.max == 30.7


def test_a_short_exposure_can_be_within_the_blue_limit_and_red_light_is_not_limited():
    maps, areas = eye_maps(1.0)
    out = eye_safety(maps, areas, DoseSettings())
    assert out.blue_light_within_limit is True  # 1 s of ~4.6 mW/cm^2: 4.6 mJ/cm^2
    red = DoseMaps({"red": maps.irradiance_mw_cm2["red"]}, 1800.0, {"red": 660.0})
    out = eye_safety(red, areas, DoseSettings())
    assert out.blue_weighted_irradiance_mw_cm2.max == pytest.approx(0.03)
    assert out.blue_light_max_exposure_s is None and out.blue_light_within_limit
    assert out.ir_channels == [] and out.ir_within_limit


def test_the_facing_reading_is_reported_beside_the_skin_one():
    maps, areas = eye_maps(600.0)
    facing = DoseMaps(
        {c: 2.0 * e for c, e in maps.irradiance_mw_cm2.items()}, 600.0, maps.wavelength_nm
    )
    out = eye_safety(maps, areas, DoseSettings(), facing=facing)
    assert out.ir_irradiance_facing_mw_cm2 == MeanMax(mean=2 * (0.2 + 3 * 3.0) / 4, max=6.0)
    assert out.ir_irradiance_mw_cm2.max == 3.0  # the limit is judged on the skin
    assert eye_safety(maps, areas, DoseSettings()).ir_irradiance_facing_mw_cm2 is None


def test_coverage_counts_the_area_each_emitter_reaches_above_a_fraction_of_its_peak():
    # Three points (areas 1, 2, 3) under two emitters; the third point is not treated.
    reach = REACH_FRACTION
    matrix = scipy.sparse.csc_array(np.array([[1.0, 2.0], [0.5 * reach, 2.0 * reach], [1.0, 2.0]]))
    out = coverage(matrix, np.array([1.0, 2.0, 3.0]), np.array([True, True, False]), k_max=3)
    # Point 0 is reached by both, point 1 by the second alone (at exactly its threshold).
    assert out.at_least == (1.0, 1.0 / 3.0, 0.0)
    dark = coverage(scipy.sparse.csc_array((3, 2)), np.ones(3), np.zeros(3, dtype=bool))
    assert dark.at_least == (0.0, 0.0, 0.0, 0.0)
