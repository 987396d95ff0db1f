"""The scene's surfaces: its target (built-in, variant or scan) and its occluders.

A built-in target is refined and shaped here (``max_edge_mm``, ``variant``); a scan is read
in its units, checked for size, reduced to one body, aligned to the anatomy frame
(``align``) and given a built-in anatomy's regions (``regions_from``); see README "Scans".
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from twin._validation import (
    MIN_EDGE_MM,
    as_bool,
    as_bounded,
    as_mapping,
    as_points,
    as_string,
    check_keys,
)
from twin.errors import InputError
from twin.geometry import anatomy, phantoms
from twin.geometry.meshio import check_target_size, load_surface
from twin.geometry.scans import (
    Alignment,
    check_rigid,
    icp_alignment,
    landmark_alignment,
    single_body,
    transfer_regions,
)
from twin.geometry.surface import Surface
from twin.geometry.variants import Variant
from twin.scene.model import OccluderSource, TargetSource
from twin.scene.schema import (
    ALIGN_KEYS,
    BUILTIN_TARGETS,
    EYE_SHIELDS,
    OCCLUDER_KEYS,
    TARGET_KEYS,
    as_path,
)
from twin.units import MM_PER_UNIT, mm_per_unit

logger = logging.getLogger(__name__)

#: A scan whose regions come from a built-in anatomy is plausibly this many times smaller or
#: larger than the built-in one (a face alone up to a head and shoulders); outside, it is the
#: wrong unit.
ANATOMY_SIZE_FACTOR = 3.0
#: A landmark fit worse than this means wrong names or units, not a different person.
MAX_LANDMARK_RMS_MM = 20.0


def builtin_surface(
    name: str, *, max_edge_mm: float | None = None, variant: Variant | None = None
) -> Surface:
    """Return a built-in target by name (without ``builtin:``), refined to ``max_edge_mm``.

    The head phantom takes the first icosphere level whose edges are all at most
    ``max_edge_mm`` (default 4 mm) and has no variants; the anatomies use
    :func:`twin.geometry.anatomy.builtin`.

    Parameters
    ----------
    name : str
        ``phantom-head`` or a built-in anatomy.
    max_edge_mm : float, optional, mm
        The longest edge wanted.
    variant : Variant, optional
        The body shape of an anatomy.

    Returns
    -------
    Surface
        In mm, with its regions.
    """
    if name != "phantom-head":
        return anatomy.builtin(name, max_edge_mm=max_edge_mm, variant=variant)
    if variant is not None:
        msg = "variant: builtin:phantom-head has no shape variants"
        raise InputError(msg)
    limit = 4.0 if max_edge_mm is None else max_edge_mm
    for level in range(1, 8):
        head = phantoms.head(subdivisions=level)
        if head.max_edge_mm <= limit:
            break
    return head


def load_target(
    spec: dict[str, Any], *, where: str, base: Path
) -> tuple[Surface, Variant | None, TargetSource]:
    """Load the ``target:`` section ``spec`` (``where`` names it in messages).

    Parameters
    ----------
    spec : dict
        The section's keys.
    where : str
        The section, for messages.
    base : Path
        Folder that a relative mesh path is taken from.

    Returns
    -------
    surface : Surface
        The skin, mm, in the anatomy frame, with its regions.
    variant : Variant or None
        A built-in anatomy's body shape.
    source : TargetSource
        Where it came from.

    Raises
    ------
    InputError
    """
    check_keys(spec, TARGET_KEYS, name=where)
    if "population" in spec:
        msg = (
            f"{where}.population: this scene is a population; load it with "
            "twin.load_scenes (twin render renders every member)"
        )
        raise InputError(msg)
    if "mesh" not in spec:
        msg = (
            f"{where}: missing required key 'mesh' (a mesh file or one of "
            f"{', '.join(BUILTIN_TARGETS)})"
        )
        raise InputError(msg)
    mesh = as_string(spec["mesh"], name=f"{where}.mesh")
    flip = as_bool(spec.get("flip_normals", False), name=f"{where}.flip_normals")
    if mesh.startswith("builtin:"):
        return _builtin_target(mesh, spec, where=where, flip=flip)
    surface, source = _scan_target(mesh, spec, where=where, base=base, flip=flip)
    return surface, None, source


def _builtin_target(
    mesh: str, spec: dict[str, Any], *, where: str, flip: bool
) -> tuple[Surface, Variant | None, TargetSource]:
    if mesh not in BUILTIN_TARGETS:
        msg = f"{where}.mesh: unknown built-in {mesh!r}; available: {', '.join(BUILTIN_TARGETS)}"
        raise InputError(msg)
    for key, why in (
        ("align", "built-in targets are in the anatomy frame already"),
        ("regions_from", "built-in targets have their own regions"),
    ):
        if key in spec:
            msg = f"{where}.{key}: {why}"
            raise InputError(msg)
    units = spec.get("units", "mm")
    if units != "mm":
        msg = f"{where}.units: built-in targets are in mm, got {units!r}"
        raise InputError(msg)
    max_edge = spec.get("max_edge_mm")
    if max_edge is not None:
        max_edge = as_bounded(
            max_edge, name=f"{where}.max_edge_mm", low=MIN_EDGE_MM, high=math.inf
        )
    variant = None
    if "variant" in spec:
        if mesh == "builtin:phantom-head":
            msg = f"{where}.variant: builtin:phantom-head has no shape variants"
            raise InputError(msg)
        variant = Variant.from_dict(spec["variant"], name=f"{where}.variant")
    surface = builtin_surface(mesh.removeprefix("builtin:"), max_edge_mm=max_edge, variant=variant)
    surface = surface.flipped() if flip else surface
    return surface, variant, TargetSource(mesh, flip_normals=flip, max_edge_mm=max_edge)


def _scan_target(
    mesh: str, spec: dict[str, Any], *, where: str, base: Path, flip: bool
) -> tuple[Surface, TargetSource]:
    for key, why in (
        ("max_edge_mm", "only built-in targets are refined; refine a file beforehand"),
        ("variant", "only built-in targets have shape variants"),
    ):
        if key in spec:
            msg = f"{where}.{key}: {why}"
            raise InputError(msg)
    if "units" not in spec:
        msg = (
            f"{where}.units: missing; a mesh file has no units of its own, state one of "
            f"{', '.join(MM_PER_UNIT)}"
        )
        raise InputError(msg)
    units = spec["units"]
    mm_per_unit(units, name=f"{where}.units")
    regions_from = spec.get("regions_from")
    if regions_from is not None and regions_from not in anatomy.ANATOMIES:
        msg = (
            f"{where}.regions_from: expected a built-in anatomy "
            f"({', '.join(anatomy.ANATOMIES)}), got {regions_from!r}"
        )
        raise InputError(msg)
    path = as_path(mesh, name=f"{where}.mesh", base=base)
    surface = load_surface(path, units=units, flip_normals=flip)
    if regions_from is None:
        check_target_size(surface, units=units)
    else:
        typical = float(anatomy.builtin(regions_from).extent_mm.max())
        check_target_size(
            surface,
            units=units,
            size_range_mm=(typical / ANATOMY_SIZE_FACTOR, typical * ANATOMY_SIZE_FACTOR),
            body_part=f"a {regions_from} (target.regions_from)",
        )
    surface = single_body(surface)
    matrix = None
    if "align" in spec:
        alignment = _alignment(
            spec["align"], surface, where=f"{where}.align", units=units, default=regions_from
        )
        surface = alignment.apply(surface)
        logger.info("%s: aligned to the anatomy frame, fit RMS %.3g mm", where, alignment.rms_mm)
        matrix = tuple(tuple(row) for row in alignment.matrix.tolist())
    if regions_from is not None:
        surface = transfer_regions(surface, anatomy.builtin(regions_from))
    source = TargetSource(
        str(path), units, flip_normals=flip, alignment=matrix, regions_from=regions_from
    )
    return surface, source


def _alignment(
    spec: Any, surface: Surface, *, where: str, units: str, default: str | None
) -> Alignment:
    """Fit the rigid transform ``target.align`` asks for (see README "Scans")."""
    spec = {"icp": True} if spec == "icp" else as_mapping(spec, name=where)
    check_keys(spec, ALIGN_KEYS, name=where)
    if "matrix" in spec:
        if len(spec) > 1:
            msg = f"{where}: a matrix is the whole alignment; give no other keys with it"
            raise InputError(msg)
        return Alignment(check_rigid(spec["matrix"], name=f"{where}.matrix"), 0.0)
    reference_name = spec.get("reference", default or "head")
    if reference_name not in anatomy.ANATOMIES:
        msg = (
            f"{where}.reference: expected a built-in anatomy ({', '.join(anatomy.ANATOMIES)}), "
            f"got {reference_name!r}"
        )
        raise InputError(msg)
    use_icp = as_bool(spec.get("icp", "landmarks" not in spec), name=f"{where}.icp")
    initial = None
    if "landmarks" in spec:
        picked = as_mapping(spec["landmarks"], name=f"{where}.landmarks")
        scale = MM_PER_UNIT[units]
        points = {
            key: np.asarray(as_points([value], name=f"{where}.landmarks.{key}")[0]) * scale
            for key, value in picked.items()
        }
        fit = landmark_alignment(points, anatomy.landmarks(anchor=None), name=f"{where}.landmarks")
        if fit.rms_mm > MAX_LANDMARK_RMS_MM:
            msg = (
                f"{where}.landmarks: they fit the built-in landmarks with an RMS error of "
                f"{fit.rms_mm:.3g} mm (more than {MAX_LANDMARK_RMS_MM:g} mm); check their "
                f"names and that they are in {units}"
            )
            raise InputError(msg)
        if not use_icp:
            return fit
        initial = fit.matrix
    if not use_icp:
        msg = f"{where}: give landmarks, icp: true, or a matrix"
        raise InputError(msg)
    return icp_alignment(surface, anatomy.builtin(reference_name), initial=initial)


def load_occluder(
    spec: Any, *, where: str, base: Path, variant: Variant | None
) -> tuple[Surface, OccluderSource]:
    """Load one entry of ``occluders:`` (the built-in eye shields fit ``variant``).

    Returns
    -------
    surface : Surface
        In mm.
    source : OccluderSource
        Where it came from.

    Raises
    ------
    InputError
    """
    spec = as_mapping(spec, name=where)
    check_keys(spec, OCCLUDER_KEYS, name=where)
    if spec.get("mesh") == EYE_SHIELDS:
        if set(spec) - {"mesh", "units", "reflectance"} or spec.get("units", "mm") != "mm":
            msg = f"{where}: {EYE_SHIELDS} takes no other keys but reflectance (it is in mm)"
            raise InputError(msg)
        return anatomy.eye_shields(variant), OccluderSource(EYE_SHIELDS)
    for key in ("mesh", "units"):
        if key not in spec:
            msg = f"{where}: missing required key {key!r}"
            raise InputError(msg)
    mm_per_unit(spec["units"], name=f"{where}.units")
    path = as_path(spec["mesh"], name=f"{where}.mesh", base=base)
    flip = as_bool(spec.get("flip_normals", False), name=f"{where}.flip_normals")
    surface = load_surface(path, units=spec["units"], flip_normals=flip)
    return surface, OccluderSource(str(path), spec["units"], flip_normals=flip)
