"""The scene file's schema: its keys, its defaults, and the parsers of plain values.

Every key a scene file may hold is listed here; README.md documents each with its default.
The ``dose:`` and ``engine:`` sections are parsed here too (:func:`parse_dose`,
:func:`parse_engine`), being nothing but numbers and names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin._validation import (
    as_bool,
    as_bounded,
    as_file_path,
    as_mapping,
    as_positive,
    as_string,
    check_keys,
)
from twin.dose.maps import DoseSettings
from twin.engine.backends import CHOICES
from twin.engine.interreflection import DEFAULT_PATCH_MM
from twin.engine.settings import DEFAULT_INTENSITY_CUTOFF
from twin.errors import InputError
from twin.geometry import anatomy
from twin.geometry.surface import Surface

TOP_KEYS = (
    "name",
    "description",
    "target",
    "occluders",
    "emitters",
    "mode",
    "exposure_s",
    "dose",
    "engine",
    "tissue",
    "detectors",
    "checks",
)
TARGET_KEYS = (
    "mesh",
    "units",
    "max_edge_mm",
    "variant",
    "population",
    "flip_normals",
    "align",
    "regions_from",
    "samples",
    "treat",
    "exclude",
    "reflectance",
)
POPULATION_KEYS = ("size", "seed", "age_years", "skin_types")
ALIGN_KEYS = ("landmarks", "icp", "reference", "matrix")
OCCLUDER_KEYS = ("mesh", "units", "flip_normals", "reflectance")
EMITTER_KEYS = (
    "file",
    "units",
    "half_angle_deg",
    "profile",
    "profiles",
    "channel",
    "wavelength_nm",
    "apertures",
    "emitting_area_mm2",
    "spectrum",
    "shell",
    "interior",
    "frame",
)
APERTURE_KEYS = ("shape", "size_mm", "samples")
DOSE_KEYS = (
    "fluence_window_j_cm2",
    "irradiance_limit_mw_cm2",
    "eye_ir_limit_mw_cm2",
    "absorbed_limit_mw_cm2",
)
ENGINE_KEYS = ("backend", "intensity_cutoff", "max_distance_mm", "interreflection", "patch_mm")
SAMPLES = ("vertices", "centroids")
#: The patch sizes a scene may ask for, mm: finer costs time as the square of the count,
#: coarser blurs the returned light past the features of a face.
MIN_PATCH_MM, MAX_PATCH_MM = 1.0, 50.0

BUILTIN_ANATOMIES = tuple(f"builtin:{n}" for n in anatomy.ANATOMIES)
BUILTIN_TARGETS = (*BUILTIN_ANATOMIES, "builtin:phantom-head")
#: The built-in occluder: a pair of eye shields (goggles) over the built-in face's eyes.
EYE_SHIELDS = "builtin:eye-shields"
#: The region left out of the treated skin by default (when the target has it).
EYE_REGION = "eyes"


@dataclass(frozen=True)
class EngineSettings:
    """Ray-casting settings (see :func:`twin.engine.transfer.transfer_matrix`).

    Attributes
    ----------
    backend : {"auto", "reference", "embree", "cuda"}
    intensity_cutoff : float
        Fraction of an emitter's peak intensity below which its rays are not cast, in [0, 1).
    max_distance_mm : float, mm
        Emitter-to-sample distance beyond which nothing is cast (``inf``: no limit).
    interreflection : bool or None
        Solve the light skin, carrier and occluders return to each other
        (:mod:`twin.engine.interreflection`); ``None``: whenever a surface reflects.
    patch_mm : float, mm
        Size of the patches that carry the returned light.
    """

    backend: str = "auto"
    intensity_cutoff: float = DEFAULT_INTENSITY_CUTOFF
    max_distance_mm: float = math.inf
    interreflection: bool | None = None
    patch_mm: float = DEFAULT_PATCH_MM


def as_path(value: Any, *, name: str, base: Path) -> Path:
    """Return the file ``value`` names, relative paths taken from the folder ``base``."""
    path = as_file_path(as_string(value, name=name), name=name)
    return path if path.is_absolute() else (base / path).resolve()


def as_regions(value: Any, *, name: str, surface: Surface) -> tuple[str, ...]:
    """``value`` as a tuple of region names of ``surface``, else raise naming ``name``."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = f"{name}: expected a list of region names, got {value!r}"
        raise InputError(msg)
    for region in value:
        if region not in surface.regions:
            have = ", ".join(surface.regions) or "none"
            msg = f"{name}: unknown region {region!r}; the target has: {have}"
            raise InputError(msg)
    return tuple(value)


def parse_dose(spec: Any, *, where: str) -> DoseSettings:
    """Parse the ``dose:`` section (absent: every default) into :class:`DoseSettings`."""
    spec = as_mapping({} if spec is None else spec, name=where)
    check_keys(spec, DOSE_KEYS, name=where)
    window = spec.get("fluence_window_j_cm2", [4.0, 10.0])
    ok = (
        isinstance(window, list)
        and len(window) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in window)
        and all(math.isfinite(v) for v in window)
        and 0 <= window[0] < window[1]
    )
    if not ok:
        msg = (
            f"{where}.fluence_window_j_cm2: expected [low, high] of finite numbers with "
            f"0 <= low < high, got {window!r}"
        )
        raise InputError(msg)
    return DoseSettings(
        fluence_window_j_cm2=(float(window[0]), float(window[1])),
        irradiance_limit_mw_cm2=as_positive(
            spec.get("irradiance_limit_mw_cm2", 100.0), name=f"{where}.irradiance_limit_mw_cm2"
        ),
        eye_ir_limit_mw_cm2=None
        if spec.get("eye_ir_limit_mw_cm2") is None
        else as_positive(spec["eye_ir_limit_mw_cm2"], name=f"{where}.eye_ir_limit_mw_cm2"),
        absorbed_limit_mw_cm2=as_positive(
            spec.get("absorbed_limit_mw_cm2", DoseSettings.absorbed_limit_mw_cm2),
            name=f"{where}.absorbed_limit_mw_cm2",
        ),
    )


def parse_engine(spec: Any, *, where: str) -> EngineSettings:
    """Parse the ``engine:`` section (absent: every default) into :class:`EngineSettings`."""
    spec = as_mapping({} if spec is None else spec, name=where)
    check_keys(spec, ENGINE_KEYS, name=where)
    backend = spec.get("backend", "auto")
    if backend not in CHOICES:
        msg = f"{where}.backend: expected one of {', '.join(CHOICES)}, got {backend!r}"
        raise InputError(msg)
    cutoff = as_positive(
        spec.get("intensity_cutoff", DEFAULT_INTENSITY_CUTOFF),
        name=f"{where}.intensity_cutoff",
        allow_zero=True,
    )
    if cutoff >= 1.0:
        msg = f"{where}.intensity_cutoff: expected a fraction in [0, 1), got {cutoff!r}"
        raise InputError(msg)
    max_d = spec.get("max_distance_mm")
    max_d = math.inf if max_d is None else as_positive(max_d, name=f"{where}.max_distance_mm")
    bounce = spec.get("interreflection")
    if bounce is not None:
        bounce = as_bool(bounce, name=f"{where}.interreflection")
    patch = as_bounded(
        spec.get("patch_mm", DEFAULT_PATCH_MM),
        name=f"{where}.patch_mm",
        low=MIN_PATCH_MM,
        high=MAX_PATCH_MM,
    )
    return EngineSettings(
        backend=backend,
        intensity_cutoff=cutoff,
        max_distance_mm=max_d,
        interreflection=bounce,
        patch_mm=patch,
    )
