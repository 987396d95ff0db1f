"""The ``twin`` command line: a thin layer over the API.

Its commands: render, view, report, export, check, optimise, compare, validate, sweep,
tolerance, anatomy, scenes, layout, info, bench.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from twin._version import __version__
from twin.errors import MissingDependencyError, TwinError

#: Exit status of invalid input (a bad file, key or argument).
EXIT_INVALID_INPUT = 2
#: Exit status of a missing optional extra (``twin[viz]``, ``twin[gpu]``).
EXIT_MISSING_DEPENDENCY = 4
#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


def _render(p: argparse.ArgumentParser) -> None:
    from twin.engine.backends import CHOICES

    p.add_argument(
        "scene", nargs="?", type=Path, help="scene YAML file (default: the built-in default scene)"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--backend", choices=CHOICES, help="ray engine (default: the scene's, else auto)"
    )
    p.add_argument(
        "--plots",
        action="store_true",
        help="also write PNG plots to OUT/plots: dose-area histogram, gap and incidence, "
        "regions, unrolled map (needs matplotlib)",
    )
    p.add_argument(
        "--png",
        action="store_true",
        help="also write 3D pictures from named views to OUT/pictures (off-screen, EGL)",
    )
    p.add_argument(
        "--html", action="store_true", help="also write OUT/scene.html, an interactive 3D page"
    )
    _irradiance_unit(p, "the summary printed (the result files stay in mW/cm2 and J/cm2)")
    _workers(p, what="a population's members")
    _cache(p)
    p.set_defaults(command_func="render:_cmd_render")


def _cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir",
        type=Path,
        help="cache folder (default: $TWIN_CACHE_DIR/transfer, else ~/.cache/twin/transfer)",
    )
    p.add_argument("--no-cache", action="store_true", help="rebuild every transfer matrix")


def _workers(p: argparse.ArgumentParser, *, what: str = "the renders") -> None:
    """Add ``--jobs`` and ``--scheduler``: where a command's tasks run."""
    p.add_argument(
        "--jobs", type=int, help=f"local worker processes for {what} (default: every CPU)"
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help=f"run {what} on a running Dask cluster, by its scheduler's address (default: "
        "$TWIN_SCHEDULER, else local worker processes)",
    )


def _irradiance_unit(p: argparse.ArgumentParser, what: str) -> None:
    from twin.units import DOSE_UNITS

    p.add_argument(
        "--irradiance-unit",
        choices=list(DOSE_UNITS),
        default="mW/cm2",
        help=f"units of {what}: mW/cm2 (fluence in J/cm2, the default) or W/m2 (fluence in "
        "J/m2, SI radiometry as IEC 62471 states it)",
    )


def _export(p: argparse.ArgumentParser) -> None:
    from twin.views.export import EXPORT_FORMATS

    p.add_argument("result", type=Path, help="a twin render result folder")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--format",
        default=",".join(EXPORT_FORMATS),
        help="comma-separated: vtu (surface.vtu, every map on the skin, for ParaView), "
        "grid-csv (flat_<map>.csv, the unrolled map as a matrix), grid-npz (flat.npz, the "
        "maps on the grid with axes, regions, treated skin); default all three",
    )
    p.add_argument(
        "--map",
        default="fluence_j_cm2",
        help="comma-separated maps on the grids, named as samples.csv names them, or all "
        "(default fluence_j_cm2); surface.vtu holds every map",
    )
    p.add_argument("--pixel-mm", type=float, default=1.0, help="grid pixel pitch, mm (default 1)")
    _irradiance_unit(p, "the exported maps")
    p.set_defaults(command_func="export:_cmd_export")


def _view(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, help="a twin render folder or a scene file")
    p.set_defaults(command_func="misc:_cmd_view")


def _report(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        type=Path,
        help="a scene file (one or a population), a twin render folder or a twin compare folder",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (report.html)")
    p.add_argument(
        "--no-pictures", action="store_true", help="leave out the 3D pictures (no OpenGL)"
    )
    p.set_defaults(command_func="misc:_cmd_report")


def _layout(p: argparse.ArgumentParser) -> None:
    p.add_argument("scene", nargs="?", type=Path, help="scene YAML file")
    p.add_argument("--out", type=Path, help="emitter CSV to write (mm)")
    p.add_argument("--list", action="store_true", help="list the built-in designs")
    p.set_defaults(command_func="misc:_cmd_layout")


def _check(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="scene files, folders of them or bundled scenes' names (default: ./scenes/ if "
        "there is one, else the bundled library)",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="print every check, not only the failures"
    )
    p.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    p.add_argument("--summary", type=Path, help="write a Markdown summary here")
    p.add_argument(
        "--update",
        action="store_true",
        help="rewrite each scene's baseline with the current metrics (never implicit)",
    )
    _workers(p)
    _cache(p)
    p.set_defaults(command_func="check:_cmd_check")


def _optimise(p: argparse.ArgumentParser) -> None:
    from twin.analysis.groups import GROUPS, STRING_LEDS
    from twin.analysis.optimise import OBJECTIVES
    from twin.analysis.optimise_run import VARY

    p.add_argument("scene", type=Path, help="scene YAML file")
    p.add_argument("--objective", choices=OBJECTIVES, default="uniformity")
    p.add_argument(
        "--vary",
        choices=VARY,
        default="drive",
        help="drive levels, LED positions (from 5x candidates on the carrier), or both",
    )
    p.add_argument(
        "--group",
        choices=GROUPS,
        default="emitter",
        help="one drive level per emitter, channel, zone (channel x skin region) or driver string",
    )
    p.add_argument(
        "--string-leds",
        type=int,
        default=STRING_LEDS,
        help=f"LEDs in series per driver string, for --group string (default {STRING_LEDS})",
    )
    p.add_argument("--budget-mw", type=float, help="total radiant power allowed, mW")
    p.add_argument(
        "--population",
        type=int,
        help="optimise for the scene's wearer and N seeded others at once (robust)",
    )
    p.add_argument("--seed", type=int, default=0, help="population seed (default 0)")
    p.add_argument(
        "--misplace",
        action="store_true",
        help="robust also to the device worn 3 mm off (4 ways) or tilted 5 degrees (2 ways)",
    )
    p.add_argument(
        "--at-depth",
        action="store_true",
        help="optimise the dose in the scene's tissue.targets.roi band of depth (and its "
        "window) instead of at the surface; the safety limits stay at the surface",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(command_func="optimise:_cmd_optimise")


def _compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", type=Path, help="first scene file")
    p.add_argument("b", type=Path, nargs="?", help="second scene file (or --skin-types)")
    p.add_argument(
        "--skin-types",
        nargs=2,
        metavar=("TYPE", "TYPE"),
        help="compare scene A on two Fitzpatrick skin types (I..VI) instead; it needs a "
        "tissue: section",
    )
    p.add_argument("--population", type=int, help="render both on N seeded adults")
    p.add_argument("--seed", type=int, default=0, help="population seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="output folder for the report")
    _workers(p)
    _cache(p)
    p.set_defaults(command_func="compare:_cmd_compare")


def _validate(p: argparse.ArgumentParser) -> None:
    from twin.analysis.calibrate import FITS
    from twin.analysis.validate import MAX_OFFSET_MM, REGISTER
    from twin.engine.backends import CHOICES

    p.add_argument("scene", type=Path, help="scene YAML file with a detectors: section")
    p.add_argument(
        "--measured",
        type=Path,
        required=True,
        help="CSV x_mm,y_mm,irradiance_mw_cm2[,uncertainty_mw_cm2] in the detector's plane "
        "coordinates: a grid or a point list",
    )
    p.add_argument("--detector", help="which detector (default: the scene's only one)")
    p.add_argument(
        "--fit",
        choices=FITS,
        default="none",
        help="calibrate each emitter's power, each channel's, or none (default none)",
    )
    p.add_argument(
        "--register",
        choices=REGISTER,
        default="offset",
        help="align the measured points with the detector by an in-plane offset (default), "
        "an offset and a rotation about the normal (rigid), or not at all",
    )
    p.add_argument(
        "--max-offset-mm",
        type=float,
        default=MAX_OFFSET_MM,
        help=f"largest offset searched along each axis, mm (default {MAX_OFFSET_MM:g})",
    )
    p.add_argument(
        "--uncertainty-mw-cm2",
        type=float,
        help="standard uncertainty of every reading, mW/cm2, for a file without an "
        "uncertainty_mw_cm2 column (with --uncertainty-percent: added in quadrature)",
    )
    p.add_argument(
        "--uncertainty-percent",
        type=float,
        help="standard uncertainty as a percentage of each reading, for such a file (with "
        "neither: 5 %% of each reading and 1 %% of the peak reading, assumed)",
    )
    p.add_argument(
        "--backend", choices=CHOICES, help="ray engine (default: the scene's, else auto)"
    )
    p.add_argument(
        "--plots",
        action="store_true",
        help="also write OUT/plots/residuals.png (and powers.png with a fit; needs matplotlib)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when the verdict fails (the calibrated model's with --fit)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(command_func="validate:_cmd_validate")


def _info(p: argparse.ArgumentParser) -> None:
    p.set_defaults(command_func="misc:_cmd_info")


def _anatomy(p: argparse.ArgumentParser) -> None:
    from twin.cli.anatomy import add_variant_options
    from twin.geometry.anatomy import ANATOMIES

    anatomy_sub = p.add_subparsers(dest="anatomy_command", required=True)
    q = anatomy_sub.add_parser("list", help="names, sizes and regions of the built-in anatomy")
    q.set_defaults(command_func="anatomy:_cmd_anatomy_list")
    q = anatomy_sub.add_parser("export", help="write a built-in anatomy to a mesh file (mm)")
    q.add_argument("name", choices=ANATOMIES)
    q.add_argument("--out", type=Path, required=True, help="file; its suffix picks the format")
    q.add_argument("--max-edge-mm", type=float, help="refine to this edge length (mm)")
    add_variant_options(q)
    q.set_defaults(command_func="anatomy:_cmd_anatomy_export")
    q = anatomy_sub.add_parser(
        "population", help="write a seeded population of one anatomy as mesh files (mm)"
    )
    q.add_argument("size", type=int, metavar="N", help="number of people")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--out", type=Path, required=True, help="output folder")
    q.add_argument(
        "--anatomy",
        choices=ANATOMIES,
        default="face",
        help="which built-in anatomy to write (default face)",
    )
    q.add_argument(
        "--age-years",
        type=float,
        nargs=2,
        default=(18.0, 70.0),
        metavar=("MIN", "MAX"),
        help="age range (default 18 70)",
    )
    q.add_argument("--format", default="ply", help="mesh format: ply, obj, stl, off, glb or gltf")
    q.add_argument("--max-edge-mm", type=float, help="refine to this edge length (mm)")
    q.set_defaults(command_func="anatomy:_cmd_anatomy_population")


def _scenes(p: argparse.ArgumentParser) -> None:
    scenes_sub = p.add_subparsers(dest="scenes_command", required=True)
    q = scenes_sub.add_parser("list", help="the bundled scenes: names and descriptions")
    q.set_defaults(command_func="scenes:_cmd_scenes_list")
    q = scenes_sub.add_parser(
        "copy", help="copy bundled scenes and their baselines to a folder, to edit and check"
    )
    q.add_argument("names", nargs="*", metavar="NAME", help="scenes to copy (default: all)")
    q.add_argument("dir", type=Path, metavar="DIR", help="folder to copy them to")
    q.add_argument("--force", action="store_true", help="overwrite files already there")
    q.set_defaults(command_func="scenes:_cmd_scenes_copy")


def _sweep(p: argparse.ArgumentParser) -> None:
    from twin.cli.sweep import add_arguments

    add_arguments(p)
    _workers(p, what="the points")
    p.set_defaults(command_func="sweep:_cmd_sweep")


def _tolerance(p: argparse.ArgumentParser) -> None:
    from twin.cli.tolerance import add_arguments

    add_arguments(p)
    _workers(p, what="the runs")
    p.set_defaults(command_func="tolerance:_cmd_tolerance")


def _bench(p: argparse.ArgumentParser) -> None:
    from twin.engine.backends import BACKENDS

    p.add_argument(
        "--subdivisions", type=int, default=7, help="head phantom level (7: 163,842 points)"
    )
    p.add_argument(
        "--naive-emitters", type=int, default=16, help="emitters timed for the naive baseline"
    )
    p.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    p.add_argument(
        "--optimise",
        action="store_true",
        help="time drive and placement optimisation instead of ray casting",
    )
    p.add_argument(
        "--backend",
        choices=("all", *BACKENDS),
        help="time these backends side by side on the same scene instead",
    )
    p.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    p.set_defaults(command_func="misc:_cmd_bench")


#: The commands: name -> (help, the function that adds its arguments).
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the ``twin`` parser, with only ``command``'s arguments added.

    Each command's parser imports what its choices need, so ``twin --version`` and
    ``twin --help`` import nothing heavy.
    """
    parser = argparse.ArgumentParser(
        prog="twin",
        description="twin: a digital twin for LED photobiomodulation devices. Each command "
        "says more with --help.",
    )
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (text, add_arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=text)
        if name == command:
            add_arguments(p)
    return parser


COMMANDS.update(
    {
        "render": ("render a scene: dose maps, metrics and result files", _render),
        "view": ("open a result or scene in an interactive 3D window", _view),
        "report": ("write a self-contained HTML report", _report),
        "layout": ("resolve a scene's LED layout into an emitter CSV", _layout),
        "check": ("render scenes and check them against their rules and baselines", _check),
        "optimise": (
            "optimise drive levels on a scene's transfer matrix (before/after)",
            _optimise,
        ),
        "compare": ("two designs on the same anatomies, side by side", _compare),
        "validate": (
            "a scene's detector against a bench measurement: residuals, verdict, calibration",
            _validate,
        ),
        "info": ("version and the ray engines usable here", _info),
        "anatomy": ("the built-in anatomy: list, export, population", _anatomy),
        "scenes": ("the bundled scene library: list, copy", _scenes),
        "export": ("a render folder as VTU (ParaView) and flat-map grids (CSV, NPZ)", _export),
        "sweep": ("a design of experiments over scene keys: table, Pareto front, plots", _sweep),
        "tolerance": (
            "Monte Carlo over LED binning, dead LEDs, droop, aim and fit: yield, sensitivities",
            _tolerance,
        ),
        "bench": ("benchmark the engine on a head phantom (numbers printed)", _bench),
    }
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``twin`` console script."""
    logging.basicConfig(level=logging.WARNING, format="twin: %(levelname)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    module, name = args.command_func.split(":")
    try:
        from twin.cli._common import numba_cache_fallback

        numba_cache_fallback()
        command = getattr(importlib.import_module(f"twin.cli.{module}"), name)
        return command(args)
    except KeyboardInterrupt:  # results are published whole: nothing is left half-written
        print("twin: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MissingDependencyError as exc:
        print(f"twin: error: {exc}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    except TwinError as exc:
        print(f"twin: error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT


if __name__ == "__main__":
    sys.exit(main())
