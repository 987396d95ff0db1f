"""Shared fixtures: the CPU backends, and tolerances per backend.

Without a CUDA device the ``cuda`` backend's kernels run under numba's CUDA simulator: the
switch must be set before numba is first imported, so it is set here, before twin is.
"""

from __future__ import annotations

import os


def _real_gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _real_gpu():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402

from twin.engine.backends import make_backend  # noqa: E402
from twin.engine.settings import ray_offset_mm  # noqa: E402
from twin.engine.transfer import scene_triangles, transfer_matrix  # noqa: E402

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
    return transfer_matrix(
        surface.samples(),
        emitters,
        make_backend(backend, triangles),
        offset_mm=ray_offset_mm(triangles),
        **options,
    )


def write_helmet(root, name: str, standoff_mm: float, *, count: int = 120):
    """A helmet scene file ``root/<name>.yaml`` on the built-in scalp; returns its path."""
    import yaml

    path = root / f"{name}.yaml"
    scene = {
        "name": name,
        "target": {"mesh": "builtin:scalp"},
        "emitters": {"design": "helmet", "standoff_mm": standoff_mm, "count": count},
        "exposure_s": 1500,
    }
    path.write_text(yaml.safe_dump(scene))
    return path
