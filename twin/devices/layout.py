"""Emitter layouts: patterns with exact counts on carriers, channel interleaving, fitting.

Also the simple offset-shell layout the tests use (uniform by area, farthest-point).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin.devices.carriers import Carrier
from twin.errors import InputError
from twin.geometry.surface import Surface


def farthest_point_indices(points: NDArray[np.float64], count: int) -> NDArray[np.int64]:
    """Return indices of ``count`` points spread evenly by greedy farthest-point sampling.

    Deterministic: starts at the point nearest the centroid.

    Parameters
    ----------
    points : (n, 3) float64, mm
        The candidate points.
    count : int
        How many to pick, 1 to n.

    Returns
    -------
    (count,) int64
        Indices into ``points``, in the order they were picked.

    Raises
    ------
    InputError
        Naming ``count`` if it is not in 1..n.
    """
    if not 0 < count <= len(points):
        msg = f"count: expected 1..{len(points)} emitters for this surface, got {count}"
        raise InputError(msg)
    chosen = np.empty(count, dtype=np.int64)
    chosen[0] = int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    nearest = np.linalg.norm(points - points[chosen[0]], axis=1)
    for i in range(1, count):
        chosen[i] = int(np.argmax(nearest))
        np.minimum(nearest, np.linalg.norm(points - points[chosen[i]], axis=1), out=nearest)
    return chosen


def offset_shell_layout(
    surface: Surface, *, count: int, standoff_mm: float, vertices: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``count`` emitters ``standoff_mm`` out along the normals, pointing back at the surface.

    Parameters
    ----------
    surface : Surface
    count : int
    standoff_mm : float, mm
    vertices : (m,) int, optional
        Candidate vertices (default: all). Those whose offset point would lie closer than
        0.9 standoff to the skin, or behind it, are left out.

    Returns
    -------
    positions_mm : (count, 3) float64, mm
    axes : (count, 3) float64, unit vectors (the inward normals)
    """
    idx = np.arange(len(surface.vertices_mm)) if vertices is None else np.asarray(vertices)
    # In folds (beside the nose, under the lip) a point offset along the normal comes closer
    # to other skin than the standoff, or passes behind it: those candidates are dropped.
    offset = surface.vertices_mm[idx] + standoff_mm * surface.vertex_normals[idx]
    distance, nearest = cKDTree(surface.vertices_mm).query(offset)
    in_front = np.einsum(
        "ij,ij->i", offset - surface.vertices_mm[nearest], surface.vertex_normals[nearest]
    )
    idx = idx[(distance >= 0.9 * standoff_mm) & (in_front > 0.0)]
    pick = idx[farthest_point_indices(surface.vertices_mm[idx], count)]
    normals = surface.vertex_normals[pick]
    return surface.vertices_mm[pick] + standoff_mm * normals, -normals


PATTERNS = ("hex", "poisson", "fibonacci", "uniform")
_GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


@dataclass(frozen=True)
class CarrierPoints:
    """Points on a carrier shell: a face and barycentric coordinates each.

    Attributes
    ----------
    faces : (k,) int64
    bary : (k, 3) float64
        Barycentric coordinates in the face (non-negative, summing to 1).
    """

    faces: NDArray[np.int64]
    bary: NDArray[np.float64]

    def positions(self, surface: Surface) -> NDArray[np.float64]:
        """(k, 3) positions on ``surface`` (the shell, or the skin under it), mm."""
        return np.einsum("kj,kjd->kd", self.bary, surface.vertices_mm[surface.faces[self.faces]])

    def interpolate(self, surface: Surface, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return per-vertex vectors interpolated at the points and normalised.

        Parameters
        ----------
        surface : Surface
            The surface the points lie on, with ``v`` vertices.
        values : (v, 3) float64
            A vector at each vertex (normals, LED axes).

        Returns
        -------
        (k, 3) float64
            Unit vectors.
        """
        out = np.einsum("kj,kjd->kd", self.bary, values[surface.faces[self.faces]])
        return out / np.linalg.norm(out, axis=1)[:, None]


def _barycentric(triangles: NDArray[np.float64], points: NDArray[np.float64]):
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    d00, d01, d11 = (np.einsum("ij,ij->i", x, y) for x, y in ((v0, v0), (v0, v1), (v1, v1)))
    d20, d21 = np.einsum("ij,ij->i", v2, v0), np.einsum("ij,ij->i", v2, v1)
    denominator = d00 * d11 - d01 * d01
    v = (d11 * d20 - d01 * d21) / denominator
    w = (d00 * d21 - d01 * d20) / denominator
    bary = np.clip(np.column_stack([1.0 - v - w, v, w]), 0.0, None)
    return bary / bary.sum(axis=1)[:, None]


def _chart_hits(carrier: Carrier, uv: NDArray[np.float64], tracer) -> CarrierPoints:
    origins, directions = carrier.chart.rays(uv)
    distance, face = tracer.first_hit(origins, directions)
    hit = face >= 0
    points = origins[hit] + distance[hit, None] * directions[hit]
    faces = face[hit].astype(np.int64)
    return CarrierPoints(faces, _barycentric(carrier.shell.triangles_mm[faces], points))


def _hex_lattice(spacing: float, centre: NDArray, half_size: NDArray) -> NDArray[np.float64]:
    rows = np.arange(
        -np.ceil(half_size[1] / (spacing * 0.866)), half_size[1] / (spacing * 0.866) + 1
    )
    cols = np.arange(-np.ceil(half_size[0] / spacing) - 1, half_size[0] / spacing + 2)
    i, j = np.meshgrid(cols, rows)
    x = (i + 0.5 * (j % 2)) * spacing
    y = j * spacing * np.sqrt(3.0) / 2.0
    return centre + np.column_stack([x.ravel(), y.ravel()])


def _sunflower(spacing: float, centre: NDArray, radius: float) -> NDArray[np.float64]:
    count = int(np.ceil(np.pi * radius**2 / spacing**2 * 1.2)) + 1
    k = np.arange(count) + 0.5
    r = spacing * np.sqrt(k / np.pi)
    theta = _GOLDEN_ANGLE * k
    return centre + np.column_stack([r * np.cos(theta), r * np.sin(theta)])


def _exact_lattice(carrier: Carrier, count: int, lattice) -> CarrierPoints:
    """Return ``count`` lattice points on the carrier, at the widest spacing that fits them.

    Of the points at that spacing, the ``count`` nearest the chart centre are kept, in lattice
    order.
    """
    from twin.raycast import make_tracer

    tracer = make_tracer("auto", carrier.shell.triangles_mm)
    uv = carrier.chart.to_2d(carrier.shell.vertices_mm)
    centre = 0.5 * (uv.min(axis=0) + uv.max(axis=0))
    half = 0.5 * (uv.max(axis=0) - uv.min(axis=0)) + 1.0
    area = carrier.shell.area_mm2
    lo, hi = 0.3 * np.sqrt(area / count), 3.0 * np.sqrt(area / count)
    hits = None
    for _ in range(40):
        spacing = 0.5 * (lo + hi)
        trial = _chart_hits(carrier, lattice(spacing, centre, half), tracer)
        if len(trial.faces) >= count:
            lo, hits = spacing, trial
        else:
            hi = spacing
        if hits is not None and len(hits.faces) == count:
            break
    if hits is None:
        msg = f"count: {count} emitters do not fit on the {carrier.kind} carrier"
        raise InputError(msg)
    # Keep the hits nearest the chart centre.
    where = carrier.chart.to_2d(hits.positions(carrier.shell))
    order = np.argsort(np.linalg.norm(where - centre, axis=1), kind="stable")[:count]
    order.sort()
    return CarrierPoints(hits.faces[order], hits.bary[order])


def _area_samples(surface: Surface, count: int, rng: np.random.Generator) -> CarrierPoints:
    faces = rng.choice(len(surface.faces), count, p=surface.face_areas_mm2 / surface.area_mm2)
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    bary = np.column_stack([1.0 - s, s * (1.0 - r2), s * r2])
    return CarrierPoints(faces.astype(np.int64), bary)


def _eliminate(points: NDArray[np.float64], count: int) -> NDArray[np.int64]:
    """Return indices of ``count`` points left after repeatedly dropping the closest point.

    Greedy sample elimination: the point closest to another goes first, which leaves a
    Poisson-disk set with the largest minimum spacing it finds.
    """
    tree = cKDTree(points)
    alive = np.ones(len(points), dtype=bool)

    def nearest(i: int) -> float:
        k = 8
        while True:
            d, j = tree.query(points[i], k=min(k + 1, len(points)))
            ok = alive[j] & (j != i)
            if ok.any():
                return float(d[ok][0])
            if k + 1 >= len(points):
                return np.inf
            k *= 4

    heap = [(nearest(i), i) for i in range(len(points))]
    heapq.heapify(heap)
    remaining = len(points)
    while remaining > count:
        d, i = heapq.heappop(heap)
        if not alive[i]:
            continue
        now = nearest(i)
        if now > d:  # a neighbour went: re-queue with the true distance
            heapq.heappush(heap, (now, i))
            continue
        alive[i] = False
        remaining -= 1
    return np.flatnonzero(alive)


def pattern_points(carrier: Carrier, *, count: int, pattern: str, seed: int = 0) -> CarrierPoints:
    """Exactly ``count`` points on ``carrier`` in a layout pattern.

    Parameters
    ----------
    carrier : Carrier
    count : int
    pattern : {"hex", "poisson", "fibonacci", "uniform"}
        ``hex``: a hexagonal lattice in the carrier's chart at the widest spacing that fits
        ``count``; ``fibonacci``: a sunflower (golden-angle) spiral in the chart, likewise;
        ``poisson``: blue noise by greedy sample elimination from 5x ``count`` random points
        (seeded); ``uniform``: farthest-point sampling of the shell's vertices.
    seed : int
        For ``poisson``.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        msg = f"count: expected a whole number of emitters >= 1, got {count!r}"
        raise InputError(msg)
    if pattern == "hex":
        return _exact_lattice(carrier, count, _hex_lattice)
    if pattern == "fibonacci":
        return _exact_lattice(
            carrier, count, lambda s, c, half: _sunflower(s, c, float(np.linalg.norm(half)))
        )
    shell = carrier.shell
    if pattern == "poisson":
        candidates = _area_samples(shell, 5 * count, np.random.default_rng(seed))
        keep = _eliminate(candidates.positions(shell), count)
        return CarrierPoints(candidates.faces[keep], candidates.bary[keep])
    if pattern == "uniform":
        vertices = farthest_point_indices(shell.vertices_mm, count)
        face_of = np.empty(len(shell.vertices_mm), dtype=np.int64)
        for corner in range(3):
            face_of[shell.faces[:, corner]] = np.arange(len(shell.faces))
        faces = face_of[vertices]
        bary = (shell.faces[faces] == vertices[:, None]).astype(np.float64)
        return CarrierPoints(faces, bary)
    msg = f"pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}"
    raise InputError(msg)


def interleave(points_mm: NDArray[np.float64], ratios: dict[str, int]) -> NDArray[np.str_]:
    """Return the channel of each point, in proportion to ``ratios`` and spread evenly.

    Counts are in exact proportion to ``ratios`` (largest remainder); channels are dealt in a
    smooth repeating sequence along a farthest-point ordering of the points, so every channel
    covers the whole carrier.

    Parameters
    ----------
    points_mm : (n, 3) float64, mm
        The emitter positions.
    ratios : dict of str to int
        Channel name to its share, each > 0.

    Returns
    -------
    (n,) str
        The channel of each point.

    Raises
    ------
    InputError
        Naming ``channels`` if a ratio is not positive.
    """
    n = len(points_mm)
    names = list(ratios)
    weights = np.array([ratios[c] for c in names], dtype=np.float64)
    if len(names) == 0 or np.any(weights <= 0):
        msg = f"channels: expected positive ratios, got {ratios}"
        raise InputError(msg)
    exact = n * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    order = farthest_point_indices(points_mm, n)
    dealt = np.zeros(len(names))
    out = np.empty(n, dtype=object)
    for step, i in enumerate(order):
        c = int(np.argmax(counts * (step + 1) / n - dealt))
        dealt[c] += 1
        out[i] = names[c]
    return out.astype(str)


def wear(
    carrier: Carrier, points: CarrierPoints, target: Surface, *, clearance_mm: float = 1.0
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Emitter positions and axes of ``points`` on ``carrier`` worn on ``target``.

    Conforming carriers (flexible, pad) tie each emitter to the skin point under it: on a
    target with the reference's vertex numbering (any variant) the same barycentric point,
    otherwise the nearest target vertex; it sits ``standoff_mm`` out along the target's normal
    there and points back along it. Rigid carriers keep their shape and are moved out along
    ``push_axis`` until every emitter and shell point is at least ``clearance_mm`` in front
    of the skin (the smallest such push, to 0.01 mm).

    Returns
    -------
    positions_mm : (k, 3), axes : (k, 3), push_mm : float
        ``push_mm`` is how far a rigid carrier was moved out (0 for conforming ones).
    """
    shell = carrier.shell
    if carrier.conforming:
        reference, skin_faces = carrier.reference, carrier.skin_faces
        assert reference is not None and skin_faces is not None  # conforming: shaped on skin
        skin_points = CarrierPoints(skin_faces[points.faces], points.bary)
        same = len(target.vertices_mm) == len(reference.vertices_mm) and np.array_equal(
            target.faces, reference.faces
        )
        if same:
            anchor = skin_points.positions(target)
            normal = skin_points.interpolate(target, target.vertex_normals)
        else:
            _, nearest = cKDTree(target.vertices_mm).query(skin_points.positions(reference))
            anchor, normal = target.vertices_mm[nearest], target.vertex_normals[nearest]
        return anchor + carrier.standoff_mm * normal, -normal, 0.0
    positions = points.positions(shell)
    axes = points.interpolate(shell, carrier.led_axes)
    # Every LED and every fourth shell vertex (about 5 mm apart on the masks) must clear.
    probe = np.vstack([shell.vertices_mm[::4], positions])
    tree = cKDTree(target.vertices_mm, balanced_tree=False)
    # Only points that start near the skin can end up too close to it.
    _, nearest = tree.query(probe)
    depth = np.einsum(
        "ij,ij->i", probe - target.vertices_mm[nearest], target.vertex_normals[nearest]
    )
    probe = probe[depth < clearance_mm + carrier.standoff_mm]

    def clear(push: float) -> bool:
        moved = probe + push * carrier.push_axis
        # Points 50 mm from any skin are clear (a shell is never that deep inside a face).
        distance, nearest = tree.query(moved, distance_upper_bound=50.0)
        near = np.isfinite(distance)
        depth = np.einsum(
            "ij,ij->i",
            moved[near] - target.vertices_mm[nearest[near]],
            target.vertex_normals[nearest[near]],
        )
        return bool(depth.min(initial=np.inf) >= clearance_mm - 1e-3)

    # The smallest push (to 0.01 mm) that clears: double until clear, then bisect.
    push = 0.0
    if not clear(0.0):
        low, high = 0.0, 1.0
        while not clear(high):
            low, high = high, 2.0 * high
        while high - low > 0.01:
            mid = 0.5 * (low + high)
            low, high = (low, mid) if clear(mid) else (mid, high)
        push = high
    return positions + push * carrier.push_axis, axes, push
