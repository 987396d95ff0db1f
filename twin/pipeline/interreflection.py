"""Inter-reflection for a render: the scene's reflecting surfaces, their materials, the solve.

The surfaces are the skin, the emitters' carrier as worn (:attr:`twin.scene.Scene.carrier`,
its inside towards the skin) and every occluder. Each reflects
per channel what :mod:`twin.devices.materials` says; the skin's ``skin`` is the skin model's
diffuse reflectance at each point's body site when the scene has a ``tissue:`` section, else
the NIST in-vivo mean. Direct light on the carrier and the occluders is cast by the render's
engine over all of them, to a few points of each of their patches and from point emitters
(that light reaches the skin only after a bounce, spread over patches; an extended LED's
aperture changes what a surface beside it gets very little); the returned light is solved
by :mod:`twin.engine.interreflection`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin.devices.materials import SKIN, Reflectance
from twin.devices.spectra import Spectrum, line
from twin.dose.hazards import skin_reflectance
from twin.engine.backends import Backend, make_backend
from twin.engine.cache import TransferCache, indirect_key
from twin.engine.interreflection import (
    IndirectTransfer,
    Reflector,
    indirect_transfer,
    spread_samples,
)
from twin.engine.radiosity import patches_of
from twin.engine.transfer import TransferMatrix, transfer_matrix
from twin.geometry.surface import SamplePoints, Surface
from twin.pipeline.tissue import SceneKernels
from twin.raycast import self_tolerance_mm
from twin.scene import Scene

#: Points of each carrier or occluder patch its direct light is cast to.
SAMPLES_PER_PATCH = 1
#: The carrier's and occluders' patches may be up to this many times the skin's, as large as
#: their median gap to the skin: the light they return reaches the skin spread over the gap.
#: Across a gap narrower than the patches, facing patches keep one size (uneven sizes there
#: scatter the near-field factors by a few %).
DEVICE_PATCH_SCALE = 1.5


def channel_spectrum(scene: Scene, channel: str) -> Spectrum | None:
    """Return a channel's spectrum: given, else a line at its wavelength (``None``: none)."""
    emitters = scene.emitters
    if channel in emitters.spectra:
        return emitters.spectra[channel]
    wavelength = emitters.wavelength_nm.get(channel)
    return None if wavelength is None else line(wavelength)


def skin_reflectance_at(
    scene: Scene, samples: SamplePoints, kernels: SceneKernels | None
) -> dict[str, float | NDArray[np.float64]]:
    """Per channel, the skin's diffuse reflectance: one value, or one per sample point.

    ``skin``: the skin model's reflectance under diffuse light at each point's body site
    (:attr:`twin.tissue.kernels.DepthKernels.diffuse_reflectance`) where the scene's
    kernels cover the channel, else the NIST mean over the channel's spectrum; a material
    or numbers: their value.
    """
    material = scene.materials.target
    diffuse = {} if kernels is None else kernels.kernels.diffuse_reflectance
    out: dict[str, float | NDArray[np.float64]] = {}
    for channel in scene.emitters.channels:
        spectrum = channel_spectrum(scene, channel)
        if material.material != SKIN:
            out[channel] = material.of(channel, spectrum)
        elif kernels is not None and channel in diffuse:
            out[channel] = diffuse[channel][kernels.site_index]
        else:
            out[channel] = skin_reflectance(spectrum)
    return out


def _values(scene: Scene, reflectance: Reflectance) -> dict[str, float]:
    return {c: reflectance.of(c, channel_spectrum(scene, c)) for c in scene.emitters.channels}


def render_interreflection(
    scene: Scene,
    samples: SamplePoints,
    transfer: TransferMatrix,
    kernels: SceneKernels | None,
    *,
    workers: int | None = None,
    cache: TransferCache | None = None,
    transfer_key: str | None = None,
) -> IndirectTransfer | None:
    """Solve the light the scene's surfaces return to the skin (``None``: not asked for).

    Parameters
    ----------
    scene : Scene
    samples : SamplePoints
        The ``k`` skin points of ``transfer``.
    transfer : TransferMatrix
        The direct light on them.
    kernels : SceneKernels or None
        The scene's depth kernels (:func:`twin.pipeline.tissue.render_kernels`), for the
        skin model's reflectance.
    workers : int, optional
        Threads for ray casting.
    cache : TransferCache, optional
        Where to keep the result, keyed by ``transfer_key`` (the direct matrix's, from
        :func:`twin.engine.cache.transfer_key`) and everything else it depends on.
    transfer_key : str, optional
        Required with ``cache``.

    Returns
    -------
    IndirectTransfer or None
        ``None`` when ``engine.interreflection`` is off, or (by default) when no surface
        reflects any channel (skin under channels without a wavelength, black-body
        numbers).
    """
    if not scene.interreflection:
        return None
    materials = scene.materials
    others: list[tuple[Surface, dict[str, float]]] = []
    if scene.carrier is not None and materials.interior is not None:
        others.append((scene.carrier, _values(scene, materials.interior)))
    for index, occluder in enumerate(scene.occluders):
        others.append((occluder, _values(scene, materials.occluder(index))))
    skin = skin_reflectance_at(scene, samples, kernels)
    reflecting = [*skin.values(), *(v for _, r in others for v in r.values())]
    if scene.engine.interreflection is None and not any(np.any(v) for v in reflecting):
        return None
    surfaces = [scene.target, *(s for s, _ in others)]
    triangles = np.concatenate([s.triangles_mm for s in surfaces])
    end_tolerance_mm = self_tolerance_mm(triangles)
    engine = scene.engine
    skin_tree = cKDTree(scene.target.vertices_mm)
    sizes = [engine.patch_mm]
    for surface, _ in others:
        gap_mm = float(np.median(skin_tree.query(surface.vertices_mm)[0]))
        sizes.append(
            engine.patch_mm * float(np.clip(gap_mm / engine.patch_mm, 1.0, DEVICE_PATCH_SCALE))
        )

    def build() -> IndirectTransfer:
        backend = make_backend(transfer.backend, triangles, workers=workers)
        return _solve(
            scene, samples, transfer, others, skin, sizes, backend, end_tolerance_mm, workers
        )

    if cache is None or transfer_key is None:
        return build()
    key = indirect_key(
        transfer_key,
        surfaces,
        [skin, *(values for _, values in others)],
        sizes_mm=sizes,
        settings={
            "end_tolerance_mm": end_tolerance_mm,
            "intensity_cutoff": engine.intensity_cutoff,
            "max_distance_mm": engine.max_distance_mm,
            "samples": scene.samples,
        },
    )
    return cache.get_or_build_indirect(key, build, surfaces=surfaces)


def _solve(
    scene: Scene,
    samples: SamplePoints,
    transfer: TransferMatrix,
    others: list[tuple[Surface, dict[str, float]]],
    skin: dict[str, float | NDArray[np.float64]],
    sizes: list[float],
    backend: Backend,
    end_tolerance_mm: float,
    workers: int | None,
) -> IndirectTransfer:
    """Patch the surfaces, cast the direct light on the others, solve (see the caller)."""
    engine = scene.engine
    surfaces = [scene.target, *(s for s, _ in others)]
    patches = patches_of(surfaces, size_mm=sizes)
    on_vertices = scene.samples == "vertices"
    reflectors = [
        Reflector(
            samples,
            transfer.matrix,
            skin,
            patch=patches.sample_patch[: len(samples)] if on_vertices else None,
        )
    ]
    first = len(scene.target.vertices_mm)
    for index, (surface, values) in enumerate(others, start=1):
        # The carrier's and occluders' light reaches the skin only after a bounce, spread
        # over patches: a few points per patch and point emitters (an extended LED's
        # aperture changes little of what a surface beside it gets) tell it.
        keep = spread_samples(patches, index, per_patch=SAMPLES_PER_PATCH)
        every = surface.samples()
        points = SamplePoints(
            every.positions_mm[keep], every.normals[keep], every.areas_mm2[keep], {}
        )
        direct = transfer_matrix(
            points,
            scene.emitters,
            backend,
            end_tolerance_mm=end_tolerance_mm,
            intensity_cutoff=engine.intensity_cutoff,
            max_distance_mm=engine.max_distance_mm,
        ).matrix
        label = patches.sample_patch[first + keep]
        reflectors.append(Reflector(points, scipy.sparse.csc_array(direct), values, label))
        first += len(surface.vertices_mm)
    return indirect_transfer(
        reflectors,
        patches,
        scene.emitters.channel,
        backend.tracer,
        end_tolerance_mm=end_tolerance_mm,
        max_distance_mm=engine.max_distance_mm,
        workers=workers,
    )
