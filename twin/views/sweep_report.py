"""The files of ``twin sweep`` and ``twin tolerance``: tables, plots and a self-contained page.

A sweep's folder (:func:`write_sweep`): ``sweep.csv`` (one row per point and wearer),
``sweep.parquet`` (where pyarrow is installed), ``pareto.csv`` (the points on the Pareto
front), ``sweep.json`` (the design, the command, the counts, the timing), ``plots/`` (each
metric shown against each parameter, ``vs_<key>.png``; the Pareto chart, ``pareto.png``) and
``report.html``. A tolerance analysis's folder (:func:`write_tolerance`): ``tolerance.csv``
(one row per run: its draws and metrics), ``tolerance.json`` (distributions, yield,
sensitivities), ``plots/histograms.png`` (each metric's runs, the nominal value and the
rules' limits), ``plots/tornado.png`` (each factor's rank correlation with each metric) and
``report.html``. Plots need matplotlib; without it the page says they were left out. Each
folder is published whole (:func:`twin.files.publish`).
"""

from __future__ import annotations

import html
import importlib.util
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.analysis.sweep import (
    SweepPlan,
    SweepResult,
    column,
    format_cell,
    summary,
    table_csv,
)
from twin.analysis.tolerance import ToleranceResult, summarise
from twin.dose.registry import metric
from twin.files import publish, safe_name, write_atomic
from twin.views.report import _img, _page, _table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Metrics drawn against each parameter besides the Pareto pair.
SWEEP_PLOTTED = ("roi.total.fluence_j_cm2.mean", "roi.total.irradiance_mw_cm2.mean")
#: Metrics a tolerance page draws besides the rules' (at most :data:`MOST_PANELS` in all).
TOLERANCE_PLOTTED = (
    "roi.total.fluence_j_cm2.mean",
    "roi.total.cv",
    "roi.total.in_window_area_fraction",
    "roi.total.irradiance_mw_cm2.max",
)
MOST_PANELS = 6
_NO_PLOTS = "<p>Plots left out: they need matplotlib (<code>pip install 'twin[viz]'</code>).</p>"


def _plotting() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _figure(panels: int, *, width: float = 4.2, height: float = 3.2) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    cols = min(panels, 3)
    rows = -(-panels // cols)
    figure = Figure(figsize=(width * cols, height * rows), dpi=100, layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[panels:]:
        ax.set_visible(False)
    return figure, axes[:panels]


def _png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _label(path: str) -> str:
    try:
        return metric(path).label
    except KeyError:
        return path


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def sweep_plots(result: SweepResult) -> dict[str, bytes]:
    """Return the sweep's plots as PNG bytes by file name (empty without matplotlib).

    ``vs_<key>.png`` per parameter: each plotted metric (the Pareto pair, the mean fluence
    and irradiance) of every point against it, with the median at each level; ``pareto.png``:
    every point on the two Pareto metrics, the front joined and named by point.
    """
    if not _plotting():
        return {}
    plan = result.plan
    points = [p for p in result.points() if p["status"] == "ok"]
    plotted = list(dict.fromkeys([plan.pareto[0][0], plan.pareto[1][0], *SWEEP_PLOTTED]))
    plotted = [p for p in plotted if any(q.get(column(p)) is not None for q in points)]
    out: dict[str, bytes] = {}
    if not points or not plotted:
        return out
    for key in plan.keys:
        xs = [p[key] for p in points]
        numeric = _numeric(xs)
        levels = sorted(set(xs)) if numeric else list(dict.fromkeys(xs))
        where = {v: i for i, v in enumerate(levels)}
        figure, axes = _figure(len(plotted))
        for ax, path in zip(axes, plotted, strict=True):
            x = np.array([float(v) if numeric else where[v] for v in xs], dtype=float)
            y = np.array([np.nan if p[column(path)] is None else p[column(path)] for p in points])
            ax.plot(x, y, "o", alpha=0.5, color="#1f77b4", markersize=4)
            if len(levels) < len(points) or len(levels) <= 30:
                lx = np.array([float(v) if numeric else where[v] for v in levels])
                med = [
                    np.nanmedian(y[x == v]) if np.isfinite(y[x == v]).any() else np.nan for v in lx
                ]
                ax.plot(lx, med, "-", color="#d62728", label="median")
            if not numeric:
                ax.set_xticks(range(len(levels)), [str(v) for v in levels])
            ax.set_xlabel(key)
            ax.set_ylabel(_label(path))
            ax.grid(alpha=0.3)
        figure.suptitle(f"{plan.scene.stem}: metrics against {key}")
        out[f"vs_{safe_name(key)}.png"] = _png_bytes(figure)
    (a, sa), (b, sb) = plan.pareto
    va = np.array([np.nan if p[column(a)] is None else p[column(a)] for p in points], dtype=float)
    vb = np.array([np.nan if p[column(b)] is None else p[column(b)] for p in points], dtype=float)
    front = result.front()
    figure, (ax,) = _figure(1, width=6.4, height=4.8)
    ax.plot(va, vb, "o", color="#7f7f7f", alpha=0.6, label="points")
    fa = [p[column(a)] for p in front]
    fb = [p[column(b)] for p in front]
    ax.plot(fa, fb, "o-", color="#d62728", label="Pareto front")
    for p in front:
        ax.annotate(
            str(p["point"]),
            (p[column(a)], p[column(b)]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel(f"{_label(a)} ({sa}imise)")
    ax.set_ylabel(f"{_label(b)} ({sb}imise)")
    ax.grid(alpha=0.3)
    ax.legend()
    out["pareto.png"] = _png_bytes(figure)
    return out


def _params(plan: SweepPlan, point: dict[str, Any]) -> list[str]:
    return [format_cell(point[k]) for k in plan.keys]


def sweep_page(result: SweepResult, data: dict[str, Any], plots: dict[str, bytes]) -> str:
    """Return the sweep's self-contained HTML page (``data``: ``sweep.json``)."""
    plan = result.plan
    (a, sa), (b, sb) = plan.pareto
    points = result.points()
    body = [
        f"<p>Scene {html.escape(str(plan.scene))}; {data['design']} design over "
        f"{len(plan.keys)} parameters, {data['points']} points"
        + (f" on {len(plan.members)} wearers each" if plan.population_rows else "")
        + f"; {data['ok']} rendered, {len(data['failed'])} failed.</p>",
        "<h2>Design</h2>",
        _table(
            ["key", "values"],
            [
                [f["key"], ", ".join(map(format_cell, f["levels"]))]
                if "levels" in f
                else [f["key"], f"{f['low']:g} to {f['high']:g} (Latin hypercube)"]
                for f in data["factors"]
            ],
        ),
    ]
    if data.get("command"):
        body.append(f"<p><code>{html.escape(data['command'])}</code></p>")
    body.append("<h2>Pareto front</h2>")
    body.append(
        f"<p>The points no other point beats on both {html.escape(_label(a))} ({sa}imised) "
        f"and {html.escape(_label(b))} ({sb}imised)"
        + (", each point as its worst wearer." if plan.population_rows else ".")
        + "</p>"
    )
    front = result.front()
    body.append(
        _table(
            ["point", *plan.keys, _label(a), _label(b), "rules"],
            [
                [p["point"], *_params(plan, p), p[column(a)], p[column(b)], _rules(p)]
                for p in front
            ],
        )
    )
    if "pareto.png" in plots:
        body.append(_img(plots["pareto.png"], "Pareto chart"))
    body.append("<h2>Metrics against each parameter</h2>")
    shown = [n for n in plots if n.startswith("vs_")]
    body += [_img(plots[n], n) for n in shown] if plots else [_NO_PLOTS]
    body.append("<h2>Points</h2>")
    columns = list(plan.metrics[:6])
    body.append(
        _table(
            ["point", *plan.keys, "status", *map(_label, columns), "rules"],
            [
                [
                    p["point"],
                    *_params(plan, p),
                    p["status"],
                    *("-" if p[column(c)] is None else p[column(c)] for c in columns),
                    _rules(p),
                ]
                for p in points
            ],
        )
    )
    body += _failed(data["failed"], "point")
    timing = data["timing"]
    body.append("<h2>Timing</h2>")
    body.append(
        _table(
            ["wall (s)", "render median (s)", "with a new ray cast (s)", "matrix from cache (s)"],
            [
                [
                    _s(timing["wall_s"]),
                    _s(timing["render_s_median"]),
                    _s(timing["render_s_median_cast"]),
                    _s(timing["render_s_median_cached_matrix"]),
                ]
            ],
        )
    )
    return _page(f"twin sweep: {plan.scene.stem}", body)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _text(text: str) -> str:
    """Return text for a cell of :func:`twin.views.report._table` that may start with ``<``."""
    return f"<span>{html.escape(text)}</span>"


def _rules(point: dict[str, Any]) -> str:
    passed = point.get("rules_passed")
    if passed is None:
        return "-"
    return "<span class='pass'>pass</span>" if passed else "<span class='fail'>FAIL</span>"


def write_sweep(result: SweepResult, out_dir: Path, *, command: str | None = None) -> list[Path]:
    """Write a sweep's files into ``out_dir`` (published whole); return them.

    ``sweep.csv``, ``sweep.parquet`` (with pyarrow), ``pareto.csv``, ``sweep.json``,
    ``plots/*.png`` (with matplotlib) and ``report.html``.
    """
    data = summary(result, command=command)
    plots = sweep_plots(result)
    plan = result.plan
    pareto_columns = ["point", *plan.keys, *(column(p) for p in plan.paths), "rules_passed"]
    files: dict[str, bytes | str] = {
        "sweep.csv": result.csv(),
        "pareto.csv": table_csv(pareto_columns, result.front()),
        "sweep.json": json.dumps(data, indent=2, default=str) + "\n",
        **{f"plots/{name}": png for name, png in plots.items()},
        "report.html": sweep_page(result, data, plots),
    }
    if importlib.util.find_spec("pyarrow") is not None:
        files["sweep.parquet"] = _parquet(plan.columns(), result.rows)
    owned = ["sweep.*", "pareto.csv", "report.html", "plots/*.png"]
    with publish(out_dir, name="out_dir", owned=owned) as folder:
        write_atomic({folder / n: v for n, v in files.items()}, name="out_dir")
    return [Path(out_dir) / n for n in files]


def _parquet(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    """Return the rows as a Parquet file (pyarrow), each column typed by its values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({c: [r.get(c) for r in rows] for c in columns})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def tolerance_metrics(result: ToleranceResult) -> list[str]:
    """Return the metrics a tolerance page draws: the rules', then the headline ones."""
    wanted = [r.metric for r in result.rules] + list(TOLERANCE_PLOTTED)
    have = [p for p in dict.fromkeys(wanted) if p in result.paths and len(result.values(p))]
    return have[:MOST_PANELS]


def tolerance_plots(result: ToleranceResult, data: dict[str, Any]) -> dict[str, bytes]:
    """Return ``histograms.png`` and ``tornado.png`` as PNG bytes (empty without matplotlib).

    Histograms: each drawn metric over the runs, the nominal value (black) and the bounds of
    the rules on it (red, dashed). Tornado: per metric, each factor's rank correlation with
    it, the strongest on top (blue: the metric rises with the factor's draw, red: it falls).
    """
    if not _plotting():
        return {}
    paths = tolerance_metrics(result)
    out: dict[str, bytes] = {}
    if not paths:
        return out
    figure, axes = _figure(len(paths))
    for ax, path in zip(axes, paths, strict=True):
        values = result.values(path)
        ax.hist(
            values, bins=min(30, max(5, len(values) // 5)), color="#9ecae1", edgecolor="#3182bd"
        )
        nominal = data["distributions"].get(path, {}).get("nominal")
        if nominal is not None:
            ax.axvline(nominal, color="black", label="nominal")
        for rule in result.rules:
            if rule.metric == path:
                for bound in (rule.low, rule.high):
                    if bound is not None:
                        ax.axvline(bound, color="#d62728", linestyle="--", label="rule limit")
        ax.set_xlabel(_label(path))
        ax.set_ylabel("runs")
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        if unique:
            ax.legend(unique.values(), unique.keys(), fontsize=7)
    figure.suptitle(f"{result.scene.stem}: {len(result.rows)} runs")
    out["histograms.png"] = _png_bytes(figure)
    ranked = [p for p in paths if p in data["sensitivity"]][:4]
    if ranked:
        figure, axes = _figure(len(ranked), width=4.6)
        for ax, path in zip(axes, ranked, strict=True):
            rows = data["sensitivity"][path][::-1]
            rho = [r["rank_correlation"] for r in rows]
            colours = ["#3182bd" if v >= 0 else "#d62728" for v in rho]
            ax.barh([r["factor"] for r in rows], rho, color=colours)
            ax.set_xlim(-1, 1)
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_xlabel("rank correlation")
            ax.set_title(_label(path), fontsize=9)
        out["tornado.png"] = _png_bytes(figure)
    return out


def tolerance_page(result: ToleranceResult, data: dict[str, Any], plots: dict[str, bytes]) -> str:
    """Return the tolerance analysis's self-contained HTML page (``data``: ``tolerance.json``)."""
    y = data["yield"]
    tol = data["tolerances"]
    body = [
        f"<p>Scene {html.escape(str(result.scene))}; {data['runs']} runs, seed {data['seed']}"
        + (
            "; each run casts its rays again (geometric factors)."
            if data["recast"]
            else "; power-only: no run casts a ray."
        )
        + "</p>",
        "<h2>Factors</h2>",
        _table(["factor", "value"], [[k, json.dumps(v)] for k, v in tol.items()]),
    ]
    if data.get("command"):
        body.append(f"<p><code>{html.escape(data['command'])}</code></p>")
    body.append("<h2>Yield</h2>")
    if y["fraction"] is None:
        body.append("<p>The scene has no <code>checks.rules</code>: no yield.</p>")
    else:
        low, high = y["interval_95"]
        body.append(
            f"<p><b>{100 * y['fraction']:.1f} %</b> of {y['runs']} runs pass every rule "
            f"(95 % interval {100 * low:.1f}-{100 * high:.1f} %).</p>"
        )
        body.append(
            _table(
                ["rule", "bounds", "runs failing"],
                [
                    [r["metric"], _text(r["bounds"]), f"{100 * r['failing_fraction']:.1f} %"]
                    for r in y["rules"]
                ],
            )
        )
    body.append("<h2>Distributions</h2>")
    keys = ("nominal", "min", "p5", "median", "p95", "max")
    body.append(
        _table(
            ["metric", *keys],
            [
                [_label(p), *("-" if d[k] is None else d[k] for k in keys)]
                for p, d in data["distributions"].items()
            ],
        )
    )
    if "histograms.png" in plots:
        body.append(_img(plots["histograms.png"], "histograms"))
    body.append("<h2>Most sensitive factors</h2>")
    body.append(
        "<p>Spearman's rank correlation of each factor's draw with each metric over the runs, "
        "and its share of the squared correlations.</p>"
    )
    rows = []
    for path in tolerance_metrics(result):
        for r in data["sensitivity"].get(path, [])[:3]:
            rows.append([_label(path), r["factor"], r["rank_correlation"], r["variance_share"]])
    body.append(_table(["metric", "factor", "rank correlation", "share"], rows))
    if "tornado.png" in plots:
        body.append(_img(plots["tornado.png"], "tornado"))
    if not plots:
        body.append(_NO_PLOTS)
    body += _failed(data["failed"], "run")
    t = data["timing"]
    body.append("<h2>Timing</h2>")
    body.append(
        _table(
            ["nominal render (s)", "per run, median (s)", "wall (s)"],
            [[_s(t["nominal_render_s"]), _s(t["run_s_median"]), _s(t["wall_s"])]],
        )
    )
    return _page(f"twin tolerance: {result.scene.stem}", body)


def write_tolerance(
    result: ToleranceResult, out_dir: Path, *, command: str | None = None
) -> list[Path]:
    """Write a tolerance analysis's files into ``out_dir`` (published whole); return them."""
    data = summarise(result, command=command)
    plots = tolerance_plots(result, data)
    files: dict[str, bytes | str] = {
        "tolerance.csv": result.csv(),
        "tolerance.json": json.dumps(data, indent=2) + "\n",
        **{f"plots/{name}": png for name, png in plots.items()},
        "report.html": tolerance_page(result, data, plots),
    }
    owned = ["tolerance.*", "report.html", "plots/*.png"]
    with publish(out_dir, name="out_dir", owned=owned) as folder:
        write_atomic({folder / n: v for n, v in files.items()}, name="out_dir")
    return [Path(out_dir) / n for n in files]


def _failed(failed: list[dict], what: str) -> list[str]:
    """Return the "Failed points" / "Failed runs" section: each number and error (or nothing)."""
    if not failed:
        return []
    rows = [[f[what], _text(f["error"])] for f in failed]
    return [f"<h2>Failed {what}s</h2>", _table([what, "error"], rows)]
