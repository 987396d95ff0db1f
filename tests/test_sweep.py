"""``twin sweep``: designs, keys, the Pareto front, a small sweep, resuming, a bad point."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from _helpers import assert_names, raises_naming

import twin
from twin.analysis import sweep
from twin.analysis.executor import InProcessExecutor
from twin.analysis.sweep_design import (
    Factor,
    check_key,
    design_points,
    pareto_front,
    parse_vary,
    point_data,
)
from twin.cli import main
from twin.engine.cache import TransferCache


def helmet(root: Path, **more: object) -> Path:
    """Write a small helmet scene (40 LEDs on the scalp, direct light only); return its path."""
    scene = {
        "name": "helmet40",
        "target": {"mesh": "builtin:scalp", "max_edge_mm": 8},
        "emitters": {"design": "helmet", "count": 40},
        "exposure_s": 300,
        "engine": {"interreflection": False},
        "checks": {"rules": [{"metric": "roi.total.irradiance_mw_cm2.max", "max": 60}]},
        **more,
    }
    path = root / "helmet40.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


class Counting(InProcessExecutor):
    """The in-process executor, counting the tasks it runs."""

    def __init__(self) -> None:
        self.tasks = 0

    def map(self, function, tasks, *, progress=None, label=""):
        self.tasks += len(tasks)
        return super().map(function, tasks, progress=progress, label=label)


@pytest.fixture(scope="module")
def standoff_sweep(tmp_path_factory):
    """A 3 x 2 sweep (standoff 6, 10, 14 mm; exposure 300, 600 s) run once, with its folder."""
    root = tmp_path_factory.mktemp("sweep")
    plan = sweep.plan_sweep(helmet(root), ["emitters.standoff_mm=6:14:3", "exposure_s=300,600"])
    ticks = []
    executor = Counting()
    result = sweep.run_sweep(
        plan,
        out_dir=root / "out",
        executor=executor,
        cache=TransferCache(root / "cache"),
        progress=lambda done, total: ticks.append((done, total)),
    )
    return result, root, executor, ticks


# --- designs -----------------------------------------------------------------------------


def test_values_parse_as_ranges_lists_and_words():
    assert parse_vary("emitters.standoff_mm=6:14:5").levels == (6, 8, 10, 12, 14)
    assert parse_vary("x=0:1:3").levels == (0.0, 0.5, 1.0)
    assert parse_vary("tissue.skin_type=I,III,VI").levels == ("I", "III", "VI")
    assert parse_vary("x=1,2.5,off").levels == (1, 2.5, "off")
    f = parse_vary("emitters.count=600:1200", design="lhs")
    assert (f.low, f.high, f.integer) == (600.0, 1200.0, True)
    assert not parse_vary("emitters.standoff_mm=6:14", design="lhs").integer
    with raises_naming("vary", "KEY=VALUES", "'standoff'"):
        parse_vary("standoff")
    with raises_naming("vary x", "low:high is a range for --design lhs", "'6:14'"):
        parse_vary("x=6:14")
    with raises_naming("vary x", "count a whole number", "'6:14:0'"):
        parse_vary("x=6:14:0")


def test_a_full_factorial_design_holds_every_combination_once():
    factors = [Factor("a", (1, 2)), Factor("b", ("x", "y", "z")),
               Factor("c", (0.1, 0.2, 0.3, 0.4))]  # fmt: skip
    points = design_points(factors)
    assert len(points) == 2 * 3 * 4
    assert set(points) == set(itertools.product((1, 2), "xyz", (0.1, 0.2, 0.3, 0.4)))
    with raises_naming("design", "range of a"):
        design_points([Factor("a", low=0.0, high=1.0)])


def test_a_latin_hypercube_puts_one_point_in_each_stratum():
    n = 20
    factors = [Factor("a", low=6.0, high=14.0), Factor("b", low=-1.0, high=1.0),
               Factor("c", ("I", "II", "III", "IV"))]  # fmt: skip
    points = design_points(factors, design="lhs", samples=n, seed=3)
    assert len(points) == n
    for k, (low, high) in enumerate([(6.0, 14.0), (-1.0, 1.0)]):
        v = np.array([p[k] for p in points])
        assert np.all((v >= low) & (v < high))
        strata = np.floor((v - low) / (high - low) * n).astype(int)
        assert sorted(strata) == list(range(n))  # one point in each of the n strata
    counts = {level: sum(p[2] == level for p in points) for level in ("I", "II", "III", "IV")}
    assert counts == dict.fromkeys(counts, n // 4)
    assert design_points(factors, design="lhs", samples=n, seed=3) == points
    assert design_points(factors, design="lhs", samples=n, seed=4) != points
    count = parse_vary("emitters.count=600:1200", design="lhs")
    whole = design_points([count], design="lhs", samples=7)
    assert all(isinstance(p[0], int) and 600 <= p[0] <= 1200 for p in whole)


# --- keys --------------------------------------------------------------------------------


def test_an_unknown_key_names_the_nearest_valid_one():
    design = {"emitters": {"design": "helmet"}, "tissue": {"skin_type": "II"}}
    channels = ["red", "nir"]
    for key in ("emitters.standoff_mm", "emitters.count", "emitters.half_angle_deg",
                "tissue.skin_type", "exposure_s", "mode.red", "emitters.channels.nir.ratio",
                "dose.fluence_window_j_cm2", "target.variant.age_years"):  # fmt: skip
        check_key(key, design, channels=channels)
    with raises_naming("vary emitters.standof_mm", "did you mean 'standoff_mm'"):
        check_key("emitters.standof_mm", design, channels=channels)
    with raises_naming("vary emiters.count", "did you mean 'emitters'"):
        check_key("emiters.count", design, channels=channels)
    with raises_naming("vary mode.blue", "unknown key 'blue'", "valid keys: red, nir"):
        check_key("mode.blue", design, channels=channels)
    with raises_naming("vary exposure_s.x", "exposure_s takes a value"):
        check_key("exposure_s.x", design, channels=channels)
    csv_scene = {"emitters": {"file": "leds.csv"}}
    with raises_naming("vary emitters.standoff_mm", "unknown key 'standoff_mm'"):
        check_key("emitters.standoff_mm", csv_scene, channels=channels)


def test_a_half_angle_on_a_design_sets_every_channel_s_led(tmp_path):
    path = helmet(tmp_path)
    data = twin.scene.read_scene_file(path)
    point = point_data(data, ["emitters.half_angle_deg"], [45], base=tmp_path)
    scene = twin.load_scene(point, base=tmp_path)
    nominal = twin.load_scene(path)
    assert set(scene.emitters.channels) == set(nominal.emitters.channels) == {"red", "nir", "nir2"}
    assert {p.half_angle_deg for p in scene.emitters.profiles} == {45.0}
    np.testing.assert_array_equal(scene.emitters.power_mw, nominal.emitters.power_mw)
    assert data["emitters"] == {"design": "helmet", "count": 40}  # the scene data is untouched


# --- the Pareto front --------------------------------------------------------------------


@pytest.mark.parametrize("senses", [("max", "min"), ("min", "min"), ("max", "max")])
def test_the_pareto_front_is_every_point_nothing_dominates(senses):
    rng = np.random.default_rng(1)
    values = np.round(rng.random((150, 2)), 1)  # many ties
    values[[3, 40]] = np.nan
    front = set(pareto_front(values, senses).tolist())
    good = values * np.array([1 if s == "max" else -1 for s in senses])
    brute = set()
    for i in range(len(values)):
        if np.isnan(good[i]).any():
            continue
        dominated = any(
            np.all(good[j] >= good[i]) and np.any(good[j] > good[i])
            for j in range(len(values))
            if j != i and not np.isnan(good[j]).any()
        )
        if not dominated:
            brute.add(i)
    assert front == brute


# --- a small sweep -----------------------------------------------------------------------


def test_metrics_move_the_way_the_physics_says(standoff_sweep):
    result, root, _, ticks = standoff_sweep
    rows = result.rows
    assert [r["status"] for r in rows] == ["ok"] * 6
    by = {(r["emitters.standoff_mm"], r["exposure_s"]): r for r in rows}
    for exposure in (300, 600):
        mean = [by[(s, exposure)]["mean_irradiance_mw_cm2"] for s in (6, 10, 14)]
        assert mean[0] > mean[1] > mean[2]  # further off, less light on the scalp
    for standoff in (6, 10, 14):
        short, long = by[(standoff, 300)], by[(standoff, 600)]
        assert long["mean_irradiance_mw_cm2"] == short["mean_irradiance_mw_cm2"]
        np.testing.assert_allclose(
            long["mean_fluence_j_cm2"], 2 * short["mean_fluence_j_cm2"], rtol=1e-12
        )
        # The longer exposure changes no geometry: its render reused the matrix.
        assert (short["cached"], long["cached"]) == (False, True)
    assert ticks[-1] == (6, 6)
    table = list(csv.DictReader(io.StringIO((root / "out" / "sweep.csv").read_text())))
    assert [float(t["mean_fluence_j_cm2"]) for t in table] == [
        r["mean_fluence_j_cm2"] for r in rows
    ]


def test_the_front_of_a_sweep_is_its_non_dominated_points(standoff_sweep):
    result = standoff_sweep[0]
    points = result.points()
    front = {p["point"] for p in result.front()}
    area = {p["point"]: p["in_window_area_fraction"] for p in points}
    cv = {p["point"]: p["cv"] for p in points}
    for p in points:
        beaten = any(
            area[q] >= area[p["point"]] and cv[q] <= cv[p["point"]]
            and (area[q] > area[p["point"]] or cv[q] < cv[p["point"]])
            for q in area
        )  # fmt: skip
        assert (p["point"] in front) == (not beaten)
    rule = {p["point"]: p["max_irradiance_mw_cm2"] <= 60 for p in points}
    assert {p["point"]: p["rules_passed"] for p in points} == rule


def test_a_resumed_sweep_renders_only_what_is_missing(standoff_sweep, tmp_path):
    result, root, _, _ = standoff_sweep
    out = tmp_path / "out"
    out.mkdir()
    lines = (root / "out" / "sweep.csv").read_text().splitlines(keepends=True)
    kept = [lines[0], lines[1], lines[3], lines[4]]  # points 0, 2, 3 of 6
    kept[2] = kept[2].replace(",ok,", ",error,", 1)  # point 2 failed last time: run again
    (out / "sweep.csv").write_text("".join(kept))
    executor = Counting()
    again = sweep.run_sweep(
        result.plan, out_dir=out, executor=executor, cache=TransferCache(root / "cache"),
        resume=True,
    )  # fmt: skip
    assert executor.tasks == again.ran == 4  # points 1, 2, 4, 5
    assert [r["point"] for r in again.rows] == list(range(6))
    for old, new in zip(result.rows, again.rows, strict=True):
        assert new["mean_fluence_j_cm2"] == old["mean_fluence_j_cm2"]
    assert (out / "sweep.csv").read_text() == again.csv()
    with raises_naming("resume", "is not the table of this sweep", "emitters.standoff_mm"):
        (out / "other.csv").write_text("point,status\n0,ok\n")
        sweep.read_done(out / "other.csv", result.plan)
    fewer = sweep.plan_sweep(root / "helmet40.yaml", ["emitters.standoff_mm=6:14:3"])
    with raises_naming("expected the columns point, emitters.standoff_mm, status", "exposure_s"):
        sweep.read_done(out / "sweep.csv", fewer)  # a table of other parameters


def test_a_bad_point_is_reported_and_the_others_finish(tmp_path):
    plan = sweep.plan_sweep(helmet(tmp_path), ["exposure_s=300,-5,600"])
    result = sweep.run_sweep(
        plan, out_dir=tmp_path / "out", executor=InProcessExecutor(),
        cache=TransferCache(tmp_path / "cache"),
    )  # fmt: skip
    status = [r["status"] for r in result.rows]
    assert status == ["ok", "error", "ok"]
    assert_names(result.rows[1]["error"], "exposure_s", "-5")
    assert result.rows[1]["mean_fluence_j_cm2"] is None
    paths = sweep_files(result, tmp_path / "out")
    data = json.loads(paths["sweep.json"].read_text())
    assert data["ok"] == 2 and data["failed"][0]["point"] == 1
    bad_rule = {"rules": [{"metric": "roi.total.cvv", "max": 1}]}
    plan = sweep.plan_sweep(helmet(tmp_path, checks=bad_rule), ["exposure_s=300"])
    result = sweep.run_sweep(plan, out_dir=tmp_path / "out2", executor=InProcessExecutor())
    assert_names(result.rows[0]["error"], "checks.rules[0].metric", "did you mean 'cv'")


def sweep_files(result, out: Path) -> dict[str, Path]:
    from twin.views.sweep_report import write_sweep

    return {p.name: p for p in write_sweep(result, out)}


def test_over_a_population_each_point_is_its_worst_wearer(tmp_path):
    plan = sweep.plan_sweep(
        helmet(tmp_path), ["emitters.standoff_mm=8,12"], population=2, population_seed=5
    )
    result = sweep.run_sweep(
        plan, out_dir=tmp_path / "out", executor=InProcessExecutor(),
        cache=TransferCache(tmp_path / "cache"),
    )  # fmt: skip
    assert len(result.rows) == 4 and {r["member"] for r in result.rows} == {0, 1}
    for point in result.points():
        mine = [r for r in result.rows if r["point"] == point["point"]]
        assert point["cv"] == max(r["cv"] for r in mine)  # lower is better: the worst is most
        assert point["p5_irradiance_mw_cm2"] == min(r["p5_irradiance_mw_cm2"] for r in mine)
        assert point["mean_irradiance_mw_cm2"] == np.median(
            [r["mean_irradiance_mw_cm2"] for r in mine]
        )
    for point in result.front():  # each as its worst wearer on the Pareto metrics
        mine = [r for r in result.rows if r["point"] == point["point"]]
        assert point["in_window_area_fraction"] == min(r["in_window_area_fraction"] for r in mine)
        assert point["cv"] == max(r["cv"] for r in mine)
    with raises_naming("vary target.variant.age_years", "the population sets it"):
        sweep.plan_sweep(helmet(tmp_path), ["target.variant.age_years=30,60"], population=2)


def test_the_command_writes_the_table_the_front_and_the_page(tmp_path, capsys):
    path = helmet(tmp_path)
    out = tmp_path / "out"
    code = main(["sweep", str(path), "--vary", "emitters.standoff_mm=8,12", "--out", str(out),
                 "--jobs", "1", "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "2 points: 2 ok, 0 failed" in printed and "Pareto front" in printed
    for name in ("sweep.csv", "pareto.csv", "sweep.json", "report.html", "plots/pareto.png",
                 "plots/vs_emitters.standoff_mm.png"):  # fmt: skip
        assert (out / name).is_file(), name
    data = json.loads((out / "sweep.json").read_text())
    assert data["command"].startswith("twin sweep") and data["points"] == 2
    assert "<h2>Pareto front</h2>" in (out / "report.html").read_text()
    code = main(["sweep", str(path), "--vary", "emitters.standof_mm=8,12", "--out", str(out)])
    message = capsys.readouterr().err.strip()
    assert code == 2 and message.count("\n") == 0
    assert_names(message, "--vary emitters.standof_mm", "did you mean 'standoff_mm'")
    code = main(["sweep", str(path), "--vary", "exposure_s=1", "--pareto", "roi.total.cv",
                 "--out", str(out)])  # fmt: skip
    assert code == 2
    assert_names(capsys.readouterr().err, "--pareto", "expected two metrics")
