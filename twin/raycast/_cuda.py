"""CUDA backend: numba-cuda kernels over a BVH built on the device.

The BVH is a linear BVH (Karras 2012): the triangles sorted by the 30-bit Morton code of
their centroids, one thread per internal node finding its children from the codes, then one
thread per leaf joining boxes on the way up to the root (the second child to arrive at a node
does it). A build is a sort and two kernels, so every wearer's geometry gets its own tree at
no CPU cost.

The transfer matrix is two kernels. ``near_cells`` runs one thread per (emitter, cell of
nearby sample points) and keeps the pairs where the cell may be lit (the cell tests of the CPU
engine, :mod:`twin.engine.culling`). ``shade_cells`` runs one block per surviving pair, a
thread per point of its cell: the exact facing, cone and range tests, a walk of the BVH for any hit
strictly inside the shadow segment (float64 Moller-Trumbore with the tests of the
``reference`` backend), the LED profile, and one write. A warp holds one emitter and
neighbouring points, so its rays stay together in the tree. The non-zeros become a CSC matrix
on the device; emitter batches and launches bound the memory (``PAIR_BYTES``).

The same kernel code runs under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) with
NumPy arrays in place of CuPy ones, which is how CI checks it without a GPU: slowly, so on
small scenes only. ``auto`` never picks a simulated device.
"""

from __future__ import annotations

import functools
import math
import os
import warnings

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

#: Bytes of one launch's buffer: (emitter, cell) flags, or the float64 values of the pairs.
PAIR_BYTES = 1 << 28
#: Threads per block.
THREADS = 128
#: Threads per block of ``shade_cells``: one (emitter, cell) pair, about 64 points.
SHADE_THREADS = 64
#: Device bytes per (emitter, cell) flag while flags are compacted: the flag, CuPy's mask and
#: scan in ``nonzero``, and the index pairs of the cells that survive.
FLAG_BYTES = 32


def simulated() -> bool:
    """Whether numba's CUDA simulator stands in for a GPU (``NUMBA_ENABLE_CUDASIM=1``)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.cache
def status() -> str | None:
    """``None`` when the backend can run here, else why not (one line); checked once."""
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
        _self_test()
    except Exception as exc:
        return f"the CUDA self-test failed ({str(exc).splitlines()[0]})"
    return None


def _self_test() -> None:
    """Both kernels on a tiny scene: one ray through a triangle and one past it, then the
    transfer matrix of a small shadowed plane, which must match the reference backend's."""
    tracer = CudaTracer(np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))
    blocked = tracer.occluded(
        np.array([[0.2, 0.2, 1.0], [2.0, 2.0, 1.0]]),
        np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]),
        np.array([2.0, 2.0]),
    )
    if blocked.tolist() != [True, False]:
        msg = f"expected [True, False] for the two test rays, got {blocked.tolist()}"
        raise RuntimeError(msg)
    from twin.devices.emitters import Emitters
    from twin.devices.profiles import Lambertian
    from twin.engine.transfer import ray_offset_mm, transfer_matrix
    from twin.geometry import phantoms
    from twin.geometry.surface import Surface
    from twin.raycast._reference import ReferenceTracer

    plane = phantoms.plane(size_mm=20.0, divisions=4)
    bump = plane.vertices_mm.copy()
    bump[12, 2] = 6.0  # the centre vertex, raised: it shadows part of the plane
    skin = Surface(bump, plane.faces)
    leds = Emitters.create([[-8.0, 0.0, 8.0], [8.0, 3.0, 5.0]], [0.0, 0.0, -1.0], 1.0,
                           profile=Lambertian(40.0))  # fmt: skip
    offset = ray_offset_mm(skin.triangles_mm)
    got, want = (
        transfer_matrix(skin.samples(), leds, t, offset_mm=offset).matrix.toarray()
        for t in (CudaTracer(skin.triangles_mm), ReferenceTracer(skin.triangles_mm))
    )
    if not np.allclose(got, want, rtol=1e-6, atol=0.0):
        msg = "the transfer matrix of the test plane differs from the reference backend's"
        raise RuntimeError(msg)


def _xp():
    """The array module of the device: CuPy on a GPU, NumPy under the simulator."""
    if simulated():
        return np
    import cupy

    return cupy


def _spread_bits(v):
    """Insert two zero bits between each of the 10 low bits of ``v`` (Morton coding)."""
    v = (v * 0x00010001) & 0xFF0000FF
    v = (v * 0x00000101) & 0x0F00F00F
    v = (v * 0x00000011) & 0xC30C30C3
    return (v * 0x00000005) & 0x49249249


def morton_codes(points):
    """30-bit Morton codes of (k, 3) points in their bounding box (10 bits an axis)."""
    xp = _xp()
    low, high = points.min(axis=0), points.max(axis=0)
    scaled = (points - low) / xp.maximum(high - low, 1e-300) * 1024.0
    q = xp.clip(scaled.astype(xp.int64), 0, 1023)
    return (_spread_bits(q[:, 0]) << 2) | (_spread_bits(q[:, 1]) << 1) | _spread_bits(q[:, 2])


def build_lbvh(triangles_mm: NDArray[np.float64]):
    """The device BVH of (f, 3, 3) triangles (see the module) and each leaf's triangle.

    Returns
    -------
    tuple of device arrays
        ``lo, hi`` (m, 3) node boxes; ``left, right`` (m,) int32 children, -1 at leaves;
        ``start, count`` (m,) int32 each node's triangles (one per leaf); ``v0, e1, e2``
        (f, 3) the triangles in leaf order, first corner and edges; ``scale`` (f,) ``|e1|
        |e2|``. m = 2 f - 1 nodes, the root first.
    face : (f,) int64 device array
        The original index of each triangle in leaf order.
    """
    xp = _xp()
    n = len(triangles_mm)
    tri = xp.asarray(triangles_mm, dtype=np.float64)
    if n == 0:  # one empty leaf
        inf = xp.full((1, 3), np.inf)
        none = xp.zeros(1, np.int32)
        empty = xp.zeros((0, 3))
        return (inf, -inf, none - 1, none - 1, none, none, empty, empty, empty, xp.zeros(0)), (
            xp.zeros(0, np.int64)
        )
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
        from twin.raycast import _cuda_kernels as kernels

        _launch(kernels.lbvh_topology, _blocks(n - 1), codes, n, left, right, parent)
        arrived = xp.zeros(n - 1, dtype=np.int32)
        _launch(kernels.lbvh_boxes, _blocks(n), tri_lo, tri_hi, n, left, right, parent,
                arrived, lo, hi)  # fmt: skip
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    scale = xp.linalg.norm(e1, axis=1) * xp.linalg.norm(e2, axis=1)
    v0 = xp.ascontiguousarray(tri[:, 0])
    return (lo, hi, left, right, start, count, v0, e1, e2, scale), order


def _blocks(n: int) -> int:
    return max(1, -(-n // THREADS))


def _launch(kernel, blocks: int, *args, threads: int = THREADS) -> None:
    """Run ``kernel`` on ``blocks`` x ``threads`` threads; numba's warning that a small grid
    under-uses the GPU is expected for small scenes and silenced."""
    from numba.core.errors import NumbaPerformanceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        kernel[blocks, threads](*args)


class CudaTracer:
    """See :mod:`twin.raycast`; also builds whole transfer matrices (:meth:`transfer`)."""

    name = "cuda"
    dtype = np.float64

    def __init__(self, triangles_mm: NDArray[np.float64]) -> None:
        tri = np.asarray(triangles_mm, dtype=np.float64).reshape(-1, 3, 3)
        self._device, face = build_lbvh(tri)
        self._face = _host(face).astype(np.int64)
        points = tri.reshape(-1, 3)
        self._size = float(np.linalg.norm(np.ptp(points, axis=0))) if len(tri) else 0.0
        self._corner = points.min(axis=0) if len(tri) else np.zeros(3)

    def _rays(self, origins, directions, lengths, *, any_hit: bool):
        xp = _xp()
        n = len(origins)
        out_t, out_face = xp.empty(n), xp.empty(n, dtype=np.int32)
        if n:
            from twin.raycast import _cuda_kernels as kernels

            _launch(
                kernels.rays,
                _blocks(n),
                xp.asarray(np.ascontiguousarray(origins, dtype=np.float64)),
                xp.asarray(np.ascontiguousarray(directions, dtype=np.float64)),
                xp.asarray(np.ascontiguousarray(lengths, dtype=np.float64)),
                any_hit,
                *self._device,
                out_t,
                out_face,
            )
        return _host(out_t), _host(out_face)

    def occluded(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        distances: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        t, _ = self._rays(origins, directions, distances, any_hit=True)
        return np.isfinite(t)

    def first_hit(
        self, origins: NDArray[np.float64], directions: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        reach = self._size + np.linalg.norm(np.asarray(origins) - self._corner, axis=1)
        t, k = self._rays(origins, directions, reach, any_hit=False)
        face = np.where(k >= 0, self._face[np.maximum(k, 0)], -1)
        return t, face

    def transfer(
        self,
        cells,
        points: NDArray[np.float64],
        emitters: NDArray[np.float64],
        profiles: list,
        profile_index: NDArray[np.int64],
        cos_cut: NDArray[np.float64],
        *,
        max_distance_mm: float,
        offset_mm: float,
        occlusion: bool = True,
        progress=None,
    ):
        """The transfer matrix of (k, 6) ``points`` (position mm, unit normal, in the
        order of ``cells``) and (n, 6) ``emitters`` (position mm, unit axis), on the device.

        ``cells`` (``twin.engine.transfer`` groups nearby points) cull whole (emitter, cell) pairs
        first; every point of a surviving cell then gets the exact tests and, if it passes,
        a shadow ray. Emitters go in batches whose cell flags (``FLAG_BYTES`` each) fit
        ``PAIR_BYTES``, and the surviving pairs in launches whose values (float64) fit
        ``PAIR_BYTES``.

        Returns
        -------
        matrix : (k, n) scipy.sparse.csc_array, (mW/cm^2) per mW
            Assembled on the device, rows in sample order.
        candidate_pairs : int
            Pairs that reached the exact tests (the points of surviving cells).
        rays_cast : int
        """
        from twin.raycast import _cuda_kernels as kernels

        xp = _xp()
        k, n = len(points), len(emitters)
        device = [xp.asarray(a) for a in _profile_table(profiles)]
        pts = xp.asarray(np.ascontiguousarray(points, dtype=np.float64))
        ems = xp.asarray(np.ascontiguousarray(emitters, dtype=np.float64))
        which = xp.asarray(np.asarray(profile_index, dtype=np.int32))
        cut = xp.asarray(np.asarray(cos_cut, dtype=np.float64))
        cell = [
            xp.asarray(np.ascontiguousarray(a))
            for a in (cells.centre, cells.radius, cells.normal, cells.cos_cone, cells.sin_cone)
        ]
        cell_start = xp.asarray(cells.start.astype(np.int32))
        cell_count = xp.asarray(cells.count.astype(np.int32))
        order = xp.asarray(cells.order)
        n_cells = len(cells.start)
        # Compacting the flags takes about FLAG_BYTES a flag at its peak; at least 16
        # batches, so that progress moves.
        per_batch = max(1, min(PAIR_BYTES // (FLAG_BYTES * max(n_cells, 1)), -(-n // 16)))
        parts, candidates, rays = [], 0, xp.zeros((), dtype=np.int64)
        for first in range(0, n, per_batch):
            flags = xp.zeros((min(per_batch, n - first), n_cells), dtype=np.uint8)
            _launch(kernels.near_cells, _blocks(flags.size), ems, first, cut, *cell,
                    max_distance_mm, flags)  # fmt: skip
            pair_emitter, pair_cell = (a.astype(np.int32) for a in xp.nonzero(flags))
            pair_emitter += first
            ends = np.cumsum(_host(cell_count[pair_cell]), dtype=np.int64)
            for lo, hi in _launches(ends, PAIR_BYTES // 8):
                begin = int(ends[lo - 1]) if lo else 0
                offsets = xp.asarray(np.concatenate([[0], ends[lo : hi - 1] - begin]))
                out = xp.empty(int(ends[hi - 1]) - begin)
                _launch(
                    kernels.shade_cells, hi - lo, pair_emitter[lo:hi], pair_cell[lo:hi],
                    offsets, cell_start, cell_count, pts, ems, which, cut,
                    max_distance_mm**2, offset_mm, occlusion, *device, *self._device, out,
                    threads=SHADE_THREADS,
                )  # fmt: skip
                live = xp.flatnonzero(out > 0.0)
                pair = lo + xp.searchsorted(offsets, live, side="right") - 1
                point = cell_start[pair_cell[pair]] + (live - offsets[pair - lo])
                parts.append((order[point], pair_emitter[pair], out[live]))
                candidates += len(out)
                if occlusion:
                    rays += xp.count_nonzero(out >= 0.0)
            if progress is not None:
                progress(first + len(flags), n)
        return _csc(xp, parts, (k, n)), candidates, int(rays)


def _launches(ends: NDArray[np.int64], budget: int) -> list[tuple[int, int]]:
    """Split pairs with cumulative sizes ``ends`` into runs ``[lo, hi)`` of at most
    ``budget`` in all (a single pair over the budget goes alone)."""
    runs, lo = [], 0
    while lo < len(ends):
        base = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, base + budget, side="right")))
        runs.append((lo, hi))
        lo = hi
    return runs


def _profile_table(profiles: list) -> tuple[NDArray, ...]:
    """Profiles as device-friendly arrays: kind, exponent, coefficient, table slice, tables."""
    from twin.devices.profiles import Isotropic, Lambertian, Tabulated
    from twin.raycast._cuda_kernels import POWER, TABLE

    kind, m, coef, first, size, angles, values = [], [], [], [], [], [], []
    offset = 0
    for p in profiles:
        if isinstance(p, Lambertian):
            kind.append(POWER), m.append(p.m), coef.append((p.m + 1.0) / (2.0 * math.pi))
            first.append(0), size.append(0)
        elif isinstance(p, Isotropic):
            kind.append(POWER), m.append(0.0), coef.append(1.0 / (4.0 * math.pi))
            first.append(0), size.append(0)
        elif isinstance(p, Tabulated):
            kind.append(TABLE), m.append(0.0), coef.append(p.scale_per_mw)
            first.append(offset), size.append(len(p.angles_deg))
            angles.extend(p.angles_deg), values.extend(p.intensity)
            offset += len(p.angles_deg)
        else:
            msg = f"the cuda backend cannot evaluate LED profile {p!r}"
            raise TypeError(msg)
    return (
        np.array(kind, np.int32),
        np.array(m, np.float64),
        np.array(coef, np.float64),
        np.array(first, np.int32),
        np.array(size, np.int32),
        np.array(angles or [0.0], np.float64),
        np.array(values or [0.0], np.float64),
    )


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _csc(xp, parts, shape) -> scipy.sparse.csc_array:
    """The CSC matrix of (point, emitter, value) parts whose emitters come in order, built on
    the device and returned on the host."""
    point = xp.concatenate([p[0] for p in parts]) if parts else xp.zeros(0, np.int32)
    emitter = xp.concatenate([p[1] for p in parts]) if parts else xp.zeros(0, np.int32)
    value = xp.concatenate([p[2] for p in parts]) if parts else xp.zeros(0)
    indptr = xp.zeros(shape[1] + 1, dtype=np.int64)
    if len(emitter):  # CuPy's bincount of nothing raises, minlength or not
        indptr[1:] = xp.cumsum(xp.bincount(emitter, minlength=shape[1]))
    return scipy.sparse.csc_array((_host(value), _host(point), _host(indptr)), shape=shape)
