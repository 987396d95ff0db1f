"""Calibrate the skin model to the NIST reflectance and regenerate the shipped depth kernels.

``python tools/tissue_kernels.py calibrate [--photons N]``
    Fits the skin model's scattering amplitude and power, dermal blood fraction and the NIST
    cohort's typical melanin fraction so that the Monte Carlo total reflectance (specular
    included, 8 degree incidence, as the NIST instrument measures) matches the cohort's mean
    at 415, 634, 829 and 940 nm (``tests/data/skin_reflectance_nist.csv``); prints the
    constants to put in :data:`twin.tissue.optics.CALIBRATION`.

``python tools/tissue_kernels.py tables [--photons N]``
    Runs the layered Monte Carlo (:func:`twin.tissue.montecarlo.simulate`) for every
    wavelength of :data:`WAVELENGTHS_NM`, Fitzpatrick type, body site and incidence angle of
    :data:`twin.tissue.kernels.ANGLES_DEG` and writes ``twin/tissue/data/kernels.npz`` and its
    SHA-256 (``kernels.sha256``). Seeded: the same code gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from twin.tissue.kernels import ANGLES_DEG, SEED, TABLE, TABLE_DEPTHS_MM
from twin.tissue.montecarlo import simulate
from twin.tissue.optics import CALIBRATION, SITES, SKIN_TYPES, Site, SkinModel

ROOT = Path(__file__).resolve().parent.parent
#: The NIST cohort's per-subject reflectance (docs/physics.md §3.5).
NIST = ROOT / "tests" / "data" / "skin_reflectance_nist.csv"
#: The table's wavelengths: 10 nm steps over the haemoglobin bands, 20 nm beyond 600 nm.
WAVELENGTHS_NM = np.concatenate([np.arange(400.0, 600.0, 10.0), np.arange(600.0, 1000.1, 20.0)])
#: The NIST instrument's incidence angle, degrees, and the inner forearm's layers.
NIST_INCIDENCE_DEG = 8.0
FOREARM = Site(epidermis_mm=0.07, dermis_mm=1.0)


def nist_reflectance(path: Path = NIST) -> dict[float, np.ndarray]:
    """Each wavelength's per-subject mean reflectance from the NIST file."""
    values: dict[float, list[float]] = defaultdict(list)
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            values[float(row["wavelength_nm"])].append(float(row["mean"]))
    return {wl: np.array(v) for wl, v in sorted(values.items())}


def reflectance(model: SkinModel, wavelength_nm: float, *, site: Site, photons: int) -> float:
    """Total reflectance (specular + remitted) of ``model`` at the NIST geometry."""
    r = simulate(
        model.layers(wavelength_nm, site),
        incidence_deg=NIST_INCIDENCE_DEG,
        photons=photons,
        seed=SEED,
    )
    return r.specular + r.remitted


def calibrate(photons: int) -> None:
    """Fit scattering (amplitude, power), dermal blood and cohort melanin to NIST; print."""
    nist = nist_reflectance()
    wavelengths = list(nist)
    target = np.array([nist[wl].mean() for wl in wavelengths])

    def model_of(x: np.ndarray, melanin: float | None = None) -> SkinModel:
        return SkinModel(
            melanin_fraction=x[2] if melanin is None else melanin,
            blood_fraction=x[1],
            mus_prime_500nm_per_mm=x[0],
            scattering_power=x[3],
        )

    def cost(x: np.ndarray) -> float:
        inside = 1.0 < x[0] < 10.0 and 0.0005 < x[1] < 0.05 and 0.003 < x[2] < 0.3
        if not (inside and 0.3 < x[3] < 4.0):
            return 1e3
        m = model_of(x)
        got = [reflectance(m, wl, site=FOREARM, photons=photons) for wl in wavelengths]
        return float(np.sum((np.array(got) - target) ** 2))

    start = np.array(
        [
            CALIBRATION.mus_prime_500nm_per_mm,
            CALIBRATION.dermis_blood_fraction,
            0.04,
            CALIBRATION.scattering_power,
        ]
    )
    fit = minimize(cost, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7})
    m = model_of(fit.x)
    print(f"mus_prime_500nm_per_mm = {fit.x[0]:.4f}")
    print(f"dermis_blood_fraction = {fit.x[1]:.5f}")
    print(f"scattering_power = {fit.x[3]:.4f}")
    print(f"NIST cohort melanin fraction = {fit.x[2]:.4f}")
    for wl, t in zip(wavelengths, target, strict=True):
        got = reflectance(m, wl, site=FOREARM, photons=photons)
        lo, hi = nist[wl].min(), nist[wl].max()
        print(f"  {wl:g} nm: model {got:.3f}, NIST mean {t:.3f} (range {lo:.3f}-{hi:.3f})")
    for name, fraction in SKIN_TYPES.items():
        model = model_of(fit.x, fraction)
        got = [reflectance(model, wl, site=FOREARM, photons=photons) for wl in wavelengths]
        print(f"  type {name}: " + ", ".join(f"{g:.3f}" for g in got))


def tables(photons: int) -> None:
    """Write the kernel table and its SHA-256."""
    types, sites = list(SKIN_TYPES), list(SITES)
    shape = (len(WAVELENGTHS_NM), len(types), len(sites), len(ANGLES_DEG))
    fluence = np.zeros((*shape, len(TABLE_DEPTHS_MM)), dtype=np.float32)
    remitted = np.zeros(shape, dtype=np.float32)
    specular = np.zeros(shape, dtype=np.float32)
    start = time.perf_counter()
    for w, wl in enumerate(WAVELENGTHS_NM):
        for t, name in enumerate(types):
            model = SkinModel(melanin_fraction=SKIN_TYPES[name])
            for s, site in enumerate(sites):
                layers = model.layers(float(wl), SITES[site])
                for a, angle in enumerate(ANGLES_DEG):
                    r = simulate(layers, incidence_deg=float(angle), photons=photons, seed=SEED)
                    centres = 0.5 * (r.depth_edges_mm[:-1] + r.depth_edges_mm[1:])
                    fluence[w, t, s, a] = np.interp(TABLE_DEPTHS_MM, centres, r.fluence_rate)
                    remitted[w, t, s, a] = r.remitted
                    specular[w, t, s, a] = r.specular
        print(f"{wl:g} nm done, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        wavelength_nm=WAVELENGTHS_NM,
        skin_types=np.array(types),
        melanin_fraction=np.array([SKIN_TYPES[t] for t in types]),
        sites=np.array(sites),
        site_thickness_mm=np.array([[SITES[s].epidermis_mm, SITES[s].dermis_mm] for s in sites]),
        incidence_deg=ANGLES_DEG,
        depth_mm=TABLE_DEPTHS_MM,
        fluence_rate=fluence,
        remitted=remitted,
        specular=specular,
        photons=np.array(photons),
        calibration=np.array(
            [
                CALIBRATION.mus_prime_500nm_per_mm,
                CALIBRATION.scattering_power,
                CALIBRATION.dermis_blood_fraction,
            ]
        ),
    )
    blob = buffer.getvalue()
    TABLE.write_bytes(blob)
    TABLE.with_suffix(".sha256").write_text(
        f"{hashlib.sha256(blob).hexdigest()}  {TABLE.name}\n", encoding="ascii"
    )
    seconds = time.perf_counter() - start
    print(f"wrote {TABLE} ({len(blob) / 1e6:.2f} MB) in {seconds:.0f} s", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Run the ``calibrate`` or ``tables`` command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("calibrate", "tables"))
    parser.add_argument("--photons", type=int, default=50_000)
    args = parser.parse_args(argv)
    (calibrate if args.command == "calibrate" else tables)(args.photons)


if __name__ == "__main__":
    main()
