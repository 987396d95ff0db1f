"""Plots of a render (matplotlib, off-screen): what an engineer reads a dose map by.

- ``dose_area``: the dose-area histogram, like a radiotherapy DVH: the fraction of the treated
  area receiving at least each fluence, per channel and total (and the total of the direct
  light alone, where inter-reflection was solved), and per treated region (each region in its
  own colour, :func:`region_styles`); the dose window shaded.
- ``standoff``: on-axis irradiance of one LED of each lit channel against its distance to
  the skin, with the layout's gaps marked; each channel in its own colour, line style and
  markers, so that curves on top of each other all show.
- ``fit``: histograms of the LED-skin gap along each axis and of the incidence angle; the gap
  axis spans the gaps without their far outliers, which are counted beside it.
- ``regions``: mean fluence per region: blue below the window, green in it, orange above it,
  and grey for the regions the scene does not treat.
- ``flat_map``: the fluence on the skin unrolled into 2D on the grid ``twin export`` writes
  (:mod:`twin.views.flatmap`: an equal-area chart from the skin and the LEDs), in
  bands about the window (:data:`BAND_COLOURS`: blues below, greens in, orange and red above).

Where inter-reflection was solved (:data:`INTERREFLECTION_PLOTS`):

- ``interreflection``: the direct, indirect (returned by skin and device) and total
  irradiance, all channels, unrolled as ``flat_map`` unrolls the fluence.

With light in tissue (the scene's ``tissue:`` section, :data:`TISSUE_PLOTS`):

- ``depth_dose``: mean fluence against depth over the treated skin, per channel and total,
  from the surface down, the total's 5th percentile, the window and the target bands; below
  it, each lit channel's depth kernel for the six Fitzpatrick skin types.
- ``depth_area``: the dose-area histogram at each depth.

For each of the scene's detectors (:data:`DETECTOR_PLOTS`):

- ``detector_<name>``: its reading as a heat map in the detector's plane coordinates
  (:func:`detector_map`).

``write_plots`` writes those that apply (:func:`plot_names`) as PNG files. Needs matplotlib
(``pip install 'twin[viz]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from twin.analysis.compare import robust_range
from twin.errors import InputError
from twin.geometry.anatomy import REGIONS
from twin.units import fluence_j_cm2
from twin.views.flatmap import FlatGrid, flat_grid, unrolled, vertex_values

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from twin.pipeline.detectors import DetectorReading
    from twin.pipeline.render import RenderResult
    from twin.tissue.depth import TissueMaps

#: The plots of light in tissue, made only for a scene with a ``tissue:`` section.
TISSUE_PLOTS = ("depth_dose", "depth_area")
#: The plots of the light skin and device return, made only where inter-reflection was solved.
INTERREFLECTION_PLOTS = ("interreflection",)
PLOTS = ("dose_area", "standoff", "fit", "regions", "flat_map", *INTERREFLECTION_PLOTS,
         *TISSUE_PLOTS)  # fmt: skip
#: The detector maps, one per detector (an ``fnmatch`` pattern of their names).
DETECTOR_PLOTS = "detector_*"
#: Pixels across the wider side of the unrolled map of ``flat_map``.
FLAT_PIXELS = 600
#: Depths at which ``depth_dose`` draws the skin types' kernels, mm.
KERNEL_DEPTHS_MM = np.linspace(0.0, 8.0, 161)
#: The lowest kernel value ``depth_dose`` shows, a fraction of the highest (six decades).
KERNEL_DECADES_FLOOR = 1e-6
#: Colours of the fluence bands about the dose window ``[low, high]`` (``flat_map``): far
#: below (under ``low / 2``) and below in blues, the window's lower and upper halves in
#: greens, above and far above (over the middle of ``high`` and the top) in orange and red.
BAND_COLOURS = ("#08519c", "#6baed6", "#a1d99b", "#31a354", "#fd8d3c", "#bd0026")
#: A region's bar in ``regions``, by where its mean fluence lies.
STATUS_COLOURS = {
    "below the window": BAND_COLOURS[1],
    "in the window": BAND_COLOURS[3],
    "above the window": BAND_COLOURS[4],
    "not treated": "#bdbdbd",
}
#: Region colours, well apart (tab10 without its grey, then darker hues unlike those); a
#: built-in anatomy's region takes the one at its place in
#: :data:`twin.geometry.anatomy.REGIONS`. Black is the total's, grey "not treated".
REGION_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#bcbd22", "#17becf", "#393b79", "#637939", "#e7ba52", "#e7298a",
                  "#a6761d")  # fmt: skip
#: Line styles regions take once the colours are used up, channels in turn.
LINE_STYLES = ("-", "--", ":", "-.")
#: Colours of the usual channels; others take :data:`SPARE_CHANNEL_COLOURS` in turn.
CHANNEL_COLOURS = {"red": "tab:red", "nir": "tab:brown", "nir2": "tab:purple", "blue": "tab:blue"}
SPARE_CHANNEL_COLOURS = ("tab:olive", "tab:cyan", "tab:pink", "tab:orange", "tab:green")


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
    at_least = np.cumsum(a[::-1])[::-1]
    above = np.concatenate([at_least, [0.0]]) / at_least[0]  # exactly 1 at the minimum
    return above[np.searchsorted(h, np.asarray(levels_j_cm2), side="left")]


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def region_styles(names: list[str]) -> dict[str, dict[str, Any]]:
    """Give each region a line colour and style, every one of ``names`` a different pair.

    A built-in anatomy's regions (all of ``names`` among one anatomy's
    :data:`~twin.geometry.anatomy.REGIONS`) keep their colour from plot to plot and scene to
    scene: the one at their place in that anatomy's list. Other names take the colours in
    turn. Past :data:`REGION_COLOURS` the colours repeat with the next of :data:`LINE_STYLES`.

    Returns
    -------
    dict of str to dict
        Per name, ``color`` and ``linestyle`` (matplotlib keywords).
    """
    order = list(next((r for r in REGIONS.values() if set(names) <= set(r)), names))
    n = len(REGION_COLOURS)
    styles = {}
    for name in names:
        i = order.index(name)
        styles[name] = {"color": REGION_COLOURS[i % n],
                        "linestyle": LINE_STYLES[i // n % len(LINE_STYLES)]}  # fmt: skip
    return styles


def channel_styles(channels: list[str]) -> dict[str, dict[str, Any]]:
    """Give each channel a line colour and style.

    The usual channels have their own colours (:data:`CHANNEL_COLOURS`: red red, blue blue),
    the others spare ones; the line styles go in turn (:data:`LINE_STYLES`), so that channels
    whose curves coincide all show.

    Returns
    -------
    dict of str to dict
        Per channel, ``color`` and ``linestyle`` (matplotlib keywords).
    """
    spare = iter(SPARE_CHANNEL_COLOURS * len(channels))
    return {
        c: {
            "color": CHANNEL_COLOURS.get(c) or next(spare),
            "linestyle": LINE_STYLES[i % len(LINE_STYLES)],
        }
        for i, c in enumerate(channels)
    }


def dose_area(result: RenderResult) -> Figure:
    """Dose-area histograms: per channel and total (left), per region (right)."""
    low, high = result.scene.dose.fluence_window_j_cm2
    roi, areas = result.roi, result.samples.areas_mm2
    total = result.dose.fluence_j_cm2()
    levels = np.linspace(0.0, max(1.5 * high, float(total[roi].max())), 400)
    fig = _figure(11.0, 4.5)
    left, right = fig.subplots(1, 2, sharey=True)
    styles = channel_styles(list(result.dose.channels))
    for channel in result.dose.channels:
        h = result.dose.fluence_j_cm2(channel)[roi]
        if not h.any():  # a channel the mode leaves off
            continue
        curve = dose_area_curve(h, areas[roi], levels)
        left.plot(levels, curve, label=channel, **styles[channel])
    left.plot(levels, dose_area_curve(total[roi], areas[roi], levels), "k", lw=2, label="total")
    if result.dose.direct_irradiance_mw_cm2:
        direct = fluence_j_cm2(
            np.sum(list(result.dose.direct_irradiance_mw_cm2.values()), axis=0),
            result.dose.exposure_s,
        )[roi]
        curve = dose_area_curve(direct, areas[roi], levels)
        left.plot(levels, curve, "k--", lw=1.2, label="total, direct light only")
    looks = region_styles(list(result.samples.regions))
    for name, mask in result.samples.regions.items():
        treated = mask & roi
        if treated.any():
            curve = dose_area_curve(total[treated], areas[treated], levels)
            right.plot(levels, curve, label=name, **looks[name])
    for ax, title in ((left, "treated skin"), (right, "per treated region (total)")):
        ax.axvspan(low, high, color="tab:green", alpha=0.12, label="dose window")
        ax.set_xlabel("fluence H (J/cm²)")
        ax.set_title(f"{title}: area receiving at least H")
        ax.set_xlim(levels[0], levels[-1])
        ax.grid(alpha=0.3)
    left.set_ylabel("fraction of the treated area")
    left.set_ylim(0.0, 1.02)
    left.legend(fontsize=8)
    right.legend(fontsize=7, ncol=2)
    return fig


def standoff(result: RenderResult) -> Figure:
    """Plot the on-axis irradiance of one LED per lit channel against the distance to the skin.

    Each lit channel's LED is at its drive level ``d``, facing the skin: ``E = d P I(0) / h^2``
    (mW/cm2, ``I`` per mW); the median and 5th-95th percentile of the layout's axial gaps are
    shaded. Each channel has its own colour, line style and markers (staggered), and a
    channel whose curve is another's says so in the legend.
    """
    scene = result.scene
    emitters = scene.emitters
    h = np.linspace(1.0, 60.0, 300)
    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    lit = [c for c in emitters.channels if scene.drive.get(c, 0.0) > 0]
    styles = channel_styles(lit)
    drawn: dict[str, NDArray[np.float64]] = {}
    for k, channel in enumerate(lit):
        drive = scene.drive[channel]
        i = int(np.flatnonzero(emitters.channel == channel)[0])
        profile = emitters.profiles[emitters.profile_index[i]]
        on_axis = float(profile.intensity_per_mw(np.array([1.0]))[0])
        e = drive * emitters.power_mw[i] * on_axis / h**2 * 100.0  # mm^-2 -> cm^-2
        same = [c for c, other in drawn.items() if np.allclose(other, e, rtol=1e-9)]
        label = f"{channel} ({emitters.power_mw[i] * drive:g} mW)"
        ax.plot(h, e, label=label + (f", the same curve as {same[0]}" if same else ""),
                marker="osD^v<>"[k % 7], markevery=(6 * k, 40), ms=5, lw=1.8,
                **styles[channel])  # fmt: skip
        drawn[channel] = e
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
    """Histograms of the LED-skin gap along each axis and of the incidence angle.

    The gap axis spans the gaps without their far outliers (:func:`robust_range`, at least
    1 mm of spread): a note on the plot counts the LEDs beyond either end and gives their
    extreme, so that one stray axis does not squeeze the rest into one bar.
    """
    fig = _figure(10.0, 4.0)
    left, right = fig.subplots(1, 2)
    hit = np.isfinite(result.gap_mm)
    gaps = result.gap_mm[hit]
    if gaps.size:
        lo, hi = robust_range(gaps, floor=1.0)
        if np.ptp(gaps) <= 2.0 * (hi - lo):  # the outliers do not stretch the axis much
            lo, hi = float(gaps.min()), float(gaps.max())
        shown = (gaps >= lo) & (gaps <= hi)
        left.hist(gaps[shown], bins=30, range=(lo, hi) if hi > lo else None, color="tab:blue")
        notes = []
        if (below := int((gaps < lo).sum())) > 0:
            notes.append(f"{below} LED(s) under {lo:.1f} mm, down to {gaps.min():.1f} mm")
        if (beyond := int((gaps > hi).sum())) > 0:
            notes.append(f"{beyond} LED(s) beyond {hi:.1f} mm, up to {gaps.max():.1f} mm")
        if notes:
            notes.append("(outliers, not drawn)")
            box = {"facecolor": "white", "edgecolor": "tab:red", "alpha": 0.9}
            left.text(0.98, 0.97, "\n".join(notes), transform=left.transAxes, ha="right",
                      va="top", fontsize=8, color="tab:red", bbox=box)  # fmt: skip
    missed = int((~hit).sum())
    axes = "1 LED axis misses" if missed == 1 else f"{missed} LED axes miss"
    left.set_xlabel("gap along the LED axis to the skin (mm)")
    left.set_ylabel("LEDs")
    left.set_title(f"gap ({axes} the skin)")
    right.hist(result.incidence_deg[hit], bins=np.arange(0.0, 91.0, 5.0), color="tab:orange")
    right.set_xlabel("incidence on the skin (degrees from the normal)")
    right.set_ylabel("LEDs")
    right.set_title("incidence")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def region_status(mean_j_cm2: float, window_j_cm2: tuple[float, float], *, treated: bool) -> str:
    """Say where a region's mean fluence lies: a key of :data:`STATUS_COLOURS`.

    A region the scene does not treat (``target.exclude``, or outside ``target.treat``) is
    ``"not treated"`` whatever it receives: the window is not its measure.
    """
    low, high = window_j_cm2
    if not treated:
        return "not treated"
    if mean_j_cm2 < low:
        return "below the window"
    return "above the window" if mean_j_cm2 > high else "in the window"


def regions(result: RenderResult) -> Figure:
    """Plot the mean fluence per region (total, over the whole region, as ``metrics.json``).

    The dose window shaded; each bar coloured by where its mean lies (:func:`region_status`,
    :data:`STATUS_COLOURS`): blue below the window, green in it, orange above it; the regions
    the scene does not treat grey, hatched and marked "not treated" (what they receive is
    stray light, not a dose).
    """
    from matplotlib.patches import Patch

    window = result.scene.dose.fluence_window_j_cm2
    h, areas, roi = result.dose.fluence_j_cm2(), result.samples.areas_mm2, result.roi
    names, means, statuses = [], [], []
    for name, mask in result.samples.regions.items():
        if mask.any():
            mean = float(np.average(h[mask], weights=areas[mask]))
            names.append(name)
            means.append(mean)
            statuses.append(region_status(mean, window, treated=bool((mask & roi).any())))
    fig = _figure(8.0, 1.4 + 0.32 * len(names))
    ax = fig.subplots()
    y = np.arange(len(names))
    grey = "#707070"  # the outline and the label of a region not treated
    bars = ax.barh(y, means, color=[STATUS_COLOURS[s] for s in statuses])
    for bar, status in zip(bars, statuses, strict=True):
        if status == "not treated":
            bar.set_hatch("//")
            bar.set_edgecolor(grey)
    ax.set_yticks(y, [f"{n} (not treated)" if s == "not treated" else n
                      for n, s in zip(names, statuses, strict=True)])  # fmt: skip
    for label, status in zip(ax.get_yticklabels(), statuses, strict=True):
        if status == "not treated":
            label.set_color(grey)
    ax.invert_yaxis()
    ax.axvspan(*window, color=STATUS_COLOURS["in the window"], alpha=0.12)
    ax.set_xlabel("mean fluence over the region (J/cm²)")
    ax.set_title(f"{result.scene.name}: mean fluence per region, dose window "
                 f"{window[0]:g}-{window[1]:g} J/cm² shaded")  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(facecolor=STATUS_COLOURS[s], label=s) for s in STATUS_COLOURS
               if s in statuses and s != "not treated"]  # fmt: skip
    if "not treated" in statuses:
        colour = STATUS_COLOURS["not treated"]
        handles.append(Patch(facecolor=colour, edgecolor=grey, hatch="//", label="not treated"))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return fig


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
    return vertex_values(values, target.faces, len(target.vertices_mm))


def _unrolled(result: RenderResult):
    """Return the target's triangles unrolled as :func:`flat_map` unrolls them (mm)."""
    from matplotlib.tri import Triangulation

    uv, faces, _ = unrolled(result)
    return Triangulation(uv[:, 0], uv[:, 1], faces)


def _flat(
    result: RenderResult, maps: list[str]
) -> tuple[FlatGrid, tuple[float, float, float, float]]:
    """Return maps unrolled on a grid (:func:`twin.views.flatmap.flat_grid`, as exported).

    The grid has :data:`FLAT_PIXELS` pixels across its wider side; the extent (left, right,
    bottom, top, mm) is what ``imshow`` takes.
    """
    uv, _, _ = unrolled(result)
    grid = flat_grid(result, maps, pixel_mm=float(np.ptp(uv, axis=0).max()) / FLAT_PIXELS)
    u, v, half = grid.u_mm, grid.v_mm, grid.pixel_mm / 2.0
    return grid, (float(u[0] - half), float(u[-1] + half), float(v[-1] - half), float(v[0] + half))


def fluence_bands(low: float, high: float, top: float) -> tuple[list[float], tuple[str, ...]]:
    """Return the edges of the fluence bands about the window and their colours.

    The bands are :data:`BAND_COLOURS`'s: 0 to ``low / 2``, to ``low``, to the window's
    middle, to ``high``, to the middle of ``high`` and ``top``, to ``top`` (J/cm2). A band
    with no width (a window from 0) is left out.

    Returns
    -------
    edges : list of float
        Increasing, one more than the colours.
    colours : tuple of str
    """
    edges = [0.0, 0.5 * low, low, 0.5 * (low + high), high, 0.5 * (high + top), top]
    kept = [i for i in range(len(BAND_COLOURS)) if edges[i + 1] > edges[i]]
    return [edges[0], *(edges[i + 1] for i in kept)], tuple(BAND_COLOURS[i] for i in kept)


def flat_map(result: RenderResult) -> Figure:
    """Plot the total fluence on the skin, unrolled into 2D (the grid ``twin export`` writes).

    In bands about the dose window (:func:`fluence_bands`): blues below it, greens in it,
    orange and red above it; a legend names the three.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    low, high = result.scene.dose.fluence_window_j_cm2
    grid, extent = _flat(result, ["fluence_j_cm2"])
    fig = _figure(6.5, 6.6)
    ax = fig.subplots()
    top = max(2.0 * high, float(result.dose.fluence_j_cm2().max()))
    bounds, colours = fluence_bands(low, high, top)
    norm = BoundaryNorm(bounds, len(colours))
    art = ax.imshow(grid.maps["fluence_j_cm2"], extent=extent, cmap=ListedColormap(colours),
                    norm=norm, interpolation="nearest")  # fmt: skip
    bar = fig.colorbar(art, ax=ax, ticks=bounds, format="%.3g")
    bar.set_label(f"total fluence H (J/cm²); dose window {low:g}-{high:g} J/cm²")
    where = [
        (STATUS_COLOURS["below the window"], f"below the window (< {low:g} J/cm²)"),
        (STATUS_COLOURS["in the window"], f"in the window ({low:g}-{high:g} J/cm²)"),
        (STATUS_COLOURS["above the window"], f"above the window (> {high:g} J/cm²)"),
    ]
    handles = [Patch(color=c, label=text) for c, text in where[int(low == 0.0) :]]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
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
    body site of most of the treated skin, down to 8 mm, on a log axis six decades deep
    (:data:`KERNEL_DECADES_FLOOR`).

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

    colours = {c: style["color"] for c, style in channel_styles(channels).items()}
    for channel in lit:
        curve = mean_curve(roi["channels"][channel], tissue["roi"]["channels"][channel])
        draw(curve, "o-", channel, color=colours[channel], ms=4)
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
    first, peak = None, 0.0
    for j, (channel, spectrum) in enumerate(spectra.items()):
        panel = fig.add_subplot(rows[1, j], sharey=first)
        first = first or panel
        for skin_type, shade in shades.items():
            kernels = table_kernels(skin_type, {channel: spectrum}, columns)
            curve = kernels.fluence_rate[channel][kernels.sites.index(site), 0]
            own = scene.tissue is not None and scene.tissue.skin == skin_type
            peak = max(peak, float(curve.max()))
            panel.plot(KERNEL_DEPTHS_MM, curve, color=shade, lw=2.6 if own else 1.3,
                       label=f"{skin_type} (this scene)" if own else skin_type)  # fmt: skip
        panel.set_yscale("log")
        panel.set_xlabel("depth (mm)")
        panel.set_title(
            f"{channel} ({spectrum.peak_nm:g} nm): skin types I-VI, {site}", fontsize=9
        )
        panel.grid(alpha=0.3, which="both")
    assert first is not None
    if peak > 0:  # six decades: a kernel that dies out (blue, deep) leaves the axis
        first.set_ylim(peak * KERNEL_DECADES_FLOOR, 2.0 * peak)
    first.set_ylabel("fluence rate per unit irradiance\n(mW/cm² per mW/cm², normal incidence)")
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

    Both designs' fractions per bin, side by side, one panel per quantity; the last bin also
    holds everything above it (:func:`twin.analysis.compare.distributions`), as its note says.
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
        ax.text(0.98, 0.97, f"last bin: {edges[-2]:.3g} and above", transform=ax.transAxes,
                ha="right", va="top", fontsize=7)  # fmt: skip
        ax.set_xlabel(label)
        ax.set_ylabel(f"fraction of the {d.get('fraction_of', 'total')}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="center right")
    fig.suptitle(f"{a} and {b}, pooled over the people", fontsize=10)
    return fig


def detector_map(reading: DetectorReading, *, title: str | None = None) -> Figure:
    """Plot a detector's reading as a heat map in its plane coordinates.

    One cell per pixel (``x`` along ``up x normal``, ``y`` along ``up``, mm) with a colour bar
    in mW/cm²; points that are not the detector's pixel grid are drawn as coloured dots.
    The title gives the mean, the peak and the uniformity (min/mean).
    """
    xy, e = reading.xy_mm, reading.irradiance_mw_cm2
    d = reading.detector
    fig = _figure(6.4, 5.6)
    ax = fig.subplots()
    art: Any
    if d is not None and len(e) == int(np.prod(d.pixels)):
        nx, ny = (int(v) for v in d.pixels)
        px, py = d.pitch_mm if nx > 1 and ny > 1 else np.broadcast_to(d.pitch_mm.min(), 2)
        extent = (xy[0, 0] - px / 2, xy[-1, 0] + px / 2, xy[0, 1] - py / 2, xy[-1, 1] + py / 2)
        art = ax.imshow(e.reshape(ny, nx), origin="lower", extent=extent, cmap="inferno",
                        interpolation="nearest", vmin=0.0)  # fmt: skip
    else:
        art = ax.scatter(xy[:, 0], xy[:, 1], c=e, cmap="inferno", vmin=0.0, s=12)
    fig.colorbar(art, ax=ax).set_label("irradiance (mW/cm²)")
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm), along up x normal")
    ax.set_ylabel("y (mm), along up")
    uniformity = "-" if not np.isfinite(reading.uniformity) else f"{reading.uniformity:.3g}"
    ax.set_title(
        title
        or f"detector {reading.name}: mean {reading.mean:.3g}, peak {reading.peak:.3g} mW/cm², "
        f"min/mean {uniformity}",
        fontsize=10,
    )
    return fig


def write_plots(result: RenderResult, out_dir: Path) -> list[Path]:
    """Write each plot that applies (:func:`plot_names`) as ``out_dir/<name>.png``.

    And each detector's map (:func:`detector_map`) as ``out_dir/detector_<name>.png``.

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
    for name, reading in result.detectors.items():
        path = out_dir / f"{DETECTOR_PLOTS.replace('*', name)}.png"
        detector_map(reading).savefig(path)
        paths.append(path)
    return paths
