"""LED placement: beats the regular layout, channel assignment, robustness over wearers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml
from scipy.spatial import cKDTree

import twin
from twin.analysis.placement import optimise_placement
from twin.cli import main
from twin.devices.layout import interleave
from twin.errors import InputError

#: The rigid mask with 300 LEDs on a coarser face: the flagship case, small enough to test.
MASK = {
    "target": {"mesh": "builtin:face", "max_edge_mm": 4.0, "exclude": ["eyes", "lips"]},
    "emitters": {"design": "mask-rigid-1026", "count": 300},
    "mode": "red",
    "exposure_s": 1800,
}


def mask_on(tmp_path, variant: dict | None = None):
    scene = {**MASK, "target": {**MASK["target"], **({"variant": variant} if variant else {})}}
    path = tmp_path / f"mask-{len(list(tmp_path.glob('mask-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(scene))
    return twin.render(path)


def lit_drive(scene) -> np.ndarray:
    return np.array([scene.drive.get(str(c), 0.0) for c in scene.emitters.channel])


def coverage(result, target: float) -> float:
    """The placement objective on a render: area-weighted mean of min(H, target), J/cm2."""
    h = result.dose.fluence_j_cm2()[result.roi]
    return float(np.average(np.minimum(h, target), weights=result.samples.areas_mm2[result.roi]))


def test_placement_beats_the_hex_layout_of_the_same_count(tmp_path, capsys):
    path = tmp_path / "mask.yaml"
    path.write_text(yaml.safe_dump(MASK))
    out = tmp_path / "placed"
    out.mkdir()
    (out / "groups.csv").write_text("left by an earlier drive run\n")
    assert main(["optimise", str(path), "--vary", "placement", "--out", str(out)]) == 0
    assert not (out / "groups.csv").exists()  # placement alone sets no drive groups
    summary = json.loads((out / "summary.json").read_text())
    for metric in ("roi.total.u0_min_over_mean", "roi.total.in_window_area_fraction"):
        assert summary[metric]["after"] > summary[metric]["before"], metric
    placed = twin.read_emitter_csv(out / "emitters.csv")
    assert len(placed) == 300
    assert [int((placed.channel == c).sum()) for c in ("red", "nir", "blue")] == [100] * 3
    spacing = cKDTree(placed.positions_mm).query(placed.positions_mm, k=2)[0][:, 1]
    assert spacing.min() >= 3.0  # the 3 mm package
    log = (out / "convergence.log").read_text()
    assert "gain evaluations" in log and "channel assignment: " in log
    with pytest.raises(InputError, match="placement needs a design"):
        optimise_placement(twin.render(out / "scene.yaml"))


def test_assigned_channels_cover_the_skin_more_evenly_than_interleaved_ones(tmp_path):
    result = mask_on(tmp_path)
    placement = optimise_placement(result)
    positions = placement.scenes[0].emitters.positions_mm
    ratios = {"red": 1, "nir": 1, "blue": 1}  # the design's
    dealt = dataclasses.replace(placement, channel=interleave(positions, ratios))
    # The same positions; only which LED is which channel differs.
    assert sorted(placement.channel) == sorted(dealt.channel)
    optimised, interleaved = (twin.render(p.worn(result.scene)) for p in (placement, dealt))
    for c in ("red", "nir"):  # the lit channels of red mode, each on its own
        cv = [r.metrics["roi"]["channels"][c]["cv"] for r in (optimised, interleaved)]
        assert cv[0] < 0.95 * cv[1], c


def test_robust_placement_serves_every_wearer_better_on_average(tmp_path):
    wearers = [mask_on(tmp_path)] + [
        mask_on(tmp_path, v.to_dict()) for v in twin.population(2, seed=1)
    ]
    single = optimise_placement(wearers[0])
    robust = optimise_placement(wearers)
    assert len(robust.scenes) == 3 and len(single.scenes) == 1
    for s in robust.scenes:
        np.testing.assert_array_equal(s.emitters.channel, robust.scenes[0].emitters.channel)
    target = 7.0  # the middle of the 4-10 J/cm2 window
    scores = {
        name: np.mean([coverage(twin.render(p.worn(w.scene)), target) for w in wearers])
        for name, p in (("single", single), ("robust", robust))
    }
    assert scores["robust"] > scores["single"], scores
    assert "3 view(s): 3 wearer(s), 0 misplacement(s)" in robust.log[0]
