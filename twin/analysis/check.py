"""``twin check``: render a library of scenes and gate them on rules and baselines.

Each scene file may carry design rules (``checks:``, :mod:`twin.scene.checks`); its last accepted
metrics live next to it in ``<scene>.baseline.json``. :func:`run_checks` renders every scene
(population members and scenes in parallel: local worker processes or a Dask cluster,
:mod:`twin.analysis.executor`; transfer matrices from the on-disk cache of
:mod:`twin.engine.cache`), checks every rule and every baselined metric, and returns one
:class:`SceneReport` per scene. A scene that cannot be checked — invalid input, an unusable
backend, or an error inside twin — becomes that scene's error; the others are still checked.
Reports render as a text table, JUnit XML and Markdown (:mod:`twin.analysis.check_report`).

In pytest::

    import pytest
    from twin.analysis import check

    @pytest.mark.parametrize("scene", check.discover(["scenes"]), ids=str)
    def test_scene(scene):
        check.assert_scene(scene)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin._data import scene_path
from twin._validation import check_keys, read_text, shorten
from twin._version import __version__
from twin.analysis.check_report import CheckRun, table
from twin.analysis.executor import Executor, executor_for
from twin.dose.registry import metric_value
from twin.engine.cache import TransferCache
from twin.errors import InputError, TwinError
from twin.files import write_atomic
from twin.scene import Member, list_members, load_member, read_scene_file
from twin.scene.checks import Checks, Rule, parse_checks

BASELINE_SUFFIX = ".baseline.json"
#: Aggregates a population's baseline keeps for each metric.
POPULATION_AGGREGATES = ("min", "median", "max")


@dataclass(frozen=True)
class Row:
    """One check: a rule or a baseline comparison."""

    scene: str
    metric: str
    expected: str  # the baseline value or the rule's bound
    now: float | None
    change: str
    passed: bool
    kind: str  # "rule" or "baseline"

    @property
    def verdict(self) -> str:
        """``"pass"`` or ``"FAIL"``."""
        return "pass" if self.passed else "FAIL"


@dataclass
class SceneReport:
    """The checks of one scene file.

    ``error`` says why the scene could not be checked; ``internal`` marks an error inside twin
    (a bug to report) rather than invalid input.
    """

    path: Path
    name: str
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    values: dict[str, float] = field(default_factory=dict)
    members: int = 1
    internal: bool = False

    def fail(self, exc: Exception) -> None:
        """Record ``exc`` as the reason the scene could not be checked.

        The reason names the scene file (twin's own errors name their file already); an
        exception that is not twin's marks the report ``internal``.
        """
        if isinstance(exc, TwinError):
            self.error = str(exc)
        else:
            self.error = f"{self.path}: internal error: {type(exc).__name__}: {exc}"
            self.internal = True

    @property
    def failed(self) -> list[Row]:
        """The checks that did not pass."""
        return [r for r in self.rows if not r.passed]

    @property
    def ok(self) -> bool:
        """Whether the scene was checked and every check passed."""
        return self.error is None and not self.failed


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Scene files: each path itself, every ``*.yaml`` in a folder (sorted), or a bundled scene."""
    out = []
    for p in paths:
        path = scene_path(p)
        if path.is_dir():
            out += sorted(path.glob("*.yaml"))
        elif path.is_file():
            out.append(path)
        else:
            msg = f"{p}: no such scene file or folder"
            raise InputError(msg)
    return out


def baseline_path(scene_path: Path) -> Path:
    """Where a scene's baseline lives: next to it, ``<name>.baseline.json``."""
    return scene_path.with_name(scene_path.stem + BASELINE_SUFFIX)


def load_baseline(path: Path) -> dict[str, float] | None:
    """Return a baseline's metrics, ``None`` if there is none yet.

    Raises
    ------
    InputError
        If the file is not a baseline (invalid JSON, or not ``{"metrics": {name: number}}``).
    """
    if not path.exists():
        return None
    text = read_text(path, what="baseline")

    def refuse(constant: str) -> None:
        msg = f"{path}: expected finite numbers in a baseline, found {constant}"
        raise InputError(msg)

    try:
        data = json.loads(text, parse_constant=refuse)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        reason = "nested too deeply" if isinstance(exc, RecursionError) else shorten(str(exc))
        msg = f"{path}: not a readable baseline ({reason}); fix it or rewrite it with --update"
        raise InputError(msg) from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str)
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
        for k, v in metrics.items()
    ):
        msg = (
            f'{path}: expected a baseline {{"metrics": {{name: number}}}}; '
            "fix it or rewrite it with --update"
        )
        raise InputError(msg)
    return {k: float(v) for k, v in metrics.items()}


def check_rule_metrics(rules: Sequence[Rule], metrics: dict[str, Any], *, name: str) -> None:
    """Raise unless every rule's metric is a path into ``metrics`` (``metrics.json`` content).

    A path ending in a depth (``tissue.roi.total.fluence_mean_j_cm2[1.0mm]``) must name a
    per-depth list of the ``tissue`` block and one of its ``depths_mm``.

    Raises
    ------
    InputError
        Naming the rule (``name``: where the rules came from), the first unknown key of its
        path and the nearest valid one, or the depths there are.
    """
    for i, rule in enumerate(rules):
        where = f"{name}.rules[{i}].metric"
        path, _, bracket = rule.metric.partition("[")
        value: Any = metrics
        for key in path.split("."):
            if not isinstance(value, dict):
                msg = f"{where}: {rule.metric!r} goes past a number at {key!r}"
                raise InputError(msg)
            check_keys([key], value, name=f"{where} {rule.metric!r}", what="metric key")
            value = value[key]
        depths = metrics.get("tissue", {}).get("depths_mm", [])
        if bracket:
            depth_mm = float(bracket.removesuffix("mm]"))
            if not (isinstance(value, list) and len(value) == len(depths)):
                msg = (
                    f"{where}: {rule.metric!r}: a depth in brackets picks one value of a "
                    f"per-depth list of the tissue block, and {path!r} is not one"
                )
                raise InputError(msg)
            if not any(math.isclose(d, depth_mm, abs_tol=1e-9) for d in depths):
                have = ", ".join(f"{d:g}mm" for d in depths)
                msg = (
                    f"{where}: {rule.metric!r}: expected a depth of tissue.depths_mm "
                    f"({have}), got {depth_mm:g}mm"
                )
                raise InputError(msg)
        elif isinstance(value, list) and depths and len(value) == len(depths):
            msg = (
                f"{where}: {rule.metric!r} names a value per depth; pick one, as in "
                f"{rule.metric}[{depths[0]:g}mm]"
            )
            raise InputError(msg)
        elif isinstance(value, (dict, list)):
            msg = f"{where}: {rule.metric!r} names a group of values, not a number"
            raise InputError(msg)


def _render_member(task: tuple[Member, str | None]) -> dict[str, Any]:
    """Return the metrics of a scene (or population member); a task of (member, cache folder)."""
    from twin.pipeline.render import render

    member, cache_dir = task
    cache = None if cache_dir is None else TransferCache(Path(cache_dir))
    return render(load_member(member), workers=1, cache=cache).metrics


def _aggregate(values: Sequence[float], how: str) -> float:
    if how == "median":
        return float(np.median(values))
    if how in ("p5", "p95"):
        return float(np.percentile(values, 5 if how == "p5" else 95))
    return float(min(values) if how == "min" else max(values))


def rule_rows(scene: str, rules: Sequence[Rule], runs: list[dict]) -> list[Row]:
    """Return one row per rule: its value on the single run, or aggregated over the runs.

    ``runs`` are ``metrics.json`` contents: one for a single scene, one per member of a
    population, whose values are aggregated as each rule says (``Rule.over``).
    """
    rows = []
    for rule in rules:
        values = [v for v in (metric_value(m, rule.metric) for m in runs) if v is not None]
        label = rule.metric if len(runs) == 1 else f"{rule.metric} ({rule.over})"
        if not values:
            rows.append(
                Row(scene, label, rule.bounds, None, "no value", passed=False, kind="rule")
            )
            continue
        if len(runs) == 1:
            now = values[0]
        elif rule.over == "worst":
            now = _worst(rule, values)
        else:
            now = _aggregate(values, rule.over)
        rows.append(Row(scene, label, rule.bounds, now, "", rule.holds(now), "rule"))
    return rows


def _worst(rule: Rule, values: Sequence[float]) -> float:
    """Return the member value that breaks the rule, or the one nearest to breaking it."""
    lo, hi = min(values), max(values)
    if rule.low is not None and lo < rule.low:
        return lo
    if rule.high is not None and hi > rule.high:
        return hi
    if rule.low is None:
        return hi
    if rule.high is None:
        return lo
    return hi if rule.high - hi < lo - rule.low else lo


def _values(checks: Checks, runs: list[dict]) -> dict[str, float]:
    """Return the baselined numbers of a scene: each metric, or its population aggregates."""
    out = {}
    for metric in checks.metrics:
        values = [v for v in (metric_value(m, metric) for m in runs) if v is not None]
        if not values:
            continue
        if len(runs) == 1:
            out[metric] = values[0]
        else:
            for how in POPULATION_AGGREGATES:
                out[f"{metric}@{how}"] = _aggregate(values, how)
    return out


def _change(baseline: float, now: float) -> str:
    delta = now - baseline
    if baseline != 0:
        return f"{delta:+.3g} ({100 * delta / abs(baseline):+.2f} %)"
    return f"{delta:+.3g}"


def _baseline_rows(
    scene: str, checks: Checks, values: dict[str, float], baseline: dict[str, float] | None
) -> list[Row]:
    if baseline is None:
        return [
            Row(
                scene,
                "baseline",
                "none",
                None,
                "run twin check --update",
                passed=False,
                kind="baseline",
            )
        ]
    rows = []
    for metric, now in values.items():
        if metric not in baseline:
            rows.append(
                Row(scene, metric, "none", now, "new metric", passed=False, kind="baseline")
            )
            continue
        before = baseline[metric]
        ok = checks.tolerance_of(metric).allows(before, now)
        rows.append(Row(scene, metric, f"{before:.6g}", now, _change(before, now), ok, "baseline"))
    for metric in sorted(set(baseline) - set(values)):
        rows.append(
            Row(
                scene,
                metric,
                f"{baseline[metric]:.6g}",
                None,
                "gone",
                passed=False,
                kind="baseline",
            )
        )
    return rows


def run_checks(
    paths: Sequence[Path],
    *,
    cache: TransferCache | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    update: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[SceneReport]:
    """Render and check every scene file in ``paths``.

    Parameters
    ----------
    paths : sequence of Path
        Scene files.
    cache : TransferCache, optional
        Transfer-matrix cache (``None``: build every matrix).
    jobs : int, optional
        Local worker processes (default: every CPU, at most one per render; ``1``: in this
        process).
    scheduler : str, optional
        A running Dask scheduler, ``tcp://HOST:PORT``, whose workers render instead
        (:func:`twin.analysis.executor.make_executor`; ``None`` reads ``TWIN_SCHEDULER``).
    executor : Executor, optional
        Render on this one (entered) instead of one made from ``jobs`` and ``scheduler``.
    update : bool
        Write each scene's current metrics as its new baseline (after comparing).
    progress : callable, optional
        Called as ``progress(done, total)`` as each render (a scene or a population member)
        finishes.

    Returns
    -------
    list of SceneReport
        One per scene file; a scene that could not be checked has its ``error`` set
        (:meth:`SceneReport.fail`), and the other scenes are still checked.
    """
    reports, tasks = [], []
    for path in paths:
        report = SceneReport(path, path.stem)
        reports.append(report)
        try:
            members = list_members(path)  # the rest is validated where it is rendered
            report.name = members[0].scene_name
            report.members = len(members)
            data = read_scene_file(path)
            checks = parse_checks(data.get("checks"), name=f"{path}: checks")
            baseline = load_baseline(baseline_path(path))
        except Exception as exc:  # the scene's error; the others go on
            report.fail(exc)
            continue
        tasks.append((report, checks, baseline, members))
    cache_dir = None if cache is None else str(cache.folder)
    renders = [(m, cache_dir) for *_, members in tasks for m in members]
    with executor_for(len(renders), executor=executor, jobs=jobs, scheduler=scheduler) as running:
        results = iter(running.map(_render_member, renders, progress=progress, label="check"))
    for report, checks, baseline, members in tasks:
        ran = [next(results) for _ in members]
        try:
            runs = [r.result() for r in ran]
            check_rule_metrics(checks.rules, runs[0], name=f"{report.path}: checks")
            report.values = _values(checks, runs)
            report.rows = rule_rows(report.name, checks.rules, runs) + _baseline_rows(
                report.name, checks, report.values, baseline
            )
            if update:
                write_baseline(baseline_path(report.path), report)
        except Exception as exc:  # the scene's error; the others go on
            report.fail(exc)
    return reports


def check_scenes(
    paths: Sequence[str | Path],
    *,
    cache: TransferCache | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    update: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CheckRun:
    """``twin check``: find the scene files in ``paths``, render and check them, timed.

    Parameters
    ----------
    paths : sequence of str or Path
        Scene files or folders of them (:func:`discover`).
    cache, jobs, scheduler, executor, update, progress
        As :func:`run_checks`.

    Returns
    -------
    CheckRun

    Raises
    ------
    InputError
        If ``paths`` hold no scene file.
    """
    found = discover(paths)
    if not found:
        msg = f"paths: no scene files in {', '.join(map(str, paths))}"
        raise InputError(msg)
    start = time.perf_counter()
    reports = run_checks(
        found,
        cache=cache,
        jobs=jobs,
        scheduler=scheduler,
        executor=executor,
        update=update,
        progress=progress,
    )
    return CheckRun(reports, seconds=time.perf_counter() - start, updated=update)


def write_baseline(path: Path, report: SceneReport) -> None:
    """Write ``report``'s metrics as the scene's baseline (atomically)."""
    data = {
        "scene": report.name,
        "twin_version": __version__,
        "members": report.members,
        "metrics": report.values,
    }
    write_atomic({path: json.dumps(data, indent=2) + "\n"}, name="baseline")


def assert_scene(path: str | Path, *, cache: TransferCache | None = None) -> None:
    """Check one scene file; raise AssertionError listing the failed checks (for pytest)."""
    report = run_checks([Path(path)], cache=cache or TransferCache(), jobs=1)[0]
    if report.error is not None:
        raise AssertionError(report.error)
    if report.failed:
        msg = f"{path}: checks failed\n{table([report], failures_only=True)}"
        raise AssertionError(msg)
