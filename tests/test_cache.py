"""The transfer-matrix cache (``twin.engine.cache``): keyed by content, so a drive change
reuses a matrix, a geometry change builds a new one, and a damaged entry is rebuilt."""

from __future__ import annotations

import logging
import re
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
    cache = TransferCache(tmp_path / "cache")
    path = helmet_scene(tmp_path)
    first = twin.render(path, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    data = yaml.safe_load(path.read_text())
    data["mode"] = "red"
    data["exposure_s"] = 600
    path.write_text(yaml.safe_dump(data))
    again = twin.render(path, cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(again.transfer.matrix.toarray(), first.transfer.matrix.toarray())
    red = np.asarray(first.scene.emitters.channel == "red")
    power = first.scene.emitters.power_mw * red
    np.testing.assert_allclose(
        again.dose.total_irradiance_mw_cm2, first.transfer.irradiance(power)
    )
    data["emitters"]["standoff_mm"] = 12.0  # geometry: a new matrix
    path.write_text(yaml.safe_dump(data))
    twin.render(path, cache=cache)
    assert (cache.hits, cache.misses) == (1, 2)
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
    assert (cache.hits, cache.misses) == (0, 2)
    np.testing.assert_array_equal(again.transfer.matrix.toarray(), first.transfer.matrix.toarray())
    twin.render(path, cache=cache)  # the rebuilt entry is sound
    assert (cache.hits, cache.misses) == (1, 2)


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
    assert list(cache.folder.iterdir()) == []
