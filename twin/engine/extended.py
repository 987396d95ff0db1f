"""The transfer matrix of extended emitters, per mW of each original LED.

Each LED of a channel with an :class:`~twin.devices.aperture.Aperture` is replaced by its
aperture's point sources (:func:`twin.devices.aperture.expand`), the transfer matrix of those
is built as any other, and its columns are collapsed back onto the LEDs, so that every drive
vector, mode and metric downstream is unchanged (docs/physics.md §1.3).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace

import scipy.sparse

from twin.devices.aperture import Aperture, expand
from twin.devices.emitters import Emitters
from twin.engine.backends import Backend, ProgressCallback
from twin.engine.settings import DEFAULT_INTENSITY_CUTOFF
from twin.engine.transfer import TransferMatrix, transfer_matrix
from twin.geometry.surface import SamplePoints


def extended_transfer(
    samples: SamplePoints,
    emitters: Emitters,
    backend: Backend,
    *,
    apertures: Mapping[str, Aperture],
    end_tolerance_mm: float,
    intensity_cutoff: float = DEFAULT_INTENSITY_CUTOFF,
    max_distance_mm: float = math.inf,
    occlusion: bool = True,
    progress: ProgressCallback | None = None,
) -> TransferMatrix:
    """Transfer matrix of LEDs with extended apertures, per mW of each original LED.

    Parameters
    ----------
    samples : SamplePoints
        ``k`` skin points with normals.
    emitters : Emitters
        ``n`` LEDs.
    backend : Backend
        Built over every surface that can block light (:func:`twin.engine.backends.make_backend`).
    apertures : mapping of str to Aperture
        Aperture per channel name (see :func:`twin.devices.aperture.expand`); other channels
        stay point sources (none: the plain :func:`twin.engine.transfer.transfer_matrix`).
    end_tolerance_mm : float, mm
        Shadow-segment end tolerance, as for :func:`twin.engine.transfer.transfer_matrix`.
    intensity_cutoff : float, default: 1e-4
        As for :func:`twin.engine.transfer.transfer_matrix`.
    max_distance_mm : float, default: inf, mm
        As for :func:`twin.engine.transfer.transfer_matrix`.
    occlusion : bool, default: True
        As for :func:`twin.engine.transfer.transfer_matrix`.
    progress : callable(done, total), optional
        Called with the number of sub-emitters finished so far.

    Returns
    -------
    TransferMatrix
        ``matrix`` is (k, n) scipy.sparse.csc_array of float64, (mW/cm^2) per mW of each
        original LED; ``candidate_pairs`` and ``rays_cast`` count the sub-emitter run and
        ``seconds`` includes the expansion and the collapse.

    Raises
    ------
    InputError
        If an aperture or a setting is invalid.
    """
    start = time.perf_counter()
    expanded, collapse = expand(emitters, apertures) if apertures else (emitters, None)
    t = transfer_matrix(
        samples,
        expanded,
        backend,
        end_tolerance_mm=end_tolerance_mm,
        intensity_cutoff=intensity_cutoff,
        max_distance_mm=max_distance_mm,
        occlusion=occlusion,
        progress=progress,
    )
    if collapse is None:
        return t
    matrix = scipy.sparse.csc_array(t.matrix @ collapse)
    return replace(t, matrix=matrix, seconds=time.perf_counter() - start)
