"""``twin report``: one self-contained HTML page (images embedded) an engineer can send.

A result folder is read as it is (nothing is rendered again: its plots and pictures are the
ones the render wrote, pictures it lacks are made from its files); a scene file is rendered
first. Without matplotlib (a base install) the page has no plots and says so.

For a render: the scene summary, the scene's rules with pass / fail, the headline metrics per
channel and total and per region, the inter-reflection (where it was solved: the materials
and their reflectances, the direct, returned and total irradiance per channel and the gain,
maps of each), the light in tissue (with a ``tissue:`` section: the skin model, its
reflectance beside NIST's, the dose at each depth, the depth targets and the depth plots), the
eye-safety section, pictures of the dose on the skin from named views (off-screen,
:mod:`twin.views.view3d`) and the plots (:mod:`twin.views.plots`). For a population's render:
the rules over the members, the spread (the dose at the target depth among the headline
metrics, with light in tissue), every member, and the worst one in full. For a ``twin
compare`` folder: the side-by-side version — verdict, metrics of both designs with the winner
(the dose at the target depth among them, with light in tissue), each design's
inter-reflection gain (where either solved it), distributions plotted together, the
difference map, mean fluence per region.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin._validation import read_text
from twin._version import __version__
from twin.dose.hazards import (
    blue_irradiance_limit_mw_cm2,
    blue_radiance_limit_w_m2_sr,
    eye_lines,
    skin_reflectance,
)
from twin.errors import InputError
from twin.files import check_writable, publish, safe_name, write_atomic
from twin.units import fluence_j_cm2
from twin.views.plots import INTERREFLECTION_PLOTS, TISSUE_PLOTS, region_status, skin_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from twin.pipeline.render import RenderResult
    from twin.scene import Scene

#: The section of a render's report on the light in tissue (only with a ``tissue:`` section).
TISSUE_SECTION = "Light in tissue"
#: The section of a render's report on the light skin and device return (only where
#: inter-reflection was solved).
INTERREFLECTION_SECTION = "Inter-reflection"
#: The sections of a render's report, in order (each an ``<h2>``).
SECTIONS = (
    "Scene", "Rules", "Metrics", "Regions", INTERREFLECTION_SECTION, TISSUE_SECTION,
    "Eye safety", "Pictures", "Plots",
)  # fmt: skip
#: The section of a comparison's report on the inter-reflection gain (where either side has it).
GAIN_SECTION = "Inter-reflection gain"
#: The sections of a comparison's report.
COMPARE_SECTIONS = ("Verdict", "Metrics", GAIN_SECTION, "Distributions", "Regions")
#: The sections of a population's report.
POPULATION_SECTIONS = ("Rules", "Spread", "Members", "Worst member")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f2f5; }
.pass { color: #17803d; font-weight: 600; } .fail { color: #c21d1d; font-weight: 600; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
.pictures img { width: 48%; }
.pictures.three img { width: 32%; }
"""


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return _img(buffer.getvalue())


def _img(png: bytes, alt: str = "") -> str:
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str] | None, rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    head = "" if header is None else "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if str(c).startswith('<') else html.escape(cell(c))}</td>"
                         for c in r) + "</tr>"
        for r in rows
    )  # fmt: skip
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def _page(title: str, body: list[str]) -> str:
    stamp = f"twin {__version__}, {time.strftime('%Y-%m-%d %H:%M')}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p><small>{html.escape(stamp)}</small></p>{''.join(body)}</body></html>\n"
    )


class _Figures:
    """Where a render's report gets its plots and pictures: the render, or its folder.

    From a ``twin render`` folder the report shows the folder's own ``plots/*.png`` and
    ``pictures/*.png``, as the render made them; pictures it lacks are made from its files
    (:func:`twin.views.view3d.from_folder`: the skin, its maps and the carrier), plots it lacks
    are left out with a note (``twin render --plots`` writes them). Without matplotlib (a base
    install) plots are left out with a note too.

    Parameters
    ----------
    result : RenderResult, optional
        The render in memory.
    folder : Path, optional
        Its result folder (instead of ``result``).
    pictures : bool
        Show 3D pictures (``False``: no OpenGL needed).
    """

    def __init__(
        self, *, result: RenderResult | None = None, folder: Path | None = None, pictures: bool
    ) -> None:
        if (result is None) == (folder is None):
            msg = "_Figures: expected a render or a folder"
            raise TypeError(msg)
        self.result, self.folder, self.pictures = result, folder, pictures
        self.plotting = importlib.util.find_spec("matplotlib") is not None

    def plot(self, name: str) -> str | None:
        """Return the plot ``name`` as an ``<img>`` tag, ``None`` where there is none."""
        if self.folder is not None:
            path = self.folder / "plots" / f"{name}.png"
            return _img(path.read_bytes(), name) if path.is_file() else None
        result = self.result
        if result is None or not self.plotting:
            return None
        from twin.views import plots

        detector = name.removeprefix(plots.DETECTOR_PLOTS.rstrip("*"))
        if detector != name:
            return _png(plots.detector_map(result.detectors[detector]))
        return _png(getattr(plots, name)(result))

    def plot_names(self) -> list[str]:
        """Return the plots this render has (or would have), in the order ``PLOTS`` gives."""
        from twin.views import plots

        if self.folder is not None:
            names = [n for n in plots.PLOTS if (self.folder / "plots" / f"{n}.png").is_file()]
            found = sorted(self.folder.glob(f"plots/{plots.DETECTOR_PLOTS}.png"))
            return names + [p.stem for p in found]
        if not (self.plotting and self.result):
            return []
        detectors = [plots.DETECTOR_PLOTS.replace("*", n) for n in self.result.detectors]
        return plots.plot_names(self.result) + detectors

    def missing_plots_note(self) -> str:
        """Return why plots are missing, as a paragraph ("" when there are some)."""
        if self.plot_names():
            return ""
        if self.folder is not None:
            return (
                "<p>This folder has no plots: <code>twin render --plots</code> writes them "
                "and the report then shows them.</p>"
            )
        return (
            "<p>Plots left out: they need matplotlib (<code>pip install 'twin[viz]'</code>).</p>"
        )

    def scene3d(self):
        """Return the result scene the 3D pictures are made of."""
        from twin.views import view3d

        if self.folder is not None:
            return view3d.from_folder(self.folder)
        return view3d.from_result(self.result)

    def views(self) -> str:
        """Return the pictures from the named views as a block of ``<img>`` tags."""
        from twin.views import view3d

        if self.folder is not None and (shots := sorted(self.folder.glob("pictures/*.png"))):
            return "".join(_img(p.read_bytes(), p.stem) for p in shots)
        with tempfile.TemporaryDirectory() as folder:
            shots = view3d.snapshots(self.scene3d(), Path(folder), window_size=(900, 720))
            return "".join(_img(p.read_bytes(), p.stem) for p in shots)


def render_report(result: RenderResult, *, pictures: bool = True) -> str:
    """Return the HTML report of one render in memory (``SECTIONS``).

    ``pictures=False`` leaves out the 3D pictures (no OpenGL needed).
    """
    figures = _Figures(result=result, pictures=pictures)
    return _render_page(result.scene, result.metrics, figures)


def folder_report(folder: Path, *, pictures: bool = True) -> str:
    """Return the HTML report of a ``twin render`` folder, read as it is (``SECTIONS``).

    The metrics are the folder's ``metrics.json``, the scene its ``scene.resolved.yaml``
    (loaded, not rendered), the plots and pictures its own (:class:`_Figures`).

    Raises
    ------
    InputError
        When the folder lacks ``scene.resolved.yaml`` or ``metrics.json``.
    """
    from twin.scene.load import load_scene

    scene_file, metrics_file = folder / "scene.resolved.yaml", folder / "metrics.json"
    if not (scene_file.is_file() and metrics_file.is_file()):
        msg = (
            f"{folder}: expected a twin render folder (scene.resolved.yaml and metrics.json, "
            "or population.json) or a twin compare folder (compare.json), found none of them"
        )
        raise InputError(msg)
    metrics = json.loads(read_text(metrics_file, what="metrics"))
    figures = _Figures(folder=folder, pictures=pictures)
    return _render_page(load_scene(scene_file), metrics, figures)


def _render_page(scene: Scene, metrics: dict[str, Any], figures: _Figures) -> str:
    """Return the report page of a render's ``scene`` and ``metrics``, with ``figures``."""
    from twin.analysis.check import rule_rows

    roi, eng = metrics["roi"], metrics["engine"]
    low, high = scene.dose.fluence_window_j_cm2
    channels = ", ".join(
        f"{c} ({scene.emitters.wavelength_nm.get(c, 0):g} nm, drive {scene.drive.get(c, 0):g}, "
        f"{int((scene.emitters.channel == c).sum())} LEDs)"
        for c in scene.emitters.channels
    )
    body = ["<h2>Scene</h2>"]
    body.append(
        _table(
            None,
            [
                ["scene", scene.name],
                ["description", scene.source.description or ""],
                ["target", scene.source.target.mesh],
                ["emitters", f"{len(scene.emitters)}: {channels}"],
                ["exposure", f"{scene.exposure_s:g} s"],
                ["dose window", f"{low:g}-{high:g} J/cm²"],
                ["treated area", f"{roi['area_cm2']:.1f} cm²"],
                ["engine", f"{eng['backend']}: {eng['rays_cast']} shadow rays "
                           f"({eng.get('rays_cleared', 0)} more cleared by shafts), "
                           f"{eng['sample_points']} skin points"],
                ["mesh", _resolution(eng["resolution"])],
            ],
        )
    )  # fmt: skip
    body.append("<h2>Rules</h2>")
    rows = rule_rows(scene.name, scene.checks.rules, [metrics])
    if rows:
        body.append(
            _table(
                ["metric", "bound", "value", "verdict"],
                [
                    [
                        r.metric,
                        r.expected,
                        "-" if r.now is None else r.now,
                        f"<span class='{'pass' if r.passed else 'fail'}'>{r.verdict}</span>",
                    ]
                    for r in rows
                ],
            )
        )
        failed = sum(not r.passed for r in rows)
        body.append(f"<p>{len(rows) - failed} of {len(rows)} rules hold.</p>")
    else:
        body.append("<p>The scene sets no rules (<code>checks:</code>).</p>")
    body.append("<h2>Metrics</h2>")
    entries = [*roi["channels"].items(), ("total", roi["total"])]
    body.append(
        _table(
            ["channel", "E mean mW/cm²", "E max mW/cm²", "H mean J/cm²", "H p5 J/cm²", "U0",
             "CV", "in window"],
            [
                [name, m["irradiance_mw_cm2"]["mean"], m["irradiance_mw_cm2"]["max"],
                 m["fluence_j_cm2"]["mean"], m["fluence_j_cm2"]["p5"],
                 m["u0_min_over_mean"] if m["u0_min_over_mean"] is not None else "-",
                 m["cv"] if m["cv"] is not None else "-",
                 f"{100 * m['in_window_area_fraction']:.1f} %"]
                for name, m in entries
            ],
        )
    )  # fmt: skip
    if metrics.get("detectors"):
        body.append(
            "<p>Detectors (the direct light on each instrument's plane, as its response and "
            "aperture read it):</p>"
        )
        body.append(
            _table(
                ["detector", "points", "mean mW/cm²", "peak mW/cm²", "min / mean", "CV"],
                [[name, d["points"], d["mean_mw_cm2"], d["peak_mw_cm2"],
                  "-" if d["uniformity_min_over_mean"] is None else d["uniformity_min_over_mean"],
                  "-" if d["cv"] is None else d["cv"]]
                 for name, d in metrics["detectors"].items()],
            )
        )  # fmt: skip
    body.append("<h2>Regions</h2>")
    window = scene.dose.fluence_window_j_cm2
    treated = {
        name
        for name in metrics.get("regions", {})
        if (scene.treat is None or name in scene.treat) and name not in scene.exclude
    }
    body.append(
        _table(
            ["region", "area cm²", "H mean J/cm²", "H min J/cm²", "H max J/cm²", "in window",
             "status"],
            [
                [name, r["area_cm2"], r["total"]["fluence_j_cm2"]["mean"],
                 r["total"]["fluence_j_cm2"]["min"], r["total"]["fluence_j_cm2"]["max"],
                 f"{100 * r['total']['in_window_area_fraction']:.1f} %",
                 region_status(r["total"]["fluence_j_cm2"]["mean"], window,
                               treated=name in treated)]
                for name, r in metrics.get("regions", {}).items()
            ],
        )
    )  # fmt: skip
    if "interreflection" in metrics:
        body += _interreflection_section(metrics, figures)
    if "tissue" in metrics:
        body += _tissue_section(scene, metrics, figures)
    body.append("<h2>Eye safety</h2>")
    eye = metrics["eye_safety"]
    body += [f"<p class='{'pass' if ok else 'fail'}'>{html.escape(line)}</p>"
             for line, ok in eye_lines(eye)]  # fmt: skip
    if eye["evaluated"]:
        body.append(
            _table(
                ["hazard", "judged on", "value", "limit", "IEC 62471 risk group"],
                [
                    ["IR-eye", eye["judged_on"],
                     f"{eye['ir_irradiance_mw_cm2']['max']:.3g} mW/cm²",
                     f"{eye['ir_limit_mw_cm2']:.3g} mW/cm²", eye["risk_group"]["ir_eye"]],
                    [f"blue light ({eye['blue_light']['method']})", eye["judged_on"],
                     *_blue_value_and_limit(eye), eye["risk_group"]["blue_light"]],
                ],
            )
        )  # fmt: skip
    heat = metrics["heating"]
    body.append(
        f"<p class='{'pass' if heat['roi']['within_limit'] else 'fail'}'>absorbed power "
        f"density (1 - R)·E on the treated skin: max "
        f"{heat['roi']['absorbed_mw_cm2']['max']:.3g} mW/cm², heating guard "
        f"{heat['limit_mw_cm2']:g} mW/cm²</p>"
    )
    body.append("<h2>Pictures</h2>")
    if figures.pictures:
        body.append(f"<div class='pictures'>{figures.views()}</div>")
    else:
        body.append("<p>Left out (no 3D pictures asked for).</p>")
    body.append("<h2>Plots</h2>")
    body.append(figures.missing_plots_note())
    for name in figures.plot_names():
        if name not in (*TISSUE_PLOTS, *INTERREFLECTION_PLOTS):  # those are in their section
            body.append(figures.plot(name) or "")
    return _page(f"twin report: {scene.name}", body)


def interreflection_surfaces(metrics: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """Name each reflecting surface of a render, its material and its reflectance per channel.

    Parameters
    ----------
    metrics : dict
        ``metrics.json`` content with an ``interreflection`` block.

    Returns
    -------
    list of (surface, material, reflectance)
        ``skin``, ``interior`` (with a carrier), ``occluder 1`` ...: the material as the scene
        gives it (the skin's: ``type II``, ``explicit layers``, ``custom mix`` from the skin
        model, ``NIST mean`` without a ``tissue:`` section; ``as given`` for numbers) and the
        reflectance used per channel (the skin's an area mean).
    """
    block = metrics["interreflection"]
    materials, reflectance = block["materials"], block["reflectance"]
    tissue = metrics.get("tissue")
    if tissue is None:
        skin = "NIST mean"
    else:
        kind = tissue["skin_type"]
        skin = {"layers": "explicit layers", "custom": "custom mix"}.get(kind, f"type {kind}")
    specs = {"skin": materials["target"], "interior": materials.get("interior")}
    specs |= {f"occluders[{i}]": m for i, m in enumerate(materials.get("occluders", []))}
    out = []
    for key, values in reflectance.items():
        spec = specs.get(key)
        if spec == "skin":
            material = skin
        else:
            material = spec if isinstance(spec, str) else "as given"
        name = key
        if key.startswith("occluders["):
            name = f"occluder {int(key[len('occluders[') : -1]) + 1}"
        out.append((name, material, dict(values)))
    return out


def _interreflection_section(metrics: dict[str, Any], figures: _Figures) -> list[str]:
    """Return the "Inter-reflection" section of a render whose returned light was solved.

    The surfaces, their materials and reflectances; the mean direct, returned (indirect) and
    total irradiance over the treated skin per channel and total, with the gain; the maps of
    each unrolled (:func:`twin.views.plots.interreflection`) and, with pictures, on the
    skin from the front on one colour scale.
    """
    block, roi = metrics["interreflection"], metrics["roi"]
    channels = list(roi["channels"])
    body = [
        f"<h2>{INTERREFLECTION_SECTION}</h2>",
        "<p>Skin and device are not black: each surface returns part of the light that "
        "reaches it (diffusely, by its reflectance), and that light lands on the others. The "
        "irradiance and fluence everywhere in this report are all the light: the direct light "
        "straight from the LEDs and the indirect light the surfaces return. Solved by "
        f"radiosity on {block['patches']} patches of about {block['patch_mm']:g} mm "
        f"({block['form_factor_nonzeros']:,} non-zero form factors) in "
        f"{block['seconds']:.1f} s.</p>",
    ]
    body.append(
        _table(
            ["surface", "material", *(f"reflectance {c}" for c in channels)],
            [[name, f"skin ({material})" if name == "skin" and material != "as given"
              else material, *(r.get(c, "-") for c in channels)]
             for name, material, r in interreflection_surfaces(metrics)],
        )
    )  # fmt: skip
    rows = []
    for name, m in [*roi["channels"].items(), ("total", roi["total"])]:
        total, direct = m["irradiance_mw_cm2"], m["direct_irradiance_mw_cm2"]
        gain = m.get("interreflection_gain")
        rows.append(
            [name, direct["mean"], total["mean"] - direct["mean"], total["mean"],
             "-" if gain is None else gain, direct["p5"], total["p5"]]
        )  # fmt: skip
    body.append(
        "<p>Irradiance over the treated skin (area-weighted): direct, indirect (returned by "
        "skin and device) and total; the gain is the mean total over the mean direct.</p>"
    )
    body.append(
        _table(
            ["channel", "E direct mW/cm²", "E indirect mW/cm²", "E total mW/cm²", "gain",
             "E p5 direct mW/cm²", "E p5 total mW/cm²"],
            rows,
        )
    )  # fmt: skip
    body += [figures.plot(name) or "" for name in INTERREFLECTION_PLOTS]
    if figures.pictures:
        from twin.views import view3d

        scene3d = figures.scene3d()
        _, shared, _ = view3d.map_label("irradiance_mw_cm2", scene3d)
        indirect = scene3d.maps["irradiance_indirect_mw_cm2"]
        scales = {
            "irradiance_direct_mw_cm2": shared,
            "irradiance_indirect_mw_cm2": (0.0, float(indirect.max()) or 1.0),
            "irradiance_mw_cm2": shared,
        }
        images = []
        with tempfile.TemporaryDirectory() as folder:
            for quantity, clim in scales.items():
                (shot,) = view3d.snapshots(
                    scene3d, Path(folder) / quantity, views=("front",), quantity=quantity,
                    clim=clim, device=False, window_size=(900, 720),
                )  # fmt: skip
                images.append(_img(shot.read_bytes(), quantity))
        body.append(
            "<p>Direct, indirect and total irradiance (all channels) on the skin from the "
            "front, the device left out: the direct and the total on one colour scale, the "
            "indirect on its own.</p><div class='pictures three'>" + "".join(images) + "</div>"
        )
    return body


def _tissue_section(scene: Scene, metrics: dict[str, Any], figures: _Figures) -> list[str]:
    """Return the "Light in tissue" section of a render with a ``tissue:`` section.

    The skin and what made its kernels; each channel's skin reflectance by the model beside
    the NIST mean at its spectrum; the mean dose over the treated skin at the surface and at
    each depth, per channel and total; the depth targets; the depth plots.
    """
    tissue, roi = metrics["tissue"], metrics["roi"]
    low, high = scene.dose.fluence_window_j_cm2
    skin = html.escape(skin_label(tissue["skin_type"]))
    spread = tissue["model"].get("lateral_spread_mm") or {}
    blur = (
        "each channel's maps blurred over the skin by its lateral spread in the tissue"
        if spread
        else "lateral spread in the tissue not modelled (tissue.lateral_spread_mm)"
    )
    body = [
        f"<h2>{TISSUE_SECTION}</h2>",
        f"<p>{skin}: the fluence rate under each skin point from its irradiance, through depth "
        f"kernels of the skin below; {blur}.</p>",
    ]
    model = {k: v for k, v in tissue["model"].items() if k != "lateral_spread_mm"}
    if spread:
        model["lateral spread"] = ", ".join(f"{c} {s:g} mm" for c, s in spread.items())
    body.append(_table(None, [[k.replace("_", " "), v] for k, v in model.items()]))
    body.append(
        "<p>Skin reflectance (specular and remitted) by the model at normal incidence, "
        "area-weighted over the treated skin, beside the NIST in-vivo mean over each "
        "channel's spectrum.</p>"
    )
    body.append(
        _table(
            ["channel", "wavelength nm", "skin reflectance, model",
             "NIST mean skin reflectance"],
            [[c, "-" if (s := scene.emitters.spectra.get(c)) is None else f"{s.peak_nm:g}", r,
              "-" if s is None else skin_reflectance(s)]
             for c, r in tissue["reflectance"].items()],
        )
    )  # fmt: skip
    channels = list(tissue["roi"]["channels"])
    total = tissue["roi"]["total"]
    p5 = fluence_j_cm2(total["fluence_rate_p5_mw_cm2"], scene.exposure_s)
    rows: list[list[Any]] = [
        ["surface", *(roi["channels"][c]["fluence_j_cm2"]["mean"] for c in channels),
         roi["total"]["fluence_j_cm2"]["mean"], roi["total"]["fluence_j_cm2"]["p5"],
         roi["total"]["irradiance_mw_cm2"]["mean"],
         f"{100 * roi['total']['in_window_area_fraction']:.1f} %"]
    ]  # fmt: skip
    for i, z in enumerate(tissue["depths_mm"]):
        at_depth = [tissue["roi"]["channels"][c]["fluence_mean_j_cm2"][i] for c in channels]
        rows.append(
            [f"{z:g} mm", *at_depth, total["fluence_mean_j_cm2"][i], float(p5[i]),
             total["fluence_rate_mean_mw_cm2"][i],
             f"{100 * total['in_window_area_fraction'][i]:.1f} %"]
        )  # fmt: skip
    body.append(
        f"<p>Dose at depth over the treated skin (area-weighted; the surface row is the "
        f"irradiance and fluence on the skin), in window: {low:g}-{high:g} J/cm².</p>"
    )
    body.append(
        _table(
            ["depth", *(f"H {c} J/cm²" for c in channels), "H total J/cm²", "H p5 J/cm²",
             "φ total mW/cm²", "in window"],
            rows,
        )
    )  # fmt: skip
    targets = tissue["targets"]
    if targets:
        names = list(next(iter(targets.values()))["channels"])
        body.append(
            "<p>Depth targets: the dose averaged over each band of depth, over the target's "
            "region (<code>roi</code>: the treated skin), against its window.</p>"
        )
        body.append(
            _table(
                ["target", "depth mm", "window J/cm²", "H mean J/cm²", "H p5 J/cm²", "H min J/cm²",
                 "φ mean mW/cm²", "in window", *(f"H {c} J/cm²" for c in names)],
                [[name, "{:g}-{:g}".format(*t["depth_mm"]),
                  "{:g}-{:g}".format(*t["fluence_window_j_cm2"]), t["fluence_mean_j_cm2"],
                  t["fluence_p5_j_cm2"], t["fluence_min_j_cm2"], t["fluence_rate_mean_mw_cm2"],
                  f"{100 * t['in_window_area_fraction']:.1f} %", *t["channels"].values()]
                 for name, t in targets.items()],
            )
        )  # fmt: skip
    else:
        body.append("<p>The scene sets no depth targets (<code>tissue.targets</code>).</p>")
    body += [figures.plot(name) or "" for name in TISSUE_PLOTS]
    return body


def _difference_pictures(path: Path, a: str, b: str) -> str:
    """Pictures of ``difference.ply``: b's fluence minus a's on the skin, front and left."""
    from twin.views import view3d

    mesh = view3d.read_ply(path)
    data = mesh.metadata["_ply_raw"]["vertex"]["data"]
    with tempfile.TemporaryDirectory() as folder:
        shots = view3d.map_snapshots(
            np.asarray(mesh.vertices),
            np.asarray(mesh.faces),
            np.asarray(data["difference_j_cm2"], dtype=np.float64),
            Path(folder),
            title=f"{b} - {a} (J/cm²)",
            views=("front", "left"),
        )
        images = "".join(_img(p.read_bytes(), p.stem) for p in shots)
    return (
        f"<p>Fluence of {html.escape(b)} minus {html.escape(a)} on the skin (median over the "
        f"people): red where {html.escape(b)} gives more.</p><div class='pictures'>{images}</div>"
    )


def compare_report(folder: Path, *, pictures: bool = True) -> str:
    """Return the side-by-side HTML report of a ``twin compare`` folder (``COMPARE_SECTIONS``).

    With ``pictures``, it shows the difference map on the skin from ``difference.ply``.
    """
    data = json.loads((folder / "compare.json").read_text())
    a, b = data["designs"]
    body = [
        f"<p>{html.escape(a)} versus {html.escape(b)} on {len(data['people'])} "
        f"anatomies; dose window {data['window_j_cm2'][0]:g}-{data['window_j_cm2'][1]:g} "
        "J/cm².</p>",
        "<h2>Verdict</h2>",
        f"<p>{html.escape(data['verdict'])}</p>",
        "<h2>Metrics</h2>",
    ]

    from twin.analysis.compare import metric_rows, spread_rows

    body.append(_table(*metric_rows(data)))
    if (spread := spread_rows(data)) is not None:
        body.append("<p>Spread over the people (median, 5th-95th percentile; not judged):</p>")
        body.append(_table(*spread))
    gain = data.get("interreflection_gain") or []
    if gain:

        def side(s: dict | None) -> str:
            if s is None:
                return "- (not solved)"
            return f"{s['median']:.2f}" + (f" ({s['p5']:.2f}-{s['p95']:.2f})" if "p5" in s else "")

        body.append(f"<h2>{GAIN_SECTION}</h2>")
        body.append(
            "<p>The light skin and device return: the mean irradiance over the treated skin "
            "(all the light) over the mean direct irradiance, per channel and total (median, "
            "and 5th-95th percentile, over the people). Not judged: more returned light is "
            "not better in itself.</p>"
        )
        body.append(
            _table(["channel", a, b], [[g["channel"], side(g["a"]), side(g["b"])] for g in gain])
        )
    body.append("<h2>Distributions</h2>")
    if importlib.util.find_spec("matplotlib") is not None:
        from twin.views import plots

        body.append(_png(plots.compare_distributions(data)))
    else:
        body.append(
            "<p>Plot left out: it needs matplotlib (<code>pip install 'twin[viz]'</code>).</p>"
        )
    if pictures and (folder / "difference.ply").is_file():
        body.append(_difference_pictures(folder / "difference.ply", a, b))
    body.append("<h2>Regions</h2>")
    body.append(
        _table(
            ["region", f"{a} J/cm²", f"{b} J/cm²"],
            [[k, v[0], v[1]] for k, v in data["region_mean_fluence_j_cm2"].items()],
        )
    )
    return _page(f"twin compare: {a} versus {b}", body)


def population_report(folder: Path, *, pictures: bool = True) -> str:
    """Return the HTML report of a ``twin render`` population folder (``POPULATION_SECTIONS``).

    It shows the scene's rules over the members (worst member or percentile, as each rule
    says), the spread of the headline metrics, every member, and the member with the least
    treated area in the window in full (its plots, and pictures).
    """
    from twin.analysis.check import rule_rows
    from twin.scene.load import load_scene

    data = json.loads((folder / "population.json").read_text())
    names = [m["name"] for m in data["members"]]
    runs = [json.loads((folder / n / "metrics.json").read_text()) for n in names]
    first = load_scene(folder / safe_name(names[0]) / "scene.resolved.yaml")
    body = [
        f"<p>{len(names)} people of a seeded population, each wearing the same design "
        f"({html.escape(first.name.rsplit('-', 1)[0])}).</p>",
        "<h2>Rules</h2>",
    ]
    rows = rule_rows(first.name, first.checks.rules, runs)
    if rows:
        body.append(
            _table(
                ["metric", "bound", "value", "verdict"],
                [[r.metric, r.expected, "-" if r.now is None else r.now,
                  f"<span class='{'pass' if r.passed else 'fail'}'>{r.verdict}</span>"]
                 for r in rows],
            )
        )  # fmt: skip
        body.append(f"<p>{sum(r.passed for r in rows)} of {len(rows)} rules hold.</p>")
    else:
        body.append("<p>The scene sets no rules (<code>checks:</code>).</p>")
    body.append("<h2>Spread</h2>")
    body.append(
        _table(
            ["metric", "min", "p5", "median", "p95", "max"],
            [[k, q["min"], q["p5"], q["median"], q["p95"], q["max"]]
             for k, q in data["summary"].items()],
        )
    )  # fmt: skip
    body.append("<h2>Members</h2>")
    keys = list(data["summary"])
    body.append(
        _table(
            ["member", "who", *keys],
            [[m["name"], m["label"], *("-" if m["metrics"][k] is None else m["metrics"][k]
                                        for k in keys)]
             for m in data["members"]],
        )
    )  # fmt: skip
    body.append("<h2>Worst member</h2>")
    worst = min(
        range(len(names)),
        key=lambda i: runs[i]["roi"]["total"]["in_window_area_fraction"],
    )
    share = runs[worst]["roi"]["total"]["in_window_area_fraction"]
    body.append(
        f"<p>{html.escape(names[worst])} ({html.escape(data['members'][worst]['label'])}): "
        f"{100 * share:.1f} % of the treated skin in the window, the least of all.</p>"
    )
    figures = _Figures(folder=folder / safe_name(names[worst]), pictures=pictures)
    body.append(figures.missing_plots_note())
    body += [figures.plot(name) or "" for name in ("dose_area", "depth_dose")]
    if pictures:
        body.append(f"<div class='pictures'>{figures.views()}</div>")
    return _page(f"twin report: population of {len(names)}", body)


def write_report(source: Path, out_dir: Path, *, pictures: bool = True) -> Path:
    """Write ``out_dir/report.html`` for a scene file or a result folder.

    ``source`` is a ``twin render`` folder, a population's ``twin render`` folder or a ``twin
    compare`` folder (each read as it is, nothing rendered again), or a scene file (rendered
    first, a population's members too).

    Returns
    -------
    Path
        The report written.
    """
    from twin.analysis.executor import executor_for
    from twin.engine.cache import TransferCache
    from twin.pipeline.population import render_population
    from twin.pipeline.render import render
    from twin.scene import list_members, load_member

    source = Path(source)
    check_writable(out_dir / "report.html", name="out_dir")
    if (source / "compare.json").is_file():
        text = compare_report(source, pictures=pictures)
    elif (source / "population.json").is_file():
        text = population_report(source, pictures=pictures)
    elif source.is_dir():
        text = folder_report(source, pictures=pictures)
    elif source.is_file():
        members = list_members(source)
        if len(members) == 1:
            scene = load_member(members[0])
            text = render_report(render(scene, cache=TransferCache()), pictures=pictures)
        else:  # render the members as twin render would (with plots), then report that folder
            with (
                tempfile.TemporaryDirectory(prefix="twin-report-") as folder,
                executor_for(len(members)) as executor,
            ):
                render_population(
                    members, Path(folder), executor=executor, cache=TransferCache(),
                    each=_member_plots, each_owned=["plots/*"],
                )  # fmt: skip
                text = population_report(Path(folder), pictures=pictures)
    else:
        msg = f"{source}: no such scene file or result folder"
        raise InputError(msg)
    with publish(out_dir, name="out_dir", owned=["report.html"]) as folder:
        write_atomic({folder / "report.html": text}, name="out_dir")
    return out_dir / "report.html"


def _resolution(block: dict[str, Any]) -> str:
    """Say whether the skin mesh resolves the LEDs' spots (``engine.resolution``)."""
    text = f"edges {block['edge_mm_p95']:.2g} mm (95th percentile)"
    limit = block.get("max_edge_mm")
    if limit is None:
        return text
    verdict = "resolve" if block["resolved"] else "do not resolve"
    return f"{text}: they {verdict} the LEDs' spots (edges up to {limit:.2g} mm would)"


def _member_plots(result: RenderResult, folder: Path) -> None:
    """Write a population member's plots into its folder, where matplotlib is installed."""
    if importlib.util.find_spec("matplotlib") is not None:
        from twin.views.plots import write_plots

        write_plots(result, folder / "plots")


def _blue_value_and_limit(eye: dict[str, Any]) -> tuple[str, str]:
    """Return the blue-light value judged and its limit for the exposure, as text with units."""
    blue, exposure_s = eye["blue_light"], eye["exposure_s"]
    if blue["radiance_w_m2_sr"] is not None:
        limit = blue_radiance_limit_w_m2_sr(exposure_s)
        return f"{blue['radiance_w_m2_sr']:.3g} W/m²/sr", f"{limit:.3g} W/m²/sr"
    value = eye["blue_weighted_irradiance_mw_cm2"]["max"]
    return f"{value:.3g} mW/cm²", f"{blue_irradiance_limit_mw_cm2(exposure_s):.3g} mW/cm²"
