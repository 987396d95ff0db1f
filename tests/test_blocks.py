"""Typed metric blocks (``twin.dose.blocks``, ``twin.pipeline.metrics``): their ``to_dict()``
is what a render writes to ``metrics.json``, in field order, optional blocks left out."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from twin.dose.blocks import Coverage, EyeNotEvaluated, MapMetrics
from twin.dose.maps import DoseSettings
from twin.dose.metrics import emitter_fit, map_metrics
from twin.pipeline.metrics import LayoutSummary, RenderMetrics


def same_order(a, b) -> None:
    """Assert that every mapping in ``a`` has its keys in the order of ``b``'s."""
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            same_order(a[key], b[key])
    elif isinstance(a, list):
        for x, y in zip(a, b, strict=True):
            same_order(x, y)


def test_metrics_json_is_the_blocks_to_dict(panel_render):
    result, out = panel_render
    written = json.loads((out / "metrics.json").read_text())
    assert written == result.blocks.to_dict() == result.metrics
    present = [f.name for f in dataclasses.fields(RenderMetrics)]
    present.remove("layout")  # the LEDs came from a file, not a design
    assert list(written) == present
    same_order(written, result.blocks.to_dict())
    total = [f.name for f in dataclasses.fields(MapMetrics)]
    # The total has no wavelength; the skin under the panel returns light to nothing concave
    # enough to miss the direct and total fields of inter-reflection.
    total = [n for n in total if n not in ("wavelength_nm", "photon_flux_per_s_cm2")]
    assert list(written["roi"]["total"]) == total
    coverage = result.blocks.coverage.at_least
    assert written["coverage"] == {f"at_least_{k}": v for k, v in enumerate(coverage, 1)}


def test_a_channel_without_a_wavelength_has_no_wavelength_fields(panel_render):
    result, out = panel_render
    written = json.loads((out / "metrics.json").read_text())["roi"]["channels"]
    assert written["red"]["wavelength_nm"] == 633.0 and "photon_flux_per_s_cm2" in written["red"]
    assert result.blocks.roi.channels["led"].wavelength_nm is None
    assert "wavelength_nm" not in written["led"] and "photon_flux_per_s_cm2" not in written["led"]


def test_optional_blocks_are_left_out_and_placed_in_field_order(panel_render):
    result, _ = panel_render
    blocks = result.blocks
    assert blocks.layout is None and blocks.eye_safety.evaluated
    missing = EyeNotEvaluated(evaluated=False, reason="the target has no 'eyes' region")
    written = dataclasses.replace(blocks, eye_safety=missing).to_dict()["eye_safety"]
    assert written == {"evaluated": False, "reason": "the target has no 'eyes' region"}
    layout = LayoutSummary(
        design="panel",
        carrier="panel",
        pattern="hex",
        count=60,
        channels={"red": 30, "led": 30},
        standoff_mm=120.0,
        push_out_mm=0.0,
        extended=False,
    )
    with_layout = dataclasses.replace(blocks, layout=layout).to_dict()
    assert list(with_layout)[-3:] == ["coverage", "layout", "engine"]
    assert with_layout["layout"] == dataclasses.asdict(layout)


def test_a_nullable_field_is_written_as_null_but_an_optional_one_is_left_out():
    # A dark map: the ratios have no value, and are written as null.
    dark = map_metrics(np.zeros(3), np.ones(3), exposure_s=60.0, dose=DoseSettings()).to_dict()
    assert (dark["u0_min_over_mean"], dark["min_over_max"], dark["cv"]) == (None, None, None)
    assert "wavelength_nm" not in dark and "photon_flux_per_s_cm2" not in dark
    # No emitter's axis meets the skin: no gap or incidence blocks.
    fit = emitter_fit(
        ids=np.array(["a", "b"]),
        gap_mm=np.full(2, np.inf),
        incidence_deg=np.full(2, np.nan),
        clearance_mm=np.array([5.0, 7.0]),
        carrier=None,
    ).to_dict()
    assert list(fit) == [
        "count",
        "carrier",
        "axis_misses_skin",
        "inside_skin",
        "touching_skin",
        "clearance_mm",
        "per_emitter",
    ]
    assert fit["carrier"] is None and fit["axis_misses_skin"] == 2
    assert fit["per_emitter"]["gap_mm"] == [None, None]


def test_coverage_is_written_by_k():
    assert Coverage(at_least=(1.0, 0.5)).to_dict() == {"at_least_1": 1.0, "at_least_2": 0.5}
