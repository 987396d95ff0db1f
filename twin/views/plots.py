"""Plots of a render (matplotlib, off-screen): what an engineer reads a dose map by.

- ``dose_area``: the dose-area histogram, like a radiotherapy DVH: the fraction of the treated
  area receiving at least each fluence, per channel and total, and per region; the dose
  window shaded.
- ``standoff``: on-axis irradiance of one LED of each lit channel against its distance to
  the skin, with the layout's gaps marked.
- ``fit``: histograms of the LED-skin gap along each axis and of the incidence angle.
- ``regions``: mean fluence per region against the window.
- ``flat_map``: the fluence on the skin unrolled into 2D through the layout's own chart (or an
  equal-area projection about the skin's mean normal), drawn on the mesh's own triangles.

``write_plots`` writes them as PNG files. Needs matplotlib (``pip install 'twin[viz]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from twin.pipeline.render import RenderResult

PLOTS = ("dose_area", "standoff", "fit", "regions", "flat_map")


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


def flat_map(result: RenderResult) -> Figure:
    """Plot the total fluence on the skin, unrolled into 2D on the mesh's own triangles."""
    from matplotlib.colors import BoundaryNorm
    from matplotlib.tri import Triangulation

    target = result.scene.target
    low, high = result.scene.dose.fluence_window_j_cm2
    h = result.dose.fluence_j_cm2()
    if result.scene.samples == "vertices":
        per_vertex = h
    else:  # centroid samples: each vertex takes the mean of its faces
        per_vertex = np.zeros(len(target.vertices_mm))
        counts = np.zeros(len(target.vertices_mm))
        for corner in range(3):
            np.add.at(per_vertex, target.faces[:, corner], h)
            np.add.at(counts, target.faces[:, corner], 1.0)
        per_vertex /= np.maximum(counts, 1.0)
    uv = _chart(result).to_2d(target.vertices_mm)
    fig = _figure(6.5, 6.0)
    ax = fig.subplots()
    top = max(2.0 * high, float(per_vertex.max()))
    bounds = [0.0, 0.5 * low, low, 0.5 * (low + high), high, 0.5 * (high + top), top]
    norm = BoundaryNorm(bounds, 256)
    art = ax.tripcolor(
        Triangulation(uv[:, 0], uv[:, 1], target.faces),
        per_vertex,
        shading="gouraud",
        cmap="viridis",
        norm=norm,
    )
    bar = fig.colorbar(art, ax=ax, ticks=bounds)
    bar.set_label(f"fluence (J/cm²); window {low:g}-{high:g}")
    ax.set_aspect("equal")
    ax.set_xlabel("chart x (mm)")
    ax.set_ylabel("chart y (mm)")
    ax.set_title(f"{result.scene.name}: total fluence, unrolled")
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
    """Every plot of ``PLOTS`` as ``out_dir/<name>.png``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    makers = {
        "dose_area": dose_area,
        "standoff": standoff,
        "fit": fit,
        "regions": regions,
        "flat_map": flat_map,
    }
    paths = []
    for name in PLOTS:
        path = out_dir / f"{name}.png"
        makers[name](result).savefig(path)
        paths.append(path)
    return paths
