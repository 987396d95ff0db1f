"""A population's render: every member's headline metrics and their spread.

Written as ``population.json`` and ``population.csv`` beside one folder per member, named by
:func:`twin.files.safe_name` so that no member name writes outside the output folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.dose.registry import POPULATION, metric, metric_value
from twin.engine.backends import ProgressCallback
from twin.engine.cache import TransferCache
from twin.files import check_finite_json, publish, safe_name, write_atomic
from twin.pipeline.render import RenderResult, render
from twin.pipeline.results import RESULT_NAMES
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


def population_summary(members: list[tuple[Scene, dict[str, Any]]]) -> dict[str, Any]:
    """Each member's variant and headline metrics, and their spread across the population.

    Parameters
    ----------
    members : list of (Scene, dict)
        Each member's scene and its ``metrics.json`` content.

    Returns
    -------
    dict
        ``members``: one entry per result (name, variant parameters, label, skin type —
        ``None`` without a ``tissue:`` section — and the metrics of
        :data:`twin.dose.registry.POPULATION` by column name);
        ``summary``: for each metric its min, 5th percentile, median, 95th percentile and max
        over the members that have it; with light in tissue, ``by_skin_type``: per skin type
        its number of members and the same spread of its dose-at-depth metrics.
    """
    rows: list[dict[str, Any]] = []
    for scene, metrics in members:
        variant = scene.variant
        rows.append(
            {
                "name": scene.name,
                "variant": {} if variant is None else variant.to_dict(),
                "label": member_label(scene),
                "skin_type": None if scene.tissue is None else scene.tissue.skin,
                "metrics": {metric(p).column: metric_value(metrics, p) for p in POPULATION},
            }
        )
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


def render_population(
    scenes: Sequence[Scene],
    out_dir: Path,
    *,
    backend: str | None = None,
    cache: TransferCache | None = None,
    progress: Callable[[str], ProgressCallback | None] | None = None,
    each: Callable[[RenderResult, Path], object] | None = None,
    each_owned: Sequence[str] = (),
) -> dict[str, Any]:
    """Render every member of a population into ``out_dir/<member name>/``.

    ``population.json`` and ``population.csv`` are written there too (README, "Outputs of
    ``twin render``"). The member folders are named by :func:`twin.files.safe_name`, and
    ``out_dir`` is published whole once every member is written (:func:`twin.files.publish`).

    Parameters
    ----------
    scenes : sequence of Scene
        The members, as :func:`twin.load_scenes` gives them.
    out_dir : Path
    backend, cache
        As :func:`render`.
    progress : callable(label) -> progress callback, optional
        Makes each member's ray-casting progress callback from its label.
    each : callable(result, folder), optional
        Called after each member is written (for extra files).
    each_owned : sequence of str
        The names ``each`` may write in a member folder (``fnmatch`` patterns): an earlier
        run's that this one does not write again are not kept.

    Returns
    -------
    dict
        The population summary (:func:`population_summary`).
    """
    members = []
    owned = ["population.json", "population.csv"]
    owned += [f"*/{name}" for name in (*RESULT_NAMES, *each_owned)]
    with publish(out_dir, name="out_dir", owned=owned) as stage:
        for i, scene in enumerate(scenes, 1):
            who = member_label(scene)
            label = f"{scene.name} ({who}{', ' if who else ''}{i}/{len(scenes)})"
            result = render(
                scene,
                backend=backend,
                cache=cache,
                progress=None if progress is None else progress(label),
            )
            folder = stage / safe_name(scene.name)
            result.write(folder)
            if each is not None:
                each(result, folder)
            members.append((scene, result.metrics))
        summary = population_summary(members)
        write_population(summary, stage)
    return summary
