"""The transfer matrix T: irradiance at every skin point per milliwatt of every emitter.

``T[p, i] = I_i(theta) cos(alpha) / r^2`` (per mW of the emitter's radiant flux, converted to
mW/cm^2 per mW), zero when the point faces away, when the emitter points away beyond the
intensity cut-off, beyond the range, or when the segment from the point to the emitter is
blocked (physics.md section 1.2). Ray-casting builds T once per geometry; every drive level,
mode, exposure time and metric after that is linear algebra on T (design.md "Engine").

Culling happens twice before any ray is cast, and never drops a contribution whose relative
intensity is at or above ``intensity_cutoff``:

1. per (emitter, cell of nearby sample points), with a bounding sphere and normal cone per cell:
   the whole cell is outside the emission cone, out of range, or faces away;
2. per (emitter, point): the exact facing, cone and range tests.

Both engines run the same tests (:mod:`twin.engine.culling`): the CPU one in numba kernels on a
thread pool, the ``cuda`` one on the device (:meth:`twin.raycast._cuda.CudaTracer.transfer`).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._validation import as_positive
from twin.devices.emitters import Emitters
from twin.engine import _cpu_kernels as _kernels
from twin.errors import InputError
from twin.geometry.surface import SamplePoints, Surface
from twin.raycast import Tracer
from twin.units import MM2_PER_CM2

#: Default relative-intensity cut-off of the emission cone: directions where an LED emits less
#: than this fraction of its peak intensity are not traced. For a cos^m emitter the flux outside
#: the cone is cutoff^((m+1)/m) of the total (1.5e-5 at m = 4.82).
DEFAULT_INTENSITY_CUTOFF = 1e-4

_POINTS_PER_CELL = 64
_PAIRS_PER_CHUNK = 1 << 19
_CELL_TESTS_PER_BATCH = 1 << 21

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class TransferMatrix:
    """Sparse transfer matrix and how it was made.

    Attributes
    ----------
    matrix : (k, n) scipy.sparse.csc_array of float64, (mW/cm^2) per mW
        Row ``p`` is a sample point, column ``i`` an emitter.
    backend : str
        The ray engine that resolved occlusion.
    candidate_pairs : int
        (point, emitter) pairs that reached the exact per-pair tests.
    rays_cast : int
        Shadow rays traced (pairs that passed every culling test).
    seconds : float
        Wall time to build the matrix.
    intensity_cutoff : float
    max_distance_mm : float
    """

    matrix: scipy.sparse.csc_array
    backend: str
    candidate_pairs: int
    rays_cast: int
    seconds: float
    intensity_cutoff: float
    max_distance_mm: float


def scene_triangles(target: Surface, occluders: Sequence[Surface] = ()) -> NDArray[np.float64]:
    """(f, 3, 3) float64 mm: the target's triangles first, then each occluder's."""
    return np.concatenate([target.triangles_mm, *(o.triangles_mm for o in occluders)])


def ray_offset_mm(triangles_mm: NDArray[np.float64]) -> float:
    """Distance, mm, by which shadow-ray origins leave the skin along its normal.

    Scale-aware: 1e-4 of the scene's bounding-box diagonal, far above float32 resolution
    (6e-8 relative) and far below any anatomical thickness.
    """
    pts = triangles_mm.reshape(-1, 3)
    return 1e-4 * float(np.linalg.norm(np.ptp(pts, axis=0)))


@dataclass(frozen=True)
class _Cells:
    """Sample points grouped into grid cells, each with a bounding sphere and normal cone."""

    order: NDArray[np.int32]  # sample index of each sorted position
    start: NDArray[np.int64]  # (c,) first sorted position of each cell
    count: NDArray[np.int64]  # (c,)
    centre: NDArray[np.float64]  # (c, 3) mm
    radius: NDArray[np.float64]  # (c,) mm
    normal: NDArray[np.float64]  # (c, 3) unit mean normal
    cos_cone: NDArray[np.float64]  # (c,) cos of the half-angle of the normals around ``normal``
    sin_cone: NDArray[np.float64]  # (c,)


def _make_cells(samples: SamplePoints) -> _Cells:
    p, n = samples.positions_mm, samples.normals
    size = math.sqrt(_POINTS_PER_CELL * max(float(samples.areas_mm2.mean()), 1e-12))
    ijk = np.floor((p - p.min(axis=0)) / size).astype(np.int64)
    dims = ijk.max(axis=0) + 1
    key = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    order = np.argsort(key, kind="stable").astype(np.int32)
    _, start, count = np.unique(key[order], return_index=True, return_counts=True)
    ps, ns = p[order], n[order]
    centre = np.add.reduceat(ps, start) / count[:, None]
    cell_of = np.repeat(np.arange(len(start)), count)
    radius = np.maximum.reduceat(np.linalg.norm(ps - centre[cell_of], axis=1), start)
    mean_n = np.add.reduceat(ns, start)
    length = np.linalg.norm(mean_n, axis=1)
    normal = mean_n / np.maximum(length, 1e-300)[:, None]
    cos_dev = np.minimum.reduceat(np.einsum("ij,ij->i", ns, normal[cell_of]), start)
    cos_cone = np.where(length > 1e-9, np.clip(cos_dev, -1.0, 1.0), -1.0)
    sin_cone = np.sqrt(1.0 - cos_cone**2)
    return _Cells(
        order,
        start.astype(np.int64),
        count.astype(np.int64),
        centre,
        radius,
        normal,
        cos_cone,
        sin_cone,
    )


def _transfer_values(
    emitters: Emitters,
    emi: NDArray[np.int32],
    r: NDArray[np.float64],
    r_cos_a: NDArray[np.float64],
    r_cos_t: NDArray[np.float64],
) -> NDArray[np.float64]:
    """I(theta)/P * cos(alpha) / r^2 in (mW/cm^2) per mW, for each pair."""
    cos_t = r_cos_t / r
    intensity = np.empty_like(r)
    if len(emitters.profiles) == 1:
        intensity[:] = emitters.profiles[0].intensity_per_mw(cos_t)
    else:
        which = emitters.profile_index[emi]
        for k, profile in enumerate(emitters.profiles):
            sel = which == k
            intensity[sel] = profile.intensity_per_mw(cos_t[sel])
    return intensity * r_cos_a / (r * r * r) * MM2_PER_CM2


def transfer_matrix(
    samples: SamplePoints,
    emitters: Emitters,
    tracer: Tracer,
    *,
    offset_mm: float,
    intensity_cutoff: float = DEFAULT_INTENSITY_CUTOFF,
    max_distance_mm: float = math.inf,
    occlusion: bool = True,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> TransferMatrix:
    """Build the sparse transfer matrix for ``samples`` lit by ``emitters``.

    Parameters
    ----------
    samples : SamplePoints
        ``k`` skin points with normals.
    emitters : Emitters
        ``n`` LEDs.
    tracer : Tracer
        Ray engine over every surface that can block light (skin and occluders).
    offset_mm : float, mm
        Shadow rays start this far off the skin along its normal, run parallel to the
        point-to-emitter direction and stop this far short of the emitter (see
        :func:`ray_offset_mm`).
    intensity_cutoff : float, default: 1e-4
        Directions where an LED's intensity is below this fraction of its peak are not
        traced. 0 traces the full forward hemisphere (or sphere, for isotropic LEDs).
    max_distance_mm : float, default: inf, mm
        Pairs farther apart are not traced.
    occlusion : bool, default: True
        Cast shadow rays; ``False`` keeps only the facing, cone and range tests.
    workers : int, optional
        Threads; defaults to the number of CPUs.
    progress : callable(done, total), optional
        Called with the number of emitters finished so far.

    Returns
    -------
    TransferMatrix
    """
    start_time = time.perf_counter()
    cutoff = as_positive(intensity_cutoff, name="intensity_cutoff", allow_zero=True)
    if cutoff >= 1.0:
        msg = f"intensity_cutoff: expected a fraction in [0, 1), got {intensity_cutoff!r}"
        raise InputError(msg)
    max_d = float(max_distance_mm)
    if not max_d > 0.0:
        msg = (
            "max_distance_mm: expected a distance > 0 mm (inf for no limit), got "
            f"{max_distance_mm!r}"
        )
        raise InputError(msg)
    cos_cut_profile = np.array([p.cos_cutoff(cutoff) for p in emitters.profiles])
    cos_cut = cos_cut_profile[emitters.profile_index]
    cells = _make_cells(samples)
    # Samples in cell order, so the points of one cell are contiguous.
    points = np.ascontiguousarray(np.hstack([samples.positions_mm, samples.normals])[cells.order])
    ems = np.ascontiguousarray(np.hstack([emitters.positions_mm, emitters.axes]))
    if tracer.name == "cuda":  # the whole matrix on the device
        matrix, candidates, rays = tracer.transfer(
            cells,
            points,
            ems,
            emitters.profiles,
            emitters.profile_index,
            cos_cut,
            max_distance_mm=max_d,
            offset_mm=offset_mm,
            occlusion=occlusion,
            progress=progress,
        )
    else:
        matrix, candidates, rays = _cast_on_cpu(
            cells,
            points,
            ems,
            emitters,
            tracer,
            cos_cut,
            max_d=max_d,
            offset_mm=offset_mm,
            occlusion=occlusion,
            workers=workers,
            progress=progress,
        )
    return TransferMatrix(
        matrix=matrix,
        backend=tracer.name,
        candidate_pairs=candidates,
        rays_cast=rays,
        seconds=time.perf_counter() - start_time,
        intensity_cutoff=cutoff,
        max_distance_mm=max_d,
    )


def _cast_on_cpu(
    cells: _Cells,
    points: NDArray[np.float64],
    ems: NDArray[np.float64],
    emitters: Emitters,
    tracer: Tracer,
    cos_cut: NDArray[np.float64],
    *,
    max_d: float,
    offset_mm: float,
    occlusion: bool,
    workers: int | None,
    progress: ProgressCallback | None,
) -> tuple[scipy.sparse.csc_array, int, int]:
    """Cell and pair culling (numba kernels) and shadow rays through ``tracer``, emitters in
    batches on a thread pool; the matrix, candidate pairs and rays cast. ``points`` and
    ``ems`` are (k, 6) and (n, 6): position and unit normal or axis, points in cell order."""
    n = len(emitters)
    workers = workers or os.cpu_count() or 1
    per_batch = max(
        1, min(_CELL_TESTS_PER_BATCH // len(cells.start), math.ceil(n / (16 * workers)))
    )
    batches = [np.arange(i, min(i + per_batch, n), dtype=np.int32) for i in range(0, n, per_batch)]

    def run_batch(
        batch: NDArray[np.int32],
    ) -> tuple[list[tuple[NDArray, NDArray, NDArray]], int, int]:
        size = len(batch) * len(cells.start)
        pair_e, pair_c = np.empty(size, np.int32), np.empty(size, np.int32)
        k = _kernels.near_cells(
            ems,
            batch,
            cos_cut,
            cells.centre,
            cells.radius,
            cells.normal,
            cells.cos_cone,
            cells.sin_cone,
            max_d,
            pair_e,
            pair_c,
        )
        pair_e, pair_c = pair_e[:k], pair_c[:k]
        cum = np.cumsum(cells.count[pair_c])
        cuts = np.searchsorted(
            cum, np.arange(_PAIRS_PER_CHUNK, cum[-1] if k else 0, _PAIRS_PER_CHUNK)
        )
        splits = np.unique(np.concatenate([[0], cuts, [k]]))
        parts = []
        candidates = rays = 0
        for lo, hi in itertools.pairwise(splits):
            total = int(cells.count[pair_c[lo:hi]].sum())
            candidates += total
            pos, emi, geometry, origin, direction = _kernels.empty_pair_buffers(
                total, tracer.dtype
            )
            m = _kernels.shade_pairs(
                pair_e[lo:hi],
                pair_c[lo:hi],
                cells.start,
                cells.count,
                points,
                ems,
                cos_cut,
                max_d,
                offset_mm,
                pos,
                emi,
                geometry,
                origin,
                direction,
            )
            pos, emi, geometry = pos[:m], emi[:m], geometry[:m]
            if occlusion and m:
                blocked = tracer.occluded(
                    origin[:m], direction[:m], geometry[:, 0] - 2.0 * offset_mm
                )
                rays += m
                free = np.flatnonzero(~blocked)
                pos, emi, geometry = pos[free], emi[free], geometry[free]
            value = _transfer_values(emitters, emi, *geometry.T)
            live = np.flatnonzero(value > 0.0)  # cos(theta) = 0 exactly, with no cut-off
            parts.append((cells.order[pos[live]], emi[live], value[live]))
        return parts, candidates, rays

    results: dict[int, list] = {}
    candidates = rays = done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_batch, b): (i, len(b)) for i, b in enumerate(batches)}
        for fut in as_completed(futures):
            parts, c, r = fut.result()
            i, size = futures[fut]
            results[i] = parts
            candidates += c
            rays += r
            done += size
            if progress is not None:
                progress(done, n)
    # Pairs come sorted by emitter within each batch and batches cover emitters in order,
    # so the columns of a CSC matrix can be laid down directly.
    ordered = [part for i in range(len(batches)) for part in results[i]]
    point = np.concatenate([p for p, _, _ in ordered]) if ordered else np.zeros(0, np.int32)
    emitter = np.concatenate([e for _, e, _ in ordered]) if ordered else np.zeros(0, np.int32)
    value = np.concatenate([v for _, _, v in ordered]) if ordered else np.zeros(0)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(emitter, minlength=n), out=indptr[1:])
    matrix = scipy.sparse.csc_array((value, point, indptr), shape=(len(points), n))
    return matrix, candidates, rays
