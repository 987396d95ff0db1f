"""Design rules and baseline tolerances of a scene: its ``checks:`` section.

::

    checks:
      rules:                                   # bounds any render must meet
        - {metric: roi.total.fluence_j_cm2.mean, min: 4, max: 10}
        - {metric: roi.total.irradiance_mw_cm2.max, max: 100}
        - {metric: eye_safety.ir_irradiance_mw_cm2.max, max: 10}
        - {metric: emitters.inside_skin, max: 0}
        - {metric: roi.total.fluence_j_cm2.p5, min: 2, over: p5}   # populations: see below
      baseline:                                # how far a metric may move from the baseline
        relative: 0.01                         # default 1 %
        absolute: 0.001                        # and never less than this (near-zero values)
        metrics: [roi.total.cv, ...]           # default: twin.dose.registry.BASELINE
        tolerances: {roi.total.cv: {relative: 0.05}}

A metric is a dotted path into ``metrics.json`` (``regions.forehead.total.cv`` works too);
one depth of a per-depth list of the ``tissue`` block is named in brackets
(``tissue.roi.total.fluence_mean_j_cm2[1.0mm]``, a depth of ``tissue.depths_mm``). On
a population scene a rule holds for the member at the bounds' worst (``over: worst``, the
default: every member) or for a percentile of the members (``over: p5``, ``median``,
``p95``, ``min``, ``max``); baselines keep each metric's minimum, median and maximum over the
members.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from twin._validation import check_keys
from twin.dose.registry import BASELINE
from twin.errors import InputError

CHECK_KEYS = ("rules", "baseline")
RULE_KEYS = ("metric", "min", "max", "over")
BASELINE_KEYS = ("relative", "absolute", "metrics", "tolerances")
TOLERANCE_KEYS = ("relative", "absolute")
OVER = ("worst", "min", "p5", "median", "p95", "max")
#: A metric path: dotted keys, then optionally a depth in brackets (``...[1.0mm]``).
_PATH = re.compile(r"[^.\[\]]+(\.[^.\[\]]+)*(\[\d+(\.\d*)?mm\])?")


@dataclass(frozen=True)
class Rule:
    """A bound on one metric: ``min <= value <= max`` (either may be absent)."""

    metric: str
    low: float | None
    high: float | None
    over: str = "worst"

    @property
    def bounds(self) -> str:
        """The bound as text, for example ``>= 4`` or ``4 .. 10``."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g} .. {self.high:g}"
        return f">= {self.low:g}" if self.low is not None else f"<= {self.high:g}"

    def holds(self, value: float) -> bool:
        """Return whether ``value`` is within the bounds."""
        return (self.low is None or value >= self.low) and (
            self.high is None or value <= self.high
        )


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move: ``|now - baseline| <= max(relative * |baseline|, absolute)``."""

    relative: float = 0.01
    absolute: float = 1e-3

    def allows(self, baseline: float, now: float) -> bool:
        """Return whether ``now`` is within the tolerance of ``baseline``."""
        return abs(now - baseline) <= max(self.relative * abs(baseline), self.absolute)


@dataclass(frozen=True)
class Checks:
    """A scene's rules and baseline policy."""

    rules: tuple[Rule, ...] = ()
    metrics: tuple[str, ...] = BASELINE
    tolerance: Tolerance = field(default_factory=Tolerance)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)

    def tolerance_of(self, metric: str) -> Tolerance:
        """Return the tolerance of ``metric`` (its own, else the scene's)."""
        return self.tolerances.get(metric.split("@")[0], self.tolerance)


def _number(value: Any, *, name: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        msg = f"{name}: expected a number, got {value!r}"
        raise InputError(msg)
    return float(value)


def _metric(value: Any, *, name: str) -> str:
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        msg = (
            f"{name}: expected a dotted metric path like roi.total.cv (or, at one depth, "
            f"tissue.roi.total.fluence_mean_j_cm2[1.0mm]), got {value!r}"
        )
        raise InputError(msg)
    return value


def _tolerance(spec: Any, *, name: str, default: Tolerance) -> Tolerance:
    if not isinstance(spec, dict):
        msg = f"{name}: expected a mapping with relative and/or absolute, got {spec!r}"
        raise InputError(msg)
    check_keys(spec, TOLERANCE_KEYS, name=name)
    values = {k: _number(v, name=f"{name}.{k}") for k, v in spec.items()}
    for key, value in values.items():
        if value < 0:
            msg = f"{name}.{key}: expected a tolerance >= 0, got {value:g}"
            raise InputError(msg)
    return Tolerance(
        relative=values.get("relative", default.relative),
        absolute=values.get("absolute", default.absolute),
    )


def parse_checks(spec: Any, *, name: str) -> Checks:
    """Validate a scene's ``checks:`` section.

    Raises
    ------
    InputError
        Naming the rule or key at fault.
    """
    if spec is None:
        return Checks()
    if not isinstance(spec, dict):
        msg = f"{name}: expected a mapping with rules and/or baseline, got {spec!r}"
        raise InputError(msg)
    check_keys(spec, CHECK_KEYS, name=name)
    rules_spec = spec.get("rules", [])
    if not isinstance(rules_spec, list):
        msg = f"{name}.rules: expected a list of {{metric, min, max}}, got {rules_spec!r}"
        raise InputError(msg)
    rules = []
    for i, item in enumerate(rules_spec):
        where = f"{name}.rules[{i}]"
        if not isinstance(item, dict):
            msg = f"{where}: expected {{metric, min, max}}, got {item!r}"
            raise InputError(msg)
        check_keys(item, RULE_KEYS, name=where)
        if "metric" not in item:
            msg = f"{where}: missing required key 'metric'"
            raise InputError(msg)
        low = None if "min" not in item else _number(item["min"], name=f"{where}.min")
        high = None if "max" not in item else _number(item["max"], name=f"{where}.max")
        if low is None and high is None:
            msg = f"{where}: give min, max or both"
            raise InputError(msg)
        if low is not None and high is not None and low > high:
            msg = f"{where}: min {low:g} is above max {high:g}"
            raise InputError(msg)
        over = item.get("over", "worst")
        if over not in OVER:
            msg = f"{where}.over: expected one of {', '.join(OVER)}, got {over!r}"
            raise InputError(msg)
        rules.append(Rule(_metric(item["metric"], name=f"{where}.metric"), low, high, over))
    baseline = spec.get("baseline", {})
    if not isinstance(baseline, dict):
        msg = f"{name}.baseline: expected a mapping, got {baseline!r}"
        raise InputError(msg)
    check_keys(baseline, BASELINE_KEYS, name=f"{name}.baseline")
    tolerance = _tolerance(
        {k: v for k, v in baseline.items() if k in TOLERANCE_KEYS},
        name=f"{name}.baseline",
        default=Tolerance(),
    )
    metrics = baseline.get("metrics", list(BASELINE))
    if not isinstance(metrics, list):
        msg = f"{name}.baseline.metrics: expected a list of metric paths, got {metrics!r}"
        raise InputError(msg)
    metrics = [_metric(m, name=f"{name}.baseline.metrics[{i}]") for i, m in enumerate(metrics)]
    per_metric = baseline.get("tolerances", {})
    if not isinstance(per_metric, dict):
        msg = f"{name}.baseline.tolerances: expected a mapping of metric to tolerance"
        raise InputError(msg)
    tolerances = {
        _metric(k, name=f"{name}.baseline.tolerances"): _tolerance(
            v, name=f"{name}.baseline.tolerances.{k}", default=tolerance
        )
        for k, v in per_metric.items()
    }
    return Checks(tuple(rules), tuple(metrics), tolerance, tolerances)
