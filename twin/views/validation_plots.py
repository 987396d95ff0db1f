"""Plots of a validation against a bench measurement (matplotlib, off-screen).

- ``residuals``: the measured map, the model's and the residual in units of the stated
  uncertainty (``(measured - model) / sigma``, diverging colours, +-3 at the ends), in the
  detector's plane coordinates (the measured points where the registration put them); with
  a calibration a second row shows the fitted power of each LED over its nominal value at
  its place over the detector (outliers ringed), the calibrated model and its residual.
- ``powers``: each fitted power over its nominal value with its 95 % interval, the
  outliers in red (a calibration only).

``write_validation_plots`` writes those that apply as PNG files. Needs matplotlib
(``pip install 'twin[viz]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from twin.analysis.calibrate import PowerFit
    from twin.analysis.validate import Validation

#: The plots, as ``write_validation_plots`` names their files (``powers`` with a fit only).
VALIDATION_PLOTS = ("residuals", "powers")
#: The residual colour scale's ends, in standard uncertainties.
RESIDUAL_SIGMA_RANGE = 3.0


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _map(
    ax: Axes,
    xy: NDArray[np.float64],
    values: NDArray[np.float64],
    *,
    lattice: NDArray[np.int64] | None,
    title: str,
    **style: Any,
) -> Any:
    """Draw values at points: one cell each where they fill a lattice, else dots."""
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    if lattice is not None:
        x, y = xy[lattice, 0], xy[lattice, 1]
        return ax.pcolormesh(x, y, values[lattice], shading="nearest", **style)
    return ax.scatter(xy[:, 0], xy[:, 1], c=values, s=14, **style)


def _lattice(validation: Validation) -> NDArray[np.int64] | None:
    """Return the measured points' indices as the lattice they fill (rows, columns), or None."""
    m = validation.measurement
    grid = m.grid
    if grid is None:
        return None
    x, y = grid
    index = np.empty((len(y), len(x)), dtype=np.int64)
    index[np.searchsorted(y, m.xy_mm[:, 1]), np.searchsorted(x, m.xy_mm[:, 0])] = np.arange(len(m))
    return index


def residuals(validation: Validation) -> Figure:
    """Plot the measured, model and residual maps (module's notes)."""
    v = validation
    m = v.measurement
    lattice = _lattice(v)
    rows = [("as given", v.registration, v.model)]
    fit = v.fit
    if fit is not None and v.calibrated is not None and v.calibrated_registration is not None:
        rows.append((f"calibrated ({fit.kind})", v.calibrated_registration, v.calibrated))
    fig = _figure(14.0, 4.5 * len(rows))
    axes = np.atleast_2d(fig.subplots(len(rows), 3))
    top = float(max(np.max(m.irradiance_mw_cm2), np.max(v.model.model_mw_cm2)))
    irradiance = {"cmap": "inferno", "vmin": 0.0, "vmax": top}
    spread = {"cmap": "RdBu_r", "vmin": -RESIDUAL_SIGMA_RANGE, "vmax": RESIDUAL_SIGMA_RANGE}
    for row, (label, registration, r) in enumerate(rows):
        xy = registration.apply(m.xy_mm)
        stats = (
            f"RMS {r.rms_mw_cm2:.3g}, bias {r.bias_mw_cm2:+.3g} mW/cm²\n"
            f"chi²/dof {r.chi2 / r.dof:.3g}: {'pass' if r.passed else 'fail'}"
        )
        if row == 0:
            art = _map(axes[row, 0], xy, m.irradiance_mw_cm2, lattice=lattice,
                       title=f"measured ({len(m)} points)", **irradiance)  # fmt: skip
        else:
            assert fit is not None
            art = _powers_over_detector(axes[row, 0], v, fit)
        fig.colorbar(art, ax=axes[row, 0], shrink=0.85).set_label(
            "mW/cm²" if row == 0 else "fitted / nominal power"
        )
        art = _map(axes[row, 1], xy, r.model_mw_cm2, lattice=lattice, title=f"model {label}",
                   **irradiance)  # fmt: skip
        fig.colorbar(art, ax=axes[row, 1], shrink=0.85).set_label("mW/cm²")
        art = _map(axes[row, 2], xy, r.residual_mw_cm2 / r.sigma_mw_cm2, lattice=lattice,
                   title=f"(measured - model) / sigma: {stats}", **spread)  # fmt: skip
        fig.colorbar(art, ax=axes[row, 2], shrink=0.85).set_label("residual / sigma")
    o = v.registration
    fig.suptitle(
        f"{v.scene.name}, detector {v.detector.name}: offset ({o.offset_mm[0]:+.2f}, "
        f"{o.offset_mm[1]:+.2f}) mm, rotation {o.rotation_deg:+.2f}°, measured/model "
        f"{o.scale:.3g}",
        fontsize=10,
    )
    return fig


def _powers_over_detector(ax: Axes, v: Validation, fit: PowerFit) -> Any:
    """Draw each LED's fitted power over nominal at its place over the detector's plane."""
    e, d = v.scene.emitters, v.detector
    offset = e.positions_mm - d.center_mm
    uv = np.column_stack([offset @ d.x_axis, offset @ d.y_axis])
    if fit.kind == "emitter":
        scale, ring = fit.scale, fit.outlier
    else:
        index = {str(n): i for i, n in enumerate(fit.names)}
        per = np.array([index[str(c)] for c in e.channel])
        scale, ring = fit.scale[per], fit.outlier[per]
    ax.set_title("fitted / nominal power of each LED (outliers ringed)", fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    art = ax.scatter(uv[:, 0], uv[:, 1], c=scale, cmap="viridis", vmin=0.0, vmax=1.5, s=30,
                     edgecolors="none")  # fmt: skip
    if ring.any():
        ax.scatter(uv[ring, 0], uv[ring, 1], s=160, facecolors="none", edgecolors="red",
                   linewidths=1.5)  # fmt: skip
    xy = v.registration.apply(v.measurement.xy_mm)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    ax.plot([lo[0], hi[0], hi[0], lo[0], lo[0]], [lo[1], lo[1], hi[1], hi[1], lo[1]],
            color="0.5", linewidth=0.8, linestyle="--")  # fmt: skip
    return art


def powers(validation: Validation) -> Figure:
    """Plot each fitted power over nominal with its 95 % interval (module's notes).

    Raises
    ------
    ValueError
        If the validation has no calibration.
    """
    fit = validation.fit
    if fit is None:
        msg = "powers: the validation has no calibration (fit 'none')"
        raise ValueError(msg)
    fig = _figure(max(6.0, min(14.0, 0.12 * len(fit.names) + 4.0)), 4.2)
    ax = fig.subplots()
    index = np.arange(len(fit.names))
    low, high = fit.low_mw / fit.nominal_mw, fit.high_mw / fit.nominal_mw
    bars = np.vstack([fit.scale - low, high - fit.scale])
    for flag, colour, label in ((False, "#1f77b4", "fitted"), (True, "#d62728", "outlier")):
        pick = fit.outlier == flag
        if pick.any():
            ax.errorbar(index[pick], fit.scale[pick], yerr=bars[:, pick], fmt="o", ms=3,
                        color=colour, capsize=2, label=label)  # fmt: skip
    ax.axhline(1.0, color="0.3", linewidth=0.8)
    ax.axhspan(0.8, 1.2, color="0.9", zorder=0, label="nominal +-20 %")
    ax.set_xlabel(f"{fit.kind} ({len(fit.names)}; {fit.edf:.1f} effective parameters)")
    ax.set_ylabel("fitted / nominal power (95 % interval)")
    if len(fit.names) <= 40:
        ax.set_xticks(index, [str(n) for n in fit.names], rotation=90, fontsize=7)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def write_validation_plots(validation: Validation, out_dir: Path) -> list[Path]:
    """Write ``residuals.png`` (and ``powers.png`` with a calibration) into ``out_dir``.

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "residuals.png"]
    residuals(validation).savefig(paths[0])
    if validation.fit is not None:
        paths.append(out_dir / "powers.png")
        powers(validation).savefig(paths[-1])
    return paths
