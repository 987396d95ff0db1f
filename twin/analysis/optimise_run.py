"""One optimisation run, as ``twin optimise`` does it: render, optimise, render, compare.

:func:`run_optimisation` renders a scene (on its wearer, a seeded population and the device's
misplacements, as asked), optimises the LED placement (:mod:`twin.analysis.placement`), the
emitter drive (:mod:`twin.analysis.optimise`) or both, renders the optimised scene, and
compares it with the scene as given on the registry's headline metrics
(:data:`twin.dose.registry.OPTIMISED`, the dose in the ``tissue.targets.roi`` band among them
where the scene has one). The drive may aim the dose in that band instead of at the surface
(``at_depth``). The :class:`OptimisationResult` holds the comparison, the solver log and any
warnings as data, and writes the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from twin._validation import as_bool, as_count, check_choice
from twin.analysis.groups import STRING_LEDS
from twin.analysis.optimise import (
    DriveResult,
    check_options,
    drive_metrics,
    misplaced,
    misplacements,
    optimise_drive,
    optimised_scene,
)
from twin.analysis.placement import StageProgress, optimise_placement
from twin.analysis.problem import DoseProblem, check_depth_target
from twin.devices.emitters import Emitters
from twin.dose.maps import emitter_power_mw
from twin.dose.registry import OPTIMISED, WORST_WEARER, metric, metric_value
from twin.engine.cache import TransferCache
from twin.errors import InputError
from twin.files import publish, write_atomic
from twin.pipeline.render import RenderResult, render
from twin.pipeline.results import CARRIER_FILE, RESULT_NAMES
from twin.scene import load_scene, load_scenes

#: What ``vary`` may be: the emitter drive, the LED placement, or the placement then the drive.
VARY = ("drive", "placement", "both")


class Change(NamedTuple):
    """One number before and after optimisation."""

    label: str
    before: float
    after: float


@dataclass(frozen=True)
class OptimisationResult:
    """What :func:`run_optimisation` found.

    Attributes
    ----------
    vary : {"drive", "placement", "both"}
    before : RenderResult
        The scene as given.
    after : RenderResult
        The optimised scene.
    drive : DriveResult or None
        The optimised drive (``None`` when only the placement was varied).
    changes : list of Change
        The registry's ``OPTIMISED`` metrics, each channel's CV and the radiant power (mW),
        before and after (metrics one side lacks are left out).
    worst_wearer : list of Change
        The worst wearer's ``WORST_WEARER`` metrics, before and after (none for one wearer).
    summary : dict
        ``summary.json``: each compared metric by path, the radiant power and, for several
        wearers, each wearer's metrics (:func:`twin.analysis.optimise.drive_metrics`).
    log : list of str
        What the optimisers did (``convergence.log``).
    warnings : list of str
        Limits the optimised scene breaks (placement alone does not hold them).
    groups_csv : str or None
        Each emitter's drive group and level (``groups.csv``), with a drive.
    at_depth_mm : (float, float) or None, mm
        The band of depth the drive aimed the dose in (``None``: the surface).
    """

    vary: str
    before: RenderResult
    after: RenderResult
    drive: DriveResult | None
    changes: list[Change]
    worst_wearer: list[Change]
    summary: dict[str, Any]
    log: list[str]
    warnings: list[str]
    groups_csv: str | None
    at_depth_mm: tuple[float, float] | None = None

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write the run's files into ``out_dir``, published whole (:func:`twin.files.publish`).

        ``before/`` and ``after/`` (complete render results), ``emitters.csv``,
        ``scene.yaml`` (the optimised scene, which renders ``after/`` again) and the
        ``carrier.ply`` it names when the LEDs sit on a carrier,
        ``groups.csv`` (with a drive; an earlier one is not kept otherwise), ``summary.json``
        and ``convergence.log``.

        Parameters
        ----------
        out_dir : str or Path
            The output folder, created if needed.

        Returns
        -------
        list of Path
            The files written.

        Raises
        ------
        InputError
            If ``out_dir`` cannot be written.
        """
        out = Path(out_dir)
        owned = ["emitters.csv", "scene.yaml", "groups.csv", "summary.json", "convergence.log"]
        owned += [CARRIER_FILE]
        owned += [f"{side}/{n}" for side in ("before", "after") for n in RESULT_NAMES]
        with publish(out, name="out_dir", owned=owned) as stage:
            paths = self.before.write(stage / "before") + self.after.write(stage / "after")
            files: dict[Path, bytes | str] = {
                stage / "emitters.csv": (stage / "after" / "emitters.csv").read_bytes(),
                stage / "scene.yaml": (stage / "after" / "scene.resolved.yaml").read_bytes(),
            }
            carrier = stage / "after" / CARRIER_FILE
            if carrier.is_file():
                files[stage / CARRIER_FILE] = carrier.read_bytes()
            if self.groups_csv is not None:
                files[stage / "groups.csv"] = self.groups_csv
            files[stage / "summary.json"] = json.dumps(self.summary, indent=2) + "\n"
            files[stage / "convergence.log"] = "\n".join(self.log) + "\n"
            paths += write_atomic(files, name="out_dir")
        return [out / p.relative_to(stage) for p in paths]


def run_optimisation(
    scene_path: str | Path,
    *,
    vary: str = "drive",
    objective: str = "uniformity",
    group: str = "emitter",
    string_leds: int = STRING_LEDS,
    budget_mw: float | None = None,
    population: int | None = None,
    seed: int = 0,
    misplace: bool = False,
    at_depth: bool = False,
    progress: StageProgress | None = None,
) -> OptimisationResult:
    """Optimise a scene's placement, drive or both, and compare it before and after.

    Parameters
    ----------
    scene_path : str or Path
        A scene file of one scene.
    vary : {"drive", "placement", "both"}
        The emitter drive (:func:`twin.analysis.optimise.optimise_drive`), the LED placement
        (:func:`twin.analysis.placement.optimise_placement`, 5 candidates per LED), or the
        placement and then the drive.
    objective, group, string_leds, budget_mw
        The drive optimisation's (:func:`twin.analysis.optimise.optimise_drive`).
    population : int, optional
        Optimise for the scene's wearer and this many seeded others at once
        (:func:`twin.scene.load_scenes`; needs a built-in anatomy), >= 1.
    seed : int
        The population's seed, and the placement's, >= 0.
    misplace : bool
        Also be robust to the device worn 3 mm off (4 ways) or tilted 5 degrees (2 ways)
        (:func:`twin.analysis.optimise.misplacements`).
    at_depth : bool
        Aim the drive at the dose in the scene's ``tissue.targets.roi`` band of depth (its
        fluence-rate matrix and window, :class:`twin.analysis.problem.DepthObjective`)
        instead of the surface dose; the irradiance and eye limits stay at the surface. Needs
        a drive to vary (``vary`` ``drive`` or ``both``).
    progress : callable(stage, done, total), optional
        Told how each ray cast and each placement stage is getting on.

    Returns
    -------
    OptimisationResult

    Raises
    ------
    InputError
        For an invalid argument (naming it, before any work), a bad scene file, ``at_depth``
        on a scene without a ``tissue.targets.roi`` band, or a problem the optimisers refuse.
    """
    check_choice(vary, VARY, name="vary")
    if as_bool(at_depth, name="at_depth") and vary == "placement":
        msg = (
            "at_depth: aims the drive, but vary 'placement' varies no drive; vary 'drive' or "
            "'both'"
        )
        raise InputError(msg)
    check_options(objective=objective, group=group, string_leds=string_leds, budget_mw=budget_mw)
    if population is not None:
        as_count(population, name="population")
    seed = as_count(seed, name="seed", least=0)
    stage = progress or (lambda *_: None)

    def bar(label: str):
        return lambda done, total: stage(label, done, total)

    scene = load_scene(scene_path)
    if at_depth:
        check_depth_target(scene)
    others = load_scenes(scene_path, people=population, seed=seed) if population else ()
    cache = TransferCache()
    before = render(scene, progress=bar("ray casting"))
    backend = before.transfer.backend
    people = [before] + [
        render(s, cache=cache, progress=bar(f"wearer {i + 1}/{len(others)}"))
        for i, s in enumerate(others)
    ]

    def with_misplaced(renders: list[RenderResult]) -> list[RenderResult]:
        if not misplace:
            return renders
        moved = misplaced(renders[0].scene)
        return renders + [
            render(s, cache=cache, progress=bar(f"misplaced {i + 1}/{len(moved)}"))
            for i, s in enumerate(moved)
        ]

    log: list[str] = []
    pool_before = with_misplaced(people)
    pool = pool_before
    if vary in ("placement", "both"):
        placement = optimise_placement(
            [r.scene for r in people],
            seed=seed,
            moves=misplacements() if misplace else (),
            progress=progress,
        )
        log += placement.log
        placed = [
            render(s, backend=backend, progress=bar(f"placed layout {i + 1}/{len(people)}"))
            for i, s in enumerate(placement.scenes)
        ]
        pool = with_misplaced(placed)
    problems = [DoseProblem.from_render(r, at_depth=at_depth) for r in pool]
    drive = None
    after = pool[0]
    if vary in ("drive", "both"):
        drive = optimise_drive(
            problems,
            objective=objective,
            group=group,
            string_leds=string_leds,
            budget_mw=budget_mw,
        )
        log += drive.log
        after = render(
            optimised_scene(pool[0].scene, drive.emitter_drive),
            backend=backend,
            progress=bar("optimised layout"),
        )
    changes, summary = _compare(before, after)
    band = problems[0].at_depth
    if band is not None:
        summary["at_depth"] = {
            "depth_mm": list(band.band_mm),
            "fluence_window_j_cm2": list(band.window_j_cm2),
        }
    worst: list[Change] = []
    if len(pool) > 1:
        unchanged = (
            problems
            if pool_before is pool
            else [DoseProblem.from_render(r, at_depth=at_depth) for r in pool_before]
        )
        summary["wearers"] = [
            {
                "scene": a.name,
                "before": drive_metrics(b, b.mode_drive),
                "after": drive_metrics(a, a.mode_drive if drive is None else drive.emitter_drive),
            }
            for b, a in zip(unchanged, problems, strict=True)
        ]
        worst = _worst_wearer(summary["wearers"])
    return OptimisationResult(
        vary=vary,
        before=before,
        after=after,
        drive=drive,
        changes=changes,
        worst_wearer=worst,
        summary=summary,
        log=log,
        warnings=_warnings(after),
        groups_csv=None if drive is None else _groups_csv(pool[0].scene.emitters, drive),
        at_depth_mm=None if band is None else band.band_mm,
    )


def _compare(before: RenderResult, after: RenderResult) -> tuple[list[Change], dict[str, Any]]:
    """Compare the registry's optimised metrics, each channel's CV and the radiant power."""
    paths = [*OPTIMISED, *(f"roi.channels.{c}.cv" for c in after.metrics["roi"]["channels"])]
    changes, summary = [], {}
    for path in paths:
        a, b = metric_value(before.metrics, path), metric_value(after.metrics, path)
        if a is None or b is None:
            continue
        summary[path] = {"before": a, "after": b}
        changes.append(Change(metric(path).label, a, b))
    power = [
        float(emitter_power_mw(r.scene.emitters, r.scene.drive).sum()) for r in (before, after)
    ]
    changes.append(Change("radiant power mW", *power))
    summary["radiant_power_mw"] = {"before": power[0], "after": power[1]}
    return changes, summary


def _worst_wearer(wearers: list[dict[str, Any]]) -> list[Change]:
    """Return the worst wearer's value of each ``WORST_WEARER`` metric, before and after.

    A metric no wearer has (the depth metrics of a drive aimed at the surface) is left out.
    """
    out = []
    for path in WORST_WEARER:
        m = metric(path)
        worst = min if m.better == "high" else max
        values = [
            [w[when][m.column] for w in wearers if w[when].get(m.column) is not None]
            for when in ("before", "after")
        ]
        if all(values):
            out.append(Change(f"worst wearer {m.label}", worst(values[0]), worst(values[1])))
    return out


def _warnings(after: RenderResult) -> list[str]:
    """Return the hard limits the optimised scene breaks (placement alone does not hold them)."""
    dose, out = after.scene.dose, []
    for label, path, limit in (
        ("peak irradiance", "roi.total.irradiance_mw_cm2.max", dose.irradiance_limit_mw_cm2),
        (
            "eye IR",
            "eye_safety.ir_irradiance_mw_cm2.max",
            dose.eye_ir_limit(after.scene.exposure_s)[0],
        ),
    ):
        value = metric_value(after.metrics, path)
        if value is not None and value > limit:
            out.append(
                f"after placement the {label} is {value:.3g} mW/cm2, above its {limit:g} "
                "mW/cm2 limit; varying the drive as well (vary 'both') holds it"
            )
    return out


def _groups_csv(emitters: Emitters, drive: DriveResult) -> str:
    """Return each emitter's drive group and level (``groups.csv``)."""
    lines = ["id,channel,group,drive"]
    for i in range(len(emitters)):
        g = int(drive.group_of[i])
        name = drive.groups[g] if g >= 0 else ""
        lines.append(
            f"{emitters.ids[i]},{emitters.channel[i]},{name},{drive.emitter_drive[i]:.6g}"
        )
    return "\n".join(lines) + "\n"
