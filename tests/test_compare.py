"""twin compare: the same anatomies for both designs, metric directions, the verdict."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import write_helmet

from twin.analysis import compare
from twin.cli import main
from twin.engine.cache import TransferCache
from twin.errors import InputError


def test_winner_follows_each_metrics_direction():
    window = (4.0, 10.0)
    assert compare._winner(0.5, 0.8, "high", window) == 1
    assert compare._winner(0.5, 0.8, "low", window) == 0
    assert compare._winner(6.0, 9.5, "window", window) == 0  # 6 is nearer 7
    assert compare._winner(1.0, 1.01, "high", window) is None  # within 2 %


def test_two_helmets_on_the_same_people(tmp_path, capsys):
    near, far = write_helmet(tmp_path, "near", 8.0), write_helmet(tmp_path, "far", 18.0)
    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            str(near),
            str(far),
            "--population",
            "2",
            "--jobs",
            "1",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    result = json.loads((out / "compare.json").read_text())
    assert result["designs"] == ["near", "far"] and len(result["people"]) == 2
    rows = {r["path"]: r for r in result["metrics"]}
    # A rigid helmet shaped 8 mm off the base scalp does not fit a larger head: it is pushed
    # up until it clears, so its LED-skin distance spreads far more than the roomier one's.
    spread = rows["emitters.clearance_mm.std"]
    assert spread["a"]["worst"] > 2 * spread["b"]["worst"] and spread["winner"] == "far"
    assert set(spread["a"]) == {"median", "p5", "p95", "worst"}
    for row in result["metrics"]:  # every verdict follows the metric's own direction
        a, b = row["a"]["worst"], row["b"]["worst"]
        if row["winner"] is not None and row["better"] != "window":
            assert (row["winner"] == "far") == ((b > a) == (row["better"] == "high"))
    text = (out / "compare.md").read_text()
    for section in ("# near versus far", "## Verdict", "## Metrics", "## Mean fluence per region"):
        assert section in text
    assert re.search(r"^(near|far) wins on \d+ of \d+ metrics", result["verdict"]) or (
        result["verdict"].startswith("Neither design wins outright")
    )
    printed = capsys.readouterr().out
    assert result["verdict"] in printed
    assert "Each metric is judged on the worst member of the 2 people." in result["verdict"]
    # Each row of the printed table and of compare.md names the statistic that decides it,
    # shows both designs' values of it (not their medians) and a verdict that follows from
    # them and the direction it names.
    table = markdown_table(text, "## Metrics")
    assert table[0] == ["metric", "decided on", "better if", "near", "far", "far - near", "better"]
    assert len(table) == len(result["metrics"]) + 1
    lines = printed.splitlines()
    assert lines[0].split() == ["metric", "decided", "on", "better", "if", "near", "far", "better"]
    for row, cells, line in zip(result["metrics"], table[1:], lines[1:], strict=False):
        shown = [f"{row['a']['worst']:.4g}", f"{row['b']['worst']:.4g}"]
        assert cells[:2] == [row["metric"], "worst member"] and cells[3:5] == shown
        assert line.startswith(row["metric"]) and line.rstrip().endswith(cells[6])
        assert line.rstrip().removesuffix(cells[6]).split()[-2:] == shown
        assert cells[6] == judged("near", "far", *map(float, shown), cells[2])
        for side in "ab":  # where the median is another number, it is not in the row
            if f"{row[side]['median']:.4g}" not in shown:
                assert f"{row[side]['median']:.4g}" not in cells
    # The spread over the people follows, not judged: medians and percentiles.
    spread = markdown_table(text, "## Spread over the people")
    assert spread[0] == ["metric", "near: median (5th-95th)", "far: median (5th-95th)"]
    first = result["metrics"][0]
    assert spread[1][1].startswith(f"{first['a']['median']:.4g} ({first['a']['p5']:.3g}-")
    # Distributions pooled over both people: fractions of a whole; the pushed-out near
    # helmet's axial gaps spread far wider than the roomier one's, as its clearance does.
    dist = result["distributions"]
    assert list(dist) == [
        "LED-skin gap along the axis (mm)",
        "incidence angle on the skin (deg)",
        "treated-skin fluence (J/cm2)",
    ]
    for d in dist.values():
        for key in "ab":
            assert sum(d[key]["fraction"]) == pytest.approx(1.0)
            q = list(d[key]["quantiles"].values())
            assert q == sorted(q)
        assert f"## Distribution: {next(iter(dist))}" in text
    assert [d["fraction_of"] for d in dist.values()] == ["LEDs", "LEDs", "treated area"]
    gap = dist["LED-skin gap along the axis (mm)"]
    width = [gap[k]["quantiles"]["p95"] - gap[k]["quantiles"]["p5"] for k in "ab"]
    assert width[0] > 2 * width[1]
    # The difference map on the skin: b - a, medians over the two people.
    ply = trimesh.load(out / "difference.ply", process=False)
    data = ply.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_allclose(
        data["difference_j_cm2"], data["fluence_b_j_cm2"] - data["fluence_a_j_cm2"], atol=1e-5
    )


def markdown_table(text: str, heading: str) -> list[list[str]]:
    """The cells of the first Markdown table under ``heading``, the header row first."""
    lines = text.split(heading + "\n", 1)[1].splitlines()
    rows = [s for s in lines[next(i for i, s in enumerate(lines) if s.startswith("|")) :]]
    rows = rows[: next((i for i, s in enumerate(rows) if not s.startswith("|")), len(rows))]
    return [[c.strip() for c in s.strip("|").split("|")] for s in rows if "---" not in s]


def judged(a_name: str, b_name: str, a: float, b: float, better_if: str) -> str:
    """The better of two shown values by the direction shown ("higher", "lower" or "nearer X
    J/cm²"), or a tie within 2 % of the larger."""
    if better_if.startswith("nearer "):
        middle = float(better_if.split()[1])
        a, b, better_if = abs(a - middle), abs(b - middle), "lower"
    if abs(a - b) <= 0.02 * max(abs(a), abs(b)):
        return "tie (within 2 %)"
    return b_name if (b > a) == (better_if == "higher") else a_name


def test_robust_range_leaves_out_far_outliers_only():
    rng = np.random.default_rng(1)
    gaps = np.concatenate([rng.normal(10.0, 0.2, 500), [77.0]])
    low, high = compare.robust_range(gaps, floor=1.0)
    assert high < 20.0 and low == gaps.min()  # the one stray axis, and only it, is outside
    assert np.sum((gaps < low) | (gaps > high)) == 1
    assert compare.robust_range(np.full(5, 3.0), floor=1.0) == (3.0, 3.0)
    # A wide spread is kept whole.
    wide = rng.uniform(5.0, 40.0, 300)
    assert compare.robust_range(wide, floor=1.0) == (wide.min(), wide.max())


def test_a_population_needs_built_in_targets(tmp_path):
    near = write_helmet(tmp_path, "near", 8.0)
    scan = tmp_path / "scan.yaml"
    scan.write_text(
        yaml.safe_dump(
            {
                "target": {"mesh": "head.ply", "units": "mm"},
                "emitters": {"design": "helmet"},
                "exposure_s": 60,
            }
        )
    )
    # The message names the file, the argument and what it found.
    with pytest.raises(InputError, match=rf"{re.escape(str(scan))}: people: .*'head\.ply'"):
        compare.compare(near, scan, people=2, jobs=1)


def write_panel(root, name: str, tissue: dict | None) -> object:
    """A flat panel of 60 LEDs over the built-in face, with this ``tissue:`` section."""
    scene = {
        "name": name,
        "target": {"mesh": "builtin:face", "max_edge_mm": 8.0},
        "emitters": {"design": "panel", "count": 60},
        "exposure_s": 600,
        **({} if tissue is None else {"tissue": tissue}),
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


#: Explicit tissue layers (Monte Carlo at render time) and a target band in the dermis.
LAYERS = {
    "layers": [
        {"thickness_mm": 0.1, "mua_per_mm": 0.3, "mus_prime_per_mm": 3, "g": 0.8, "n": 1.4},
        {"thickness_mm": ".inf", "mua_per_mm": 0.02, "mus_prime_per_mm": 2, "g": 0.8, "n": 1.4},
    ],
    "targets": {"roi": {"depth_mm": [0.5, 1.5]}},
}


def test_scene_files_whose_tissue_sections_differ_compare_fine(tmp_path):
    shallow = write_panel(tmp_path, "shallow", LAYERS | {"depths_mm": [0.5, 1.0]})
    deep = write_panel(tmp_path, "deep", LAYERS | {"depths_mm": [1.0, 2.0]})
    surface = write_panel(tmp_path, "surface", None)
    cache = TransferCache(tmp_path / "cache")
    both = compare.compare(shallow, deep, jobs=1, cache=cache)
    rows = {r["path"]: r for r in both.summary["metrics"]}
    # Only the depths both have are compared; the same layers under the same LEDs give the
    # same dose there and in the shared target band.
    at_depth = [p for p in rows if p.startswith("tissue.roi.")]
    assert at_depth == [
        "tissue.roi.total.fluence_mean_j_cm2[1mm]",
        "tissue.roi.total.in_window_area_fraction[1mm]",
    ]
    for path in (*at_depth, "tissue.targets.roi.fluence_mean_j_cm2"):
        assert rows[path]["a"]["median"] == pytest.approx(rows[path]["b"]["median"], rel=1e-9)
        assert rows[path]["winner"] is None
    assert "mean fluence at 1 mm (J/cm2)" in both.table()
    ply = trimesh.load(both.write(tmp_path / "both")[-1], process=False)
    data = ply.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_allclose(data["difference_at_depth_j_cm2"], 0.0, atol=1e-6)
    # Against a scene without light in tissue: the surface alone.
    one = compare.compare(shallow, surface, jobs=1, cache=cache)
    assert not [r for r in one.summary["metrics"] if r["path"].startswith("tissue.")]
    ply = trimesh.load(one.write(tmp_path / "one")[-1], process=False)
    assert (
        "difference_at_depth_j_cm2" not in ply.metadata["_ply_raw"]["vertex"]["data"].dtype.names
    )


def test_skin_types_need_one_scene_with_tissue_and_two_types(tmp_path, capsys):
    plain = write_panel(tmp_path, "plain", None)
    other = write_panel(tmp_path, "other", None)
    out = ["--out", str(tmp_path / "out")]

    def fails(*args: str) -> str:
        assert main(["compare", *map(str, args), *out]) == 2
        return capsys.readouterr().err

    assert fails(plain, "--skin-types", "I", "VI") == (
        f"twin: error: {plain}: skin_types: comparing skin types I and VI needs a tissue: "
        "section in the scene (the skin the types replace), found none\n"
    )
    assert "expected a second scene file B or --skin-types TYPE TYPE, found B" in fails(
        plain, other, "--skin-types", "I", "VI"
    )
    assert "found neither" in fails(plain)
    assert "skin_types: expected two different skin types, got I twice" in fails(
        plain, "--skin-types", "I", "I"
    )
    assert "skin_types[1]: unknown skin type 'VII'" in fails(plain, "--skin-types", "I", "VII")


def write_mask(root, name: str, interior: str, **engine) -> object:
    """A rigid mask of 60 LEDs 10 mm off the face in red mode, its inside ``interior``."""
    scene = {
        "name": name,
        "target": {"mesh": "builtin:face", "max_edge_mm": 8.0, "exclude": ["eyes", "lips"]},
        "emitters": {"design": "mask-rigid-1026", "count": 60, "interior": interior},
        "mode": "red",
        "exposure_s": 600,
        "engine": {"patch_mm": 12.0, **engine},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_each_design_s_interreflection_gain_is_reported_and_not_judged(tmp_path):
    """A white mask returns far more light to the skin than a black one (docs/physics.md §3.6.4:
    about 1.5-1.9 times at 633-940 nm against 2-3 %); the gain is each design's own, per
    channel and total, and no metric the verdict counts."""
    cache = TransferCache(tmp_path / "cache")
    white, black = write_mask(tmp_path, "white", "white"), write_mask(tmp_path, "black", "black")
    both = compare.compare(white, black, jobs=1, cache=cache)
    gains = both.summary["interreflection_gain"]
    lit = [c for c in both.runs[0][0]["roi"]["channels"] if c != "blue"]  # blue is off
    assert sorted(lit) == ["nir", "red"]
    assert [g["channel"] for g in gains] == [*lit, "total"]
    for g in gains:
        for side, runs in zip("ab", both.runs, strict=True):
            assert g[side]["median"] == metric_gain(runs[0], g["channel"])
        assert 1.4 < g["a"]["median"] < 2.0 and 1.0 < g["b"]["median"] < 1.05
    assert not [r for r in both.summary["metrics"] if "interreflection" in r["path"]]
    text = both.table()
    total = next(g for g in gains if g["channel"] == "total")
    assert "inter-reflection gain (mean total / mean direct irradiance" in text
    line = next(s for s in text.splitlines() if s.startswith("total "))
    assert line.split() == ["total", f"{total['a']['median']:.2f}", f"{total['b']['median']:.2f}"]
    paths = both.write(tmp_path / "out")
    assert json.loads(paths[1].read_text())["interreflection_gain"] == gains
    markdown = paths[0].read_text()
    assert "## Inter-reflection gain" in markdown
    assert f"| total | {total['a']['median']:.2f} | {total['b']['median']:.2f} |" in markdown
    # Against a design rendered with the direct light alone: no gain on that side.
    direct = write_mask(tmp_path, "direct", "white", interreflection=False)
    one = compare.compare(white, direct, jobs=1, cache=cache)
    assert [g["b"] for g in one.summary["interreflection_gain"]] == [None, None, None]
    line = next(s for s in one.table().splitlines() if s.startswith("total "))
    assert line.split()[-1] == "-"


def metric_gain(metrics: dict, channel: str) -> float:
    """The gain of one render's metrics.json, per channel or total."""
    roi = metrics["roi"]
    return (roi["total"] if channel == "total" else roi["channels"][channel])[
        "interreflection_gain"
    ]
