"""Reading skin and occluder meshes from files (OBJ, STL, PLY, GLB/GLTF, OFF via trimesh)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import trimesh
from numpy.typing import NDArray

from twin._validation import MAX_COORDINATE_MM, check_file, shorten
from twin.errors import InputError
from twin.geometry.surface import Surface
from twin.units import MM_PER_UNIT, mm_per_unit

logger = logging.getLogger(__name__)

#: Plausible overall size of a body-part target, mm (a face is about 150 mm wide, a torso 400).
TARGET_SIZE_RANGE_MM = (30.0, 2500.0)


def load_surface(path: str | Path, *, units: str, flip_normals: bool = False) -> Surface:
    """Read a triangle mesh, repair what is safe to repair, and convert it to millimetres.

    A PLY written by ``twin anatomy export`` brings its named regions back.

    Repairs, each logged as a warning naming the file except the first: vertices shared by
    several triangles (STL stores each triangle separately) are welded; triangles of zero
    area or repeating a vertex, and exact duplicate triangles, are dropped; the winding is
    made consistent across each connected piece; and a closed piece wound inside-out (its
    normals pointing into the body) is turned outwards — then ``flip_normals`` reverses
    everything.

    Parameters
    ----------
    path : str or Path
    units : {"mm", "cm", "dm", "m", "inch"}
        Length unit of the file's coordinates: a mesh file carries none, so it must be stated.
    flip_normals : bool, default: False
        Reverse every triangle's winding after the repairs: for open meshes whose normals
        point into the body, and for closed surfaces seen from inside (an integrating
        sphere, a cavity), whose normals then point inwards.

    Raises
    ------
    InputError
        If the file is missing or unreadable, holds no triangles (or none of non-zero area),
        or has NaN or infinite coordinates.
    """
    path = Path(path)
    scale = mm_per_unit(units, name=f"{path}: units")
    if not path.exists():
        msg = f"{path}: mesh file not found"
        raise InputError(msg)
    check_file(path, what="mesh file")
    try:
        mesh = trimesh.load(path, force="mesh", process=False, maintain_order=True)
    except Exception as exc:  # trimesh raises many types for malformed files
        msg = f"{path}: cannot read mesh ({type(exc).__name__}: {shorten(str(exc))})"
        raise InputError(msg) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        msg = f"{path}: expected a triangle mesh, found no triangles"
        raise InputError(msg)
    shape = np.shape(mesh.vertices)
    if len(shape) != 2 or shape[1] != 3:
        msg = f"{path}: expected vertices of three coordinates (x, y, z), found shape {shape}"
        raise InputError(msg)
    if not np.isfinite(mesh.vertices).all():
        msg = f"{path}: vertices contain NaN or infinite coordinates"
        raise InputError(msg)
    largest_mm = float(np.abs(mesh.vertices).max()) * scale
    if largest_mm > MAX_COORDINATE_MM:
        msg = (
            f"{path}: expected coordinates within {MAX_COORDINATE_MM:g} mm of the origin, "
            f"found {largest_mm:g} mm"
        )
        raise InputError(msg)
    names = _ply_region_names(path)
    if names:
        vertex_data = mesh.metadata.get("_ply_raw", {}).get("vertex", {}).get("data", {})
        try:  # a structured array (binary PLY) or a dict of columns (ASCII PLY)
            label = np.asarray(vertex_data["region"], dtype=np.int64).ravel()
        except (KeyError, ValueError, IndexError, TypeError):
            label = np.empty(0, dtype=np.int64)
        if label.shape != (len(mesh.vertices),):
            msg = (
                f"{path}: expected the region property on the vertices, one per vertex, "
                f"found {label.size} values"
            )
            raise InputError(msg)
        mesh.vertex_attributes["region"] = label
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    repairs = []
    vertices = np.asarray(mesh.vertices, dtype=np.float64) * scale
    faces = np.asarray(mesh.faces, dtype=np.int64)
    faces, dropped = _drop_bad_faces(vertices, faces)
    if len(faces) == 0:
        msg = f"{path}: all {dropped} triangles are degenerate (zero area); nothing is left"
        raise InputError(msg)
    if dropped:
        repairs.append(f"dropped {dropped} degenerate or duplicate triangles")
    used, faces = np.unique(faces, return_inverse=True)
    vertices, faces = vertices[used], faces.reshape(-1, 3)
    faces, rewound = _consistent_winding(faces)
    if rewound:
        repairs.append(f"re-wound {rewound} triangles to one consistent winding")
    faces, turned = _outwards(vertices, faces)
    if turned:
        repairs.append(f"turned {turned} closed inside-out piece(s) outwards")
    if flip_normals:
        faces = faces[:, ::-1]
    if repairs:
        logger.warning("%s: repaired: %s", path, "; ".join(repairs))
    regions = {}
    if names:
        label = np.asarray(mesh.vertex_attributes["region"])[used]
        regions = {name: np.flatnonzero(label == i) for i, name in enumerate(names)}
    return Surface(vertices, faces, regions=regions, name=str(path))


def _ply_region_names(path: Path) -> list[str]:
    """Return the region names of a PLY that ``twin anatomy export`` wrote, else none.

    Such a PLY has a ``comment regions:`` line and a ``region`` vertex property.
    """
    if path.suffix.lower() != ".ply":
        return []
    with open(path, "rb") as fh:
        header = fh.read(1 << 16).split(b"end_header", 1)[0].decode("latin-1")
    lines = [line.strip() for line in header.splitlines()]
    if "property int region" not in lines:
        return []
    return next((line.split()[2:] for line in lines if line.startswith("comment regions:")), [])


def _consistent_winding(faces: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
    """One winding across each connected piece, agreeing with most of its triangles.

    Two triangles sharing an edge agree when they run along it in opposite directions. A
    breadth-first walk over the triangles of each piece finds which must be reversed to agree
    with the first; if that is most of the piece, the others are reversed instead. Edges
    shared by more than two triangles (non-manifold) do not link them.

    Returns the faces and how many triangles were reversed.
    """
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    key = np.sort(directed, axis=1)
    _, inverse_nd, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse_nd.ravel()
    shared = np.flatnonzero(counts[inverse] == 2)
    pairs = shared[np.argsort(inverse[shared], kind="stable")].reshape(-1, 2)
    a, b = pairs[:, 0], pairs[:, 1]
    same_way = np.all(directed[a] == directed[b], axis=1)  # disagree: one must be reversed
    graph = scipy.sparse.coo_matrix(
        (np.where(same_way, 2, 1), (a // 3, b // 3)), shape=(len(faces), len(faces))
    ).tocsr()
    graph = graph + graph.T
    n_pieces, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    flip = np.zeros(len(faces), dtype=bool)
    for piece in range(n_pieces):
        members = np.flatnonzero(labels == piece)
        if len(members) == 1:
            continue
        order, parent = scipy.sparse.csgraph.breadth_first_order(
            graph, members[0], directed=False, return_predecessors=True
        )
        link = np.asarray(graph[order[1:], parent[order[1:]]]).ravel() == 2
        for node, disagree in zip(order[1:], link, strict=True):
            flip[node] = flip[parent[node]] ^ disagree
        if flip[members].sum() > 0.5 * len(members):
            flip[members] = ~flip[members]
    out = faces.copy()
    out[flip] = out[flip, ::-1]
    return out, int(flip.sum())


def _drop_bad_faces(
    vertices: NDArray[np.float64], faces: NDArray[np.int64]
) -> tuple[NDArray[np.int64], int]:
    """Faces without zero-area, index-repeating or duplicate triangles, and how many went."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    area2 = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    tiny = (1e-10 * np.ptp(vertices, axis=0).max()) ** 2
    ok = area2 > 2.0 * tiny
    _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
    unique = np.zeros(len(faces), dtype=bool)
    unique[first] = True
    keep = ok & unique
    return faces[keep], int((~keep).sum())


def _outwards(
    vertices: NDArray[np.float64], faces: NDArray[np.int64]
) -> tuple[NDArray[np.int64], int]:
    """Flip every closed connected piece whose signed volume is negative."""
    labels = trimesh.graph.connected_component_labels(
        trimesh.graph.face_adjacency(faces), node_count=len(faces)
    )
    faces = faces.copy()
    turned = 0
    for label in np.unique(labels):
        piece = labels == label
        f = faces[piece]
        edges = np.sort(f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        if not np.all(counts == 2):
            continue  # open: no inside to point away from
        a, b, c = (vertices[f[:, i]] for i in range(3))
        if np.einsum("ij,ij->i", a, np.cross(b, c)).sum() < 0:
            faces[piece] = f[:, ::-1]
            turned += 1
    return faces, turned


def check_target_size(
    surface: Surface,
    *,
    units: str,
    size_range_mm: tuple[float, float] = TARGET_SIZE_RANGE_MM,
    body_part: str = "a body part",
) -> None:
    """Raise if ``surface`` is implausibly small or large, naming the most likely unit.

    Parameters
    ----------
    surface : Surface
        The mesh, converted to mm with ``units``.
    units : str
        The unit the file was said to be in.
    size_range_mm : (float, float), mm
        Plausible overall size (largest extent) of ``body_part``.
    body_part : str
        What the mesh should be, for the message.

    Raises
    ------
    InputError
        Naming the size found, the plausible range and the unit that brings the size closest
        to the middle of the range (on a log scale), when one brings it into the range.
    """
    size = float(surface.extent_mm.max())
    lo, hi = size_range_mm
    if lo <= size <= hi:
        return
    raw = size / MM_PER_UNIT[units]
    middle = np.sqrt(lo * hi)
    likely = sorted(
        (abs(np.log(raw * f / middle)), u)
        for u, f in MM_PER_UNIT.items()
        if lo <= raw * f <= hi and u != units
    )
    hint = f"; are the coordinates in {likely[0][1]}?" if likely else ""
    msg = (
        f"{surface.name}: the mesh is {size:.4g} mm across with units {units!r}, outside the "
        f"plausible {lo:.0f}-{hi:.0f} mm for {body_part}{hint}"
    )
    raise InputError(msg)
