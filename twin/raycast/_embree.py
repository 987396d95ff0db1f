"""Embree backend through embreex: float32 BVH, any-hit occlusion limited to a segment.

embreex releases the GIL inside ``run``, so several threads can trace on one scene at once.

Shadow segments that start or end on a surface (:mod:`twin.raycast`): embreex has no filter
callbacks, so a segment is first tested for any hit from :attr:`EmbreeTracer.start_mm` along
it (a few float32 rounding steps of the scene's coordinates) to as far short of its end. The
few it reports blocked are walked hit by hit with closest-hit queries: a triangle whose plane
passes within ``end_tolerance_mm`` of an end (checked in float64) is stepped past, any other
blocks.
"""

from __future__ import annotations

import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh
from numpy.typing import NDArray

#: Segments start this many float32 rounding steps of the largest coordinate along the ray.
START_STEPS = 16
#: Closest-hit steps past the triangles at a segment's ends before it counts as blocked.
MAX_STEPS = 16


class EmbreeTracer:
    """See :mod:`twin.raycast`.

    Attributes
    ----------
    start_mm : float, mm
        Where segments start along the ray, and how far short of the end they stop.
    """

    name = "embree"

    def __init__(self, triangles_mm: NDArray[np.float64]) -> None:
        tri = np.asarray(triangles_mm, dtype=np.float64).reshape(-1, 3, 3)
        self._scene = rtcore_scene.EmbreeScene()
        TriangleMesh(self._scene, np.ascontiguousarray(tri, dtype=np.float32))
        self._v0 = tri[:, 0]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        self._normal = normal
        self._twice_area = np.linalg.norm(normal, axis=1)
        largest = float(np.abs(tri).max()) if len(tri) else 0.0
        self.start_mm = START_STEPS * float(np.spacing(np.float32(largest)))

    def occluded(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        distances: NDArray[np.float64],
        *,
        end_tolerance_mm: float = 0.0,
    ) -> NDArray[np.bool_]:
        if len(origins) == 0:
            return np.zeros(0, dtype=bool)
        o = np.asarray(origins, dtype=np.float64)
        d = np.asarray(directions, dtype=np.float64)
        length = np.asarray(distances, dtype=np.float64)
        start = np.full(len(o), self.start_mm)
        hit = self._scene.run(
            np.ascontiguousarray(o + start[:, None] * d, dtype=np.float32),
            np.ascontiguousarray(d, dtype=np.float32),
            query="OCCLUDED",
            dists=np.ascontiguousarray(length - 2.0 * start, dtype=np.float32),
        )
        blocked = hit == 0  # embreex: 0 = occluded, -1 = free
        todo = np.flatnonzero(blocked)
        for _ in range(MAX_STEPS):
            if len(todo) == 0:
                break
            at = o[todo] + start[todo, None] * d[todo]
            info = self._scene.run(
                np.ascontiguousarray(at, dtype=np.float32),
                np.ascontiguousarray(d[todo], dtype=np.float32),
                output=True,
                dists=np.ascontiguousarray(length[todo] - start[todo] - self.start_mm,
                                           dtype=np.float32),
            )  # fmt: skip
            face = np.asarray(info["primID"], dtype=np.int64)
            missed = face < 0
            blocked[todo[missed]] = False
            todo, face = todo[~missed], face[~missed]
            t = np.asarray(info["tfar"], dtype=np.float64)[~missed]
            own = self._through_an_end(face, o[todo], d[todo], length[todo], end_tolerance_mm)
            todo, t = todo[own], t[own]
            start[todo] += t + self.start_mm
        return blocked

    def _through_an_end(
        self,
        face: NDArray[np.int64],
        o: NDArray[np.float64],
        d: NDArray[np.float64],
        length: NDArray[np.float64],
        tolerance_mm: float,
    ) -> NDArray[np.bool_]:
        """Whether each triangle's plane passes within ``tolerance_mm`` of its segment's ends."""
        n = self._normal[face]
        num = np.einsum("ij,ij->i", o - self._v0[face], n)
        near = tolerance_mm * self._twice_area[face]
        return (np.abs(num) <= near) | (np.abs(num + length * np.einsum("ij,ij->i", d, n)) <= near)

    def first_hit(
        self, origins: NDArray[np.float64], directions: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        if len(origins) == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        info = self._scene.run(
            np.ascontiguousarray(origins, dtype=np.float32),
            np.ascontiguousarray(directions, dtype=np.float32),
            output=True,
        )
        face = np.asarray(info["primID"], dtype=np.int64)
        dist = np.where(face >= 0, np.asarray(info["tfar"], dtype=np.float64), np.inf)
        return dist, face
