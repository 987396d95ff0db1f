"""``twin compare``: two designs, or one design on two skin types, on the same anatomies."""

from __future__ import annotations

import argparse
import sys

from twin._validation import MAX_POPULATION
from twin.cli._common import count, executor_of
from twin.errors import InputError
from twin.files import check_writable


def _cmd_compare(args: argparse.Namespace) -> int:
    from twin.analysis.compare import compare, compare_skin_types
    from twin.engine.cache import TransferCache

    if (args.b is None) == (args.skin_types is None):
        found = f"B {args.b} and --skin-types" if args.b is not None else "neither"
        msg = f"compare: expected a second scene file B or --skin-types TYPE TYPE, found {found}"
        raise InputError(msg)
    count(args.population, name="--population", most=MAX_POPULATION)
    count(args.seed, name="--seed", least=0)
    check_writable(args.out, name="--out", folder=True)
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    with executor_of(args, stream=sys.stderr) as executor:
        options = {"people": args.population, "seed": args.seed, "cache": cache}
        if args.skin_types is None:
            comparison = compare(args.a, args.b, **options, executor=executor)
        else:
            comparison = compare_skin_types(args.a, args.skin_types, **options, executor=executor)
    paths = comparison.write(args.out)
    print(comparison.table())
    print(comparison.summary["verdict"])
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0
