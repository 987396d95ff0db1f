"""The design of a sweep: values, designs of experiments, scene keys, points, the Pareto front.

- :func:`parse_vary`: ``KEY=VALUES`` (``start:stop:count``, a comma list, or ``low:high``);
- :func:`design_points`: the full factorial of the levels, or a seeded Latin hypercube
  (:class:`scipy.stats.qmc.LatinHypercube`) over the ranges;
- :func:`check_key`: a dotted key the scene schema takes (an unknown one names the nearest
  valid key); :func:`point_data`: the scene's data with the keys set (``emitters.half_angle_deg``
  on a design sets every channel's LED model); :func:`member_data`: a wearer's;
- :func:`parse_pareto` and :func:`pareto_front`: the non-dominated points on two metrics.

:mod:`twin.analysis.sweep` runs the points.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin._validation import as_count, check_choice, check_keys, shorten
from twin.devices.designs import CHANNEL_KEYS, DESIGN_KEYS, design_spec, load_led
from twin.dose.registry import METRICS, Metric, metric
from twin.errors import InputError
from twin.geometry.variants import Variant
from twin.scene import Member
from twin.scene.schema import (
    ALIGN_KEYS,
    APERTURE_KEYS,
    DOSE_KEYS,
    EMITTER_KEYS,
    ENGINE_KEYS,
    POPULATION_KEYS,
    TARGET_KEYS,
    TOP_KEYS,
)
from twin.tissue.settings import TARGET_KEYS as DEPTH_TARGET_KEYS
from twin.tissue.settings import TISSUE_KEYS

DESIGNS = ("full", "lhs")
#: The key that sets every channel's LED half-angle on a scene whose emitters are a design.
HALF_ANGLE = "emitters.half_angle_deg"
#: The Pareto front's metrics unless chosen: the treated skin in the dose window (more is
#: better) against its irradiance's coefficient of variation (less is better).
DEFAULT_PARETO = "roi.total.in_window_area_fraction:max,roi.total.cv:min"
SENSES = ("max", "min")
#: The keys that take whole numbers (a Latin hypercube rounds its draws of them).
WHOLE_KEYS = ("count", "seed", "ratio", "size", "samples", "aperture_samples")
#: The keys of ``target.variant``: the body-shape parameters.
VARIANT_KEYS = tuple(f.name for f in dataclasses.fields(Variant))

_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Factor:
    """One varied key and what it takes: discrete levels, or a range (Latin hypercube).

    Attributes
    ----------
    key : str
        Dotted scene key.
    levels : tuple or None
        The values (numbers or strings), in order; ``None`` for a range.
    low, high : float or None
        The range of a continuous factor (``levels`` is ``None``), ``low < high``.
    integer : bool
        Round a range's draws to whole numbers (both bounds were written as integers).
    """

    key: str
    levels: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False

    def at(self, u: float) -> Any:
        """Return the value at the quantile ``u`` in [0, 1) of the factor's levels or range."""
        if self.levels is not None:
            return self.levels[min(int(u * len(self.levels)), len(self.levels) - 1)]
        assert self.low is not None and self.high is not None
        value = self.low + u * (self.high - self.low)
        return round(value) if self.integer else float(value)


def parse_value(text: str) -> Any:
    """Return a list item of ``--vary`` as data: an int, a float, a bool or the string itself."""
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return {"true": True, "false": False}.get(text.lower(), text)
    return number if math.isfinite(number) else text


def parse_vary(text: str, *, design: str = "full", name: str = "vary") -> Factor:
    """Parse ``KEY=VALUES``: ``start:stop:count``, a comma list, or (Latin hypercube) ``low:high``.

    ``start:stop:count`` are ``count`` evenly spaced values from ``start`` to ``stop``, both
    included (whole numbers when the ends are written as integers and every value is whole);
    a comma list is its items (numbers, or strings such as ``I,III,VI``); ``low:high`` is the
    range a Latin hypercube samples (whole numbers for a key of :data:`WHOLE_KEYS`).

    Parameters
    ----------
    text : str
    design : {"full", "lhs"}
    name : str
        The argument ``text`` came from, named in messages.

    Returns
    -------
    Factor

    Raises
    ------
    InputError
        Naming ``name``, what was expected and what was found.
    """
    check_choice(design, DESIGNS, name="design")
    key, sep, values = text.partition("=")
    key, values = key.strip(), values.strip()
    expected = "start:stop:count or a comma list" + (" or low:high" if design == "lhs" else "")
    if not sep or not key or not values:
        msg = f"{name}: expected KEY=VALUES with VALUES {expected}, got {text!r}"
        raise InputError(msg)
    if ":" not in values:
        items = [v.strip() for v in values.split(",")]
        if not all(items):
            msg = f"{name} {key}: expected a comma list of values, got {values!r}"
            raise InputError(msg)
        return Factor(key, tuple(parse_value(v) for v in items))
    parts = [p.strip() for p in values.split(":")]
    numbers = [parse_value(p) for p in parts]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)
    if len(parts) == 2 and design == "lhs" and numeric and numbers[0] < numbers[1]:
        whole = key.rsplit(".", 1)[-1] in WHOLE_KEYS
        return Factor(key, low=float(numbers[0]), high=float(numbers[1]), integer=whole)
    if len(parts) == 3 and numeric and isinstance(numbers[2], int) and numbers[2] >= 1:
        start, stop, count = numbers
        values_array = np.linspace(start, stop, count)
        whole = isinstance(start, int) and isinstance(stop, int)
        whole = whole and bool(np.all(values_array == np.round(values_array)))
        levels = tuple(int(v) if whole else float(v) for v in values_array)
        return Factor(key, levels)
    if len(parts) == 2 and design == "full":
        msg = (
            f"{name} {key}: low:high is a range for --design lhs; the full design takes "
            f"start:stop:count or a comma list, got {values!r}"
        )
        raise InputError(msg)
    msg = (
        f"{name} {key}: expected {expected} (count a whole number >= 1, low < high), "
        f"got {values!r}"
    )
    raise InputError(msg)


def design_points(
    factors: Sequence[Factor], *, design: str = "full", samples: int | None = None, seed: int = 0
) -> list[tuple[Any, ...]]:
    """Return the points of a design: one value per factor each.

    Parameters
    ----------
    factors : sequence of Factor
    design : {"full", "lhs"}
        ``full``: every combination of the factors' levels (the last factor varying fastest);
        ``lhs``: ``samples`` points of a seeded Latin hypercube over the factors, each
        factor's range (or list of levels) cut into ``samples`` equal strata, one point in
        each (:class:`scipy.stats.qmc.LatinHypercube`).
    samples : int, optional
        The Latin hypercube's points (required for ``lhs``).
    seed : int
        The Latin hypercube's seed.

    Returns
    -------
    list of tuple

    Raises
    ------
    InputError
        For a range in a full design, or a Latin hypercube without ``samples``.
    """
    check_choice(design, DESIGNS, name="design")
    if design == "full":
        ranged = [f.key for f in factors if f.levels is None]
        if ranged:
            msg = f"design: a full design takes levels, not the range of {ranged[0]}"
            raise InputError(msg)
        return list(itertools.product(*(f.levels or () for f in factors)))
    if samples is None:
        msg = "samples: a Latin hypercube design needs the number of points (--samples N)"
        raise InputError(msg)
    samples = as_count(samples, name="samples")
    from scipy.stats import qmc

    u = qmc.LatinHypercube(len(factors), seed=as_count(seed, name="seed", least=0)).random(samples)
    return [tuple(f.at(float(x)) for f, x in zip(factors, row, strict=True)) for row in u]


def _allowed(
    prefix: tuple[str, ...], data: dict[str, Any], channels: list[str]
) -> tuple[str, ...] | None:
    """Return the keys the scene schema takes below ``prefix`` (``None``: it takes a value)."""
    design = "file" not in _section(data, "emitters")
    targets = _section(_section(data, "tissue"), "targets")
    fixed: dict[tuple[str, ...], tuple[str, ...]] = {
        (): TOP_KEYS,
        ("target",): TARGET_KEYS,
        ("target", "population"): POPULATION_KEYS,
        ("target", "align"): ALIGN_KEYS,
        ("target", "variant"): VARIANT_KEYS,
        ("emitters",): (*DESIGN_KEYS, "half_angle_deg") if design else EMITTER_KEYS,
        ("mode",): tuple(channels),
        ("dose",): DOSE_KEYS,
        ("engine",): ENGINE_KEYS,
        ("tissue",): TISSUE_KEYS,
        ("tissue", "targets"): tuple(dict.fromkeys([*targets, "roi"])),
    }
    if prefix in fixed:
        return fixed[prefix]
    if prefix in (("emitters", "channels"), ("emitters", "apertures"), ("emitters", "spectrum")):
        return tuple(channels)
    if len(prefix) == 3 and prefix[:2] == ("emitters", "channels"):
        return CHANNEL_KEYS
    if len(prefix) == 3 and prefix[:2] == ("emitters", "apertures"):
        return APERTURE_KEYS
    if len(prefix) == 3 and prefix[:2] == ("tissue", "targets"):
        return DEPTH_TARGET_KEYS
    return None


def _section(data: Any, key: str) -> dict[str, Any]:
    """Return ``data[key]`` if it is a mapping, else an empty one."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def check_key(
    key: str, data: dict[str, Any], *, channels: Sequence[str], name: str = "vary"
) -> None:
    """Raise unless ``key`` is a dotted key the scene schema takes for the scene ``data``.

    Parameters
    ----------
    key : str
        ``emitters.standoff_mm``, ``tissue.skin_type``, ...
    data : dict
        The scene file's data (which emitters it has decides the keys of ``emitters``).
    channels : sequence of str
        The scene's channels (the keys of ``mode`` and ``emitters.channels``).
    name : str
        The argument ``key`` came from.

    Raises
    ------
    InputError
        Naming the key, its first unknown part and the nearest valid one (or the valid
        ones), or the part that takes a value rather than keys.
    """
    parts = key.split(".")
    if not all(parts):
        msg = f"{name}: expected a dotted scene key such as emitters.standoff_mm, got {key!r}"
        raise InputError(msg)
    for i, part in enumerate(parts):
        allowed = _allowed(tuple(parts[:i]), data, list(channels))
        if allowed is None:
            msg = f"{name} {key}: {'.'.join(parts[:i])} takes a value, not keys below it"
            raise InputError(msg)
        where = f"{name} {key}: {'.'.join(parts[:i]) or 'the scene'}"
        check_keys([part], allowed, name=where)


def set_key(data: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted ``key`` of ``data`` to ``value`` in place, making mappings on the way.

    Raises
    ------
    InputError
        Where the path meets a value that is not a mapping.
    """
    parts = key.split(".")
    here = data
    for i, part in enumerate(parts[:-1]):
        nxt = here.get(part)
        if nxt is None:
            nxt = here[part] = {}
        elif not isinstance(nxt, dict):
            where = ".".join(parts[: i + 1])
            msg = f"{key}: the scene's {where} is {shorten(repr(nxt))}, not a mapping of keys"
            raise InputError(msg)
        here = nxt
    here[parts[-1]] = value


def _led_spec(value: Any, half_angle_deg: Any, *, where: str, base: Path) -> dict[str, Any]:
    """Return an LED model as a mapping with another half-angle (and no profile file)."""
    model = load_led(value, where=where, base=base)
    spec: dict[str, Any] = {
        "name": model.name,
        "power_mw": model.power_mw,
        "half_angle_deg": half_angle_deg,
        "package": {"shape": model.package_shape, "size_mm": model.package_mm},
    }
    drawn = model.spectrum.to_dict()
    if "file" in drawn:
        spec["spectrum"] = {"file": drawn["file"]}
    else:
        spec["wavelength_nm"] = model.wavelength_nm
        if "fwhm_nm" in drawn:
            spec["spectrum"] = {"fwhm_nm": drawn["fwhm_nm"]}
    return spec


def point_data(
    data: dict[str, Any], keys: Sequence[str], values: Sequence[Any], *, base: Path
) -> dict[str, Any]:
    """Return a deep copy of the scene ``data`` with each key set to its value.

    ``emitters.half_angle_deg`` on a design sets each channel's LED model (read from the
    design) to a mapping with that half-angle; a ``tissue.skin_type`` replaces the section's
    ``layers``.

    Raises
    ------
    InputError
        Where a key's path meets a value that is not a mapping, or an LED model cannot be read.
    """
    out = copy.deepcopy(data)
    for key, value in zip(keys, values, strict=True):
        if key == HALF_ANGLE and "file" not in out["emitters"]:
            spec, bases = design_spec(out["emitters"], where="emitters", base=base)
            channels = spec.get("channels")
            if not isinstance(channels, dict):
                msg = f"{key}: the design has no channels to set the half-angle of"
                raise InputError(msg)
            own = out["emitters"].setdefault("channels", {})
            for c, entry in channels.items():
                entry = {"led": entry} if isinstance(entry, str) else dict(entry)
                where = f"emitters.channels.{c}.led"
                led = _led_spec(
                    entry.get("led"), value, where=where, base=bases.get(f"channels.{c}", base)
                )
                own[c] = {**(own.get(c) or {}), "led": led}
            continue
        set_key(out, key, value)
        if key == "tissue.skin_type":
            out["tissue"].pop("layers", None)
    return out


def member_data(data: dict[str, Any], member: Member) -> dict[str, Any]:
    """Return the scene ``data`` worn by a population member (as its scene file's member is).

    Its body shape becomes ``target.variant`` (in place of a ``population``), its skin type
    ``tissue.skin_type`` (in place of ``layers``), its name ``<name>-p<index>``.
    """
    if member.variant is None and member.skin_type is None:
        return data
    one = dict(data, name=member.name)
    if member.variant is not None:
        target = {k: v for k, v in data["target"].items() if k not in ("population", "variant")}
        one["target"] = {**target, "variant": member.variant.to_dict()}
    if member.skin_type is not None:
        tissue = {k: v for k, v in data["tissue"].items() if k != "layers"}
        one["tissue"] = {**tissue, "skin_type": member.skin_type}
    return one


def parse_pareto(text: str, *, name: str = "pareto") -> tuple[tuple[str, str], tuple[str, str]]:
    """Parse ``METRIC_A[:max|min],METRIC_B[:max|min]``: two metric paths and their senses.

    A metric without a sense takes its registry direction (``better: high`` is ``max``,
    ``low`` is ``min``); one the registry does not judge needs it stated.

    Raises
    ------
    InputError
        Naming ``name``: not two metrics, an unknown metric (the nearest named), a bad sense.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        msg = f"{name}: expected two metrics METRIC_A[:max|min],METRIC_B[:max|min], got {text!r}"
        raise InputError(msg)
    out = []
    for part in parts:
        path, _, sense = part.partition(":")
        m = registered(path.strip(), name=name)
        if not sense:
            sense = {"high": "max", "low": "min"}.get(m.better or "", "")
            if not sense:
                msg = (
                    f"{name}: {m.path} is not better higher or lower in itself; give its "
                    f"direction, as in {m.path}:max or {m.path}:min"
                )
                raise InputError(msg)
        elif sense not in SENSES:
            msg = f"{name}: expected max or min after {path}:, got {sense!r}"
            raise InputError(msg)
        out.append((m.path, sense))
    if out[0][0] == out[1][0]:
        msg = f"{name}: expected two different metrics, got {out[0][0]} twice"
        raise InputError(msg)
    return out[0], out[1]


def registered(path: str, *, name: str) -> Metric:
    """Return the registry's metric at ``path``; raise naming the nearest one if unknown."""
    try:
        return metric(path)
    except KeyError:
        near = difflib.get_close_matches(path, list(METRICS), n=1, cutoff=0.5)
        hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(METRICS)}"
        msg = f"{name}: unknown metric {path!r}{hint}"
        raise InputError(msg) from None


def pareto_front(values: NDArray[np.float64], senses: Sequence[str]) -> NDArray[np.int64]:
    """Return the rows of ``values`` that no other row dominates, in order of the first metric.

    Row ``p`` dominates row ``q`` when it is at least as good on both metrics and better on
    one. Equal rows dominate neither each other. Rows with a NaN are left out.

    Parameters
    ----------
    values : (m, 2) float64
        Two metrics per row.
    senses : sequence of two {"max", "min"}
        Which way each metric is better.

    Returns
    -------
    (f,) int64
        Indices of the non-dominated rows, best first on the first metric.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1, 2)
    sign = np.array([1.0 if s == "max" else -1.0 for s in senses])
    good = values * sign  # both to be maximised
    rows = np.flatnonzero(np.isfinite(good).all(axis=1))
    a, b = good[rows, 0], good[rows, 1]
    order = rows[np.lexsort((-b, -a))]  # a descending, ties by b descending
    front: list[int] = []
    best_b, i = -math.inf, 0
    while i < len(order):
        j = i
        while j < len(order) and good[order[j], 0] == good[order[i], 0]:
            j += 1
        top = good[order[i], 1]  # the largest b among the rows of this a
        if top > best_b:
            front += [int(k) for k in order[i:j] if good[k, 1] == top]
            best_b = top
        i = j
    return np.array(front, dtype=np.int64)
