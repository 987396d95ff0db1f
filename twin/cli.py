"""The ``twin`` command line (render, view, report, check, optimise, compare, anatomy, layout,
info, bench): a thin layer over the API."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np
import yaml

from twin import __version__
from twin._data import default_scene_path
from twin._validation import as_positive
from twin.errors import InputError, TwinError
from twin.hazards import eye_lines
from twin.optimise import GROUPS, STRING_LEDS
from twin.outputs import check_writable, remove_stale, write_atomic
from twin.raycast import BACKENDS, CHOICES, backend_status, resolve_backend
from twin.variants import Variant


class ProgressBar:
    """A one-line progress bar on a terminal, shown only once the work has taken a second."""

    def __init__(
        self, label: str, *, stream: TextIO, unit: str = "emitters", delay_s: float = 1.0
    ) -> None:
        self.enabled = stream.isatty()
        self.label = label
        self.stream = stream
        self.unit = unit
        self.delay_s = delay_s
        self.start = time.perf_counter()
        self.shown = False
        self.finished = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        if not self.enabled or (elapsed < self.delay_s and not self.shown):
            return
        self.shown = True
        width = 30
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        unit = f" {self.unit}" if self.unit else ""
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}{unit} {elapsed:5.1f} s")
        self.finished = done >= total
        if self.finished:
            self.stream.write("\n")
        self.stream.flush()


class StageBars:
    """Progress of a multi-stage job: ``(stage, done, total)`` calls, one bar per stage."""

    def __init__(self, *, stream: TextIO) -> None:
        self.stream = stream
        self.bar: ProgressBar | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        self._show(stage, "", done, total)

    def stage(self, label: str) -> Callable[[int, int], None]:
        """A ``(done, total)`` callback for a render's emitters."""
        return lambda done, total: self._show(label, "emitters", done, total)

    def _show(self, label: str, unit: str, done: int, total: int) -> None:
        if self.bar is None or self.bar.label != label:
            if self.bar is not None and self.bar.shown and not self.bar.finished:
                self.stream.write("\n")
            self.bar = ProgressBar(label, stream=self.stream, unit=unit)
        self.bar(done, total)


def _summary_table(metrics: dict) -> str:
    """A short table of the headline metrics, per channel and total, over the treated skin."""
    roi = metrics["roi"]
    rows = [("channel", "E mean", "E min", "E max", "H mean", "U0", "CV", "in window")]
    units = ("", "mW/cm2", "mW/cm2", "mW/cm2", "J/cm2", "", "", "% area")
    entries = [*roi["channels"].items(), ("total", roi["total"])]
    for name, m in entries:
        e = m["irradiance_mw_cm2"]

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.3g}"

        rows.append(
            (
                name,
                fmt(e["mean"]),
                fmt(e["min"]),
                fmt(e["max"]),
                fmt(m["fluence_j_cm2"]["mean"]),
                fmt(m["u0_min_over_mean"]),
                fmt(m["cv"]),
                f"{100 * m['in_window_area_fraction']:.1f}",
            )
        )
    rows.insert(1, units)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    eng = metrics["engine"]
    head = (
        f"scene {metrics['scene']}: {eng['sample_points']} skin points, {eng['emitters']} "
        "emitters, "
        f"treated area {roi['area_cm2']:.1f} cm2, exposure {metrics['exposure_s']:g} s"
    )
    tail = [
        f"engine {eng['backend']}: {eng['rays_cast']} shadow rays in {eng['seconds']:.2f} s "
        f"({eng['rays_cast'] / max(eng['seconds'], 1e-9) / 1e6:.2f} Mrays/s)"
    ]
    eye = metrics.get("eye_safety")
    if eye:
        tail += [line for line, _ in eye_lines(eye, metrics["exposure_s"])]
    return "\n".join([head, *lines, *tail])


def _population_table(summary: dict) -> str:
    """The spread of the headline metrics across a population's members."""
    rows = [("metric", "min", "p5", "median", "p95", "max")]
    for key, q in summary["summary"].items():
        rows.append((key, *(f"{q[k]:.3g}" for k in ("min", "p5", "median", "p95", "max"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )


def _count(value: int | None, *, name: str, least: int = 1) -> None:
    """Raise unless the whole-number argument ``name`` is absent or at least ``least``."""
    if value is not None and value < least:
        msg = f"{name}: expected a whole number >= {least}, got {value}"
        raise InputError(msg)


def _positive(value: float | None, *, name: str) -> None:
    """Raise unless the argument ``name`` is absent or a finite number > 0."""
    if value is not None:
        as_positive(value, name=name)


#: The modules each optional output of ``twin render`` needs (the ``viz`` extra).
_EXTRAS = {
    "plots": ("matplotlib",),
    "png": ("pyvista",),
    "html": ("pyvista", "trame_pyvista", "nest_asyncio2"),
}


def _check_extras(args: argparse.Namespace) -> None:
    """Raise unless the modules the requested ``--plots``, ``--png``, ``--html`` need are
    installed (checked before anything is rendered or written)."""
    for option, modules in _EXTRAS.items():
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing and getattr(args, option):
            msg = (
                f"--{option}: needs {', '.join(missing)}, which is not installed; "
                "pip install 'twin[viz]'"
            )
            raise InputError(msg)


def _cmd_render(args: argparse.Namespace) -> int:
    from twin.rendering import render, render_population
    from twin.scene import load_scenes

    _check_extras(args)
    check_writable(args.out, option="--out", folder=True)
    scenes = load_scenes(args.scene or default_scene_path())
    if len(scenes) == 1:
        result = render(
            scenes[0], backend=args.backend, progress=ProgressBar("ray casting", stream=sys.stderr)
        )
        paths = result.write(args.out) + _extras(args, result, args.out)
        print(_summary_table(result.metrics))
        print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
        return 0
    summary = render_population(
        scenes,
        args.out,
        backend=args.backend,
        progress=lambda label: ProgressBar(label, stream=sys.stderr),
        each=lambda result, folder: _extras(args, result, folder),
    )
    print(f"population of {len(scenes)} ({scenes[0].name} ... {scenes[-1].name})")
    print(_population_table(summary))
    print(f"wrote one result folder per member, population.json and population.csv to {args.out}")
    return 0


def _extras(args: argparse.Namespace, result, folder: Path) -> list[Path]:
    """The optional pictures of ``twin render``: ``--plots``, ``--png``, ``--html``.

    Those an earlier render left in ``folder`` are removed first, so the folder holds only
    what this render made.
    """
    from twin.plots import PLOTS, write_plots
    from twin.view3d import VIEWS

    remove_stale(
        folder,
        [*(f"plots/{p}.png" for p in PLOTS), *(f"pictures/{v}.png" for v in VIEWS), "scene.html"],
    )
    paths = []
    if args.plots:
        paths += write_plots(result, folder / "plots")
    if args.png or args.html:
        from twin import view3d

        scene3d = view3d.from_result(result)
        if args.png:
            paths += view3d.snapshots(scene3d, folder / "pictures")
        if args.html:
            paths.append(view3d.export_html(scene3d, folder / "scene.html"))
    return paths


def _cmd_view(args: argparse.Namespace) -> int:
    import os

    from twin import view3d

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
    from twin.report import write_report

    path = write_report(args.source, args.out, pictures=not args.no_pictures)
    print(f"wrote {path}")
    return 0


def _cmd_layout(args: argparse.Namespace) -> int:
    from twin.designs import builtin_designs
    from twin.emitters import emitter_csv_text
    from twin.scene import load_scene

    if args.list:
        for name, path in builtin_designs().items():
            spec = yaml.safe_load(path.read_text())
            print(f"{name:20s} {spec.get('description', '')}")
        return 0
    if args.scene is None or args.out is None:
        msg = "twin layout: give a SCENE and --out FILE, or --list"
        raise InputError(msg)
    check_writable(args.out, option="--out")
    scene = load_scene(args.scene)
    write_atomic({args.out: emitter_csv_text(scene.emitters)}, option="--out")
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


def _cmd_check(args: argparse.Namespace) -> int:
    from twin import check
    from twin.cache import TransferCache

    _count(args.jobs, name="--jobs")
    for option, path in (("--junit", args.junit), ("--summary", args.summary)):
        if path is not None:
            check_writable(path, option=option)
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
            write_atomic({path: text(reports)}, option=option)
    return check.exit_code(reports, update=args.update)


#: Headline metrics compared before and after optimisation: label, metrics.json path.
_COMPARED = (
    ("U0 (min / mean)", "roi.total.u0_min_over_mean"),
    ("CV", "roi.total.cv"),
    ("in-window area", "roi.total.in_window_area_fraction"),
    ("mean fluence J/cm2", "roi.total.fluence_j_cm2.mean"),
    ("p5 fluence J/cm2", "roi.total.fluence_j_cm2.p5"),
    ("peak mW/cm2", "roi.total.irradiance_mw_cm2.max"),
    ("eye IR max mW/cm2", "eye_safety.ir_irradiance_mw_cm2.max"),
)


def _scene_drive(scene) -> np.ndarray:
    """Per-emitter drive levels of a scene's mode."""
    return np.array([scene.drive.get(str(c), 0.0) for c in scene.emitters.channel])


def _population_renders(args: argparse.Namespace, bars: StageBars) -> list:
    """Renders of the scene on ``--population`` seeded wearers (through the cache)."""
    from twin.cache import TransferCache
    from twin.rendering import render
    from twin.scene import read_scene_file, scene_from_dict
    from twin.variants import population

    data = read_scene_file(args.scene)
    mesh = data.get("target", {}).get("mesh") if isinstance(data.get("target"), dict) else None
    if not (isinstance(mesh, str) and mesh.startswith("builtin:")):
        msg = f"{args.scene}: --population needs a built-in anatomy target, got {mesh!r}"
        raise InputError(msg)
    cache, out = TransferCache(), []
    people = population(args.population, seed=args.seed)
    for i, variant in enumerate(people):
        target = {k: v for k, v in data["target"].items() if k != "population"}
        member = {
            **data,
            "name": f"{data.get('name', args.scene.stem)}-p{i:02d}",
            "target": {**target, "variant": variant.to_dict()},
        }
        scene = scene_from_dict(member, base=args.scene.resolve().parent, path=args.scene)
        out.append(
            render(scene, cache=cache, progress=bars.stage(f"wearer {i + 1}/{len(people)}"))
        )
    return out


def _cmd_optimise(args: argparse.Namespace) -> int:
    import json

    from twin.cache import TransferCache
    from twin.check import metric_value
    from twin.optimise import (
        drive_metrics,
        misplaced,
        misplacements,
        optimise_drive,
        optimised_scene,
    )
    from twin.placement import optimise_placement
    from twin.rendering import render
    from twin.scene import load_scene

    _count(args.population, name="--population")
    _count(args.seed, name="--seed", least=0)
    _count(args.string_leds, name="--string-leds")
    _positive(args.budget_mw, name="--budget-mw")
    check_writable(args.out, option="--out", folder=True)
    bars = StageBars(stream=sys.stderr)
    cache = TransferCache()
    scene = load_scene(args.scene)
    before = render(scene, progress=bars.stage("ray casting"))
    backend = before.transfer.backend
    people = [before, *_population_renders(args, bars)] if args.population else [before]

    def with_misplaced(renders: list) -> list:
        if not args.misplace:
            return renders
        moved = misplaced(renders[0].scene)
        return renders + [
            render(s, cache=cache, progress=bars.stage(f"misplaced {i + 1}/{len(moved)}"))
            for i, s in enumerate(moved)
        ]

    log: list[str] = []
    pool_before = with_misplaced(people)
    pool = pool_before
    if args.vary in ("placement", "both"):
        placement = optimise_placement(
            people,
            seed=args.seed,
            moves=misplacements() if args.misplace else (),
            progress=bars,
        )
        log += placement.log
        placed = [
            render(s, backend=backend, progress=bars.stage(f"placed layout {i + 1}/{len(people)}"))
            for i, s in enumerate(placement.scenes)
        ]
        pool = with_misplaced(placed)
    result = None
    after = pool[0]
    if args.vary in ("drive", "both"):
        result = optimise_drive(
            pool,
            objective=args.objective,
            group=args.group,
            string_leds=args.string_leds,
            budget_mw=args.budget_mw,
        )
        log += result.log
        after = render(
            optimised_scene(pool[0].scene, result.drive),
            backend=backend,
            progress=bars.stage("optimised layout"),
        )
    before.write(args.out / "before")
    after.write(args.out / "after")
    files = {
        args.out / "emitters.csv": (args.out / "after" / "emitters.csv").read_bytes(),
        args.out / "scene.yaml": (args.out / "after" / "scene.resolved.yaml").read_bytes(),
    }
    power = (
        float((scene.emitters.power_mw * _scene_drive(scene)).sum()),
        float((after.scene.emitters.power_mw * _scene_drive(after.scene)).sum()),
    )
    rows, summary = [("metric", "before", "after", "change")], {}
    for label, path in _COMPARED:
        a, b = metric_value(before.metrics, path), metric_value(after.metrics, path)
        if a is None or b is None:
            continue
        summary[path] = {"before": a, "after": b}
        rows.append((label, f"{a:.4g}", f"{b:.4g}", f"{b - a:+.3g}"))
    for c in after.metrics["roi"]["channels"]:
        path = f"roi.channels.{c}.cv"
        a, b = metric_value(before.metrics, path), metric_value(after.metrics, path)
        if a is not None and b is not None:
            summary[path] = {"before": a, "after": b}
            rows.append((f"CV {c}", f"{a:.4g}", f"{b:.4g}", f"{b - a:+.3g}"))
    rows.append(
        ("radiant power mW", f"{power[0]:.4g}", f"{power[1]:.4g}", f"{power[1] - power[0]:+.3g}")
    )
    summary["radiant_power_mw"] = {"before": power[0], "after": power[1]}
    if result is not None:
        files[args.out / "groups.csv"] = _groups_csv(pool[0].scene, result)
    if len(pool) > 1:
        summary["wearers"] = [
            {
                "scene": a.scene.name,
                "before": drive_metrics(b, _scene_drive(b.scene)),
                "after": drive_metrics(
                    a, _scene_drive(a.scene) if result is None else result.drive
                ),
            }
            for b, a in zip(pool_before, pool, strict=True)
        ]
        rows.append(("", "", "", ""))
        for key in ("in_window_area_fraction", "cv", "peak_irradiance_mw_cm2"):
            worst = min if key == "in_window_area_fraction" else max
            b, a = (
                worst(m[when][key] for m in summary["wearers"]) for when in ("before", "after")
            )
            rows.append((f"worst wearer {key}", f"{b:.4g}", f"{a:.4g}", f"{a - b:+.3g}"))
    files[args.out / "summary.json"] = json.dumps(summary, indent=2) + "\n"
    files[args.out / "convergence.log"] = "\n".join(log) + "\n"
    write_atomic(files, option="--out")
    if result is None:  # placement alone: a groups.csv of an earlier drive run no longer holds
        remove_stale(args.out, ["groups.csv"])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    how = "placement" if result is None else f"{args.objective} by {result.solver}"
    print(f"optimised {args.vary} ({how}):")
    for r in rows:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    dose = after.scene.dose
    for label, path, limit in (
        ("peak irradiance", "roi.total.irradiance_mw_cm2.max", dose.irradiance_limit_mw_cm2),
        ("eye-region IR", "eye_safety.ir_irradiance_mw_cm2.max", dose.eye_ir_limit_mw_cm2),
    ):
        value = metric_value(after.metrics, path)
        if value is not None and value > limit:
            print(
                f"warning: after placement the {label} is {value:.3g} mW/cm2, above its "
                f"{limit:g} mW/cm2 limit; --vary both adds the drive optimisation that holds it"
            )
    groups = "" if result is None else f"groups.csv ({len(result.groups)} {args.group} groups), "
    print(
        f"wrote emitters.csv, scene.yaml, {groups}summary.json, convergence.log, before/ and "
        f"after/ to {args.out}"
    )
    return 0


def _groups_csv(scene, result) -> str:
    """Each emitter's drive group and level (``twin optimise``'s groups.csv)."""
    e = scene.emitters
    lines = ["id,channel,group,drive"]
    for i in range(len(e)):
        g = int(result.group_of[i])
        name = result.groups[g] if g >= 0 else ""
        lines.append(f"{e.ids[i]},{e.channel[i]},{name},{result.drive[i]:.6g}")
    return "\n".join(lines) + "\n"


def _cmd_compare(args: argparse.Namespace) -> int:
    from twin.cache import TransferCache
    from twin.compare import compare, difference_ply, report, write_report

    _count(args.population, name="--population")
    _count(args.seed, name="--seed", least=0)
    _count(args.jobs, name="--jobs")
    check_writable(args.out, option="--out", folder=True)
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
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(result["verdict"])
    print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
    return 0


def _cmd_info(_: argparse.Namespace) -> int:
    from twin.raycast._cuda import simulated

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
    from twin.bench import run_backend_benchmark, run_benchmark, run_optimise_benchmark

    if args.out is not None:
        check_writable(args.out, option="--out")
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
        write_atomic({args.out: text + "\n"}, option="--out")
    return 0


def _cmd_anatomy_list(_: argparse.Namespace) -> int:
    from twin import anatomy

    for name in anatomy.ANATOMIES:
        surface = anatomy.builtin(name)
        size = " x ".join(f"{v / 10:.1f}" for v in surface.extent_mm)
        print(
            f"{name:7s} {size} cm, {surface.area_mm2 / 100:.0f} cm2, {len(surface.vertices_mm)} "
            f"points (edges <= {anatomy.DEFAULT_MAX_EDGE_MM[name]:g} mm)"
        )
        print(f"        regions: {', '.join(surface.regions)}")
    return 0


def _variant_from_args(args: argparse.Namespace) -> Variant | None:
    """The variant the ``--sex``, ``--age-years`` ... options describe (None: the base mesh)."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Variant)
        if getattr(args, f.name) is not None
    }
    if not given:
        return None
    if "sex" in given and given["sex"] not in ("female", "male"):
        try:
            given["sex"] = float(given["sex"])
        except ValueError:
            pass  # Variant.from_dict names the bad value
    try:
        return Variant.from_dict(given, name="variant")
    except InputError as exc:
        option = re.match(r"variant\.(\w+)", str(exc))
        flag = "--" + option.group(1).replace("_", "-") if option else "variant"
        raise InputError(re.sub(r"^variant(\.\w+)?", flag, str(exc))) from None


def _add_variant_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "shape variant", "any of these builds a variant instead of the base mesh"
    )
    group.add_argument("--sex", help="female, male or a number in [0, 1]")
    for f in dataclasses.fields(Variant):
        if f.name != "sex":
            group.add_argument(
                f"--{f.name.replace('_', '-')}", type=float, metavar="X", dest=f.name
            )


def _cmd_anatomy_export(args: argparse.Namespace) -> int:
    from twin import anatomy
    from twin.outputs import export_surface

    _positive(args.max_edge_mm, name="--max-edge-mm")
    check_writable(args.out, option="--out")
    variant = _variant_from_args(args)
    surface = anatomy.builtin(args.name, max_edge_mm=args.max_edge_mm, variant=variant)
    export_surface(surface, args.out)
    size = " x ".join(f"{v / 10:.1f}" for v in surface.extent_mm)
    shape = "" if variant is None else f" ({variant.label})"
    print(
        f"wrote {args.out}: {args.name}{shape}, {len(surface.vertices_mm)} points, {size} cm, "
        "in mm"
    )
    return 0


def _cmd_anatomy_population(args: argparse.Namespace) -> int:
    from twin.outputs import export_population

    _count(args.size, name="N (the number of people)")
    _count(args.seed, name="--seed", least=0)
    _positive(args.max_edge_mm, name="--max-edge-mm")
    check_writable(args.out, option="--out", folder=True)
    paths = export_population(
        args.size,
        seed=args.seed,
        age_years=tuple(args.age_years),
        name=args.anatomy,
        max_edge_mm=args.max_edge_mm,
        suffix=args.format,
        out_dir=args.out,
    )
    print(f"wrote {len(paths) - 1} {args.anatomy} meshes and population.csv to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twin", description=__doc__)
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="render a scene: dose maps, metrics and result files")
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
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("view", help="open a result or scene in an interactive 3D window")
    p.add_argument("source", type=Path, help="a twin render folder or a scene file")
    p.set_defaults(func=_cmd_view)

    p = sub.add_parser("report", help="write a self-contained HTML report")
    p.add_argument(
        "source",
        type=Path,
        help="a scene file (one or a population), a twin render folder or a twin compare folder",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (report.html)")
    p.add_argument(
        "--no-pictures", action="store_true", help="leave out the 3D pictures (no OpenGL)"
    )
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("layout", help="resolve a scene's LED layout into an emitter CSV")
    p.add_argument("scene", nargs="?", type=Path, help="scene YAML file")
    p.add_argument("--out", type=Path, help="emitter CSV to write (mm)")
    p.add_argument("--list", action="store_true", help="list the built-in designs")
    p.set_defaults(func=_cmd_layout)

    p = sub.add_parser(
        "check", help="render scenes and check them against their rules and baselines"
    )
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path("scenes")],
        help="scene files or folders of them (default: scenes/)",
    )
    p.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    p.add_argument("--summary", type=Path, help="write a Markdown summary here")
    p.add_argument(
        "--update",
        action="store_true",
        help="rewrite each scene's baseline with the current metrics (never implicit)",
    )
    p.add_argument("--jobs", type=int, help="worker processes (default: every CPU)")
    p.add_argument("--cache-dir", type=Path, help="transfer-matrix cache folder")
    p.add_argument("--no-cache", action="store_true", help="rebuild every transfer matrix")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser(
        "optimise", help="optimise drive levels on a scene's transfer matrix (before/after)"
    )
    p.add_argument("scene", type=Path, help="scene YAML file")
    p.add_argument(
        "--objective", choices=("uniformity", "coverage", "minmax"), default="uniformity"
    )
    p.add_argument(
        "--vary",
        choices=("drive", "placement", "both"),
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
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=_cmd_optimise)

    p = sub.add_parser("compare", help="two designs on the same anatomies, side by side")
    p.add_argument("a", type=Path, help="first scene file")
    p.add_argument("b", type=Path, help="second scene file")
    p.add_argument("--population", type=int, help="render both on N seeded adults")
    p.add_argument("--seed", type=int, default=0, help="population seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="output folder for the report")
    p.add_argument("--jobs", type=int, help="worker processes (default: every CPU)")
    p.add_argument("--cache-dir", type=Path, help="transfer-matrix cache folder")
    p.add_argument("--no-cache", action="store_true", help="rebuild every transfer matrix")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("info", help="version and the ray engines usable here")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("anatomy", help="the built-in anatomy: list, export, population")
    anatomy_sub = p.add_subparsers(dest="anatomy_command", required=True)
    q = anatomy_sub.add_parser("list", help="names, sizes and regions of the built-in anatomy")
    q.set_defaults(func=_cmd_anatomy_list)
    q = anatomy_sub.add_parser("export", help="write a built-in anatomy to a mesh file (mm)")
    q.add_argument("name", choices=("face", "scalp", "pelvis", "head"))
    q.add_argument("--out", type=Path, required=True, help="file; its suffix picks the format")
    q.add_argument("--max-edge-mm", type=float, help="refine to this edge length (mm)")
    _add_variant_options(q)
    q.set_defaults(func=_cmd_anatomy_export)
    q = anatomy_sub.add_parser(
        "population", help="write a seeded population of one anatomy as mesh files (mm)"
    )
    q.add_argument("size", type=int, metavar="N", help="number of people")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--out", type=Path, required=True, help="output folder")
    q.add_argument(
        "--anatomy",
        choices=("face", "scalp", "pelvis", "head"),
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
    q.set_defaults(func=_cmd_anatomy_population)

    p = sub.add_parser("bench", help="benchmark the engine on a head phantom (numbers printed)")
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
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``twin`` console script."""
    logging.basicConfig(level=logging.WARNING, format="twin: %(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TwinError as exc:
        print(f"twin: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
