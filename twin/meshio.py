"""Reading skin and occluder meshes from files (OBJ, STL, PLY, GLB/GLTF, OFF via trimesh)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from twin.errors import InputError
from twin.surface import Surface
from twin.units import MM_PER_UNIT, mm_per_unit

#: Plausible overall size of a body-part target, mm (a face is about 150 mm wide, a torso 400).
TARGET_SIZE_RANGE_MM = (30.0, 2500.0)


def load_surface(path: str | Path, *, units: str, flip_normals: bool = False) -> Surface:
    """Read a triangle mesh and convert it to millimetres.

    Vertices shared by several triangles (STL stores each triangle separately) are welded, so
    that vertex normals and areas are those of the surface.

    Parameters
    ----------
    path : str or Path
    units : {"mm", "cm", "dm", "m"}
        Length unit of the file's coordinates: a mesh file carries none, so it must be stated.
    flip_normals : bool, default: False
        Reverse every triangle's winding (for meshes whose normals point into the body).

    Raises
    ------
    InputError
        If the file is missing or unreadable, holds no triangles, or is invalid as a Surface;
        if it is closed and wound inside-out (normals pointing inwards).
    """
    path = Path(path)
    scale = mm_per_unit(units, name=f"{path}: units")
    if not path.is_file():
        msg = f"{path}: mesh file not found"
        raise InputError(msg)
    try:
        mesh = trimesh.load(path, force="mesh", process=False, maintain_order=True)
    except Exception as exc:  # trimesh raises many types for malformed files
        msg = f"{path}: cannot read mesh ({type(exc).__name__}: {exc})"
        raise InputError(msg) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        msg = f"{path}: expected a triangle mesh, found no triangles"
        raise InputError(msg)
    if not np.isfinite(mesh.vertices).all():
        msg = f"{path}: vertices contain NaN or infinite coordinates"
        raise InputError(msg)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    mesh.remove_unreferenced_vertices()
    faces = mesh.faces[:, ::-1] if flip_normals else mesh.faces
    surface = Surface(np.asarray(mesh.vertices) * scale, faces, name=str(path))
    if surface.is_closed and surface.signed_volume_mm3 < 0:
        msg = (
            f"{path}: the mesh is closed but wound inside-out (its normals point inwards); "
            "fix the winding or set flip_normals: true"
        )
        raise InputError(msg)
    return surface


def check_target_size(surface: Surface, *, units: str) -> None:
    """Raise if ``surface`` is implausibly small or large for a body part, naming a likely unit."""
    size = float(surface.extent_mm.max())
    lo, hi = TARGET_SIZE_RANGE_MM
    if lo <= size <= hi:
        return
    raw = size / MM_PER_UNIT[units]
    likely = [u for u, f in MM_PER_UNIT.items() if lo <= raw * f <= hi and u != units]
    hint = f"; are the coordinates in {' or '.join(likely)}?" if likely else ""
    msg = (
        f"{surface.name}: the mesh is {size:.4g} mm across with units {units!r}, outside the "
        f"plausible {lo:g}-{hi:g} mm for a body part{hint}"
    )
    raise InputError(msg)
