"""``twin sweep``: a design of experiments over any scene key, on the executor.

A sweep varies keys of a scene file's data (``emitters.standoff_mm``, ``exposure_s``,
``tissue.skin_type``, ...) over a **design** (:mod:`twin.analysis.sweep_design`): the full
factorial of each key's levels, or a seeded Latin hypercube of ``samples`` points over their
ranges. Each point is the scene's data with its keys set (a deep copy), loaded and rendered
on a worker of :mod:`twin.analysis.executor` (:func:`render_point`), optionally on each of a
seeded population of wearers. The transfer matrices go through the cache folder
(:class:`twin.engine.cache.TransferCache`): a point that changes only powers, drive levels or
the exposure (``exposure_s``, ``mode``, ``dose``) reuses its geometry's matrix, and those
points run after the first point of their geometry has stored it.

The results are a tidy table, one row per point (and wearer): the parameters, ``status``
and ``error`` (one bad point is reported, the others finish), the headline metrics
(:data:`twin.dose.registry.BASELINE` unless chosen), whether the scene's rules hold, the time.
Rows are written to ``sweep.csv`` as the points finish (each batch of points replaces the
file whole), so that an interrupted sweep resumes (``resume``): a point whose rows are there
with status ``ok`` (matched on its parameter values) is not run again. The Pareto front on
two metrics (:func:`twin.analysis.sweep_design.pareto_front`) is taken over the points; over
a population each point counts as its worst wearer in the direction asked.
"""

from __future__ import annotations

import copy
import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin._data import scene_path
from twin._validation import as_count, check_choice, read_text
from twin.analysis.check import check_rule_metrics, rule_rows
from twin.analysis.sweep_design import (
    DEFAULT_PARETO,
    DESIGNS,
    Factor,
    check_key,
    design_points,
    member_data,
    pareto_front,
    parse_pareto,
    parse_value,
    parse_vary,
    point_data,
    registered,
    set_key,
)
from twin.dose.registry import BASELINE, metric, metric_value
from twin.engine.cache import TransferCache
from twin.errors import InputError
from twin.files import write_atomic
from twin.scene import Member, list_members, read_scene_file, scene_from_dict
from twin.scene.checks import Rule

if TYPE_CHECKING:
    from twin.analysis.executor import Executor

#: The scene keys whose change leaves the transfer matrix as it is (powers, drive levels,
#: exposure, dose limits, names): points differing only in them share one ray cast.
POWER_ONLY = ("exposure_s", "mode", "dose", "checks", "name", "description")
#: The columns of ``sweep.csv`` after the parameters and before the metrics.
STATUS_COLUMNS = ("status", "error")
#: The columns after the metrics.
TAIL_COLUMNS = ("rules_passed", "seconds", "cached")


@dataclass(frozen=True)
class PointTask:
    """One render of a sweep: a scene as data, on a worker.

    Attributes
    ----------
    data : dict
        The point's scene data (a wearer's, over a population).
    base : str
        The folder its relative paths are read from.
    cache_dir : str or None
        The transfer-matrix cache folder (shared by the workers); ``None``: none.
    paths : tuple of str
        The metric paths to bring back.
    """

    data: dict[str, Any]
    base: str
    cache_dir: str | None
    paths: tuple[str, ...]


def slim(metrics: Mapping[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """Return the part of ``metrics.json`` content that holds ``paths`` (and the depths).

    The result answers :func:`twin.dose.registry.metric_value` for each path as ``metrics``
    does, so that rules can be judged on it; it is small enough to travel.
    """
    out: dict[str, Any] = {}
    for path in [*paths, "tissue.depths_mm"]:
        keys = path.partition("[")[0].split(".")
        src: Any = metrics
        dst = out
        for k in keys[:-1]:
            if not isinstance(src, Mapping) or not isinstance(src.get(k), Mapping):
                break
            src, dst = src[k], dst.setdefault(k, {})
        else:
            if isinstance(src, Mapping) and keys[-1] in src:
                dst[keys[-1]] = copy.deepcopy(src[keys[-1]])
    return out


def render_point(task: PointTask) -> dict[str, Any]:
    """Render one point of a sweep; a worker task.

    Returns
    -------
    dict
        ``metrics``: :func:`slim` metrics of the task's paths; ``seconds``: the time it took;
        ``cached``: whether its transfer matrix came from the cache.

    Raises
    ------
    InputError
        For a point that is not a valid scene, or whose rules name a metric it has not.
    """
    from twin.pipeline.render import render

    start = time.perf_counter()
    scene = scene_from_dict(task.data, base=Path(task.base))
    cache = None if task.cache_dir is None else TransferCache(Path(task.cache_dir))
    result = render(scene, workers=1, cache=cache)
    check_rule_metrics(scene.checks.rules, result.metrics, name="scene: checks")
    return {
        "metrics": slim(result.metrics, task.paths),
        "seconds": time.perf_counter() - start,
        "cached": cache is not None and cache.hits > 0,
    }


@dataclass(frozen=True)
class SweepPlan:
    """A sweep checked and laid out before anything renders (:func:`plan_sweep`).

    Attributes
    ----------
    scene : Path
        The scene file.
    data : dict
        Its data.
    factors : tuple of Factor
    design : {"full", "lhs"}
    samples : int or None
    seed : int
    points : list of tuple
        One value per factor each (:func:`design_points`).
    members : tuple of Member
        The wearers each point is rendered on (one: the scene's own).
    population : int or None
        ``people`` put on a one-scene file (``None``: the file's own wearers).
    population_seed : int
    metrics : tuple of str
        Metric paths written per row.
    pareto : ((str, str), (str, str))
        The Pareto front's metrics and senses.
    rules : tuple of Rule
        The scene's ``checks.rules``.
    """

    scene: Path
    data: dict[str, Any]
    factors: tuple[Factor, ...]
    design: str
    samples: int | None
    seed: int
    points: list[tuple[Any, ...]]
    members: tuple[Member, ...]
    population: int | None
    population_seed: int
    metrics: tuple[str, ...]
    pareto: tuple[tuple[str, str], tuple[str, str]]
    rules: tuple[Rule, ...]

    @property
    def keys(self) -> list[str]:
        """The varied keys, in order."""
        return [f.key for f in self.factors]

    @property
    def base(self) -> Path:
        """The folder the scene's relative paths are read from."""
        return self.scene.resolve().parent

    @property
    def paths(self) -> tuple[str, ...]:
        """Every metric path a render brings back: the written ones, the Pareto's, the rules'."""
        rules = [r.metric for r in self.rules]
        return tuple(dict.fromkeys([*self.metrics, self.pareto[0][0], self.pareto[1][0], *rules]))

    def columns(self) -> list[str]:
        """Return the columns of ``sweep.csv``."""
        member = ["member", "wearer"] if self.population_rows else []
        return ["point", *member, *self.keys, *STATUS_COLUMNS, *map(column, self.paths),
                *TAIL_COLUMNS]  # fmt: skip

    @property
    def population_rows(self) -> bool:
        """Whether each point has a row per wearer."""
        return len(self.members) > 1 or self.members[0].index is not None


def column(path: str) -> str:
    """Return a metric's column in the tables: the registry's name, else its path."""
    try:
        return metric(path).column
    except KeyError:
        return path


def plan_sweep(
    scene: str | Path,
    vary: Sequence[str],
    *,
    design: str = "full",
    samples: int | None = None,
    seed: int = 0,
    population: int | None = None,
    population_seed: int = 0,
    metrics: Sequence[str] | None = None,
    pareto: str = DEFAULT_PARETO,
    option_prefix: str = "",
) -> SweepPlan:
    """Check a sweep and lay out its points, before any render.

    Parameters
    ----------
    scene : str or Path
        A scene file or a bundled scene's name; a population file puts each point on its
        wearers.
    vary : sequence of str
        ``KEY=VALUES`` each (:func:`parse_vary`); every key once.
    design : {"full", "lhs"}
    samples : int, optional
        Points of a Latin hypercube.
    seed : int
        Its seed.
    population : int, optional
        Put each point on this many seeded adults (a one-scene file on a built-in anatomy).
    population_seed : int
    metrics : sequence of str, optional
        Registry metric paths per row (default :data:`twin.dose.registry.BASELINE`).
    pareto : str
        ``METRIC_A[:max|min],METRIC_B[:max|min]`` (:func:`parse_pareto`).
    option_prefix : str
        Put before each argument's name in messages (``"--"``: the command line's options).

    Returns
    -------
    SweepPlan

    Raises
    ------
    InputError
        For a bad argument (naming it), an unknown key (naming the nearest valid one), a
        scene that does not load, or a key the population sets for each wearer.
    """
    from twin.scene import load_member

    def named(name: str) -> str:
        return f"{option_prefix}{name}"

    if not vary:
        msg = f"{named('vary')}: expected at least one KEY=VALUES"
        raise InputError(msg)
    check_choice(design, DESIGNS, name=named("design"))
    factors = tuple(parse_vary(v, design=design, name=named("vary")) for v in vary)
    keys = [f.key for f in factors]
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice is not None:
        msg = f"{named('vary')}: {twice} is varied twice"
        raise InputError(msg)
    if design == "lhs":
        if samples is None:
            msg = f"{named('samples')}: a Latin hypercube design needs the number of points"
            raise InputError(msg)
        samples = as_count(samples, name=named("samples"))
    seed = as_count(seed, name=named("seed"), least=0)
    chosen = tuple(metrics) if metrics else BASELINE
    for p in chosen:
        registered(p, name=named("metrics"))
    front = parse_pareto(pareto, name=named("pareto"))
    path = scene_path(scene)
    data = read_scene_file(path)
    members = list_members(path, people=population, seed=population_seed)
    nominal = load_member(members[0])  # the scene must load before any point is tried
    worn = members[0].variant is not None or members[0].skin_type is not None
    for f in factors:
        check_key(f.key, data, channels=nominal.emitters.channels, name=named("vary"))
        if worn and (
            f.key.startswith(("target.population", "target.variant"))
            or (f.key == "tissue.skin_type" and members[0].skin_type is not None)
        ):
            msg = (
                f"{named('vary')} {f.key}: the population sets it for each wearer; vary it "
                "without one"
            )
            raise InputError(msg)
    return SweepPlan(
        scene=path,
        data=data,
        factors=factors,
        design=design,
        samples=samples,
        seed=seed,
        points=design_points(factors, design=design, samples=samples, seed=seed),
        members=members,
        population=population,
        population_seed=population_seed,
        metrics=chosen,
        pareto=front,
        rules=nominal.checks.rules,
    )


def format_cell(value: Any) -> str:
    """Return a value as ``sweep.csv`` holds it: floats round-trip exactly, ``None`` empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def table_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """Return rows as CSV text with a header (:func:`format_cell` for each cell)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


@dataclass
class SweepResult:
    """The rows of a sweep (resumed and new) and what running it took.

    Attributes
    ----------
    plan : SweepPlan
    rows : list of dict
        One per point and wearer, by column (:meth:`SweepPlan.columns`), in point order.
    ran : int
        Renders run this time (the rest came from an earlier ``sweep.csv``).
    seconds : float
        Wall time of this run.
    """

    plan: SweepPlan
    rows: list[dict[str, Any]] = field(default_factory=list)
    ran: int = 0
    seconds: float = 0.0

    def csv(self) -> str:
        """``sweep.csv``."""
        return table_csv(self.plan.columns(), self.rows)

    def points(self) -> list[dict[str, Any]]:
        """One row per point: parameters, status, each metric and the rules over its wearers.

        Over a population a metric is its worst wearer's where the registry says which way
        is better (the least where higher is better), else the wearers' median; the rules
        are judged over the wearers as ``twin check`` judges them (:attr:`Rule.over`).
        """
        plan = self.plan
        out = []
        for i, rows in sorted(self._by_point().items()):
            ok = all(r["status"] == "ok" for r in rows) and len(rows) == len(plan.members)
            point = {"point": i, **{k: rows[0][k] for k in plan.keys}}
            point["status"] = "ok" if ok else "error"
            point["error"] = next((r["error"] for r in rows if r["error"]), "")
            for p in plan.paths:
                values = [r[column(p)] for r in rows if r.get(column(p)) is not None]
                point[column(p)] = _over_wearers(p, values) if ok and values else None
            point["rules_passed"] = None
            if ok and plan.rules:
                runs = [nested(r, plan.paths) for r in rows]
                point["rules_passed"] = all(x.passed for x in rule_rows("", plan.rules, runs))
            out.append(point)
        return out

    def _by_point(self) -> dict[int, list[dict[str, Any]]]:
        by_point: dict[int, list[dict[str, Any]]] = {}
        for row in self.rows:
            by_point.setdefault(int(row["point"]), []).append(row)
        return by_point

    def front(self) -> list[dict[str, Any]]:
        """Return the points on the Pareto front (:func:`pareto_front`), best first on A.

        Over a population each point counts as its worst wearer in the direction asked (the
        least of a metric maximised, the greatest of one minimised): its two values here are
        those.
        """
        by_point = self._by_point()
        points = [p for p in self.points() if p["status"] == "ok"]
        values = np.full((len(points), 2), np.nan)
        for j, p in enumerate(points):
            for k, (path, sense) in enumerate(self.plan.pareto):
                got = [r[column(path)] for r in by_point[p["point"]]]
                got = [v for v in got if v is not None]
                if got:
                    values[j, k] = min(got) if sense == "max" else max(got)
                    p[column(path)] = float(values[j, k])
        return [points[i] for i in pareto_front(values, [s for _, s in self.plan.pareto])]


def _over_wearers(path: str, values: list[float]) -> float:
    """Return a metric over a point's wearers: the worst by its direction, else the median."""
    if len(values) == 1:
        return values[0]
    try:
        better = metric(path).better
    except KeyError:
        better = None
    if better == "high":
        return min(values)
    if better == "low":
        return max(values)
    return float(np.median(values))


def nested(row: Mapping[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """Return a row's metric values as ``metrics.json``-shaped data, for judging rules on it.

    A value at a depth (``...[1.0mm]``) goes into a per-depth list of ``tissue.depths_mm``.
    """
    out: dict[str, Any] = {}
    deep = [p for p in paths if "[" in p]
    depths = sorted({float(p.partition("[")[2].removesuffix("mm]")) for p in deep})
    if depths:
        set_key(out, "tissue.depths_mm", depths)
    for p in paths:
        value = row.get(column(p))
        if value is None:
            continue
        head, _, depth = p.partition("[")
        if depth:
            here: Any = out
            for k in head.split(".")[:-1]:
                here = here.setdefault(k, {})
            values = here.setdefault(head.split(".")[-1], [None] * len(depths))
            values[depths.index(float(depth.removesuffix("mm]")))] = value
        else:
            set_key(out, p, value)
    return out


def _group(plan: SweepPlan, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return what decides a point's transfer matrix: its values of the non-power keys."""
    return tuple(
        format_cell(v) for f, v in zip(plan.factors, values, strict=True)
        if f.key.split(".")[0] not in POWER_ONLY
    )  # fmt: skip


def read_done(path: Path, plan: SweepPlan) -> list[dict[str, Any]]:
    """Return the rows of an earlier ``sweep.csv`` of the same sweep whose point finished ok.

    A point counts as finished when every wearer's row has status ``ok``; rows are matched
    to the plan's points on their parameter values (and wearer), so a point the plan does
    not have is dropped. The scene file is trusted to be the one the table was made of.

    Raises
    ------
    InputError
        When the file is not a ``sweep.csv`` of exactly these parameters (and wearers).
    """
    if not path.is_file():
        return []
    reader = csv.DictReader(io.StringIO(read_text(path, what="sweep table")))
    columns = reader.fieldnames or []
    head = ["point", *(["member", "wearer"] if plan.population_rows else []), *plan.keys]
    needed = [*head, "status"]
    if columns[: len(needed)] != needed:
        have = columns[: columns.index("status") + 1] if "status" in columns else columns
        msg = (
            f"resume: {path} is not the table of this sweep (expected the columns "
            f"{', '.join(needed)}, found {', '.join(have) or 'none'})"
        )
        raise InputError(msg)
    index = {tuple(format_cell(v) for v in point): i for i, point in enumerate(plan.points)}
    found: dict[int, dict[str, dict[str, str]]] = {}
    for row in reader:
        i = index.get(tuple(row[k] for k in plan.keys))
        if i is not None and row["status"] == "ok":
            found.setdefault(i, {})[row.get("member", "")] = row
    wanted = [str(m.index) if plan.population_rows else "" for m in plan.members]
    out = []
    for i, rows in sorted(found.items()):
        if all(w in rows for w in wanted):
            out += [_parsed(rows[w], plan, i) for w in wanted]
    return out


def _parsed(row: dict[str, str], plan: SweepPlan, point: int) -> dict[str, Any]:
    """Return a row of ``sweep.csv`` as values (the point renumbered to the plan's)."""
    out: dict[str, Any] = {"point": point}
    for c in plan.columns():
        text = row.get(c, "")
        if c == "point":
            continue
        if c in ("wearer", "error", "status"):
            out[c] = text
        elif c in ("rules_passed", "cached"):
            out[c] = {"true": True, "false": False}.get(text)
        elif c == "member" or c in plan.keys:
            out[c] = parse_value(text)
        else:
            out[c] = float(text) if text else None
    for f, v in zip(plan.factors, plan.points[point], strict=True):
        out[f.key] = v
    return out


def run_sweep(
    plan: SweepPlan,
    *,
    out_dir: Path,
    executor: Executor,
    cache: TransferCache | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Render every point of ``plan`` (and wearer) on ``executor``; write ``sweep.csv`` as they go.

    The points whose transfer matrix another point shares (they differ only in
    :data:`POWER_ONLY` keys) run after the first of them has stored it in ``cache``. Points
    run in batches of a few per worker; after each batch ``out_dir/sweep.csv`` is replaced
    whole with every row so far.

    Parameters
    ----------
    plan : SweepPlan
    out_dir : Path
        Where ``sweep.csv`` is kept (created as needed).
    executor : Executor
        Entered (:func:`twin.analysis.executor.make_executor`).
    cache : TransferCache, optional
        Shared by the workers; ``None``: every point casts its own rays.
    resume : bool
        Keep the finished points of ``out_dir/sweep.csv`` (:func:`read_done`) and render only
        the others.
    progress : callable(done, total), optional
        Over every render this run makes.

    Returns
    -------
    SweepResult
    """
    start = time.perf_counter()
    result = SweepResult(plan)
    table = Path(out_dir) / "sweep.csv"
    if resume:
        result.rows = read_done(table, plan)
    done = {int(r["point"]) for r in result.rows}
    todo = [i for i in range(len(plan.points)) if i not in done]
    leaders: dict[tuple[Any, ...], int] = {}
    for i in todo:
        leaders.setdefault(_group(plan, plan.points[i]), i)
    first = set(leaders.values())
    waves = [[i for i in todo if i in first], [i for i in todo if i not in first]]
    cache_dir = None if cache is None else str(cache.folder)
    renders = [(i, m) for wave in waves for i in wave for m in range(len(plan.members))]
    total, finished = len(renders), 0
    batch = max(1, 4 * executor.workers)
    for wave in waves:
        jobs = [(i, m) for i in wave for m in range(len(plan.members))]
        for at in range(0, len(jobs), batch):
            part = jobs[at : at + batch]
            tasks, failed = [], {}
            for i, m in part:
                try:
                    data = point_data(plan.data, plan.keys, plan.points[i], base=plan.base)
                    data = member_data(data, plan.members[m])
                except InputError as exc:  # this point's error; the others go on
                    failed[(i, m)] = str(exc)
                    data = {}
                tasks.append(PointTask(data, str(plan.base), cache_dir, plan.paths))
            runnable = [t for t, job in zip(tasks, part, strict=True) if job not in failed]

            def tick(n: int, _total: int, offset: int = finished) -> None:
                if progress is not None:
                    progress(offset + n, total)

            results = iter(executor.map(render_point, runnable, progress=tick, label="sweep"))
            for i, m in part:
                error = failed.get((i, m))
                value, internal = None, False
                if error is None:
                    outcome = next(results)
                    value, error, internal = outcome.value, outcome.error, outcome.internal
                result.rows.append(_row(plan, i, m, value, error) | {"internal": internal})
            result.ran += len(runnable)
            finished += len(part)
            if progress is not None and failed:  # points that never reached a worker
                progress(finished, total)
            result.rows.sort(key=lambda r: (int(r["point"]), r.get("member") or 0))
            write_atomic({table: result.csv()}, name="out_dir")
    if not renders:
        write_atomic({table: result.csv()}, name="out_dir")
    result.seconds = time.perf_counter() - start
    return result


def _row(
    plan: SweepPlan, point: int, member: int, value: dict[str, Any] | None, error: str | None
) -> dict[str, Any]:
    """One row of ``sweep.csv``: a render's values, or its error."""
    row: dict[str, Any] = {"point": point}
    if plan.population_rows:
        m = plan.members[member]
        row["member"], row["wearer"] = m.index, m.label
    row |= dict(zip(plan.keys, plan.points[point], strict=True))
    row["status"] = "error" if error is not None else "ok"
    row["error"] = error or ""
    metrics = {} if value is None else value["metrics"]
    for p in plan.paths:
        row[column(p)] = metric_value(metrics, p) if value is not None else None
    row["rules_passed"] = None
    if value is not None and plan.rules:
        row["rules_passed"] = all(r.passed for r in rule_rows("", plan.rules, [metrics]))
    row["seconds"] = None if value is None else value["seconds"]
    row["cached"] = None if value is None else value["cached"]
    return row


def summary(result: SweepResult, *, command: str | None = None) -> dict[str, Any]:
    """``sweep.json``: the design, the command, the counts, the timing and the Pareto front."""
    plan = result.plan
    points = result.points()
    ok = [p for p in points if p["status"] == "ok"]
    seconds = [r["seconds"] for r in result.rows if r.get("seconds") is not None]
    cast = [r["seconds"] for r in result.rows if r.get("cached") is False]
    reused = [r["seconds"] for r in result.rows if r.get("cached") is True]
    return {
        "scene": str(plan.scene),
        "command": command,
        "design": plan.design,
        "samples": plan.samples,
        "seed": plan.seed,
        "factors": [
            {"key": f.key, "levels": list(f.levels)}
            if f.levels is not None
            else {"key": f.key, "low": f.low, "high": f.high, "integer": f.integer}
            for f in plan.factors
        ],
        "population": None
        if not plan.population_rows
        else {
            "size": len(plan.members),
            "seed": plan.population_seed if plan.population else None,
            "wearers": [m.label for m in plan.members],
            "point_value": "the worst wearer where the metric has a better direction, "
            "else the median",
        },
        "points": len(plan.points),
        "renders": len(plan.points) * len(plan.members),
        "ok": len(ok),
        "failed": [{"point": p["point"], "error": p["error"]} for p in points if p not in ok],
        "ran_this_time": result.ran,
        "metrics": list(plan.metrics),
        "rules": [{"metric": r.metric, "bounds": r.bounds, "over": r.over} for r in plan.rules],
        "pareto": {
            "metrics": [{"path": p, "column": column(p), "sense": s} for p, s in plan.pareto],
            "points": [p["point"] for p in result.front()],
        },
        "timing": {
            "wall_s": result.seconds,
            "render_s_median": float(np.median(seconds)) if seconds else None,
            "render_s_median_cast": float(np.median(cast)) if cast else None,
            "render_s_median_cached_matrix": float(np.median(reused)) if reused else None,
        },
    }
