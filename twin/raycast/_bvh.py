"""A bounding-volume hierarchy over triangles, built on the CPU with NumPy, flat for a GPU.

Top-down median split, one whole tree level per step: every node of a level with more than
``leaf_size`` triangles gives the half of its triangles lowest along the longest axis of
their centroids' box to one child and the rest to the other. The triangles are sorted along
each axis once; a level is then a stable partition of those lists (prefix sums, no sorting),
so about log2(f / leaf_size) vectorised O(f) steps. Boxes are computed bottom-up from the
leaves. The result is a handful of flat arrays a kernel walks with a small stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Triangles per leaf at most.
LEAF_SIZE = 4


@dataclass(frozen=True)
class FlatBVH:
    """Nodes and triangles in traversal order.

    Attributes
    ----------
    lo, hi : (m, 3) float64, mm
        Node boxes.
    left, right : (m,) int32
        Child nodes; ``left`` is -1 at a leaf.
    start, count : (m,) int32
        A leaf's triangles: ``start`` .. ``start + count`` in the ordered arrays.
    v0, e1, e2 : (f, 3) float64, mm
        Ordered triangles: first corner and the two edges from it.
    scale : (f,) float64, mm^2
        ``|e1| |e2|``, for the scale-aware parallel test.
    face : (f,) int32
        Original index of each ordered triangle.
    """

    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    left: NDArray[np.int32]
    right: NDArray[np.int32]
    start: NDArray[np.int32]
    count: NDArray[np.int32]
    v0: NDArray[np.float64]
    e1: NDArray[np.float64]
    e2: NDArray[np.float64]
    scale: NDArray[np.float64]
    face: NDArray[np.int32]

    @property
    def depth_bound(self) -> int:
        """An upper bound on the tree's depth (median splits halve each level)."""
        return int(np.ceil(np.log2(max(len(self.face), 1)))) + 2


def build_bvh(triangles_mm: NDArray[np.float64], *, leaf_size: int = LEAF_SIZE) -> FlatBVH:
    """Build the hierarchy over (f, 3, 3) triangles in mm (see the module)."""
    tri = np.asarray(triangles_mm, dtype=np.float64)
    f = len(tri)
    centroid = tri.mean(axis=1)
    # The triangles sorted along each axis once; every level then splits each node's slice
    # of all three lists by a stable partition (prefix sums), so no list is sorted again and
    # each node's triangles stay contiguous, sorted along every axis.
    lists = np.stack([np.argsort(centroid[:, a], kind="stable") for a in range(3)])
    goes_left = np.zeros(f, dtype=bool)
    # Per node: first triangle, count, children (-1 at a leaf), depth; grown level by level.
    start, count = np.zeros(1, np.int64), np.array([f])
    left, right, depth = np.full(1, -1), np.full(1, -1), np.zeros(1, np.int64)
    level = np.array([0]) if f > leaf_size else np.zeros(0, dtype=np.int64)
    while level.size:
        s, c = start[level], count[level]
        half = c // 2
        # The longest centroid extent: first and last of each sorted slice.
        extent = (
            centroid[lists[:, s + c - 1], [[0], [1], [2]]] - centroid[lists[:, s], [[0], [1], [2]]]
        )
        axis = np.argmax(extent, axis=0)
        offsets = np.concatenate([[0], np.cumsum(c)[:-1]])
        segment = np.repeat(np.arange(len(level)), c)
        within = np.arange(c.sum()) - offsets[segment]
        pos = s[segment] + within
        goes_left[lists[axis[segment], pos]] = within < half[segment]
        for a in range(3):
            values = lists[a, pos]
            flag = goes_left[values]
            lefts = np.cumsum(flag) - flag  # left-goers before each, over all segments
            before = lefts - lefts[offsets][segment]
            target = np.where(
                flag, s[segment] + before, s[segment] + half[segment] + within - before
            )
            lists[a, target] = values
        first = len(start)
        ids = first + np.arange(2 * len(level))
        left[level], right[level] = ids[0::2], ids[1::2]
        start = np.concatenate([start, np.column_stack([s, s + half]).ravel()])
        count = np.concatenate([count, np.column_stack([half, c - half]).ravel()])
        left = np.concatenate([left, np.full(len(ids), -1)])
        right = np.concatenate([right, np.full(len(ids), -1)])
        depth = np.concatenate([depth, np.repeat(depth[level] + 1, 2)])
        level = ids[count[ids] > leaf_size]
    order = lists[0]
    tri = tri[order]
    lo_t, hi_t = tri.min(axis=1), tri.max(axis=1)
    left_a, right_a = left.astype(np.int32), right.astype(np.int32)
    start_a, count_a = start.astype(np.int32), count.astype(np.int32)
    lo = np.full((len(start), 3), np.inf)
    hi = np.full((len(start), 3), -np.inf)
    leaves = np.flatnonzero(left_a < 0)
    leaves = leaves[np.argsort(start_a[leaves])]  # the leaves partition 0 .. f in order
    if f:
        lo[leaves] = np.minimum.reduceat(lo_t, start_a[leaves])
        hi[leaves] = np.maximum.reduceat(hi_t, start_a[leaves])
    for d in range(int(depth.max()), -1, -1):  # parents from their children, deepest first
        inner = np.flatnonzero((depth == d) & (left_a >= 0))
        lo[inner] = np.minimum(lo[left_a[inner]], lo[right_a[inner]])
        hi[inner] = np.maximum(hi[left_a[inner]], hi[right_a[inner]])
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    return FlatBVH(
        lo=lo,
        hi=hi,
        left=left_a,
        right=right_a,
        start=start_a,
        count=count_a,
        v0=np.ascontiguousarray(tri[:, 0]),
        e1=e1,
        e2=e2,
        scale=np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1),
        face=order.astype(np.int32),
    )
