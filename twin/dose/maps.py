"""Dose maps from the transfer matrix: irradiance, fluence and photon flux per channel.

With T the transfer matrix ((mW/cm^2) per mW) and w the radiant power each emitter runs at
(its full power times its channel's drive level, mW), the irradiance map is E = T w. Changing
drive levels, modes or exposure time never needs a new ray cast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin._validation import as_positive, check_keys
from twin.devices.emitters import Emitters
from twin.devices.spectra import Spectrum, line
from twin.dose.hazards import ir_eye_limit_mw_cm2
from twin.engine.transfer import TransferMatrix
from twin.errors import InputError
from twin.units import fluence_j_cm2, photons_per_s_per_mw


@dataclass(frozen=True)
class DoseSettings:
    """Therapeutic window and safety limits the metrics are judged against.

    Attributes
    ----------
    fluence_window_j_cm2 : (float, float), J/cm^2
        Target fluence window (docs/physics.md §2.2: 4-10 J/cm^2, Zein et al. 2018).
    irradiance_limit_mw_cm2 : float, mW/cm^2
        Above this, skin counts as a hot spot (100 mW/cm^2, the usual athermal guard).
    eye_ir_limit_mw_cm2 : float or None, mW/cm^2
        An explicit IR-eye limit; ``None`` (the default): the IEC 62471 limit for the
        exposure time (:func:`twin.dose.hazards.ir_eye_limit_mw_cm2`).
    absorbed_limit_mw_cm2 : float, mW/cm^2
        Heating guard on the absorbed power density ``(1 - R) E``: 50 mW/cm^2, the
        100 mW/cm^2 irradiance guard at a skin reflectance of 0.5, mid-range of red and NIR
        (docs/physics.md §4.3).
    """

    fluence_window_j_cm2: tuple[float, float] = (4.0, 10.0)
    irradiance_limit_mw_cm2: float = 100.0
    eye_ir_limit_mw_cm2: float | None = None
    absorbed_limit_mw_cm2: float = 50.0

    def eye_ir_limit(self, exposure_s: float) -> tuple[float, str]:
        """Return the IR-eye limit that applies, mW/cm^2, and where it comes from.

        Parameters
        ----------
        exposure_s : float, s

        Returns
        -------
        (float, str)
            The limit and ``"dose.eye_ir_limit_mw_cm2"`` (set by the scene) or
            ``"exposure time"`` (IEC 62471's limit for ``exposure_s``).
        """
        if self.eye_ir_limit_mw_cm2 is not None:
            return self.eye_ir_limit_mw_cm2, "dose.eye_ir_limit_mw_cm2"
        return ir_eye_limit_mw_cm2(exposure_s), "exposure time"


@dataclass(frozen=True)
class DoseMaps:
    """Per-sample dose maps.

    Attributes
    ----------
    irradiance_mw_cm2 : dict of str to (k,) float64, mW/cm^2
        One map per channel, in channel order: all the light, direct and returned by skin
        and device (:mod:`twin.engine.interreflection`).
    exposure_s : float, s
    wavelength_nm : dict of str to float
        Peak wavelength of each channel that has one, nm.
    spectra : dict of str to Spectrum
        Spectrum of channels with a wavelength (one not here is a line at its wavelength).
    direct_irradiance_mw_cm2 : dict of str to (k,) float64, mW/cm^2
        Per channel, the light straight from the emitters, where inter-reflection was solved
        (empty: all light is direct).
    """

    irradiance_mw_cm2: dict[str, NDArray[np.float64]]
    exposure_s: float
    wavelength_nm: dict[str, float]
    spectra: dict[str, Spectrum] = field(default_factory=dict)
    direct_irradiance_mw_cm2: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def direct(self, channel: str) -> NDArray[np.float64]:
        """Return a channel's direct light, (k,) float64, mW/cm^2 (all of it if none returns)."""
        return self.direct_irradiance_mw_cm2.get(channel, self.irradiance_mw_cm2[channel])

    @property
    def channels(self) -> list[str]:
        """Channel names, in the maps' order."""
        return list(self.irradiance_mw_cm2)

    @property
    def total_irradiance_mw_cm2(self) -> NDArray[np.float64]:
        """(k,) float64, mW/cm^2: the sum over channels."""
        return np.sum(list(self.irradiance_mw_cm2.values()), axis=0)

    def fluence_j_cm2(self, channel: str | None = None) -> NDArray[np.float64]:
        """(k,) float64, J/cm^2, of one channel or (``None``) of all together.

        Raises
        ------
        InputError
            If ``channel`` is not one of :attr:`channels`.
        """
        if channel is None:
            return fluence_j_cm2(self.total_irradiance_mw_cm2, self.exposure_s)
        check_keys([channel], self.channels, name="DoseMaps.fluence_j_cm2", what="channel")
        return fluence_j_cm2(self.irradiance_mw_cm2[channel], self.exposure_s)

    def spectrum(self, channel: str) -> Spectrum | None:
        """Return a channel's spectrum: given, else a line at its wavelength (``None``: none)."""
        if channel in self.spectra:
            return self.spectra[channel]
        wavelength = self.wavelength_nm.get(channel)
        return None if wavelength is None else line(wavelength)

    def photon_flux_per_s_cm2(self, channel: str) -> NDArray[np.float64]:
        """(k,) float64, photons s^-1 cm^-2, of a channel with a known wavelength.

        Integrated over the channel's spectrum: the photons per mW are those at its
        power-weighted mean wavelength (:func:`twin.units.photons_per_s_per_mw`).

        Raises
        ------
        InputError
            If ``channel`` is not one of :attr:`channels` or has no wavelength.
        """
        where = "DoseMaps.photon_flux_per_s_cm2"
        check_keys([channel], self.channels, name=where, what="channel")
        spectrum = self.spectrum(channel)
        if spectrum is None:
            msg = f"{where}: channel {channel!r} has no wavelength_nm, so no photon flux"
            raise InputError(msg)
        return self.irradiance_mw_cm2[channel] * photons_per_s_per_mw(spectrum.centroid_nm)


def check_drive(drive: Any, channels: list[str], *, name: str) -> dict[str, float]:
    """Return the drive level of every channel from ``drive``; channels it does not name are off.

    ``drive`` maps a channel to its fraction of full power, in [0, 1].

    Raises
    ------
    InputError
        If ``drive`` is not a mapping, names a channel not in ``channels`` (naming the nearest
        one) or gives a level that is not a number in [0, 1].
    """
    if not isinstance(drive, Mapping):
        msg = f"{name}: expected a mapping of channel to drive level, got {type(drive).__name__}"
        raise InputError(msg)
    check_keys(drive, channels, name=name, what="channel")
    levels = dict.fromkeys(channels, 0.0)
    for key, level in drive.items():
        number = isinstance(level, (int, float, np.number)) and not isinstance(level, bool)
        if not (number and 0.0 <= level <= 1.0):
            msg = (
                f"{name}.{key}: expected a drive level in [0, 1] (fraction of full power), got "
                f"{level!r}"
            )
            raise InputError(msg)
        levels[key] = float(level)
    return levels


def emitter_power_mw(emitters: Emitters, drive: dict[str, float]) -> NDArray[np.float64]:
    """(n,) float64, mW: each emitter's radiant power at its channel's drive level."""
    level = np.array([drive.get(str(c), 0.0) for c in emitters.channel])
    return emitters.power_mw * level


def dose_maps(
    transfer: TransferMatrix, emitters: Emitters, *, drive: dict[str, float], exposure_s: float
) -> DoseMaps:
    """Irradiance per channel for the given drive levels.

    Parameters
    ----------
    transfer : TransferMatrix
        (k, n) matrix for ``emitters``.
    emitters : Emitters
    drive : dict of str to float
        Drive level (fraction of full power, in [0, 1]) of each channel of ``emitters``;
        channels not named are off.
    exposure_s : float, s
        Exposure time, > 0.

    Returns
    -------
    DoseMaps

    Raises
    ------
    InputError
        If ``drive`` names an unknown channel or a level outside [0, 1], or ``exposure_s`` is
        not a finite number > 0.
    """
    drive = check_drive(drive, emitters.channels, name="drive")
    exposure_s = as_positive(exposure_s, name="exposure_s")
    power = emitter_power_mw(emitters, drive)
    maps, direct = {}, {}
    for channel in emitters.channels:
        w = np.where(emitters.channel == channel, power, 0.0)
        direct[channel] = transfer.direct_irradiance(w)
        maps[channel] = transfer.irradiance(w)
    return DoseMaps(
        maps,
        exposure_s,
        dict(emitters.wavelength_nm),
        dict(emitters.spectra),
        direct_irradiance_mw_cm2={} if transfer.indirect is None else direct,
    )
