"""3D pictures, HTML pages, reports and the viewer's point readout."""

from __future__ import annotations

import ctypes.util
import dataclasses
import html
import json
import re
import shutil
import subprocess

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
needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="the browser test needs Debian's chromium (make test installs it)",
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
    needs = [] if ctypes.util.find_library("EGL") is None else ["--png", "--html"]
    assert main(["render", str(root / "mask.yaml"), "--out", str(out), "--plots", *needs]) == 0
    return root / "mask.yaml", out


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
        strip = image[:, int(0.86 * image.shape[1]) : int(0.92 * image.shape[1])]
        coloured = strip[(strip.max(axis=2) - strip.min(axis=2)) > 0.25]
        assert len(coloured) > 500, name
        top, bottom = (
            coloured[: len(coloured) // 10].mean(axis=0),
            coloured[-len(coloured) // 10 :].mean(axis=0),
        )
        assert top[0] > 0.6 and top[2] < 0.4  # yellow
        assert bottom[2] > bottom[1]  # purple-blue
    front, left = (imread(out / "pictures" / f"{v}.png") for v in ("front", "left"))
    assert np.abs(front - left).mean() > 0.02  # different views, not one picture twice


@needs_egl
@needs_chromium
def test_the_html_page_shows_the_mesh_in_a_headless_browser(rendered, tmp_path):
    from matplotlib.image import imread

    _, out = rendered
    page = out / "scene.html"
    assert page.stat().st_size > 100_000
    assert "https://cdn" not in page.read_text()  # everything inline: opens offline
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--window-size=900,700",
            "--virtual-time-budget=15000", f"--screenshot={shot}", page.as_uri(),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    image = imread(shot)
    assert ink(image) > 0.08  # the mesh, not a blank page
    colours = np.unique((image[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200


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
    assert viewer.plotter.scalar_bars.keys() == {"irradiance, red (mW/cm²), window 3.33-8.33"}
    second = viewer.plotter.screenshot(return_img=True)
    assert np.abs(first.astype(float) - second.astype(float)).mean() > 1.0
    viewer.switch("irradiance_indirect_red_mw_cm2")  # the light skin and mask return
    title = "indirect irradiance, red (mW/cm²), window 3.33-8.33"
    assert viewer.plotter.scalar_bars.keys() == {title}
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
    assert main(["render", str(tmp_path / "pop.yaml"), "--out", str(out)]) == 0
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
    title, (_, top), marks = view3d.map_label("fluence_rate_red_0.5mm_mw_cm2", again)
    assert title == "fluence rate at 0.5 mm, red (mW/cm²), window 6.67-16.7"
    assert sorted(marks) == pytest.approx([4000 / 600, 10000 / 600])
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
    title = "fluence rate at 0.1 mm (mW/cm²), window 6.67-16.7"
    assert viewer.plotter.scalar_bars.keys() == {title}
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
    assert title == "direct irradiance, nir (mW/cm²), window 3.33-8.33"


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
