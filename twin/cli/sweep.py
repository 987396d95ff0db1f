"""``twin sweep``: a design of experiments over any scene key, with a Pareto front."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from twin._validation import MAX_POPULATION
from twin.cli._common import ProgressBar, count, executor_of
from twin.files import check_writable

#: Exit status after points failed (the others written): invalid input, or only errors inside
#: twin (as ``twin render`` for a population's members).
EXIT_POINTS_INVALID = 2
EXIT_POINTS_BROKEN = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``twin sweep``'s arguments (but ``--jobs`` and ``--scheduler``)."""
    from twin.analysis.sweep_design import DEFAULT_PARETO, DESIGNS

    p.add_argument("scene", type=Path, help="scene YAML file or a bundled scene's name")
    p.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=VALUES",
        help="a dotted scene key and its values: start:stop:count (evenly spaced, both ends "
        "included), a comma list (6,8,10 or I,III,VI) or, with --design lhs, low:high; "
        "repeat for more keys (emitters.standoff_mm=6:14:5, exposure_s=300,600)",
    )
    p.add_argument(
        "--design",
        choices=DESIGNS,
        default="full",
        help="every combination of the levels (full, the default) or a Latin hypercube (lhs)",
    )
    p.add_argument("--samples", type=int, help="points of the Latin hypercube (--design lhs)")
    p.add_argument("--seed", type=int, default=0, help="Latin hypercube seed (default 0)")
    p.add_argument(
        "--population", type=int, help="render each point on N seeded adults (built-in anatomy)"
    )
    p.add_argument("--population-seed", type=int, default=0, help="population seed (default 0)")
    p.add_argument(
        "--pareto",
        default=DEFAULT_PARETO,
        metavar="A[:max|min],B[:max|min]",
        help=f"the two metrics of the Pareto front, each with its direction where the "
        f"registry gives none (default {DEFAULT_PARETO})",
    )
    p.add_argument(
        "--metrics",
        metavar="PATH,...",
        help="metric paths per row (default: the baseline metrics of twin check)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the points OUT/sweep.csv has with status ok and render only the others",
    )
    p.add_argument("--cache-dir", type=Path, help="transfer-matrix cache folder")
    p.add_argument("--no-cache", action="store_true", help="rebuild every transfer matrix")


def _command(args: argparse.Namespace) -> str:
    """Return the command line of this sweep, as ``sweep.json`` records it."""
    words = ["twin", "sweep", str(args.scene)]
    for v in args.vary:
        words += ["--vary", v]
    if args.design != "full":
        words += [
            "--design",
            args.design,
            "--samples",
            str(args.samples),
            "--seed",
            str(args.seed),
        ]
    if args.population is not None:
        words += ["--population", str(args.population)]
        words += ["--population-seed", str(args.population_seed)]
    words += ["--pareto", args.pareto]
    if args.metrics:
        words += ["--metrics", args.metrics]
    words += ["--out", str(args.out)]
    return shlex.join(words)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from twin._text import table
    from twin.analysis.sweep import column, plan_sweep, run_sweep
    from twin.engine.cache import TransferCache
    from twin.views.sweep_report import write_sweep

    count(args.population, name="--population", most=MAX_POPULATION)
    count(args.population_seed, name="--population-seed", least=0)
    check_writable(args.out, name="--out", folder=True)
    plan = plan_sweep(
        args.scene,
        args.vary,
        design=args.design,
        samples=args.samples,
        seed=args.seed,
        population=args.population,
        population_seed=args.population_seed,
        metrics=[m.strip() for m in args.metrics.split(",")] if args.metrics else None,
        pareto=args.pareto,
        option_prefix="--",
    )
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    bar = ProgressBar("sweeping", stream=sys.stderr, unit="renders")
    with executor_of(args, stream=sys.stderr) as executor:
        result = run_sweep(
            plan, out_dir=args.out, executor=executor, cache=cache, resume=args.resume,
            progress=bar,
        )  # fmt: skip
    paths = write_sweep(result, args.out, command=_command(args))
    points = result.points()
    ok = [p for p in points if p["status"] == "ok"]
    wearers = f" x {len(plan.members)} wearers" if plan.population_rows else ""
    print(
        f"{len(points)} points{wearers}: {len(ok)} ok, {len(points) - len(ok)} failed; "
        f"{result.ran} renders this run in {result.seconds:.1f} s"
    )
    for p in points:
        if p["status"] != "ok":
            print(f"twin: error: point {p['point']}: {p['error']}", file=sys.stderr)
    failed = [r for r in result.rows if r["status"] != "ok"]
    if failed:
        print(f"twin: {len(points) - len(ok)} of {len(points)} points failed", file=sys.stderr)
    (a, sa), (b, sb) = plan.pareto
    front = result.front()
    count_text = "1 point" if len(front) == 1 else f"{len(front)} points"
    print(f"Pareto front ({column(a)}: {sa}, {column(b)}: {sb}): {count_text}")
    header = ["point", *plan.keys, column(a), column(b)]
    rows = [[str(p["point"]), *(str(p[k]) for k in plan.keys),
             f"{p[column(a)]:.4g}", f"{p[column(b)]:.4g}"] for p in front]  # fmt: skip
    print(table([tuple(header), *map(tuple, rows)], align="l"))
    print(f"wrote {', '.join(sorted({str(p.relative_to(args.out).parts[0]) for p in paths}))} "
          f"to {args.out}")  # fmt: skip
    if failed:
        return (
            EXIT_POINTS_BROKEN if all(r.get("internal") for r in failed) else EXIT_POINTS_INVALID
        )
    return 0
