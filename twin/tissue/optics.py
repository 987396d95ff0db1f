"""Skin optics from chromophores: layer properties per wavelength, skin type and body site.

The default skin model (docs/physics.md §3.1, §3.4) is built from chromophores, not from ex-vivo
tables (which make skin too dark, docs/physics.md §3.4.4):

- **epidermis**: melanosomes (volume fraction ``melanin_fraction``, the skin type's),
  ``mua_mel = 6.6e10 lambda^-3.33`` 1/mm (Jacques 1998);
- **dermis**: blood (``blood_fraction`` at ``oxygen_saturation``, 150 g/L haemoglobin, Prahl's
  molar extinction) and water (``water_fraction``);
- **subcutis**: fat with some blood and water (van Veen 2005 lipid, Bashkatov 2011 scattering);
- scattering ``mus' = a (lambda / 500 nm)^-b`` (Jacques 2013, average skin) in epidermis and
  dermis; anisotropy ``g = 0.62 + 0.29e-3 lambda`` (van Gemert 1989) up to 0.9; refractive
  indices interpolated between published points (Ding 2006; Matiatou 2021).

The dermal blood fraction and the scattering amplitude are calibrated so that the model's
total reflectance (specular included, 8 degree incidence, as the NIST instrument measures) falls
within the NIST in-vivo spread (docs/physics.md §3.5): :data:`CALIBRATION` records the values and
``tools/tissue_kernels.py calibrate`` recomputes them.

Layer thicknesses depend on the body site (:data:`SITES`): thin eyelid and forehead epidermis,
a thick scalp and trunk dermis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin._validation import as_bounded, as_mapping, check_keys
from twin.errors import InputError
from twin.tissue.layers import Layer

#: Fitzpatrick skin types and the epidermal melanosome volume fraction each stands for
#: (Jacques 1998: light 1.3-6.3 %, moderate 11-16 %, dark 18-43 %) [R]. Type II is the NIST
#: cohort's fitted fraction (0.030); types II and III fall within the cohort's measured range
#: at 415, 634, 829 and 940 nm, type I is 2-3 % brighter than its brightest in the NIR, and
#: types IV-VI are darker than anyone measured (the cohort has no type VI).
SKIN_TYPES: dict[str, float] = {
    "I": 0.015,
    "II": 0.03,
    "III": 0.06,
    "IV": 0.11,
    "V": 0.18,
    "VI": 0.30,
}

#: Haemoglobin in whole blood, g/L, and its molar mass, g/mol (Prahl).
_HB_G_PER_L = 150.0
_HB_G_PER_MOL = 64_500.0
_LN10 = math.log(10.0)


@dataclass(frozen=True)
class Site:
    """Layer thicknesses at a body site.

    Attributes
    ----------
    epidermis_mm, dermis_mm : float, mm
        The subcutis below is semi-infinite.
    """

    epidermis_mm: float
    dermis_mm: float


#: Body sites and their layer thicknesses [R] (epidermis 40-100 um; dermis 0.5 mm on the
#: eyelid to 2-2.5 mm on the scalp and back).
SITES: dict[str, Site] = {
    "face": Site(epidermis_mm=0.08, dermis_mm=1.2),
    "eyelid": Site(epidermis_mm=0.04, dermis_mm=0.5),
    "forehead": Site(epidermis_mm=0.06, dermis_mm=1.2),
    "scalp": Site(epidermis_mm=0.08, dermis_mm=2.0),
    "trunk": Site(epidermis_mm=0.1, dermis_mm=2.5),
}
DEFAULT_SITE = "face"

#: The site of each built-in anatomy's skin, and of the regions that differ from it; skin of
#: no built-in anatomy is ``DEFAULT_SITE`` (or the scene's ``tissue.site``).
ANATOMY_SITES: dict[str, str] = {
    "face": "face",
    "head": "face",
    "scalp": "scalp",
    "pelvis": "trunk",
}
REGION_SITES: dict[str, str] = {
    "eyes": "eyelid",
    "forehead": "forehead",
    "glabella": "forehead",
    "scalp": "scalp",
}


@dataclass(frozen=True)
class Calibration:
    """Skin-model constants fitted to the NIST in-vivo reflectance (docs/physics.md §3.4.4).

    Attributes
    ----------
    mus_prime_500nm_per_mm : float, 1/mm
        Scattering amplitude ``a`` of ``mus' = a (lambda / 500 nm)^-b`` (Jacques 2013: 4.6).
    scattering_power : float
        ``b`` (Jacques 2013: 1.421).
    dermis_blood_fraction : float
        Blood volume fraction of the dermis.
    """

    mus_prime_500nm_per_mm: float = 5.023
    scattering_power: float = 1.492
    dermis_blood_fraction: float = 0.00535


#: The calibrated constants (``tools/tissue_kernels.py calibrate`` prints them; fitted with
#: 20 000 photons per wavelength, the NIST cohort's melanin fraction fitted at 0.030, type II).
CALIBRATION = Calibration()


@dataclass(frozen=True)
class SkinModel:
    """Chromophore content of the skin; every field has a default.

    Attributes
    ----------
    melanin_fraction : float
        Melanosome volume fraction of the epidermis (the skin type's, :data:`SKIN_TYPES`).
    blood_fraction : float
        Blood volume fraction of the dermis.
    oxygen_saturation : float
        Haemoglobin oxygen saturation of that blood.
    water_fraction : float
        Water volume fraction of the dermis.
    subcutis_blood_fraction, subcutis_water_fraction, subcutis_fat_fraction : float
        The subcutis's content.
    mus_prime_500nm_per_mm : float, 1/mm
        Skin scattering at 500 nm.
    scattering_power : float
        Exponent of the scattering's fall with wavelength.
    """

    melanin_fraction: float = SKIN_TYPES["II"]
    blood_fraction: float = CALIBRATION.dermis_blood_fraction
    oxygen_saturation: float = 0.75
    water_fraction: float = 0.65
    subcutis_blood_fraction: float = 0.01
    subcutis_water_fraction: float = 0.15
    subcutis_fat_fraction: float = 0.75
    mus_prime_500nm_per_mm: float = CALIBRATION.mus_prime_500nm_per_mm
    scattering_power: float = CALIBRATION.scattering_power

    def layers(self, wavelength_nm: float, site: Site) -> tuple[Layer, Layer, Layer]:
        """Return the epidermis, dermis and subcutis at ``wavelength_nm`` for ``site``.

        Parameters
        ----------
        wavelength_nm : float, nm
            Within the chromophore table (400-1000 nm).
        site : Site

        Returns
        -------
        (Layer, Layer, Layer)
        """
        wl = float(wavelength_nm)
        c = chromophores_per_mm(wl)
        blood = self.oxygen_saturation * c["hbo2"] + (1 - self.oxygen_saturation) * c["hb"]
        melanin = 6.6e10 * wl**-3.33
        scattering = self.mus_prime_500nm_per_mm * (wl / 500.0) ** -self.scattering_power
        g = min(0.62 + 0.29e-3 * wl, 0.9)
        m = self.melanin_fraction
        epidermis = Layer(
            thickness_mm=site.epidermis_mm,
            mua_per_mm=m * melanin,
            mus_prime_per_mm=scattering,
            g=g,
            n=_index(wl, _EPIDERMIS_N),
        )
        b, w = self.blood_fraction, self.water_fraction
        dermis = Layer(
            thickness_mm=site.dermis_mm,
            mua_per_mm=b * blood + w * c["water"],
            mus_prime_per_mm=scattering,
            g=g,
            n=_index(wl, _DERMIS_N),
        )
        sb, sw, sf = (
            self.subcutis_blood_fraction,
            self.subcutis_water_fraction,
            self.subcutis_fat_fraction,
        )
        subcutis = Layer(
            thickness_mm=math.inf,
            mua_per_mm=sb * blood + sw * c["water"] + sf * c["fat"],
            mus_prime_per_mm=2.7 * (wl / 600.0) ** -1.0,  # Bashkatov 2011, docs/physics.md §3.3
            g=g,
            n=_index(wl, _SUBCUTIS_N),
        )
        return epidermis, dermis, subcutis


#: Refractive indices at known wavelengths (docs/physics.md §3.4.2), linear between them.
_EPIDERMIS_N = ((415.0, 1.459), (633.0, 1.433), (830.0, 1.425), (940.0, 1.422))
_DERMIS_N = ((415.0, 1.392), (633.0, 1.379), (830.0, 1.375), (940.0, 1.374))
_SUBCUTIS_N = ((415.0, 1.479), (940.0, 1.455))


def _index(wavelength_nm: float, points: tuple[tuple[float, float], ...]) -> float:
    wl, n = zip(*points, strict=True)
    return float(np.interp(wavelength_nm, wl, n))


@cache
def _chromophore_table() -> NDArray[np.float64]:
    path = Path(__file__).with_name("data") / "chromophores.csv"
    return np.loadtxt(path, delimiter=",", comments="#", skiprows=_header_lines(path))


def _header_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.startswith("#"):
                return i + 1  # the comments and the column names
    return 0


def chromophores_per_mm(wavelength_nm: float) -> dict[str, float]:
    """Absorption of each pure chromophore at ``wavelength_nm``, 1/mm.

    ``hbo2`` and ``hb``: whole blood (150 g/L) fully oxygenated and deoxygenated, from Prahl's
    molar extinction; ``water`` and ``fat``: the pure substances. Linear between the table's
    wavelengths (``twin/tissue/data/chromophores.csv``).

    Raises
    ------
    InputError
        If ``wavelength_nm`` is outside the table.
    """
    table = _chromophore_table()
    low, high = table[0, 0], table[-1, 0]
    if not low <= wavelength_nm <= high:
        msg = (
            f"wavelength {wavelength_nm:g} nm: the skin model covers {low:g}-{high:g} nm; "
            "give explicit tissue.layers for other wavelengths"
        )
        raise InputError(msg)
    row = [float(np.interp(wavelength_nm, table[:, 0], table[:, i])) for i in range(1, 5)]
    per_molar_to_blood = _LN10 * _HB_G_PER_L / _HB_G_PER_MOL / 10.0  # cm^-1/M -> 1/mm
    return {
        "hbo2": row[0] * per_molar_to_blood,
        "hb": row[1] * per_molar_to_blood,
        "water": row[2],
        "fat": row[3],
    }


def as_skin_type(value: Any, *, name: str) -> str:
    """Return a Fitzpatrick skin type (``"I"`` .. ``"VI"``, or ``1`` .. ``6``) as its label.

    Raises
    ------
    InputError
        Naming ``name``, for anything else (a chromophore mix is not a type).
    """
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(SKIN_TYPES):
        value = list(SKIN_TYPES)[value - 1]
    if not isinstance(value, str):
        msg = f"{name}: expected a Fitzpatrick skin type ({', '.join(SKIN_TYPES)}), got {value!r}"
        raise InputError(msg)
    check_keys([value], SKIN_TYPES, name=name, what="skin type")
    return value


def parse_skin(value: Any, *, name: str) -> tuple[str, SkinModel]:
    """Parse a scene's ``tissue.skin_type``: a Fitzpatrick type or a chromophore mapping.

    Parameters
    ----------
    value : str or mapping
        ``"I"`` .. ``"VI"`` (also ``1`` .. ``6``), or a mapping of :class:`SkinModel` fields
        (any left out keep their defaults; ``skin_type`` in it sets the melanin fraction).
    name : str
        Where the value came from, for messages.

    Returns
    -------
    (str, SkinModel)
        A label (the type, or ``"custom"``) and the model.

    Raises
    ------
    InputError
        If the type is unknown or a fraction is out of range, naming ``name``.
    """
    if not isinstance(value, dict):
        skin_type = as_skin_type(value, name=name)
        return skin_type, SkinModel(melanin_fraction=SKIN_TYPES[skin_type])
    spec = as_mapping(value, name=name)
    keys = [f.name for f in fields(SkinModel)]
    check_keys(spec, [*keys, "skin_type"], name=name)
    base = SkinModel()
    if "skin_type" in spec:
        _, base = parse_skin(spec["skin_type"], name=f"{name}.skin_type")
    changes: dict[str, float] = {}
    for key, raw in spec.items():
        if key == "skin_type":
            continue
        high = 20.0 if key.startswith("mus_prime") else 4.0 if key == "scattering_power" else 1.0
        changes[key] = as_bounded(raw, name=f"{name}.{key}", low=0.0, high=high)
    model = replace(base, **changes)
    dermis_total = model.blood_fraction + model.water_fraction
    sub_total = (
        model.subcutis_blood_fraction + model.subcutis_water_fraction + model.subcutis_fat_fraction
    )
    if dermis_total > 1 or sub_total > 1:
        msg = (
            f"{name}: volume fractions add up to more than 1 (dermis {dermis_total:g}, "
            f"subcutis {sub_total:g})"
        )
        raise InputError(msg)
    return "custom", model
