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
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.engine import culling, shafts
from twin.engine.backends import ArrayStore, Cast, ProgressCallback, _shaft_kernels
from twin.engine.backends import _cpu_kernels as _kernels
from twin.engine.culling import Cells, cone_cosines, emitter_rows, make_cells
from twin.engine.settings import TransferSettings
from twin.engine.shafts import (
    MIN_CANDIDATES_PER_POINT,
    MIN_ELEVATION,
    POINTS_PER_CELL,
    SECTORS,
    SHELLS_MM,
    Shafts,
    build_shafts,
)
from twin.geometry.surface import SamplePoints
from twin.raycast import Tracer
from twin.units import MM2_PER_CM2

_PAIRS_PER_CHUNK = 1 << 19
_CELL_TESTS_PER_BATCH = 1 << 21
#: The modules whose code decides the horizons, in the key of a kept copy.
_HORIZON_CODE = (shafts, culling, _shaft_kernels)


class CpuBackend:
    """Transfer matrices on the CPU, shadow rays through ``tracer``.

    Parameters
    ----------
    tracer : Tracer
        Ray queries over every triangle that can block light; thread-safe.
    triangles_mm : (f, 3, 3) float64, optional, mm
        The tracer's triangles, for shaft culling (:mod:`twin.engine.shafts`); without them
        every ray that passes the culling tests is cast.
    horizons : {"reused", "always", "never"}, default: "reused"
        When to find the points' horizons, which cost about as much as the rays they clear
        on one matrix: ``"reused"``, when the same points come back for another matrix (in
        this backend, or in the ``horizon_store``, which remembers the points it has seen)
        and the cell tests leave at least
        :data:`twin.engine.shafts.MIN_CANDIDATES_PER_POINT` pairs per point; ``"always"``;
        or ``"never"``. Kept horizons are always used.
    horizon_store : ArrayStore, optional
        Where horizons are kept between runs, keyed by the points, the triangles, the end
        tolerance and the code that finds them, with a mark for points seen before.
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
        horizons: Literal["reused", "always", "never"] = "reused",
        horizon_store: ArrayStore | None = None,
        workers: int | None = None,
    ) -> None:
        self.tracer = tracer
        self.name = tracer.name
        self.horizons = horizons
        self._triangles_mm = triangles_mm
        self._store = horizon_store
        self._shafts: Shafts | None = None
        self._kept: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        self._seen: set[str] = set()
        self._geometry_key = b""  # the code and the triangles, hashed on first use
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
        horizon, frame = self._horizons(samples, cells, ems, cos_cut, settings)
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
            shared = (cells, horizon, frame, ems, emitters, cos_cut, settings)
            futures = {
                pool.submit(self._batch, b, *shared): (i, len(b)) for i, b in enumerate(batches)
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

    def _horizons(
        self,
        samples: SamplePoints,
        cells: Cells,
        ems: NDArray[np.float64],
        cos_cut: NDArray[np.float64],
        settings: TransferSettings,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Each point's horizons and azimuth frame, in the order of ``cells``.

        Returns the horizons (k, shells, sectors), or (0, shells, sectors) where there are
        none, and the frame (k, 2, 3) their sectors are about (:mod:`twin.engine.shafts`).
        They depend on the points, the triangles and the end tolerance only: they are kept
        in memory and in the backend's horizon store, and found when they will be used
        again (see the class).
        """
        if self._shafts is None and self._triangles_mm is not None and len(self._triangles_mm):
            self._shafts = build_shafts(self._triangles_mm)
        k = len(cells.points)
        none = np.zeros((0, len(SHELLS_MM), SECTORS)), np.zeros((0, 2, 3))
        if self._shafts is None or not settings.occlusion or self.horizons == "never":
            return none
        if not self._geometry_key:
            code = b"".join(Path(m.__file__).read_bytes() for m in _HORIZON_CODE if m.__file__)
            digest = hashlib.blake2b(code, digest_size=20)
            digest.update(np.ascontiguousarray(self._shafts.vertices).tobytes())
            self._geometry_key = digest.digest()
        digest = hashlib.blake2b(self._geometry_key, digest_size=20)
        digest.update(np.ascontiguousarray(samples.positions_mm).tobytes())
        digest.update(np.ascontiguousarray(samples.normals).tobytes())
        digest.update(np.float64(settings.end_tolerance_mm).tobytes())
        key = digest.hexdigest()
        found = self._kept.get(key) or self._stored_horizons(key, k)
        if found is None:
            store = self._store
            seen = key in self._seen or (
                store is not None and store.get_arrays(f"{key}-seen") is not None
            )
            wanted = self.horizons == "always" or (
                seen
                and _candidates_per_point(cells, ems, cos_cut, settings)
                >= MIN_CANDIDATES_PER_POINT
            )
            if not wanted:
                self._seen.add(key)
                if store is not None:
                    store.put_arrays(f"{key}-seen", {})
                return none
            found = self._find_horizons(samples, settings)
            if store is not None:
                store.put_arrays(key, {"horizon": found[0], "frame": found[1]})
        self._kept = {key: found}
        horizon, frame = found
        return (
            np.ascontiguousarray(horizon[cells.order]),
            np.ascontiguousarray(frame[cells.order]),
        )

    def _find_horizons(
        self, samples: SamplePoints, settings: TransferSettings
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Run :func:`_shaft_kernels.horizons` on cells of their own; samples' order."""
        shafts = self._shafts
        assert shafts is not None  # built by the caller
        k = len(samples)
        fine = make_cells(samples, points_per_cell=POINTS_PER_CELL)
        horizon = np.empty((k, len(SHELLS_MM), SECTORS))
        order = np.argsort(-fine.count).astype(np.int64)  # big cells first, then spread
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            list(
                pool.map(
                    lambda part: _shaft_kernels.horizons(
                        part,
                        fine.points,
                        fine.start,
                        fine.count,
                        fine.centre,
                        fine.radius,
                        fine.normal,
                        fine.frame,
                        fine.cos_cone,
                        shafts.vertices,
                        shafts.normal,
                        shafts.offset,
                        shafts.node_lo,
                        shafts.node_hi,
                        shafts.level_start,
                        settings.end_tolerance_mm,
                        SHELLS_MM,
                        horizon,
                    ),
                    [order[i :: 4 * self._workers] for i in range(4 * self._workers)],
                )
            )
        out = np.empty_like(horizon)
        out[fine.order] = horizon
        frame = np.empty((k, 2, 3))
        frame[fine.order] = np.repeat(fine.frame, fine.count, axis=0)
        return out, frame

    def _stored_horizons(
        self, key: str, k: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Return the horizons of ``k`` points kept in the store for ``key``, if any."""
        arrays = None if self._store is None else self._store.get_arrays(key)
        if arrays is None or set(arrays) != {"horizon", "frame"}:
            return None
        horizon, frame = arrays["horizon"], arrays["frame"]
        if horizon.shape != (k, len(SHELLS_MM), SECTORS) or frame.shape != (k, 2, 3):
            return None
        return horizon, frame

    def _batch(
        self,
        batch: NDArray[np.int32],
        cells: Cells,
        horizon: NDArray[np.float64],
        frame: NDArray[np.float64],
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
        pair_e, pair_c = _near_pairs(cells, ems, batch, cos_cut, max_d)
        k = len(pair_e)
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
                cells.points,
                ems,
                cos_cut,
                max_d,
                horizon,
                SHELLS_MM,
                frame,
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
                every = len(ray) == m  # no copies when nothing is cleared
                blocked = np.zeros(m, dtype=np.bool_)
                blocked[ray] = self.tracer.occluded(
                    origin[:m] if every else origin[ray],
                    direction[:m] if every else direction[ray],
                    geometry[:, 0] if every else geometry[ray, 0],
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


def _candidates_per_point(
    cells: Cells,
    ems: NDArray[np.float64],
    cos_cut: NDArray[np.float64],
    settings: TransferSettings,
) -> float:
    """Estimate the pairs per point that pass the cell tests, from every eighth emitter."""
    some = np.arange(0, len(ems), 8, dtype=np.int32)
    _, pair_c = _near_pairs(cells, ems, some, cos_cut, settings.max_distance_mm)
    return float(cells.count[pair_c].sum()) * len(ems) / max(len(some), 1) / len(cells.points)


def _near_pairs(
    cells: Cells,
    ems: NDArray[np.float64],
    batch: NDArray[np.int32],
    cos_cut: NDArray[np.float64],
    max_distance_mm: float,
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """List the (emitter, cell) pairs of ``batch`` that pass the cell tests, by emitter."""
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
        max_distance_mm,
        pair_e,
        pair_c,
    )
    return pair_e[:k], pair_c[:k]
