"""Diffuse reflectance of the surfaces light bounces between: skin, a carrier's inside, occluders.

A surface's reflectance (Lambertian, per channel) is a named material, one number for every
channel, a mapping of channel to number, or (the target only) ``skin``: the skin model's
diffuse reflectance for the scene's skin type and body site when the scene has a ``tissue:``
section, else the NIST in-vivo mean (resolved by :mod:`twin.pipeline.interreflection`).
Materials are spectra averaged over each channel's spectrum (docs/physics.md §3.6.3):

- ``white``: TiO2-filled plastic, silicone or white solder mask, 0.85 from 450 nm up, 0.70
  at 415 nm [V/R];
- ``grey``: 0.40;
- ``black``: carbon-black plastic, 0.05 [R].

A channel without a wavelength takes a material's value at 550 nm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin._validation import as_bounded, check_keys
from twin.devices.spectra import Spectrum
from twin.errors import InputError

#: Reflectance spectra of the named materials: (wavelength nm, reflectance) points, linear
#: between them and constant beyond.
MATERIALS: dict[str, tuple[tuple[float, float], ...]] = {
    "white": ((415.0, 0.70), (450.0, 0.85)),
    "grey": ((415.0, 0.40),),
    "black": ((415.0, 0.05),),
}
#: The reflectance of skin: the skin model's, else the NIST mean.
SKIN = "skin"
#: Highest reflectance a surface may have (a closed enclosure of reflectance 1 never settles).
MAX_REFLECTANCE = 0.99
#: Where a channel without a wavelength reads a material.
NO_WAVELENGTH_NM = 550.0
#: The inside of a design's carrier unless the design or scene says otherwise: most LED
#: masks and pads are white plastic, silicone or solder mask inside (docs/physics.md §3.6.3).
DEFAULT_INTERIOR = "white"
#: Occluders unless the scene says otherwise: eye shields and blinds are usually black.
DEFAULT_OCCLUDER = "black"


@dataclass(frozen=True)
class Reflectance:
    """A surface's diffuse reflectance per channel.

    Attributes
    ----------
    material : str or None
        A name of :data:`MATERIALS`, ``skin``, or ``None`` for numbers.
    values : dict of str to float
        Per channel, when given as numbers.
    """

    material: str | None = None
    values: dict[str, float] = field(default_factory=dict)

    def of(self, channel: str, spectrum: Spectrum | None) -> float:
        """Return the reflectance for ``channel`` (of ``spectrum``; ``None``: no wavelength).

        ``skin`` is not resolved here: the caller knows the skin (see the module docstring).

        Raises
        ------
        ValueError
            For ``skin``.
        """
        if self.material is None:
            return self.values[channel]
        if self.material == SKIN:
            msg = "the skin's reflectance comes from the skin model"
            raise ValueError(msg)
        points = np.array(MATERIALS[self.material])
        wavelength, value = points[:, 0], points[:, 1]
        if spectrum is None:
            return float(np.interp(NO_WAVELENGTH_NM, wavelength, value))
        return spectrum.mean_of(lambda wl: np.interp(wl, wavelength, value), knots_nm=wavelength)

    def to_spec(self) -> str | dict[str, float]:
        """Return the scene file's value that gives this reflectance."""
        return self.material if self.material is not None else dict(self.values)


def parse_reflectance(
    value: Any, *, name: str, channels: Sequence[str], skin: bool = False
) -> Reflectance:
    """Parse a ``reflectance`` (or ``interior``) value of a scene file.

    Parameters
    ----------
    value : str, number or mapping
        A material name (``skin`` too where ``skin`` is true), a number in [0, 0.99] for
        every channel, or a mapping of every channel to such a number.
    name : str
        The key, for messages.
    channels : sequence of str
        The scene's channels.
    skin : bool
        Whether ``skin`` is allowed (the target).

    Raises
    ------
    InputError
        Naming ``name``: an unknown material (the nearest named), a number out of range, a
        mapping that names an unknown channel or leaves one out.
    """
    names = (*MATERIALS, *((SKIN,) if skin else ()))
    if isinstance(value, str):
        check_keys([value], names, name=name, what="material")
        return Reflectance(material=value)
    if isinstance(value, dict):
        check_keys(value, channels, name=name, what="channel")
        missing = [c for c in channels if c not in value]
        if missing:
            msg = f"{name}: no reflectance for channel(s) {', '.join(missing)}"
            raise InputError(msg)
        return Reflectance(
            values={
                c: as_bounded(v, name=f"{name}.{c}", low=0.0, high=MAX_REFLECTANCE)
                for c, v in value.items()
            }
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = as_bounded(value, name=name, low=0.0, high=MAX_REFLECTANCE)
        return Reflectance(values=dict.fromkeys(channels, number))
    msg = (
        f"{name}: expected a material ({', '.join(names)}), a number in [0, "
        f"{MAX_REFLECTANCE:g}] or a mapping of channel to number, got {value!r}"
    )
    raise InputError(msg)


@dataclass(frozen=True)
class Materials:
    """What every reflecting surface of a scene is made of.

    Attributes
    ----------
    target : Reflectance
        The skin (default ``skin``).
    occluders : tuple of Reflectance
        Per occluder, in order; occluders past its end are ``black``
        (:meth:`occluder`).
    interior : Reflectance or None
        The inside of the emitters' carrier (``None``: the emitters have no carrier).
    """

    target: Reflectance = field(default_factory=lambda: Reflectance(material=SKIN))
    occluders: tuple[Reflectance, ...] = ()
    interior: Reflectance | None = None

    def occluder(self, index: int) -> Reflectance:
        """Return occluder ``index``'s material (:data:`DEFAULT_OCCLUDER` where none is given)."""
        if index < len(self.occluders):
            return self.occluders[index]
        return Reflectance(material=DEFAULT_OCCLUDER)

    @property
    def reflective(self) -> bool:
        """Whether any surface reflects at all (the default of ``engine.interreflection``)."""
        surfaces = (self.target, *self.occluders, *((self.interior,) if self.interior else ()))
        return any(s.material is not None or any(s.values.values()) for s in surfaces)
