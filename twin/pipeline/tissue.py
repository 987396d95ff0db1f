"""Light in tissue for a render: the scene's kernels, each point's body site, the maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.dose.maps import emitter_power_mw
from twin.engine.transfer import TransferMatrix
from twin.geometry.surface import SamplePoints
from twin.scene import Scene
from twin.tissue.depth import TissueMaps, tissue_maps
from twin.tissue.kernels import DepthKernels, layer_kernels, model_kernels, table_kernels
from twin.tissue.optics import ANATOMY_SITES, DEFAULT_SITE, REGION_SITES, SKIN_TYPES
from twin.tissue.settings import TissueSettings


def depth_columns(tissue: TissueSettings) -> tuple[tuple[float, float], ...]:
    """Return the kernels' columns: each of ``depths_mm``, then each target's band, in order."""
    return (
        *((z, z) for z in tissue.depths_mm),
        *(t.depth_mm for t in tissue.targets.values()),
    )


def sample_sites(scene: Scene, samples: SamplePoints) -> NDArray[np.str_]:
    """(k,) str: the body site of every sample (:mod:`twin.tissue.optics` ``SITES``).

    A region of a built-in anatomy has its own site (eyelids, forehead); other skin is the
    scene's ``tissue.site``, else the anatomy's, else ``face``.
    """
    tissue = scene.tissue
    own = (tissue.site if tissue else None) or ANATOMY_SITES.get(scene.anatomy or "", DEFAULT_SITE)
    sites = np.full(len(samples), own, dtype=object)
    for region, mask in samples.regions.items():
        if region in REGION_SITES:
            sites[mask] = REGION_SITES[region]
    return sites.astype(str)


def scene_kernels(
    tissue: TissueSettings,
    emitters: Emitters,
    sites: list[str],
    *,
    cache_dir: Path | None = None,
) -> DepthKernels:
    """Return the depth kernels of every channel with a spectrum, for the scene's skin.

    A Fitzpatrick type under air reads the shipped table; a custom mix, another
    ``outside_n`` or explicit layers run the Monte Carlo now, for the ``sites`` given (kept
    in ``cache_dir`` too, when given).
    """
    columns = depth_columns(tissue)
    if tissue.model is None:  # explicit layers
        return layer_kernels(
            tissue.layers or {}, columns, outside_n=tissue.outside_n, cache_dir=cache_dir
        )
    if tissue.skin in SKIN_TYPES and tissue.outside_n == 1.0:
        return table_kernels(tissue.skin, emitters.spectra, columns)
    return model_kernels(
        tissue.model,
        emitters.spectra,
        columns,
        sites=sites,
        outside_n=tissue.outside_n,
        cache_dir=cache_dir,
    )


@dataclass(frozen=True)
class SceneKernels:
    """A render's depth kernels and the body site of each of its skin points.

    Attributes
    ----------
    kernels : DepthKernels
    site_index : (k,) int64
        Each sample's site, an index into ``kernels.sites``.
    """

    kernels: DepthKernels
    site_index: NDArray[np.int64]


def render_kernels(
    scene: Scene, samples: SamplePoints, *, cache_dir: Path | None = None
) -> SceneKernels | None:
    """Return the scene's depth kernels at its skin points (``None``: no ``tissue:`` section).

    Parameters
    ----------
    scene : Scene
    samples : SamplePoints
        The ``k`` skin points of the render.
    cache_dir : Path, optional
        Where Monte Carlo run at render time is kept on disk (a transfer cache's folder).
    """
    tissue = scene.tissue
    if tissue is None:
        return None
    used, inverse = np.unique(sample_sites(scene, samples), return_inverse=True)
    kernels = scene_kernels(tissue, scene.emitters, used.tolist(), cache_dir=cache_dir)
    layers = kernels.sites == ("layers",)
    index = np.array([0 if layers else kernels.sites.index(s) for s in used])[inverse]
    return SceneKernels(kernels, index.astype(np.int64))


def render_tissue(
    scene: Scene,
    samples: SamplePoints,
    transfer: TransferMatrix,
    kernels: SceneKernels | None,
) -> TissueMaps | None:
    """Return the fluence rate at depth under every sample at the scene's drive, or None.

    Parameters
    ----------
    scene : Scene
    samples : SamplePoints
        The ``k`` skin points of ``transfer``.
    transfer : TransferMatrix
        With the light skin and device return, when solved.
    kernels : SceneKernels or None
        From :func:`render_kernels` (``None``: no ``tissue:`` section, no maps).
    """
    tissue = scene.tissue
    if tissue is None or kernels is None:
        return None
    return tissue_maps(
        transfer,
        samples,
        scene.emitters,
        kernels=kernels.kernels,
        site_index=kernels.site_index,
        power_mw=emitter_power_mw(scene.emitters, scene.drive),
        exposure_s=scene.exposure_s,
        lateral_spread_mm=tissue.lateral_spread_mm,
    )
