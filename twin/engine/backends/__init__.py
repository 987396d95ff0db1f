"""Backends that build transfer matrices: the protocol, which can run here, how to get one.

A backend owns a tracer over every triangle that can block light (:mod:`twin.raycast`) and
builds the transfer matrix of given samples and emitters under given
:class:`~twin.engine.settings.TransferSettings`, culling with :mod:`twin.engine.culling` first.
Backends: ``reference`` and ``embree`` (:mod:`twin.engine.backends.cpu`: numba kernels on a
thread pool, shadow rays through the tracer of that name), ``cuda``
(:mod:`twin.engine.backends.cuda`: the whole matrix on the device) and ``auto``: cuda when a
real GPU passes the self-test (rays and a small transfer matrix), else embree, else reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._validation import as_count
from twin.devices.emitters import Emitters
from twin.engine.settings import TransferSettings
from twin.geometry.surface import SamplePoints
from twin.raycast import TRACERS, Tracer, choose, make_tracer, tracer_status

#: The backends, each named after its tracer.
BACKENDS = TRACERS
#: What a scene's ``engine.backend`` or a ``backend=`` argument may name.
CHOICES = ("auto", *BACKENDS)

#: Called as ``progress(done, total)`` with the number of emitters finished so far.
ProgressCallback = Callable[[int, int], None]


class ArrayStore(Protocol):
    """Named arrays kept between runs under a key (:class:`twin.engine.cache.TransferCache`)."""

    def get_arrays(self, key: str) -> dict[str, NDArray] | None:
        """Return the arrays stored under ``key``; ``None`` when there are none."""
        ...

    def put_arrays(self, key: str, arrays: dict[str, NDArray]) -> None:
        """Store ``arrays`` (maybe none) under ``key``; failing only costs time."""
        ...


@dataclass(frozen=True)
class Cast:
    """What a backend built: the matrix and how much work culling left.

    Attributes
    ----------
    matrix : (k, n) scipy.sparse.csc_array of float64, (mW/cm^2) per mW
        Row ``p`` is a sample point (in the samples' order), column ``i`` an emitter.
    candidate_pairs : int
        (point, emitter) pairs that reached the exact per-pair tests.
    rays_cast : int
        Shadow rays traced (pairs that passed every culling test; 0 without occlusion).
    rays_cleared : int
        Pairs that passed the culling tests but needed no ray: their bundle's shaft meets
        no triangle (:mod:`twin.engine.shafts`).
    """

    matrix: scipy.sparse.csc_array
    candidate_pairs: int
    rays_cast: int
    rays_cleared: int = 0


class Backend(Protocol):
    """Builds transfer matrices over a fixed set of triangles.

    Attributes
    ----------
    name : str
        One of :data:`BACKENDS`.
    tracer : Tracer
        Ray queries over the same triangles.
    """

    name: str

    @property
    def tracer(self) -> Tracer:
        """Ray queries over the same triangles."""
        ...

    def transfer(
        self,
        samples: SamplePoints,
        emitters: Emitters,
        settings: TransferSettings,
        *,
        progress: ProgressCallback | None = None,
    ) -> Cast:
        """Build the transfer matrix of ``samples`` lit by ``emitters``.

        Parameters
        ----------
        samples : SamplePoints
            ``k`` skin points with normals.
        emitters : Emitters
            ``n`` LEDs.
        settings : TransferSettings
            Checked already.
        progress : callable(done, total), optional
            Called with the number of emitters finished so far.

        Returns
        -------
        Cast
        """


def backend_status() -> dict[str, str | None]:
    """Each backend mapped to ``None`` when it can run here, else the reason it cannot.

    Returns
    -------
    dict of str to str or None
        Keyed by :data:`BACKENDS`, in that order.
    """
    from twin.engine.backends import cuda

    return {**tracer_status(), "cuda": cuda.status()}


def resolve_backend(name: str, *, option: str = "backend") -> str:
    """Check that backend ``name`` can run here, turning ``auto`` into the fastest that can.

    Parameters
    ----------
    name : {"auto", "reference", "embree", "cuda"}
    option : str, default: "backend"
        Where ``name`` came from, for the messages.

    Returns
    -------
    str
        One of :data:`BACKENDS`.

    Raises
    ------
    InputError
        If ``name`` is not a backend.
    BackendUnavailableError
        If it cannot run here.
    """
    return choose(name, backend_status(), option=option)


def make_backend(
    name: str,
    triangles_mm: NDArray[np.float64],
    *,
    workers: int | None = None,
    horizon_store: ArrayStore | None = None,
) -> Backend:
    """Build a backend over every triangle that can block light.

    Parameters
    ----------
    name : {"auto", "reference", "embree", "cuda"}
        See :func:`resolve_backend`.
    triangles_mm : (f, 3, 3) float64, mm
        The skin and every occluder (:func:`twin.engine.transfer.scene_triangles`).
    workers : int, optional
        Threads of the CPU backends; defaults to the number of CPUs. The cuda backend
        ignores it.
    horizon_store : ArrayStore, optional
        Where the CPU backends keep the horizons of shaft culling between runs
        (:class:`twin.engine.backends.cpu.CpuBackend`).

    Returns
    -------
    Backend

    Raises
    ------
    InputError
        If ``name`` is not a backend or ``workers`` is not a whole number >= 1.
    BackendUnavailableError
        If the backend cannot run here.
    """
    name = resolve_backend(name)
    if workers is not None:
        as_count(workers, name="workers")
    if name == "cuda":
        from twin.engine.backends.cuda import CudaBackend

        return CudaBackend(triangles_mm)
    from twin.engine.backends.cpu import CpuBackend

    tri = np.asarray(triangles_mm, dtype=np.float64).reshape(-1, 3, 3)
    return CpuBackend(
        make_tracer(name, tri), triangles_mm=tri, horizon_store=horizon_store, workers=workers
    )
