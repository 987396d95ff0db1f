"""The CPU backends (``reference``, ``embree``): numba culling kernels, shadow rays by a tracer.

Emitters go in batches on a thread pool. For each batch, :func:`_cpu_kernels.near_cells`
keeps the (emitter, cell) pairs that pass the cell tests, :func:`_cpu_kernels.shade_pairs`
runs the exact tests on every point of those cells and sets up the shadow rays of the pairs
that pass, the tracer casts them, and the LED profiles give the values. The kernels and the
tracer release the GIL, so the threads run in parallel.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.engine.backends import Cast, ProgressCallback
from twin.engine.backends import _cpu_kernels as _kernels
from twin.engine.culling import Cells, cone_cosines, emitter_rows, make_cells
from twin.engine.settings import TransferSettings
from twin.geometry.surface import SamplePoints
from twin.raycast import Tracer
from twin.units import MM2_PER_CM2

_PAIRS_PER_CHUNK = 1 << 19
_CELL_TESTS_PER_BATCH = 1 << 21


class CpuBackend:
    """Transfer matrices on the CPU, shadow rays through ``tracer``.

    Parameters
    ----------
    tracer : Tracer
        Ray queries over every triangle that can block light; thread-safe.
    workers : int, optional
        Threads; defaults to the number of CPUs.

    Attributes
    ----------
    name : str
        The tracer's name.
    tracer : Tracer
    """

    def __init__(self, tracer: Tracer, *, workers: int | None = None) -> None:
        self.tracer = tracer
        self.name = tracer.name
        self._workers = workers or os.cpu_count() or 1

    def transfer(
        self,
        samples: SamplePoints,
        emitters: Emitters,
        settings: TransferSettings,
        *,
        progress: ProgressCallback | None = None,
    ) -> Cast:
        """Build the transfer matrix (see :meth:`twin.engine.backends.Backend.transfer`).

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
        """
        cells = make_cells(samples)
        cos_cut = cone_cosines(emitters, settings.intensity_cutoff)
        ems = emitter_rows(emitters)
        n = len(emitters)
        per_batch = max(
            1,
            min(_CELL_TESTS_PER_BATCH // len(cells.start), math.ceil(n / (16 * self._workers))),
        )
        batches = [
            np.arange(i, min(i + per_batch, n), dtype=np.int32) for i in range(0, n, per_batch)
        ]
        results: dict[int, list] = {}
        candidates = rays = done = 0
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            futures = {
                pool.submit(self._batch, b, cells, ems, emitters, cos_cut, settings): (i, len(b))
                for i, b in enumerate(batches)
            }
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
        matrix = scipy.sparse.csc_array((value, point, indptr), shape=(len(cells.points), n))
        return Cast(matrix=matrix, candidate_pairs=candidates, rays_cast=rays)

    def _batch(
        self,
        batch: NDArray[np.int32],
        cells: Cells,
        ems: NDArray[np.float64],
        emitters: Emitters,
        cos_cut: NDArray[np.float64],
        settings: TransferSettings,
    ) -> tuple[list[tuple[NDArray, NDArray, NDArray]], int, int]:
        """Cull and shade one batch of emitters.

        Returns its (point, emitter, value) parts, the candidate pairs and the rays cast.
        """
        max_d, end_tolerance_mm = settings.max_distance_mm, settings.end_tolerance_mm
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
            pos, emi, geometry, origin, direction = _kernels.empty_pair_buffers(total)
            m = _kernels.shade_pairs(
                pair_e[lo:hi],
                pair_c[lo:hi],
                cells.start,
                cells.count,
                cells.points,
                ems,
                cos_cut,
                max_d,
                pos,
                emi,
                geometry,
                origin,
                direction,
            )
            pos, emi, geometry = pos[:m], emi[:m], geometry[:m]
            if settings.occlusion and m:
                blocked = self.tracer.occluded(
                    origin[:m], direction[:m], geometry[:, 0], end_tolerance_mm=end_tolerance_mm
                )
                rays += m
                free = np.flatnonzero(~blocked)
                pos, emi, geometry = pos[free], emi[free], geometry[free]
            value = _transfer_values(emitters, emi, *geometry.T)
            live = np.flatnonzero(value > 0.0)  # cos(theta) = 0 exactly, with no cut-off
            parts.append((cells.order[pos[live]], emi[live], value[live]))
        return parts, candidates, rays


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
