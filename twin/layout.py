"""Emitter layouts on an offset shell over a surface (uniform by area, farthest-point)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin.errors import InputError
from twin.surface import Surface


def farthest_point_indices(points: NDArray[np.float64], count: int) -> NDArray[np.int64]:
    """Indices of ``count`` points spread evenly by greedy farthest-point sampling.

    Deterministic: starts at the point nearest the centroid.
    """
    if not 0 < count <= len(points):
        msg = f"count: expected 1..{len(points)} emitters for this surface, got {count}"
        raise InputError(msg)
    chosen = np.empty(count, dtype=np.int64)
    chosen[0] = int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    nearest = np.linalg.norm(points - points[chosen[0]], axis=1)
    for i in range(1, count):
        chosen[i] = int(np.argmax(nearest))
        np.minimum(nearest, np.linalg.norm(points - points[chosen[i]], axis=1), out=nearest)
    return chosen


def offset_shell_layout(
    surface: Surface, *, count: int, standoff_mm: float, vertices: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``count`` emitters ``standoff_mm`` out along the normals, pointing back at the surface.

    Parameters
    ----------
    surface : Surface
    count : int
    standoff_mm : float, mm
    vertices : (m,) int, optional
        Candidate vertices (default: all). Those whose offset point would lie closer than
        0.9 standoff to the skin, or behind it, are left out.

    Returns
    -------
    positions_mm : (count, 3) float64, mm
    axes : (count, 3) float64, unit vectors (the inward normals)
    """
    idx = np.arange(len(surface.vertices_mm)) if vertices is None else np.asarray(vertices)
    # In folds (beside the nose, under the lip) a point offset along the normal comes closer
    # to other skin than the standoff, or passes behind it: those candidates are dropped.
    offset = surface.vertices_mm[idx] + standoff_mm * surface.vertex_normals[idx]
    distance, nearest = cKDTree(surface.vertices_mm).query(offset)
    in_front = np.einsum(
        "ij,ij->i", offset - surface.vertices_mm[nearest], surface.vertex_normals[nearest]
    )
    idx = idx[(distance >= 0.9 * standoff_mm) & (in_front > 0.0)]
    pick = idx[farthest_point_indices(surface.vertices_mm[idx], count)]
    normals = surface.vertex_normals[pick]
    return surface.vertices_mm[pick] + standoff_mm * normals, -normals
