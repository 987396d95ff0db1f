"""Typed metric blocks: each block of ``metrics.json`` as a frozen dataclass.

Every block's :meth:`Block.to_dict` gives its JSON form exactly: fields in order, nested
blocks as mappings, tuples as lists, and optional fields (``None`` with ``omit_none``) left
out. Units are in the field names, as in the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: Metadata of an optional field (keyword-only, ``None`` by default) that ``metrics.json``
#: leaves out when it is ``None``.
OMIT_NONE = {"omit_none": True}


def _plain(value: Any) -> Any:
    if isinstance(value, Block):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Block:
    """Base of the metric blocks (frozen dataclasses)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the block as JSON-ready data, exactly as ``metrics.json`` holds it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _plain(value)
        return out


@dataclass(frozen=True)
class Summary(Block):
    """Area-weighted statistics of a map (or plain ones of per-emitter values)."""

    mean: float
    min: float
    max: float
    p5: float
    p95: float
    std: float


@dataclass(frozen=True)
class MeanMax(Block):
    """Area-weighted mean and maximum of a map."""

    mean: float
    max: float


@dataclass(frozen=True)
class Peak(Block):
    """The maximum of a map."""

    max: float


@dataclass(frozen=True)
class MapMetrics(Block):
    """Metrics of one irradiance map over a region (one channel, or all together).

    Attributes
    ----------
    irradiance_mw_cm2, fluence_j_cm2 : Summary
    u0_min_over_mean, min_over_max, cv : float or None
        ``None`` where the denominator is zero (a dark region).
    in_window_area_fraction : float
        Area fraction inside the fluence window and under the irradiance limit.
    hot_spot_area_cm2 : float, cm^2
        Area above the irradiance limit.
    wavelength_nm : float, optional
        A channel's wavelength, where it has one.
    photon_flux_per_s_cm2 : MeanMax, optional
        A channel's photon flux, where it has a wavelength.
    direct_irradiance_mw_cm2 : Summary, optional
        The light straight from the emitters, where inter-reflection was solved
        (``irradiance_mw_cm2`` is then all the light).
    interreflection_gain : float, optional
        Mean total over mean direct irradiance, where inter-reflection was solved (``None``
        in the JSON where no direct light arrives).
    """

    irradiance_mw_cm2: Summary
    fluence_j_cm2: Summary
    u0_min_over_mean: float | None
    min_over_max: float | None
    cv: float | None
    in_window_area_fraction: float
    hot_spot_area_cm2: float
    wavelength_nm: float | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    photon_flux_per_s_cm2: MeanMax | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    direct_irradiance_mw_cm2: Summary | None = field(
        default=None, metadata=OMIT_NONE, kw_only=True
    )
    interreflection_gain: float | None = field(default=None, metadata=OMIT_NONE, kw_only=True)


@dataclass(frozen=True)
class RegionMetrics(Block):
    """A region's area and its metrics for all channels together and each channel."""

    area_cm2: float
    total: MapMetrics
    channels: dict[str, MapMetrics]


@dataclass(frozen=True)
class EyeReading(Block):
    """Eye-hazard readings at a set of points (the cornea, or the eyelid skin).

    Attributes
    ----------
    ir_irradiance_mw_cm2 : MeanMax, mW/cm^2
        IR-eye irradiance, as a detector facing each LED reads it (the IR channels).
    blue_weighted_irradiance_mw_cm2 : MeanMax, mW/cm^2
        B(lambda)-weighted irradiance, facing each LED.
    total_irradiance_mw_cm2 : Peak, mW/cm^2
        Every channel, facing each LED.
    points : int
    skin_ir_irradiance_mw_cm2 : MeanMax, optional
        On the eyelid skin: its own irradiance (cosine of incidence included).
    """

    ir_irradiance_mw_cm2: MeanMax
    blue_weighted_irradiance_mw_cm2: MeanMax
    total_irradiance_mw_cm2: Peak
    points: int
    skin_ir_irradiance_mw_cm2: MeanMax | None = field(
        default=None, metadata=OMIT_NONE, kw_only=True
    )


@dataclass(frozen=True)
class BlueLight(Block):
    """The blue-light hazard of the judged reading (:mod:`twin.dose.hazards`).

    Attributes
    ----------
    method : {"large-source radiance", "small-source irradiance"}
        The radiance limit where every blue-weighted channel's emitting area is known,
        otherwise the small-source bound on the blue-weighted irradiance.
    radiance_w_m2_sr : float or None, W m^-2 sr^-1
        The largest B-weighted radiance of one LED seen from the judged points (``None``
        for the small-source bound).
    max_exposure_s : float or None, s
        Longest exposure within the limit; ``None``: no limit.
    within_limit : bool
        For the scene's exposure.
    emitting_area_mm2 : dict of str to float
        The emitting area of each channel that has one, mm^2.
    """

    method: str
    radiance_w_m2_sr: float | None
    max_exposure_s: float | None
    within_limit: bool
    emitting_area_mm2: dict[str, float]


@dataclass(frozen=True)
class EyeSafety(Block):
    """The eyes against the IEC 62471 IR-eye and blue-light limits (docs/physics.md §4.1).

    The limits are judged on ``judged_on``: ``"cornea"`` (the anterior eyeball surfaces, eyes
    open, a detector facing each LED) where the target has eyeballs, otherwise ``"eyelid"``
    (the eye region's skin, a detector facing each LED). ``ir_irradiance_mw_cm2``,
    ``blue_weighted_irradiance_mw_cm2`` and ``total_irradiance_mw_cm2`` are that reading;
    ``cornea`` and ``eyelid`` hold each reading in full.

    Attributes
    ----------
    evaluated : bool
        Always true here (:class:`EyeNotEvaluated` is the other case).
    region : str
    judged_on : {"cornea", "eyelid"}
    ir_channels, unknown_wavelength_channels : list of str
    ir_irradiance_mw_cm2 : MeanMax, mW/cm^2
    ir_limit_mw_cm2 : float, mW/cm^2
    ir_limit_source : {"exposure time", "dose.eye_ir_limit_mw_cm2"}
        The limit follows the exposure, or the scene sets it.
    exposure_s : float, s
    ir_within_limit : bool
    blue_weighted_irradiance_mw_cm2 : MeanMax, mW/cm^2
    blue_light : BlueLight
    total_irradiance_mw_cm2 : Peak, mW/cm^2
    risk_group : dict of str to str
        IEC 62471 group (``"RG0"`` .. ``"RG3"``) per hazard (``ir_eye``, ``blue_light``), of
        the judged reading at the scene's drive.
    eyelid : EyeReading
    cornea : EyeReading, optional
    """

    evaluated: bool
    region: str
    judged_on: str
    ir_channels: list[str]
    unknown_wavelength_channels: list[str]
    ir_irradiance_mw_cm2: MeanMax
    ir_limit_mw_cm2: float
    ir_limit_source: str
    exposure_s: float
    ir_within_limit: bool
    blue_weighted_irradiance_mw_cm2: MeanMax
    blue_light: BlueLight
    total_irradiance_mw_cm2: Peak
    risk_group: dict[str, str]
    eyelid: EyeReading
    cornea: EyeReading | None = field(default=None, metadata=OMIT_NONE, kw_only=True)


@dataclass(frozen=True)
class EyeNotEvaluated(Block):
    """Eye safety was not evaluated, and why (a target with no eye region)."""

    evaluated: bool
    reason: str


@dataclass(frozen=True)
class Absorbed(Block):
    """Absorbed power density ``(1 - R) E`` of one region, against the heating guard.

    Attributes
    ----------
    absorbed_mw_cm2 : MeanMax, mW/cm^2
    within_limit : bool
        The maximum is at most ``limit_mw_cm2``.
    """

    absorbed_mw_cm2: MeanMax
    within_limit: bool


@dataclass(frozen=True)
class Heating(Block):
    """Absorbed power density per region and the heating guard (docs/physics.md §4.3).

    Attributes
    ----------
    limit_mw_cm2 : float, mW/cm^2
        The guard (``dose.absorbed_limit_mw_cm2``).
    reflectance : dict of str to float
        The skin reflectance used per channel (NIST mean at its wavelength).
    roi : Absorbed
        The treated skin.
    regions : dict of str to Absorbed
    """

    limit_mw_cm2: float
    reflectance: dict[str, float]
    roi: Absorbed
    regions: dict[str, Absorbed]


@dataclass(frozen=True)
class Histogram(Block):
    """Bin edges and counts (``None`` stands for a non-finite edge)."""

    edges: list[float | None]
    counts: list[int]


@dataclass(frozen=True)
class PerEmitter(Block):
    """Every emitter's values, in emitter order (6 significant digits; ``None``: no value)."""

    id: list[str]
    gap_mm: list[float | None]
    clearance_mm: list[float | None]
    incidence_deg: list[float | None]


@dataclass(frozen=True)
class EmitterFit(Block):
    """How the emitters sit on the skin: axial gap, clearance and incidence.

    The gap and incidence blocks are absent when no emitter's axis meets the skin.
    """

    count: int
    carrier: str | None
    axis_misses_skin: int
    inside_skin: int
    touching_skin: int
    clearance_mm: Summary
    gap_mm: Summary | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    incidence_deg: Summary | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    gap_histogram_mm: Histogram | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    incidence_histogram_deg: Histogram | None = field(
        default=None, metadata=OMIT_NONE, kw_only=True
    )
    per_emitter: PerEmitter


@dataclass(frozen=True)
class Interreflection(Block):
    """How the light skin and device return was solved (``metrics.json`` ``interreflection``).

    Attributes
    ----------
    materials : dict
        What each surface is: ``target``, ``interior`` (absent without a carrier) and
        ``occluders``, as the scene file gives them.
    reflectance : dict
        Per surface (``skin``, ``interior``, ``occluders[i]``), per channel: the reflectance
        used, its area mean over the surface (the skin's varies with the body site).
    patches : int
        Coarse patches the returned light was solved on.
    patch_mm : float, mm
    form_factor_nonzeros : int
        Patch pairs that see each other.
    seconds : float
        Wall time of the solve (form factors, the carrier's and occluders' direct light
        excluded).
    """

    materials: dict[str, Any]
    reflectance: dict[str, Any]
    patches: int
    patch_mm: float
    form_factor_nonzeros: int
    seconds: float


@dataclass(frozen=True)
class Coverage(Block):
    """Fraction of the treated area within reach of at least k emitters, k = 1, 2, ...

    ``at_least[k - 1]`` is the fraction for k; written as ``at_least_<k>``.
    """

    at_least: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"at_least_1": ..., "at_least_2": ...}``."""
        return {f"at_least_{k}": v for k, v in enumerate(self.at_least, 1)}


@dataclass(frozen=True)
class DepthDose(Block):
    """Dose at each depth of ``tissue.depths_mm`` over a region: lists aligned with the depths.

    Attributes
    ----------
    fluence_rate_mean_mw_cm2, fluence_rate_p5_mw_cm2, fluence_rate_min_mw_cm2 : list of float
        Area-weighted mean, 5th percentile and minimum of the fluence rate, mW/cm^2.
    fluence_mean_j_cm2 : list of float, J/cm^2
        Mean fluence over the exposure.
    in_window_area_fraction : list of float
        Area fraction whose fluence at that depth is inside the fluence window.
    """

    fluence_rate_mean_mw_cm2: list[float]
    fluence_rate_p5_mw_cm2: list[float]
    fluence_rate_min_mw_cm2: list[float]
    fluence_mean_j_cm2: list[float]
    in_window_area_fraction: list[float]


@dataclass(frozen=True)
class DepthRegion(Block):
    """A region's dose at depth: all channels together and each channel."""

    total: DepthDose
    channels: dict[str, DepthDose]


@dataclass(frozen=True)
class TargetDose(Block):
    """The dose in a region's target band of depth (the mean over the band at each point).

    Attributes
    ----------
    depth_mm : (float, float), mm
        Top and bottom of the band.
    fluence_window_j_cm2 : (float, float), J/cm^2
    fluence_rate_mean_mw_cm2 : float, mW/cm^2
    fluence_mean_j_cm2, fluence_p5_j_cm2, fluence_min_j_cm2 : float, J/cm^2
        Area-weighted over the region.
    in_window_area_fraction : float
    channels : dict of str to float, J/cm^2
        Each channel's mean fluence in the band.
    """

    depth_mm: tuple[float, float]
    fluence_window_j_cm2: tuple[float, float]
    fluence_rate_mean_mw_cm2: float
    fluence_mean_j_cm2: float
    fluence_p5_j_cm2: float
    fluence_min_j_cm2: float
    in_window_area_fraction: float
    channels: dict[str, float]


@dataclass(frozen=True)
class TissueMetrics(Block):
    """Light in tissue (``metrics.json`` ``tissue``).

    Attributes
    ----------
    depths_mm : list of float, mm
    skin_type : str
        ``I`` .. ``VI``, ``custom`` or ``layers``.
    model : dict
        What made the kernels, and the lateral spread per channel (mm; empty: none).
    reflectance : dict of str to float
        Per channel, the skin's total reflectance (specular and remitted) at normal incidence
        by the model, area-weighted over the treated skin.
    roi : DepthRegion
    regions : dict of str to DepthRegion
    targets : dict of str to TargetDose
        Per region (or ``roi``) with a target band.
    """

    depths_mm: list[float]
    skin_type: str
    model: dict[str, Any]
    reflectance: dict[str, float]
    roi: DepthRegion
    regions: dict[str, DepthRegion]
    targets: dict[str, TargetDose]
