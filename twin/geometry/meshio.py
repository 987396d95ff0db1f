"""Reading skin and occluder meshes from files (OBJ, STL, PLY, GLB/GLTF, OFF via trimesh)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
from numpy.typing import NDArray

from twin._validation import MAX_COORDINATE_MM, check_file, shorten
from twin.errors import InputError
from twin.geometry.ply import read_triangle_ply
from twin.geometry.surface import Surface
from twin.geometry.topology import edges
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
    vertices, faces, vertex_properties = _read(path)
    if len(faces) == 0:
        msg = f"{path}: expected a triangle mesh, found no triangles"
        raise InputError(msg)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        msg = (
            f"{path}: expected vertices of three coordinates (x, y, z), "
            f"found shape {vertices.shape}"
        )
        raise InputError(msg)
    if not np.isfinite(vertices).all():
        msg = f"{path}: vertices contain NaN or infinite coordinates"
        raise InputError(msg)
    if faces.min() < 0 or faces.max() >= len(vertices):
        msg = (
            f"{path}: expected vertex indices 0 to {len(vertices) - 1} in the faces, found "
            f"{faces.min()} to {faces.max()}"
        )
        raise InputError(msg)
    largest_mm = float(np.abs(vertices).max()) * scale
    if largest_mm > MAX_COORDINATE_MM:
        msg = (
            f"{path}: expected coordinates within {MAX_COORDINATE_MM:g} mm of the origin, "
            f"found {largest_mm:g} mm"
        )
        raise InputError(msg)
    names = _ply_region_names(path)
    label = np.empty(0, dtype=np.int64)
    if names:
        label = np.asarray(vertex_properties.get("region", label), dtype=np.int64).ravel()
        if label.shape != (len(vertices),):
            msg = (
                f"{path}: expected the region property on the vertices, one per vertex, "
                f"found {label.size} values"
            )
            raise InputError(msg)
    first, weld = _weld(vertices)
    vertices, faces = vertices[first], weld[faces]
    if names:
        label = label[first]
    repairs = []
    vertices = vertices * scale
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
        label = label[used]
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


def _read(path: Path) -> tuple[NDArray[np.float64], NDArray[np.int64], dict[str, NDArray]]:
    """Vertices, faces and vertex properties of a mesh file, in the file's unit.

    A triangle PLY of the common layout is read by :mod:`twin.geometry.ply`; anything else
    by trimesh.
    """
    if path.suffix.lower() == ".ply":
        ply = read_triangle_ply(path)
        if ply is not None:
            return ply.vertices, ply.faces, ply.vertex_properties
    import trimesh  # the general reader, for every other format

    try:
        mesh = trimesh.load(path, force="mesh", process=False, maintain_order=True)
    except Exception as exc:  # trimesh raises many types for malformed files
        msg = f"{path}: cannot read mesh ({type(exc).__name__}: {shorten(str(exc))})"
        raise InputError(msg) from None
    if not isinstance(mesh, trimesh.Trimesh):
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), {}
    vertex_data = mesh.metadata.get("_ply_raw", {}).get("vertex", {}).get("data", {})
    props = {}
    try:  # a structured array (binary PLY) or a dict of columns (ASCII PLY)
        props["region"] = np.asarray(vertex_data["region"]).ravel()
    except (KeyError, ValueError, IndexError, TypeError):
        pass
    return (
        np.asarray(mesh.vertices, dtype=np.float64),
        np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3),
        props,
    )


def _weld(vertices: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Merge vertices at the same position (to 1e-8 of the file's unit).

    Returns the index of the first vertex of each merged group, in order of first
    appearance, and each vertex's new index.
    """
    key = np.round(vertices * 1e8)
    order = np.lexsort(key.T[::-1])
    new_group = np.ones(len(key), dtype=bool)
    new_group[1:] = np.any(key[order[1:]] != key[order[:-1]], axis=1)
    group = np.cumsum(new_group) - 1
    first = np.full(group[-1] + 1, len(key), dtype=np.int64)
    np.minimum.at(first, group, order)
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    weld = np.empty(len(key), dtype=np.int64)
    weld[order] = rank[group]
    return np.sort(first), weld


def _consistent_winding(faces: NDArray[np.int64]) -> tuple[NDArray[np.int64], int]:
    """One winding across each connected piece, agreeing with most of its triangles.

    Two triangles sharing an edge agree when they run along it in opposite directions.
    Each triangle is two nodes, as wound and reversed; an edge links the states that agree.
    Within a piece that can be wound consistently the two states of each triangle fall in
    different components, and the one holding the first triangle as wound says which to
    reverse; if that is most of the piece, the others are reversed instead. Edges shared by
    more than two triangles (non-manifold) do not link them; a piece that cannot be wound
    consistently (a Moebius strip) is left as it is.

    Returns the faces and how many triangles were reversed.
    """
    f = len(faces)
    directed, pairs, _ = edges(faces)
    a, b = pairs[:, 0] // 3, pairs[:, 1] // 3
    same_way = np.all(directed[pairs[:, 0]] == directed[pairs[:, 1]], axis=1)  # must reverse
    rows = np.concatenate([a, a + f])
    cols = np.concatenate([np.where(same_way, b + f, b), np.where(same_way, b, b + f)])
    graph = scipy.sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(2 * f, 2 * f))
    _, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    piece = np.minimum(label[:f], label[f:])
    orientable = label[:f] != label[f:]
    _, first = np.unique(piece, return_index=True)
    root = np.empty(label.max() + 1, dtype=label.dtype)
    root[piece[first]] = label[first]
    flip = orientable & (label[:f] != root[piece])
    size = np.bincount(piece, minlength=len(root))
    flipped = np.bincount(piece, weights=flip, minlength=len(root))
    flip ^= orientable & (flipped[piece] > 0.5 * size[piece])
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
    corners = np.sort(faces, axis=1)
    order = np.lexsort(corners.T[::-1])
    unique = np.ones(len(faces), dtype=bool)
    unique[order[1:]] = np.any(corners[order[1:]] != corners[order[:-1]], axis=1)
    keep = ok & unique
    return faces[keep], int((~keep).sum())


def _outwards(
    vertices: NDArray[np.float64], faces: NDArray[np.int64]
) -> tuple[NDArray[np.int64], int]:
    """Flip every closed connected piece whose signed volume is negative.

    A piece is closed when each of its edges is shared by exactly two triangles.
    """
    _, pairs, shared = edges(faces)
    closed_face = np.all(shared.reshape(-1, 3) == 2, axis=1)
    ends = pairs // 3
    graph = scipy.sparse.coo_matrix(
        (np.ones(len(ends)), (ends[:, 0], ends[:, 1])), shape=(len(faces), len(faces))
    )
    n_pieces, piece = scipy.sparse.csgraph.connected_components(graph, directed=False)
    open_faces = np.bincount(piece, weights=~closed_face, minlength=n_pieces)
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    volume = np.bincount(
        piece, weights=np.einsum("ij,ij->i", a, np.cross(b, c)), minlength=n_pieces
    )
    turn = (open_faces == 0) & (volume < 0)
    out = faces.copy()
    out[turn[piece]] = out[turn[piece], ::-1]
    return out, int(turn.sum())


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
