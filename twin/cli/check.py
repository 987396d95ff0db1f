"""``twin check``: render scenes and check them against their rules and baselines."""

from __future__ import annotations

import argparse
import sys

from twin.cli._common import count
from twin.files import check_writable


def _cmd_check(args: argparse.Namespace) -> int:
    from twin.analysis.check import check_scenes
    from twin.engine.cache import TransferCache

    count(args.jobs, name="--jobs")
    for option, path in (("--junit", args.junit), ("--summary", args.summary)):
        if path is not None:
            check_writable(path, name=option)
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    run = check_scenes(args.paths, cache=cache, jobs=args.jobs, update=args.update)
    print(run.table())
    for error in run.errors:
        print(f"twin: error: {error}", file=sys.stderr)
    print(run.summary())
    if args.update:
        written = len(run.reports) - len(run.errors)
        print(f"wrote {written} baselines (the rows above show what changed)")
    run.write(junit=args.junit, markdown=args.summary)
    return run.exit_code
