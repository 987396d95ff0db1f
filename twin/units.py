"""The one place where units are converted.

Inside twin, lengths are millimetres, radiant power milliwatts, intensity mW/sr, angles
radians. Users see irradiance in mW/cm^2, fluence in J/cm^2, angles in degrees and wavelengths
in nm (docs/physics.md §2.1); the terminal summary of ``twin render`` and the files
of ``twin export`` can show irradiance and fluence in SI units instead (:data:`DOSE_UNITS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin.errors import InputError

#: Millimetres per unit of length, for the unit names a scene or loader call may state.
MM_PER_UNIT: dict[str, float] = {"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1000.0, "inch": 25.4}

#: mm^2 per cm^2: a value in mW/mm^2 times this is in mW/cm^2.
MM2_PER_CM2 = 100.0

#: mJ per J: an irradiance in mW/cm^2 held for a time in s is a fluence in mJ/cm^2.
MJ_PER_J = 1000.0

#: W/m^2 per mW/cm^2: 1 mW/cm^2 = 1e-3 W / 1e-4 m^2 = 10 W/m^2.
W_M2_PER_MW_CM2 = 10.0

#: J/m^2 per J/cm^2: 1 J/cm^2 = 1 J / 1e-4 m^2 = 1e4 J/m^2.
J_M2_PER_J_CM2 = 1e4

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

    E_ph = h c / lambda; 1 mW / E_ph. At 633 nm this is 3.19e15 (docs/physics.md §2.1).
    The rate is proportional to lambda, so a milliwatt spread over a spectrum carries the
    rate at the spectrum's power-weighted mean wavelength (``Spectrum.centroid_nm``).
    """
    photon_energy_j = PLANCK_J_S * SPEED_OF_LIGHT_M_S / (wavelength_nm * 1e-9)
    return 1e-3 / photon_energy_j


@dataclass(frozen=True)
class DoseUnits:
    """The units irradiance and fluence are shown in, and how twin's values convert to them.

    twin computes irradiance in mW/cm^2 and fluence in J/cm^2; radiometry (IEC 62471,
    ICNIRP) states irradiance in W/m^2 and radiant exposure (fluence) in J/m^2.

    Attributes
    ----------
    irradiance : str
        The irradiance unit as printed: ``mW/cm2`` or ``W/m2``.
    fluence : str
        The fluence unit as printed: ``J/cm2`` or ``J/m2``.
    per_mw_cm2 : float
        Irradiance in this unit per mW/cm^2 (1 or 10).
    per_j_cm2 : float
        Fluence in this unit per J/cm^2 (1 or 1e4).
    """

    irradiance: str
    fluence: str
    per_mw_cm2: float
    per_j_cm2: float

    @property
    def suffixes(self) -> dict[str, str]:
        """Map the unit suffixes of twin's names to these units' (``_mw_cm2`` -> ``_w_m2``)."""
        return {
            "_mw_cm2": "_" + _suffix(self.irradiance),
            "_j_cm2": "_" + _suffix(self.fluence),
        }

    def convert(self, name: str, values: ArrayLike) -> tuple[str, NDArray[np.float64]]:
        """Return a map named as twin names it (``fluence_j_cm2``) in these units.

        Parameters
        ----------
        name : str
            Ends in ``_mw_cm2`` (an irradiance or fluence rate) or ``_j_cm2`` (a fluence).
        values : array_like of float
            In twin's unit, mW/cm^2 or J/cm^2.

        Returns
        -------
        name : str
            With the unit suffix of these units (``fluence_j_m2``).
        values : ndarray of float64
            In these units.

        Raises
        ------
        InputError
            If ``name`` carries neither unit.
        """
        factors = {"_mw_cm2": self.per_mw_cm2, "_j_cm2": self.per_j_cm2}
        for suffix, new in self.suffixes.items():
            if name.endswith(suffix):
                converted = np.asarray(values, dtype=np.float64) * factors[suffix]
                return name[: -len(suffix)] + new, converted
        msg = f"map {name!r}: expected a name ending in _mw_cm2 or _j_cm2"
        raise InputError(msg)

    def unit_of(self, name: str) -> str:
        """Return the unit of a map named as twin or these units name it (``J/m2``)."""
        fluence = ("_j_cm2", self.suffixes["_j_cm2"])
        return self.fluence if name.endswith(fluence) else self.irradiance


def _suffix(unit: str) -> str:
    return unit.lower().replace("/", "_")


#: The units twin shows doses in, by name: its own (mW/cm^2, J/cm^2) and SI (W/m^2, J/m^2).
DOSE_UNITS: dict[str, DoseUnits] = {
    "mW/cm2": DoseUnits("mW/cm2", "J/cm2", 1.0, 1.0),
    "W/m2": DoseUnits("W/m2", "J/m2", W_M2_PER_MW_CM2, J_M2_PER_J_CM2),
}


def dose_units(unit: str, *, name: str) -> DoseUnits:
    """Return the dose units :data:`DOSE_UNITS` names ``unit`` (``"W/m2"``).

    ``name`` says where the unit came from, for the error message.

    Raises
    ------
    InputError
        Naming ``name``, the units known and the one found.
    """
    try:
        return DOSE_UNITS[unit]
    except (KeyError, TypeError):
        msg = f"{name}: expected an irradiance unit, one of {', '.join(DOSE_UNITS)}, got {unit!r}"
        raise InputError(msg) from None
