"""``twin tolerance``: power-only draws on the transfer matrix, yield, sensitivity, re-casts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from _helpers import assert_names, raises_naming

import twin
from twin.analysis import tolerance
from twin.analysis.executor import InProcessExecutor
from twin.analysis.tolerance import Tolerances, run_tolerance
from twin.cli import main
from twin.dose.registry import BASELINE, metric_value

MEAN = "roi.total.irradiance_mw_cm2.mean"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A small helmet (40 LEDs on the scalp, direct light only) with two rules; its render."""
    root = tmp_path_factory.mktemp("tolerance")
    data = {
        "name": "helmet40",
        "target": {"mesh": "builtin:scalp", "max_edge_mm": 8},
        "emitters": {"design": "helmet", "count": 40},
        "exposure_s": 600,
        "engine": {"interreflection": False},
    }
    path = root / "helmet40.yaml"
    path.write_text(yaml.safe_dump(data))
    result = twin.render(path, workers=1)
    mean = metric_value(result.metrics, MEAN)
    cv = result.metrics["roi"]["total"]["cv"]
    rules = [{"metric": MEAN, "min": 0.97 * mean}, {"metric": "roi.total.cv", "max": 1.01 * cv}]
    data["checks"] = {"rules": rules}
    path.write_text(yaml.safe_dump(data))
    return path, result, root / "cache"


def run(scene, tolerances: Tolerances, runs: int, seed: int = 0, **options):
    path, _, cache = scene
    return run_tolerance(
        path, tolerances, runs=runs, executor=InProcessExecutor(), seed=seed, cache_dir=cache,
        **options,
    )  # fmt: skip


def test_with_no_spread_every_run_is_the_nominal_render(scene):
    _, render, _ = scene
    nothing = Tolerances(
        flux_spread={"red": 0.0, "nir": 0.0},
        droop_per_k={"nir2": 0.0},
        temperature_rise_k=(10.0, 10.0),
    )
    result = run(scene, nothing, runs=3)
    assert not nothing.geometric
    for p in BASELINE:
        assert metric_value(result.nominal, p) == metric_value(render.metrics, p), p
        for row in result.rows:
            assert row[tolerance.column(p)] == metric_value(render.metrics, p), p
    assert [r["flux_red"] for r in result.rows] == [1.0] * 3


def test_binning_spreads_the_mean_as_the_per_led_contributions_add(scene):
    _, render, _ = scene
    sigma = 0.05
    result = run(scene, Tolerances(flux_spread=dict.fromkeys(["red", "nir", "nir2"], sigma)),
                 runs=250)  # fmt: skip
    # Independently: each LED's contribution to the treated skin's mean irradiance.
    area = np.where(render.roi, render.samples.areas_mm2, 0.0)
    area /= area.sum()
    power = render.scene.emitters.power_mw
    each = np.array([area @ render.transfer.irradiance(np.eye(len(power))[i] * power[i])
                     for i in range(len(power))])  # fmt: skip
    nominal = metric_value(render.metrics, MEAN)
    np.testing.assert_allclose(each.sum(), nominal, rtol=1e-12)
    expected_sd = sigma * math.sqrt(np.sum(each**2))
    values = result.values(MEAN)
    sd = values.std(ddof=1)
    # The sample SD of 250 runs is within 4 of its standard errors (about 4.5 % each).
    assert abs(sd / expected_sd - 1) < 4 / math.sqrt(2 * (len(values) - 1))
    assert abs(values.mean() - nominal) < 4 * expected_sd / math.sqrt(len(values))


def test_dead_leds_take_their_share_of_the_light(scene):
    p = 0.2
    result = run(scene, Tolerances(dead_leds=p), runs=80)
    nominal = metric_value(result.nominal, MEAN)
    lost = np.array([1 - r[tolerance.column(MEAN)] / nominal for r in result.rows])
    share = np.array([r["dead_leds_share"] for r in result.rows])
    np.testing.assert_allclose(lost, share, rtol=1e-9, atol=1e-12)  # direct light is linear
    assert abs(lost.mean() - p) < 4 * lost.std(ddof=1) / math.sqrt(len(lost))
    assert np.mean([r["dead_leds"] for r in result.rows]) == pytest.approx(p * 40, abs=2)


def test_droop_and_a_dead_string(scene):
    droop = run(scene, Tolerances(droop_per_k=dict.fromkeys(["red", "nir", "nir2"], 0.01),
                                  temperature_rise_k=(10.0, 10.0)), runs=2)  # fmt: skip
    nominal = metric_value(droop.nominal, MEAN)
    for row in droop.rows:
        np.testing.assert_allclose(row[tolerance.column(MEAN)], 0.9 * nominal, rtol=1e-12)
    strings = run(scene, Tolerances(dead_strings=1, string_leds=4), runs=6)
    for row in strings.rows:
        lost = 1 - row[tolerance.column(MEAN)] / nominal
        np.testing.assert_allclose(lost, row["dead_strings_share"], rtol=1e-9)
        assert 0 < lost < 0.25  # one string of 4 LEDs in 40


def test_the_yield_is_the_fraction_of_runs_passing_every_rule(scene):
    result = run(scene, Tolerances(flux_spread={"red": 0.05, "nir": 0.05}, dead_leds=0.03),
                 runs=60)  # fmt: skip
    data = tolerance.summarise(result)
    rules = yaml.safe_load(scene[0].read_text())["checks"]["rules"]
    mean_ok = [r[tolerance.column(MEAN)] >= rules[0]["min"] for r in result.rows]
    cv_ok = [r["cv"] <= rules[1]["max"] for r in result.rows]
    passed = sum(a and b for a, b in zip(mean_ok, cv_ok, strict=True))
    assert 0 < passed < 60  # the rules are near the nominal: some runs fail
    assert data["yield"]["fraction"] == passed / 60
    low, high = data["yield"]["interval_95"]
    assert low < passed / 60 < high
    failing = [1 - sum(mean_ok) / 60, 1 - sum(cv_ok) / 60]
    assert [r["failing_fraction"] for r in data["yield"]["rules"]] == failing
    top = data["sensitivity"][MEAN][0]
    assert top["factor"] in ("dead_leds", "dead_leds_share") and top["rank_correlation"] < -0.5


def test_a_seeded_analysis_is_reproducible(scene):
    factors = Tolerances(flux_spread={"red": 0.05}, dead_leds=0.05)
    first, again = run(scene, factors, runs=8, seed=7), run(scene, factors, runs=8, seed=7)
    assert first.csv() == again.csv()
    assert run(scene, factors, runs=8, seed=8).csv() != first.csv()


def test_a_run_that_fails_is_reported_and_the_others_finish(scene, monkeypatch):
    real = tolerance.draw_power

    def sometimes(*args, run, **kwargs):
        if run == 2:
            msg = "run 2: a draw that cannot be made"
            raise twin.InputError(msg)
        return real(*args, run=run, **kwargs)

    monkeypatch.setattr(tolerance, "draw_power", sometimes)
    ticks = []
    result = run(scene, Tolerances(dead_leds=0.1), runs=5, progress=lambda d, t: ticks.append(d))
    assert [r["status"] for r in result.rows] == ["ok", "ok", "error", "ok", "ok"]
    assert result.rows[2]["error"] == "run 2: a draw that cannot be made"
    assert ticks == list(range(1, len(ticks) + 1)) and len(ticks) > 2  # the nominal, the runs
    assert tolerance.summarise(result)["failed"] == [
        {"run": 2, "error": "run 2: a draw that cannot be made"}
    ]


def test_misplacement_moves_the_device_rigidly_and_aim_tilts_each_axis(scene):
    nominal = twin.load_scene(scene[0])
    moved, draws = tolerance.draw_geometry(
        nominal, tolerances=Tolerances(misplace_mm=3.0, misplace_deg=4.0), seed=1, run=0
    )
    a, b = nominal.emitters.positions_mm, moved.emitters.positions_mm
    np.testing.assert_allclose(
        np.linalg.norm(b - b[0], axis=1), np.linalg.norm(a - a[0], axis=1), atol=1e-9
    )
    axis = nominal.emitters.axes.sum(axis=0)
    axis /= np.linalg.norm(axis)
    shift = b.mean(axis=0) - a.mean(axis=0)
    assert abs(shift @ axis) < 1e-9  # across the device's axis only
    np.testing.assert_allclose(np.linalg.norm(shift), draws["misplace_mm"], rtol=1e-9)
    turned = np.degrees(np.arccos(np.clip(np.sum(
        nominal.emitters.axes * moved.emitters.axes, axis=1), -1, 1)))  # fmt: skip
    assert turned.max() <= draws["misplace_deg"] + 1e-6
    c, d = nominal.carrier.vertices_mm, moved.carrier.vertices_mm  # moved with the LEDs
    np.testing.assert_allclose(
        np.linalg.norm(d - b[0], axis=1), np.linalg.norm(c - a[0], axis=1), atol=1e-9
    )
    aimed, draws = tolerance.draw_geometry(
        nominal, tolerances=Tolerances(aim_deg=2.0), seed=1, run=0
    )
    np.testing.assert_array_equal(aimed.emitters.positions_mm, a)
    cos = np.sum(nominal.emitters.axes * aimed.emitters.axes, axis=1)
    tilt = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    np.testing.assert_allclose(np.sqrt(np.mean(tilt**2)), draws["aim_rms_deg"], rtol=1e-6)


def test_geometric_runs_cast_again(scene):
    result = run(scene, Tolerances(aim_deg=3.0), runs=2)
    assert [r["status"] for r in result.rows] == ["ok", "ok"]
    nominal = metric_value(result.nominal, MEAN)
    assert all(r[tolerance.column(MEAN)] != nominal for r in result.rows)
    assert all(r["aim_rms_deg"] > 0 for r in result.rows)


def test_rank_correlation_and_the_wilson_interval():
    x = np.arange(10.0)
    assert tolerance.spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert tolerance.spearman(x, -(x**3)) == pytest.approx(-1.0)
    assert tolerance.spearman(x, np.ones(10)) is None
    low, high = tolerance.wilson_interval(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    low, high = tolerance.wilson_interval(20, 20)
    assert high == 1.0 and 0.8 < low < 0.9


def test_the_command_prints_the_yield_and_writes_its_files(scene, tmp_path, capsys):
    path, _, cache = scene
    out = tmp_path / "out"
    code = main(["tolerance", str(path), "--runs", "6", "--flux-spread-percent", "red=5,nir=3",
                 "--dead-leds-percent", "2", "--out", str(out), "--jobs", "1",
                 "--cache-dir", str(cache)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "power-only (no ray cast)" in printed and "yield:" in printed
    for name in ("tolerance.csv", "tolerance.json", "report.html", "plots/histograms.png"):
        assert (out / name).is_file(), name
    data = json.loads((out / "tolerance.json").read_text())
    assert data["tolerances"]["flux_spread"] == {"red": 0.05, "nir": 0.03}
    assert data["command"].startswith("twin tolerance")
    for argv, parts in (
        (["--flux-spread-percent", "blue=5"], ("--flux-spread-percent", "unknown channel 'blue'")),
        (["--droop-percent-per-k", "0.3"], ("--droop-percent-per-k", "--temperature-rise-k")),
        (["--temperature-rise-k", "9:3", "--droop-percent-per-k", "1"],
         ("--temperature-rise-k", "LOW:HIGH", "'9:3'")),
        ([], ("tolerances", "--flux-spread-percent", "every run would be the nominal design")),
    ):  # fmt: skip
        code = main(["tolerance", str(path), "--runs", "2", "--out", str(out), *argv])
        message = capsys.readouterr().err.strip()
        assert code == 2 and message.count("\n") == 0, message
        assert_names(message, *parts)
    with raises_naming("dead_leds", "probability"):
        Tolerances(dead_leds=2.0)
