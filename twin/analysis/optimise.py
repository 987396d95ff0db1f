"""Drive-level optimisation on the transfer matrix: ray-cast once, optimise many times.

The irradiance of a layout is linear in its drive levels, ``E = T diag(P) d`` (design.md), so
choosing the drive ``d`` in [0, 1] of every emitter (or every channel) is a linear or
quadratic programme over the treated skin:

- ``uniformity``: fluence as close as possible to the middle of the dose window everywhere —
  bounded least squares (``scipy.optimize.lsq_linear``; L-BFGS-B on the same quadratic for
  more than 200 drive levels), or, when that answer breaks a hard limit or leaves the window,
  the same target in L1 by linear programming with the limits as constraints;
- ``coverage``: as much treated skin inside the window as possible — the convex surrogate
  "least area-weighted distance outside the window" by linear programming (HiGHS);
- ``minmax``: the largest minimum fluence (HiGHS), over the skin that full drive brings to at
  least a tenth of the window's lower bound.

Hard limits hold in every answer: no skin above the irradiance limit, the eye region's IR
irradiance under the IEC 62471 limit, and an optional total radiant-power budget; the mean
fluence of the treated skin must lie in the window, and a window no drive can reach is refused
with the bound that cannot be met and by how much. Large treated areas are represented by an
area-weighted sample of ``max_points`` points for the objective; the hard limits are imposed
on every point that could break them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.optimize
import scipy.sparse
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.dose.hazards import counts_as_ir
from twin.dose.metrics import map_metrics
from twin.errors import InputError
from twin.scene.load import EYE_REGION

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult
    from twin.scene.load import Scene

OBJECTIVES = ("uniformity", "coverage", "minmax")
GROUPS = ("emitter", "channel", "zone", "string")
#: LEDs in series on one driver string, by default.
STRING_LEDS = 6


@dataclass(frozen=True)
class DriveResult:
    """An optimised drive.

    Attributes
    ----------
    drive : (n,) float64
        Drive level of every emitter in [0, 1] (0 for emitters of channels that are off).
    objective : str
    solver : str
        ``lsq_linear`` or ``highs``.
    seconds : float
    log : list of str
        What the solver did, step by step.
    groups : list of str
        The drive groups' names (``drive_groups``).
    group_of : (n,) int64
        Each emitter's group, -1 for emitters of channels that are off.
    levels : (g,) float64
        Each group's drive level in [0, 1].
    """

    drive: NDArray[np.float64]
    objective: str
    solver: str
    seconds: float
    log: list[str]
    groups: list[str]
    group_of: NDArray[np.int64]
    levels: NDArray[np.float64]


def _sample(roi: NDArray[np.bool_], max_points: int, seed: int) -> NDArray[np.int64]:
    idx = np.flatnonzero(roi)
    if len(idx) <= max_points:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, max_points, replace=False))


def optimise_drive(
    result: RenderResult | Sequence[RenderResult],
    *,
    objective: str = "uniformity",
    group: str = "emitter",
    string_leds: int = STRING_LEDS,
    budget_mw: float | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> DriveResult:
    """Optimise the drive levels of a render's emitters (its transfer matrix is reused).

    Parameters
    ----------
    result : RenderResult or sequence of RenderResult
        A render: its scene's mode says which channels are on (only they are driven), its
        dose settings give the window and the limits. Several renders of one design on
        different wearers (population members, with the same emitters in the same order)
        give one robust drive: the objective is averaged over the wearers, and every
        wearer's hard limits and mean fluence must hold.
    objective : {"uniformity", "coverage", "minmax"}
    group : {"emitter", "channel", "zone", "string"}
        One drive level per emitter, per channel, per zone or per driver string
        (``drive_groups``).
    string_leds : int
        LEDs per driver string, for ``group="string"``.
    budget_mw : float, optional, mW
        Total radiant power allowed.
    max_points : int
        Treated-skin sample points the objective is evaluated on (shared by the wearers).
    seed : int
        For the sample.

    Raises
    ------
    InputError
        For an unknown objective or group, no channel on, wearers with different emitters,
        or a window no drive within the limits can reach (naming the bound, the wearer and
        the best reachable value).
    """
    start = time.perf_counter()
    results = [result] if not isinstance(result, Sequence) else list(result)
    if objective not in OBJECTIVES:
        msg = f"objective: expected one of {', '.join(OBJECTIVES)}, got {objective!r}"
        raise InputError(msg)
    scene = results[0].scene
    emitters = scene.emitters
    for other in results[1:]:
        e = other.scene.emitters
        if len(e) != len(emitters) or not np.array_equal(e.channel, emitters.channel):
            msg = (
                f"{other.scene.name}: its {len(e)} emitters are not those of "
                f"{scene.name} ({len(emitters)}); a robust drive needs one design"
            )
            raise InputError(msg)
    names, group_of = drive_groups(results[0], group=group, string_leds=string_leds)
    active = np.flatnonzero(group_of >= 0)
    groups = scipy.sparse.csc_array(
        (np.ones(len(active)), (np.arange(len(active)), group_of[active])),
        shape=(len(active), len(names)),
    )
    dose = scene.dose
    low, high = dose.fluence_window_j_cm2
    log = [
        f"{len(names)} drive levels ({group}), {len(results)} wearer(s), "
        f"{sum(int(r.roi.sum()) for r in results)} treated points, objective {objective}, "
        f"window {low:g}-{high:g} J/cm2 over {scene.exposure_s:g} s"
    ]
    per_member = max(50, max_points // len(results))
    parts = [_member(r, active, groups, per_member, seed + i) for i, r in enumerate(results)]
    rows = [row for p in parts for row in p.rows]
    bounds = [b for p in parts for b in p.bounds]
    hard = sum(len(b) for b in bounds)
    if hard:
        log.append(f"irradiance and IR-eye limits on {hard} points that could break them")
    power = np.asarray(groups.T @ emitters.power_mw[active]).ravel()
    if budget_mw is not None:
        rows.append(scipy.sparse.csr_array(power[None, :]))
        bounds.append(np.array([budget_mw]))
        log.append(f"power budget {budget_mw:g} mW (full drive: {power.sum():g} mW)")
    limits = (scipy.sparse.vstack(rows).tocsr(), np.concatenate(bounds)) if rows else None
    means = scipy.sparse.vstack([p.mean_row for p in parts]).tocsr()
    for p, r in zip(parts, results, strict=True):
        who = "" if len(results) == 1 else f" of {r.scene.name}"
        _check_reachable(p.mean_row, limits, low, high, len(names), log, who=who)
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
        drive, solver = _uniformity(a, w, 0.5 * (low + high), means, limits, window, log)
    else:
        drive, solver = _linear(objective, a, w, window, window, means, limits, log)
    levels = np.clip(drive, 0.0, 1.0)
    per_emitter = np.zeros(len(emitters))
    per_emitter[active] = levels[group_of[active]]
    seconds = time.perf_counter() - start
    log.append(f"done in {seconds:.2f} s")
    return DriveResult(per_emitter, objective, solver, seconds, log, names, group_of, levels)


def drive_groups(
    result: RenderResult, *, group: str = "emitter", string_leds: int = STRING_LEDS
) -> tuple[list[str], NDArray[np.int64]]:
    """Drive groups of a render's lit emitters (those of channels its mode turns on).

    Parameters
    ----------
    result : RenderResult
    group : {"emitter", "channel", "zone", "string"}
        ``emitter``: one level per LED (named by id); ``channel``: one per channel;
        ``zone``: one per channel and skin region, each LED in the zone of the region that
        receives most of its power (``"<channel>/<region>"``; ``"<channel>/none"`` when its
        light reaches no region); ``string``: one per driver string, ``string_leds`` LEDs of
        one channel in series, the strings compact patches made by splitting each channel's
        LEDs in half along their widest extent until each part holds one string
        (``"<channel>/s<k>"``; each channel's last string takes the remainder).
    string_leds : int
        LEDs per string, >= 1.

    Returns
    -------
    names : list of str
        (g,) group names.
    group_of : (n,) int64
        Each emitter's group, -1 for emitters of channels that are off.

    Raises
    ------
    InputError
        For an unknown group, a string size below 1, or a mode that turns every channel off.
    """
    if group not in GROUPS:
        msg = f"group: expected one of {', '.join(GROUPS)}, got {group!r}"
        raise InputError(msg)
    if isinstance(string_leds, bool) or not isinstance(string_leds, int) or string_leds < 1:
        msg = f"string_leds: expected a whole number of LEDs >= 1, got {string_leds!r}"
        raise InputError(msg)
    scene = result.scene
    emitters = scene.emitters
    channel = emitters.channel.astype(str)
    on = np.array([scene.drive.get(c, 0.0) > 0 for c in channel])
    if not on.any():
        msg = "mode: every channel is off; there is nothing to optimise"
        raise InputError(msg)
    label = np.full(len(emitters), "", dtype=object)
    if group == "emitter":
        label[on] = [str(i) for i in emitters.ids[on]]
    elif group == "channel":
        label[on] = channel[on]
    elif group == "zone":
        regions = result.samples.regions
        zone = np.full(len(emitters), "none", dtype=object)
        if regions:
            names = list(regions)
            areas = np.stack([regions[r] * result.samples.areas_mm2 for r in names])
            received = (scipy.sparse.csr_array(areas) @ result.transfer.matrix).toarray()
            hit = received.max(axis=0) > 0
            zone[hit] = np.array(names)[received.argmax(axis=0)[hit]]
        label[on] = [f"{c}/{z}" for c, z in zip(channel[on], zone[on], strict=True)]
    else:
        for c in dict.fromkeys(channel[on]):
            idx = np.flatnonzero(channel == c)
            strings = _strings(emitters.positions_mm[idx], string_leds)
            label[idx] = [f"{c}/s{k + 1:03d}" for k in strings]
    names = list(dict.fromkeys(label[on]))
    lookup = {n: i for i, n in enumerate(names)}
    group_of = np.array([lookup.get(x, -1) for x in label], dtype=np.int64)
    return names, group_of


def _strings(points_mm: NDArray[np.float64], size: int) -> NDArray[np.int64]:
    """String index of each point: recursive halving along the widest extent (ties broken
    along the next widest) into compact patches of ``size`` points (one patch may hold
    fewer), numbered in splitting order."""
    out = np.empty(len(points_mm), dtype=np.int64)
    queue, number = [np.arange(len(points_mm))], 0
    while queue:
        idx = queue.pop(0)
        if len(idx) <= size:
            out[idx] = number
            number += 1
            continue
        left = size * (-(-len(idx) // size) // 2)
        extent = np.ptp(points_mm[idx], axis=0)
        axes = np.argsort(extent)  # ties along the widest axis broken along the next widest
        order = idx[np.lexsort((points_mm[idx, axes[1]], points_mm[idx, axes[2]]))]
        queue += [order[:left], order[left:]]
    return out


@dataclass(frozen=True)
class _Member:
    """One wearer's share of the problem."""

    rows: list  # hard-limit rows (sparse, per unit drive)
    bounds: list  # their bounds
    mean_row: scipy.sparse.csr_array  # (1, g) mean treated fluence per unit drive, J/cm2
    a: NDArray[np.float64]  # (k, g) sampled fluence per unit drive, J/cm2
    w: NDArray[np.float64]  # (k,) sample weights, summing to 1


def _member(result: RenderResult, active, groups, max_points: int, seed: int) -> _Member:
    scene, dose = result.scene, result.scene.dose
    emitters = scene.emitters
    # Irradiance per unit drive of each group, mW/cm2.
    per_group = scipy.sparse.csr_array(
        scipy.sparse.csr_array(
            result.transfer.matrix[:, active] @ scipy.sparse.diags_array(emitters.power_mw[active])
        )
        @ groups
    )
    n = per_group.shape[1]
    to_fluence = scene.exposure_s / 1000.0
    rows, bounds = [], []
    # Hard limits, only on the points that could break them at full drive.
    hot = np.flatnonzero(per_group @ np.ones(n) > dose.irradiance_limit_mw_cm2)
    if hot.size:
        rows.append(per_group[hot])
        bounds.append(np.full(hot.size, dose.irradiance_limit_mw_cm2))
    eye_rows = _eye_rows(result, active, groups)
    if eye_rows is not None:
        risky = np.flatnonzero(eye_rows @ np.ones(n) > dose.eye_ir_limit_mw_cm2)
        if risky.size:
            rows.append(eye_rows[risky])
            bounds.append(np.full(risky.size, dose.eye_ir_limit_mw_cm2))
    areas, roi = result.samples.areas_mm2, result.roi
    weights = areas[roi] / areas[roi].sum()
    mean_row = scipy.sparse.csr_array((weights @ per_group[np.flatnonzero(roi)]) * to_fluence)
    sample = _sample(roi, max_points, seed)
    a = per_group[sample].toarray() * to_fluence
    w = areas[sample] / areas[sample].sum()
    return _Member(rows, bounds, mean_row, a, w)


def _eye_rows(result: RenderResult, active: NDArray[np.int64], groups) -> scipy.sparse.csr_array:
    """IR irradiance per unit drive at the eye-region points (None without an eye region)."""
    samples, emitters = result.samples, result.scene.emitters
    if EYE_REGION not in samples.regions:
        return None
    wavelength = emitters.wavelength_nm
    ir = np.array([counts_as_ir(wavelength.get(str(c))) for c in emitters.channel[active]])
    if not ir.any():
        return None
    eye = np.flatnonzero(samples.regions[EYE_REGION])
    t = result.transfer.matrix[eye][:, active] @ scipy.sparse.diags_array(
        emitters.power_mw[active] * ir
    )
    return scipy.sparse.csr_array(t @ groups)


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
    """Bounded least squares to ``target`` (exact ``lsq_linear`` up to 200 drive levels,
    L-BFGS-B on the same quadratic above: seconds instead of minutes for 1026)."""
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
    """Coverage (hinge distance outside ``band``), uniformity (L1 to ``band`` = (t, t)) or
    minmax (largest minimum), with the limits and the mean fluence in ``window``, by HiGHS."""
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


def optimised_scene(scene: Scene, drive: NDArray[np.float64]) -> Scene:
    """``scene`` with the drive folded into each emitter's power, every channel at full drive.

    Emitters driven below 1e-6 are left out (an emitter CSV holds powers > 0 only).
    """
    keep = drive > 1e-6
    e = scene.emitters
    emitters = Emitters.create(
        e.positions_mm[keep],
        e.axes[keep],
        e.power_mw[keep] * drive[keep],
        profile=[e.profiles[i] for i in e.profile_index[keep]],
        channel=e.channel[keep],
        wavelength_nm=e.wavelength_nm,
        ids=e.ids[keep],
        name=scene.name,
    )
    drive_levels = dict.fromkeys(emitters.channels, 1.0)
    spec = {**scene.spec, "name": f"{scene.name}-optimised", "mode": drive_levels}
    return dataclasses.replace(
        scene,
        name=f"{scene.name}-optimised",
        emitters=emitters,
        drive=drive_levels,
        layout=None,
        apertures={c: a for c, a in scene.apertures.items() if c in emitters.channels},
        spec=spec,
    )


def drive_metrics(result: RenderResult, drive: NDArray[np.float64]) -> dict[str, float]:
    """Headline metrics of ``result``'s layout at per-emitter ``drive``, from its transfer
    matrix (no ray cast), as ``metrics.json`` defines them (:func:`twin.dose.metrics.map_metrics`):
    mean and p5 fluence (J/cm2), U0, CV, in-window area and peak irradiance (mW/cm2) of the
    treated skin, and the eye region's IR maximum (mW/cm2)."""
    scene = result.scene
    e = result.transfer.matrix @ (scene.emitters.power_mw * drive)
    roi = result.roi
    m = map_metrics(
        e[roi], result.samples.areas_mm2[roi], exposure_s=scene.exposure_s, dose=scene.dose
    )
    out = {
        "mean_fluence_j_cm2": m["fluence_j_cm2"]["mean"],
        "p5_fluence_j_cm2": m["fluence_j_cm2"]["p5"],
        "u0": m["u0_min_over_mean"] or 0.0,
        "cv": m["cv"] or 0.0,
        "in_window_area_fraction": m["in_window_area_fraction"],
        "peak_irradiance_mw_cm2": m["irradiance_mw_cm2"]["max"],
    }
    if EYE_REGION in result.samples.regions:
        wavelength = scene.emitters.wavelength_nm
        ir = np.array([counts_as_ir(wavelength.get(str(c))) for c in scene.emitters.channel])
        eye = result.samples.regions[EYE_REGION]
        e_ir = result.transfer.matrix[eye] @ (scene.emitters.power_mw * drive * ir)
        out["eye_ir_max_mw_cm2"] = float(e_ir.max()) if e_ir.size else 0.0
    return out


def misplacements(*, shift_mm: float = 3.0, tilt_deg: float = 5.0) -> list[NDArray[np.float64]]:
    """Rigid moves of a device worn slightly wrong: ``shift_mm`` left, right, up and down,
    and ``tilt_deg`` up and down about the left-right axis through the nasion (the rigid-mask
    tolerances of issue 6).

    Returns
    -------
    list of (4, 4) float64
        Homogeneous transforms in the anatomy frame (mm), in that order.
    """
    from twin.geometry.anatomy import landmarks

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
    """``scene`` with its device moved by each of ``misplacements``: the same emitters in the
    same order, for a robust drive."""
    e = scene.emitters
    out = []
    for i, m in enumerate(misplacements(shift_mm=shift_mm, tilt_deg=tilt_deg)):
        moved = Emitters.create(
            e.positions_mm @ m[:3, :3].T + m[:3, 3],
            e.axes @ m[:3, :3].T,
            e.power_mw,
            profile=[e.profiles[j] for j in e.profile_index],
            channel=e.channel,
            wavelength_nm=e.wavelength_nm,
            ids=e.ids,
            name=scene.name,
        )
        out.append(dataclasses.replace(scene, name=f"{scene.name}-misplaced{i}", emitters=moved))
    return out
