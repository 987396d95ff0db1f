"""``twin check``: render scenes and check them against their rules and baselines."""

from __future__ import annotations

import argparse
import sys
import time

from twin.cli._common import count
from twin.errors import InputError
from twin.files import check_writable, write_atomic


def _cmd_check(args: argparse.Namespace) -> int:
    from twin.analysis import check
    from twin.engine.cache import TransferCache

    count(args.jobs, name="--jobs")
    for option, path in (("--junit", args.junit), ("--summary", args.summary)):
        if path is not None:
            check_writable(path, name=option)
    paths = check.discover(args.paths)
    if not paths:
        msg = f"twin check: no scene files in {', '.join(map(str, args.paths))}"
        raise InputError(msg)
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    start = time.perf_counter()
    reports = check.run_checks(paths, cache=cache, jobs=args.jobs, update=args.update)
    seconds = time.perf_counter() - start
    print(check.table(reports))
    for report in reports:
        if report.error is not None:
            print(f"twin: error: {report.error}", file=sys.stderr)
    print(f"{check.summary_line(reports)} in {seconds:.1f} s")
    if args.update:
        written = [r for r in reports if r.error is None]
        print(f"wrote {len(written)} baselines (the rows above show what changed)")
    for option, path, text in (
        ("--junit", args.junit, check.junit_xml),
        ("--summary", args.summary, check.markdown),
    ):
        if path is not None:
            write_atomic({path: text(reports)}, name=option)
    return check.exit_code(reports, update=args.update)
