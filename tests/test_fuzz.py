"""Property-based tests of every parser: whatever the bytes, a parser returns a result or
raises one InputError whose single line starts with the file it read, and writes nothing.
Seeded and bounded: each property runs a fixed, small number of examples."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from _helpers import ONE_LED, phantom_scene, write_phantom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twin
from twin.analysis.check import load_baseline
from twin.devices.emitters import read_emitter_csv
from twin.devices.photometry import read_profile
from twin.errors import InputError
from twin.geometry.meshio import load_surface

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Characters the text formats are made of, and some that break them.
TEXT = st.text(
    st.sampled_from("0123456789.,-+e \n\r\t:[]{}&*!#'\"\\xyzdp_\0\ufeffé"), max_size=300
)
#: Scalars and nested values a YAML key may be given.
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _contract(path: Path, read) -> None:
    """Call ``read(path)``: a result, or one line starting with ``path``; nothing written."""
    before = sorted(path.parent.rglob("*"))
    try:
        read(path)
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert message.startswith(str(path.parent)), message
    assert sorted(path.parent.rglob("*")) == before


def _mutate(data: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    for at, piece in cuts:
        at %= len(data) + 1
        data = data[:at] + piece + data[at + len(piece) :]
    return data


CUTS = st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=6)), max_size=4)


@FUZZ
@given(text=TEXT, cuts=CUTS)
def test_scene_yaml(tmp_path_factory, text, cuts):
    root = write_phantom(tmp_path_factory.mktemp("scene"))
    path = root / "scene.yaml"
    path.write_bytes(_mutate(yaml.safe_dump(phantom_scene()).encode(), cuts) + text.encode())
    _contract(path, twin.load_scene)


@FUZZ
@given(
    section=st.sampled_from(["target", "emitters", "dose", "engine", "mode", "checks"]),
    key=st.sampled_from(["mesh", "units", "file", "half_angle_deg", "backend", "max_edge_mm"]),
    value=VALUES,
)
def test_scene_values(tmp_path_factory, section, key, value):
    root = write_phantom(tmp_path_factory.mktemp("values"))
    scene = phantom_scene()
    scene[section] = {**scene.get(section, {}), key: value} if section in scene else {key: value}
    path = root / "scene.yaml"
    path.write_text(yaml.safe_dump(scene))
    _contract(path, twin.load_scene)


@FUZZ
@given(
    key=st.sampled_from(
        [
            "count",
            "carrier",
            "cutouts",
            "pattern",
            "seed",
            "tilt_deg",
            "standoff_mm",
            "clearance_mm",
            "aperture_samples",
            "extended",
            "channels",
            "modes",
            "mode",
        ]
    ),
    value=VALUES,
)
def test_design_keys(tmp_path_factory, key, value):
    root = tmp_path_factory.mktemp("design")
    scene = {
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0},
        "emitters": {"design": "mask-rigid-1026", key: value},
        "exposure_s": 60,
    }
    path = root / "scene.yaml"
    path.write_text(yaml.safe_dump(scene))
    _contract(path, twin.load_scene)


@FUZZ
@given(
    text=TEXT,
    cuts=CUTS,
    led=st.dictionaries(
        st.sampled_from(
            ["wavelength_nm", "power_mw", "half_angle_deg", "profile", "package", "name"]
        ),
        VALUES,
        max_size=4,
    ),
)
def test_design_and_led_files(tmp_path_factory, text, cuts, led):
    root = tmp_path_factory.mktemp("files")
    design = {"carrier": "rigid", "count": 20, "channels": {"red": "led.yaml"}}
    (root / "mine.yaml").write_bytes(
        _mutate(yaml.safe_dump(design).encode(), cuts) + text.encode()
    )
    (root / "led.yaml").write_text(
        yaml.safe_dump({"wavelength_nm": 633, "power_mw": 5, "half_angle_deg": 30, **led})
    )
    scene = {
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0},
        "emitters": {"design": "mine.yaml"},
        "exposure_s": 60,
    }
    path = root / "scene.yaml"
    path.write_text(yaml.safe_dump(scene))
    _contract(path, twin.load_scene)


@FUZZ
@given(text=TEXT, cuts=CUTS)
def test_emitter_csv(tmp_path_factory, text, cuts):
    path = tmp_path_factory.mktemp("csv") / "leds.csv"
    path.write_bytes(_mutate((ONE_LED + text).encode(), cuts))
    _contract(path, lambda p: read_emitter_csv(p, half_angle_deg=30))


@FUZZ
@given(text=TEXT, cuts=CUTS, suffix=st.sampled_from([".csv", ".ies", ".ldt"]))
def test_profile_files(tmp_path_factory, text, cuts, suffix):
    starts = {
        ".csv": "angle_deg,intensity\n0,1\n45,0.5\n90,0\n",
        ".ies": "IESNA:LM-63-2002\nTILT=NONE\n1 -1 1 3 1 1 2 0 0 0\n1 1 1\n0 45 90\n0\n100 50 0\n",
        ".ldt": "\n".join(
            [
                "x",
                "1",
                "1",
                "1",
                "0",
                "3",
                "45",
                "a",
                "b",
                "c",
                "d",
                "e",
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                "100",
                "1",
                "1",
                "0",
                "1",
                "1",
                "LED",
                "100",
                "0",
                "0",
                "1",
                "0",
            ]
            + ["0"] * 10
            + ["0", "0", "45", "90", "100", "50", "0"]
        )
        + "\n",
    }
    path = tmp_path_factory.mktemp("profile") / f"beam{suffix}"
    path.write_bytes(_mutate((starts[suffix] + text).encode(), cuts))
    _contract(path, read_profile)


@FUZZ
@given(
    body=st.binary(max_size=400),
    cuts=CUTS,
    suffix=st.sampled_from([".ply", ".obj", ".stl", ".off"]),
)
def test_meshes(tmp_path_factory, body, cuts, suffix):
    starts = {
        ".ply": b"ply\nformat ascii 1.0\ncomment regions: a\nelement vertex 3\nproperty float x\n"
        b"property float y\nproperty float z\nproperty int region\nelement face 1\n"
        b"property list uchar int vertex_indices\nend_header\n"
        b"0 0 0 0\n50 0 0 0\n0 50 0 0\n3 0 1 2\n",
        ".obj": b"v 0 0 0\nv 50 0 0\nv 0 50 0\nf 1 2 3\n",
        ".stl": b"solid a\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 50 0 0\n"
        b"vertex 0 50 0\nendloop\nendfacet\nendsolid a\n",
        ".off": b"OFF\n3 1 0\n0 0 0\n50 0 0\n0 50 0\n3 0 1 2\n",
    }
    path = tmp_path_factory.mktemp("mesh") / f"skin{suffix}"
    path.write_bytes(_mutate(starts[suffix], cuts) + body)
    _contract(path, lambda p: load_surface(p, units="mm"))


@FUZZ
@given(value=VALUES, text=TEXT)
def test_baselines(tmp_path_factory, value, text):
    path = tmp_path_factory.mktemp("baseline") / "scene.baseline.json"
    path.write_text(json.dumps({"metrics": {"a": value}}) + text[:3])
    _contract(path, load_baseline)
