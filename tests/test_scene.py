"""The scene package (``twin.scene``): loading and defaults, the scene as data again,
population expansion, and scene files that fail with one message naming the file and key."""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import load_fails, phantom_scene, raises_naming, write_phantom

import twin
from twin.devices.emitters import emitter_csv_text
from twin.errors import InputError
from twin.geometry import anatomy, phantoms
from twin.geometry.variants import Variant, population
from twin.scene import (
    EYE_REGION,
    Member,
    list_members,
    load_member,
    load_scene,
    load_scenes,
    scene_from_dict,
)

#: Two LED channels in front of the head phantom's top, pointing down at it.
LEDS = (
    "x,y,z,dx,dy,dz,power_mw,channel,wavelength_nm\n"
    "0,0,120,0,0,-1,5,red,633\n"
    "10,0,120,0,0,-1,5,nir,830\n"
    "-10,0,120,0,0,-1,5,nir,830\n"
)


@pytest.fixture
def root(tmp_path):
    head = phantoms.head(subdivisions=2)
    trimesh.Trimesh(head.vertices_mm, head.faces, process=False).export(tmp_path / "shell.ply")
    (tmp_path / "leds.csv").write_text(LEDS)
    angles = np.linspace(0.0, 90.0, 10)
    rows = "\n".join(f"{a:g},{np.cos(np.radians(a)):.6f}" for a in angles)
    (tmp_path / "cos.csv").write_text("angle_deg,intensity\n" + rows + "\n")
    return tmp_path


def write(root, data: dict, name: str = "scene.yaml"):
    path = root / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def minimal() -> dict:
    return {
        "target": {"mesh": "builtin:phantom-head", "max_edge_mm": 8.0},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30},
        "exposure_s": 600,
    }


def round_trip(scene):
    """The scene reloaded from its spec written out as YAML."""
    text = yaml.safe_dump(scene.to_spec(), sort_keys=False)
    return scene_from_dict(yaml.safe_load(text), base=scene.path.parent, path=scene.path)


def test_a_minimal_scene_gets_every_default(root):
    scene = load_scene(write(root, minimal(), "short.yaml"))
    assert scene.name == "short"  # the file's stem
    assert scene.samples == "vertices" and scene.treat is None
    assert scene.exclude == ((EYE_REGION,) if EYE_REGION in scene.target.regions else ())
    assert scene.drive == {"nir": 1.0, "red": 1.0}  # every channel full
    assert scene.dose.fluence_window_j_cm2 == (4.0, 10.0)
    assert scene.dose.irradiance_limit_mw_cm2 == 100.0
    # No fixed IR-eye limit: the one for the exposure time applies (1800 t^-0.75 mW/cm2).
    assert scene.dose.eye_ir_limit_mw_cm2 is None
    assert scene.dose.eye_ir_limit(scene.exposure_s)[1] == "exposure time"
    assert scene.engine.backend == "auto" and math.isinf(scene.engine.max_distance_mm)
    assert scene.occluders == () and scene.layout is None and scene.apertures == {}
    assert scene.target.max_edge_mm <= 8.0
    # Provenance: what the data cannot tell, paths absolute.
    assert scene.source.target.mesh == "builtin:phantom-head"
    assert scene.source.emitters.file == str((root / "leds.csv").resolve())
    assert scene.source.description is None and scene.source.checks is None


def test_the_spec_is_derived_from_the_typed_fields(root):
    data = minimal() | {
        "name": "lit",
        "description": "two channels",
        "mode": {"red": 0.5, "nir": 0.25},
        "dose": {"fluence_window_j_cm2": [2, 6]},
        "engine": {"max_distance_mm": 500, "backend": "reference"},
        "checks": {"rules": [{"metric": "roi.total.cv", "max": 1}]},
    }
    scene = load_scene(write(root, data))
    spec = scene.to_spec()
    assert list(spec) == [
        "name",
        "description",
        "target",
        "occluders",
        "emitters",
        "mode",
        "exposure_s",
        "dose",
        "engine",
        "checks",
    ]
    assert spec["mode"] == scene.drive == {"red": 0.5, "nir": 0.25}
    assert spec["exposure_s"] == scene.exposure_s == 600.0
    assert spec["dose"]["fluence_window_j_cm2"] == [2.0, 6.0]
    assert spec["engine"] == {
        "backend": "reference",
        "intensity_cutoff": scene.engine.intensity_cutoff,
        "max_distance_mm": 500.0,
        "interreflection": None,
        "patch_mm": 6.0,
    }
    assert spec["checks"] == data["checks"]  # as written
    assert spec["target"]["samples"] == "vertices" and spec["target"]["exclude"] == list(
        scene.exclude
    )


def _same(a, b) -> None:
    assert a.to_spec() == b.to_spec()
    assert (a.name, a.drive, a.exposure_s, a.variant) == (b.name, b.drive, b.exposure_s, b.variant)
    assert (a.samples, a.treat, a.exclude, a.dose, a.engine, a.checks) == (
        b.samples,
        b.treat,
        b.exclude,
        b.dose,
        b.engine,
        b.checks,
    )
    np.testing.assert_array_equal(a.target.vertices_mm, b.target.vertices_mm)
    np.testing.assert_array_equal(a.target.faces, b.target.faces)
    assert {k: v.tolist() for k, v in a.target.regions.items()} == {
        k: v.tolist() for k, v in b.target.regions.items()
    }
    assert len(a.occluders) == len(b.occluders)
    for x, y in zip(a.occluders, b.occluders, strict=True):
        np.testing.assert_array_equal(x.vertices_mm, y.vertices_mm)
    np.testing.assert_array_equal(a.emitters.positions_mm, b.emitters.positions_mm)
    np.testing.assert_array_equal(a.emitters.axes, b.emitters.axes)
    np.testing.assert_array_equal(a.emitters.power_mw, b.emitters.power_mw)
    np.testing.assert_array_equal(a.emitters.channel, b.emitters.channel)
    assert a.emitters.profiles == b.emitters.profiles
    assert a.apertures == b.apertures


def test_an_emitter_csv_scene_round_trips_through_its_spec(root):
    data = {
        "name": "csv",
        "description": "profiles, apertures and an occluder",
        "target": {
            "mesh": "builtin:phantom-head",
            "max_edge_mm": 8.0,
            "samples": "centroids",
            "exclude": [],
        },
        "occluders": [{"mesh": "shell.ply", "units": "mm", "flip_normals": True}],
        "emitters": {
            "file": "leds.csv",
            "profile": "cos.csv",
            "profiles": {"nir": "isotropic"},
            "apertures": {"red": {"shape": "square", "size_mm": 2.0, "samples": 9}},
        },
        "mode": {"red": 1.0, "nir": 0.5},
        "exposure_s": 300,
        "checks": {"baseline": {"relative": 0.02}},
    }
    scene = load_scene(write(root, data))
    spec = scene.to_spec()
    assert spec["occluders"] == [
        {
            "mesh": str((root / "shell.ply").resolve()),
            "units": "mm",
            "flip_normals": True,
            "reflectance": "black",
        }
    ]
    assert spec["emitters"]["profile"] == str((root / "cos.csv").resolve())
    assert spec["emitters"]["profiles"] == {"nir": "isotropic"}
    assert spec["emitters"]["apertures"] == {
        "red": {"shape": "square", "size_mm": 2.0, "samples": 9}
    }
    _same(round_trip(scene), scene)


def test_a_variant_face_with_eye_shields_and_a_design_round_trips(root):
    wearer = population(1, seed=3)[0]
    data = {
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0, "variant": wearer.to_dict()},
        "occluders": [{"mesh": "builtin:eye-shields"}],
        "emitters": {"design": "mask-flexible-1026", "count": 120},
        "exposure_s": 600,
    }
    scene = load_scene(write(root, data))
    assert scene.variant == wearer and scene.layout is not None
    spec = scene.to_spec()
    assert spec["target"]["variant"] == wearer.to_dict()
    assert spec["occluders"] == [
        {"mesh": "builtin:eye-shields", "units": "mm", "reflectance": "black"}
    ]
    assert spec["emitters"] == scene.layout.spec
    _same(round_trip(scene), scene)


def test_with_emitters_drops_the_design_and_the_file(root):
    data = minimal() | {
        "emitters": {
            "file": "leds.csv",
            "half_angle_deg": 30,
            "apertures": {"red": {"size_mm": 2.0}, "nir": {"size_mm": 3.0}},
        },
        "mode": {"red": 0.5, "nir": 0.25},
    }
    scene = load_scene(write(root, data))
    nir = scene.emitters.channel == "nir"
    only_nir = twin.Emitters.create(
        scene.emitters.positions_mm[nir],
        scene.emitters.axes[nir],
        scene.emitters.power_mw[nir],
        profile=twin.Lambertian(30.0),
        channel="nir",
        wavelength_nm={"nir": 830.0},
    )
    swapped = scene.with_emitters(only_nir, name="nir-only")
    assert swapped.name == "nir-only" and swapped.emitters is only_nir
    assert swapped.drive == {"nir": 0.25}  # this scene's level of the channels it keeps
    assert set(swapped.apertures) == {"nir"}
    assert swapped.layout is None and swapped.source.emitters is None
    assert swapped.source.target == scene.source.target
    # No file describes them: the caller says how they are written.
    with pytest.raises(ValueError, match="emitters"):
        swapped.to_spec()
    spec = swapped.to_spec(emitters={"file": "emitters.csv", "units": "mm"})
    assert spec["name"] == "nir-only" and spec["mode"] == {"nir": 0.25}
    assert swapped.with_emitters(only_nir, name="x", drive={"nir": 1.0}).drive == {"nir": 1.0}


def population_file(root, **population_keys) -> object:
    data = {
        "name": "crowd",
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0, "population": population_keys},
        "emitters": {"file": "missing.csv"},  # listing members loads nothing
        "exposure_s": 60,
    }
    return write(root, data, "crowd.yaml")


def test_a_population_is_listed_without_loading_anything(root):
    path = population_file(root, size=3, seed=5, age_years=[30, 40])
    members = list_members(path)
    assert [m.name for m in members] == ["crowd-p00", "crowd-p01", "crowd-p02"]
    assert [m.variant for m in members] == list(population(3, seed=5, age_years=(30, 40)))
    assert {m.scene_name for m in members} == {"crowd"}
    assert all(30 <= m.variant.age_years <= 40 for m in members)
    # Members travel to worker processes as they are.
    assert pickle.loads(pickle.dumps(members)) == members
    # Loading one reads its files: here the missing CSV, and the message names the member.
    with pytest.raises(InputError, match=r"missing\.csv.*\(population member crowd-p01: "):
        load_member(members[1])


def test_one_scene_is_one_member_and_people_put_it_on_a_population(root):
    path = write(root, minimal() | {"name": "solo"})
    (member,) = list_members(path)
    assert member == Member(path, "solo") and member.name == "solo" and member.variant is None

    face = minimal() | {"target": {"mesh": "builtin:face", "max_edge_mm": 6.0}}
    face["emitters"] = {"file": "panel.csv"}
    _panel(root)
    path = write(root, face, "face.yaml")
    people = list_members(path, people=2, seed=4)
    assert [m.variant for m in people] == list(population(2, seed=4))
    assert [m.name for m in people] == ["face-p00", "face-p01"]
    scenes = load_scenes(path, people=2, seed=4)
    assert [s.name for s in scenes] == ["face-p00", "face-p01"]
    assert [s.variant for s in scenes] == [m.variant for m in people]
    again = load_member(people[1])
    np.testing.assert_array_equal(again.target.vertices_mm, scenes[1].target.vertices_mm)
    # A member's spec names its variant, so it loads that member alone.
    assert isinstance(scenes[0].to_spec()["target"]["variant"], dict)
    assert Variant.from_dict(scenes[0].to_spec()["target"]["variant"]) == people[0].variant


def test_people_need_one_scene_on_a_built_in_anatomy(root):
    scan = write(root, minimal() | {"target": {"mesh": "shell.ply", "units": "mm"}}, "scan.yaml")
    with pytest.raises(InputError, match=rf"^{re.escape(str(scan))}: people: .*'shell\.ply'"):
        list_members(scan, people=2)
    crowd = population_file(root, size=2)
    with pytest.raises(InputError, match=rf"^{re.escape(str(crowd))}: people: "):
        load_scenes(crowd, people=2)


def test_a_population_samples_skin_types_with_its_seed(root):
    tissue = {"skin_type": "II", "depths_mm": [1.0]}
    weighted = population_file(root, size=400, seed=2, skin_types={"I": 3, "VI": 1, "III": 0})
    write(root, yaml.safe_load(weighted.read_text()) | {"tissue": tissue}, "crowd.yaml")
    members = list_members(weighted)
    skins = [m.skin_type for m in members]
    # Weights 3:1 (III never): the share of type I is 0.75, within 3 standard deviations.
    assert set(skins) == {"I", "VI"}
    assert abs(skins.count("I") / 400 - 0.75) < 3 * math.sqrt(0.75 * 0.25 / 400)
    assert [m.skin_type for m in list_members(weighted)] == skins  # seeded
    # The skin types are drawn apart from the body shapes: those stay the population's.
    assert [m.variant for m in members] == list(population(400, seed=2))
    assert all(m.label == f"{m.variant.label}, skin {m.skin_type}" for m in members)
    uniform = population_file(root, size=400, seed=2, skin_types=["II", 5])
    write(root, yaml.safe_load(uniform.read_text()) | {"tissue": tissue}, "crowd.yaml")
    skins = [m.skin_type for m in list_members(uniform)]
    assert set(skins) == {"II", "V"}
    assert abs(skins.count("II") / 400 - 0.5) < 3 * math.sqrt(0.25 / 400)


def test_a_member_s_skin_type_replaces_the_scene_s_skin(root):
    _panel(root)
    layers = [{"thickness_mm": ".inf", "mua_per_mm": 0.02, "mus_prime_per_mm": 1.5, "g": 0.9}]
    data = {
        "name": "crowd",
        "target": {
            "mesh": "builtin:face",
            "max_edge_mm": 8.0,
            "population": {"size": 2, "seed": 1, "skin_types": ["VI"]},
        },
        "emitters": {"file": "panel.csv"},
        "exposure_s": 60,
        "tissue": {"layers": [layer | {"n": 1.4} for layer in layers], "depths_mm": [1.0]},
    }
    path = write(root, data, "crowd.yaml")
    scenes = load_scenes(path)
    for scene, member in zip(scenes, list_members(path), strict=True):
        assert scene.tissue.skin == "VI" and scene.tissue.layers is None
        assert scene.name == member.name and scene.variant == member.variant
        # Its spec names its skin type, not the layers: it loads that member alone.
        spec = scene.to_spec(emitters={"file": str(root / "panel.csv"), "units": "mm"})
        assert spec["tissue"]["skin_type"] == "VI" and "layers" not in spec["tissue"]
        assert scene_from_dict(spec, base=root).tissue.skin == "VI"


@pytest.mark.parametrize(
    ("skin_types", "tissue", "parts"),
    [
        (["I"], None, ("skin_types: expected a scene with a tissue: section", "found none")),
        (["VII"], {}, ("skin_types[0]: unknown skin type 'VII'", "did you mean 'VI'?")),
        ([{"melanin_fraction": 0.1}], {}, ("skin_types[0]: expected a Fitzpatrick skin type",)),
        ([], {}, ("skin_types: expected a list of skin types", "got []")),
        ({"I": -1}, {}, ("skin_types.I", "-1")),
        ({"I": 0, "II": 0}, {}, ("skin_types: expected at least one weight > 0",)),
    ],
)
def test_bad_skin_types_are_named(root, skin_types, tissue, parts):
    path = population_file(root, size=2, skin_types=skin_types)
    if tissue is not None:
        write(root, yaml.safe_load(path.read_text()) | {"tissue": tissue}, "crowd.yaml")
    with raises_naming(f"{path}: target.population.", *parts):
        list_members(path)


def _panel(root) -> None:
    """LEDs on a flat panel well in front of every face variant, pointing back at it."""
    x, y = np.meshgrid(np.linspace(-60, 60, 4), np.linspace(-80, 80, 4))
    nasion = anatomy.landmarks()["nasion"]
    positions = np.column_stack(
        [x.ravel(), nasion[1] + y.ravel(), np.full(x.size, nasion[2] + 120.0)]
    )
    axes = np.tile([0.0, 0.0, -1.0], (len(positions), 1))
    emitters = twin.Emitters.create(positions, axes, 5.0, profile=twin.Lambertian(30.0))
    (root / "panel.csv").write_text(emitter_csv_text(emitters))


# --- bad scene files ---------------------------------------------------------------------


@pytest.fixture
def phantom(tmp_path):
    """A folder with the head phantom (``head.ply``) and one LED (``leds.csv``)."""
    return write_phantom(tmp_path)


def edit(change) -> dict:
    """Return the phantom scene after ``change``."""
    scene = phantom_scene()
    change(scene)
    return scene


def test_unknown_keys_name_the_nearest_valid_key(phantom):
    path = phantom / "scene.yaml"
    load_fails(
        phantom,
        edit(lambda s: s.update(exposure=5)),
        "unknown key 'exposure'",
        "'exposure_s'",
        at=path,
    )
    load_fails(
        phantom,
        edit(lambda s: s["target"].update(unit="mm")),
        "unknown key 'unit'",
        "'units'",
        at=f"{path}: target",
    )
    load_fails(
        phantom,
        edit(lambda s: s.update(engine={"bakend": "embree"})),
        "unknown key 'bakend'",
        "'backend'",
        at=f"{path}: engine",
    )


def test_malformed_yaml(phantom):
    path = phantom / "scene.yaml"
    load_fails(phantom, "target: [unclosed\n", "invalid YAML", "line 2, column 1", "']'", at=path)
    load_fails(phantom, "- a list\n", "a mapping", "list", at=path)


def test_missing_required_keys(phantom):
    path = phantom / "scene.yaml"
    load_fails(phantom, edit(lambda s: s.pop("exposure_s")), "missing", "'exposure_s'", at=path)
    load_fails(
        phantom,
        edit(lambda s: s["target"].pop("units")),
        "missing",
        "mm, cm, dm, m",
        at=f"{path}: target.units",
    )


def test_a_bad_unit_is_named_by_its_scene_key(phantom):
    for change, key, bad in (
        (lambda s: s["target"].update(units="furlong"), "target.units", "furlong"),
        (
            lambda s: s.update(occluders=[{"mesh": "head.ply", "units": "yard"}]),
            "occluders[0].units",
            "yard",
        ),
    ):
        load_fails(
            phantom,
            edit(change),
            "a length unit",
            "['cm', 'dm', 'inch', 'm', 'mm']",
            repr(bad),
            at=f"{phantom}/scene.yaml: {key}",
        )


@pytest.mark.parametrize(
    ("change", "key", "parts"),
    [
        (lambda s: s.update(mode={"blue": 1.0}), "mode", ("unknown channel 'blue'", "'led'")),
        (lambda s: s.update(mode={"led": 1.5}), "mode.led", ("[0, 1]", "1.5")),
        (
            lambda s: s["emitters"].update(half_angle_deg=95),
            "emitters.half_angle_deg",
            ("[0.5, 90) degrees", "95"),
        ),
        (
            lambda s: s.update(engine={"backend": "gpu"}),
            "engine.backend",
            ("auto, reference, embree, cuda", "'gpu'"),
        ),
        (lambda s: s.update(exposure_s=-5), "exposure_s", ("> 0", "-5")),
        (
            lambda s: s["target"].update(exclude=["eyes"]),
            "target.exclude",
            ("unknown region 'eyes'", "none"),
        ),
        (
            lambda s: s["emitters"].update(channel="r,ed"),
            "emitters.channel",
            ("letters, digits, '_' and '-'", "'r,ed'"),
        ),
        (
            lambda s: s.update(dose={"irradiance_limit_mw_cm2": float("inf")}),
            "dose.irradiance_limit_mw_cm2",
            ("> 0", "inf"),
        ),
        (
            lambda s: s.update(dose={"eye_ir_limit_mw_cm2": float("nan")}),
            "dose.eye_ir_limit_mw_cm2",
            ("> 0", "nan"),
        ),
    ],
)
def test_bad_values_name_their_key(phantom, change, key, parts):
    load_fails(phantom, edit(change), *parts, at=f"{phantom}/scene.yaml: {key}")


def test_a_fluence_window_must_be_finite(phantom):
    load_fails(
        phantom,
        "target: {mesh: head.ply, units: mm}\nemitters: {file: leds.csv, half_angle_deg: 30}\n"
        "exposure_s: 600\ndose: {fluence_window_j_cm2: [0, .inf]}\n",
        "[low, high]",
        "finite",
        "0 <= low < high",
        "[0, inf]",
        at=f"{phantom}/scene.yaml: dose.fluence_window_j_cm2",
    )


def test_an_emitter_inside_the_skin(phantom):
    load_fails(
        phantom,
        phantom_scene(),
        "'m7'",
        "(0, 0, 20) mm",
        "inside the skin",
        "66.5 mm behind",
        "1 of 2",
        at=phantom / "leds.csv",
        leds="x,y,z,dx,dy,dz,power_mw,id\n0,0,120,0,0,-1,5,ok\n0,0,20,0,0,-1,5,m7\n",
    )


def test_an_inside_out_open_mesh_is_named(phantom):
    plane = phantoms.plane(size_mm=120.0, divisions=4)
    flipped = trimesh.Trimesh(plane.vertices_mm, plane.faces[:, ::-1], process=False)
    flipped.export(phantom / "plane.ply")
    scene = edit(lambda s: s["target"].update(mesh="plane.ply"))
    load_fails(
        phantom,
        scene,
        "'a'",
        "(0, 0, 20) mm",
        "inside the skin",
        "20 mm behind",
        "2 of 2",
        "inside-out",
        "target.flip_normals: true",
        at=phantom / "leds.csv",
        leds="x,y,z,dx,dy,dz,power_mw,id\n0,0,20,0,0,-1,5,a\n10,0,20,0,0,-1,5,b\n",
    )
    scene["target"]["flip_normals"] = True
    (phantom / "scene.yaml").write_text(yaml.safe_dump(scene))
    assert len(load_scene(phantom / "scene.yaml").emitters) == 2


def test_a_population_error_names_the_member(phantom):
    scene = {
        "name": "pop",
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0, "population": {"size": 2}},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30},
        "exposure_s": 600,
    }
    (phantom / "leds.csv").write_text("x,y,z,dx,dy,dz,power_mw,id\n0,720,70,0,0,1,5,deep\n")
    (phantom / "pop.yaml").write_text(yaml.safe_dump(scene))
    parts = ("'deep'", "(0, 720, 70) mm", "inside the skin", "1 of 1", "population member pop-p00")
    with raises_naming(*parts, at=phantom / "leds.csv") as info:
        load_scenes(phantom / "pop.yaml")
    assert re.search(r"\(population member pop-p00: (fe)?male \d+ y\)$", str(info.value))


def test_a_scene_file_that_is_not_utf8(phantom):
    (phantom / "scene.yaml").write_bytes(b"\xef\xbb\xbfname: caf\xe9\n")
    with raises_naming("UTF-8", "0xe9", "byte offset 12", "scene file", at=phantom / "scene.yaml"):
        load_scene(phantom / "scene.yaml")


def test_a_scene_file_with_a_byte_order_mark_loads(phantom):
    (phantom / "scene.yaml").write_bytes(
        b"\xef\xbb\xbf" + yaml.safe_dump(phantom_scene()).encode()
    )
    scene = load_scene(phantom / "scene.yaml")
    np.testing.assert_array_equal(scene.emitters.positions_mm, [[0.0, 0.0, 120.0]])


# --- fuzzed scene values: one clear line each ----------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "parts"),
    [
        (lambda s: s["emitters"].update(file="le\0ds.csv"), "emitters.file", ("NUL byte",)),
        (
            lambda s: s["target"].update(mesh="a" * 300 + ".ply"),
            "target.mesh",
            ("at most 255 bytes", "got one of 304", "'aaa"),
        ),
        (
            lambda s: s["emitters"].update(half_angle_deg=10**40),
            "emitters.half_angle_deg",
            ("[0.5, 90) degrees", "10000000000"),
        ),
        (
            lambda s: s["emitters"].update(half_angle_deg=1e-7),
            "emitters.half_angle_deg",
            ("[0.5, 90) degrees", "1e-07"),
        ),
        (lambda s: s.update(exposure_s=10**400), "exposure_s", ("a number > 0", "1000")),
        *[
            (lambda s, k=k, v=v: s.update({k: v}), k, ("a mapping", type(v).__name__))
            for k in ("dose", "engine")
            for v in (False, 0, "", [])
        ],
    ],
)
def test_fuzzed_values_name_their_key(phantom, change, key, parts):
    load_fails(phantom, edit(change), *parts, at=f"{phantom}/scene.yaml: {key}")


def test_a_limit_is_named_before_anything_is_built(root):
    face = {"target": {"mesh": "builtin:face", "max_edge_mm": 1e-6}}
    with raises_naming(
        "a number in [0.1, inf]", "1e-06", at=f"{root}/scene.yaml: target.max_edge_mm"
    ):
        twin.load_scene(write(root, {**minimal(), **face}))
    with raises_naming(
        "a whole number in [1, 10000]",
        "100000000",
        at=f"{root}/crowd.yaml: target.population.size",
    ):
        twin.load_scenes(population_file(root, size=10**8))


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("exposure_s: 5\nexposure_s: 6\n", ("line 2, column 1", "duplicate key 'exposure_s'")),
        ("target: {mesh: a\n  b: [}\n", ("invalid YAML at line 2, column 4", "expected ','")),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", ("nesting deeper than 64 levels",)),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, c in zip("abcdefg", "bcdefgh", strict=True)
            )
            + "i: [*h, *h]\n",
            ("at most 100000 values with aliases expanded",),
        ),
    ],
)
def test_yaml_beyond_the_limits_is_one_line(phantom, text, parts):
    message = load_fails(phantom, text, *parts, at=phantom / "scene.yaml")
    assert "\n" not in message


def test_yaml_aliases_within_the_limit_load(phantom):
    text = (
        "target: &t {mesh: head.ply, units: mm}\n"
        "emitters: {file: leds.csv, half_angle_deg: 30}\n"
        "exposure_s: 600\noccluders: [*t]\n"
    )
    (phantom / "scene.yaml").write_text(text)
    assert len(twin.load_scene(phantom / "scene.yaml").occluders) == 1


def test_emitting_areas_come_from_the_scene_and_survive_its_spec_and_a_new_layout(root):
    # An emitter CSV states its LEDs' emitting area (one for every channel, or per channel):
    # the blue-light radiance needs it, so it must survive scene.resolved.yaml and a new layout.
    scene = load_scene(write(root, {**minimal(), "emitters": {
        **minimal()["emitters"], "emitting_area_mm2": {"red": 4.0, "nir": 2.5},
    }}))  # fmt: skip
    assert scene.emitting_area_mm2 == {"red": 4.0, "nir": 2.5}
    assert round_trip(scene).emitting_area_mm2 == scene.emitting_area_mm2
    moved = scene.with_emitters(scene.emitters.derive(np.arange(3)), name="three")
    assert moved.emitting_area_mm2 == {
        c: a for c, a in scene.emitting_area_mm2.items() if c in moved.emitters.channels
    }
    one = load_scene(write(root, {**minimal(), "emitters": {
        **minimal()["emitters"], "emitting_area_mm2": 3.0,
    }}, "one.yaml"))  # fmt: skip
    assert one.emitting_area_mm2 == dict.fromkeys(one.emitters.channels, 3.0)
    with raises_naming("emitters.emitting_area_mm2", "unknown channel 'blue'", "red, nir"):
        load_scene(write(root, {**minimal(), "emitters": {
            **minimal()["emitters"], "emitting_area_mm2": {"blue": 1.0},
        }}, "bad.yaml"))  # fmt: skip


def test_a_scene_given_as_data_loads_as_its_file_does(tmp_path):
    data = {
        "target": {"mesh": "builtin:phantom-head"},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30},
        "exposure_s": 60,
    }
    (tmp_path / "leds.csv").write_text("x,y,z,dx,dy,dz,power_mw\n0,0,120,0,0,-1,5\n")
    (tmp_path / "scene.yaml").write_text(yaml.safe_dump(data))
    from_file = load_scene(tmp_path / "scene.yaml")
    from_data = load_scene(data, base=tmp_path)
    np.testing.assert_array_equal(from_data.emitters.positions_mm, from_file.emitters.positions_mm)
    assert from_data.to_spec()["emitters"] == from_file.to_spec()["emitters"]
    with raises_naming("emitters.file", "not found"):
        load_scene(data, base=tmp_path / "elsewhere")
