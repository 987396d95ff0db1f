"""Shaft culling: shadow rays cleared, exactly, before any is cast.

Most shadow segments on a body reach their LED untouched. A segment leaves its skin point
``p`` along ``d`` towards the LED; it can only meet a triangle whose points rise above the
tangent plane at ``p`` (normal ``n``) at least as steeply as the segment does. Each point's
*horizon* bounds that rise: the largest ``sin(elevation) = n . (x - p) / |x - p|`` of any
point ``x`` of any triangle, over the triangles that may come nearer ``p`` than each radius
of :data:`SHELLS_MM` (a segment meets only triangles nearer its point than its length). A
ray that leaves at least :data:`MIN_ELEVATION` above the horizon of the first shell longer
than it meets nothing and is not cast. Triangles whose plane passes through the point (its
own) do not count: the engine ignores them (:mod:`twin.raycast`).

The horizons depend on the skin and the triangles only, so they are found once per geometry
and serve every emitter layout (:func:`twin.engine.backends._shaft_kernels.horizons`). The
points go a cell at a time (:func:`twin.engine.culling.make_cells`), the shaft of the cell's
rays being the space above the cell: a bounding-volume hierarchy of the triangles
(:class:`Shafts`) is walked once per cell. A box the cell's bound shows behind every point's
plane is skipped whole; a box far from the cell (beyond three cell radii) counts with the
cell's bound, ``height / (distance - cell radius)``, for all its points, and is skipped when
that cannot raise the horizon already found; the triangles near the cell are tested point by
point, ``max(n . (v - p)) / distance(p, box)`` over the corners ``v`` and the triangle's
bounding box. Every bound is on the safe side, and the margin of :data:`MIN_ELEVATION` keeps a
cleared ray a hundredth of its distance clear of any triangle, far above the float32 rounding
of a ray tracer: the matrices are identical with and without shafts (``tests/test_shafts.py``).

On a convex body every horizon is below the tangent plane and only grazing rays are cast; a
nose, an ear, a fold or an eye shield raises the horizons of the points it overlooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Triangles per leaf of the hierarchy.
LEAF_SIZE = 4
#: A ray is cleared only when it leaves its point at least this far (the sine of the angle)
#: above both the point's tangent plane and its horizon.
MIN_ELEVATION = 1e-2
#: The radii (mm) within which each point's horizon is kept: a ray meets only triangles
#: nearer its point than its length, so a short ray to a near LED is judged against the
#: near skin alone.
SHELLS_MM = np.array([8.0, 16.0, 32.0, np.inf])
#: Sectors of azimuth about each cell's normal, each with its own horizon: a nose rising on
#: one side of a point leaves the rays to the other side clear.
SECTORS = 8
#: Points per cell of the horizon search: the work near a cell grows with its points times
#: its area, so smaller cells than the culling's cost less.
POINTS_PER_CELL = 16
#: Horizons are found for points that come back only where the cell tests leave at least
#: this many (point, emitter) pairs per point: below it they would not repay their search
#: (the level-7 head leaves 102, the face under the rigid mask 461, the pelvic pad 41).
MIN_CANDIDATES_PER_POINT = 96.0


@dataclass(frozen=True)
class Shafts:
    """The triangles that can block light, in a bounding-volume hierarchy for horizons.

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
    """

    vertices: NDArray[np.float64]
    normal: NDArray[np.float64]
    offset: NDArray[np.float64]
    node_lo: NDArray[np.float64]
    node_hi: NDArray[np.float64]
    level_start: NDArray[np.int64]


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
    return Shafts(
        vertices=tri,
        normal=normal,
        offset=np.einsum("ij,ij->i", normal, tri[:, 0]),
        node_lo=np.ascontiguousarray(np.concatenate(levels_lo)),
        node_hi=np.ascontiguousarray(np.concatenate(levels_hi)),
        level_start=level_start.astype(np.int64),
    )


def _morton(cells: NDArray[np.int64]) -> NDArray[np.int64]:
    """Interleave the bits of three 10-bit integer coordinates (k, 3) into Morton codes."""
    code = np.zeros(len(cells), dtype=np.int64)
    for bit in range(10):
        for axis in range(3):
            code |= ((cells[:, axis] >> bit) & 1) << (3 * bit + axis)
    return code
