"""The CLI's own arguments and outputs: one clear line and exit status 2 for a bad argument or
output path, checked before any work; nothing partial or stale left behind; ``twin check``
goes on past a scene it cannot check."""

from __future__ import annotations

import re
import sys
from xml.etree import ElementTree

import pytest
import trimesh
import yaml
from conftest import write_helmet

from twin.cli import main
from twin.errors import InputError
from twin.files import write_atomic
from twin.geometry import phantoms


def error_line(capsys) -> str:
    """The one line the command printed on stderr (and nothing else there)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.fixture
def small(tmp_path):
    """A small scene: four LEDs from a CSV over a coarse head phantom (no carrier)."""
    head = phantoms.head(subdivisions=3)
    trimesh.Trimesh(head.vertices_mm, head.faces, process=False).export(tmp_path / "head.ply")
    (tmp_path / "leds.csv").write_text(
        "x,y,z,dx,dy,dz,power_mw\n" + "".join(f"{x},0,130,0,0,-1,5\n" for x in (-20, -10, 10, 20))
    )
    scene = {
        "name": "small",
        "target": {"mesh": "head.ply", "units": "mm"},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30},
        "exposure_s": 600,
    }
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


# 1. twin check goes on past a scene it cannot check.


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


# 2. --plots, --png and --html need the viz extra: checked before anything is written.


@pytest.mark.parametrize(
    ("option", "module"),
    [("--plots", "matplotlib"), ("--png", "pyvista"), ("--html", "trame_pyvista")],
)
def test_render_extras_need_their_modules_first(small, capsys, monkeypatch, option, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    out = small.parent / "out"
    assert main(["render", str(small), "--out", str(out), option]) == 4  # not invalid input
    line = error_line(capsys)
    assert line.startswith(f"twin: error: {option}: needs {module}")
    assert "pip install 'twin[viz]'" in line
    assert not out.exists()


# 3. Bad output paths: one line before any work, and writes that are all or nothing.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layout", "{scene}", "--out", "{dir}"], "--out {dir}: expected a file, found a folder"),
        (
            ["anatomy", "export", "face", "--out", "{file}/x.ply"],
            "--out {file}/x.ply: {file} is a file, not a folder",
        ),
        (
            ["compare", "{scene}", "{scene}", "--out", "{file}/x"],
            "--out {file}/x: {file} is a file, not a folder",
        ),
        (
            ["optimise", "{scene}", "--out", "{file}"],
            "--out {file}: expected a folder, found a file",
        ),
        (
            ["check", "{scene}", "--junit", "{file}/j.xml"],
            "--junit {file}/j.xml: {file} is a file, not a folder",
        ),
        (
            ["check", "{scene}", "--summary", "{dir}"],
            "--summary {dir}: expected a file, found a folder",
        ),
        (["bench", "--out", "{dir}"], "--out {dir}: expected a file, found a folder"),
        (
            ["render", "{scene}", "--out", "{file}"],
            "--out {file}: expected a folder, found a file",
        ),
        (
            ["anatomy", "population", "2", "--out", "{file}"],
            "--out {file}: expected a folder, found a file",
        ),
    ],
)
def test_bad_output_paths_are_one_line(small, capsys, args, message):
    where = {"scene": small, "dir": small.parent, "file": small.parent / "leds.csv"}
    before = sorted(small.parent.rglob("*"))
    assert main([a.format(**where) for a in args]) == 2
    assert error_line(capsys) == f"twin: error: {message.format(**where)}"
    assert sorted(small.parent.rglob("*")) == before


def test_writes_are_all_or_nothing(tmp_path, monkeypatch):
    import twin.pipeline.results

    calls = []

    def full_disk(path, mode):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return open(path, mode)

    monkeypatch.setattr(twin.pipeline.results, "open", full_disk, raising=False)
    files = {tmp_path / "a.txt": "a", tmp_path / "sub" / "b.txt": b"b"}
    message = f"--out {tmp_path}/sub/b.txt: cannot write (No space left on device)"
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        write_atomic(files, name="--out")
    assert [p.name for p in tmp_path.rglob("*")] == ["sub"]  # no file, no partial one
    monkeypatch.undo()
    name = "n" * 250  # a long name: the temporary one must still fit
    assert write_atomic({**files, tmp_path / name: ""}, name="--out") == [
        *files,
        tmp_path / name,
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.txt", name, "sub"]


# 4.-7. Numeric arguments are checked where they enter, and named.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["anatomy", "export", "face", "--out", "x.ply", "--max-edge-mm", "-1"],
            "--max-edge-mm: expected a number > 0, got -1.0",
        ),
        (
            ["anatomy", "export", "face", "--out", "x.ply", "--max-edge-mm", "0"],
            "--max-edge-mm: expected a number > 0, got 0.0",
        ),
        (
            ["anatomy", "export", "face", "--out", "x.ply", "--max-edge-mm", "nan"],
            "--max-edge-mm: expected a number > 0, got nan",
        ),
        (
            ["anatomy", "population", "2", "--out", "p", "--max-edge-mm", "0"],
            "--max-edge-mm: expected a number > 0, got 0.0",
        ),
        (
            ["anatomy", "population", "0", "--out", "p"],
            "N (the number of people): expected a whole number >= 1, got 0",
        ),
        (["check", "{scene}", "--jobs", "-1"], "--jobs: expected a whole number >= 1, got -1"),
        (["check", "{scene}", "--jobs", "0"], "--jobs: expected a whole number >= 1, got 0"),
        (
            ["compare", "{scene}", "{scene}", "--out", "c", "--jobs", "0"],
            "--jobs: expected a whole number >= 1, got 0",
        ),
        (
            ["compare", "{scene}", "{scene}", "--out", "c", "--population", "-1"],
            "--population: expected a whole number >= 1, got -1",
        ),
        (
            ["optimise", "{scene}", "--out", "o", "--population", "0"],
            "--population: expected a whole number >= 1, got 0",
        ),
        (
            ["optimise", "{scene}", "--out", "o", "--group", "string", "--string-leds", "0"],
            "--string-leds: expected a whole number >= 1, got 0",
        ),
        (
            ["optimise", "{scene}", "--out", "o", "--seed", "-1"],
            "--seed: expected a whole number >= 0, got -1",
        ),
        (
            ["anatomy", "population", "2", "--out", "p", "--seed", "-3"],
            "--seed: expected a whole number >= 0, got -3",
        ),
        (
            ["optimise", "{scene}", "--out", "o", "--budget-mw", "-5"],
            "--budget-mw: expected a number > 0, got -5.0",
        ),
        (
            ["optimise", "{scene}", "--out", "o", "--budget-mw", "inf"],
            "--budget-mw: expected a number > 0, got inf",
        ),
    ],
)
def test_numeric_arguments_are_named(small, capsys, monkeypatch, args, message):
    monkeypatch.chdir(small.parent)
    before = sorted(small.parent.rglob("*"))
    assert main([a.format(scene=small) for a in args]) == 2
    assert error_line(capsys) == f"twin: error: {message}"
    assert sorted(small.parent.rglob("*")) == before


# 8. A check rule on a metric that does not exist is invalid input, with the nearest name.


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


# 9. A re-render into the same folder leaves nothing of the earlier one behind.


def test_rerender_removes_the_stale_outputs_twin_wrote(small, capsys):
    out = small.parent / "out"
    stale = ["carrier.ply", "plots/dose_area.png", "pictures/front.png", "scene.html"]
    kept = ["notes.txt", "plots/mine.txt"]
    for name in stale + kept:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("an earlier render's")
    assert main(["render", str(small), "--out", str(out)]) == 0
    capsys.readouterr()
    for name in stale:
        assert not (out / name).exists(), name
    assert not (out / "pictures").exists()
    assert all((out / name).read_text() == "an earlier render's" for name in kept)
