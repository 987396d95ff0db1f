"""Connectivity of triangle meshes, and the closest points on triangles, in NumPy.

Pieces joined by shared edges, boundary loops and point-to-triangle distances: what the
loaders, the anatomy and the carriers ask of a mesh at every render, in whole-array
operations (a general mesh library would cost half a second to import for them).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
from numpy.typing import NDArray


def edges(
    faces: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """List the edges of each face and find those shared by exactly two faces.

    Parameters
    ----------
    faces : (f, 3) int

    Returns
    -------
    directed : (3f, 2) int64
        The edges of each face in winding order; face ``i`` holds rows ``3i`` to ``3i + 2``.
    pairs : (m, 2) int64
        The pairs of rows that run along the same edge, for edges of exactly two faces.
    shared : (3f,) int64
        How many rows share each row's edge.
    """
    faces = np.asarray(faces, dtype=np.int64)
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    if len(directed) == 0:
        return directed, np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = directed.min(axis=1) * (int(faces.max()) + 1) + directed.max(axis=1)
    order = np.argsort(key, kind="stable")
    start = np.flatnonzero(np.diff(key[order], prepend=-1) != 0)
    counts = np.diff(start, append=len(key))
    two = start[counts == 2]
    shared = np.empty(len(key), dtype=np.int64)
    shared[order] = np.repeat(counts, counts)
    return directed, np.column_stack([order[two], order[two + 1]]), shared


def face_components(faces: NDArray[np.int64]) -> NDArray[np.int64]:
    """Label the pieces of a mesh: faces joined through edges that exactly two faces share.

    Parameters
    ----------
    faces : (f, 3) int

    Returns
    -------
    (f,) int64
        The piece of each face, numbered from 0.
    """
    _, pairs, _ = edges(faces)
    ends = pairs // 3
    n = len(faces)
    graph = scipy.sparse.coo_matrix((np.ones(len(ends)), (ends[:, 0], ends[:, 1])), shape=(n, n))
    return scipy.sparse.csgraph.connected_components(graph, directed=False)[1].astype(np.int64)


def boundary_loops(faces: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """Return the vertices of each boundary loop (edges used by one face), sorted.

    Parameters
    ----------
    faces : (f, 3) int

    Returns
    -------
    list of (b,) int64
        One array of vertex indices per connected run of boundary edges.
    """
    directed, _, shared = edges(faces)
    border = directed[shared == 1]
    if len(border) == 0:
        return []
    used, local = np.unique(border, return_inverse=True)
    local = local.reshape(-1, 2)
    graph = scipy.sparse.coo_matrix(
        (np.ones(len(local)), (local[:, 0], local[:, 1])), shape=(len(used), len(used))
    )
    count, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    return [used[label == i] for i in range(count)]


def closest_points(
    triangles: NDArray[np.float64], points: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Return the point of each triangle closest to each point (Ericson 2005, §5.1.5).

    Parameters
    ----------
    triangles : (n, 3, 3) float64
    points : (n, 3) float64
        One point per triangle.

    Returns
    -------
    (n, 3) float64
    """
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    ab, ac, ap = b - a, c - a, points - a
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    bp = points - b
    d3, d4 = _dot(ab, bp), _dot(ac, bp)
    cp = points - c
    d5, d6 = _dot(ab, cp), _dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    # Inside the face by default, then each Voronoi region of an edge or a vertex.
    denom = va + vb + vc
    safe = np.where(denom != 0.0, denom, 1.0)
    out = a + ab * (vb / safe)[:, None] + ac * (vc / safe)[:, None]
    regions = [
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), lambda: a + ab * _ratio(d1, d1 - d3)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), lambda: a + ac * _ratio(d2, d2 - d6)),
        (
            (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
            lambda: b + (c - b) * _ratio(d4 - d3, (d4 - d3) + (d5 - d6)),
        ),
        ((d1 <= 0) & (d2 <= 0), lambda: a),
        ((d3 >= 0) & (d4 <= d3), lambda: b),
        ((d6 >= 0) & (d5 <= d6), lambda: c),
    ]
    for where, point in regions:
        if where.any():
            out[where] = point()[where]
    return out


def _dot(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.einsum("ij,ij->i", u, v)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """``num / den`` as a column, 0 where ``den`` is 0 (a degenerate edge)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0.0)[:, None]
