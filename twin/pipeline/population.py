"""A population's render: every member's headline metrics and their spread.

Written as ``population.json`` and ``population.csv`` beside one folder per member, named by
:func:`twin.files.safe_name` so that no member name writes outside the output folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from twin.dose.registry import POPULATION, metric, metric_value
from twin.engine.cache import TransferCache
from twin.files import check_finite_json, publish, safe_name, write_atomic
from twin.pipeline.render import RenderResult, render
from twin.pipeline.results import RESULT_NAMES
from twin.scene import Member, load_member
from twin.tissue.optics import SKIN_TYPES

if TYPE_CHECKING:
    from twin.scene import Scene


def member_label(scene: Scene) -> str:
    """Who a member is: its body shape and, with a Fitzpatrick skin, its skin type."""
    parts = [] if scene.variant is None else [scene.variant.label]
    if scene.tissue is not None and scene.tissue.skin in SKIN_TYPES:
        parts.append(f"skin {scene.tissue.skin}")
    return ", ".join(parts)


def _spread(rows: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each metric's min, 5th percentile, median, 95th percentile and max over ``rows``."""
    summary = {}
    for key in keys:
        values = np.array([m["metrics"][key] for m in rows if m["metrics"][key] is not None])
        if values.size:
            q = np.percentile(values, [0, 5, 50, 95, 100])
            summary[key] = dict(
                zip(("min", "p5", "median", "p95", "max"), q.tolist(), strict=True)
            )
    return summary


def member_row(scene: Scene, metrics: dict[str, Any]) -> dict[str, Any]:
    """One member's entry of ``population.json``: who it is and its headline metrics.

    Its name, variant parameters, label, skin type (``None`` without a ``tissue:`` section)
    and the metrics of :data:`twin.dose.registry.POPULATION` by column name, from its
    ``metrics.json`` content ``metrics``.
    """
    variant = scene.variant
    return {
        "name": scene.name,
        "variant": {} if variant is None else variant.to_dict(),
        "label": member_label(scene),
        "skin_type": None if scene.tissue is None else scene.tissue.skin,
        "metrics": {metric(p).column: metric_value(metrics, p) for p in POPULATION},
    }


def population_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each member's variant and headline metrics, and their spread across the population.

    Parameters
    ----------
    rows : list of dict
        Each member's entry (:func:`member_row`).

    Returns
    -------
    dict
        ``members``: ``rows``; ``summary``: for each metric its min, 5th percentile, median,
        95th percentile and max over the members that have it; with light in tissue,
        ``by_skin_type``: per skin type its number of members and the same spread of its
        dose-at-depth metrics.
    """
    out: dict[str, Any] = {
        "members": rows,
        "summary": _spread(rows, [metric(p).column for p in POPULATION]),
    }
    skins = list(dict.fromkeys(m["skin_type"] for m in rows if m["skin_type"] is not None))
    if skins:
        depth = [metric(p).column for p in POPULATION if p.startswith("tissue.")]
        out["by_skin_type"] = {}
        for skin in skins:
            group = [m for m in rows if m["skin_type"] == skin]
            out["by_skin_type"][skin] = {"members": len(group), "summary": _spread(group, depth)}
    return out


def population_csv(summary: dict[str, Any]) -> str:
    """One row per member: name, sex, age_years, skin_type (with tissue), each metric."""
    keys = [metric(p).column for p in POPULATION]
    skin = any(m.get("skin_type") is not None for m in summary["members"])
    lines = [",".join(["name", "sex", "age_years", *(["skin_type"] if skin else []), *keys])]
    for m in summary["members"]:
        variant = m["variant"]
        cells = [m["name"], f"{variant.get('sex', 0.5):g}", f"{variant.get('age_years', 25.0):g}"]
        if skin:
            cells.append(m["skin_type"] or "")
        cells += ["" if m["metrics"][k] is None else f"{m['metrics'][k]:.6g}" for k in keys]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_population(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``population.json`` and ``population.csv`` (see :func:`population_summary`)."""
    check_finite_json(summary, "population")
    return write_atomic(
        {
            out_dir / "population.json": json.dumps(summary, indent=2) + "\n",
            out_dir / "population.csv": population_csv(summary),
        },
        name="out_dir",
    )


class Outcome(Protocol):
    """One task's outcome, as :class:`twin.analysis.executor.TaskResult` gives it."""

    @property
    def value(self) -> Any:
        """The task's value (``None`` when it failed)."""

    @property
    def error(self) -> str | None:
        """Why it failed, ``None`` on success."""

    @property
    def internal(self) -> bool:
        """Whether it failed for a reason other than invalid input."""

    def result(self) -> Any:
        """Return the value, or raise the task's exception."""


class Executor(Protocol):
    """What rendering a population needs of an executor (:mod:`twin.analysis.executor`).

    The executor lives above the pipeline (it serves every fan-out: checks, comparisons,
    sweeps); the pipeline takes any object that maps a top-level function over tasks.
    """

    @property
    def workers(self) -> int:
        """Tasks run at once."""

    def map(
        self,
        function: Callable[[Any], Any],
        tasks: Sequence[Any],
        *,
        progress: Callable[[int, int], None] | None = None,
        label: str = "",
    ) -> Sequence[Outcome]:
        """Run ``function(task)`` for each task; the outcomes in task order."""


@dataclass(frozen=True)
class MemberTask:
    """One member to render into its folder: the argument of :func:`render_member`.

    Attributes
    ----------
    member : Member
        Which scene of which file.
    folder : Path
        Where its result files go (seen at the same path by every worker).
    backend : str or None
        As :func:`twin.pipeline.render.render`.
    cache_dir : Path or None
        The transfer-matrix cache folder (:class:`twin.engine.cache.TransferCache`).
    threads : int or None
        Ray-casting threads (``None``: every CPU, where one member renders at a time).
    each : callable(result, folder) or None
        Called after the member is written, where it was rendered (a top-level function,
        or a :func:`functools.partial` of one, to travel to a worker).
    """

    member: Member
    folder: Path
    backend: str | None = None
    cache_dir: Path | None = None
    threads: int | None = None
    each: Callable[[RenderResult, Path], object] | None = None


def render_member(task: MemberTask) -> dict[str, Any]:
    """Render one member into its folder and return its entry (:func:`member_row`); a task."""
    scene = load_member(task.member)
    cache = None if task.cache_dir is None else TransferCache(task.cache_dir)
    result = render(scene, backend=task.backend, workers=task.threads, cache=cache)
    result.write(task.folder)
    if task.each is not None:
        task.each(result, task.folder)
    return member_row(scene, result.metrics)


def render_population(
    members: Sequence[Member],
    out_dir: Path,
    *,
    executor: Executor,
    backend: str | None = None,
    cache: TransferCache | None = None,
    progress: Callable[[int, int], None] | None = None,
    each: Callable[[RenderResult, Path], object] | None = None,
    each_owned: Sequence[str] = (),
) -> dict[str, Any]:
    """Render every member of a population into ``out_dir/<member name>/``.

    ``population.json`` and ``population.csv`` are written there too (README, "Outputs of
    ``twin render``"). The member folders are named by :func:`twin.files.safe_name`, and
    ``out_dir`` is published whole once every member is done (:func:`twin.files.publish`).
    A member that fails is left out and listed under ``failed`` in ``population.json``; the
    others are still rendered.

    Parameters
    ----------
    members : sequence of Member
        The members, as :func:`twin.scene.list_members` gives them.
    out_dir : Path
    executor : Executor
        Runs the members (entered; :func:`twin.analysis.executor.make_executor`); with more
        than one worker each member casts its rays on one thread.
    backend, cache
        As :func:`render`.
    progress : callable(done, total), optional
        Called as members finish.
    each : callable(result, folder), optional
        Called after each member is written, where it was rendered (for extra files; see
        :attr:`MemberTask.each`).
    each_owned : sequence of str
        The names ``each`` may write in a member folder (``fnmatch`` patterns): an earlier
        run's that this one does not write again are not kept.

    Returns
    -------
    dict
        The population summary (:func:`population_summary`), with ``failed``: per member
        that failed its name, its error and whether that error is ``internal`` (not invalid
        input), where one did.

    Raises
    ------
    Exception
        The first member's error when every member failed (nothing is written): an
        :class:`twin.errors.InputError` for invalid input.
    """
    owned = ["population.json", "population.csv"]
    owned += [f"*/{name}" for name in (*RESULT_NAMES, *each_owned)]
    cache_dir = None if cache is None else cache.folder
    threads = None if executor.workers == 1 else 1
    with publish(out_dir, name="out_dir", owned=owned) as stage:
        tasks = [
            MemberTask(m, stage / safe_name(m.name), backend, cache_dir, threads, each)
            for m in members
        ]
        results = executor.map(render_member, tasks, progress=progress, label="render")
        if not any(r.error is None for r in results):
            results[0].result()
        summary = population_summary([r.value for r in results if r.error is None])
        failed = [
            {"name": m.name, "error": r.error, "internal": r.internal}
            for m, r in zip(members, results, strict=True)
            if r.error is not None
        ]
        if failed:
            summary["failed"] = failed
        write_population(summary, stage)
    return summary
