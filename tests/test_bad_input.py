"""Every kind of bad input fails with one message naming the file or key, and writes nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest
import trimesh
import yaml

import twin
from twin.cli import main
from twin.engine.backends import make_backend
from twin.errors import BackendUnavailableError, InputError
from twin.geometry import anatomy, phantoms

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
        "30-2500 mm for a body part; are the coordinates in mm?"
    )
    fails(root, edit(lambda s: s["target"].update(units="m")), message)


def test_wrong_unit_for_the_declared_anatomy(root):
    face = anatomy.builtin("face", max_edge_mm=8.0)
    trimesh.Trimesh(face.vertices_mm, face.faces, process=False).export(root / "face.ply")
    message = (
        "{root}/face.ply: the mesh is 2028 mm across with units 'cm', outside the plausible "
        "68-608 mm for a face (target.regions_from); are the coordinates in mm?"
    )
    target = {"mesh": "face.ply", "units": "cm", "regions_from": "face"}
    fails(root, edit(lambda s: s.update(target=target)), message)


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


def test_a_bad_unit_is_named_by_its_scene_key(root):
    for change, key in (
        (lambda s: s["target"].update(units="furlong"), "target.units"),
        (
            lambda s: s.update(occluders=[{"mesh": "head.ply", "units": "inch"}]),
            "occluders[0].units",
        ),
    ):
        bad = "furlong" if key == "target.units" else "inch"
        fails(
            root,
            edit(change),
            f"{{root}}/scene.yaml: {key}: expected a length unit, one of ['cm', 'dm', 'm', 'mm'], "
            f"got '{bad}'",
        )


def test_a_population_error_names_the_member(root):
    scene = {
        "name": "pop",
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0, "population": {"size": 2}},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30},
        "exposure_s": 600,
    }
    (root / "leds.csv").write_text("x,y,z,dx,dy,dz,power_mw,id\n0,720,70,0,0,1,5,deep\n")
    (root / "pop.yaml").write_text(yaml.safe_dump(scene))
    with pytest.raises(InputError) as caught:
        twin.load_scenes(root / "pop.yaml")
    assert re.fullmatch(
        rf"{re.escape(str(root))}/leds.csv: emitter 'deep' at \(0, 720, 70\) mm lies inside the "
        r"skin \(.* mm behind the target surface\); 1 of 1 emitters are inside "
        r"\(population member pop-p00: (fe)?male \d+ y\)",
        str(caught.value),
    )


def test_an_inside_out_open_mesh_is_named(root):
    plane = phantoms.plane(size_mm=120.0, divisions=4)
    flipped = trimesh.Trimesh(plane.vertices_mm, plane.faces[:, ::-1], process=False)
    flipped.export(root / "plane.ply")
    scene = edit(lambda s: s["target"].update(mesh="plane.ply"))
    fails(
        root,
        scene,
        "{root}/leds.csv: emitter 'a' at (0, 0, 20) mm lies inside the skin (20 mm behind the "
        "target surface); 2 of 2 emitters are inside: all of them, so the surface's normals "
        "probably point into the body (an inside-out open mesh); if so, set "
        "target.flip_normals: true",
        leds="x,y,z,dx,dy,dz,power_mw,id\n0,0,20,0,0,-1,5,a\n10,0,20,0,0,-1,5,b\n",
    )
    scene["target"]["flip_normals"] = True
    (root / "scene.yaml").write_text(yaml.safe_dump(scene))
    assert len(twin.load_scene(root / "scene.yaml").emitters) == 2


def test_bad_mode_profile_and_engine(root):
    fails(
        root,
        edit(lambda s: s.update(mode={"blue": 1.0})),
        "{root}/scene.yaml: mode: unknown channel 'blue'; did you mean 'led'?",
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
    from twin.engine.backends import cuda as _cuda
    from twin.engine.backends import resolve_backend

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
    # Asked for by the scene, the message names the scene file and its key.
    on_gpu = {**base_scene(), "engine": {"backend": "cuda"}}
    (root / "scene.yaml").write_text(yaml.safe_dump(on_gpu))
    message = f"{root}/scene.yaml: engine.{message}"
    with pytest.raises(BackendUnavailableError, match=f"^{re.escape(message)}$"):
        twin.render(root / "scene.yaml")


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


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {"treat": ["eyes"]},
            "{root}/scene.yaml: target.treat ['eyes'] minus target.exclude ['eyes'] leaves no "
            "skin to treat; treat other regions or exclude fewer (eyes are excluded by default)",
        ),
        (
            {"treat": ["nose"], "exclude": ["nose"]},
            "{root}/scene.yaml: target.treat ['nose'] minus target.exclude ['nose'] leaves no "
            "skin to treat; treat other regions or exclude fewer",
        ),
    ],
)
def test_treated_region_left_empty(root, capsys, target, message):
    scene = base_scene()
    scene["target"] = {"mesh": "builtin:phantom-head", "max_edge_mm": 8.0, **target}
    (root / "scene.yaml").write_text(yaml.safe_dump(scene))
    expected = message.format(root=root)
    with pytest.raises(InputError, match=f"^{re.escape(expected)}$"):
        twin.render(root / "scene.yaml")
    assert main(["render", str(root / "scene.yaml"), "--out", str(root / "out")]) == 2
    assert capsys.readouterr().err == f"twin: error: {expected}\n"
    assert not (root / "out").exists()


def test_files_that_are_not_utf8(root):
    (root / "leds.csv").write_bytes(b"x,y,z,dx,dy,dz,power_mw,channel\n0,0,120,0,0,-1,5,r\xe9d\n")
    message = (
        f"{root}/leds.csv: expected UTF-8 text, found byte 0xe9 at byte offset 50 that is not "
        "UTF-8; save the emitter CSV as UTF-8"
    )
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        twin.read_emitter_csv(root / "leds.csv")
    (root / "scene.yaml").write_bytes(b"\xef\xbb\xbfname: caf\xe9\n")
    message = (
        f"{root}/scene.yaml: expected UTF-8 text, found byte 0xe9 at byte offset 12 that is not "
        "UTF-8; save the scene file as UTF-8"
    )
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        twin.load_scene(root / "scene.yaml")


def test_excel_utf8_csv_and_yaml_with_a_byte_order_mark_load(root):
    (root / "leds.csv").write_bytes(b"\xef\xbb\xbfx,y,z,dx,dy,dz,power_mw\r\n0,0,120,0,0,-1,5\r\n")
    (root / "scene.yaml").write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(base_scene()).encode())
    scene = twin.load_scene(root / "scene.yaml")
    np.testing.assert_array_equal(scene.emitters.positions_mm, [[0.0, 0.0, 120.0]])


@pytest.fixture(scope="module")
def rendered():
    surface = phantoms.plane(size_mm=20.0, divisions=2)
    emitters = twin.Emitters.create(
        [[0.0, 0.0, 10.0], [5.0, 0.0, 10.0]],
        [0.0, 0.0, -1.0],
        1.0,
        profile=twin.Lambertian(30.0),
        channel=["red", "nir"],
        wavelength_nm={"red": 633.0},
    )
    backend = make_backend("reference", surface.triangles_mm)
    return twin.transfer_matrix(surface.samples(), emitters, backend, offset_mm=1e-6), emitters


@pytest.mark.parametrize(
    ("drive", "exposure", "message"),
    [
        ({"redd": 1.0}, 60, "drive: unknown channel 'redd'; did you mean 'red'?"),
        ({"uv": 1.0}, 60, "drive: unknown channel 'uv'; valid channels: red, nir"),
        (
            {"red": -1},
            60,
            "drive.red: expected a drive level in [0, 1] (fraction of full power), got -1",
        ),
        (
            {"nir": np.nan},
            60,
            "drive.nir: expected a drive level in [0, 1] (fraction of full power), got nan",
        ),
        ({"red": 1.0}, np.nan, "exposure_s: expected a number > 0, got nan"),
        ({"red": 1.0}, 0, "exposure_s: expected a number > 0, got 0"),
    ],
)
def test_dose_maps_arguments_are_checked(rendered, drive, exposure, message):
    transfer, emitters = rendered
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        twin.dose_maps(transfer, emitters, drive=drive, exposure_s=exposure)


def test_dose_maps_accessors_name_the_channels(rendered):
    transfer, emitters = rendered
    maps = twin.dose_maps(transfer, emitters, drive={"red": 0.5}, exposure_s=60)
    assert maps.fluence_j_cm2("nir").max() == 0.0
    message = "DoseMaps.fluence_j_cm2: unknown channel 'uv'; valid channels: red, nir"
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        maps.fluence_j_cm2("uv")
    message = (
        "DoseMaps.photon_flux_per_s_cm2: channel 'nir' has no wavelength_nm, so no photon flux"
    )
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        maps.photon_flux_per_s_cm2("nir")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"positions_mm": [[0, 0, 1], [0, 0, 2]], "axes": [[0, 0, -1]]},
            "emitters: axes (dx, dy, dz): expected shape (3,) (one for all) or shape (2, 3) "
            "(one each), got (1, 3)",
        ),
        (
            {"axes": [[0, 0, -1]] * 2},
            "emitters: axes (dx, dy, dz): expected shape (3,) (one for all) or shape (3, 3) "
            "(one each), got (2, 3)",
        ),
        (
            {"power_mw": [1.0, 2.0]},
            "emitters: power_mw: expected a single value (one for all) or shape (3,) (one each), "
            "got (2,)",
        ),
        (
            {"profile": [twin.Lambertian(30.0)] * 2},
            "emitters: profile: expected one for all or a list of 3 (one each), got a list of 2",
        ),
        (
            {"channel": ["red", "nir"]},
            "emitters: channel: expected a single value (one for all) or shape (3,) (one each), "
            "got (2,)",
        ),
        ({"ids": ["a", "b"]}, "emitters: ids: expected shape (3,) (one each), got (2,)"),
        (
            {"channel": ["red", "red", "r,ed"]},
            "emitters: channel of emitter 2: expected a channel name of letters, digits, '_' and "
            "'-', got 'r,ed'",
        ),
    ],
)
def test_emitter_arguments_must_match_the_positions(change, message):
    args = {
        "positions_mm": [[0, 0, 1], [0, 0, 2], [0, 0, 3]],
        "axes": [0, 0, -1],
        "power_mw": 1.0,
        "profile": twin.Lambertian(30.0),
        **change,
    }
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        twin.Emitters.create(**args)


def test_channel_names_fit_in_the_output_files(root):
    fails(
        root,
        base_scene(),
        "{root}/leds.csv: line 2, column channel: expected a channel name of letters, digits, '_' "
        "and '-', got 'deep red'",
        leds="x,y,z,dx,dy,dz,power_mw,channel\n0,0,120,0,0,-1,5,deep red\n",
    )
    fails(
        root,
        edit(lambda s: s["emitters"].update(channel="r,ed")),
        "{root}/scene.yaml: emitters.channel: expected a channel name of letters, digits, '_' and "
        "'-', got 'r,ed'",
    )


def test_dose_limits_must_be_finite(root):
    fails(
        root,
        "target: {mesh: head.ply, units: mm}\nemitters: {file: leds.csv, half_angle_deg: 30}\n"
        "exposure_s: 600\ndose: {fluence_window_j_cm2: [0, .inf]}\n",
        "{root}/scene.yaml: dose.fluence_window_j_cm2: expected [low, high] of finite numbers "
        "with 0 <= low < high, got [0, inf]",
    )
    fails(
        root,
        edit(lambda s: s.update(dose={"irradiance_limit_mw_cm2": float("inf")})),
        "{root}/scene.yaml: dose.irradiance_limit_mw_cm2: expected a number > 0, got inf",
    )
    fails(
        root,
        edit(lambda s: s.update(dose={"eye_ir_limit_mw_cm2": float("nan")})),
        "{root}/scene.yaml: dose.eye_ir_limit_mw_cm2: expected a number > 0, got nan",
    )
