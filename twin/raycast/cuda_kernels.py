"""The CUDA kernels of :mod:`twin.raycast.cuda` (numba-cuda; importing this compiles nothing).

The BVH walk, :func:`traverse`, is a device function that the transfer kernels of
:mod:`twin.engine.backends._cuda_kernels` call too. Module-level so that numba's CUDA simulator
can run them: it swaps the ``cuda`` global of a kernel's module for its own.
"""

import math

import numpy as np
from numba import cuda

#: Traversal stack depth (the median-split BVH of 2^60 triangles fits).
STACK = 64


@cuda.jit(device=True)
def traverse(ox, oy, oz, dx, dy, dz, tmax, any_hit, tol, lo, hi, left, right, start, count,
             v0, e1, e2, scale, twice_area, stack):  # fmt: skip
    """Walk the BVH for the nearest hit in (0, tmax) (any hit, if ``any_hit``).

    Triangles whose plane passes within ``tol`` (>= 0) of the origin or of the point ``tmax``
    along the ray are skipped (:mod:`twin.raycast`); a negative ``tol`` skips none. Returns
    the hit's t and its triangle in leaf order; (inf, -1) when none.
    """
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
            num = qx * e2[k, 0] + qy * e2[k, 1] + qz * e2[k, 2]  # (o - v0) . (e1 x e2)
            near = tol * twice_area[k]
            if abs(num) <= near or abs(num - tmax * det) <= near:
                continue
            t = num * inv
            if 0.0 < t < tmax and t < best:
                best, face = t, k
                if any_hit:
                    return best, face
    return best, face


@cuda.jit
def rays(origins, directions, lengths, any_hit, tol, lo, hi, left, right, start, count,
         v0, e1, e2, scale, twice_area, out_t, out_face):  # fmt: skip
    """One thread per ray: nearest (or any) hit in (0, length), skipping as :func:`traverse`."""
    i = cuda.grid(1)
    if i >= origins.shape[0]:
        return
    stack = cuda.local.array(STACK, np.int32)
    t, k = traverse(
        origins[i, 0], origins[i, 1], origins[i, 2],
        directions[i, 0], directions[i, 1], directions[i, 2],
        lengths[i], any_hit, tol, lo, hi, left, right, start, count, v0, e1, e2, scale,
        twice_area, stack,
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
    """Return the length of the common prefix of keys i and j; -1 outside the array.

    A key is the code, then the index to break ties.
    """
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
    """Set the boxes of every node, from the leaves up.

    One thread per leaf: its box, then up the tree; the second child to arrive at a node
    joins the two boxes and goes on.
    """
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
