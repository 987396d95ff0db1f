"""Ray queries over a fixed triangle soup: which tracers exist, which can run here, how to get one.

A tracer answers two questions about a fixed set of triangles (in mm):

- ``occluded(origins, directions, distances, end_tolerance_mm=...)``: is anything hit strictly
  between each origin and ``distances`` along its unit direction? (k,) bool. A triangle whose
  plane passes within ``end_tolerance_mm`` of either end of a segment does not count: it can
  meet the segment only at that end, so a segment may start and end on a surface (a skin
  point's own triangles, an LED's carrier) with no offset (:func:`self_tolerance_mm`).
- ``first_hit(origins, directions)``: distance to the nearest hit, ``inf`` where none, and the
  index of the triangle hit, ``-1`` where none.

Tracers: ``reference`` (exact NumPy float64 brute force, small scenes and tests), ``embree``
(Intel Embree through embreex, float32, thread-safe), ``cuda`` (numba-cuda kernels over a BVH
built on the device, float64, CuPy arrays; :mod:`twin.raycast.cuda`) and ``auto``: cuda when a
real GPU passes a self-test, else embree, else reference. Transfer matrices are built on top
of these by :mod:`twin.engine`.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from twin.errors import BackendUnavailableError, InputError

log = logging.getLogger(__name__)

#: The tracers, fastest last; ``auto`` picks among them.
TRACERS = ("reference", "embree", "cuda")


class Tracer(Protocol):
    """Ray queries over a fixed set of triangles; see the module docstring.

    Attributes
    ----------
    name : str
        One of :data:`TRACERS`.
    """

    name: str

    def occluded(
        self,
        origins: NDArray[np.float64],
        directions: NDArray[np.float64],
        distances: NDArray[np.float64],
        *,
        end_tolerance_mm: float = 0.0,
    ) -> NDArray[np.bool_]:
        """Whether each segment is blocked.

        Parameters
        ----------
        origins, directions : (k, 3) float, mm and unit vectors
        distances : (k,) float, mm
            Length of each segment.
        end_tolerance_mm : float, default: 0.0, mm
            A triangle whose plane passes within this distance of either end of a segment
            does not block it (see :func:`self_tolerance_mm`).

        Returns
        -------
        (k,) bool
            True where a triangle is hit strictly between 0 and the distance.
        """

    def first_hit(
        self, origins: NDArray[np.float64], directions: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Find the nearest hit along each ray.

        Parameters
        ----------
        origins, directions : (k, 3) float, mm and unit vectors

        Returns
        -------
        distance : (k,) float64, mm
            ``inf`` where the ray hits nothing.
        face : (k,) int64
            Index of the triangle hit, ``-1`` where none.
        """


#: Relative size of :func:`self_tolerance_mm`: 2^-32 of the scene's extent, about 2^20
#: float64 rounding steps and far below any anatomical thickness.
SELF_TOLERANCE = 2.0**-32


def self_tolerance_mm(triangles_mm: NDArray[np.float64]) -> float:
    """Distance within which a triangle's plane counts as passing through a segment's end.

    Float64 rounding puts a point computed on a triangle (a vertex, a centroid) within a few
    rounding steps of the largest coordinate of its plane; this is :data:`SELF_TOLERANCE` of
    the scene's extent (the largest coordinate plus the bounding-box diagonal), so a skin
    point never meets its own triangles while geometry thicker than about 1e-7 mm on a face
    still blocks.

    Parameters
    ----------
    triangles_mm : (f, 3, 3) float64, mm
        Every triangle of the scene.

    Returns
    -------
    float, mm
    """
    pts = np.asarray(triangles_mm, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        return 0.0
    extent = float(np.abs(pts).max()) + float(np.linalg.norm(np.ptp(pts, axis=0)))
    return SELF_TOLERANCE * extent


def tracer_status() -> dict[str, str | None]:
    """Each tracer mapped to ``None`` when it can run here, else the reason it cannot.

    Returns
    -------
    dict of str to str or None
        Keyed by :data:`TRACERS`, in that order.
    """
    from twin.raycast import cuda

    return {
        "reference": None,
        "embree": (
            None
            if importlib.util.find_spec("embreex") is not None
            else "the embreex package is not installed (pip install embreex)"
        ),
        "cuda": cuda.status(),
    }


def choose(name: str, status: Mapping[str, str | None], *, option: str) -> str:
    """Check that ``name`` can run here, turning ``auto`` into the fastest one that can.

    Parameters
    ----------
    name : str
        ``"auto"`` or a key of ``status``.
    status : mapping of str to str or None
        Each candidate mapped to ``None`` when usable, else the reason it is not (as
        :func:`tracer_status`); ``cuda`` and ``embree`` among them.
    option : str
        Where ``name`` came from, for the messages.

    Returns
    -------
    str
        A usable name: for ``auto`` cuda on a real GPU, else embree, else reference.

    Raises
    ------
    InputError
        If ``name`` is not ``auto`` or a key of ``status``.
    BackendUnavailableError
        If ``name`` cannot run here.
    """
    choices = ("auto", *status)
    if name not in choices:
        msg = f"{option}: expected one of {', '.join(choices)}, got {name!r}"
        raise InputError(msg)
    if name == "auto":
        from twin.raycast.cuda import simulated

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
    """Build a tracer over a triangle soup.

    Parameters
    ----------
    name : {"auto", "reference", "embree", "cuda"}
        The tracer (see :func:`choose` for ``auto``).
    triangles_mm : (f, 3, 3) float64, mm
        Every triangle a ray may hit.

    Returns
    -------
    Tracer

    Raises
    ------
    InputError
        If ``name`` is not a tracer.
    BackendUnavailableError
        If it cannot run here.
    """
    name = choose(name, tracer_status(), option="backend")
    if name == "embree":
        from twin.raycast._embree import EmbreeTracer

        return EmbreeTracer(triangles_mm)
    if name == "cuda":
        from twin.raycast.cuda import CudaTracer

        return CudaTracer(triangles_mm)
    from twin.raycast._reference import ReferenceTracer

    return ReferenceTracer(triangles_mm)
