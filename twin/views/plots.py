"""Plots of a render (matplotlib, off-screen): what an engineer reads a dose map by.

- ``dose_area``: the dose-area histogram, like a radiotherapy DVH: the fraction of the treated
  area receiving at least each fluence, per channel and total (and the total of the direct
  light alone, where inter-reflection was solved), and per region; the dose window shaded.
- ``standoff``: on-axis irradiance of one LED of each lit channel against its distance to
  the skin, with the layout's gaps marked.
- ``fit``: histograms of the LED-skin gap along each axis and of the incidence angle.
- ``regions``: mean fluence per region against the window.
- ``flat_map``: the fluence on the skin unrolled into 2D through the layout's own chart (or an
  equal-area projection about the skin's mean normal), drawn on the mesh's own triangles.

Where inter-reflection was solved (:data:`INTERREFLECTION_PLOTS`):

- ``interreflection``: the direct, indirect (returned by skin and device) and total
  irradiance, all channels, unrolled as ``flat_map`` unrolls the fluence.

With light in tissue (the scene's ``tissue:`` section, :data:`TISSUE_PLOTS`):

- ``depth_dose``: mean fluence against depth over the treated skin, per channel and total,
  from the surface down, the total's 5th percentile, the window and the target bands; below
  it, each lit channel's depth kernel for the six Fitzpatrick skin types.
- ``depth_area``: the dose-area histogram at each depth.

``write_plots`` writes those that apply (:func:`plot_names`) as PNG files. Needs matplotlib
(``pip install 'twin[viz]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from twin.errors import InputError
from twin.units import fluence_j_cm2

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from twin.pipeline.render import RenderResult
    from twin.tissue.depth import TissueMaps

#: The plots of light in tissue, made only for a scene with a ``tissue:`` section.
TISSUE_PLOTS = ("depth_dose", "depth_area")
#: The plots of the light skin and device return, made only where inter-reflection was solved.
INTERREFLECTION_PLOTS = ("interreflection",)
PLOTS = ("dose_area", "standoff", "fit", "regions", "flat_map", *INTERREFLECTION_PLOTS,
         *TISSUE_PLOTS)  # fmt: skip
#: Depths at which ``depth_dose`` draws the skin types' kernels, mm.
KERNEL_DEPTHS_MM = np.linspace(0.0, 8.0, 161)


def plot_names(result: RenderResult) -> list[str]:
    """Return the plots of :data:`PLOTS` that apply to a render.

    The depth plots need light in tissue, the inter-reflection plot the returned light solved.
    """
    bounce = bool(result.dose.direct_irradiance_mw_cm2)
    return [
        p
        for p in PLOTS
        if (result.tissue is not None or p not in TISSUE_PLOTS)
        and (bounce or p not in INTERREFLECTION_PLOTS)
    ]


def dose_area_curve(
    fluence_j_cm2: NDArray[np.float64], areas_mm2: NDArray[np.float64], levels_j_cm2
) -> NDArray[np.float64]:
    """Fraction of the area whose fluence is at least each level.

    Parameters
    ----------
    fluence_j_cm2, areas_mm2 : (k,) float64
    levels_j_cm2 : (m,) float64

    Returns
    -------
    (m,) float64
        Non-increasing in the level; 1 at or below the minimum fluence.
    """
    order = np.argsort(fluence_j_cm2)
    h, a = fluence_j_cm2[order], areas_mm2[order]
    above = np.concatenate([np.cumsum(a[::-1])[::-1], [0.0]]) / a.sum()
    return above[np.searchsorted(h, np.asarray(levels_j_cm2), side="left")]


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def dose_area(result: RenderResult) -> Figure:
    """Dose-area histograms: per channel and total (left), per region (right)."""
    low, high = result.scene.dose.fluence_window_j_cm2
    roi, areas = result.roi, result.samples.areas_mm2
    total = result.dose.fluence_j_cm2()
    levels = np.linspace(0.0, max(1.5 * high, float(total[roi].max())), 400)
    fig = _figure(11.0, 4.5)
    left, right = fig.subplots(1, 2, sharey=True)
    for channel in result.dose.channels:
        h = result.dose.fluence_j_cm2(channel)[roi]
        if not h.any():  # a channel the mode leaves off
            continue
        left.plot(levels, dose_area_curve(h, areas[roi], levels), label=channel)
    left.plot(levels, dose_area_curve(total[roi], areas[roi], levels), "k", lw=2, label="total")
    if result.dose.direct_irradiance_mw_cm2:
        direct = fluence_j_cm2(
            np.sum(list(result.dose.direct_irradiance_mw_cm2.values()), axis=0),
            result.dose.exposure_s,
        )[roi]
        curve = dose_area_curve(direct, areas[roi], levels)
        left.plot(levels, curve, "k--", lw=1.2, label="total, direct light only")
    for name, mask in result.samples.regions.items():
        treated = mask & roi
        if treated.any():
            right.plot(levels, dose_area_curve(total[treated], areas[treated], levels), label=name)
    for ax, title in ((left, "treated skin"), (right, "per region (total)")):
        ax.axvspan(low, high, color="tab:green", alpha=0.12, label="dose window")
        ax.set_xlabel("fluence H (J/cm²)")
        ax.set_title(f"{title}: area receiving at least H")
        ax.set_xlim(levels[0], levels[-1])
        ax.grid(alpha=0.3)
    left.set_ylabel("fraction of area")
    left.set_ylim(0.0, 1.02)
    left.legend(fontsize=8)
    right.legend(fontsize=7, ncol=2)
    return fig


def standoff(result: RenderResult) -> Figure:
    """Plot the on-axis irradiance of one LED per lit channel against the distance to the skin.

    Each lit channel's LED is at its drive level ``d``, facing the skin: ``E = d P I(0) / h^2``
    (mW/cm2, ``I`` per mW); the median and 5th-95th percentile of the layout's axial gaps are
    shaded.
    """
    scene = result.scene
    emitters = scene.emitters
    h = np.linspace(1.0, 60.0, 300)
    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    for channel in emitters.channels:
        drive = scene.drive.get(channel, 0.0)
        if drive <= 0:
            continue
        i = int(np.flatnonzero(emitters.channel == channel)[0])
        profile = emitters.profiles[emitters.profile_index[i]]
        on_axis = float(profile.intensity_per_mw(np.array([1.0]))[0])
        e = drive * emitters.power_mw[i] * on_axis / h**2 * 100.0  # mm^-2 -> cm^-2
        ax.plot(h, e, label=f"{channel} ({emitters.power_mw[i] * drive:g} mW)")
    gaps = result.gap_mm[np.isfinite(result.gap_mm)]
    if gaps.size:
        lo, mid, hi = np.percentile(gaps, [5, 50, 95])
        ax.axvspan(lo, hi, color="tab:gray", alpha=0.15, label="LED gaps, 5th-95th %")
        ax.axvline(mid, color="tab:gray", ls="--", label=f"median gap {mid:.1f} mm")
    ax.set_yscale("log")
    ax.set_xlabel("distance along the LED axis to the skin (mm)")
    ax.set_ylabel("on-axis irradiance of one LED (mW/cm²)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def fit(result: RenderResult) -> Figure:
    """Histograms of the LED-skin gap along each axis and of the incidence angle."""
    fig = _figure(10.0, 4.0)
    left, right = fig.subplots(1, 2)
    hit = np.isfinite(result.gap_mm)
    left.hist(result.gap_mm[hit], bins=30, color="tab:blue")
    left.set_xlabel("gap along the LED axis to the skin (mm)")
    left.set_ylabel("LEDs")
    left.set_title(f"gap ({int((~hit).sum())} axes miss the skin)")
    right.hist(result.incidence_deg[hit], bins=np.arange(0.0, 91.0, 5.0), color="tab:orange")
    right.set_xlabel("incidence on the skin (degrees from the normal)")
    right.set_title("incidence")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def regions(result: RenderResult) -> Figure:
    """Mean fluence per region (total), with the dose window."""
    low, high = result.scene.dose.fluence_window_j_cm2
    h, areas = result.dose.fluence_j_cm2(), result.samples.areas_mm2
    names, means = [], []
    for name, mask in result.samples.regions.items():
        if mask.any():
            names.append(name)
            means.append(float(np.average(h[mask], weights=areas[mask])))
    fig = _figure(8.0, 0.8 + 0.32 * len(names))
    ax = fig.subplots()
    y = np.arange(len(names))
    colours = ["tab:green" if low <= m <= high else "tab:red" for m in means]
    ax.barh(y, means, color=colours)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.axvspan(low, high, color="tab:green", alpha=0.12)
    ax.set_xlabel("mean fluence (J/cm²); green band: dose window")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _chart(result: RenderResult):
    """Return the layout's chart, or an equal-area one about the skin's mean normal."""
    from twin.devices.carriers import Chart

    layout = result.scene.layout
    if layout is not None:
        return layout.carrier.chart
    target = result.scene.target
    v = target.vertices_mm
    axis = target.vertex_normals.mean(axis=0)
    axis /= max(float(np.linalg.norm(axis)), 1e-12)
    size = float(np.linalg.norm(np.ptp(v, axis=0)))
    return Chart("radial", v.mean(axis=0) - size * axis, axis, size)


def _per_vertex(result: RenderResult, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return a map of the samples per vertex of the target (centroid samples: faces' mean).

    Parameters
    ----------
    values : (k,) float64
        One value per sample point.

    Returns
    -------
    (v,) float64
    """
    target = result.scene.target
    if result.scene.samples == "vertices":
        return values
    per_vertex = np.zeros(len(target.vertices_mm))
    counts = np.zeros(len(target.vertices_mm))
    for corner in range(3):
        np.add.at(per_vertex, target.faces[:, corner], values)
        np.add.at(counts, target.faces[:, corner], 1.0)
    return per_vertex / np.maximum(counts, 1.0)


def _unrolled(result: RenderResult):
    """Return the target's triangles unrolled into 2D by :func:`_chart` (a Triangulation, mm)."""
    from matplotlib.tri import Triangulation

    target = result.scene.target
    uv = _chart(result).to_2d(target.vertices_mm)
    return Triangulation(uv[:, 0], uv[:, 1], target.faces)


def flat_map(result: RenderResult) -> Figure:
    """Plot the total fluence on the skin, unrolled into 2D on the mesh's own triangles."""
    from matplotlib.colors import BoundaryNorm

    low, high = result.scene.dose.fluence_window_j_cm2
    per_vertex = _per_vertex(result, result.dose.fluence_j_cm2())
    fig = _figure(6.5, 6.0)
    ax = fig.subplots()
    top = max(2.0 * high, float(per_vertex.max()))
    bounds = [0.0, 0.5 * low, low, 0.5 * (low + high), high, 0.5 * (high + top), top]
    norm = BoundaryNorm(bounds, 256)
    art = ax.tripcolor(_unrolled(result), per_vertex, shading="gouraud", cmap="viridis", norm=norm)
    bar = fig.colorbar(art, ax=ax, ticks=bounds)
    bar.set_label(f"fluence (J/cm²); window {low:g}-{high:g}")
    ax.set_aspect("equal")
    ax.set_xlabel("chart x (mm)")
    ax.set_ylabel("chart y (mm)")
    ax.set_title(f"{result.scene.name}: total fluence, unrolled")
    return fig


def interreflection(result: RenderResult) -> Figure:
    """Plot the direct, indirect and total irradiance (all channels) on the skin, unrolled.

    Unrolled as :func:`flat_map`; the direct and the total on one colour scale, the indirect
    (total minus direct: the light skin and device return) on its own. Each panel's title
    gives its mean over the treated skin.

    Raises
    ------
    InputError
        Naming the scene if inter-reflection was not solved.
    """
    dose = result.dose
    if not dose.direct_irradiance_mw_cm2:
        msg = (
            f"{result.scene.name}: the inter-reflection plot needs the returned light solved "
            "(engine.interreflection), found direct light only"
        )
        raise InputError(msg)
    total = dose.total_irradiance_mw_cm2
    direct = np.sum(list(dose.direct_irradiance_mw_cm2.values()), axis=0)
    maps = {"direct": direct, "indirect (returned)": total - direct, "total": total}
    roi, areas = result.roi, result.samples.areas_mm2
    triangles = _unrolled(result)
    shared = float(_per_vertex(result, total).max()) or 1.0
    fig = _figure(15.0, 5.2)
    for ax, (name, values) in zip(fig.subplots(1, 3), maps.items(), strict=True):
        per_vertex = _per_vertex(result, values)
        top = shared if name != "indirect (returned)" else float(per_vertex.max()) or 1.0
        art = ax.tripcolor(triangles, per_vertex, shading="gouraud", cmap="viridis",
                           vmin=0.0, vmax=top)  # fmt: skip
        fig.colorbar(art, ax=ax, shrink=0.85).set_label(f"{name} irradiance (mW/cm²)")
        mean = float(np.average(values[roi], weights=areas[roi])) if roi.any() else 0.0
        ax.set_title(f"{name}: mean {mean:.3g} mW/cm² on the treated skin", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlabel("chart x (mm)")
    fig.axes[0].set_ylabel("chart y (mm)")
    fig.suptitle(f"{result.scene.name}: irradiance, all channels, unrolled")
    return fig


def skin_label(skin_type: str) -> str:
    """Name the skin of ``metrics.json`` ``tissue.skin_type`` (``II``, ``custom``, ``layers``)."""
    return {"layers": "explicit layers", "custom": "custom chromophore mix"}.get(
        skin_type, f"skin type {skin_type}"
    )


def _tissue_of(result: RenderResult) -> TissueMaps:
    """Return the result's light in tissue.

    Raises
    ------
    InputError
        Naming the scene if it has no ``tissue:`` section.
    """
    if result.tissue is None:
        msg = (
            f"{result.scene.name}: the depth plots need a tissue: section in the scene, found none"
        )
        raise InputError(msg)
    return result.tissue


def _main_site(result: RenderResult) -> str:
    """Return the body site of most of the treated skin (by area)."""
    from twin.pipeline.tissue import sample_sites

    sites = sample_sites(result.scene, result.samples)[result.roi]
    areas = result.samples.areas_mm2[result.roi]
    names, index = np.unique(sites, return_inverse=True)
    return str(names[np.argmax(np.bincount(index, weights=areas))])


def depth_dose(result: RenderResult) -> Figure:
    """Plot the mean fluence against depth over the treated skin, and the skin types' kernels.

    Top: per channel and total, the area-weighted mean fluence at the surface (depth 0,
    irradiance times exposure) and at each of ``tissue.depths_mm``; the total's 5th
    percentile dashed; the dose window shaded; each depth target's band with the mean fluence
    over it (and its own window, hatched, where it has one). Below, one panel per lit channel
    with a spectrum in the skin model's range: the fluence rate per unit irradiance at normal
    incidence for Fitzpatrick types I..VI (the shipped table, :func:`table_kernels`) at the
    body site of most of the treated skin, down to 8 mm.

    Raises
    ------
    InputError
        If the scene has no ``tissue:`` section.
    """
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    from twin.tissue.kernels import kernel_table, table_kernels
    from twin.tissue.optics import SKIN_TYPES

    _tissue_of(result)
    scene, metrics = result.scene, result.metrics
    roi, tissue = metrics["roi"], metrics["tissue"]
    low, high = scene.dose.fluence_window_j_cm2
    depths = np.array([0.0, *tissue["depths_mm"]])
    channels = list(tissue["roi"]["channels"])
    lit = [c for c in channels if scene.drive.get(c, 0.0) > 0]
    grid = kernel_table().wavelength_nm
    spectra = {
        c: s
        for c in lit
        if (s := scene.emitters.spectra.get(c)) is not None
        and grid[0] <= s.wavelength_nm[0]
        and s.wavelength_nm[-1] <= grid[-1]
    }
    fig = _figure(11.0, 8.5 if spectra else 4.8)
    rows = fig.add_gridspec(2 if spectra else 1, max(len(spectra), 1))
    ax = fig.add_subplot(rows[0, :])

    def mean_curve(surface: dict, at_depth: dict) -> NDArray[np.float64]:
        return np.array([surface["fluence_j_cm2"]["mean"], *at_depth["fluence_mean_j_cm2"]])

    def draw(curve: NDArray[np.float64], style: str, label: str, **kw: Any) -> None:
        """Draw the depths solid, the surface (another quantity: E t) joined by a dotted line."""
        (line,) = ax.plot(depths[1:], curve[1:], style, label=label, **kw)
        ax.plot(depths[:2], curve[:2], ":", color=line.get_color(), lw=kw.get("lw", 1.5))
        ax.plot(depths[0], curve[0], "s", color=line.get_color(), ms=5, label=f"_surface {label}")

    for i, channel in enumerate(channels):
        if channel in lit:
            curve = mean_curve(roi["channels"][channel], tissue["roi"]["channels"][channel])
            draw(curve, "o-", channel, color=f"C{i}", ms=4)
    total = tissue["roi"]["total"]
    draw(mean_curve(roi["total"], total), "o-", "total, mean", color="k", lw=2, ms=5)
    p5 = np.array([roi["total"]["fluence_j_cm2"]["p5"],
                   *fluence_j_cm2(total["fluence_rate_p5_mw_cm2"], scene.exposure_s)])  # fmt: skip
    draw(p5, "--", "total, 5th percentile", color="k", lw=1.2)
    ax.axhspan(low, high, color="tab:green", alpha=0.12, label="dose window")
    for name, target in tissue["targets"].items():
        top, bottom = target["depth_mm"]
        what = f"target {name}, {top:g}-{bottom:g} mm"
        ax.axvspan(top, max(bottom, top + 0.02), color="tab:purple", alpha=0.1)
        ax.hlines(target["fluence_mean_j_cm2"], top, max(bottom, top + 0.02), color="tab:purple",
                  lw=3, label=f"{what}: mean")  # fmt: skip
        t_low, t_high = target["fluence_window_j_cm2"]
        if (t_low, t_high) != (low, high):
            box = Rectangle((top, t_low), bottom - top, t_high - t_low, fill=False, hatch="//",
                            edgecolor="tab:purple", label=f"{what}: window")  # fmt: skip
            ax.add_patch(box)
    ax.set_xlim(-0.03 * depths[-1], 1.05 * depths[-1])
    ax.set_ylim(0.0, None)
    ax.set_xlabel(
        "depth below the skin surface (mm); squares at 0: the surface, irradiance·exposure"
    )
    ax.set_ylabel("fluence H (J/cm²)")
    ax.set_title(f"treated skin: fluence at depth, {skin_label(tissue['skin_type'])}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    if not spectra:
        return fig
    site = _main_site(result)
    columns = [(z, z) for z in KERNEL_DEPTHS_MM]
    shades = {t: colormaps["copper_r"](0.15 + 0.85 * i / (len(SKIN_TYPES) - 1))
              for i, t in enumerate(SKIN_TYPES)}  # fmt: skip
    first = None
    for j, (channel, spectrum) in enumerate(spectra.items()):
        panel = fig.add_subplot(rows[1, j], sharey=first)
        first = first or panel
        for skin_type, shade in shades.items():
            kernels = table_kernels(skin_type, {channel: spectrum}, columns)
            curve = kernels.fluence_rate[channel][kernels.sites.index(site), 0]
            own = scene.tissue is not None and scene.tissue.skin == skin_type
            panel.plot(KERNEL_DEPTHS_MM, curve, color=shade, lw=2.6 if own else 1.3,
                       label=f"{skin_type} (this scene)" if own else skin_type)  # fmt: skip
        panel.set_yscale("log")
        panel.set_xlabel("depth (mm)")
        panel.set_title(
            f"{channel} ({spectrum.peak_nm:g} nm): skin types I-VI, {site}", fontsize=9
        )
        panel.grid(alpha=0.3, which="both")
    assert first is not None
    first.set_ylabel("fluence rate per unit irradiance\n(normal incidence)")
    first.legend(fontsize=7, title="Fitzpatrick type", title_fontsize=7)
    return fig


def depth_area(result: RenderResult) -> Figure:
    """Dose-area histograms at each depth: the fraction of treated area receiving at least H.

    The total fluence at each of ``tissue.depths_mm`` (shallow to deep, light to dark), the
    surface's dashed, the dose window shaded.

    Raises
    ------
    InputError
        If the scene has no ``tissue:`` section.
    """
    from matplotlib import colormaps

    maps = _tissue_of(result)
    scene, roi = result.scene, result.roi
    assert scene.tissue is not None  # a result with tissue maps has the settings
    low, high = scene.dose.fluence_window_j_cm2
    depths = scene.tissue.depths_mm
    areas = result.samples.areas_mm2[roi]
    surface = result.dose.fluence_j_cm2()[roi]
    at_depth = fluence_j_cm2(maps.total_fluence_rate_mw_cm2[roi, : len(depths)], scene.exposure_s)
    top = max(1.5 * high, float(surface.max()), float(at_depth.max()))
    levels = np.linspace(0.0, top, 400)
    fig = _figure(8.0, 4.8)
    ax = fig.subplots()
    ax.plot(levels, dose_area_curve(surface, areas, levels), "k--", label="surface")
    shades = colormaps["viridis"](np.linspace(0.0, 0.85, len(depths)))
    for i, (z, shade) in enumerate(zip(depths, shades, strict=True)):
        curve = dose_area_curve(at_depth[:, i], areas, levels)
        ax.plot(levels, curve, color=shade, lw=1.6, label=f"{z:g} mm")
    ax.axvspan(low, high, color="tab:green", alpha=0.12, label="dose window")
    ax.set_xlabel("fluence H at depth (J/cm²), all channels")
    ax.set_ylabel("fraction of treated area")
    ax.set_title("treated skin: area receiving at least H, at each depth")
    ax.set_xlim(levels[0], levels[-1])
    ax.set_ylim(0.0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="depth", title_fontsize=8)
    return fig


def compare_distributions(report: dict) -> Figure:
    """Plot the pooled distributions of a ``twin compare`` report (``compare.json``).

    Both designs' fractions per bin, side by side, one panel per quantity.
    """
    a, b = report["designs"]
    items = list(report["distributions"].items())
    fig = _figure(4.2 * max(len(items), 1), 3.8)
    axes = np.atleast_1d(fig.subplots(1, max(len(items), 1)))
    for ax, (label, d) in zip(axes, items, strict=False):
        edges = np.asarray(d["edges"])
        width = np.diff(edges)
        ax.bar(edges[:-1], d["a"]["fraction"], width=0.45 * width, align="edge", label=a)
        ax.bar(edges[:-1] + 0.5 * width, d["b"]["fraction"], width=0.45 * width, align="edge",
               label=b)  # fmt: skip
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction (pooled over the people)")
    axes[0].legend(fontsize=8)
    return fig


def write_plots(result: RenderResult, out_dir: Path) -> list[Path]:
    """Write each plot that applies (:func:`plot_names`) as ``out_dir/<name>.png``.

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    makers = {
        "dose_area": dose_area,
        "standoff": standoff,
        "fit": fit,
        "regions": regions,
        "flat_map": flat_map,
        "interreflection": interreflection,
        "depth_dose": depth_dose,
        "depth_area": depth_area,
    }
    paths = []
    for name in plot_names(result):
        path = out_dir / f"{name}.png"
        makers[name](result).savefig(path)
        paths.append(path)
    return paths
