"""LED spectra (``twin.devices.spectra``): their shape, the one integration rule, and every
quantity that integrates over them (B(lambda), photon flux, skin reflectance), from the LED
model and the scene to ``scene.resolved.yaml``."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from _helpers import raises_naming, write_phantom

import twin
from twin.devices.designs import load_led
from twin.devices.spectra import Spectrum, gaussian, line, read_spectrum_csv
from twin.dose.hazards import blue_light_weight, blue_per_emitter, skin_reflectance
from twin.dose.maps import DoseMaps
from twin.units import photons_per_s_per_mw

PLANCK_J_S = 6.62607015e-34
SPEED_OF_LIGHT_M_S = 299_792_458.0


def spectrum_at(spectrum: Spectrum, wavelength_nm: np.ndarray) -> np.ndarray:
    """The spectrum as it is defined: linear between its samples, zero outside them."""
    return np.interp(wavelength_nm, spectrum.wavelength_nm, spectrum.relative, left=0, right=0)


def fine_mean(weight: np.ndarray, values: np.ndarray, wavelength_nm: np.ndarray) -> float:
    """The ``weight``-weighted mean of ``values`` by the trapezoid rule on a fine grid."""
    return float(
        np.trapezoid(weight * values, wavelength_nm) / np.trapezoid(weight, wavelength_nm)
    )


def gaussian_curve(wavelength_nm: np.ndarray, peak_nm: float, fwhm_nm: float) -> np.ndarray:
    """The analytic Gaussian of peak 1 (not the sampled one)."""
    return np.exp(-4.0 * np.log(2.0) * ((wavelength_nm - peak_nm) / fwhm_nm) ** 2)


# --- the shape ----------------------------------------------------------------------------


@pytest.mark.parametrize(("peak", "fwhm"), [(415.0, 18.0), (633.0, 20.0), (830.0, 35.0)])
def test_gaussian_has_its_peak_fwhm_centroid_and_area(peak, fwhm):
    g = gaussian(peak, fwhm)
    assert g.peak_nm == peak  # exactly: a channel's wavelength_nm is its peak
    assert g.centroid_nm == pytest.approx(peak, rel=1e-13)  # symmetric
    # FWHM of the sampled (piecewise-linear) curve: its half-maximum crossings.
    half = g.relative.max() / 2.0
    rise, fall = slice(None, np.argmax(g.relative) + 1), slice(np.argmax(g.relative), None)
    left = np.interp(half, g.relative[rise], g.wavelength_nm[rise])
    right = np.interp(half, g.relative[fall][::-1], g.wavelength_nm[fall][::-1])
    assert right - left == pytest.approx(fwhm, rel=1e-3)
    # The area of exp(-4 ln2 x^2 / w^2) is w sqrt(pi / (4 ln 2)); the tails beyond 3 FWHM
    # hold 1e-11 of it.
    area = np.trapezoid(g.relative, g.wavelength_nm)
    assert area == pytest.approx(fwhm * np.sqrt(np.pi / (4.0 * np.log(2.0))), rel=1e-9)
    assert g.to_dict() == {"peak_nm": peak, "fwhm_nm": fwhm}
    assert not g.is_line and line(peak).is_line


def test_gaussian_and_line_refuse_what_is_not_a_spectrum():
    with raises_naming("FWHM 200 nm", "-185..1015 nm", "100..20000 nm", at="spectrum.red"):
        gaussian(415.0, 200.0, name="spectrum.red")
    with raises_naming("> 0", "0", at="s.fwhm_nm"):
        gaussian(633.0, 0.0, name="s")
    with raises_naming("100..20000 nm", "50", at="wavelength_nm"):
        line(50.0)


# --- the integration rule -----------------------------------------------------------------


@pytest.fixture
def skewed():
    """A tabulated, asymmetric spectrum (steep blue edge, long red tail)."""
    wl = np.array([600.0, 615.0, 622.0, 640.0, 700.0])
    rel = np.array([0.0, 1.0, 0.9, 0.3, 0.0])
    return Spectrum(wl, rel, source="test")


def test_weights_are_exact_for_functions_linear_between_the_grid_points(skewed):
    rng = np.random.default_rng(7)
    fine = np.linspace(590.0, 710.0, 240_001)
    s = spectrum_at(skewed, fine)
    # Grids inside, around and across the spectrum: its power outside a grid goes to the ends.
    for grid in (
        np.linspace(610.0, 650.0, 5),
        np.linspace(500.0, 800.0, 7),
        np.sort(rng.uniform(560.0, 720.0, 9)),
    ):
        values = rng.normal(size=len(grid))
        w = skewed.weights_on(grid)
        assert np.all(w >= 0.0)
        assert w.sum() == pytest.approx(1.0, abs=1e-14)  # power conserved
        f = np.interp(fine, grid, values)  # linear between grid points, constant beyond
        assert w @ values == pytest.approx(fine_mean(s, f, fine), rel=1e-7, abs=1e-9)


def test_a_line_is_shared_between_the_two_grid_points_around_it():
    np.testing.assert_allclose(line(633.0).weights_on([600.0, 650.0, 700.0]), [0.34, 0.66, 0.0])
    np.testing.assert_array_equal(line(720.0).weights_on([600.0, 650.0, 700.0]), [0.0, 0.0, 1.0])


def test_hat_weights_integrate_a_smooth_function_like_fine_quadrature():
    # A 20 nm Gaussian at 633 nm against a smooth, curved f on grids of 2 and 1 nm: f's
    # linear interpolant is off by at most h^2/8 max|f''| (plus the Gaussian's own sampling
    # every 0.5 nm, ~5e-5 here), so the mean is too.
    fine = np.linspace(560.0, 710.0, 300_001)

    def f(x):
        return 1.0 + 0.5 * np.sin((x - 560.0) / 15.0)

    exact = fine_mean(gaussian_curve(fine, 633.0, 20.0), f(fine), fine)
    for h in (2.0, 1.0):
        grid = np.arange(560.0, 711.0, h)
        got = gaussian(633.0, 20.0).weights_on(grid) @ f(grid)
        assert abs(got - exact) <= h**2 / 8.0 * 0.5 / 15.0**2


def test_weights_on_refuses_a_grid_that_is_not_increasing():
    with raises_naming("grid_nm", "strictly increasing"):
        line(633.0).weights_on([600.0, 600.0, 700.0])
    with raises_naming("grid_nm", "shape (0,)"):
        line(633.0).weights_on([])


# --- what integrates over a spectrum ------------------------------------------------------


@pytest.mark.parametrize(
    ("peak", "fwhm"),
    [
        (415.0, 20.0),  # the table's steep blue edge: B runs from 0.2 to 1 across it
        (450.0, 40.0),
        (540.0, 40.0),  # the exponential 10^((450 - lambda) / 50)
        (690.0, 10.0),  # B steps to 0 at 700 nm
    ],
)
def test_blue_light_weight_of_a_broad_spectrum_is_its_mean_over_the_spectrum(peak, fwhm):
    fine = np.linspace(peak - 3 * fwhm, peak + 3 * fwhm, 20_001)
    b = np.array([blue_light_weight(float(x)) for x in fine])
    exact = fine_mean(gaussian_curve(fine, peak, fwhm), b, fine)
    assert blue_light_weight(gaussian(peak, fwhm)) == pytest.approx(exact, rel=1e-3)


def test_a_broad_blue_led_is_less_hazardous_than_its_peak_says():
    # B(415) = 0.8 sits on the table's rising edge; a 20 nm FWHM averages B from 0.2 to 1.
    broad = gaussian(415.0, 20.0)
    assert blue_light_weight(broad) < 0.7 < blue_light_weight(415.0)
    # Per emitter, from the emitters' spectra (the large-source radiance's weights).
    channel = np.array(["blue", "red", "blue"])
    weight, area = blue_per_emitter(channel, {"blue": broad, "red": line(633.0)}, {"blue": 2.0})
    np.testing.assert_array_equal(weight, [blue_light_weight(broad), 0.001, weight[0]])
    assert area is None  # red is blue-weighted too and has no emitting area


def test_skin_reflectance_is_averaged_over_the_spectrum():
    fine = np.linspace(830.0 - 120.0, 830.0 + 120.0, 20_001)
    r = np.array([skin_reflectance(float(x)) for x in fine])
    exact = fine_mean(gaussian_curve(fine, 830.0, 40.0), r, fine)
    assert skin_reflectance(gaussian(830.0, 40.0)) == pytest.approx(exact, rel=1e-4)


def test_photon_flux_follows_the_mean_wavelength(skewed):
    e = np.array([1.0, 2.5])
    # Symmetric: the photons per mW of its peak (the rate is proportional to lambda).
    maps = DoseMaps({"red": e}, 60.0, {"red": 633.0}, {"red": gaussian(633.0, 20.0)})
    np.testing.assert_allclose(
        maps.photon_flux_per_s_cm2("red"), e * photons_per_s_per_mw(633.0), rtol=1e-13
    )
    # Asymmetric: 1 mW spread over s(lambda) carries int s lambda / (h c) / int s photons/s.
    fine = np.linspace(600.0, 700.0, 200_001)
    mean_nm = fine_mean(spectrum_at(skewed, fine), fine, fine)
    per_mw = 1e-3 * mean_nm * 1e-9 / (PLANCK_J_S * SPEED_OF_LIGHT_M_S)
    maps = DoseMaps({"red": e}, 60.0, {"red": skewed.peak_nm}, {"red": skewed})
    np.testing.assert_allclose(maps.photon_flux_per_s_cm2("red"), e * per_mw, rtol=1e-9)
    assert mean_nm > skewed.peak_nm + 10.0  # its long red tail moves it well off the peak


@pytest.mark.parametrize("wavelength", [380.0, 415.0, 417.3, 527.3, 633.0, 731.5, 830.0, 1200.0])
def test_a_line_gives_exactly_what_its_wavelength_gives(wavelength):
    spectrum = line(wavelength)
    assert blue_light_weight(spectrum) == blue_light_weight(wavelength)
    assert skin_reflectance(spectrum) == skin_reflectance(wavelength)
    e = np.array([0.5, 3.0])
    with_line = DoseMaps({"c": e}, 60.0, {"c": wavelength}, {"c": spectrum})
    without = DoseMaps({"c": e}, 60.0, {"c": wavelength})
    np.testing.assert_array_equal(
        with_line.photon_flux_per_s_cm2("c"), e * photons_per_s_per_mw(wavelength)
    )
    np.testing.assert_array_equal(
        without.photon_flux_per_s_cm2("c"), with_line.photon_flux_per_s_cm2("c")
    )


# --- spectrum CSV files -------------------------------------------------------------------


def test_spectrum_csv_reads_with_comments(tmp_path):
    path = tmp_path / "red.csv"
    path.write_text(
        "# measured at 20 mA\nwavelength_nm,relative\n600,0\n# the peak\n625,1.0\n\n650,0.25\n"
    )
    s = read_spectrum_csv(path)
    np.testing.assert_array_equal(s.wavelength_nm, [600.0, 625.0, 650.0])
    assert s.peak_nm == 625.0 and s.source == str(path) and s.to_dict() == {"file": str(path)}


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", ("header 'wavelength_nm,relative'", "an empty file")),
        ("nm,power\n600,1\n", ("header 'wavelength_nm,relative'", "'nm,power'")),
        ("wavelength_nm,relative\n633,1\n", ("at least two rows", "found 1")),
        ("wavelength_nm,relative\n600,1\n620,1,3\n", ("line 3", "2 fields", "found 3")),
        ("wavelength_nm,relative\n600,1\n6x0,1\n", ("line 3, column wavelength_nm", "'6x0'")),
        ("wavelength_nm,relative\n600,1\n620,nan\n", ("line 3, column relative", "'nan'")),
        ("wavelength_nm,relative\n600,1\n90000,1\n", ("line 3, column wavelength_nm", "90000")),
        ("wavelength_nm,relative\n620,1\n600,1\n", ("line 3", "increasing", "600 after 620")),
        ("wavelength_nm,relative\n600,1\n620,-0.5\n", ("line 3, column relative", ">= 0")),
        ("wavelength_nm,relative\n600,0\n620,0\n", ("column relative", "0 in every row")),
    ],
)
def test_bad_spectrum_csv_gets_one_clear_message(tmp_path, text, parts):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with raises_naming(*parts, at=path):
        read_spectrum_csv(path)


# --- emitters, LED models, scenes ---------------------------------------------------------


def test_emitters_keep_a_spectrum_per_channel_with_its_peak_as_wavelength():
    blue = gaussian(415.0, 20.0)
    leds = twin.Emitters.create(
        [[0.0, 0.0, 10.0], [5.0, 0.0, 10.0]],
        [0.0, 0.0, -1.0],
        1.0,
        profile=twin.Lambertian(30.0),
        channel=["blue", "red"],
        wavelength_nm={"red": 633.0},
        spectra={"blue": blue},
    )
    assert leds.wavelength_nm == {"red": 633.0, "blue": 415.0}
    assert leds.spectra["blue"] is blue and leds.spectra["red"].is_line
    kept = leds.derive([1])
    assert kept.spectra["blue"] is blue  # a channel's spectrum stays with its wavelength
    moved = leds.derive(spectra={"red": gaussian(630.0, 18.0)})
    assert moved.wavelength_nm["red"] == 630.0 and moved.spectra["red"].fwhm_nm == 18.0
    with raises_naming("'blue'", "wavelength_nm 420 nm", "peaks at 415 nm", at="emitters"):
        twin.Emitters.create(
            leds.positions_mm,
            leds.axes,
            1.0,
            profile=twin.Lambertian(30.0),
            channel=leds.channel,
            wavelength_nm={"blue": 420.0},
            spectra={"blue": blue},
        )


def test_led_models_carry_a_gaussian_or_a_tabulated_spectrum(tmp_path):
    (tmp_path / "red.csv").write_text("wavelength_nm,relative\n610,0\n628,1\n660,0\n")
    base = {"power_mw": 5.0, "half_angle_deg": 30.0}
    wide = load_led(
        {**base, "wavelength_nm": 633, "spectrum": {"fwhm_nm": 18}}, where="led", base=tmp_path
    )
    assert wide.wavelength_nm == 633.0 and wide.spectrum.fwhm_nm == 18.0
    table = load_led({**base, "spectrum": {"file": "red.csv"}}, where="led", base=tmp_path)
    assert table.wavelength_nm == 628.0
    assert table.spectrum.source == str((tmp_path / "red.csv").resolve())
    assert load_led({**base, "wavelength_nm": 633}, where="led", base=tmp_path).spectrum.is_line
    with raises_naming("wavelength_nm or spectrum.file, not both", at="led"):
        load_led(
            {**base, "wavelength_nm": 633, "spectrum": {"file": "red.csv"}},
            where="led",
            base=tmp_path,
        )
    with raises_naming("unknown key 'peak_nm'", "fwhm_nm, file", at="led.spectrum"):
        load_led(
            {**base, "wavelength_nm": 633, "spectrum": {"peak_nm": 630, "fwhm_nm": 18}},
            where="led",
            base=tmp_path,
        )
    with raises_naming("missing required key 'wavelength_nm'", at="led"):
        load_led({**base, "spectrum": {"fwhm_nm": 18}}, where="led", base=tmp_path)
    with raises_naming("spectrum CSV not found", at="led.spectrum.file"):
        load_led({**base, "spectrum": {"file": "none.csv"}}, where="led", base=tmp_path)


#: Two channels with wavelengths and one without, over the head phantom.
LEDS = (
    "x,y,z,dx,dy,dz,power_mw,channel,wavelength_nm\n"
    "-15,0,130,0,0,-1,5,blue,415\n"
    "0,0,130,0,0,-1,5,red,633\n"
    "15,0,130,0,0,-1,5,led,\n"
)


def _scene(root, spectrum):
    write_phantom(root, leds=LEDS)
    (root / "red.csv").write_text(
        "wavelength_nm,relative\n600,0\n615,1\n622,0.9\n640,0.3\n700,0\n"
    )
    scene = {
        "name": "spectra",
        "target": {"mesh": "head.ply", "units": "mm"},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30, "spectrum": spectrum},
        "exposure_s": 600,
    }
    path = root / "scene.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_the_scene_overrides_one_channel_spectrum(tmp_path):
    scene = twin.load_scene(_scene(tmp_path, {"blue": {"fwhm_nm": 20}}))
    spectra = scene.emitters.spectra
    assert spectra["blue"].fwhm_nm == 20.0 and spectra["blue"].peak_nm == 415.0
    assert spectra["red"].is_line and "led" not in spectra
    moved = twin.load_scene(_scene(tmp_path, {"red": {"peak_nm": 630, "fwhm_nm": 18}}))
    assert moved.emitters.wavelength_nm == {"blue": 415.0, "red": 630.0}
    table = twin.load_scene(_scene(tmp_path, {"led": {"file": "red.csv"}}))
    assert table.emitters.wavelength_nm["led"] == 615.0  # the table's peak
    where = f"{tmp_path / 'scene.yaml'}: emitters.spectrum"
    with raises_naming("unknown channel 'bleu'", "did you mean 'blue'?", at=where):
        twin.load_scene(_scene(tmp_path, {"bleu": {"fwhm_nm": 20}}))
    with raises_naming("expected peak_nm", "no wavelength_nm", at=f"{where}.led"):
        twin.load_scene(_scene(tmp_path, {"led": {"fwhm_nm": 20}}))
    with raises_naming("file alone", "fwhm_nm", at=f"{where}.red"):
        twin.load_scene(_scene(tmp_path, {"red": {"file": "red.csv", "fwhm_nm": 20}}))


def test_a_design_takes_a_spectrum_per_channel(tmp_path):
    path = tmp_path / "scene.yaml"
    spectrum = {"blue": {"fwhm_nm": 20}, "red": {"peak_nm": 630, "fwhm_nm": 18}}
    scene = {
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0},
        "emitters": {"design": "mask-rigid-1026", "count": 60, "spectrum": spectrum},
        "exposure_s": 60,
    }
    path.write_text(yaml.safe_dump(scene))
    loaded = twin.load_scene(path)
    assert loaded.emitters.wavelength_nm == {"red": 630.0, "nir": 830.0, "blue": 415.0}
    assert loaded.emitters.spectra["nir"].is_line
    assert loaded.layout.spec["spectrum"]["blue"] == {"peak_nm": 415.0, "fwhm_nm": 20.0}


def test_the_resolved_scene_renders_the_same_spectra(tmp_path):
    path = _scene(tmp_path, {"blue": {"fwhm_nm": 20}, "red": {"file": "red.csv"}})
    first = twin.render(path)
    first.write(tmp_path / "a")
    resolved = yaml.safe_load((tmp_path / "a" / "scene.resolved.yaml").read_text())
    assert resolved["emitters"]["spectrum"] == {
        "blue": {"peak_nm": 415.0, "fwhm_nm": 20.0},
        "red": {"file": str((tmp_path / "red.csv").resolve())},
    }
    again = twin.render(tmp_path / "a" / "scene.resolved.yaml")
    for channel, spectrum in first.scene.emitters.spectra.items():
        other = again.scene.emitters.spectra[channel]
        np.testing.assert_array_equal(other.wavelength_nm, spectrum.wavelength_nm)
        np.testing.assert_array_equal(other.relative, spectrum.relative)
    # The render integrated over them: the heating block's reflectance, the photon flux.
    a, b = first.metrics, again.metrics
    assert a["heating"]["reflectance"] == b["heating"]["reflectance"]
    assert a["heating"]["reflectance"]["blue"] == skin_reflectance(gaussian(415.0, 20.0))
    assert a["heating"]["reflectance"]["blue"] != skin_reflectance(415.0)
    flux = a["roi"]["channels"]["red"]["photon_flux_per_s_cm2"]["mean"]
    assert flux == pytest.approx(b["roi"]["channels"]["red"]["photon_flux_per_s_cm2"]["mean"])
    e = a["roi"]["channels"]["red"]["irradiance_mw_cm2"]["mean"]
    red = read_spectrum_csv(tmp_path / "red.csv")
    assert flux == pytest.approx(e * photons_per_s_per_mw(red.centroid_nm), rel=1e-9)
