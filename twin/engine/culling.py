"""Culling: what every backend tests before it casts a ray, from one source.

A transfer matrix never traces a (point, emitter) pair that cannot be lit. Sample points are
grouped into cells of nearby points (:func:`make_cells`), each with a bounding sphere and a
cone of normals, and each emitter gets the cosine of its emission cone (:func:`cone_cosines`).
Then two tests, which never drop a contribution whose relative intensity is at or above the
intensity cut-off:

1. per (emitter, cell), :func:`cell_reachable`: the whole cell is outside the emission cone,
   out of range, or faces away;
2. per (emitter, point) of the cells that remain, :func:`pair_geometry`: the exact facing, cone
   and range tests.

The two tests are plain Python compiled twice: numba compiles them into the CPU kernels
(:mod:`twin.engine.backends._cpu_kernels`) and numba-cuda into the device kernels
(:mod:`twin.engine.backends._cuda_kernels`), so both backends cull the same pairs: to the bit
under the CUDA simulator, which runs them as they are; up to rounding on a GPU, whose compiler
fuses multiply-adds (a pair within an ulp of a test may go either way). All geometry is
float64, in mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from twin.devices.emitters import Emitters
from twin.geometry.surface import SamplePoints

_SLACK = 1e-9  # keeps the cell tests conservative under rounding
_POINTS_PER_CELL = 64


@dataclass(frozen=True)
class Cells:
    """Sample points grouped into grid cells, each with a bounding sphere and normal cone.

    Attributes
    ----------
    order : (k,) int32
        Sample index of each position in cell order.
    points : (k, 6) float64
        Position (mm) and unit normal of each sample, in cell order: the points of one cell
        are contiguous.
    start, count : (c,) int64
        First position in cell order and number of points of each cell.
    centre : (c, 3) float64, mm
    radius : (c,) float64, mm
        Bounding sphere of each cell.
    normal : (c, 3) float64
        Unit mean normal of each cell.
    cos_cone, sin_cone : (c,) float64
        Cosine and sine of the half-angle of the normals around ``normal``.
    frame : (c, 2, 3) float64
        Two unit vectors across ``normal`` and each other: the axes of azimuth about it.
    """

    order: NDArray[np.int32]
    points: NDArray[np.float64]
    start: NDArray[np.int64]
    count: NDArray[np.int64]
    centre: NDArray[np.float64]
    radius: NDArray[np.float64]
    normal: NDArray[np.float64]
    cos_cone: NDArray[np.float64]
    sin_cone: NDArray[np.float64]
    frame: NDArray[np.float64]


def make_cells(samples: SamplePoints, *, points_per_cell: int = _POINTS_PER_CELL) -> Cells:
    """Group sample points into cubic cells of about ``points_per_cell`` points each.

    Parameters
    ----------
    samples : SamplePoints
        ``k`` skin points with normals.
    points_per_cell : int, default: 64

    Returns
    -------
    Cells
    """
    p, n = samples.positions_mm, samples.normals
    size = math.sqrt(points_per_cell * max(float(samples.areas_mm2.mean()), 1e-12))
    ijk = np.floor((p - p.min(axis=0)) / size).astype(np.int64)
    dims = ijk.max(axis=0) + 1
    key = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    order = np.argsort(key, kind="stable").astype(np.int32)
    _, start, count = np.unique(key[order], return_index=True, return_counts=True)
    ps, ns = p[order], n[order]
    centre = np.add.reduceat(ps, start) / count[:, None]
    cell_of = np.repeat(np.arange(len(start)), count)
    radius = np.maximum.reduceat(np.linalg.norm(ps - centre[cell_of], axis=1), start)
    mean_n = np.add.reduceat(ns, start)
    length = np.linalg.norm(mean_n, axis=1)
    normal = mean_n / np.maximum(length, 1e-300)[:, None]
    cos_dev = np.minimum.reduceat(np.einsum("ij,ij->i", ns, normal[cell_of]), start)
    cos_cone = np.where(length > 1e-9, np.clip(cos_dev, -1.0, 1.0), -1.0)
    sin_cone = np.sqrt(1.0 - cos_cone**2)
    return Cells(
        order=order,
        points=np.ascontiguousarray(np.hstack([p, n])[order]),
        start=start.astype(np.int64),
        count=count.astype(np.int64),
        centre=centre,
        radius=radius,
        normal=normal,
        cos_cone=cos_cone,
        sin_cone=sin_cone,
        frame=_frames(normal),
    )


def _frames(normal: NDArray[np.float64]) -> NDArray[np.float64]:
    """(c, 2, 3): two unit vectors across each unit ``normal`` and each other."""
    helper = np.where(np.abs(normal[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return np.ascontiguousarray(np.stack([u, np.cross(normal, u)], axis=1))


def emitter_rows(emitters: Emitters) -> NDArray[np.float64]:
    """(n, 6) float64: position (mm) and unit axis of each emitter, C-contiguous."""
    return np.ascontiguousarray(np.hstack([emitters.positions_mm, emitters.axes]))


def cone_cosines(emitters: Emitters, intensity_cutoff: float) -> NDArray[np.float64]:
    """Cosine of each emitter's emission-cone half-angle.

    Parameters
    ----------
    emitters : Emitters
        ``n`` LEDs.
    intensity_cutoff : float
        Fraction of peak intensity at the edge of the cone, in [0, 1).

    Returns
    -------
    (n,) float64
        Directions whose cosine off the axis is below this are outside the cone.
    """
    per_profile = np.array([p.cos_cutoff(intensity_cutoff) for p in emitters.profiles])
    return per_profile[emitters.profile_index]


def cell_reachable(ex, ey, ez, ax, ay, az, cos_cut, sin_cut, cx, cy, cz, radius,
                   nx, ny, nz, cos_cone, sin_cone, max_distance_mm):  # fmt: skip
    """Whether a cell may hold a point the emitter reaches.

    The emitter sits at ``e`` with unit axis ``a`` and emission-cone half-angle
    ``acos(cos_cut)``. A cell is a bounding sphere (centre ``c``, ``radius``) and a normal
    cone (unit mean normal ``n``, cos and sin of its half-angle). Rejected: cells wholly
    outside the emission cone, farther than the range, or whose every point faces away.
    """
    vx, vy, vz = cx - ex, cy - ey, cz - ez
    dist = math.sqrt(vx * vx + vy * vy + vz * vz)
    if dist <= radius:
        return True
    if dist - radius > max_distance_mm:
        return False
    # Emission cone: the sphere spans g = asin(r / dist) around the direction phi to its
    # centre; reached when phi <= acos(c) + g (always when that is >= pi).
    sin_g = radius / dist
    cos_g = math.sqrt(1.0 - sin_g * sin_g)
    cos_phi = (vx * ax + vy * ay + vz * az) / dist
    wraps = cos_cut < 0.0 and cos_g <= -cos_cut
    if not wraps and cos_phi < cos_cut * cos_g - sin_cut * sin_g - _SLACK:
        return False
    # Facing: n . (e - p) <= |e - c| cos(max(0, psi - cone)) + r for its points.
    cos_psi = -(vx * nx + vy * ny + vz * nz) / dist
    if cos_psi > cos_cone:
        cos_dev = 1.0
    else:
        sin_psi = math.sqrt(max(1.0 - cos_psi * cos_psi, 0.0))
        cos_dev = cos_psi * cos_cone + sin_psi * sin_cone
    return dist * (cos_dev + _SLACK) + radius > 0.0


def pair_geometry(ex, ey, ez, ax, ay, az, cos_cut, px, py, pz, nx, ny, nz, max_d2):
    """Run the exact facing, range and cone tests of one (point, emitter) pair.

    The point sits at ``p`` with unit normal ``n``. Returns ``(r, r cos(alpha),
    r cos(theta))`` in mm, with alpha the incidence angle at the skin and theta the angle off
    the LED axis; ``r`` is -1 when the pair fails a test.
    """
    dx, dy, dz = ex - px, ey - py, ez - pz
    r_cos_a = dx * nx + dy * ny + dz * nz
    r2 = dx * dx + dy * dy + dz * dz
    if r_cos_a <= 0.0 or r2 > max_d2:
        return -1.0, 0.0, 0.0
    r = math.sqrt(r2)
    r_cos_t = -(dx * ax + dy * ay + dz * az)
    if r_cos_t < cos_cut * r:
        return -1.0, 0.0, 0.0
    return r, r_cos_a, r_cos_t
