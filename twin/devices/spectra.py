"""LED emission spectra: the shape of a channel's spectral power, and the one way to integrate.

A channel's light is not one wavelength: an LED of 633 nm peak spreads over about 20 nm
(FWHM), a 415 nm one over about 15-20 nm, an 830 nm one over 30-40 nm. A :class:`Spectrum`
holds that shape as samples, linear between them and zero outside them:

- :func:`gaussian` (a peak and a FWHM, sampled out to +-3 FWHM);
- :func:`line` (one wavelength: what a channel with only ``wavelength_nm`` has, and gives
  exactly the numbers a single wavelength gives);
- :func:`read_spectrum_csv` (a tabulated ``wavelength_nm,relative`` file, any scale).

Everything that depends on wavelength (the blue-light weighting B(lambda), the photon flux,
the skin reflectance, depth kernels) integrates over the spectrum through
:meth:`Spectrum.weights_on`: the hat-function weights of a wavelength grid, exact for a
function that is linear between the grid's points.

A channel's ``wavelength_nm`` is its spectrum's peak (the wavelength of its largest sample).

Scene and LED-model keys (:func:`spectrum_from_spec`): ``{fwhm_nm: 20}`` (a Gaussian around
the channel's ``wavelength_nm``), ``{file: spectrum.csv}``, and in a scene also
``{peak_nm: 630, fwhm_nm: 18}`` (a Gaussian around 630 nm) or ``{peak_nm: 630}`` (a line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin._validation import (
    as_file_path,
    as_mapping,
    as_positive,
    check_keys,
    quote,
    read_csv_rows,
)
from twin.errors import InputError

#: Wavelengths a spectrum may reach, nm (as a channel's ``wavelength_nm``).
WAVELENGTH_RANGE_NM = (100.0, 20000.0)
#: The columns of a spectrum CSV.
SPECTRUM_COLUMNS = ("wavelength_nm", "relative")
#: The keys of a scene's per-channel ``spectrum`` entry.
SPECTRUM_KEYS = ("peak_nm", "fwhm_nm", "file")
#: The keys of an LED model's ``spectrum`` (its peak is the model's ``wavelength_nm``).
LED_SPECTRUM_KEYS = ("fwhm_nm", "file")
#: A Gaussian's samples per FWHM, and how far out it is sampled, in FWHM either side.
GAUSSIAN_SAMPLES_PER_FWHM = 40
GAUSSIAN_REACH_FWHM = 3


@dataclass(frozen=True, eq=False)
class Spectrum:
    """The shape of an LED's spectral power: samples, linear between them, zero outside.

    Build one with :func:`gaussian`, :func:`line` or :func:`read_spectrum_csv`, which check
    their input.

    Attributes
    ----------
    wavelength_nm : (m,) float64, nm
        Strictly increasing; one sample is a line.
    relative : (m,) float64
        Spectral power at each sample, >= 0, any scale (not all zero).
    source : str
        What it was made from: ``"gaussian 633 nm, FWHM 20 nm"``, ``"line 633 nm"`` or the
        CSV's path.
    fwhm_nm : float or None, nm
        The FWHM a Gaussian was made with (``None`` for a line or a table).
    """

    wavelength_nm: NDArray[np.float64]
    relative: NDArray[np.float64]
    source: str
    fwhm_nm: float | None = None

    @property
    def peak_nm(self) -> float:
        """The wavelength of the largest sample, nm (the first, where several are largest)."""
        return float(self.wavelength_nm[np.argmax(self.relative)])

    @property
    def centroid_nm(self) -> float:
        """The power-weighted mean wavelength, nm."""
        return float(self.weights_on(self.wavelength_nm) @ self.wavelength_nm)

    @property
    def is_line(self) -> bool:
        """Whether the spectrum is one wavelength."""
        return len(self.wavelength_nm) == 1

    def weights_on(self, grid_nm: ArrayLike) -> NDArray[np.float64]:
        """Weights of a wavelength grid that average a function over this spectrum.

        For any ``f`` linear between the grid's points and constant beyond its ends (what
        ``np.interp(x, grid_nm, f(grid_nm))`` is), ``weights @ f(grid_nm)`` is exactly the
        spectrum-weighted mean ``int s f / int s`` of ``f``: the spectrum's power outside the
        grid goes to its end points, a line's to the two grid points around it.

        Parameters
        ----------
        grid_nm : (g,) array_like of float, nm
            Strictly increasing.

        Returns
        -------
        (g,) float64
            >= 0, summing to 1.

        Raises
        ------
        InputError
            If ``grid_nm`` is empty, not finite or not strictly increasing.
        """
        grid = np.asarray(grid_nm, dtype=np.float64)
        if grid.ndim != 1 or not grid.size or not np.all(np.isfinite(grid)):
            msg = f"grid_nm: expected a 1-d array of finite wavelengths, got shape {grid.shape}"
            raise InputError(msg)
        if np.any(np.diff(grid) <= 0.0):
            msg = "grid_nm: expected strictly increasing wavelengths"
            raise InputError(msg)
        wl, rel = self.wavelength_nm, self.relative
        if self.is_line:
            points, mass = wl, np.ones(1)
        else:
            # Both the spectrum and f are linear between these points, so each interval's
            # integral of s f is exact: h/6 (2 s0 f0 + s0 f1 + s1 f0 + 2 s1 f1).
            points = np.union1d(wl, grid[(grid > wl[0]) & (grid < wl[-1])])
            s = np.interp(points, wl, rel)
            h = np.diff(points)
            mass = np.zeros(len(points))
            mass[:-1] += h * (2.0 * s[:-1] + s[1:]) / 6.0
            mass[1:] += h * (s[:-1] + 2.0 * s[1:]) / 6.0
        weights = np.zeros(len(grid))
        if len(grid) == 1:
            weights[0] = 1.0
            return weights
        # Each point's mass shared between the grid points around it (hat functions).
        i = np.clip(np.searchsorted(grid, points, side="right") - 1, 0, len(grid) - 2)
        t = np.clip((points - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0)
        np.add.at(weights, i, mass * (1.0 - t))
        np.add.at(weights, i + 1, mass * t)
        return weights / mass.sum()

    def mean_of(
        self, f: Callable[[NDArray[np.float64]], NDArray[np.float64]], *, knots_nm: ArrayLike
    ) -> float:
        """Return the spectrum-weighted mean of ``f``, a function linear between ``knots_nm``.

        ``f`` is evaluated on the knots and on the spectrum's own samples
        (:meth:`weights_on`): exact for an ``f`` linear between the knots and constant
        beyond them, and a line gives ``f`` at its wavelength exactly.

        Parameters
        ----------
        f : callable
            Takes (g,) float64 wavelengths, nm, and returns (g,) float64 values.
        knots_nm : (k,) array_like of float, nm
            Increasing.

        Returns
        -------
        float
        """
        grid = np.union1d(np.asarray(knots_nm, dtype=np.float64), self.wavelength_nm)
        return float(self.weights_on(grid) @ f(grid))

    def to_dict(self) -> dict[str, Any]:
        """Return the scene file's ``spectrum`` entry that builds this spectrum.

        A line is ``{peak_nm}``, a Gaussian ``{peak_nm, fwhm_nm}``, a table ``{file}`` (its
        path as read).
        """
        if self.is_line:
            return {"peak_nm": self.peak_nm}
        if self.fwhm_nm is not None:
            return {"peak_nm": self.peak_nm, "fwhm_nm": self.fwhm_nm}
        return {"file": self.source}


def _range_text() -> str:
    low, high = WAVELENGTH_RANGE_NM
    return f"{low:g}..{high:g} nm"


def _in_range(wavelength_nm: NDArray[np.float64]) -> bool:
    low, high = WAVELENGTH_RANGE_NM
    return bool(np.all((wavelength_nm >= low) & (wavelength_nm <= high)))


def _frozen(values: NDArray[np.float64]) -> NDArray[np.float64]:
    values.flags.writeable = False
    return values


def line(wavelength_nm: float, *, name: str = "wavelength_nm") -> Spectrum:
    """Return a line: one wavelength, what a channel with only a ``wavelength_nm`` has.

    Parameters
    ----------
    wavelength_nm : float, nm
        In 100..20000 nm.
    name : str
        Where the wavelength came from, for the error message.

    Raises
    ------
    InputError
        If the wavelength is not a number in 100..20000 nm.
    """
    wl = np.array([as_positive(wavelength_nm, name=name)])
    if not _in_range(wl):
        msg = f"{name}: expected a wavelength in {_range_text()}, got {wavelength_nm!r}"
        raise InputError(msg)
    return Spectrum(_frozen(wl), _frozen(np.ones(1)), source=f"line {wl[0]:g} nm")


def gaussian(peak_nm: float, fwhm_nm: float, *, name: str = "spectrum") -> Spectrum:
    """Return a Gaussian spectrum, sampled every FWHM/40 out to +-3 FWHM (2e-11 of its peak).

    Parameters
    ----------
    peak_nm : float, nm
    fwhm_nm : float, nm
        Full width at half maximum, > 0.
    name : str
        Where the values came from, for error messages.

    Returns
    -------
    Spectrum
        Its ``peak_nm`` is exactly ``peak_nm``; piecewise linear, its FWHM is within 0.1 %
        of ``fwhm_nm``.

    Raises
    ------
    InputError
        If either is not a number > 0, or the samples leave 100..20000 nm.
    """
    peak = as_positive(peak_nm, name=f"{name}.peak_nm")
    fwhm = as_positive(fwhm_nm, name=f"{name}.fwhm_nm")
    reach = GAUSSIAN_SAMPLES_PER_FWHM * GAUSSIAN_REACH_FWHM
    # Offsets in FWHM, exactly symmetric and exactly 0 at the middle sample (the peak).
    offsets = np.arange(-reach, reach + 1) / GAUSSIAN_SAMPLES_PER_FWHM
    wl = peak + fwhm * offsets
    if not _in_range(wl):
        msg = (
            f"{name}: a Gaussian of FWHM {fwhm:g} nm around {peak:g} nm, sampled out to "
            f"+-{GAUSSIAN_REACH_FWHM} FWHM, spans {wl[0]:g}..{wl[-1]:g} nm; expected "
            f"wavelengths in {_range_text()}"
        )
        raise InputError(msg)
    relative = np.exp(-4.0 * np.log(2.0) * offsets**2)
    source = f"gaussian {peak:g} nm, FWHM {fwhm:g} nm"
    return Spectrum(_frozen(wl), _frozen(relative), source=source, fwhm_nm=fwhm)


def read_spectrum_csv(path: Path) -> Spectrum:
    """Read a tabulated spectrum: a CSV with the header ``wavelength_nm,relative``.

    One row per wavelength (nm, strictly increasing, in 100..20000 nm) with the spectral
    power there (>= 0, any scale, not all zero); at least two rows. Lines whose first field
    starts with ``#`` are comments; blank lines are skipped. Between rows the power is
    linear, beyond the first and last zero.

    Parameters
    ----------
    path : Path

    Returns
    -------
    Spectrum
        Its ``source`` is ``str(path)``.

    Raises
    ------
    InputError
        Naming the file, and the line and column of the first problem.
    """
    rows = [
        (number, fields)
        for number, fields in read_csv_rows(path, what="spectrum CSV")
        if not fields[0].lstrip().startswith("#")
    ]
    header = [c.strip() for c in rows[0][1]] if rows else []
    if header != list(SPECTRUM_COLUMNS):
        found = quote(",".join(rows[0][1])) if rows else "an empty file"
        msg = f"{path}: expected the header {','.join(SPECTRUM_COLUMNS)!r}, found {found}"
        raise InputError(msg)
    if len(rows) < 3:
        msg = (
            f"{path}: expected at least two rows of wavelength_nm,relative, found "
            f"{len(rows) - 1} (for one wavelength give wavelength_nm instead)"
        )
        raise InputError(msg)
    table = np.empty((len(rows) - 1, 2))
    for k, (number, fields) in enumerate(rows[1:]):
        if len(fields) != len(SPECTRUM_COLUMNS):
            msg = (
                f"{path}: line {number}: expected {len(SPECTRUM_COLUMNS)} fields "
                f"(wavelength_nm,relative), found {len(fields)}"
            )
            raise InputError(msg)
        for j, (column, text) in enumerate(zip(SPECTRUM_COLUMNS, fields, strict=True)):
            try:
                value = float(text)
            except ValueError:
                value = np.nan
            if not np.isfinite(value):
                msg = (
                    f"{path}: line {number}, column {column}: expected a finite number, got "
                    f"{quote(text.strip())}"
                )
                raise InputError(msg)
            table[k, j] = value
        wl, rel = table[k]
        if not _in_range(np.array([wl])):
            msg = (
                f"{path}: line {number}, column wavelength_nm: expected a wavelength in "
                f"{_range_text()}, got {fields[0].strip()}"
            )
            raise InputError(msg)
        if k and wl <= table[k - 1, 0]:
            msg = (
                f"{path}: line {number}, column wavelength_nm: expected wavelengths in "
                f"increasing order, got {wl:g} after {table[k - 1, 0]:g}"
            )
            raise InputError(msg)
        if rel < 0.0:
            msg = f"{path}: line {number}, column relative: expected a value >= 0, got {rel:g}"
            raise InputError(msg)
    if not np.any(table[:, 1] > 0.0):
        msg = f"{path}: column relative: expected some power, found 0 in every row"
        raise InputError(msg)
    return Spectrum(
        _frozen(np.ascontiguousarray(table[:, 0])),
        _frozen(np.ascontiguousarray(table[:, 1])),
        source=str(path),
    )


def spectrum_from_spec(
    value: Any,
    *,
    wavelength_nm: float | None,
    where: str,
    base: Path,
    keys: tuple[str, ...] = SPECTRUM_KEYS,
) -> Spectrum:
    """Build a spectrum from its scene-file entry.

    ``{fwhm_nm: W}`` is a Gaussian around ``wavelength_nm``, ``{peak_nm: P, fwhm_nm: W}`` one
    around ``P``, ``{peak_nm: P}`` a line at ``P``, ``{file: F}`` a tabulated CSV
    (:func:`read_spectrum_csv`), relative to ``base``.

    Parameters
    ----------
    value : Any
        The entry.
    wavelength_nm : float or None, nm
        The channel's wavelength, for a Gaussian without ``peak_nm``.
    where : str
        The entry's key, for messages.
    base : Path
        The folder a relative ``file`` is taken from.
    keys : tuple of str
        The keys allowed (an LED model's spectrum has no ``peak_nm``).

    Raises
    ------
    InputError
        Naming ``where`` and what is wrong.
    """
    spec = as_mapping(value, name=where)
    check_keys(spec, keys, name=where)
    if "file" in spec:
        if len(spec) > 1:
            others = ", ".join(k for k in spec if k != "file")
            msg = f"{where}: expected file alone (the table is the whole spectrum), got {others}"
            raise InputError(msg)
        path = as_file_path(spec["file"], name=f"{where}.file")
        path = path if path.is_absolute() else (base / path).resolve()
        if not path.is_file():
            msg = f"{where}.file: spectrum CSV not found: {path}"
            raise InputError(msg)
        return read_spectrum_csv(path)
    if "fwhm_nm" not in spec:
        if "peak_nm" in spec:
            return line(spec["peak_nm"], name=f"{where}.peak_nm")
        msg = (
            f"{where}: expected fwhm_nm (a Gaussian) or file (a wavelength_nm,relative CSV), "
            "got an empty mapping"
        )
        raise InputError(msg)
    peak = spec.get("peak_nm", wavelength_nm)
    if peak is None:
        msg = f"{where}: expected peak_nm: the channel has no wavelength_nm to centre on"
        raise InputError(msg)
    return gaussian(peak, spec["fwhm_nm"], name=where)


def spectra_from_spec(
    value: Any, *, wavelength_nm: dict[str, float], channels: list[str], where: str, base: Path
) -> dict[str, Spectrum]:
    """Parse a scene's ``spectrum:`` section: a :func:`spectrum_from_spec` entry per channel.

    Parameters
    ----------
    value : Any
        The section: a mapping of channel names to entries.
    wavelength_nm : dict of str to float, nm
        Each channel's wavelength where it has one (a Gaussian's default peak).
    channels : list of str
        The channels there are.
    where : str
        The section's key, for messages.
    base : Path
        The folder relative files are taken from.

    Returns
    -------
    dict of str to Spectrum
        Per channel named.

    Raises
    ------
    InputError
        On an unknown channel (naming the nearest) or a bad entry.
    """
    section = as_mapping(value, name=where)
    check_keys(section, channels, name=where, what="channel")
    return {
        str(channel): spectrum_from_spec(
            entry, wavelength_nm=wavelength_nm.get(channel), where=f"{where}.{channel}", base=base
        )
        for channel, entry in section.items()
    }
