"""Photobiological hazards to the eye: the IEC 62471:2006 limits the eye region is held to.

- **IR-eye** (780-3000 nm): irradiance under 10 mW/cm^2 for exposures beyond 1000 s
  (physics.md 4.1; the limit is a dose setting, ``DoseSettings.eye_ir_limit_mw_cm2``).
- **Blue light** (300-700 nm, weighted by B(lambda)): the blue-weighted irradiance ``E_B``
  may deliver at most 10 mJ/cm^2 (100 J/m^2) within 100 s, and must stay under 0.1 mW/cm^2
  (1 W/m^2) for longer exposures (IEC 62471 4.3.4, the small-source limit; physics.md 4.1
  tags it [R]; two public transcriptions of IEC 62471 and ICNIRP 2013 agree, the standard's
  own text was not available). So the longest safe exposure is ``10 / E_B`` s where ``E_B``
  is above 0.1 mW/cm^2, and unlimited below.

  That limit is a conservative bound (the shortest time). An LED a few mm from the eye is
  a large source: a 2 mm die at 15 mm subtends about 130 mrad. Its limit is on radiance,
  ``L_B t <= 10^6 J m^-2 sr^-1`` averaged over a field of view of 11 mrad (up to 100 s),
  ``1.1 t^0.5`` mrad (100 s to 10^4 s) or 110 mrad. A source wider than that field is
  averaged at its own radiance, ``E_B`` over the solid angle it subtends, which allows
  longer: about 140 times for that die (``E_B`` over the field's solid angle instead, as for
  a source narrower than the field, gives back the bound above: ``pi (0.011)^2 / 4 * 10^6 =
  95 J/m^2``). The radiance needs each LED's emitting area, which the twin does not model,
  so it reports the bound. Taking the eye region's total ``E_B`` rather than one LED's also
  errs on the safe side.

Channels carry one peak wavelength: B(lambda) is read there, not integrated over the LED's
spectrum (across a 415 nm LED of 20 nm bandwidth, B runs from 0.2 to 0.95). A channel
with no wavelength counts as IR and as fully blue-weighted (B = 1): its safety is not
assumed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

#: IEC 62471 infrared-eye band, nm (physics.md 4.1).
IR_EYE_BAND_NM = (780.0, 3000.0)
#: Blue-light dose limit for exposures up to 100 s, mJ/cm^2 (100 J/m^2).
BLUE_DOSE_LIMIT_MJ_CM2 = 10.0
#: Blue-weighted irradiance limit beyond 100 s, mW/cm^2 (1 W/m^2).
BLUE_IRRADIANCE_LIMIT_MW_CM2 = 0.1

# B(lambda), IEC 62471:2006 Table 4.2: 0.01 up to 380 nm, tabulated 385-495 nm, then
# 10^((450 - lambda) / 50) to 595 nm and 0.001 to 700 nm.
_B_TABLE_NM = np.arange(380.0, 500.0, 5.0)
_B_TABLE = np.array(
    [0.01, 0.013, 0.025, 0.05, 0.10, 0.20, 0.40, 0.80, 0.90, 0.95, 0.98, 1.00,
     1.00, 0.97, 0.94, 0.90, 0.80, 0.70, 0.62, 0.55, 0.45, 0.40, 0.22, 0.16]
)  # fmt: skip


def facing_rows(
    matrix: scipy.sparse.sparray,
    positions_mm: NDArray[np.float64],
    normals: NDArray[np.float64],
    emitter_positions_mm: NDArray[np.float64],
) -> scipy.sparse.csr_array:
    """Transfer-matrix rows as a detector facing each LED would see them.

    IEC 62471 measures the eye's irradiance with the detector turned to the source; the skin
    of the eye region receives ``cos(alpha)`` of that (alpha: incidence on the eyelid). Each
    entry is divided by its ``cos(alpha)``, which leaves ``I(theta) / r^2`` with shadows and
    cut-offs as they were. For an extended emitter the centre's angle stands for its area.

    Parameters
    ----------
    matrix : (k, n) sparse, (mW/cm^2) per mW
        The rows of the eye region's points.
    positions_mm, normals : (k, 3) float64
        Those points and their unit normals.
    emitter_positions_mm : (n, 3) float64

    Returns
    -------
    (k, n) scipy.sparse.csr_array, (mW/cm^2) per mW
    """
    csr = scipy.sparse.csr_array(matrix)
    row = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    d = emitter_positions_mm[csr.indices] - positions_mm[row]
    cos_a = np.einsum("ij,ij->i", d, normals[row]) / np.linalg.norm(d, axis=1)
    # Non-zero entries face their LED (cos > 0); an extended one's centre may sit just behind.
    scale = 1.0 / np.maximum(cos_a, 1e-3)
    return scipy.sparse.csr_array((csr.data * scale, csr.indices, csr.indptr), shape=csr.shape)


def counts_as_ir(wavelength_nm: float | None) -> bool:
    """Whether a channel's light counts toward the IR-eye limit (an unknown wavelength does).

    Parameters
    ----------
    wavelength_nm : float or None, nm
    """
    lo, hi = IR_EYE_BAND_NM
    return wavelength_nm is None or lo <= float(wavelength_nm) <= hi


def blue_light_weight(wavelength_nm: float | None) -> float:
    """B(lambda) of the blue-light hazard at a peak wavelength (1 for an unknown one).

    Parameters
    ----------
    wavelength_nm : float or None, nm

    Returns
    -------
    float
        Between 0 and 1; 0 outside 300-700 nm.
    """
    if wavelength_nm is None:
        return 1.0
    wl = float(wavelength_nm)
    if wl < 300.0 or wl > 700.0:
        return 0.0
    if wl < 380.0:
        return 0.01
    if wl < 500.0:
        return float(np.interp(wl, [*_B_TABLE_NM, 500.0], [*_B_TABLE, 0.1]))
    if wl < 600.0:
        return 10.0 ** ((450.0 - wl) / 50.0)
    return 0.001


def blue_light_max_exposure_s(e_b_mw_cm2: float) -> float | None:
    """Longest exposure, s, within the blue-light limit; ``None`` where there is none.

    Parameters
    ----------
    e_b_mw_cm2 : float, mW/cm^2
        Blue-weighted irradiance at the eye.
    """
    if e_b_mw_cm2 <= BLUE_IRRADIANCE_LIMIT_MW_CM2:
        return None
    return BLUE_DOSE_LIMIT_MJ_CM2 / e_b_mw_cm2


def eye_lines(eye: dict, exposure_s: float) -> list[tuple[str, bool]]:
    """One line per eye limit, for people, and whether it holds.

    Parameters
    ----------
    eye : dict
        The ``eye_safety`` block of ``metrics.json``.
    exposure_s : float, s
    """
    facing = eye.get("ir_irradiance_facing_mw_cm2")
    seen = "" if facing is None else f" ({facing['max']:.3g} facing each LED)"
    lines = [
        (
            f"eyes: IR irradiance max {eye['ir_irradiance_mw_cm2']['max']:.3g} mW/cm2{seen}, "
            f"{'within' if eye['ir_within_limit'] else 'ABOVE'} the "
            f"{eye['ir_limit_mw_cm2']:g} mW/cm2 IEC 62471 IR-eye limit",
            eye["ir_within_limit"],
        )
    ]
    e_b, limit_s = eye["blue_weighted_irradiance_mw_cm2"]["max"], eye["blue_light_max_exposure_s"]
    if limit_s is None:
        blue = f"under the {BLUE_IRRADIANCE_LIMIT_MW_CM2:g} mW/cm2 IEC 62471 blue-light limit"
    else:
        verdict = "within" if eye["blue_light_within_limit"] else "ABOVE"
        blue = (
            f"the IEC 62471 blue-light limit (small-source bound) is reached after "
            f"{limit_s:.3g} s: {verdict} it for the {exposure_s:g} s exposure"
        )
    lines.append(
        (f"eyes: blue-weighted irradiance max {e_b:.3g} mW/cm2, {blue}",
         eye["blue_light_within_limit"])
    )  # fmt: skip
    if eye["unknown_wavelength_channels"]:
        names = ", ".join(eye["unknown_wavelength_channels"])
        lines.append(
            (f"eyes: channel(s) {names} have no wavelength and count as IR and as blue", False)
        )
    return lines
