"""The built-in data folders reach users who install a built wheel, not only an editable
install: the wheel carries them, and an installed twin lists, copies and renders its bundled
scenes from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built without network or build isolation."""
    tmp_path = tmp_path_factory.mktemp("wheel")
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
    (built,) = tmp_path.glob("twin-*.whl")
    return built


def test_wheel_carries_the_data_folders(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("scenes", "arrays", "geometry"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                assert f"twin/data/{path.relative_to(ROOT)}" in names
    assert "twin/data/scenes/default.yaml" in names
    for table in ("kernels.npz", "kernels.sha256", "chromophores.csv"):
        assert f"twin/tissue/data/{table}" in names  # the tissue model's tables
    assert any(n.endswith("entry_points.txt") for n in names)


def test_an_installed_wheel_lists_copies_and_renders_bundled_scenes_from_any_folder(
    wheel, tmp_path
):
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site)]
    subprocess.run([*pip, str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "TWIN_CACHE_DIR": str(tmp_path / "cache")}

    def twin(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "twin", *args]
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)

    where = twin("scenes", "list")
    assert where.returncode == 0, where.stderr
    assert "scalp-helmet" in where.stdout and str(site) in where.stdout  # the installed copy
    done = twin("render", "scalp-helmet", "--out", "out")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((work / "out" / "metrics.json").read_text())
    assert metrics["scene"] == "scalp-helmet"
    assert twin("scenes", "copy", "scalp-helmet", "mine").returncode == 0
    assert sorted(p.name for p in (work / "mine").iterdir()) == [
        "scalp-helmet.baseline.json",
        "scalp-helmet.yaml",
    ]
    refused = twin("check", "scalp-helmet", "--update")
    assert refused.returncode == 2 and "twin scenes copy" in refused.stderr
    assert "Traceback" not in done.stderr + refused.stderr
