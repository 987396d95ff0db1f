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
"""

from __future__ import annotations

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
from twin.emitters import Emitters
from twin.errors import InputError
from twin.raycast import Tracer
from twin.surface import SamplePoints, Surface
from twin.units import MM2_PER_CM2

#: Default relative-intensity cut-off of the emission cone: directions where an LED emits less
#: than this fraction of its peak intensity are not traced. For a cos^m emitter the flux outside
#: the cone is cutoff^((m+1)/m) of the total (1.6e-5 at m = 4.82).
DEFAULT_INTENSITY_CUTOFF = 1e-4

_POINTS_PER_CELL = 64
_PAIRS_PER_CHUNK = 1 << 19
_CELL_TESTS_PER_BATCH = 1 << 21
_SLACK = 1e-9  # keeps the cell tests conservative under rounding

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

    order: NDArray[np.int64]  # sample index of each sorted position
    start: NDArray[np.int64]  # (c,) first sorted position of each cell
    count: NDArray[np.int64]  # (c,)
    centre: NDArray[np.float64]  # (c, 3) mm
    radius: NDArray[np.float64]  # (c,) mm
    normal: NDArray[np.float64]  # (c, 3) unit mean normal
    cone: NDArray[np.float64]  # (c,) rad, half-angle of the normals around ``normal``


def _make_cells(samples: SamplePoints) -> _Cells:
    p, n = samples.positions_mm, samples.normals
    size = math.sqrt(_POINTS_PER_CELL * max(float(samples.areas_mm2.mean()), 1e-12))
    ijk = np.floor((p - p.min(axis=0)) / size).astype(np.int64)
    dims = ijk.max(axis=0) + 1
    key = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    order = np.argsort(key, kind="stable")
    _, start, count = np.unique(key[order], return_index=True, return_counts=True)
    ps, ns = p[order], n[order]
    centre = np.add.reduceat(ps, start) / count[:, None]
    cell_of = np.repeat(np.arange(len(start)), count)
    radius = np.maximum.reduceat(np.linalg.norm(ps - centre[cell_of], axis=1), start)
    mean_n = np.add.reduceat(ns, start)
    length = np.linalg.norm(mean_n, axis=1)
    normal = mean_n / np.maximum(length, 1e-300)[:, None]
    cos_dev = np.minimum.reduceat(np.einsum("ij,ij->i", ns, normal[cell_of]), start)
    cone = np.where(length > 1e-9, np.arccos(np.clip(cos_dev, -1.0, 1.0)), np.pi)
    return _Cells(order, start, count, centre, radius, normal, cone)


def _cell_candidates(
    cells: _Cells, pos: NDArray[np.float64], axis: NDArray[np.float64],
    cos_cut: NDArray[np.float64], max_distance_mm: float,
) -> NDArray[np.bool_]:
    """(b, c) bool: may cell c hold a point that emitter b reaches? Conservative.

    Written with cosines only (no inverse trigonometry): this runs for every emitter and cell.
    """
    v = cells.centre[None, :, :] - pos[:, None, :]  # emitter -> cell centre
    dist = np.sqrt(np.einsum("bck,bck->bc", v, v))
    r = cells.radius[None, :]
    inside = dist <= r
    inv = 1.0 / np.where(inside, 1.0, dist)
    keep = inside.copy()
    # Emission cone of half-angle tc: the sphere spans g = asin(r / dist) around the direction
    # phi to its centre. Reached when phi <= tc + g, always when tc + g >= pi.
    sin_g = np.minimum(r * inv, 1.0)
    cos_g = np.sqrt(1.0 - sin_g * sin_g)
    c = cos_cut[:, None]
    s = np.sqrt(np.maximum(1.0 - c * c, 0.0))
    cos_phi = np.einsum("bck,bk->bc", v, axis) * inv
    keep |= (cos_phi >= c * cos_g - s * sin_g - _SLACK) | ((c < 0.0) & (cos_g <= -c))
    # Facing: for every point, n . (e - p) <= |e - c| cos(max(0, psi - cone)) + r.
    cos_psi = -np.einsum("bck,ck->bc", v, cells.normal) * inv
    sin_psi = np.sqrt(np.maximum(1.0 - cos_psi * cos_psi, 0.0))
    cb, sb = np.cos(cells.cone)[None, :], np.sin(cells.cone)[None, :]
    cos_dev = np.where(cos_psi > cb, 1.0, cos_psi * cb + sin_psi * sb)
    keep &= inside | (dist * (cos_dev + _SLACK) + r > 0.0)
    if max_distance_mm < math.inf:
        keep &= dist - r <= max_distance_mm
    return keep


class _Columns:
    """Structure-of-arrays copies for fast gathers: x, y, z of positions and of vectors."""

    def __init__(self, positions: NDArray[np.float64], vectors: NDArray[np.float64]) -> None:
        self.x, self.y, self.z = (np.ascontiguousarray(positions[:, i]) for i in range(3))
        self.u, self.v, self.w = (np.ascontiguousarray(vectors[:, i]) for i in range(3))


def _shade_pairs(
    pts: _Columns, ems: _Columns, pos: NDArray[np.int64], emi: NDArray[np.int64],
    cos_cut: NDArray[np.float64], max_distance_mm: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], tuple[NDArray[np.float64], ...]]:
    """Exact facing, cone and range tests on candidate pairs.

    ``pts`` holds the sample points (positions, normals) and ``ems`` the emitters (positions,
    axes). Returns the surviving ``(pos, emi, (dx, dy, dz, r, r_cos_alpha, r_cos_theta))``,
    with ``d`` the vector from point to emitter (mm) and ``r`` its length.
    """
    dx = ems.x[emi] - pts.x[pos]
    dy = ems.y[emi] - pts.y[pos]
    dz = ems.z[emi] - pts.z[pos]
    r_cos_a = dx * pts.u[pos] + dy * pts.v[pos] + dz * pts.w[pos]
    keep = np.flatnonzero(r_cos_a > 0.0)
    pos, emi, dx, dy, dz, r_cos_a = pos[keep], emi[keep], dx[keep], dy[keep], dz[keep], r_cos_a[keep]
    r = np.sqrt(dx * dx + dy * dy + dz * dz)
    r_cos_t = -(dx * ems.u[emi] + dy * ems.v[emi] + dz * ems.w[emi])
    ok = r_cos_t >= cos_cut[emi] * r
    if max_distance_mm < math.inf:
        ok &= r <= max_distance_mm
    keep = np.flatnonzero(ok)
    geometry = tuple(a[keep] for a in (dx, dy, dz, r, r_cos_a, r_cos_t))
    return pos[keep], emi[keep], geometry


def _transfer_values(
    emitters: Emitters, emi: NDArray[np.int64], r: NDArray[np.float64],
    r_cos_a: NDArray[np.float64], r_cos_t: NDArray[np.float64],
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
        msg = f"max_distance_mm: expected a distance > 0 mm (inf for no limit), got {max_distance_mm!r}"
        raise InputError(msg)
    cos_cut_profile = np.array([p.cos_cutoff(cutoff) for p in emitters.profiles])
    cos_cut = cos_cut_profile[emitters.profile_index]
    cells = _make_cells(samples)
    # Samples in cell order, so the points of one cell are contiguous.
    pts = _Columns(samples.positions_mm[cells.order], samples.normals[cells.order])
    ems = _Columns(emitters.positions_mm, emitters.axes)
    n = len(emitters)
    workers = workers or os.cpu_count() or 1
    per_batch = max(1, min(_CELL_TESTS_PER_BATCH // len(cells.start), math.ceil(n / (16 * workers))))
    batches = [np.arange(i, min(i + per_batch, n)) for i in range(0, n, per_batch)]

    def run_batch(batch: NDArray[np.int64]) -> tuple[list[tuple[NDArray, NDArray, NDArray]], int, int]:
        near = _cell_candidates(cells, emitters.positions_mm[batch], emitters.axes[batch], cos_cut[batch], max_d)
        b_idx, c_idx = np.nonzero(near)  # sorted by emitter, then cell
        sizes = cells.count[c_idx]
        cum = np.cumsum(sizes)
        cuts = np.searchsorted(cum, np.arange(_PAIRS_PER_CHUNK, cum[-1] if len(cum) else 0, _PAIRS_PER_CHUNK))
        splits = np.unique(np.concatenate([[0], cuts, [len(c_idx)]]))
        parts = []
        candidates = rays = 0
        for lo, hi in zip(splits[:-1], splits[1:], strict=True):
            cnt = sizes[lo:hi]
            total = int(cnt.sum())
            first = np.cumsum(cnt) - cnt
            pos = np.repeat(cells.start[c_idx[lo:hi]] - first, cnt) + np.arange(total)
            emi = batch[np.repeat(b_idx[lo:hi], cnt)]
            candidates += total
            pos, emi, (dx, dy, dz, r, r_cos_a, r_cos_t) = _shade_pairs(pts, ems, pos, emi, cos_cut, max_d)
            if occlusion and len(pos):
                origin = np.empty((len(pos), 3), dtype=tracer.dtype)
                direction = np.empty((len(pos), 3), dtype=tracer.dtype)
                for k, (p, nrm, d) in enumerate(((pts.x, pts.u, dx), (pts.y, pts.v, dy), (pts.z, pts.w, dz))):
                    origin[:, k] = p[pos] + offset_mm * nrm[pos]
                    direction[:, k] = d / r
                blocked = tracer.occluded(origin, direction, r - 2.0 * offset_mm)
                rays += len(pos)
                free = np.flatnonzero(~blocked)
                pos, emi, r, r_cos_a, r_cos_t = pos[free], emi[free], r[free], r_cos_a[free], r_cos_t[free]
            value = _transfer_values(emitters, emi, r, r_cos_a, r_cos_t)
            parts.append((cells.order[pos], emi, value))
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
    point = np.concatenate([p for p, _, _ in ordered]) if ordered else np.zeros(0, np.int64)
    emitter = np.concatenate([e for _, e, _ in ordered]) if ordered else np.zeros(0, np.int64)
    value = np.concatenate([v for _, _, v in ordered]) if ordered else np.zeros(0)
    live = value > 0.0
    point, emitter, value = point[live], emitter[live], value[live]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(emitter, minlength=n))])
    matrix = scipy.sparse.csc_array((value, point, indptr), shape=(len(samples), n))
    return TransferMatrix(
        matrix=matrix, backend=tracer.name, candidate_pairs=candidates, rays_cast=rays,
        seconds=time.perf_counter() - start_time, intensity_cutoff=cutoff, max_distance_mm=max_d,
    )
