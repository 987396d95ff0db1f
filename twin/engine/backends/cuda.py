"""The cuda backend: the whole transfer matrix on the device.

Two kernels (:mod:`twin.engine.backends._cuda_kernels`). ``near_cells`` runs one thread per
(emitter, cell of nearby sample points) and keeps the pairs where the cell may be lit (the cell
tests of the CPU backends, :mod:`twin.engine.culling`). ``shade_cells`` runs one block per
surviving pair, a thread per point of its cell: the exact facing, cone and range tests, a walk
of the device BVH of :class:`twin.raycast.cuda.CudaTracer` for any hit strictly inside the
shadow segment, the LED profile, and one write. A warp holds one emitter and neighbouring
points, so its rays stay together in the tree. The non-zeros become a CSC matrix on the
device; emitter batches and launches bound the memory (``PAIR_BYTES``).

Under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the same kernels run on NumPy
arrays: slowly, so on small scenes only. ``auto`` never picks a simulated device, and on a
real one only after :func:`self_test`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.devices.profiles import Isotropic, Lambertian, Profile, Tabulated
from twin.engine.backends import Cast, ProgressCallback
from twin.engine.culling import cone_cosines, emitter_rows, make_cells
from twin.engine.settings import TransferSettings
from twin.geometry.surface import SamplePoints
from twin.raycast import cuda as device

#: Bytes of one launch's buffer: (emitter, cell) flags, or the float64 values of the pairs.
PAIR_BYTES = 1 << 28
#: Threads per block of ``shade_cells``: one (emitter, cell) pair, about 64 points.
SHADE_THREADS = 64
#: Device bytes per (emitter, cell) flag while flags are compacted: the flag, CuPy's mask and
#: scan in ``nonzero``, and the index pairs of the cells that survive.
FLAG_BYTES = 32


@functools.cache
def status() -> str | None:
    """``None`` when the backend can run here, else why not (one line); checked once.

    On a real device the tracer's self-test and :func:`self_test` must pass.
    """
    reason = device.status()
    if reason is not None or device.simulated():
        return reason
    try:
        self_test()
    except Exception as exc:
        return f"the CUDA self-test failed ({str(exc).splitlines()[0]})"
    return None


def self_test() -> None:
    """Build the transfer matrix of a small shadowed plane; it must match the reference's.

    Raises
    ------
    RuntimeError
        If the matrices differ.
    """
    from twin.engine.backends.cpu import CpuBackend
    from twin.geometry import phantoms
    from twin.geometry.surface import Surface
    from twin.raycast import make_tracer, self_tolerance_mm

    plane = phantoms.plane(size_mm=20.0, divisions=4)
    bump = plane.vertices_mm.copy()
    bump[12, 2] = 6.0  # the centre vertex, raised: it shadows part of the plane
    skin = Surface(bump, plane.faces)
    leds = Emitters.create([[-8.0, 0.0, 8.0], [8.0, 3.0, 5.0]], [0.0, 0.0, -1.0], 1.0,
                           profile=Lambertian(40.0))  # fmt: skip
    settings = TransferSettings(end_tolerance_mm=self_tolerance_mm(skin.triangles_mm))
    got, want = (
        backend.transfer(skin.samples(), leds, settings).matrix.toarray()
        for backend in (
            CudaBackend(skin.triangles_mm),
            CpuBackend(make_tracer("reference", skin.triangles_mm)),
        )
    )
    if not np.allclose(got, want, rtol=1e-6, atol=0.0):
        msg = "the transfer matrix of the test plane differs from the reference backend's"
        raise RuntimeError(msg)


class CudaBackend:
    """Transfer matrices on the device, over a BVH built there.

    Parameters
    ----------
    triangles_mm : (f, 3, 3) float64, mm
        Every triangle that can block light.

    Attributes
    ----------
    name : str
        ``"cuda"``.
    tracer : CudaTracer
        Ray queries over the same tree.
    """

    name = "cuda"

    def __init__(self, triangles_mm: NDArray[np.float64]) -> None:
        self.tracer = device.CudaTracer(triangles_mm)

    def transfer(
        self,
        samples: SamplePoints,
        emitters: Emitters,
        settings: TransferSettings,
        *,
        progress: ProgressCallback | None = None,
    ) -> Cast:
        """Build the transfer matrix (see :meth:`twin.engine.backends.Backend.transfer`).

        Cells of nearby points (:func:`twin.engine.culling.make_cells`) cull whole (emitter,
        cell) pairs first; every point of a surviving cell then gets the exact tests and, if
        it passes, a shadow ray. Emitters go in batches whose cell flags (``FLAG_BYTES``
        each) fit ``PAIR_BYTES``, and the surviving pairs in launches whose values (float64)
        fit ``PAIR_BYTES``.

        Parameters
        ----------
        samples : SamplePoints
            ``k`` skin points with normals.
        emitters : Emitters
            ``n`` LEDs.
        settings : TransferSettings
        progress : callable(done, total), optional
            Called as batches of emitters finish.

        Returns
        -------
        Cast
            The matrix is assembled on the device and returned on the host.
        """
        from twin.engine.backends import _cuda_kernels as kernels

        xp = device.array_module()
        cells = make_cells(samples)
        k, n = len(cells.points), len(emitters)
        profiles = [xp.asarray(a) for a in _profile_table(emitters.profiles)]
        pts = xp.asarray(cells.points)
        ems = xp.asarray(emitter_rows(emitters))
        which = xp.asarray(np.asarray(emitters.profile_index, dtype=np.int32))
        cut = xp.asarray(cone_cosines(emitters, settings.intensity_cutoff))
        cell = [
            xp.asarray(np.ascontiguousarray(a))
            for a in (cells.centre, cells.radius, cells.normal, cells.cos_cone, cells.sin_cone)
        ]
        cell_start = xp.asarray(cells.start.astype(np.int32))
        cell_count = xp.asarray(cells.count.astype(np.int32))
        order = xp.asarray(cells.order)
        n_cells = len(cells.start)
        max_d, end_tolerance_mm = settings.max_distance_mm, settings.end_tolerance_mm
        # Compacting the flags takes about FLAG_BYTES a flag at its peak; at least 16
        # batches, so that progress moves.
        per_batch = max(1, min(PAIR_BYTES // (FLAG_BYTES * max(n_cells, 1)), -(-n // 16)))
        parts, candidates, rays = [], 0, xp.zeros((), dtype=np.int64)
        for first in range(0, n, per_batch):
            flags = xp.zeros((min(per_batch, n - first), n_cells), dtype=np.uint8)
            device.launch(kernels.near_cells, device.blocks(flags.size), ems, first, cut,
                          *cell, max_d, flags)  # fmt: skip
            pair_emitter, pair_cell = (a.astype(np.int32) for a in xp.nonzero(flags))
            pair_emitter += first
            ends = np.cumsum(device.to_host(cell_count[pair_cell]), dtype=np.int64)
            for lo, hi in _launches(ends, PAIR_BYTES // 8):
                begin = int(ends[lo - 1]) if lo else 0
                offsets = xp.asarray(np.concatenate([[0], ends[lo : hi - 1] - begin]))
                out = xp.empty(int(ends[hi - 1]) - begin)
                device.launch(
                    kernels.shade_cells, hi - lo, pair_emitter[lo:hi], pair_cell[lo:hi],
                    offsets, cell_start, cell_count, pts, ems, which, cut, max_d**2,
                    end_tolerance_mm, settings.occlusion, *profiles, *self.tracer.bvh, out,
                    threads=SHADE_THREADS,
                )  # fmt: skip
                live = xp.flatnonzero(out > 0.0)
                pair = lo + xp.searchsorted(offsets, live, side="right") - 1
                point = cell_start[pair_cell[pair]] + (live - offsets[pair - lo])
                parts.append((order[point], pair_emitter[pair], out[live]))
                candidates += len(out)
                if settings.occlusion:
                    rays += xp.count_nonzero(out >= 0.0)
            if progress is not None:
                progress(first + len(flags), n)
        return Cast(
            matrix=_csc(xp, parts, (k, n)), candidate_pairs=candidates, rays_cast=int(rays)
        )


def _launches(ends: NDArray[np.int64], budget: int) -> list[tuple[int, int]]:
    """Split pairs with cumulative sizes ``ends`` into runs ``[lo, hi)`` of at most ``budget``.

    A single pair over the budget goes alone.
    """
    runs, lo = [], 0
    while lo < len(ends):
        base = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, base + budget, side="right")))
        runs.append((lo, hi))
        lo = hi
    return runs


def _profile_table(profiles: Sequence[Profile]) -> tuple[NDArray, ...]:
    """Profiles as device-friendly arrays: kind, exponent, coefficient, table slice, tables."""
    from twin.engine.backends._cuda_kernels import POWER, TABLE

    kind: list[int] = []
    m: list[float] = []
    coef: list[float] = []
    first: list[int] = []
    size: list[int] = []
    angles: list[float] = []
    values: list[float] = []
    offset = 0
    for p in profiles:
        if isinstance(p, Lambertian):
            kind.append(POWER)
            m.append(p.m)
            coef.append((p.m + 1.0) / (2.0 * math.pi))
            first.append(0)
            size.append(0)
        elif isinstance(p, Isotropic):
            kind.append(POWER)
            m.append(0.0)
            coef.append(1.0 / (4.0 * math.pi))
            first.append(0)
            size.append(0)
        elif isinstance(p, Tabulated):
            kind.append(TABLE)
            m.append(0.0)
            coef.append(p.scale_per_mw)
            first.append(offset)
            size.append(len(p.angles_deg))
            angles.extend(p.angles_deg)
            values.extend(p.intensity)
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


def _csc(xp, parts, shape) -> scipy.sparse.csc_array:
    """Assemble (point, emitter, value) parts, emitters in order, into a CSC matrix.

    Built on the device and returned on the host.
    """
    point = xp.concatenate([p[0] for p in parts]) if parts else xp.zeros(0, np.int32)
    emitter = xp.concatenate([p[1] for p in parts]) if parts else xp.zeros(0, np.int32)
    value = xp.concatenate([p[2] for p in parts]) if parts else xp.zeros(0)
    indptr = xp.zeros(shape[1] + 1, dtype=np.int64)
    if len(emitter):  # CuPy's bincount of nothing raises, minlength or not
        indptr[1:] = xp.cumsum(xp.bincount(emitter, minlength=shape[1]))
    return scipy.sparse.csc_array(
        (device.to_host(value), device.to_host(point), device.to_host(indptr)), shape=shape
    )
