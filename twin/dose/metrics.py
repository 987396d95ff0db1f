"""Dose metrics over a region of interest, area-weighted (docs/physics.md §2.4).

For each channel and for all channels together: mean, min, max, p5 and p95 of irradiance and
fluence; uniformity U0 = Emin / Emean and Emin / Emax; coefficient of variation; the fraction
of area inside the therapeutic window; hot-spot area above the irradiance limit. Then the eye
region against the IEC 62471 IR-eye and blue-light limits (:mod:`twin.dose.hazards`), the
absorbed power density against the heating guard, and the emitters' gap and incidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin.devices.spectra import Spectrum
from twin.dose.blocks import (
    Absorbed,
    BlueLight,
    Coverage,
    EmitterFit,
    EyeReading,
    EyeSafety,
    Heating,
    Histogram,
    MapMetrics,
    MeanMax,
    Peak,
    PerEmitter,
    RegionMetrics,
    Summary,
)
from twin.dose.hazards import (
    BLUE_METHODS,
    blue_light_max_exposure_s,
    blue_light_weight,
    blue_per_emitter,
    counts_as_ir,
    led_blue_radiance_w_m2_sr,
    risk_group,
    skin_reflectance,
)
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
    return weighted_percentiles(values[:, None], weights, q)[0]


def weighted_percentiles(
    values: NDArray[np.float64], weights: NDArray[np.float64], q: float
) -> list[float]:
    """Return :func:`weighted_percentile` of every column of (k, d) ``values``, one sort.

    Parameters
    ----------
    values : (k, d) float64
    weights : (k,) float64
    q : float

    Returns
    -------
    list of d float
    """
    columns = np.ascontiguousarray(values.T)  # (d, k): each sort runs over contiguous data
    order = np.argsort(columns, axis=1, kind="stable")
    v = np.take_along_axis(columns, order, axis=1)
    w = weights[order]
    centre = (np.cumsum(w, axis=1) - 0.5 * w) / w.sum(axis=1, keepdims=True)
    return [float(np.interp(q, c, x)) for c, x in zip(centre, v, strict=True)]


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
        channels[channel] = _with_direct(
            entry, dose_maps.direct_irradiance_mw_cm2.get(channel), mask, a
        )
    total = map_metrics(
        dose_maps.total_irradiance_mw_cm2[mask], a, exposure_s=dose_maps.exposure_s, dose=dose
    )
    if dose_maps.direct_irradiance_mw_cm2:
        direct = np.sum(list(dose_maps.direct_irradiance_mw_cm2.values()), axis=0)
        total = _with_direct(total, direct, mask, a)
    return RegionMetrics(area_cm2=float(a.sum() / MM2_PER_CM2), total=total, channels=channels)


def _with_direct(
    entry: MapMetrics,
    direct: NDArray[np.float64] | None,
    mask: NDArray[np.bool_],
    areas_mm2: NDArray[np.float64],
) -> MapMetrics:
    """``entry`` with its direct light and the gain over it (as it is without ``direct``)."""
    if direct is None:
        return entry
    d = summary(direct[mask], areas_mm2)
    return dataclasses.replace(
        entry,
        direct_irradiance_mw_cm2=d,
        interreflection_gain=_ratio(entry.irradiance_mw_cm2.mean, d.mean),
    )


def eye_reading(
    facing: DoseMaps, areas_mm2: NDArray[np.float64], *, skin: DoseMaps | None = None
) -> EyeReading:
    """Summarise the eye-hazard readings at a set of points (cornea or eyelid).

    Parameters
    ----------
    facing : DoseMaps
        The points' maps as a detector facing each LED reads them
        (:func:`twin.dose.hazards.facing_rows`).
    areas_mm2 : (e,) float64, mm^2
        The area each point stands for (weights of the means).
    skin : DoseMaps, optional
        The eyelid skin's own maps (the same points), for ``skin_ir_irradiance_mw_cm2``.

    Returns
    -------
    EyeReading
    """

    def mean_max(e: NDArray[np.float64]) -> MeanMax:
        return MeanMax(mean=float(np.average(e, weights=areas_mm2)), max=float(e.max()))

    ir = [c for c in facing.channels if counts_as_ir(facing.wavelength_nm.get(c))]
    e_blue = np.zeros(len(areas_mm2))
    for c, e in facing.irradiance_mw_cm2.items():
        e_blue += blue_light_weight(facing.spectrum(c)) * e
    return EyeReading(
        ir_irradiance_mw_cm2=mean_max(_ir_irradiance_mw_cm2(facing, ir)),
        blue_weighted_irradiance_mw_cm2=mean_max(e_blue),
        total_irradiance_mw_cm2=Peak(max=float(facing.total_irradiance_mw_cm2.max())),
        points=len(areas_mm2),
        skin_ir_irradiance_mw_cm2=None
        if skin is None
        else mean_max(_ir_irradiance_mw_cm2(skin, ir)),
    )


def blue_light(
    facing_mw_cm2: scipy.sparse.sparray,
    points_mm: NDArray[np.float64],
    emitters_mm: NDArray[np.float64],
    *,
    channel: NDArray[np.str_],
    wavelength_nm: Mapping[str, Spectrum] | Mapping[str, float],
    emitting_area_mm2: Mapping[str, float],
    e_b_max_mw_cm2: float,
    exposure_s: float,
) -> BlueLight:
    """Judge the blue-light hazard: each LED's radiance where its emitting area is known.

    The large-source radiance limit applies when every channel with a blue weight
    (B(lambda) > 0) has an emitting area; otherwise the small-source bound on the largest
    blue-weighted irradiance (:mod:`twin.dose.hazards`).

    Parameters
    ----------
    facing_mw_cm2 : (e, n) sparse, mW/cm^2
        What a detector facing each LED reads at each point, at the scene's drive.
    points_mm : (e, 3) float64, mm
        The detector points.
    emitters_mm : (n, 3) float64, mm
        The LEDs' positions.
    channel : (n,) str
        Each LED's channel.
    wavelength_nm : mapping of str to Spectrum or to float
        Per channel where known, its spectrum (``Emitters.spectra``: B(lambda) averaged over
        it) or its peak wavelength, nm (B there).
    emitting_area_mm2 : mapping of str to float
        Per channel, where known (mm^2).
    e_b_max_mw_cm2 : float, mW/cm^2
        The largest blue-weighted facing irradiance, for the small-source bound.
    exposure_s : float, s

    Returns
    -------
    BlueLight
    """
    weight, area = blue_per_emitter(channel, wavelength_nm, emitting_area_mm2)
    areas = {c: float(emitting_area_mm2[c]) for c in sorted(set(map(str, channel)))
             if c in emitting_area_mm2}  # fmt: skip
    radiance = None
    if area is not None:
        method = BLUE_METHODS[0]
        per_led = led_blue_radiance_w_m2_sr(
            facing_mw_cm2, points_mm, emitters_mm, blue_weight=weight, emitting_area_mm2=area
        )
        radiance = float(per_led.max()) if per_led.size else 0.0
        limit_s = blue_light_max_exposure_s(radiance, method=method)
    else:
        method = BLUE_METHODS[1]
        limit_s = blue_light_max_exposure_s(e_b_max_mw_cm2, method=method)
    return BlueLight(
        method=method,
        radiance_w_m2_sr=radiance,
        max_exposure_s=limit_s,
        within_limit=limit_s is None or exposure_s <= limit_s,
        emitting_area_mm2=areas,
    )


def eye_safety(
    eyelid: EyeReading,
    blue: BlueLight,
    *,
    cornea: EyeReading | None,
    channels: Sequence[str],
    wavelength_nm: Mapping[str, float],
    dose: DoseSettings,
    exposure_s: float,
    region: str = "eyes",
) -> EyeSafety:
    """Judge the eyes against the IEC 62471 IR-eye and blue-light limits.

    The cornea's reading is judged where there is one, the eyelid's otherwise; the IR-eye
    limit is the scene's (``dose.eye_ir_limit_mw_cm2``) or the one for ``exposure_s``.
    Channels with no wavelength count as IR and as fully blue-weighted, and are listed.

    Parameters
    ----------
    eyelid : EyeReading
    blue : BlueLight
        Judged on the same points as the IR-eye limit (:func:`blue_light`).
    cornea : EyeReading or None
    channels : sequence of str
    wavelength_nm : mapping of str to float
        Per channel, where known.
    dose : DoseSettings
    exposure_s : float, s
    region : str, default: "eyes"
        The eye region's name.

    Returns
    -------
    EyeSafety
    """
    judged = eyelid if cornea is None else cornea
    limit, source = dose.eye_ir_limit(exposure_s)
    peak_ir = judged.ir_irradiance_mw_cm2.max
    if blue.radiance_w_m2_sr is None:
        blue_group = risk_group(
            judged.blue_weighted_irradiance_mw_cm2.max, "blue_irradiance_mw_cm2"
        )
    else:
        blue_group = risk_group(blue.radiance_w_m2_sr, "blue_radiance_w_m2_sr")
    return EyeSafety(
        evaluated=True,
        region=region,
        judged_on="eyelid" if cornea is None else "cornea",
        ir_channels=[c for c in channels if counts_as_ir(wavelength_nm.get(c))],
        unknown_wavelength_channels=[c for c in channels if c not in wavelength_nm],
        ir_irradiance_mw_cm2=judged.ir_irradiance_mw_cm2,
        ir_limit_mw_cm2=limit,
        ir_limit_source=source,
        exposure_s=exposure_s,
        ir_within_limit=peak_ir <= limit,
        blue_weighted_irradiance_mw_cm2=judged.blue_weighted_irradiance_mw_cm2,
        blue_light=blue,
        total_irradiance_mw_cm2=judged.total_irradiance_mw_cm2,
        risk_group={"ir_eye": risk_group(peak_ir, "ir_eye_mw_cm2"), "blue_light": blue_group},
        eyelid=eyelid,
        cornea=cornea,
    )


def heating(
    dose_maps: DoseMaps,
    areas_mm2: NDArray[np.float64],
    *,
    roi: NDArray[np.bool_],
    regions: Mapping[str, NDArray[np.bool_]],
    dose: DoseSettings,
    skin_reflectance_of: Mapping[str, NDArray[np.float64]] | None = None,
) -> Heating:
    """Absorbed power density ``(1 - R) E`` per region against the heating guard.

    R is, per channel, ``skin_reflectance_of`` where given (the skin model's reflectance at
    every point, for the scene's skin type), else the NIST mean skin reflectance averaged
    over the channel's spectrum (:func:`twin.dose.hazards.skin_reflectance`; a channel with
    no wavelength counts as absorbed in full).

    Parameters
    ----------
    dose_maps : DoseMaps
        Every sample point's maps.
    areas_mm2 : (k,) float64, mm^2
    roi : (k,) bool
        The treated skin.
    regions : mapping of str to (k,) bool
    dose : DoseSettings
        Its ``absorbed_limit_mw_cm2`` is the guard.
    skin_reflectance_of : mapping of str to (k,) float64, optional
        Per channel, the skin's reflectance at every point.

    Returns
    -------
    Heating
        Its ``reflectance`` per channel is the one used, area-weighted over the treated skin.
    """
    given = skin_reflectance_of or {}
    per_point: dict[str, NDArray[np.float64] | float] = {
        c: given[c] if c in given else skin_reflectance(dose_maps.spectrum(c))
        for c in dose_maps.channels
    }
    absorbed = np.zeros(len(areas_mm2))
    for c, e in dose_maps.irradiance_mw_cm2.items():
        absorbed += (1.0 - per_point[c]) * e
    reflectance = {
        c: float(np.average(r[roi], weights=areas_mm2[roi])) if isinstance(r, np.ndarray) else r
        for c, r in per_point.items()
    }
    limit = dose.absorbed_limit_mw_cm2

    def block(mask: NDArray[np.bool_]) -> Absorbed:
        a = absorbed[mask]
        peak = float(a.max())
        return Absorbed(
            absorbed_mw_cm2=MeanMax(mean=float(np.average(a, weights=areas_mm2[mask])), max=peak),
            within_limit=peak <= limit,
        )

    return Heating(
        limit_mw_cm2=limit,
        reflectance=reflectance,
        roi=block(roi),
        regions={name: block(mask) for name, mask in regions.items() if mask.any()},
    )


def _ir_irradiance_mw_cm2(dose_maps: DoseMaps, ir: list[str]) -> NDArray[np.float64]:
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
        top_mm = max(float(np.ceil(gap_mm[hit].max())), 1.0)
        landed = {
            "gap_mm": summary(gap_mm[hit], ones),
            "incidence_deg": summary(incidence_deg[hit], ones),
            "gap_histogram_mm": _histogram(gap_mm, np.linspace(0.0, top_mm, 21)),
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
