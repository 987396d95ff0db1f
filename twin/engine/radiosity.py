"""Radiosity: the light diffuse surfaces (skin, a mask's inside, occluders) return to each other.

Every surface is Lambertian with a reflectance per patch. Light arriving directly from the
emitters (``E_direct``) is partly reflected, lands on other patches, is reflected again, and
so on. On a mesh of ``m`` coarse patches (:func:`patches_of`) this is linear:

- ``F[i, j]`` (:func:`form_factors`) is the fraction of the power leaving patch ``i`` that
  reaches patch ``j``; reciprocity ``A_i F[i, j] = A_j F[j, i]`` holds, and a row of a closed
  enclosure sums to 1.
- The exitance (radiosity) ``B`` of every patch satisfies ``B = rho (E_direct + F B)``
  (:func:`solve`): the irradiance arriving at ``i`` from the others is
  ``sum_j F[j, i] A_j B_j / A_i = sum_j F[i, j] B_j`` by reciprocity, so ``F`` multiplies
  ``B`` directly.
- The indirect irradiance is ``E_ind = F B`` (:func:`indirect_irradiance`) and the total
  ``E_direct + E_ind``; :func:`to_points` carries the smooth per-patch field to the fine
  sample points.

Every step is linear in ``E_direct``, so it can be applied to every column of a transfer
matrix (one per emitter) or to one irradiance map, with the same result. Irradiance, exitance
and their inputs share one unit (mW/cm^2, or mW/cm^2 per mW of an emitter); ``F`` and the
reflectance are dimensionless. The analytic checks (integrating sphere, energy balance in a
closed torus, parallel plates against Howell's view factor) are in ``tests/test_radiosity.py``.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Real
from typing import Literal

import numba
import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from twin._validation import as_points, as_unit_vectors
from twin.errors import InputError
from twin.geometry.surface import Surface
from twin.raycast import Tracer

#: Patches whose centres are closer than this many times the sum of their radii get the
#: near-field factor of :func:`form_factors`, farther pairs the four-point one.
NEAR_RADII = 2.0
#: In the near field, triangles closer to a quadrature point than this many times their
#: longest edge get Lambert's exact factor, farther ones a three-point rule.
EXACT_EDGES = 2.0
#: A point closer to a triangle's plane than this fraction of its longest edge lies in it.
IN_PLANE = 1e-9
#: Quadrature points and visibility ends sit this fraction of the patch size above the
#: highest sample of their quarter or patch.
LIFT = 1e-3
#: Lloyd rounds that even out the voxel clusters of :func:`patches_of`.
LLOYD_ROUNDS = 3
#: Patches :func:`to_points` blends at each point.
NEIGHBOURS = 4
#: Up to this many patches :class:`RadiositySolver` factorises densely (512 MB at most).
DENSE_UP_TO = 8000

SolveMethod = Literal["auto", "dense", "sparse"]


@dataclass(frozen=True, eq=False)
class Patches:
    """Coarse surface patches that carry the indirect light.

    Attributes
    ----------
    positions_mm : (m, 3) float64, mm
        Area-weighted centroid of each patch's samples (the collocation point).
    normals : (m, 3) float64
        Unit area-weighted mean normal, pointing to where light arrives from.
    areas_mm2 : (m,) float64, mm^2
    surface : (m,) int64
        Index into ``surfaces`` of the surface each patch came from.
    anchors_mm : (m, 3) float64, mm
        Where visibility segments end: each centroid moved along its normal to just above
        the highest of its samples (:data:`LIFT`), so that it lies on the lit side of a
        convex or faceted surface.
    radii_mm : (m,) float64, mm
        Distance from each centroid to the farthest corner of a triangle that touches the
        patch.
    surfaces : tuple of Surface
        The input surfaces, in order.
    sample_patch : (K,) int64
        The patch of every vertex sample (:meth:`Surface.samples`) of every surface, the
        surfaces' samples concatenated in order.
    sizes_mm : tuple of float, mm
        The patch size asked for, per surface.
    """

    positions_mm: NDArray[np.float64]
    normals: NDArray[np.float64]
    areas_mm2: NDArray[np.float64]
    surface: NDArray[np.int64]
    anchors_mm: NDArray[np.float64]
    radii_mm: NDArray[np.float64]
    surfaces: tuple[Surface, ...]
    sample_patch: NDArray[np.int64]
    sizes_mm: tuple[float, ...]

    def __len__(self) -> int:
        """Return the number of patches."""
        return len(self.areas_mm2)

    def averaging_matrix(self) -> scipy.sparse.csr_array:
        """Return the area-weighted mean over each patch of values at the vertex samples.

        ``averaging_matrix() @ E`` turns a field at the samples of every surface (rows in the
        order of ``sample_patch``; for example direct irradiance, one column per emitter)
        into the per-patch field :func:`solve` takes.

        Returns
        -------
        (m, K) scipy.sparse.csr_array of float64
            Rows sum to 1.
        """
        areas = np.concatenate([s.vertex_areas_mm2 for s in self.surfaces])
        weights = areas / self.areas_mm2[self.sample_patch]
        columns = np.arange(len(areas))
        return scipy.sparse.csr_array(
            (weights, (self.sample_patch, columns)), shape=(len(self), len(areas))
        )


def patches_of(surfaces: Sequence[Surface], *, size_mm: float | Sequence[float]) -> Patches:
    """Cluster the vertex samples of each surface into patches of about ``size_mm``.

    Each surface's samples (:meth:`Surface.samples`) are binned on a ``size_mm`` grid,
    separately for each of the six axis directions their normal is closest to (so the two
    sides of a thin fold or shell never share a patch), and the clusters are then evened out
    by a few rounds of Lloyd's algorithm on position and ``size_mm`` times the normal. A
    patch's position is its samples' area-weighted centroid, its normal their area-weighted
    mean normal and its area their total. A surface whose mean edge is already
    ``size_mm`` or longer keeps one patch per sample.

    Parameters
    ----------
    surfaces : sequence of Surface
        Skin, carrier, occluders: every surface that reflects light.
    size_mm : float or sequence of float, mm
        Target patch size (edge of a grid cell): one for all surfaces or one per surface
        (a carrier far from the skin can take coarser patches than the skin).

    Returns
    -------
    Patches

    Raises
    ------
    InputError
        If ``surfaces`` is empty or ``size_mm`` is not one positive number or one per
        surface.
    """
    if len(surfaces) == 0:
        msg = "patches_of: expected at least one surface, got none"
        raise InputError(msg)
    given = np.asarray(size_mm, dtype=object).ravel().tolist()
    if np.ndim(size_mm) == 0:
        given *= len(surfaces)
    if (
        np.ndim(size_mm) > 1
        or len(given) != len(surfaces)
        or not all(
            isinstance(v, Real)
            and not isinstance(v, bool)
            and math.isfinite(float(v))
            and float(v) > 0
            for v in given
        )
    ):
        msg = (
            f"patches_of: size_mm must be a positive number of mm, or one per surface "
            f"({len(surfaces)}), got {size_mm!r}"
        )
        raise InputError(msg)
    sizes = [float(v) for v in given]
    positions, normals, areas, surface_of, anchors, radii, labels = [], [], [], [], [], [], []
    first = 0
    for index, (surface, size) in enumerate(zip(surfaces, sizes, strict=True)):
        samples = surface.samples()
        if surface.mean_edge_mm >= size:
            label = np.arange(len(samples), dtype=np.int64)
        else:
            label = _cluster(samples.positions_mm, samples.normals, samples.areas_mm2, size)
        count = int(label.max()) + 1
        a = np.bincount(label, weights=samples.areas_mm2, minlength=count)
        centre = _weighted_sum(label, samples.positions_mm, samples.areas_mm2, count) / a[:, None]
        mean_normal = _weighted_sum(label, samples.normals, samples.areas_mm2, count)
        length = np.linalg.norm(mean_normal, axis=1)
        # A cluster whose normals cancel (a needle tip) takes the normal of its first sample.
        first_sample = np.unique(label, return_index=True)[1]
        mean_normal = np.where(
            length[:, None] > 1e-9 * a[:, None],
            mean_normal / np.maximum(length, 1e-300)[:, None],
            samples.normals[first_sample],
        )
        corner_patch = label[surface.faces]
        reach = np.linalg.norm(
            surface.triangles_mm[:, None, :, :] - centre[corner_patch][:, :, None, :], axis=3
        ).max(axis=2)
        radius = np.zeros(count)
        np.maximum.at(radius, corner_patch.ravel(), reach.ravel())
        positions.append(centre)
        normals.append(mean_normal)
        areas.append(a)
        surface_of.append(np.full(count, index, dtype=np.int64))
        height = np.einsum("ij,ij->i", samples.positions_mm - centre[label], mean_normal[label])
        top = np.zeros(count)
        np.maximum.at(top, label, height)
        anchors.append(centre + (top + LIFT * size)[:, None] * mean_normal)
        radii.append(radius)
        labels.append(label + first)
        first += count
    return Patches(
        positions_mm=_frozen(np.concatenate(positions)),
        normals=_frozen(np.concatenate(normals)),
        areas_mm2=_frozen(np.concatenate(areas)),
        surface=_frozen(np.concatenate(surface_of)),
        anchors_mm=_frozen(np.concatenate(anchors)),
        radii_mm=_frozen(np.concatenate(radii)),
        surfaces=tuple(surfaces),
        sample_patch=_frozen(np.concatenate(labels)),
        sizes_mm=tuple(sizes),
    )


def _frozen(arr: NDArray) -> NDArray:
    arr.flags.writeable = False
    return arr


def _weighted_sum(
    label: NDArray[np.int64], values: NDArray[np.float64], weights: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """Per-label sums of ``weights * values`` for (k, 3) values -> (n, 3)."""
    return np.stack(
        [np.bincount(label, weights=weights * values[:, d], minlength=n) for d in range(3)], 1
    )


def _cluster(
    positions_mm: NDArray[np.float64],
    normals: NDArray[np.float64],
    areas_mm2: NDArray[np.float64],
    size_mm: float,
) -> NDArray[np.int64]:
    """Label each sample with its cluster: voxel and normal-direction bins, then Lloyd."""
    axis = np.abs(normals).argmax(axis=1)
    sign = normals[np.arange(len(normals)), axis] > 0
    voxel = np.floor((positions_mm - positions_mm.min(axis=0)) / size_mm).astype(np.int64)
    key = np.concatenate([voxel, (2 * axis + sign)[:, None]], axis=1)
    _, label = np.unique(key, axis=0, return_inverse=True)
    label = label.ravel()
    features = np.concatenate([positions_mm, size_mm * normals], axis=1)
    for _ in range(LLOYD_ROUNDS):
        count = int(label.max()) + 1
        weight = np.bincount(label, weights=areas_mm2, minlength=count)
        seeds = np.stack(
            [np.bincount(label, weights=areas_mm2 * f, minlength=count) for f in features.T], 1
        )
        _, label = cKDTree(seeds / weight[:, None]).query(features)
        _, label = np.unique(label, return_inverse=True)
    return label.astype(np.int64)


def form_factors(
    patches: Patches,
    tracer: Tracer,
    *,
    end_tolerance_mm: float,
    max_distance_mm: float = math.inf,
    workers: int | None = None,
) -> scipy.sparse.csr_array:
    """Form factors between every pair of patches that see each other.

    ``F[i, j]`` is the fraction of the Lambertian power leaving patch ``i`` that arrives on
    patch ``j``. It is built from a symmetric exchange area ``G[i, j] = A_i F[i, j]``, so
    reciprocity holds to rounding. Each patch is split into up to four quarters (its samples
    either side of its two principal tangent axes; area, centroid and mean normal each),
    which are its quadrature points, lifted just above their highest sample so that they
    lie on the lit side of a convex or faceted surface.

    - Far pairs (centres more than :data:`NEAR_RADII` times the sum of the two radii apart):
      ``G = sum_pq a_p a_q cos_p cos_q / (pi r_pq^2)`` over the pairs of quarters that face
      each other (both cosines positive).
    - Near pairs, where point-to-point is wrong (neighbours, patches across a gap as narrow
      as the patches): ``G = (g_ij + g_ji) / 2`` with ``g_ij = sum_p a_p F(p -> j)`` over
      the quarters ``p`` of ``i``, and ``F(p -> j)`` the sum over every triangle touching
      ``j``, weighted by the third of its area per corner in ``j``, of Lambert's exact
      point-to-polygon factor of the triangle clipped to the half-space above the point's
      tangent plane (a three-point degree-2 rule of ``cos cos / (pi r^2)`` for triangles
      farther than :data:`EXACT_EDGES` edges), counted only where the triangle's front
      faces the point. A concave patch sees part of itself (``F[i, i] > 0``).

    Visibility is one segment per pair, between the two patches' anchors, blocked or not
    (so a pair half hidden counts whole or not at all).

    Measured (``tests/test_radiosity.py``): two parallel squares 20-60 mm, 3-20 mm apart,
    with 4-5 mm patches, within 0.2 % of Howell's closed form (point-to-point between the
    centroids: 17-32 % high at 3 mm; the four-point rule alone: up to 0.9 % high); rows of
    a closed sphere (r = 50 mm, 5 mm patches) 1 + 2e-5 to 1 + 9e-5, of a closed torus tube
    0.997 to 1.002 (mean 1.0000 to 1.0004). An isolated pair of patches as small as their
    gap (two 4 mm squares 3 mm apart) comes out 7 % high: within a surface the four-point
    errors cancel between neighbours, since every point's factor to all of a surface is
    exact. Accuracy needs a few mesh vertices across a patch (mesh edge at most about a
    third of the patch size).

    Cost: every pair of patches is visited. The built-in face with a white shell 5 mm off
    (about 4,900 patches, 5 million facing pairs, 8 % stored) takes about 3 s on 2 cores,
    two thirds of it in the shadow segments; 4 mm patches 6 s, 6 mm 1.9 s.

    Parameters
    ----------
    patches : Patches
    tracer : Tracer
        Ray queries over every triangle that can block light between patches.
    end_tolerance_mm : float, mm
        A triangle whose plane passes within this distance of an anchor does not block its
        segment (:func:`twin.raycast.self_tolerance_mm`).
    max_distance_mm : float, default: inf, mm
        Pairs whose centres are farther apart exchange nothing.
    workers : int, optional
        Threads (default: one per CPU).

    Returns
    -------
    (m, m) scipy.sparse.csr_array of float64
        Dimensionless; a row sums to the fraction of the patch's light that lands on any
        patch (1 in a closed enclosure).

    Raises
    ------
    InputError
        If ``end_tolerance_mm`` is negative or ``max_distance_mm`` not positive.
    """
    if not end_tolerance_mm >= 0:
        msg = f"form_factors: end_tolerance_mm must be >= 0 mm, got {end_tolerance_mm!r}"
        raise InputError(msg)
    if not max_distance_mm > 0:
        msg = f"form_factors: max_distance_mm must be > 0 mm, got {max_distance_mm!r}"
        raise InputError(msg)
    m = len(patches)
    q_start, q_pos, q_nrm, q_area = _quarters(patches)
    near = (q_start, q_pos, q_nrm, q_area, *_supports(patches))
    workers = workers or os.cpu_count() or 1
    # Row blocks of about equal numbers of pairs (row i pairs with j >= i).
    pairs_before = np.concatenate([[0], np.cumsum(np.arange(m, 0, -1))])
    edges = np.searchsorted(pairs_before, np.linspace(0, pairs_before[-1], 8 * workers + 1))
    blocks = [(int(lo), int(hi)) for lo, hi in itertools.pairwise(edges) if hi > lo]

    def block(lo: int, hi: int) -> tuple[NDArray, NDArray, NDArray]:
        size = int(pairs_before[hi] - pairs_before[lo])
        pi, pj = np.empty(size, np.int32), np.empty(size, np.int32)
        g, is_near = np.empty(size), np.empty(size, np.bool_)
        k = _pairs(
            lo, hi, patches.positions_mm, patches.radii_mm, NEAR_RADII, max_distance_mm**2,
            q_start, q_pos, q_nrm, q_area, pi, pj, g, is_near,
        )  # fmt: skip
        pi, pj, g, is_near = pi[:k], pj[:k], g[:k], is_near[:k]
        close = np.flatnonzero(is_near)
        g[close] = _near_exchange(pi[close], pj[close], *near)
        traced = np.flatnonzero((g > 0.0) & (pi != pj))
        start, end = patches.anchors_mm[pi[traced]], patches.anchors_mm[pj[traced]]
        direction = end - start
        length = np.linalg.norm(direction, axis=1)
        apart = length > 0.0
        blocked = np.zeros(len(traced), dtype=bool)
        blocked[apart] = tracer.occluded(
            start[apart],
            direction[apart] / length[apart, None],
            length[apart],
            end_tolerance_mm=end_tolerance_mm,
        )
        g[traced[blocked]] = 0.0
        keep = np.flatnonzero(g > 0.0)
        return pi[keep], pj[keep], g[keep]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda b: block(*b), blocks))
    pi = np.concatenate([p[0] for p in parts])
    pj = np.concatenate([p[1] for p in parts])
    g = np.concatenate([p[2] for p in parts])
    off = pi != pj
    rows = np.concatenate([pi, pj[off]])
    cols = np.concatenate([pj, pi[off]])
    exchange = np.concatenate([g, g[off]])
    return scipy.sparse.csr_array((exchange / patches.areas_mm2[rows], (rows, cols)), shape=(m, m))


def _samples(patches: Patches) -> tuple[NDArray, NDArray, NDArray]:
    """Positions, normals and areas of the vertex samples of every surface, concatenated."""
    samples = [s.samples() for s in patches.surfaces]
    return (
        np.concatenate([s.positions_mm for s in samples]),
        np.concatenate([s.normals for s in samples]),
        np.concatenate([s.areas_mm2 for s in samples]),
    )


def _quarters(patches: Patches) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Split every patch into up to four quarters, its quadrature points.

    The quarters are the patch's samples on either side of its two principal tangent axes;
    each has its samples' area, area-weighted centroid (lifted, see below) and unit mean
    normal. Returns them as CSR ``start`` (m + 1,), positions (q, 3), normals (q, 3), areas
    (q,).
    """
    positions, normals, areas = _samples(patches)
    owner = patches.sample_patch
    m = len(patches)
    offset = positions - patches.positions_mm[owner]
    n = patches.normals[owner]
    tangent = offset - np.einsum("ij,ij->i", offset, n)[:, None] * n
    moment = np.zeros((m, 3, 3))
    np.add.at(moment, owner, areas[:, None, None] * tangent[:, :, None] * tangent[:, None, :])
    first_axis = np.linalg.eigh(moment)[1][:, :, 2]
    second_axis = np.cross(patches.normals, first_axis)
    quarter = 2 * (np.einsum("ij,ij->i", offset, first_axis[owner]) > 0) + (
        np.einsum("ij,ij->i", offset, second_axis[owner]) > 0
    )
    used, label = np.unique(4 * owner + quarter, return_inverse=True)
    area = np.bincount(label, weights=areas)
    centre = _weighted_sum(label, positions, areas, len(used)) / area[:, None]
    normal = _weighted_sum(label, normals, areas, len(used))
    normal /= np.linalg.norm(normal, axis=1)[:, None]
    # A quarter's centroid lies behind a convex surface by its sag, and a sample on a concave
    # faceted one sees the light leave between its tangent plane and its own facets; lifted
    # a little above the highest of its samples it is on the lit side, where the surface
    # around it closes the view (the rows of a closed enclosure sum to 1).
    height = np.einsum("ij,ij->i", positions - centre[label], normal[label])
    lift = np.zeros(len(used))
    np.maximum.at(lift, label, height)
    lift += LIFT * np.asarray(patches.sizes_mm)[patches.surface[used // 4]]
    start = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(used // 4, minlength=m), out=start[1:])
    return start, centre + lift[:, None] * normal, normal, area


def _supports(patches: Patches) -> tuple[NDArray, ...]:
    """List the triangles touching each patch, for the near-field integral.

    Returns CSR ``start`` (m + 1,), triangle index and the fraction of the triangle's area
    that is the patch's (its corners in the patch / 3); then every triangle's corners (f, 3,
    3), unit normal, centroid, area, the squared distance beyond which its point-to-disk
    factor replaces Lambert's, and the distance within which a point counts as lying in its
    plane.
    """
    m = len(patches)
    offsets = np.cumsum([0] + [len(s.vertices_mm) for s in patches.surfaces[:-1]])
    corner_patch = np.concatenate(
        [patches.sample_patch[s.faces + o] for s, o in zip(patches.surfaces, offsets, strict=True)]
    )
    triangles = np.concatenate([s.triangles_mm for s in patches.surfaces])
    f = len(triangles)
    key = corner_patch.astype(np.int64) * f + np.arange(f)[:, None]
    key, corners = np.unique(key.ravel(), return_counts=True)
    t_patch, t_index = np.divmod(key, f)
    start = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(t_patch, minlength=m), out=start[1:])
    longest = np.concatenate([s.edge_lengths_mm.max(axis=1) for s in patches.surfaces])
    return (
        start,
        t_index,
        corners / 3.0,
        np.ascontiguousarray(triangles),
        np.concatenate([s.face_normals for s in patches.surfaces]),
        np.concatenate([s.face_centroids_mm for s in patches.surfaces]),
        np.concatenate([s.face_areas_mm2 for s in patches.surfaces]),
        (EXACT_EDGES * longest) ** 2,
        IN_PLANE * longest,
    )


@numba.njit(nogil=True, cache=True)
def _pairs(
    lo, hi, pos, radius, near_radii, max_d2, f_start, f_pos, f_nrm, f_area,
    out_i, out_j, out_g, out_near,
):  # pragma: no cover - compiled  # fmt: skip
    """List the pairs (i, j >= i), i in [lo, hi), that may exchange light.

    Near pairs (and i == j) are listed with ``out_near`` set, for the near-field integral;
    far pairs with their exchange area summed point-to-point over the two patches' quarters
    (those facing each other), when it is positive. Returns how many were written.
    """
    m = pos.shape[0]
    k = 0
    for i in range(lo, hi):
        for j in range(i, m):
            dx = pos[j, 0] - pos[i, 0]
            dy = pos[j, 1] - pos[i, 1]
            dz = pos[j, 2] - pos[i, 2]
            d2 = dx * dx + dy * dy + dz * dz
            if d2 > max_d2:
                continue
            reach = near_radii * (radius[i] + radius[j])
            if d2 < reach * reach:
                out_i[k] = i
                out_j[k] = j
                out_g[k] = 0.0
                out_near[k] = True
                k += 1
                continue
            g = 0.0
            for p in range(f_start[i], f_start[i + 1]):
                for q in range(f_start[j], f_start[j + 1]):
                    ex = f_pos[q, 0] - f_pos[p, 0]
                    ey = f_pos[q, 1] - f_pos[p, 1]
                    ez = f_pos[q, 2] - f_pos[p, 2]
                    ci = ex * f_nrm[p, 0] + ey * f_nrm[p, 1] + ez * f_nrm[p, 2]
                    cj = -(ex * f_nrm[q, 0] + ey * f_nrm[q, 1] + ez * f_nrm[q, 2])
                    if ci > 0.0 and cj > 0.0:
                        e2 = ex * ex + ey * ey + ez * ez
                        g += f_area[p] * f_area[q] * ci * cj / (e2 * e2)
            if g > 0.0:
                out_i[k] = i
                out_j[k] = j
                out_g[k] = g / math.pi
                out_near[k] = False
                k += 1
    return k


@numba.njit(nogil=True, cache=True)
def _near_exchange(
    pi, pj, q_start, q_pos, q_nrm, q_area, t_start, t_index, t_weight, tri, t_nrm, t_centre,
    t_area, exact_d2, in_plane,
):  # pragma: no cover - compiled  # fmt: skip
    """Return the near-field exchange area of each pair (see :func:`form_factors`).

    ``(g_ij + g_ji) / 2``, or ``g_ii`` for ``i == j``.
    """
    out = np.empty(pi.shape[0])
    buf = np.empty((8, 3))
    for p in range(pi.shape[0]):
        i, j = pi[p], pj[p]
        g = _exchange(i, j, q_start, q_pos, q_nrm, q_area, t_start, t_index, t_weight, tri,
                      t_nrm, t_centre, t_area, exact_d2, in_plane, buf)  # fmt: skip
        if i != j:
            g_ji = _exchange(j, i, q_start, q_pos, q_nrm, q_area, t_start, t_index, t_weight,
                             tri, t_nrm, t_centre, t_area, exact_d2, in_plane, buf)  # fmt: skip
            g = 0.5 * (g + g_ji)
        out[p] = g
    return out


@numba.njit(nogil=True, cache=True)
def _exchange(
    i, j, q_start, q_pos, q_nrm, q_area, t_start, t_index, t_weight, tri, t_nrm, t_centre,
    t_area, exact_d2, in_plane, buf,
):  # pragma: no cover - compiled  # fmt: skip
    """Return ``sum_s a_s F(s -> j)`` over the quadrature points ``s`` of patch ``i``.

    ``F(s -> t)`` is Lambert's for triangles closer than ``sqrt(exact_d2)``, and beyond a
    three-point rule of ``cos cos / (pi r^2)``; only where the triangle's front faces the
    point and lies above its tangent plane.
    """
    total = 0.0
    for s in range(q_start[i], q_start[i + 1]):
        x = q_pos[s]
        n = q_nrm[s]
        seen = 0.0
        for u in range(t_start[j], t_start[j + 1]):
            t = t_index[u]
            dx = t_centre[t, 0] - x[0]
            dy = t_centre[t, 1] - x[1]
            dz = t_centre[t, 2] - x[2]
            d2 = dx * dx + dy * dy + dz * dz
            if d2 < exact_d2[t]:
                seen += t_weight[u] * _point_triangle(x, n, tri[t], t_nrm[t], in_plane[t], buf)
                continue
            # Strang and Fix's degree-2 rule: three interior points, a third of the area each.
            for c in range(3):
                ex = ey = ez = 0.0
                for k in range(3):
                    w = 2.0 / 3.0 if k == c else 1.0 / 6.0
                    ex += w * tri[t, k, 0]
                    ey += w * tri[t, k, 1]
                    ez += w * tri[t, k, 2]
                ex -= x[0]
                ey -= x[1]
                ez -= x[2]
                cs = ex * n[0] + ey * n[1] + ez * n[2]
                ct = -(ex * t_nrm[t, 0] + ey * t_nrm[t, 1] + ez * t_nrm[t, 2])
                if cs > 0.0 and ct > 0.0:
                    e2 = ex * ex + ey * ey + ez * ez
                    seen += t_weight[u] * t_area[t] * cs * ct / (3.0 * math.pi * e2 * e2)
        total += q_area[s] * seen
    return total


@numba.njit(nogil=True, cache=True)
def _point_triangle(x, n, corners, t_nrm, in_plane, buf):  # pragma: no cover - compiled
    """Lambert's form factor from a point (position ``x``, unit normal ``n``) to a triangle.

    The triangle counts only where its front (``t_nrm``) faces the point and only its part
    above the point's tangent plane (Sutherland-Hodgman clip); then
    ``F = |sum_k angle(R_k, R_k+1) n . unit(R_k x R_k+1)| / (2 pi)`` over the clipped
    polygon's edges, ``R_k`` its corners relative to the point. ``buf`` is (8, 3) scratch.
    """
    side = 0.0
    for d in range(3):
        side += (x[d] - corners[0, d]) * t_nrm[d]
    if side <= in_plane:
        return 0.0
    h = buf[7]
    for c in range(3):
        hc = 0.0
        for d in range(3):
            buf[c, d] = corners[c, d] - x[d]
            hc += buf[c, d] * n[d]
        h[c] = hc
    if h[0] <= 0.0 and h[1] <= 0.0 and h[2] <= 0.0:
        return 0.0
    nv = 0
    for c in range(3):
        c1 = (c + 1) % 3
        if h[c] >= 0.0:
            for d in range(3):
                buf[3 + nv, d] = buf[c, d]
            nv += 1
        if (h[c] >= 0.0) != (h[c1] >= 0.0):
            f = h[c] / (h[c] - h[c1])
            for d in range(3):
                buf[3 + nv, d] = buf[c, d] + f * (buf[c1, d] - buf[c, d])
            nv += 1
    total = 0.0
    for k in range(nv):
        a = buf[3 + k]
        b = buf[3 + (k + 1) % nv]
        cx = a[1] * b[2] - a[2] * b[1]
        cy = a[2] * b[0] - a[0] * b[2]
        cz = a[0] * b[1] - a[1] * b[0]
        cn = math.sqrt(cx * cx + cy * cy + cz * cz)
        if cn > 0.0:
            angle = math.atan2(cn, a[0] * b[0] + a[1] * b[1] + a[2] * b[2])
            total += angle * (cx * n[0] + cy * n[1] + cz * n[2]) / cn
    return abs(total) / (2.0 * math.pi)


class RadiositySolver:
    """Solve ``B = rho (E_direct + F B)`` for one reflectance, factorised once.

    The LU factors of ``I - diag(rho) F`` are computed once, then each call costs two
    triangular solves per column: dense LAPACK (``getrf``) up to :data:`DENSE_UP_TO`
    patches, SuperLU beyond. Measured on the face with a white shell 5 mm off (about 4,900
    patches, ``F`` 8 % full, 2 cores): dense 0.6 s to factorise and 0.3 s for 1,000
    columns; SuperLU 2.4 s and 4.5 s (0.1 s and 0.6 s at 0.5 % full, with a 10 mm range); a
    Neumann series to 1e-3 takes 14 products with ``F`` (skin 0.54, interior 0.85): 0.06 s
    for 3 columns but 0.5 s per 100, so for a transfer matrix's hundreds of columns the
    factorisation wins, and the result is exact to rounding.

    Parameters
    ----------
    form_factors : (m, m) scipy.sparse array of float64
        From :func:`form_factors`.
    reflectance : float or (m,) array_like of float
        Lambertian reflectance of each patch, in [0, 1).
    method : {"auto", "dense", "sparse"}, default: "auto"
        The LU to use.

    Attributes
    ----------
    form_factors : (m, m) scipy.sparse.csr_array of float64
    reflectance : (m,) float64
    method : {"dense", "sparse"}
        The LU in use.

    Raises
    ------
    InputError
        If ``form_factors`` is not square, ``reflectance`` has the wrong shape or a value
        outside [0, 1), or ``method`` is unknown.
    """

    def __init__(
        self,
        form_factors: scipy.sparse.sparray,
        reflectance: ArrayLike,
        *,
        method: SolveMethod = "auto",
    ) -> None:
        f = scipy.sparse.csr_array(form_factors)
        m = f.shape[0]
        if f.shape != (m, m):
            msg = f"form_factors: expected a square (m, m) matrix, got shape {f.shape}"
            raise InputError(msg)
        rho = _reflectance(reflectance, m)
        if method not in ("auto", "dense", "sparse"):
            msg = f"method: expected 'auto', 'dense' or 'sparse', got {method!r}"
            raise InputError(msg)
        if method == "auto":
            method = "dense" if m <= DENSE_UP_TO else "sparse"
        self.form_factors = f
        self.reflectance = rho
        self.method = method
        system = scipy.sparse.diags_array(np.ones(m)) - scipy.sparse.diags_array(rho) @ f
        if method == "dense":
            dense = system.toarray(order="F")  # LAPACK's order: factorised in place
            self._lu = scipy.linalg.lu_factor(dense, overwrite_a=True, check_finite=False)
        else:
            self._splu = scipy.sparse.linalg.splu(scipy.sparse.csc_array(system))

    def radiosity(self, irradiance_direct: ArrayLike) -> NDArray[np.float64]:
        """Solve ``B = rho (E_direct + F B)`` for every column of ``irradiance_direct``.

        Parameters
        ----------
        irradiance_direct : (m,) or (m, c) array_like of float
            Direct irradiance on each patch (any unit: mW/cm^2, or mW/cm^2 per mW of an
            emitter for a transfer matrix's columns).

        Returns
        -------
        (m,) or (m, c) float64
            Exitance of each patch, in the unit of ``irradiance_direct``.

        Raises
        ------
        InputError
            If ``irradiance_direct`` does not have ``m`` rows of finite numbers.
        """
        e = _irradiance(irradiance_direct, len(self.reflectance))
        rhs = self.reflectance.reshape((-1,) + (1,) * (e.ndim - 1)) * e
        if self.method == "dense":
            return scipy.linalg.lu_solve(self._lu, rhs, check_finite=False)
        return self._splu.solve(rhs)


def solve(
    form_factors: scipy.sparse.sparray,
    reflectance: ArrayLike,
    irradiance_direct: ArrayLike,
    *,
    method: SolveMethod = "auto",
) -> NDArray[np.float64]:
    """Return the exitance ``B`` of every patch from ``B = rho (E_direct + F B)``.

    The irradiance a patch receives from the others is ``F B`` (:func:`indirect_irradiance`);
    ``E_direct + F B`` is its total. See :class:`RadiositySolver` (which this builds and
    calls once) for the method.

    Parameters
    ----------
    form_factors : (m, m) scipy.sparse array of float64
    reflectance : float or (m,) array_like of float, in [0, 1)
    irradiance_direct : (m,) or (m, c) array_like of float
        One column per emitter or per irradiance map.
    method : {"auto", "dense", "sparse"}, default: "auto"

    Returns
    -------
    (m,) or (m, c) float64
        In the unit of ``irradiance_direct``.
    """
    return RadiositySolver(form_factors, reflectance, method=method).radiosity(irradiance_direct)


def indirect_irradiance(
    form_factors: scipy.sparse.sparray, radiosity: ArrayLike
) -> NDArray[np.float64]:
    """Irradiance each patch receives from the others: ``E_ind = F B``.

    Parameters
    ----------
    form_factors : (m, m) scipy.sparse array of float64
    radiosity : (m,) or (m, c) array_like of float
        From :func:`solve`.

    Returns
    -------
    (m,) or (m, c) float64
        In the unit of ``radiosity``.
    """
    f = scipy.sparse.csr_array(form_factors)
    return np.asarray(f @ _irradiance(radiosity, f.shape[0], name="radiosity"))


def _reflectance(value: ArrayLike, m: int) -> NDArray[np.float64]:
    try:
        rho = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"reflectance: expected numbers in [0, 1), got {type(value).__name__}"
        raise InputError(msg) from None
    if rho.ndim == 0:
        rho = np.full(m, float(rho))
    if rho.shape != (m,):
        msg = f"reflectance: expected one value or one per patch, shape ({m},), got {rho.shape}"
        raise InputError(msg)
    bad = np.flatnonzero(~((rho >= 0.0) & (rho < 1.0)))
    if bad.size:
        msg = (
            f"reflectance: expected values in [0, 1), got {rho[bad[0]]!r} at patch "
            f"{int(bad[0])} ({bad.size} outside)"
        )
        raise InputError(msg)
    return rho


def _irradiance(value: ArrayLike, m: int, *, name: str = "irradiance_direct") -> NDArray:
    try:
        e = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"{name}: expected an (m,) or (m, c) array of numbers, got {type(value).__name__}"
        raise InputError(msg) from None
    if e.ndim not in (1, 2) or e.shape[0] != m:
        msg = f"{name}: expected shape ({m},) or ({m}, c), one row per patch, got {e.shape}"
        raise InputError(msg)
    if not np.isfinite(e).all():
        msg = f"{name}: expected finite numbers, found NaN or infinity"
        raise InputError(msg)
    return e


def interpolation_matrix(
    patches: Patches,
    points_mm: ArrayLike,
    normals: ArrayLike,
    surface_of_points: ArrayLike,
) -> scipy.sparse.csr_array:
    """Return the weights that carry a smooth per-patch field to fine points of its surfaces.

    Each point blends the :data:`NEIGHBOURS` patches of its own surface nearest to it in
    position and patch size times normal (so a patch on the other side of a thin fold is
    far), with weights ``1 / d^2`` (``d`` the distance between point and patch centroid);
    the nearest always counts, the others only where their normal is within 90 degrees of
    the point's. The weights are positive and sum to 1, so the value at a point lies between
    the values of the patches it uses: for a field with gradient at most ``g`` the error is
    at most ``g`` times the distance to the farthest of them, which stays below
    2.5 times the patch size for patches from :func:`patches_of` (2.2 on the built-in face).
    Measured on the face with 5 mm patches, for Gaussians of width 10-40 mm: rms error
    0.2-0.3 % of the peak; the largest, 4-7 %, at the nose tip and the mesh's open edges,
    where inverse-distance weighting is only first-order accurate
    (``tests/test_radiosity.py``).

    Parameters
    ----------
    patches : Patches
    points_mm : (k, 3) array_like of float, mm
    normals : (k, 3) array_like of float
        Unit normals of the points.
    surface_of_points : (k,) array_like of int
        Index into ``patches.surfaces`` of each point's surface.

    Returns
    -------
    (k, m) scipy.sparse.csr_array of float64
        Rows sum to 1.

    Raises
    ------
    InputError
        If the shapes disagree or a point names a surface with no patch.
    """
    points = as_points(points_mm, name="points_mm")
    k = len(points)
    unit = as_unit_vectors(normals, name="normals")
    if unit.shape != (k, 3):
        msg = f"normals: expected shape ({k}, 3), one per point, got {unit.shape}"
        raise InputError(msg)
    surface = np.asarray(surface_of_points)
    if surface.shape != (k,) or not np.issubdtype(surface.dtype, np.integer):
        msg = (
            f"surface_of_points: expected ({k},) integers, one per point, got "
            f"{surface.dtype} of shape {surface.shape}"
        )
        raise InputError(msg)
    missing = np.setdiff1d(surface, patches.surface)
    if missing.size:
        msg = (
            f"surface_of_points: surface {int(missing[0])} has no patch; expected indices "
            f"in [0, {len(patches.surfaces) - 1}]"
        )
        raise InputError(msg)
    rows, cols, weights = [], [], []
    for s in np.unique(surface):
        at = np.flatnonzero(surface == s)
        own = np.flatnonzero(patches.surface == s)
        scale = patches.sizes_mm[s]
        count = min(NEIGHBOURS, len(own))
        features = np.concatenate([patches.positions_mm[own], scale * patches.normals[own]], 1)
        tree = cKDTree(features)
        _, near = tree.query(np.concatenate([points[at], scale * unit[at]], 1), k=count)
        near = own[np.asarray(near).reshape(len(at), count)]
        d2 = np.sum((patches.positions_mm[near] - points[at, None, :]) ** 2, axis=2)
        facing = np.einsum("pkd,pd->pk", patches.normals[near], unit[at]) > 0.0
        facing[:, 0] = True
        w = facing / (d2 + (1e-9 * scale) ** 2)
        rows.append(np.repeat(at, count))
        cols.append(near.ravel())
        weights.append((w / w.sum(axis=1, keepdims=True)).ravel())
    return scipy.sparse.csr_array(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(k, len(patches)),
    )


def to_points(
    patches: Patches,
    values: ArrayLike,
    points_mm: ArrayLike,
    normals: ArrayLike,
    surface_of_points: ArrayLike,
) -> NDArray[np.float64]:
    """Interpolate a smooth per-patch field (indirect irradiance) to fine points.

    See :func:`interpolation_matrix` for the weights and the error bound.

    Parameters
    ----------
    patches : Patches
    values : (m,) or (m, c) array_like of float
        One row per patch.
    points_mm : (k, 3) array_like of float, mm
    normals : (k, 3) array_like of float
    surface_of_points : (k,) array_like of int

    Returns
    -------
    (k,) or (k, c) float64
        In the unit of ``values``.
    """
    v = _irradiance(values, len(patches), name="values")
    return np.asarray(interpolation_matrix(patches, points_mm, normals, surface_of_points) @ v)
