"""Compiled CPU kernel (numba) for the horizons of shaft culling (:mod:`twin.engine.shafts`).

:func:`horizons` walks the hierarchy of :class:`twin.engine.shafts.Shafts` with an explicit
stack, a cell of sample points at a time, and releases the GIL. All geometry is float64, mm.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from twin.engine.shafts import LEAF_SIZE

_STACK = 128  # two entries per level; 64 levels hold 2^64 leaves
#: Point-by-triangle tests a cell may spend (about a millisecond); past them every ray of the
#: cell is cast. A cell whose points face every way would otherwise test every triangle.
_BUDGET = 1 << 18
#: Triangles nearer a cell's centre than this many cell radii are tested point by point.
_NEAR_RADII = 3.0


@numba.njit(inline="always", cache=True)
def _box_distance(lo, hi, j, cx, cy, cz):  # pragma: no cover - compiled
    """Distance from ``(cx, cy, cz)`` to the box of node ``j`` (0 inside)."""
    dx = max(lo[j, 0] - cx, 0.0, cx - hi[j, 0])
    dy = max(lo[j, 1] - cy, 0.0, cy - hi[j, 1])
    dz = max(lo[j, 2] - cz, 0.0, cz - hi[j, 2])
    return math.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(inline="always", cache=True)
def _triangle_box(vertices, t):  # pragma: no cover - compiled
    """Centre and half-extents (mm) of the bounding box of triangle ``t``."""
    lo0 = min(vertices[t, 0, 0], vertices[t, 1, 0], vertices[t, 2, 0])
    lo1 = min(vertices[t, 0, 1], vertices[t, 1, 1], vertices[t, 2, 1])
    lo2 = min(vertices[t, 0, 2], vertices[t, 1, 2], vertices[t, 2, 2])
    hi0 = max(vertices[t, 0, 0], vertices[t, 1, 0], vertices[t, 2, 0])
    hi1 = max(vertices[t, 0, 1], vertices[t, 1, 1], vertices[t, 2, 1])
    hi2 = max(vertices[t, 0, 2], vertices[t, 1, 2], vertices[t, 2, 2])
    h0, h1, h2 = 0.5 * (hi0 - lo0), 0.5 * (hi1 - lo1), 0.5 * (hi2 - lo2)
    return lo0 + h0, lo1 + h1, lo2 + h2, h0, h1, h2


@numba.njit(inline="always", cache=True)
def _outside(mx, my, mz, hx, hy, hz, x, y, z):  # pragma: no cover - compiled
    """Distance from ``(x, y, z)`` to the box of centre ``m`` and half-extents ``h`` (0 inside)."""
    dx = max(abs(x - mx) - hx, 0.0)
    dy = max(abs(y - my) - hy, 0.0)
    dz = max(abs(z - mz) - hz, 0.0)
    return math.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(inline="always", cache=True)
def _raise(horizon, row, shell, ratio, ax, ay, reach):  # pragma: no cover - compiled
    """Raise ``horizon[row, shell:, sectors]`` to ``ratio`` over the azimuths of a sphere.

    The sphere's centre lies at ``(ax, ay)`` in the cell's tangent frame from the point (or
    the cell), and it spans ``reach`` there: every sector when it covers the point.
    """
    count = horizon.shape[2]
    lo, hi = _sectors(count, ax, ay, reach)
    for s in range(shell, horizon.shape[1]):
        for k in range(lo, hi + 1):
            sector = k % count
            horizon[row, s, sector] = max(horizon[row, s, sector], ratio)


@numba.njit(inline="always", cache=True)
def first_shell(shells_mm, distance_mm):  # pragma: no cover - compiled
    """Return the first of the increasing ``shells_mm`` (last: inf) beyond ``distance_mm``."""
    s = 0
    while shells_mm[s] <= distance_mm:
        s += 1
    return s


@numba.njit(inline="always", cache=True)
def in_frame(dx, dy, dz, frame, row):  # pragma: no cover - compiled
    """Return a vector's two coordinates across a normal, in ``frame[row]`` (2, 3)."""
    return (
        dx * frame[row, 0, 0] + dy * frame[row, 0, 1] + dz * frame[row, 0, 2],
        dx * frame[row, 1, 0] + dy * frame[row, 1, 1] + dz * frame[row, 1, 2],
    )


@numba.njit(inline="always", cache=True)
def _sectors(count, ax, ay, reach):  # pragma: no cover - compiled
    """Return the sectors (first, last: may pass ``count``) a sphere spans (:func:`_raise`)."""
    flat = math.hypot(ax, ay)
    if flat <= reach:
        return 0, count - 1
    step = 2.0 * math.pi / count
    centre = math.atan2(ay, ax) + math.pi
    width = math.asin(reach / flat) + 1e-9
    return math.floor((centre - width) / step), math.floor((centre + width) / step)


@numba.njit(inline="always", cache=True)
def _lowest(horizon, shell, ax, ay, reach):  # pragma: no cover - compiled
    """Return the lowest ``horizon[0, shell, sector]`` over the sectors a sphere spans."""
    count = horizon.shape[2]
    lo, hi = _sectors(count, ax, ay, reach)
    low = math.inf
    for k in range(lo, hi + 1):
        low = min(low, horizon[0, shell, k % count])
    return low


@numba.njit(nogil=True, cache=True)
def horizons(
    cells,
    points,
    cell_start,
    cell_count,
    cell_centre,
    cell_radius,
    cell_normal,
    cell_frame,
    cell_cos_cone,
    vertices,
    normal,
    offset,
    node_lo,
    node_hi,
    level_start,
    end_tolerance_mm,
    shells_mm,
    out_horizon,
):  # pragma: no cover - compiled
    """Find the horizon of each point of the listed cells (:mod:`twin.engine.shafts`).

    ``points`` is (k, 6): position (mm) and unit normal, in cell order; ``cell_frame`` (c, 2,
    3) two unit vectors across each cell's normal. Writes to ``out_horizon`` (k, s, a), in
    cell order, for each shell radius of ``shells_mm`` (s,) (increasing) and each of ``a``
    sectors of azimuth about the cell's normal (sector ``i`` from ``2 pi i / a - pi``), an
    upper bound on the sine of the elevation, above each point's tangent
    plane, of every point of every triangle that may come nearer the point than the radius
    (``-inf`` when all lie on or behind the plane; ``inf`` when the cell spent its
    budget). A triangle whose plane passes within ``end_tolerance_mm`` of a point does not
    count for it: the engine ignores it. For a triangle, ``max(n_p . (v - p)) / dist(p,
    box)`` bounds it, with ``v`` its
    corners and ``box`` its bounding box; triangles far from the cell use one bound for all
    its points, ``n . (x - c) + spread |x - c| - lowest`` for ``n_p . (x - p)`` and the
    distance less the cell's radius.
    """
    stack = np.empty(_STACK, np.int64)
    far = np.empty((1, out_horizon.shape[1], out_horizon.shape[2]))
    top_level = level_start.shape[0] - 2
    for c in cells:
        cx, cy, cz = cell_centre[c, 0], cell_centre[c, 1], cell_centre[c, 2]
        nx, ny, nz = cell_normal[c, 0], cell_normal[c, 1], cell_normal[c, 2]
        radius = cell_radius[c]
        near = _NEAR_RADII * radius
        first, last = cell_start[c], cell_start[c] + cell_count[c]
        lowest = math.inf  # lowest n_p . (p - c)
        for j in range(first, last):
            px, py, pz = points[j, 0] - cx, points[j, 1] - cy, points[j, 2] - cz
            lowest = min(lowest, px * points[j, 3] + py * points[j, 4] + pz * points[j, 5])
            out_horizon[j, :, :] = -math.inf
        spread = math.sqrt(max(2.0 - 2.0 * cell_cos_cone[c], 0.0))  # |n_p - n| <= spread
        far[0, :, :] = -math.inf  # far triangles' horizon, for every point of the cell
        work = 0
        # For every point p: n_p . (x - p) = n_p . (x - c) - n_p . (p - c)
        #                                 <= n . (x - c) + spread |x - c| - lowest.
        stack[0], stack[1] = top_level, 0
        size = 2
        while size > 0:
            size -= 2
            level, node = stack[size], stack[size + 1]
            j = level_start[level] + node
            hx = 0.5 * (node_hi[j, 0] - node_lo[j, 0])
            hy = 0.5 * (node_hi[j, 1] - node_lo[j, 1])
            hz = 0.5 * (node_hi[j, 2] - node_lo[j, 2])
            dx = node_lo[j, 0] + hx - cx
            dy = node_lo[j, 1] + hy - cy
            dz = node_lo[j, 2] + hz - cz
            half = math.sqrt(hx * hx + hy * hy + hz * hz)
            lift = dx * nx + dy * ny + dz * nz + abs(nx) * hx + abs(ny) * hy + abs(nz) * hz
            lift += spread * (math.sqrt(dx * dx + dy * dy + dz * dz) + half) - lowest
            if lift <= 0.0:
                continue  # the whole box is behind every point's plane
            gap = _box_distance(node_lo, node_hi, j, cx, cy, cz)
            if gap >= near:  # far: below the far horizon of every shell it may reach?
                s = first_shell(shells_mm, gap - radius)
                ax, ay = in_frame(dx, dy, dz, cell_frame, c)
                if lift <= _lowest(far, s, ax, ay, half + radius) * (gap - radius):
                    continue
            if level > 0:
                below = level_start[level] - level_start[level - 1]
                for child in (2 * node + 1, 2 * node):
                    if child < below:
                        stack[size], stack[size + 1] = level - 1, child
                        size += 2
                continue
            for t in range(LEAF_SIZE * node, min(LEAF_SIZE * (node + 1), vertices.shape[0])):
                top = -math.inf
                for k in range(3):  # the bound first
                    vx = vertices[t, k, 0] - cx
                    vy = vertices[t, k, 1] - cy
                    vz = vertices[t, k, 2] - cz
                    bound = vx * nx + vy * ny + vz * nz
                    bound += spread * math.sqrt(vx * vx + vy * vy + vz * vz) - lowest
                    top = max(top, bound)
                if top <= 0.0:
                    continue
                tx, ty, tz, bx, by, bz = _triangle_box(vertices, t)
                reach = math.sqrt(bx * bx + by * by + bz * bz)  # a sphere around the box
                gap = _outside(tx, ty, tz, bx, by, bz, cx, cy, cz)
                if gap >= near:
                    lower = gap - radius  # no point of the cell is nearer
                    ratio = top / lower if lower > 0.0 else math.inf
                    s = first_shell(shells_mm, lower)
                    ax, ay = in_frame(tx - cx, ty - cy, tz - cz, cell_frame, c)
                    _raise(far, 0, s, ratio, ax, ay, reach + radius)
                    continue
                work += last - first
                if work > _BUDGET:
                    for p in range(first, last):
                        out_horizon[p, :, :] = math.inf
                    size = 0
                    break
                tnx, tny, tnz = normal[t, 0], normal[t, 1], normal[t, 2]
                for p in range(first, last):  # near: each point's plane
                    px, py, pz = points[p, 0], points[p, 1], points[p, 2]
                    if abs(tnx * px + tny * py + tnz * pz - offset[t]) <= end_tolerance_mm:
                        continue  # the engine ignores this triangle for this point
                    height = -math.inf
                    for k in range(3):
                        height = max(
                            height,
                            (vertices[t, k, 0] - px) * points[p, 3]
                            + (vertices[t, k, 1] - py) * points[p, 4]
                            + (vertices[t, k, 2] - pz) * points[p, 5],
                        )
                    if height <= 0.0:
                        continue
                    dist = _outside(tx, ty, tz, bx, by, bz, px, py, pz)
                    ratio = height / dist if dist > 0.0 else math.inf
                    s = first_shell(shells_mm, dist)
                    ax, ay = in_frame(tx - px, ty - py, tz - pz, cell_frame, c)
                    _raise(out_horizon, p, s, ratio, ax, ay, reach)
        for p in range(first, last):
            for s in range(shells_mm.shape[0]):
                for a in range(far.shape[2]):
                    out_horizon[p, s, a] = max(out_horizon[p, s, a], far[0, s, a])
