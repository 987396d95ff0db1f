"""Dose metrics over a region of interest, area-weighted (design.md "Metrics").

For each channel and for all channels together: mean, min, max, p5 and p95 of irradiance and
fluence; uniformity U0 = Emin / Emean and Emin / Emax; coefficient of variation; the fraction
of area inside the therapeutic window; hot-spot area above the irradiance limit. Then the eye
region against the IEC 62471 IR-eye and blue-light limits (:mod:`twin.dose.hazards`), and the
emitters' gap and incidence.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin.dose.blocks import (
    Coverage,
    EmitterFit,
    EyeSafety,
    Histogram,
    MapMetrics,
    MeanMax,
    Peak,
    PerEmitter,
    RegionMetrics,
    Summary,
)
from twin.dose.hazards import blue_light_max_exposure_s, blue_light_weight, counts_as_ir
from twin.dose.maps import DoseMaps, DoseSettings
from twin.units import MM2_PER_CM2, fluence_per_irradiance


def weighted_percentile(
    values: NDArray[np.float64], weights: NDArray[np.float64], q: float
) -> float:
    """Return the value below which a fraction ``q`` (0..1) of the total weight lies.

    The weight of each value is centred on it (midpoint rule), so with equal weights this is
    numpy's ``percentile`` with the 'hazen' method.

    Parameters
    ----------
    values : (k,) float64
    weights : (k,) float64
        Non-negative, not all zero (areas, for an area-weighted percentile).
    q : float
        Fraction of the total weight, 0..1.

    Returns
    -------
    float
        In the unit of ``values``.
    """
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    centre = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, centre, v))


def summary(values: NDArray[np.float64], areas: NDArray[np.float64]) -> Summary:
    """Return the area-weighted mean, min, max, p5, p95 and standard deviation of ``values``.

    Parameters
    ----------
    values : (k,) float64
        A map (any unit), at least one value.
    areas : (k,) float64, mm^2
        The area each value stands for (any common unit: only ratios matter).

    Returns
    -------
    Summary
        In the unit of ``values``.
    """
    mean = float(np.average(values, weights=areas))
    std = float(np.sqrt(np.average((values - mean) ** 2, weights=areas)))
    return Summary(
        mean=mean,
        min=float(values.min()),
        max=float(values.max()),
        p5=weighted_percentile(values, areas, 0.05),
        p95=weighted_percentile(values, areas, 0.95),
        std=std,
    )


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def map_metrics(
    irradiance_mw_cm2: NDArray[np.float64],
    areas_mm2: NDArray[np.float64],
    *,
    exposure_s: float,
    dose: DoseSettings,
) -> MapMetrics:
    """Metrics of one irradiance map over the samples given (already restricted to a region).

    Parameters
    ----------
    irradiance_mw_cm2 : (k,) float64, mW/cm^2
    areas_mm2 : (k,) float64, mm^2
    exposure_s : float, s
    dose : DoseSettings
        The fluence window and the irradiance limit.

    Returns
    -------
    MapMetrics
    """
    fluence = irradiance_mw_cm2 * fluence_per_irradiance(exposure_s)
    e = summary(irradiance_mw_cm2, areas_mm2)
    lo, hi = dose.fluence_window_j_cm2
    in_window = (
        (fluence >= lo) & (fluence <= hi) & (irradiance_mw_cm2 <= dose.irradiance_limit_mw_cm2)
    )
    hot = irradiance_mw_cm2 > dose.irradiance_limit_mw_cm2
    return MapMetrics(
        irradiance_mw_cm2=e,
        fluence_j_cm2=summary(fluence, areas_mm2),
        u0_min_over_mean=_ratio(e.min, e.mean),
        min_over_max=_ratio(e.min, e.max),
        cv=_ratio(e.std, e.mean),
        in_window_area_fraction=float(areas_mm2[in_window].sum() / areas_mm2.sum()),
        hot_spot_area_cm2=float(areas_mm2[hot].sum() / MM2_PER_CM2),
    )


def region_metrics(
    dose_maps: DoseMaps,
    mask: NDArray[np.bool_],
    areas_mm2: NDArray[np.float64],
    dose: DoseSettings,
) -> RegionMetrics:
    """Return the metrics of the samples in ``mask``: all channels together and each channel.

    Parameters
    ----------
    dose_maps : DoseMaps
    mask : (k,) bool
        The region.
    areas_mm2 : (k,) float64, mm^2
    dose : DoseSettings

    Returns
    -------
    RegionMetrics
    """
    a = areas_mm2[mask]
    channels = {}
    for channel, e in dose_maps.irradiance_mw_cm2.items():
        entry = map_metrics(e[mask], a, exposure_s=dose_maps.exposure_s, dose=dose)
        if channel in dose_maps.wavelength_nm:
            flux = dose_maps.photon_flux_per_s_cm2(channel)[mask]
            entry = dataclasses.replace(
                entry,
                wavelength_nm=dose_maps.wavelength_nm[channel],
                photon_flux_per_s_cm2=MeanMax(
                    mean=float(np.average(flux, weights=a)), max=float(flux.max())
                ),
            )
        channels[channel] = entry
    total = map_metrics(
        dose_maps.total_irradiance_mw_cm2[mask], a, exposure_s=dose_maps.exposure_s, dose=dose
    )
    return RegionMetrics(area_cm2=float(a.sum() / MM2_PER_CM2), total=total, channels=channels)


def eye_safety(
    dose_maps: DoseMaps,
    areas_mm2: NDArray[np.float64],
    dose: DoseSettings,
    *,
    facing: DoseMaps | None = None,
    region: str = "eyes",
) -> EyeSafety:
    """Judge the eye region against the IEC 62471 IR-eye and blue-light limits.

    Limits: :mod:`twin.dose.hazards`.

    ``dose_maps`` hold the eye region's points only, with their ``areas_mm2``: the skin's
    irradiance, which the limits are judged on. ``facing`` are the same points as a detector
    facing each LED sees them (:func:`twin.dose.hazards.facing_rows`), reported beside them.
    Channels with no wavelength count as IR and as fully blue-weighted, and are listed.

    Parameters
    ----------
    dose_maps : DoseMaps
        The eye region's ``e`` points.
    areas_mm2 : (e,) float64, mm^2
    dose : DoseSettings
    facing : DoseMaps, optional
        The same ``e`` points seen by a detector facing each LED.
    region : str, default: "eyes"
        The region's name, for the block.

    Returns
    -------
    EyeSafety
    """
    unknown = [c for c in dose_maps.channels if c not in dose_maps.wavelength_nm]
    ir = [c for c in dose_maps.channels if counts_as_ir(dose_maps.wavelength_nm.get(c))]
    e_ir = _ir_irradiance(dose_maps, ir)
    e_blue = np.zeros(len(areas_mm2))
    for c, e in dose_maps.irradiance_mw_cm2.items():
        e_blue += blue_light_weight(dose_maps.wavelength_nm.get(c)) * e
    peak_ir, peak_blue = float(e_ir.max()), float(e_blue.max())
    blue_time_s = blue_light_max_exposure_s(peak_blue)
    seen = None
    if facing is not None:
        e_facing = _ir_irradiance(facing, ir)
        seen = MeanMax(
            mean=float(np.average(e_facing, weights=areas_mm2)), max=float(e_facing.max())
        )
    return EyeSafety(
        region=region,
        ir_channels=ir,
        unknown_wavelength_channels=unknown,
        ir_irradiance_mw_cm2=MeanMax(mean=float(np.average(e_ir, weights=areas_mm2)), max=peak_ir),
        ir_limit_mw_cm2=dose.eye_ir_limit_mw_cm2,
        ir_within_limit=peak_ir <= dose.eye_ir_limit_mw_cm2,
        blue_weighted_irradiance_mw_cm2=MeanMax(
            mean=float(np.average(e_blue, weights=areas_mm2)), max=peak_blue
        ),
        blue_light_max_exposure_s=blue_time_s,
        blue_light_within_limit=blue_time_s is None or dose_maps.exposure_s <= blue_time_s,
        total_irradiance_mw_cm2=Peak(max=float(dose_maps.total_irradiance_mw_cm2.max())),
        ir_irradiance_facing_mw_cm2=seen,
    )


def _ir_irradiance(dose_maps: DoseMaps, ir: list[str]) -> NDArray[np.float64]:
    """(k,) mW/cm^2: the sum of the ``ir`` channels' maps."""
    e = np.zeros(len(next(iter(dose_maps.irradiance_mw_cm2.values()))))
    for c in ir:
        e += dose_maps.irradiance_mw_cm2[c]
    return e


def dose_metrics(
    dose_maps: DoseMaps,
    areas_mm2: NDArray[np.float64],
    *,
    roi: NDArray[np.bool_],
    regions: dict[str, NDArray[np.bool_]],
    dose: DoseSettings,
) -> tuple[RegionMetrics, dict[str, RegionMetrics]]:
    """All dose metrics: over the region of interest and per region.

    Parameters
    ----------
    dose_maps : DoseMaps
    areas_mm2 : (k,) float64, mm^2
    roi : (k,) bool
        The treated skin.
    regions : dict of str to (k,) bool
    dose : DoseSettings

    Returns
    -------
    roi : RegionMetrics
    regions : dict of str to RegionMetrics
        Each region that has samples.
    """
    return region_metrics(dose_maps, roi, areas_mm2, dose), {
        name: region_metrics(dose_maps, mask, areas_mm2, dose)
        for name, mask in regions.items()
        if mask.any()
    }


#: An emitter closer than this to the skin (and not behind it) is touching it, mm.
TOUCH_MM = 0.5
#: An emitter reaches a skin point where it gives at least this fraction of its own peak.
REACH_FRACTION = 0.1


def _values(values: NDArray[np.float64]) -> list[float | None]:
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in values]


def _histogram(values: NDArray[np.float64], edges: NDArray[np.float64]) -> Histogram:
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    return Histogram(edges=_values(edges), counts=counts.tolist())


def emitter_fit(
    *,
    ids: NDArray[np.str_],
    gap_mm: NDArray[np.float64],
    incidence_deg: NDArray[np.float64],
    clearance_mm: NDArray[np.float64],
    carrier: str | None,
) -> EmitterFit:
    """How the emitters sit on the skin.

    Parameters
    ----------
    ids : (n,) str
    gap_mm : (n,) float64, mm
        Distance along each emitter's axis to the skin; ``inf`` where the axis misses it.
    incidence_deg : (n,) float64, degrees
        Angle between the axis and the skin normal where it lands (``nan`` on a miss).
    clearance_mm : (n,) float64, mm
        Signed distance from each emitter to the nearest skin point: negative inside the skin.
    carrier : str or None
        The carrier kind of a generated layout.

    Returns
    -------
    EmitterFit
        Summaries and histograms of the axial gap, the clearance and the incidence angle;
        counts of emitters inside the skin and touching it (closer than ``TOUCH_MM``); and
        every emitter's values, in emitter order (``per_emitter``).
    """
    hit = np.isfinite(gap_mm)
    landed: dict[str, Any] = {}
    if hit.any():
        ones = np.ones(int(hit.sum()))
        top = max(float(np.ceil(gap_mm[hit].max())), 1.0)
        landed = {
            "gap_mm": summary(gap_mm[hit], ones),
            "incidence_deg": summary(incidence_deg[hit], ones),
            "gap_histogram_mm": _histogram(gap_mm, np.linspace(0.0, top, 21)),
            "incidence_histogram_deg": _histogram(incidence_deg, np.arange(0.0, 91.0, 5.0)),
        }
    return EmitterFit(
        count=len(gap_mm),
        carrier=carrier,
        axis_misses_skin=int((~hit).sum()),
        inside_skin=int((clearance_mm < 0).sum()),
        touching_skin=int(((clearance_mm >= 0) & (clearance_mm < TOUCH_MM)).sum()),
        clearance_mm=summary(clearance_mm, np.ones(len(clearance_mm))),
        per_emitter=PerEmitter(
            id=[str(i) for i in ids],
            gap_mm=_values(gap_mm),
            clearance_mm=_values(clearance_mm),
            incidence_deg=_values(incidence_deg),
        ),
        **landed,
    )


def coverage(
    matrix: scipy.sparse.sparray,
    areas_mm2: NDArray[np.float64],
    roi: NDArray[np.bool_],
    *,
    k_max: int = 4,
) -> Coverage:
    """Return the fraction of the treated area within reach of at least k emitters, k = 1..k_max.

    An emitter reaches a point where it delivers at least ``REACH_FRACTION`` of the
    irradiance it delivers at its brightest point (its footprint).

    Parameters
    ----------
    matrix : (k, n) scipy sparse array of float64, (mW/cm^2) per mW
        The transfer matrix.
    areas_mm2 : (k,) float64, mm^2
    roi : (k,) bool
        The treated points.
    k_max : int, default: 4

    Returns
    -------
    Coverage
        ``at_least[k - 1]``: the fraction for k emitters (0 without treated area).
    """
    csc = scipy.sparse.csc_array(matrix)
    counts = np.diff(csc.indptr)
    column = np.repeat(np.arange(csc.shape[1]), counts)
    peak = np.zeros(csc.shape[1])
    np.maximum.at(peak, column, csc.data)
    reaches = csc.data >= REACH_FRACTION * peak[column]
    reached = np.bincount(csc.indices[reaches], minlength=csc.shape[0])
    total = float(areas_mm2[roi].sum())
    return Coverage(
        at_least=tuple(
            float(areas_mm2[roi & (reached >= k)].sum() / total) if total else 0.0
            for k in range(1, k_max + 1)
        )
    )
