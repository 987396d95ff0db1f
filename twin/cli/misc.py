"""The small commands: ``twin view``, ``report``, ``layout``, ``info`` and ``bench``."""

from __future__ import annotations

import argparse
import sys

import yaml

from twin._version import __version__
from twin.engine.backends import backend_status, resolve_backend
from twin.errors import InputError
from twin.files import check_writable, write_atomic


def _cmd_view(args: argparse.Namespace) -> int:
    import os

    from twin.views import view3d

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        msg = (
            "twin view: needs a display (DISPLAY is not set); for pictures without one use "
            "twin render --png or --html, or twin report"
        )
        raise InputError(msg)
    view3d.Viewer(view3d.load(args.source)).show()
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from twin.views.pictures import require_pictures
    from twin.views.report import write_report

    require_pictures(
        plots=False, png=not args.no_pictures, html=False, name="pictures (or --no-pictures)"
    )
    path = write_report(args.source, args.out, pictures=not args.no_pictures)
    print(f"wrote {path}")
    return 0


def _cmd_layout(args: argparse.Namespace) -> int:
    from twin.devices.designs import builtin_designs
    from twin.devices.emitters import emitter_csv_text
    from twin.scene.load import load_scene

    if args.list:
        for name, path in builtin_designs().items():
            spec = yaml.safe_load(path.read_text())
            print(f"{name:20s} {spec.get('description', '')}")
        return 0
    if args.scene is None or args.out is None:
        msg = "twin layout: give a SCENE and --out FILE, or --list"
        raise InputError(msg)
    check_writable(args.out, name="--out")
    scene = load_scene(args.scene)
    write_atomic({args.out: emitter_csv_text(scene.emitters)}, name="--out")
    counts = ", ".join(
        f"{c} {int((scene.emitters.channel == c).sum())}" for c in scene.emitters.channels
    )
    where = ""
    if scene.layout is not None:
        where = f" on a {scene.layout.carrier.kind} carrier"
        if scene.layout.push_mm > 0:
            where += f" (moved out {scene.layout.push_mm:.2f} mm to clear the skin)"
    print(f"wrote {args.out}: {len(scene.emitters)} emitters{where} ({counts}), mm")
    return 0


def _cmd_info(_: argparse.Namespace) -> int:
    from twin.raycast.cuda import simulated

    print(f"twin {__version__} (Python {sys.version.split()[0]})")
    print("backends:")
    for name, reason in backend_status().items():
        state = "usable" if reason is None else f"unusable: {reason}"
        if name == "cuda" and reason is None and simulated():
            state += " (numba's CUDA simulator, NUMBA_ENABLE_CUDASIM=1: correct but slow)"
        print(f"  {name:10s} {state}")
    print(f"auto picks: {resolve_backend('auto')}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from twin.analysis.bench import run_backend_benchmark, run_benchmark, run_optimise_benchmark

    if args.out is not None:
        check_writable(args.out, name="--out")
    if args.optimise:
        text = run_optimise_benchmark(subdivisions=args.subdivisions)
    elif args.backend is not None:
        text = run_backend_benchmark(
            backend=args.backend, subdivisions=args.subdivisions, repeat=args.repeat
        )
    else:
        text = run_benchmark(
            subdivisions=args.subdivisions,
            naive_emitters=args.naive_emitters,
            repeat=args.repeat,
        )
    print(text)
    if args.out is not None:
        write_atomic({args.out: text + "\n"}, name="--out")
    return 0
