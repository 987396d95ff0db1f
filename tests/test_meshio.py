"""Mesh files in (``twin.geometry.meshio``): unreadable, empty or broken meshes, and sizes
that betray the wrong unit, fail with one message naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from _helpers import load_fails, phantom_scene, raises_naming, write_phantom

from twin.geometry import anatomy, phantoms
from twin.geometry.meshio import load_surface
from twin.geometry.ply import read_triangle_ply


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


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_the_fast_ply_reader_reads_what_trimesh_reads(tmp_path, encoding):
    """Every encoding, extra vertex and face properties: the same mesh as trimesh's reader."""
    rng = np.random.default_rng(3)
    head = phantoms.head(subdivisions=2)
    v, f = head.vertices_mm, head.faces
    order = "<" if encoding != "binary_big_endian" else ">"
    vertex = np.empty(len(v), [("x", order + "f8"), ("nx", order + "f4"), ("y", order + "f8"),
                               ("z", order + "f8"), ("label", order + "i4")])  # fmt: skip
    vertex["x"], vertex["y"], vertex["z"] = v.T
    vertex["nx"] = rng.random(len(v))
    vertex["label"] = rng.integers(0, 9, len(v))
    face = np.empty(len(f), [("n", "u1"), ("i", order + "u4", 3), ("quality", order + "f4")])
    face["n"], face["i"], face["quality"] = 3, f, rng.random(len(f))
    types = {"f8": "double", "f4": "float", "i4": "int"}
    header = [
        "ply",
        f"format {encoding} 1.0",
        "comment written by a test",
        f"element vertex {len(v)}",
        *(f"property {types[vertex.dtype[n].str[1:]]} {n}" for n in vertex.dtype.names),
        f"element face {len(f)}",
        "property list uchar uint vertex_indices",
        "property float quality",
        "end_header",
    ]
    if encoding == "ascii":
        rows = [" ".join(repr(x.item()) for x in row) for row in vertex]
        rows += [
            f"3 {a} {b} {c} {q!r}"
            for (a, b, c), q in zip(f, face["quality"].tolist(), strict=True)
        ]
        body = ("\n".join(rows) + "\n").encode()
    else:
        body = vertex.tobytes() + face.tobytes()
    path = tmp_path / "mesh.ply"
    path.write_bytes(("\n".join(header) + "\n").encode() + body)
    ply = read_triangle_ply(path)
    reference = trimesh.load(path, process=False)
    np.testing.assert_array_equal(ply.vertices, reference.vertices)
    np.testing.assert_array_equal(ply.faces, reference.faces)
    np.testing.assert_array_equal(ply.vertex_properties["label"], vertex["label"])
    np.testing.assert_array_equal(ply.vertex_properties["nx"], vertex["nx"])
    np.testing.assert_array_equal(ply.face_properties["quality"], face["quality"])
    assert set(ply.vertex_properties) == {"nx", "label"}


def test_other_ply_layouts_are_left_to_the_general_reader(tmp_path):
    """Quads, other elements or a short body: not read fast, still read (quads split)."""
    quad = "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
    quad += "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
    quad += "end_header\n0 0 0\n100 0 0\n100 100 0\n0 100 0\n4 0 1 2 3\n"
    (tmp_path / "quad.ply").write_text(quad)
    assert read_triangle_ply(tmp_path / "quad.ply") is None
    assert load_surface(tmp_path / "quad.ply", units="mm").faces.shape == (2, 3)
    short = quad.replace("4 0 1 2 3\n", "").replace("element face 1", "element face 2")
    (tmp_path / "short.ply").write_text(short + "3 0 1 2\n")
    assert read_triangle_ply(tmp_path / "short.ply") is None
    edges = quad.replace("end_header", "element edge 0\nproperty int vertex1\nend_header")
    (tmp_path / "edges.ply").write_text(edges)
    assert read_triangle_ply(tmp_path / "edges.ply") is None


@pytest.mark.parametrize("closed", [True, False])
def test_winding_is_made_consistent_and_outwards_piece_by_piece(tmp_path, closed):
    """Two pieces, a random third of each reversed: each comes back consistent, the closed
    one outwards, reversing the fewer triangles of each piece."""
    rng = np.random.default_rng(7)
    head = phantoms.head(subdivisions=3)
    keep = (
        np.arange(len(head.faces)) if closed else np.flatnonzero(head.face_centroids_mm[:, 2] > 0)
    )
    a = head.faces[keep]
    b = a + len(head.vertices_mm)  # a second copy, moved aside
    vertices = np.vstack([head.vertices_mm, head.vertices_mm + np.array([400.0, 0.0, 0.0])])
    faces = np.vstack([a, b])
    flip = rng.random(len(faces)) < 0.33
    flip[len(a) :] = rng.random(len(b)) < 0.67  # most of the second piece is reversed
    messy = faces.copy()
    messy[flip] = messy[flip, ::-1]
    trimesh.Trimesh(vertices, messy, process=False).export(tmp_path / "messy.ply")
    surface = load_surface(tmp_path / "messy.ply", units="mm")
    edges = surface.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    forward = {tuple(e) for e in edges.tolist()}
    assert len(forward) == len(edges)  # no edge runs the same way twice: one winding
    if closed:
        assert all((e[1], e[0]) in forward for e in edges.tolist())
        np.testing.assert_allclose(surface.signed_volume_mm3, 2 * head.signed_volume_mm3)
    else:  # open pieces keep the winding most of their triangles had
        given = trimesh.Trimesh(vertices, messy, process=False).face_normals
        agree = np.einsum("ij,ij->i", surface.face_normals, given) > 0
        assert agree[: len(a)].mean() == pytest.approx(1 - flip[: len(a)].mean())
        assert agree[len(a) :].mean() == pytest.approx(flip[len(a) :].mean())
