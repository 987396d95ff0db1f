"""Result files (``twin.pipeline.results``): what a render folder holds, that it reads back
and renders again the same, and that a re-render leaves nothing stale."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import write_small, write_user_head

import twin
from twin.cli import main
from twin.devices.emitters import read_emitter_csv
from twin.files import safe_name
from twin.pipeline.results import RESULT_FILES


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    """A user-style scene: a head mesh file in cm, an emitter CSV with two channels."""
    root = tmp_path_factory.mktemp("scene")
    write_user_head(root)
    return root


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
        "irradiance_direct_mw_cm2",
        "irradiance_direct_red_mw_cm2",
        "irradiance_direct_nir_mw_cm2",
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


def test_rerender_removes_the_stale_outputs_twin_wrote(tmp_path, capsys):
    small = write_small(tmp_path)
    out = small.parent / "out"
    stale = ["carrier.ply", "plots/dose_area.png", "pictures/front.png", "scene.html"]
    kept = ["notes.txt", "plots/mine.txt"]
    for name in stale + kept:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("an earlier render's")
    assert main(["render", str(small), "--out", str(out)]) == 0
    capsys.readouterr()
    for name in stale:
        assert not (out / name).exists(), name
    assert not (out / "pictures").exists()
    assert all((out / name).read_text() == "an earlier render's" for name in kept)


@pytest.mark.parametrize("name", ["../../escaped", "/absolute/escaped"])
def test_population_members_stay_inside_out(tmp_path, capsys, name):
    scene = {
        "name": name,
        "target": {"mesh": "builtin:face", "population": {"size": 2, "seed": 0}},
        "emitters": {"design": "mask-rigid-1026", "count": 20},
        "exposure_s": 600,
    }
    (tmp_path / "deep" / "er").mkdir(parents=True)
    path = tmp_path / "deep" / "er" / "pop.yaml"
    path.write_text(yaml.safe_dump(scene))
    out = tmp_path / "deep" / "er" / "out"
    assert main(["render", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert written and all(out in p.parents for p in written)
    members = json.loads((out / "population.json").read_text())["members"]
    assert members[0]["name"].startswith(name)  # the name itself is kept
    assert all((out / safe_name(m["name"]) / "metrics.json").is_file() for m in members)


def test_a_symlinked_plots_folder_is_replaced_never_followed(tmp_path, capsys):
    small = write_small(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dose_area.png").write_text("someone else's")
    out = tmp_path / "out"
    out.mkdir()
    (out / "plots").symlink_to(elsewhere, target_is_directory=True)
    assert main(["render", str(small), "--out", str(out)]) == 0
    capsys.readouterr()
    assert (elsewhere / "dose_area.png").read_text() == "someone else's"
    assert (out / "plots").is_symlink()  # not twin's: a render without --plots keeps it
    assert all((out / name).is_file() for name in RESULT_FILES)
