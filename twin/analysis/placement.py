"""LED placement: where a design's LEDs sit on its carrier, and which channel each one is.

From a dense Poisson-disk candidate set on the carrier (``factor`` times the design's count),
exactly the design's count is chosen to bring as much treated skin as possible up to the
middle of the dose window, then each chosen LED is given a channel so that every channel on
its own covers the skin as evenly as it can:

1. **Positions.** Greedy on the saturating coverage ``sum_i a_i min(H_i, H*)`` of the treated
   skin (``a_i`` area, ``H_i`` fluence of an average lit LED at each candidate, ``H*`` the
   window's middle): a submodular function, so lazy evaluation gives the greedy choice with
   few column evaluations. No two LEDs closer than the LED package. Then swap moves: each LED
   to the best of its six nearest free candidates, two passes.
2. **Channels.** Dealt in the design's exact ratios and spread evenly (``layout.interleave``),
   then pairs of neighbouring LEDs of different channels swap channels where that raises
   ``sum_c sum_i a_i min(H_ci, m_c) / m_c``, each channel's own coverage up to its mean
   ``m_c``, i.e. lowers each channel's mean shortfall below its mean. The objective is the
   same for every mode: a channel dark in the scene's mode still has to cover the skin in
   the modes that light it.

Robust placement: several wearers (the design on population members) and misplacements of
the device (rigid shifts and tilts) are *views*; every objective is the mean over the views,
each view's treated area counting equally. One transfer matrix of all candidates is built per
view, by the engine directly (:func:`twin.engine.transfer.transfer_matrix`, as a render builds
it).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin._validation import as_count, check_finite, one_or_many
from twin.devices.designs import Layout
from twin.devices.emitters import Emitters
from twin.devices.layout import CarrierPoints, interleave, pattern_points, wear
from twin.engine.backends import Backend, make_backend, resolve_backend
from twin.engine.transfer import scene_triangles, transfer_matrix
from twin.errors import InputError
from twin.geometry.surface import SamplePoints
from twin.pipeline.render import region_of_interest
from twin.raycast import self_tolerance_mm
from twin.scene import Scene
from twin.units import fluence_per_irradiance

#: progress(stage, done, total)
StageProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Placement:
    """A chosen placement.

    Attributes
    ----------
    scenes : list of Scene
        The design with the chosen layout (an emitter set, drive levels unchanged) on each
        wearer given, in order: the same LEDs in the same order on every wearer.
    log : list of str
        What was done, step by step, with the objective before and after each step.
    points : CarrierPoints
        (n,) where the LEDs sit on the design's carrier.
    channel : (n,) str
        Each LED's channel.
    """

    scenes: list[Scene]
    log: list[str]
    points: CarrierPoints
    channel: NDArray[np.str_]

    def worn(self, scene: Scene) -> Scene:
        """Wear this layout like the design on ``scene`` (the design on any wearer).

        Each LED takes the power and profile of the design's first LED of its channel.

        Parameters
        ----------
        scene : Scene
            The design (a scene with a carrier) on a wearer.

        Returns
        -------
        Scene
            Named ``<name>-placed``, its LEDs numbered from 0.

        Raises
        ------
        InputError
            If ``scene`` has no design.
        """
        layout, emitters = _design(scene), scene.emitters
        template = {c: int(np.flatnonzero(emitters.channel == c)[0]) for c in emitters.channels}
        index = np.array([template[c] for c in self.channel])
        clearance = float(layout.spec.get("clearance_mm", 1.0))
        positions, axes, _ = wear(
            layout.carrier, self.points, scene.target, clearance_mm=clearance
        )
        placed = emitters.derive(
            index,
            positions_mm=positions,
            axes=axes,
            ids=np.arange(len(index)).astype(str),
            name=scene.name,
        )
        return scene.with_emitters(placed, name=f"{scene.name}-placed")


def _design(scene: Scene) -> Layout:
    """Return the scene's design (its ``layout``): placement needs a carrier."""
    if scene.layout is None:
        msg = f"{scene.name}: placement needs a design (a carrier), not an emitter CSV"
        raise InputError(msg)
    return scene.layout


@dataclass
class _View:
    """One wearer, or one misplacement of one, seeing every candidate.

    ``unit`` is the (points, candidates) fluence per unit LED power, J/cm2 per mW at full
    drive over the exposure, with sorted row indices per column; ``areas`` the treated skin's
    areas scaled to sum to 1 / (number of views), zero elsewhere.
    """

    unit: scipy.sparse.csc_array
    areas: NDArray[np.float64]

    def column(self, c: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        lo, hi = self.unit.indptr[c], self.unit.indptr[c + 1]
        return self.unit.indices[lo:hi], self.unit.data[lo:hi]


def _saturating_gain(view: _View, c: int, scale: float, fluence, target: float) -> float:
    """Rise of ``sum a min(H, target)`` when candidate ``c`` (power ``scale``) is added."""
    rows, values = view.column(c)
    room = np.clip(target - fluence[rows], 0.0, None)
    return float(np.sum(view.areas[rows] * np.minimum(scale * values, room)))


def optimise_placement(
    scene: Scene | Sequence[Scene],
    *,
    factor: int = 5,
    seed: int = 0,
    moves: Sequence[NDArray[np.float64]] = (),
    progress: StageProgress | None = None,
) -> Placement:
    """Choose where a design's LEDs sit and which channel each one is (see the module).

    Parameters
    ----------
    scene : Scene or sequence of Scene
        One design (a scene with a carrier) on one or more wearers; the first wearer's
        treated region, dose window and mode set the targets, every wearer counts equally.
    factor : int
        Candidates per LED, >= 1.
    seed : int
        For the candidates and the order of the swap moves, >= 0.
    moves : sequence of (4, 4) float64
        Rigid misplacements of the device on the first wearer
        (``twin.analysis.optimise.misplacements``) the placement must also be good for; each
        is one more view.
    progress : callable(stage, done, total), optional

    Returns
    -------
    Placement

    Raises
    ------
    InputError
        For no scene, an argument out of range (naming it), a scene without a design, wearers of
        different designs, or too few candidates for the count at the package spacing.
    """
    start = time.perf_counter()
    scenes = one_or_many(scene, Scene, name="scene")
    factor = as_count(factor, name="factor")
    seed = as_count(seed, name="seed", least=0)
    moves = [_as_move(m, name=f"moves[{i}]") for i, m in enumerate(moves)]
    report = progress or (lambda *_: None)
    first_scene = scenes[0]
    layout = _design(first_scene)
    for other in scenes[1:]:
        if other.layout is None or other.layout.carrier.kind != layout.carrier.kind:
            msg = f"{other.name}: every wearer must wear the design of {first_scene.name}"
            raise InputError(msg)
    emitters, carrier = first_scene.emitters, layout.carrier
    count = len(emitters)
    candidates = pattern_points(carrier, count=factor * count, pattern="poisson", seed=seed)
    clearance = float(layout.spec.get("clearance_mm", 1.0))
    worn = [wear(carrier, candidates, s.target, clearance_mm=clearance)[:2] for s in scenes]
    on = [c for c in emitters.channels if first_scene.drive.get(c, 0.0) > 0]
    first = int(np.flatnonzero(np.isin(emitters.channel, on))[0]) if on else 0

    wearers = [_Wearer.of(s) for s in scenes]
    placements = [(w, p, a) for w, (p, a) in zip(wearers, worn, strict=True)]
    for m in moves:
        p, a = worn[0]
        placements.append((wearers[0], p @ m[:3, :3].T + m[:3, 3], a @ m[:3, :3].T))
    views = []
    for i, (w, positions, axes) in enumerate(placements):
        label = f"candidates, view {i + 1}/{len(placements)}"
        views.append(_view(w, positions, axes, emitters, first, len(placements), progress, label))
    positions = worn[0][0]

    # An average lit LED: the lit LEDs' share of the count at the first lit channel's power.
    share = sum(int((emitters.channel == c).sum()) for c in on) / count
    scale = emitters.power_mw[first] * share
    low, high = first_scene.dose.fluence_window_j_cm2
    target = 0.5 * (low + high)
    fluence = [np.zeros(v.unit.shape[0]) for v in views]
    package = layout.package_mm

    def gain(c: int) -> float:
        return sum(
            _saturating_gain(v, c, scale, f, target) for v, f in zip(views, fluence, strict=True)
        )

    def add(c: int, sign: float) -> None:
        for v, f in zip(views, fluence, strict=True):
            rows, values = v.column(c)
            f[rows] += sign * scale * values

    def coverage() -> float:
        return sum(
            float(np.sum(v.areas * np.minimum(f, target)))
            for v, f in zip(views, fluence, strict=True)
        )

    tree = cKDTree(positions)
    blocked = np.zeros(len(positions), dtype=bool)
    heap = [(-gain(c), c) for c in range(len(positions))]
    heapq.heapify(heap)
    chosen: list[int] = []
    evaluations = len(positions)
    while len(chosen) < count and heap:
        _, c = heapq.heappop(heap)
        if blocked[c]:
            continue
        now = gain(c)
        evaluations += 1
        if heap and now < -heap[0][0] - 1e-15:
            heapq.heappush(heap, (-now, c))
            continue
        chosen.append(c)
        add(c, 1.0)
        blocked[tree.query_ball_point(positions[c], package)] = True
        report("greedy placement", len(chosen), count)
    if len(chosen) < count:
        msg = (
            f"{first_scene.name}: only {len(chosen)} of {count} LEDs fit {package:g} mm apart "
            f"among {len(positions)} candidates"
        )
        raise InputError(msg)
    greedy = coverage()
    kept, tried = _swap_positions(
        chosen, positions, package, gain, add, np.random.default_rng(seed), report
    )
    picked = np.array(sorted(chosen))
    ratios = {c: int(v["ratio"]) for c, v in layout.spec["channels"].items()}
    dealt = interleave(positions[picked], ratios)
    channel, channel_log = _assign_channels(
        views, picked, dealt, positions, np.random.default_rng(seed + 1), report
    )
    log = [
        f"{len(positions)} candidates (Poisson on the {carrier.kind} carrier) for {count} LEDs, "
        f"at least {package:g} mm apart; {len(views)} view(s): {len(scenes)} wearer(s), "
        f"{len(moves)} misplacement(s)",
        f"greedy saturating coverage to {target:g} J/cm2: {evaluations} gain evaluations, "
        f"coverage {greedy:.6g} J/cm2 (area-weighted mean of min(H, {target:g}))",
        f"swap refinement: {kept} of {tried} trial moves to a neighbouring candidate kept, "
        f"coverage {greedy:.6g} -> {coverage():.6g}",
        channel_log,
        f"done in {time.perf_counter() - start:.1f} s",
    ]
    points = CarrierPoints(candidates.faces[picked], candidates.bary[picked])
    placement = Placement([], log, points, channel)
    placement.scenes.extend(placement.worn(s) for s in scenes)
    return placement


@dataclass(frozen=True)
class _Wearer:
    """One wearer's skin samples, treated skin and engine backend, shared by its views."""

    scene: Scene
    samples: SamplePoints
    roi: NDArray[np.bool_]
    backend: Backend
    end_tolerance_mm: float

    @classmethod
    def of(cls, scene: Scene) -> _Wearer:
        samples = scene.target.samples(at=scene.samples)
        triangles = scene_triangles(scene.target, scene.occluders)
        name = resolve_backend(
            scene.engine.backend, option=f"{scene.path or scene.name}: engine.backend"
        )
        return cls(
            scene,
            samples,
            region_of_interest(scene, samples),
            make_backend(name, triangles),
            self_tolerance_mm(triangles),
        )


def _as_move(value: Any, *, name: str) -> NDArray[np.float64]:
    """Return ``value`` as a finite (4, 4) transform, or raise naming ``name``."""
    try:
        move = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        move = None
    if move is None or move.shape != (4, 4):
        shape = "no array" if move is None else f"shape {move.shape}"
        msg = f"{name}: expected a (4, 4) rigid transform, got {shape}"
        raise InputError(msg)
    check_finite(move, name=name)
    return move


def _view(wearer, positions, axes, emitters: Emitters, first, n_views, progress, label) -> _View:
    """Build the transfer matrix of every candidate, at unit power, on one view."""
    scene = wearer.scene
    probe = emitters.derive(
        np.full(len(positions), first),
        positions_mm=positions,
        axes=axes,
        power_mw=1.0,
        ids=np.arange(len(positions)).astype(str),
        name=f"{scene.name} candidates",
    )
    bar = None if progress is None else (lambda done, total: progress(label, done, total))
    transfer = transfer_matrix(
        wearer.samples,
        probe,
        wearer.backend,
        end_tolerance_mm=wearer.end_tolerance_mm,
        intensity_cutoff=scene.engine.intensity_cutoff,
        max_distance_mm=scene.engine.max_distance_mm,
        progress=bar,
    )
    unit = transfer.total.tocsc() * fluence_per_irradiance(scene.exposure_s)
    unit.sort_indices()
    areas = np.where(wearer.roi, wearer.samples.areas_mm2, 0.0)
    return _View(scipy.sparse.csc_array(unit), areas / (areas.sum() * n_views))


def _swap_positions(chosen, positions, package, gain, add, rng, report, *, passes=2):
    """Move single LEDs to one of their 6 nearest free candidates where that pays.

    A move is kept where it raises the coverage and keeps the package spacing; ``chosen``
    and the fluence change in place. Returns (moves kept, moves tried).
    """
    tree = cKDTree(positions)
    taken = np.zeros(len(positions), dtype=bool)
    taken[chosen] = True
    kept = tried = 0
    for step in range(passes):
        for done, slot in enumerate(rng.permutation(len(chosen)), 1):
            c = chosen[slot]
            add(c, -1.0)
            _, near = tree.query(positions[c], k=7)
            best, best_gain = c, None
            for d in near:
                if d != c and taken[d]:
                    continue
                neighbours = tree.query_ball_point(positions[d], package)
                if any(taken[n] and n != c for n in neighbours):
                    continue
                now = gain(d)
                tried += d != c
                if best_gain is None or now > best_gain + 1e-12:
                    best, best_gain = d, now
            add(best, 1.0)
            if best != c:
                taken[c], taken[best] = False, True
                chosen[slot] = best
                kept += 1
            report(f"swap refinement, pass {step + 1}/{passes}", done, len(chosen))
    return kept, tried


def _assign_channels(views, chosen, dealt, positions, rng, report, *, passes=2):
    """Swap the channels of neighbouring LEDs where that raises their normalised coverage.

    The coverage is the module docstring's. Returns the channels and a log line.
    """
    names = sorted(set(dealt))
    k = np.array([names.index(c) for c in dealt])
    if len(names) < 2:
        return dealt, "channels: one channel, nothing to assign"
    # Per view and channel: fluence per unit power (J/cm2 per mW) and its treated mean.
    maps = [
        np.stack([v.unit[:, chosen[k == j]].sum(axis=1) for j in range(len(names))]) for v in views
    ]
    means = [m @ v.areas / v.areas.sum() for v, m in zip(views, maps, strict=True)]

    def objective() -> float:
        return sum(
            float(np.sum(v.areas * np.minimum(m, mean[:, None]) / mean[:, None]))
            for v, m, mean in zip(views, maps, means, strict=True)
        )

    def swap_gain(p: int, q: int, *, apply: bool) -> float:
        total = 0.0
        for v, m, mean in zip(views, maps, means, strict=True):
            rp, vp = v.column(chosen[p])
            rq, vq = v.column(chosen[q])
            rows = np.union1d(rp, rq)
            delta = np.zeros(len(rows))
            delta[np.searchsorted(rows, rq)] += vq
            delta[np.searchsorted(rows, rp)] -= vp
            a = v.areas[rows]
            for j, sign in ((k[p], 1.0), (k[q], -1.0)):
                old = m[j, rows]
                new = old + sign * delta
                change = np.sum(a * (np.minimum(new, mean[j]) - np.minimum(old, mean[j])))
                total += float(change) / mean[j]
                if apply:
                    m[j, rows] = new
        return total

    before = objective()
    tree = cKDTree(positions[chosen])
    kept = tried = 0
    for step in range(passes):
        for done, p in enumerate(rng.permutation(len(chosen)), 1):
            _, near = tree.query(positions[chosen[p]], k=7)
            best, best_gain = None, 1e-12
            for q in near[1:]:
                if k[q] == k[p]:
                    continue
                tried += 1
                now = swap_gain(p, q, apply=False)
                if now > best_gain:
                    best, best_gain = q, now
            if best is not None:
                swap_gain(p, best, apply=True)
                k[p], k[best] = k[best], k[p]
                kept += 1
            report(f"channel assignment, pass {step + 1}/{passes}", done, len(chosen))
    after = objective()
    line = (
        f"channel assignment: {kept} of {tried} trial swaps of neighbouring LEDs kept, "
        f"per-channel coverage of the channel mean {before / len(names):.6g} -> "
        f"{after / len(names):.6g} (1 = every point at or above its channel's mean)"
    )
    return np.array(names)[k], line
