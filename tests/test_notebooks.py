"""The notebooks in notebooks/ run top to bottom (on their own small settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="running notebooks needs nbclient (twin[dev])")
nbformat = pytest.importorskip("nbformat", reason="running notebooks needs nbformat (twin[dev])")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_four_worked_examples():
    assert [p.stem for p in NOTEBOOKS] == [
        "01-quick-start",
        "02-own-scan-and-cad-layout",
        "03-rigid-versus-flexible",
        "04-optimisation",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    client.execute()
    errors = [
        output
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert all(c.get("outputs") for c in book.cells if c.cell_type == "code" and c.source)
