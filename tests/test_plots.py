"""Plots: the dose-area curve's arithmetic, and pictures that show something."""

from __future__ import annotations

import numpy as np
import pytest

import twin
from twin.cli import main
from twin.views.plots import PLOTS, dose_area_curve

matplotlib = pytest.importorskip("matplotlib", reason="plots need matplotlib (twin[viz])")


def test_dose_area_curve_counts_the_area_at_or_above_each_level():
    h = np.arange(1.0, 11.0)  # 1..10 J/cm2, equal areas
    curve = dose_area_curve(h, np.ones(10), [0.0, 1.0, 5.0, 5.5, 10.0, 11.0])
    np.testing.assert_allclose(curve, [1.0, 1.0, 0.6, 0.5, 0.1, 0.0])


def test_the_curve_gives_the_in_window_area_of_the_metrics(tmp_path):
    result = twin.render(twin.load_scene(twin._data.default_scene_path()))
    low, high = result.scene.dose.fluence_window_j_cm2
    h, a = result.dose.fluence_j_cm2()[result.roi], result.samples.areas_mm2[result.roi]
    at_least = dose_area_curve(h, a, [low, np.nextafter(high, np.inf)])
    expected = result.metrics["roi"]["total"]["in_window_area_fraction"]
    assert at_least[0] - at_least[1] == pytest.approx(expected, abs=1e-12)
    assert np.all(np.diff(dose_area_curve(h, a, np.linspace(0, 20, 200))) <= 0)


def test_the_standoff_curve_is_the_rendered_irradiance_under_one_led(tmp_path):
    import trimesh
    import yaml

    from twin.devices.emitters import emitter_csv_text
    from twin.geometry import phantoms
    from twin.views import plots

    plane = phantoms.plane(size_mm=80.0, divisions=40)
    trimesh.Trimesh(plane.vertices_mm, plane.faces, process=False).export(tmp_path / "p.obj")
    led = twin.Emitters.create([[0.0, 0.0, 20.0]], [[0.0, 0.0, -1.0]], 6.0,
                               profile=twin.Lambertian(25.0))  # fmt: skip
    (tmp_path / "led.csv").write_text(emitter_csv_text(led))
    scene = {"target": {"mesh": "p.obj", "units": "mm"}, "emitters": {"file": "led.csv"},
             "exposure_s": 60}  # fmt: skip
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scene))
    result = twin.render(tmp_path / "s.yaml")
    line = plots.standoff(result).axes[0].lines[0]
    at_gap = np.interp(20.0, line.get_xdata(), line.get_ydata())
    peak = result.dose.total_irradiance_mw_cm2.max()  # the vertex right under the LED
    assert at_gap == pytest.approx(peak, rel=2e-3)  # the curve is sampled every 0.2 mm


def test_render_plots_writes_pictures_that_are_not_blank(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "--out", str(out), "--plots"]) == 0
    assert "dose_area.png" in capsys.readouterr().out
    from matplotlib.image import imread

    for name in PLOTS:
        image = imread(out / "plots" / f"{name}.png")[..., :3]
        ink = np.any(image < 0.9, axis=2).mean()  # not white background
        colours = len(np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0))
        assert ink > 0.02 and colours > 50, (name, ink, colours)
    # The unrolled map carries its colour scale: a tall strip of the colormap on the right.
    image = imread(out / "plots" / "flat_map.png")[..., :3]
    right = image[:, int(0.8 * image.shape[1]) :]
    assert np.unique((right * 255).astype(np.uint8).reshape(-1, 3), axis=0).shape[0] > 5
