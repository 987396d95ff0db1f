"""Readers for LED angular-intensity files: IES LM-63, EULUMDAT and two-column CSV.

Each reader returns a :class:`twin.devices.profiles.Tabulated` profile: the axisymmetric intensity
I(theta), theta in degrees from the LED axis, averaged over the azimuth of the file's planes.

Units: photometric tables (candela, cd/1000 lm) are used by their *shape* only. The LED model
gives the radiant power in mW and :class:`~twin.devices.profiles.Tabulated` rescales the table
so that it emits exactly 1 mW per mW of radiant power. Lumens are never converted to watts through
683 lm/W: that factor holds at 555 nm only, and at 850 nm the eye sensitivity V(lambda) is ~0,
so a luminous flux says nothing about the radiant power of a near-infrared LED.

Azimuthal averaging: the intensity between two listed planes is taken as linear in the
azimuth, so the mean over the full circle is the trapezoidal mean over the span the planes
cover. Symmetry makes that span enough: a quadrant (0..90), a half circle (0..180, 90..270)
or the full circle (0..360, or planes up to less than 360 that wrap back to 0).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from twin._validation import quote, read_bytes
from twin.devices.profiles import Profile, Tabulated
from twin.errors import InputError

__all__ = ["read_ies", "read_ldt", "read_profile"]

_SUFFIXES = ".ies (IES LM-63), .ldt (EULUMDAT) or .csv (angle_deg,intensity)"

_IES_TYPES = {1: "type C", 2: "type B", 3: "type A"}

#: The 13 numbers after the TILT line (and its tilt data), in file order.
_IES_HEADER = (
    "number of lamps",
    "lumens per lamp",
    "candela multiplier",
    "number of vertical angles",
    "number of horizontal angles",
    "photometric type",
    "units type",
    "width",
    "length",
    "height",
    "ballast factor",
    "file generation type",
    "input watts",
)

#: Stored C-planes per EULUMDAT symmetry Isym: (planes as a function of Mc, the C-angle span in
#: degrees they must cover, the divisor Mc must be a multiple of).
_LDT_SYMMETRY = {
    0: ("no symmetry", None, 1),
    1: ("symmetric about the vertical axis", None, 1),
    2: ("symmetric about the C0-C180 plane", (0.0, 180.0), 2),
    3: ("symmetric about the C90-C270 plane", (270.0, 450.0), 4),
    4: ("symmetric about the C0-C180 and C90-C270 planes", (0.0, 90.0), 4),
}


def read_profile(path: str | os.PathLike[str]) -> Profile:
    """Read an angular emission profile, choosing the reader by the file suffix.

    Parameters
    ----------
    path : str or path-like
        ``.ies`` (IES LM-63), ``.ldt`` (EULUMDAT) or ``.csv`` (columns ``angle_deg,intensity``);
        the suffix is matched case-insensitively.

    Returns
    -------
    Profile
        A :class:`~twin.devices.profiles.Tabulated` profile, I(theta) per mW of radiant power in
        mW/sr.

    Raises
    ------
    InputError
        If the suffix is none of the above, or the file is malformed.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".ies":
        return read_ies(path)
    if suffix == ".ldt":
        return read_ldt(path)
    if suffix == ".csv":
        return Tabulated.from_csv(Path(path))
    msg = f"{path}: unknown profile file suffix {Path(path).suffix!r}; expected {_SUFFIXES}"
    raise InputError(msg)


def read_ies(path: str | os.PathLike[str]) -> Tabulated:
    """Read an IES LM-63 photometric file (1986, 1991, 1995, 2002 or 2019) as a profile.

    Only photometric type C is supported, with the LED axis at vertical angle 0 (nadir). The
    candela values are averaged over the horizontal planes (weighted by their spacing, see the
    module docstring) and multiplied by the candela multiplier. Vertical angles ending at 90
    degrees describe the forward hemisphere only: the profile is zero beyond.

    Parameters
    ----------
    path : str or path-like
        The ``.ies`` file. ``TILT=NONE`` and ``TILT=INCLUDE`` (skipped) are supported.

    Returns
    -------
    Tabulated
        I(theta) for theta at the vertical angles (degrees), rescaled to 1 mW of flux; its
        ``source`` is ``str(path)``.

    Raises
    ------
    InputError
        If the file cannot be read or is malformed, with one message naming the file.
    """
    lines = _read_lines(path, "IES")
    tilts = [(k, match) for k, line in enumerate(lines) if (match := _TILT.match(line))]
    if not tilts:
        msg = f"{path}: expected a 'TILT=' line before the photometric data, found none"
        raise InputError(msg)
    tilt_index, match = tilts[0]
    tilt = match.group(1).strip()
    tokens = _Tokens(path, lines, first_line=tilt_index + 1)
    if tilt.upper() == "INCLUDE":
        tokens.whole("lamp-to-luminaire geometry")
        n_tilt = tokens.whole("number of tilt angles", minimum=0)
        for _ in range(2 * n_tilt):
            tokens.number("tilt angles and multipliers")
    elif tilt.upper() != "NONE":
        msg = (
            f"{path}: TILT={tilt} (tilt data in a separate file) is not supported; "
            "expected TILT=NONE or TILT=INCLUDE"
        )
        raise InputError(msg)

    header: dict[str, float] = {}
    for what in _IES_HEADER:
        if what == "number of vertical angles":
            header[what] = tokens.whole(what, minimum=2)
        elif what in ("number of horizontal angles", "photometric type"):
            header[what] = tokens.whole(what, minimum=1)
        elif what == "candela multiplier":
            header[what] = tokens.number(what, positive=True)
        else:
            header[what] = tokens.number(what)
    kind = int(header["photometric type"])
    if kind != 1:
        name = _IES_TYPES.get(kind, "unknown")
        msg = (
            f"{path}: photometric type {kind} ({name}) is not supported; expected type 1 (type C)"
        )
        raise InputError(msg)

    n_v = int(header["number of vertical angles"])
    n_h = int(header["number of horizontal angles"])
    if tokens.left() < n_v + n_h:
        msg = (
            f"{path}: expected {n_v} vertical and {n_h} horizontal angles, "
            f"found {tokens.left()} numbers"
        )
        raise InputError(msg)
    vertical = np.array([tokens.number("vertical angles") for _ in range(n_v)])
    horizontal = np.array([tokens.number("horizontal angles") for _ in range(n_h)])
    if tokens.left() != n_v * n_h:
        msg = (
            f"{path}: expected {n_v * n_h} candela values for {n_h} horizontal planes x "
            f"{n_v} vertical angles, found {tokens.left()}"
        )
        raise InputError(msg)
    candela = np.array([tokens.number("candela values") for _ in range(n_v * n_h)])

    _check_vertical(path, vertical)
    weights = _ies_plane_weights(path, horizontal)
    intensity = weights @ candela.reshape(n_h, n_v) * header["candela multiplier"]
    return Tabulated(tuple(vertical.tolist()), tuple(intensity.tolist()), source=str(path))


def read_ldt(path: str | os.PathLike[str]) -> Tabulated:
    """Read a EULUMDAT (``.ldt``) photometric file as a profile.

    The stored C-planes (how many depends on the symmetry Isym) are averaged over the azimuth,
    weighted by their spacing (see the module docstring). Gamma = 0 (nadir) is the LED axis;
    decimal commas are accepted.

    Parameters
    ----------
    path : str or path-like
        The ``.ldt`` file.

    Returns
    -------
    Tabulated
        I(theta) for theta at the gamma angles (degrees), rescaled to 1 mW of flux; its
        ``source`` is ``str(path)``.

    Raises
    ------
    InputError
        If the file cannot be read or is malformed, with one message naming the file.
    """
    lines = [line.strip() for line in _read_lines(path, "EULUMDAT")]
    while lines and not lines[-1]:
        lines.pop()
    field = _LdtFields(path, lines)
    isym = field.whole(3, "symmetry indicator Isym", minimum=0)
    if isym not in _LDT_SYMMETRY:
        msg = f"{path}: line 3 (symmetry indicator Isym): expected 0, 1, 2, 3 or 4, got {isym}"
        raise InputError(msg)
    _, span, divisor = _LDT_SYMMETRY[isym]
    mc = field.whole(4, "number of C-planes Mc", minimum=1)
    if mc % divisor:
        msg = (
            f"{path}: line 4 (number of C-planes Mc): expected a multiple of {divisor} "
            f"for Isym {isym}, got {mc}"
        )
        raise InputError(msg)
    ng = field.whole(6, "number of gamma angles Ng", minimum=2)
    n_sets = field.whole(26, "number of standard sets of lamps n", minimum=0)

    first_c = 37 + 6 * n_sets  # after 26 lines, 6 per lamp set and 10 direct ratios
    c_angles = np.array([field.number(first_c + k, "C-angles") for k in range(mc)])
    first_g = first_c + mc
    gamma = np.array([field.number(first_g + k, "gamma angles") for k in range(ng)])

    planes = {0: mc, 1: 1, 2: mc // 2 + 1, 3: mc // 2 + 1, 4: mc // 4 + 1}[isym]
    first_i = first_g + ng
    found = len(lines) - (first_i - 1)
    if found != planes * ng:
        msg = (
            f"{path}: expected {planes * ng} luminous intensities for {planes} C-planes x "
            f"{ng} gamma angles (Isym {isym}, Mc {mc}) from line {first_i}, found {max(found, 0)}"
        )
        raise InputError(msg)
    values = np.array([field.number(first_i + k, "luminous intensities") for k in range(found)])

    _check_c_angles(path, c_angles, first_c)
    _check_gamma(path, gamma, first_g)
    weights = _ldt_plane_weights(path, c_angles, isym, planes, span)
    intensity = weights @ values.reshape(planes, ng)
    return Tabulated(tuple(gamma.tolist()), tuple(intensity.tolist()), source=str(path))


# --- reading -------------------------------------------------------------------------------

_TILT = re.compile(r"^\s*TILT\s*=(.*)$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,\s]+")


def _read_lines(path: str | os.PathLike[str], kind: str) -> list[str]:
    """Return the file's lines, decoded as latin-1 (photometric files are often not UTF-8)."""
    return read_bytes(Path(path), what=f"{kind} file").decode("latin-1").splitlines()


def _parse_number(path: object, text: str, line: int, what: str, *, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (positive and value <= 0.0):
        kind = "a positive number" if positive else "a number"
        msg = f"{path}: line {line} ({what}): expected {kind}, got {quote(text)}"
        raise InputError(msg)
    return value


def _parse_whole(path: object, text: str, line: int, what: str, *, minimum: int) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer() and value >= minimum):
        kind = "a whole number" if minimum <= 0 else f"a whole number >= {minimum}"
        msg = f"{path}: line {line} ({what}): expected {kind}, got {quote(text)}"
        raise InputError(msg)
    return int(value)


class _Tokens:
    """The numbers of an IES file after its TILT line: separated by blanks or commas."""

    def __init__(self, path: object, lines: list[str], *, first_line: int) -> None:
        self._path = path
        self._items = [
            (token, number)
            for number, line in enumerate(lines[first_line:], start=first_line + 1)
            for token in _SEPARATORS.split(line.strip())
            if token
        ]
        self._next = 0

    def left(self) -> int:
        return len(self._items) - self._next

    def _take(self, what: str) -> tuple[str, int]:
        if self._next >= len(self._items):
            msg = f"{self._path}: expected the {what}, found the end of the file"
            raise InputError(msg)
        self._next += 1
        return self._items[self._next - 1]

    def number(self, what: str, *, positive: bool = False) -> float:
        text, line = self._take(what)
        return _parse_number(self._path, text, line, what, positive=positive)

    def whole(self, what: str, *, minimum: int = 0) -> int:
        text, line = self._take(what)
        return _parse_whole(self._path, text, line, what, minimum=minimum)


class _LdtFields:
    """The one-value lines of a EULUMDAT file, by 1-based line number; decimal commas allowed."""

    def __init__(self, path: object, lines: list[str]) -> None:
        self._path = path
        self._lines = lines

    def _text(self, line: int, what: str) -> str:
        if line > len(self._lines):
            msg = (
                f"{self._path}: line {line} ({what}): expected a number, found the end of the "
                f"file after line {len(self._lines)}"
            )
            raise InputError(msg)
        return self._lines[line - 1].replace(",", ".")

    def number(self, line: int, what: str) -> float:
        text = self._text(line, what)
        return _parse_number(self._path, text, line, what, positive=False)

    def whole(self, line: int, what: str, *, minimum: int) -> int:
        text = self._text(line, what)
        return _parse_whole(self._path, text, line, what, minimum=minimum)


# --- checks and averaging ------------------------------------------------------------------


def _increasing(angles: NDArray[np.float64]) -> bool:
    return bool(np.all(np.diff(angles) > 0.0))


def _check_vertical(path: object, vertical: NDArray[np.float64]) -> None:
    """IES type C vertical angles: from 0 (the LED axis) up to at most 180 degrees."""
    if vertical[0] == 90.0 and vertical[-1] == 180.0:
        msg = (
            f"{path}: vertical angles 90..180 describe an upward-only luminaire; expected "
            "vertical angles starting at 0 (an LED emits along its axis, gamma = 0)"
        )
        raise InputError(msg)
    if vertical[0] != 0.0 or vertical[-1] > 180.0 or not _increasing(vertical):
        msg = (
            f"{path}: expected vertical angles strictly increasing from 0 to at most 180 "
            f"degrees, got {vertical[0]:g}..{vertical[-1]:g}"
        )
        raise InputError(msg)


def _check_c_angles(path: object, c_angles: NDArray[np.float64], first: int) -> None:
    if c_angles[0] != 0.0 or c_angles[-1] >= 360.0 or not _increasing(c_angles):
        msg = (
            f"{path}: lines {first}..{first + c_angles.size - 1} (C-angles): expected angles "
            f"strictly increasing from 0 to below 360 degrees, got "
            f"{c_angles[0]:g}..{c_angles[-1]:g}"
        )
        raise InputError(msg)


def _check_gamma(path: object, gamma: NDArray[np.float64], first: int) -> None:
    if gamma[0] != 0.0 or gamma[-1] > 180.0 or not _increasing(gamma):
        msg = (
            f"{path}: lines {first}..{first + gamma.size - 1} (gamma angles): expected angles "
            f"strictly increasing from 0 to at most 180 degrees, got "
            f"{gamma[0]:g}..{gamma[-1]:g}"
        )
        raise InputError(msg)


def _azimuthal_weights(angles_deg: NDArray[np.float64], *, wrap: bool) -> NDArray[np.float64]:
    """Weights, summing to 1, of the planes in the azimuthal mean of the intensity.

    The intensity is linear in the azimuth between neighbouring planes, so each plane weighs
    half the gap to each neighbour (the trapezoidal rule). With ``wrap``, the planes cover the
    full circle and the last one is also a neighbour of the first, 360 degrees on.
    """
    if angles_deg.size == 1:
        return np.ones(1)
    a = np.append(angles_deg, angles_deg[0] + 360.0) if wrap else angles_deg
    gaps = np.diff(a)
    weights = np.zeros(a.size)
    weights[:-1] += gaps / 2.0
    weights[1:] += gaps / 2.0
    if wrap:
        weights[0] += weights[-1]
        weights = weights[:-1]
    return weights / weights.sum()


def _ies_plane_weights(path: object, horizontal: NDArray[np.float64]) -> NDArray[np.float64]:
    """Azimuthal weights of IES type C horizontal planes, from the symmetry their span implies."""
    first, last = float(horizontal[0]), float(horizontal[-1])
    if not _increasing(horizontal):
        msg = f"{path}: expected strictly increasing horizontal angles, got {first:g}..{last:g}"
        raise InputError(msg)
    if horizontal.size == 1 and first == 0.0:
        return np.ones(1)  # rotationally symmetric
    if (first, last) in ((0.0, 90.0), (0.0, 180.0), (90.0, 270.0), (0.0, 360.0)):
        return _azimuthal_weights(horizontal, wrap=False)
    if first == 0.0 and 180.0 < last < 360.0:
        return _azimuthal_weights(horizontal, wrap=True)  # full circle, 360 left out
    msg = (
        f"{path}: horizontal angles {first:g}..{last:g} match no IES symmetry; expected 0 "
        "(rotationally symmetric), 0..90 (quadrant), 0..180 or 90..270 (bilateral) or "
        "0..360 (none)"
    )
    raise InputError(msg)


def _ldt_plane_weights(
    path: object,
    c_angles: NDArray[np.float64],
    isym: int,
    planes: int,
    span: tuple[float, float] | None,
) -> NDArray[np.float64]:
    """Azimuthal weights of the C-planes a EULUMDAT file stores for its symmetry Isym."""
    mc = c_angles.size
    if isym == 1:
        return np.ones(1)
    if isym == 0:
        return _azimuthal_weights(c_angles, wrap=True)
    start = 3 * mc // 4 if isym == 3 else 0
    index = np.arange(start, start + planes)
    stored = c_angles[index % mc] + 360.0 * (index >= mc)
    if span is not None and (stored[0], stored[-1]) != span:
        msg = (
            f"{path}: Isym {isym} ({_LDT_SYMMETRY[isym][0]}) stores the C-planes "
            f"C{span[0]:g}..C{span[1] % 360:g}, but the C-angles give "
            f"C{stored[0]:g}..C{stored[-1] % 360:g} for them"
        )
        raise InputError(msg)
    return _azimuthal_weights(stored, wrap=False)
