"""The metric registry (``twin.dose.registry``): every selection names registered metrics that
a render's ``metrics.json`` holds as numbers; the one path resolver; per-channel metrics."""

from __future__ import annotations

import json
import math

import pytest
from _helpers import assert_names

from twin.dose import registry
from twin.dose.registry import METRICS, Metric, metric, metric_value

SELECTIONS = {
    "BASELINE": registry.BASELINE,
    "COMPARED": registry.COMPARED,
    "OPTIMISED": registry.OPTIMISED,
    "POPULATION": registry.POPULATION,
    "WEARER": registry.WEARER,
    "WORST_WEARER": registry.WORST_WEARER,
}


@pytest.fixture(scope="module")
def written(panel_render) -> dict:
    """The ``metrics.json`` of a render (the face lit by a panel of LEDs)."""
    _, out = panel_render
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("name", SELECTIONS)
def test_a_selection_is_registered_metrics_that_a_render_holds_as_numbers(written, name):
    paths = SELECTIONS[name]
    assert len(set(paths)) == len(paths), "a metric is listed twice"
    for path in paths:
        assert metric(path) is METRICS[path]
        assert isinstance(metric_value(written, path), float), path


def test_every_registered_metric_is_in_a_render_and_named_once(written):
    for path, m in METRICS.items():
        assert m.path == path
        assert isinstance(metric_value(written, path), float), path
    for field in ("label", "column"):
        names = [getattr(m, field) for m in METRICS.values()]
        assert len(set(names)) == len(names), field
    assert set(registry.WORST_WEARER) <= set(registry.WEARER)


def test_metric_value_reads_numbers_and_booleans_and_nothing_else():
    data = {
        "a": {
            "int": 2,
            "float": 0.5,
            "yes": True,
            "no": False,
            "null": None,
            "nan": math.nan,
            "inf": -math.inf,
            "text": "3",
            "list": [1.0],
        }
    }
    assert metric_value(data, "a.int") == 2.0 and type(metric_value(data, "a.int")) is float
    assert metric_value(data, "a.float") == 0.5
    assert (metric_value(data, "a.yes"), metric_value(data, "a.no")) == (1.0, 0.0)
    for absent in ("a.null", "a.nan", "a.inf", "a.text", "a.list", "a", "a.missing", "b.int"):
        assert metric_value(data, absent) is None, absent
    assert metric_value(data, "a.int.deeper") is None  # through a number


def test_a_per_channel_path_takes_its_totals_meaning(written):
    channels = sorted(written["roi"]["channels"])
    assert channels == ["led", "red"]
    for path, total in METRICS.items():
        if not path.startswith("roi.total."):
            continue
        for channel in channels:
            per_channel = path.replace("roi.total.", f"roi.channels.{channel}.")
            assert metric(per_channel) == Metric(
                per_channel, f"{total.label} {channel}", f"{total.column}_{channel}", total.better
            )
            assert isinstance(metric_value(written, per_channel), float), per_channel


@pytest.mark.parametrize(
    "path",
    ["roi.total.nope", "roi.channels.red.nope", "roi.channels.red", "regions.eyes.total.cv", ""],
)
def test_an_unregistered_path_is_no_metric(path):
    with pytest.raises(KeyError, match=repr(path)):
        metric(path)


def test_a_metric_is_better_one_way_or_none():
    with pytest.raises(ValueError) as info:
        Metric("roi.total.cv", "CV", "cv", "higher")
    assert_names(str(info.value), "better", "'low'", "'higher'", at="metric roi.total.cv")
