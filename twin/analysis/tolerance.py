"""``twin tolerance``: Monte Carlo over how devices are made and worn.

Each run draws the factors of :class:`Tolerances` and computes the scene's metrics:

- **power-only** factors change what each LED emits, not where its light goes: LED flux
  binning (each LED's flux times ``1 + sigma_c z``, ``z`` standard normal, ``sigma_c`` its
  channel's spread), dead LEDs (each dead with a probability), dead driver strings (so many
  strings of LEDs in series, as :func:`twin.analysis.groups.drive_groups` wires them, dead
  at once) and thermal droop (flux times ``1 - droop_c dT``, the temperature rise ``dT`` drawn
  uniformly in a range). They are products with the nominal render's transfer matrix
  (:class:`PowerOnly`): no ray is cast, and every metric is computed by the functions of a
  render (:func:`twin.pipeline.metrics.render_metrics`) on the perturbed maps;
- **geometric** factors move the light: aiming error (each LED's axis tilted by an angle
  normal in two directions across it) and misplacement (the whole device, LEDs and carrier,
  shifted across its mean axis and turned about it). Each such run casts its rays again.

Runs go to the executor (:mod:`twin.analysis.executor`) as tasks: the nominal render first
(it stores the transfer matrix in the cache folder and gives each LED's driver string), then
chunks of power-only runs (each worker keeps the nominal render it loaded for the next chunk)
or one geometric run per task. Every run draws each factor from its own random stream
(seeded by the seed, the run and the factor), so a run's draws do not depend on which other
factors are on, how runs were chunked or which executor ran them.

The summary (:func:`summarise`): each metric's distribution (min, 5th percentile, median,
95th percentile, max), the **yield** (the fraction of runs that pass every one of the scene's
``checks.rules``, with its Wilson 95 % interval, and how often each rule fails) and the
**most sensitive factors**: Spearman's rank correlation of each factor's draw with each
metric, and its share of the squared correlations (a contribution to variance).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from twin._data import scene_path
from twin._validation import as_count, as_positive, check_keys
from twin.analysis.check import check_rule_metrics, rule_rows
from twin.analysis.groups import STRING_LEDS
from twin.analysis.sweep import column, nested, slim, table_csv
from twin.analysis.sweep_design import registered
from twin.dose.registry import BASELINE, metric_value
from twin.errors import InputError, TwinError
from twin.scene import list_members, read_scene_file, scene_from_dict
from twin.scene.checks import Rule

if TYPE_CHECKING:
    from twin.analysis.executor import Executor
    from twin.pipeline.render import RenderResult
    from twin.scene import Scene

#: The factors, in the order of their random streams (a factor's draws never depend on the
#: others').
FACTORS = ("flux", "dead_leds", "dead_strings", "droop", "aim", "misplace")
#: Power-only runs per task at most (the progress bar moves once per task).
CHUNK_RUNS = 25
#: The percentiles of each metric's distribution.
PERCENTILES = (5, 50, 95)


@dataclass(frozen=True)
class Tolerances:
    """What varies from device to device and wearing to wearing; every factor off by default.

    Attributes
    ----------
    flux_spread : dict of str to float
        Per channel, the standard deviation of an LED's flux as a fraction of its nominal
        flux (binning: 0.05 for 5 %).
    dead_leds : float
        The probability that an LED is dead, in [0, 1].
    dead_strings : int
        Driver strings dead in each device.
    string_leds : int
        LEDs in series per driver string.
    droop_per_k : dict of str to float
        Per channel, the fraction of flux lost per kelvin of temperature rise.
    temperature_rise_k : (float, float), K
        The range the temperature rise is drawn from (uniformly; equal ends: that rise).
    aim_deg : float, degrees
        Standard deviation of each LED axis's tilt in each of two directions across it.
    misplace_mm : float, mm
        Standard deviation of the device's shift in each of two directions across its mean
        axis.
    misplace_deg : float, degrees
        Standard deviation of the device's turn about its mean axis.
    """

    flux_spread: dict[str, float] = field(default_factory=dict)
    dead_leds: float = 0.0
    dead_strings: int = 0
    string_leds: int = STRING_LEDS
    droop_per_k: dict[str, float] = field(default_factory=dict)
    temperature_rise_k: tuple[float, float] = (0.0, 0.0)
    aim_deg: float = 0.0
    misplace_mm: float = 0.0
    misplace_deg: float = 0.0

    def __post_init__(self) -> None:
        """Check every value (InputError naming the attribute)."""
        for name in ("flux_spread", "droop_per_k"):
            for channel, value in getattr(self, name).items():
                as_positive(value, name=f"{name}.{channel}", allow_zero=True)
        for name in ("dead_leds", "aim_deg", "misplace_mm", "misplace_deg"):
            as_positive(getattr(self, name), name=name, allow_zero=True)
        if self.dead_leds > 1:
            msg = f"dead_leds: expected a probability in [0, 1], got {self.dead_leds!r}"
            raise InputError(msg)
        as_count(self.dead_strings, name="dead_strings", least=0)
        as_count(self.string_leds, name="string_leds")
        low, high = (as_positive(t, name="temperature_rise_k", allow_zero=True)
                     for t in self.temperature_rise_k)  # fmt: skip
        if low > high:
            msg = f"temperature_rise_k: expected low <= high, got {self.temperature_rise_k!r}"
            raise InputError(msg)

    @property
    def geometric(self) -> bool:
        """Whether a run moves the light (and so casts its rays again)."""
        return self.aim_deg > 0 or self.misplace_mm > 0 or self.misplace_deg > 0

    def draw_columns(self) -> list[str]:
        """Return the names of the draws each run records, in order."""
        out = [f"flux_{c}" for c in self.flux_spread]
        if self.dead_leds > 0:
            out += ["dead_leds", "dead_leds_share"]
        if self.dead_strings > 0:
            out += ["dead_strings_share"]
        if self.droop_per_k:
            out += ["temperature_rise_k"]
        if self.aim_deg > 0:
            out += ["aim_rms_deg"]
        if self.misplace_mm > 0 or self.misplace_deg > 0:
            out += ["misplace_mm", "misplace_deg"]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the factors as ``tolerance.json`` states them."""
        return dataclasses.asdict(self)


def per_channel(text: str, *, channels: Sequence[str], name: str) -> dict[str, float]:
    """Parse ``5`` (every channel) or ``red=5,nir=3`` (per channel) into numbers per channel.

    Raises
    ------
    InputError
        Naming ``name``: not a number >= 0, or an unknown channel (the nearest named).
    """
    text = text.strip()
    if "=" not in text:
        return dict.fromkeys(channels, _number(text, name=name))
    out = {}
    for item in text.split(","):
        key, _, number = item.partition("=")
        check_keys([key.strip()], channels, name=name, what="channel")
        out[key.strip()] = _number(number, name=f"{name} {key.strip()}")
    return out


def _number(text: str, *, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"{name}: expected a number >= 0, got {text.strip()!r}"
        raise InputError(msg) from None
    return as_positive(value, name=name, allow_zero=True)


def _rng(seed: int, run: int, factor: str) -> np.random.Generator:
    """Return the random stream of one factor in one run."""
    key = (run, FACTORS.index(factor))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _share(weights: NDArray[np.float64], mask: NDArray[np.bool_]) -> float | None:
    total = float(weights.sum())
    return float(weights[mask].sum() / total) if total > 0 else None


def draw_power(
    power_mw: NDArray[np.float64],
    channel: NDArray[np.str_],
    *,
    tolerances: Tolerances,
    seed: int,
    run: int,
    weights: NDArray[np.float64],
    strings: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.float64], dict[str, float | None]]:
    """Draw one run's power-only factors: each LED's perturbed flux.

    Parameters
    ----------
    power_mw : (n,) float64, mW
        Each LED's nominal flux at full drive.
    channel : (n,) str
    tolerances : Tolerances
    seed, run : int
        The run's random streams (one per factor).
    weights : (n,) float64
        Each LED's share of the treated skin's nominal direct light (the weights of the
        recorded draws: a channel's flux is the weighted mean of its LEDs'; a dead LED's
        share is its weight).
    strings : (n,) int64, optional
        Each LED's driver string (-1: on no string); needed for dead strings.

    Returns
    -------
    power_mw : (n,) float64, mW
        The perturbed flux, >= 0 (a dead LED's 0).
    draws : dict of str to float or None
        The run's draws (:meth:`Tolerances.draw_columns`); ``None`` where undefined (a
        channel the treated skin gets no light from).
    """
    n = len(power_mw)
    factor = np.ones(n)
    draws: dict[str, float | None] = {}
    tol = tolerances
    if tol.flux_spread:
        sigma = np.array([tol.flux_spread.get(str(c), 0.0) for c in channel])
        flux = np.clip(1.0 + sigma * _rng(seed, run, "flux").standard_normal(n), 0.0, None)
        factor *= flux
        for c in tol.flux_spread:
            w = np.where(channel == c, weights, 0.0)
            draws[f"flux_{c}"] = float(w @ flux / w.sum()) if w.sum() > 0 else None
    if tol.dead_leds > 0:
        dead = _rng(seed, run, "dead_leds").random(n) < tol.dead_leds
        factor[dead] = 0.0
        draws["dead_leds"] = int(dead.sum())
        draws["dead_leds_share"] = _share(weights, dead)
    if tol.dead_strings > 0:
        if strings is None:
            msg = "strings: dead strings need each LED's driver string"
            raise InputError(msg)
        names = np.unique(strings[strings >= 0])
        count = min(tol.dead_strings, len(names))
        chosen = _rng(seed, run, "dead_strings").choice(names, size=count, replace=False)
        dead = np.isin(strings, chosen)
        factor[dead] = 0.0
        draws["dead_strings_share"] = _share(weights, dead)
    if tol.droop_per_k:
        low, high = tol.temperature_rise_k
        rise = low if low == high else float(_rng(seed, run, "droop").uniform(low, high))
        droop = np.array([tol.droop_per_k.get(str(c), 0.0) for c in channel])
        factor *= np.clip(1.0 - droop * rise, 0.0, None)
        draws["temperature_rise_k"] = rise
    return power_mw * factor, draws


def _across(axes: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two unit vectors across each axis, at right angles to it and to each other."""
    helper = np.where(np.abs(axes[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(axes, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u, np.cross(axes, u)


def _rotation(axis: NDArray[np.float64], angle_rad: float) -> NDArray[np.float64]:
    """Return the 3 x 3 rotation by ``angle_rad`` about the unit ``axis`` (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1 - math.cos(angle_rad)) * (k @ k)


def draw_geometry(
    scene: Scene, *, tolerances: Tolerances, seed: int, run: int
) -> tuple[Scene, dict[str, float | None]]:
    """Draw one run's geometric factors: the scene with its LEDs re-aimed and moved.

    Aiming: each axis tilted by ``(a, b)``, each normal with ``aim_deg``, towards two
    directions across it. Misplacement: the LEDs and the carrier turned about the device's
    mean axis (through the LEDs' centroid) by a normal angle of ``misplace_deg`` and shifted
    by a normal ``misplace_mm`` in each of two directions across that axis. The scene keeps
    its design (``layout``): it is the same device, worn otherwise.

    Returns
    -------
    scene : Scene
    draws : dict of str to float
        ``aim_rms_deg`` (the root mean square tilt), ``misplace_mm`` (the shift's length),
        ``misplace_deg`` (the turn's size) — of the factors that are on.
    """
    tol, e = tolerances, scene.emitters
    positions, axes = e.positions_mm, e.axes
    draws: dict[str, float | None] = {}
    carrier = scene.carrier
    if tol.aim_deg > 0:
        tilt = np.radians(tol.aim_deg) * _rng(seed, run, "aim").standard_normal((len(e), 2))
        u, v = _across(axes)
        angle = np.linalg.norm(tilt, axis=1)
        towards = tilt[:, :1] * u + tilt[:, 1:] * v
        towards /= np.where(angle > 0, angle, 1.0)[:, None]
        axes = np.cos(angle)[:, None] * axes + np.sin(angle)[:, None] * towards
        draws["aim_rms_deg"] = float(np.degrees(np.sqrt(np.mean(angle**2))))
    if tol.misplace_mm > 0 or tol.misplace_deg > 0:
        rng = _rng(seed, run, "misplace")
        shift_mm = tol.misplace_mm * rng.standard_normal(2)
        turn = math.radians(tol.misplace_deg) * float(rng.standard_normal())
        mean_axis = e.axes.sum(axis=0)
        mean_axis /= np.linalg.norm(mean_axis)
        u, v = (w[0] for w in _across(mean_axis[None, :]))
        rotation = _rotation(mean_axis, turn)
        centre = positions.mean(axis=0)
        offset = centre + shift_mm[0] * u + shift_mm[1] * v

        def move(points: NDArray[np.float64]) -> NDArray[np.float64]:
            return (points - centre) @ rotation.T + offset

        positions, axes = move(positions), axes @ rotation.T
        if carrier is not None:
            from twin.geometry.surface import Surface

            carrier = Surface(move(carrier.vertices_mm), carrier.faces, name=carrier.name)
        draws["misplace_mm"] = float(np.hypot(*shift_mm))
        draws["misplace_deg"] = abs(math.degrees(turn))
    moved = e.derive(positions_mm=positions, axes=axes, name=scene.name)
    return dataclasses.replace(scene, emitters=moved, carrier=carrier), draws


class PowerOnly:
    """A render whose LEDs' flux changes without a ray cast: its metrics at other powers.

    Everything but the powers is the render's (transfer matrix with the returned light, depth
    kernels, eye detector, axis landings), and :meth:`metrics` computes them as the render
    did (:func:`twin.pipeline.metrics.render_metrics`), so at the nominal powers it gives the
    render's metrics. Detectors are not read again.

    Parameters
    ----------
    result : RenderResult
    cache_dir : Path, optional
        Where Monte Carlo depth kernels are kept (the render's cache folder).
    """

    def __init__(self, result: RenderResult, *, cache_dir: Path | None = None) -> None:
        from twin.dose.maps import emitter_power_mw
        from twin.pipeline.render import skin_clearance_mm
        from twin.pipeline.tissue import render_kernels

        scene, samples = result.scene, result.samples
        self.result = result
        self.kernels = render_kernels(scene, samples, cache_dir=cache_dir)
        self.clearance_mm = skin_clearance_mm(scene.emitters.positions_mm, scene.target)
        area = np.where(result.roi, samples.areas_mm2, 0.0)
        direct = result.transfer.matrix.T @ (area / area.sum())
        #: (n,) each LED's share of the treated skin's mean direct irradiance, nominal drive.
        self.weights = direct * emitter_power_mw(scene.emitters, scene.drive)

    @property
    def power_mw(self) -> NDArray[np.float64]:
        """(n,) float64, mW: each LED's nominal flux at full drive."""
        return self.result.scene.emitters.power_mw

    def metrics(self, power_mw: NDArray[np.float64]) -> dict[str, Any]:
        """Return ``metrics.json`` content with each LED at ``power_mw`` (full drive, mW).

        A dead LED is at 0 mW: the powers are set on a copy of the emitters directly (not
        through :meth:`twin.devices.emitters.Emitters.create`, which refuses 0 mW for an LED
        of a scene).
        """
        from twin.dose.maps import dose_maps
        from twin.pipeline.metrics import render_metrics
        from twin.pipeline.tissue import render_tissue

        r = self.result
        emitters = dataclasses.replace(r.scene.emitters, power_mw=np.asarray(power_mw, float))
        scene = dataclasses.replace(r.scene, emitters=emitters)
        maps = dose_maps(r.transfer, emitters, drive=scene.drive, exposure_s=scene.exposure_s)
        blocks = render_metrics(
            scene,
            samples=r.samples,
            roi=r.roi,
            transfer=r.transfer,
            maps=maps,
            gap_mm=r.gap_mm,
            incidence_deg=r.incidence_deg,
            clearance_mm=self.clearance_mm,
            eye_detector=r.eye,
            tissue=render_tissue(scene, r.samples, r.transfer, self.kernels),
        )
        return blocks.to_dict()


@dataclass(frozen=True)
class RunsTask:
    """Runs of a tolerance analysis on a worker: the scene as data and what to draw.

    Attributes
    ----------
    data : dict
        The scene file's data.
    base : str
        The folder its relative paths are read from.
    path : str
        The scene file, named in messages.
    cache_dir : str or None
        The transfer-matrix cache folder.
    tolerances : Tolerances
    seed : int
    runs : tuple of int
        The runs to draw (empty: the nominal render alone).
    paths : tuple of str
        The metric paths to bring back.
    strings : tuple of int or None
        Each LED's driver string (from the nominal task), for dead strings.
    """

    data: dict[str, Any]
    base: str
    path: str
    cache_dir: str | None
    tolerances: Tolerances
    seed: int
    runs: tuple[int, ...]
    paths: tuple[str, ...]
    strings: tuple[int, ...] | None = None


def _load(task: RunsTask) -> Scene:
    return scene_from_dict(task.data, base=Path(task.base), path=Path(task.path))


@functools.lru_cache(maxsize=1)
def _nominal(spec: str, base: str, path: str, cache_dir: str | None) -> PowerOnly:
    """Return the nominal render of a scene, kept by each worker process for its next task."""
    from twin.engine.cache import TransferCache
    from twin.pipeline.render import render

    scene = scene_from_dict(json.loads(spec), base=Path(base), path=Path(path))
    folder = None if cache_dir is None else Path(cache_dir)
    result = render(scene, workers=1, cache=None if folder is None else TransferCache(folder))
    return PowerOnly(result, cache_dir=folder)


def _evaluator(task: RunsTask) -> PowerOnly:
    spec = json.dumps(task.data, sort_keys=True, default=str)
    return _nominal(spec, task.base, task.path, task.cache_dir)


def nominal_run(task: RunsTask) -> dict[str, Any]:
    """Render the nominal scene (storing its matrix in the cache); a worker task.

    Returns
    -------
    dict
        ``metrics`` (:func:`twin.analysis.sweep.slim`), ``seconds``, and ``strings``: each
        LED's driver string as :func:`twin.analysis.groups.drive_groups` wires them (with
        dead strings; else ``None``).

    Raises
    ------
    InputError
        For a scene that cannot be rendered, or whose rules name a metric it has not.
    """
    start = time.perf_counter()
    evaluator = _evaluator(task)
    seconds = time.perf_counter() - start
    strings = None
    if task.tolerances.dead_strings > 0:
        strings = tuple(int(s) for s in _strings(evaluator.result, task.tolerances.string_leds))
    metrics = evaluator.result.metrics
    check_rule_metrics(evaluator.result.scene.checks.rules, metrics, name=f"{task.path}: checks")
    return {"metrics": slim(metrics, task.paths), "seconds": seconds, "strings": strings}


def _strings(result: RenderResult, string_leds: int) -> NDArray[np.int64]:
    """Each LED's driver string (-1 for the LEDs of channels that are off)."""
    from twin.analysis.groups import drive_groups
    from twin.analysis.problem import DoseProblem
    from twin.dose.hazards import counts_as_ir

    scene = result.scene
    e = scene.emitters
    problem = DoseProblem(
        matrix=result.transfer.matrix,
        power_mw=e.power_mw,
        channel=e.channel,
        channel_levels=dict(scene.drive),
        ir=np.array([counts_as_ir(e.spectra.get(str(c))) for c in e.channel]),
        areas_mm2=result.samples.areas_mm2,
        roi=result.roi,
        dose=scene.dose,
        exposure_s=scene.exposure_s,
        positions_mm=e.positions_mm,
        name=scene.name,
    )
    _, group_of = drive_groups(problem, group="string", string_leds=string_leds)
    return group_of


def tolerance_runs(task: RunsTask) -> list[dict[str, Any]]:
    """Draw and evaluate some runs; a worker task.

    Power-only runs reuse the worker's nominal render (:class:`PowerOnly`); a run with
    geometric factors renders its moved scene (no cache: each is cast once).

    Returns
    -------
    list of dict
        Per run: ``run``, ``draws``, ``metrics`` (:func:`twin.analysis.sweep.slim`),
        ``seconds``, and ``error`` (``None``, or why the run failed: the others go on).
    """
    from twin.pipeline.render import render

    tol = task.tolerances
    strings = None if task.strings is None else np.array(task.strings, dtype=np.int64)
    nominal = None if tol.geometric else _evaluator(task)
    out = []
    for run in task.runs:
        start = time.perf_counter()
        draws: dict[str, float | None] = {}
        try:
            evaluator = nominal
            if evaluator is None:
                scene, draws = draw_geometry(_load(task), tolerances=tol, seed=task.seed, run=run)
                evaluator = PowerOnly(render(scene, workers=1))
            power, more = draw_power(
                evaluator.power_mw,
                evaluator.result.scene.emitters.channel,
                tolerances=tol,
                seed=task.seed,
                run=run,
                weights=evaluator.weights,
                strings=strings,
            )
            metrics = slim(evaluator.metrics(power), task.paths)
            error = None
            draws |= more
        except Exception as exc:  # this run's error; the others go on
            metrics = {}
            error = str(exc) if isinstance(exc, TwinError) else f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        out.append(
            {"run": run, "draws": draws, "metrics": metrics, "seconds": seconds, "error": error}
        )
    return out


def spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> float | None:
    """Return Spearman's rank correlation of ``x`` and ``y`` (``None`` if either is constant).

    Ties take their mean rank; pairs with a NaN are left out; fewer than 3 pairs give ``None``.
    """
    from scipy.stats import rankdata

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def wilson_interval(passed: int, runs: int, *, z: float = 1.959964) -> tuple[float, float]:
    """Return the Wilson score interval of a yield of ``passed`` in ``runs`` (95 % by default)."""
    if runs == 0:
        return (0.0, 1.0)
    p = passed / runs
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / (1 + z * z / runs)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class ToleranceResult:
    """The runs of a tolerance analysis and what they took.

    Attributes
    ----------
    scene : Path
    tolerances : Tolerances
    runs : int
    seed : int
    paths : tuple of str
        The metric paths recorded per run.
    rules : tuple of Rule
        The scene's ``checks.rules``.
    nominal : dict
        The nominal render's metrics (:func:`twin.analysis.sweep.slim`).
    rows : list of dict
        One per run: ``run``, ``status``, ``error``, the draws, each metric by its column,
        ``rules_passed``.
    timing : dict
        Seconds: ``nominal_render_s``, ``wall_s``, and each run's (``run_s``).
    """

    scene: Path
    tolerances: Tolerances
    runs: int
    seed: int
    paths: tuple[str, ...]
    rules: tuple[Rule, ...]
    nominal: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    timing: dict[str, Any] = field(default_factory=dict)

    def columns(self) -> list[str]:
        """Return the columns of ``tolerance.csv``."""
        return ["run", "status", "error", *self.tolerances.draw_columns(),
                *map(column, self.paths), "rules_passed"]  # fmt: skip

    def csv(self) -> str:
        """``tolerance.csv``."""
        return table_csv(self.columns(), self.rows)

    def values(self, path: str) -> NDArray[np.float64]:
        """Return a metric's value in each run that has it."""
        got = [r[column(path)] for r in self.rows if r.get(column(path)) is not None]
        return np.array(got, dtype=np.float64)


def run_tolerance(
    scene: str | Path,
    tolerances: Tolerances,
    *,
    runs: int,
    executor: Executor,
    seed: int = 0,
    cache_dir: Path | None = None,
    metrics: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ToleranceResult:
    """Run a tolerance analysis of a one-scene file on ``executor``.

    Parameters
    ----------
    scene : str or Path
        A scene file (one scene) or a bundled scene's name.
    tolerances : Tolerances
        Its channels must be the scene's.
    runs : int
        Monte Carlo runs, >= 1.
    executor : Executor
        Entered (:func:`twin.analysis.executor.make_executor`).
    seed : int
        Seed of every run's draws, >= 0.
    cache_dir : Path, optional
        The transfer-matrix cache folder, shared by the workers (``None``: none; each
        worker then casts the nominal scene's rays itself).
    metrics : sequence of str, optional
        Registry metric paths per run (default :data:`twin.dose.registry.BASELINE`); the
        rules' metrics are recorded too.
    progress : callable(done, total), optional
        Over every task: the nominal render, then the runs' tasks.

    Returns
    -------
    ToleranceResult

    Raises
    ------
    InputError
        For a bad argument, a population file, a channel the scene does not have, or a
        nominal scene that cannot be rendered.
    """
    start = time.perf_counter()
    runs = as_count(runs, name="runs")
    seed = as_count(seed, name="seed", least=0)
    path = scene_path(scene)
    if len(list_members(path)) > 1:
        msg = f"{path}: a tolerance analysis takes a one-scene file, not a population"
        raise InputError(msg)
    data = read_scene_file(path)
    nominal_scene = scene_from_dict(data, base=path.resolve().parent, path=path)
    channels = nominal_scene.emitters.channels
    for name in ("flux_spread", "droop_per_k"):
        check_keys(getattr(tolerances, name), channels, name=name, what="channel")
    chosen = tuple(metrics) if metrics else BASELINE
    for p in chosen:
        registered(p, name="metrics")
    rules = nominal_scene.checks.rules
    paths = tuple(dict.fromkeys([*chosen, *(r.metric for r in rules)]))
    result = ToleranceResult(path, tolerances, runs, seed, paths, rules)
    cache = None if cache_dir is None else str(cache_dir)
    base = str(path.resolve().parent)

    def task(some: tuple[int, ...], strings: tuple[int, ...] | None = None) -> RunsTask:
        return RunsTask(data, base, str(path), cache, tolerances, seed, some, paths, strings)

    chunks: list[tuple[int, ...]] = []
    if tolerances.geometric:
        chunks = [(r,) for r in range(runs)]
    else:
        size = max(1, min(CHUNK_RUNS, math.ceil(runs / (4 * executor.workers))))
        chunks = [tuple(range(at, min(at + size, runs))) for at in range(0, runs, size)]
    total = 1 + len(chunks)

    def tick(done: int, _total: int, offset: int = 0) -> None:
        if progress is not None:
            progress(offset + done, total)

    first = executor.map(nominal_run, [task(())], progress=tick, label="tolerance-nominal")[0]
    if not first.ok:
        msg = f"{path}: the nominal scene could not be rendered: {first.error}"
        raise InputError(msg)
    nominal = first.value
    assert nominal is not None
    result.nominal = nominal["metrics"]
    result.timing["nominal_render_s"] = nominal["seconds"]
    outcomes = executor.map(
        tolerance_runs,
        [task(c, nominal["strings"]) for c in chunks],
        progress=functools.partial(tick, offset=1),
        label="tolerance",
    )
    for chunk, outcome in zip(chunks, outcomes, strict=True):
        done = outcome.value if outcome.ok else None
        for i, run in enumerate(chunk):
            one = done[i] if done is not None else {"run": run, "error": outcome.error}
            result.rows.append(_row(result, one))
    result.timing["run_s"] = [r.pop("_seconds") for r in result.rows]
    result.timing["wall_s"] = time.perf_counter() - start
    return result


def _row(result: ToleranceResult, one: Mapping[str, Any]) -> dict[str, Any]:
    """One row of ``tolerance.csv`` from a run's outcome."""
    error = one.get("error")
    metrics = one.get("metrics") or {}
    row: dict[str, Any] = {"run": one["run"], "status": "ok" if error is None else "error"}
    row["error"] = error or ""
    row |= dict.fromkeys(result.tolerances.draw_columns())
    row |= one.get("draws") or {}
    for p in result.paths:
        row[column(p)] = metric_value(metrics, p) if error is None else None
    row["rules_passed"] = None
    if error is None and result.rules:
        row["rules_passed"] = all(r.passed for r in rule_rows("", result.rules, [metrics]))
    row["_seconds"] = one.get("seconds")
    return row


def summarise(result: ToleranceResult, *, command: str | None = None) -> dict[str, Any]:
    """Return ``tolerance.json``: the factors, distributions, yield and sensitivities.

    Returns
    -------
    dict
        ``distributions``: per metric path its column, ``nominal``, ``min``, ``p5``,
        ``median``, ``p95``, ``max``, ``mean`` and ``std`` over the runs that have it;
        ``yield``: ``fraction`` of the ok runs passing every rule (``None`` without rules),
        ``passed``, ``runs``, ``interval_95`` (Wilson) and per rule its ``failing_fraction``;
        ``sensitivity``: per metric path the factors by decreasing ``|rank_correlation|``,
        each with its ``variance_share`` (its squared correlation over their sum);
        ``failed``: the runs that could not be evaluated, with why.
    """
    ok = [r for r in result.rows if r["status"] == "ok"]
    distributions = {}
    for p in result.paths:
        v = result.values(p)
        if not len(v):
            continue
        p5, p50, p95 = (float(x) for x in np.percentile(v, PERCENTILES))
        distributions[p] = {
            "column": column(p),
            "nominal": metric_value(result.nominal, p),
            "min": float(v.min()),
            "p5": p5,
            "median": p50,
            "p95": p95,
            "max": float(v.max()),
            "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        }
    passed = sum(1 for r in ok if r["rules_passed"])
    per_rule = []
    for rule in result.rules:
        failing = sum(
            1 for r in ok if not rule_rows("", [rule], [nested(r, result.paths)])[0].passed
        )
        per_rule.append(
            {
                "metric": rule.metric,
                "bounds": rule.bounds,
                "failing_fraction": failing / len(ok) if ok else None,
            }
        )
    yield_block = {
        "fraction": passed / len(ok) if ok and result.rules else None,
        "passed": passed,
        "runs": len(ok),
        "interval_95": list(wilson_interval(passed, len(ok))) if result.rules else None,
        "rules": per_rule,
    }
    draws = result.tolerances.draw_columns()
    sensitivity = {}
    for p in result.paths:
        y = np.array([_num(r.get(column(p))) for r in ok])
        rows: list[dict[str, Any]] = []
        for d in draws:
            x = np.array([_num(r.get(d)) for r in ok])
            rho = spearman(x, y)
            if rho is not None:
                rows.append({"factor": d, "rank_correlation": rho})
        total = sum(r["rank_correlation"] ** 2 for r in rows)
        for r in rows:
            r["variance_share"] = r["rank_correlation"] ** 2 / total if total > 0 else 0.0
        rows.sort(key=lambda r: -abs(r["rank_correlation"]))
        if rows:
            sensitivity[p] = rows
    run_s = [s for s in result.timing.get("run_s", []) if s is not None]
    return {
        "scene": str(result.scene),
        "command": command,
        "runs": result.runs,
        "seed": result.seed,
        "tolerances": result.tolerances.to_dict(),
        "recast": result.tolerances.geometric,
        "distributions": distributions,
        "yield": yield_block,
        "sensitivity": sensitivity,
        "failed": [{"run": r["run"], "error": r["error"]} for r in result.rows if r not in ok],
        "timing": {
            "nominal_render_s": result.timing.get("nominal_render_s"),
            "run_s_median": float(np.median(run_s)) if run_s else None,
            "wall_s": result.timing.get("wall_s"),
        },
    }


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)
