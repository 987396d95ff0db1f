"""Writing surfaces to mesh files.

PLY with point and face data, VTK XML unstructured grids (``.vtu``, for ParaView) with point,
cell and field data, and every format ``twin anatomy export`` offers; a seeded population of a
built-in anatomy as files.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

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


#: VTK XML type names of the NumPy types a ``.vtu`` file holds (bool is written as UInt8).
_VTK_TYPES = {"f8": "Float64", "f4": "Float32", "i8": "Int64", "i4": "Int32", "u1": "UInt8"}
#: VTK's cell type of a triangle.
_VTK_TRIANGLE = 5


def _vtk_array(name: str, values: np.ndarray) -> str:
    """One ``DataArray`` element: raw little-endian values, base64 after a UInt64 byte count."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    code = f"{arr.dtype.kind}{arr.dtype.itemsize}"
    if code not in _VTK_TYPES:
        arr = arr.astype(np.int64 if arr.dtype.kind in "iu" else np.float64)
        code = f"{arr.dtype.kind}{arr.dtype.itemsize}"
    raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    blob = base64.b64encode(np.uint64(len(raw)).tobytes() + raw).decode()
    components = 1 if arr.ndim == 1 else arr.shape[1]
    return (
        f'<DataArray type="{_VTK_TYPES[code]}" Name={quoteattr(name)} '
        f'NumberOfComponents="{components}" format="binary">{blob}</DataArray>'
    )


def _vtk_strings(name: str, values: Sequence[str]) -> str:
    """Return a ``String`` array of field data: each string's UTF-8 bytes and a 0, as digits."""
    codes = b"".join(v.encode() + b"\0" for v in values)
    return (
        f'<Array type="String" Name={quoteattr(name)} NumberOfTuples="{len(values)}" '
        f'format="ascii">{" ".join(str(c) for c in codes)}</Array>'
    )


def vtu_bytes(
    vertices_mm: np.ndarray,
    faces: np.ndarray,
    *,
    point_data: Mapping[str, np.ndarray],
    cell_data: Mapping[str, np.ndarray],
    field_strings: Mapping[str, Sequence[str]] | None = None,
    comment: str = "",
) -> bytes:
    """Return a VTK XML unstructured grid (``.vtu``) of triangles with point, cell, field data.

    Values keep their precision: float64 as ``Float64``, int64 as ``Int64``, int32 as
    ``Int32``, bool as ``UInt8`` (base64-encoded binary, little-endian, UInt64 headers).
    ParaView, VTK and PyVista (``pyvista.read``) read it.

    Parameters
    ----------
    vertices_mm : (v, 3) float64, mm
    faces : (f, 3) int
    point_data : mapping of str to (v,) or (v, c) array
    cell_data : mapping of str to (f,) or (f, c) array
    field_strings : mapping of str to sequence of str, optional
        Lists of strings for the whole grid (VTK ``String`` field data: region names, units).
    comment : str
        Written as an XML comment at the top.

    Raises
    ------
    InputError
        If a data array does not hold one value per point (per cell).
    """
    faces = np.asarray(faces, dtype=np.int64)
    n_points, n_cells = len(vertices_mm), len(faces)

    def block(tag: str, data: Mapping[str, np.ndarray], size: int) -> list[str]:
        for name, values in data.items():
            if len(values) != size:
                msg = (
                    f"{tag} {name!r}: expected {size} values, one per {tag[:-4].lower()}, "
                    f"got {len(values)}"
                )
                raise InputError(msg)
        return [f"<{tag}>", *(_vtk_array(n, v) for n, v in data.items()), f"</{tag}>"]

    lines = ['<?xml version="1.0"?>']
    if comment:
        lines.append(f"<!-- {escape(comment.replace('--', '-'))} -->")
    lines += [
        '<VTKFile type="UnstructuredGrid" version="1.0" byte_order="LittleEndian" '
        'header_type="UInt64">',
        "<UnstructuredGrid>",
    ]
    if field_strings:
        lines += ["<FieldData>", *(_vtk_strings(n, v) for n, v in field_strings.items())]
        lines.append("</FieldData>")
    lines.append(f'<Piece NumberOfPoints="{n_points}" NumberOfCells="{n_cells}">')
    lines += block("PointData", point_data, n_points)
    lines += block("CellData", cell_data, n_cells)
    points = np.asarray(vertices_mm, dtype=np.float64)
    lines += ["<Points>", _vtk_array("Points", points), "</Points>", "<Cells>"]
    lines.append(_vtk_array("connectivity", faces.ravel()))
    lines.append(_vtk_array("offsets", 3 * np.arange(1, n_cells + 1, dtype=np.int64)))
    lines.append(_vtk_array("types", np.full(n_cells, _VTK_TRIANGLE, dtype=np.uint8)))
    lines += ["</Cells>", "</Piece>", "</UnstructuredGrid>", "</VTKFile>"]
    return ("\n".join(lines) + "\n").encode()


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
    else:
        import trimesh  # the writers of the other formats

        mesh = trimesh.Trimesh(surface.vertices_mm, surface.faces, process=False)
        if suffix == "gltf":  # one self-contained file: the buffer embedded as a data URI
            files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(mesh), embed_buffers=True)
            data = files["model.gltf"]
        else:
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
