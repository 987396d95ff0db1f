"""The scene's light: its ``emitters:`` section and its ``mode:`` (drive levels).

The emitters come from a design (:func:`twin.devices.designs.generate`: ``design`` or
``carrier``) or from an emitter CSV (``file``) with optional angular profiles (``profile``,
``profiles``), extended apertures (``apertures``) and spectra (``spectrum``, per channel:
:func:`twin.devices.spectra.spectra_from_spec`). Either way no emitter may lie inside the
skin (:func:`check_emitters_outside`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin._validation import (
    MAX_APERTURE_SAMPLES,
    as_count,
    as_mapping,
    as_positive,
    as_string,
    check_channel_name,
    check_keys,
)
from twin.devices.aperture import Aperture
from twin.devices.designs import DEFAULT_APERTURE_SAMPLES, Layout, builtin_modes, generate
from twin.devices.emitters import DEFAULT_CHANNEL, Emitters, read_emitter_csv, replace_profiles
from twin.devices.photometry import read_profile
from twin.devices.profiles import Isotropic, Profile, check_half_angle
from twin.devices.spectra import spectra_from_spec
from twin.dose.maps import check_drive
from twin.errors import InputError
from twin.geometry import anatomy
from twin.geometry.surface import Surface
from twin.geometry.variants import Variant
from twin.scene.model import EmitterFile
from twin.scene.schema import APERTURE_KEYS, EMITTER_KEYS, as_path


def load_emitters(
    spec: dict[str, Any],
    *,
    where: str,
    base: Path,
    target: Surface,
    anatomy_name: str | None,
    origin_mm: NDArray[np.float64] | None = None,
) -> tuple[Emitters, Layout | None, dict[str, Aperture], EmitterFile | None]:
    """Load the ``emitters:`` section ``spec``: an emitter CSV (``file``) or a design.

    Parameters
    ----------
    spec : dict
        The section's keys.
    where : str
        The section, for messages.
    base : Path
        Folder that relative paths are taken from.
    target : Surface
        The skin the emitters face (a design is worn on it).
    anatomy_name : str or None
        The built-in anatomy ``target`` is (``None`` for a mesh file).
    origin_mm : (3,) float64, mm, optional
        Where a CSV's coordinates start in the anatomy frame (:func:`frame_origin_mm`).

    Returns
    -------
    emitters : Emitters
    layout : Layout or None
        The design (``None`` for a CSV).
    apertures : dict of str to Aperture
        The extended channels' apertures.
    source : EmitterFile or None
        The CSV and how it was read (``None`` for a design).

    Raises
    ------
    InputError
        On a bad section, or an emitter inside the skin.
    """
    if "file" in spec:
        origin = np.zeros(3) if origin_mm is None else origin_mm
        emitters, apertures, source = _emitter_file(spec, where=where, base=base, origin=origin)
        check_emitters_outside(emitters, target, name=source.file)
        return emitters, None, apertures, source
    if not any(key in spec for key in ("design", "carrier")):
        msg = f"{where}: missing required key 'file' (an emitter CSV), 'design' or 'carrier'"
        raise InputError(msg)
    layout = generate(spec, target=target, anatomy_name=anatomy_name, where=where, base=base)
    if not layout.carrier.conforming:
        check_emitters_outside(layout.emitters, target, name=where)
    return layout.emitters, layout, layout.apertures, None


def frame_origin_mm(
    frame: Any, *, anatomy_name: str | None, variant: Variant | None, where: str
) -> NDArray[np.float64]:
    """Return where an emitter CSV's coordinates start: a landmark of the built-in anatomy.

    A CAD layout is drawn in a frame of its own; ``frame: nasion`` says its origin is the
    wearer's nasion (any landmark of :func:`twin.geometry.anatomy.landmarks`), its axes the
    anatomy frame's. No frame: the anatomy frame itself.

    Parameters
    ----------
    frame : str or None
        The landmark's name.
    anatomy_name : str or None
        The built-in anatomy the target is (``None``: a mesh file, which has no landmarks).
    variant : Variant or None
        Its shape (the landmark moves with it).
    where : str
        The key, for messages.

    Returns
    -------
    (3,) float64, mm
        The landmark's position in the anatomy frame (zeros without a frame).
    """
    if frame is None:
        return np.zeros(3)
    if anatomy_name not in anatomy.ANCHORS:
        msg = (
            f"{where}: a landmark frame needs a built-in anatomy target "
            f"({', '.join(f'builtin:{a}' for a in anatomy.ANCHORS)}); found "
            f"{'builtin:' + anatomy_name if anatomy_name else 'a mesh file'}"
        )
        raise InputError(msg)
    points = anatomy.landmarks(variant, anchor=anatomy.ANCHORS[anatomy_name])
    name = as_string(frame, name=where)
    if name not in points:
        msg = f"{where}: unknown landmark {name!r}; expected one of {', '.join(sorted(points))}"
        raise InputError(msg)
    return points[name]


def _emitter_file(
    spec: dict[str, Any], *, where: str, base: Path, origin: NDArray[np.float64]
) -> tuple[Emitters, dict[str, Aperture], EmitterFile]:
    check_keys(spec, EMITTER_KEYS, name=where)
    if "half_angle_deg" in spec and "profile" in spec:
        msg = f"{where}: give either half_angle_deg or profile, not both"
        raise InputError(msg)
    path = as_path(spec["file"], name=f"{where}.file", base=base)
    if not path.is_file():
        msg = f"{where}.file: emitter CSV not found: {path}"
        raise InputError(msg)
    units = spec.get("units", "mm")
    half = None
    if "half_angle_deg" in spec:
        half = check_half_angle(spec["half_angle_deg"], name=f"{where}.half_angle_deg")
    profile: Profile | None = None
    profile_source = None
    if "profile" in spec:
        profile, profile_source = _profile(spec["profile"], where=f"{where}.profile", base=base)
    channel = check_channel_name(
        as_string(spec.get("channel", DEFAULT_CHANNEL), name=f"{where}.channel"),
        name=f"{where}.channel",
    )
    wavelength = None
    if "wavelength_nm" in spec:
        wavelength = as_positive(spec["wavelength_nm"], name=f"{where}.wavelength_nm")
    emitters = read_emitter_csv(
        path,
        units=units,
        half_angle_deg=half,
        profile=profile,
        channel=channel,
        wavelength_nm=wavelength,
    )
    if origin.any():
        emitters = emitters.derive(positions_mm=emitters.positions_mm + origin, name=str(path))
    profiles = {}
    if "profiles" in spec:
        per_channel = as_mapping(spec["profiles"], name=f"{where}.profiles")
        loaded = {
            key: _profile(value, where=f"{where}.profiles.{key}", base=base)
            for key, value in per_channel.items()
        }
        check_keys(loaded, emitters.channels, name=f"{where}.profiles", what="channel")
        emitters = replace_profiles(emitters, {k: v[0] for k, v in loaded.items()})
        profiles = {k: v[1] for k, v in loaded.items()}
    spectra = {}
    if "spectrum" in spec:
        spectra = spectra_from_spec(
            spec["spectrum"],
            wavelength_nm=emitters.wavelength_nm,
            channels=emitters.channels,
            where=f"{where}.spectrum",
            base=base,
        )
        emitters = emitters.derive(spectra=spectra, name=str(path))
    apertures = _apertures(spec.get("apertures"), emitters, where=f"{where}.apertures")
    areas = _areas(spec.get("emitting_area_mm2"), emitters, where=f"{where}.emitting_area_mm2")
    source = EmitterFile(
        str(path),
        units,
        channel=channel,
        half_angle_deg=half,
        profile=profile_source,
        wavelength_nm=wavelength,
        profiles=profiles,
        emitting_area_mm2=areas,
        spectrum={c: s.to_dict() for c, s in spectra.items()},
        shell=str(as_path(spec["shell"], name=f"{where}.shell", base=base))
        if "shell" in spec
        else None,
        frame=spec.get("frame"),
    )
    return emitters, apertures, source


def _areas(spec: Any, emitters: Emitters, *, where: str) -> dict[str, float]:
    """Parse ``emitting_area_mm2``: one area for every channel, or a mapping per channel."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        area = as_positive(spec, name=where)
        return dict.fromkeys(emitters.channels, area)
    check_keys(spec, emitters.channels, name=where, what="channel")
    return {str(c): as_positive(v, name=f"{where}.{c}") for c, v in spec.items()}


def _profile(value: Any, *, where: str, base: Path) -> tuple[Profile, str]:
    """Read a profile a scene file names: ``isotropic`` or a photometric file.

    Returns the profile and its name for the resolved scene (a path made absolute).
    """
    if value == "isotropic":
        return Isotropic(), "isotropic"
    path = as_path(value, name=where, base=base)
    return read_profile(path), str(path)


def _apertures(spec: Any, emitters: Emitters, *, where: str) -> dict[str, Aperture]:
    if spec is None:
        return {}
    spec = as_mapping(spec, name=where)
    check_keys(spec, emitters.channels, name=where, what="channel")
    out = {}
    for key, value in spec.items():
        value = as_mapping(value, name=f"{where}.{key}")
        check_keys(value, APERTURE_KEYS, name=f"{where}.{key}")
        out[key] = Aperture.create(
            value.get("shape", "disk"),
            value.get("size_mm", 3.0),
            as_count(
                value.get("samples", DEFAULT_APERTURE_SAMPLES),
                name=f"{where}.{key}.samples",
                most=MAX_APERTURE_SAMPLES,
            ),
            name=f"{where}.{key}",
        )
    return out


def check_emitters_outside(emitters: Emitters, target: Surface, *, name: str) -> None:
    """Raise if an emitter lies inside the skin.

    An emitter is inside when it is behind the target surface at the surface's nearest
    sample point; when every one is, the surface's normals are the likely culprit, and the
    message says so.

    Parameters
    ----------
    emitters : Emitters
    target : Surface
        The skin, mm, normals pointing out of the body.
    name : str
        Where the emitters came from, for the message.

    Raises
    ------
    InputError
    """
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


def parse_drive(
    spec: Any, emitters: Emitters, layout: Layout | None, *, where: str
) -> dict[str, float]:
    """Parse a scene's ``mode:``: each channel's drive level, a fraction of full power.

    ``spec`` is a mapping of channels to levels, or the name of a mode (the design's, else
    the built-in ``arrays/modes.yaml``); absent, the design's mode, else every channel full.

    Raises
    ------
    InputError
    """
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
