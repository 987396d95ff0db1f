"""``twin compare``: two designs on the same anatomies."""

from __future__ import annotations

import argparse

from twin._text import table
from twin.cli._common import count
from twin.files import check_writable


def _cmd_compare(args: argparse.Namespace) -> int:
    from twin.analysis.compare import compare, difference_ply, report, write_report
    from twin.engine.cache import TransferCache

    count(args.population, name="--population")
    count(args.seed, name="--seed", least=0)
    count(args.jobs, name="--jobs")
    check_writable(args.out, name="--out", folder=True)
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    comparison = compare(
        args.a, args.b, people=args.population, seed=args.seed, cache=cache, jobs=args.jobs
    )
    result = report(comparison)
    paths = write_report(result, args.out, difference=difference_ply(comparison))
    names = result["designs"]
    rows = [("metric", names[0], names[1], "better")]
    for r in result["metrics"]:
        key = r["compared_on"]
        rows.append(
            (r["metric"], f"{r['a'][key]:.4g}", f"{r['b'][key]:.4g}", r["winner"] or "tie")
        )
    print(table(rows, align="l"))
    print(result["verdict"])
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
