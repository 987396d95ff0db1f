"""Device designs: a carrier, a layout pattern, channels of LED models and modes, as data.

A design is a small YAML mapping (the built-in ones are ``arrays/designs/*.yaml``; a scene's
``emitters:`` section takes the same keys, with ``design:`` naming a built-in or a file to
start from)::

    anatomy: face                  # what it is shaped on: face, scalp, pelvis or head
    carrier: rigid                 # rigid | flexible | helmet | pad | panel
    standoff_mm: 10                # carrier distance from the reference skin
    cutouts: [eyes, nostrils, mouth]   # face masks
    shape: y                       # pads: pelvic | y
    distance_mm: 150               # panel: distance in front of the anatomy; width_mm, height_mm
    clearance_mm: 1                # rigid carriers: minimum gap to any wearer's skin
    shaped_on: {sex: male}         # the variant the carrier is shaped on (default: base body)
    count: 1026                    # exact number of emitters
    pattern: hex                   # hex | poisson | fibonacci | uniform
    seed: 0                        # poisson
    tilt_deg: 0                    # turn every LED axis this far towards the carrier's axis
    channels:                      # name: LED model and share of the emitters
      red: {led: red-633, ratio: 1}
      nir: {led: nir-830, ratio: 1}
    modes: {red: {red: 1, nir: 1}} # drive levels per mode (default: arrays/modes.yaml)
    mode: red                      # the mode a scene uses unless it names one
    extended: false                # sample each LED's package aperture (docs/physics.md §1.3)
    aperture_samples: 16           # sample points per LED when extended
    spectrum: {red: {fwhm_nm: 18}} # per channel, over its LED model's (twin.devices.spectra)
    interior: white                # the carrier's inside: white|grey|black, number, per channel

LED models (``arrays/leds/*.yaml``, or a mapping in place of the name) give the wavelength,
radiant power at full drive, the angular profile (``half_angle_deg``, or ``profile``: an IES
LM-63, EULUMDAT or ``angle_deg,intensity`` CSV file, scaled to the radiant power), the
package (``shape: disk | square``, ``size_mm``) and optionally the ``spectrum``:
``{fwhm_nm: 20}`` (a Gaussian around ``wavelength_nm``) or ``{file: spectrum.csv}`` (a
``wavelength_nm,relative`` table, whose peak is then the wavelength: no ``wavelength_nm``);
without one the LED is a line at ``wavelength_nm``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin._data import data_dir
from twin._validation import (
    MAX_APERTURE_SAMPLES,
    MAX_EMITTERS,
    as_bool,
    as_count,
    as_file_path,
    as_positive,
    check_keys,
    prefixed,
    read_yaml,
    shorten,
)
from twin.devices import carriers
from twin.devices.aperture import Aperture
from twin.devices.carriers import CARRIER_KINDS, FACE_CUTOUTS, Carrier, facing_emitters
from twin.devices.emitters import Emitters
from twin.devices.layout import CarrierPoints, interleave, pattern_points, wear
from twin.devices.materials import DEFAULT_INTERIOR, Reflectance, parse_reflectance
from twin.devices.photometry import read_profile
from twin.devices.profiles import Lambertian, Profile, check_half_angle
from twin.devices.spectra import (
    LED_SPECTRUM_KEYS,
    Spectrum,
    line,
    spectra_from_spec,
    spectrum_from_spec,
)
from twin.errors import InputError
from twin.geometry.surface import Surface
from twin.geometry.variants import Variant

DESIGN_KEYS = (
    "design",
    "name",
    "description",
    "anatomy",
    "carrier",
    "standoff_mm",
    "cutouts",
    "shape",
    "distance_mm",
    "width_mm",
    "height_mm",
    "clearance_mm",
    "shaped_on",
    "count",
    "pattern",
    "seed",
    "tilt_deg",
    "channels",
    "modes",
    "mode",
    "extended",
    "aperture_samples",
    "spectrum",
    "interior",
)
LED_KEYS = (
    "name",
    "wavelength_nm",
    "power_mw",
    "half_angle_deg",
    "profile",
    "package",
    "spectrum",
)
CHANNEL_KEYS = ("led", "ratio")
ANATOMY_OF = {"rigid": "face", "flexible": "face", "helmet": "scalp", "pad": "pelvis"}
DEFAULT_STANDOFF_MM = {"rigid": 10.0, "flexible": 3.0, "helmet": 10.0, "pad": 3.0}
DEFAULT_APERTURE_SAMPLES = 16


@dataclass(frozen=True)
class LEDModel:
    """One LED type: what every emitter of a channel is.

    Attributes
    ----------
    name : str
    wavelength_nm : float, nm
        The peak of ``spectrum``.
    power_mw : float, mW
        Radiant flux at full drive.
    profile : Profile
        Angular intensity, per mW.
    package_shape : {"disk", "square"}
    package_mm : float, mm
        Diameter or side of the emitting aperture.
    spectrum : Spectrum
        The emission spectrum (a line at ``wavelength_nm`` where the model gives none).
    """

    name: str
    wavelength_nm: float
    power_mw: float
    profile: Profile
    package_shape: str
    package_mm: float
    spectrum: Spectrum

    @property
    def emitting_area_mm2(self) -> float:
        """Area of the emitting aperture, mm^2 (:func:`package_area_mm2`)."""
        return package_area_mm2(self.package_shape, self.package_mm)


def package_area_mm2(shape: str, size_mm: float) -> float:
    """Area of an LED's emitting aperture, mm^2: a disk (diameter) or square (side) ``size_mm``.

    Parameters
    ----------
    shape : {"disk", "square"}
    size_mm : float, mm
    """
    return float(np.pi / 4.0 * size_mm**2 if shape == "disk" else size_mm**2)


@dataclass(frozen=True)
class Layout:
    """Emitters generated from a design and worn on a target.

    Attributes
    ----------
    emitters : Emitters
    carrier : Carrier
    points : CarrierPoints
        Where the emitters sit on the carrier.
    modes : dict of str to dict of str to float
    mode : str or None
        The design's default mode.
    apertures : dict of str to Aperture
        Per channel, when ``extended``; empty for point emitters.
    push_mm : float, mm
        How far a rigid carrier was moved out to clear the wearer's skin.
    package_mm : float, mm
        The largest LED package of the design (the closest two LEDs may sit).
    spec : dict
        The design with every default filled in.
    emitting_area_mm2 : dict of str to float
        Each channel's LED emitting area, mm^2 (for the blue-light radiance).
    interior : Reflectance
        What the carrier's inside reflects (:mod:`twin.devices.materials`).
    """

    emitters: Emitters
    carrier: Carrier
    points: CarrierPoints
    modes: dict[str, dict[str, float]]
    mode: str | None
    apertures: dict[str, Aperture]
    push_mm: float
    package_mm: float
    spec: dict[str, Any]
    emitting_area_mm2: dict[str, float] = field(default_factory=dict)
    interior: Reflectance = field(default_factory=lambda: Reflectance(material=DEFAULT_INTERIOR))

    def reflecting_surface(self, target: Surface) -> Surface:
        """Return the carrier as worn on ``target``, its normals facing the skin, mm.

        The surface the light returned from the skin meets: a rigid carrier's shell moved
        out by ``push_mm``; a conforming carrier's sheet ``standoff_mm`` out along the
        target's normals over the skin it covers (the same faces on a target with the
        reference's vertex numbering, else the target faces nearest to them).
        """
        carrier = self.carrier
        if not carrier.conforming:
            moved = carrier.shell.vertices_mm + self.push_mm * carrier.push_axis
            shell = Surface(moved, carrier.shell.faces, name=f"{carrier.kind} carrier")
            return facing_emitters(shell, self.emitters.positions_mm, self.emitters.axes)
        reference, skin_faces = carrier.reference, carrier.skin_faces
        assert reference is not None and skin_faces is not None  # conforming: shaped on skin
        same = len(target.vertices_mm) == len(reference.vertices_mm) and np.array_equal(
            target.faces, reference.faces
        )
        if same:
            faces = skin_faces
        else:
            covered = np.zeros(len(reference.faces), dtype=bool)
            covered[skin_faces] = True
            centroids = reference.triangles_mm.mean(axis=1)
            _, nearest = cKDTree(centroids).query(target.triangles_mm.mean(axis=1))
            faces = np.flatnonzero(covered[nearest])
        used, local = np.unique(target.faces[faces], return_inverse=True)
        points = target.vertices_mm[used] + carrier.standoff_mm * target.vertex_normals[used]
        return Surface(points, local.reshape(-1, 3)[:, ::-1], name=f"{carrier.kind} carrier")


def builtin_designs() -> dict[str, Path]:
    """Return the built-in design files by name (``arrays/designs/*.yaml``)."""
    return {p.stem: p for p in sorted((data_dir("arrays") / "designs").glob("*.yaml"))}


def builtin_modes() -> dict[str, dict[str, float]]:
    """Return the built-in modes (``arrays/modes.yaml``): name to channel drive levels."""
    return yaml.safe_load((data_dir("arrays") / "modes.yaml").read_text())


def _read_yaml(path: Path, *, what: str) -> dict[str, Any]:
    data = read_yaml(path, what=what)
    if not isinstance(data, dict):
        msg = f"{path}: expected a mapping of keys to values, got {type(data).__name__}"
        raise InputError(msg)
    return data


def _resolve_path(name: str, *, folder: str, base: Path, what: str) -> Path:
    """Return a built-in ``arrays/<folder>/<name>.yaml`` or a file relative to ``base``."""
    given = as_file_path(name, name=what)
    builtin = data_dir("arrays") / folder / f"{name}.yaml"
    if builtin.is_file():
        return builtin
    path = given if given.is_absolute() else base / given
    if path.is_file():
        return path.resolve()
    have = sorted(p.stem for p in (data_dir("arrays") / folder).glob("*.yaml"))
    msg = f"unknown {what} {name!r}: not a built-in ({', '.join(have)}) nor a file"
    raise InputError(msg)


def load_led(value: Any, *, where: str, base: Path) -> LEDModel:
    """Read an LED model from a built-in name, a YAML file or a mapping.

    Parameters
    ----------
    value : str or dict
        A built-in LED name, a YAML file (relative to ``base``) or the model's keys.
    where : str
        Where ``value`` came from, for error messages (a scene key).
    base : Path
        The folder relative file names are read from.

    Returns
    -------
    LEDModel

    Raises
    ------
    InputError
        Naming ``where`` (or the LED file) and the key that is wrong.
    """
    if isinstance(value, str):
        with prefixed(f"{where}: "):
            path = _resolve_path(value, folder="leds", base=base, what="LED model")
        spec, where, base = _read_yaml(path, what="LED model"), str(path), path.parent
    elif isinstance(value, dict):
        spec = value
    else:
        msg = f"{where}: expected an LED model name or mapping, got {value!r}"
        raise InputError(msg)
    check_keys(spec, LED_KEYS, name=where)
    tabulated = isinstance(spec.get("spectrum"), dict) and "file" in spec["spectrum"]
    if tabulated and "wavelength_nm" in spec:
        msg = (
            f"{where}: give wavelength_nm or spectrum.file, not both (the spectrum file's "
            "peak is the LED's wavelength)"
        )
        raise InputError(msg)
    for key in ("power_mw",) if tabulated else ("wavelength_nm", "power_mw"):
        if key not in spec:
            msg = f"{where}: missing required key {key!r}"
            raise InputError(msg)
    if "spectrum" in spec:
        spectrum = spectrum_from_spec(
            spec["spectrum"],
            wavelength_nm=None
            if tabulated
            else line(spec["wavelength_nm"], name=f"{where}.wavelength_nm").peak_nm,
            where=f"{where}.spectrum",
            base=base,
            keys=LED_SPECTRUM_KEYS,
        )
    else:
        spectrum = line(spec["wavelength_nm"], name=f"{where}.wavelength_nm")
    if ("half_angle_deg" in spec) == ("profile" in spec):
        msg = f"{where}: give exactly one of half_angle_deg or profile"
        raise InputError(msg)
    if "profile" in spec:
        profile_path = as_file_path(spec["profile"], name=f"{where}.profile")
        profile = read_profile(profile_path if profile_path.is_absolute() else base / profile_path)
    else:
        profile = Lambertian(
            check_half_angle(spec["half_angle_deg"], name=f"{where}.half_angle_deg")
        )
    package = spec.get("package", {"shape": "disk", "size_mm": 3.0})
    if not isinstance(package, dict):
        msg = f"{where}.package: expected a mapping with shape and size_mm, got {package!r}"
        raise InputError(msg)
    check_keys(package, ("shape", "size_mm"), name=f"{where}.package")
    shape = package.get("shape", "disk")
    if shape not in ("disk", "square"):
        msg = f"{where}.package.shape: expected 'disk' or 'square', got {shape!r}"
        raise InputError(msg)
    return LEDModel(
        name=str(spec.get("name", value if isinstance(value, str) else "led")),
        wavelength_nm=spectrum.peak_nm,
        power_mw=as_positive(spec["power_mw"], name=f"{where}.power_mw"),
        profile=profile,
        package_shape=shape,
        package_mm=as_positive(package.get("size_mm", 3.0), name=f"{where}.package.size_mm"),
        spectrum=spectrum,
    )


def design_spec(
    spec: dict[str, Any], *, where: str, base: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Return ``spec`` on top of the design it names (if any), and where each part is read from.

    A scene's keys replace the design's, except the per-channel mappings, which merge:
    ``channels`` channel by channel and key by key (``{red: {led: ...}}`` keeps the design's
    ratio and its other channels; ``{blue: null}`` removes a channel), ``spectrum`` channel by
    channel and ``modes`` mode by mode.

    Returns
    -------
    spec : dict
        The merged keys.
    bases : dict of str to Path
        The folder relative paths are read from: for each channel's LED (``"channels.NAME"``),
        each channel's spectrum (``"spectrum.NAME"``), and for everything else (``""``): the
        scene's folder for what the scene gave, the design's for what it inherited.
    """
    check_keys(spec, DESIGN_KEYS, name=where)
    if "design" not in spec:
        return dict(spec), {"": base}
    name = spec["design"]
    if not isinstance(name, str):
        msg = f"{where}.design: expected a design name or file, got {name!r}"
        raise InputError(msg)
    with prefixed(f"{where}.design: "):
        path = _resolve_path(name, folder="designs", base=base, what="design")
    design = _read_yaml(path, what="design")
    check_keys(design, DESIGN_KEYS, name=str(path))
    own = {k: v for k, v in spec.items() if k != "design"}
    merged = {**design, **own}
    bases = {"": base}
    for key in ("channels", "spectrum", "modes"):
        mine, theirs = own.get(key), design.get(key)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            merged[key] = _merge_entries(theirs, mine, deep=key == "channels")
        if isinstance(merged.get(key), dict):
            for entry in merged[key]:
                given = isinstance(mine, dict) and entry in mine
                bases[f"{key}.{entry}"] = base if given else path.parent
    # What the design said about channels the scene removed goes with them.
    if isinstance(merged.get("channels"), dict):
        gone = set(design.get("channels") or ()) - set(merged["channels"])
        spectrum = merged.get("spectrum")
        if gone and isinstance(spectrum, dict):
            merged["spectrum"] = {c: v for c, v in spectrum.items() if c not in gone}
        modes, own_modes = merged.get("modes"), own.get("modes") or {}
        if gone and isinstance(modes, dict):
            merged["modes"] = {
                m: v
                for m, v in modes.items()
                if m in own_modes or not (isinstance(v, dict) and gone & set(v))
            }
    merged["design"] = design.get("name", path.stem)
    return merged, bases


def _merge_entries(design: dict, scene: dict, *, deep: bool) -> dict:
    """Return the design's entries updated by the scene's: ``None`` removes an entry.

    With ``deep``, an entry given as a mapping updates the design's entry key by key (a bare
    LED name stands for ``{led: NAME}``).
    """
    merged = dict(design)
    for name, entry in scene.items():
        if entry is None:
            merged.pop(name, None)
        elif deep and isinstance(entry, dict) and name in design:
            old = design[name]
            merged[name] = {**({"led": old} if isinstance(old, str) else old), **entry}
        else:
            merged[name] = entry
    return merged


def _number(spec: dict, key: str, default: float, *, where: str, zero: bool = False) -> float:
    return as_positive(spec.get(key, default), name=f"{where}.{key}", allow_zero=zero)


def _carrier(spec: dict[str, Any], anatomy_name: str | None, *, where: str) -> Carrier:
    variant = None
    if "shaped_on" in spec:
        variant = Variant.from_dict(spec["shaped_on"], name=f"{where}.shaped_on")
    kind = spec.get("carrier")
    if kind not in CARRIER_KINDS:
        msg = f"{where}.carrier: expected one of {', '.join(CARRIER_KINDS)}, got {kind!r}"
        raise InputError(msg)
    if kind == "panel":
        if anatomy_name not in carriers.PANEL_PLACEMENT:
            msg = (
                f"{where}.anatomy: a panel stands in front of a built-in anatomy, expected one "
                f"of {', '.join(carriers.PANEL_PLACEMENT)}, got {anatomy_name!r}"
            )
            raise InputError(msg)
        return _panel(
            anatomy_name,
            _number(spec, "distance_mm", 150.0, where=where),
            _number(spec, "width_mm", 250.0, where=where),
            _number(spec, "height_mm", 250.0, where=where),
        )
    if ANATOMY_OF[kind] != anatomy_name:
        msg = (
            f"{where}.carrier: a {kind} carrier is shaped on the {ANATOMY_OF[kind]}, but the "
            f"design's anatomy is {anatomy_name!r}"
        )
        raise InputError(msg)
    standoff = _number(spec, "standoff_mm", DEFAULT_STANDOFF_MM[kind], where=where)
    if kind in ("rigid", "flexible"):
        cutouts = spec.get("cutouts", list(FACE_CUTOUTS))
        if not isinstance(cutouts, list) or not all(isinstance(c, str) for c in cutouts):
            msg = f"{where}.cutouts: expected a list of {', '.join(FACE_CUTOUTS)}, got {cutouts!r}"
            raise InputError(msg)
        with prefixed(f"{where}."):
            return _face_mask(kind, standoff, tuple(cutouts), variant)
    with prefixed(f"{where}."):
        if kind == "helmet":
            return _helmet(standoff, variant)
        return _pad(spec.get("shape", "pelvic"), standoff, variant)


# Carriers are shaped on the base anatomy and reused by every scene of a process.
_face_mask = lru_cache(maxsize=8)(
    lambda kind, standoff, cutouts, variant: carriers.face_mask(
        kind, standoff_mm=standoff, cutouts=cutouts, variant=variant
    )
)
_helmet = lru_cache(maxsize=4)(
    lambda standoff, variant: carriers.helmet(standoff_mm=standoff, variant=variant)
)
_pad = lru_cache(maxsize=4)(
    lambda shape, standoff, variant: carriers.pad(shape, standoff_mm=standoff, variant=variant)
)
_panel = lru_cache(maxsize=4)(
    lambda anatomy_name, distance, width, height: carriers.panel(
        anatomy_name, distance_mm=distance, width_mm=width, height_mm=height
    )
)


_PATTERNS: dict[tuple, tuple[Carrier, CarrierPoints]] = {}
_CHANNELS: dict[tuple, tuple[CarrierPoints, NDArray[np.str_]]] = {}


def _pattern(carrier: Carrier, count: Any, pattern: Any, seed: Any) -> CarrierPoints:
    """``pattern_points``, remembered per carrier: every wearer of a design shares it."""
    key = (id(carrier), count, pattern, seed)
    if key not in _PATTERNS or _PATTERNS[key][0] is not carrier:
        _PATTERNS[key] = (
            carrier,
            pattern_points(carrier, count=count, pattern=pattern, seed=seed),
        )
    return _PATTERNS[key][1]


def _interleave(
    carrier: Carrier, points: CarrierPoints, ratios: dict[str, int]
) -> NDArray[np.str_]:
    """``interleave`` of the points on the carrier, remembered like ``_pattern``."""
    key = (id(carrier), id(points), tuple(ratios.items()))
    if key not in _CHANNELS or _CHANNELS[key][0] is not points:
        _CHANNELS[key] = (points, interleave(points.positions(carrier.shell), ratios))
    return _CHANNELS[key][1]


def _tilted(axes: NDArray[np.float64], towards: NDArray[np.float64], tilt_deg: float):
    """Each axis turned by ``tilt_deg`` towards ``towards`` (never past it)."""
    if tilt_deg == 0.0:
        return axes
    angle = np.arccos(np.clip(axes @ towards, -1.0, 1.0))
    turn = np.minimum(np.radians(tilt_deg), angle)
    side = towards - (axes @ towards)[:, None] * axes
    norm = np.linalg.norm(side, axis=1)
    side = np.divide(side, norm[:, None], out=np.zeros_like(side), where=norm[:, None] > 0)
    return np.cos(turn)[:, None] * axes + np.sin(turn)[:, None] * side


def _modes(spec: dict[str, Any], channels: list[str], *, where: str) -> dict[str, dict]:
    modes = spec.get("modes", builtin_modes())
    if not isinstance(modes, dict):
        msg = f"{where}.modes: expected a mapping of mode names to drive levels, got {modes!r}"
        raise InputError(msg)
    # Built-in modes that name channels this design does not have are simply not offered.
    usable = {
        name: dict(levels)
        for name, levels in modes.items()
        if isinstance(levels, dict) and set(levels) <= set(channels)
    }
    if "modes" in spec and len(usable) != len(modes):
        bad = next(name for name in modes if name not in usable)
        msg = (
            f"{where}.modes.{bad}: expected drive levels of the design's channels "
            f"({', '.join(channels)}), got {modes[bad]!r}"
        )
        raise InputError(msg)
    return usable


def generate(
    spec: dict[str, Any], *, target: Surface, anatomy_name: str | None, where: str, base: Path
) -> Layout:
    """Build a design's emitters and wear them on ``target``.

    Parameters
    ----------
    spec : dict
        The design keys (module docstring), possibly naming a ``design`` to start from.
    target : Surface
        The skin the device is worn on (the built-in anatomy, a variant or an aligned scan).
    anatomy_name : str or None
        The built-in anatomy the target is (``None`` for files: the design's is assumed).
    where : str
        For messages.
    base : Path
        Folder that relative paths in ``spec`` are taken from.
    """
    overrides = set(spec)
    spec, bases = design_spec(spec, where=where, base=base)
    kind = spec.get("carrier")
    default_anatomy = ANATOMY_OF.get(kind, anatomy_name) if isinstance(kind, str) else anatomy_name
    anatomy_name_design = spec.get("anatomy", default_anatomy)
    if anatomy_name is not None and anatomy_name_design != anatomy_name:
        msg = (
            f"{where}: the design is worn on the {anatomy_name_design}, but the target is "
            f"builtin:{anatomy_name}"
        )
        raise InputError(msg)
    carrier = _carrier(spec, anatomy_name_design, where=where)
    count = as_count(spec.get("count"), name=f"{where}.count", most=MAX_EMITTERS)
    pattern = spec.get("pattern", "hex")
    if not isinstance(pattern, str):
        msg = f"{where}.pattern: expected a pattern name, got {shorten(repr(pattern))}"
        raise InputError(msg)
    seed = as_count(spec.get("seed", 0), name=f"{where}.seed", least=0)
    with prefixed(f"{where}."):
        points = _pattern(carrier, count, pattern, seed)
    channels = spec.get("channels")
    if not isinstance(channels, dict) or not channels:
        msg = (
            f"{where}.channels: expected a mapping of channel names to LED models, got "
            f"{channels!r}"
        )
        raise InputError(msg)
    models, ratios = {}, {}
    for name, entry in channels.items():
        entry = {"led": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict):
            msg = f"{where}.channels.{name}: expected {{led: MODEL, ratio: N}}, got {entry!r}"
            raise InputError(msg)
        check_keys(entry, CHANNEL_KEYS, name=f"{where}.channels.{name}")
        models[name] = load_led(
            entry.get("led"),
            where=f"{where}.channels.{name}.led",
            base=bases.get(f"channels.{name}", base),
        )
        ratio = entry.get("ratio", 1)
        if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 1:
            msg = f"{where}.channels.{name}.ratio: expected a whole number >= 1, got {ratio!r}"
            raise InputError(msg)
        ratios[name] = ratio
    clearance = _number(spec, "clearance_mm", 1.0, where=where, zero=True)
    positions, axes, push = wear(carrier, points, target, clearance_mm=clearance)
    tilt = _number(spec, "tilt_deg", 0.0, where=where, zero=True)
    axes = _tilted(axes, -carrier.push_axis, tilt)
    channel = _interleave(carrier, points, ratios)
    emitters = Emitters.create(
        positions,
        axes,
        np.array([models[c].power_mw for c in channel]),
        profile=[models[c].profile for c in channel],
        channel=channel,
        spectra={c: m.spectrum for c, m in models.items()},
        name=where,
    )
    spectra: dict[str, Spectrum] = {}
    if "spectrum" in spec:
        section = spec["spectrum"]
        parts: dict[Path, Any] = {base: section}  # the scene's or the design's folder
        if isinstance(section, dict):
            parts = {}
            for channel, entry in section.items():
                parts.setdefault(bases.get(f"spectrum.{channel}", base), {})[channel] = entry
        for folder, part in parts.items():
            spectra |= spectra_from_spec(
                part,
                wavelength_nm=emitters.wavelength_nm,
                channels=emitters.channels,
                where=f"{where}.spectrum",
                base=folder,
            )
        emitters = emitters.derive(spectra=spectra, name=where)
    extended = as_bool(spec.get("extended", False), name=f"{where}.extended")
    samples = as_count(
        spec.get("aperture_samples", DEFAULT_APERTURE_SAMPLES),
        name=f"{where}.aperture_samples",
        most=MAX_APERTURE_SAMPLES,
    )
    apertures = {}
    if extended:
        for name, model in models.items():
            k = samples
            if model.package_shape == "square":  # a square aperture takes n x n samples
                k = round(np.sqrt(samples)) ** 2
            apertures[name] = Aperture(model.package_shape, model.package_mm, k)
    modes = _modes(spec, list(models), where=where)
    mode = spec.get("mode")
    if mode is not None and not isinstance(mode, str):
        msg = f"{where}.mode: expected a mode name, got {shorten(repr(mode))}"
        raise InputError(msg)
    if mode is not None and mode not in modes and "mode" not in overrides:
        mode = None  # the design's default does not fit channels the scene replaced
    if mode is not None and mode not in modes:
        msg = f"{where}.mode: unknown mode {mode!r}; the design has: {', '.join(modes)}"
        raise InputError(msg)
    interior = parse_reflectance(
        spec.get("interior", DEFAULT_INTERIOR),
        name=f"{where}.interior",
        channels=emitters.channels,
    )
    resolved = {
        **{k: v for k, v in spec.items() if k not in ("channels", "modes")},
        "interior": interior.to_spec(),
        "anatomy": anatomy_name_design,
        "count": count,
        "pattern": pattern,
        "channels": {c: {"led": models[c].name, "ratio": ratios[c]} for c in models},
        **({"spectrum": {c: s.to_dict() for c, s in spectra.items()}} if spectra else {}),
    }
    package = max(m.package_mm for m in models.values())
    areas = {c: m.emitting_area_mm2 for c, m in models.items()}
    return Layout(
        emitters, carrier, points, modes, mode, apertures, push, package, resolved, areas, interior
    )
