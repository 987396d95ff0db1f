"""``metrics.json`` of a render: the typed blocks of the whole file and their assembly.

The dose blocks (:mod:`twin.dose.blocks`) come from :mod:`twin.dose.metrics`; this module adds
what only a whole render knows (the scene's settings, the layout, the engine's counts, the
mesh resolution) and puts them in the file's order. :meth:`RenderMetrics.to_dict` is the
file's content.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._version import __version__
from twin.devices.profiles import Profile, spot_radius_per_gap
from twin.dose.blocks import (
    OMIT_NONE,
    Block,
    Coverage,
    EmitterFit,
    EyeNotEvaluated,
    EyeSafety,
    Heating,
    Interreflection,
    RegionMetrics,
    TissueMetrics,
)
from twin.dose.maps import DoseMaps, dose_maps, emitter_power_mw
from twin.dose.metrics import (
    blue_light,
    coverage,
    dose_metrics,
    emitter_fit,
    eye_reading,
    eye_safety,
    heating,
)
from twin.dose.tissue import tissue_metrics
from twin.engine.transfer import TransferMatrix
from twin.geometry.surface import SamplePoints
from twin.pipeline.eye import EyeDetector
from twin.scene import EYE_REGION, Scene
from twin.tissue.depth import TissueMaps

if TYPE_CHECKING:
    from twin.geometry.surface import Surface

log = logging.getLogger(__name__)

#: Mesh edges up to this fraction of an LED's spot radius (half irradiance, on a plane at the
#: median gap: :func:`twin.devices.profiles.spot_radius_per_gap`) resolve the light: a third of
#: the gap for a 60 deg beam (spot radius 0.44 of its gap), half the gap for a bare chip.
EDGE_PER_SPOT = 0.75


@dataclass(frozen=True)
class Window(Block):
    """The dose window the in-window metrics use."""

    fluence_j_cm2: tuple[float, float]
    irradiance_limit_mw_cm2: float


@dataclass(frozen=True)
class RoiRegions(Block):
    """Which regions make up the treated skin (``"all"``: the whole target) and which not."""

    treat: list[str] | str
    exclude: list[str]


@dataclass(frozen=True)
class LayoutSummary(Block):
    """The design the emitters were generated from."""

    design: str | None
    carrier: str
    pattern: str | None
    count: int
    channels: dict[str, int]
    standoff_mm: float
    push_out_mm: float
    extended: bool


@dataclass(frozen=True)
class Resolution(Block):
    """Whether the skin mesh resolves the light (:func:`mesh_resolution`)."""

    edge_mm_p95: float
    median_gap_mm: float | None
    max_edge_mm: float | None
    resolved: bool


@dataclass(frozen=True)
class EngineInfo(Block):
    """How the transfer matrix was made: backend, counts, time and settings."""

    backend: str
    sample_points: int
    emitters: int
    candidate_pairs: int
    rays_cast: int
    rays_cleared: int
    nonzeros: int
    cached: bool
    seconds: float
    intensity_cutoff: float
    max_distance_mm: float | None
    resolution: Resolution


@dataclass(frozen=True)
class RenderMetrics(Block):
    """Every block of ``metrics.json``, in the file's order.

    ``eye_safety`` says "not evaluated" when the target has no eye region; ``layout`` is
    absent when the emitters came from a file rather than a design, ``tissue`` when the scene
    has no ``tissue:`` section, ``interreflection`` when only direct light was computed.
    """

    twin_version: str
    scene: str
    exposure_s: float
    drive: dict[str, float]
    window: Window
    roi_regions: RoiRegions
    roi: RegionMetrics
    regions: dict[str, RegionMetrics]
    eye_safety: EyeSafety | EyeNotEvaluated
    heating: Heating
    tissue: TissueMetrics | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    interreflection: Interreflection | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    emitters: EmitterFit
    coverage: Coverage
    layout: LayoutSummary | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    engine: EngineInfo


def render_metrics(
    scene: Scene,
    *,
    samples: SamplePoints,
    roi: NDArray[np.bool_],
    transfer: TransferMatrix,
    maps: DoseMaps,
    gap_mm: NDArray[np.float64],
    incidence_deg: NDArray[np.float64],
    clearance_mm: NDArray[np.float64],
    eye_detector: EyeDetector | None,
    tissue: TissueMaps | None = None,
) -> RenderMetrics:
    """Return the metrics of a render.

    Parameters
    ----------
    scene : Scene
    samples : SamplePoints
        The ``k`` skin points.
    roi : (k,) bool
        The treated skin.
    transfer : TransferMatrix
    maps : DoseMaps
        The scene's dose maps at its drive and exposure.
    gap_mm, incidence_deg : (n,) float64
        Where each emitter's axis lands (mm, degrees; ``inf`` and ``nan`` on a miss).
    clearance_mm : (n,) float64, mm
        Signed distance from each emitter to the skin (negative inside).
    eye_detector : EyeDetector or None
        Where the eyes are judged (:func:`twin.pipeline.eye.eye_detector`).
    tissue : TissueMaps, optional
        The fluence rate at depth (:func:`twin.pipeline.tissue.render_tissue`).

    Returns
    -------
    RenderMetrics
    """
    roi_block, regions = dose_metrics(
        maps, samples.areas_mm2, roi=roi, regions=samples.regions, dose=scene.dose
    )
    return RenderMetrics(
        twin_version=__version__,
        scene=scene.name,
        exposure_s=scene.exposure_s,
        drive=scene.drive,
        window=Window(
            fluence_j_cm2=scene.dose.fluence_window_j_cm2,
            irradiance_limit_mw_cm2=scene.dose.irradiance_limit_mw_cm2,
        ),
        roi_regions=RoiRegions(
            treat=list(scene.treat) if scene.treat else "all", exclude=list(scene.exclude)
        ),
        roi=roi_block,
        regions=regions,
        eye_safety=_eye_safety(transfer, scene, eye_detector),
        heating=heating(
            maps,
            samples.areas_mm2,
            roi=roi,
            regions=samples.regions,
            dose=scene.dose,
            skin_reflectance_of=None if tissue is None else tissue.reflectance_at_points,
        ),
        tissue=None
        if tissue is None or scene.tissue is None
        else tissue_metrics(
            tissue,
            scene.tissue,
            samples.areas_mm2,
            roi=roi,
            regions=samples.regions,
            dose=scene.dose,
        ),
        interreflection=_interreflection(scene, transfer),
        emitters=emitter_fit(
            ids=scene.emitters.ids,
            gap_mm=gap_mm,
            incidence_deg=incidence_deg,
            clearance_mm=clearance_mm,
            carrier=None if scene.layout is None else scene.layout.carrier.kind,
        ),
        coverage=coverage(transfer.matrix, samples.areas_mm2, roi),
        layout=_layout_summary(scene),
        engine=EngineInfo(
            backend=transfer.backend,
            sample_points=len(samples),
            emitters=len(scene.emitters),
            candidate_pairs=transfer.candidate_pairs,
            rays_cast=transfer.rays_cast,
            rays_cleared=transfer.rays_cleared,
            cached=transfer.cached,
            nonzeros=int(transfer.matrix.nnz),
            seconds=transfer.seconds,
            intensity_cutoff=transfer.intensity_cutoff,
            max_distance_mm=None
            if np.isinf(transfer.max_distance_mm)
            else transfer.max_distance_mm,
            resolution=mesh_resolution(
                scene.target,
                gap_mm,
                _lit_profiles(scene),
                name=scene.name,
                chosen=scene.source.target.max_edge_mm is not None,
            ),
        ),
    )


def _interreflection(scene: Scene, transfer: TransferMatrix) -> Interreflection | None:
    """Return the ``interreflection`` block: materials, reflectances used, the solve's size."""
    indirect = transfer.indirect
    if indirect is None:
        return None
    materials = scene.materials
    names = ["skin"]
    spec: dict[str, Any] = {"target": materials.target.to_spec()}
    if scene.carrier is not None and materials.interior is not None:
        names.append("interior")
        spec["interior"] = materials.interior.to_spec()
    names += [f"occluders[{i}]" for i in range(len(scene.occluders))]
    spec["occluders"] = [materials.occluder(i).to_spec() for i in range(len(scene.occluders))]
    patches = indirect.patches
    reflectance: dict[str, Any] = {}
    for index, name in enumerate(names):
        own = patches.surface == index
        area = patches.areas_mm2[own]
        reflectance[name] = {
            c: float(f"{np.average(rho[own], weights=area):.4g}")
            for c, rho in indirect.reflectance.items()
        }
    return Interreflection(
        materials=spec,
        reflectance=reflectance,
        patches=len(patches),
        patch_mm=scene.engine.patch_mm,
        form_factor_nonzeros=indirect.form_factor_nonzeros,
        seconds=indirect.seconds,
    )


def _layout_summary(scene: Scene) -> LayoutSummary | None:
    layout = scene.layout
    if layout is None:
        return None
    return LayoutSummary(
        design=layout.spec.get("design"),
        carrier=layout.carrier.kind,
        pattern=layout.spec.get("pattern"),
        count=len(scene.emitters),
        channels={c: int((scene.emitters.channel == c).sum()) for c in scene.emitters.channels},
        standoff_mm=layout.carrier.standoff_mm,
        push_out_mm=layout.push_mm,
        extended=bool(scene.apertures),
    )


def _eye_safety(
    transfer: TransferMatrix, scene: Scene, eye_detector: EyeDetector | None
) -> EyeSafety | EyeNotEvaluated:
    """Return the eye-safety block: the detector's points judged (the cornea, or the eyelid).

    The eyelid skin (the eye region's points) is always read: its own irradiance and what a
    detector facing each LED reads there (:func:`twin.dose.hazards.facing_rows`). A built-in
    anatomy with eyes also has its cornea read (:mod:`twin.pipeline.eye`), which is judged.
    """
    if eye_detector is None:
        reason = f"the target has no {EYE_REGION!r} region"
        return EyeNotEvaluated(evaluated=False, reason=reason)
    lid = eye_detector.on_eyelid
    eyelid = eye_reading(
        _maps(transfer, lid.facing, scene),
        lid.points.areas_mm2,
        skin=dose_maps(
            lid.transfer, scene.emitters, drive=scene.drive, exposure_s=scene.exposure_s
        ),
    )
    cornea = None
    if eye_detector.judged_on == "cornea":
        cornea = eye_reading(
            _maps(eye_detector.transfer, eye_detector.facing, scene),
            eye_detector.points.areas_mm2,
        )
    judged_rows, judged_points = eye_detector.facing, eye_detector.points.positions_mm
    judged = eyelid if cornea is None else cornea
    emitters = scene.emitters
    at_drive = judged_rows @ scipy.sparse.diags_array(emitter_power_mw(emitters, scene.drive))
    blue = blue_light(
        at_drive,
        judged_points,
        emitters.positions_mm,
        channel=emitters.channel,
        wavelength_nm=emitters.spectra,
        emitting_area_mm2=scene.emitting_area_mm2,
        e_b_max_mw_cm2=judged.blue_weighted_irradiance_mw_cm2.max,
        exposure_s=scene.exposure_s,
    )
    return eye_safety(
        eyelid,
        blue,
        cornea=cornea,
        channels=list(emitters.channels),
        wavelength_nm=emitters.wavelength_nm,
        dose=scene.dose,
        exposure_s=scene.exposure_s,
        region=EYE_REGION,
    )


def _maps(transfer: TransferMatrix, rows: scipy.sparse.sparray, scene: Scene) -> DoseMaps:
    """Dose maps of some rows of a transfer matrix at the scene's drive and exposure."""
    return dose_maps(
        dataclasses.replace(transfer, matrix=rows, indirect=None),
        scene.emitters,
        drive=scene.drive,
        exposure_s=scene.exposure_s,
    )


def _lit_profiles(scene: Scene) -> list[Profile]:
    """Return the angular profiles of the emitters the scene's mode drives."""
    emitters = scene.emitters
    lit = np.array([scene.drive.get(str(c), 0.0) > 0 for c in emitters.channel], dtype=bool)
    return [emitters.profiles[i] for i in np.unique(emitters.profile_index[lit])]


def mesh_resolution(
    target: Surface,
    gap_mm: NDArray[np.float64],
    profiles: Sequence[Profile],
    *,
    name: str = "target",
    chosen: bool = False,
) -> Resolution:
    """Whether the skin mesh resolves the light: its edges against the LEDs' spots.

    Each sample stands for its patch of skin, so edges longer than the spot under each LED
    miss its peaks and dips (README "Engine", Resolution). The spot is the narrowest lit
    profile's at the median gap; logs a warning, naming ``name``, when the 95th-percentile
    edge is longer than ``EDGE_PER_SPOT`` of its radius, unless the scene ``chosen`` its
    edge length (``target.max_edge_mm``: a trade of accuracy for time it states, recorded
    here all the same).

    Parameters
    ----------
    target : Surface
        The skin.
    gap_mm : (n,) float64, mm
        Each emitter's axial gap to the skin (``inf`` where the axis misses).
    profiles : sequence of Profile
        The angular profiles of the lit emitters.
    name : str
        The scene, for the warning.
    chosen : bool
        The scene set its mesh's edge length itself: no warning.

    Returns
    -------
    Resolution
        The 95th-percentile edge, the median gap (``None`` when no LED axis lands on the
        skin), the longest edge that resolves the spots and whether the edge is that short.
    """
    edge = float(np.percentile(target.edge_lengths_mm, 95))
    landed = gap_mm[np.isfinite(gap_mm)]
    gap = float(np.median(landed)) if landed.size else None
    limit = None
    if gap is not None and profiles:
        spot = min(spot_radius_per_gap(p) for p in {p.key: p for p in profiles}.values())
        limit = EDGE_PER_SPOT * spot * gap
    resolved = limit is None or edge <= limit
    if limit is not None and not resolved and not chosen:
        log.warning(
            "%s: skin mesh edges of %.3g mm (95th percentile) against LED spots of %.3g mm "
            "radius (median gap %.3g mm): peaks and minima may be several %% off; keep edges "
            "under %.2g mm (target.max_edge_mm for a built-in anatomy)",
            name,
            edge,
            limit / EDGE_PER_SPOT,
            gap,
            limit,
        )
    return Resolution(edge_mm_p95=edge, median_gap_mm=gap, max_edge_mm=limit, resolved=resolved)
