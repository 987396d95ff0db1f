"""A layered slab of tissue: the optical properties of each layer at one wavelength."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from twin._validation import as_bounded, as_positive
from twin.errors import InputError


@dataclass(frozen=True)
class Layer:
    """One layer of tissue at one wavelength (docs/physics.md §3.1).

    Attributes
    ----------
    thickness_mm : float, mm
        ``inf`` for a semi-infinite bottom layer.
    mua_per_mm : float, 1/mm
        Absorption coefficient.
    mus_prime_per_mm : float, 1/mm
        Reduced scattering coefficient ``mu_s (1 - g)``.
    g : float
        Henyey-Greenstein anisotropy, in [0, 1).
    n : float
        Refractive index, >= 1.
    """

    thickness_mm: float
    mua_per_mm: float
    mus_prime_per_mm: float
    g: float
    n: float

    @property
    def mus_per_mm(self) -> float:
        """Scattering coefficient ``mu_s = mu_s' / (1 - g)``, 1/mm."""
        return self.mus_prime_per_mm / (1.0 - self.g)

    @property
    def mu_eff_per_mm(self) -> float:
        """Diffusion theory's effective attenuation ``sqrt(3 mua (mua + mus'))``, 1/mm."""
        return math.sqrt(3.0 * self.mua_per_mm * (self.mua_per_mm + self.mus_prime_per_mm))


def check_layers(layers: Sequence[Layer], *, name: str) -> tuple[Layer, ...]:
    """Return ``layers`` as a tuple once each holds physical values, else raise naming ``name``.

    Every layer but the last has a finite thickness > 0; the last may be ``inf``.

    Raises
    ------
    InputError
        If there is no layer, a value is out of range or a layer above the last is infinite.
    """
    if not layers:
        msg = f"{name}: expected at least one layer, got none"
        raise InputError(msg)
    for i, layer in enumerate(layers):
        where = f"{name}[{i}]"
        infinite = isinstance(layer.thickness_mm, float) and layer.thickness_mm == math.inf
        if not infinite:
            as_positive(layer.thickness_mm, name=f"{where}.thickness_mm")
        elif i < len(layers) - 1:
            msg = f"{where}.thickness_mm: only the last layer may be infinite, got inf"
            raise InputError(msg)
        as_positive(layer.mua_per_mm, name=f"{where}.mua_per_mm", allow_zero=True)
        as_positive(layer.mus_prime_per_mm, name=f"{where}.mus_prime_per_mm", allow_zero=True)
        as_bounded(layer.g, name=f"{where}.g", low=0.0, high=0.99)
        as_bounded(layer.n, name=f"{where}.n", low=1.0, high=3.0)
    return tuple(layers)
