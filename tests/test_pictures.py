"""3D pictures, reports and the viewer's point readout (the HTML page: test_webpage.py)."""

from __future__ import annotations

import ctypes.util
import dataclasses
import html
import itertools
import json
import re

import numpy as np
import pytest
import yaml
from _helpers import write_helmet
from test_plots import TISSUE_SCENE, stand_in_table

import twin
from twin.cli import main
from twin.views import view3d
from twin.views.plots import PLOTS, TISSUE_PLOTS
from twin.views.report import (
    COMPARE_SECTIONS,
    INTERREFLECTION_SECTION,
    POPULATION_SECTIONS,
    SECTIONS,
    TISSUE_SECTION,
)

pytest.importorskip("pyvista", reason="3D pictures need PyVista (twin[viz])")
matplotlib = pytest.importorskip("matplotlib", reason="plots need matplotlib (twin[viz])")
needs_egl = pytest.mark.skipif(
    ctypes.util.find_library("EGL") is None,
    reason="off-screen OpenGL needs libEGL: apt install libegl1 libgl1-mesa-dri (make test does)",
)

#: A small rigid-mask scene with one rule that holds and one that cannot.
MASK = {
    "name": "small-mask",
    "target": {"mesh": "builtin:face", "max_edge_mm": 5.0, "exclude": ["eyes", "lips"]},
    "emitters": {"design": "mask-rigid-1026", "count": 200},
    "mode": "red",
    "exposure_s": 1200,
    "checks": {
        "rules": [
            {"metric": "roi.total.fluence_j_cm2.mean", "min": 0.0},
            {"metric": "eye_safety.ir_irradiance_mw_cm2.max", "max": 1e-6},
        ]
    },
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The small mask rendered with every picture: (scene file, result folder)."""
    root = tmp_path_factory.mktemp("pictures")
    (root / "mask.yaml").write_text(yaml.safe_dump(MASK))
    out = root / "out"
    png = [] if ctypes.util.find_library("EGL") is None else ["--png"]
    assert (
        main(["render", str(root / "mask.yaml"), "--out", str(out), "--plots", "--html", *png])
        == 0
    )
    return root / "mask.yaml", out


def overlay_texts(plotter) -> dict[str, str]:
    """The texts of a picture's title, colour bar and legends, by name."""
    return {
        name.removeprefix(view3d.OVERLAY): actor.GetInput()
        for name, actor in plotter.renderer.actors.items()
        if name.startswith(view3d.OVERLAY) and hasattr(actor, "GetInput")
    }


def ink(image: np.ndarray) -> float:
    """Fraction of pixels that are not the white background."""
    return float(np.any(image[..., :3] < 0.92, axis=2).mean())


@needs_egl
def test_snapshots_show_the_dose_and_its_colour_scale(rendered):
    from matplotlib.image import imread

    _, out = rendered
    names = sorted(p.name for p in (out / "pictures").iterdir())
    assert names == sorted(f"{v}.png" for v in view3d.FACE_VIEWS)
    for name in names:
        image = imread(out / "pictures" / name)[..., :3]
        assert ink(image) > 0.08, name
        # The colour scale: a vertical strip on the right running through viridis, dark
        # purple at the bottom to yellow at the top.
        left, _, right, _ = view3d.BAR
        strip = image[:, int(left * image.shape[1]) + 2 : int(right * image.shape[1]) - 1]
        coloured = strip[(strip.max(axis=2) - strip.min(axis=2)) > 0.25]
        assert len(coloured) > 500, name
        top, bottom = (
            coloured[: len(coloured) // 10].mean(axis=0),
            coloured[-len(coloured) // 10 :].mean(axis=0),
        )
        assert top[0] > 0.6 and top[2] < 0.4  # yellow
        assert bottom[2] > bottom[1]  # purple-blue
        # Nothing runs off the picture: its outermost pixels are all background.
        edge = np.concatenate([image[:3], image[-3:], image[:, :3].swapaxes(0, 1),
                               image[:, -3:].swapaxes(0, 1)], axis=1)  # fmt: skip
        assert edge.min() > 0.98, name
    front, left = (imread(out / "pictures" / f"{v}.png") for v in ("front", "left"))
    assert np.abs(front - left).mean() > 0.02  # different views, not one picture twice


def test_the_report_has_every_section_and_the_rules_verdicts(rendered, tmp_path, capsys):
    _, out = rendered
    pictures = [] if ctypes.util.find_library("EGL") else ["--no-pictures"]
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), *pictures]) == 0
    text = (tmp_path / "rep" / "report.html").read_text()
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'rep' / 'report.html'}"
    assert re.findall(r"<h2>(.*?)</h2>", text) == [s for s in SECTIONS if s != TISSUE_SECTION]
    assert "<span class='pass'>pass</span>" in text and "<span class='fail'>FAIL</span>" in text
    assert "1 of 2 rules hold." in text
    assert "eyes: IR max" in text and "eyes: blue-weighted" in text
    assert re.search(r"RG[0-3]", text)  # the IEC 62471 risk groups
    images = text.count("data:image/png;base64,")
    plots = len(PLOTS) - len(TISSUE_PLOTS)  # no depth plots without tissue
    # The plots (and four pictures, and the direct, indirect and total light's three).
    assert images == plots + (0 if pictures else 4 + 3)
    assert 'src="http' not in text  # self-contained


def test_a_comparison_report_is_side_by_side(tmp_path):
    cmp = tmp_path / "cmp"
    near, far = (write_helmet(tmp_path, n, s, count=90) for n, s in (("near", 8.0), ("far", 18.0)))
    args = ["compare", str(near), str(far), "--jobs", "1", "--out", str(cmp)]
    assert main(args) == 0
    egl = ctypes.util.find_library("EGL") is not None
    options = [] if egl else ["--no-pictures"]
    assert main(["report", str(cmp), "--out", str(tmp_path / "rep"), *options]) == 0
    text = (tmp_path / "rep" / "report.html").read_text()
    assert re.findall(r"<h2>(.*?)</h2>", text) == list(COMPARE_SECTIONS)
    data = json.loads((cmp / "compare.json").read_text())
    assert data["verdict"].split(".")[0] in text
    # Each helmet's inter-reflection gain (white inside by default), per channel and total.
    (gain,) = _tables(text.split("<h2>Inter-reflection gain</h2>")[1].split("<h2>")[0])
    assert gain[0] == ["channel", "near", "far"]
    assert [r[0] for r in gain[1:]] == [g["channel"] for g in data["interreflection_gain"]]
    total = data["interreflection_gain"][-1]
    assert gain[-1] == ["total", *(f"{total[k]['median']:.2f}" for k in "ab")]
    assert float(gain[-1][1]) > 1.0
    # The distributions, and with OpenGL the difference map from the front and the left.
    assert text.count("data:image/png;base64,") == (3 if egl else 1)


def test_a_result_folder_reads_back_without_ray_casting(rendered):
    scene_file, out = rendered
    again = view3d.from_folder(out)
    fresh = view3d.from_result(twin.render(scene_file))
    assert set(again.maps) == set(fresh.maps)
    for name in fresh.maps:  # PLY stores float32
        np.testing.assert_allclose(again.maps[name], fresh.maps[name], rtol=1e-6, atol=1e-6)
    assert again.carrier is not None  # the rigid shell, from carrier.ply
    np.testing.assert_allclose(again.carrier[0], fresh.carrier[0], atol=1e-4)
    assert set(again.regions) == set(fresh.regions)


def test_a_clicked_point_reads_its_values_region_and_brightest_led(rendered):
    _, out = rendered
    scene = view3d.from_folder(out)
    vertex = int(scene.regions["forehead"][len(scene.regions["forehead"]) // 2])
    text = view3d.describe_point(scene, vertex)
    assert text.splitlines()[0] == f"vertex {vertex}, region forehead"
    assert f"fluence_j_cm2: {scene.maps['fluence_j_cm2'][vertex]:.4g}" in text
    assert "most direct light from (mW/cm2):" in text  # the mask's white inside returns more
    # The LEDs' shares add up to the rendered direct irradiance, brightest first, also at the
    # lips, where the nose and the lips themselves shadow many LEDs.
    shares = view3d.contributions(scene, vertex, top=None)
    assert [e for _, e in shares] == sorted((e for _, e in shares), reverse=True)
    for v in [vertex, *scene.regions["lips"][::20]]:
        total = sum(e for _, e in view3d.contributions(scene, int(v), top=None))
        np.testing.assert_allclose(total, scene.maps["irradiance_direct_mw_cm2"][v], rtol=1e-5)
    assert view3d.contributions(scene, vertex) == shares[:5]
    # ...and the brightest is a lit LED close to the point.
    lit = scene.leds["power_mw"] > 0
    distance = np.linalg.norm(scene.leds["positions_mm"] - scene.vertices_mm[vertex], axis=1)
    assert lit[shares[0][0]] and distance[shares[0][0]] <= np.sort(distance[lit])[5]


def test_view_without_a_display_says_what_to_use_instead(rendered, monkeypatch, capsys):
    _, out = rendered
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["view", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        "twin: error: twin view: needs a display (DISPLAY is not set); for pictures without "
        "one use twin render --png or --html, or twin report"
    )


@needs_egl
def test_the_viewer_switches_maps_and_reads_a_clicked_point(rendered):
    _, out = rendered
    scene = view3d.from_folder(out)
    viewer = view3d.Viewer(scene, off_screen=True, window_size=[800, 600])
    first = viewer.plotter.screenshot(return_img=True)
    viewer.switch("irradiance_red_mw_cm2")
    texts = overlay_texts(viewer.plotter)
    assert texts["title"] == "small-mask: irradiance, red 633 nm"
    assert texts["subtitle"] == (
        "exposure 1200 s (20 min); window 3.33-8.33 mW/cm² (a dose of 4-10 J/cm²)"
    )
    second = viewer.plotter.screenshot(return_img=True)
    assert np.abs(first.astype(float) - second.astype(float)).mean() > 1.0
    viewer.switch("irradiance_indirect_red_mw_cm2")  # the light skin and mask return
    title = "small-mask: indirect irradiance, red 633 nm"
    assert overlay_texts(viewer.plotter)["title"] == title
    vertex = int(scene.regions["nose"][0])
    viewer.pick(scene.vertices_mm[vertex] + 0.01)
    assert viewer.picked == view3d.describe_point(scene, vertex)


def test_a_population_report_reads_rules_over_the_members(tmp_path, monkeypatch):
    from twin.tissue import kernels

    monkeypatch.setattr(kernels, "kernel_table", stand_in_table)  # for the skin-type panels
    scene = {
        **MASK,
        "name": "pop",
        "target": {**MASK["target"], "population": {"size": 3, "seed": 4}},
        "tissue": TISSUE_SCENE["tissue"],
        "checks": {
            "rules": [
                {"metric": "roi.total.fluence_j_cm2.mean", "min": 0.0, "over": "median"},
                {"metric": "emitters.inside_skin", "max": -1},
            ]
        },
    }
    (tmp_path / "pop.yaml").write_text(yaml.safe_dump(scene))
    out = tmp_path / "out"
    assert main(["render", str(tmp_path / "pop.yaml"), "--out", str(out), "--plots"]) == 0
    options = [] if ctypes.util.find_library("EGL") else ["--no-pictures"]
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), *options]) == 0
    text = (tmp_path / "rep" / "report.html").read_text()
    assert re.findall(r"<h2>(.*?)</h2>", text) == list(POPULATION_SECTIONS)
    assert "1 of 2 rules hold." in text
    assert "roi.total.fluence_j_cm2.mean (median)" in text
    members = json.loads((out / "population.json").read_text())["members"]
    shares = [
        json.loads((out / m["name"] / "metrics.json").read_text())["roi"]["total"][
            "in_window_area_fraction"
        ]
        for m in members
    ]
    worst = members[int(np.argmin(shares))]["name"]
    assert f"<p>{worst} (" in text and f"{100 * min(shares):.1f} %" in text
    # With light in tissue: the dose at the target depth in the spread and for every member,
    # and the worst member's depth plot beside its dose-area plot (and pictures).
    spread = _tables(text.split("<h2>Spread</h2>")[1].split("<h2>")[0])[0]
    assert {"mean_fluence_at_depth_j_cm2", "in_window_area_fraction_at_depth"} <= {
        row[0] for row in spread
    }
    assert text.count("data:image/png;base64,") == 2 + (0 if options else 4)
    # The scene file itself reports the same: its members are rendered first.
    rep2 = tmp_path / "rep2"
    assert main(["report", str(tmp_path / "pop.yaml"), "--out", str(rep2), *options]) == 0
    again = (rep2 / "report.html").read_text()
    # The same report but for the time it took and when it was written.
    varying = re.compile(r"\d+\.\d+ s|\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
    assert varying.sub("", again) == varying.sub("", text)


@pytest.fixture(scope="module")
def tissue_rendered(tmp_path_factory):
    """The small scene with light in tissue, rendered and written: (result, result folder)."""
    root = tmp_path_factory.mktemp("tissue")
    (root / "tissue.yaml").write_text(yaml.safe_dump(TISSUE_SCENE))
    result = twin.render(root / "tissue.yaml")
    result.write(root / "out")
    return result, root / "out"


def _tables(section: str) -> list[list[list[str]]]:
    """Each table of an HTML fragment as rows of cell texts."""
    return [
        [[html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", row)]
         for row in re.findall(r"<tr>(.*?)</tr>", table)]
        for table in re.findall(r"<table>(.*?)</table>", section)
    ]  # fmt: skip


def test_the_report_shows_the_light_in_tissue_as_metrics_json_has_it(tissue_rendered, monkeypatch):
    from twin.dose.hazards import skin_reflectance
    from twin.tissue import kernels
    from twin.views.report import render_report

    monkeypatch.setattr(kernels, "kernel_table", stand_in_table)  # for the skin-type panels
    result, out = tissue_rendered
    text = render_report(result, pictures=False)
    assert re.findall(r"<h2>(.*?)</h2>", text) == list(SECTIONS)
    metrics = json.loads((out / "metrics.json").read_text())
    tissue, roi = metrics["tissue"], metrics["roi"]
    section = text.split(f"<h2>{TISSUE_SECTION}</h2>")[1].split("<h2>")[0]
    assert section.startswith("<p>explicit layers: ")
    model, reflectance, depth, targets = _tables(section)
    assert tissue["model"]["lateral_spread_mm"] == {}  # none: said in words, not in the table
    assert "lateral spread in the tissue not modelled" in section
    expected = {k: v for k, v in tissue["model"].items() if k != "lateral_spread_mm"}
    assert dict(model) == {k.replace("_", " "): str(v) for k, v in expected.items()}
    # The model's reflectance beside the NIST in-vivo mean at each channel's wavelength.
    assert reflectance[0] == ["channel", "wavelength nm", "skin reflectance, model",
                              "NIST mean skin reflectance"]  # fmt: skip
    assert {r[0]: r[1] for r in reflectance[1:]} == {"nir": "830", "blue": "415", "red": "633"}
    for channel, wavelength, by_model, nist in reflectance[1:]:
        assert by_model == f"{tissue['reflectance'][channel]:.4g}"
        assert nist == f"{skin_reflectance(float(wavelength)):.4g}"
    # The dose at depth: the surface, then each depth, per channel and total.
    head = depth[0]
    assert [r[0] for r in depth[1:]] == ["surface", "0.1 mm", "0.5 mm", "1 mm", "2 mm", "4 mm"]
    total, share = head.index("H total J/cm²"), head.index("in window")
    red = head.index("H red J/cm²")
    assert depth[1][total] == f"{roi['total']['fluence_j_cm2']['mean']:.4g}"
    for i, row in enumerate(depth[2:]):
        at = tissue["roi"]
        assert row[total] == f"{at['total']['fluence_mean_j_cm2'][i]:.4g}"
        assert row[red] == f"{at['channels']['red']['fluence_mean_j_cm2'][i]:.4g}"
        assert row[share] == f"{100 * at['total']['in_window_area_fraction'][i]:.1f} %"
    # The targets, each with its band, window and dose.
    assert sorted(r[:3] for r in targets[1:]) == [
        ["forehead", "2-3", "5-20"],
        ["roi", "0.5-1.5", "4-10"],
    ]
    mean = targets[0].index("H mean J/cm²")
    for row in targets[1:]:
        assert row[mean] == f"{tissue['targets'][row[0]]['fluence_mean_j_cm2']:.4g}"
    # Both depth plots in the section, every plot in the report once.
    assert section.count("data:image/png;base64,") == len(TISSUE_PLOTS)
    assert text.count("data:image/png;base64,") == len(PLOTS)


def test_the_3d_views_offer_the_fluence_rate_at_each_depth(tissue_rendered):
    result, out = tissue_rendered
    fresh = view3d.from_result(result)
    header = (out / "samples.csv").read_text().split("\n", 1)[0].split(",")
    rates = [c for c in header if c.startswith("fluence_rate_")]
    assert len(rates) == 5 * 4  # five depths, total and three channels
    assert [n for n in fresh.maps if n.startswith("fluence_rate_")] == rates
    tissue = result.tissue
    np.testing.assert_array_equal(
        fresh.maps["fluence_rate_1mm_mw_cm2"], tissue.total_fluence_rate_mw_cm2[:, 2]
    )
    np.testing.assert_array_equal(
        fresh.maps["fluence_rate_red_4.0mm_mw_cm2"], tissue.fluence_rate_mw_cm2["red"][:, 4]
    )
    again = view3d.from_folder(out)  # surface.ply has them too
    assert set(again.maps) == set(fresh.maps)
    for name in rates:
        np.testing.assert_allclose(again.maps[name], fresh.maps[name], rtol=1e-6, atol=1e-6)
    assert again.depth_maps == [
        f"fluence_rate_{z}mm_mw_cm2" for z in ("0.1", "0.5", "1", "2.0", "4.0")
    ]
    # Each is on the irradiance's scale: the window over the exposure (4-10 J/cm2 in 600 s).
    title, (_, top), window = view3d.map_label("fluence_rate_red_0.5mm_mw_cm2", again)
    assert title == "fluence rate at 0.5 mm, red 633 nm (mW/cm²)"
    assert window == pytest.approx((4000 / 600, 10000 / 600))
    assert top >= again.maps["fluence_rate_red_0.5mm_mw_cm2"].max()


@needs_egl
def test_the_viewer_steps_down_through_the_depths(tissue_rendered):
    _, out = tissue_rendered
    scene = view3d.from_folder(out)
    viewer = view3d.Viewer(scene, off_screen=True, window_size=[600, 480])
    shots = {}
    for depth in ("0.1", "0.5", "1", "2.0", "4.0", "0.1"):
        viewer.deeper()
        assert viewer.quantity == f"fluence_rate_{depth}mm_mw_cm2"
        shots[depth] = viewer.plotter.screenshot(return_img=True).astype(float) / 255.0
    title = "small-tissue: fluence rate at 0.1 mm, all channels"
    assert overlay_texts(viewer.plotter)["title"] == title
    # The skin is darker (viridis: lower) 4 mm down than at 0.1 mm.
    changed = np.abs(shots["0.1"] - shots["4.0"]).max(axis=2) > 0.05
    assert changed.mean() > 0.01
    assert shots["0.1"][changed].mean() > shots["4.0"][changed].mean()


def test_the_3d_views_offer_the_direct_and_the_indirect_light(rendered):
    """Each direct map of ``samples.csv`` and, after it, the indirect one: total - direct."""
    _, out = rendered
    scene = view3d.from_folder(out)
    header = (out / "samples.csv").read_text().split("\n", 1)[0].split(",")
    direct = [c for c in header if c.startswith("irradiance_direct_")]
    assert sorted(direct) == sorted(
        f"irradiance_direct_{c}mw_cm2" for c in ("", "nir_", "red_", "blue_")
    )
    names = list(scene.maps)
    for name in direct:
        indirect = name.replace("_direct_", "_indirect_")
        assert names.index(indirect) == names.index(name) + 1
        total = scene.maps[name.replace("_direct_", "_")]
        np.testing.assert_allclose(scene.maps[name] + scene.maps[indirect], total, rtol=1e-12)
    # Skin and the mask's white inside return light: more on most of the skin, never less.
    indirect = scene.maps["irradiance_indirect_mw_cm2"]
    total = scene.maps["irradiance_mw_cm2"]
    assert indirect.min() >= -1e-6 * total.max() and np.median(indirect) > 0
    title, _, _ = view3d.map_label("irradiance_direct_nir_mw_cm2", scene)
    assert title == "direct irradiance, nir 830 nm (mW/cm²)"


def test_the_report_shows_the_direct_the_returned_and_the_total_light(
    tissue_rendered, monkeypatch
):
    """The inter-reflection section as metrics.json has it: the materials and reflectances
    used, per channel and total the direct, indirect and total irradiance and the gain."""
    from twin.tissue import kernels
    from twin.views.report import render_report

    monkeypatch.setattr(kernels, "kernel_table", stand_in_table)  # for the skin-type panels
    result, out = tissue_rendered
    text = render_report(result, pictures=False)
    metrics = json.loads((out / "metrics.json").read_text())
    block, roi = metrics["interreflection"], metrics["roi"]
    section = text.split(f"<h2>{INTERREFLECTION_SECTION}</h2>")[1].split("<h2>")[0]
    assert f"{block['patches']} patches" in section
    materials, light = _tables(section)
    channels = list(roi["channels"])
    assert materials[0] == ["surface", "material", *(f"reflectance {c}" for c in channels)]
    # The skin from its explicit layers, the rigid mask's inside white (the design says so).
    assert [r[:2] for r in materials[1:]] == [["skin", "skin (explicit layers)"],
                                              ["interior", "white"]]  # fmt: skip
    for row, surface in zip(materials[1:], ("skin", "interior"), strict=True):
        assert row[2:] == [f"{block['reflectance'][surface][c]:.4g}" for c in channels]
    head = light[0]
    assert head[:5] == ["channel", "E direct mW/cm²", "E indirect mW/cm²", "E total mW/cm²",
                        "gain"]  # fmt: skip
    rows = {r[0]: r for r in light[1:]}
    assert list(rows) == [*channels, "total"]
    for name, m in [*roi["channels"].items(), ("total", roi["total"])]:
        direct, total = m["direct_irradiance_mw_cm2"]["mean"], m["irradiance_mw_cm2"]["mean"]
        row = rows[name]
        assert row[1] == f"{direct:.4g}" and row[3] == f"{total:.4g}"
        assert float(row[2]) == pytest.approx(total - direct, rel=1e-3, abs=1e-9)
        if direct > 0:
            assert float(row[4]) == pytest.approx(total / direct, rel=1e-3)
            assert float(row[4]) > 1.2  # a white mask returns much of the light
        else:  # blue is off in red mode
            assert row[4] == "-"
    # The maps of the three, unrolled (no 3D pictures asked for).
    assert section.count("data:image/png;base64,") == 1
    # Without inter-reflection there is no such section.
    dose = dataclasses.replace(result.dose, direct_irradiance_mw_cm2={})
    blocks = dataclasses.replace(result.blocks, interreflection=None)
    direct_only = dataclasses.replace(result, dose=dose, blocks=blocks)
    text = render_report(direct_only, pictures=False)
    assert INTERREFLECTION_SECTION not in re.findall(r"<h2>(.*?)</h2>", text)


@needs_egl
def test_a_picture_says_what_it_shows_and_keeps_its_labels_inside(rendered):
    _, out = rendered
    scene = view3d.from_folder(out)
    width, height = 1000, 800
    pl = view3d.plotter_for(scene, off_screen=True, window_size=[width, height])
    view3d.set_view(pl, view3d.frame_points(scene), "front")
    texts = overlay_texts(pl)
    assert texts["title"] == "small-mask: fluence, all channels"
    assert texts["subtitle"] == "exposure 1200 s (20 min); window 4-10 J/cm²"
    assert texts["unit"] == "J/cm²"
    ticks = sorted((k for k in texts if k.startswith("tick-")), key=lambda k: int(k[5:]))
    assert [texts[k] for k in ticks] == ["0", "5", "10", "15", "20"]
    assert texts["window-label"] == "window\n4-10"
    # One legend row per LED channel: its wavelength, its count and whether it is on.
    count = {c: int((scene.leds["channel"] == c).sum()) for c in ("red", "nir", "blue")}
    legend = {v for k, v in texts.items() if k.startswith("legend-")}
    assert legend == {f"red 633 nm: {count['red']} LEDs", f"nir 830 nm: {count['nir']} LEDs",
                      f"blue 415 nm: {count['blue']} LEDs, off in this mode"}  # fmt: skip
    # Every text lies inside the picture, and none overprints another.
    boxes = {}
    for name, actor in pl.renderer.actors.items():
        if name.startswith(view3d.OVERLAY) and hasattr(actor, "GetInput"):
            box = [0.0] * 4
            actor.GetBoundingBox(pl.renderer, box)  # about its anchor
            x, y = actor.GetPositionCoordinate().GetComputedDisplayValue(pl.renderer)
            boxes[name] = [box[0] + x, box[1] + x, box[2] + y, box[3] + y]
    for name, (x0, x1, y0, y1) in boxes.items():
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, name
    for (a, (ax0, ax1, ay0, ay1)), (b, (bx0, bx1, by0, by1)) in itertools.combinations(
        boxes.items(), 2
    ):
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (a, b)
    pl.close()


@needs_egl
def test_the_carrier_is_its_outline_and_leaves_the_skin_its_colours(rendered):
    _, out = rendered
    scene = view3d.from_folder(out)
    assert scene.carrier is not None
    shots = []
    for shown in (scene, dataclasses.replace(scene, carrier=None)):
        pl = view3d.plotter_for(shown, off_screen=True, window_size=[600, 480])
        view3d.set_view(pl, view3d.frame_points(scene), "front")
        shots.append(pl.screenshot(return_img=True).astype(float) / 255.0)
        pl.close()
    changed = np.abs(shots[0] - shots[1]).max(axis=2) > 0.1
    assert 0.0 < changed.mean() < 0.02  # its rim and openings only, a few pixels wide


def _turning_deg(segments: np.ndarray) -> np.ndarray:
    """The angle between consecutive segments where exactly two meet, degrees."""
    points, index = np.unique(segments.reshape(-1, 3), axis=0, return_inverse=True)
    index = index.reshape(-1, 2)
    neighbours: dict[int, list[int]] = {}
    for a, b in index:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    angles = []
    for i, near in neighbours.items():
        if len(near) == 2:
            u, v = points[i] - points[near[0]], points[near[1]] - points[i]
            cosine = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
            angles.append(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
    return np.array(angles)


def test_region_outlines_are_smooth_drawn_once_and_follow_the_regions(rendered):
    from scipy.spatial import cKDTree

    _, out = rendered
    scene = view3d.from_folder(out)
    segments = view3d.region_outlines(scene, smooth_mm=4.0, lift_mm=0.0)
    # Smooth: the triangles' staircase turns by 40 degrees at the median, 100 at the 90th
    # percentile; a smooth curve through them by little.
    angles = _turning_deg(segments)
    assert np.median(angles) < 15.0 and np.percentile(angles, 90) < 45.0
    # Once: no segment twice (the old outlines ran on both sides of every boundary).
    ends = np.sort(np.round(segments, 9).reshape(len(segments), 6).reshape(-1, 2, 3), axis=1)
    assert len(np.unique(ends.reshape(len(ends), 6), axis=0)) == len(segments)
    # Faithful: within the smoothing distance of the edges between regions, and those near it.
    label = np.full(len(scene.vertices_mm), len(scene.regions))
    for i, idx in enumerate(scene.regions.values()):
        label[idx] = i
    edges = np.unique(np.sort(scene.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    edges = edges[label[edges[:, 0]] != label[edges[:, 1]]]
    middles = scene.vertices_mm[edges].mean(axis=1)
    outline = segments.reshape(-1, 3)
    assert cKDTree(middles).query(outline)[0].max() < 4.0
    assert np.percentile(cKDTree(outline).query(middles)[0], 95) < 4.0


@needs_egl
def test_the_leds_are_cones_at_their_positions_along_their_axes(rendered):
    _, out = rendered
    scene = view3d.from_folder(out)
    pl = view3d.plotter_for(scene, off_screen=True, window_size=[400, 300])
    for channel in ("red", "nir", "blue"):
        sel = scene.leds["channel"] == channel
        position, axis = scene.leds["positions_mm"][sel], scene.leds["axes"][sel]
        cones = pl.renderer.actors[f"leds-{channel}"].mapper.dataset
        points = np.asarray(cones.points).reshape(sel.sum(), -1, 3)
        along = np.einsum("nkj,nj->nk", points - position[:, None], axis)
        # Each cone's tip on its LED's axis, as far ahead as its base lies behind the LED.
        tip = points[np.arange(sel.sum()), along.argmax(axis=1)]
        np.testing.assert_allclose(tip, position + along.max(axis=1)[:, None] * axis, atol=1e-4)
        np.testing.assert_allclose(along.min(axis=1), -along.max(axis=1), rtol=1e-4)
    pl.close()


def test_each_spot_lies_where_its_leds_beam_meets_the_skin(tmp_path):
    """The helmet's spots look offset from their cones at a slant: parallax, the LEDs stand
    10 mm off the skin. Each beam runs from its LED along its axis to the skin, and the narrow
    940 nm LEDs' brightest skin lies at its end."""
    scene = view3d.from_result(twin.render(write_helmet(tmp_path, "helmet", 10.0, count=90)))
    beams = view3d.led_beams(scene)
    leds = scene.leds
    np.testing.assert_array_equal(beams[:, 0], leds["positions_mm"])
    length = np.linalg.norm(beams[:, 1] - beams[:, 0], axis=1)
    np.testing.assert_allclose((beams[:, 1] - beams[:, 0]) / length[:, None], leds["axes"],
                               atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(np.median(length), 10.0, rtol=0.05)  # the design's standoff
    assert view3d.beams_apart(scene, beams)  # so the pictures draw them
    vertices, irradiance = scene.vertices_mm, scene.maps["irradiance_nir2_mw_cm2"]
    offsets = []
    for end in beams[leds["channel"] == "nir2", 1]:
        near = np.flatnonzero(np.linalg.norm(vertices - end, axis=1) < 8.0)
        offsets.append(np.linalg.norm(vertices[near[np.argmax(irradiance[near])]] - end))
    edge = np.linalg.norm(np.diff(vertices[scene.faces[:, :2]], axis=1), axis=2).mean()
    assert np.median(offsets) < edge


@needs_egl
def test_the_camera_frames_the_points_inside_the_pictures_free_area():
    pv = pytest.importorskip("pyvista")
    points = np.random.default_rng(3).normal(size=(300, 3)) * [60, 30, 20] + [5, 700, 40]
    width, height = 1000, 800
    pl = pv.Plotter(off_screen=True, window_size=[width, height])
    left, bottom, right, top = view3d.SCENE_AREA
    for view in ("front", "three-quarter", "below"):
        view3d.set_view(pl, points, view)
        shown = []
        for point in points:
            pl.renderer.SetWorldPoint(*point, 1.0)
            pl.renderer.WorldToDisplay()
            shown.append(pl.renderer.GetDisplayPoint()[:2])
        x, y = (np.array(shown) / [width, height]).T
        margins = [x.min() - left, right - x.max(), y.min() - bottom, top - y.max()]
        assert min(margins) > -0.005, view  # all inside it (VTK's own projection)...
        assert min(margins) < 0.01, view  # ...and as large as it fits
    pl.close()


@needs_egl
def test_the_pelvis_pictures_show_the_treated_skin():
    """Framed on the treated skin and the LEDs, from views that face it: the mons, the genital
    area and the perineum fill at least a tenth of every default picture (from below, framed
    on the whole pelvis, they filled 4 %, mostly buttocks; from the back or the side, 0.4 %)."""
    from twin.geometry.anatomy import builtin

    skin = builtin("pelvis")
    treated = np.unique(np.concatenate([skin.regions[r] for r in ("mons", "genital", "perineum")]))
    marked = np.zeros(len(skin.vertices_mm))
    marked[treated] = 1.0
    none = np.zeros((0, 3))
    scene = view3d.ResultScene(
        name="pelvis", vertices_mm=skin.vertices_mm, faces=skin.faces,
        maps={"fluence_j_cm2": marked}, on_faces=False, regions=dict(skin.regions),
        vertex_normals=skin.vertex_normals, window_j_cm2=(4.0, 10.0), exposure_s=600.0,
        leds={"positions_mm": none, "axes": none, "power_mw": np.zeros(0),
              "channel": np.zeros(0, str), "profile_index": np.zeros(0, int)},
        profiles=[], wavelength_nm={}, target="builtin:pelvis", treated=treated,
    )  # fmt: skip
    pl = view3d.plotter_for(scene, clim=(0.0, 1.0), device=False, off_screen=True,
                            window_size=[500, 400])  # fmt: skip
    for view in scene.default_views:
        view3d.set_view(pl, view3d.frame_points(scene), view)
        image = pl.screenshot(return_img=True).astype(float) / 255.0
        assert ((image[..., 0] - image[..., 2]) > 0.15).mean() > 0.1, view  # yellow: treated
    pl.close()
