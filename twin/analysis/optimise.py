"""Drive-level optimisation on the transfer matrix: ray-cast once, optimise many times.

The irradiance of a layout is linear in its emitter drive, ``E = T diag(P) d``
(docs/physics.md §2.5; :mod:`twin.analysis.problem`), so choosing the drive ``d`` in [0, 1] of
every emitter (or of every group of emitters) is a linear or quadratic programme over the
treated skin of a :class:`~twin.analysis.problem.DoseProblem`:

- ``uniformity``: fluence as close as possible to the middle of the dose window everywhere —
  bounded least squares (``scipy.optimize.lsq_linear``; L-BFGS-B on the same quadratic for
  more than 200 drive levels), or, when that answer breaks a hard limit or leaves the window,
  the same target in L1 by linear programming with the limits as constraints;
- ``coverage``: as much treated skin inside the window as possible — the convex surrogate
  "least area-weighted distance outside the window" by linear programming (HiGHS);
- ``minmax``: the largest minimum fluence (HiGHS), over the skin that full drive brings to at
  least a tenth of the window's lower bound.

Hard limits hold in every answer: no skin above the irradiance limit, the IEC 62471 IR-eye
limit for the exposure and the blue-light limit (the large-source radiance limit where the
LEDs' emitting areas are known, else the small-source bound) on the eye detector's readings
(:mod:`twin.pipeline.eye`), and an optional total radiant-power budget; the mean
fluence of the treated skin must lie in the window, and a window no drive can reach is refused
with the bound that cannot be met and by how much. Large treated areas are represented by an
area-weighted sample of ``max_points`` points for the objective; the hard limits are imposed
on every point that could break them.

A problem with a :class:`~twin.analysis.problem.DepthObjective` (``twin optimise --at-depth``)
aims the fluence in a band of depth instead: the objective, the sample and the mean-fluence
window are on the band's fluence-rate matrix and window, the hard limits on the surface.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.optimize
import scipy.sparse
from numpy.typing import NDArray

from twin._validation import as_count, as_positive, check_choice, one_or_many
from twin.analysis.groups import GROUPS, STRING_LEDS, drive_groups
from twin.analysis.problem import DoseProblem
from twin.dose.hazards import blue_irradiance_limit_mw_cm2, blue_radiance_limit_w_m2_sr
from twin.dose.metrics import map_metrics, weighted_percentile
from twin.dose.registry import WEARER, metric, metric_value
from twin.errors import InputError
from twin.geometry.anatomy import landmarks
from twin.units import fluence_j_cm2, fluence_per_irradiance

if TYPE_CHECKING:
    from twin.scene import Scene

OBJECTIVES = ("uniformity", "coverage", "minmax")


@dataclass(frozen=True)
class DriveResult:
    """An optimised drive.

    Attributes
    ----------
    emitter_drive : (n,) float64
        Drive level of every emitter in [0, 1] (0 for emitters of channels that are off).
    objective : str
    solver : str
        ``lsq_linear``, ``l-bfgs-b`` or ``highs``.
    seconds : float
    log : list of str
        What the solver did, step by step.
    groups : list of str
        The drive groups' names (``drive_groups``).
    group_of : (n,) int64
        Each emitter's group, -1 for emitters of channels that are off.
    group_levels : (g,) float64
        Each group's drive level in [0, 1].
    """

    emitter_drive: NDArray[np.float64]
    objective: str
    solver: str
    seconds: float
    log: list[str]
    groups: list[str]
    group_of: NDArray[np.int64]
    group_levels: NDArray[np.float64]


def _sample(roi: NDArray[np.bool_], max_points: int, seed: int) -> NDArray[np.int64]:
    idx = np.flatnonzero(roi)
    if len(idx) <= max_points:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, max_points, replace=False))


def optimise_drive(
    problem: DoseProblem | Sequence[DoseProblem],
    *,
    objective: str = "uniformity",
    group: str = "emitter",
    string_leds: int = STRING_LEDS,
    budget_mw: float | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> DriveResult:
    """Optimise the emitter drive of a dose problem on its transfer matrix.

    Parameters
    ----------
    problem : DoseProblem or sequence of DoseProblem
        Its channel levels say which channels are on (only their emitters are driven), its
        dose settings give the window and the limits (a depth objective its own window and
        matrix to aim, ``DoseProblem.at_depth``). Several problems of one design on
        different wearers (population members, with the same emitters in the same order)
        give one robust drive: the objective is averaged over the wearers, and every
        wearer's hard limits and mean fluence must hold.
    objective : {"uniformity", "coverage", "minmax"}
    group : {"emitter", "channel", "zone", "string"}
        One drive level per emitter, per channel, per zone or per driver string
        (``drive_groups``).
    string_leds : int
        LEDs per driver string, for ``group="string"``, >= 1.
    budget_mw : float, optional, mW
        Total radiant power allowed, > 0.
    max_points : int
        Treated-skin sample points the objective is evaluated on (shared by the wearers),
        >= 1.
    seed : int
        For the sample, >= 0.

    Returns
    -------
    DriveResult

    Raises
    ------
    InputError
        For no problem, an unknown objective or group, an argument out of range (naming
        it), no channel on, wearers with different emitters or with and without a depth
        objective, or a window no drive within the limits can reach (naming the bound, the
        wearer and the best reachable value).
    """
    start = time.perf_counter()
    problems = one_or_many(problem, DoseProblem, name="problem")
    check_options(objective=objective, group=group, string_leds=string_leds, budget_mw=budget_mw)
    max_points = as_count(max_points, name="max_points")
    seed = as_count(seed, name="seed", least=0)
    first = problems[0]
    for other in problems[1:]:
        if len(other.channel) != len(first.channel) or not np.array_equal(
            other.channel, first.channel
        ):
            msg = (
                f"{other.name}: its {len(other.channel)} emitters are not those of "
                f"{first.name} ({len(first.channel)}); a robust drive needs one design"
            )
            raise InputError(msg)
        if (other.at_depth is None) != (first.at_depth is None):
            msg = (
                f"{other.name}: aims the dose {_where(other)} but {first.name} "
                f"{_where(first)}; a robust drive aims at one place"
            )
            raise InputError(msg)
    names, group_of = drive_groups(first, group=group, string_leds=string_leds)
    active = np.flatnonzero(group_of >= 0)
    groups = scipy.sparse.csc_array(
        (np.ones(len(active)), (np.arange(len(active)), group_of[active])),
        shape=(len(active), len(names)),
    )
    low, high = first.window_j_cm2
    log = [
        f"{len(names)} drive levels ({group}), {len(problems)} wearer(s), "
        f"{sum(int(p.roi.sum()) for p in problems)} treated points, objective {objective} "
        f"{_where(first)}, window {low:g}-{high:g} J/cm2 over {first.exposure_s:g} s"
    ]
    per_member = max(50, max_points // len(problems))
    parts = [_member(p, active, groups, per_member, seed + i) for i, p in enumerate(problems)]
    rows = [row for p in parts for row in p.rows]
    bounds = [b for p in parts for b in p.bounds]
    hard = sum(len(b) for b in bounds)
    if hard:
        log.append(f"irradiance and IR-eye limits on {hard} points that could break them")
    power = np.asarray(groups.T @ first.power_mw[active]).ravel()
    if budget_mw is not None:
        rows.append(scipy.sparse.csr_array(power[None, :]))
        bounds.append(np.array([budget_mw]))
        log.append(f"power budget {budget_mw:g} mW (full drive: {power.sum():g} mW)")
    limits = (scipy.sparse.vstack(rows).tocsr(), np.concatenate(bounds)) if rows else None
    means = scipy.sparse.vstack([p.mean_row for p in parts]).tocsr()
    for part, p in zip(parts, problems, strict=True):
        who = "" if len(problems) == 1 else f" of {p.name}"
        if p.at_depth is not None:
            who += f" {_where(p)}"
        _check_reachable(part.mean_row, limits, low, high, len(names), log, who=who)
    a = np.vstack([p.a for p in parts])
    w = np.concatenate([p.w for p in parts]) / len(parts)
    if objective == "minmax":
        # Skin no drive can bring near the window (inside nostrils, behind folds) would pin
        # the minimum at its own small value: it is left out of the minimum, and logged.
        reachable = a.sum(axis=1) >= 0.1 * low
        log.append(
            f"minimum over {int(reachable.sum())} of {len(a)} sampled points: the others get "
            f"under {0.1 * low:g} J/cm2 even at full drive"
        )
        a, w = a[reachable], w[reachable] / w[reachable].sum()
    window = (low, high)
    if objective == "uniformity":
        x, solver = _uniformity(a, w, 0.5 * (low + high), means, limits, window, log)
    else:
        x, solver = _linear(objective, a, w, window, window, means, limits, log)
    levels = np.clip(x, 0.0, 1.0)
    emitter_drive = np.zeros(len(first.channel))
    emitter_drive[active] = levels[group_of[active]]
    seconds = time.perf_counter() - start
    log.append(f"done in {seconds:.2f} s")
    return DriveResult(emitter_drive, objective, solver, seconds, log, names, group_of, levels)


def _where(problem: DoseProblem) -> str:
    """Where a problem aims the dose, for messages: ``at the surface``, ``at 0.5-1.5 mm deep``."""
    return "at the surface" if problem.at_depth is None else f"at {problem.at_depth.label} deep"


def check_options(
    *, objective: str, group: str, string_leds: int, budget_mw: float | None
) -> None:
    """Raise unless the options of :func:`optimise_drive` are valid (before any work).

    Raises
    ------
    InputError
        Naming the argument, what was expected and what was found.
    """
    check_choice(objective, OBJECTIVES, name="objective")
    check_choice(group, GROUPS, name="group")
    as_count(string_leds, name="string_leds")
    if budget_mw is not None:
        as_positive(budget_mw, name="budget_mw")


@dataclass(frozen=True)
class _Member:
    """One wearer's share of the problem."""

    rows: list  # hard-limit rows (sparse, per unit drive)
    bounds: list  # their bounds
    mean_row: scipy.sparse.csr_array  # (1, g) mean aimed fluence per unit drive, J/cm2
    a: NDArray[np.float64]  # (k, g) sampled aimed fluence per unit drive, J/cm2
    w: NDArray[np.float64]  # (k,) sample weights, summing to 1


def _per_group(matrix, problem: DoseProblem, active, groups) -> scipy.sparse.csr_array:
    """(k, g): ``matrix``'s reading (mW/cm2) at each point per unit drive of each group."""
    power = scipy.sparse.diags_array(problem.power_mw[active])
    return scipy.sparse.csr_array(scipy.sparse.csr_array(matrix[:, active] @ power) @ groups)


def _member(problem: DoseProblem, active, groups, max_points: int, seed: int) -> _Member:
    dose = problem.dose
    # Irradiance per unit drive of each group, mW/cm2 (the hard limits are on it).
    per_group = _per_group(problem.matrix, problem, active, groups)
    # What the dose is aimed with: the same, or the fluence rate in the depth band.
    aimed = per_group
    if problem.at_depth is not None:
        aimed = _per_group(problem.at_depth.matrix, problem, active, groups)
    n = per_group.shape[1]
    to_fluence = fluence_per_irradiance(problem.exposure_s)
    rows, bounds = [], []
    # Hard limits, only on the points that could break them at full drive.
    hot = np.flatnonzero(per_group @ np.ones(n) > dose.irradiance_limit_mw_cm2)
    if hot.size:
        rows.append(per_group[hot])
        bounds.append(np.full(hot.size, dose.irradiance_limit_mw_cm2))
    for eye_rows, eye_limit in _eye_limits(problem, active, groups):
        risky = np.flatnonzero(eye_rows @ np.ones(n) > eye_limit)
        if risky.size:
            rows.append(eye_rows[risky])
            bounds.append(np.full(risky.size, eye_limit))
    areas, roi = problem.areas_mm2, problem.roi
    weights = areas[roi] / areas[roi].sum()
    mean_row = scipy.sparse.csr_array((weights @ aimed[np.flatnonzero(roi)]) * to_fluence)
    sample = _sample(roi, max_points, seed)
    a = aimed[sample].toarray() * to_fluence
    w = areas[sample] / areas[sample].sum()
    return _Member(rows, bounds, mean_row, a, w)


def _eye_limits(
    problem: DoseProblem, active: NDArray[np.int64], groups
) -> list[tuple[scipy.sparse.csr_array, float]]:
    """Return the eye hard limits as rows per unit drive of each group and their bounds.

    IR-eye: the IR emitters' facing irradiance at each eye point (mW/cm^2) under the limit
    for the exposure. Blue light: each group's largest blue-weighted radiance (W m^-2 sr^-1)
    under the large-source limit where emitting areas are known, else the blue-weighted
    facing irradiance at each eye point under the small-source bound (:mod:`twin.dose.hazards`).
    """
    if not problem.has_eyes:
        return []
    t = problem.exposure_s
    power = problem.power_mw[active]
    eye = problem.eye_matrix[:, active]
    out = []
    ir = problem.ir[active]
    if ir.any():
        rows = scipy.sparse.csr_array(eye @ scipy.sparse.diags_array(power * ir) @ groups)
        out.append((rows, problem.dose.eye_ir_limit(t)[0]))
    blue = problem.blue_weight[active]
    if not blue.any():
        return out
    if problem.blue_radiance_w_m2_sr_per_mw is None:
        rows = scipy.sparse.csr_array(eye @ scipy.sparse.diags_array(power * blue) @ groups)
        out.append((rows, blue_irradiance_limit_mw_cm2(t)))
    else:
        per_led = problem.blue_radiance_w_m2_sr_per_mw[active] * power
        worst = scipy.sparse.csr_array(groups).multiply(per_led[:, None]).max(axis=0)
        rows = scipy.sparse.csr_array(scipy.sparse.diags_array(worst.toarray().ravel()))
        out.append((rows, blue_radiance_limit_w_m2_sr(t)))
    return out


def _check_reachable(
    mean_row, limits, low: float, high: float, n: int, log: list[str], *, who: str = ""
) -> None:
    """Refuse a window no drive within the limits reaches, naming the bound and the gap."""
    best = _lp(-mean_row.toarray().ravel(), limits, n)
    top = float(mean_row @ best) if best is not None else 0.0
    if top < low:
        binding, verb = (
            ("the hard limits", "allow") if limits is not None else ("full drive", "gives")
        )
        msg = (
            f"dose window: the treated skin's mean fluence{who} must reach {low:g} J/cm2, but "
            f"{binding} {verb} at most {top:.3g} J/cm2 ({low - top:.3g} J/cm2 short); raise "
            "the exposure or the LED power, or lower the window"
        )
        raise InputError(msg)
    log.append(f"reachable mean fluence{who}: up to {top:.3g} J/cm2 (window {low:g}-{high:g})")


def _lp(cost, limits, n: int, *, extra_rows=None, extra_bounds=None, bounds=None):
    """Solve min cost @ x over x in [0, 1]^n (or ``bounds``) with the limits; None if not."""
    rows = [] if limits is None else [limits[0]]
    ub = [] if limits is None else [limits[1]]
    if extra_rows is not None:
        rows.append(extra_rows)
        ub.append(extra_bounds)
    width = len(cost)
    matrix = None
    if rows:
        matrix = scipy.sparse.vstack(
            [
                r
                if r.shape[1] == width
                else scipy.sparse.hstack(
                    [r, scipy.sparse.csr_array((r.shape[0], width - r.shape[1]))]
                )
                for r in rows
            ]
        ).tocsr()
    solution = scipy.optimize.linprog(
        cost,
        A_ub=matrix,
        b_ub=None if matrix is None else np.concatenate(ub),
        bounds=bounds or [(0.0, 1.0)] * n,
        method="highs-ipm" if width > 2000 else "highs",
    )
    return solution.x[:n] if solution.status == 0 else None


def _uniformity(a, w, target, mean_row, limits, window, log):
    """Fit ``target`` by bounded least squares.

    Exact ``lsq_linear`` up to 200 drive levels, L-BFGS-B on the same quadratic above
    (seconds instead of minutes for 1026).
    """
    low, high = window
    sw = np.sqrt(w)
    m, b = sw[:, None] * a, sw * target
    if a.shape[1] <= 200:
        fit = scipy.optimize.lsq_linear(m, b, bounds=(0.0, 1.0))
        drive, solver, steps = fit.x, "lsq_linear", fit.nit
    else:
        sparse = scipy.sparse.csr_array(m)

        def cost(x):
            r = sparse @ x - b
            return float(r @ r), 2.0 * (sparse.T @ r)

        fit = scipy.optimize.minimize(
            cost,
            np.full(a.shape[1], 0.5),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * a.shape[1],
            options={"maxiter": 2000, "ftol": 1e-12},
        )
        drive, solver, steps = fit.x, "l-bfgs-b", fit.nit
    mean = np.atleast_1d(mean_row @ drive)
    ok = bool(np.all((low <= mean) & (mean <= high))) and (
        limits is None or np.all(limits[0] @ drive <= limits[1] + 1e-9)
    )
    log.append(
        f"{solver}: {steps} iterations, weighted rms "
        f"{np.sqrt(np.sum(w * (a @ drive - target) ** 2)):.4g} J/cm2, mean "
        f"{mean.min():.4g}-{mean.max():.4g} J/cm2"
    )
    if ok:
        return drive, solver
    log.append("least squares broke a limit or left the window: L1 fit with constraints (HiGHS)")
    return _linear("uniformity", a, w, (target, target), window, mean_row, limits, log)[0], "highs"


def _linear(objective, a, w, band, window, mean_row, limits, log):
    """Solve coverage, uniformity in L1, or minmax by HiGHS.

    Coverage: hinge distance outside ``band``; uniformity: L1 to ``band`` = (t, t); minmax:
    the largest minimum; each with the limits and the mean fluence in ``window``.
    """
    k, n = a.shape
    low, high = band
    dense = scipy.sparse.csr_array(a)
    window_rows = scipy.sparse.vstack([mean_row, -mean_row]).tocsr()
    wearers = mean_row.shape[0]
    window_bounds = np.concatenate([np.full(wearers, window[1]), np.full(wearers, -window[0])])
    if objective == "minmax":
        # Variables [d, t]: maximise t with a d >= t at every point.
        cost = np.zeros(n + 1)
        cost[-1] = -1.0
        above = scipy.sparse.hstack([-dense, scipy.sparse.csr_array(np.ones((k, 1)))])
        window_part = scipy.sparse.hstack([window_rows, scipy.sparse.csr_array((2 * wearers, 1))])
        extra = scipy.sparse.vstack([above, window_part]).tocsr()
        extra_bounds = np.concatenate([np.zeros(k), window_bounds])
        bounds = [(0.0, 1.0)] * n + [(None, None)]
    else:
        # Variables [d, u, v]: u >= low - a d, v >= a d - high; minimise w (u + v).
        cost = np.concatenate([np.zeros(n), w, w])
        identity = scipy.sparse.identity(k, format="csr")
        zeros = scipy.sparse.csr_array((k, k))
        under = scipy.sparse.hstack([-dense, -identity, zeros])
        over = scipy.sparse.hstack([dense, zeros, -identity])
        window_part = scipy.sparse.hstack(
            [window_rows, scipy.sparse.csr_array((2 * wearers, 2 * k))]
        )
        extra = scipy.sparse.vstack([under, over, window_part]).tocsr()
        extra_bounds = np.concatenate([np.full(k, -low), np.full(k, high), window_bounds])
        bounds = [(0.0, 1.0)] * n + [(0.0, None)] * (2 * k)
    x = _lp(cost, limits, n, extra_rows=extra, extra_bounds=extra_bounds, bounds=bounds)
    if x is None and wearers > 1:  # each wearer's window is reachable, but not all at once
        msg = (
            f"dose window: no single drive keeps the mean fluence of all {wearers} wearers "
            f"within {window[0]:g}-{window[1]:g} J/cm2 under the hard limits; widen the window, "
            "or optimise for fewer or more alike wearers"
        )
        raise InputError(msg)
    if x is None:  # _check_reachable has shown that a drive meeting every limit exists
        msg = f"{objective}: the linear programme failed unexpectedly"
        raise RuntimeError(msg)
    log.append(f"HiGHS {objective}: solved on {k} points, {n} drive levels")
    return x, "highs"


def optimised_scene(scene: Scene, emitter_drive: NDArray[np.float64]) -> Scene:
    """Fold an emitter drive into each emitter's power, every channel at full drive.

    Parameters
    ----------
    scene : Scene
    emitter_drive : (n,) float64
        Each of the scene's emitters' drive level in [0, 1].

    Returns
    -------
    Scene
        Named ``<name>-optimised``. Emitters driven below 1e-6 are left out (an emitter CSV
        holds powers > 0 only).
    """
    keep = emitter_drive > 1e-6
    e = scene.emitters
    emitters = e.derive(keep, power_mw=e.power_mw[keep] * emitter_drive[keep], name=scene.name)
    return scene.with_emitters(
        emitters,
        name=f"{scene.name}-optimised",
        drive=dict.fromkeys(emitters.channels, 1.0),
    )


def drive_metrics(
    problem: DoseProblem, emitter_drive: NDArray[np.float64]
) -> dict[str, float | None]:
    """Return the per-wearer headline metrics of an emitter drive, from the transfer matrix.

    No ray is cast. The metrics are the registry's :data:`twin.dose.registry.WEARER`, as
    ``metrics.json`` defines them (:func:`twin.dose.metrics.map_metrics` over the treated
    skin; the eye region's IR maximum; with a depth objective, the treated skin's fluence
    in its band as ``tissue.targets.roi`` has it).

    Parameters
    ----------
    problem : DoseProblem
    emitter_drive : (n,) float64
        Each emitter's drive level in [0, 1].

    Returns
    -------
    dict of str to float or None
        Keyed by each metric's registry column, in the registry's order; ``None`` where a
        metric is undefined (the CV or U0 of a dark map). As in ``metrics.json``, the eye
        region's metric is left out of a problem without eye points, the depth metrics out
        of a problem without a depth objective.
    """
    e = problem.matrix @ (problem.power_mw * emitter_drive)
    roi = problem.roi
    metrics: dict = {
        "roi": {
            "total": map_metrics(
                e[roi], problem.areas_mm2[roi], exposure_s=problem.exposure_s, dose=problem.dose
            ).to_dict()
        }
    }
    if problem.has_eyes:
        e_ir = problem.eye_ir_irradiance_mw_cm2(emitter_drive)
        metrics["eye_safety"] = {"ir_irradiance_mw_cm2": {"max": float(e_ir.max())}}
    if problem.at_depth is not None:
        metrics["tissue"] = {"targets": {"roi": band_metrics(problem, emitter_drive)}}
    return {
        metric(path).column: metric_value(metrics, path)
        for path in WEARER
        if path.split(".", 1)[0] in metrics
    }


def band_metrics(problem: DoseProblem, emitter_drive: NDArray[np.float64]) -> dict[str, float]:
    """Return the treated skin's fluence in the depth objective's band for an emitter drive.

    Parameters
    ----------
    problem : DoseProblem
        With a depth objective (``at_depth``).
    emitter_drive : (n,) float64
        Each emitter's drive level in [0, 1].

    Returns
    -------
    dict of str to float
        ``fluence_mean_j_cm2``, ``fluence_p5_j_cm2`` (area-weighted, J/cm^2) and
        ``in_window_area_fraction``, as ``metrics.json``'s ``tissue.targets.roi``.
    """
    assert problem.at_depth is not None
    roi = problem.roi
    phi = (problem.at_depth.matrix @ (problem.power_mw * emitter_drive))[roi]
    fluence = fluence_j_cm2(phi, problem.exposure_s)
    areas = problem.areas_mm2[roi]
    low, high = problem.at_depth.window_j_cm2
    return {
        "fluence_mean_j_cm2": float(np.average(fluence, weights=areas)),
        "fluence_p5_j_cm2": weighted_percentile(fluence, areas, 0.05),
        "in_window_area_fraction": float(
            np.average((fluence >= low) & (fluence <= high), weights=areas)
        ),
    }


def misplacements(*, shift_mm: float = 3.0, tilt_deg: float = 5.0) -> list[NDArray[np.float64]]:
    """Return the rigid moves of a device worn slightly wrong.

    ``shift_mm`` left, right, up and down, and ``tilt_deg`` up and down about the left-right
    axis through the nasion (assumed wearing tolerances of a rigid mask, docs/physics.md §7).

    Parameters
    ----------
    shift_mm : float, mm
        >= 0.
    tilt_deg : float, degrees
        >= 0.

    Returns
    -------
    list of (4, 4) float64
        Homogeneous transforms in the anatomy frame (mm), in that order.

    Raises
    ------
    InputError
        If ``shift_mm`` or ``tilt_deg`` is not a finite number >= 0.
    """
    shift_mm = as_positive(shift_mm, name="shift_mm", allow_zero=True)
    tilt_deg = as_positive(tilt_deg, name="tilt_deg", allow_zero=True)
    pivot = landmarks()["nasion"]
    moves = [np.eye(4) for _ in range(6)]
    for m, shift in zip(moves[:4], ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0)), strict=True):
        m[:3, 3] = shift_mm * np.array(shift, dtype=float)
    for m, sign in zip(moves[4:], (1.0, -1.0), strict=True):
        a = np.radians(sign * tilt_deg)
        rotation = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        m[:3, :3] = rotation
        m[:3, 3] = pivot - rotation @ pivot
    return moves


def misplaced(scene: Scene, *, shift_mm: float = 3.0, tilt_deg: float = 5.0) -> list[Scene]:
    """Move the scene's device by each of :func:`misplacements`.

    Returns
    -------
    list of Scene
        ``<name>-misplaced<i>``: the same emitters in the same order, moved, for a robust
        drive.
    """
    e = scene.emitters
    out = []
    for i, m in enumerate(misplacements(shift_mm=shift_mm, tilt_deg=tilt_deg)):
        moved = e.derive(
            positions_mm=e.positions_mm @ m[:3, :3].T + m[:3, 3],
            axes=e.axes @ m[:3, :3].T,
            name=scene.name,
        )
        out.append(scene.with_emitters(moved, name=f"{scene.name}-misplaced{i}"))
    return out
