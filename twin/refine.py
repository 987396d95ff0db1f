"""Adaptive refinement of a triangle mesh to a maximum edge length, following its normals.

Every edge longer than the limit is split at its midpoint, lifted along the mean of its two
end normals by the sagitta of the circular arc those normals describe,
``s = -((n_a - n_b) . (b - a)) / 8``, exact to first order on a sphere; each triangle is then
re-cut according to how many of its edges were split (1, 2 or 3), so the mesh stays
conforming (no T-junctions), keeps its winding, and only long edges are touched. Repeated until
no edge exceeds the limit.

Because a new point depends only on the two end points of its edge and their normals, refining
a cut with the normals of the closed body it came from gives the same points as refining the
closed body and cutting afterwards.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def refine_to_edge(
    vertices_mm: NDArray[np.float64],
    normals: NDArray[np.float64],
    faces: NDArray[np.int64],
    labels: NDArray[np.int64],
    *,
    max_edge_mm: float,
    max_rounds: int = 12,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Split edges until none is longer than ``max_edge_mm``.

    Parameters
    ----------
    vertices_mm : (v, 3) float64, mm
    normals : (v, 3) float64, unit vertex normals (of the smooth surface)
    faces : (f, 3) int
    labels : (v,) int
        A region label per vertex; a midpoint takes the label of its edge's lower-index end.
    max_edge_mm : float, mm
    max_rounds : int
        Each round at most halves the longest edge.

    Returns
    -------
    vertices_mm, normals, faces, labels
        The refined mesh; the first ``v`` vertices are the input vertices, unchanged.
    """
    vertices, normals, faces, labels = vertices_mm, normals, np.asarray(faces), labels
    for _ in range(max_rounds):
        corner = faces[:, [0, 1, 2, 1, 2, 0]].reshape(-1, 3, 2)  # edges (0,1), (1,2), (2,0)
        key = np.sort(corner, axis=2).reshape(-1, 2)
        unique, inverse = np.unique(key, axis=0, return_inverse=True)
        a, b = vertices[unique[:, 0]], vertices[unique[:, 1]]
        long_edge = np.linalg.norm(b - a, axis=1) > max_edge_mm
        if not long_edge.any():
            break
        na, nb = normals[unique[long_edge, 0]], normals[unique[long_edge, 1]]
        mean_n = na + nb
        mean_n /= np.linalg.norm(mean_n, axis=1)[:, None]
        sagitta = -np.einsum("ij,ij->i", na - nb, b[long_edge] - a[long_edge]) / 8.0
        midpoint = 0.5 * (a[long_edge] + b[long_edge]) + sagitta[:, None] * mean_n
        mid_index = np.full(len(unique), -1)
        mid_index[long_edge] = len(vertices) + np.arange(long_edge.sum())
        vertices = np.vstack([vertices, midpoint])
        normals = np.vstack([normals, mean_n])
        labels = np.concatenate([labels, labels[unique[long_edge, 0]]])
        faces = _split_faces(faces, mid_index[inverse.reshape(-1, 3)])
    return vertices, normals, faces, labels


def _split_faces(faces: NDArray[np.int64], mid: NDArray[np.int64]) -> NDArray[np.int64]:
    """Re-cut each face given the midpoint (or -1) on its edges (0,1), (1,2), (2,0)."""
    split = mid >= 0
    count = split.sum(axis=1)
    out = [faces[count == 0]]
    # One split edge: rotate it to (0, 1), then two triangles.
    sel = np.flatnonzero(count == 1)
    if sel.size:
        r = np.argmax(split[sel], axis=1)
        f, m = _rotate(faces[sel], mid[sel], r)
        out.append(np.stack([f[:, 0], m[:, 0], f[:, 2]], 1))
        out.append(np.stack([m[:, 0], f[:, 1], f[:, 2]], 1))
    # Two split edges: rotate the unsplit one to (2, 0), then a corner triangle and a quad.
    sel = np.flatnonzero(count == 2)
    if sel.size:
        r = (np.argmin(split[sel], axis=1) + 1) % 3
        f, m = _rotate(faces[sel], mid[sel], r)
        m01, m12 = m[:, 0], m[:, 1]
        out.append(np.stack([m01, f[:, 1], m12], 1))
        out.append(np.stack([f[:, 0], m01, m12], 1))
        out.append(np.stack([f[:, 0], m12, f[:, 2]], 1))
    # Three split edges: four triangles.
    sel = np.flatnonzero(count == 3)
    if sel.size:
        f, m = faces[sel], mid[sel]
        out.append(np.stack([f[:, 0], m[:, 0], m[:, 2]], 1))
        out.append(np.stack([m[:, 0], f[:, 1], m[:, 1]], 1))
        out.append(np.stack([m[:, 2], m[:, 1], f[:, 2]], 1))
        out.append(np.stack([m[:, 0], m[:, 1], m[:, 2]], 1))
    return np.concatenate(out)


def _rotate(faces: NDArray[np.int64], mid: NDArray[np.int64], shift: NDArray[np.int64]):
    """Rotate each face's corners (and edge midpoints alike) left by ``shift``."""
    idx = (np.arange(3)[None, :] + shift[:, None]) % 3
    rows = np.arange(len(faces))[:, None]
    return faces[rows, idx], mid[rows, idx]
