"""Rendering a scene end to end: the Python API, the result files and the CLI."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import trimesh
import yaml
from conftest import write_helmet

import twin
from twin.cli import main
from twin.cli._common import ProgressBar, StageBars
from twin.devices.emitters import Emitters, emitter_csv_text, read_emitter_csv
from twin.devices.layout import offset_shell_layout
from twin.devices.profiles import Lambertian
from twin.geometry import anatomy, phantoms
from twin.pipeline.results import RESULT_FILES
from twin.units import photons_per_s_per_mw


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    """A user-style scene: a head mesh file in cm, an emitter CSV with two channels."""
    root = tmp_path_factory.mktemp("scene")
    head = phantoms.head(subdivisions=4)
    trimesh.Trimesh(head.vertices_mm / 10.0, head.faces, process=False).export(root / "head.ply")
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    positions, axes = offset_shell_layout(head, count=60, standoff_mm=10.0, vertices=face)
    channel = np.where(np.arange(60) % 2 == 0, "red", "nir")
    emitters = Emitters.create(
        positions,
        axes,
        4.0,
        profile=Lambertian(30.0),
        channel=channel,
        wavelength_nm={"red": 633.0, "nir": 830.0},
    )
    (root / "leds.csv").write_text(emitter_csv_text(emitters))
    scene = {
        "name": "user-head",
        "target": {"mesh": "head.ply", "units": "cm"},
        "emitters": {"file": "leds.csv"},
        "mode": {"red": 1.0, "nir": 0.5},
        "exposure_s": 1200,
    }
    (root / "scene.yaml").write_text(yaml.safe_dump(scene))
    return root


def test_python_api_render_maps_and_metrics(scene_dir):
    result = twin.render(scene_dir / "scene.yaml", backend="reference")
    t = result.transfer.matrix
    power = result.scene.emitters.power_mw * np.where(
        result.scene.emitters.channel == "red", 1.0, 0.5
    )
    np.testing.assert_allclose(result.dose.total_irradiance_mw_cm2, t @ power, rtol=1e-12)
    red = result.dose.irradiance_mw_cm2["red"]
    np.testing.assert_allclose(result.dose.fluence_j_cm2("red"), red * 1.2, rtol=1e-12)
    np.testing.assert_allclose(
        result.dose.photon_flux_per_s_cm2("red"), red * photons_per_s_per_mw(633.0), rtol=1e-12
    )
    m = result.metrics["roi"]
    a = result.samples.areas_mm2
    np.testing.assert_allclose(
        m["total"]["irradiance_mw_cm2"]["mean"],
        np.average(result.dose.total_irradiance_mw_cm2, weights=a),
        rtol=1e-12,
    )
    np.testing.assert_allclose(m["area_cm2"] * 100, a.sum(), rtol=1e-12)
    # The mesh was in cm: the surface is head-sized in mm.
    assert 140 < result.scene.target.extent_mm[0] < 160
    assert result.metrics["emitters"]["axis_misses_skin"] == 0
    np.testing.assert_allclose(result.metrics["emitters"]["gap_mm"]["mean"], 10.0, rtol=1e-3)


def test_drive_levels_scale_irradiance_linearly(scene_dir):
    scene = twin.load_scene(scene_dir / "scene.yaml")
    result = twin.render(scene)
    half = twin.dose_maps(
        result.transfer, scene.emitters, drive={"red": 0.5, "nir": 0.25}, exposure_s=60.0
    )
    np.testing.assert_allclose(
        half.total_irradiance_mw_cm2, 0.5 * result.dose.total_irradiance_mw_cm2, rtol=1e-12
    )


def test_render_files_follow_the_contract(scene_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["render", str(scene_dir / "scene.yaml"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(RESULT_FILES)
    rows = list(csv.reader(io.StringIO((out / "samples.csv").read_text())))
    assert rows[0] == [
        "x_mm",
        "y_mm",
        "z_mm",
        "nx",
        "ny",
        "nz",
        "area_mm2",
        "irradiance_mw_cm2",
        "irradiance_red_mw_cm2",
        "irradiance_nir_mw_cm2",
    ]
    table = np.array(rows[1:], dtype=float)
    head = twin.load_surface(scene_dir / "head.ply", units="cm")
    np.testing.assert_allclose(table[:, 6].sum(), head.area_mm2, rtol=1e-6)
    np.testing.assert_allclose(table[:, 7], table[:, 8] + table[:, 9], rtol=1e-6, atol=1e-9)
    ply = trimesh.load(out / "surface.ply", process=False)
    assert len(ply.vertices) == len(head.vertices_mm)
    names = ply.metadata["_ply_raw"]["vertex"]["data"].dtype.names
    assert {"irradiance_mw_cm2", "fluence_j_cm2", "irradiance_red_mw_cm2", "roi"} <= set(names)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["roi"]["channels"]["red"]["wavelength_nm"] == 633.0
    # The resolved emitters read back identically.
    again = read_emitter_csv(out / "emitters.csv")
    original = read_emitter_csv(scene_dir / "leds.csv")
    np.testing.assert_allclose(again.positions_mm, original.positions_mm, rtol=1e-8)
    assert list(again.channel) == list(original.channel)


def test_resolved_scene_renders_the_same_metrics(scene_dir, tmp_path):
    assert main(["render", str(scene_dir / "scene.yaml"), "--out", str(tmp_path / "a")]) == 0
    assert (
        main(["render", str(tmp_path / "a" / "scene.resolved.yaml"), "--out", str(tmp_path / "b")])
        == 0
    )
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    np.testing.assert_allclose(
        b["roi"]["total"]["irradiance_mw_cm2"]["mean"],
        a["roi"]["total"]["irradiance_mw_cm2"]["mean"],
        rtol=1e-7,
    )
    assert a["drive"] == b["drive"] == {"red": 1.0, "nir": 0.5}


def test_default_scene_renders_with_regions_and_eye_check(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "scene default:" in printed and "total" in printed and "IR-eye limit" in printed
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["engine"]["emitters"] == 1026
    assert metrics["layout"]["design"] == "mask-rigid-1026"
    assert metrics["layout"]["channels"] == {"red": 342, "nir": 342, "blue": 342}
    assert metrics["drive"] == {"red": 1.0, "nir": 1.0, "blue": 0.0}  # red mode
    assert metrics["emitters"]["inside_skin"] == 0
    assert tuple(metrics["regions"]) == anatomy.REGIONS["face"]
    assert metrics["engine"]["resolution"]["resolved"]  # 2.5 mm edges, LEDs 10 mm out
    eye = metrics["eye_safety"]
    assert eye["ir_channels"] == ["nir"]
    # The limit is judged on the eyelid skin; facing each LED, a detector there reads more.
    eyelid = metrics["regions"]["eyes"]["channels"]["nir"]["irradiance_mw_cm2"]["max"]
    assert eye["ir_irradiance_mw_cm2"]["max"] == eyelid
    assert eye["ir_irradiance_facing_mw_cm2"]["max"] > 1.1 * eyelid
    assert eye["ir_within_limit"] == (eye["ir_irradiance_mw_cm2"]["max"] <= 10.0)
    # Eyes and lips are left out of the treated area; the other regions' areas make it up.
    assert metrics["roi_regions"]["exclude"] == ["eyes", "lips"]
    result_area = sum(
        v["area_cm2"] for k, v in metrics["regions"].items() if k not in ("eyes", "lips")
    )
    np.testing.assert_allclose(metrics["roi"]["area_cm2"], result_area, rtol=1e-12)


def test_info_lists_backends_and_reasons(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"twin {twin.__version__}" in out
    assert "reference  usable" in out and "embree     usable" in out
    from twin.engine.backends.cuda import status
    from twin.raycast.cuda import simulated

    if status() is not None:
        assert f"cuda       unusable: {status()}" in out
    elif simulated():
        assert "cuda       usable (numba's CUDA simulator" in out
    else:
        assert "cuda       usable\n" in out
    assert f"auto picks: {'embree' if status() or simulated() else 'cuda'}" in out


def test_progress_bar_waits_a_second_and_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar("work", stream=stream, delay_s=3600.0)
    bar(1, 2)
    assert stream.getvalue() == ""
    bar.delay_s = 0.0
    bar(2, 2)
    assert "[" + "#" * 30 + "] 2/2 emitters" in stream.getvalue()
    piped = io.StringIO()
    ProgressBar("work", stream=piped, delay_s=0.0)(1, 1)
    assert piped.getvalue() == ""


def test_stage_bars_give_each_stage_its_own_line():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bars = StageBars(stream=stream)
    for stage in ("greedy placement", "swap refinement"):
        bars(stage, 0, 4)
        bars.bar.delay_s = 0.0
        bars(stage, 3, 4)  # left unfinished: the next stage starts on a new line
    bars.stage("ray casting")(5, 5)
    bars.bar.delay_s = 0.0
    bars.stage("ray casting")(5, 5)
    lines = stream.getvalue().split("\n")
    assert lines[0].startswith("\rgreedy placement [") and lines[0].endswith(" s")
    assert "] 3/4 " in lines[0]
    assert lines[1].startswith("\rswap refinement [")
    assert lines[2].startswith("\rray casting [") and "] 5/5 emitters " in lines[2]
    assert lines[3] == ""


def test_metrics_of_a_uniform_map():
    from twin.dose.maps import DoseSettings
    from twin.dose.metrics import map_metrics, weighted_percentile

    values = np.full(100, 20.0)
    m = map_metrics(values, np.ones(100), exposure_s=300.0, dose=DoseSettings())
    assert m.u0_min_over_mean == 1.0 and m.cv == 0.0
    assert m.fluence_j_cm2.mean == 6.0 and m.in_window_area_fraction == 1.0
    x = np.random.default_rng(0).random(1001)
    for q in (0.05, 0.5, 0.95):
        np.testing.assert_allclose(
            weighted_percentile(x, np.ones_like(x), q),
            np.percentile(x, 100 * q, method="hazen"),
            rtol=1e-12,
        )
    # Hot spots and the window, by area.
    e = np.array([10.0, 50.0, 150.0])
    m = map_metrics(e, np.array([100.0, 200.0, 300.0]), exposure_s=100.0, dose=DoseSettings())
    assert m.hot_spot_area_cm2 == 3.0
    assert math.isclose(m.in_window_area_fraction, 200.0 / 600.0)  # 5 J/cm2 and under 100


def test_centroid_samples_carry_face_data(scene_dir, tmp_path):
    # Face and vertex sampling are two quadratures of the same received power, sum of E A;
    # they agree once the mesh resolves the 10 mm gap (edges of 1.8 mm on average, 3.3 at most).
    results = {}
    for at in ("vertices", "centroids"):
        spec = {
            "target": {"mesh": "builtin:phantom-head", "max_edge_mm": 3.5, "samples": at},
            "emitters": {"file": "leds.csv"},
            "exposure_s": 60,
        }
        (scene_dir / f"{at}.yaml").write_text(yaml.safe_dump(spec))
        results[at] = twin.render(scene_dir / f"{at}.yaml")
    result = results["centroids"]
    head = result.scene.target
    assert len(result.samples) == len(head.faces)
    np.testing.assert_allclose(result.samples.areas_mm2.sum(), head.area_mm2, rtol=1e-12)
    received_mw = [
        r.dose.total_irradiance_mw_cm2 @ r.samples.areas_mm2 / 100 for r in results.values()
    ]
    np.testing.assert_allclose(received_mw[0], received_mw[1], rtol=5e-3)
    assert received_mw[0] < 60 * 4.0  # some light passes the head
    result.write(tmp_path)
    ply = trimesh.load(tmp_path / "surface.ply", process=False)
    face_fields = ply.metadata["_ply_raw"]["face"]["data"].dtype.names
    assert "irradiance_mw_cm2" in face_fields


def test_bench_backend_all_times_every_usable_backend_side_by_side(tmp_path, capsys):
    from twin.engine.backends.cuda import status
    from twin.raycast.cuda import simulated

    out = tmp_path / "bench.md"
    args = ["bench", "--backend", "all", "--subdivisions", "5", "--repeat", "1"]
    assert main([*args, "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    rows = {
        line.split("|")[1].strip(): line.split("|")[2:-1]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| backend")
    }
    assert "embree" in rows and int(rows["embree"][3]) > 0  # shadow rays
    # 10,242 points: too many for the brute-force reference.
    assert "- reference: not run (brute force, for scenes of at most 5000 points)" in text
    if simulated():
        assert "- cuda: not run (numba's CUDA simulator is not a GPU)" in text
    elif status() is not None:
        assert f"- cuda: not run ({status()})" in text
    else:
        assert rows["cuda"][3] == rows["embree"][3]  # the same shadow rays


def test_a_mesh_too_coarse_for_the_gap_is_flagged(tmp_path, caplog):
    # The scalp's default 4 mm edges under a helmet 5 mm off the skin (at most 1.7 mm).
    result = twin.render(write_helmet(tmp_path, "close", 5.0, count=40))
    resolution = result.metrics["engine"]["resolution"]
    assert resolution["median_gap_mm"] == pytest.approx(5.0, abs=0.05)
    assert resolution["edge_mm_p95"] > 3.0 and not resolution["resolved"]
    assert "skin mesh edges of" in caplog.text and "keep edges under 1.7 mm" in caplog.text
