"""``twin optimise``: drive levels and LED placement, before and after."""

from __future__ import annotations

import argparse
import sys

from twin._text import table
from twin._validation import MAX_POPULATION
from twin.cli._common import StageBars, count, positive
from twin.files import check_writable


def _cmd_optimise(args: argparse.Namespace) -> int:
    from twin.analysis.optimise_run import run_optimisation

    count(args.population, name="--population", most=MAX_POPULATION)
    count(args.seed, name="--seed", least=0)
    count(args.string_leds, name="--string-leds")
    positive(args.budget_mw, name="--budget-mw")
    check_writable(args.out, name="--out", folder=True)
    result = run_optimisation(
        args.scene,
        vary=args.vary,
        objective=args.objective,
        group=args.group,
        string_leds=args.string_leds,
        budget_mw=args.budget_mw,
        population=args.population,
        seed=args.seed,
        misplace=args.misplace,
        at_depth=args.at_depth,
        progress=StageBars(stream=sys.stderr),
    )
    result.write(args.out)
    drive = result.drive
    how = "placement" if drive is None else f"{drive.objective} by {drive.solver}"
    if result.at_depth_mm is not None:
        top, bottom = result.at_depth_mm
        how += f", aimed at {top:g}-{bottom:g} mm deep"
    print(f"optimised {args.vary} ({how}):")
    rows = [("metric", "before", "after", "change"), *map(_row, result.changes)]
    if result.worst_wearer:
        rows += [("", "", "", ""), *map(_row, result.worst_wearer)]
    print(table(rows))
    for warning in result.warnings:
        print(f"warning: {warning}")
    groups = "" if drive is None else f"groups.csv ({len(drive.groups)} {args.group} groups), "
    print(
        f"wrote emitters.csv, scene.yaml, {groups}summary.json, convergence.log, before/ and "
        f"after/ to {args.out}"
    )
    return 0


def _row(change) -> tuple[str, str, str, str]:
    """One table row: the label, the values before and after, and the change."""
    a, b = change.before, change.after
    return (change.label, f"{a:.4g}", f"{b:.4g}", f"{b - a:+.3g}")
