"""The transfer-matrix cache (``twin.engine.cache``): keyed by content, so a drive change
reuses a matrix, a geometry change builds a new one, and a damaged entry is rebuilt."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import twin
from twin.engine.cache import TransferCache


def helmet_scene(root):
    """Write the helmet design on the scalp as ``root/helmet.yaml``; return its path."""
    scene = {
        "name": "helmet",
        "target": {"mesh": "builtin:scalp"},
        "emitters": {"design": "helmet"},
        "exposure_s": 1500,
    }
    path = root / "helmet.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_cache_is_reused_for_drive_changes_and_rebuilt_for_geometry(tmp_path, caplog):
    # Two entries per render: the direct matrix and the light the helmet's inside returns.
    cache = TransferCache(tmp_path / "cache")
    path = helmet_scene(tmp_path)
    first = twin.render(path, cache=cache)
    assert first.transfer.indirect is not None
    assert (cache.hits, cache.misses) == (0, 2)
    data = yaml.safe_load(path.read_text())
    data["mode"] = "red"
    data["exposure_s"] = 600
    path.write_text(yaml.safe_dump(data))
    again = twin.render(path, cache=cache)
    assert (cache.hits, cache.misses) == (2, 2)
    np.testing.assert_array_equal(again.transfer.matrix.toarray(), first.transfer.matrix.toarray())
    np.testing.assert_array_equal(
        again.transfer.indirect.toarray(), first.transfer.indirect.toarray()
    )
    for name in ("positions_mm", "areas_mm2", "surface", "sample_patch"):
        np.testing.assert_array_equal(
            getattr(again.transfer.indirect.patches, name),
            getattr(first.transfer.indirect.patches, name),
        )
    assert again.metrics["interreflection"] == {
        **first.metrics["interreflection"],
        "seconds": again.metrics["interreflection"]["seconds"],
    }
    red = np.asarray(first.scene.emitters.channel == "red")
    power = first.scene.emitters.power_mw * red
    np.testing.assert_allclose(
        again.dose.total_irradiance_mw_cm2, first.transfer.irradiance(power)
    )
    data["emitters"]["standoff_mm"] = 12.0  # geometry: a new matrix
    path.write_text(yaml.safe_dump(data))
    twin.render(path, cache=cache)
    assert (cache.hits, cache.misses) == (2, 4)
    # A damaged entry is detected, reported and rebuilt, never used.
    entry = next(p for p in cache.folder.glob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:1000])
    data["emitters"].pop("standoff_mm")
    path.write_text(yaml.safe_dump(data))
    with caplog.at_level(logging.WARNING, logger="twin.engine.cache"):
        for p in cache.folder.glob("*.npz"):
            p.write_bytes(p.read_bytes()[:1000])
        rebuilt = twin.render(path, cache=cache)
    assert re.search(r"corrupt or stale cache entry .*; rebuilding it", caplog.text)
    np.testing.assert_array_equal(
        rebuilt.transfer.matrix.toarray(), first.transfer.matrix.toarray()
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: b"",  # a 0-byte entry
        lambda blob: blob[:2] + bytes([blob[2] ^ 0xFF]) + blob[3:],  # a flipped zip header byte
        lambda blob: blob[:-30] + bytes(30),  # a zeroed central directory
    ],
)
def test_a_corrupt_entry_is_reported_deleted_and_rebuilt(tmp_path, caplog, damage):
    cache = TransferCache(tmp_path / "cache")
    path = helmet_scene(tmp_path)
    first = twin.render(path, cache=cache)
    entry = next(cache.folder.glob("*.npz"))
    entry.write_bytes(damage(entry.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="twin.engine.cache"):
        again = twin.render(path, cache=cache)
    assert "corrupt or stale cache entry" in caplog.text and "rebuilding it" in caplog.text
    assert (cache.hits, cache.misses) == (1, 3)
    np.testing.assert_array_equal(again.transfer.matrix.toarray(), first.transfer.matrix.toarray())
    twin.render(path, cache=cache)  # the rebuilt entry is sound
    assert (cache.hits, cache.misses) == (3, 3)


def test_edited_engine_code_never_reads_an_older_entry(tmp_path, monkeypatch):
    cache = TransferCache(tmp_path / "cache")
    path = helmet_scene(tmp_path)
    twin.render(path, cache=cache)
    monkeypatch.setattr(twin.engine.cache, "code_fingerprint", lambda: "an edited engine")
    twin.render(path, cache=cache)
    assert (cache.hits, cache.misses) == (0, 4)


def test_an_unwritable_cache_costs_time_not_the_run_and_leaves_no_partial_entry(
    tmp_path, caplog, monkeypatch
):
    cache = TransferCache(tmp_path / "cache")

    def full_disk(self, data):
        with open(self, "wb") as fh:
            fh.write(data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with caplog.at_level(logging.WARNING, logger="twin.engine.cache"):
        twin.render(helmet_scene(tmp_path), cache=cache)
    assert "cannot write the cache (No space left on device)" in caplog.text
    assert [p for p in cache.folder.rglob("*") if p.is_file()] == []  # nothing partial


def test_twin_render_keeps_its_matrices_unless_told_not_to(tmp_path, capsys):
    """The CLI caches in $TWIN_CACHE_DIR: a re-run reads the entries (says so) and writes the
    same files; --no-cache neither reads nor writes them."""
    from twin.cli import main

    folder = Path(os.environ["TWIN_CACHE_DIR"]) / "transfer"  # tests/conftest.py
    path = helmet_scene(tmp_path)
    assert main(["render", str(path), "--out", str(tmp_path / "a"), "--no-cache"]) == 0
    assert not folder.exists()
    assert main(["render", str(path), "--out", str(tmp_path / "b")]) == 0
    entries = sorted(folder.glob("*.npz"))
    assert len(entries) == 2
    stored = {p.name: p.read_bytes() for p in entries}
    capsys.readouterr()
    assert main(["render", str(path), "--out", str(tmp_path / "c")]) == 0
    assert "read from the cache" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in folder.glob("*.npz")} == stored  # read, not rebuilt
    for name in ("samples.csv", "surface.ply", "emitters.csv"):
        first = (tmp_path / "a" / name).read_bytes()
        assert (
            first == (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
        )
    capsys.readouterr()


def test_the_cache_keeps_to_its_size_by_dropping_the_least_recently_used(tmp_path, monkeypatch):
    cache = TransferCache(tmp_path / "cache")
    path = helmet_scene(tmp_path)
    data = yaml.safe_load(path.read_text())
    twin.render(path, cache=cache)
    first = sorted(cache.folder.glob("*.npz"), key=lambda p: p.stat().st_mtime)
    size = sum(p.stat().st_size for p in first)
    for p in first:  # written a while ago
        os.utime(p, (time.time() - 100, time.time() - 100))
    monkeypatch.setenv("TWIN_CACHE_MAX_MB", str(1.5 * size / 1e6))  # room for one render
    data["emitters"]["standoff_mm"] = 12.0
    path.write_text(yaml.safe_dump(data))
    twin.render(path, cache=cache)
    left = set(cache.folder.glob("*.npz"))
    assert not set(first) & left and len(left) == 2  # the older render's entries went
    assert sum(p.stat().st_size for p in left) <= 1.5 * size
