"""User scans as targets: one body, aligned into the anatomy frame, with the built-in regions.

A scan arrives in its scanner's frame and is moved rigidly into the anatomy frame
(docs/physics.md §2.1: +Y up, +Z forward, +X the subject's left), either from three or more
landmarks the user picked on it (:func:`landmark_alignment`), or by trimmed rigid ICP against
a built-in anatomy (:func:`icp_alignment`), or landmarks first and ICP after.
:func:`transfer_regions` then labels each scan vertex with the region of the nearest
built-in vertex, so the treated and excluded regions of a scene (eyes included) work on scans
as on the built-in anatomy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin.errors import InputError
from twin.geometry.surface import Surface
from twin.geometry.topology import face_components

logger = logging.getLogger(__name__)

#: Pieces with less than this fraction of a target's area are scanner debris and dropped.
DEBRIS_AREA_FRACTION = 0.01
#: A scan vertex farther than this from the built-in anatomy after alignment gets no region.
REGION_DISTANCE_MM = 10.0
_ICP_POINTS = 2000


def single_body(surface: Surface) -> Surface:
    """``surface`` as one connected piece: debris dropped, two or more bodies refused.

    Pieces under ``DEBRIS_AREA_FRACTION`` of the total area are dropped (logged); if more
    than one piece is left, the target is ambiguous.

    Raises
    ------
    InputError
        If two or more pieces each hold at least ``DEBRIS_AREA_FRACTION`` of the area.
    """
    labels = face_components(surface.faces)
    area = np.bincount(labels, weights=surface.face_areas_mm2)
    if len(area) == 1:
        return surface
    bodies = np.flatnonzero(area >= DEBRIS_AREA_FRACTION * area.sum())
    if len(bodies) > 1:
        sizes = ", ".join(f"{a / 100:.3g}" for a in np.sort(area[bodies])[::-1])
        msg = (
            f"{surface.name}: found {len(bodies)} disconnected bodies (areas {sizes} cm2); a "
            "target must be one piece: remove the others or load them as occluders"
        )
        raise InputError(msg)
    keep = labels == bodies[0]
    logger.warning(
        "%s: repaired: dropped %d small disconnected pieces (%.2g cm2 of debris)",
        surface.name,
        len(area) - 1,
        (area.sum() - area[bodies[0]]) / 100,
    )
    used, faces = np.unique(surface.faces[keep], return_inverse=True)
    new_index = np.full(len(surface.vertices_mm), -1)
    new_index[used] = np.arange(len(used))
    regions = {k: new_index[v][new_index[v] >= 0] for k, v in surface.regions.items()}
    return Surface(
        surface.vertices_mm[used], faces.reshape(-1, 3), regions=regions, name=surface.name
    )


@dataclass(frozen=True)
class Alignment:
    """A rigid transform into the anatomy frame and how well it fits.

    Attributes
    ----------
    matrix : (4, 4) float64
        Homogeneous transform, mm: ``anatomy = matrix @ [scan, 1]``.
    rms_mm : float, mm
        Root-mean-square distance of the fit: between the landmarks, or from the scan points
        to the reference anatomy after ICP (0 for a given matrix).
    """

    matrix: NDArray[np.float64]
    rms_mm: float

    def apply(self, surface: Surface) -> Surface:
        """``surface`` moved into the anatomy frame (regions kept)."""
        moved = surface.vertices_mm @ self.matrix[:3, :3].T + self.matrix[:3, 3]
        return Surface(moved, surface.faces, regions=surface.regions, name=surface.name)


def check_rigid(matrix: NDArray[np.float64], *, name: str) -> NDArray[np.float64]:
    """Return ``matrix`` as a (4, 4) rigid transform (rotation and translation), or raise."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4) or not np.isfinite(m).all():
        msg = f"{name}: expected a 4 x 4 matrix of finite numbers, got shape {m.shape}"
        raise InputError(msg)
    rotation = m[:3, :3]
    rigid = (
        np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
        and np.linalg.det(rotation) > 0
        and np.allclose(m[3], [0.0, 0.0, 0.0, 1.0])
    )
    if not rigid:
        msg = f"{name}: expected a rigid transform (a rotation and a translation, no scaling)"
        raise InputError(msg)
    return m


def _kabsch(source: NDArray[np.float64], target: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the rigid (4, 4) transform minimising the squared distances source to target."""
    a, b = source.mean(axis=0), target.mean(axis=0)
    u, _, vt = np.linalg.svd((source - a).T @ (target - b))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = b - rotation @ a
    return matrix


def landmark_alignment(
    points_mm: dict[str, NDArray[np.float64]],
    reference: dict[str, NDArray[np.float64]],
    *,
    name: str = "points_mm",
) -> Alignment:
    """Return the rigid transform taking named scan points onto the reference's landmarks.

    Parameters
    ----------
    points_mm : dict of str to (3,) float, mm
        At least three landmarks, not on one line, picked on the scan (scan frame).
    reference : dict of str to (3,) float, mm
        The landmarks in the anatomy frame (:func:`twin.geometry.anatomy.landmarks`).
    name : str
        Where the points came from, named in messages.

    Raises
    ------
    InputError
        If a name is unknown, fewer than three are given, or they are (nearly) collinear.
    """
    for key in points_mm:
        if key not in reference:
            msg = f"{name}: unknown landmark {key!r}; known: {', '.join(reference)}"
            raise InputError(msg)
    if len(points_mm) < 3:
        msg = f"{name}: expected at least 3 landmarks, got {len(points_mm)}"
        raise InputError(msg)
    source = np.array([points_mm[k] for k in points_mm], dtype=np.float64)
    target = np.array([reference[k] for k in points_mm])
    spread = np.linalg.svd(source - source.mean(axis=0), compute_uv=False)
    if spread[1] < 1e-3 * spread[0] or spread[1] < 1.0:
        msg = f"{name}: the landmarks lie on one line; give three or more spread out"
        raise InputError(msg)
    matrix = _kabsch(source, target)
    moved = source @ matrix[:3, :3].T + matrix[:3, 3]
    rms = float(np.sqrt(np.mean(np.sum((moved - target) ** 2, axis=1))))
    return Alignment(matrix, rms)


def _start_rotations(count_forward: int = 40, count_roll: int = 8) -> list[NDArray[np.float64]]:
    """Return rotations spread over SO(3).

    Each of ``count_forward`` directions (a Fibonacci sphere) is taken to +Z, at
    ``count_roll`` roll angles about it.
    """
    k = np.arange(count_forward) + 0.5
    z = 1.0 - 2.0 * k / count_forward
    azimuth = np.pi * (3.0 - np.sqrt(5.0)) * k
    r = np.sqrt(1.0 - z**2)
    out = []
    for forward in np.column_stack([r * np.cos(azimuth), r * np.sin(azimuth), z]):
        helper = np.array([1.0, 0.0, 0.0]) if abs(forward[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        side = np.cross(helper, forward)
        side /= np.linalg.norm(side)
        up = np.cross(forward, side)
        to_z = np.array([side, up, forward])  # rows: maps forward to +Z
        for roll in np.linspace(0.0, 2.0 * np.pi, count_roll, endpoint=False):
            c, s_ = np.cos(roll), np.sin(roll)
            out.append(np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]]) @ to_z)
    return out


def _trimmed_icp(
    points: NDArray[np.float64],
    tree: cKDTree,
    matrix: NDArray[np.float64],
    *,
    iterations: int,
    normals: NDArray[np.float64] | None = None,
    keep: float = 0.9,
) -> tuple[NDArray[np.float64], float]:
    """ICP that fits only the closest ``keep`` fraction of pairs each step.

    Point-to-point (Kabsch) without ``normals``; point-to-plane (linearised, each step a
    small rotation and a translation by least squares) with the reference's unit normals,
    which slides along the surface and converges to sub-millimetre fits. Trimming lets a scan
    reach beyond the reference (shoulders, hair) or cover only part of it. Returns the
    matrix and the RMS distance of the kept pairs.
    """
    cloud = tree.data
    rms = np.inf
    for _ in range(iterations):
        moved = points @ matrix[:3, :3].T + matrix[:3, 3]
        distance, nearest = tree.query(moved)
        kept = distance <= np.quantile(distance, keep)
        rms = float(np.sqrt(np.mean(distance[kept] ** 2)))
        if normals is None:
            matrix = _kabsch(points[kept], cloud[nearest[kept]])
            continue
        p, q, n = moved[kept], cloud[nearest[kept]], normals[nearest[kept]]
        rows = np.hstack([np.cross(p, n), n])
        step, *_ = np.linalg.lstsq(rows, np.einsum("ij,ij->i", q - p, n), rcond=None)
        update = np.eye(4)
        update[:3, :3] = _rotation(step[:3])
        update[:3, 3] = step[3:]
        matrix = update @ matrix
    return matrix, rms


def _rotation(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the rotation by angle |v| about v (Rodrigues)."""
    angle = np.linalg.norm(vector)
    if angle < 1e-15:
        return np.eye(3)
    k = vector / angle
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


def icp_alignment(
    surface: Surface, reference: Surface, *, initial: NDArray[np.float64] | None = None
) -> Alignment:
    """Align ``surface`` onto ``reference`` by rigid, trimmed ICP.

    Without ``initial``, 144 orientations spread over all rotations, each centred on the
    reference, get a few point-to-point iterations between 150 scan points and every tenth
    reference vertex; the best three are refined on 2,000 points and the best of those is
    finished point-to-plane, so the scan may arrive in any orientation. Give a reference
    that covers the scan: a face scan fits a whole head in more than one place.

    Parameters
    ----------
    surface : Surface
        The scan, mm, scan frame.
    reference : Surface
        The anatomy it is aligned to, mm, anatomy frame.
    initial : (4, 4) float64, optional
        A rigid transform to start from instead of the search over orientations.

    Returns
    -------
    Alignment
        The transform from the scan frame to the anatomy frame and its residual.
    """
    rng = np.random.default_rng(0)
    points = surface.vertices_mm
    if len(points) > _ICP_POINTS:
        points = points[rng.choice(len(points), _ICP_POINTS, replace=False)]
    cloud = reference.vertices_mm
    tree = cKDTree(cloud)
    if initial is None:
        coarse = points[rng.choice(len(points), min(150, len(points)), replace=False)]
        sparse = cKDTree(cloud[::10])
        trials = []
        for rotation in _start_rotations(24, 6):
            start = np.eye(4)
            start[:3, :3] = rotation
            start[:3, 3] = cloud.mean(axis=0) - coarse.mean(axis=0) @ rotation.T
            trials.append(_trimmed_icp(coarse, sparse, start, iterations=8))
        starts = [m for m, _ in sorted(trials, key=lambda t: t[1])[:3]]
        fits = [_trimmed_icp(points, tree, m, iterations=20) for m in starts]
        initial = min(fits, key=lambda t: t[1])[0]
    matrix, rms = _trimmed_icp(
        points,
        tree,
        np.asarray(initial, dtype=np.float64),
        iterations=20,
        normals=reference.vertex_normals,
    )
    return Alignment(matrix, rms)


def transfer_regions(
    surface: Surface, reference: Surface, *, max_distance_mm: float = REGION_DISTANCE_MM
) -> Surface:
    """``surface`` with the regions of ``reference``, by nearest reference vertex.

    Both must be in the same frame (align first). A vertex farther than ``max_distance_mm``
    from every reference vertex gets no region; regions that no vertex receives are left out.
    """
    distance, nearest = cKDTree(reference.vertices_mm).query(surface.vertices_mm)
    owner = np.full(len(reference.vertices_mm), -1)
    for i, idx in enumerate(reference.regions.values()):
        owner[idx] = i
    label = np.where(distance <= max_distance_mm, owner[nearest], -1)
    regions = {
        name: np.flatnonzero(label == i)
        for i, name in enumerate(reference.regions)
        if np.any(label == i)
    }
    return Surface(surface.vertices_mm, surface.faces, regions=regions, name=surface.name)
