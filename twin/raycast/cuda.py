"""The cuda tracer: numba-cuda kernels over a BVH built on the device.

The BVH is a linear BVH (Karras 2012): the triangles sorted by the 30-bit Morton code of
their centroids, one thread per internal node finding its children from the codes, then one
thread per leaf joining boxes on the way up to the root (the second child to arrive at a node
does it). A build is a sort and two kernels, so every wearer's geometry gets its own tree at
no CPU cost. The walk of the tree (:func:`twin.raycast.cuda_kernels.traverse`: float64
Moller-Trumbore with the tests of the ``reference`` tracer) is a device function, so the
transfer kernels of :mod:`twin.engine.backends.cuda` walk the same tree
(:attr:`CudaTracer.bvh`).

The same kernel code runs under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) with
NumPy arrays in place of CuPy ones, which is how CI checks it without a GPU: slowly, so on
small scenes only. ``auto`` never picks a simulated device.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np
from numpy.typing import NDArray

#: Threads per block.
THREADS = 128


def simulated() -> bool:
    """Whether numba's CUDA simulator stands in for a GPU (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.cache
def status() -> str | None:
    """``None`` when the cuda tracer can run here, else why not (one line); checked once."""
    try:
        from numba import cuda
    except ImportError:
        return "numba-cuda is not installed (pip install 'twin[gpu]')"
    if simulated():
        return None
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install 'twin[gpu]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1 or not cuda.is_available():
            return "no CUDA device is visible"
    except Exception as exc:
        return f"no usable CUDA device ({str(exc).splitlines()[0]})"
    try:
        self_test()
    except Exception as exc:
        return f"the CUDA self-test failed ({str(exc).splitlines()[0]})"
    return None


def self_test() -> None:
    """Build a BVH and trace one ray through a triangle and one past it.

    Raises
    ------
    RuntimeError
        If the answers are wrong.
    """
    tracer = CudaTracer(np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))
    blocked = tracer.occluded(
        np.array([[0.2, 0.2, 1.0], [2.0, 2.0, 1.0]]),
        np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]),
        np.array([2.0, 2.0]),
    )
    if blocked.tolist() != [True, False]:
        msg = f"expected [True, False] for the two test rays, got {blocked.tolist()}"
        raise RuntimeError(msg)


def array_module():
    """Return the array module of the device: CuPy on a GPU, NumPy under the simulator."""
    if simulated():
        return np
    import cupy

    return cupy


def to_host(a) -> np.ndarray:
    """Return a device (CuPy) or host array as a NumPy array."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


def blocks(n: int) -> int:
    """Blocks of :data:`THREADS` threads that cover ``n`` threads (at least one)."""
    return max(1, -(-n // THREADS))


def launch(kernel, grid: int, *args, threads: int = THREADS) -> None:
    """Run ``kernel`` on ``grid`` blocks of ``threads`` threads.

    numba's warning that a small grid under-uses the GPU is expected for small scenes and
    silenced.
    """
    from numba.core.errors import NumbaPerformanceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        kernel[grid, threads](*args)


def _spread_bits(v):
    """Insert two zero bits between each of the 10 low bits of ``v`` (Morton coding)."""
    v = (v * 0x00010001) & 0xFF0000FF
    v = (v * 0x00000101) & 0x0F00F00F
    v = (v * 0x00000011) & 0xC30C30C3
    return (v * 0x00000005) & 0x49249249


def morton_codes(points):
    """30-bit Morton codes of (k, 3) points in their bounding box (10 bits an axis)."""
    xp = array_module()
    low, high = points.min(axis=0), points.max(axis=0)
    scaled = (points - low) / xp.maximum(high - low, 1e-300) * 1024.0
    q = xp.clip(scaled.astype(xp.int64), 0, 1023)
    return (_spread_bits(q[:, 0]) << 2) | (_spread_bits(q[:, 1]) << 1) | _spread_bits(q[:, 2])


def build_lbvh(triangles_mm: NDArray[np.float64]):
    """Build the device BVH of (f, 3, 3) triangles (see the module).

    Returns
    -------
    tuple of device arrays
        ``lo, hi`` (m, 3) node boxes; ``left, right`` (m,) int32 children, -1 at leaves;
        ``start, count`` (m,) int32 each node's triangles (one per leaf); ``v0, e1, e2``
        (f, 3) the triangles in leaf order, first corner and edges; ``scale`` (f,) ``|e1|
        |e2|``; ``twice_area`` (f,) ``|e1 x e2|``. m = 2 f - 1 nodes, the root first.
    face : (f,) int64 device array
        The original index of each triangle in leaf order.
    """
    xp = array_module()
    n = len(triangles_mm)
    tri = xp.asarray(triangles_mm, dtype=np.float64)
    if n == 0:  # one empty leaf
        inf = xp.full((1, 3), np.inf)
        none = xp.zeros(1, np.int32)
        empty = xp.zeros((0, 3))
        return (
            (inf, -inf, none - 1, none - 1, none, none, empty, empty, empty, xp.zeros(0),
             xp.zeros(0)),
            xp.zeros(0, np.int64),
        )  # fmt: skip
    codes = morton_codes(tri.mean(axis=1))
    order = xp.argsort(codes)
    tri, codes = tri[order], codes[order]
    m = 2 * n - 1
    left = xp.full(m, -1, dtype=np.int32)
    right = xp.full(m, -1, dtype=np.int32)
    parent = xp.full(m, -1, dtype=np.int32)
    start = xp.zeros(m, dtype=np.int32)
    count = xp.zeros(m, dtype=np.int32)
    start[n - 1 :] = xp.arange(n, dtype=np.int32)
    count[n - 1 :] = 1
    lo = xp.empty((m, 3))
    hi = xp.empty((m, 3))
    tri_lo, tri_hi = tri.min(axis=1), tri.max(axis=1)
    if n == 1:
        lo[0], hi[0] = tri_lo[0], tri_hi[0]
    else:
        from twin.raycast import cuda_kernels as kernels

        launch(kernels.lbvh_topology, blocks(n - 1), codes, n, left, right, parent)
        arrived = xp.zeros(n - 1, dtype=np.int32)
        launch(kernels.lbvh_boxes, blocks(n), tri_lo, tri_hi, n, left, right, parent,
               arrived, lo, hi)  # fmt: skip
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    scale = xp.linalg.norm(e1, axis=1) * xp.linalg.norm(e2, axis=1)
    twice_area = xp.linalg.norm(xp.cross(e1, e2), axis=1)
    v0 = xp.ascontiguousarray(tri[:, 0])
    return (lo, hi, left, right, start, count, v0, e1, e2, scale, twice_area), order


class CudaTracer:
    """The :class:`twin.raycast.Tracer` of the device, over a BVH built there.

    Parameters
    ----------
    triangles_mm : (f, 3, 3) float64, mm
        Every triangle a ray may hit.

    Attributes
    ----------
    bvh : tuple of device arrays
        The tree as :func:`build_lbvh` returns it, the arguments of
        :func:`twin.raycast.cuda_kernels.traverse` after the ray.
    """

    name = "cuda"

    def __init__(self, triangles_mm: NDArray[np.float64]) -> None:
        tri = np.asarray(triangles_mm, dtype=np.float64).reshape(-1, 3, 3)
        self.bvh, face = build_lbvh(tri)
        self._face = to_host(face).astype(np.int64)
        points = tri.reshape(-1, 3)
        self._size = float(np.linalg.norm(np.ptp(points, axis=0))) if len(tri) else 0.0
        self._corner = points.min(axis=0) if len(tri) else np.zeros(3)

    def _rays(self, origins, directions, lengths, *, any_hit: bool, tol: float):
        xp = array_module()
        n = len(origins)
        out_t, out_face = xp.empty(n), xp.empty(n, dtype=np.int32)
        if n:
            from twin.raycast import cuda_kernels as kernels

            launch(
                kernels.rays,
                blocks(n),
                xp.asarray(np.ascontiguousarray(origins, dtype=np.float64)),
                xp.asarray(np.ascontiguousarray(directions, dtype=np.float64)),
                xp.asarray(np.ascontiguousarray(lengths, dtype=np.float64)),
                any_hit,
                tol,
                *self.bvh,
                out_t,
                out_face,
            )
        return to_host(out_t), to_host(out_face)

    def occluded(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        distances: NDArray[np.float64],
        *,
        end_tolerance_mm: float = 0.0,
    ) -> NDArray[np.bool_]:
        """Whether each segment is blocked; see :meth:`twin.raycast.Tracer.occluded`."""
        t, _ = self._rays(
            origins, directions, distances, any_hit=True, tol=float(end_tolerance_mm)
        )
        return np.isfinite(t)

    def first_hit(
        self, origins: NDArray[np.float64], directions: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Find the nearest hit along each ray; see :meth:`twin.raycast.Tracer.first_hit`."""
        reach = self._size + np.linalg.norm(np.asarray(origins) - self._corner, axis=1)
        t, k = self._rays(origins, directions, reach, any_hit=False, tol=-1.0)
        face = np.where(k >= 0, self._face[np.maximum(k, 0)], -1)
        return t, face
