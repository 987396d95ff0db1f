"""The CUDA kernels of :mod:`twin.raycast._cuda` (numba-cuda; importing this compiles nothing).

Module-level so that numba's CUDA simulator can run them: it swaps the ``cuda`` global of a
kernel's module for its own.
"""

import math

import numpy as np
from numba import cuda

from twin.engine import culling as _culling

cell_reachable = cuda.jit(device=True)(_culling.cell_reachable)
pair_geometry = cuda.jit(device=True)(_culling.pair_geometry)

#: Traversal stack depth (the median-split BVH of 2^60 triangles fits).
STACK = 64
#: Profile kinds on the device.
POWER, TABLE = 0, 1


@cuda.jit(device=True)
def traverse(ox, oy, oz, dx, dy, dz, tmax, any_hit, lo, hi, left, right, start, count,
             v0, e1, e2, scale, stack):  # fmt: skip
    """Nearest t in (0, tmax) of a hit (any hit, if ``any_hit``) and its ordered
    triangle; (inf, -1) when none."""
    # A zero direction component has no slab distances: its slab only says in or out.
    ix = 1.0 / dx if dx != 0.0 else 0.0
    iy = 1.0 / dy if dy != 0.0 else 0.0
    iz = 1.0 / dz if dz != 0.0 else 0.0
    best, face = math.inf, -1
    stack[0] = 0
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        limit = min(best, tmax)
        slack = 1e-9 * (1.0 + limit)
        near, far = -math.inf, math.inf
        if dx != 0.0:
            t1, t2 = (lo[node, 0] - ox) * ix, (hi[node, 0] - ox) * ix
            near, far = max(near, min(t1, t2)), min(far, max(t1, t2))
        elif ox < lo[node, 0] or ox > hi[node, 0]:
            continue
        if dy != 0.0:
            t1, t2 = (lo[node, 1] - oy) * iy, (hi[node, 1] - oy) * iy
            near, far = max(near, min(t1, t2)), min(far, max(t1, t2))
        elif oy < lo[node, 1] or oy > hi[node, 1]:
            continue
        if dz != 0.0:
            t1, t2 = (lo[node, 2] - oz) * iz, (hi[node, 2] - oz) * iz
            near, far = max(near, min(t1, t2)), min(far, max(t1, t2))
        elif oz < lo[node, 2] or oz > hi[node, 2]:
            continue
        if near > far + slack or far < -slack or near > limit + slack:
            continue
        if left[node] >= 0:
            stack[top] = left[node]
            stack[top + 1] = right[node]
            top += 2
            continue
        for k in range(start[node], start[node] + count[node]):
            # Moller-Trumbore, as the reference backend.
            px = dy * e2[k, 2] - dz * e2[k, 1]
            py = dz * e2[k, 0] - dx * e2[k, 2]
            pz = dx * e2[k, 1] - dy * e2[k, 0]
            det = px * e1[k, 0] + py * e1[k, 1] + pz * e1[k, 2]
            if abs(det) <= 1e-14 * scale[k]:
                continue
            inv = 1.0 / det
            tx, ty, tz = ox - v0[k, 0], oy - v0[k, 1], oz - v0[k, 2]
            u = (tx * px + ty * py + tz * pz) * inv
            if u < 0.0 or u > 1.0:
                continue
            qx = ty * e1[k, 2] - tz * e1[k, 1]
            qy = tz * e1[k, 0] - tx * e1[k, 2]
            qz = tx * e1[k, 1] - ty * e1[k, 0]
            v = (dx * qx + dy * qy + dz * qz) * inv
            if v < 0.0 or u + v > 1.0:
                continue
            t = (qx * e2[k, 0] + qy * e2[k, 1] + qz * e2[k, 2]) * inv
            if 0.0 < t < tmax and t < best:
                best, face = t, k
                if any_hit:
                    return best, face
    return best, face


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
    """One thread per (emitter of a batch, cell): flags[emitter - first_emitter, cell] is 1
    where the cell may hold a point the emitter reaches."""
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
                scale, out):  # fmt: skip
    """One block per (emitter, cell) pair, its threads over the cell's points (one emitter
    and nearby points, so coherent rays in a warp). Slot ``offsets[pair] + i`` of ``out``
    gets the i-th point's value in (mW/cm^2) per mW: -1 where the pair fails an exact test,
    0 where its shadow ray is blocked."""
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
                points[j, 0] + offset * points[j, 3],
                points[j, 1] + offset * points[j, 4],
                points[j, 2] + offset * points[j, 5],
                (emitters[e, 0] - points[j, 0]) / r,
                (emitters[e, 1] - points[j, 1]) / r,
                (emitters[e, 2] - points[j, 2]) / r,
                r - 2.0 * offset,
                True,  # noqa: FBT003 - device functions take no keywords
                lo, hi, left, right, start, count, v0, e1, e2, scale, stack,
            )  # fmt: skip
            if hit < math.inf:
                out[base + i] = 0.0
                continue
        p = profile_of[e]
        intensity = intensity_per_mw(
            r_cos_t / r, kind[p], m[p], coef[p], table_first[p], table_size[p], angle_deg, value
        )
        out[base + i] = intensity * r_cos_a / (r * r * r) * 100.0  # mm^2 per cm^2


@cuda.jit
def rays(origins, directions, lengths, any_hit, lo, hi, left, right, start, count,
         v0, e1, e2, scale, out_t, out_face):  # fmt: skip
    """One thread per ray: nearest (or any) hit in (0, length)."""
    i = cuda.grid(1)
    if i >= origins.shape[0]:
        return
    stack = cuda.local.array(STACK, np.int32)
    t, k = traverse(
        origins[i, 0], origins[i, 1], origins[i, 2],
        directions[i, 0], directions[i, 1], directions[i, 2],
        lengths[i], any_hit, lo, hi, left, right, start, count, v0, e1, e2, scale, stack,
    )  # fmt: skip
    out_t[i] = t
    out_face[i] = k


# --- Building the BVH on the device: a linear BVH from Morton codes (Karras 2012) ----------
# Nodes 0 .. n - 2 are internal (0 the root), n - 1 .. 2 n - 2 the leaves, leaf k holding the
# k-th triangle in Morton order.


@cuda.jit(device=True)
def leading_zeros(x, width):
    """Leading zero bits of non-negative ``x`` in a ``width``-bit word (portable clz)."""
    count = 0
    bit = 1 << (width - 1)
    while count < width and (x & bit) == 0:
        count += 1
        bit >>= 1
    return count


@cuda.jit(device=True)
def common_prefix(codes, n, i, j):
    """Length of the common prefix of keys i and j (code, then index to break ties); -1
    outside the array."""
    if j < 0 or j >= n:
        return -1
    if codes[i] == codes[j]:
        return 30 + leading_zeros(i ^ j, 32)
    return leading_zeros(codes[i] ^ codes[j], 30)


@cuda.jit
def lbvh_topology(codes, n, left, right, parent):
    """One thread per internal node: its key range, split and children (Karras 2012)."""
    i = cuda.grid(1)
    if i >= n - 1:
        return
    d = 1 if common_prefix(codes, n, i, i + 1) - common_prefix(codes, n, i, i - 1) > 0 else -1
    floor = common_prefix(codes, n, i, i - d)
    reach = 2
    while common_prefix(codes, n, i, i + reach * d) > floor:
        reach *= 2
    length = 0
    step = reach // 2
    while step >= 1:
        if common_prefix(codes, n, i, i + (length + step) * d) > floor:
            length += step
        step //= 2
    j = i + length * d
    node_prefix = common_prefix(codes, n, i, j)
    split = 0
    step = length
    while step > 1:
        step = (step + 1) // 2
        if common_prefix(codes, n, i, i + (split + step) * d) > node_prefix:
            split += step
    gamma = i + split * d + min(d, 0)
    a = gamma + n - 1 if min(i, j) == gamma else gamma
    b = gamma + 1 + n - 1 if max(i, j) == gamma + 1 else gamma + 1
    left[i] = a
    right[i] = b
    parent[a] = i
    parent[b] = i


@cuda.jit
def lbvh_boxes(tri_lo, tri_hi, n, left, right, parent, arrived, lo, hi):
    """One thread per leaf: its box, then up the tree; the second child to arrive at a node
    joins the two boxes and goes on."""
    k = cuda.grid(1)
    if k >= n:
        return
    node = n - 1 + k
    for a in range(3):
        lo[node, a] = tri_lo[k, a]
        hi[node, a] = tri_hi[k, a]
    cuda.threadfence()
    node = parent[node]
    while node >= 0:
        if cuda.atomic.add(arrived, node, 1) == 0:
            return
        cuda.threadfence()
        a_child, b_child = left[node], right[node]
        for a in range(3):
            lo[node, a] = min(lo[a_child, a], lo[b_child, a])
            hi[node, a] = max(hi[a_child, a], hi[b_child, a])
        cuda.threadfence()
        node = parent[node]
