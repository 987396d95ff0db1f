"""Detectors: flat grids of radiometer readings placed in a scene (the ``detectors:`` key).

A detector is a virtual bench instrument: a flat grid of sample points (its pixels) at a
position, facing along its normal, read with an angular response (a cosine-corrected head,
or a tabulated one) and averaged over an aperture. It reads the light the scene's emitters
put on it, shadowed by the target and the occluders; it blocks no light itself, so the skin
maps are the same with or without it. The readings are computed by
:mod:`twin.pipeline.detectors`; this module is the scene's side: the typed
:class:`Detector` and its parser (README, "Detectors and bench validation")::

    detectors:
      - {name: bench, center_mm: [0, 0, 0], normal: [0, 0, 1], up: [0, 1, 0],
         size_mm: [80, 80], pixels: [41, 41], response: cosine, aperture_mm: 0}

Coordinates in the detector's plane start at ``center_mm``: ``y`` along ``up`` (made
perpendicular to the normal), ``x`` along ``up x normal``, so that ``x``, ``y`` and the
normal are right-handed. The pixels are the grid's points: ``pixels: [41, 41]`` over
``size_mm: [80, 80]`` puts them every 2 mm from -40 to +40 mm on each axis, the outer ones
on the edges, as a radiometer scanned over a grid; they are listed row by row (``y``
ascending, then ``x`` ascending).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin._validation import (
    CHANNEL_NAME,
    MAX_COORDINATE_MM,
    as_count,
    as_mapping,
    as_positive,
    check_keys,
    quote,
    read_csv_rows,
    shorten,
)
from twin.devices.emitters import Emitters
from twin.errors import InputError
from twin.scene.schema import as_path

#: Keys of one entry of ``detectors:``.
DETECTOR_KEYS = (
    "name",
    "center_mm",
    "normal",
    "up",
    "size_mm",
    "pixels",
    "response",
    "aperture_mm",
    "at",
)
#: Keys of a detector's ``at:`` (placed in front of the emitters instead of by ``center_mm``).
AT_KEYS = ("standoff_mm",)
#: The response of a cosine-corrected head (the default).
COSINE = "cosine"
#: Most pixels along one side of a detector.
MAX_PIXELS_PER_SIDE = 2001
#: Most pixels of one detector.
MAX_PIXELS = 1_000_000
#: Most detectors in a scene.
MAX_DETECTORS = 100
#: An aperture is below this many times the pixel pitch (the finer axis's): wider, and
#: neighbouring pixels read nearly the same light.
MAX_APERTURE_PER_PITCH = 10.0
#: ``up`` may not be closer to the normal than this angle (its sine): too near, and the
#: detector's axes are undefined.
MIN_UP_SINE = 1e-6
#: Shortest mean of the emitters' unit axes an ``at:`` detector can be placed along.
MIN_MEAN_AXIS = 0.1
#: Default ``up``: the anatomy frame's +Y.
DEFAULT_UP = (0.0, 1.0, 0.0)


@dataclass(frozen=True)
class AngularResponse:
    """A detector's response to light arriving at angle ``theta`` from its normal.

    Relative to normal incidence. A cosine-corrected head follows ``cos(theta)`` (the
    default, :data:`COSINE`): it reads irradiance. A tabulated response is linearly
    interpolated in angle and zero past its last angle; a flat table (1 at every angle) reads
    ``I / r^2``, whatever the direction. A bare photodiode behind a flat window reads roughly
    ``cos(theta)`` times the window's Fresnel transmission, so less than cosine beyond about
    60 degrees: give its datasheet's table.

    Parameters
    ----------
    angles_deg : tuple of float, degrees
        Strictly increasing, from 0 to at most 90; empty for the cosine response.
    relative : tuple of float
        The response at each angle, 1 at 0 degrees, non-negative.
    source : str
        ``cosine``, the table's file (absolute path), or ``table`` (given in the scene).
    """

    angles_deg: tuple[float, ...] = ()
    relative: tuple[float, ...] = ()
    source: str = COSINE

    @property
    def is_cosine(self) -> bool:
        """Whether this is the cosine response."""
        return not self.angles_deg

    def at(self, cos_theta: ArrayLike) -> NDArray[np.float64]:
        """Return the relative response for (k,) cosines of the angle from the normal."""
        cos = np.clip(np.asarray(cos_theta, dtype=np.float64), -1.0, 1.0)
        if self.is_cosine:
            return np.maximum(cos, 0.0)
        theta_deg = np.degrees(np.arccos(cos))
        return np.interp(theta_deg, self.angles_deg, self.relative, right=0.0)

    def to_spec(self) -> str | dict[float, float]:
        """Return the response as a scene file's ``response`` (a table given inline as such)."""
        if self.is_cosine or self.source != "table":
            return self.source
        return dict(zip(self.angles_deg, self.relative, strict=True))


@dataclass(frozen=True, eq=False)
class Detector:
    """A flat grid of radiometer readings.

    Attributes
    ----------
    name : str
        Letters, digits, ``_`` and ``-``: it names ``detector_<name>.csv``.
    center_mm : (3,) float64, mm, scene frame
        The grid's centre, where the plane coordinates start.
    normal : (3,) float64, unit
        Points towards where the light it reads arrives from.
    up : (3,) float64, unit
        Perpendicular to ``normal``: the plane's ``y`` axis.
    size_mm : (2,) float64, mm
        Span of the grid along ``x`` and ``y``, from the first pixel to the last.
    pixels : (2,) int64
        Pixels along ``x`` and ``y``.
    response : AngularResponse
    aperture_mm : float, mm
        Diameter of the disk each pixel's reading is averaged over (0: a point).
    """

    name: str
    center_mm: NDArray[np.float64]
    normal: NDArray[np.float64]
    up: NDArray[np.float64]
    size_mm: NDArray[np.float64]
    pixels: NDArray[np.int64]
    response: AngularResponse = AngularResponse()
    aperture_mm: float = 0.0

    @property
    def x_axis(self) -> NDArray[np.float64]:
        """(3,) float64, unit: the plane's ``x`` axis, ``up x normal``."""
        x = np.cross(self.up, self.normal)
        return x / np.linalg.norm(x)

    @property
    def y_axis(self) -> NDArray[np.float64]:
        """(3,) float64, unit: the plane's ``y`` axis, ``up``."""
        return self.up

    @property
    def pitch_mm(self) -> NDArray[np.float64]:
        """(2,) float64, mm: the spacing of the pixels along ``x`` and ``y``.

        The whole size along an axis of one pixel.
        """
        return self.size_mm / np.maximum(self.pixels - 1, 1)

    @property
    def pixel_area_mm2(self) -> float:
        """The area each pixel stands for, mm^2 (pitch times pitch)."""
        return float(np.prod(self.pitch_mm))

    def pixel_xy_mm(self) -> NDArray[np.float64]:
        """Return the pixel centres in plane coordinates, row by row.

        Returns
        -------
        (p, 2) float64, mm
            ``x`` along :attr:`x_axis`, ``y`` along :attr:`y_axis`, from ``center_mm``;
            ``y`` ascending, then ``x`` ascending (``p = pixels[0] * pixels[1]``).
        """
        x, y = (
            np.linspace(-s / 2, s / 2, int(n)) if n > 1 else np.zeros(1)
            for s, n in zip(self.size_mm, self.pixels, strict=True)
        )
        xx, yy = np.meshgrid(x, y)
        return np.column_stack([xx.ravel(), yy.ravel()])

    def to_world(self, xy_mm: ArrayLike) -> NDArray[np.float64]:
        """Return points given in plane coordinates in the scene frame.

        Parameters
        ----------
        xy_mm : (k, 2) float, mm
            ``x``, ``y`` in the detector's plane.

        Returns
        -------
        (k, 3) float64, mm, scene frame
        """
        xy = np.asarray(xy_mm, dtype=np.float64).reshape(-1, 2)
        return self.center_mm + xy[:, :1] * self.x_axis + xy[:, 1:] * self.y_axis

    def to_spec(self) -> dict[str, Any]:
        """Return the detector as its entry in a scene file's ``detectors:``."""
        return {
            "name": self.name,
            "center_mm": [float(v) for v in self.center_mm],
            "normal": [float(v) for v in self.normal],
            "up": [float(v) for v in self.up],
            "size_mm": [float(v) for v in self.size_mm],
            "pixels": [int(v) for v in self.pixels],
            "response": self.response.to_spec(),
            "aperture_mm": self.aperture_mm,
        }


def parse_detectors(
    value: Any, *, where: str, base: Path, emitters: Emitters | None = None
) -> tuple[Detector, ...]:
    """Parse a scene's ``detectors:`` (absent: none).

    Parameters
    ----------
    value : list of dict or None
        The entries (:data:`DETECTOR_KEYS`).
    where : str
        Where it came from (``"scene.yaml: detectors"``), named in messages.
    base : Path
        Folder that a response table's relative path is taken from.
    emitters : Emitters, optional
        The scene's emitters, which an ``at:`` entry is placed in front of.

    Returns
    -------
    tuple of Detector

    Raises
    ------
    InputError
        Naming the entry and key, what was expected and what was found.
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        msg = f"{where}: expected a list of detectors, got {type(value).__name__}"
        raise InputError(msg)
    if len(value) > MAX_DETECTORS:
        msg = f"{where}: expected at most {MAX_DETECTORS} detectors, got {len(value)}"
        raise InputError(msg)
    detectors = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(value):
        detector = _parse_one(entry, where=f"{where}[{i}]", base=base, emitters=emitters)
        key = detector.name.lower()
        if key in seen:
            msg = (
                f"{where}[{i}].name: expected a name no other detector has (names differ in "
                f"more than case: they name files), got {detector.name!r} again "
                f"(as {seen[key]!r})"
            )
            raise InputError(msg)
        seen[key] = detector.name
        detectors.append(detector)
    return tuple(detectors)


def _parse_one(entry: Any, *, where: str, base: Path, emitters: Emitters | None) -> Detector:
    spec = as_mapping(entry, name=where)
    check_keys(spec, DETECTOR_KEYS, name=where)
    for key in ("name", "size_mm", "pixels"):
        if key not in spec:
            msg = f"{where}: missing required key {key!r}"
            raise InputError(msg)
    name = spec["name"]
    if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name):
        msg = (
            f"{where}.name: expected a name of letters, digits, '_' and '-' (it names "
            f"detector_<name>.csv), got {shorten(repr(name))}"
        )
        raise InputError(msg)
    if "at" in spec:
        center, normal = _placed(spec, where=where, emitters=emitters)
    else:
        for key in ("center_mm", "normal"):
            if key not in spec:
                msg = f"{where}: missing required key {key!r} (or 'at' to place it)"
                raise InputError(msg)
        center = _vector(spec["center_mm"], 3, name=f"{where}.center_mm")
        normal = _direction(spec["normal"], name=f"{where}.normal")
    up = _direction(spec.get("up", list(DEFAULT_UP)), name=f"{where}.up")
    up = up - (up @ normal) * normal
    if np.linalg.norm(up) < MIN_UP_SINE:
        msg = (
            f"{where}.up: expected a direction not parallel to the normal "
            f"{[float(v) for v in normal]}, got "
            + (repr(spec["up"]) if "up" in spec else f"the default {list(DEFAULT_UP)}; give one")
        )
        raise InputError(msg)
    up = up / np.linalg.norm(up)
    size = _vector(spec["size_mm"], 2, name=f"{where}.size_mm")
    if np.any(size <= 0.0):
        msg = f"{where}.size_mm: expected two numbers > 0 [x, y], got {spec['size_mm']!r}"
        raise InputError(msg)
    pixels = _pixels(spec["pixels"], name=f"{where}.pixels")
    aperture = as_positive(
        spec.get("aperture_mm", 0.0), name=f"{where}.aperture_mm", allow_zero=True
    )
    pitch = (size / np.maximum(pixels - 1, 1))[pixels > 1]
    if pitch.size and aperture >= MAX_APERTURE_PER_PITCH * pitch.min():
        msg = (
            f"{where}.aperture_mm: expected a diameter below {MAX_APERTURE_PER_PITCH:g} times "
            f"the pixel pitch ({pitch.min():.4g} mm), so below "
            f"{MAX_APERTURE_PER_PITCH * pitch.min():.4g} mm, got {aperture:g}"
        )
        raise InputError(msg)
    if aperture > 2.0 * MAX_COORDINATE_MM:
        msg = f"{where}.aperture_mm: expected at most {2 * MAX_COORDINATE_MM:g}, got {aperture:g}"
        raise InputError(msg)
    response = parse_response(spec.get("response", COSINE), name=f"{where}.response", base=base)
    return Detector(
        name=name,
        center_mm=_frozen(center),
        normal=_frozen(normal),
        up=_frozen(up),
        size_mm=_frozen(size),
        pixels=_frozen(pixels),
        response=response,
        aperture_mm=aperture,
    )


def _placed(
    spec: dict[str, Any], *, where: str, emitters: Emitters | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the centre and normal of an ``at:`` detector, facing the emitters.

    The device's axis is the emitters' mean axis; its centre the emitter nearest the line
    along that axis through the emitters' centroid. The detector's centre is ``standoff_mm``
    in front of that emitter along the device's axis, its normal back along the axis.
    """
    for key in ("center_mm", "normal"):
        if key in spec:
            msg = f"{where}: expected either 'at' or {key!r}, got both"
            raise InputError(msg)
    at = as_mapping(spec["at"], name=f"{where}.at")
    check_keys(at, AT_KEYS, name=f"{where}.at")
    if "standoff_mm" not in at:
        msg = f"{where}.at: missing required key 'standoff_mm'"
        raise InputError(msg)
    standoff = as_positive(at["standoff_mm"], name=f"{where}.at.standoff_mm", allow_zero=True)
    if standoff > MAX_COORDINATE_MM:
        msg = f"{where}.at.standoff_mm: expected at most {MAX_COORDINATE_MM:g}, got {standoff:g}"
        raise InputError(msg)
    if emitters is None or len(emitters) == 0:
        msg = f"{where}.at: the scene has no emitters to place the detector in front of"
        raise InputError(msg)
    axis = emitters.axes.mean(axis=0)
    if np.linalg.norm(axis) < MIN_MEAN_AXIS:
        msg = (
            f"{where}.at: the emitters point every way (their mean axis has length "
            f"{np.linalg.norm(axis):.2g}): place the detector with center_mm and normal"
        )
        raise InputError(msg)
    axis = axis / np.linalg.norm(axis)
    offset = emitters.positions_mm - emitters.positions_mm.mean(axis=0)
    across = offset - np.outer(offset @ axis, axis)
    middle = int(np.argmin(np.linalg.norm(across, axis=1)))
    return emitters.positions_mm[middle] + standoff * axis, -axis


def _frozen(arr: NDArray[Any]) -> NDArray[Any]:
    arr = np.array(arr)
    arr.flags.writeable = False
    return arr


def _vector(value: Any, size: int, *, name: str) -> NDArray[np.float64]:
    """``value`` as ``size`` finite numbers within :data:`MAX_COORDINATE_MM`, or raise."""
    axes = "[x, y, z]" if size == 3 else "[x, y]"
    ok = (
        isinstance(value, (list, tuple, np.ndarray))
        and len(value) == size
        and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value)
    )
    arr = np.array(value, dtype=np.float64) if ok else np.zeros(0)
    if not ok or not np.all(np.isfinite(arr)) or np.abs(arr).max() > MAX_COORDINATE_MM:
        msg = (
            f"{name}: expected {size} finite numbers {axes} (at most {MAX_COORDINATE_MM:g} in "
            f"size), got {shorten(repr(value))}"
        )
        raise InputError(msg)
    return arr


def _direction(value: Any, *, name: str) -> NDArray[np.float64]:
    """``value`` as a (3,) unit vector; a zero vector is an error."""
    arr = _vector(value, 3, name=name)
    biggest = np.abs(arr).max()
    if biggest == 0.0:
        msg = f"{name}: expected a non-zero direction [x, y, z], got {value!r}"
        raise InputError(msg)
    arr = arr / biggest
    return arr / np.linalg.norm(arr)


def _pixels(value: Any, *, name: str) -> NDArray[np.int64]:
    """``value`` as two whole numbers in [1, 2001] whose product is at most 1e6, or raise."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        msg = (
            f"{name}: expected two whole numbers [x, y] in [1, {MAX_PIXELS_PER_SIDE}], got "
            f"{shorten(repr(value))}"
        )
        raise InputError(msg)
    counts = np.array(
        [as_count(v, name=f"{name}[{i}]", most=MAX_PIXELS_PER_SIDE) for i, v in enumerate(value)],
        dtype=np.int64,
    )
    if math.prod(int(c) for c in counts) > MAX_PIXELS:
        msg = f"{name}: expected at most {MAX_PIXELS} pixels in all, got {counts[0]} x {counts[1]}"
        raise InputError(msg)
    return counts


def parse_response(value: Any, *, name: str, base: Path) -> AngularResponse:
    """Parse a detector's ``response``: ``cosine``, a CSV file, or a mapping angle -> relative.

    A CSV has the header ``angle_deg,relative``. Angles are degrees from the normal, strictly
    increasing from 0 to at most 90; the values are non-negative, that at 0 degrees positive,
    and are taken relative to it (divided by it).

    Raises
    ------
    InputError
        Naming ``name`` (or the file), what was expected and what was found.
    """
    if value == COSINE:
        return AngularResponse()
    if isinstance(value, dict):
        rows = []
        for key, rel in value.items():
            try:
                angle = float(key)
                number = (
                    float(rel)
                    if isinstance(rel, (int, float)) and not isinstance(rel, bool)
                    else math.nan
                )
            except (TypeError, ValueError):
                angle, number = math.nan, math.nan
            if not (math.isfinite(angle) and math.isfinite(number)):
                msg = (
                    f"{name}: expected a mapping of angle_deg to relative response (numbers), "
                    f"got {shorten(repr(key))}: {shorten(repr(rel))}"
                )
                raise InputError(msg)
            rows.append((angle, number))
        rows.sort()
        return _table(rows, source="table", name=name)
    if isinstance(value, str) and value:
        path = as_path(value, name=name, base=base)
        if not path.is_file():
            msg = (
                f"{name}: expected 'cosine' or a CSV file (angle_deg,relative), got "
                f"{shorten(repr(value))}: no such file"
            )
            raise InputError(msg)
        return _table(_read_table(path), source=str(path), name=str(path))
    msg = (
        f"{name}: expected 'cosine', a CSV file (angle_deg,relative) or a mapping of "
        f"angle_deg to relative response, got {shorten(repr(value))}"
    )
    raise InputError(msg)


def _read_table(path: Path) -> list[tuple[float, float]]:
    rows = read_csv_rows(path, what="detector response table")
    header = ["angle_deg", "relative"]
    if not rows or [c.strip().lower() for c in rows[0][1]] != header:
        found = quote(",".join(rows[0][1])) if rows else "an empty file"
        msg = f"{path}: expected the header 'angle_deg,relative', found {found}"
        raise InputError(msg)
    table = []
    for number, row in rows[1:]:
        try:
            values = [float(c) for c in row] if len(row) == 2 else []
        except ValueError:
            values = []
        if not values:
            msg = f"{path}: line {number}: expected two numbers, got {quote(','.join(row))}"
            raise InputError(msg)
        table.append((values[0], values[1]))
    return table


def _table(rows: list[tuple[float, float]], *, source: str, name: str) -> AngularResponse:
    """Check a response table and return it relative to its value at 0 degrees."""
    a = np.array([r[0] for r in rows], dtype=np.float64)
    v = np.array([r[1] for r in rows], dtype=np.float64)
    if a.size < 2:
        msg = f"{name}: expected at least two (angle_deg, relative) rows, got {a.size}"
        raise InputError(msg)
    if not (np.isfinite(a).all() and np.isfinite(v).all()):
        msg = f"{name}: expected finite numbers in the response table"
        raise InputError(msg)
    if a[0] != 0.0 or a[-1] > 90.0 or np.any(np.diff(a) <= 0):
        msg = (
            f"{name}: expected angles strictly increasing from 0 to at most 90 degrees, got "
            f"{a[0]:g}..{a[-1]:g}"
        )
        raise InputError(msg)
    if np.any(v < 0) or not v[0] > 0 or not np.isfinite(v / v[0]).all():
        msg = (
            f"{name}: expected non-negative relative responses, positive at 0 degrees, got "
            f"{v[0]:g} at 0 and a least of {v.min():g}"
        )
        raise InputError(msg)
    return AngularResponse(
        tuple(float(x) for x in a), tuple(float(x) for x in v / v[0]), source=source
    )
