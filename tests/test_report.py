"""``twin report`` of a result folder reads the folder (nothing rendered again), and a base
install without the ``viz`` extra still writes a report, saying what it left out."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys

import pytest

from twin.cli import main


@pytest.fixture
def folder(panel_render, tmp_path):
    """A copy of the panel render's folder, with its plots."""
    from twin.views.plots import write_plots

    result, out = panel_render
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    write_plots(result, copy / "plots")
    return copy


def test_a_result_folder_is_read_as_it_is_not_rendered_again(folder, tmp_path, monkeypatch):
    import twin.pipeline.render

    def no_render(*args, **kwargs):
        msg = "twin report rendered the scene again"
        raise AssertionError(msg)

    monkeypatch.setattr(twin.pipeline.render, "render", no_render)
    assert main(["report", str(folder), "--out", str(tmp_path / "rep"), "--no-pictures"]) == 0
    text = (tmp_path / "rep" / "report.html").read_text()
    shown = set(re.findall(r'src="data:image/png;base64,([^"]+)"', text))
    plots = sorted((folder / "plots").glob("*.png"))
    assert plots and {base64.b64encode(p.read_bytes()).decode() for p in plots} == shown
    metrics = json.loads((folder / "metrics.json").read_text())
    mean = metrics["roi"]["total"]["irradiance_mw_cm2"]["mean"]
    assert f"<td>total</td><td>{mean:.4g}</td>" in text  # the folder's own numbers
    assert f"<h1>twin report: {metrics['scene']}</h1>" in text


def test_a_base_install_writes_the_report_without_plots_and_says_why(
    folder, panel_render, tmp_path, monkeypatch, capsys
):
    for module in ("matplotlib", "pyvista"):  # not installed: imports fail, find_spec is None
        monkeypatch.setitem(sys.modules, module, None)
    shutil.rmtree(folder / "plots")
    assert main(["report", str(folder), "--out", str(tmp_path / "a"), "--no-pictures"]) == 0
    text = (tmp_path / "a" / "report.html").read_text()
    assert "This folder has no plots" in text and "twin render --plots" in text
    assert "data:image/png" not in text and "<h2>Metrics</h2>" in text

    from twin.views.report import render_report

    result, _ = panel_render
    text = render_report(result, pictures=False)
    assert "Plots left out: they need matplotlib" in text and "twin[viz]" in text
    capsys.readouterr()
    assert main(["report", str(folder), "--out", str(tmp_path / "b")]) == 4  # pictures asked
    err = capsys.readouterr().err
    assert err.startswith("twin: error: ") and "pyvista" in err and "--no-pictures" in err
    assert not (tmp_path / "b").exists()  # nothing half-written


def test_a_render_with_a_detector_reports_its_reading_and_map(tmp_path):
    import yaml
    from _helpers import write_face_panel

    import twin
    from twin.views.report import render_report

    path = write_face_panel(tmp_path)
    spec = yaml.safe_load(path.read_text())
    spec["detectors"] = [
        {"name": "bench", "center_mm": [0, 700, 160], "normal": [0, 0, 1], "up": [0, 1, 0],
         "size_mm": [40, 40], "pixels": [5, 5], "response": "cosine", "aperture_mm": 0}
    ]  # fmt: skip
    path.write_text(yaml.safe_dump(spec))
    result = twin.render(path)
    text = render_report(result, pictures=False)
    reading = result.metrics["detectors"]["bench"]
    assert f"<td>bench</td><td>25</td><td>{reading['mean_mw_cm2']:.4g}</td>" in text
    from twin.views.plots import plot_names

    assert text.count("data:image/png") == len(plot_names(result)) + 1  # and the bench's map
