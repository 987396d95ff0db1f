"""Shared fixtures: the CPU backends, and tolerances per backend."""

from __future__ import annotations

import pytest

from twin.raycast import make_tracer
from twin.transfer import ray_offset_mm, scene_triangles, transfer_matrix

#: Relative tolerance against analytic answers: float64 geometry in both backends; embree
#: decides occlusion in float32, which must not change any value beyond this.
RTOL = {"reference": 1e-6, "embree": 1e-4}

BACKENDS = ["reference", "embree"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def build_transfer(surface, emitters, backend, *, occluders=(), **options):
    """Transfer matrix of ``emitters`` on ``surface``'s vertices with the given backend."""
    triangles = scene_triangles(surface, occluders)
    tracer = make_tracer(backend, triangles)
    return transfer_matrix(
        surface.samples(), emitters, tracer, offset_mm=ray_offset_mm(triangles), **options
    )
