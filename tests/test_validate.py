"""Validation against a bench measurement: registration, residuals, verdict, calibration.

A synthetic bench: LEDs of known power over a detector; "measurements" are the engine's own
readings (:func:`twin.pipeline.detectors.detector_matrix`) at the true powers and a known
offset, with Gaussian noise of a stated sigma. What ``twin validate`` recovers from them is
checked against those truths, and its statistics against numpy computed here.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import raises_naming

import twin
from twin.analysis.calibrate import (
    calibrated_emitters,
    fit_powers,
    outlier_threshold_sigma,
)
from twin.analysis.measured import Measurement, read_measured_csv
from twin.analysis.validate import validate
from twin.cli import main
from twin.devices.emitters import emitter_csv_text, read_emitter_csv
from twin.errors import InputError
from twin.geometry import phantoms
from twin.pipeline.detectors import detector_matrix

#: The bench's detector: the issue's contract entry (80 mm, 41 x 41 pixels, cosine).
DETECTOR = {
    "name": "bench",
    "center_mm": [0, 0, 0],
    "normal": [0, 0, 1],
    "up": [0, 1, 0],
    "size_mm": [80, 80],
    "pixels": [41, 41],
    "response": "cosine",
    "aperture_mm": 0,
}
#: The LED layout: 6 x 5 LEDs 12 mm apart, 10 mm over the detector, 5 mW each.
LED_XY_MM = np.array([(x, y) for y in np.linspace(-24, 24, 5) for x in np.linspace(-30, 30, 6)])
HEIGHT_MM = 10.0
POWER_MW = 5.0
#: The LED that is 40 % weak.
WEAK = 13
#: The measured points' offset from the detector's coordinates, mm.
OFFSET_MM = np.array([1.5, -2.0])
#: The stated noise: 1 % of the peak reading (one standard deviation).
NOISE_OF_PEAK = 0.01


def write_bench(root: Path, *, channels: bool = False) -> Path:
    """Write ``bench.yaml``: the LED layout over the detector, a plate behind both."""
    plate = phantoms.plane(size_mm=300.0, divisions=4, z_mm=-50.0)
    trimesh.Trimesh(plate.vertices_mm, plate.faces, process=False).export(root / "plate.ply")
    n = len(LED_XY_MM)
    emitters = twin.Emitters.create(
        np.column_stack([LED_XY_MM, np.full(n, HEIGHT_MM)]),
        [0.0, 0.0, -1.0],
        POWER_MW,
        profile=twin.Lambertian(60.0),
        channel=np.where(np.arange(n) % 2 == 0, "red", "nir") if channels else "led",
        wavelength_nm={"red": 660.0, "nir": 850.0} if channels else None,
    )
    (root / "leds.csv").write_text(emitter_csv_text(emitters))
    spec = {
        "name": "bench",
        "target": {"mesh": "plate.ply", "units": "mm"},
        "emitters": {"file": "leds.csv"},
        "exposure_s": 600,
        "engine": {"backend": "embree"},
        "detectors": [DETECTOR],
    }
    (root / "bench.yaml").write_text(yaml.safe_dump(spec))
    return root / "bench.yaml"


def measure(
    scene: twin.Scene,
    xy_mm: np.ndarray,
    power_mw: np.ndarray,
    *,
    offset_mm=OFFSET_MM,
    angle_deg: float = 0.0,
    seed: int = 0,
) -> Measurement:
    """The readings at measured points ``xy_mm`` that sit at ``R xy + offset`` on the detector,
    at the true powers, with noise of ``NOISE_OF_PEAK`` of the peak (stated per point)."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    on_detector = xy_mm @ np.array([[c, s], [-s, c]]) + offset_mm
    clean = detector_matrix(scene, scene.detectors[0], xy_mm=on_detector) @ power_mw
    sigma = np.full(len(xy_mm), NOISE_OF_PEAK * clean.max())
    noisy = clean + np.random.default_rng(seed).normal(0.0, sigma)
    return Measurement.create(xy_mm, noisy, uncertainty_mw_cm2=sigma)


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> twin.Scene:
    return twin.load_scene(write_bench(tmp_path_factory.mktemp("bench")))


@pytest.fixture(scope="module")
def weak_power() -> np.ndarray:
    power = np.full(len(LED_XY_MM), POWER_MW)
    power[WEAK] *= 0.6
    return power


def pixels(scene: twin.Scene) -> np.ndarray:
    return scene.detectors[0].pixel_xy_mm()


# --- calibration -------------------------------------------------------------------------


def test_a_synthetic_bench_is_recovered_within_the_stated_uncertainty(tmp_path, bench, weak_power):
    # A grid measured 1.5 mm right and 2 mm down of the detector's axes, one LED 40 % weak.
    measured = measure(bench, pixels(bench), weak_power)
    v = validate(bench, measured, fit="emitter")
    fit = v.fit
    assert fit is not None and v.calibrated is not None
    # The weak LED is found, and it is the only one flagged; its 95 % interval holds its
    # true power (0.6 of nominal) and leaves out the nominal one.
    assert list(fit.names[fit.outlier]) == [str(WEAK)]
    assert fit.low_mw[WEAK] <= 0.6 * POWER_MW <= fit.high_mw[WEAK]
    assert fit.high_mw[WEAK] < 0.8 * POWER_MW
    # Most intervals hold the truth (95 % each: at least 26 of 30 is 98 % likely).
    covered = (fit.low_mw <= weak_power) & (weak_power <= fit.high_mw)
    assert covered.sum() >= 26
    # Each LED is decided by the map, not the prior; the interval's half-width is 1.96 sigma.
    assert fit.data_fraction.min() > 0.99
    np.testing.assert_allclose(fit.high_mw - fit.power_mw, 1.959964 * fit.sigma_mw, rtol=1e-5)
    # The registration finds the offset; the model as given fails (a weak LED the noise
    # cannot explain), the calibrated one passes.
    np.testing.assert_allclose(v.calibrated_registration.offset_mm, OFFSET_MM, atol=0.1)
    assert not v.model.passed and v.calibrated.passed
    assert 0.9 < v.calibrated.within_2_sigma <= 1.0
    written = v.write(tmp_path / "out")
    assert sorted(p.name for p in written) == [
        "calibration.csv", "emitters_calibrated.csv", "residuals.csv", "validation.json"
    ]  # fmt: skip


def test_fitted_intervals_cover_the_truth_95_percent_of_the_time(bench, weak_power):
    # The same bench, 40 noise draws: the 95 % intervals hold each true power about 95 % of
    # the time, and the only LED ever flagged is the weak one.
    per_mw = detector_matrix(bench, bench.detectors[0])
    clean = per_mw @ weak_power
    sigma = np.full(len(clean), NOISE_OF_PEAK * clean.max())
    rng = np.random.default_rng(1)
    covered, flagged = [], []
    for _ in range(40):
        fit = fit_powers(per_mw, clean + rng.normal(0.0, sigma), sigma, np.full(30, POWER_MW))
        covered.append((fit.low_mw <= weak_power) & (weak_power <= fit.high_mw))
        flagged.append(fit.outlier)
    covered, flagged = np.array(covered), np.array(flagged)
    # 1200 intervals: binomial standard deviation 0.6 %, so 0.92..0.98 is 5 of them.
    assert 0.92 <= covered.mean() <= 0.98
    assert flagged[:, WEAK].all()
    assert np.delete(flagged, WEAK, axis=1).sum() <= 2


def test_the_channel_fit_recovers_each_channels_scale(tmp_path):
    scene = twin.load_scene(write_bench(tmp_path, channels=True))
    is_red = scene.emitters.channel == "red"
    true = np.where(is_red, 0.7, 1.1) * POWER_MW
    v = validate(scene, measure(scene, pixels(scene), true), fit="channel")
    fit = v.fit
    assert fit is not None
    scale = dict(zip(fit.names, fit.scale, strict=True))
    assert set(scale) == {"red", "nir"}
    for name, truth in (("red", 0.7), ("nir", 1.1)):
        j = list(fit.names).index(name)
        assert fit.low_mw[j] <= truth * fit.nominal_mw[j] <= fit.high_mw[j]
        assert scale[name] == pytest.approx(truth, rel=0.01)
    # Red, 30 % low, is an outlier; near-infrared, 10 % high, is within 20 % of nominal.
    assert list(fit.names[fit.outlier]) == ["red"]
    header = v.files()["calibration.csv"].splitlines()[0].split(",")
    assert header[:5] == ["channel", "power_mw", "power_low_mw", "power_high_mw", "outlier"]
    assert v.calibrated.passed and not v.model.passed
    # The calibrated emitters are the nominal ones scaled per channel.
    np.testing.assert_allclose(
        v.emitters.power_mw, np.where(is_red, scale["red"], scale["nir"]) * POWER_MW
    )


def test_the_prior_keeps_an_unlit_led_at_nominal_with_a_wide_interval():
    # Two LEDs, only the first seen by the points: the second keeps its nominal power, its
    # interval the prior's (+-1.96 x 50 %), and it adds nothing to the effective parameters.
    design = np.column_stack([np.linspace(1.0, 2.0, 20), np.zeros(20)])
    measured = design[:, 0] * 3.0
    fit = fit_powers(design, measured, np.full(20, 0.01), [4.0, 4.0])
    assert fit.power_mw[1] == pytest.approx(4.0)
    assert fit.high_mw[1] - fit.power_mw[1] == pytest.approx(1.959964 * 0.5 * 4.0, rel=1e-5)
    assert fit.data_fraction[1] == pytest.approx(0.0, abs=1e-12)
    assert fit.edf == pytest.approx(fit.data_fraction[0]) and fit.data_fraction[0] > 0.999
    assert fit.power_mw[0] == pytest.approx(3.0, rel=1e-4)
    # A 25 % low LED measured this well is flagged; the unlit one is not.
    assert list(fit.outlier) == [True, False]


def test_a_dead_led_fits_to_zero_and_is_left_out_of_the_calibrated_emitters(bench):
    per_mw = detector_matrix(bench, bench.detectors[0])
    nominal = np.full(30, POWER_MW)
    true = nominal.copy()
    true[7] = 0.0
    clean = per_mw @ true
    sigma = np.full(len(clean), NOISE_OF_PEAK * clean.max())
    noisy = clean + np.random.default_rng(3).normal(0.0, sigma)
    fit = fit_powers(per_mw, noisy, sigma, nominal, names=bench.emitters.ids)
    assert fit.power_mw.min() >= 0.0 and fit.low_mw[7] == 0.0
    assert list(fit.names[fit.outlier]) == ["7"]
    assert fit.power_mw[7] < 0.05 * POWER_MW
    # A map darker where LED 7 shines than even its absence explains: the bound holds its
    # power at exactly 0, and the calibrated emitters leave it out (a CSV power is > 0).
    darker = clean - 0.5 * POWER_MW * per_mw[:, 7]
    dead = fit_powers(per_mw, darker, sigma, nominal, names=bench.emitters.ids)
    assert dead.power_mw[7] == 0.0
    kept = calibrated_emitters(dead, bench.emitters)
    assert "7" not in kept.ids and len(kept) == 29


def test_the_outlier_threshold_is_the_bonferroni_bound():
    # Two-sided 5 % over m parameters: the 1 - 0.025 / m quantile of the normal.
    assert outlier_threshold_sigma(1) == pytest.approx(1.959964, rel=1e-6)
    assert outlier_threshold_sigma(40) == pytest.approx(3.227218, rel=1e-5)
    assert outlier_threshold_sigma(1000) == pytest.approx(4.055626, rel=1e-5)


# --- registration and residuals ------------------------------------------------------------


def test_a_point_list_registered_with_an_offset_is_found(bench):
    # 400 scattered points, measured 1.5 mm right and 2 mm down of the detector's axes.
    xy = np.random.default_rng(5).uniform(-38.0, 38.0, (400, 2))
    nominal = bench.emitters.power_mw
    v = validate(bench, measure(bench, xy, nominal))
    np.testing.assert_allclose(v.registration.offset_mm, OFFSET_MM, atol=0.1)
    # ... and within 4 of its stated standard uncertainties.
    assert np.all(
        np.abs(v.registration.offset_mm - OFFSET_MM) < 4 * np.array(v.registration.sigma)
    )
    assert v.registration.scale == pytest.approx(1.0, abs=0.01)
    assert not v.registration.alternatives_mm
    assert v.model.passed
    # Unregistered, the same points fail.
    assert not validate(bench, measure(bench, xy, nominal), register_by="none").model.passed


def test_a_layout_periodic_over_the_scan_is_registered_nearest_zero_and_flagged(tmp_path):
    # 17 x 17 LEDs 10 mm apart, 10 mm over a 40 mm scan: it sees a repeating pattern (the
    # array's edges 50 mm beyond it), so offsets 10 mm apart align as well; the one nearest
    # zero is taken, the others named.
    plate = phantoms.plane(size_mm=300.0, divisions=4, z_mm=-50.0)
    trimesh.Trimesh(plate.vertices_mm, plate.faces, process=False).export(tmp_path / "p.ply")
    grid = np.array([(x, y) for y in range(-80, 81, 10) for x in range(-80, 81, 10)], float)
    leds = twin.Emitters.create(
        np.column_stack([grid, np.full(len(grid), 10.0)]), [0, 0, -1], 5.0,
        profile=twin.Lambertian(60.0),
    )  # fmt: skip
    (tmp_path / "leds.csv").write_text(emitter_csv_text(leds))
    spec = {
        "target": {"mesh": "p.ply", "units": "mm"},
        "emitters": {"file": "leds.csv"},
        "exposure_s": 60,
        "detectors": [{**DETECTOR, "size_mm": [40, 40], "pixels": [21, 21]}],
    }
    scene = twin.load_scene(spec, base=tmp_path)
    r = validate(scene, measure(scene, pixels(scene), leds.power_mw)).registration
    # Within 4 of its standard uncertainties (0.09 mm: the repeating field pins it less).
    assert np.all(np.abs(r.offset_mm - OFFSET_MM) < 4 * np.array(r.sigma))
    assert r.to_dict()["ambiguous"]
    distances = [np.hypot(x - OFFSET_MM[0], y - OFFSET_MM[1]) for x, y in r.alternatives_mm]
    assert min(distances) == pytest.approx(10.0, abs=1.0)


def test_a_rigid_registration_finds_a_rotation(bench):
    xy = np.random.default_rng(6).uniform(-36.0, 36.0, (400, 2))
    measured = measure(bench, xy, bench.emitters.power_mw, angle_deg=2.0)
    r = validate(bench, measured, register_by="rigid").registration
    assert r.rotation_deg == pytest.approx(2.0, abs=0.1)
    np.testing.assert_allclose(r.offset_mm, OFFSET_MM, atol=0.1)


def test_residual_statistics_are_numpys(bench, weak_power):
    measured = measure(bench, pixels(bench), weak_power, offset_mm=np.zeros(2))
    v = validate(bench, measured, register_by="none")
    model = detector_matrix(bench, bench.detectors[0]) @ bench.emitters.power_mw
    r = measured.irradiance_mw_cm2 - model
    sigma = measured.uncertainty_mw_cm2
    summary = v.summary()
    assert summary["points"] == len(r) == 41 * 41
    assert summary["rms_mw_cm2"] == pytest.approx(np.sqrt(np.mean(r**2)), rel=1e-9)
    assert summary["max_abs_mw_cm2"] == pytest.approx(np.abs(r).max(), rel=1e-9)
    assert summary["bias_mw_cm2"] == pytest.approx(r.mean(), rel=1e-9)
    assert summary["chi2"] == pytest.approx(np.sum((r / sigma) ** 2), rel=1e-9)
    assert summary["dof"] == len(r)
    assert summary["within_2_sigma"] == pytest.approx(np.mean(np.abs(r) <= 2 * sigma))
    # The verdict: chi2 against its 99 % point for len(r) degrees of freedom (1.0826 per
    # degree of freedom for 1681, from scipy here independently).
    from scipy import stats

    assert summary["chi2_per_dof_limit"] == pytest.approx(stats.chi2.ppf(0.99, len(r)) / len(r))
    assert summary["verdict"] == ("pass" if summary["chi2"] <= stats.chi2.ppf(0.99, len(r)) and
                                  abs(summary["weighted_bias_mw_cm2"]) <= 2.5758 *
                                  summary["bias_standard_error_mw_cm2"] else "fail")  # fmt: skip


def test_the_noise_alone_passes_and_a_5_percent_scale_error_fails(bench):
    nominal = bench.emitters.power_mw
    clean = measure(bench, pixels(bench), nominal, offset_mm=np.zeros(2))
    assert validate(bench, clean, register_by="none").model.passed
    low = measure(bench, pixels(bench), 0.95 * nominal, offset_mm=np.zeros(2))
    reasons = validate(bench, low, register_by="none").model.reasons
    assert any("reads high on average" in reason for reason in reasons)


# --- the command line and its files --------------------------------------------------------


def test_twin_validate_on_a_render_of_the_same_scene_agrees_exactly(tmp_path, capsys):
    # twin render writes detector_bench.csv; fed back as the measurement it is the model.
    scene = write_bench(tmp_path)
    assert main(["render", str(scene), "--out", str(tmp_path / "render")]) == 0
    measured = tmp_path / "render" / "detector_bench.csv"
    out = tmp_path / "validated"
    assert main(["validate", str(scene), "--measured", str(measured), "--out", str(out)]) == 0
    summary = json.loads((out / "validation.json").read_text())
    with measured.open() as fh:
        peak = max(float(row["irradiance_mw_cm2"]) for row in csv.DictReader(fh))
    assert summary["points"] == 41 * 41
    assert summary["rms_mw_cm2"] < 1e-6 * peak and summary["max_abs_mw_cm2"] < 1e-5 * peak
    assert abs(summary["bias_mw_cm2"]) < 1e-6 * peak
    np.testing.assert_allclose(summary["registration"]["offset_mm"], 0.0, atol=1e-3)
    assert summary["verdict"] == "pass"
    assert "PASS" in capsys.readouterr().out


def test_twin_validate_fits_and_writes_the_calibration(tmp_path, bench, weak_power, capsys):
    measured = measure(bench, pixels(bench), weak_power)
    path = tmp_path / "measured.csv"
    rows = np.column_stack([measured.xy_mm, measured.irradiance_mw_cm2])
    np.savetxt(path, rows, delimiter=",", header="X_mm,Y_mm,Irradiance_mW_cm2", comments="")
    scene = write_bench(tmp_path)
    out = tmp_path / "out"
    sigma = f"{measured.uncertainty_mw_cm2[0]:.9g}"
    args = ["validate", str(scene), "--measured", str(path), "--fit", "emitter"]
    args += ["--uncertainty-mw-cm2", sigma, "--out", str(out), "--detector", "bench"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"  {WEAK}: " in printed and "outliers" in printed
    with (out / "calibration.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:5] == ["id", "power_mw", "power_low_mw", "power_high_mw", "outlier"]
    assert [r["id"] for r in rows if r["outlier"] == "true"] == [str(WEAK)]
    weak = rows[WEAK]
    assert float(weak["power_low_mw"]) <= 0.6 * POWER_MW <= float(weak["power_high_mw"])
    # The calibrated emitter CSV reads back as twin's emitter CSV, with the fitted powers.
    calibrated = read_emitter_csv(out / "emitters_calibrated.csv")
    np.testing.assert_allclose(
        calibrated.power_mw, [float(r["power_mw"]) for r in rows], rtol=1e-5
    )
    summary = json.loads((out / "validation.json").read_text())
    assert summary["calibrated"]["outliers"] == [str(WEAK)]
    assert summary["calibrated"]["verdict"] == "pass" and summary["verdict"] == "fail"
    # --strict makes the failed verdict the exit status; the calibrated one passes.
    args_none = [a if a != "emitter" else "none" for a in args]
    assert main([*args_none, "--strict"]) == 1
    assert main([*args, "--strict"]) == 0
    with (out / "residuals.csv").open() as fh:
        residuals = list(csv.DictReader(fh))
    assert len(residuals) == 41 * 41
    first = residuals[0]
    assert float(first["residual_mw_cm2"]) == pytest.approx(
        float(first["measured_mw_cm2"]) - float(first["model_mw_cm2"]), abs=1e-8
    )


def test_validate_plots_show_the_residual_map(tmp_path, bench, weak_power):
    pytest.importorskip("matplotlib")
    from twin.views import validation_plots

    v = validate(bench, measure(bench, pixels(bench), weak_power), fit="emitter")
    paths = validation_plots.write_validation_plots(v, tmp_path)
    assert [p.name for p in paths] == ["residuals.png", "powers.png"]
    import matplotlib.image

    picture = matplotlib.image.imread(paths[0])
    assert picture.shape[0] > 400 and np.ptp(picture[..., :3]) > 0.5


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("x_mm,y_mm\n0,0\n", ("line 1", "expected the columns", "missing irradiance_mw_cm2")),
        ("x_mm,y_mm,irradiance_mw_cm2\n0,0,abc\n", ("line 2, column irradiance_mw_cm2",
                                                     "expected a number", "'abc'")),
        ("x_mm,y_mm,irradiance_mw_cm2\n0,0,1\n1,nan,1\n", ("line 3, column y_mm",
                                                           "expected a finite number", "'nan'")),
        ("x_mm,y_mm,irradiance_mw_cm2,uncertainty_mw_cm2\n0,0,1,-0.1\n",
         ("line 2, column uncertainty_mw_cm2", "expected a standard uncertainty > 0", "'-0.1'")),
        ("x_mm,y_mm,irradiance_mw_cm2\n0,0,1,2\n", ("line 2", "expected 3 fields", "found 4")),
        ("x_mm,y_mm,irradiance_mw_cm2\n", ("expected at least one measured point",)),
        ("x_mm,Y_MM,y_mm,irradiance_mw_cm2\n0,0,0,1\n", ("expected each column once",
                                                         "'y_mm' twice")),
        ("x_mm,y_mm,irradiance_mw_cm2\n0,0,0\n", ("expected an uncertainty > 0", "point 0")),
    ],
)  # fmt: skip
def test_a_bad_measured_file_is_one_clear_line(tmp_path, text, parts):
    path = tmp_path / "measured.csv"
    path.write_text(text)
    with raises_naming(*parts, at=path) as info:
        read_measured_csv(path)
    assert "\n" not in str(info.value)


def test_a_stated_uncertainty_is_not_given_twice(tmp_path):
    path = tmp_path / "measured.csv"
    path.write_text("x_mm,y_mm,irradiance_mw_cm2,uncertainty_mw_cm2\n0,0,1,0.1\n")
    with raises_naming("each point's uncertainty_mw_cm2 and a global uncertainty", at=path):
        read_measured_csv(path, uncertainty_percent=5.0)


def test_the_uncertainty_options_combine_in_quadrature(tmp_path):
    path = tmp_path / "measured.csv"
    path.write_text("x_mm,y_mm,irradiance_mw_cm2\n0,0,10\n1,0,0\n")
    both = read_measured_csv(path, uncertainty_mw_cm2=0.3, uncertainty_percent=4.0)
    np.testing.assert_allclose(both.uncertainty_mw_cm2, [0.5, 0.3])
    assumed = read_measured_csv(path)  # 5 % of each reading and 1 % of the peak
    np.testing.assert_allclose(assumed.uncertainty_mw_cm2, [math.hypot(0.5, 0.1), 0.1])
    assert assumed.uncertainty_source.startswith("assumed")


def test_cli_errors_are_one_line_with_exit_status_2(tmp_path, capsys):
    scene = write_bench(tmp_path)
    path = tmp_path / "measured.csv"
    path.write_text("x_mm,y_mm,irradiance_mw_cm2\n0,0,oops\n")
    out = tmp_path / "out"
    assert main(["validate", str(scene), "--measured", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: line 2, column irradiance_mw_cm2" in err
    assert not out.exists()
    path.write_text("x_mm,y_mm,irradiance_mw_cm2\n0,0,1\n1,0,1\n2,0,1\n3,0,1\n")
    args = ["validate", str(scene), "--measured", str(path), "--out", str(out)]
    assert main([*args, "--detector", "other"]) == 2
    assert "expected one of the scene's detectors (bench), got 'other'" in capsys.readouterr().err
    assert main([*args, "--max-offset-mm", "-1"]) == 2
    assert "--max-offset-mm: expected a number in [0.01, 100]" in capsys.readouterr().err


def test_a_scene_without_detectors_or_light_is_refused(tmp_path, bench):
    no_detectors = dataclasses.replace(bench, detectors=())
    measured = Measurement.create([[0, 0], [1, 0], [2, 0]], [1, 1, 1], uncertainty_mw_cm2=0.1)
    with raises_naming("expected a detector to validate against", "'detectors:'"):
        validate(no_detectors, measured)
    with pytest.raises(InputError, match="fit: expected one of"):
        validate(bench, measured, fit="string")
    # A detector facing away from the LEDs reads nothing: there is nothing to register by.
    away = dataclasses.replace(bench.detectors[0], normal=np.array([0.0, 0.0, -1.0]))
    with raises_naming("the model reads no light", "register 'none'", at="measurement"):
        validate(dataclasses.replace(bench, detectors=(away,)), measured)
