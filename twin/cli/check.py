"""``twin check``: render scenes and check them against their rules and baselines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin._data import data_dir, is_installed_data
from twin.cli._common import ProgressBar, executor_of
from twin.errors import InputError
from twin.files import check_writable


def _cmd_check(args: argparse.Namespace) -> int:
    from twin.analysis.check import check_scenes, discover
    from twin.engine.cache import TransferCache

    for option, path in (("--junit", args.junit), ("--summary", args.summary)):
        if path is not None:
            check_writable(path, name=option)
    here = Path("scenes")
    paths = args.paths or [here if here.is_dir() else data_dir("scenes")]
    if args.update and any(map(is_installed_data, discover(paths))):
        msg = (
            "--update: the bundled scenes are part of the installed package; copy them with "
            "`twin scenes copy DIR` and check and update the copies"
        )
        raise InputError(msg)
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    bar = ProgressBar("rendering", stream=sys.stderr, unit="renders")
    with executor_of(args, stream=sys.stderr) as executor:
        run = check_scenes(paths, cache=cache, executor=executor, update=args.update, progress=bar)
    rows = run.table(verbose=args.verbose)
    if rows:
        print(rows)
    for error in run.errors:
        print(f"twin: error: {error}", file=sys.stderr)
    print(run.summary())
    if args.update:
        written = len(run.reports) - len(run.errors)
        print(f"wrote {written} baselines")
    run.write(junit=args.junit, markdown=args.summary)
    return run.exit_code
