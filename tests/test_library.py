"""The scene library (scenes/) run as the project's own regression suite, the documented way.

One parallel ``twin check`` of every scene (cold cache: a fresh folder per test session), then
one test per scene that fails with the table of its failed checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.analysis import check
from twin.engine.cache import TransferCache

SCENES = check.discover([Path(__file__).resolve().parent.parent / "scenes"])


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[Path, check.SceneReport]:
    cache = TransferCache(tmp_path_factory.mktemp("transfer-cache"))
    return {r.path: r for r in check.run_checks(SCENES, cache=cache)}


def test_the_library_has_every_kind_of_scene():
    names = {p.stem for p in SCENES}
    assert {
        "face-rigid-red",
        "face-rigid-blue",
        "face-rigid-pink",
        "face-flexible-red",
        "scalp-helmet",
        "pelvis-pad",
        "lower-back-y-piece",
        "population-rigid",
        "population-flexible",
    } <= names
    assert all(check.baseline_path(p).is_file() for p in SCENES)


@pytest.mark.parametrize("scene", SCENES, ids=lambda p: p.stem)
def test_scene(scene, reports):
    report = reports[scene]
    assert report.error is None, report.error
    assert report.ok, check.table([report], failures_only=True)
