"""``twin optimise``: drive levels and LED placement, before and after."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from twin._text import table
from twin.cli._common import StageBars, count, positive
from twin.errors import InputError
from twin.files import check_writable, remove_stale, write_atomic

#: Headline metrics compared before and after optimisation: label, metrics.json path.
_COMPARED = (
    ("U0 (min / mean)", "roi.total.u0_min_over_mean"),
    ("CV", "roi.total.cv"),
    ("in-window area", "roi.total.in_window_area_fraction"),
    ("mean fluence J/cm2", "roi.total.fluence_j_cm2.mean"),
    ("p5 fluence J/cm2", "roi.total.fluence_j_cm2.p5"),
    ("peak mW/cm2", "roi.total.irradiance_mw_cm2.max"),
    ("eye IR max mW/cm2", "eye_safety.ir_irradiance_mw_cm2.max"),
)


def _scene_drive(scene) -> np.ndarray:
    """Per-emitter drive levels of a scene's mode."""
    return np.array([scene.drive.get(str(c), 0.0) for c in scene.emitters.channel])


def _population_renders(args: argparse.Namespace, bars: StageBars) -> list:
    """Renders of the scene on ``--population`` seeded wearers (through the cache)."""
    from twin.engine.cache import TransferCache
    from twin.geometry.variants import population
    from twin.pipeline.render import render
    from twin.scene.load import read_scene_file, scene_from_dict

    data = read_scene_file(args.scene)
    mesh = data.get("target", {}).get("mesh") if isinstance(data.get("target"), dict) else None
    if not (isinstance(mesh, str) and mesh.startswith("builtin:")):
        msg = f"{args.scene}: --population needs a built-in anatomy target, got {mesh!r}"
        raise InputError(msg)
    cache, out = TransferCache(), []
    people = population(args.population, seed=args.seed)
    for i, variant in enumerate(people):
        target = {k: v for k, v in data["target"].items() if k != "population"}
        member = {
            **data,
            "name": f"{data.get('name', args.scene.stem)}-p{i:02d}",
            "target": {**target, "variant": variant.to_dict()},
        }
        scene = scene_from_dict(member, base=args.scene.resolve().parent, path=args.scene)
        out.append(
            render(scene, cache=cache, progress=bars.stage(f"wearer {i + 1}/{len(people)}"))
        )
    return out


def _cmd_optimise(args: argparse.Namespace) -> int:
    import json

    from twin.analysis.optimise import (
        drive_metrics,
        misplaced,
        misplacements,
        optimise_drive,
        optimised_scene,
    )
    from twin.analysis.placement import optimise_placement
    from twin.dose.registry import metric_value
    from twin.engine.cache import TransferCache
    from twin.pipeline.render import render
    from twin.scene.load import load_scene

    count(args.population, name="--population")
    count(args.seed, name="--seed", least=0)
    count(args.string_leds, name="--string-leds")
    positive(args.budget_mw, name="--budget-mw")
    check_writable(args.out, name="--out", folder=True)
    bars = StageBars(stream=sys.stderr)
    cache = TransferCache()
    scene = load_scene(args.scene)
    before = render(scene, progress=bars.stage("ray casting"))
    backend = before.transfer.backend
    people = [before, *_population_renders(args, bars)] if args.population else [before]

    def with_misplaced(renders: list) -> list:
        if not args.misplace:
            return renders
        moved = misplaced(renders[0].scene)
        return renders + [
            render(s, cache=cache, progress=bars.stage(f"misplaced {i + 1}/{len(moved)}"))
            for i, s in enumerate(moved)
        ]

    log: list[str] = []
    pool_before = with_misplaced(people)
    pool = pool_before
    if args.vary in ("placement", "both"):
        placement = optimise_placement(
            people,
            seed=args.seed,
            moves=misplacements() if args.misplace else (),
            progress=bars,
        )
        log += placement.log
        placed = [
            render(s, backend=backend, progress=bars.stage(f"placed layout {i + 1}/{len(people)}"))
            for i, s in enumerate(placement.scenes)
        ]
        pool = with_misplaced(placed)
    result = None
    after = pool[0]
    if args.vary in ("drive", "both"):
        result = optimise_drive(
            pool,
            objective=args.objective,
            group=args.group,
            string_leds=args.string_leds,
            budget_mw=args.budget_mw,
        )
        log += result.log
        after = render(
            optimised_scene(pool[0].scene, result.drive),
            backend=backend,
            progress=bars.stage("optimised layout"),
        )
    before.write(args.out / "before")
    after.write(args.out / "after")
    files = {
        args.out / "emitters.csv": (args.out / "after" / "emitters.csv").read_bytes(),
        args.out / "scene.yaml": (args.out / "after" / "scene.resolved.yaml").read_bytes(),
    }
    power = (
        float((scene.emitters.power_mw * _scene_drive(scene)).sum()),
        float((after.scene.emitters.power_mw * _scene_drive(after.scene)).sum()),
    )
    rows, summary = [("metric", "before", "after", "change")], {}
    for label, path in _COMPARED:
        a, b = metric_value(before.metrics, path), metric_value(after.metrics, path)
        if a is None or b is None:
            continue
        summary[path] = {"before": a, "after": b}
        rows.append((label, f"{a:.4g}", f"{b:.4g}", f"{b - a:+.3g}"))
    for c in after.metrics["roi"]["channels"]:
        path = f"roi.channels.{c}.cv"
        a, b = metric_value(before.metrics, path), metric_value(after.metrics, path)
        if a is not None and b is not None:
            summary[path] = {"before": a, "after": b}
            rows.append((f"CV {c}", f"{a:.4g}", f"{b:.4g}", f"{b - a:+.3g}"))
    rows.append(
        ("radiant power mW", f"{power[0]:.4g}", f"{power[1]:.4g}", f"{power[1] - power[0]:+.3g}")
    )
    summary["radiant_power_mw"] = {"before": power[0], "after": power[1]}
    if result is not None:
        files[args.out / "groups.csv"] = _groups_csv(pool[0].scene, result)
    if len(pool) > 1:
        summary["wearers"] = [
            {
                "scene": a.scene.name,
                "before": drive_metrics(b, _scene_drive(b.scene)),
                "after": drive_metrics(
                    a, _scene_drive(a.scene) if result is None else result.drive
                ),
            }
            for b, a in zip(pool_before, pool, strict=True)
        ]
        rows.append(("", "", "", ""))
        for key in ("in_window_area_fraction", "cv", "peak_irradiance_mw_cm2"):
            worst = min if key == "in_window_area_fraction" else max
            b, a = (
                worst(m[when][key] for m in summary["wearers"]) for when in ("before", "after")
            )
            rows.append((f"worst wearer {key}", f"{b:.4g}", f"{a:.4g}", f"{a - b:+.3g}"))
    files[args.out / "summary.json"] = json.dumps(summary, indent=2) + "\n"
    files[args.out / "convergence.log"] = "\n".join(log) + "\n"
    write_atomic(files, name="--out")
    if result is None:  # placement alone: a groups.csv of an earlier drive run no longer holds
        remove_stale(args.out, ["groups.csv"])
    how = "placement" if result is None else f"{args.objective} by {result.solver}"
    print(f"optimised {args.vary} ({how}):")
    print(table(rows))
    dose = after.scene.dose
    for label, path, limit in (
        ("peak irradiance", "roi.total.irradiance_mw_cm2.max", dose.irradiance_limit_mw_cm2),
        ("eye-region IR", "eye_safety.ir_irradiance_mw_cm2.max", dose.eye_ir_limit_mw_cm2),
    ):
        value = metric_value(after.metrics, path)
        if value is not None and value > limit:
            print(
                f"warning: after placement the {label} is {value:.3g} mW/cm2, above its "
                f"{limit:g} mW/cm2 limit; --vary both adds the drive optimisation that holds it"
            )
    groups = "" if result is None else f"groups.csv ({len(result.groups)} {args.group} groups), "
    print(
        f"wrote emitters.csv, scene.yaml, {groups}summary.json, convergence.log, before/ and "
        f"after/ to {args.out}"
    )
    return 0


def _groups_csv(scene, result) -> str:
    """Each emitter's drive group and level (``twin optimise``'s groups.csv)."""
    e = scene.emitters
    lines = ["id,channel,group,drive"]
    for i in range(len(e)):
        g = int(result.group_of[i])
        name = result.groups[g] if g >= 0 else ""
        lines.append(f"{e.ids[i]},{e.channel[i]},{name},{result.drive[i]:.6g}")
    return "\n".join(lines) + "\n"
