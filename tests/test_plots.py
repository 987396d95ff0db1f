"""Plots: the dose-area curve's arithmetic, and pictures that show something."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import twin
from twin.cli import main
from twin.tissue.kernels import TABLE_DEPTHS_MM, KernelTable
from twin.views.plots import PLOTS, TISSUE_PLOTS, dose_area_curve

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

    tissue = "tissue" in json.loads((out / "metrics.json").read_text())
    names = [p for p in PLOTS if tissue or p not in TISSUE_PLOTS]  # depth plots need tissue
    assert sorted(p.stem for p in (out / "plots").iterdir()) == sorted(names)
    for name in names:
        image = imread(out / "plots" / f"{name}.png")[..., :3]
        ink = np.any(image < 0.9, axis=2).mean()  # not white background
        colours = len(np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0))
        assert ink > 0.02 and colours > 50, (name, ink, colours)
    # The unrolled map carries its colour scale: a tall strip of the colormap on the right.
    image = imread(out / "plots" / "flat_map.png")[..., :3]
    right = image[:, int(0.8 * image.shape[1]) :]
    assert np.unique((right * 255).astype(np.uint8).reshape(-1, 3), axis=0).shape[0] > 5


#: A small face under a few LEDs of the rigid mask with explicit skin layers (no table needed to
#: render), a target band over the treated skin and one with its own window on the forehead.
TISSUE_SCENE = {
    "name": "small-tissue",
    "target": {"mesh": "builtin:face", "max_edge_mm": 8.0, "exclude": ["eyes", "lips"]},
    "emitters": {"design": "mask-rigid-1026", "count": 60},
    "mode": "red",
    "exposure_s": 600,
    "tissue": {
        "depths_mm": [0.1, 0.5, 1, 2.0, 4.0],
        "layers": [
            {"thickness_mm": 0.1, "mua_per_mm": {"red": 0.3, "nir": 0.1, "blue": 2.0},
             "mus_prime_per_mm": 3, "g": 0.8, "n": 1.4},
            {"thickness_mm": ".inf", "mua_per_mm": 0.02, "mus_prime_per_mm": 2, "g": 0.8,
             "n": 1.4},
        ],
        "targets": {
            "roi": {"depth_mm": [0.5, 1.5]},
            "forehead": {"depth_mm": [2, 3], "fluence_window_j_cm2": [5, 20]},
        },
    },
}  # fmt: skip


def stand_in_table() -> KernelTable:
    """A kernel table with an analytic answer (:func:`stand_in_kernel`), for the skin types."""
    from twin.tissue.kernels import ANGLES_DEG
    from twin.tissue.optics import SITES, SKIN_TYPES

    wavelength_nm = np.array([400.0, 633.0, 830.0, 1000.0])  # the red and NIR lines on it
    w, t, s, a = np.meshgrid(*(np.arange(n) for n in (4, len(SKIN_TYPES), len(SITES), 5)),
                             indexing="ij")  # fmt: skip
    amplitude = (1.0 + t + 10.0 * s + 100.0 * a)[..., None]
    mu = (0.5 * (t + 1.0) * 1000.0 / wavelength_nm[w])[..., None]
    fluence = amplitude * np.exp(-mu * TABLE_DEPTHS_MM)
    flat = np.zeros(w.shape, np.float32)
    return KernelTable(wavelength_nm, tuple(SKIN_TYPES), tuple(SITES), ANGLES_DEG,
                       TABLE_DEPTHS_MM, fluence.astype(np.float32), flat, flat, 1)  # fmt: skip


def stand_in_kernel(skin_type: str, site: str, wavelength_nm: float, depth_mm):
    """The stand-in table's kernel at normal incidence, at one of its wavelengths and depths."""
    from twin.tissue.optics import SITES, SKIN_TYPES

    t, s = list(SKIN_TYPES).index(skin_type), list(SITES).index(site)
    return (1.0 + t + 10.0 * s) * np.exp(-0.5 * (t + 1.0) * 1000.0 / wavelength_nm * depth_mm)


@pytest.fixture(scope="module")
def tissue_result(tmp_path_factory):
    """The small tissue scene rendered (the skin layers' Monte Carlo takes most of it)."""
    import yaml

    path = tmp_path_factory.mktemp("tissue") / "tissue.yaml"
    path.write_text(yaml.safe_dump(TISSUE_SCENE))
    return twin.render(path)


@pytest.fixture
def stand_in(monkeypatch):
    """The shipped kernel table replaced by :func:`stand_in_table`."""
    from twin.tissue import kernels

    monkeypatch.setattr(kernels, "kernel_table", stand_in_table)


def _mappable(ax):
    """The map an axes draws (an image or a mesh of triangles)."""
    return (*ax.images, *ax.collections)[0]


def _line(ax, label: str):
    (line,) = [ln for ln in ax.lines if ln.get_label() == label]
    return line


def test_depth_dose_shows_the_mean_fluence_at_each_depth_from_the_surface_down(
    tissue_result, stand_in
):
    from twin.views import plots

    result = tissue_result
    roi, areas = result.roi, result.samples.areas_mm2[result.roi]
    exposure_s = result.scene.exposure_s
    fig = plots.depth_dose(result)
    top = fig.axes[0]
    total = _line(top, "total, mean")
    # The curve is the area-weighted mean over the treated skin of the fluence-rate maps times
    # the exposure, at each of the scene's depths...
    phi = result.tissue.total_fluence_rate_mw_cm2[roi, :5]
    np.testing.assert_allclose(total.get_xdata(), [0.1, 0.5, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(total.get_ydata(), areas @ phi / areas.sum() * exposure_s / 1e3)
    # ...from the surface's mean fluence at depth 0 (a square, left out of the legend)...
    surface = _line(top, "_surface total, mean")
    h = result.dose.fluence_j_cm2()[roi]
    assert surface.get_xdata()[0] == 0.0
    assert surface.get_ydata()[0] == pytest.approx(areas @ h / areas.sum(), rel=1e-12)
    # ...and the lit channels add up to it (the blue channel is off, and not drawn).
    channels = [_line(top, c).get_ydata() for c in ("red", "nir")]
    np.testing.assert_allclose(np.sum(channels, axis=0), total.get_ydata(), rtol=1e-12)
    assert "blue" not in [ln.get_label() for ln in top.lines]
    p5 = _line(top, "total, 5th percentile").get_ydata()
    assert np.all(p5 <= total.get_ydata())
    # The target bands are marked at their mean fluence over their depths.
    for name, target in result.metrics["tissue"]["targets"].items():
        mark = [c for c in top.collections if c.get_label().startswith(f"target {name},")]
        (segment,) = mark[0].get_segments()
        np.testing.assert_allclose(segment[:, 0], target["depth_mm"])
        np.testing.assert_allclose(segment[:, 1], target["fluence_mean_j_cm2"])
    # One panel per lit channel: the six skin types' kernels at normal incidence on the face
    # (the site of most of this skin), down to 8 mm; compared on the table's own depths.
    panels = {ax.get_title().split(" ")[0]: ax for ax in fig.axes[1:]}
    assert sorted(panels) == ["nir", "red"]
    assert all(ax.get_title().endswith(", face") for ax in panels.values())
    for channel, wavelength_nm in (("red", 633.0), ("nir", 830.0)):
        for skin_type in ("I", "IV", "VI"):
            line = _line(panels[channel], skin_type)
            z, kernel = line.get_xdata(), line.get_ydata()
            assert z[0] == 0.0 and z[-1] == pytest.approx(8.0)
            on_table = np.isclose(z[:, None], TABLE_DEPTHS_MM[None, :], atol=1e-9).any(axis=1)
            assert on_table.sum() > 40
            expected = stand_in_kernel(skin_type, "face", wavelength_nm, z[on_table])
            np.testing.assert_allclose(kernel[on_table], expected, rtol=1e-5)


def test_depth_area_is_each_depth_s_dose_area_curve(tissue_result):
    from twin.views import plots

    result = tissue_result
    roi, areas = result.roi, result.samples.areas_mm2[result.roi]
    low, high = result.scene.dose.fluence_window_j_cm2
    at_depth = result.metrics["tissue"]["roi"]["total"]
    ax = plots.depth_area(result).axes[0]
    phi = result.tissue.total_fluence_rate_mw_cm2[roi]
    for i, label in enumerate(["0.1 mm", "0.5 mm", "1 mm", "2 mm", "4 mm"]):
        line = _line(ax, label)
        levels, curve = line.get_xdata(), line.get_ydata()
        h = phi[:, i] * result.scene.exposure_s / 1e3
        np.testing.assert_allclose(curve, dose_area_curve(h, areas, levels))
        assert curve[0] == pytest.approx(1.0, abs=1e-12) and np.all(np.diff(curve) <= 0)
        # The area under the curve is the mean fluence, and the drop across the window the
        # area in it: both as metrics.json has them at that depth.
        step = levels[1] - levels[0]
        assert np.trapezoid(curve, levels) == pytest.approx(
            at_depth["fluence_mean_j_cm2"][i], abs=step
        )
        window = dose_area_curve(h, areas, [low, np.nextafter(high, np.inf)])
        assert window[0] - window[1] == pytest.approx(at_depth["in_window_area_fraction"][i])


def test_write_plots_adds_the_depth_plots_only_with_tissue(tissue_result, stand_in, tmp_path):
    from twin.views import plots

    written = plots.write_plots(tissue_result, tmp_path / "with")
    assert [p.stem for p in written] == list(PLOTS)
    plain = dataclasses.replace(tissue_result, tissue=None)
    assert plots.plot_names(plain) == [p for p in PLOTS if p not in plots.TISSUE_PLOTS]
    for plot in (plots.depth_dose, plots.depth_area):
        with pytest.raises(twin.InputError, match="small-tissue: the depth plots need a tissue"):
            plot(plain)


def test_the_interreflection_plot_splits_the_total_into_direct_and_indirect(tissue_result):
    """A rigid white mask over the face: the direct and the indirect light (what skin and
    mask return) add up to the total at every point, the indirect is nowhere negative, and
    the panels' means are the metrics' over the treated skin."""
    from twin.views import plots

    result = tissue_result
    dose = result.dose
    fig = plots.interreflection(result)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(":")[0] for ax in panels] == [
        "direct", "indirect (returned)", "total"]  # fmt: skip
    # Each panel is the map resampled on the flat grid (NaN off the skin).
    direct, indirect, total = (
        np.ma.filled(np.ma.asarray(_mappable(ax).get_array(), dtype=float), np.nan)
        for ax in panels
    )
    on = np.isfinite(total)
    assert on.any() and np.array_equal(on, np.isfinite(direct))
    np.testing.assert_allclose(direct[on] + indirect[on], total[on], rtol=1e-9, atol=1e-9)
    assert np.nanmax(total) <= dose.total_irradiance_mw_cm2.max() * (1.0 + 1e-9)
    assert np.nanmin(indirect) >= -1e-9 * np.nanmax(total) and np.nanmax(indirect) > 0
    roi = result.metrics["roi"]["total"]
    for ax, mean in zip(panels[::2], (roi["direct_irradiance_mw_cm2"]["mean"],
                                      roi["irradiance_mw_cm2"]["mean"]), strict=True):  # fmt: skip
        assert f"mean {mean:.3g} mW/cm²" in ax.get_title()
    # Direct and total share one colour scale: the total's top.
    assert _mappable(panels[0]).get_clim() == _mappable(panels[2]).get_clim()
    # The dose-area curve of the direct light alone lies under the total's (more light
    # everywhere: at least as much area at or above every level).
    left = plots.dose_area(result).axes[0]
    below, above = (_line(left, k).get_ydata() for k in ("total, direct light only", "total"))
    assert np.all(below <= above) and np.any(below < above)


def test_without_interreflection_there_is_no_interreflection_plot(tissue_result):
    from twin.views import plots

    dose = dataclasses.replace(tissue_result.dose, direct_irradiance_mw_cm2={})
    direct_only = dataclasses.replace(tissue_result, dose=dose)
    assert "interreflection" in plots.plot_names(tissue_result)
    assert plots.plot_names(direct_only) == [p for p in PLOTS if p != "interreflection"]
    with pytest.raises(twin.InputError, match="small-tissue: the inter-reflection plot needs"):
        plots.interreflection(direct_only)
    labels = [ln.get_label() for ln in plots.dose_area(direct_only).axes[0].lines]
    assert "total, direct light only" not in labels


def _hue(colour) -> str:
    """Name the dominant primary of a colour: ``red`` (orange counts), ``green`` or ``blue``."""
    r, g, b = matplotlib.colors.to_rgb(colour)
    if r > max(g, b):
        return "red"
    return "green" if g > max(r, b) else "blue" if b > max(r, g) else "none"


def test_every_region_has_a_colour_of_its_own_kept_from_scene_to_scene(tissue_result):
    from twin.geometry.anatomy import REGIONS
    from twin.views import plots

    face = list(REGIONS["face"])
    styles = plots.region_styles(face)
    assert len({s["color"] for s in styles.values()}) == len(face)  # 13 regions, 13 colours
    # A scene treating a few regions gives each the colour it has among all of them.
    assert plots.region_styles(["chin", "nose"]) == {n: styles[n] for n in ("chin", "nose")}
    # Names of no built-in anatomy, more than the colours: the line style tells them apart.
    many = plots.region_styles([f"patch {i}" for i in range(40)])
    assert len({(s["color"], s["linestyle"]) for s in many.values()}) == 40
    # The grey of "not treated" and the black of the total are no region's.
    for colour in plots.REGION_COLOURS:
        assert _hue(colour) != "none" and matplotlib.colors.to_hex(colour) != "#000000"
    # On the plot: one curve per treated region (the eyes and lips are not), all different.
    right = plots.dose_area(tissue_result).axes[1]
    treated = [
        n for n, m in tissue_result.samples.regions.items() if (m & tissue_result.roi).any()
    ]
    assert sorted(ln.get_label() for ln in right.lines) == sorted(treated)
    assert "eyes" not in treated and "lips" not in treated and len(treated) == 11
    looks = {(matplotlib.colors.to_hex(ln.get_color()), ln.get_linestyle()) for ln in right.lines}
    assert len(looks) == len(treated)


def test_region_bars_are_coloured_by_the_window_and_untreated_ones_are_grey(tissue_result):
    from twin.views import plots

    window = (4.0, 10.0)
    assert plots.region_status(3.9, window, treated=True) == "below the window"
    assert plots.region_status(4.0, window, treated=True) == "in the window"
    assert plots.region_status(10.5, window, treated=True) == "above the window"
    assert plots.region_status(7.0, window, treated=False) == "not treated"
    result = tissue_result
    low, high = result.scene.dose.fluence_window_j_cm2
    ax = plots.regions(result).axes[0]
    bars = ax.containers[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(bars) == len(labels) == len(result.metrics["regions"])
    for bar, label in zip(bars, labels, strict=True):
        name = label.removesuffix(" (not treated)")
        mean = result.metrics["regions"][name]["total"]["fluence_j_cm2"]["mean"]
        assert bar.get_width() == pytest.approx(mean, rel=1e-9)  # the metrics' region mean
        if name in ("eyes", "lips"):  # excluded by the scene: grey whatever they receive
            assert label.endswith("(not treated)") and _hue(bar.get_facecolor()) == "none"
        else:
            expected = "blue" if mean < low else "red" if mean > high else "green"
            assert label == name and _hue(bar.get_facecolor()) == expected, (name, mean)


def test_the_flat_map_bands_read_below_in_and_above_the_window(tissue_result):
    from twin.views import plots

    result = tissue_result
    low, high = result.scene.dose.fluence_window_j_cm2
    fig = plots.flat_map(result)
    art = _mappable(fig.axes[0])
    top = art.norm.boundaries[-1]
    bands = {"blue": (0.2 * low, 0.9 * low), "green": (1.01 * low, 0.99 * high),
             "red": (1.01 * high, 0.99 * top)}  # fmt: skip
    for hue, value in ((h, v) for h, values in bands.items() for v in values):
        assert _hue(art.to_rgba(value)) == hue, (value, low, high)
    assert "J/cm²" in fig.axes[1].get_ylabel()  # the colour bar
    # A window from 0 has nothing below it: no band of no width, the window green from 0.
    dose = dataclasses.replace(result.scene.dose, fluence_window_j_cm2=(0.0, 5.0))
    zero = dataclasses.replace(result, scene=dataclasses.replace(result.scene, dose=dose))
    art = _mappable(plots.flat_map(zero).axes[0])
    assert [_hue(art.to_rgba(v)) for v in (0.01, 2.5, 4.9, 5.1)] == ["green"] * 3 + ["red"]


def test_standoff_curves_on_top_of_each_other_all_show(tissue_result):
    from twin.views import plots

    ax = plots.standoff(tissue_result).axes[0]
    lit = [c for c, d in tissue_result.scene.drive.items() if d > 0]
    curves = [ln for ln in ax.lines if ln.get_label().split()[0] in lit]
    assert len(curves) == len(lit) == 2  # red mode: red and NIR, 8 mW each, one profile
    first, second = curves
    looks = [(ln.get_color(), ln.get_linestyle(), ln.get_marker()) for ln in curves]
    assert len(set(looks)) == 2
    same = np.allclose(first.get_ydata(), second.get_ydata(), rtol=1e-9)
    name = first.get_label().split()[0]
    assert (f"the same curve as {name}" in second.get_label()) == same


def test_the_gap_axis_leaves_far_outliers_out_and_counts_them(tissue_result):
    from twin.views import plots

    gaps = tissue_result.gap_mm.copy()
    hit = np.flatnonzero(np.isfinite(gaps))
    gaps[hit[0]] = 77.0  # one axis running off through a gap in the skin
    stray = dataclasses.replace(tissue_result, gap_mm=gaps)
    left = plots.fit(stray).axes[0]
    assert left.get_xlim()[1] < 0.5 * 77.0
    assert sum(p.get_height() for p in left.patches) == len(hit) - 1
    (note,) = [t.get_text() for t in left.texts]
    assert "1 LED(s) beyond" in note and "up to 77.0 mm" in note
    # Without it every gap is drawn and nothing is noted.
    left = plots.fit(tissue_result).axes[0]
    assert sum(p.get_height() for p in left.patches) == len(hit) and not left.texts
    assert left.get_xlim()[1] >= tissue_result.gap_mm[hit].max()


def test_every_axis_and_colour_bar_of_a_plot_names_its_unit(tissue_result, stand_in):
    import re

    from twin.views import plots

    unit = re.compile(r"\((?:[^()]*[ ,;])?(mm|J/cm²|mW/cm²|degrees|mW/cm² per mW/cm²)[ ,;)]")
    counts = {"LEDs", "fraction of the treated area", "fraction of treated area"}
    for name in plots.plot_names(tissue_result):
        fig = getattr(plots, name)(tissue_result)
        for ax in fig.axes:
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                if label:
                    assert unit.search(label) or label in counts, (name, label)
