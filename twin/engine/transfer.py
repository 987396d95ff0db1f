"""The transfer matrix T: irradiance at every skin point per milliwatt of every emitter.

``T[p, i] = I_i(theta) cos(alpha) / r^2`` (per mW of the emitter's radiant flux, converted to
mW/cm^2 per mW), zero when the point faces away, when the emitter points away beyond the
intensity cut-off, beyond the range, or when the segment from the point to the emitter is
blocked (docs/physics.md §1.2). Ray-casting builds T once per geometry; every drive level,
mode, exposure time and metric after that is linear algebra on T (docs/architecture.md,
"Data flow").

:func:`transfer_matrix` checks the settings and hands the work to a backend
(:mod:`twin.engine.backends`), which culls with :mod:`twin.engine.culling` before it casts a
ray and never drops a contribution whose relative intensity is at or above
``intensity_cutoff``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.engine.backends import Backend, ProgressCallback
from twin.engine.interreflection import IndirectTransfer
from twin.engine.settings import DEFAULT_INTENSITY_CUTOFF, TransferSettings
from twin.errors import InputError
from twin.geometry.surface import SamplePoints, Surface


@dataclass(frozen=True, eq=False)
class TransferMatrix:
    """Sparse transfer matrix and how it was made.

    Attributes
    ----------
    matrix : (k, n) scipy.sparse.csc_array of float64, (mW/cm^2) per mW
        The direct light: row ``p`` is a sample point, column ``i`` an emitter.
    backend : str
        The backend that built it.
    candidate_pairs : int
        (point, emitter) pairs that reached the exact per-pair tests.
    rays_cast : int
        Shadow rays traced (pairs that passed every culling test).
    rays_cleared : int
        Pairs that passed every culling test but needed no ray: shaft culling showed
        nothing can block them (:mod:`twin.engine.shafts`).
    seconds : float
        Wall time to build the matrix.
    intensity_cutoff : float
    max_distance_mm : float
    cached : bool
        Read from the transfer cache (:mod:`twin.engine.cache`), built ``seconds`` long
        in an earlier run.
    """

    matrix: scipy.sparse.csc_array
    backend: str
    candidate_pairs: int
    rays_cast: int
    rays_cleared: int
    seconds: float
    intensity_cutoff: float
    max_distance_mm: float
    indirect: IndirectTransfer | None = None
    cached: bool = False

    def with_indirect(self, indirect: IndirectTransfer | None) -> TransferMatrix:
        """Return this matrix with the light surfaces return (``None``: direct light only)."""
        return dataclasses.replace(self, indirect=indirect)

    def direct_irradiance(self, power_mw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Direct irradiance, mW/cm^2, for emitter powers (n,) or (n, c), mW."""
        return np.asarray(self.matrix @ power_mw, dtype=np.float64)

    def irradiance(self, power_mw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Total irradiance (direct and returned), mW/cm^2, for emitter powers (n,) or (n, c)."""
        direct = self.direct_irradiance(power_mw)
        return direct if self.indirect is None else direct + self.indirect @ power_mw

    @functools.cached_property
    def total(self) -> scipy.sparse.csc_array:
        """(k, n) scipy.sparse.csc_array: direct plus returned light per mW of each emitter.

        The direct matrix itself without inter-reflection; with it every point that a
        reflecting surface lights is filled (on the built-in face about 0.3 GB), so products
        should use :meth:`irradiance`.
        """
        if self.indirect is None:
            return self.matrix
        return scipy.sparse.csc_array(self.matrix + self.indirect.toarray())


def scene_triangles(target: Surface, occluders: Sequence[Surface] = ()) -> NDArray[np.float64]:
    """Every triangle that can block light: the target's first, then each occluder's.

    Parameters
    ----------
    target : Surface
        The skin.
    occluders : sequence of Surface, optional

    Returns
    -------
    (f, 3, 3) float64, mm
    """
    return np.concatenate([target.triangles_mm, *(o.triangles_mm for o in occluders)])


def transfer_matrix(
    samples: SamplePoints,
    emitters: Emitters,
    backend: Backend,
    *,
    end_tolerance_mm: float,
    intensity_cutoff: float = DEFAULT_INTENSITY_CUTOFF,
    max_distance_mm: float = math.inf,
    occlusion: bool = True,
    progress: ProgressCallback | None = None,
) -> TransferMatrix:
    """Build the sparse transfer matrix for ``samples`` lit by ``emitters``.

    Parameters
    ----------
    samples : SamplePoints
        ``k`` skin points with normals.
    emitters : Emitters
        ``n`` LEDs.
    backend : Backend
        Built over every surface that can block light (skin and occluders) by
        :func:`twin.engine.backends.make_backend`.
    end_tolerance_mm : float, mm
        Shadow segments run from the skin point to the emitter; a triangle whose plane
        passes within this distance of either end does not block (see
        :func:`twin.engine.settings.self_tolerance_mm`).
    intensity_cutoff : float, default: 1e-4
        Directions where an LED's intensity is below this fraction of its peak are not
        traced. 0 traces the full forward hemisphere (or sphere, for isotropic LEDs).
    max_distance_mm : float, default: inf, mm
        Pairs farther apart are not traced.
    occlusion : bool, default: True
        Cast shadow rays; ``False`` keeps only the facing, cone and range tests.
    progress : callable(done, total), optional
        Called with the number of emitters finished so far.

    Returns
    -------
    TransferMatrix

    Raises
    ------
    InputError
        If ``backend`` is not a backend or a setting is out of range.
    """
    start_time = time.perf_counter()
    if not callable(getattr(backend, "transfer", None)):
        msg = (
            "backend: expected a backend from twin.engine.backends.make_backend, got "
            f"{type(backend).__name__}"
        )
        raise InputError(msg)
    settings = TransferSettings(
        end_tolerance_mm=end_tolerance_mm,
        intensity_cutoff=intensity_cutoff,
        max_distance_mm=max_distance_mm,
        occlusion=occlusion,
    )
    cast = backend.transfer(samples, emitters, settings, progress=progress)
    return TransferMatrix(
        matrix=cast.matrix,
        backend=backend.name,
        candidate_pairs=cast.candidate_pairs,
        rays_cast=cast.rays_cast,
        rays_cleared=cast.rays_cleared,
        seconds=time.perf_counter() - start_time,
        intensity_cutoff=settings.intensity_cutoff,
        max_distance_mm=settings.max_distance_mm,
    )
