"""``twin scenes``: the scene library shipped with twin, listed and copied out to work on."""

from __future__ import annotations

import argparse

from twin._data import bundled_scenes
from twin._text import table
from twin._validation import read_yaml
from twin.analysis.check import baseline_path
from twin.errors import InputError
from twin.files import write_atomic


def _cmd_scenes_list(args: argparse.Namespace) -> int:
    rows = [("scene", "people", "baseline", "description")]
    for name, path in bundled_scenes().items():
        data = read_yaml(path, what="scene file")
        people = (data.get("target") or {}).get("population", {}).get("size", 1)
        baseline = "yes" if baseline_path(path).is_file() else "no"
        rows.append((name, people, baseline, data.get("description", "")))
    print(table(rows, align="l"))
    print(f"folder: {next(iter(bundled_scenes().values())).parent}")
    print("a bundled scene's name works wherever a scene file does (twin render face-rigid-red)")
    return 0


def _cmd_scenes_copy(args: argparse.Namespace) -> int:
    bundled = bundled_scenes()
    unknown = [n for n in args.names if n not in bundled]
    if unknown:
        msg = (
            f"NAME: unknown scene {', '.join(map(repr, unknown))}; the bundled scenes are "
            f"{', '.join(bundled)}"
        )
        raise InputError(msg)
    sources = [bundled[n] for n in args.names or bundled]
    sources += [b for b in map(baseline_path, sources) if b.is_file()]
    files = {args.dir / p.name: p.read_bytes() for p in sources}
    there = [str(p) for p in files if p.exists()]
    if there and not args.force:
        more = f" and {len(there) - 3} more" if len(there) > 3 else ""
        msg = f"DIR: {', '.join(there[:3])}{more} exist already; --force overwrites them"
        raise InputError(msg)
    write_atomic(files, name="DIR")
    scenes = sum(p.suffix == ".yaml" for p in files)
    print(f"copied {scenes} scenes and {len(files) - scenes} baselines to {args.dir}")
    return 0
