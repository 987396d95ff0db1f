"""The scene's ``tissue:`` section: which skin, which depths, which depth targets.

```yaml
tissue:
  skin_type: II              # I..VI, or {melanin_fraction: 0.05, blood_fraction: 0.005, ...}
  depths_mm: [0.1, 0.5, 1.0, 2.0, 4.0]
  # layers: [{thickness_mm: .inf, mua_per_mm: 0.02, mus_prime_per_mm: 1.5, g: 0.9, n: 1.4}]
  # outside_n: 1.0
  # site: face               # body site of skin no built-in region places
  # lateral_spread_mm: 1.5     # blur each depth map over the skin (a mapping: per channel)
  # targets: {roi: {depth_mm: [0.5, 1.5]},
  #           frontal: {depth_mm: [3, 5], fluence_window_j_cm2: [2, 8]}}
```
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from twin._validation import (
    as_bounded,
    as_mapping,
    as_positive,
    as_string,
    check_keys,
    shorten,
)
from twin.errors import InputError
from twin.tissue.kernels import MAX_DEPTH_MM
from twin.tissue.layers import Layer, check_layers
from twin.tissue.optics import SITES, SkinModel, parse_skin

TISSUE_KEYS = (
    "skin_type",
    "depths_mm",
    "layers",
    "outside_n",
    "site",
    "targets",
    "lateral_spread_mm",
)
LAYER_KEYS = ("thickness_mm", "mua_per_mm", "mus_prime_per_mm", "g", "n")
TARGET_KEYS = ("depth_mm", "fluence_window_j_cm2")
#: The treated skin as a whole, as a depth target's name.
ROI = "roi"
DEFAULT_DEPTHS_MM = (0.1, 0.5, 1.0, 2.0, 4.0)
MAX_DEPTHS = 32
#: Widest lateral blur, mm (the spread of red and NIR light is 1-3 mm).
MAX_SPREAD_MM = 10.0


@dataclass(frozen=True)
class DepthTarget:
    """A band of depth where a region's dose is judged.

    Attributes
    ----------
    depth_mm : (float, float), mm
        Top and bottom of the band; the dose there is the mean over it.
    fluence_window_j_cm2 : (float, float) or None, J/cm^2
        The window; ``None``: the scene's ``dose.fluence_window_j_cm2``.
    """

    depth_mm: tuple[float, float]
    fluence_window_j_cm2: tuple[float, float] | None = None


@dataclass(frozen=True)
class TissueSettings:
    """What the scene asks of the light in tissue.

    Attributes
    ----------
    skin : str
        ``"I"`` .. ``"VI"``, ``"custom"`` (a chromophore mix) or ``"layers"``.
    model : SkinModel or None
        The chromophore model (``None`` with explicit layers).
    layers : dict of str to tuple of Layer, or None
        Explicit layers per channel.
    depths_mm : tuple of float, mm
    depth_labels : tuple of str
        Each depth as the scene wrote it (``0.5``, ``1.0``), for column names.
    outside_n : float
        Refractive index above the skin.
    site : str or None
        Body site of skin that no built-in region places (``None``: the anatomy's own, else
        ``face``).
    targets : dict of str to DepthTarget
        Per region (or ``roi``).
    lateral_spread_mm : dict of str to float, mm
        Per channel, the lateral blur's standard deviation (absent or 0: none).
    spec : dict
        The section as data again (for ``scene.resolved.yaml``).
    """

    skin: str
    model: SkinModel | None
    layers: dict[str, tuple[Layer, ...]] | None
    depths_mm: tuple[float, ...]
    depth_labels: tuple[str, ...]
    outside_n: float = 1.0
    site: str | None = None
    targets: dict[str, DepthTarget] = field(default_factory=dict)
    lateral_spread_mm: dict[str, float] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)

    def with_skin(self, skin: str) -> TissueSettings:
        """Return the same settings for another Fitzpatrick type (populations, comparisons)."""
        label, model = parse_skin(skin, name="skin_type")
        spec = {k: v for k, v in self.spec.items() if k != "layers"}
        return replace(
            self, skin=label, model=model, layers=None, spec={**spec, "skin_type": label}
        )


def _as_depth(value: Any, *, name: str) -> float:
    return as_bounded(value, name=name, low=0.0, high=MAX_DEPTH_MM)


def _as_spread(value: Any, *, name: str) -> float:
    return as_bounded(value, name=name, low=0.0, high=MAX_SPREAD_MM)


def _as_pair(value: Any, *, name: str, as_number: Any) -> tuple[float, float]:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        msg = f"{name}: expected [low, high], got {value!r}"
        raise InputError(msg)
    low, high = as_number(value[0], name=f"{name}[0]"), as_number(value[1], name=f"{name}[1]")
    if high < low:
        msg = f"{name}: expected low <= high, got [{low:g}, {high:g}]"
        raise InputError(msg)
    return low, high


def _parse_layers(
    value: Any, *, name: str, channels: Sequence[str]
) -> dict[str, tuple[Layer, ...]]:
    if not isinstance(value, list) or not value:
        msg = f"{name}: expected a list of layers (top first), got {value!r}"
        raise InputError(msg)
    per_channel: dict[str, list[Layer]] = {c: [] for c in channels}
    for i, raw in enumerate(value):
        where = f"{name}[{i}]"
        spec = as_mapping(raw, name=where)
        check_keys(spec, LAYER_KEYS, name=where)
        missing = [k for k in LAYER_KEYS if k not in spec]
        if missing:
            msg = f"{where}: missing {', '.join(missing)}"
            raise InputError(msg)
        values: dict[str, dict[str, Any]] = {}
        for key in LAYER_KEYS:
            item = spec[key]
            if isinstance(item, dict):
                check_keys(item, channels, name=f"{where}.{key}", what="channel")
                absent = [c for c in channels if c not in item]
                if absent:
                    msg = f"{where}.{key}: no value for channel(s) {', '.join(absent)}"
                    raise InputError(msg)
                values[key] = item
            else:
                values[key] = dict.fromkeys(channels, item)
        for c in channels:
            thickness = values["thickness_mm"][c]
            if isinstance(thickness, str) and thickness.strip().lower() in (".inf", "inf"):
                thickness = math.inf
            per_channel[c].append(
                Layer(
                    thickness_mm=thickness,
                    mua_per_mm=values["mua_per_mm"][c],
                    mus_prime_per_mm=values["mus_prime_per_mm"][c],
                    g=values["g"][c],
                    n=values["n"][c],
                )
            )
    return {c: check_layers(stack, name=name) for c, stack in per_channel.items()}


def parse_tissue(
    spec: Any, *, where: str, channels: Sequence[str], regions: Sequence[str]
) -> TissueSettings | None:
    """Parse a scene's ``tissue:`` section (absent: ``None``, no light in tissue).

    Parameters
    ----------
    spec : mapping or None
    where : str
        The scene file and section, for messages.
    channels : sequence of str
        The scene's channels (explicit layers may give values per channel).
    regions : sequence of str
        The target's regions (a depth target names one, or ``roi``).

    Raises
    ------
    InputError
        Naming the key, what was expected and what was found.
    """
    if spec is None:
        return None
    spec = as_mapping(spec, name=where)
    check_keys(spec, TISSUE_KEYS, name=where)
    if "skin_type" in spec and "layers" in spec:
        msg = f"{where}: give skin_type or layers, not both"
        raise InputError(msg)
    layers = None
    if "layers" in spec:
        layers = _parse_layers(spec["layers"], name=f"{where}.layers", channels=channels)
        skin, model = "layers", None
    else:
        skin, model = parse_skin(spec.get("skin_type", "II"), name=f"{where}.skin_type")
    raw_depths = spec.get("depths_mm", list(DEFAULT_DEPTHS_MM))
    if not isinstance(raw_depths, list) or not 1 <= len(raw_depths) <= MAX_DEPTHS:
        expected = f"a list of 1 to {MAX_DEPTHS} depths in mm"
        msg = f"{where}.depths_mm: expected {expected}, got {shorten(repr(raw_depths))}"
        raise InputError(msg)
    depths = tuple(_as_depth(d, name=f"{where}.depths_mm[{i}]") for i, d in enumerate(raw_depths))
    if any(b <= a for a, b in itertools.pairwise(depths)):
        msg = f"{where}.depths_mm: expected increasing depths, got {list(depths)}"
        raise InputError(msg)
    outside_n = as_bounded(
        spec.get("outside_n", 1.0), name=f"{where}.outside_n", low=1.0, high=3.0
    )
    site = None
    if "site" in spec:
        site = as_string(spec["site"], name=f"{where}.site")
        check_keys([site], SITES, name=f"{where}.site", what="body site")
    targets = {}
    raw_targets = as_mapping(spec.get("targets", {}), name=f"{where}.targets")
    check_keys(raw_targets, [ROI, *regions], name=f"{where}.targets", what="region")
    for region, raw in raw_targets.items():
        at = f"{where}.targets.{region}"
        target = as_mapping(raw, name=at)
        check_keys(target, TARGET_KEYS, name=at)
        if "depth_mm" not in target:
            msg = f"{at}: missing depth_mm ([top, bottom] in mm)"
            raise InputError(msg)
        window = None
        if "fluence_window_j_cm2" in target:
            window = _as_pair(
                target["fluence_window_j_cm2"],
                name=f"{at}.fluence_window_j_cm2",
                as_number=lambda v, name: as_positive(v, name=name, allow_zero=True),
            )
        targets[region] = DepthTarget(
            depth_mm=_as_pair(target["depth_mm"], name=f"{at}.depth_mm", as_number=_as_depth),
            fluence_window_j_cm2=window,
        )
    spread = spec.get("lateral_spread_mm", 0.0)
    where_spread = f"{where}.lateral_spread_mm"
    if isinstance(spread, dict):
        check_keys(spread, channels, name=where_spread, what="channel")
        spreads = {c: _as_spread(v, name=f"{where_spread}.{c}") for c, v in spread.items()}
    else:
        spreads = dict.fromkeys(channels, _as_spread(spread, name=where_spread))
    return TissueSettings(
        skin=skin,
        model=model,
        layers=layers,
        depths_mm=depths,
        depth_labels=tuple(str(d) for d in raw_depths),
        outside_n=outside_n,
        site=site,
        targets=targets,
        lateral_spread_mm={c: v for c, v in spreads.items() if v > 0},
        spec={**spec, "depths_mm": list(raw_depths)},
    )
