"""``twin render``: dose maps, metrics and result files of a scene or a population."""

from __future__ import annotations

import argparse
import functools
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin._data import default_scene_path
from twin._text import table
from twin.cli._common import ProgressBar, executor_of
from twin.dose.hazards import eye_lines
from twin.files import check_writable, publish
from twin.pipeline.results import RESULT_NAMES
from twin.units import DOSE_UNITS, DoseUnits
from twin.views.pictures import picture_names, require_pictures, write_pictures
from twin.views.report import interreflection_surfaces

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult

#: Exit status after members of a population failed (the others written): invalid input, or
#: only errors inside twin (as ``twin check``).
EXIT_MEMBERS_INVALID = 2
EXIT_MEMBERS_BROKEN = 3


def _summary_table(metrics: dict, units: DoseUnits = DOSE_UNITS["mW/cm2"]) -> str:
    """Return a table of the headline metrics, per channel and total, over the treated skin.

    Where inter-reflection was solved, the mean direct irradiance (straight from the LEDs) and
    the gain (mean over mean direct) stand beside the irradiance, which is then all the light,
    and a line below names the materials, their reflectances and the solve. Irradiance and
    fluence are shown in ``units`` (the eye lines stay in mW/cm2).
    """
    roi = metrics["roi"]
    bounce = "interreflection" in metrics
    e_unit, h_unit = units.irradiance, units.fluence

    def fmt(v: float | None, factor: float = 1.0) -> str:
        return "-" if v is None else f"{v * factor:.3g}"

    def irr(v: float | None) -> str:
        return fmt(v, units.per_mw_cm2)

    rows = [
        ("channel", *(("E direct",) if bounce else ()), "E mean", *(("gain",) if bounce else ()),
         "E min", "E max", "H mean", "U0", "CV", "in window"),
        ("", *((e_unit,) if bounce else ()), e_unit, *(("E/Edir",) if bounce else ()),
         e_unit, e_unit, h_unit, "", "", "% area"),
    ]  # fmt: skip
    for name, m in [*roi["channels"].items(), ("total", roi["total"])]:
        e = m["irradiance_mw_cm2"]
        direct = (irr(m["direct_irradiance_mw_cm2"]["mean"]),) if bounce else ()
        ratio = m.get("interreflection_gain")
        gain = ("-" if ratio is None else f"{ratio:.2f}",) if bounce else ()
        rows.append(
            (name, *direct, irr(e["mean"]), *gain, irr(e["min"]), irr(e["max"]),
             fmt(m["fluence_j_cm2"]["mean"], units.per_j_cm2), fmt(m["u0_min_over_mean"]),
             fmt(m["cv"]), f"{100 * m['in_window_area_fraction']:.1f}")
        )  # fmt: skip
    eng = metrics["engine"]
    head = (
        f"scene {metrics['scene']}: {eng['sample_points']} skin points, {eng['emitters']} "
        "emitters, "
        f"treated area {roi['area_cm2']:.1f} cm2, exposure {metrics['exposure_s']:g} s"
    )
    tail = [
        f"engine {eng['backend']}: {eng['rays_cast']} shadow rays "
        f"({eng.get('rays_cleared', 0)} more cleared by shafts) in {eng['seconds']:.2f} s"
        + (", read from the cache" if eng.get("cached") else "")
    ]
    tail += [line for line, _ in eye_lines(metrics["eye_safety"])]
    bounces = _interreflection_lines(metrics) if bounce else []
    depth = [] if "tissue" not in metrics else _depth_table(metrics, units)
    detectors = _detector_lines(metrics, units)
    return "\n".join([head, table(rows), *bounces, *depth, *detectors, *tail])


def _detector_lines(metrics: dict, units: DoseUnits) -> list[str]:
    """One line per detector: its mean and peak reading (in ``units``) and uniformity."""
    lines = []
    for name, d in metrics.get("detectors", {}).items():
        u = d["uniformity_min_over_mean"]
        nx, ny = d["pixels"]
        sx, sy = d["size_mm"]
        aperture = f", {d['aperture_mm']:g} mm aperture" if d["aperture_mm"] else ""
        line = (
            f"detector {name}: mean {d['mean_mw_cm2'] * units.per_mw_cm2:.3g} "
            f"{units.irradiance}, peak {d['peak_mw_cm2'] * units.per_mw_cm2:.3g} "
            f"{units.irradiance}, uniformity (min/mean) {'-' if u is None else f'{u:.3g}'}; "
            f"{nx} x {ny} pixels over {sx:g} x {sy:g} mm, {d['response']} response"
            f"{aperture}, {d['light']} light"
        )
        lines += textwrap.wrap(line, width=100, subsequent_indent="  ")
    return lines


def _interreflection_lines(metrics: dict) -> list[str]:
    """Return the line (wrapped at 100 columns) of the materials, reflectances and solve.

    Reflectances are given for the lit channels (all, when none is lit): one number where
    they agree, else one per channel.
    """
    block = metrics["interreflection"]
    drive = metrics["drive"]
    lit = [c for c, d in drive.items() if d > 0] or list(drive)
    parts = []
    for surface, material, reflectance in interreflection_surfaces(metrics):
        values = {f"{reflectance[c]:.2g}" for c in lit if c in reflectance}
        if len(values) == 1:
            numbers = values.pop()
        else:
            numbers = " / ".join(f"{reflectance[c]:.2g} {c}" for c in lit if c in reflectance)
        if material == "as given":
            what = surface
        else:
            what = f"{surface} ({material})" if surface == "skin" else f"{surface} {material}"
        parts.append(f"{what} {numbers}")
    line = (
        f"inter-reflection: {', '.join(parts)}; {block['patches']} patches, "
        f"{block['seconds']:.1f} s"
    )
    return textwrap.wrap(line, width=100, subsequent_indent="  ")


def _depth_table(metrics: dict, units: DoseUnits) -> list[str]:
    """Lines of the dose at depth over the treated skin, beside the surface's, per channel.

    Fluence and fluence rate in ``units``.
    """
    tissue, roi = metrics["tissue"], metrics["roi"]
    channels = list(tissue["roi"]["channels"])
    h, phi = units.per_j_cm2, units.per_mw_cm2
    h_unit = units.fluence
    rows = [
        ("depth", *(f"H {c}" for c in channels), "H total", "H p5", "phi total", "in window"),
        ("mm", *(h_unit for _ in channels), h_unit, h_unit, units.irradiance, "% area"),
        (
            "surface",
            *(f"{roi['channels'][c]['fluence_j_cm2']['mean'] * h:.3g}" for c in channels),
            f"{roi['total']['fluence_j_cm2']['mean'] * h:.3g}",
            f"{roi['total']['fluence_j_cm2']['p5'] * h:.3g}",
            f"{roi['total']['irradiance_mw_cm2']['mean'] * phi:.3g}",
            f"{100 * roi['total']['in_window_area_fraction']:.1f}",
        ),
    ]
    total = tissue["roi"]["total"]
    exposure = metrics["exposure_s"] / 1000.0
    for i, z in enumerate(tissue["depths_mm"]):
        rows.append(
            (
                f"{z:g}",
                *(
                    f"{tissue['roi']['channels'][c]['fluence_mean_j_cm2'][i] * h:.3g}"
                    for c in channels
                ),
                f"{total['fluence_mean_j_cm2'][i] * h:.3g}",
                f"{total['fluence_rate_p5_mw_cm2'][i] * exposure * h:.3g}",
                f"{total['fluence_rate_mean_mw_cm2'][i] * phi:.3g}",
                f"{100 * total['in_window_area_fraction'][i]:.1f}",
            )
        )
    head = f"dose at depth, skin type {tissue['skin_type']} ({tissue['model']['kernels']}):"
    lines = [head, table(rows)]
    for name, t in tissue["targets"].items():
        top, bottom = t["depth_mm"]
        lo, hi = t["fluence_window_j_cm2"]
        lines.append(
            f"target {name} at {top:g}-{bottom:g} mm: H mean {t['fluence_mean_j_cm2'] * h:.3g} "
            f"{h_unit}, p5 {t['fluence_p5_j_cm2'] * h:.3g}, "
            f"{100 * t['in_window_area_fraction']:.1f} % of the area in {lo * h:g}-{hi * h:g} "
            f"{h_unit}"
        )
    return lines


def _population_table(summary: dict, units: DoseUnits) -> str:
    """Return a table of the spread of the headline metrics across a population's members.

    Metrics named in mW/cm2 or J/cm2 are shown in ``units``, named so.
    """
    stats = ("min", "p5", "median", "p95", "max")
    rows = [("metric", *stats)]
    for key, q in summary["summary"].items():
        values = np.array([q[k] for k in stats], dtype=np.float64)
        if key.endswith(("_mw_cm2", "_j_cm2")):
            key, values = units.convert(key, values)
        rows.append((key, *(f"{v:.3g}" for v in values)))
    return table(rows)


def _cmd_render(args: argparse.Namespace) -> int:
    from twin.engine.cache import TransferCache
    from twin.pipeline.population import render_population
    from twin.pipeline.render import render
    from twin.scene import list_members, load_member

    require_pictures(plots=args.plots, png=args.png, html=args.html, name="--{kind}")
    check_writable(args.out, name="--out", folder=True)
    members = list_members(args.scene or default_scene_path())
    pictures = functools.partial(_pictures, plots=args.plots, png=args.png, html=args.html)
    cache = None if args.no_cache else TransferCache(args.cache_dir)
    if len(members) == 1:
        result = render(
            load_member(members[0]),
            backend=args.backend,
            progress=ProgressBar("ray casting", stream=sys.stderr),
            cache=cache,
        )
        owned = [*RESULT_NAMES, *picture_names()]
        with publish(args.out, name="--out", owned=owned) as folder:
            paths = result.write(folder) + pictures(result, folder)
        print(_summary_table(result.metrics, DOSE_UNITS[args.irradiance_unit]))
        print(f"wrote {', '.join(p.name for p in paths)} to {args.out}")
        return 0
    with executor_of(args, stream=sys.stderr) as executor:
        summary = render_population(
            members,
            args.out,
            executor=executor,
            backend=args.backend,
            progress=ProgressBar("rendering", stream=sys.stderr, unit="members"),
            each=pictures,
            each_owned=picture_names(),
            cache=cache,
        )
    failed = summary.get("failed", [])
    print(f"population of {len(members)} ({members[0].name} ... {members[-1].name})")
    print(_population_table(summary, DOSE_UNITS[args.irradiance_unit]))
    print(f"wrote one result folder per member, population.json and population.csv to {args.out}")
    for f in failed:
        print(f"twin: error: {f['name']}: {f['error']}", file=sys.stderr)
    if failed:
        print(f"twin: {len(failed)} of {len(members)} members failed", file=sys.stderr)
        return EXIT_MEMBERS_BROKEN if all(f["internal"] for f in failed) else EXIT_MEMBERS_INVALID
    return 0


def _pictures(
    result: RenderResult, folder: Path, *, plots: bool, png: bool, html: bool
) -> list[Path]:
    """Write the plots, pictures and page asked for into a render folder (in a worker too)."""
    return write_pictures(result, folder, plots=plots, png=png, html=html)
