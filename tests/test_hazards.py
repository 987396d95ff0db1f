"""Eye hazards: the IEC 62471 blue-light weighting and limits, and the IR-eye channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from _helpers import assert_names, eye_maps

from twin.dose.blocks import EyeNotEvaluated, EyeSafety
from twin.dose.hazards import (
    BLUE_DOSE_LIMIT_MJ_CM2,
    BLUE_IRRADIANCE_LIMIT_MW_CM2,
    BLUE_METHODS,
    BLUE_RADIANCE_DOSE_LIMIT_J_M2_SR,
    RISK_GROUP_LIMITS,
    blue_light_max_exposure_s,
    blue_light_weight,
    blue_radiance_w_m2_sr,
    counts_as_ir,
    eye_lines,
    facing_rows,
    ir_eye_limit_mw_cm2,
    risk_group,
    skin_reflectance,
)
from twin.dose.maps import DoseMaps, DoseSettings
from twin.dose.metrics import blue_light, eye_reading, eye_safety


def judged_eye(exposure_s: float, *, dose: DoseSettings | None = None) -> EyeSafety:
    """The eye block of :func:`eye_maps` as the eyelid, and twice it as the cornea.

    No emitting area is known, so blue light takes the small-source bound.
    """
    maps, areas = eye_maps(exposure_s)
    cornea_maps = DoseMaps(
        {c: 2.0 * e for c, e in maps.irradiance_mw_cm2.items()}, exposure_s, maps.wavelength_nm
    )
    cornea = eye_reading(cornea_maps, areas)
    blue = blue_light(
        scipy.sparse.csr_array((2, 3)),
        np.zeros((2, 3)),
        np.zeros((3, 3)),
        channel=np.array(["blue", "red", "led"]),
        wavelength_nm=maps.wavelength_nm,
        emitting_area_mm2={},
        e_b_max_mw_cm2=cornea.blue_weighted_irradiance_mw_cm2.max,
        exposure_s=exposure_s,
    )
    return eye_safety(
        eye_reading(maps, areas, skin=maps),
        blue,
        cornea=cornea,
        channels=maps.channels,
        wavelength_nm=maps.wavelength_nm,
        dose=dose or DoseSettings(),
        exposure_s=exposure_s,
    )


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


def test_blue_light_time_is_the_dose_limit_over_the_irradiance_or_radiance():
    # Small source: 100 J/m^2 = 10 mJ/cm^2: 1 mW/cm^2 for 10 s; at 0.1 mW/cm^2, 100 s.
    small, large = BLUE_METHODS[1], BLUE_METHODS[0]
    assert blue_light_max_exposure_s(1.0, method=small) == pytest.approx(10.0)
    assert blue_light_max_exposure_s(0.1 * (1 + 1e-9), method=small) == pytest.approx(100.0)
    assert blue_light_max_exposure_s(BLUE_IRRADIANCE_LIMIT_MW_CM2, method=small) is None
    # Large source: L_B t <= 10^6 J/m2/sr, no limit at or under 100 W/m2/sr.
    assert blue_light_max_exposure_s(1e4, method=large) == pytest.approx(100.0)
    assert blue_light_max_exposure_s(100.0 * (1 + 1e-9), method=large) == pytest.approx(1e4)
    assert blue_light_max_exposure_s(100.0, method=large) is None


def test_the_ir_eye_limit_follows_the_exposure_time():
    assert ir_eye_limit_mw_cm2(600.0) == pytest.approx(14.85, abs=0.01)
    assert ir_eye_limit_mw_cm2(940.0) == pytest.approx(10.6, abs=0.01)
    assert ir_eye_limit_mw_cm2(1000.1) == 10.0 and ir_eye_limit_mw_cm2(1e5) == 10.0
    # 18 000 t^-0.75 W/m^2 is 1800 t^-0.75 mW/cm^2.
    assert ir_eye_limit_mw_cm2(1.0) == 1800.0


def test_risk_group_limits_are_the_exposure_limits_at_the_group_times():
    ir = RISK_GROUP_LIMITS["ir_eye_mw_cm2"]
    for limit, t in zip(ir, (1000.0, 100.0, 10.0), strict=True):
        assert limit == pytest.approx(ir_eye_limit_mw_cm2(t), rel=0.015)
    radiance = RISK_GROUP_LIMITS["blue_radiance_w_m2_sr"]
    small = RISK_GROUP_LIMITS["blue_irradiance_mw_cm2"]
    for t, lim_l, lim_e in zip((1e4, 100.0, 0.25), radiance, small, strict=True):
        assert lim_l == pytest.approx(BLUE_RADIANCE_DOSE_LIMIT_J_M2_SR / t)
        assert lim_e == pytest.approx(BLUE_DOSE_LIMIT_MJ_CM2 / t)
    assert [risk_group(v, "ir_eye_mw_cm2") for v in (9.9, 10.0, 56.9, 57.0, 320.0)] == [
        "RG0", "RG1", "RG1", "RG2", "RG3",
    ]  # fmt: skip


def test_radiance_is_the_intensity_over_the_emitting_area():
    # 5 mW/sr at 20 mm reads 5 / 2^2 = 1.25 mW/cm^2; over 4 mm^2 = 0.04 cm^2 the radiance
    # is 125 mW/(cm^2 sr) = 1250 W/(m^2 sr), whatever the distance.
    for r_mm in (20.0, 40.0):
        e = 5.0 / (r_mm / 10.0) ** 2
        got = blue_radiance_w_m2_sr(np.array([e]), np.array([r_mm]), 4.0)
        np.testing.assert_allclose(got, [1250.0])


def test_skin_reflectance_is_the_nist_mean():
    # docs/physics.md §3.5: 0.184 at 415, 0.540 at 634, 0.609 at 829, 0.532 at 940 nm.
    for wl, r in ((415.0, 0.184), (634.0, 0.540), (829.0, 0.609), (940.0, 0.532)):
        assert skin_reflectance(wl) == pytest.approx(r, abs=6e-4)
    assert skin_reflectance(731.5) == pytest.approx((0.5403 + 0.6092) / 2)
    assert skin_reflectance(300.0) == skin_reflectance(415.0)
    assert skin_reflectance(None) == 0.0


def test_the_packaged_reflectance_table_is_what_the_tool_makes(tmp_path, monkeypatch):
    source = Path(__file__).with_name("data") / "skin_reflectance_nist.csv"
    tools = Path(__file__).resolve().parents[1] / "tools"
    monkeypatch.syspath_prepend(str(tools))
    import skin_reflectance_table

    table = Path(skin_reflectance_table.TABLE)
    monkeypatch.setattr(skin_reflectance_table, "TABLE", tmp_path / "t.csv")
    skin_reflectance_table.main(source)
    assert (tmp_path / "t.csv").read_text() == table.read_text()


def test_ir_band_and_unknown_wavelengths():
    assert [counts_as_ir(w) for w in (779.0, 780.0, 850.0, 3000.0, 3001.0, None)] == [
        False, True, True, True, False, True,
    ]  # fmt: skip


def test_eye_lines_say_each_verdict_the_limit_used_and_the_groups():
    eye = judged_eye(600.0).to_dict()
    lines = eye_lines(eye)
    assert [ok for _, ok in lines] == [True, False, False]
    (ir, _), (blue, _), (unlabelled, _) = lines
    assert_names(ir, "IR", "6 mW/cm2", "cornea", "eyelid 3", "within", "14.8", "600 s", "RG0")
    assert_names(blue, "blue-weighted", "irradiance", "small-source", "ABOVE", "RG2")
    assert_names(unlabelled, "led", "no wavelength", "IR", "blue", at="eyes")
    override = judged_eye(600.0, dose=DoseSettings(eye_ir_limit_mw_cm2=5.0)).to_dict()
    line, ok = eye_lines(override)[0]
    assert not ok
    assert_names(line, "ABOVE", "5 mW/cm2", "dose.eye_ir_limit_mw_cm2", "RG0")


def test_eye_lines_say_when_eye_safety_is_not_evaluated():
    eye = EyeNotEvaluated(evaluated=False, reason="the target has no 'eyes' region").to_dict()
    [(line, ok)] = eye_lines(eye)
    assert not ok
    assert_names(line, "eye safety not evaluated", "no 'eyes' region")


def test_the_eye_sees_each_led_face_on():
    # One skin point facing +z; LEDs 20 mm away at 0, 60 and 80 degrees off its normal.
    angles = np.radians([0.0, 60.0, 80.0])
    leds = 20.0 * np.column_stack([np.sin(angles), np.zeros(3), np.cos(angles)])
    skin = scipy.sparse.csr_array(np.array([[5.0, 2.0, 1.0]]))  # cos(alpha) included
    facing = facing_rows(skin, np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]), leds)
    np.testing.assert_allclose(facing.toarray(), [[5.0, 2.0 / 0.5, 1.0 / np.cos(angles[2])]])
