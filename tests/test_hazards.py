"""Eye hazards: the IEC 62471 blue-light weighting and limits, and the IR-eye channels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from twin.dose.blocks import MeanMax
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


def eye_maps(exposure_s: float) -> tuple[DoseMaps, np.ndarray]:
    """A blue (415 nm), a red (660 nm) and an unlabelled channel on the eye region's two
    points, and their areas."""
    maps = {
        "blue": np.array([0.5, 2.0]),
        "red": np.array([30.0, 1.0]),
        "led": np.array([0.2, 3.0]),
    }
    return DoseMaps(maps, exposure_s, {"blue": 415.0, "red": 660.0}), np.array([1.0, 3.0])


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


def test_eye_lines_say_each_verdict_and_name_unlabelled_channels():
    maps, areas = eye_maps(600.0)
    out = eye_safety(maps, areas, DoseSettings())
    assert eye_lines(out.to_dict(), 600.0) == [
        ("eyes: IR irradiance max 3 mW/cm2, within the 10 mW/cm2 IEC 62471 IR-eye limit", True),
        (
            "eyes: blue-weighted irradiance max 4.6 mW/cm2, the IEC 62471 blue-light limit "
            "(small-source bound) is reached after 2.17 s: ABOVE it for the 600 s exposure",
            False,
        ),
        ("eyes: channel(s) led have no wavelength and count as IR and as blue", False),
    ]


def test_the_eye_sees_each_led_face_on():
    # One skin point facing +z; LEDs 20 mm away at 0, 60 and 80 degrees off its normal.
    angles = np.radians([0.0, 60.0, 80.0])
    leds = 20.0 * np.column_stack([np.sin(angles), np.zeros(3), np.cos(angles)])
    skin = scipy.sparse.csr_array(np.array([[5.0, 2.0, 1.0]]))  # cos(alpha) included
    facing = facing_rows(skin, np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]), leds)
    np.testing.assert_allclose(facing.toarray(), [[5.0, 2.0 / 0.5, 1.0 / np.cos(angles[2])]])


def test_the_facing_reading_is_reported_beside_the_skin_one():
    maps, areas = eye_maps(600.0)
    facing = DoseMaps(
        {c: 2.0 * e for c, e in maps.irradiance_mw_cm2.items()}, 600.0, maps.wavelength_nm
    )
    out = eye_safety(maps, areas, DoseSettings(), facing=facing)
    assert out.ir_irradiance_facing_mw_cm2 == MeanMax(mean=2 * (0.2 + 3 * 3.0) / 4, max=6.0)
    assert out.ir_irradiance_mw_cm2.max == 3.0  # the limit is judged on the skin
    assert eye_lines(out.to_dict(), 600.0)[0][0] == (
        "eyes: IR irradiance max 3 mW/cm2 (6 facing each LED), within the 10 mW/cm2 IEC "
        "62471 IR-eye limit"
    )
