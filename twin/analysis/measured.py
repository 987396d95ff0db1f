"""Measured irradiance in: a radiometer's grid or point list, with its uncertainty.

The measured file (README, "Detectors and bench validation") is a CSV with a header row and
one point per row: ``x_mm,y_mm,irradiance_mw_cm2`` required, ``uncertainty_mw_cm2``
optional, in any order and any case; other columns are ignored with one warning naming them.
A grid and a point list are the same format (a grid is a point list that fills a lattice).
``x_mm``, ``y_mm`` are in the detector's plane coordinates (from its ``center_mm``, ``y``
along ``up``, ``x`` along ``up x normal``); the irradiance is in mW/cm^2 and may be slightly
negative (a dark-subtracted reading); the uncertainty is one standard deviation, > 0.

Where the file states no uncertainty, it is ``sqrt((P/100 * reading)^2 + S^2)``: ``P`` a
percentage of each reading (``uncertainty_percent``, an instrument's calibration) and ``S``
an absolute floor (``uncertainty_mw_cm2``, its noise), as an instrument's datasheet states
"+-(P % of reading + S)". With neither given, :data:`DEFAULT_UNCERTAINTY_PERCENT` (5 %, a
calibrated radiometer's typical figure) and a floor of :data:`DEFAULT_FLOOR_OF_PEAK` (1 %)
of the peak reading are assumed, and said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin._validation import MAX_COORDINATE_MM, as_positive, csv_header, quote, read_csv_rows
from twin.errors import InputError

REQUIRED_COLUMNS = ("x_mm", "y_mm", "irradiance_mw_cm2")
OPTIONAL_COLUMNS = ("uncertainty_mw_cm2",)
#: Most points of a measured file.
MAX_POINTS = 1_000_000
#: Largest irradiance read, mW/cm^2 (1 kW/cm^2: far past any LED device).
MAX_IRRADIANCE_MW_CM2 = 1e6
#: Uncertainty assumed where none is stated: a percentage of each reading...
DEFAULT_UNCERTAINTY_PERCENT = 5.0
#: ... and a floor, a fraction of the peak reading.
DEFAULT_FLOOR_OF_PEAK = 0.01


@dataclass(frozen=True)
class Measurement:
    """``k`` measured readings in a detector's plane.

    Attributes
    ----------
    xy_mm : (k, 2) float64, mm
        The points, in the detector's plane coordinates.
    irradiance_mw_cm2 : (k,) float64, mW/cm^2
    uncertainty_mw_cm2 : (k,) float64, mW/cm^2
        Each reading's standard uncertainty, > 0.
    uncertainty_source : str
        Where the uncertainty came from, in words (the file, the options, or assumed).
    name : str
        The file read, or what the readings are (named in messages and outputs).
    """

    xy_mm: NDArray[np.float64]
    irradiance_mw_cm2: NDArray[np.float64]
    uncertainty_mw_cm2: NDArray[np.float64]
    uncertainty_source: str
    name: str = "measurement"

    def __len__(self) -> int:
        """Return the number of points."""
        return len(self.xy_mm)

    @property
    def grid(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """The lattice the points fill, as its ``x`` and ``y`` values; ``None``: a point list.

        The points fill a lattice when each (x, y) of the distinct ``x`` and ``y`` values is
        measured exactly once.
        """
        x, y = np.unique(self.xy_mm[:, 0]), np.unique(self.xy_mm[:, 1])
        pairs = np.unique(self.xy_mm, axis=0)
        if len(pairs) == len(self) == len(x) * len(y) and min(len(x), len(y)) > 1:
            return x, y
        return None

    @classmethod
    def create(
        cls,
        xy_mm: ArrayLike,
        irradiance_mw_cm2: ArrayLike,
        *,
        uncertainty_mw_cm2: ArrayLike | None = None,
        uncertainty_percent: float | None = None,
        name: str = "measurement",
    ) -> Measurement:
        """Check and build a measurement from arrays.

        Parameters
        ----------
        xy_mm : (k, 2) array_like of float, mm
        irradiance_mw_cm2 : (k,) array_like of float, mW/cm^2
        uncertainty_mw_cm2 : float or (k,) array_like of float, mW/cm^2, optional
            Each reading's standard uncertainty (> 0), or the floor ``S`` of the module's
            notes (>= 0) when one number is given.
        uncertainty_percent : float, optional
            ``P`` of the module's notes (>= 0), only with no per-reading uncertainty.
        name : str
            What the readings are, for messages.

        Raises
        ------
        InputError
            Naming ``name``, the argument, what was expected and what was found.
        """
        xy = np.asarray(xy_mm, dtype=np.float64)
        values = np.asarray(irradiance_mw_cm2, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2 or values.shape != (len(xy),) or len(xy) == 0:
            msg = (
                f"{name}: expected xy_mm of shape (k, 2) and irradiance_mw_cm2 of shape (k,), "
                f"k >= 1; got {xy.shape} and {values.shape}"
            )
            raise InputError(msg)
        if not (np.isfinite(xy).all() and np.isfinite(values).all()):
            msg = f"{name}: expected finite coordinates and readings, found NaN or infinity"
            raise InputError(msg)
        per_point = None
        absolute = None
        if uncertainty_mw_cm2 is not None and np.ndim(uncertainty_mw_cm2) > 0:
            per_point = np.asarray(uncertainty_mw_cm2, dtype=np.float64)
            if per_point.shape != values.shape:
                msg = (
                    f"{name}: uncertainty_mw_cm2: expected one number or shape {values.shape}, "
                    f"got {per_point.shape}"
                )
                raise InputError(msg)
        elif uncertainty_mw_cm2 is not None:
            absolute = float(uncertainty_mw_cm2)  # type: ignore[arg-type]
        sigma, source = stated_uncertainty(
            values, per_point=per_point, absolute=absolute, percent=uncertainty_percent, name=name
        )
        return cls(xy, values, sigma, source, name)


def stated_uncertainty(
    values_mw_cm2: NDArray[np.float64],
    *,
    per_point: NDArray[np.float64] | None = None,
    absolute: float | None = None,
    percent: float | None = None,
    name: str,
) -> tuple[NDArray[np.float64], str]:
    """Return each reading's standard uncertainty and where it came from (module's notes).

    Parameters
    ----------
    values_mw_cm2 : (k,) float64, mW/cm^2
        The readings.
    per_point : (k,) float64, mW/cm^2, optional
        Each reading's uncertainty as measured (> 0); then neither ``absolute`` nor
        ``percent`` may be given.
    absolute : float, mW/cm^2, optional
        The floor ``S`` (>= 0).
    percent : float, optional
        ``P``, a percentage of each reading (>= 0).
    name : str
        The file or readings, named in messages.

    Returns
    -------
    sigma : (k,) float64, mW/cm^2
    source : str

    Raises
    ------
    InputError
        For both a per-point uncertainty and a global one, a negative or non-finite one, or
        an uncertainty of 0 at some reading.
    """
    if per_point is not None:
        if absolute is not None or percent is not None:
            msg = (
                f"{name}: expected one statement of the uncertainty, found each point's "
                "uncertainty_mw_cm2 and a global uncertainty too; leave one out"
            )
            raise InputError(msg)
        bad = np.flatnonzero(~(np.isfinite(per_point) & (per_point > 0)))
        if bad.size:
            msg = (
                f"{name}: uncertainty_mw_cm2: expected a standard uncertainty > 0 at every "
                f"point, got {per_point[bad[0]]:g} at point {int(bad[0])}"
            )
            raise InputError(msg)
        return per_point, "uncertainty_mw_cm2 of each point"
    peak = float(np.max(np.abs(values_mw_cm2)))
    if absolute is None and percent is None:
        p, s = DEFAULT_UNCERTAINTY_PERCENT, DEFAULT_FLOOR_OF_PEAK * peak
        source = (
            f"assumed (none stated): {p:g} % of each reading and "
            f"{DEFAULT_FLOOR_OF_PEAK:.0%} of the peak ({s:.4g} mW/cm2) in quadrature"
        )
    else:
        p = as_positive(percent or 0.0, name="uncertainty_percent", allow_zero=True)
        s = as_positive(absolute or 0.0, name="uncertainty_mw_cm2", allow_zero=True)
        source = f"{p:g} % of each reading and {s:.4g} mW/cm2 in quadrature"
    sigma = np.hypot(p / 100.0 * values_mw_cm2, s)
    zero = np.flatnonzero(sigma <= 0.0)
    if zero.size:
        msg = (
            f"{name}: expected an uncertainty > 0 at every point, got 0 at point "
            f"{int(zero[0])} (reading {values_mw_cm2[zero[0]]:g} mW/cm2); give an absolute "
            "uncertainty (uncertainty_mw_cm2) as well"
        )
        raise InputError(msg)
    return sigma, source


def read_measured_csv(
    path: Path,
    *,
    uncertainty_mw_cm2: float | None = None,
    uncertainty_percent: float | None = None,
) -> Measurement:
    """Read a measured file (module's notes).

    Parameters
    ----------
    path : Path
    uncertainty_mw_cm2 : float, mW/cm^2, optional
        The absolute uncertainty ``S`` of every reading, for a file with no
        ``uncertainty_mw_cm2`` column.
    uncertainty_percent : float, optional
        The relative uncertainty ``P``, for such a file.

    Returns
    -------
    Measurement

    Raises
    ------
    InputError
        Naming the file, line and column of the first problem, what was expected and what
        was found.
    """
    lines = read_csv_rows(path, what="measured file")
    header = csv_header(lines, path=path, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)
    rows = lines[1:]
    if not rows:
        msg = f"{path}: expected at least one measured point after the header, found none"
        raise InputError(msg)
    if len(rows) > MAX_POINTS:
        msg = f"{path}: expected at most {MAX_POINTS} measured points, found {len(rows)}"
        raise InputError(msg)
    columns = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in header]
    index = [header.index(c) for c in columns]
    table = np.empty((len(rows), len(columns)))
    for r, (line, fields) in enumerate(rows):
        if len(fields) != len(header):
            msg = (
                f"{path}: line {line}: expected {len(header)} fields (one per column), "
                f"found {len(fields)}"
            )
            raise InputError(msg)
        for c, (col, i) in enumerate(zip(columns, index, strict=True)):
            table[r, c] = _number(fields[i], path=path, line=line, column=col)
    lines_of = [line for line, _ in rows]
    limits = {
        "x_mm": (-MAX_COORDINATE_MM, MAX_COORDINATE_MM, "a coordinate within 1e6 mm"),
        "y_mm": (-MAX_COORDINATE_MM, MAX_COORDINATE_MM, "a coordinate within 1e6 mm"),
        "irradiance_mw_cm2": (
            -MAX_IRRADIANCE_MW_CM2,
            MAX_IRRADIANCE_MW_CM2,
            f"an irradiance within +-{MAX_IRRADIANCE_MW_CM2:g} mW/cm2",
        ),
        "uncertainty_mw_cm2": (0.0, MAX_IRRADIANCE_MW_CM2, "a standard uncertainty > 0"),
    }
    for c, col in enumerate(columns):
        low, high, what = limits[col]
        ok = (table[:, c] >= low) & (table[:, c] <= high)
        if col == "uncertainty_mw_cm2":
            ok &= table[:, c] > 0.0
        bad = np.flatnonzero(~ok)
        if bad.size:
            r = int(bad[0])
            found = quote(rows[r][1][index[c]].strip())
            msg = f"{path}: line {lines_of[r]}, column {col}: expected {what}, got {found}"
            raise InputError(msg)
    per_point = table[:, columns.index("uncertainty_mw_cm2")] if len(columns) == 4 else None
    values = table[:, 2]
    sigma, source = stated_uncertainty(
        values,
        per_point=per_point,
        absolute=uncertainty_mw_cm2,
        percent=uncertainty_percent,
        name=str(path),
    )
    return Measurement(table[:, :2], values, sigma, source, str(path))


def _number(text: str, *, path: Path, line: int, column: str) -> float:
    """``text`` as a finite number, or raise naming the file, line and column."""
    try:
        value = float(text)
    except ValueError:
        msg = f"{path}: line {line}, column {column}: expected a number, got {quote(text.strip())}"
        raise InputError(msg) from None
    if not np.isfinite(value):
        msg = (
            f"{path}: line {line}, column {column}: expected a finite number, "
            f"got {quote(text.strip())}"
        )
        raise InputError(msg)
    return value
