"""Regenerate twin/dose/skin_reflectance.csv: the NIST mean skin reflectance per wavelength.

Reads the NIST reference set of human skin reflectance (Cooksey, Allen & Tsai 2017, J Res
NIST 122:26; ``tests/data/skin_reflectance_nist.csv``: one row per wavelength and subject,
its ``mean`` column the mean of three repeats) and writes the mean over subjects at each
wavelength, the table :func:`twin.dose.hazards.skin_reflectance` interpolates.

Usage: ``python tools/skin_reflectance_table.py [path/to/skin_reflectance_nist.csv]``
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The NIST cohort's per-subject reflectance (docs/physics.md §3.5).
SOURCE = ROOT / "tests" / "data" / "skin_reflectance_nist.csv"
TABLE = ROOT / "twin" / "dose" / "skin_reflectance.csv"


def main(source: Path = SOURCE) -> None:
    """Write the per-wavelength means of ``source`` to ``TABLE``."""
    values: dict[float, list[float]] = defaultdict(list)
    with source.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        for row in rows:
            values[float(row["wavelength_nm"])].append(float(row["mean"]))
    lines = [
        "# Mean diffuse reflectance of skin per wavelength (NIST, Cooksey, Allen & Tsai 2017,",
        "# 100 volunteers); written by tools/skin_reflectance_table.py, do not edit.",
        "wavelength_nm,reflectance,subjects",
    ]
    for wl in sorted(values):
        v = values[wl]
        lines.append(f"{wl:g},{sum(v) / len(v):.4f},{len(v)}")
    TABLE.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
