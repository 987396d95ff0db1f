"""Reference backend: exact float64 ray-triangle tests (Moller-Trumbore), brute force.

A shadow segment ignores a triangle whose plane passes within ``end_tolerance_mm`` of one of
its ends (:mod:`twin.raycast`): the plane distance is Moller-Trumbore's numerator
``(o - v0) . (e1 x e2)`` over ``|e1 x e2|``, independent of the ray's angle.

Every ray segment is tested against every triangle it may reach, found by conservative
filters that change no answer: triangles are sorted into leaves of spatial neighbours,
segments are tested against the leaf boxes first (slab test), then against the bounding box
of each triangle of the leaves they pierce; in blocks of rays so memory stays bounded.
Slow by design: it is the yardstick the fast backends are checked against, for small scenes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_RAYS_PER_BLOCK = 128
_TRIANGLES_PER_LEAF = 32


class ReferenceTracer:
    """See :mod:`twin.raycast`."""

    name = "reference"

    def __init__(self, triangles_mm: NDArray[np.float64]) -> None:
        tri = np.asarray(triangles_mm, dtype=np.float64)
        centroid = tri.mean(axis=1)
        cell = np.ptp(centroid, axis=0).max() / max(
            1.0, (len(tri) / _TRIANGLES_PER_LEAF) ** (1 / 3)
        )
        ijk = np.floor((centroid - centroid.min(axis=0)) / max(cell, 1e-300)).astype(np.int64)
        self._order = np.lexsort((ijk[:, 2], ijk[:, 1], ijk[:, 0]))
        tri = tri[self._order]
        self._v0 = tri[:, 0]
        self._e1 = tri[:, 1] - tri[:, 0]
        self._e2 = tri[:, 2] - tri[:, 0]
        self._lo = tri.min(axis=1)
        self._hi = tri.max(axis=1)
        self._scale = np.linalg.norm(self._e1, axis=1) * np.linalg.norm(self._e2, axis=1)
        self._twice_area = np.linalg.norm(np.cross(self._e1, self._e2), axis=1)
        self._size = float(np.linalg.norm(self._hi.max(axis=0) - self._lo.min(axis=0)))
        starts = np.arange(0, len(tri), _TRIANGLES_PER_LEAF)
        self._leaf_lo = np.minimum.reduceat(self._lo, starts)
        self._leaf_hi = np.maximum.reduceat(self._hi, starts)

    def _segment_hits(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        lengths: NDArray[np.float64],
        end_tolerance_mm: float | None,
    ):
        """Yield ``(ray, triangle, t)`` for every hit with 0 < t < length, block by block.

        With ``end_tolerance_mm``, triangles whose plane passes that close to either end of
        the segment are skipped.
        """
        n_tri = len(self._v0)
        for r0 in range(0, len(origins), _RAYS_PER_BLOCK):
            o = origins[r0 : r0 + _RAYS_PER_BLOCK]
            d = directions[r0 : r0 + _RAYS_PER_BLOCK]
            end = o + d * lengths[r0 : r0 + _RAYS_PER_BLOCK, None]
            seg_lo, seg_hi = np.minimum(o, end), np.maximum(o, end)
            ray, leaf = np.nonzero(
                _pierces(o, d, lengths[r0 : r0 + _RAYS_PER_BLOCK], self._leaf_lo, self._leaf_hi)
            )
            ray = np.repeat(ray, _TRIANGLES_PER_LEAF)
            k = (leaf[:, None] * _TRIANGLES_PER_LEAF + np.arange(_TRIANGLES_PER_LEAF)).ravel()
            valid = k < n_tri
            ray, k = ray[valid], k[valid]
            near = _overlap(seg_lo[ray], seg_hi[ray], self._lo[k], self._hi[k])
            ray, k = ray[near], k[near]
            t = self._intersect(o[ray], d[ray], k, lengths[r0 + ray], end_tolerance_mm)
            hit = (t > 0.0) & (t < lengths[r0 + ray])
            yield r0 + ray[hit], self._order[k[hit]], t[hit]

    def _intersect(
        self,
        o: NDArray[np.float64],
        d: NDArray[np.float64],
        k: NDArray[np.int64],
        length: NDArray[np.float64],
        end_tolerance_mm: float | None,
    ) -> NDArray[np.float64]:
        """Distance along each ray to its paired triangle, pair by pair; inf where missed.

        Also inf where ``end_tolerance_mm`` is given and the triangle's plane passes within it
        of the ray's origin or of the point ``length`` along it.
        """
        e1, e2 = self._e1[k], self._e2[k]
        pvec = np.cross(d, e2)
        det = np.einsum("ij,ij->i", pvec, e1)
        parallel = np.abs(det) <= 1e-14 * self._scale[k]
        inv = 1.0 / np.where(parallel, 1.0, det)
        tvec = o - self._v0[k]
        u = np.einsum("ij,ij->i", tvec, pvec) * inv
        qvec = np.cross(tvec, e1)
        v = np.einsum("ij,ij->i", d, qvec) * inv
        num = np.einsum("ij,ij->i", qvec, e2)  # (o - v0) . (e1 x e2)
        t = num * inv
        hit = ~parallel & (u >= 0.0) & (v >= 0.0) & (u + v <= 1.0)
        if end_tolerance_mm is not None:
            near = end_tolerance_mm * self._twice_area[k]
            # The end's numerator is num + length (d . (e1 x e2)) = num - length det.
            hit &= (np.abs(num) > near) & (np.abs(num - length * det) > near)
        return np.where(hit, t, np.inf)

    def occluded(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        distances: NDArray[np.float64],
        *,
        end_tolerance_mm: float = 0.0,
    ) -> NDArray[np.bool_]:
        out = np.zeros(len(origins), dtype=bool)
        for ray, _, _ in self._segment_hits(
            origins, directions, np.asarray(distances, dtype=np.float64), end_tolerance_mm
        ):
            out[ray] = True
        return out

    def first_hit(
        self, origins: NDArray[np.float64], directions: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        # Nothing lies farther than the scene's size beyond its farthest corner.
        reach = self._size + np.linalg.norm(origins - self._lo.min(axis=0), axis=1)
        best = np.full(len(origins), np.inf)
        face = np.full(len(origins), -1, dtype=np.int64)
        for ray, k, t in self._segment_hits(origins, directions, reach, None):
            order = np.lexsort((t, ray))  # per ray, nearest first
            ray, k, t = ray[order], k[order], t[order]
            first = np.r_[True, ray[1:] != ray[:-1]]
            ray, k, t = ray[first], k[first], t[first]
            better = t < best[ray]
            best[ray[better]] = t[better]
            face[ray[better]] = k[better]
        return best, face


def _overlap(lo_a, hi_a, lo_b, hi_b):
    """Whether axis-aligned boxes a and b overlap, broadcasting over the leading axes."""
    return ((lo_a <= hi_b) & (lo_b <= hi_a)).all(axis=-1)


def _pierces(o, d, length, lo, hi):
    """(r, b) bool: does segment r (origin, unit direction, length) meet box b? Slab test.

    Conservative at the edges: a box touched only at a corner counts, a ray parallel to a
    slab counts when its origin lies within the slab.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (lo[None] - o[:, None]) * inv[:, None]
        t2 = (hi[None] - o[:, None]) * inv[:, None]
    # 0 * inf is NaN where the origin lies on a face of a slab it runs parallel to: that slab
    # does not bound the segment (fmin / fmax alone would take the other side's infinity).
    on_face = np.isnan(t1) | np.isnan(t2)
    near = np.where(on_face, -np.inf, np.fmin(t1, t2))
    far = np.where(on_face, np.inf, np.fmax(t1, t2))
    parallel_out = (d[:, None] == 0.0) & ((o[:, None] < lo[None]) | (o[:, None] > hi[None]))
    enter = near.max(axis=2)
    leave = far.min(axis=2)
    slack = 1e-9 * (1.0 + length[:, None])
    return (
        (enter <= leave + slack)
        & (leave >= -slack)
        & (enter <= length[:, None] + slack)
        & ~parallel_out.any(axis=2)
    )
