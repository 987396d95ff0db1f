"""Depth kernels: fluence rate per unit surface irradiance, per channel, body site and angle.

A kernel ``K[site, angle, depth]`` is the planar fluence rate at each depth under skin lit by a
broad collimated beam at each incidence angle, per unit surface irradiance
(docs/physics.md §3.4.6), from the layered Monte Carlo (:mod:`twin.tissue.montecarlo`).

For the six Fitzpatrick skin types of the default skin model the kernels ship as a table
(``twin/tissue/data/kernels.npz``, written by ``tools/tissue_kernels.py`` and checked against
its SHA-256 on load) over 400-1000 nm, the body sites of :data:`twin.tissue.optics.SITES` and
:data:`ANGLES_DEG`; a channel's kernel is its spectrum's weighted sum of the table's
wavelengths. A custom chromophore mix or explicit layers run the same Monte Carlo when the
scene is rendered (seeded; cached by content in memory, and on disk beside the transfer
matrices when a render uses a cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin._version import __version__
from twin.devices.spectra import Spectrum
from twin.errors import InputError, TwinError
from twin.tissue.layers import Layer
from twin.tissue.montecarlo import simulate
from twin.tissue.optics import SITES, SKIN_TYPES, SkinModel

#: Incidence-angle nodes of every kernel, degrees from the normal.
ANGLES_DEG = np.array([0.0, 30.0, 50.0, 65.0, 80.0])
#: Depths at which the table holds the kernels, mm (fine near the surface).
TABLE_DEPTHS_MM = np.concatenate(
    [
        np.arange(0.0, 0.2, 0.02),
        np.arange(0.2, 1.0, 0.05),
        np.arange(1.0, 3.0, 0.1),
        np.arange(3.0, 6.0, 0.25),
        np.arange(6.0, 10.0, 0.5),
        np.arange(10.0, 20.01, 1.0),
    ]
)
#: Deepest depth a kernel is given at, mm.
MAX_DEPTH_MM = float(TABLE_DEPTHS_MM[-1])
#: Photons per (wavelength, site, angle) of a Monte Carlo run at render time, and its seed.
RENDER_PHOTONS = 40_000
SEED = 20261206

TABLE = Path(__file__).with_name("data") / "kernels.npz"


@dataclass(frozen=True)
class DepthKernels:
    """Depth kernels of every channel of a scene, at the depths it asks for.

    Attributes
    ----------
    depths : tuple of (float, float)
        The depth columns, mm: ``(z, z)`` a depth, ``(top, bottom)`` the mean over a band.
    sites : tuple of str
        Body sites (one, ``"layers"``, for explicit layers).
    incidence_deg : (a,) float64, degrees
        Angle nodes.
    fluence_rate : dict of str to (s, a, d) float64
        Per channel: fluence rate per unit surface irradiance at each site, angle and depth.
    reflectance : dict of str to (s, a) float64
        Per channel: the skin's total reflectance (specular and remitted), per unit
        irradiance.
    model : dict
        What made the kernels, for ``metrics.json``.
    """

    depths: tuple[tuple[float, float], ...]
    sites: tuple[str, ...]
    incidence_deg: NDArray[np.float64]
    fluence_rate: dict[str, NDArray[np.float64]]
    reflectance: dict[str, NDArray[np.float64]]
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def diffuse_reflectance(self) -> dict[str, NDArray[np.float64]]:
        """Per channel, (s,) float64: the reflectance under diffuse (Lambertian) light.

        The angle nodes' reflectances weighted by :func:`diffuse_weights`: what a surface
        lit by the light a mask's inside returns sends back.
        """
        w = diffuse_weights(self.incidence_deg)
        return {c: r @ w for c, r in self.reflectance.items()}

    @property
    def diffuse_fluence_rate(self) -> dict[str, NDArray[np.float64]]:
        """Per channel, (s, d) float64: fluence rate per unit diffuse irradiance."""
        w = diffuse_weights(self.incidence_deg)
        return {c: np.einsum("sad,a->sd", f, w) for c, f in self.fluence_rate.items()}


def diffuse_weights(incidence_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the share of diffuse irradiance each angle node stands for, (a,); sums to 1.

    Lambertian light brings irradiance ``sin(2 theta) d theta`` from incidence ``theta``;
    a quantity known at the nodes is taken linear between them and constant beyond them
    (so the last node, 80 degrees, stands for grazing light too).
    """
    nodes = np.asarray(incidence_deg, dtype=np.float64)
    theta = np.linspace(0.0, 90.0, 9001)
    density = np.sin(2.0 * np.radians(theta))
    basis = np.stack([np.interp(theta, nodes, row) for row in np.eye(len(nodes))])
    weights = np.trapezoid(basis * density, theta, axis=1)
    return weights / weights.sum()


@dataclass(frozen=True)
class KernelTable:
    """The shipped kernels of the default skin model (:data:`TABLE`).

    Attributes
    ----------
    wavelength_nm : (w,) float64, nm
    skin_types : tuple of str
    sites : tuple of str
    incidence_deg : (a,) float64, degrees
    depth_mm : (z,) float64, mm
    fluence_rate : (w, t, s, a, z) float32
    remitted, specular : (w, t, s, a) float32
    photons : int
        Photons per configuration.
    """

    wavelength_nm: NDArray[np.float64]
    skin_types: tuple[str, ...]
    sites: tuple[str, ...]
    incidence_deg: NDArray[np.float64]
    depth_mm: NDArray[np.float64]
    fluence_rate: NDArray[np.float32]
    remitted: NDArray[np.float32]
    specular: NDArray[np.float32]
    photons: int


@cache
def kernel_table() -> KernelTable:
    """Load the shipped table once, after checking its SHA-256.

    Raises
    ------
    TwinError
        If the table is missing or fails its checksum (a damaged install).
    """
    digest_file = TABLE.with_suffix(".sha256")
    try:
        blob = TABLE.read_bytes()
        expected = digest_file.read_text(encoding="ascii").split()[0]
    except OSError as exc:
        msg = f"{TABLE}: cannot read the depth-kernel table ({exc.strerror}); reinstall twin"
        raise TwinError(msg) from exc
    if hashlib.sha256(blob).hexdigest() != expected:
        msg = (
            f"{TABLE}: fails its SHA-256 ({digest_file.name}); reinstall twin or regenerate it "
            "with tools/tissue_kernels.py"
        )
        raise TwinError(msg)
    with np.load(TABLE) as data:
        return KernelTable(
            wavelength_nm=data["wavelength_nm"],
            skin_types=tuple(str(t) for t in data["skin_types"]),
            sites=tuple(str(s) for s in data["sites"]),
            incidence_deg=data["incidence_deg"],
            depth_mm=data["depth_mm"],
            fluence_rate=data["fluence_rate"],
            remitted=data["remitted"],
            specular=data["specular"],
            photons=int(data["photons"]),
        )


def _at_depths(
    profile: NDArray[np.floating],
    depth_mm: NDArray[np.float64],
    depths: Sequence[tuple[float, float]],
) -> NDArray[np.float64]:
    """Profiles (..., z) at ``depth_mm`` read at each depth or band -> (..., d)."""
    out = []
    for top, bottom in depths:
        z = np.linspace(top, bottom, 41) if bottom > top else np.array([top])
        values = np.stack(
            [np.interp(z, depth_mm, p) for p in profile.reshape(-1, profile.shape[-1])]
        )
        out.append(values.mean(axis=1).reshape(profile.shape[:-1]))
    return np.stack(out, axis=-1)


def table_kernels(
    skin_type: str,
    spectra: Mapping[str, Spectrum],
    depths: Sequence[tuple[float, float]],
) -> DepthKernels:
    """Kernels of a Fitzpatrick skin type from the shipped table.

    Parameters
    ----------
    skin_type : str
        ``"I"`` .. ``"VI"``.
    spectra : mapping of str to Spectrum
        Each channel's spectrum (channels without one have no kernel).
    depths : sequence of (float, float), mm
        Depths ``(z, z)`` and bands ``(top, bottom)``.

    Raises
    ------
    InputError
        If a channel's spectrum lies outside the table's wavelengths.
    """
    table = kernel_table()
    t = table.skin_types.index(skin_type)
    fluence, reflectance = {}, {}
    total = (table.remitted + table.specular).astype(np.float64)
    for channel, spectrum in spectra.items():
        _check_range(channel, spectrum, table.wavelength_nm)
        w = spectrum.weights_on(table.wavelength_nm)
        profile = np.tensordot(w, table.fluence_rate[:, t].astype(np.float64), axes=1)
        fluence[channel] = _at_depths(profile, table.depth_mm, depths)
        reflectance[channel] = np.tensordot(w, total[:, t], axes=1)
    return DepthKernels(
        depths=tuple(depths),
        sites=table.sites,
        incidence_deg=table.incidence_deg,
        fluence_rate=fluence,
        reflectance=reflectance,
        model={
            "skin": "chromophore model, calibrated to NIST in-vivo reflectance",
            "skin_type": skin_type,
            "melanin_fraction": SKIN_TYPES[skin_type],
            "kernels": "shipped table",
            "photons": table.photons,
        },
    )


def _check_range(channel: str, spectrum: Spectrum, grid_nm: NDArray[np.float64]) -> None:
    low, high = float(spectrum.wavelength_nm[0]), float(spectrum.wavelength_nm[-1])
    if low < grid_nm[0] or high > grid_nm[-1]:
        msg = (
            f"channel {channel!r}: its spectrum ({low:g}-{high:g} nm) leaves the skin model's "
            f"{grid_nm[0]:g}-{grid_nm[-1]:g} nm; give explicit tissue.layers for it"
        )
        raise InputError(msg)


@lru_cache(maxsize=512)
def _slab(
    layers: tuple[Layer, ...],
    incidence_deg: float,
    outside_n: float,
    photons: int,
    cache_dir: Path | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Monte Carlo of one stack at one angle: (depth centres mm, fluence rate, reflectance).

    Kept in memory and, with a ``cache_dir``, on disk (``<cache_dir>/tissue/<key>.npz``),
    keyed by the SHA-256 of everything that determines it; an unreadable entry is run again,
    a folder that cannot be written is skipped.
    """
    key = repr((layers, incidence_deg, outside_n, photons, SEED, __version__))
    name = f"{hashlib.sha256(key.encode()).hexdigest()}.npz"
    path = None if cache_dir is None else cache_dir / "tissue" / name
    if path is not None:
        with contextlib.suppress(OSError, ValueError, KeyError), np.load(path) as entry:
            return entry["depth_mm"], entry["fluence_rate"], float(entry["reflectance"])
    result = simulate(
        layers, incidence_deg=incidence_deg, photons=photons, seed=SEED, outside_n=outside_n
    )
    edges = result.depth_edges_mm
    out = (0.5 * (edges[:-1] + edges[1:]), result.fluence_rate, result.specular + result.remitted)
    if path is None:
        return out
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")
        np.savez(part, depth_mm=out[0], fluence_rate=out[1], reflectance=out[2])
        os.replace(part, path)
    return out


def _spectrum_points(
    spectrum: Spectrum, grid_nm: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wavelengths and weights to run a spectrum at: a line at itself, else on ``grid_nm``."""
    if spectrum.is_line:
        return np.array([spectrum.peak_nm]), np.array([1.0])
    return grid_nm, spectrum.weights_on(grid_nm)


def _stack_kernel(
    stack_at: Any,
    wavelengths_nm: NDArray[np.float64],
    weights: NDArray[np.float64],
    depths: Sequence[tuple[float, float]],
    *,
    outside_n: float,
    photons: int,
    cache_dir: Path | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Spectrum-weighted kernel (a, d) and reflectance (a,) of ``stack_at(wavelength)``."""
    fluence = np.zeros((len(ANGLES_DEG), len(depths)))
    reflectance = np.zeros(len(ANGLES_DEG))
    for wl, weight in zip(wavelengths_nm, weights, strict=True):
        if weight <= 0:
            continue
        layers = stack_at(float(wl))
        for a, angle in enumerate(ANGLES_DEG):
            z, phi, rd = _slab(layers, float(angle), outside_n, photons, cache_dir)
            fluence[a] += weight * _at_depths(phi, z, depths)
            reflectance[a] += weight * rd
    return fluence, reflectance


def model_kernels(
    model: SkinModel,
    spectra: Mapping[str, Spectrum],
    depths: Sequence[tuple[float, float]],
    *,
    sites: Sequence[str],
    outside_n: float = 1.0,
    photons: int = RENDER_PHOTONS,
    cache_dir: Path | None = None,
) -> DepthKernels:
    """Kernels of a custom chromophore mix, by Monte Carlo now.

    A line spectrum runs at its wavelength, any other on the table's wavelengths.

    Parameters
    ----------
    model : SkinModel
    spectra : mapping of str to Spectrum
    depths : sequence of (float, float), mm
    sites : sequence of str
        The body sites to compute (those the scene's skin has).
    outside_n : float
        Refractive index above the skin.
    photons : int
        Per wavelength, site and angle.
    cache_dir : Path, optional
        Also keep each run on disk here (see :func:`_slab`).
    """
    grid = kernel_table().wavelength_nm
    fluence, reflectance = {}, {}
    for channel, spectrum in spectra.items():
        _check_range(channel, spectrum, grid)
        wavelengths, weights = _spectrum_points(spectrum, grid)
        per_site = [
            _stack_kernel(
                lambda wl, s=SITES[site]: model.layers(wl, s),
                wavelengths,
                weights,
                depths,
                outside_n=outside_n,
                photons=photons,
                cache_dir=cache_dir,
            )
            for site in sites
        ]
        fluence[channel] = np.stack([f for f, _ in per_site])
        reflectance[channel] = np.stack([r for _, r in per_site])
    return DepthKernels(
        depths=tuple(depths),
        sites=tuple(sites),
        incidence_deg=ANGLES_DEG,
        fluence_rate=fluence,
        reflectance=reflectance,
        model={
            "skin": "chromophore model, custom",
            "melanin_fraction": model.melanin_fraction,
            "blood_fraction": model.blood_fraction,
            "kernels": "Monte Carlo at render time",
            "photons": photons,
        },
    )


def layer_kernels(
    layers: Mapping[str, tuple[Layer, ...]],
    depths: Sequence[tuple[float, float]],
    *,
    outside_n: float = 1.0,
    photons: int = RENDER_PHOTONS,
    cache_dir: Path | None = None,
) -> DepthKernels:
    """Kernels of explicit layers (one stack per channel), by Monte Carlo now.

    Parameters
    ----------
    layers : mapping of str to tuple of Layer
        Each channel's stack, top first.
    depths : sequence of (float, float), mm
    outside_n : float
    photons : int
        Per angle.
    cache_dir : Path, optional
        Also keep each run on disk here (see :func:`_slab`).
    """
    fluence, reflectance = {}, {}
    for channel, stack in layers.items():
        f, r = _stack_kernel(
            lambda _wl, s=stack: s,
            np.array([0.0]),
            np.array([1.0]),
            depths,
            outside_n=outside_n,
            photons=photons,
            cache_dir=cache_dir,
        )
        fluence[channel], reflectance[channel] = f[None], r[None]
    return DepthKernels(
        depths=tuple(depths),
        sites=("layers",),
        incidence_deg=ANGLES_DEG,
        fluence_rate=fluence,
        reflectance=reflectance,
        model={
            "skin": "explicit layers",
            "kernels": "Monte Carlo at render time",
            "photons": photons,
        },
    )
