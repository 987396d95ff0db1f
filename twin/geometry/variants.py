"""Shape variants of the built-in body and seeded populations of them.

A variant adds CC0 MakeHuman shape targets (``geometry/hm08_targets.npz.xz``) to the hm08 base
mesh, so every variant keeps the base's vertex numbering and therefore its regions and
landmarks. The macro parameters (sex, age, muscle, weight, height, proportions) are combined
as MakeHuman combines them (``targets/macrodetails/macro.json``): each parameter is split into
weights of its neighbouring key shapes and each universal, height and proportions target is
weighted by the product of its keys' weights (race stays at MakeHuman's equal thirds). Local
head and face shapes add single targets on top.

Check values (MakeHuman's own): a 25-year-old female is 159.0 cm tall, a male 173.0 cm, and
the all-default :class:`Variant` (sex 0.5) is MakeHuman's default human, 165.9 cm.
"""

from __future__ import annotations

import io
import itertools
import lzma
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin._data import data_dir
from twin._validation import MAX_POPULATION, as_count, check_keys
from twin.errors import InputError

TARGET_STEP_MM = 0.1  # the source's offsets have three decimals of a decimetre
AGE_RANGE_YEARS = (10.0, 90.0)  # MakeHuman's baby shapes (under 10 years) are not shipped
_RACES = ("african", "asian", "caucasian")

#: Local shape parameters and their targets: (decreasing, increasing) targets for the signed
#: ones in [-1, 1]; a single target for the head outlines in [0, 1].
_SIGNED = {
    "nose": (("nose/nose-scale-depth-decr",), ("nose/nose-scale-depth-incr",)),
    "chin": (("chin/chin-prominent-decr",), ("chin/chin-prominent-incr",)),
    "cheeks": (
        ("cheek/l-cheek-bones-decr", "cheek/r-cheek-bones-decr"),
        ("cheek/l-cheek-bones-incr", "cheek/r-cheek-bones-incr"),
    ),
    "forehead": (("forehead/forehead-trans-backward",), ("forehead/forehead-trans-forward",)),
    "ears": (
        ("ears/l-ear-scale-decr", "ears/r-ear-scale-decr"),
        ("ears/l-ear-scale-incr", "ears/r-ear-scale-incr"),
    ),
}
_OUTLINES = {
    "head_oval": "head/head-oval",
    "head_round": "head/head-round",
    "head_square": "head/head-square",
}
_SEX_WORDS = {"female": 0.0, "male": 1.0}
#: How much taller the body grows per unit of the height slider below and above 0.5, cm
#: (MakeHuman's min and max height targets; tested).
HEIGHT_CM_PER_UNIT = (73.4, 144.6)
#: Standard deviation of adult body height within one sex, cm (the population sampler's).
HEIGHT_SD_CM = 7.0


@dataclass(frozen=True)
class Variant:
    """One body shape: MakeHuman's macro parameters plus local head and face shape.

    Parameters
    ----------
    sex : float in [0, 1]
        0 female, 1 male, between the two a blend (MakeHuman's "gender"); scene files also
        accept ``female`` and ``male``.
    age_years : float in [10, 90]
    muscle, weight, height, proportions : float in [0, 1]
        MakeHuman's sliders: 0.5 average, 0 minimum, 1 maximum (weight is BMI-like: 0 thin,
        1 heavy; proportions 1 idealised, 0 uncommon).
    head_oval, head_round, head_square : float in [0, 1]
        Head outline shapes, 0 none.
    nose, chin, cheeks, forehead, ears : float in [-1, 1]
        Nose projection (depth), chin prominence, cheek-bone prominence, forehead slope (+1
        forward) and ear size; 0 the base shape.
    """

    sex: float = 0.5
    age_years: float = 25.0
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    proportions: float = 0.5
    head_oval: float = 0.0
    head_round: float = 0.0
    head_square: float = 0.0
    nose: float = 0.0
    chin: float = 0.0
    cheeks: float = 0.0
    forehead: float = 0.0
    ears: float = 0.0

    def __post_init__(self) -> None:
        """Check every parameter against its range and store it as a float."""
        for f in fields(self):
            value = shape_parameter(f.name, getattr(self, f.name), name=f"variant.{f.name}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_dict(cls, data: Any, *, name: str = "variant") -> Variant:
        """Build a variant from a mapping of parameter names to values (scene files, CLI).

        ``sex`` may also be ``"female"`` or ``"male"``; ``name`` says where the mapping came
        from in error messages.

        Raises
        ------
        InputError
            Naming ``name`` and the key, for an unknown key or a value out of its range.
        """
        if not isinstance(data, dict):
            msg = f"{name}: expected a mapping of shape parameters, got {type(data).__name__}"
            raise InputError(msg)
        check_keys(data, [f.name for f in fields(cls)], name=name)
        return cls(**{k: shape_parameter(k, v, name=f"{name}.{k}") for k, v in data.items()})

    def to_dict(self) -> dict[str, float]:
        """Return the parameters that differ from the defaults (what a scene file needs)."""
        default = Variant()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    @property
    def label(self) -> str:
        """A short description, for example ``female 25 y``."""
        sex = {0.0: "female", 1.0: "male"}.get(self.sex, f"sex {self.sex:.2f}")
        return f"{sex} {self.age_years:.0f} y"


def _range(parameter: str) -> tuple[float, float]:
    if parameter == "age_years":
        return AGE_RANGE_YEARS
    return (-1.0, 1.0) if parameter in _SIGNED else (0.0, 1.0)


def _split3(value: float) -> dict[str, float]:
    """MakeHuman's min / average / max weights of a [0, 1] slider."""
    low, high = max(0.0, 1.0 - 2.0 * value), max(0.0, 2.0 * value - 1.0)
    return {"min": low, "average": 1.0 - low - high, "max": high}


def _age_weights(age_years: float) -> dict[str, float]:
    """MakeHuman's child / young / old weights (its age slider is 0.5 at 25 years)."""
    if age_years < 25.0:
        a = (age_years - 1.0) / 48.0
        young = max(0.0, (a - 0.1875) * 3.2)
        return {"child": max(0.0, min(1.0, 5.333 * a) - young), "young": young, "old": 0.0}
    old = max(0.0, 2.0 * (0.5 + (age_years - 25.0) / 130.0) - 1.0)
    return {"child": 0.0, "young": 1.0 - old, "old": old}


def target_weights(variant: Variant) -> dict[str, float]:
    """Return the weight of each shape target in ``variant`` (only the non-zero ones).

    Returns
    -------
    dict of str to float
        Target path under MakeHuman's ``targets/`` (without ``.target.gz``) to weight.
    """
    sex = {"female": 1.0 - variant.sex, "male": variant.sex}
    age = _age_weights(variant.age_years)
    muscle, weight = _split3(variant.muscle), _split3(variant.weight)
    height, proportions = _split3(variant.height), _split3(variant.proportions)
    out: dict[str, float] = {}
    for (g, wg), (a, wa), (m, wm), (w, ww) in itertools.product(
        sex.items(), age.items(), muscle.items(), weight.items()
    ):
        base = wg * wa * wm * ww
        key = f"{g}-{a}-{m}muscle-{w}weight"
        out[f"macrodetails/universal-{key}"] = base
        for h in ("min", "max"):
            out[f"macrodetails/height/{key}-{h}height"] = base * height[h]
        for p, q in (("min", "uncommon"), ("max", "ideal")):
            out[f"macrodetails/proportions/{key}-{q}proportions"] = base * proportions[p]
    for r, (g, wg), (a, wa) in itertools.product(_RACES, sex.items(), age.items()):
        out[f"macrodetails/{r}-{g}-{a}"] = wg * wa / len(_RACES)
    for parameter, target in _OUTLINES.items():
        out[target] = getattr(variant, parameter)
    for parameter, (decrease, increase) in _SIGNED.items():
        value = getattr(variant, parameter)
        for target in decrease if value < 0 else increase:
            out[target] = abs(value)
    return {k: v for k, v in out.items() if v > 0.0}


@dataclass(frozen=True)
class _Targets:
    names: dict[str, int]  # target path -> index
    starts: NDArray[np.int64]  # (targets + 1,) each target's slice of the arrays below
    vertices: NDArray[np.int64]  # (n,) body vertex moved
    offsets_mm: NDArray[np.float64]  # (n, 3)
    n_body: int  # skin, left eyeball and right eyeball vertices


@cache
def _targets() -> _Targets:
    """Decode the shape targets of ``geometry/hm08_targets.npz.xz`` (about 0.3 s, once)."""
    raw = lzma.decompress((data_dir("geometry") / "hm08_targets.npz.xz").read_bytes())
    asset = np.load(io.BytesIO(raw))
    starts = asset["target_starts"].astype(np.int64)
    steps = asset["target_vertex_steps"].astype(np.int64)
    count = np.diff(starts)
    running = np.cumsum(steps)
    first = starts[:-1][count > 0]
    vertices = running - np.repeat(running[first] - steps[first], count[count > 0])
    offsets = (
        asset["target_offset_high"].view(np.int8).astype(np.int64) * 256
        + asset["target_offset_low"]
    )  # (3, n) counts of TARGET_STEP_MM
    return _Targets(
        names={str(n): i for i, n in enumerate(asset["target_names"])},
        starts=starts,
        vertices=vertices,
        offsets_mm=np.ascontiguousarray(offsets.T * TARGET_STEP_MM),
        n_body=int(asset["body_vertex_count"]),
    )


def offsets_mm(variant: Variant) -> NDArray[np.float64]:
    """How far ``variant`` moves each body vertex from the base mesh.

    Returns
    -------
    (n, 3) float64, mm
        For the body vertices: the skin (13,380), then the left and the right eyeball's.
    """
    targets = _targets()
    weights = target_weights(variant)
    rows = np.array([targets.names[t] for t in weights])
    lo, hi = targets.starts[rows], targets.starts[rows + 1]
    pick = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
    scale = np.repeat(np.fromiter(weights.values(), float, len(weights)), hi - lo)
    index = targets.vertices[pick]
    moved = targets.offsets_mm[pick] * scale[:, None]
    return np.stack(
        [np.bincount(index, moved[:, k], minlength=targets.n_body) for k in range(3)], axis=1
    )


def _height_slider(deviation_cm: float) -> float:
    """Return the height slider that makes a body ``deviation_cm`` taller than average."""
    per_unit = HEIGHT_CM_PER_UNIT[1] if deviation_cm > 0 else HEIGHT_CM_PER_UNIT[0]
    return float(np.clip(0.5 + deviation_cm / per_unit, 0.0, 1.0))


def shape_parameter(parameter: str, value: Any, *, name: str) -> float:
    """Check one :class:`Variant` parameter against its range; ``name`` names it in messages.

    ``sex`` may also be ``"female"`` or ``"male"`` (or such a number as text).

    Raises
    ------
    InputError
        Naming ``name``, the range and the value.
    """
    if parameter == "sex" and isinstance(value, str):
        if value in _SEX_WORDS:
            return _SEX_WORDS[value]
        try:
            value = float(value)
        except ValueError:
            msg = f"{name}: expected female, male or a number in [0, 1], got {value!r}"
            raise InputError(msg) from None
    lo, hi = _range(parameter)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not lo <= value <= hi:
        msg = f"{name}: expected a number in [{lo:g}, {hi:g}], got {value!r}"
        raise InputError(msg)
    return float(value)


def population(
    size: int,
    *,
    seed: int,
    age_years: tuple[float, float] = (18.0, 70.0),
    name: str = "population",
) -> tuple[Variant, ...]:
    """Draw a reproducible sample of adult variants.

    Half female and half male (the odd one drawn at random), ages uniform over ``age_years``,
    body height normal around the sex's average with a standard deviation of ``HEIGHT_SD_CM``,
    BMI-like weight, muscle and proportions normal around MakeHuman's average (standard
    deviations 0.2, 0.15, 0.15, clipped to [0, 1]), one head outline of random strength and
    local face shapes normal around the base (standard deviation 0.35, clipped to [-1, 1]).

    MakeHuman blends child shapes into ages under 25 (a 18-year-old female is 143 cm tall at
    average height), so the youngest members of a population are smaller than real adults.

    Parameters
    ----------
    size : int
        Number of variants, at least 1.
    seed : int
        Seed of numpy's default generator: the same seed gives the same population.
    age_years : (float, float)
        Age range, within [10, 90].
    name : str
        Where the population was asked for, named in messages.

    Returns
    -------
    tuple of Variant
    """
    size = as_count(size, name=f"{name}.size", most=MAX_POPULATION)
    lo, hi = age_years
    if not AGE_RANGE_YEARS[0] <= lo <= hi <= AGE_RANGE_YEARS[1]:
        msg = (
            f"{name}.age_years: expected [youngest, oldest] within "
            f"[{AGE_RANGE_YEARS[0]:g}, {AGE_RANGE_YEARS[1]:g}], got {list(age_years)}"
        )
        raise InputError(msg)
    rng = np.random.default_rng(seed)
    sexes = np.resize([0.0, 1.0], size)
    if size % 2:
        sexes[-1] = float(rng.integers(2))
    rng.shuffle(sexes)

    def normal(centre: float, sd: float, lo: float, hi: float) -> float:
        return float(np.clip(rng.normal(centre, sd), lo, hi))

    out = []
    for sex in sexes:
        outline = dict.fromkeys(_OUTLINES, 0.0)
        outline[str(rng.choice(list(_OUTLINES)))] = float(rng.uniform(0.0, 1.0))
        out.append(
            Variant(
                sex=float(sex),
                age_years=float(rng.uniform(lo, hi)),
                muscle=normal(0.5, 0.15, 0.0, 1.0),
                weight=normal(0.5, 0.2, 0.0, 1.0),
                height=_height_slider(rng.normal(0.0, HEIGHT_SD_CM)),
                proportions=normal(0.5, 0.15, 0.0, 1.0),
                **outline,
                **{p: normal(0.0, 0.35, -1.0, 1.0) for p in _SIGNED},
            )
        )
    return tuple(out)
