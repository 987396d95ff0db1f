"""Mesh files in (``twin.geometry.meshio``): unreadable, empty or broken meshes, and sizes
that betray the wrong unit, fail with one message naming the file."""

from __future__ import annotations

import pytest
import trimesh
from _helpers import load_fails, phantom_scene, raises_naming, write_phantom

from twin.geometry import anatomy
from twin.geometry.meshio import load_surface


@pytest.fixture
def root(tmp_path):
    return write_phantom(tmp_path)


def on(mesh: str, **target) -> dict:
    """Return the phantom scene with ``mesh`` as its target."""
    scene = phantom_scene()
    scene["target"].update(mesh=mesh, **target)
    return scene


@pytest.mark.parametrize(
    ("name", "text", "parts"),
    [
        ("nope.ply", None, ("mesh file not found",)),
        ("empty.obj", "# nothing\n", ("expected a triangle mesh", "no triangles")),
        ("nan.obj", "v 0 0 0\nv 100 0 0\nv nan 100 0\nf 1 2 3\n", ("NaN or infinite",)),
        (
            "degenerate.obj",
            "v 0 0 0\nv 100 0 0\nv 50 0 0\nf 1 2 3\nf 1 1 2\n",
            ("all 2 triangles", "degenerate", "nothing is left"),
        ),
    ],
)
def test_bad_meshes(root, name, text, parts):
    files = {} if text is None else {name: text}
    load_fails(root, on(name), *parts, at=root / name, files=files)


def test_wrong_unit_names_the_likely_one(root):
    load_fails(
        root,
        on("head.ply", units="m"),
        "2.13e+05 mm across",
        "'m'",
        "30-2500 mm",
        "body part",
        "in mm?",
        at=root / "head.ply",
    )


def test_wrong_unit_for_the_declared_anatomy(root):
    from twin.scene.target import ANATOMY_SIZE_FACTOR

    face = anatomy.builtin("face", max_edge_mm=8.0)
    trimesh.Trimesh(face.vertices_mm, face.faces, process=False).export(root / "face.ply")
    size_mm = face.extent_mm.max()  # read as cm: ten times too big
    typical = anatomy.builtin("face").extent_mm.max()
    low, high = typical / ANATOMY_SIZE_FACTOR, typical * ANATOMY_SIZE_FACTOR
    load_fails(
        root,
        on("face.ply", units="cm", regions_from="face"),
        f"{10 * size_mm:.4g} mm across",
        "'cm'",
        f"{low:.0f}-{high:.0f} mm",
        "face (target.regions_from)",
        "in mm?",
        at=root / "face.ply",
    )


_PLY = (
    b"ply\nformat ascii 1.0\ncomment regions: a\nelement vertex 3\n"
    b"property float x\nproperty float y\nproperty float z\n"
)


@pytest.mark.parametrize(
    ("name", "body", "parts"),
    [
        (
            "faces.ply",
            _PLY + b"element face 1\nproperty list uchar int vertex_indices\nproperty int region\n"
            b"end_header\n0 0 0\n50 0 0\n0 50 0\n3 0 1 2 0\n",
            ("the region property on the vertices", "found 0"),
        ),
        ("bad.obj", b"v 0 0 0\nv 50 0 0\nf 1 2 9\n", ("cannot read mesh",)),
        ("bad.ply", b"ply\n\xff\xfe\x00garbage", ("cannot read mesh",)),
        (
            "far.obj",
            b"v 0 0 0\nv 1e308 0 0\nv 0 1e308 0\nf 1 2 3\n",
            ("within 1e+06 mm", "1e+308"),
        ),
    ],
)
def test_fuzzed_mesh_files_are_refused_in_one_line(tmp_path, name, body, parts):
    (tmp_path / name).write_bytes(body)
    with raises_naming(*parts, at=tmp_path / name) as info:
        load_surface(tmp_path / name, units="mm")
    assert "\n" not in str(info.value)


def test_a_folder_given_as_a_mesh_is_refused(tmp_path):
    (tmp_path / "head.ply").mkdir()
    with raises_naming("a regular file", at=tmp_path / "head.ply"):
        load_surface(tmp_path / "head.ply", units="mm")
