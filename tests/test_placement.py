"""LED placement: beats the regular layout, channel assignment, robustness over wearers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.spatial import cKDTree

import twin
from twin.analysis.placement import optimise_placement
from twin.cli import main
from twin.devices.layout import interleave
from twin.errors import InputError
from twin.scene import scene_from_dict

#: The rigid mask with 300 LEDs on a coarser face: the flagship case, small enough to test.
MASK = {
    "target": {"mesh": "builtin:face", "max_edge_mm": 4.0, "exclude": ["eyes", "lips"]},
    "emitters": {"design": "mask-rigid-1026", "count": 300},
    "mode": "red",
    # Placement chooses positions on the candidates' direct light (their returned light is not
    # in its matrices), so its results are judged on the direct light: 1800 s puts that dose
    # across the window.
    "engine": {"interreflection": False},
    "exposure_s": 1800,
}


def mask_on(variant: dict | None = None):
    """The mask design on the base face or on a variant, loaded from data (no file)."""
    target = {**MASK["target"], **({"variant": variant} if variant else {})}
    return scene_from_dict({**MASK, "target": target}, base=Path.cwd())


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
    # Placement evens the dose (U0, one point's minimum, can go either way).
    for metric in ("roi.total.in_window_area_fraction", "roi.total.fluence_j_cm2.p5"):
        assert summary[metric]["after"] > summary[metric]["before"], metric
    assert summary["roi.total.cv"]["after"] < summary["roi.total.cv"]["before"]
    placed = twin.read_emitter_csv(out / "emitters.csv")
    assert len(placed) == 300
    assert [int((placed.channel == c).sum()) for c in ("red", "nir", "blue")] == [100] * 3
    spacing = cKDTree(placed.positions_mm).query(placed.positions_mm, k=2)[0][:, 1]
    assert spacing.min() >= 3.0  # the 3 mm package
    log = (out / "convergence.log").read_text()
    assert "gain evaluations" in log and "channel assignment: " in log
    with pytest.raises(InputError, match="placement needs a design"):
        optimise_placement(twin.load_scene(out / "scene.yaml"))


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"factor": 0}, "factor"),
        ({"seed": -1}, "seed"),
        ({"moves": [np.eye(3)]}, r"moves\[0\]"),
        ({"moves": [np.full((4, 4), np.nan)]}, r"moves\[0\]"),
    ],
)
def test_bad_arguments_are_named(options, name):
    with pytest.raises(InputError, match=f"^{name}: expected "):
        optimise_placement(mask_on(), **options)


def test_assigned_channels_cover_the_skin_more_evenly_than_interleaved_ones():
    scene = mask_on()
    placement = optimise_placement(scene)
    positions = placement.scenes[0].emitters.positions_mm
    ratios = {"red": 1, "nir": 1, "blue": 1}  # the design's
    dealt = dataclasses.replace(placement, channel=interleave(positions, ratios))
    # The same positions; only which LED is which channel differs.
    assert sorted(placement.channel) == sorted(dealt.channel)
    optimised, interleaved = (twin.render(p.worn(scene)) for p in (placement, dealt))
    for c in ("red", "nir"):  # the lit channels of red mode, each on its own
        cv = [r.metrics["roi"]["channels"][c]["cv"] for r in (optimised, interleaved)]
        assert cv[0] < 0.95 * cv[1], c


def test_robust_placement_serves_every_wearer_better_on_average():
    wearers = [mask_on()] + [mask_on(v.to_dict()) for v in twin.population(2, seed=1)]
    single = optimise_placement(wearers[0])
    robust = optimise_placement(wearers)
    assert len(robust.scenes) == 3 and len(single.scenes) == 1
    for s in robust.scenes:
        np.testing.assert_array_equal(s.emitters.channel, robust.scenes[0].emitters.channel)
    target = 7.0  # the middle of the 4-10 J/cm2 window
    scores = {
        name: np.mean([coverage(twin.render(p.worn(w)), target) for w in wearers])
        for name, p in (("single", single), ("robust", robust))
    }
    assert scores["robust"] > scores["single"], scores
    assert "3 view(s): 3 wearer(s), 0 misplacement(s)" in robust.log[0]
