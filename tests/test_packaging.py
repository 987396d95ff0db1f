"""The built-in data folders reach users who install a built wheel, not only an editable "
"install."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_data_folders(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("twin-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("scenes", "arrays", "geometry"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                assert f"twin/data/{path.relative_to(ROOT)}" in names
    assert "twin/data/scenes/default.yaml" in names
    for table in ("kernels.npz", "kernels.sha256", "chromophores.csv"):
        assert f"twin/tissue/data/{table}" in names  # the tissue model's tables
    assert any(n.endswith("entry_points.txt") for n in names)
