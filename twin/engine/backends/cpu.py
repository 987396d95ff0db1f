"""The CPU backends (``reference``, ``embree``): numba culling kernels, shadow rays by a tracer.

Emitters go in batches on a thread pool. For each batch, :func:`_cpu_kernels.near_cells`
keeps the (emitter, cell) pairs that pass the cell tests, :func:`_cpu_kernels.shade_pairs`
runs the exact tests on every point of those cells and sets up the shadow rays of the pairs
that pass, the tracer casts those that shaft culling (:mod:`twin.engine.shafts`) does not
clear, and the LED profiles give the values. The kernels and the
tracer release the GIL, so the threads run in parallel.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.engine.backends import Cast, ProgressCallback, _shaft_kernels
from twin.engine.backends import _cpu_kernels as _kernels
from twin.engine.culling import Cells, cone_cosines, emitter_rows, make_cells
from twin.engine.settings import TransferSettings
from twin.engine.shafts import MIN_ELEVATION, Shafts, build_shafts
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
    triangles_mm : (f, 3, 3) float64, optional, mm
        The tracer's triangles, for shaft culling (:mod:`twin.engine.shafts`, built on the
        first matrix); without them every ray that passes the culling tests is cast.
    workers : int, optional
        Threads; defaults to the number of CPUs.

    Attributes
    ----------
    name : str
        The tracer's name.
    tracer : Tracer
    """

    def __init__(
        self,
        tracer: Tracer,
        *,
        triangles_mm: NDArray[np.float64] | None = None,
        workers: int | None = None,
    ) -> None:
        self.tracer = tracer
        self.name = tracer.name
        self._triangles_mm = triangles_mm
        self._shafts: Shafts | None = None
        self._near: tuple[str, NDArray[np.float64]] | None = None
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
        near = self._neighbourhoods(cells, settings)
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
        candidates = rays = cleared = done = 0
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            futures = {
                pool.submit(self._batch, b, cells, near, ems, emitters, cos_cut, settings): (
                    i,
                    len(b),
                )
                for i, b in enumerate(batches)
            }
            for fut in as_completed(futures):
                parts, c, r, free = fut.result()
                i, size = futures[fut]
                results[i] = parts
                candidates += c
                rays += r
                cleared += free
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
        return Cast(
            matrix=matrix, candidate_pairs=candidates, rays_cast=rays, rays_cleared=cleared
        )

    def _neighbourhoods(self, cells: Cells, settings: TransferSettings) -> NDArray[np.float64]:
        """Each cell's neighbourhood radius, mm (:mod:`twin.engine.shafts`); 0 without shafts.

        The last result is kept: it depends only on the cells, the triangles and the end
        tolerance, so every emitter layout on the same skin reuses it.
        """
        if self._shafts is None and self._triangles_mm is not None and len(self._triangles_mm):
            self._shafts = build_shafts(self._triangles_mm)
        shafts = self._shafts
        if shafts is None or not settings.occlusion:
            return np.zeros(len(cells.start))
        digest = hashlib.blake2b(cells.points.tobytes(), digest_size=16)
        digest.update(np.float64(settings.end_tolerance_mm).tobytes())
        key = digest.hexdigest()
        if self._near is not None and self._near[0] == key:
            return self._near[1]
        near = np.zeros(len(cells.start))
        order = np.argsort(-cells.count).astype(np.int64)  # big cells first, then spread
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            list(
                pool.map(
                    lambda part: _shaft_kernels.cell_neighbourhoods(
                        part,
                        cells.points,
                        cells.start,
                        cells.count,
                        cells.centre,
                        cells.radius,
                        cells.normal,
                        cells.cos_cone,
                        shafts.vertices,
                        shafts.normal,
                        shafts.offset,
                        shafts.node_lo,
                        shafts.node_hi,
                        shafts.level_start,
                        shafts.extent_mm,
                        settings.end_tolerance_mm,
                        near,
                    ),
                    [order[i :: 4 * self._workers] for i in range(4 * self._workers)],
                )
            )
        self._near = (key, near)
        return near

    def _batch(
        self,
        batch: NDArray[np.int32],
        cells: Cells,
        near: NDArray[np.float64],
        ems: NDArray[np.float64],
        emitters: Emitters,
        cos_cut: NDArray[np.float64],
        settings: TransferSettings,
    ) -> tuple[list[tuple[NDArray, NDArray, NDArray]], int, int, int]:
        """Cull and shade one batch of emitters.

        Returns its (point, emitter, value) parts, the candidate pairs, the rays cast and
        the rays cleared by shafts.
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
        candidates = rays = cleared = 0
        for lo, hi in itertools.pairwise(splits):
            total = int(cells.count[pair_c[lo:hi]].sum())
            candidates += total
            pos, emi, geometry, origin, direction, cast = _kernels.empty_pair_buffers(total)
            m = _kernels.shade_pairs(
                pair_e[lo:hi],
                pair_c[lo:hi],
                cells.start,
                cells.count,
                cells.centre,
                cells.points,
                ems,
                cos_cut,
                max_d,
                near,
                0.0 if self._shafts is None else self._shafts.margin_mm,
                MIN_ELEVATION,
                pos,
                emi,
                geometry,
                origin,
                direction,
                cast,
            )
            pos, emi, geometry = pos[:m], emi[:m], geometry[:m]
            if settings.occlusion and m:
                ray = np.flatnonzero(cast[:m])
                blocked = np.zeros(m, dtype=np.bool_)
                blocked[ray] = self.tracer.occluded(
                    origin[ray],
                    direction[ray],
                    geometry[ray, 0],
                    end_tolerance_mm=end_tolerance_mm,
                )
                rays += len(ray)
                cleared += m - len(ray)
                free = np.flatnonzero(~blocked)
                pos, emi, geometry = pos[free], emi[free], geometry[free]
            value = _transfer_values(emitters, emi, *geometry.T)
            live = np.flatnonzero(value > 0.0)  # cos(theta) = 0 exactly, with no cut-off
            parts.append((cells.order[pos[live]], emi[live], value[live]))
        return parts, candidates, rays, cleared


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
