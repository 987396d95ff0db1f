"""LED emitters: where they are, where they point, how much they emit, on which channel.

The emitter CSV (README, "Scene files": Emitter CSV) has a header row and one emitter per row:
``x,y,z,dx,dy,dz,power_mw`` required; ``channel``, ``wavelength_nm``, ``half_angle_deg`` and
``id`` optional, in any order and any case (``X,Y,Z`` is ``x,y,z``). Other columns a CAD
export brings (``RefDes``, ``Layer``, ...) are ignored, with one warning naming them (and the
column each may have meant). Positions are in the stated length unit (mm by default).

Each channel with a wavelength has a spectrum (:mod:`twin.devices.spectra`); one given only a
``wavelength_nm`` has a line there, and a channel's ``wavelength_nm`` is its spectrum's peak.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin._validation import (
    MAX_COORDINATE_MM,
    MAX_EMITTERS,
    MAX_POWER_MW,
    as_points,
    as_unit_vectors,
    check_channel_name,
    check_finite,
    check_per_row,
    csv_header,
    per_row,
    quote,
    read_csv_rows,
)
from twin.devices.profiles import Lambertian, Profile, check_half_angle
from twin.devices.spectra import WAVELENGTH_RANGE_NM, Spectrum, line
from twin.errors import InputError
from twin.units import mm_per_unit

REQUIRED_COLUMNS = ("x", "y", "z", "dx", "dy", "dz", "power_mw")
OPTIONAL_COLUMNS = ("channel", "wavelength_nm", "half_angle_deg", "id")
DEFAULT_CHANNEL = "led"


@dataclass(frozen=True)
class Emitters:
    """A set of ``n`` LEDs.

    Attributes
    ----------
    positions_mm : (n, 3) float64, mm, scene frame
    axes : (n, 3) float64 unit vectors, emission direction
    power_mw : (n,) float64, mW radiant flux at full drive (> 0)
    channel : (n,) str, channel name of each emitter (for example ``"red"``)
    wavelength_nm : dict of str to float
        Peak wavelength of each channel that has one, nm (its spectrum's ``peak_nm``).
    profiles : tuple of Profile
        The distinct angular profiles.
    profile_index : (n,) int, index into ``profiles`` for each emitter
    ids : (n,) str
    spectra : dict of str to Spectrum
        The spectrum of each channel in ``wavelength_nm`` (a line where none was given).
    """

    positions_mm: NDArray[np.float64]
    axes: NDArray[np.float64]
    power_mw: NDArray[np.float64]
    channel: NDArray[np.str_]
    wavelength_nm: dict[str, float]
    profiles: tuple[Profile, ...]
    profile_index: NDArray[np.int64]
    ids: NDArray[np.str_]
    spectra: dict[str, Spectrum]

    def __len__(self) -> int:
        """Return the number of emitters."""
        return len(self.positions_mm)

    @property
    def channels(self) -> list[str]:
        """Channel names in order of first appearance."""
        _, first = np.unique(self.channel, return_index=True)
        return [str(self.channel[i]) for i in sorted(first)]

    @classmethod
    def create(
        cls,
        positions_mm: ArrayLike,
        axes: ArrayLike,
        power_mw: ArrayLike,
        *,
        profile: Profile | list[Profile],
        channel: str | ArrayLike = DEFAULT_CHANNEL,
        wavelength_nm: dict[str, float] | None = None,
        spectra: dict[str, Spectrum] | None = None,
        ids: ArrayLike | None = None,
        name: str = "emitters",
    ) -> Emitters:
        """Check and build an emitter set.

        Every per-emitter argument is given either once for all ``n`` emitters or once for
        each; any other length is an error (a ``(1, 3)`` axis array is not stretched to ``n``).

        Parameters
        ----------
        positions_mm : (n, 3) array_like of float, mm
        axes : (n, 3) or (3,) array_like of float
            Emission direction of each emitter, or one for all; normalised here, zero length
            is an error.
        power_mw : float or (n,) array_like of float, mW
            Radiant flux of each LED at full drive, > 0.
        profile : Profile or list of n Profile
            Angular profile shared by all LEDs, or one per LED.
        channel : str or (n,) array_like of str, default: "led"
            Letters, digits, ``_`` and ``-`` only (the name becomes a column in the outputs).
        wavelength_nm : dict of str to float, optional
            Peak wavelength per channel, nm.
        spectra : dict of str to Spectrum, optional
            Spectrum per channel; its peak is the channel's wavelength (a ``wavelength_nm``
            given for the same channel must be that peak). Channels with only a wavelength
            get a line there.
        ids : (n,) array_like of str, optional
            Defaults to ``"0", "1", ...``.
        name : str
            Where the emitters came from, for error messages.

        Raises
        ------
        InputError
            Naming the argument, what was expected and what was found.
        """
        pos = as_points(positions_mm, name=f"{name}: positions")
        n = len(pos)
        if n == 0:
            msg = f"{name}: expected at least one emitter, found none"
            raise InputError(msg)
        ax = as_unit_vectors(
            per_row(axes, n, name=f"{name}: axes (dx, dy, dz)", shape=(3,)),
            name=f"{name}: axes (dx, dy, dz)",
        )
        power = per_row(power_mw, n, name=f"{name}: power_mw")
        check_finite(power, name=f"{name}: power_mw")
        bad = np.flatnonzero(power <= 0)
        if bad.size:
            msg = (
                f"{name}: power_mw must be > 0 mW, found {power[bad[0]]:g} (emitter {int(bad[0])})"
            )
            raise InputError(msg)
        chan = per_row(channel, n, name=f"{name}: channel", dtype=str)
        for value in np.unique(chan):
            first = int(np.flatnonzero(chan == value)[0])
            check_channel_name(str(value), name=f"{name}: channel of emitter {first}")
        wl = dict(wavelength_nm or {})
        given = dict(spectra or {})
        for key, spectrum in given.items():
            if wl.setdefault(key, spectrum.peak_nm) != spectrum.peak_nm:
                msg = (
                    f"{name}: channel {key!r} has wavelength_nm {wl[key]:g} nm but its spectrum "
                    f"({spectrum.source}) peaks at {spectrum.peak_nm:g} nm; a channel's "
                    "wavelength_nm is its spectrum's peak"
                )
                raise InputError(msg)
        low, high = WAVELENGTH_RANGE_NM
        for key, value in wl.items():
            if not (np.isfinite(value) and low <= value <= high):
                msg = (
                    f"{name}: wavelength_nm of channel {key!r} must be in {low:g}..{high:g} nm, "
                    f"got {value!r}"
                )
                raise InputError(msg)
        per_channel = {key: given.get(key) or line(value) for key, value in wl.items()}
        per_led = profile if isinstance(profile, list) else [profile] * n
        check_per_row(per_led, n, name=f"{name}: profile")
        keys: dict[str, int] = {}
        unique: list[Profile] = []
        index = np.empty(n, dtype=np.int64)
        for i, p in enumerate(per_led):
            if p.key not in keys:
                keys[p.key] = len(unique)
                unique.append(p)
            index[i] = keys[p.key]
        id_arr = np.arange(n).astype(str) if ids is None else np.asarray(ids, dtype=str)
        if id_arr.shape != (n,):
            msg = f"{name}: ids: expected shape ({n},) (one each), got {id_arr.shape}"
            raise InputError(msg)
        return cls(pos, ax, power, chan, wl, tuple(unique), index, id_arr, per_channel)

    def derive(
        self,
        index: ArrayLike | None = None,
        *,
        positions_mm: ArrayLike | None = None,
        axes: ArrayLike | None = None,
        power_mw: ArrayLike | None = None,
        profile: Profile | list[Profile] | None = None,
        ids: ArrayLike | None = None,
        spectra: dict[str, Spectrum] | None = None,
        name: str = "emitters",
    ) -> Emitters:
        """Return a checked copy of the emitters ``index`` (default: all, in order) with changes.

        The one way to copy emitters with changes: the rows ``index`` keep their channel,
        wavelengths, spectra, profile and id unless a new value is given; every given value
        is per emitter of the copy (or one for all) and is checked as in :meth:`create`.

        Parameters
        ----------
        index : (m,) array_like of int or (n,) bool, optional
            The emitters to keep, in the order given.
        positions_mm : (m, 3) array_like of float, mm, optional
        axes : (m, 3) or (3,) array_like of float, optional
        power_mw : float or (m,) array_like of float, mW, optional
        profile : Profile or list of m Profile, optional
        ids : (m,) array_like of str, optional
        spectra : dict of str to Spectrum, optional
            New spectra of some channels; each one's peak becomes its ``wavelength_nm``.
        name : str
            Where the copy came from, for error messages.

        Returns
        -------
        Emitters
        """
        new = dict(spectra or {})
        rows = np.arange(len(self)) if index is None else np.arange(len(self))[np.asarray(index)]
        return Emitters.create(
            self.positions_mm[rows] if positions_mm is None else positions_mm,
            self.axes[rows] if axes is None else axes,
            self.power_mw[rows] if power_mw is None else power_mw,
            profile=[self.profiles[i] for i in self.profile_index[rows]]
            if profile is None
            else profile,
            channel=self.channel[rows],
            wavelength_nm={c: v for c, v in self.wavelength_nm.items() if c not in new},
            spectra={**self.spectra, **new},
            ids=self.ids[rows] if ids is None else ids,
            name=name,
        )


def read_emitter_csv(
    path: Path,
    *,
    units: str = "mm",
    half_angle_deg: float | None = None,
    profile: Profile | None = None,
    channel: str = DEFAULT_CHANNEL,
    wavelength_nm: float | None = None,
) -> Emitters:
    """Read an emitter CSV.

    Parameters
    ----------
    path : Path
    units : {"mm", "cm", "dm", "m", "inch"}, default: "mm"
        Length unit of the x, y, z columns.
    half_angle_deg : float, optional
        Generalized-Lambertian half-angle for rows without a ``half_angle_deg`` value.
    profile : Profile, optional
        Profile for rows without a ``half_angle_deg`` value (instead of ``half_angle_deg``).
    channel, wavelength_nm
        Defaults for rows without these columns.

    Raises
    ------
    InputError
        Naming the file, row and column of the first problem.
    """
    scale = mm_per_unit(units, name=f"{path}: units")
    lines = read_csv_rows(path, what="emitter CSV")
    header = csv_header(lines, path=path, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    if len(lines) - 1 > MAX_EMITTERS:
        msg = f"{path}: expected at most {MAX_EMITTERS} emitter rows, found {len(lines) - 1}"
        raise InputError(msg)
    for line_no, fields in lines[1:]:
        if len(fields) != len(header):
            msg = (
                f"{path}: line {line_no}: expected {len(header)} fields (one per column), "
                f"found {len(fields)}"
            )
            raise InputError(msg)
    rows = [dict(zip(header, (v.strip() for v in f), strict=True)) for _, f in lines[1:]]
    line_of = [line_no for line_no, _ in lines[1:]]
    if not rows:
        msg = f"{path}: expected at least one emitter row, found none"
        raise InputError(msg)

    def number(row: dict[str, str], col: str, line: int) -> float:
        try:
            value = float(row[col])
        except (ValueError, KeyError):
            found = quote(row.get(col, ""))
            msg = f"{path}: line {line}, column {col}: expected a number, got {found}"
            raise InputError(msg) from None
        if not np.isfinite(value):
            found = quote(row[col])
            msg = f"{path}: line {line}, column {col}: expected a finite number, got {found}"
            raise InputError(msg)
        return value

    table = np.array(
        [[number(row, c, line_of[i]) for c in REQUIRED_COLUMNS] for i, row in enumerate(rows)]
    )
    for i, row in enumerate(rows):
        if not np.any(table[i, 3:6]):
            msg = f"{path}: line {line_of[i]}: emission axis (dx, dy, dz) has zero length"
            raise InputError(msg)
        if not 0.0 < table[i, 6] <= MAX_POWER_MW:
            msg = (
                f"{path}: line {line_of[i]}, column power_mw: expected a radiant power in "
                f"(0, {MAX_POWER_MW:g}] mW, got {quote(row['power_mw'])}"
            )
            raise InputError(msg)
        far = np.abs(table[i, 0:3]) * scale > MAX_COORDINATE_MM
        if far.any():
            col = "xyz"[int(np.argmax(far))]
            msg = (
                f"{path}: line {line_of[i]}, column {col}: expected a coordinate within "
                f"{MAX_COORDINATE_MM:g} mm of the origin, got {quote(row[col])}"
            )
            raise InputError(msg)

    profiles: list[Profile] = []
    for i, row in enumerate(rows):
        if row.get("half_angle_deg"):
            half = check_half_angle(
                number(row, "half_angle_deg", line_of[i]),
                name=f"{path}: line {line_of[i]}, column half_angle_deg",
            )
            profiles.append(Lambertian(half))
        elif profile is not None:
            profiles.append(profile)
        elif half_angle_deg is not None:
            profiles.append(Lambertian(half_angle_deg))
        else:
            msg = (
                f"{path}: line {line_of[i]}: no half_angle_deg for this emitter and no default "
                "(set emitters.half_angle_deg or emitters.profile in the scene)"
            )
            raise InputError(msg)

    channels = [
        check_channel_name(row["channel"], name=f"{path}: line {line_of[i]}, column channel")
        if row.get("channel")
        else channel
        for i, row in enumerate(rows)
    ]
    wavelengths: dict[str, float] = {}
    for i, (row, ch) in enumerate(zip(rows, channels, strict=True)):
        if row.get("wavelength_nm"):
            wl = number(row, "wavelength_nm", line_of[i])
        elif wavelength_nm is not None:
            wl = wavelength_nm
        else:
            continue
        if wavelengths.setdefault(ch, wl) != wl:
            msg = (
                f"{path}: line {line_of[i]}: channel {ch!r} has wavelength {wl:g} nm here but "
                f"{wavelengths[ch]:g} nm earlier; one channel has one wavelength"
            )
            raise InputError(msg)
    ids = [row.get("id") or str(i) for i, row in enumerate(rows)]
    return Emitters.create(
        table[:, 0:3] * scale,
        table[:, 3:6],
        table[:, 6],
        profile=profiles,
        channel=channels,
        wavelength_nm=wavelengths,
        ids=ids,
        name=str(path),
    )


def emitter_csv_text(emitters: Emitters) -> str:
    """Return the emitters as emitter-CSV text (mm), every optional column filled where known."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS])
    for i in range(len(emitters)):
        prof = emitters.profiles[emitters.profile_index[i]]
        half = f"{prof.half_angle_deg:.12g}" if isinstance(prof, Lambertian) else ""
        ch = str(emitters.channel[i])
        wl = emitters.wavelength_nm.get(ch)
        writer.writerow(
            [
                *(f"{v:.9g}" for v in emitters.positions_mm[i]),
                *(f"{v:.9g}" for v in emitters.axes[i]),
                f"{emitters.power_mw[i]:.9g}",
                ch,
                "" if wl is None else f"{wl:g}",
                half,
                emitters.ids[i],
            ]
        )
    return out.getvalue()


def replace_profiles(emitters: Emitters, profiles: dict[str, Profile]) -> Emitters:
    """``emitters`` with every emitter of each named channel given that channel's profile."""
    per_led = [
        profiles.get(str(c), emitters.profiles[i])
        for c, i in zip(emitters.channel, emitters.profile_index, strict=True)
    ]
    return Emitters.create(
        emitters.positions_mm,
        emitters.axes,
        emitters.power_mw,
        profile=per_led,
        channel=emitters.channel,
        wavelength_nm=emitters.wavelength_nm,
        spectra=emitters.spectra,
        ids=emitters.ids,
    )
