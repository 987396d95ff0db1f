"""The transfer kernels of :mod:`twin.engine.backends.cuda` (numba-cuda).

Importing this compiles nothing.

The culling tests are those of the CPU kernels (:mod:`twin.engine.culling`, compiled here for
the device) and shadow rays walk the device BVH of :mod:`twin.raycast.cuda` with its
:func:`~twin.raycast.cuda_kernels.traverse`. Module-level so that numba's CUDA simulator can
run them: it swaps the ``cuda`` global of a kernel's module for its own.
"""

import math

import numpy as np
from numba import cuda

from twin.engine import culling as _culling
from twin.raycast.cuda_kernels import STACK, traverse
from twin.units import MM2_PER_CM2

cell_reachable = cuda.jit(device=True)(_culling.cell_reachable)
pair_geometry = cuda.jit(device=True)(_culling.pair_geometry)

#: Profile kinds on the device.
POWER, TABLE = 0, 1


@cuda.jit(device=True)
def intensity_per_mw(cos_t, kind, m, coef, first, size, angle_deg, value):
    """I(theta) / P of one profile, sr^-1 (``twin.devices.profiles``)."""
    if kind == POWER:
        return coef * math.pow(max(cos_t, 0.0), m) if m != 0.0 else coef
    theta = math.degrees(math.acos(min(max(cos_t, -1.0), 1.0)))
    last = first + size - 1
    if theta > angle_deg[last]:
        return 0.0
    if theta == angle_deg[last]:
        return value[last] * coef
    for j in range(first, last):
        if theta <= angle_deg[j + 1]:
            w = (theta - angle_deg[j]) / (angle_deg[j + 1] - angle_deg[j])
            return (value[j] + w * (value[j + 1] - value[j])) * coef
    return 0.0


@cuda.jit
def near_cells(emitters, first_emitter, cos_cut, centre, radius, normal, cos_cone, sin_cone,
               max_distance_mm, flags):  # fmt: skip
    """Flag the (emitter, cell) pairs of a batch of emitters that pass the cell tests.

    One thread per (emitter of the batch, cell): ``flags[emitter - first_emitter, cell]`` is 1
    where the cell may hold a point the emitter reaches.
    """
    t = cuda.grid(1)
    n_c = centre.shape[0]
    if t >= flags.shape[0] * n_c:
        return
    b = t // n_c
    j = t - b * n_c
    e = first_emitter + b
    c = cos_cut[e]
    reached = cell_reachable(
        emitters[e, 0], emitters[e, 1], emitters[e, 2],
        emitters[e, 3], emitters[e, 4], emitters[e, 5], c, math.sqrt(max(1.0 - c * c, 0.0)),
        centre[j, 0], centre[j, 1], centre[j, 2], radius[j],
        normal[j, 0], normal[j, 1], normal[j, 2], cos_cone[j], sin_cone[j], max_distance_mm,
    )  # fmt: skip
    flags[b, j] = 1 if reached else 0


@cuda.jit
def shade_cells(pair_emitter, pair_cell, offsets, cell_start, cell_count, points, emitters,
                profile_of, cos_cut, max_d2, offset, occlusion, kind, m, coef, table_first,
                table_size, angle_deg, value, lo, hi, left, right, start, count, v0, e1, e2,
                scale, twice_area, out):  # fmt: skip
    """Shade every point of the flagged (emitter, cell) pairs.

    One block per pair, its threads over the cell's points (one emitter and nearby points, so
    coherent rays in a warp). Slot ``offsets[pair] + i`` of ``out`` gets the i-th point's
    value in (mW/cm^2) per mW: -1 where the pair fails an exact test, 0 where its shadow ray
    is blocked.
    """
    q = cuda.blockIdx.x
    e = pair_emitter[q]
    first = cell_start[pair_cell[q]]
    base = offsets[q]
    stack = cuda.local.array(STACK, np.int32)
    for i in range(cuda.threadIdx.x, cell_count[pair_cell[q]], cuda.blockDim.x):
        j = first + i
        r, r_cos_a, r_cos_t = pair_geometry(
            emitters[e, 0], emitters[e, 1], emitters[e, 2],
            emitters[e, 3], emitters[e, 4], emitters[e, 5], cos_cut[e],
            points[j, 0], points[j, 1], points[j, 2],
            points[j, 3], points[j, 4], points[j, 5], max_d2,
        )  # fmt: skip
        if r < 0.0:
            out[base + i] = -1.0
            continue
        if occlusion:
            hit, _ = traverse(
                points[j, 0], points[j, 1], points[j, 2],
                (emitters[e, 0] - points[j, 0]) / r,
                (emitters[e, 1] - points[j, 1]) / r,
                (emitters[e, 2] - points[j, 2]) / r,
                r,
                True,  # noqa: FBT003 - device functions take no keywords
                offset,
                lo, hi, left, right, start, count, v0, e1, e2, scale, twice_area, stack,
            )  # fmt: skip
            if hit < math.inf:
                out[base + i] = 0.0
                continue
        p = profile_of[e]
        intensity = intensity_per_mw(
            r_cos_t / r, kind[p], m[p], coef[p], table_first[p], table_size[p], angle_deg, value
        )
        out[base + i] = intensity * r_cos_a / (r * r * r) * MM2_PER_CM2
