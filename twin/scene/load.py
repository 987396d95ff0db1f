"""Scene files: the YAML that ties a target mesh, emitters, a mode and an exposure together.

Minimal form (design.md "File contracts")::

    name: example
    target:
      mesh: path/to/head.ply        # or builtin:phantom-head
      units: mm
    emitters:
      file: path/to/leds.csv
      half_angle_deg: 30
    exposure_s: 1200

Every key, with its default, is listed in ``SCHEMA`` below and documented in README.md.
Paths are relative to the scene file. Unknown keys are errors naming the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.spatial import cKDTree

from twin._validation import as_points, as_positive, check_channel_name, check_keys, read_text
from twin.devices.aperture import Aperture
from twin.devices.designs import DEFAULT_APERTURE_SAMPLES, Layout, builtin_modes, generate
from twin.devices.emitters import DEFAULT_CHANNEL, Emitters, read_emitter_csv, replace_profiles
from twin.devices.photometry import read_profile
from twin.devices.profiles import Isotropic, Profile
from twin.dose.maps import DoseSettings, check_drive
from twin.engine.transfer import DEFAULT_INTENSITY_CUTOFF
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
from twin.geometry.variants import Variant, population
from twin.raycast import CHOICES
from twin.scene.checks import Checks, parse_checks
from twin.units import MM_PER_UNIT, mm_per_unit

logger = logging.getLogger(__name__)

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
)
POPULATION_KEYS = ("size", "seed", "age_years")
ALIGN_KEYS = ("landmarks", "icp", "reference", "matrix")
#: A scan whose regions come from a built-in anatomy is plausibly this many times smaller or
#: larger than the built-in one (a face alone up to a head and shoulders); outside, it is the
#: wrong unit.
ANATOMY_SIZE_FACTOR = 3.0
#: A landmark fit worse than this means wrong names or units, not a different person.
MAX_LANDMARK_RMS_MM = 20.0
OCCLUDER_KEYS = ("mesh", "units", "flip_normals")
EMITTER_KEYS = (
    "file",
    "units",
    "half_angle_deg",
    "profile",
    "profiles",
    "channel",
    "wavelength_nm",
    "apertures",
)
APERTURE_KEYS = ("shape", "size_mm", "samples")
DOSE_KEYS = ("fluence_window_j_cm2", "irradiance_limit_mw_cm2", "eye_ir_limit_mw_cm2")
ENGINE_KEYS = ("backend", "intensity_cutoff", "max_distance_mm")

BUILTIN_ANATOMIES = tuple(f"builtin:{n}" for n in anatomy.ANATOMIES)
BUILTIN_TARGETS = (*BUILTIN_ANATOMIES, "builtin:phantom-head")
#: The built-in occluder: a pair of eye shields (goggles) over the built-in face's eyes.
EYE_SHIELDS = "builtin:eye-shields"
EYE_REGION = "eyes"


@dataclass(frozen=True)
class EngineSettings:
    """Ray-casting settings (see :func:`twin.engine.transfer.transfer_matrix`)."""

    backend: str = "auto"
    intensity_cutoff: float = DEFAULT_INTENSITY_CUTOFF
    max_distance_mm: float = math.inf


@dataclass(frozen=True)
class Scene:
    """A validated scene, every file loaded and every default filled in.

    Attributes
    ----------
    name : str
    path : Path or None
        The scene file, when loaded from one.
    target : Surface
        The skin, mm, with its regions.
    variant : Variant or None
        The body shape of a built-in anatomy target (``None``: the base mesh, or a file).
    layout : Layout or None
        The design the emitters were generated from (``None`` for an emitter CSV).
    apertures : dict of str to Aperture
        Channels whose LEDs are extended emitters (their package aperture sampled).
    occluders : tuple of Surface
        Extra surfaces that block light (eye shields, carrier shell).
    emitters : Emitters
    drive : dict of str to float
        Drive level of each channel, a fraction of full power in [0, 1].
    exposure_s : float, s
    samples : {"vertices", "centroids"}
    treat : tuple of str or None
        Regions that make up the treated skin (``None``: the whole target).
    exclude : tuple of str
        Regions left out of the treated skin.
    dose : DoseSettings
    engine : EngineSettings
    checks : Checks
        Design rules and baseline tolerances for ``twin check`` (:mod:`twin.scene.checks`).
    spec : dict
        The scene as data with every default filled and every path absolute (what
        ``scene.resolved.yaml`` holds).
    """

    name: str
    path: Path | None
    target: Surface
    occluders: tuple[Surface, ...]
    emitters: Emitters
    drive: dict[str, float]
    exposure_s: float
    variant: Variant | None = None
    layout: Layout | None = None
    apertures: dict[str, Aperture] = field(default_factory=dict)
    samples: str = "vertices"
    treat: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    dose: DoseSettings = field(default_factory=DoseSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    checks: Checks = field(default_factory=Checks)
    spec: dict[str, Any] = field(default_factory=dict)

    def with_emitters(
        self, emitters: Emitters, *, name: str, drive: dict[str, float] | None = None
    ) -> Scene:
        """This scene with other emitters, named ``name``: the one way to swap a layout.

        The design (``layout``) no longer describes them and is dropped; only their channels
        keep an aperture. ``drive`` gives each channel's level (default: this scene's levels
        of the channels they have).
        """
        if drive is None:
            drive = {c: v for c, v in self.drive.items() if c in emitters.channels}
        return dataclasses.replace(
            self,
            name=name,
            emitters=emitters,
            drive=drive,
            layout=None,
            apertures={c: a for c, a in self.apertures.items() if c in emitters.channels},
            spec={**self.spec, "name": name, "mode": drive},
        )


def _mapping(value: Any, *, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{name}: expected a mapping of keys to values, got {type(value).__name__}"
        raise InputError(msg)
    return value


def _string(value: Any, *, name: str) -> str:
    if not isinstance(value, str) or not value:
        msg = f"{name}: expected a non-empty string, got {value!r}"
        raise InputError(msg)
    return value


def _bool(value: Any, *, name: str) -> bool:
    if not isinstance(value, bool):
        msg = f"{name}: expected true or false, got {value!r}"
        raise InputError(msg)
    return value


def _region_list(value: Any, *, name: str, surface: Surface) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = f"{name}: expected a list of region names, got {value!r}"
        raise InputError(msg)
    for region in value:
        if region not in surface.regions:
            have = ", ".join(surface.regions) or "none"
            msg = f"{name}: unknown region {region!r}; the target has: {have}"
            raise InputError(msg)
    return tuple(value)


def _path(value: Any, *, name: str, base: Path) -> Path:
    path = Path(_string(value, name=name))
    return path if path.is_absolute() else (base / path).resolve()


def builtin_surface(
    name: str, *, max_edge_mm: float | None = None, variant: Variant | None = None
) -> Surface:
    """A built-in target by name (without ``builtin:``), refined to ``max_edge_mm``.

    The head phantom takes the first icosphere level whose edges are all at most
    ``max_edge_mm`` (default 4 mm) and has no variants; the anatomies use
    :func:`twin.geometry.anatomy.builtin`.
    """
    if name != "phantom-head":
        return anatomy.builtin(name, max_edge_mm=max_edge_mm, variant=variant)
    if variant is not None:
        msg = "target.variant: builtin:phantom-head has no shape variants"
        raise InputError(msg)
    limit = 4.0 if max_edge_mm is None else max_edge_mm
    for level in range(1, 8):
        head = phantoms.head(subdivisions=level)
        if head.max_edge_mm <= limit:
            break
    return head


def _load_target(
    spec: dict[str, Any], *, where: str, base: Path
) -> tuple[Surface, Variant | None, dict[str, Any]]:
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
    mesh = _string(spec["mesh"], name=f"{where}.mesh")
    flip = _bool(spec.get("flip_normals", False), name=f"{where}.flip_normals")
    if mesh.startswith("builtin:"):
        surface, variant, resolved = _builtin_target(mesh, spec, where=where)
        surface = surface.flipped() if flip else surface
    else:
        surface, resolved = _scan_target(mesh, spec, where=where, base=base, flip=flip)
        variant = None
    resolved["flip_normals"] = flip
    return surface, variant, resolved


def _builtin_target(
    mesh: str, spec: dict[str, Any], *, where: str
) -> tuple[Surface, Variant | None, dict[str, Any]]:
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
        max_edge = as_positive(max_edge, name=f"{where}.max_edge_mm")
    variant = None
    if "variant" in spec:
        variant = Variant.from_dict(spec["variant"], name=f"{where}.variant")
    surface = builtin_surface(mesh.removeprefix("builtin:"), max_edge_mm=max_edge, variant=variant)
    resolved = {"mesh": mesh, "units": "mm", "max_edge_mm": max_edge}
    if variant is not None:
        resolved["variant"] = variant.to_dict()
    return surface, variant, resolved


def _scan_target(
    mesh: str, spec: dict[str, Any], *, where: str, base: Path, flip: bool
) -> tuple[Surface, dict[str, Any]]:
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
    path = _path(mesh, name=f"{where}.mesh", base=base)
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
    resolved: dict[str, Any] = {"mesh": str(path), "units": units}
    if "align" in spec:
        alignment = _alignment(
            spec["align"], surface, where=f"{where}.align", units=units, default=regions_from
        )
        surface = alignment.apply(surface)
        logger.info("%s: aligned to the anatomy frame, fit RMS %.3g mm", where, alignment.rms_mm)
        resolved["align"] = {"matrix": alignment.matrix.tolist()}
    if regions_from is not None:
        surface = transfer_regions(surface, anatomy.builtin(regions_from))
        resolved["regions_from"] = regions_from
    return surface, resolved


def _alignment(
    spec: Any, surface: Surface, *, where: str, units: str, default: str | None
) -> Alignment:
    """The rigid transform ``target.align`` asks for (see README "Scans")."""
    spec = {"icp": True} if spec == "icp" else _mapping(spec, name=where)
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
    use_icp = _bool(spec.get("icp", "landmarks" not in spec), name=f"{where}.icp")
    initial = None
    if "landmarks" in spec:
        picked = _mapping(spec["landmarks"], name=f"{where}.landmarks")
        scale = MM_PER_UNIT[units]
        points = {
            key: np.asarray(as_points([value], name=f"{where}.landmarks.{key}")[0]) * scale
            for key, value in picked.items()
        }
        try:
            fit = landmark_alignment(points, anatomy.landmarks(anchor=None))
        except InputError as exc:
            raise InputError(str(exc).replace("align.landmarks", f"{where}.landmarks")) from None
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


def _load_occluder(
    spec: Any, *, where: str, base: Path, variant: Variant | None
) -> tuple[Surface, dict[str, Any]]:
    spec = _mapping(spec, name=where)
    check_keys(spec, OCCLUDER_KEYS, name=where)
    if spec.get("mesh") == EYE_SHIELDS:
        if set(spec) - {"mesh", "units"} or spec.get("units", "mm") != "mm":
            msg = f"{where}: {EYE_SHIELDS} takes no other keys (it is in mm)"
            raise InputError(msg)
        return anatomy.eye_shields(variant), {"mesh": EYE_SHIELDS, "units": "mm"}
    for key in ("mesh", "units"):
        if key not in spec:
            msg = f"{where}: missing required key {key!r}"
            raise InputError(msg)
    mm_per_unit(spec["units"], name=f"{where}.units")
    path = _path(spec["mesh"], name=f"{where}.mesh", base=base)
    flip = _bool(spec.get("flip_normals", False), name=f"{where}.flip_normals")
    surface = load_surface(path, units=spec["units"], flip_normals=flip)
    return surface, {"mesh": str(path), "units": spec["units"], "flip_normals": flip}


def _load_emitters(
    spec: dict[str, Any], *, where: str, base: Path, target: Surface, anatomy_name: str | None
) -> tuple[Emitters, dict[str, Any], Layout | None, dict[str, Aperture]]:
    """The scene's emitters: an emitter CSV (``file``) or a design (every other form)."""
    if "file" not in spec:
        if not any(key in spec for key in ("design", "carrier")):
            msg = f"{where}: missing required key 'file' (an emitter CSV), 'design' or 'carrier'"
            raise InputError(msg)
        layout = generate(spec, target=target, anatomy_name=anatomy_name, where=where, base=base)
        return layout.emitters, layout.spec, layout, layout.apertures
    check_keys(spec, EMITTER_KEYS, name=where)
    if "half_angle_deg" in spec and "profile" in spec:
        msg = f"{where}: give either half_angle_deg or profile, not both"
        raise InputError(msg)
    path = _path(spec["file"], name=f"{where}.file", base=base)
    if not path.is_file():
        msg = f"{where}.file: emitter CSV not found: {path}"
        raise InputError(msg)
    resolved: dict[str, Any] = {"file": str(path), "units": spec.get("units", "mm")}
    profile: Profile | None = None
    half = None
    if "half_angle_deg" in spec:
        half = as_positive(spec["half_angle_deg"], name=f"{where}.half_angle_deg")
        if half >= 90.0:
            msg = (
                f"{where}.half_angle_deg: expected a half-intensity half-angle in (0, 90) "
                f"degrees, got {half:g}"
            )
            raise InputError(msg)
        resolved["half_angle_deg"] = half
    if "profile" in spec:
        profile, resolved["profile"] = _profile(
            spec["profile"], where=f"{where}.profile", base=base
        )
    channel = check_channel_name(
        _string(spec.get("channel", DEFAULT_CHANNEL), name=f"{where}.channel"),
        name=f"{where}.channel",
    )
    resolved["channel"] = channel
    wavelength = None
    if "wavelength_nm" in spec:
        wavelength = as_positive(spec["wavelength_nm"], name=f"{where}.wavelength_nm")
        resolved["wavelength_nm"] = wavelength
    emitters = read_emitter_csv(
        path,
        units=resolved["units"],
        half_angle_deg=half,
        profile=profile,
        channel=channel,
        wavelength_nm=wavelength,
    )
    if "profiles" in spec:
        per_channel = _mapping(spec["profiles"], name=f"{where}.profiles")
        loaded = {
            key: _profile(value, where=f"{where}.profiles.{key}", base=base)
            for key, value in per_channel.items()
        }
        check_keys(loaded, emitters.channels, name=f"{where}.profiles", what="channel")
        emitters = replace_profiles(emitters, {k: v[0] for k, v in loaded.items()})
        resolved["profiles"] = {k: v[1] for k, v in loaded.items()}
    apertures = _apertures(spec.get("apertures"), emitters, where=f"{where}.apertures")
    if apertures:
        resolved["apertures"] = {k: _aperture_spec(a) for k, a in apertures.items()}
    return emitters, resolved, None, apertures


def _profile(value: Any, *, where: str, base: Path) -> tuple[Profile, str]:
    if value == "isotropic":
        return Isotropic(), "isotropic"
    path = _path(value, name=where, base=base)
    return read_profile(path), str(path)


def _aperture_spec(aperture: Aperture) -> dict[str, Any]:
    return {"shape": aperture.shape, "size_mm": aperture.size_mm, "samples": aperture.samples}


def _apertures(spec: Any, emitters: Emitters, *, where: str) -> dict[str, Aperture]:
    if spec is None:
        return {}
    spec = _mapping(spec, name=where)
    check_keys(spec, emitters.channels, name=where, what="channel")
    out = {}
    for key, value in spec.items():
        value = _mapping(value, name=f"{where}.{key}")
        check_keys(value, APERTURE_KEYS, name=f"{where}.{key}")
        try:
            out[key] = Aperture(
                value.get("shape", "disk"),
                value.get("size_mm", 3.0),
                value.get("samples", DEFAULT_APERTURE_SAMPLES),
            )
        except InputError as exc:
            raise InputError(str(exc).replace("aperture.", f"{where}.{key}.", 1)) from None
    return out


def check_emitters_outside(emitters: Emitters, target: Surface, *, name: str) -> None:
    """Raise if an emitter lies inside the skin (behind the target surface at its nearest
    point); when every one does, the surface's normals are the likely culprit, and the
    message says so."""
    samples = target.samples()
    _, nearest = cKDTree(samples.positions_mm).query(emitters.positions_mm)
    depth = np.einsum(
        "ij,ij->i", emitters.positions_mm - samples.positions_mm[nearest], samples.normals[nearest]
    )
    inside = np.flatnonzero(depth <= 0.0)
    if inside.size:
        i = int(inside[0])
        where = ", ".join(f"{v:.4g}" for v in emitters.positions_mm[i])
        msg = (
            f"{name}: emitter {str(emitters.ids[i])!r} at ({where}) mm lies inside the skin "
            f"({-depth[i]:.3g} mm behind the target surface); {inside.size} of {len(emitters)} "
            "emitters are inside"
        )
        if inside.size == len(emitters) > 1:
            msg += (
                ": all of them, so the surface's normals probably point into the body (an "
                "inside-out open mesh); if so, set target.flip_normals: true"
            )
        raise InputError(msg)


def _drive(
    spec: Any, emitters: Emitters, layout: Layout | None, *, where: str
) -> dict[str, float]:
    """Drive levels per channel: a mapping, or the name of a mode (the design's, else the
    built-in ``arrays/modes.yaml``); by default the design's mode, else every channel full."""
    channels = emitters.channels
    if spec is None and layout is not None and layout.mode is not None:
        spec = layout.mode
    if spec is None:
        return dict.fromkeys(channels, 1.0)
    if isinstance(spec, str):
        modes = layout.modes if layout is not None else builtin_modes()
        usable = {k: v for k, v in modes.items() if set(v) <= set(channels)}
        if spec not in usable:
            have = ", ".join(usable) or "none"
            msg = (
                f"{where}: unknown mode {spec!r} for channels {', '.join(channels)}; modes: {have}"
            )
            raise InputError(msg)
        spec = usable[spec]
    return check_drive(spec, channels, name=where)


def _dose(spec: Any, *, where: str) -> DoseSettings:
    spec = _mapping(spec or {}, name=where)
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
        eye_ir_limit_mw_cm2=as_positive(
            spec.get("eye_ir_limit_mw_cm2", 10.0), name=f"{where}.eye_ir_limit_mw_cm2"
        ),
    )


def _engine(spec: Any, *, where: str) -> EngineSettings:
    spec = _mapping(spec or {}, name=where)
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
    return EngineSettings(backend=backend, intensity_cutoff=cutoff, max_distance_mm=max_d)


def load_scene(path: str | Path) -> Scene:
    """Read, validate and load a scene file.

    Every mesh and emitter file is read and checked here, so a bad scene fails before any
    computation, with one message naming the file and key. A population scene holds many
    scenes: load it with :func:`load_scenes`.

    Raises
    ------
    InputError
    """
    path = Path(path)
    return scene_from_dict(_read_yaml(path), base=path.resolve().parent, path=path)


def load_scenes(
    path: str | Path,
    *,
    member: int | None = None,
    people: int | None = None,
    seed: int = 0,
) -> tuple[Scene, ...]:
    """The scenes of a scene file: one, or one per member of a population.

    The population is the file's ``target.population``, or, given ``people``, that many
    seeded adults (:func:`twin.geometry.variants.population`) wearing a one-scene file whose
    target is a built-in anatomy. Member ``i`` is named ``<name>-p<i>`` and its
    ``target.variant`` is the member's shape, so its ``scene.resolved.yaml`` renders that
    member alone.

    Parameters
    ----------
    path : str or Path
        The scene file.
    member : int, optional
        Load only this member.
    people : int, optional
        Members of a seeded population to put the scene on (ages 18-70).
    seed : int
        Seed of that population.

    Raises
    ------
    InputError
    """
    path = Path(path)
    data = _read_yaml(path)
    target = data.get("target")
    if people is not None:
        mesh = target.get("mesh") if isinstance(target, dict) else None
        if not (isinstance(mesh, str) and mesh.startswith("builtin:")) or "population" in target:
            msg = f"{path}: people: needs a one-scene file on a built-in anatomy, got {mesh!r}"
            raise InputError(msg)
        members = population(people, seed=seed)
    elif not isinstance(target, dict) or "population" not in target:
        return (scene_from_dict(data, base=path.resolve().parent, path=path),)
    else:
        src = f"{path}: target.population"
        if "variant" in target:
            msg = f"{src}: give either a variant or a population, not both"
            raise InputError(msg)
        members = _population(target["population"], where=src)
    name = _string(data.get("name", path.stem), name=f"{path}: name")
    scenes = []
    for i, variant in enumerate(members):
        if member is not None and i != member:
            continue
        one = {key: value for key, value in target.items() if key not in ("population", "variant")}
        one["variant"] = variant.to_dict()
        try:
            scenes.append(
                scene_from_dict(
                    {**data, "name": f"{name}-p{i:02d}", "target": one},
                    base=path.resolve().parent,
                    path=path,
                )
            )
        except InputError as exc:  # say which wearer: the others may be fine
            msg = f"{exc} (population member {name}-p{i:02d}: {variant.label})"
            raise InputError(msg) from None
    return tuple(scenes)


def _population(spec: Any, *, where: str) -> tuple[Variant, ...]:
    spec = _mapping(spec, name=where)
    check_keys(spec, POPULATION_KEYS, name=where)
    if "size" not in spec:
        msg = f"{where}: missing required key 'size' (the number of people)"
        raise InputError(msg)
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        msg = f"{where}.seed: expected a whole number >= 0, got {seed!r}"
        raise InputError(msg)
    ages = spec.get("age_years", [18, 70])
    ok = (
        isinstance(ages, list)
        and len(ages) == 2
        and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in ages)
    )
    if not ok or ages[0] > ages[1]:
        msg = f"{where}.age_years: expected [youngest, oldest], got {ages!r}"
        raise InputError(msg)
    try:
        return population(spec["size"], seed=seed, age_years=(ages[0], ages[1]))
    except InputError as exc:
        raise InputError(str(exc).replace("population.", f"{where}.", 1)) from None


def read_scene_file(path: str | Path) -> dict[str, Any]:
    """A scene file's YAML as data, unvalidated (raises on unreadable or non-mapping YAML)."""
    return _read_yaml(Path(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    text = read_text(path, what="scene file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"{path}: invalid YAML{where}: {problem}"
        raise InputError(msg) from None
    return _mapping(data, name=str(path))


def scene_from_dict(data: dict[str, Any], *, base: Path, path: Path | None = None) -> Scene:
    """Validate and load a scene given as data; relative paths are taken from ``base``."""
    src = str(path) if path else "scene"
    check_keys(data, TOP_KEYS, name=src)
    for key in ("target", "emitters", "exposure_s"):
        if key not in data:
            msg = f"{src}: missing required key {key!r}"
            raise InputError(msg)
    name = _string(data.get("name", path.stem if path else "scene"), name=f"{src}: name")
    target_data = _mapping(data["target"], name=f"{src}: target")
    target, variant, target_spec = _load_target(target_data, where=f"{src}: target", base=base)
    occluder_specs = data.get("occluders", [])
    if not isinstance(occluder_specs, list):
        msg = f"{src}: occluders: expected a list of meshes, got {type(occluder_specs).__name__}"
        raise InputError(msg)
    loaded = [
        _load_occluder(o, where=f"{src}: occluders[{i}]", base=base, variant=variant)
        for i, o in enumerate(occluder_specs)
    ]
    emitter_data = _mapping(data["emitters"], name=f"{src}: emitters")
    mesh = target_spec["mesh"]
    emitters, emitter_spec, layout, apertures = _load_emitters(
        emitter_data,
        where=f"{src}: emitters",
        base=base,
        target=target,
        anatomy_name=mesh.removeprefix("builtin:") if mesh in BUILTIN_ANATOMIES else None,
    )
    if layout is None or not layout.carrier.conforming:
        check_emitters_outside(emitters, target, name=emitter_spec.get("file", f"{src}: emitters"))
    samples = target_data.get("samples", "vertices")
    if samples not in ("vertices", "centroids"):
        msg = f"{src}: target.samples: expected 'vertices' or 'centroids', got {samples!r}"
        raise InputError(msg)
    treat = None
    if "treat" in target_data:
        treat = _region_list(target_data["treat"], name=f"{src}: target.treat", surface=target)
    default_exclude = [EYE_REGION] if EYE_REGION in target.regions else []
    exclude = _region_list(
        target_data.get("exclude", default_exclude), name=f"{src}: target.exclude", surface=target
    )
    exposure = as_positive(data["exposure_s"], name=f"{src}: exposure_s")
    drive = _drive(data.get("mode"), emitters, layout, where=f"{src}: mode")
    dose = _dose(data.get("dose"), where=f"{src}: dose")
    engine = _engine(data.get("engine"), where=f"{src}: engine")
    checks = parse_checks(data.get("checks"), name=f"{src}: checks")
    if "description" in data:
        _string(data["description"], name=f"{src}: description")
    spec = {
        "name": name,
        **({"description": data["description"]} if "description" in data else {}),
        "target": {
            **target_spec,
            "samples": samples,
            **({"treat": list(treat)} if treat else {}),
            "exclude": list(exclude),
        },
        "occluders": [s for _, s in loaded],
        "emitters": emitter_spec,
        "mode": drive,
        "exposure_s": exposure,
        "dose": {
            "fluence_window_j_cm2": list(dose.fluence_window_j_cm2),
            "irradiance_limit_mw_cm2": dose.irradiance_limit_mw_cm2,
            "eye_ir_limit_mw_cm2": dose.eye_ir_limit_mw_cm2,
        },
        "engine": {
            "backend": engine.backend,
            "intensity_cutoff": engine.intensity_cutoff,
            "max_distance_mm": None
            if math.isinf(engine.max_distance_mm)
            else engine.max_distance_mm,
        },
        **({"checks": data["checks"]} if data.get("checks") is not None else {}),
    }
    return Scene(
        name=name,
        path=path,
        target=target,
        occluders=tuple(s for s, _ in loaded),
        emitters=emitters,
        drive=drive,
        exposure_s=exposure,
        variant=variant,
        layout=layout,
        apertures=apertures,
        samples=samples,
        treat=treat,
        exclude=exclude,
        dose=dose,
        engine=engine,
        checks=checks,
        spec=spec,
    )
