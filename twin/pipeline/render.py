"""Render a scene: sample the skin, build the transfer matrix, compute dose maps and metrics."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin.devices.emitters import Emitters
from twin.dose.maps import DoseMaps, dose_maps
from twin.engine.backends import ProgressCallback, make_backend, resolve_backend
from twin.engine.cache import TransferCache, transfer_key
from twin.engine.extended import extended_transfer
from twin.engine.transfer import TransferMatrix, scene_triangles
from twin.errors import InputError
from twin.geometry.surface import SamplePoints, Surface
from twin.geometry.topology import closest_points
from twin.pipeline.detectors import DetectorReading, read_detectors
from twin.pipeline.eye import EyeDetector, eye_detector
from twin.pipeline.interreflection import render_interreflection
from twin.pipeline.metrics import RenderMetrics, render_metrics
from twin.pipeline.results import write_result
from twin.pipeline.tissue import render_kernels, render_tissue
from twin.raycast import Tracer, self_tolerance_mm
from twin.scene import EYE_REGION, Scene, load_scene
from twin.tissue.depth import TissueMaps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderResult:
    """Everything a render produced.

    Attributes
    ----------
    scene : Scene
    samples : SamplePoints
        The ``k`` skin points the maps are given at.
    roi : (k,) bool
        The treated skin (metrics region of interest).
    transfer : TransferMatrix
        (k, n) irradiance per mW of each emitter, with the light skin and device return
        (``transfer.indirect``) when inter-reflection was solved.
    dose : DoseMaps
        Irradiance per channel at the scene's drive levels and exposure.
    gap_mm : (n,) float64, mm
        Distance from each emitter along its axis to the skin; ``inf`` where it misses.
    incidence_deg : (n,) float64, degrees
        Angle between each emitter's axis and the skin normal where the axis lands.
    eye : EyeDetector or None
        Where the eyes are judged (:mod:`twin.pipeline.eye`); ``None`` without an eye region.
    tissue : TissueMaps or None
        The fluence rate at depth (:mod:`twin.pipeline.tissue`); ``None`` without a
        ``tissue:`` section.
    blocks : RenderMetrics
        The metrics as typed blocks (:mod:`twin.pipeline.metrics`).
    detectors : dict of str to DetectorReading
        Each detector's reading (:mod:`twin.pipeline.detectors`), by name; empty without
        ``detectors:``.

    The metrics as ``metrics.json`` holds them are :attr:`metrics`.
    """

    scene: Scene
    samples: SamplePoints
    roi: NDArray[np.bool_]
    transfer: TransferMatrix
    dose: DoseMaps
    gap_mm: NDArray[np.float64]
    incidence_deg: NDArray[np.float64]
    eye: EyeDetector | None
    tissue: TissueMaps | None
    blocks: RenderMetrics
    detectors: dict[str, DetectorReading] = field(default_factory=dict)

    @functools.cached_property
    def metrics(self) -> dict[str, Any]:
        """The metrics, JSON-ready, exactly as ``metrics.json`` holds them.

        With detectors, ``detectors`` maps each name to its reading's block
        (:meth:`twin.pipeline.detectors.DetectorReading.to_dict`), after the others.
        """
        out = self.blocks.to_dict()
        if self.detectors:
            out["detectors"] = {name: r.to_dict() for name, r in self.detectors.items()}
        return out

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write the result files into ``out_dir``.

        See :func:`twin.pipeline.results.write_result`.
        """
        return write_result(self, Path(out_dir))


def axis_landing(
    emitters: Emitters, target: Surface, tracer: Tracer
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Find where each emitter's axis first meets the skin.

    Parameters
    ----------
    emitters : Emitters
        The ``n`` emitters.
    target : Surface
        The skin; its triangles come first in ``tracer``'s (occluders after them).
    tracer : Tracer
        Ray queries over the skin and the occluders.

    Returns
    -------
    gap_mm : (n,) float64, mm
        Distance along the axis to the skin; ``inf`` where the axis misses the skin or first
        meets an occluder.
    incidence_deg : (n,) float64, degrees
        Angle between the axis and the skin normal there; ``nan`` where the gap is ``inf``.
    """
    distance, face = tracer.first_hit(emitters.positions_mm, emitters.axes)
    on_skin = (face >= 0) & (face < len(target.faces))
    gap = np.where(on_skin, distance, np.inf)
    cos_inc = np.full(len(emitters), np.nan)
    normals = target.face_normals[face[on_skin]]
    cos_inc[on_skin] = np.abs(np.einsum("ij,ij->i", -emitters.axes[on_skin], normals))
    return gap, np.degrees(np.arccos(np.clip(cos_inc, 0.0, 1.0)))


def skin_clearance_mm(points_mm: NDArray[np.float64], target: Surface) -> NDArray[np.float64]:
    """Return the signed distance from each point to the nearest point of the skin.

    Exact point-to-triangle distances over the triangles around the 16 nearest vertices.

    Parameters
    ----------
    points_mm : (n, 3) float64, mm
    target : Surface
        The skin, closed or open.

    Returns
    -------
    (n,) float64, mm
        Negative inside the skin (behind its normals).
    """
    _, near = cKDTree(target.vertices_mm).query(points_mm, k=min(16, len(target.vertices_mm)))
    near = near.reshape(len(points_mm), -1)
    # Vertex -> incident faces, then every (point, face) pair around the nearest vertices.
    by_vertex = np.argsort(target.faces.ravel(), kind="stable")
    start = np.searchsorted(target.faces.ravel()[by_vertex], np.arange(len(target.vertices_mm)))
    count = np.diff(np.append(start, target.faces.size))
    vertex = near.ravel()
    owner = np.repeat(np.arange(len(points_mm)), near.shape[1])
    per = count[vertex]
    offsets = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    faces = by_vertex[np.repeat(start[vertex], per) + offsets] // 3
    pairs = np.unique(np.repeat(owner, per) * len(target.faces) + faces)
    row, face = pairs // len(target.faces), pairs % len(target.faces)
    closest = closest_points(target.triangles_mm[face], points_mm[row])
    distance = np.linalg.norm(points_mm[row] - closest, axis=1)
    best = np.full(len(points_mm), np.inf)
    np.minimum.at(best, row, distance)
    pick = np.flatnonzero(distance == best[row])
    pick = pick[np.unique(row[pick], return_index=True)[1]]
    # The side comes from the vertex normals interpolated at the closest point: a smooth
    # pseudo-normal that stays outward at edges, corners and the border of an open mesh.
    triangle = target.triangles_mm[face[pick]]
    a, b, c = triangle[:, 0], triangle[:, 1], triangle[:, 2]
    total = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    q = closest[pick]
    weights = (
        np.column_stack(
            [
                np.linalg.norm(np.cross(b - q, c - q), axis=1),
                np.linalg.norm(np.cross(c - q, a - q), axis=1),
                np.linalg.norm(np.cross(a - q, b - q), axis=1),
            ]
        )
        / total[:, None]
    )
    normal = np.einsum("kj,kjd->kd", weights, target.vertex_normals[target.faces[face[pick]]])
    side = np.einsum("ij,ij->i", points_mm[row[pick]] - q, normal)
    return np.where(side < 0, -1.0, 1.0) * best


def region_of_interest(scene: Scene, samples: SamplePoints) -> NDArray[np.bool_]:
    """(k,) bool: the treated regions (all samples when none are named) minus the excluded ones.

    Raises
    ------
    InputError
        If that leaves no sample point, naming the scene's ``target.treat`` and
        ``target.exclude``.
    """
    roi = np.full(len(samples), scene.treat is None)
    for region in scene.treat or ():
        roi |= samples.regions[region]
    for region in scene.exclude:
        roi &= ~samples.regions[region]
    if not roi.any():
        treat = "all" if scene.treat is None else list(scene.treat)
        hint = f" ({EYE_REGION} are excluded by default)" if EYE_REGION in scene.exclude else ""
        msg = (
            f"{scene.path or scene.name}: target.treat {treat} minus target.exclude "
            f"{list(scene.exclude)} leaves no skin to treat; treat other regions or exclude "
            f"fewer{hint}"
        )
        raise InputError(msg)
    return roi


def render(
    scene: Scene | str | Path,
    *,
    backend: str | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cache: TransferCache | None = None,
) -> RenderResult:
    """Compute dose maps and metrics for a scene.

    Parameters
    ----------
    scene : Scene or path
        A loaded scene or a scene file.
    backend : {"auto", "reference", "embree", "cuda"}, optional
        Overrides the scene's ``engine.backend``.
    workers : int, optional
        Threads for ray casting; defaults to the number of CPUs.
    progress : callable(done, total), optional
        Called as emitters are finished.
    cache : TransferCache, optional
        Reuse a transfer matrix built before for the same geometry, layout and LED profiles
        (see :mod:`twin.engine.cache`), and store a new one; Monte Carlo run for a custom skin
        or explicit layers is kept there too.

    Returns
    -------
    RenderResult
    """
    if not isinstance(scene, Scene):
        scene = load_scene(scene)
    name = resolve_backend(
        backend or scene.engine.backend,
        option="backend" if backend else f"{scene.path or scene.name}: engine.backend",
    )
    samples = scene.target.samples(at=scene.samples)
    roi = region_of_interest(scene, samples)
    triangles = scene_triangles(scene.target, scene.occluders)
    engine = make_backend(
        name,
        triangles,
        workers=workers,
        horizon_store=None if cache is None else TransferCache(cache.folder / "horizons"),
    )
    end_tolerance_mm = self_tolerance_mm(triangles)
    cutoff, max_distance_mm = scene.engine.intensity_cutoff, scene.engine.max_distance_mm

    def build() -> TransferMatrix:
        return extended_transfer(
            samples,
            scene.emitters,
            engine,
            apertures=scene.apertures,
            end_tolerance_mm=end_tolerance_mm,
            intensity_cutoff=cutoff,
            max_distance_mm=max_distance_mm,
            progress=progress,
        )

    key = None
    if cache is None:
        transfer = build()
    else:
        settings = {
            "end_tolerance_mm": end_tolerance_mm,
            "intensity_cutoff": cutoff,
            "max_distance_mm": max_distance_mm,
        }
        key = transfer_key(
            samples,
            triangles,
            scene.emitters,
            apertures=scene.apertures,
            backend=name,
            settings=settings,
        )
        transfer = cache.get_or_build(key, build)
    kernels = render_kernels(scene, samples, cache_dir=None if cache is None else cache.folder)
    transfer = transfer.with_indirect(
        render_interreflection(
            scene, samples, transfer, kernels, workers=workers, cache=cache, transfer_key=key
        )
    )
    maps = dose_maps(transfer, scene.emitters, drive=scene.drive, exposure_s=scene.exposure_s)
    gap, incidence = axis_landing(scene.emitters, scene.target, engine.tracer)
    eye = eye_detector(scene, samples, transfer, cache=cache)
    tissue = render_tissue(scene, samples, transfer, kernels)
    blocks = render_metrics(
        scene,
        samples=samples,
        roi=roi,
        transfer=transfer,
        maps=maps,
        gap_mm=gap,
        incidence_deg=incidence,
        clearance_mm=skin_clearance_mm(scene.emitters.positions_mm, scene.target),
        eye_detector=eye,
        tissue=tissue,
    )
    detectors = read_detectors(scene, backend=engine)
    return RenderResult(
        scene, samples, roi, transfer, maps, gap, incidence, eye, tissue, blocks, detectors
    )
