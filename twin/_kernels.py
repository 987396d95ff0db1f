"""Compiled CPU kernels (numba) for candidate culling and shadow-ray set-up.

NumPy would materialise every (emitter, point) candidate pair and a dozen temporaries per
pair; these loops visit each candidate once and write only the survivors, which makes the
work around the ray engine about ten times cheaper. They release the GIL, so the threads of
:func:`twin.transfer.transfer_matrix` run them in parallel. All geometry is float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_SLACK = 1e-9  # keeps the cell tests conservative under rounding


@numba.njit(nogil=True, cache=True)
def near_cells(
    emitters,
    batch,
    cos_cut,
    cell_centre,
    cell_radius,
    cell_normal,
    cell_cos_cone,
    cell_sin_cone,
    max_distance_mm,
    out_emitter,
    out_cell,
):  # pragma: no cover - compiled
    """List the (emitter, cell) pairs where the cell may hold a point the emitter reaches.

    ``emitters`` is (n, 6): position (mm) and unit axis. A cell is a bounding sphere (centre,
    radius) and a normal cone (unit mean normal, cos and sin of its half-angle). Rejected:
    cells wholly outside the emission cone of half-angle acos(cos_cut), farther than the
    range, or whose every point faces away from the emitter. Pairs come out sorted by
    emitter (in ``batch`` order), then cell. Returns how many were written.
    """
    k = 0
    for b in range(batch.shape[0]):
        e = batch[b]
        ex, ey, ez = emitters[e, 0], emitters[e, 1], emitters[e, 2]
        ax, ay, az = emitters[e, 3], emitters[e, 4], emitters[e, 5]
        c = cos_cut[e]
        s = math.sqrt(max(1.0 - c * c, 0.0))
        for j in range(cell_centre.shape[0]):
            vx = cell_centre[j, 0] - ex
            vy = cell_centre[j, 1] - ey
            vz = cell_centre[j, 2] - ez
            dist = math.sqrt(vx * vx + vy * vy + vz * vz)
            r = cell_radius[j]
            if dist > r:
                if dist - r > max_distance_mm:
                    continue
                # Emission cone: the sphere spans g = asin(r / dist) around the direction
                # phi to its centre; reached when phi <= acos(c) + g (always when >= pi).
                sin_g = r / dist
                cos_g = math.sqrt(1.0 - sin_g * sin_g)
                cos_phi = (vx * ax + vy * ay + vz * az) / dist
                wraps = c < 0.0 and cos_g <= -c
                if not wraps and cos_phi < c * cos_g - s * sin_g - _SLACK:
                    continue
                # Facing: n . (e - p) <= |e - c| cos(max(0, psi - cone)) + r for its points.
                cos_psi = (
                    -(vx * cell_normal[j, 0] + vy * cell_normal[j, 1] + vz * cell_normal[j, 2])
                    / dist
                )
                if cos_psi > cell_cos_cone[j]:
                    cos_dev = 1.0
                else:
                    sin_psi = math.sqrt(max(1.0 - cos_psi * cos_psi, 0.0))
                    cos_dev = cos_psi * cell_cos_cone[j] + sin_psi * cell_sin_cone[j]
                if dist * (cos_dev + _SLACK) + r <= 0.0:
                    continue
            out_emitter[k] = e
            out_cell[k] = j
            k += 1
    return k


@numba.njit(nogil=True, cache=True)
def shade_pairs(
    pair_emitter,
    pair_cell,
    cell_start,
    cell_count,
    points,
    emitters,
    cos_cut,
    max_distance_mm,
    offset_mm,
    out_point,
    out_emitter,
    out_geometry,
    out_origin,
    out_direction,
):  # pragma: no cover - compiled
    """Exact facing, cone and range tests on every point of the listed cells.

    ``points`` is (k, 6): position (mm) and unit normal, in cell order. For each surviving
    pair writes the point and emitter index, ``(r, r cos(alpha), r cos(theta))`` in mm, and
    the shadow ray: origin ``offset_mm`` off the skin along its normal, unit direction to the
    emitter. Returns how many pairs survived.
    """
    k = 0
    max_d2 = max_distance_mm * max_distance_mm
    for q in range(pair_emitter.shape[0]):
        e = pair_emitter[q]
        cell = pair_cell[q]
        ex, ey, ez = emitters[e, 0], emitters[e, 1], emitters[e, 2]
        ax, ay, az = emitters[e, 3], emitters[e, 4], emitters[e, 5]
        c = cos_cut[e]
        for j in range(cell_start[cell], cell_start[cell] + cell_count[cell]):
            dx = ex - points[j, 0]
            dy = ey - points[j, 1]
            dz = ez - points[j, 2]
            r_cos_a = dx * points[j, 3] + dy * points[j, 4] + dz * points[j, 5]
            if r_cos_a <= 0.0:
                continue
            r2 = dx * dx + dy * dy + dz * dz
            if r2 > max_d2:
                continue
            r = math.sqrt(r2)
            r_cos_t = -(dx * ax + dy * ay + dz * az)
            if r_cos_t < c * r:
                continue
            out_point[k] = j
            out_emitter[k] = e
            out_geometry[k, 0] = r
            out_geometry[k, 1] = r_cos_a
            out_geometry[k, 2] = r_cos_t
            for i in range(3):
                out_origin[k, i] = points[j, i] + offset_mm * points[j, 3 + i]
            out_direction[k, 0] = dx / r
            out_direction[k, 1] = dy / r
            out_direction[k, 2] = dz / r
            k += 1
    return k


def empty_pair_buffers(size: int, dtype: type) -> tuple[np.ndarray, ...]:
    """Output arrays for :func:`shade_pairs` with room for ``size`` pairs."""
    return (
        np.empty(size, np.int32),
        np.empty(size, np.int32),
        np.empty((size, 3)),
        np.empty((size, 3), dtype),
        np.empty((size, 3), dtype),
    )
