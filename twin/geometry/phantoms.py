"""Procedural test surfaces: planes, spheres, tori, disks and a head phantom.

They have exact analytic properties (a plane's irradiance, a closed sphere's flux) for
validation, and the head phantom stands in for anatomy in the default scene and the benchmark.
All lengths in mm; normals follow the winding (counter-clockwise seen from the lit side).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from twin.geometry.surface import Surface


def _grid_faces(
    rows: int, cols: int, *, wrap_cols: bool = False, wrap_rows: bool = False
) -> np.ndarray:
    """Two triangles per cell of a rows x cols vertex grid (index = row * cols + col)."""
    r_max = rows if wrap_rows else rows - 1
    c_max = cols if wrap_cols else cols - 1
    rows_grid, cols_grid = np.meshgrid(np.arange(r_max), np.arange(c_max), indexing="ij")
    r, c = rows_grid.ravel(), cols_grid.ravel()
    a = r * cols + c
    b = r * cols + (c + 1) % cols
    d = ((r + 1) % rows) * cols + c
    e = ((r + 1) % rows) * cols + (c + 1) % cols
    return np.concatenate([np.stack([a, b, e], 1), np.stack([a, e, d], 1)])


def plane(*, size_mm: float = 200.0, divisions: int = 64, z_mm: float = 0.0) -> Surface:
    """Square in the z = ``z_mm`` plane, centred on the z axis, normal +z."""
    u = np.linspace(-size_mm / 2, size_mm / 2, divisions + 1)
    x, y = np.meshgrid(u, u, indexing="ij")
    vertices = np.stack([x.ravel(), y.ravel(), np.full(x.size, z_mm)], 1)
    faces = _grid_faces(divisions + 1, divisions + 1)[:, ::-1]
    return Surface(vertices, faces, name="phantom:plane")


def sphere(*, radius_mm: float = 50.0, subdivisions: int = 4, inward: bool = False) -> Surface:
    """Icosphere at the origin; ``inward`` turns the normals to the centre."""
    import trimesh  # its icosphere

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius_mm)
    faces = mesh.faces[:, ::-1] if inward else mesh.faces
    return Surface(mesh.vertices, faces, name="phantom:sphere")


def torus(
    *,
    major_mm: float = 50.0,
    minor_mm: float = 20.0,
    n_major: int = 192,
    n_minor: int = 96,
    inward: bool = False,
) -> Surface:
    """Torus around the z axis; ``inward`` turns the normals into the tube."""
    u = np.linspace(0, 2 * np.pi, n_major, endpoint=False)
    v = np.linspace(0, 2 * np.pi, n_minor, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    ring = major_mm + minor_mm * np.cos(vv)
    vertices = np.stack([ring * np.cos(uu), ring * np.sin(uu), minor_mm * np.sin(vv)], -1).reshape(
        -1, 3
    )
    faces = _grid_faces(n_major, n_minor, wrap_cols=True, wrap_rows=True)
    faces = faces if inward else faces[:, ::-1]
    return Surface(vertices, faces, name="phantom:torus")


def disk(
    *,
    radius_mm: float,
    center_mm: ArrayLike = (0.0, 0.0, 0.0),
    segments: int = 256,
    facing_up: bool = True,
) -> Surface:
    """Flat regular polygon (inscribed in the circle) in a z = const plane, as a fan."""
    t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    rim = np.stack([radius_mm * np.cos(t), radius_mm * np.sin(t), np.zeros_like(t)], 1)
    vertices = np.vstack([[0.0, 0.0, 0.0], rim]) + np.asarray(center_mm, dtype=float)
    i = np.arange(segments)
    faces = np.stack([np.zeros(segments, int), 1 + i, 1 + (i + 1) % segments], 1)
    return Surface(vertices, faces if facing_up else faces[:, ::-1], name="phantom:disk")


# Head phantom: an ellipsoid (half-width 75, half-height 105, half-depth 95 mm) facing +Z,
# with a nose, brow ridge and two eye hollows, so that the nose and brow shade the eyes.
_HEAD_AXES_MM = np.array([75.0, 105.0, 95.0])
_EYES_MM = np.array([[32.0, 22.0], [-32.0, 22.0]])  # (x, y) of the eye centres
_EYE_RADIUS_MM = 15.0


def head(*, subdivisions: int = 5) -> Surface:
    """Build a closed, smooth head phantom in the anatomy frame (+Y up, face to +Z), mm.

    Parameters
    ----------
    subdivisions : int, default: 5
        Icosphere level: 5 gives 10,242 vertices (edge about 3 mm), 7 gives 163,842.

    Returns
    -------
    Surface
        With regions ``forehead``, ``eyes``, ``nose``, ``cheeks``, ``chin`` (together the
        face) and ``back`` (the rest of the head).
    """
    import trimesh  # its icosphere

    unit = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    base = unit.vertices * _HEAD_AXES_MM
    x, y = base[:, 0], base[:, 1]
    front = np.clip(unit.vertices[:, 2], 0.0, None)
    nose = 24.0 * np.exp(-((x / 11.0) ** 2) - ((y + 5.0) / 24.0) ** 2) * front**4
    brow = 6.0 * np.exp(-(((y - 42.0) / 8.0) ** 2)) * np.exp(-((x / 55.0) ** 2)) * front**2
    eyes = sum(
        -8.0 * np.exp(-((x - ex) ** 2 + (y - ey) ** 2) / (2 * 8.0**2)) * front**2
        for ex, ey in _EYES_MM
    )
    vertices = base + unit.vertex_normals * (nose + brow + eyes)[:, None]
    # Regions on the undeformed ellipsoid coordinates, so they do not depend on the bumps.
    face = unit.vertices[:, 2] > 0.35
    in_eye = np.zeros(len(base), dtype=bool)
    for ex, ey in _EYES_MM:
        in_eye |= (x - ex) ** 2 + (y - ey) ** 2 < _EYE_RADIUS_MM**2
    in_eye &= face
    in_nose = face & ~in_eye & (np.abs(x) < 14.0) & (y > -40.0) & (y < 32.0)
    forehead = face & ~in_eye & ~in_nose & (y >= 32.0)
    chin = face & ~in_eye & ~in_nose & (y < -55.0)
    cheeks = face & ~in_eye & ~in_nose & ~forehead & ~chin
    regions = {
        "forehead": np.flatnonzero(forehead),
        "eyes": np.flatnonzero(in_eye),
        "nose": np.flatnonzero(in_nose),
        "cheeks": np.flatnonzero(cheeks),
        "chin": np.flatnonzero(chin),
        "back": np.flatnonzero(~face),
    }
    return Surface(vertices, unit.faces, regions=regions, name="builtin:phantom-head")
