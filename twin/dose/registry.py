"""The metric registry: every headline metric of ``metrics.json`` once, with its meaning.

Rules, baselines, ``twin compare``, the CLI tables, population summaries and the drive
optimiser all read their metrics from here, so a label, a unit or which way is better is
written once. A metric is named by its dotted path into ``metrics.json``
(``roi.total.cv``); a value at one depth of the ``tissue`` block's per-depth lists is named by
the depth in brackets (``tissue.roi.total.fluence_mean_j_cm2[1.0mm]``). :func:`metric_value`
is the one resolver of such a path.

The selections (:data:`BASELINE`, :data:`COMPARED`, :data:`OPTIMISED`, :data:`POPULATION`,
:data:`WEARER`) are ordered tuples of paths: each is what one consumer shows, in the order it
shows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Which way a metric is better: larger, smaller, closer to the middle of the fluence window,
#: or neither (``None``: more or less is not better in itself).
BETTER = ("high", "low", "window", None)


@dataclass(frozen=True)
class Metric:
    """One headline metric.

    Attributes
    ----------
    path : str
        Dotted path into ``metrics.json``.
    label : str
        Short human name, with its unit, for tables.
    column : str
        Name of its column in tables written to files (``population.csv``, the optimiser's
        per-wearer summary); carries the unit.
    better : {"high", "low", "window"} or None
    """

    path: str
    label: str
    column: str
    better: str | None

    def __post_init__(self) -> None:
        """Check ``better`` against ``BETTER``."""
        if self.better not in BETTER:
            msg = f"metric {self.path}: better must be one of {BETTER}, got {self.better!r}"
            raise ValueError(msg)


_ROI = "roi.total."
#: The dose in the treated skin's target band of depth (``tissue.targets.roi``).
_DEPTH = "tissue.targets.roi."

METRICS: dict[str, Metric] = {
    m.path: m
    for m in (
        Metric(
            _ROI + "irradiance_mw_cm2.mean",
            "mean irradiance (mW/cm2)",
            "mean_irradiance_mw_cm2",
            None,
        ),
        Metric(
            _ROI + "irradiance_mw_cm2.p5", "p5 irradiance (mW/cm2)", "p5_irradiance_mw_cm2", "high"
        ),
        Metric(
            _ROI + "irradiance_mw_cm2.p95",
            "p95 irradiance (mW/cm2)",
            "p95_irradiance_mw_cm2",
            "low",
        ),
        Metric(
            _ROI + "irradiance_mw_cm2.max",
            "peak irradiance (mW/cm2)",
            "max_irradiance_mw_cm2",
            "low",
        ),
        Metric(
            _ROI + "fluence_j_cm2.mean", "mean fluence (J/cm2)", "mean_fluence_j_cm2", "window"
        ),
        Metric(_ROI + "fluence_j_cm2.p5", "p5 fluence (J/cm2)", "p5_fluence_j_cm2", "high"),
        Metric(_ROI + "u0_min_over_mean", "U0 (min / mean)", "u0", "high"),
        Metric(_ROI + "cv", "CV", "cv", "low"),
        Metric(
            _ROI + "in_window_area_fraction",
            "in-window area",
            "in_window_area_fraction",
            "high",
        ),
        Metric(_ROI + "hot_spot_area_cm2", "hot-spot area (cm2)", "hot_spot_area_cm2", "low"),
        # The judged eye reading (a detector facing each LED): at the cornea, or on the
        # eyelid skin of a target without eyeballs (eye_safety.judged_on says which).
        Metric(
            "eye_safety.ir_irradiance_mw_cm2.max",
            "eye IR max, judged (mW/cm2)",
            "eye_ir_max_mw_cm2",
            "low",
        ),
        Metric(
            "eye_safety.total_irradiance_mw_cm2.max",
            "eye irradiance max, judged (mW/cm2)",
            "eye_max_mw_cm2",
            "low",
        ),
        Metric(
            "eye_safety.blue_weighted_irradiance_mw_cm2.max",
            "eye blue-weighted max, judged (mW/cm2)",
            "eye_blue_max_mw_cm2",
            "low",
        ),
        Metric(
            "eye_safety.eyelid.ir_irradiance_mw_cm2.max",
            "eyelid IR max, facing (mW/cm2)",
            "eyelid_ir_max_mw_cm2",
            "low",
        ),
        Metric(
            "heating.roi.absorbed_mw_cm2.max",
            "absorbed power max (mW/cm2)",
            "absorbed_max_mw_cm2",
            "low",
        ),
        Metric("emitters.gap_mm.min", "LED-skin gap min (mm)", "gap_min_mm", "high"),
        Metric("emitters.gap_mm.mean", "LED-skin gap mean (mm)", "gap_mean_mm", None),
        Metric(
            "emitters.clearance_mm.min",
            "LED-skin clearance min (mm)",
            "clearance_min_mm",
            "high",
        ),
        Metric(
            "emitters.clearance_mm.std",
            "LED-skin clearance spread (mm)",
            "clearance_std_mm",
            "low",
        ),
        Metric("emitters.inside_skin", "LEDs inside the skin", "inside_skin", "low"),
        Metric("coverage.at_least_1", "reached by >= 1 LED", "coverage_1", "high"),
        Metric("coverage.at_least_2", "reached by >= 2 LEDs", "coverage_2", "high"),
        Metric(
            _DEPTH + "fluence_mean_j_cm2",
            "mean fluence at target depth (J/cm2)",
            "mean_fluence_at_depth_j_cm2",
            "window",
        ),
        Metric(
            _DEPTH + "fluence_p5_j_cm2",
            "p5 fluence at target depth (J/cm2)",
            "p5_fluence_at_depth_j_cm2",
            "high",
        ),
        Metric(
            _DEPTH + "in_window_area_fraction",
            "in-window area at target depth",
            "in_window_area_fraction_at_depth",
            "high",
        ),
    )
}
#: Per-depth metrics of ``tissue.roi.total`` (a depth in brackets picks one value of each).
DEPTH_METRICS = {
    "fluence_mean_j_cm2": ("mean fluence", "J/cm2", "window"),
    "fluence_rate_mean_mw_cm2": ("mean fluence rate", "mW/cm2", None),
    "fluence_rate_p5_mw_cm2": ("p5 fluence rate", "mW/cm2", "high"),
    "fluence_rate_min_mw_cm2": ("min fluence rate", "mW/cm2", "high"),
    "in_window_area_fraction": ("in-window area", "", "high"),
}

#: Compared with a scene's baseline by ``twin check`` unless the scene lists its own.
BASELINE = (
    _ROI + "irradiance_mw_cm2.mean",
    _ROI + "irradiance_mw_cm2.p5",
    _ROI + "irradiance_mw_cm2.p95",
    _ROI + "irradiance_mw_cm2.max",
    _ROI + "fluence_j_cm2.mean",
    _ROI + "fluence_j_cm2.p5",
    _ROI + "u0_min_over_mean",
    _ROI + "cv",
    _ROI + "in_window_area_fraction",
    _ROI + "hot_spot_area_cm2",
    "eye_safety.ir_irradiance_mw_cm2.max",
    "eye_safety.total_irradiance_mw_cm2.max",
    "eye_safety.blue_weighted_irradiance_mw_cm2.max",
    "eye_safety.eyelid.ir_irradiance_mw_cm2.max",
    "heating.roi.absorbed_mw_cm2.max",
    "emitters.gap_mm.mean",
    "emitters.clearance_mm.min",
    "emitters.inside_skin",
    "coverage.at_least_1",
    _DEPTH + "fluence_mean_j_cm2",
    _DEPTH + "fluence_p5_j_cm2",
    _DEPTH + "in_window_area_fraction",
)

#: Compared side by side by ``twin compare``.
COMPARED = (
    _ROI + "fluence_j_cm2.mean",
    _ROI + "in_window_area_fraction",
    _ROI + "u0_min_over_mean",
    _ROI + "cv",
    _ROI + "fluence_j_cm2.p5",
    _ROI + "irradiance_mw_cm2.max",
    _ROI + "hot_spot_area_cm2",
    "eye_safety.ir_irradiance_mw_cm2.max",
    "emitters.clearance_mm.std",
    "emitters.inside_skin",
    "coverage.at_least_2",
    _DEPTH + "fluence_mean_j_cm2",
    _DEPTH + "fluence_p5_j_cm2",
    _DEPTH + "in_window_area_fraction",
)

#: Shown before and after by ``twin optimise``.
OPTIMISED = (
    _ROI + "u0_min_over_mean",
    _ROI + "cv",
    _ROI + "in_window_area_fraction",
    _ROI + "fluence_j_cm2.mean",
    _ROI + "fluence_j_cm2.p5",
    _ROI + "irradiance_mw_cm2.max",
    "eye_safety.ir_irradiance_mw_cm2.max",
    _DEPTH + "fluence_mean_j_cm2",
    _DEPTH + "fluence_p5_j_cm2",
    _DEPTH + "in_window_area_fraction",
)

#: Summarised across a population's members (``population.json``, ``population.csv``).
POPULATION = (
    _ROI + "irradiance_mw_cm2.mean",
    _ROI + "irradiance_mw_cm2.p5",
    _ROI + "irradiance_mw_cm2.max",
    _ROI + "fluence_j_cm2.mean",
    _ROI + "u0_min_over_mean",
    _ROI + "cv",
    _ROI + "in_window_area_fraction",
    "eye_safety.ir_irradiance_mw_cm2.max",
    "emitters.gap_mm.min",
    "emitters.gap_mm.mean",
    _DEPTH + "fluence_mean_j_cm2",
    _DEPTH + "in_window_area_fraction",
)

#: What the drive optimiser reports for each wearer from the transfer matrix alone (no ray
#: cast; the depth metrics when it aims at depth); the worst wearer of WORST_WEARER is shown.
WEARER = (
    _ROI + "fluence_j_cm2.mean",
    _ROI + "fluence_j_cm2.p5",
    _ROI + "u0_min_over_mean",
    _ROI + "cv",
    _ROI + "in_window_area_fraction",
    _ROI + "irradiance_mw_cm2.max",
    "eye_safety.ir_irradiance_mw_cm2.max",
    _DEPTH + "fluence_mean_j_cm2",
    _DEPTH + "fluence_p5_j_cm2",
    _DEPTH + "in_window_area_fraction",
)
WORST_WEARER = (
    _ROI + "in_window_area_fraction",
    _ROI + "cv",
    _ROI + "irradiance_mw_cm2.max",
    _DEPTH + "in_window_area_fraction",
)


def depth_paths(metrics: dict[str, Any]) -> list[str]:
    """Return the paths (``...[0.5mm]``) of the treated skin's dose at each depth, if any."""
    tissue = metrics.get("tissue")
    if not isinstance(tissue, dict):
        return []
    return [
        f"tissue.roi.total.{key}[{depth:g}mm]"
        for key in ("fluence_mean_j_cm2", "in_window_area_fraction")
        for depth in tissue["depths_mm"]
    ]


def metric(path: str) -> Metric:
    """Return the registered metric at ``path`` (a per-channel path takes its total's meaning).

    ``roi.channels.red.cv`` is described by ``roi.total.cv`` with the channel named in its
    label and column; ``tissue.roi.total.fluence_mean_j_cm2[1mm]`` by :data:`DEPTH_METRICS`
    with its depth.
    """
    if path in METRICS:
        return METRICS[path]
    head, depth = _split_depth(path)
    if depth:
        parts = head.split(".")
        known = DEPTH_METRICS.get(parts[-1])
        if known is not None and parts[0] == "tissue" and depth.endswith("mm"):
            label, unit, better = known
            where = "" if parts[1:3] == ["roi", "total"] else f" {'.'.join(parts[1:-1])}"
            text = f"{label} at {depth[:-2]} mm{where}" + (f" ({unit})" if unit else "")
            column = f"{parts[-1]}_at_{depth}".replace(".", "p")
            return Metric(path, text, column, better)
    parts = path.split(".")
    if len(parts) > 3 and parts[0] == "roi" and parts[1] == "channels":
        total = METRICS.get(".".join(["roi", "total", *parts[3:]]))
        if total is not None:
            channel = parts[2]
            return Metric(
                path, f"{total.label} {channel}", f"{total.column}_{channel}", total.better
            )
    msg = f"no registered metric at {path!r}"
    raise KeyError(msg)


def metric_value(metrics: dict[str, Any], path: str) -> float | None:
    """Return the number at a dotted ``path`` in ``metrics.json`` content, ``None`` if absent.

    A path ending in ``[<depth>mm]`` picks, from a list of the ``tissue`` block, the value at
    that depth of ``tissue.depths_mm``. Booleans count as 0 or 1; ``null`` and non-finite
    values are absent.
    """
    path, depth = _split_depth(path)
    value: Any = metrics
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if depth:
        value = _at_depth(metrics, value, depth)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _split_depth(path: str) -> tuple[str, str]:
    """``("a.b", "1mm")`` from ``"a.b[1mm]"``; ``(path, "")`` without brackets."""
    if path.endswith("]") and "[" in path:
        head, _, depth = path[:-1].partition("[")
        return head, depth
    return path, ""


def _at_depth(metrics: dict[str, Any], values: Any, depth: str) -> Any:
    """Return the item of ``values`` at ``depth`` (``"0.5mm"``) of ``tissue.depths_mm``."""
    depths = metrics.get("tissue", {}).get("depths_mm", [])
    try:
        z = float(depth.removesuffix("mm"))
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(depths):
        return None
    matches = [i for i, d in enumerate(depths) if math.isclose(d, z, abs_tol=1e-9)]
    return values[matches[0]] if matches else None
