"""Angular emission profiles of LEDs, per milliwatt of radiant power.

Every profile answers one question: the radiant intensity I(theta) in mW/sr that an LED of
1 mW radiant flux sends at angle theta from its axis. Integrated over the sphere it gives exactly
1 mW, so a contribution scales with the LED's ``power_mw`` (docs/physics.md §1.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin._validation import TABLE_PEAK_RANGE, quote, read_csv_rows, shorten
from twin.errors import InputError

#: Narrowest half-intensity half-angle, degrees (cos^m with m of about 18,000 at 0.5 degrees).
MIN_HALF_ANGLE_DEG = 0.5


def check_half_angle(value: Any, *, name: str) -> float:
    """Return ``value`` if it is a half-intensity half-angle in [0.5, 90) degrees, or raise.

    Raises
    ------
    InputError
        Naming ``name``, the range and the value found.
    """
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    try:
        number = float(value) if ok else math.nan
    except OverflowError:
        number = math.inf
    if not MIN_HALF_ANGLE_DEG <= number < 90.0:
        msg = (
            f"{name}: expected a half-intensity half-angle in [{MIN_HALF_ANGLE_DEG:g}, 90) "
            f"degrees, got {shorten(repr(value))}"
        )
        raise InputError(msg)
    return number


@dataclass(frozen=True)
class Lambertian:
    """Generalized Lambertian I(theta) = I0 cos^m(theta), zero behind the LED.

    ``m = -ln 2 / ln cos(theta_half)`` from the datasheet half-intensity half-angle and
    ``I0 = P (m + 1) / 2 pi``. A half-angle of 60 degrees is the ideal Lambertian (m = 1).
    """

    half_angle_deg: float

    def __post_init__(self) -> None:
        """Check the half-angle (:func:`check_half_angle`)."""
        check_half_angle(self.half_angle_deg, name="half_angle_deg")

    @property
    def m(self) -> float:
        """The cosine exponent."""
        return -math.log(2.0) / math.log(math.cos(math.radians(self.half_angle_deg)))

    @property
    def key(self) -> str:
        """Identity of the profile in cache keys and the resolved scene."""
        return f"lambertian:{self.half_angle_deg:g}"

    def intensity_per_mw(self, cos_theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return I(theta)/P in sr^-1 for (k,) cosines of the emission angle."""
        m = self.m
        return (m + 1.0) / (2.0 * math.pi) * np.power(np.clip(cos_theta, 0.0, None), m)

    def cos_cutoff(self, relative_intensity: float) -> float:
        """Return the smallest cos(theta) whose intensity is ``relative_intensity`` of the peak."""
        if relative_intensity <= 0.0:
            return 0.0
        return relative_intensity ** (1.0 / self.m)


@dataclass(frozen=True)
class Isotropic:
    """Equal intensity P / 4 pi in every direction, behind the LED too (for tests)."""

    @property
    def key(self) -> str:
        """Identity of the profile in cache keys and the resolved scene."""
        return "isotropic"

    def intensity_per_mw(self, cos_theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return I(theta)/P in sr^-1 for (k,) cosines of the emission angle: 1 / 4 pi."""
        return np.full(np.shape(cos_theta), 1.0 / (4.0 * math.pi))

    def cos_cutoff(self, relative_intensity: float) -> float:
        """Return -1: the intensity is the peak in every direction."""
        return -1.0


@dataclass(frozen=True)
class Tabulated:
    """Measured I(theta) from a table, linearly interpolated, zero past the last angle.

    The table may be in any intensity unit (relative, mW/sr, cd): it is rescaled so that the
    emitted flux, 2 pi * integral of I(theta) sin(theta) d theta, is 1 mW.

    Parameters
    ----------
    angles_deg : (t,) float, degrees
        Strictly increasing, starting at 0, at most 180.
    intensity : (t,) float
        Non-negative, not all zero.
    source : str
        The file the table came from, for messages and the resolved scene.
    """

    angles_deg: tuple[float, ...]
    intensity: tuple[float, ...]
    source: str = "table"
    _scale: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the table and scale it to 1 mW of emitted flux."""
        a = np.asarray(self.angles_deg, dtype=np.float64)
        i = np.asarray(self.intensity, dtype=np.float64)
        where = f"{self.source}"
        if a.ndim != 1 or a.size < 2 or a.size != i.size:
            msg = f"{where}: expected at least two (angle_deg, intensity) rows, got {a.size}"
            raise InputError(msg)
        if not (np.isfinite(a).all() and np.isfinite(i).all()):
            msg = f"{where}: expected finite numbers in the profile table"
            raise InputError(msg)
        if a[0] != 0.0 or a[-1] > 180.0 or np.any(np.diff(a) <= 0):
            msg = (
                f"{where}: expected angles strictly increasing from 0 to at most 180 degrees, "
                f"got {a[0]:g}..{a[-1]:g}"
            )
            raise InputError(msg)
        if np.any(i < 0) or not np.any(i > 0):
            msg = f"{where}: expected non-negative intensities, not all zero"
            raise InputError(msg)
        low, high = TABLE_PEAK_RANGE
        if not low <= i.max() <= high:
            msg = (
                f"{where}: expected a peak intensity in [{low:g}, {high:g}] (any unit; rescale "
                f"the table), got {i.max():g}"
            )
            raise InputError(msg)
        # Exact integral of the piecewise-linear I(theta) times sin(theta): per segment,
        # I = c0 + c1 theta, and integral (c0 + c1 t) sin t dt has a closed form.
        t = np.radians(a)
        t0, t1 = t[:-1], t[1:]
        c1 = (i[1:] - i[:-1]) / (t1 - t0)
        c0 = i[:-1] - c1 * t0

        def antiderivative(x: NDArray[np.float64]) -> NDArray[np.float64]:
            return -c0 * np.cos(x) + c1 * (np.sin(x) - x * np.cos(x))

        flux = 2.0 * math.pi * float(np.sum(antiderivative(t1) - antiderivative(t0)))
        object.__setattr__(self, "_scale", 1.0 / flux)

    @property
    def key(self) -> str:
        """Identity of the profile in cache keys and the resolved scene."""
        return f"table:{self.source}"

    @property
    def scale_per_mw(self) -> float:
        """Factor from the table's intensity unit to sr^-1 per mW of emitted flux."""
        return self._scale

    def intensity_per_mw(self, cos_theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return I(theta)/P in sr^-1 for (k,) cosines of the emission angle."""
        theta_deg = np.degrees(np.arccos(np.clip(cos_theta, -1.0, 1.0)))
        values = np.interp(theta_deg, self.angles_deg, self.intensity, right=0.0)
        return values * self._scale

    def cos_cutoff(self, relative_intensity: float) -> float:
        """Return a cos(theta) below which I is under ``relative_intensity`` of the peak."""
        i = np.asarray(self.intensity)
        above = np.flatnonzero(i >= relative_intensity * i.max())
        # Linear interpolation falls below the cut-off only after the next table angle.
        last = min(int(above[-1]) + 1, i.size - 1)
        return math.cos(math.radians(self.angles_deg[last]))

    @classmethod
    def from_csv(cls, path: Path) -> Tabulated:
        """Read a two-column CSV ``angle_deg,intensity`` (header row required).

        The file is UTF-8 (a byte-order mark is dropped); blank lines are skipped.
        """
        rows = read_csv_rows(path, what="profile table")
        if not rows or [c.strip() for c in rows[0][1]] != ["angle_deg", "intensity"]:
            found = quote(",".join(rows[0][1])) if rows else "an empty file"
            msg = f"{path}: expected the header 'angle_deg,intensity', found {found}"
            raise InputError(msg)
        table = []
        for number, row in rows[1:]:
            try:
                table.append([float(c) for c in row] if len(row) == 2 else [])
            except ValueError:
                table.append([])
            if not table[-1]:
                msg = f"{path}: line {number}: expected two numbers, got {quote(','.join(row))}"
                raise InputError(msg)
        values = np.array(table, dtype=np.float64).reshape(-1, 2)
        return cls(tuple(values[:, 0]), tuple(values[:, 1]), source=str(path))


Profile = Lambertian | Isotropic | Tabulated


def spot_radius_per_gap(profile: Profile) -> float:
    """Return the half-irradiance radius of one LED's spot on a plane, per unit gap.

    An LED at height ``h`` over a plane, its axis along the normal, gives
    ``E(r) = I(theta) cos^3(theta) / h^2`` at ``r = h tan(theta)``; the spot's radius is the
    largest ``r`` where ``E`` is still half its peak. A 60 degree beam (half-angle 30) gives
    0.44, a Lambertian chip 0.64, an isotropic source 0.77.

    Parameters
    ----------
    profile : Profile

    Returns
    -------
    float
        ``r / h``, dimensionless.
    """
    theta = np.linspace(0.0, np.radians(89.5), 4000)
    cos = np.cos(theta)
    e = profile.intensity_per_mw(cos) * cos**3
    e = e / e.max() - 0.5
    i = np.flatnonzero(e >= 0.0)[-1]  # the last angle at or above half, then interpolate
    if i + 1 < len(theta):
        theta_half = theta[i] + (theta[i + 1] - theta[i]) * e[i] / (e[i] - e[i + 1])
    else:
        theta_half = theta[i]
    return float(np.tan(theta_half))
