"""Compiled CPU kernels (numba) for candidate culling and shadow-ray set-up.

NumPy would materialise every (emitter, point) candidate pair and a dozen temporaries per
pair; these loops visit each candidate once and write only the survivors, which makes the
work around the tracer about ten times cheaper. They release the GIL, so the threads of
:class:`twin.engine.backends.cpu.CpuBackend` run them in parallel. All geometry is float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from twin.engine import culling as _culling
from twin.engine.backends._shaft_kernels import first_shell, in_frame

_cell_reachable = numba.njit(inline="always", cache=True)(_culling.cell_reachable)
_pair_geometry = numba.njit(inline="always", cache=True)(_culling.pair_geometry)


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

    ``emitters`` is (n, 6): position (mm) and unit axis; the test is
    :func:`twin.engine.culling.cell_reachable`. Pairs come out sorted by emitter (in ``batch``
    order), then cell. Returns how many were written.
    """
    k = 0
    for b in range(batch.shape[0]):
        e = batch[b]
        c = cos_cut[e]
        s = math.sqrt(max(1.0 - c * c, 0.0))
        for j in range(cell_centre.shape[0]):
            if _cell_reachable(
                emitters[e, 0], emitters[e, 1], emitters[e, 2],
                emitters[e, 3], emitters[e, 4], emitters[e, 5], c, s,
                cell_centre[j, 0], cell_centre[j, 1], cell_centre[j, 2], cell_radius[j],
                cell_normal[j, 0], cell_normal[j, 1], cell_normal[j, 2],
                cell_cos_cone[j], cell_sin_cone[j], max_distance_mm,
            ):  # fmt: skip
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
    horizon,
    shells_mm,
    frame,
    min_elevation,
    out_point,
    out_emitter,
    out_geometry,
    out_origin,
    out_direction,
    out_cast,
):  # pragma: no cover - compiled
    """Run the exact tests on every point of the listed (emitter, cell) pairs.

    The tests are :func:`twin.engine.culling.pair_geometry`: facing, cone and range.
    ``points`` is (k, 6): position (mm) and unit normal, in cell order. For each surviving
    pair writes the point and emitter index, ``(r, r cos(alpha), r cos(theta))`` in mm, and
    the shadow ray: origin at the skin point, unit direction to the emitter, and whether it
    must be cast: not when it leaves the skin at least ``min_elevation`` (in sine) above both
    the tangent plane and the point's ``horizon`` (k, s, a) (:mod:`twin.engine.shafts`) in
    the first of ``shells_mm`` longer than the ray and the ray's sector of azimuth in the
    point's ``frame`` (k, 2, 3); every ray when ``horizon`` has no rows. Returns how many
    pairs survived.
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
            r, r_cos_a, r_cos_t = _pair_geometry(
                ex, ey, ez, ax, ay, az, c,
                points[j, 0], points[j, 1], points[j, 2],
                points[j, 3], points[j, 4], points[j, 5], max_d2,
            )  # fmt: skip
            if r < 0.0:
                continue
            out_point[k] = j
            out_emitter[k] = e
            out_geometry[k, 0] = r
            out_geometry[k, 1] = r_cos_a
            out_geometry[k, 2] = r_cos_t
            for i in range(3):
                out_origin[k, i] = points[j, i]
            out_direction[k, 0] = (ex - points[j, 0]) / r
            out_direction[k, 1] = (ey - points[j, 1]) / r
            out_direction[k, 2] = (ez - points[j, 2]) / r
            if horizon.shape[0] == 0:  # no horizons: every ray is cast
                out_cast[k] = True
            else:
                s = first_shell(shells_mm, r)
                across, along = in_frame(
                    out_direction[k, 0], out_direction[k, 1], out_direction[k, 2], frame, j
                )
                sectors = horizon.shape[2]
                a = math.floor((math.atan2(along, across) + math.pi) / (2 * math.pi) * sectors)
                h = max(horizon[j, s, a % sectors], 0.0)  # -inf: nothing above the plane
                out_cast[k] = r_cos_a < (h + min_elevation) * r
            k += 1
    return k


def empty_pair_buffers(size: int) -> tuple[np.ndarray, ...]:
    """Output arrays for :func:`shade_pairs` with room for ``size`` pairs (float64 rays)."""
    return (
        np.empty(size, np.int32),
        np.empty(size, np.int32),
        np.empty((size, 3)),
        np.empty((size, 3)),
        np.empty((size, 3)),
        np.empty(size, np.bool_),
    )
