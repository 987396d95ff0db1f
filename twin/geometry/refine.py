"""Adaptive refinement of a triangle mesh to a maximum edge length, following its normals.

Every edge longer than the limit is split at its midpoint, lifted along the mean of its two
end normals by the sagitta of the circular arc those normals describe,
``s = -((n_a - n_b) . (b - a)) / 8``, exact to first order on a sphere; each triangle is then
re-cut according to how many of its edges were split (1, 2 or 3), so the mesh stays
conforming (no T-junctions), keeps its winding, and only long edges are touched. Repeated until
no edge exceeds the limit.

Because a new point depends only on the two end points of its edge and their normals, refining
a cut with the normals of the closed body it came from gives the same points as refining the
closed body and cutting afterwards. A refinement is planned once (:func:`plan_refinement`) and
replayed (:meth:`Refinement.apply`) on every shape variant, so all variants share one topology.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Refinement:
    """A recorded refinement: the edges each round split and the triangles it ended with.

    Replaying it on another shape with the same vertex numbering (a body variant) gives the
    same topology, so vertex-indexed regions carry over.

    Attributes
    ----------
    splits : tuple of (k, 2) int64 arrays
        Per round, the end points of each split edge (lower index first); the midpoints are
        numbered after the vertices that exist before the round, in this order.
    faces : (f, 3) int64
        The refined triangles.
    """

    splits: tuple[NDArray[np.int64], ...]
    faces: NDArray[np.int64]

    def apply(
        self, vertices_mm: NDArray[np.float64], normals: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Refined vertices and normals of a shape with the planned vertex numbering.

        Parameters
        ----------
        vertices_mm : (v, 3) float64, mm
        normals : (v, 3) float64, unit vertex normals of the smooth surface

        Returns
        -------
        vertices_mm, normals
            (v + new, 3) each; the first ``v`` rows are the inputs, unchanged.
        """
        vertices, normals = vertices_mm, normals
        for edges in self.splits:
            a, b = vertices[edges[:, 0]], vertices[edges[:, 1]]
            na, nb = normals[edges[:, 0]], normals[edges[:, 1]]
            mean_n = na + nb
            mean_n /= np.linalg.norm(mean_n, axis=1)[:, None]
            sagitta = -np.einsum("ij,ij->i", na - nb, b - a) / 8.0
            vertices = np.vstack([vertices, 0.5 * (a + b) + sagitta[:, None] * mean_n])
            normals = np.vstack([normals, mean_n])
        return vertices, normals

    def labels(self, labels: NDArray[np.int64]) -> NDArray[np.int64]:
        """Per-vertex labels of the refined mesh: a midpoint takes its edge's lower end's."""
        for edges in self.splits:
            labels = np.concatenate([labels, labels[edges[:, 0]]])
        return labels


def plan_refinement(
    vertices_mm: NDArray[np.float64],
    normals: NDArray[np.float64],
    faces: NDArray[np.int64],
    *,
    max_edge_mm: float,
    max_rounds: int = 12,
) -> Refinement:
    """Plan the edge splits that leave no edge longer than ``max_edge_mm``.

    Parameters
    ----------
    vertices_mm : (v, 3) float64, mm
    normals : (v, 3) float64, unit vertex normals (of the smooth surface)
    faces : (f, 3) int
    max_edge_mm : float, mm
    max_rounds : int
        Each round at most halves the longest edge.

    Returns
    -------
    Refinement
        ``apply(vertices_mm, normals)`` gives the refined points.
    """
    vertices, faces, splits = vertices_mm, np.asarray(faces), []
    for _ in range(max_rounds):
        corner = faces[:, [0, 1, 2, 1, 2, 0]].reshape(-1, 3, 2)  # edges (0,1), (1,2), (2,0)
        low, high = corner.min(axis=2).ravel(), corner.max(axis=2).ravel()
        # One integer per edge, ordered as its (low, high) pair: np.unique on it sorts the
        # edges as np.unique(..., axis=0) would, without sorting rows.
        code, inverse = np.unique(low * len(vertices) + high, return_inverse=True)
        unique = np.column_stack([code // len(vertices), code % len(vertices)])
        long_edge = (
            np.linalg.norm(vertices[unique[:, 1]] - vertices[unique[:, 0]], axis=1) > max_edge_mm
        )
        if not long_edge.any():
            break
        step = Refinement((unique[long_edge],), faces)
        vertices, normals = step.apply(vertices, normals)
        mid_index = np.full(len(unique), -1)
        mid_index[long_edge] = len(vertices) - long_edge.sum() + np.arange(long_edge.sum())
        faces = _split_faces(faces, mid_index[inverse.reshape(-1, 3)])
        splits.append(unique[long_edge])
    return Refinement(tuple(splits), faces)


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
