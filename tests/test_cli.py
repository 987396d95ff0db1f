"""The command line as such (``twin.cli``): one clear line and its exit status for a bad
argument or output path, checked before any work; ``twin info``; progress bars."""

from __future__ import annotations

import io
import json
import os
import sys

import pytest
import yaml
from _helpers import phantom_scene, write_phantom, write_small

import twin
from twin.cli import main
from twin.cli._common import ProgressBar, StageBars


def error_line(capsys) -> str:
    """Return the one line the command printed on stderr (and nothing else there)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.fixture
def small(tmp_path):
    """A small scene: four LEDs from a CSV over a coarse head phantom (no carrier)."""
    return write_small(tmp_path)


def test_an_error_is_one_line_exit_status_2_and_nothing_written(tmp_path, capsys):
    root = write_phantom(tmp_path)
    (root / "scene.yaml").write_text(yaml.safe_dump({**phantom_scene(), "exposure": 5}))
    out = root / "out"
    assert main(["render", str(root / "scene.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"twin: error: {root}/scene.yaml: unknown key 'exposure'; did you mean 'exposure_s'?\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "module"),
    [("--plots", "matplotlib"), ("--png", "pyvista")],  # --html needs nothing extra
)
def test_render_extras_need_their_modules_first(small, capsys, monkeypatch, option, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    out = small.parent / "out"
    assert main(["render", str(small), "--out", str(out), option]) == 4  # not invalid input
    line = error_line(capsys)
    assert line.startswith(f"twin: error: {option}: needs {module}")
    assert "pip install 'twin[viz]'" in line
    assert not out.exists()


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
            "--population: expected a whole number in [1, 10000], got -1",
        ),
        (
            ["optimise", "{scene}", "--out", "o", "--population", "0"],
            "--population: expected a whole number in [1, 10000], got 0",
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


def test_info_lists_backends_and_reasons(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"twin {twin.__version__}" in out
    assert "reference  usable" in out and "embree     usable" in out
    from twin.engine.backends.cuda import status
    from twin.raycast.cuda import simulated

    if status() is not None:
        assert f"cuda       unusable: {status()}" in out
    elif simulated():
        assert "cuda       usable (numba's CUDA simulator" in out
    else:
        assert "cuda       usable\n" in out
    assert f"auto picks: {'embree' if status() or simulated() else 'cuda'}" in out


def test_progress_bar_waits_a_second_and_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar("work", stream=stream, delay_s=3600.0)
    bar(1, 2)
    assert stream.getvalue() == ""
    bar.delay_s = 0.0
    bar(2, 2)
    assert "[" + "#" * 30 + "] 2/2 emitters" in stream.getvalue()
    piped = io.StringIO()
    ProgressBar("work", stream=piped, delay_s=0.0)(1, 1)
    assert piped.getvalue() == ""


def test_stage_bars_give_each_stage_its_own_line():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bars = StageBars(stream=stream)
    for stage in ("greedy placement", "swap refinement"):
        bars(stage, 0, 4)
        bars.bar.delay_s = 0.0
        bars(stage, 3, 4)  # left unfinished: the next stage starts on a new line
    bars.stage("ray casting")(5, 5)
    bars.bar.delay_s = 0.0
    bars.stage("ray casting")(5, 5)
    lines = stream.getvalue().split("\n")
    assert lines[0].startswith("\rgreedy placement [") and lines[0].endswith(" s")
    assert "] 3/4 " in lines[0]
    assert lines[1].startswith("\rswap refinement [")
    assert lines[2].startswith("\rray casting [") and "] 5/5 emitters " in lines[2]
    assert lines[3] == ""


def test_ctrl_c_is_one_line_exit_130_and_the_old_results_stay(small, capsys, monkeypatch):
    import twin.pipeline.results

    out = small.parent / "out"
    assert main(["render", str(small), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    def interrupted(result):
        raise KeyboardInterrupt  # Ctrl-C while the new set is being written

    monkeypatch.setattr(twin.pipeline.results, "surface_ply", interrupted)
    assert main(["render", str(small), "--out", str(out)]) == 130
    assert error_line(capsys) == "twin: interrupted"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".out")) == []


def _printed_table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header and the channel rows of the table ``twin render`` printed."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("channel"))
    header = lines[start].split("  ")
    header = [h.strip() for h in header if h.strip()]
    rows = {}
    for line in lines[start + 2 :]:
        cells = line.split()
        if not cells or cells[0] not in ("red", "nir", "blue", "total"):
            break
        rows[cells[0]] = cells
    return header, rows


def test_render_prints_the_direct_and_the_total_light_and_the_gain(tmp_path, capsys):
    """A rigid mask 10 mm off the face: a white interior returns far more light to the skin
    than a black one (docs/physics.md §3.6.4: about 1.5-1.9 times, against 2-3 %); the direct light
    is the same whatever the interior, and without inter-reflection it is all that is shown."""
    base = {
        "target": {"mesh": "builtin:face", "max_edge_mm": 8.0, "exclude": ["eyes", "lips"]},
        "mode": "red",
        "exposure_s": 600,
        "engine": {"patch_mm": 12.0},
    }
    runs = {}
    for name, interior, engine in (("white", "white", {}), ("black", "black", {}),
                                   ("off", "white", {"interreflection": False})):  # fmt: skip
        emitters = {"design": "mask-rigid-1026", "count": 60, "interior": interior}
        scene = {
            **base,
            "name": name,
            "engine": {**base["engine"], **engine},
            "emitters": emitters,
        }
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(scene))
        out = tmp_path / name
        assert main(["render", str(tmp_path / f"{name}.yaml"), "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        metrics = json.loads((out / "metrics.json").read_text())
        runs[name] = (printed, *_printed_table(printed), metrics)
    for name in ("white", "black"):
        printed, header, rows, metrics = runs[name]
        assert header[:4] == ["channel", "E direct", "E mean", "gain"]
        roi = metrics["roi"]
        for channel, m in [*roi["channels"].items(), ("total", roi["total"])]:
            row = dict(zip(header, rows[channel], strict=True))
            direct, total = m["direct_irradiance_mw_cm2"]["mean"], m["irradiance_mw_cm2"]["mean"]
            assert float(row["E direct"]) == pytest.approx(direct, rel=5e-3)
            assert float(row["E mean"]) == pytest.approx(total, rel=5e-3)
            if direct > 0:  # the gain is all the light over the direct light
                assert float(row["gain"]) == pytest.approx(total / direct, abs=5e-3)
            else:  # the blue LEDs are off in red mode
                assert row["gain"] == "-"
        (line,) = [s for s in printed.splitlines() if s.startswith("inter-reflection: ")]
        assert line.startswith("inter-reflection: skin (NIST mean) ")  # no tissue: section
        reflectance = metrics["interreflection"]["reflectance"]["interior"]["red"]
        assert f"interior {name} {reflectance:.2g};" in line
        assert f"{metrics['interreflection']['patches']} patches" in line
        table = printed.splitlines()[1:7]
        assert max(len(s) for s in [*table, line]) <= 100
    gain = {n: float(runs[n][2]["total"][3]) for n in ("white", "black")}
    assert 1.0 < gain["black"] < 1.05 and 1.4 < gain["white"] < 2.0
    # Without inter-reflection: the table as it always was, of the same direct light.
    printed, header, rows, metrics = runs["off"]
    assert header == ["channel", "E mean", "E min", "E max", "H mean", "U0", "CV", "in window"]
    assert "inter-reflection" not in printed and "interreflection" not in metrics
    assert rows["total"][1] == runs["white"][2]["total"][1]  # E mean == E direct with white


def test_numba_gets_a_private_cache_only_when_it_has_nowhere_to_write(monkeypatch, caplog):
    from twin.cli import _common

    monkeypatch.setenv("NUMBA_CACHE_DIR", "")  # restored afterwards, set or not
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    _common.numba_cache_fallback()  # a writable install: numba's own folders
    assert "NUMBA_CACHE_DIR" not in os.environ
    monkeypatch.setattr(_common.os, "access", lambda path, mode: False)  # a read-only world
    with caplog.at_level("WARNING"):
        _common.numba_cache_fallback()
    folder = os.environ["NUMBA_CACHE_DIR"]
    assert "no writable folder for numba's cache" in caplog.text and folder in caplog.text
    assert os.path.isdir(folder) and os.stat(folder).st_mode & 0o077 == 0  # private
