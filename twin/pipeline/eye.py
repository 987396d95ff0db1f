"""Where eye safety is judged: a detector facing each LED at the cornea, or on the eyelid.

IEC 62471 measures the eye hazards with a detector facing the source (docs/physics.md §4.1.1,
decisions): :func:`eye_detector` gives the points it stands at and each LED's facing reading
there, per mW, shadows kept. On a built-in anatomy with eyes that is the cornea (the anterior
eyeball surfaces, eyes open); elsewhere the eye region's skin (the eyelid). The metrics
(:mod:`twin.pipeline.metrics`) and the drive optimiser's eye limits
(:class:`twin.analysis.problem.DoseProblem`) both read it.

Where inter-reflection was solved, the light skin and device return arrives at the eye from
all sides: a detector facing any LED reads it as the eyelid skin receives it, so each
facing reading also carries the returned light per LED — at the eyelid its own, at the
cornea that of the nearest eyelid skin (the eye opening sees the same mask and face).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from twin.dose.hazards import facing_rows
from twin.engine.backends import make_backend
from twin.engine.cache import TransferCache, transfer_key
from twin.engine.extended import extended_transfer
from twin.engine.interreflection import IndirectTransfer
from twin.engine.transfer import TransferMatrix
from twin.geometry import anatomy
from twin.geometry.surface import SamplePoints
from twin.raycast import self_tolerance_mm
from twin.scene import EYE_REGION, Scene

#: The cornea: the eyeball surface within this angle of the gaze (a cornea of 11.5 mm on an
#: eyeball of about 14 mm radius spans about 25 deg).
CORNEA_HALF_ANGLE_DEG = 30.0
#: The open eye: the eyelid skin within this ellipse (half-width, half-height) of each
#: eyeball's axis is taken away, mm (an adult palpebral fissure is about 30 x 10 mm).
EYE_OPENING_MM = np.array([15.0, 5.5])


@dataclass(frozen=True)
class EyeDetector:
    """A detector at the eyes facing each LED: where it is judged, and on the eyelid.

    Attributes
    ----------
    judged_on : {"cornea", "eyelid"}
        The anterior eyeball surfaces (a built-in anatomy with eyes) or the eye region's skin.
    points : SamplePoints
        The ``e`` judged points, mm, with their normals and areas.
    transfer : TransferMatrix
        (e, n) irradiance on the judged points' own surface per mW of each emitter, shadows
        kept.
    facing : (e, n) scipy.sparse.csr_array, (mW/cm^2) per mW
        What a detector at each judged point facing each emitter reads (:func:`facing_rows`).
    eyelid : EyeDetector or None
        The same for the eye region's skin, when the cornea is judged (``None``: the eyelid
        is judged, this detector is the eyelid's).
    """

    judged_on: Literal["cornea", "eyelid"]
    points: SamplePoints
    transfer: TransferMatrix
    facing: scipy.sparse.csr_array
    eyelid: EyeDetector | None = None

    @property
    def on_eyelid(self) -> EyeDetector:
        """The eyelid's detector: this one, or the one beside the cornea's."""
        return self if self.eyelid is None else self.eyelid


def eye_detector(
    scene: Scene,
    samples: SamplePoints,
    transfer: TransferMatrix,
    *,
    cache: TransferCache | None = None,
) -> EyeDetector | None:
    """Return where the scene's eyes are judged; ``None`` without an eye region.

    Parameters
    ----------
    scene : Scene
    samples : SamplePoints
        The skin points ``transfer`` was built at.
    transfer : TransferMatrix
        The skin's transfer matrix (its backend builds the cornea's).
    cache : TransferCache, optional
        Where the cornea's transfer matrix is kept.

    Returns
    -------
    EyeDetector or None
    """
    eye = samples.regions.get(EYE_REGION)
    if eye is None or not eye.any():
        return None
    index = np.flatnonzero(eye)
    lid_points = SamplePoints(
        samples.positions_mm[index], samples.normals[index], samples.areas_mm2[index], {}
    )
    rows = scipy.sparse.csr_array(transfer.matrix)[index]
    indirect = None if transfer.indirect is None else transfer.indirect.rows(index)
    lid_transfer = dataclasses.replace(transfer, matrix=rows, indirect=indirect)
    eyelid = _detector("eyelid", lid_points, lid_transfer, scene, returned=indirect)
    built = _cornea_transfer(scene, transfer, cache)
    if built is None:
        return eyelid
    points, at_cornea = built
    returned = None
    if indirect is not None:
        _, nearest = cKDTree(lid_points.positions_mm).query(points.positions_mm)
        returned = indirect.rows(nearest)
    cornea = _detector("cornea", points, at_cornea, scene, returned=returned)
    return dataclasses.replace(cornea, eyelid=eyelid)


def _detector(
    judged_on: Literal["cornea", "eyelid"],
    points: SamplePoints,
    at_eye: TransferMatrix,
    scene: Scene,
    *,
    returned: IndirectTransfer | None = None,
) -> EyeDetector:
    """Return the detector at ``points`` with each emitter's facing reading there.

    ``returned``: the light surfaces return to those points per emitter, added to every
    facing reading (it arrives from all sides).
    """
    facing = facing_rows(
        scipy.sparse.csr_array(at_eye.matrix),
        points.positions_mm,
        points.normals,
        scene.emitters.positions_mm,
    )
    if returned is not None:
        facing = scipy.sparse.csr_array(facing + returned.toarray())
    return EyeDetector(judged_on, points, at_eye, facing)


def _cornea_transfer(
    scene: Scene, transfer: TransferMatrix, cache: TransferCache | None
) -> tuple[SamplePoints, TransferMatrix] | None:
    """Return the transfer matrix at the cornea of a built-in anatomy with eyes, else ``None``.

    The cornea is the eyeball surface within ``CORNEA_HALF_ANGLE_DEG`` of the gaze (the
    anatomy's +z axis). The eyes are open: the eye region's skin triangles within
    ``EYE_OPENING_MM`` of each eyeball's axis are taken out of the blockers; the rest of the
    skin, the eyeballs and every occluder (eye shields) block. The scene's engine settings
    and backend make it, as they made the skin's.
    """
    mesh = scene.source.target.mesh
    name = mesh.removeprefix("builtin:")
    if not mesh.startswith("builtin:") or EYE_REGION not in anatomy.REGIONS.get(name, ()):
        return None
    eyes = anatomy.eyeballs(scene.variant, anchor=anatomy.ANCHORS[name])
    parts = [e.samples() for e in eyes]
    front = np.cos(np.radians(CORNEA_HALF_ANGLE_DEG))
    keep = [p.normals[:, 2] >= front for p in parts]
    points = SamplePoints(
        np.concatenate([p.positions_mm[k] for p, k in zip(parts, keep, strict=True)]),
        np.concatenate([p.normals[k] for p, k in zip(parts, keep, strict=True)]),
        np.concatenate([p.areas_mm2[k] for p, k in zip(parts, keep, strict=True)]),
        {},
    )
    target = scene.target
    lid = np.zeros(len(target.vertices_mm), dtype=bool)
    lid[target.regions[EYE_REGION]] = True
    centroid = target.triangles_mm.mean(axis=1)
    opening = np.zeros(len(target.faces), dtype=bool)
    for e in eyes:
        offset = (centroid[:, :2] - e.vertices_mm[:, :2].mean(axis=0)) / EYE_OPENING_MM
        opening |= np.einsum("ij,ij->i", offset, offset) <= 1.0
    skin = target.triangles_mm[~(opening & lid[target.faces].all(axis=1))]
    triangles = np.concatenate(
        [skin, *(e.triangles_mm for e in eyes), *(o.triangles_mm for o in scene.occluders)]
    )
    end_tolerance_mm, engine = self_tolerance_mm(triangles), scene.engine

    def build() -> TransferMatrix:
        return extended_transfer(
            points,
            scene.emitters,
            make_backend(transfer.backend, triangles),
            apertures=scene.apertures,
            end_tolerance_mm=end_tolerance_mm,
            intensity_cutoff=engine.intensity_cutoff,
            max_distance_mm=engine.max_distance_mm,
        )

    if cache is None:
        return points, build()
    key = transfer_key(
        points,
        triangles,
        scene.emitters,
        apertures=scene.apertures,
        backend=transfer.backend,
        settings={
            "end_tolerance_mm": end_tolerance_mm,
            "intensity_cutoff": engine.intensity_cutoff,
            "max_distance_mm": engine.max_distance_mm,
        },
    )
    return points, cache.get_or_build(key, build)
