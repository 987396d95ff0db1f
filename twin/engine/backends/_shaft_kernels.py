"""Compiled CPU kernel (numba) for the neighbourhoods of shaft culling (:mod:`twin.engine.shafts`).

:func:`cell_neighbourhoods` walks the hierarchy of :class:`twin.engine.shafts.Shafts` with an
explicit stack and releases the GIL. All geometry is float64, in mm.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from twin.engine.shafts import LEAF_SIZE

_STACK = 128  # two entries per level; 64 levels hold 2^64 leaves
#: Point-by-triangle tests a cell may spend; past them its neighbourhood ends where the
#: walk stands (about a millisecond: a cell whose points face every way would test them all).
_BUDGET = 1 << 18


@numba.njit(inline="always", cache=True)
def _box_distance(lo, hi, j, cx, cy, cz):  # pragma: no cover - compiled
    """Distance from ``(cx, cy, cz)`` to the box of node ``j`` (0 inside)."""
    dx = max(lo[j, 0] - cx, 0.0, cx - hi[j, 0])
    dy = max(lo[j, 1] - cy, 0.0, cy - hi[j, 1])
    dz = max(lo[j, 2] - cz, 0.0, cz - hi[j, 2])
    return math.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(inline="always", cache=True)
def _triangle_box_distance(vertices, t, cx, cy, cz):  # pragma: no cover - compiled
    """Distance from ``(cx, cy, cz)`` to the bounding box of triangle ``t`` (0 inside)."""
    d2 = 0.0
    for a, x in enumerate((cx, cy, cz)):
        lo = min(vertices[t, 0, a], vertices[t, 1, a], vertices[t, 2, a])
        hi = max(vertices[t, 0, a], vertices[t, 1, a], vertices[t, 2, a])
        gap = max(lo - x, 0.0, x - hi)
        d2 += gap * gap
    return math.sqrt(d2)


@numba.njit(nogil=True, cache=True)
def cell_neighbourhoods(
    cells,
    points,
    cell_start,
    cell_count,
    cell_centre,
    cell_radius,
    cell_normal,
    cell_cos_cone,
    vertices,
    normal,
    offset,
    node_lo,
    node_hi,
    level_start,
    reach_mm,
    end_tolerance_mm,
    out_near,
):  # pragma: no cover - compiled
    """Find each listed cell's neighbourhood radius (:mod:`twin.engine.shafts`).

    ``points`` is (k, 6): position (mm) and unit normal, in cell order. Writes to
    ``out_near`` the distance from the cell's centre to the bounding box of the nearest
    triangle that is not behind the tangent plane of every point of the cell (a triangle
    whose plane passes within ``end_tolerance_mm`` of a point does not count for it), or
    ``reach_mm`` when there is none: every triangle whose box is nearer lies behind every
    point's plane.
    """
    stack = np.empty(_STACK, np.int64)
    top_level = level_start.shape[0] - 2
    for c in cells:
        cx, cy, cz = cell_centre[c, 0], cell_centre[c, 1], cell_centre[c, 2]
        nx, ny, nz = cell_normal[c, 0], cell_normal[c, 1], cell_normal[c, 2]
        first, last = cell_start[c], cell_start[c] + cell_count[c]
        lowest = math.inf  # lowest n_p . (p - c)
        for j in range(first, last):
            px, py, pz = points[j, 0] - cx, points[j, 1] - cy, points[j, 2] - cz
            lowest = min(lowest, px * points[j, 3] + py * points[j, 4] + pz * points[j, 5])
        spread = math.sqrt(max(2.0 - 2.0 * cell_cos_cone[c], 0.0))  # |n_p - n| <= spread
        near = reach_mm
        work = 0
        # Depth-first over (level, node) pairs, pruned by the nearest failure found so far.
        # For every point p: n_p . (x - p) = n_p . (x - c) - n_p . (p - c)
        #                                 <= n . (x - c) + spread |x - c| - lowest.
        stack[0], stack[1] = top_level, 0
        size = 2
        while size > 0:
            size -= 2
            level, node = stack[size], stack[size + 1]
            j = level_start[level] + node
            if _box_distance(node_lo, node_hi, j, cx, cy, cz) >= near:
                continue
            hx = 0.5 * (node_hi[j, 0] - node_lo[j, 0])
            hy = 0.5 * (node_hi[j, 1] - node_lo[j, 1])
            hz = 0.5 * (node_hi[j, 2] - node_lo[j, 2])
            mx, my, mz = node_lo[j, 0] + hx, node_lo[j, 1] + hy, node_lo[j, 2] + hz
            dx, dy, dz = mx - cx, my - cy, mz - cz
            half = math.sqrt(hx * hx + hy * hy + hz * hz)
            lift = dx * nx + dy * ny + dz * nz + abs(nx) * hx + abs(ny) * hy + abs(nz) * hz
            if lift + spread * (math.sqrt(dx * dx + dy * dy + dz * dz) + half) - lowest <= 0.0:
                continue  # the whole box is behind every point's plane
            if half <= 2.0 * cell_radius[c]:  # small and close: each point's plane exactly
                behind = True
                for p in range(first, last):
                    ax, ay, az = points[p, 3], points[p, 4], points[p, 5]
                    top = (
                        (mx - points[p, 0]) * ax + (my - points[p, 1]) * ay
                        + (mz - points[p, 2]) * az + abs(ax) * hx + abs(ay) * hy + abs(az) * hz
                    )  # fmt: skip
                    if top > 0.0:
                        behind = False
                        break
                if behind:
                    continue
            if level > 0:
                below = level_start[level] - level_start[level - 1]
                for child in (2 * node + 1, 2 * node):
                    if child < below:
                        stack[size], stack[size + 1] = level - 1, child
                        size += 2
                continue
            for t in range(LEAF_SIZE * node, min(LEAF_SIZE * (node + 1), vertices.shape[0])):
                lower = _triangle_box_distance(vertices, t, cx, cy, cz)
                if lower >= near:
                    continue
                behind = True
                for k in range(3):  # the bound first
                    vx = vertices[t, k, 0] - cx
                    vy = vertices[t, k, 1] - cy
                    vz = vertices[t, k, 2] - cz
                    lift = vx * nx + vy * ny + vz * nz
                    if lift + spread * math.sqrt(vx * vx + vy * vy + vz * vz) - lowest > 0.0:
                        behind = False
                        break
                if not behind:  # then each point's plane
                    work += last - first
                    if work > _BUDGET:  # stop where no unvisited triangle is nearer
                        near = min(near, _box_distance(node_lo, node_hi, node, cx, cy, cz))
                        for s in range(0, size, 2):
                            j = level_start[stack[s]] + stack[s + 1]
                            near = min(near, _box_distance(node_lo, node_hi, j, cx, cy, cz))
                        size = 0
                        break
                    behind = True
                    tnx, tny, tnz = normal[t, 0], normal[t, 1], normal[t, 2]
                    for p in range(first, last):
                        px, py, pz = points[p, 0], points[p, 1], points[p, 2]
                        if abs(tnx * px + tny * py + tnz * pz - offset[t]) <= end_tolerance_mm:
                            continue  # the engine ignores this triangle for this point
                        for k in range(3):
                            lift = (
                                (vertices[t, k, 0] - px) * points[p, 3]
                                + (vertices[t, k, 1] - py) * points[p, 4]
                                + (vertices[t, k, 2] - pz) * points[p, 5]
                            )
                            if lift > 0.0:
                                behind = False
                                break
                        if not behind:
                            break
                if not behind:
                    near = lower
        out_near[c] = near
