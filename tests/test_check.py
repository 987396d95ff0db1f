"""Checks (``twin.analysis.check``, ``twin check``): rules, baselines, reports, exit codes,
and a scene that cannot be checked. The scene library itself is checked in test_library.py."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from _helpers import raises_naming, write_helmet

import twin
from twin.analysis import check
from twin.cli import main
from twin.engine.cache import TransferCache

RULES = [
    {"metric": "roi.total.irradiance_mw_cm2.max", "max": 100},
    {"metric": "emitters.inside_skin", "max": 0},
]


def helmet_scene(root, name="helmet", **emitters):
    """The helmet on the scalp (fast: 300 LEDs, 11k points) with two rules."""
    scene = {
        "name": name,
        "target": {"mesh": "builtin:scalp"},
        "emitters": {"design": "helmet", **emitters},
        "exposure_s": 1500,
        "checks": {"rules": RULES},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def run(args, capsys):
    code = main(["check", *map(str, args), "--jobs", "1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pass_regress_and_update(tmp_path, capsys):
    cache = tmp_path / "cache"
    path = helmet_scene(tmp_path)
    code, out, _ = run([path, "--cache-dir", cache], capsys)
    assert code == 1 and "run twin check --update" in out  # no baseline yet: not a pass
    code, out, _ = run([path, "--cache-dir", cache, "--update"], capsys)
    assert code == 0 and "wrote 1 baselines" in out
    baseline = json.loads(check.baseline_path(path).read_text())
    assert baseline["scene"] == "helmet" and "roi.total.cv" in baseline["metrics"]
    code, out, _ = run([path, "--cache-dir", cache], capsys)
    assert code == 0 and "1 scenes passed, 0 failed" in out

    # A one-line change: weaker red LEDs. The check turns red and says what moved.
    weaker = {
        "red": {"led": {"wavelength_nm": 660, "power_mw": 4.0, "half_angle_deg": 30}},
        "nir": {"led": "nir-850"},
        "nir2": {"led": "nir-940"},
    }
    helmet_scene(tmp_path, channels=weaker)
    before = check.baseline_path(path).read_text()
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    code, out, _ = run(
        [path, "--cache-dir", cache, "--junit", junit, "--summary", summary], capsys
    )
    assert code == 1
    row = next(line for line in out.splitlines() if "roi.total.irradiance_mw_cm2.mean" in line)
    assert row.split()[0] == "helmet" and row.endswith("FAIL") and "%" in row
    assert check.baseline_path(path).read_text() == before  # never updated implicitly
    suite = ElementTree.parse(junit).getroot()
    assert suite.get("tests") == "1" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert "roi.total.irradiance_mw_cm2.mean" in failure.text
    text = summary.read_text()
    assert "| helmet |" in text and "## Failures" in text

    # --update accepts the change and shows it.
    code, out, _ = run([path, "--cache-dir", cache, "--update"], capsys)
    assert code == 0 and "roi.total.irradiance_mw_cm2.mean" in out
    assert check.baseline_path(path).read_text() != before


def test_a_shifted_layout_fails_its_rule(tmp_path, capsys):
    path = helmet_scene(tmp_path)
    scene = twin.load_scene(path)
    csv = twin.devices.emitters.emitter_csv_text(scene.emitters)
    (tmp_path / "leds.csv").write_text(csv)
    data = yaml.safe_load(path.read_text())
    data["emitters"] = {"file": "leds.csv"}
    data["mode"] = {"red": 1.0, "nir": 1.0, "nir2": 1.0}
    data["checks"]["rules"].append({"metric": "emitters.gap_mm.mean", "min": 8, "max": 11})
    path.write_text(yaml.safe_dump(data))
    assert run([path, "--update"], capsys)[0] == 0
    # The helmet sits 8 mm higher: gaps grow beyond the rule, and the metrics move.
    moved = twin.Emitters.create(
        scene.emitters.positions_mm + np.array([0.0, 8.0, 0.0]),
        scene.emitters.axes,
        scene.emitters.power_mw,
        profile=list(scene.emitters.profiles[i] for i in scene.emitters.profile_index),
        channel=scene.emitters.channel,
        wavelength_nm=scene.emitters.wavelength_nm,
    )
    (tmp_path / "leds.csv").write_text(twin.devices.emitters.emitter_csv_text(moved))
    code, out, _ = run([path], capsys)
    assert code == 1
    rule = next(line for line in out.splitlines() if "emitters.gap_mm.mean" in line)
    assert "8 .. 11" in rule and rule.endswith("FAIL")


def test_invalid_input_exits_2_with_one_clear_message(tmp_path, capsys):
    path = helmet_scene(tmp_path)
    check.baseline_path(path).write_text("{not json")
    code, _, err = run([path], capsys)
    assert code == 2
    assert err.startswith(f"twin: error: {tmp_path}/helmet.baseline.json: not a readable baseline")
    check.baseline_path(path).write_text(json.dumps({"metrics": {"roi.total.cv": "high"}}))
    code, _, err = run([path], capsys)
    assert code == 2 and 'expected a baseline {"metrics": {name: number}}' in err
    check.baseline_path(path).unlink()
    data = yaml.safe_load(path.read_text())
    data["checks"]["rules"][0] = {"metric": "roi.total.cv", "min": 2, "max": 1}
    path.write_text(yaml.safe_dump(data))
    code, _, err = run([path], capsys)
    assert code == 2
    assert err == f"twin: error: {path}: checks.rules[0]: min 2 is above max 1\n"
    data["checks"]["rules"][0] = {"metric": "roi.total.cv", "maximum": 1}
    path.write_text(yaml.safe_dump(data))
    code, _, err = run([path], capsys)
    assert code == 2 and "checks.rules[0]: unknown key 'maximum'; did you mean 'max'?" in err
    assert main(["check", str(tmp_path / "nope.yaml")]) == 2


def test_rules_read_populations_at_the_worst_member_or_a_percentile():
    rule_high = twin.scene.checks.Rule("x", None, 10.0)
    rule_low = twin.scene.checks.Rule("x", 4.0, None)
    runs = [{"x": v} for v in (5.0, 7.0, 12.0)]
    high, low = check.rule_rows("s", [rule_high, rule_low], runs)
    assert (high.now, high.passed) == (12.0, False) and (low.now, low.passed) == (5.0, True)
    median = check.rule_rows("s", [twin.scene.checks.Rule("x", None, 10.0, "median")], runs)[0]
    assert (median.now, median.passed) == (7.0, True)
    assert check._values(twin.scene.checks.Checks(metrics=("x",)), runs) == {
        "x@min": 5.0,
        "x@median": 7.0,
        "x@max": 12.0,
    }


def test_assert_scene_for_pytest(tmp_path):
    path = helmet_scene(tmp_path)
    with pytest.raises(AssertionError, match="run twin check --update"):
        check.assert_scene(path, cache=TransferCache(tmp_path / "cache"))


def test_check_reports_an_unusable_backend_as_that_scene_error(tmp_path, capsys, monkeypatch):
    from twin.engine.backends import cuda as _cuda

    monkeypatch.setattr(_cuda, "status", lambda: "no CUDA device is visible")
    good = write_helmet(tmp_path, "good", 10.0, count=30)
    bad = write_helmet(tmp_path, "gpu", 10.0, count=30)
    data = yaml.safe_load(bad.read_text())
    bad.write_text(yaml.safe_dump({**data, "engine": {"backend": "cuda"}}))
    junit = tmp_path / "junit.xml"
    code = main(["check", str(good), str(bad), "--jobs", "1", "--junit", str(junit)])
    out = capsys.readouterr()
    assert code == 2
    assert out.err == (
        f"twin: error: {bad}: engine.backend 'cuda' cannot run here: no CUDA device is visible\n"
    )
    rows = out.out.splitlines()
    assert any(r.split()[:2] == ["good", "baseline"] for r in rows)  # the other scene ran
    assert rows[-2].split() == ["gpu", "(scene)", "-", "-", "invalid", "input", "ERROR"]
    suite = ElementTree.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("errors")) == ("2", "1")


def test_check_reports_an_internal_error_as_that_scene_error(tmp_path, capsys, monkeypatch):
    import twin.pipeline.render

    render = twin.pipeline.render.render

    def broken(scene, **options):
        if scene.name == "broken":
            msg = "division by zero"
            raise ZeroDivisionError(msg)
        return render(scene, **options)

    monkeypatch.setattr(twin.pipeline.render, "render", broken)
    good = write_helmet(tmp_path, "good", 10.0, count=30)
    bad = write_helmet(tmp_path, "broken", 10.0, count=30)
    summary = tmp_path / "summary.md"
    code = main(["check", str(bad), str(good), "--jobs", "1", "--summary", str(summary)])
    out = capsys.readouterr()
    assert code == 3
    assert out.err == f"twin: error: {bad}: internal error: ZeroDivisionError: division by zero\n"
    assert "1 failed (1 checks), 0 invalid, 1 internal errors in" in out.out
    assert "| broken | 0 | internal error |" in summary.read_text()


def test_unknown_rule_metric_is_invalid_input(tmp_path, capsys):
    path = write_helmet(tmp_path, "helmet", 10.0, count=30)
    data = yaml.safe_load(path.read_text())
    data["checks"] = {"rules": [{"metric": "roi.total.cv", "max": 50}]}
    data["checks"]["rules"].append({"metric": "roi.totl.cv", "max": 1})
    path.write_text(yaml.safe_dump(data))
    assert main(["check", str(path), "--jobs", "1"]) == 2
    assert capsys.readouterr().err == (
        f"twin: error: {path}: checks.rules[1].metric 'roi.totl.cv': unknown metric key "
        "'totl'; did you mean 'total'?\n"
    )


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        (b'{"metrics": {"a": NaN}}', ("finite numbers", "NaN")),
        (b'{"metrics": {"a": -Infinity}}', ("finite numbers", "-Infinity")),
        (b'{"metrics": {"a": 1e999}}', ('{"metrics": {name: number}}',)),
        (b'{"metrics": {"a": 1.5\xff}}', ("expected UTF-8", "0xff")),
        (b"[" * 100_000 + b"]" * 100_000, ("not a readable baseline", "nested too deeply")),
        (b'{"metrics": {"a": ' + b"9" * 5000 + b"}}", ("not a readable baseline", "digits")),
    ],
)
def test_a_fuzzed_baseline_is_an_input_error(tmp_path, body, parts):
    path = tmp_path / "scene.baseline.json"
    path.write_bytes(body)
    with raises_naming(*parts, at=path):
        check.load_baseline(path)


def test_a_baseline_of_finite_numbers_loads(tmp_path):
    path = tmp_path / "scene.baseline.json"
    path.write_text('{"metrics": {"a": 1.5, "b": -2}}')
    assert check.load_baseline(path) == {"a": 1.5, "b": -2.0}
    assert check.load_baseline(tmp_path / "none.baseline.json") is None


# --- rules and baselines on the dose at depth ----------------------------------------------

#: The dose in tissue of explicit layers, at two depths and in the treated skin's target band.
TISSUE = {
    "depths_mm": [0.5, 1.0],
    "layers": [
        {"thickness_mm": 0.1, "mua_per_mm": 0.3, "mus_prime_per_mm": 3, "g": 0.8, "n": 1.4},
        {"thickness_mm": ".inf", "mua_per_mm": 0.02, "mus_prime_per_mm": 2, "g": 0.8, "n": 1.4},
    ],
    "targets": {"roi": {"depth_mm": [0.5, 1.5]}},
}


def tissue_scene(root, checks, **target):
    """A flat panel of 60 LEDs over the built-in face, light in tissue, with ``checks``."""
    scene = {
        "name": "deep",
        "target": {"mesh": "builtin:face", "max_edge_mm": 8.0, **target},
        "emitters": {"design": "panel", "count": 60},
        "exposure_s": 600,
        "tissue": TISSUE,
        "checks": checks,
    }
    path = root / "deep.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_rules_on_the_dose_at_depth_pass_and_fail_as_they_should(tmp_path):
    metrics = twin.render(tissue_scene(tmp_path, {})).metrics
    band = metrics["tissue"]["targets"]["roi"]["fluence_mean_j_cm2"]
    at_1mm = metrics["tissue"]["roi"]["total"]["fluence_mean_j_cm2"][1]
    rules = [
        {"metric": "tissue.targets.roi.fluence_mean_j_cm2", "min": band / 2, "max": 2 * band},
        {"metric": "tissue.targets.roi.fluence_mean_j_cm2", "min": 2 * band},
        {"metric": "tissue.roi.total.fluence_mean_j_cm2[1.0mm]", "max": at_1mm / 2},
        {"metric": "tissue.roi.total.fluence_mean_j_cm2[1mm]", "min": at_1mm / 2},
    ]
    path = tissue_scene(tmp_path, {"rules": rules})
    report = check.run_checks([path], cache=TransferCache(tmp_path / "cache"), jobs=1)[0]
    assert report.error is None
    rows = [r for r in report.rows if r.kind == "rule"]
    assert [r.passed for r in rows] == [True, False, False, True]
    np.testing.assert_allclose([r.now for r in rows], [band, band, at_1mm, at_1mm], rtol=1e-12)
    assert rows[2].metric == "tissue.roi.total.fluence_mean_j_cm2[1.0mm]"
    # The registry's baseline holds the band's dose: --update writes it, and it passes again.
    check.write_baseline(check.baseline_path(path), report)
    again = check.run_checks([path], cache=TransferCache(tmp_path / "cache"), jobs=1)[0]
    baselined = {r.metric: r for r in again.rows if r.kind == "baseline"}
    assert baselined["tissue.targets.roi.fluence_mean_j_cm2"].passed


def test_a_population_baselines_depth_metrics_by_aggregate(tmp_path, capsys):
    deep = "tissue.roi.total.fluence_mean_j_cm2[1.0mm]"
    band = "tissue.targets.roi.in_window_area_fraction"
    checks = {
        "rules": [{"metric": deep, "min": 0, "over": "median"}],
        "baseline": {"metrics": [deep, band], "tolerances": {deep: {"relative": 0.5}}},
    }
    path = tissue_scene(tmp_path, checks, population={"size": 2, "seed": 1})
    cache = tmp_path / "cache"
    code, out, _ = run([path, "--cache-dir", cache, "--update"], capsys)
    assert code == 0, out
    saved = json.loads(check.baseline_path(path).read_text())["metrics"]
    assert set(saved) == {f"{m}@{how}" for m in (deep, band) for how in ("min", "median", "max")}
    assert saved[f"{deep}@min"] <= saved[f"{deep}@median"] <= saved[f"{deep}@max"]
    # Each aggregate takes its metric's own tolerance (the part before the @): 30 % off the
    # 1 mm fluence is within its 50 %, 0.2 off the band's in-window fraction is not within 1 %.
    moved = {k: v * 1.3 if k.startswith(deep) else v + 0.2 for k, v in saved.items()}
    check.baseline_path(path).write_text(json.dumps({"metrics": moved}))
    report = check.run_checks([path], cache=TransferCache(cache), jobs=1)[0]
    rows = {r.metric: r for r in report.rows}
    assert rows[f"{deep} (median)"].passed and rows[f"{deep} (median)"].now > 0
    assert all(rows[f"{deep}@{how}"].passed for how in ("min", "median", "max"))
    assert not any(rows[f"{band}@{how}"].passed for how in ("min", "median", "max"))


def test_depth_rule_metrics_are_checked_against_the_metrics():
    metrics = {
        "roi": {"total": {"cv": 0.3}},
        "tissue": {"depths_mm": [0.5, 1.0], "roi": {"total": {"fluence_mean_j_cm2": [2.0, 1.0]}}},
    }

    def fails(path: str, *parts: str) -> None:
        rules = [twin.scene.checks.Rule(path, None, 1.0)]
        with raises_naming(*parts, at="s.yaml: checks.rules[0].metric"):
            check.check_rule_metrics(rules, metrics, name="s.yaml: checks")

    good = twin.scene.checks.Rule("tissue.roi.total.fluence_mean_j_cm2[0.5mm]", None, 1.0)
    check.check_rule_metrics([good], metrics, name="s.yaml: checks")
    fails("tissue.roi.total.fluence_mean_j_cm2[2mm]", "tissue.depths_mm (0.5mm, 1mm)", "2mm")
    fails("roi.total.cv[1mm]", "per-depth list", "'roi.total.cv' is not one")
    fails("tissue.roi.total.fluence_mean_j_cm2", "a value per depth", "[0.5mm]")
    with raises_naming("s.yaml: checks.rules[0].metric", "[1mm]'", "unknown metric key 'totl'"):
        rules = [twin.scene.checks.Rule("tissue.roi.totl.fluence_mean_j_cm2[1mm]", None, 1.0)]
        check.check_rule_metrics(rules, metrics, name="s.yaml: checks")
    for bad in ("tissue.roi.total.fluence_mean_j_cm2[1.0]", "a[1mm].b", "a..b"):
        with raises_naming("checks.rules[0].metric", "expected a dotted metric path", repr(bad)):
            twin.scene.checks.parse_checks(
                {"rules": [{"metric": bad, "max": 1}]}, name="s.yaml: checks"
            )


def test_output_is_the_failures_and_a_summary_and_every_row_with_verbose(tmp_path, capsys):
    path = helmet_scene(tmp_path)
    cache = tmp_path / "cache"
    assert run([path, "--cache-dir", cache, "--update"], capsys)[0] == 0
    code, out, _ = run([path, "--cache-dir", cache], capsys)
    assert code == 0
    assert out.splitlines() == [out.strip()] and "1 scenes passed" in out  # one line
    code, out, _ = run([path, "--cache-dir", cache, "-v"], capsys)
    rows = [line for line in out.splitlines() if line.startswith("helmet ")]
    assert code == 0 and len(rows) > len(RULES) and all(r.endswith("pass") for r in rows)

    calls = []
    check.check_scenes(
        [path, path], cache=TransferCache(cache), jobs=1, progress=lambda *a: calls.append(a)
    )
    assert calls == [(1, 2), (2, 2)]


def test_bundled_scenes_are_checked_by_name_and_not_updated_in_an_install(tmp_path, monkeypatch):
    from twin import _data

    assert check.discover(["face-rigid-red"]) == [_data.bundled_scenes()["face-rigid-red"]]
    with raises_naming("'face-rigid-rde'", "neither a scene file nor a bundled scene"):
        check.discover(["face-rigid-rde"])
    # In a wheel install the library sits inside the package: --update refuses to write there.
    monkeypatch.setattr(_data, "is_installed_data", lambda path: True)
    monkeypatch.setattr("twin.cli.check.is_installed_data", lambda path: True)
    assert main(["check", "face-rigid-red", "--update"]) == 2
