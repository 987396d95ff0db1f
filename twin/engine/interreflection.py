"""Inter-reflection on the transfer matrix: the light skin, carrier and occluders return.

The direct transfer matrix ``T`` (:mod:`twin.engine.transfer`) says what each emitter puts on
every skin point. With the direct rows of every other reflecting surface (a carrier's inside,
occluders) beside it, the light those surfaces return is, per emitter ``i`` of a channel
with patch reflectances ``rho`` (:mod:`twin.engine.radiosity`)::

    E_patch = M @ D[:, i]              # direct irradiance on each coarse patch
    B = rho (E_patch + F B)            # exitance, solved once per channel (LU)
    T_ind[:, i] = W @ (F @ B)          # indirect irradiance at the skin points

with ``M`` the area average of every surface's points over its patches, ``F`` the form
factors and ``W`` the interpolation from patches to the skin points. The total transfer
matrix ``T + T_ind`` is kept factored (:class:`IndirectTransfer`: the sparse ``W`` and the
dense per-patch ``F B`` of every emitter), so a drive level, mode or optimisation stays a
matrix product and never a new solve.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from twin.engine.radiosity import Patches, RadiositySolver, form_factors, interpolation_matrix
from twin.errors import InputError
from twin.geometry.surface import SamplePoints
from twin.raycast import Tracer

#: Patch size on every surface unless a scene says otherwise, mm: the indirect field varies
#: over tens of mm, and the interpolation error stays within 2.5 patch sizes times its
#: gradient (:func:`twin.engine.radiosity.interpolation_matrix`).
DEFAULT_PATCH_MM = 6.0


@dataclass(frozen=True, eq=False)
class IndirectTransfer:
    """The irradiance surfaces return to the skin, per mW of each emitter, in factored form.

    ``interpolation @ patch_irradiance`` is the (k, n) indirect transfer matrix.

    Attributes
    ----------
    interpolation : (k, m) scipy.sparse.csr_array of float64
        From the patches to the skin points; rows sum to 1.
    patch_irradiance : (m, n) float64, (mW/cm^2) per mW
        Indirect irradiance on each patch per mW of each emitter.
    patches : Patches
        The coarse patches; ``patches.surface`` 0 is the skin.
    reflectance : dict of str to (m,) float64
        Per channel, the reflectance of each patch.
    form_factor_nonzeros : int
        Patch pairs that see each other.
    seconds : float
        Wall time: form factors, factorisations and solves.
    """

    interpolation: scipy.sparse.csr_array
    patch_irradiance: NDArray[np.float64]
    patches: Patches
    reflectance: dict[str, NDArray[np.float64]]
    form_factor_nonzeros: int
    seconds: float

    @property
    def shape(self) -> tuple[int, int]:
        """(k, n): skin points by emitters."""
        return (self.interpolation.shape[0], self.patch_irradiance.shape[1])

    def __matmul__(self, power_mw: ArrayLike) -> NDArray[np.float64]:
        """Indirect irradiance at the skin points for emitter powers (n,) or (n, c)."""
        return np.asarray(self.interpolation @ (self.patch_irradiance @ np.asarray(power_mw)))

    def rows(self, index: NDArray[np.int64]) -> IndirectTransfer:
        """Return the indirect transfer at some of the skin points only (``index``: (e,))."""
        return dataclasses.replace(
            self, interpolation=scipy.sparse.csr_array(self.interpolation[np.asarray(index)])
        )

    def toarray(self) -> NDArray[np.float64]:
        """(k, n) float64: the indirect transfer matrix, (mW/cm^2) per mW."""
        return np.asarray(self.interpolation @ self.patch_irradiance)


@dataclass(frozen=True)
class Reflector:
    """One reflecting surface's points, their direct irradiance and their reflectance.

    Attributes
    ----------
    points : SamplePoints
        The surface's points, normals towards where light arrives from.
    direct : (p, n) scipy.sparse array of float64, (mW/cm^2) per mW
        Direct irradiance at each point per mW of each emitter.
    reflectance : dict of str to float or (p,) array_like of float
        Per channel, one value for the surface or one per point, in [0, 1).
    patch : (p,) int64 or None
        The patch each point belongs to (for vertex samples, their slice of
        :attr:`twin.engine.radiosity.Patches.sample_patch`); ``None``: the nearest patch of
        the surface in position and normal. Each patch's direct irradiance is the
        area-weighted mean over its points.
    """

    points: SamplePoints
    direct: scipy.sparse.sparray
    reflectance: Mapping[str, float | ArrayLike]
    patch: NDArray[np.int64] | None = None


def indirect_transfer(
    reflectors: Sequence[Reflector],
    patches: Patches,
    channel_of_emitter: NDArray[np.str_],
    tracer: Tracer,
    *,
    end_tolerance_mm: float,
    max_distance_mm: float = math.inf,
    workers: int | None = None,
) -> IndirectTransfer:
    """Solve the light that every reflecting surface returns, per emitter.

    Parameters
    ----------
    reflectors : sequence of Reflector
        One per surface of ``patches``, in order; the first is the skin, whose points are
        the ones the result is given at.
    patches : Patches
        From :func:`twin.engine.radiosity.patches_of` over the reflectors' surfaces.
    channel_of_emitter : (n,) str
        Each emitter's channel; every channel is solved with its own reflectances.
    tracer : Tracer
        Ray queries over every surface that blocks light between patches.
    end_tolerance_mm : float, mm
        See :func:`twin.engine.radiosity.form_factors`.
    max_distance_mm : float, default: inf, mm
        Patch pairs farther apart exchange nothing.
    workers : int, optional
        Threads for the form factors.

    Returns
    -------
    IndirectTransfer

    Raises
    ------
    InputError
        If the reflectors do not match the patches' surfaces, or their direct rows the
        emitters, or a reflectance is missing or outside [0, 1).
    """
    start = time.perf_counter()
    if len(reflectors) != len(patches.surfaces):
        msg = (
            f"reflectors: expected one per patched surface ({len(patches.surfaces)}), got "
            f"{len(reflectors)}"
        )
        raise InputError(msg)
    n = len(channel_of_emitter)
    channels = list(dict.fromkeys(np.asarray(channel_of_emitter).tolist()))
    averaging = []
    for index, reflector in enumerate(reflectors):
        if reflector.direct.shape != (len(reflector.points), n):
            msg = (
                f"reflectors[{index}].direct: expected shape ({len(reflector.points)}, {n}), "
                f"got {reflector.direct.shape}"
            )
            raise InputError(msg)
        averaging.append(_averaging(patches, index, reflector))
    m = len(patches)
    to_patches = scipy.sparse.csr_array(scipy.sparse.hstack(averaging))
    direct = scipy.sparse.csc_array(scipy.sparse.vstack([r.direct for r in reflectors]))
    reflectance = {
        channel: to_patches
        @ np.concatenate(
            [
                _per_point(r.reflectance, channel, len(r.points), name=f"reflectors[{i}]")
                for i, r in enumerate(reflectors)
            ]
        )
        for channel in channels
    }
    factors = form_factors(
        patches,
        tracer,
        end_tolerance_mm=end_tolerance_mm,
        max_distance_mm=max_distance_mm,
        workers=workers,
    )
    out = np.zeros((m, n))
    for channel in channels:
        columns = np.flatnonzero(channel_of_emitter == channel)
        rho = reflectance[channel]
        if factors.nnz == 0 or not rho.any():
            continue
        on_patches = (to_patches @ direct[:, columns]).toarray()
        radiosity = RadiositySolver(factors, rho).radiosity(on_patches)
        # B = rho (E + F B) gives F B = B / rho - E without the product, where rho > 0.
        bright = rho > 0.0
        returned = np.zeros_like(radiosity)
        returned[bright] = radiosity[bright] / rho[bright, None] - on_patches[bright]
        if not bright.all():
            returned[~bright] = factors[np.flatnonzero(~bright)] @ radiosity
        out[:, columns] = returned
    skin = reflectors[0].points
    interpolation = interpolation_matrix(
        patches, skin.positions_mm, skin.normals, np.zeros(len(skin), dtype=np.int64)
    )
    return IndirectTransfer(
        interpolation=interpolation,
        patch_irradiance=out,
        patches=patches,
        reflectance=reflectance,
        form_factor_nonzeros=int(factors.nnz),
        seconds=time.perf_counter() - start,
    )


def _averaging(patches: Patches, index: int, reflector: Reflector) -> scipy.sparse.csr_array:
    """(m, p): the area average of a reflector's point values over each of its patches."""
    points = reflector.points
    own = np.flatnonzero(patches.surface == index)
    if reflector.patch is not None:
        label = np.asarray(reflector.patch, dtype=np.int64)
        if label.shape != (len(points),) or not np.isin(label, own).all():
            msg = (
                f"reflectors[{index}].patch: expected one patch of surface {index} per point "
                f"({len(points)})"
            )
            raise InputError(msg)
    else:
        scale = patches.sizes_mm[index]
        tree = cKDTree(
            np.concatenate([patches.positions_mm[own], scale * patches.normals[own]], 1)
        )
        _, near = tree.query(np.concatenate([points.positions_mm, scale * points.normals], 1))
        label = own[near]
    total = np.bincount(label, weights=points.areas_mm2, minlength=len(patches))
    weights = points.areas_mm2 / total[label]
    return scipy.sparse.csr_array(
        (weights, (label, np.arange(len(points)))), shape=(len(patches), len(points))
    )


def spread_samples(patches: Patches, index: int, *, per_patch: int) -> NDArray[np.int64]:
    """Return up to ``per_patch`` of each patch's vertex samples on surface ``index``.

    Indices into the surface's vertex samples, spread over each patch's (in vertex order,
    evenly): where a surface's direct light is only needed per patch, as for a carrier,
    whose light reaches the skin only after a bounce.
    """
    counts = [len(s.vertices_mm) for s in patches.surfaces]
    first = int(np.sum(counts[:index]))
    label = patches.sample_patch[first : first + counts[index]]
    order = np.argsort(label, kind="stable")
    start = np.searchsorted(label[order], np.unique(label))
    size = np.diff(np.append(start, len(order)))
    rank = np.arange(len(order)) - np.repeat(start, size)
    step = np.repeat(np.maximum(size / per_patch, 1.0), size)
    keep = np.floor(rank / step) != np.floor((rank - 1) / step)
    return np.sort(order[keep])


def _per_point(
    reflectance: Mapping[str, float | ArrayLike], channel: str, count: int, *, name: str
) -> NDArray[np.float64]:
    """(p,) float64: a reflector's reflectance for ``channel`` at each of its points."""
    if channel not in reflectance:
        msg = f"{name}.reflectance: no value for channel {channel!r}"
        raise InputError(msg)
    value = np.broadcast_to(np.asarray(reflectance[channel], dtype=np.float64), (count,))
    if not ((value >= 0.0) & (value < 1.0)).all():
        msg = f"{name}.reflectance.{channel}: expected values in [0, 1), got {value.max()!r}"
        raise InputError(msg)
    return np.array(value)
