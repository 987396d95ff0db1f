"""The one place where units are converted.

Inside twin, lengths are millimetres, radiant power milliwatts, intensity mW/sr, angles
radians. Users see irradiance in mW/cm^2, fluence in J/cm^2, angles in degrees and wavelengths
in nm (design.md, "Units and frames").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin.errors import InputError

#: Millimetres per unit of length, for the unit names a scene or loader call may state.
MM_PER_UNIT: dict[str, float] = {"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1000.0, "inch": 25.4}

#: mm^2 per cm^2: a value in mW/mm^2 times this is in mW/cm^2.
MM2_PER_CM2 = 100.0

#: mJ per J: an irradiance in mW/cm^2 held for a time in s is a fluence in mJ/cm^2.
MJ_PER_J = 1000.0

PLANCK_J_S = 6.62607015e-34
SPEED_OF_LIGHT_M_S = 299_792_458.0


def mm_per_unit(unit: str, *, name: str) -> float:
    """Millimetres per ``unit``; ``name`` says where the unit came from for the error message."""
    try:
        return MM_PER_UNIT[unit]
    except (KeyError, TypeError):
        msg = f"{name}: expected a length unit, one of {sorted(MM_PER_UNIT)}, got {unit!r}"
        raise InputError(msg) from None


def fluence_per_irradiance(exposure_s: float) -> float:
    """J/cm^2 of fluence per mW/cm^2 of constant irradiance held for ``exposure_s`` seconds."""
    return exposure_s / MJ_PER_J


def fluence_j_cm2(irradiance_mw_cm2: ArrayLike, exposure_s: float) -> NDArray[np.float64]:
    """Fluence H = E t for a constant irradiance.

    Parameters
    ----------
    irradiance_mw_cm2 : array_like of float, mW/cm^2
    exposure_s : float, s

    Returns
    -------
    ndarray of float64, J/cm^2
    """
    return np.asarray(irradiance_mw_cm2, dtype=np.float64) * fluence_per_irradiance(exposure_s)


def photons_per_s_per_mw(wavelength_nm: float) -> float:
    """Photon rate carried by one milliwatt at ``wavelength_nm`` (photons/s per mW).

    E_ph = h c / lambda; 1 mW / E_ph. At 633 nm this is 3.19e15 (physics.md section 2.1).
    The rate is proportional to lambda, so a milliwatt spread over a spectrum carries the
    rate at the spectrum's power-weighted mean wavelength (``Spectrum.centroid_nm``).
    """
    photon_energy_j = PLANCK_J_S * SPEED_OF_LIGHT_M_S / (wavelength_nm * 1e-9)
    return 1e-3 / photon_energy_j
