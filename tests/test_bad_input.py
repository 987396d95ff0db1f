"""Every kind of bad input fails with one message naming the file or key, and writes nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest
import trimesh
import yaml

import twin
from twin import phantoms
from twin.cli import main
from twin.errors import BackendUnavailableError, InputError

GOOD_LEDS = "x,y,z,dx,dy,dz,power_mw\n0,0,120,0,0,-1,5\n"


@pytest.fixture
def root(tmp_path):
    head = phantoms.head(subdivisions=3)
    trimesh.Trimesh(head.vertices_mm, head.faces, process=False).export(tmp_path / "head.ply")
    (tmp_path / "leds.csv").write_text(GOOD_LEDS)
    return tmp_path


def base_scene() -> dict:
    return {
        "target": {"mesh": "head.ply", "units": "mm"},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30},
        "exposure_s": 600,
    }


def fails(
    root, scene: dict | str, message: str, *, leds: str = GOOD_LEDS, files: dict | None = None
):
    """Write the scene, check load_scene raises exactly ``message`` and the CLI writes nothing."""
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    (root / "leds.csv").write_text(leds)
    path = root / "scene.yaml"
    path.write_text(scene if isinstance(scene, str) else yaml.safe_dump(scene))
    expected = message.format(root=root)
    with pytest.raises(InputError, match=f"^{re.escape(expected)}$"):
        twin.load_scene(path)
    return expected


def edit(change) -> dict:
    scene = base_scene()
    change(scene)
    return scene


def test_cli_prints_one_line_exits_2_and_writes_nothing(root, capsys):
    (root / "scene.yaml").write_text(yaml.safe_dump(edit(lambda s: s.update(exposure=5))))
    out = root / "out"
    assert main(["render", str(root / "scene.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"twin: error: {root}/scene.yaml: unknown key 'exposure'; did you mean 'exposure_s'?\n"
    )
    assert not out.exists()


def test_unknown_keys_name_the_nearest_valid_key(root):
    fails(
        root,
        edit(lambda s: s.update(exposure=5)),
        "{root}/scene.yaml: unknown key 'exposure'; did you mean 'exposure_s'?",
    )
    fails(
        root,
        edit(lambda s: s["target"].update(unit="mm")),
        "{root}/scene.yaml: target: unknown key 'unit'; did you mean 'units'?",
    )
    fails(
        root,
        edit(lambda s: s.update(engine={"bakend": "embree"})),
        "{root}/scene.yaml: engine: unknown key 'bakend'; did you mean 'backend'?",
    )


def test_malformed_yaml(root):
    fails(
        root,
        "target: [unclosed\n",
        "{root}/scene.yaml: invalid YAML at line 2, column 1: expected ',' or ']', but got "
        "'<stream end>'",
    )
    fails(root, "- a list\n", "{root}/scene.yaml: expected a mapping of keys to values, got list")


def test_missing_required_keys(root):
    fails(
        root,
        edit(lambda s: s.pop("exposure_s")),
        "{root}/scene.yaml: missing required key 'exposure_s'",
    )
    fails(
        root,
        edit(lambda s: s["target"].pop("units")),
        "{root}/scene.yaml: target.units: missing; a mesh file has no units of its own, state "
        "one of mm, cm, dm, m",
    )


def test_bad_meshes(root):
    fails(
        root,
        edit(lambda s: s["target"].update(mesh="nope.ply")),
        "{root}/nope.ply: mesh file not found",
    )
    fails(
        root,
        edit(lambda s: s["target"].update(mesh="empty.obj")),
        "{root}/empty.obj: expected a triangle mesh, found no triangles",
        files={"empty.obj": "# nothing\n"},
    )
    fails(
        root,
        edit(lambda s: s["target"].update(mesh="nan.obj")),
        "{root}/nan.obj: vertices contain NaN or infinite coordinates",
        files={"nan.obj": "v 0 0 0\nv 100 0 0\nv nan 100 0\nf 1 2 3\n"},
    )
    fails(
        root,
        edit(lambda s: s["target"].update(mesh="degenerate.obj")),
        "{root}/degenerate.obj: all 2 triangles are degenerate (zero area); nothing is left",
        files={"degenerate.obj": "v 0 0 0\nv 100 0 0\nv 50 0 0\nf 1 2 3\nf 1 1 2\n"},
    )


def test_wrong_unit_names_the_likely_one(root):
    message = (
        "{root}/head.ply: the mesh is 2.13e+05 mm across with units 'm', outside the plausible "
        "30-2500 mm for a body part; are the coordinates in mm or cm?"
    )
    fails(root, edit(lambda s: s["target"].update(units="m")), message)


def test_bad_emitters(root):
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: line 2, column power_mw: expected a radiant power > 0 mW, got 0",
        leds="x,y,z,dx,dy,dz,power_mw\n0,0,120,0,0,-1,0\n",
    )
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: line 3: emission axis (dx, dy, dz) has zero length",
        leds="x,y,z,dx,dy,dz,power_mw\n0,0,120,0,0,-1,5\n0,0,120,0,0,0,5\n",
    )
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: line 2, column y: expected a number, got 'zero'",
        leds="x,y,z,dx,dy,dz,power_mw\n0,zero,120,0,0,-1,5\n",
    )
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: expected columns x,y,z,dx,dy,dz,power_mw; missing dz",
        leds="x,y,z,dx,dy,power_mw\n0,0,120,0,0,5\n",
    )
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: expected at least one emitter row, found none",
        leds="x,y,z,dx,dy,dz,power_mw\n",
    )
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: unknown column 'colour'; allowed: "
        "x,y,z,dx,dy,dz,power_mw,channel,wavelength_nm,half_angle_deg,id",
        leds="x,y,z,dx,dy,dz,power_mw,colour\n0,0,120,0,0,-1,5,red\n",
    )
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: line 3: channel 'red' has wavelength 640 nm here but 633 nm earlier; "
        "one channel has one wavelength",
        leds="x,y,z,dx,dy,dz,power_mw,channel,wavelength_nm\n0,0,120,0,0,-1,5,red,633\n5,0,120,0,0,-1,5,red,640\n",
    )


def test_emitter_inside_the_skin(root):
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: emitter 'm7' at (0, 0, 20) mm lies inside the skin (66.5 mm behind the "
        "target surface); 1 of 2 emitters are inside",
        leds="x,y,z,dx,dy,dz,power_mw,id\n0,0,120,0,0,-1,5,ok\n0,0,20,0,0,-1,5,m7\n",
    )


def test_bad_mode_profile_and_engine(root):
    fails(
        root,
        edit(lambda s: s.update(mode={"blue": 1.0})),
        "{root}/scene.yaml: mode: unknown channel 'blue'; the emitters have: led",
    )
    fails(
        root,
        edit(lambda s: s.update(mode={"led": 1.5})),
        "{root}/scene.yaml: mode.led: expected a drive level in [0, 1] (fraction of full power), "
        "got 1.5",
    )
    fails(
        root,
        edit(lambda s: s["emitters"].update(half_angle_deg=95)),
        "{root}/scene.yaml: emitters.half_angle_deg: expected a half-intensity half-angle in (0, "
        "90) degrees, got 95",
    )
    fails(
        root,
        edit(lambda s: s["emitters"].pop("half_angle_deg")),
        "{root}/leds.csv: line 2: no half_angle_deg for this emitter and no default "
        "(set emitters.half_angle_deg or emitters.profile in the scene)",
    )
    fails(
        root,
        edit(lambda s: s.update(engine={"backend": "gpu"})),
        "{root}/scene.yaml: engine.backend: expected one of auto, reference, embree, cuda, got "
        "'gpu'",
    )
    fails(
        root,
        edit(lambda s: s.update(exposure_s=-5)),
        "{root}/scene.yaml: exposure_s: expected a number > 0, got -5",
    )
    fails(
        root,
        edit(lambda s: s["target"].update(exclude=["eyes"])),
        "{root}/scene.yaml: target.exclude: unknown region 'eyes'; the target has: none",
    )


def test_bad_profile_table(root):
    scene = edit(
        lambda s: (s["emitters"].pop("half_angle_deg"), s["emitters"].update(profile="beam.csv"))
    )
    fails(
        root,
        scene,
        "{root}/beam.csv: expected the header 'angle_deg,intensity', found 'theta,i'",
        files={"beam.csv": "theta,i\n0,1\n90,0\n"},
    )
    fails(
        root,
        scene,
        "{root}/beam.csv: expected angles strictly increasing from 0 to at most 180 degrees, got "
        "10..90",
        files={"beam.csv": "angle_deg,intensity\n10,1\n90,0\n"},
    )


def test_unusable_backend_is_one_clear_line(root, capsys, monkeypatch):
    from twin.raycast import _cuda, resolve_backend

    monkeypatch.setattr(_cuda, "status", lambda: "no CUDA device is visible")
    assert resolve_backend("auto") == "embree"
    (root / "scene.yaml").write_text(yaml.safe_dump(base_scene()))
    message = "backend 'cuda' cannot run here: no CUDA device is visible"
    with pytest.raises(BackendUnavailableError, match=f"^{re.escape(message)}$"):
        twin.render(root / "scene.yaml", backend="cuda")
    args = ["render", str(root / "scene.yaml"), "--out", str(root / "out"), "--backend", "cuda"]
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == [f"twin: error: {message}"]
    assert not (root / "out").exists()


def test_surface_arguments_are_checked():
    with pytest.raises(
        InputError, match=re.escape("surface: vertices: expected shape (n, 3), got (4, 2)")
    ):
        twin.Surface(np.zeros((4, 2)), [[0, 1, 2]])
    with pytest.raises(
        InputError, match=re.escape("surface: face indices must lie in [0, 2], found [0, 3]")
    ):
        twin.Surface(np.eye(3), [[0, 1, 3]])
    with pytest.raises(
        InputError, match=re.escape("surface: 1 vertices belong to no face (first: 3)")
    ):
        twin.Surface(np.vstack([np.eye(3), [[5, 5, 5]]]), [[0, 1, 2]])
    with pytest.raises(InputError, match=re.escape("surface: regions 'a' and 'b' overlap")):
        twin.Surface(np.eye(3), [[0, 1, 2]], regions={"a": [0, 1], "b": [1]})
