"""Metrics of the dose at depth (``metrics.json`` ``tissue``), per region, channel and depth."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from twin.dose.blocks import DepthDose, DepthRegion, TargetDose, TissueMetrics
from twin.dose.maps import DoseSettings
from twin.dose.metrics import weighted_percentile, weighted_percentiles
from twin.tissue.depth import TissueMaps
from twin.tissue.settings import ROI, TissueSettings
from twin.units import fluence_j_cm2


def depth_dose(
    fluence_rate_mw_cm2: NDArray[np.float64],
    areas_mm2: NDArray[np.float64],
    *,
    exposure_s: float,
    window_j_cm2: tuple[float, float],
) -> DepthDose:
    """Statistics at each depth of a (k, d) fluence-rate map over the points given.

    Parameters
    ----------
    fluence_rate_mw_cm2 : (k, d) float64, mW/cm^2
    areas_mm2 : (k,) float64, mm^2
    exposure_s : float, s
    window_j_cm2 : (float, float), J/cm^2
    """
    phi = fluence_rate_mw_cm2
    fluence = fluence_j_cm2(phi, exposure_s)
    lo, hi = window_j_cm2
    inside = (fluence >= lo) & (fluence <= hi)
    share = areas_mm2 / areas_mm2.sum()
    return DepthDose(
        fluence_rate_mean_mw_cm2=(share @ phi).tolist(),
        fluence_rate_p5_mw_cm2=weighted_percentiles(phi, areas_mm2, 0.05)
        if phi.any()
        else [0.0] * phi.shape[1],  # a channel that is off
        fluence_rate_min_mw_cm2=phi.min(axis=0).tolist(),
        fluence_mean_j_cm2=(share @ fluence).tolist(),
        in_window_area_fraction=(share @ inside).tolist(),
    )


def _region(
    maps: TissueMaps,
    mask: NDArray[np.bool_],
    areas_mm2: NDArray[np.float64],
    *,
    depths: int,
    window_j_cm2: tuple[float, float],
) -> DepthRegion:
    a = areas_mm2[mask]

    def stats(phi: NDArray[np.float64]) -> DepthDose:
        return depth_dose(
            phi[mask, :depths], a, exposure_s=maps.exposure_s, window_j_cm2=window_j_cm2
        )

    return DepthRegion(
        total=stats(maps.total_fluence_rate_mw_cm2),
        channels={c: stats(phi) for c, phi in maps.fluence_rate_mw_cm2.items()},
    )


def _target(
    maps: TissueMaps,
    mask: NDArray[np.bool_],
    areas_mm2: NDArray[np.float64],
    *,
    column: int,
    band_mm: tuple[float, float],
    window_j_cm2: tuple[float, float],
) -> TargetDose:
    a = areas_mm2[mask]
    share = a / a.sum()
    phi = maps.total_fluence_rate_mw_cm2[mask, column]
    fluence = fluence_j_cm2(phi, maps.exposure_s)
    lo, hi = window_j_cm2
    return TargetDose(
        depth_mm=band_mm,
        fluence_window_j_cm2=window_j_cm2,
        fluence_rate_mean_mw_cm2=float(share @ phi),
        fluence_mean_j_cm2=float(share @ fluence),
        fluence_p5_j_cm2=weighted_percentile(fluence, a, 0.05),
        fluence_min_j_cm2=float(fluence.min()),
        in_window_area_fraction=float(share @ ((fluence >= lo) & (fluence <= hi))),
        channels={
            c: float(share @ fluence_j_cm2(p[mask, column], maps.exposure_s))
            for c, p in maps.fluence_rate_mw_cm2.items()
        },
    )


def tissue_metrics(
    maps: TissueMaps,
    tissue: TissueSettings,
    areas_mm2: NDArray[np.float64],
    *,
    roi: NDArray[np.bool_],
    regions: dict[str, NDArray[np.bool_]],
    dose: DoseSettings,
) -> TissueMetrics:
    """Return the ``tissue`` block: dose at each depth over the treated skin and each region.

    Parameters
    ----------
    maps : TissueMaps
        Columns: ``tissue.depths_mm``, then each of ``tissue.targets``' bands.
    tissue : TissueSettings
    areas_mm2 : (k,) float64, mm^2
    roi : (k,) bool
        The treated skin.
    regions : dict of str to (k,) bool
    dose : DoseSettings
        Its fluence window judges every depth and every target without its own.

    Returns
    -------
    TissueMetrics
    """
    depths = len(tissue.depths_mm)
    window = dose.fluence_window_j_cm2
    masks = {ROI: roi, **regions}
    targets = {}
    for i, (name, target) in enumerate(tissue.targets.items()):
        if masks[name].any():
            targets[name] = _target(
                maps,
                masks[name],
                areas_mm2,
                column=depths + i,
                band_mm=target.depth_mm,
                window_j_cm2=target.fluence_window_j_cm2 or window,
            )
    kernels = maps.kernels
    share = areas_mm2[roi] / areas_mm2[roi].sum()
    site = maps.site_index[roi]
    return TissueMetrics(
        depths_mm=list(tissue.depths_mm),
        skin_type=tissue.skin,
        model={**kernels.model, "lateral_spread_mm": dict(tissue.lateral_spread_mm)},
        reflectance={c: float(share @ r[site, 0]) for c, r in kernels.reflectance.items()},
        roi=_region(maps, roi, areas_mm2, depths=depths, window_j_cm2=window),
        regions={
            name: _region(maps, mask, areas_mm2, depths=depths, window_j_cm2=window)
            for name, mask in regions.items()
            if mask.any()
        },
        targets=targets,
    )
