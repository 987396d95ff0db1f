"""Layered Monte Carlo for light in skin: fluence rate with depth and the remitted fraction.

Method
------
The photon physics of MCML (Wang, Jacques & Zheng 1995, Comput Methods Programs Biomed
47:131, doi:10.1016/0169-2607(95)01640-F; after Prahl et al. 1989, SPIE IS 5:102) for a
stack of planar layers (:class:`twin.tissue.layers.Layer`) lit by a collimated beam that is
infinitely broad:

- **Entry.** The beam arrives from a medium of index ``outside_n`` at ``incidence_deg`` from
  the normal. Its Fresnel reflection (unpolarised) at the top surface is deterministic: it is
  :attr:`SlabResult.specular`, and every photon starts at the surface with weight
  ``1 - specular`` in the direction given by Snell's law.
- **Steps.** Free paths are drawn as optical depths, ``-ln(xi)``, spent at
  ``mu_t = mu_a + mu_s`` of each layer they cross (``mu_s = mu_s' / (1 - g)``), so a step may
  span several layers and a clear layer (``mu_t = 0``) is crossed in one straight line.
- **Boundaries.** At every boundary, between layers, at the top against ``outside_n`` and at
  the bottom of a finite stack against ``outside_n``, the photon is reflected with the
  unpolarised Fresnel probability, else refracted by Snell's law into the next layer or lost
  from the stack (remitted at the top, transmitted at the bottom). Total internal reflection
  has probability 1.
- **Interactions.** Analog absorption: at the end of each free path the photon is absorbed
  with probability ``mu_a / mu_t``, else scattered by the Henyey-Greenstein phase function
  (Henyey & Greenstein 1941, Astrophys J 93:70) with the layer's ``g`` and a uniform azimuth.
  Skin in the red and near infrared has ``mu_s' / mu_a`` of about 100, where analog absorption
  ends a photon in far fewer steps than implicit capture with Russian roulette, which follows
  each photon until its weight ``albedo**steps`` falls below the roulette threshold: in a
  fair-skin stack at 633 nm an analog photon takes about 100 interactions on average, while
  a weight of 1e-4 takes ``ln(1e-4) / ln(0.9976)``, about 3800, in its dermis. Every photon
  ends in exactly one of remitted, transmitted or absorbed in one layer, so
  ``specular + remitted + absorbed + transmitted == 1`` to float rounding.
- **Planar geometry.** The layers and the beam are uniform in x and y, so only the depth z and
  the direction cosine ``u_z`` matter. Scattering by polar angle theta and azimuth phi gives
  ``u_z' = u_z cos(theta) + sqrt(1 - u_z**2) sin(theta) cos(phi)``, the z part of MCML's
  direction update; x and y are not tracked.

Fluence estimator and normalisation
-----------------------------------
Fluence rate is scored by the track-length estimator: every straight piece of path adds its
length inside each depth bin, so a bin's estimate is ``sum(w * l) / (N * dz)`` for ``N``
photons of weight ``w`` and bin width ``dz`` (mm). It needs no absorption, so it works in
clear layers, and every step scores, which makes it less noisy than the absorption (collision)
estimator ``A(z) / mu_a``. The two agree in expectation: the absorbed power of a layer is
``mu_a`` times the integral of the fluence rate over it.

The ``N`` photons carry unit power per unit area of the *surface* (whatever the incidence
angle), so :attr:`SlabResult.fluence_rate` is the fluence rate per unit incident surface
irradiance ``phi(z) / E`` (dimensionless), averaged over each depth bin, and the reflected,
absorbed and transmitted fractions are fractions of the power incident on the surface. At
oblique incidence the same surface irradiance enters through a larger Fresnel reflection and
travels less deep per unit path; the kernel therefore depends on the angle as well as on the
Fresnel factor (docs/physics.md §3.4.7).

Random numbers and threads
--------------------------
The photons are split into at most :data:`MAX_CHUNKS` chunks that depend only on the photon
count. Each chunk draws from its own xoshiro256+ generator (Blackman & Vigna 2021, ACM Trans
Math Softw 47:36), seeded from ``numpy.random.SeedSequence(seed, spawn_key=(chunk,))``, and
scores into its own tallies, which are summed in chunk order. The same seed and photon count
therefore give the same result on any number of threads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from twin._validation import as_bounded, as_count, check_finite, shorten
from twin.errors import InputError
from twin.tissue.layers import Layer, check_layers

#: Most photons one call may trace (about two hours on one core for fair skin at 633 nm).
MAX_PHOTONS = 1_000_000_000
#: Most depth bins (edges less one) a call may score.
MAX_DEPTH_BINS = 10_000
#: Most chunks the photons are split into; each chunk has its own generator and tallies.
MAX_CHUNKS = 128
#: Fewest photons in a chunk (unless there are fewer in all).
MIN_CHUNK_PHOTONS = 512
#: Least absorption of a semi-infinite bottom layer, as a fraction of its ``mu_s``. Without
#: absorption a photon that enters it never ends; with very little, a photon takes about
#: ``mu_s / mu_a`` steps before it does.
MIN_BOTTOM_ABSORPTION = 1e-6

_INV_2_53 = 1.0 / 9007199254740992.0  # 2**-53
_U11 = np.uint64(11)
_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U19 = np.uint64(19)


@dataclass(frozen=True)
class SlabResult:
    """What :func:`simulate` scored for one stack of layers and one incidence angle.

    Attributes
    ----------
    depth_edges_mm : (z+1,) float64, mm
        The edges of the depth bins, from the surface (z = 0) down.
    fluence_rate : (z,) float64
        Fluence rate per unit incident surface irradiance, ``phi / E`` (dimensionless), the
        mean over each bin.
    specular : float
        Fresnel reflection at entry, a fraction of the incident power.
    remitted : float
        Diffuse reflectance: the fraction of the incident power that re-exits the top surface.
    absorbed : float
        Fraction of the incident power absorbed in the stack (``absorbed_per_layer.sum()``).
    transmitted : float
        Fraction that exits the bottom of a finite stack; 0 for a semi-infinite one.
    absorbed_per_layer : (L,) float64
        Fraction absorbed in each layer, top first.
    photons : int
        How many photons were traced.
    incidence_deg : float, degrees
        Angle of the incident beam from the surface normal, outside the tissue.
    """

    depth_edges_mm: NDArray[np.float64]
    fluence_rate: NDArray[np.float64]
    specular: float
    remitted: float
    absorbed: float
    transmitted: float
    absorbed_per_layer: NDArray[np.float64]
    photons: int
    incidence_deg: float


def default_depth_edges_mm() -> NDArray[np.float64]:
    """Return the default depth bins: fine near the surface, coarser deeper, down to 20 mm.

    0.01 mm bins to 0.2 mm, 0.05 mm to 2 mm, 0.1 mm to 6 mm and 0.25 mm to 20 mm.

    Returns
    -------
    (153,) float64, mm
        Bin edges, from 0.
    """
    return np.concatenate(
        [
            np.linspace(0.0, 0.2, 21),
            np.linspace(0.2, 2.0, 37)[1:],
            np.linspace(2.0, 6.0, 41)[1:],
            np.linspace(6.0, 20.0, 57)[1:],
        ]
    )


def fresnel_reflectance(n_from: float, n_to: float, cos_in: float) -> tuple[float, float]:
    """Unpolarised Fresnel reflectance of a planar boundary, and the cosine of refraction.

    Parameters
    ----------
    n_from, n_to : float
        Refractive index on the side the light comes from and on the far side.
    cos_in : float
        Cosine of the angle of incidence, in [0, 1].

    Returns
    -------
    reflectance : float
        The mean of the s and p power reflectances; 1 beyond the critical angle.
    cos_out : float
        Cosine of the refracted angle (0 under total internal reflection).
    """
    reflectance, cos_out = _fresnel(float(n_from), float(n_to), float(cos_in))
    return float(reflectance), float(cos_out)


def simulate(
    layers: Sequence[Layer],
    *,
    incidence_deg: float = 0.0,
    photons: int = 100_000,
    seed: int = 0,
    depth_edges_mm: Any = None,
    outside_n: float = 1.0,
) -> SlabResult:
    """Trace photons through a stack of layers lit by a broad collimated beam.

    Parameters
    ----------
    layers : sequence of Layer
        Top first; only the last may be semi-infinite (``thickness_mm = inf``), and then it
        must absorb (:data:`MIN_BOTTOM_ABSORPTION`).
    incidence_deg : float, degrees, default: 0
        Angle of the beam from the surface normal, outside the tissue, in [0, 90).
    photons : int, default: 100_000
        How many photons to trace, in [1, :data:`MAX_PHOTONS`]. The noise of the fractions
        is about ``sqrt(p (1 - p) / photons)``.
    seed : int, default: 0
        Seed (>= 0) of the random numbers; the same seed and photon count give the same
        result on any number of threads.
    depth_edges_mm : (z+1,) array_like of float, mm, optional
        Edges of the depth bins for the fluence rate: finite, >= 0 and increasing, at most
        :data:`MAX_DEPTH_BINS` bins. Default: :func:`default_depth_edges_mm`.
    outside_n : float, default: 1
        Refractive index of the medium above the stack (and below a finite one), in [1, 3].

    Returns
    -------
    SlabResult

    Raises
    ------
    InputError
        Naming the argument (or ``layers[i].field``), for a value out of range, depth edges
        that are not increasing, or a semi-infinite bottom layer that does not absorb.

    Notes
    -----
    The method, the estimator and the normalisation are described in the module docstring.
    """
    stack = check_layers(layers, name="layers")
    angle_deg = _as_incidence_deg(incidence_deg)
    count = as_count(photons, name="photons", least=1, most=MAX_PHOTONS)
    seed = as_count(seed, name="seed", least=0)
    n_out = as_bounded(outside_n, name="outside_n", low=1.0, high=3.0)
    edges = default_depth_edges_mm() if depth_edges_mm is None else _as_depth_edges(depth_edges_mm)
    _check_bottom(stack)

    thickness = np.array([layer.thickness_mm for layer in stack], dtype=np.float64)
    z_bottom = np.cumsum(thickness)
    z_top = np.concatenate([[0.0], z_bottom[:-1]])
    n_layer = np.array([layer.n for layer in stack], dtype=np.float64)
    mua = np.array([layer.mua_per_mm for layer in stack], dtype=np.float64)
    mus = np.array([layer.mus_per_mm for layer in stack], dtype=np.float64)
    g = np.array([layer.g for layer in stack], dtype=np.float64)
    mut = mua + mus
    absorb_fraction = np.divide(mua, mut, out=np.zeros_like(mua), where=mut > 0)

    specular, cos_in = fresnel_reflectance(n_out, n_layer[0], math.cos(math.radians(angle_deg)))
    weight = 1.0 - specular

    chunk_photons = max(MIN_CHUNK_PHOTONS, -(-count // MAX_CHUNKS))
    chunks = -(-count // chunk_photons)
    states = np.array(
        [
            np.random.SeedSequence(seed, spawn_key=(c,)).generate_state(4, dtype=np.uint64)
            for c in range(chunks)
        ]
    )
    path_mm = np.zeros((chunks, edges.size - 1))
    ends = np.zeros((chunks, 2 + len(stack)), dtype=np.int64)
    first_bin = int(np.searchsorted(edges, 0.0, side="right")) - 1
    _trace_chunks(
        states, count, chunk_photons, cos_in, z_top, z_bottom, n_layer, mut, absorb_fraction,
        g, n_out, edges, first_bin, path_mm, ends,
    )  # fmt: skip

    scale = weight / count
    fluence = path_mm.sum(axis=0) * scale / np.diff(edges)
    totals = ends.sum(axis=0)
    per_layer = totals[2:] * scale
    edges.flags.writeable = False
    fluence.flags.writeable = False
    per_layer.flags.writeable = False
    return SlabResult(
        depth_edges_mm=edges,
        fluence_rate=fluence,
        specular=specular,
        remitted=float(totals[0] * scale),
        absorbed=float(per_layer.sum()),
        transmitted=float(totals[1] * scale),
        absorbed_per_layer=per_layer,
        photons=count,
        incidence_deg=angle_deg,
    )


# --- input checks ------------------------------------------------------------------------


def _as_incidence_deg(value: Any) -> float:
    """Return ``value`` as an angle in [0, 90) degrees, or raise naming ``incidence_deg``."""
    try:
        angle = as_bounded(value, name="incidence_deg", low=0.0, high=90.0)
    except InputError:
        angle = math.nan
    if not angle < 90.0:
        msg = f"incidence_deg: expected a number in [0, 90), got {shorten(repr(value))}"
        raise InputError(msg)
    return angle


def _as_depth_edges(value: Any) -> NDArray[np.float64]:
    """Return ``value`` as increasing, finite depth edges >= 0 (a fresh array), or raise."""
    name = "depth_edges_mm"
    try:
        edges = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"{name}: expected a 1-D array of numbers, got {type(value).__name__}"
        raise InputError(msg) from None
    if edges.ndim != 1 or not 2 <= edges.size <= MAX_DEPTH_BINS + 1:
        msg = (
            f"{name}: expected a 1-D array of 2 to {MAX_DEPTH_BINS + 1} edges, "
            f"got shape {edges.shape}"
        )
        raise InputError(msg)
    check_finite(edges, name=name)
    if edges[0] < 0.0:
        msg = f"{name}: expected depths >= 0 mm, got {edges[0]:g} first"
        raise InputError(msg)
    steps = np.diff(edges)
    if (steps <= 0.0).any():
        i = int(np.argmax(steps <= 0.0))
        msg = (
            f"{name}: expected strictly increasing edges, got {edges[i]:g} then "
            f"{edges[i + 1]:g} (index {i + 1})"
        )
        raise InputError(msg)
    return edges


def _check_bottom(stack: tuple[Layer, ...]) -> None:
    """Raise unless a semi-infinite bottom layer absorbs enough for every photon to end."""
    bottom = stack[-1]
    if not math.isinf(bottom.thickness_mm):
        return
    least = MIN_BOTTOM_ABSORPTION * bottom.mus_per_mm
    if bottom.mua_per_mm <= 0.0 or bottom.mua_per_mm < least:
        msg = (
            f"layers[{len(stack) - 1}].mua_per_mm: a semi-infinite bottom layer must absorb "
            f"(mua_per_mm > 0 and >= {MIN_BOTTOM_ABSORPTION:g} mu_s = {least:.3g}) or a photon "
            f"that enters it may never end; got {bottom.mua_per_mm:g} (give it a finite "
            "thickness, or some absorption)"
        )
        raise InputError(msg)


# --- compiled kernels --------------------------------------------------------------------


@numba.njit(cache=True)
def _fresnel(n1, n2, cos1):  # pragma: no cover - compiled
    """Unpolarised Fresnel reflectance from index ``n1`` into ``n2`` and the refracted cosine."""
    if n1 == n2:
        return 0.0, cos1
    sin2 = n1 / n2 * math.sqrt(max(0.0, 1.0 - cos1 * cos1))
    if sin2 >= 1.0:
        return 1.0, 0.0
    cos2 = math.sqrt(1.0 - sin2 * sin2)
    rs = (n1 * cos1 - n2 * cos2) / (n1 * cos1 + n2 * cos2)
    rp = (n2 * cos1 - n1 * cos2) / (n2 * cos1 + n1 * cos2)
    return 0.5 * (rs * rs + rp * rp), cos2


@numba.njit(cache=True)
def _uniform(state):  # pragma: no cover - compiled
    """Next number in [0, 1) of the xoshiro256+ generator ``state`` ((4,) uint64, updated)."""
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    result = s0 + s3
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _U45) | (s3 >> _U19)
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return (result >> _U11) * _INV_2_53


@numba.njit(cache=True)
def _scatter(uz, g, state):  # pragma: no cover - compiled
    """Direction cosine ``u_z`` after a Henyey-Greenstein scattering with anisotropy ``g``."""
    if g == 0.0:
        cos_t = 2.0 * _uniform(state) - 1.0
    else:
        f = (1.0 - g * g) / (1.0 - g + 2.0 * g * _uniform(state))
        cos_t = min(1.0, max(-1.0, (1.0 + g * g - f * f) / (2.0 * g)))
    # cos(phi) of a uniform azimuth, as cos(2 alpha) of a point uniform in the unit disc (no
    # trigonometric call: about 2.5 times faster than cos(2 pi xi) here).
    while True:
        x = 2.0 * _uniform(state) - 1.0
        y = 2.0 * _uniform(state) - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 <= 1.0:
            break
    cos_p = (x * x - y * y) / r2
    sines = math.sqrt(max(0.0, (1.0 - uz * uz) * (1.0 - cos_t * cos_t)))
    return min(1.0, max(-1.0, uz * cos_t + sines * cos_p))


@numba.njit(cache=True)
def _score(z0, z1, length, ib, edges, path):  # pragma: no cover - compiled
    """Add a straight piece of path from depth ``z0`` to ``z1`` to the depth bins it crosses.

    ``length`` (mm) is the path length, shared among the bins in proportion to the depth
    crossed in each. ``ib`` is the bin holding ``z0`` (``edges[ib] <= z0 < edges[ib + 1]``;
    -1 above the first edge, ``len(path)`` below the last); returns the bin holding ``z1``.
    Walking from bin to bin is cheaper than finding the end's bin by a table look-up: most
    pieces cross only a few bins.
    """
    nb = path.shape[0]
    if z1 > z0:
        per_mm = length / (z1 - z0)
        while ib < nb:
            top = edges[ib + 1]
            if z1 < top:
                if ib >= 0:
                    path[ib] += (z1 - max(z0, edges[ib])) * per_mm
                return ib
            if ib >= 0:
                path[ib] += (top - max(z0, edges[ib])) * per_mm
            ib += 1
        return ib
    if z1 < z0:
        per_mm = length / (z0 - z1)
        while ib >= 0:
            bottom = edges[ib]
            if z1 >= bottom:
                if ib < nb:
                    path[ib] += (min(z0, edges[ib + 1]) - z1) * per_mm
                return ib
            if ib < nb:
                path[ib] += (min(z0, edges[ib + 1]) - bottom) * per_mm
            ib -= 1
        return ib
    if 0 <= ib < nb:
        path[ib] += length
    return ib


@numba.njit(cache=True)
def _trace(
    state, photons, cos_in, z_top, z_bottom, n_layer, mut, absorb_fraction, g, n_out,
    edges, first_bin, path, ends,
):  # pragma: no cover - compiled  # fmt: skip
    """Trace ``photons`` photons of unit weight, scoring into ``path`` and ``ends``.

    ``path`` (z,) gets the path length (mm) in each depth bin; ``ends`` (2 + L,) counts the
    photons remitted, transmitted and absorbed in each layer.
    """
    last = mut.shape[0] - 1
    for _ in range(photons):
        z = 0.0
        uz = cos_in
        layer = 0
        ib = first_bin
        tau = -math.log(1.0 - _uniform(state))
        while True:
            m = mut[layer]
            if uz > 0.0:
                to_boundary = max(0.0, (z_bottom[layer] - z) / uz)
            elif uz < 0.0:
                to_boundary = max(0.0, (z_top[layer] - z) / uz)
            else:
                to_boundary = math.inf
            step = tau / m if m > 0.0 else math.inf
            if step < to_boundary:
                z1 = z + step * uz
                ib = _score(z, z1, step, ib, edges, path)
                z = z1
                if _uniform(state) < absorb_fraction[layer]:
                    ends[2 + layer] += 1
                    break
                uz = _scatter(uz, g[layer], state)
                tau = -math.log(1.0 - _uniform(state))
                continue
            down = uz > 0.0
            z1 = z_bottom[layer] if down else z_top[layer]
            ib = _score(z, z1, to_boundary, ib, edges, path)
            z = z1
            tau = max(0.0, tau - m * to_boundary)
            if down:
                n_next = n_layer[layer + 1] if layer < last else n_out
            else:
                n_next = n_layer[layer - 1] if layer > 0 else n_out
            reflectance, cos_out = _fresnel(n_layer[layer], n_next, abs(uz))
            if _uniform(state) < reflectance:
                uz = -uz
            elif down:
                if layer == last:
                    ends[1] += 1
                    break
                layer += 1
                uz = cos_out
            else:
                if layer == 0:
                    ends[0] += 1
                    break
                layer -= 1
                uz = -cos_out


@numba.njit(parallel=True, cache=True)
def _trace_chunks(
    states, photons, chunk_photons, cos_in, z_top, z_bottom, n_layer, mut, absorb_fraction,
    g, n_out, edges, first_bin, path, ends,
):  # pragma: no cover - compiled  # fmt: skip
    """Trace the chunks of ``photons`` in parallel, each with its own generator and tallies.

    ``states`` is (C, 4) uint64; chunk ``c`` traces photons ``[c * chunk_photons, ...)`` and
    scores into ``path[c]`` and ``ends[c]``.
    """
    for c in numba.prange(states.shape[0]):
        count = min(photons, (c + 1) * chunk_photons) - c * chunk_photons
        _trace(
            states[c], count, cos_in, z_top, z_bottom, n_layer, mut, absorb_fraction, g,
            n_out, edges, first_bin, path[c], ends[c],
        )  # fmt: skip
