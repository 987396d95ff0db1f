"""Writing surfaces to mesh files.

PLY with point and face data, and every format ``twin anatomy export`` offers; a seeded
population of a built-in anatomy as files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import trimesh

from twin.errors import InputError
from twin.files import write_atomic
from twin.geometry.surface import Surface


def ply_bytes(
    surface: Surface,
    *,
    vertex_data: dict[str, np.ndarray],
    face_data: dict[str, np.ndarray],
    comments: list[str],
) -> bytes:
    """Binary little-endian PLY of ``surface`` (mm) with extra per-vertex and per-face data.

    Float data is written as ``float``, integer data as ``int``.
    """

    def fields(data: dict[str, np.ndarray]) -> list[tuple[str, str]]:
        return [
            (k, "<i4" if np.issubdtype(v.dtype, np.integer) else "<f4") for k, v in data.items()
        ]

    vertex_fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), *fields(vertex_data)]
    vertices = np.empty(len(surface.vertices_mm), dtype=vertex_fields)
    vertices["x"], vertices["y"], vertices["z"] = surface.vertices_mm.T
    face_extra = fields(face_data)
    face_fields = [("n", "u1"), ("v", "<i4", (3,)), *face_extra]
    faces = np.empty(len(surface.faces), dtype=face_fields)
    faces["n"] = 3
    faces["v"] = surface.faces
    for table, data in ((vertices, vertex_data), (faces, face_data)):
        for k, v in data.items():
            table[k] = v
    ply_type = {"<f4": "float", "<i4": "int"}
    lines = ["ply", "format binary_little_endian 1.0", *(f"comment {c}" for c in comments)]
    lines.append(f"element vertex {len(vertices)}")
    lines += [f"property {ply_type[t]} {name}" for name, t in vertex_fields]
    lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    lines += [f"property {ply_type[t]} {name}" for name, t in face_extra]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode() + vertices.tobytes() + faces.tobytes()


#: Mesh formats ``twin anatomy export`` writes (by file suffix).
EXPORT_FORMATS = ("ply", "obj", "stl", "off", "glb", "gltf")


def mesh_format(suffix: str, *, name: str) -> str:
    """Return the export format a file suffix names (``".PLY"`` -> ``"ply"``).

    Raises
    ------
    InputError
        Naming ``name`` (where the suffix came from) unless twin writes that format.
    """
    fmt = suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        msg = f"{name}: unknown mesh format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}"
        raise InputError(msg)
    return fmt


def export_surface(surface: Surface, path: Path) -> None:
    """Write ``surface`` (mm) in the format its suffix names (see ``EXPORT_FORMATS``).

    PLY files also carry a per-vertex ``region`` label: the index of the vertex's region in
    the names listed by the ``comment regions:`` header line, -1 for none. Written under a
    temporary name, then renamed.
    """
    suffix = mesh_format(path.suffix, name=f"path {path}")
    if suffix == "ply":
        label = np.full(len(surface.vertices_mm), -1, dtype=np.int32)
        for i, idx in enumerate(surface.regions.values()):
            label[idx] = i
        data = ply_bytes(
            surface,
            vertex_data={"region": label},
            face_data={},
            comments=["lengths in mm", "regions: " + " ".join(surface.regions)],
        )
    elif suffix == "gltf":  # one self-contained file: the buffer embedded as a data URI
        mesh = trimesh.Trimesh(surface.vertices_mm, surface.faces, process=False)
        files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(mesh), embed_buffers=True)
        data = files["model.gltf"]
    else:
        mesh = trimesh.Trimesh(surface.vertices_mm, surface.faces, process=False)
        blob = trimesh.exchange.export.export_mesh(mesh, file_obj=None, file_type=suffix)
        data = blob.encode() if isinstance(blob, str) else blob
    write_atomic({path: data}, name="path")


def export_population(
    size: int,
    *,
    seed: int,
    age_years: tuple[float, float],
    name: str,
    max_edge_mm: float | None,
    suffix: str,
    out_dir: Path,
) -> list[Path]:
    """Write one built-in anatomy per member of a seeded population, and ``population.csv``.

    The meshes are ``p00.<suffix>``, ``p01.<suffix>`` ... (mm, same vertices and regions for
    every member); ``population.csv`` has one row per member: file, every
    :class:`~twin.geometry.variants.Variant` parameter, body height and the anatomy's extent (mm).
    """
    from twin.geometry import anatomy
    from twin.geometry.variants import Variant, population

    suffix = mesh_format(suffix, name="suffix")
    members = population(size, seed=seed, age_years=age_years)
    parameters = [f.name for f in dataclasses.fields(Variant)]
    header = ["file", *parameters, "height_mm", "extent_x_mm", "extent_y_mm", "extent_z_mm"]
    rows = [",".join(header)]
    paths = []
    for i, variant in enumerate(members):
        surface = anatomy.builtin(name, max_edge_mm=max_edge_mm, variant=variant)
        path = out_dir / f"p{i:02d}.{suffix}"
        export_surface(surface, path)
        paths.append(path)
        height = anatomy.body(variant).extent_mm[1]
        values = [getattr(variant, p) for p in parameters] + [height, *surface.extent_mm]
        rows.append(",".join([path.name, *(f"{v:.6g}" for v in values)]))
    table = out_dir / "population.csv"
    write_atomic({table: "\n".join(rows) + "\n"}, name="out_dir")
    return [*paths, table]
