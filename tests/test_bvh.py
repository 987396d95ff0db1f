"""The BVH the cuda backend walks: boxes nest, leaves hold every triangle once, splits halve."""

from __future__ import annotations

import numpy as np
import pytest

from twin import phantoms
from twin.raycast._bvh import LEAF_SIZE, build_bvh


@pytest.mark.parametrize("count", [1, LEAF_SIZE, LEAF_SIZE + 1, 1000])
def test_boxes_nest_and_leaves_hold_every_triangle_once(count):
    tri = phantoms.head(subdivisions=4).triangles_mm
    tri = tri[np.random.default_rng(count).choice(len(tri), count, replace=False)]
    bvh = build_bvh(tri)
    leaves = np.flatnonzero(bvh.left < 0)
    held = np.concatenate([bvh.face[bvh.start[k] : bvh.start[k] + bvh.count[k]] for k in leaves])
    assert sorted(held.tolist()) == list(range(count))
    assert bvh.count[leaves].max() <= LEAF_SIZE
    for k in leaves:  # each leaf box is exactly its triangles' box
        t = tri[bvh.face[bvh.start[k] : bvh.start[k] + bvh.count[k]]]
        np.testing.assert_array_equal(bvh.lo[k], t.min(axis=(0, 1)))
        np.testing.assert_array_equal(bvh.hi[k], t.max(axis=(0, 1)))
    inner = np.flatnonzero(bvh.left >= 0)
    for child in (bvh.left[inner], bvh.right[inner]):
        assert np.all(bvh.lo[child] >= bvh.lo[inner]) and np.all(bvh.hi[child] <= bvh.hi[inner])
    # Median splits: the children of a node differ in size by at most one triangle.
    sizes = bvh.count[bvh.left[inner]], bvh.count[bvh.right[inner]]
    assert np.all(np.abs(sizes[0] - sizes[1]) <= 1)
    assert np.all(sizes[0] + sizes[1] == bvh.count[inner])
    depth = int(np.ceil(np.log2(max(count / LEAF_SIZE, 1)))) + 1
    assert len(bvh.left) <= 2 ** (depth + 1)
    # Stored corners and edges rebuild the ordered triangles.
    np.testing.assert_allclose(bvh.v0 + bvh.e1, tri[bvh.face][:, 1], atol=1e-9)
    np.testing.assert_allclose(bvh.v0 + bvh.e2, tri[bvh.face][:, 2], atol=1e-9)


def test_a_split_follows_the_longest_extent():
    # Triangles spread 100 mm along x and 1 mm along y: the root splits at the median x.
    x = np.arange(16, dtype=float) * 100.0 / 15
    corners = [np.column_stack([x, np.full(16, y), np.zeros(16)]) for y in (0.0, 0.5, 1.0)]
    tri = np.stack(corners, axis=1)
    bvh = build_bvh(tri)
    left = bvh.face[bvh.start[bvh.left[0]] : bvh.start[bvh.left[0]] + bvh.count[bvh.left[0]]]
    assert sorted(left.tolist()) == list(range(8))
