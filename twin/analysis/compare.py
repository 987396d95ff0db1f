"""``twin compare``: two designs on the same people, side by side, with a plain verdict.

Both scene files are rendered on the same anatomies — their own targets, or the built-in
anatomy's seeded population (``population``), every member in parallel (local worker processes
or a Dask cluster, :mod:`twin.analysis.executor`) — and each headline metric is compared: per
design its value (or, over a population, its median, 5th and 95th percentiles and worst
member), the difference, and which design is better by the metric's own direction
(:data:`twin.dose.registry.COMPARED`, and the dose at each depth where both have light in
tissue). :func:`compare_skin_types` compares one scene on two Fitzpatrick skin types instead:
the same transfer matrix, other depth kernels. The report is Markdown (``compare.md``) and JSON
(``compare.json``), with each design's inter-reflection gain per channel and total (the light
skin and device return, not judged: more of it is not better in itself, :func:`gains`), with
the difference map on the skin (``difference.ply``: both sides' fluence and b - a per vertex,
at the surface and, where both have a ``tissue.targets.roi`` band, in it; medians over the
people).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin._text import table as text_table
from twin.analysis.executor import Executor, executor_for
from twin.dose.metrics import weighted_percentile
from twin.dose.registry import COMPARED, depth_paths, metric, metric_value
from twin.engine.cache import TransferCache
from twin.errors import InputError
from twin.files import publish, write_atomic
from twin.scene import Member, list_members, load_member, read_scene_file
from twin.tissue.optics import as_skin_type
from twin.tissue.settings import ROI
from twin.units import fluence_j_cm2

#: Differences smaller than this fraction of the larger value are a tie.
TIE = 0.02

#: What one render gives a comparison: its metrics, per-sample fluence at the surface
#: (J/cm2), treated area per sample (mm2, 0 where not treated) and per-sample fluence in the
#: ``tissue.targets.roi`` band (J/cm2; ``None`` without one).
_Rendered = tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray | None]


def _render(task: tuple[tuple[Member, ...], str | None]) -> list[_Rendered]:
    """Render members of scene files one after the other, with a cache folder; a task.

    Members of one task that share a transfer matrix (one person on two skin types) cast
    their rays once: the first stores the matrix in the cache, the next reads it.
    """
    from twin.pipeline.render import render

    members, cache_dir = task
    cache = None if cache_dir is None else TransferCache(Path(cache_dir))
    out = []
    for member in members:
        result = render(load_member(member), workers=1, cache=cache)
        treated = np.where(result.roi, result.samples.areas_mm2, 0.0)
        at_depth = None
        tissue = result.scene.tissue
        if result.tissue is not None and tissue is not None and ROI in tissue.targets:
            column = len(tissue.depths_mm) + list(tissue.targets).index(ROI)
            at_depth = fluence_j_cm2(
                result.tissue.total_fluence_rate_mw_cm2[:, column], result.scene.exposure_s
            )
        out.append((result.metrics, result.dose.fluence_j_cm2(), treated, at_depth))
    return out


@dataclass(frozen=True)
class Comparison:
    """Two designs' (or skin types') metrics on the same anatomies."""

    names: tuple[str, str]
    people: list[str]  # one label per anatomy rendered
    runs: tuple[list[dict], list[dict]]  # metrics per anatomy, per design
    window: tuple[float, float]
    fluence: tuple[list[np.ndarray], list[np.ndarray]]  # per-sample J/cm2, same order
    treated: tuple[list[np.ndarray], list[np.ndarray]]  # per-sample treated area, mm2
    first: Member  # the first design on the first anatomy
    # Per-sample J/cm2 in the tissue.targets.roi band, same order (None: no such band).
    fluence_at_depth: tuple[list[np.ndarray | None], list[np.ndarray | None]]
    # The two Fitzpatrick types when one scene is compared on two skins (compare_skin_types).
    skin_types: tuple[str, str] | None = None

    def values(self, design: int, path: str) -> list[float]:
        """Design ``design``'s value of the metric at ``path`` on each anatomy that has it."""
        return [v for v in (metric_value(m, path) for m in self.runs[design]) if v is not None]

    @functools.cached_property
    def summary(self) -> dict[str, Any]:
        """The comparison as ``compare.json`` holds it (:func:`report`)."""
        return report(self)

    def table(self) -> str:
        """Each compared metric and the better design, as aligned text.

        Per metric the statistic that decides it, which way is better and both designs'
        values of that statistic (:func:`metric_rows`). Below, where either design solved
        inter-reflection, each one's gain per channel and total (the median over the people).
        """
        names = self.summary["designs"]
        header, rows = metric_rows(self.summary, difference=False)
        text = text_table([tuple(header), *map(tuple, rows)], align="l")
        gain = self.summary["interreflection_gain"]
        if not gain:
            return text
        gain_rows = [("channel", names[0], names[1])]
        gain_rows += [
            (g["channel"], *("-" if g[k] is None else f"{g[k]['median']:.2f}" for k in "ab"))
            for g in gain
        ]
        head = f"{GAIN_LABEL}:"
        return "\n".join([text, head, text_table(gain_rows, align="l")])

    def write(self, out_dir: Path) -> list[Path]:
        """``compare.md``, ``compare.json`` and ``difference.ply`` (:func:`write_report`)."""
        return write_report(self.summary, Path(out_dir), difference=difference_ply(self))


def compare(
    a: Path,
    b: Path,
    *,
    people: int | None = None,
    seed: int = 0,
    cache: TransferCache | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> Comparison:
    """Render scene files ``a`` and ``b`` on the same anatomies.

    Parameters
    ----------
    a, b : Path
        Scene files: one scene each, or populations of the same people; with ``people``,
        one scene each on a built-in anatomy.
    people : int, optional
        Render both on this many members of a seeded population (ages 18-70).
    seed : int
    cache : TransferCache, optional
    jobs : int, optional
        Local worker processes (default: every CPU, at most one per task; ``1``: in this
        process).
    scheduler : str, optional
        A running Dask scheduler, ``tcp://HOST:PORT``, whose workers render instead
        (:func:`twin.analysis.executor.make_executor`; ``None`` reads ``TWIN_SCHEDULER``).
    executor : Executor, optional
        Render on this one (entered) instead of one made from ``jobs`` and ``scheduler``.
    """
    designs = [list_members(p, people=people, seed=seed) for p in (a, b)]
    people_of = [[(m.variant, m.skin_type) for m in members] for members in designs]
    if people_of[0] != people_of[1]:
        counts = [len(v) for v in people_of]
        found = "different people" if counts[0] == counts[1] else f"{counts} scenes"
        msg = (
            f"{a}, {b}: expected both on the same people (one scene each, the same "
            f"target.population, or people), found {found}"
        )
        raise InputError(msg)
    labels = [m.label for m in designs[0] if m.label] or ["as in each scene"]
    names = (designs[0][0].scene_name, designs[1][0].scene_name)
    tasks = [((i, j),) for i, members in enumerate(designs) for j in range(len(members))]
    return _compare(
        names,
        labels,
        (designs[0], designs[1]),
        tasks,
        cache=cache,
        executor=executor,
        jobs=jobs,
        scheduler=scheduler,
    )


def compare_skin_types(
    path: Path,
    skin_types: Sequence[str],
    *,
    people: int | None = None,
    seed: int = 0,
    cache: TransferCache | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> Comparison:
    """Render one scene file on two Fitzpatrick skin types and compare them.

    Each person's transfer matrix is built once (only the depth kernels differ): both skin
    types of a person render in one worker, the second reading the matrix the first stored in
    ``cache`` (a temporary one when none is given: on a running cluster, its workers must see
    this machine's temporary folder, or be given a shared ``cache``).

    Parameters
    ----------
    path : Path
        A scene file with a ``tissue:`` section, whose ``skin_type`` (or ``layers``) each
        side replaces with its type (:attr:`twin.scene.Member.skin_type`); one scene or a
        population (whose own skin types are replaced too).
    skin_types : sequence of str
        Two different types, ``"I"`` .. ``"VI"``. The sides are named
        ``<scene> (skin <type>)``.
    people, seed, cache, jobs, scheduler, executor
        As :func:`compare`.

    Returns
    -------
    Comparison

    Raises
    ------
    InputError
        For anything but two different skin types, or a scene without a ``tissue:`` section.
    """
    if isinstance(skin_types, str) or len(skin_types) != 2:
        msg = f"skin_types: expected two Fitzpatrick skin types (such as I VI), got {skin_types!r}"
        raise InputError(msg)
    skins = [as_skin_type(t, name=f"skin_types[{i}]") for i, t in enumerate(skin_types)]
    if skins[0] == skins[1]:
        msg = f"skin_types: expected two different skin types, got {skins[0]} twice"
        raise InputError(msg)
    if read_scene_file(path).get("tissue") is None:
        msg = (
            f"{path}: skin_types: comparing skin types {skins[0]} and {skins[1]} needs a "
            "tissue: section in the scene (the skin the types replace), found none"
        )
        raise InputError(msg)
    base = list_members(path, people=people, seed=seed)
    sides = tuple([dataclasses.replace(m, skin_type=s) for m in base] for s in skins)
    names = (f"{base[0].scene_name} (skin {skins[0]})", f"{base[0].scene_name} (skin {skins[1]})")
    shapes = [dataclasses.replace(m, skin_type=None).label for m in base]
    labels = [x for x in shapes if x] or ["as in the scene"]
    tasks = [((0, j), (1, j)) for j in range(len(base))]
    with contextlib.ExitStack() as stack:
        if cache is None:  # the second skin type still reads the first one's matrix
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="twin-compare-"))
            cache = TransferCache(Path(folder))
        compared = _compare(
            names,
            labels,
            sides,
            tasks,
            cache=cache,
            executor=executor,
            jobs=jobs,
            scheduler=scheduler,
        )
    return dataclasses.replace(compared, skin_types=(skins[0], skins[1]))


def _compare(
    names: tuple[str, str],
    labels: list[str],
    designs: Sequence[Sequence[Member]],
    tasks: Sequence[Sequence[tuple[int, int]]],
    *,
    cache: TransferCache | None,
    executor: Executor | None,
    jobs: int | None,
    scheduler: str | None,
) -> Comparison:
    """Render ``designs`` (two sides, one member per person each) in ``tasks``; gather them.

    A task is the (side, person) pairs one worker renders in turn; the first task that
    failed raises its error.
    """
    cache_dir = None if cache is None else str(cache.folder)
    renders = [(tuple(designs[i][j] for i, j in task), cache_dir) for task in tasks]
    with executor_for(len(tasks), executor=executor, jobs=jobs, scheduler=scheduler) as running:
        results = [r.result() for r in running.map(_render, renders, label="compare")]
    n = len(designs[0])
    a: list[Any] = [None] * n
    b: list[Any] = [None] * n
    for task, out in zip(tasks, results, strict=True):
        for (i, j), rendered in zip(task, out, strict=True):
            (a, b)[i][j] = rendered
    low, high = a[0][0]["window"]["fluence_j_cm2"]
    return Comparison(
        names=names,
        people=labels,
        runs=([r[0] for r in a], [r[0] for r in b]),
        window=(float(low), float(high)),
        fluence=([r[1] for r in a], [r[1] for r in b]),
        treated=([r[2] for r in a], [r[2] for r in b]),
        first=designs[0][0],
        fluence_at_depth=([r[3] for r in a], [r[3] for r in b]),
    )


def difference_ply(comparison: Comparison) -> bytes | None:
    """Return a PLY of the first anatomy's skin with both sides' fluence and their difference.

    The vertex data are J/cm2, medians over the people: at the surface
    (``fluence_a_j_cm2``, ``fluence_b_j_cm2``, ``difference_j_cm2``) and, where both sides
    have a ``tissue.targets.roi`` band, in it (``fluence_at_depth_a_j_cm2``, ...).
    ``None`` when the sides were not sampled at the same points (different targets or
    centroid samples).
    """
    from twin.geometry.export import ply_bytes

    a, b = comparison.fluence
    sizes = {len(h) for h in a + b}
    scene = load_member(comparison.first)
    if len(sizes) != 1 or scene.samples != "vertices" or sizes != {len(scene.target.vertices_mm)}:
        return None
    fa, fb = np.median(np.stack(a), axis=0), np.median(np.stack(b), axis=0)
    data = {"fluence_a_j_cm2": fa, "fluence_b_j_cm2": fb, "difference_j_cm2": fb - fa}
    deep = [[h for h in side if h is not None] for side in comparison.fluence_at_depth]
    if deep[0] and [len(d) for d in deep] == [len(a), len(b)]:
        ha, hb = (np.median(np.stack(d), axis=0) for d in deep)
        data |= {
            "fluence_at_depth_a_j_cm2": ha,
            "fluence_at_depth_b_j_cm2": hb,
            "difference_at_depth_j_cm2": hb - ha,
        }
    names = comparison.names
    return ply_bytes(
        scene.target,
        vertex_data=data,
        face_data={},
        comments=[f"twin compare: a = {names[0]}, b = {names[1]}; b - a; lengths in mm"],
    )


def _summary(values: list[float], better: str, window: tuple[float, float]) -> dict:
    worst = {"high": min, "low": max}.get(better)
    out = {"median": float(np.median(values))}
    if len(values) > 1:
        out["p5"], out["p95"] = (float(np.percentile(values, q)) for q in (5, 95))
        if worst is None:  # furthest from the middle of the window
            middle = 0.5 * sum(window)
            out["worst"] = float(max(values, key=lambda v: abs(v - middle)))
        else:
            out["worst"] = float(worst(values))
    return out


def _winner(a: float, b: float, better: str, window: tuple[float, float]) -> int | None:
    """0 if ``a`` is better, 1 if ``b``, None for a tie."""
    if better == "window":
        middle = 0.5 * sum(window)
        a, b, better = abs(a - middle), abs(b - middle), "low"
    if abs(a - b) <= TIE * max(abs(a), abs(b), 1e-12):
        return None
    return int((b > a) == (better == "high"))


def _window_of(comparison: Comparison, path: str) -> tuple[float, float]:
    """Return the fluence window a metric is judged by: its depth target's, else the scene's."""
    parts = path.split(".")
    if parts[:2] == ["tissue", "targets"] and len(parts) > 3:
        target = comparison.runs[0][0].get("tissue", {}).get("targets", {}).get(parts[2])
        if target is not None:
            low, high = target["fluence_window_j_cm2"]
            return float(low), float(high)
    return comparison.window


def report(comparison: Comparison) -> dict[str, Any]:
    """Every compared metric: each side's summary, the difference, the winner.

    The metrics are :data:`twin.dose.registry.COMPARED`, then the treated skin's mean fluence
    and in-window area at each depth of the first side's ``tissue.depths_mm``
    (:func:`twin.dose.registry.depth_paths`); a metric either side lacks is left out. Each
    row's ``compared_on`` is the statistic that decides it (``worst``: the worst member of a
    population, where both sides have more than one value; else ``median``, one anatomy's
    value), ``difference`` is b's value of it minus a's, and a row judged by nearness to the
    middle of a window (``better: window``) carries that window (``window_j_cm2``: the
    scene's, or its depth target's own).
    """
    rows = []
    for path in (*COMPARED, *depth_paths(comparison.runs[0][0])):
        label, better = metric(path).label, metric(path).better
        assert better is not None  # every compared metric has a better direction
        values = [comparison.values(i, path) for i in (0, 1)]
        if not values[0] or not values[1]:
            continue
        window = _window_of(comparison, path)
        summaries = [_summary(v, better, window) for v in values]
        key = "worst" if "worst" in summaries[0] and "worst" in summaries[1] else "median"
        winner = _winner(summaries[0][key], summaries[1][key], better, window)
        rows.append(
            {
                "metric": label,
                "path": path,
                "better": better,
                **({"window_j_cm2": list(window)} if better == "window" else {}),
                "compared_on": key,
                "a": summaries[0],
                "b": summaries[1],
                "difference": summaries[1][key] - summaries[0][key],
                "winner": None if winner is None else comparison.names[winner],
            }
        )
    regions = {}
    for region in comparison.runs[0][0].get("regions", {}):
        path = f"regions.{region}.total.fluence_j_cm2.mean"
        pair = [comparison.values(i, path) for i in (0, 1)]
        if pair[0] and pair[1]:
            regions[region] = [float(np.median(p)) for p in pair]
    return {
        "designs": list(comparison.names),
        "people": comparison.people,
        "window_j_cm2": list(comparison.window),
        "metrics": rows,
        "interreflection_gain": gains(comparison),
        "region_mean_fluence_j_cm2": regions,
        "distributions": distributions(comparison),
        "verdict": verdict(comparison.names, rows, people=len(comparison.people))
        if comparison.skin_types is None
        else skin_verdict(comparison.names, rows),
    }


#: What the gain is, for the reports.
GAIN_LABEL = (
    "inter-reflection gain (mean total / mean direct irradiance on the treated skin; "
    "-: not solved)"
)


def gains(comparison: Comparison) -> list[dict[str, Any]]:
    """Each design's inter-reflection gain per channel and total, where either solved it.

    The gain is the mean irradiance over the treated skin (all the light) over the mean of
    the direct light (``roi.<channel>.interreflection_gain``): how much the light skin and
    device return adds. It is not judged (more returned light is not better in itself).

    Returns
    -------
    list of dict
        Per channel either design lights, then ``total``: ``channel``, ``path``, and ``a``,
        ``b``: the median (and, over a population, the 5th and 95th percentiles) over the
        people, or ``None`` for a design without it. Empty when neither solved it.
    """
    first = [runs[0].get("roi", {}).get("channels", {}) for runs in comparison.runs]
    channels = list(dict.fromkeys([*first[0], *first[1]]))
    paths = [*(f"roi.channels.{c}.interreflection_gain" for c in channels),
             "roi.total.interreflection_gain"]  # fmt: skip
    out = []
    for channel, path in zip([*channels, "total"], paths, strict=True):
        values = [comparison.values(i, path) for i in (0, 1)]
        if not values[0] and not values[1]:
            continue
        sides: list[dict[str, float] | None] = []
        for v in values:
            if not v:
                sides.append(None)
                continue
            side = {"median": float(np.median(v))}
            if len(v) > 1:
                side["p5"], side["p95"] = (float(np.percentile(v, q)) for q in (5, 95))
            sides.append(side)
        out.append({"channel": channel, "path": path, "a": sides[0], "b": sides[1]})
    return out


#: Quantiles of the pooled distributions.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def distributions(comparison: Comparison) -> dict[str, dict]:
    """LED-skin gap, incidence angle and treated-skin fluence pooled over every anatomy.

    Gap and incidence count every emitter on every anatomy equally (axes that miss the skin
    are left out); fluence is weighted by treated area, each anatomy's treated skin counting
    as much as the next. Per quantity: shared bin edges, each design's fraction per bin (the
    last bin also holds everything above it), what the fractions are of (``fraction_of``:
    ``LEDs`` or ``treated area``) and quantiles (``QUANTILES``). The gap's bins reach the top
    of both designs' gaps without their far outliers (:func:`robust_range`, at least 1 mm
    of spread): one stray axis does not squeeze the rest into the first bin.
    """
    high = comparison.window[1]
    out = {}
    for label, of, values_weights, edges in (
        (
            "LED-skin gap along the axis (mm)",
            "LEDs",
            [_per_emitter(comparison.runs[i], "gap_mm") for i in (0, 1)],
            None,
        ),
        (
            "incidence angle on the skin (deg)",
            "LEDs",
            [_per_emitter(comparison.runs[i], "incidence_deg") for i in (0, 1)],
            np.arange(0.0, 91.0, 10.0),
        ),
        (
            "treated-skin fluence (J/cm2)",
            "treated area",
            [_treated(comparison.fluence[i], comparison.treated[i]) for i in (0, 1)],
            np.linspace(0.0, 2.0 * high, 11),
        ),
    ):
        if any(len(v) == 0 for v, _ in values_weights):
            continue
        if edges is None:
            top = max(robust_range(v, floor=1.0)[1] for v, _ in values_weights)
            edges = np.linspace(0.0, max(float(np.ceil(top)), 1.0), 11)
        entry: dict[str, Any] = {"edges": edges.tolist(), "fraction_of": of}
        for key, (v, w) in zip("ab", values_weights, strict=True):
            counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges, weights=w)
            entry[key] = {
                "fraction": (counts / w.sum()).tolist(),
                "quantiles": {
                    f"p{round(100 * q)}": weighted_percentile(v, w, q) for q in QUANTILES
                },
            }
        out[label] = entry
    return out


def robust_range(values: np.ndarray, *, floor: float) -> tuple[float, float]:
    """Return the span of ``values`` without their far outliers.

    Tukey's far fences: 3 interquartile ranges (at least ``floor``, so that values all
    alike do not make every other one an outlier) below the first quartile and above the
    third, cut to the values' own span.

    Parameters
    ----------
    values : (n,) float64
        Not empty.
    floor : float
        The least spread counted, in the values' unit.

    Returns
    -------
    low, high : float
        Every value outside is a far outlier; ``low == high`` when all the values are.
    """
    q1, q3 = (float(q) for q in np.percentile(values, [25, 75]))
    reach = 3.0 * max(q3 - q1, floor)
    return max(float(values.min()), q1 - reach), min(float(values.max()), q3 + reach)


def _per_emitter(runs: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    values = np.array(
        [v for m in runs for v in m["emitters"]["per_emitter"][key] if v is not None],
        dtype=np.float64,
    )
    return values, np.ones(len(values))


def _treated(
    fluence: list[np.ndarray], treated: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate([h[a > 0] for h, a in zip(fluence, treated, strict=True)])
    weights = np.concatenate([a[a > 0] / a.sum() for a in treated])
    return values, weights


def verdict(names: tuple[str, str], rows: list[dict], *, people: int) -> str:
    """Return a plain-language summary of who wins what, and on which statistic.

    ``people`` is the number of anatomies both were rendered on.
    """
    wins = {name: [r["metric"] for r in rows if r["winner"] == name] for name in names}
    ties = [r["metric"] for r in rows if r["winner"] is None]
    parts = []
    for name in names:
        if wins[name]:
            parts.append(f"{name} is better on {len(wins[name])}: {', '.join(wins[name])}")
    if ties:
        parts.append(f"within {100 * TIE:g} % on {', '.join(ties)}")
    lead = max(names, key=lambda n: len(wins[n]))
    other = names[1 - names.index(lead)]
    if len(wins[lead]) == len(wins[other]):
        head = f"Neither design wins outright ({len(wins[lead])} metrics each)."
    else:
        head = (
            f"{lead} wins on {len(wins[lead])} of {len(rows)} metrics, {other} on "
            f"{len(wins[other])}."
        )
    bases = sorted({decided_on(r, people) for r in rows})
    if people > 1:
        basis = f"Each metric is judged on the {' or '.join(bases)} of the {people} people."
    else:
        basis = "Each metric is judged on its value on the one anatomy."
    return " ".join([head, basis, *(f"{p}." for p in parts)])


def decided_on(row: dict[str, Any], people: int) -> str:
    """Name the statistic that decides a row of ``compare.json``'s ``metrics``.

    ``worst member`` over a population, else ``median`` (of the people that have the
    metric) or, on one anatomy, ``value``.
    """
    if row["compared_on"] == "worst":
        return "worst member"
    return "value" if people == 1 else "median"


def better_if(row: dict[str, Any], window_j_cm2: Sequence[float]) -> str:
    """Say which way a row of ``compare.json``'s ``metrics`` is better.

    ``higher``, ``lower`` or ``nearer X J/cm²``, X the middle of the window the row is
    judged by (its own ``window_j_cm2``, else ``window_j_cm2``: the scene's).
    """
    if row["better"] == "window":
        low, high = row.get("window_j_cm2", window_j_cm2)
        return f"nearer {0.5 * (low + high):g} J/cm²"
    return {"high": "higher", "low": "lower"}[row["better"]]


def metric_rows(
    result: dict[str, Any], *, difference: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Return the metrics of a comparison (``compare.json``) as a table of text, one row each.

    Per metric: the statistic that decides it (:func:`decided_on`), which way is better
    (:func:`better_if`), both designs' values of that statistic, (with ``difference``) b's
    minus a's, and the better design or ``tie (within 2 %)``: the verdict follows from the
    values shown. The spread over the people is :func:`spread_rows`'s.

    Returns
    -------
    header : list of str
    rows : list of list of str
    """
    a, b = result["designs"]
    people = len(result["people"])
    header = ["metric", "decided on", "better if", a, b, *([f"{b} - {a}"] * difference),
              "better"]  # fmt: skip
    rows = []
    for r in result["metrics"]:
        key = r["compared_on"]
        rows.append(
            [
                r["metric"],
                decided_on(r, people),
                better_if(r, result["window_j_cm2"]),
                f"{r['a'][key]:.4g}",
                f"{r['b'][key]:.4g}",
                *([f"{r['difference']:+.3g}"] * difference),
                r["winner"] or f"tie (within {100 * TIE:g} %)",
            ]
        )
    return header, rows


def spread_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """Return each metric's spread over the people (not judged) as a table of text.

    Per metric and design: the median and the 5th-95th percentile over the people (``-``
    for a design with one value). ``None`` on one anatomy.
    """
    if len(result["people"]) == 1:
        return None
    a, b = result["designs"]

    def cell(s: dict[str, float]) -> str:
        if "p5" not in s:
            return f"{s['median']:.4g}"
        return f"{s['median']:.4g} ({s['p5']:.3g}-{s['p95']:.3g})"

    header = ["metric", f"{a}: median (5th-95th)", f"{b}: median (5th-95th)"]
    return header, [[r["metric"], cell(r["a"]), cell(r["b"])] for r in result["metrics"]]


def skin_verdict(names: tuple[str, str], rows: list[dict]) -> str:
    """Return the summary of one device on two skin types: how much dose each gets at depth.

    The device is the same, so no skin "wins": the rows' ``winner`` says only which lies
    nearer the window.
    """
    at_depth = next(
        (r for r in rows if r["path"] == "tissue.targets.roi.fluence_mean_j_cm2"), None
    )
    head = (
        f"One device on two skins: {names[0]} and {names[1]} get the same direct light at "
        "the surface (what each skin returns to the device and back differs); 'better' below "
        "says only whose dose lies nearer the window."
    )
    if at_depth is None or at_depth["a"][at_depth["compared_on"]] == 0:
        return head
    key = at_depth["compared_on"]
    ratio = at_depth["b"][key] / at_depth["a"][key]
    return (
        f"{head} At the target depth {names[1]} gets {ratio:.2f} times the mean fluence of "
        f"{names[0]} ({at_depth['b'][key]:.3g} against {at_depth['a'][key]:.3g} J/cm2)."
    )


def markdown(result: dict[str, Any]) -> str:
    """Return the side-by-side report as Markdown."""
    a, b = result["designs"]
    people = result["people"]
    lines = [
        f"# {a} versus {b}",
        "",
        f"Rendered on {len(people)} "
        + (
            "anatomy (each scene's own target)"
            if len(people) == 1
            else f"people of a seeded population ({', '.join(people)})"
        )
        + f"; dose window {result['window_j_cm2'][0]:g}-{result['window_j_cm2'][1]:g} J/cm².",
        "",
        "## Verdict",
        "",
        result["verdict"],
        "",
        "## Metrics",
        "",
        "Each row is decided on the statistic it names: over a population the worst member "
        "(the lowest where higher is better, the highest where lower is better, the furthest "
        "from the window's middle for a fluence judged by its window), on one anatomy its "
        f"value. The columns {a} and {b} are that statistic; differences within "
        f"{100 * TIE:g} % are a tie.",
        "",
        *_markdown_table(*metric_rows(result)),
    ]
    spread = spread_rows(result)
    if spread is not None:
        lines += ["", "## Spread over the people", ""]
        lines += ["Median and 5th-95th percentile over the people; not judged.", ""]
        lines += _markdown_table(*spread)
    gain = result.get("interreflection_gain") or []
    if gain:

        def cell(side: dict | None) -> str:
            if side is None:
                return "-"
            spread = f" ({side['p5']:.2f}-{side['p95']:.2f})" if "p5" in side else ""
            return f"{side['median']:.2f}{spread}"

        lines += ["", "## Inter-reflection gain", "", f"{GAIN_LABEL[0].upper()}{GAIN_LABEL[1:]}."]
        lines += ["", f"| channel | {a} | {b} |", "| --- | ---: | ---: |"]
        lines += [f"| {g['channel']} | {cell(g['a'])} | {cell(g['b'])} |" for g in gain]
    regions = result["region_mean_fluence_j_cm2"]
    if regions:
        top = max(max(v) for v in regions.values()) or 1.0
        lines += ["", "## Mean fluence per region (median over the people, J/cm²)", ""]
        lines += ["| region | " + a + " | " + b + " |", "| --- | --- | --- |"]
        for region, (va, vb) in regions.items():
            bar_a, bar_b = ("█" * round(20 * v / top) for v in (va, vb))
            lines.append(f"| {region} | {bar_a} {va:.3g} | {bar_b} {vb:.3g} |")
    for label, d in result["distributions"].items():
        lines += ["", f"## Distribution: {label}", "", "Pooled over every anatomy.", ""]
        lines += [f"| | {' | '.join(d['a']['quantiles'])} |", "| --- |" + " ---: |" * 5]
        for name, key in ((a, "a"), (b, "b")):
            q = d[key]["quantiles"].values()
            lines.append(f"| {name} | " + " | ".join(f"{v:.3g}" for v in q) + " |")
        lines += ["", f"| bin | {a} | {b} |", "| --- | --- | --- |"]
        edges = d["edges"]
        for i, (fa, fb) in enumerate(zip(d["a"]["fraction"], d["b"]["fraction"], strict=True)):
            last = i == len(edges) - 2
            span = f"{edges[i]:.3g}+" if last else f"{edges[i]:.3g}-{edges[i + 1]:.3g}"
            bar_a, bar_b = ("█" * round(20 * f) for f in (fa, fb))
            lines.append(f"| {span} | {bar_a} {100 * fa:.1f} % | {bar_b} {100 * fb:.1f} % |")
    return "\n".join(lines) + "\n"


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Return the lines of a Markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def write_report(
    result: dict[str, Any], out_dir: Path, *, difference: bytes | None = None
) -> list[Path]:
    """Write ``compare.md``, ``compare.json`` and (given) ``difference.ply`` in ``out_dir``.

    The folder is published whole (:func:`twin.files.publish`); a ``difference.ply`` an
    earlier comparison left there is not kept when there is none now.

    Returns
    -------
    list of Path
        The files written.
    """
    files: dict[str, bytes | str] = {
        "compare.md": markdown(result),
        "compare.json": json.dumps(result, indent=2) + "\n",
    }
    if difference is not None:
        files["difference.ply"] = difference
    with publish(out_dir, name="out_dir", owned=["compare.*", "difference.ply"]) as folder:
        write_atomic({folder / n: data for n, data in files.items()}, name="out_dir")
    return [out_dir / n for n in files]
