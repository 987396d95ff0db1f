"""Ray engines: which backends exist, which can run here, and how to get one.

A tracer answers two questions about a fixed set of triangles (in mm):

- ``occluded(origins, directions, distances)``: is anything hit strictly between each origin
  and ``distances`` along its unit direction? (k,) bool.
- ``first_hit(origins, directions)``: distance to the nearest hit, ``inf`` where none, and the
  index of the triangle hit, ``-1`` where none.

Backends: ``reference`` (exact NumPy float64 brute force, small scenes and tests), ``embree``
(Intel Embree through embreex, float32, thread-safe), ``cuda`` (numba-cuda kernels over a BVH,
float64, CuPy arrays; it also builds whole transfer matrices on the device) and ``auto``: cuda
when a real GPU passes a self-test, else embree, else reference.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from twin.errors import BackendUnavailableError, InputError

log = logging.getLogger(__name__)

BACKENDS = ("reference", "embree", "cuda")
CHOICES = ("auto", *BACKENDS)


class Tracer(Protocol):
    """What a backend provides; see the module docstring."""

    name: str
    dtype: type  # float type the tracer computes in; callers may pass arrays of it as they are

    def occluded(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        distances: NDArray[np.float64],
    ) -> NDArray[np.bool_]: ...

    def first_hit(
        self, origins: NDArray[np.float64], directions: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]: ...


def backend_status() -> dict[str, str | None]:
    """Each backend mapped to ``None`` when it can run here, else the reason it cannot."""
    status: dict[str, str | None] = {"reference": None}
    status["embree"] = (
        None
        if importlib.util.find_spec("embreex") is not None
        else "the embreex package is not installed (pip install embreex)"
    )
    from twin.raycast import _cuda

    status["cuda"] = _cuda.status()
    return status


def resolve_backend(name: str, *, option: str = "backend") -> str:
    """Turn ``auto`` into the fastest usable backend and check that ``name`` can run here;
    ``option`` names where ``name`` came from in the messages."""
    if name not in CHOICES:
        msg = f"{option}: expected one of {', '.join(CHOICES)}, got {name!r}"
        raise InputError(msg)
    status = backend_status()
    if name == "auto":
        from twin.raycast._cuda import simulated

        if status["cuda"] is None and not simulated():
            return "cuda"
        if status["embree"] is None:
            return "embree"
        log.warning(
            "embree backend unavailable (%s); using the slow reference backend", status["embree"]
        )
        return "reference"
    reason = status[name]
    if reason is not None:
        msg = f"{option} {name!r} cannot run here: {reason}"
        raise BackendUnavailableError(msg)
    return name


def make_tracer(name: str, triangles_mm: NDArray[np.float64]) -> Tracer:
    """Build a tracer of backend ``name`` (``auto`` allowed) over (f, 3, 3) triangles in mm."""
    name = resolve_backend(name)
    if name == "embree":
        from twin.raycast._embree import EmbreeTracer

        return EmbreeTracer(triangles_mm)
    if name == "cuda":
        from twin.raycast._cuda import CudaTracer

        return CudaTracer(triangles_mm)
    from twin.raycast._reference import ReferenceTracer

    return ReferenceTracer(triangles_mm)
