"""Eye hazards: the IEC 62471 blue-light weighting and limits, and the IR-eye channels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from _helpers import assert_names, eye_maps

from twin.dose.hazards import (
    BLUE_IRRADIANCE_LIMIT_MW_CM2,
    blue_light_max_exposure_s,
    blue_light_weight,
    counts_as_ir,
    eye_lines,
    facing_rows,
)
from twin.dose.maps import DoseMaps, DoseSettings
from twin.dose.metrics import eye_safety


@pytest.mark.parametrize(
    ("wavelength_nm", "weight"),
    [
        (299.0, 0.0),
        (350.0, 0.01),
        (380.0, 0.01),
        (415.0, 0.80),
        (417.5, 0.85),  # halfway between 415 and 420 nm
        (437.0, 1.00),
        (495.0, 0.16),
        (500.0, 0.10),
        (550.0, 0.01),  # 10^((450 - 550) / 50)
        (600.0, 0.001),
        (660.0, 0.001),
        (700.0, 0.001),
        (701.0, 0.0),
        (850.0, 0.0),
        (None, 1.0),  # unknown: the worst case
    ],
)
def test_blue_light_weight_follows_the_iec_table(wavelength_nm, weight):
    assert blue_light_weight(wavelength_nm) == pytest.approx(weight, rel=1e-12)


def test_blue_light_weight_is_continuous_where_the_table_changes_form():
    for edge in (380.0, 500.0, 600.0):
        below, above = blue_light_weight(edge - 1e-9), blue_light_weight(edge + 1e-9)
        assert below == pytest.approx(above, rel=1e-6), edge


def test_blue_light_time_is_the_dose_limit_over_the_irradiance():
    # 100 J/m^2 = 10 mJ/cm^2: 1 mW/cm^2 for 10 s; at the 0.1 mW/cm^2 limit, 100 s.
    assert blue_light_max_exposure_s(1.0) == pytest.approx(10.0)
    assert blue_light_max_exposure_s(0.1 * (1 + 1e-9)) == pytest.approx(100.0)
    assert blue_light_max_exposure_s(BLUE_IRRADIANCE_LIMIT_MW_CM2) is None
    assert blue_light_max_exposure_s(0.0) is None


def test_ir_band_and_unknown_wavelengths():
    assert [counts_as_ir(w) for w in (779.0, 780.0, 850.0, 3000.0, 3001.0, None)] == [
        False, True, True, True, False, True,
    ]  # fmt: skip


def test_eye_lines_say_each_verdict_and_name_unlabelled_channels():
    maps, areas = eye_maps(600.0)
    lines = eye_lines(eye_safety(maps, areas, DoseSettings()).to_dict(), 600.0)
    assert [ok for _, ok in lines] == [True, False, False]
    (ir, _), (blue, _), (unlabelled, _) = lines
    assert_names(ir, "IR", "3 mW/cm2", "within", "10 mW/cm2", at="eyes")
    assert_names(blue, "blue-weighted", "4.6 mW/cm2", "2.17 s", "ABOVE", "600 s", at="eyes")
    assert_names(unlabelled, "led", "no wavelength", "IR", "blue", at="eyes")


def test_eye_lines_give_the_facing_reading_beside_the_skin_one():
    maps, areas = eye_maps(600.0)
    facing = DoseMaps(
        {c: 2.0 * e for c, e in maps.irradiance_mw_cm2.items()}, 600.0, maps.wavelength_nm
    )
    out = eye_safety(maps, areas, DoseSettings(), facing=facing)
    line, ok = eye_lines(out.to_dict(), 600.0)[0]
    assert ok
    assert_names(line, "IR", "3 mW/cm2", "6 facing", "within", "10 mW/cm2", at="eyes")


def test_the_eye_sees_each_led_face_on():
    # One skin point facing +z; LEDs 20 mm away at 0, 60 and 80 degrees off its normal.
    angles = np.radians([0.0, 60.0, 80.0])
    leds = 20.0 * np.column_stack([np.sin(angles), np.zeros(3), np.cos(angles)])
    skin = scipy.sparse.csr_array(np.array([[5.0, 2.0, 1.0]]))  # cos(alpha) included
    facing = facing_rows(skin, np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]), leds)
    np.testing.assert_allclose(facing.toarray(), [[5.0, 2.0 / 0.5, 1.0 / np.cos(angles[2])]])
