"""``twin tolerance``: Monte Carlo over manufacturing and use; yield and sensitive factors."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from twin.cli._common import ProgressBar, count, executor_of
from twin.errors import InputError
from twin.files import check_writable

if TYPE_CHECKING:
    from twin.analysis.tolerance import Tolerances

#: The options of the factors, as ``tolerance.json`` records the command.
_FACTOR_OPTIONS = (
    "flux_spread_percent", "dead_leds_percent", "dead_strings", "string_leds",
    "droop_percent_per_k", "temperature_rise_k", "aim_deg", "misplace_mm", "misplace_deg",
)  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``twin tolerance``'s arguments (but ``--jobs`` and ``--scheduler``)."""
    from twin.analysis.groups import STRING_LEDS

    p.add_argument("scene", type=Path, help="scene YAML file (one scene) or a bundled name")
    p.add_argument("--runs", type=int, required=True, help="Monte Carlo runs")
    p.add_argument("--seed", type=int, default=0, help="seed of every run's draws (default 0)")
    p.add_argument(
        "--flux-spread-percent",
        metavar="R or CH=R,...",
        help="LED flux binning: the standard deviation of each LED's flux, %% of nominal, "
        "for every channel (5) or per channel (red=5,nir=3)",
    )
    p.add_argument("--dead-leds-percent", type=float, help="the chance that an LED is dead, %%")
    p.add_argument("--dead-strings", type=int, help="driver strings dead in each device")
    p.add_argument(
        "--string-leds",
        type=int,
        default=STRING_LEDS,
        help=f"LEDs in series per driver string (default {STRING_LEDS})",
    )
    p.add_argument(
        "--droop-percent-per-k",
        metavar="D or CH=D,...",
        help="thermal droop: flux lost per kelvin of temperature rise, %%, for every channel "
        "or per channel (with --temperature-rise-k)",
    )
    p.add_argument(
        "--temperature-rise-k",
        metavar="DT or LOW:HIGH",
        help="the LEDs' temperature rise, K: one value, or a range drawn uniformly",
    )
    p.add_argument(
        "--aim-deg",
        type=float,
        help="aiming error: the standard deviation of each LED axis's tilt in each of two "
        "directions, degrees (re-casts every run)",
    )
    p.add_argument(
        "--misplace-mm",
        type=float,
        help="misplacement: the standard deviation of the device's shift in each of two "
        "directions across its axis, mm (re-casts every run)",
    )
    p.add_argument(
        "--misplace-deg",
        type=float,
        help="misplacement: the standard deviation of the device's turn about its axis, "
        "degrees (re-casts every run)",
    )
    p.add_argument(
        "--metrics",
        metavar="PATH,...",
        help="metric paths per run (default: the baseline metrics of twin check; the "
        "scene's rules' metrics are always kept)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--cache-dir", type=Path, help="transfer-matrix cache folder")
    p.add_argument("--no-cache", action="store_true", help="rebuild every transfer matrix")


def _rise(text: str | None) -> tuple[float, float]:
    """Parse ``--temperature-rise-k``: ``DT`` or ``LOW:HIGH``."""
    if text is None:
        return (0.0, 0.0)
    parts = text.split(":")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(v < 0 for v in values) or values[0] > values[-1]:
        msg = f"--temperature-rise-k: expected DT or LOW:HIGH in K, 0 <= LOW <= HIGH, got {text!r}"
        raise InputError(msg)
    return (values[0], values[-1])


def _tolerances(args: argparse.Namespace, channels: list[str]) -> Tolerances:
    """Return the factors of the command line as :class:`Tolerances` (fractions, not %)."""
    from twin.analysis.tolerance import Tolerances, per_channel

    for option in ("dead_leds_percent", "aim_deg", "misplace_mm", "misplace_deg"):
        value = getattr(args, option)
        if value is not None and not value >= 0:
            msg = f"--{option.replace('_', '-')}: expected a number >= 0, got {value!r}"
            raise InputError(msg)
    if args.dead_leds_percent is not None and args.dead_leds_percent > 100:
        msg = f"--dead-leds-percent: expected at most 100, got {args.dead_leds_percent!r}"
        raise InputError(msg)
    count(args.dead_strings, name="--dead-strings", least=0)
    count(args.string_leds, name="--string-leds")
    if (args.droop_percent_per_k is None) != (args.temperature_rise_k is None):
        given = "--droop-percent-per-k" if args.temperature_rise_k is None else (
            "--temperature-rise-k")  # fmt: skip
        msg = (
            f"{given}: thermal droop needs both --droop-percent-per-k and "
            "--temperature-rise-k, found only this one"
        )
        raise InputError(msg)

    def fractions(text: str | None, name: str) -> dict[str, float]:
        if text is None:
            return {}
        return {c: v / 100 for c, v in per_channel(text, channels=channels, name=name).items()}

    return Tolerances(
        flux_spread=fractions(args.flux_spread_percent, "--flux-spread-percent"),
        dead_leds=(args.dead_leds_percent or 0.0) / 100,
        dead_strings=args.dead_strings or 0,
        string_leds=args.string_leds,
        droop_per_k=fractions(args.droop_percent_per_k, "--droop-percent-per-k"),
        temperature_rise_k=_rise(args.temperature_rise_k),
        aim_deg=args.aim_deg or 0.0,
        misplace_mm=args.misplace_mm or 0.0,
        misplace_deg=args.misplace_deg or 0.0,
    )


def _command(args: argparse.Namespace) -> str:
    """Return the command line of this analysis, as ``tolerance.json`` records it."""
    words = ["twin", "tolerance", str(args.scene), "--runs", str(args.runs)]
    words += ["--seed", str(args.seed)]
    for option in _FACTOR_OPTIONS:
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option.replace('_', '-')}", f"{value:g}" if isinstance(value, float)
                      else str(value)]  # fmt: skip
    if args.metrics:
        words += ["--metrics", args.metrics]
    words += ["--out", str(args.out)]
    return shlex.join(words)


def _cmd_tolerance(args: argparse.Namespace) -> int:
    from twin._data import scene_path
    from twin._text import table
    from twin.analysis.sweep import column
    from twin.analysis.tolerance import run_tolerance, summarise
    from twin.engine.cache import TransferCache
    from twin.scene import load_scene
    from twin.views.sweep_report import tolerance_metrics, write_tolerance

    count(args.runs, name="--runs")
    count(args.seed, name="--seed", least=0)
    check_writable(args.out, name="--out", folder=True)
    path = scene_path(args.scene)
    tolerances = _tolerances(args, load_scene(path).emitters.channels)
    if not tolerances.draw_columns() and not tolerances.geometric:
        msg = (
            "tolerances: expected at least one of --flux-spread-percent, --dead-leds-percent, "
            "--dead-strings, --droop-percent-per-k, --aim-deg, --misplace-mm/--misplace-deg; "
            "found none, so every run would be the nominal design"
        )
        raise InputError(msg)
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    cache = None if args.no_cache else TransferCache(args.cache_dir).folder
    bar = ProgressBar("tolerance", stream=sys.stderr, unit="tasks")
    with executor_of(args, stream=sys.stderr) as executor:
        result = run_tolerance(
            path, tolerances, runs=args.runs, executor=executor, seed=args.seed,
            cache_dir=cache, metrics=metrics, progress=bar,
        )  # fmt: skip
    write_tolerance(result, args.out, command=_command(args))
    data = summarise(result)
    y = data["yield"]
    kind = "re-cast" if tolerances.geometric else "power-only (no ray cast)"
    print(f"{result.runs} runs, {kind}, {len(data['failed'])} failed")
    if y["fraction"] is None:
        print("yield: - (the scene has no checks.rules)")
    else:
        low, high = y["interval_95"]
        print(
            f"yield: {100 * y['fraction']:.1f} % of {y['runs']} runs pass every rule "
            f"(95 % interval {100 * low:.1f}-{100 * high:.1f} %)"
        )
    rows = [("metric", "nominal", "p5", "median", "p95", "most sensitive to (rank corr.)")]
    for p in tolerance_metrics(result):
        d = data["distributions"][p]
        top = data["sensitivity"].get(p, [])[:2]
        factors = ", ".join(f"{s['factor']} ({s['rank_correlation']:+.2f})" for s in top)
        nominal = "-" if d["nominal"] is None else f"{d['nominal']:.4g}"
        rows.append((column(p), nominal, f"{d['p5']:.4g}", f"{d['median']:.4g}",
                     f"{d['p95']:.4g}", factors or "-"))  # fmt: skip
    print(table(rows, align="l"))
    t = data["timing"]
    per_run = "-" if t["run_s_median"] is None else f"{t['run_s_median']:.3g} s"
    nominal_s = t["nominal_render_s"]
    print(f"per run {per_run}, nominal render {nominal_s:.3g} s, wall {t['wall_s']:.1f} s")
    for f in data["failed"]:
        print(f"twin: error: run {f['run']}: {f['error']}", file=sys.stderr)
    print(f"wrote tolerance.csv, tolerance.json, report.html, plots to {args.out}")
    return 0 if not data["failed"] else 2
