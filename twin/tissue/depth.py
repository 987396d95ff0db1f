"""Fluence rate at depth from the surface irradiance: depth kernels applied per incidence angle.

Each nonzero ``T[p, i]`` of the transfer matrix is light arriving at skin point ``p`` from
emitter ``i`` at one incidence angle (from the point's normal). The fluence rate at depth ``z``
under ``p`` is the sum, over angle nodes ``b``, of the point's irradiance apportioned to the
node times the kernel ``K_c[site(p), b, z]`` of the emitter's channel ``c`` (the fluence rate
per unit surface irradiance, :mod:`twin.tissue.kernels`). Angles between nodes are shared
linearly between the two nodes, so the result is still linear in drive levels: every mode,
exposure and drive optimisation stays linear algebra on ``T``.

The planar kernels stand for a broad beam. Lateral spread in the tissue (1-3 mm in red and
NIR) is an option: a Gaussian blur of each channel's maps over the skin
(:func:`lateral_blur`), a linear operator too, so the maps stay linear in drive levels.

Light that skin and device return to the skin (:mod:`twin.engine.interreflection`) arrives
from every direction; it enters through the diffuse kernel, the angle nodes weighted as
Lambertian light brings them (:attr:`twin.tissue.kernels.DepthKernels.diffuse_fluence_rate`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin.devices.emitters import Emitters
from twin.engine.interreflection import IndirectTransfer
from twin.engine.transfer import TransferMatrix
from twin.geometry.surface import SamplePoints
from twin.tissue.kernels import DepthKernels


@dataclass(frozen=True)
class AngleShares:
    """How each nonzero of a transfer matrix is shared between the kernels' angle nodes.

    Attributes
    ----------
    rows, cols : (m,) int64
        The sample point and emitter of each nonzero of ``T`` (CSC order).
    values : (m,) float64, (mW/cm^2) per mW
        ``T``'s nonzeros.
    node : (m,) int64
        The angle node at or below the nonzero's incidence angle.
    frac : (m,) float64
        Its share of the next node up (the rest goes to ``node``).
    shape : (int, int)
        ``T``'s shape ``(k, n)``.
    nodes_deg : (a,) float64, degrees
        The angle nodes.
    """

    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    values: NDArray[np.float64]
    node: NDArray[np.int64]
    frac: NDArray[np.float64]
    shape: tuple[int, int]
    nodes_deg: NDArray[np.float64]


def angle_shares(
    transfer: TransferMatrix,
    samples: SamplePoints,
    emitters: Emitters,
    *,
    nodes_deg: NDArray[np.float64],
) -> AngleShares:
    """Split each nonzero of ``T`` between the angle nodes around its incidence angle.

    The incidence angle is between the point's normal and the direction to the emitter's
    centre (an extended emitter's aperture samples lie within a few degrees of it). Angles
    beyond the last node count as the last node.

    Parameters
    ----------
    transfer : TransferMatrix
        (k, n).
    samples : SamplePoints
        The ``k`` points.
    emitters : Emitters
        The ``n`` emitters.
    nodes_deg : (a,) float64, degrees
        Increasing, the first 0.

    Returns
    -------
    AngleShares
    """
    matrix = transfer.matrix.tocsc()
    cols = np.repeat(np.arange(matrix.shape[1], dtype=np.int64), np.diff(matrix.indptr))
    rows = matrix.indices.astype(np.int64)
    nodes = np.asarray(nodes_deg, dtype=np.float64)
    node, frac = _shares(
        rows, cols, samples.positions_mm, samples.normals, emitters.positions_mm, nodes
    )
    return AngleShares(
        rows=rows,
        cols=cols,
        values=np.asarray(matrix.data, dtype=np.float64),
        node=node,
        frac=frac,
        shape=(int(matrix.shape[0]), int(matrix.shape[1])),
        nodes_deg=nodes,
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def _shares(rows, cols, points, normals, emitters, nodes):  # pragma: no cover - compiled
    """Each pair's lower angle node and its share of the next one up (see angle_shares)."""
    m, top = len(rows), len(nodes) - 1
    node = np.empty(m, dtype=np.int64)
    frac = np.empty(m, dtype=np.float64)
    for i in numba.prange(m):
        p, e = rows[i], cols[i]
        dx = emitters[e, 0] - points[p, 0]
        dy = emitters[e, 1] - points[p, 1]
        dz = emitters[e, 2] - points[p, 2]
        cos = (normals[p, 0] * dx + normals[p, 1] * dy + normals[p, 2] * dz) / np.sqrt(
            dx * dx + dy * dy + dz * dz
        )
        angle = min(np.degrees(np.arccos(min(max(cos, 0.0), 1.0))), nodes[top])
        j = 0
        while j < top - 1 and angle >= nodes[j + 1]:
            j += 1
        node[i] = j
        frac[i] = (angle - nodes[j]) / (nodes[j + 1] - nodes[j])
    return node, frac


@numba.njit(cache=True, nogil=True)
def _by_angle(rows, cols, values, node, frac, power, out):  # pragma: no cover - compiled
    """Add each pair's irradiance at ``power`` to ``out[row, node]`` and ``out[row, node+1]``."""
    for i in range(len(rows)):
        e = values[i] * power[cols[i]]
        if e != 0.0:
            out[rows[i], node[i]] += e * (1.0 - frac[i])
            out[rows[i], node[i] + 1] += e * frac[i]


def irradiance_by_angle(shares: AngleShares, power_mw: NDArray[np.float64]) -> NDArray[np.float64]:
    """(k, a) float64, mW/cm^2: each point's irradiance shared between the angle nodes.

    Parameters
    ----------
    shares : AngleShares
    power_mw : (n,) float64, mW
        Each emitter's radiant power (zero for emitters of other channels).
    """
    out = np.zeros((shares.shape[0], len(shares.nodes_deg)))
    power = np.asarray(power_mw, dtype=np.float64)
    _by_angle(shares.rows, shares.cols, shares.values, shares.node, shares.frac, power, out)
    return out


def fluence_rate_maps(
    shares: AngleShares,
    kernels: DepthKernels,
    *,
    site_index: NDArray[np.int64],
    power_mw: dict[str, NDArray[np.float64]],
) -> dict[str, NDArray[np.float64]]:
    """Fluence rate at every depth of ``kernels`` under every point, per channel.

    Parameters
    ----------
    shares : AngleShares
        Of the (k, n) transfer matrix.
    kernels : DepthKernels
        With a kernel for every channel of ``power_mw``.
    site_index : (k,) int64
        Each point's body site, an index into ``kernels.sites``.
    power_mw : dict of str to (n,) float64, mW
        Each channel's emitters' radiant power (zero elsewhere).

    Returns
    -------
    dict of str to (k, d) float64, mW/cm^2
    """
    maps = {}
    for channel, power in power_mw.items():
        kernel = kernels.fluence_rate[channel]  # (s, a, d)
        if not power.any():
            maps[channel] = np.zeros((shares.shape[0], kernel.shape[2]))
            continue
        by_angle = irradiance_by_angle(shares, power)
        maps[channel] = np.einsum("ka,kad->kd", by_angle, kernel[site_index])
    return maps


def fluence_rate_matrix(
    shares: AngleShares,
    kernels: DepthKernels,
    *,
    site_index: NDArray[np.int64],
    channel_of_emitter: NDArray[np.str_],
    depth: int,
    blur: dict[str, scipy.sparse.csr_array] | None = None,
    indirect: IndirectTransfer | None = None,
) -> scipy.sparse.csc_array:
    """(k, n) fluence rate at one depth per mW of each emitter, (mW/cm^2) per mW.

    The depth counterpart of the transfer matrix: ``A @ power_mw`` is the fluence-rate map at
    ``kernels.depths_mm[depth]``. Emitters of a channel without a kernel contribute nothing.

    Parameters
    ----------
    shares : AngleShares
    kernels : DepthKernels
    site_index : (k,) int64
        Each point's body site, an index into ``kernels.sites``.
    channel_of_emitter : (n,) str
    depth : int
        Index into ``kernels.depths_mm``.
    blur : dict of str to (k, k) sparse, optional
        The lateral spread of each channel that has one (:attr:`TissueMaps.blur`).
    indirect : IndirectTransfer, optional
        The light skin and device return (:attr:`TissueMaps.indirect`), which enters the
        skin diffusely (:attr:`DepthKernels.diffuse_fluence_rate`); with it the matrix is
        filled wherever that light reaches.
    """
    channels = list(kernels.fluence_rate)
    stack = np.stack([kernels.fluence_rate[c][..., depth] for c in channels])  # (c, s, a)
    stack = np.concatenate([stack, np.zeros((1, *stack.shape[1:]))])  # no kernel: dark
    code = np.array(
        [channels.index(c) if c in channels else len(channels) for c in channel_of_emitter]
    )
    c, s = code[shares.cols], site_index[shares.rows]
    low, high = stack[c, s, shares.node], stack[c, s, shares.node + 1]
    data = shares.values * (low * (1.0 - shares.frac) + high * shares.frac)
    matrix = scipy.sparse.csc_array(
        scipy.sparse.coo_array((data, (shares.rows, shares.cols)), shape=shares.shape)
    )
    if indirect is not None:
        diffuse = kernels.diffuse_fluence_rate
        returned = np.zeros(shares.shape)
        for channel in channels:
            mine = np.flatnonzero(channel_of_emitter == channel)
            per_irradiance = diffuse[channel][site_index, depth]
            returned[:, mine] = per_irradiance[:, None] * (
                indirect.interpolation @ indirect.patch_irradiance[:, mine]
            )
        matrix = scipy.sparse.csc_array(matrix + returned)
    for channel, b in (blur or {}).items():
        mine = scipy.sparse.diags_array((channel_of_emitter == channel).astype(np.float64))
        matrix = matrix - matrix @ mine + b @ (matrix @ mine)
    return scipy.sparse.csc_array(matrix)


@dataclass(frozen=True)
class TissueMaps:
    """Fluence rate under every skin point at the kernels' depths, per channel.

    Attributes
    ----------
    kernels : DepthKernels
    shares : AngleShares
        How ``T`` splits between the angle nodes (kept for the depth matrices).
    site_index : (k,) int64
        Each point's body site, an index into ``kernels.sites``.
    fluence_rate_mw_cm2 : dict of str to (k, d) float64, mW/cm^2
        Per channel with a kernel, one column per ``kernels.depths``.
    exposure_s : float, s
    blur : dict of str to (k, k) scipy.sparse.csr_array
        The lateral spread applied to each channel that has one (:func:`lateral_blur`).
    indirect : IndirectTransfer or None
        The light skin and device return, in the maps as diffuse light (``None``: none).
    """

    kernels: DepthKernels
    shares: AngleShares
    site_index: NDArray[np.int64]
    fluence_rate_mw_cm2: dict[str, NDArray[np.float64]]
    exposure_s: float
    blur: dict[str, scipy.sparse.csr_array]
    indirect: IndirectTransfer | None = None

    @property
    def reflectance_at_points(self) -> dict[str, NDArray[np.float64]]:
        """Per channel, (k,) float64: the skin's total reflectance at every point.

        At normal incidence, for the point's body site.
        """
        return {c: r[self.site_index, 0] for c, r in self.kernels.reflectance.items()}

    @functools.cached_property
    def total_fluence_rate_mw_cm2(self) -> NDArray[np.float64]:
        """(k, d) float64, mW/cm^2: the sum over channels."""
        return np.sum(list(self.fluence_rate_mw_cm2.values()), axis=0)


def tissue_maps(
    transfer: TransferMatrix,
    samples: SamplePoints,
    emitters: Emitters,
    *,
    kernels: DepthKernels,
    site_index: NDArray[np.int64],
    power_mw: NDArray[np.float64],
    exposure_s: float,
    lateral_spread_mm: dict[str, float] | None = None,
) -> TissueMaps:
    """Fluence rate at depth under every sample for the emitters at ``power_mw``.

    Parameters
    ----------
    transfer : TransferMatrix
        (k, n).
    samples : SamplePoints
    emitters : Emitters
    kernels : DepthKernels
        With a kernel for every channel that has a wavelength (channels without one are left
        out of the maps).
    site_index : (k,) int64
        Into ``kernels.sites``.
    power_mw : (n,) float64, mW
        Each emitter's radiant power at its drive level.
    exposure_s : float, s
    lateral_spread_mm : dict of str to float, mm, optional
        Per channel, the standard deviation of the lateral blur (:func:`lateral_blur`).

    Returns
    -------
    TissueMaps
    """
    shares = angle_shares(transfer, samples, emitters, nodes_deg=kernels.incidence_deg)
    per_channel = {
        c: np.where(emitters.channel == c, power_mw, 0.0)
        for c in emitters.channels
        if c in kernels.fluence_rate
    }
    maps = fluence_rate_maps(shares, kernels, site_index=site_index, power_mw=per_channel)
    indirect = transfer.indirect
    if indirect is not None:
        diffuse = kernels.diffuse_fluence_rate
        maps = {
            c: phi + (indirect @ per_channel[c])[:, None] * diffuse[c][site_index]
            for c, phi in maps.items()
        }
    blur = {
        c: lateral_blur(samples, sigma_mm=sigma)
        for c, sigma in (lateral_spread_mm or {}).items()
        if sigma > 0 and c in maps
    }
    maps = {c: blur[c] @ phi if c in blur else phi for c, phi in maps.items()}
    return TissueMaps(kernels, shares, site_index, maps, exposure_s, blur, indirect)


def lateral_blur(samples: SamplePoints, *, sigma_mm: float) -> scipy.sparse.csr_array:
    """(k, k) Gaussian blur over the skin: the lateral spread of light in the tissue.

    ``(B @ phi)[p]`` is the area-weighted mean of ``phi`` over the points within
    ``3 sigma_mm`` of ``p`` (straight-line distance, good where the skin is flat over a few
    sigma), weighted by ``exp(-d^2 / 2 sigma^2)``; rows sum to 1, so a uniform map stays as it
    is.

    Parameters
    ----------
    samples : SamplePoints
    sigma_mm : float, mm
    """
    tree = cKDTree(samples.positions_mm)
    pairs = tree.sparse_distance_matrix(tree, 3.0 * sigma_mm, output_type="coo_matrix")
    rows = np.concatenate([pairs.row, np.arange(len(samples))])
    cols = np.concatenate([pairs.col, np.arange(len(samples))])
    distance = np.concatenate([pairs.data, np.zeros(len(samples))])
    weight = np.exp(-0.5 * (distance / sigma_mm) ** 2) * samples.areas_mm2[cols]
    blur = scipy.sparse.csr_array((weight, (rows, cols)), shape=(len(samples),) * 2)
    return scipy.sparse.csr_array(scipy.sparse.diags_array(1.0 / blur.sum(axis=1)) @ blur)
