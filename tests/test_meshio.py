"""Mesh files in (``twin.geometry.meshio``): unreadable, empty or broken meshes, and sizes
that betray the wrong unit, fail with one message naming the file."""

from __future__ import annotations

import pytest
import trimesh
from _helpers import load_fails, phantom_scene, write_phantom

from twin.geometry import anatomy


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
    face = anatomy.builtin("face", max_edge_mm=8.0)
    trimesh.Trimesh(face.vertices_mm, face.faces, process=False).export(root / "face.ply")
    load_fails(
        root,
        on("face.ply", units="cm", regions_from="face"),
        "2028 mm across",
        "'cm'",
        "68-608 mm",
        "face (target.regions_from)",
        "in mm?",
        at=root / "face.ply",
    )
