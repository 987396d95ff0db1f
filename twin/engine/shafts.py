"""Shaft culling: shadow rays cleared in bundles, exactly, before any is cast.

Most shadow segments on a body reach their LED untouched. For one cell of sample points
(:func:`twin.engine.culling.make_cells`) and one emitter, the segments from each point to the
emitter form a bundle; a volume that holds every segment of the bundle is its *shaft*
(Haines & Wallace 1994). Where no triangle can meet the shaft, none of the bundle's rays is
cast. Here the shaft is the ball about the cell's centre ``c`` reaching the emitter ``e``:
every point of every segment lies within ``|e - c|`` of ``c`` (the points of the cell are
nearer than the emitter). What can meet it is settled once per geometry, per cell:

- **The neighbourhood** (:func:`twin.engine.backends._shaft_kernels.cell_neighbourhoods`):
  the largest radius ``near_mm`` about ``c`` within which every triangle lies on or behind
  the tangent plane of each of the cell's points (unless its plane passes through that
  point: the engine ignores such a triangle for segments that start there). A segment that
  leaves its point in front of that plane stays strictly in front of it, so it meets none of
  them. On a convex stretch of skin the neighbourhood reaches across the body; a fold, a
  nose or an ear ends it. The walk over a bounding-volume hierarchy of the triangles
  (:class:`Shafts`) skips whole boxes that a bound shows behind every plane, and tests the
  triangles near the cell point by point.

A bundle is clear when its emitter lies in the cell's neighbourhood: ``|e - c|`` less than
``near_mm`` by :data:`MARGIN` of the scene's extent. Its rays are not cast when they leave
their point at least :data:`MIN_ELEVATION` (the sine of the angle) above its tangent plane;
grazing rays are cast as before. The margins sit far above the float32 rounding of a ray
tracer's triangles, so a ray cleared here is one the tracer would find free: matrices are
identical with and without shafts (``tests/test_shafts.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Triangles per leaf of the hierarchy.
LEAF_SIZE = 4
#: A bundle's ray is cleared only when it leaves its point at least this far (the sine of
#: the angle) above the point's tangent plane.
MIN_ELEVATION = 1e-2
#: Shaft tests keep this fraction of the scene's extent (mm) clear of every boundary.
MARGIN = 2.0**-16


@dataclass(frozen=True)
class Shafts:
    """The triangles that can block light, in a bounding-volume hierarchy for neighbourhoods.

    Triangles are sorted along a Morton curve and grouped :data:`LEAF_SIZE` to a leaf; each
    level above joins pairs of nodes of the level below.

    Attributes
    ----------
    vertices : (f, 3, 3) float64, mm
        Triangles in hierarchy order.
    normal : (f, 3) float64
        Unit normal of each triangle (zero for a degenerate one).
    offset : (f,) float64, mm
        ``normal . vertex`` of each triangle's plane.
    node_lo, node_hi : (m, 3) float64, mm
        Bounding box of each node, levels one after another from the leaves up.
    level_start : (levels + 1,) int64
        First node of each level; the last level holds the root.
    extent_mm : float, mm
        The largest coordinate plus the diagonal of the bounding box: farther than any two
        points of the scene are apart.
    margin_mm : float, mm
        :data:`MARGIN` of ``extent_mm``.
    """

    vertices: NDArray[np.float64]
    normal: NDArray[np.float64]
    offset: NDArray[np.float64]
    node_lo: NDArray[np.float64]
    node_hi: NDArray[np.float64]
    level_start: NDArray[np.int64]
    extent_mm: float
    margin_mm: float


def build_shafts(triangles_mm: NDArray[np.float64]) -> Shafts:
    """Build the hierarchy over every triangle that can block light.

    Parameters
    ----------
    triangles_mm : (f, 3, 3) float64, mm
        At least one triangle.

    Returns
    -------
    Shafts
    """
    tri = np.asarray(triangles_mm, dtype=np.float64).reshape(-1, 3, 3)
    centroid = tri.mean(axis=1)
    lo, hi = tri.min(axis=(0, 1)), tri.max(axis=(0, 1))
    cells = np.floor((centroid - lo) / np.maximum(hi - lo, 1e-300) * 1023.0).astype(np.int64)
    order = np.argsort(_morton(cells), kind="stable")
    tri = np.ascontiguousarray(tri[order])
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(cross, axis=1)
    normal = cross / np.where(length > 0.0, length, 1.0)[:, None]
    starts = np.arange(0, len(tri), LEAF_SIZE)
    levels_lo = [np.minimum.reduceat(tri.min(axis=1), starts)]
    levels_hi = [np.maximum.reduceat(tri.max(axis=1), starts)]
    while len(levels_lo[-1]) > 1:
        pairs = np.arange(0, len(levels_lo[-1]), 2)
        levels_lo.append(np.minimum.reduceat(levels_lo[-1], pairs))
        levels_hi.append(np.maximum.reduceat(levels_hi[-1], pairs))
    level_start = np.concatenate([[0], np.cumsum([len(x) for x in levels_lo])])
    extent = float(np.abs(tri).max()) + float(np.linalg.norm(hi - lo))
    return Shafts(
        vertices=tri,
        normal=normal,
        offset=np.einsum("ij,ij->i", normal, tri[:, 0]),
        node_lo=np.ascontiguousarray(np.concatenate(levels_lo)),
        node_hi=np.ascontiguousarray(np.concatenate(levels_hi)),
        level_start=level_start.astype(np.int64),
        extent_mm=extent,
        margin_mm=MARGIN * extent,
    )


def _morton(cells: NDArray[np.int64]) -> NDArray[np.int64]:
    """Interleave the bits of three 10-bit integer coordinates (k, 3) into Morton codes."""
    code = np.zeros(len(cells), dtype=np.int64)
    for bit in range(10):
        for axis in range(3):
            code |= ((cells[:, axis] >> bit) & 1) << (3 * bit + axis)
    return code
