"""Embree backend through embreex: float32 BVH, any-hit occlusion limited to a segment.

embreex releases the GIL inside ``run``, so several threads can trace on one scene at once.
"""

from __future__ import annotations

import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh
from numpy.typing import NDArray


class EmbreeTracer:
    """See :mod:`twin.raycast`."""

    name = "embree"
    dtype = np.float32

    def __init__(self, triangles_mm: NDArray[np.float64]) -> None:
        self._scene = rtcore_scene.EmbreeScene()
        TriangleMesh(self._scene, np.ascontiguousarray(triangles_mm, dtype=np.float32))

    def occluded(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        distances: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        if len(origins) == 0:
            return np.zeros(0, dtype=bool)
        hit = self._scene.run(
            np.ascontiguousarray(origins, dtype=np.float32),
            np.ascontiguousarray(directions, dtype=np.float32),
            query="OCCLUDED",
            dists=np.ascontiguousarray(distances, dtype=np.float32),
        )
        return hit == 0  # embreex: 0 = occluded, -1 = free

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
