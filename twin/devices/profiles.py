"""Angular emission profiles of LEDs, per milliwatt of radiant power.

Every profile answers one question: the radiant intensity I(theta) in mW/sr that an LED of
1 mW radiant flux sends at angle theta from its axis. Integrated over the sphere it gives exactly
1 mW, so a contribution scales with the LED's ``power_mw`` (physics.md section 1.1).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from twin.errors import InputError


@dataclass(frozen=True)
class Lambertian:
    """Generalized Lambertian I(theta) = I0 cos^m(theta), zero behind the LED.

    ``m = -ln 2 / ln cos(theta_half)`` from the datasheet half-intensity half-angle and
    ``I0 = P (m + 1) / 2 pi``. A half-angle of 60 degrees is the ideal Lambertian (m = 1).
    """

    half_angle_deg: float

    def __post_init__(self) -> None:
        """Check the half-angle: in (0, 90) degrees."""
        if not 0.0 < self.half_angle_deg < 90.0:
            msg = (
                "half_angle_deg: expected a half-intensity half-angle in (0, 90) degrees, got "
                f"{self.half_angle_deg!r}"
            )
            raise InputError(msg)

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
        """Read a two-column CSV ``angle_deg,intensity`` (header row required)."""
        try:
            with open(path, newline="") as fh:
                rows = list(csv.reader(fh))
        except OSError as exc:
            msg = f"{path}: cannot read profile table ({exc.strerror})"
            raise InputError(msg) from None
        if not rows or [c.strip() for c in rows[0]] != ["angle_deg", "intensity"]:
            found = ",".join(rows[0]) if rows else "an empty file"
            msg = f"{path}: expected the header 'angle_deg,intensity', found {found!r}"
            raise InputError(msg)
        try:
            values = np.array(
                [[float(c) for c in row] for row in rows[1:] if row], dtype=np.float64
            )
        except ValueError as exc:
            msg = f"{path}: expected numbers in every row ({exc})"
            raise InputError(msg) from None
        if values.ndim != 2 or values.shape[1] != 2:
            msg = f"{path}: expected two numbers per row"
            raise InputError(msg)
        return cls(tuple(values[:, 0]), tuple(values[:, 1]), source=str(path))


Profile = Lambertian | Isotropic | Tabulated
