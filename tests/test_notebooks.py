"""The notebooks in notebooks/ run top to bottom (on their own small settings) and show plots."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest

nbclient = pytest.importorskip("nbclient", reason="running notebooks needs nbclient (twin[dev])")
nbformat = pytest.importorskip("nbformat", reason="running notebooks needs nbformat (twin[dev])")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))

# A cell plots when it calls into twin.views.plots (`plots.dose_area(result)`, ...) or
# twin.views.validation_plots (`validation_plots.residuals(validation)`).
PLOTS = re.compile(r"\b(?:validation_)?plots\.\w+\(")


def test_there_are_five_worked_examples():
    assert [p.stem for p in NOTEBOOKS] == [
        "01-quick-start",
        "02-own-scan-and-cad-layout",
        "03-rigid-versus-flexible",
        "04-optimisation",
        "05-radiometer-to-calibrated-twin",
    ]


def _pictures(cell) -> list[np.ndarray]:
    """The PNG pictures a code cell output, decoded to (rows, columns, channels) arrays."""
    import matplotlib.image

    return [
        matplotlib.image.imread(io.BytesIO(base64.b64decode(output["data"]["image/png"])))
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_shows_its_plots(path):
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    client.execute()
    code = [c for c in book.cells if c.cell_type == "code" and c.source]
    errors = [
        f"{output['ename']}: {output['evalue']}"
        for cell in code
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert all(c.get("outputs") for c in code)
    for cell in code:
        pictures = _pictures(cell)
        if PLOTS.search(cell.source):
            # One picture per plotting cell, with something drawn on it (not one flat colour).
            assert len(pictures) == 1, cell.source
            assert pictures[0].shape[0] > 100 and pictures[0].shape[1] > 100
            assert np.ptp(pictures[0][..., :3]) > 0.5
        else:
            assert not pictures, cell.source
