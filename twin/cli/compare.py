"""``twin compare``: two designs on the same anatomies."""

from __future__ import annotations

import argparse

from twin._validation import MAX_POPULATION
from twin.cli._common import count
from twin.files import check_writable


def _cmd_compare(args: argparse.Namespace) -> int:
    from twin.analysis.compare import compare
    from twin.engine.cache import TransferCache

    count(args.population, name="--population", most=MAX_POPULATION)
    count(args.seed, name="--seed", least=0)
    count(args.jobs, name="--jobs")
    check_writable(args.out, name="--out", folder=True)
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    comparison = compare(
        args.a, args.b, people=args.population, seed=args.seed, cache=cache, jobs=args.jobs
    )
    paths = comparison.write(args.out)
    print(comparison.table())
    print(comparison.summary["verdict"])
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
