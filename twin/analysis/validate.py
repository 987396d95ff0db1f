"""Validation against a bench measurement: registration, residuals, verdict, calibration.

:func:`validate` puts a measured map (:mod:`twin.analysis.measured`) next to a scene's
detector (:mod:`twin.scene.detectors`), as ``twin validate`` does:

1. **Registration** (``register``): the measured points are moved onto the detector's
   plane by the rigid motion that best aligns the model with the measurement: an in-plane
   offset (``offset``, the default; up to ``max_offset_mm``), with a rotation about the
   normal too (``rigid``, up to :data:`MAX_ROTATION_DEG`), or none (``none``). A measured
   point ``xy`` is the detector's point ``R(theta) xy + offset``. The model is cast once on
   a fine grid of the plane (:data:`GRID_PITCH_MM`), searched over offsets on that grid's
   pitch, then refined by least squares on its bicubic interpolant; the fit is weighted by
   ``1 / sigma^2`` and lets one overall factor (``scale``, reported) free, so a power error
   does not pull the alignment. Where offsets a pitch apart fit as well (an LED layout
   periodic over the whole scan: the map cannot tell them apart), the one nearest zero is
   taken and the others are reported (``ambiguous``, ``alternatives_mm``). With a
   calibration, the registration is fitted with the powers (Gauss-Newton: each round fits
   the powers and a linearised step of the registration together, then casts the model
   afresh at the moved points), and its uncertainty widens the powers'.
2. **Residuals**: ``measured - model`` at each point: RMS, largest, mean (``bias``), the
   chi-square ``sum((r / sigma)^2)`` over its degrees of freedom (points less the fitted
   parameters: the registration's and a calibration's effective ones) and the fraction
   within 2 sigma (0.95 expected).
3. **Verdict** against the stated uncertainty: ``pass`` when both
   - the chi-square is within its :data:`VERDICT_CONFIDENCE` (99 %) point: the scatter is
     what the uncertainty explains, and
   - the weighted mean residual is within 2.58 of its standard errors (``1 / sqrt(sum
     1/sigma^2)``, the same 99 %): no overall bias the uncertainty does not explain;
   else ``fail``, with the reasons.
4. **Calibration** (``fit``: ``emitter`` or ``channel``): the powers fitted to the map
   (:mod:`twin.analysis.calibrate`), the residuals and verdict of the calibrated model, and
   the calibrated emitters.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import scipy.interpolate
import scipy.ndimage
import scipy.optimize
import scipy.stats
from numpy.typing import NDArray

from twin._validation import as_bounded, check_choice
from twin.analysis.calibrate import (
    FITS,
    PowerFit,
    calibrated_emitters,
    channel_design,
    drive_levels,
    emitter_design,
    fit_powers,
    fitted_power_mw,
)
from twin.analysis.measured import Measurement
from twin.devices.emitters import Emitters, emitter_csv_text
from twin.engine.backends import Backend, make_backend
from twin.engine.transfer import scene_triangles
from twin.errors import InputError
from twin.files import check_finite_json, publish, write_atomic
from twin.pipeline.detectors import detector_matrix, detector_transfer
from twin.scene import Scene
from twin.scene.detectors import Detector

#: How measured points are moved onto the detector: not at all, by an in-plane offset, or by
#: an offset and a rotation about the normal.
REGISTER = ("none", "offset", "rigid")
#: Largest offset searched by default, mm.
MAX_OFFSET_MM = 10.0
#: Smallest and largest offset range that may be searched, mm.
MIN_OFFSET_MM, MAX_OFFSET_LIMIT_MM = 0.01, 100.0
#: Largest rotation of a ``rigid`` registration, degrees.
MAX_ROTATION_DEG = 5.0
#: Pitch of the grid the model is cast on for registration, mm (coarser where the grid
#: would exceed :data:`MAX_GRID_POINTS` or :data:`MAX_GRID_PAIRS`).
GRID_PITCH_MM = 0.5
#: Most points of the registration grid.
MAX_GRID_POINTS = 40_000
#: Most (grid point, emitter) pairs of the registration grid (its matrix is kept).
MAX_GRID_PAIRS = 10_000_000
#: Confidence of the verdict's two tests.
VERDICT_CONFIDENCE = 0.99
#: A calibration's registration has converged when its step is below this, mm (and as many
#: degrees of rotation).
REGISTRATION_TOLERANCE_MM = 1e-3
#: Most alternative offsets reported (the best-fitting first).
MAX_ALTERNATIVES = 8
#: Most rounds of a calibration's registration; the largest step of a round, mm.
MAX_ROUNDS, MAX_STEP_MM = 20, 2.0

#: The files :meth:`Validation.write` writes (``calibration.csv`` and
#: ``emitters_calibrated.csv`` with a fit).
VALIDATION_NAMES = (
    "validation.json",
    "residuals.csv",
    "calibration.csv",
    "emitters_calibrated.csv",
)


@dataclass(frozen=True)
class ModelField:
    """The model's reading on a regular grid of a detector's plane.

    Attributes
    ----------
    x_mm : (a,) float64, mm
        Increasing.
    y_mm : (b,) float64, mm
        Increasing.
    irradiance_mw_cm2 : (b, a) float64, mW/cm^2
        The reading at ``(x_mm[i], y_mm[j])`` in row ``j``, column ``i``.
    """

    x_mm: NDArray[np.float64]
    y_mm: NDArray[np.float64]
    irradiance_mw_cm2: NDArray[np.float64]

    @cached_property
    def spline(self) -> scipy.interpolate.RectBivariateSpline:
        """The bicubic interpolant, evaluated as ``spline.ev(y, x)``."""
        return scipy.interpolate.RectBivariateSpline(
            self.y_mm, self.x_mm, self.irradiance_mw_cm2, kx=3, ky=3
        )


@dataclass(frozen=True)
class Registration:
    """How measured points sit on the detector: ``R(rotation) xy + offset``.

    Attributes
    ----------
    mode : {"none", "offset", "rigid"}
    offset_mm : (2,) float64, mm
        In the detector's plane coordinates.
    rotation_deg : float, degrees
        About the detector's normal, counter-clockwise from ``x`` towards ``y``.
    scale : float
        The one factor that best matches the model to the measurement there (weighted least
        squares): measured over model, overall.
    alternatives_mm : tuple of (float, float)
        Other offsets that align the model as well (mm): a layout periodic over the scan;
        the one nearest zero was taken. Empty: the registration is unambiguous.
    sigma : tuple of float
        Standard uncertainty of each parameter fitted: the offset's (mm) and the rotation's
        (degrees), from the fit's normal matrix (scaled by ``chi2 / dof`` when over 1).
    """

    mode: str
    offset_mm: NDArray[np.float64]
    rotation_deg: float = 0.0
    scale: float = 1.0
    alternatives_mm: tuple[tuple[float, float], ...] = ()
    sigma: tuple[float, ...] = ()

    @property
    def parameters(self) -> int:
        """Parameters fitted: 0, 2 (an offset) or 3 (and a rotation)."""
        return {"none": 0, "offset": 2, "rigid": 3}[self.mode]

    def apply(self, xy_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return (k, 2) measured points as the detector's plane points, mm."""
        return _moved(xy_mm, self.offset_mm, math.radians(self.rotation_deg))

    def to_dict(self) -> dict[str, Any]:
        """Return the registration's block of ``validation.json``."""
        return {
            "mode": self.mode,
            "offset_mm": [float(v) for v in self.offset_mm],
            "rotation_deg": float(self.rotation_deg),
            "scale": float(self.scale),
            "offset_sigma_mm": [_finite(v) for v in self.sigma[:2]],
            "rotation_sigma_deg": _finite(self.sigma[2]) if len(self.sigma) > 2 else None,
            "ambiguous": bool(self.alternatives_mm),
            "alternatives_mm": [list(a) for a in self.alternatives_mm],
        }


def _finite(value: float) -> float | None:
    """``value``, or ``None`` for an undetermined (infinite) one (JSON has no infinity)."""
    return float(value) if math.isfinite(value) else None


def _moved(
    xy: NDArray[np.float64], offset: NDArray[np.float64], angle: float
) -> NDArray[np.float64]:
    c, s = math.cos(angle), math.sin(angle)
    return np.column_stack(
        [c * xy[:, 0] - s * xy[:, 1] + offset[0], s * xy[:, 0] + c * xy[:, 1] + offset[1]]
    )


def _best_scale(
    measured: NDArray[np.float64], model: NDArray[np.float64], weight: NDArray[np.float64]
) -> float:
    """Return the factor ``a`` minimising ``sum(weight (measured - a model)^2)`` (1: dark)."""
    norm = float(np.sum(weight * model * model))
    return float(np.sum(weight * measured * model)) / norm if norm > 0.0 else 1.0


def register(
    field: ModelField,
    measurement: Measurement,
    *,
    mode: str = "offset",
    max_offset_mm: float = MAX_OFFSET_MM,
) -> Registration:
    """Find the motion that best aligns ``field`` with ``measurement`` (module's notes).

    Parameters
    ----------
    field : ModelField
        The model on a grid covering the measured points moved by up to ``max_offset_mm``
        (and rotated by up to :data:`MAX_ROTATION_DEG` for ``rigid``).
    measurement : Measurement
    mode : {"none", "offset", "rigid"}
    max_offset_mm : float, mm
        Largest offset searched along each axis.

    Returns
    -------
    Registration

    Raises
    ------
    InputError
        For an unknown mode or too few points to fit it.
    """
    check_choice(mode, REGISTER, name="register")
    xy, m = measurement.xy_mm, measurement.irradiance_mw_cm2
    w = 1.0 / measurement.uncertainty_mw_cm2**2
    sqrt_w = np.sqrt(w)
    rigid = mode == "rigid"
    if mode == "none":
        return Registration("none", np.zeros(2), 0.0, 1.0)
    if len(xy) <= {"offset": 2, "rigid": 3}[mode]:
        msg = (
            f"{measurement.name}: expected more than {2 + rigid} points to register by "
            f"{mode}, found {len(xy)}"
        )
        raise InputError(msg)
    if not np.any(field.irradiance_mw_cm2):
        msg = (
            f"{measurement.name}: the model reads no light over the measured points moved by up "
            f"to {max_offset_mm:g} mm, so nothing to register them by; check the detector's "
            "position and normal, or use register 'none'"
        )
        raise InputError(msg)
    spline = field.spline

    def model(q: NDArray[np.float64]) -> NDArray[np.float64]:
        moved = _moved(xy, q[:2], math.radians(q[2]) if rigid else 0.0)
        return spline.ev(moved[:, 1], moved[:, 0])

    def residual(q: NDArray[np.float64]) -> NDArray[np.float64]:
        f = model(q)
        return sqrt_w * (m - _best_scale(m, f, w) * f)

    q0, alternatives = _coarse_search(field, xy, m, w, max_offset_mm)
    low = [-max_offset_mm, -max_offset_mm] + ([-MAX_ROTATION_DEG] if rigid else [])
    high = [max_offset_mm, max_offset_mm] + ([MAX_ROTATION_DEG] if rigid else [])
    start = np.clip(np.append(q0, 0.0)[: len(low)], low, high)
    solution = scipy.optimize.least_squares(residual, start, bounds=(low, high), xtol=1e-10)
    found, jac = solution.x, solution.jac
    birge = max(1.0, 2.0 * solution.cost / max(len(m) - len(found) - 1, 1))
    info = jac.T @ jac
    sigma = np.sqrt(np.diag(np.linalg.pinv(info, hermitian=True)) * birge)
    sigma[np.diag(info) <= 0.0] = math.inf  # a parameter the map does not decide
    return Registration(
        mode,
        np.array(found[:2], dtype=np.float64),
        float(found[2]) if rigid else 0.0,
        _best_scale(m, model(found), w),
        alternatives,
        tuple(float(v) for v in sigma),
    )


def _coarse_search(
    field: ModelField,
    xy: NDArray[np.float64],
    m: NDArray[np.float64],
    w: NDArray[np.float64],
    max_offset_mm: float,
) -> tuple[NDArray[np.float64], tuple[tuple[float, float], ...]]:
    """Search offsets on the field's pitch: the best one and the others that fit as well.

    The chi-square of each offset (the model scaled by its best factor) is computed on the
    grid of offsets; its local minima within the 99 % point of a 2-parameter chi-square of
    the lowest (scaled by the lowest's chi2 / dof when that exceeds 1) fit as well. The one
    nearest zero is taken (a layout periodic over the scan aligns a pitch apart as well as
    where it is: the stage is taken to be roughly aligned); the others, more than two grid
    pitches from it, are returned as alternatives (the :data:`MAX_ALTERNATIVES` best).
    """
    pitch = float(min(np.diff(field.x_mm).min(), np.diff(field.y_mm).min()))
    steps = pitch * np.arange(-(max_offset_mm // pitch), max_offset_mm // pitch + 1)
    linear = scipy.interpolate.RegularGridInterpolator(
        (field.y_mm, field.x_mm), field.irradiance_mw_cm2, bounds_error=False, fill_value=0.0
    )
    chi2 = np.empty((len(steps), len(steps)))  # (dy, dx)
    total = float(np.sum(w * m * m))
    for i, dy in enumerate(steps):
        shifted = xy[None, :, :] + np.column_stack([steps, np.full_like(steps, dy)])[:, None]
        f = linear(shifted[..., ::-1])  # (offsets, k)
        explained = (f * (w * m)).sum(axis=1) ** 2 / np.maximum((f * f * w).sum(axis=1), 1e-300)
        chi2[i] = total - explained
    lowest = float(chi2.min())
    birge = max(1.0, lowest / max(len(m) - 3, 1))
    near = lowest + float(scipy.stats.chi2.ppf(VERDICT_CONFIDENCE, 2)) * birge
    minima = (chi2 == scipy.ndimage.minimum_filter(chi2, size=3, mode="nearest")) & (chi2 <= near)
    rows, cols = np.nonzero(minima)
    order = np.argsort(chi2[rows, cols], kind="stable")
    offsets = np.column_stack([steps[cols], steps[rows]])[order]
    best = offsets[int(np.argmin(np.hypot(offsets[:, 0], offsets[:, 1])))]
    others = offsets[np.hypot(*(offsets - best).T) > 2.0 * pitch][:MAX_ALTERNATIVES]
    return best, tuple((float(x), float(y)) for x, y in others)


def registration_jacobian(
    field: ModelField, registration: Registration, xy_mm: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Return the model's derivative at the registered points in the registration's parameters.

    Parameters
    ----------
    field : ModelField
    registration : Registration
    xy_mm : (k, 2) float64, mm
        The measured points.

    Returns
    -------
    (k, q) float64
        Per mm of each offset (mW/cm^2 per mm) and, for ``rigid``, per degree of rotation;
        ``q`` is :attr:`Registration.parameters` (0 for ``none``).
    """
    moved = registration.apply(xy_mm)
    if registration.mode == "none":
        return np.zeros((len(moved), 0))
    d_x = field.spline.ev(moved[:, 1], moved[:, 0], dy=1)
    d_y = field.spline.ev(moved[:, 1], moved[:, 0], dx=1)
    columns = [d_x, d_y]
    if registration.mode == "rigid":
        turned = moved - registration.offset_mm  # d(R xy)/d(angle) = (-turned_y, turned_x)
        columns.append((turned[:, 0] * d_y - turned[:, 1] * d_x) * math.pi / 180.0)
    return np.column_stack(columns)


@dataclass(frozen=True)
class Residuals:
    """Measured minus model at ``k`` points, against the stated uncertainty.

    Attributes
    ----------
    measured_mw_cm2, model_mw_cm2, sigma_mw_cm2 : (k,) float64, mW/cm^2
    dof : float
        Degrees of freedom: the points less the parameters fitted.
    """

    measured_mw_cm2: NDArray[np.float64]
    model_mw_cm2: NDArray[np.float64]
    sigma_mw_cm2: NDArray[np.float64]
    dof: float

    @property
    def residual_mw_cm2(self) -> NDArray[np.float64]:
        """(k,) float64, mW/cm^2: measured minus model."""
        return self.measured_mw_cm2 - self.model_mw_cm2

    @property
    def rms_mw_cm2(self) -> float:
        """Root mean square residual, mW/cm^2."""
        return float(np.sqrt(np.mean(self.residual_mw_cm2**2)))

    @property
    def max_abs_mw_cm2(self) -> float:
        """Largest absolute residual, mW/cm^2."""
        return float(np.max(np.abs(self.residual_mw_cm2)))

    @property
    def bias_mw_cm2(self) -> float:
        """Mean residual, mW/cm^2 (> 0: the model reads low)."""
        return float(np.mean(self.residual_mw_cm2))

    @property
    def weighted_bias_mw_cm2(self) -> float:
        """Mean residual weighted by ``1 / sigma^2``, mW/cm^2."""
        w = self.sigma_mw_cm2**-2.0
        return float(np.sum(w * self.residual_mw_cm2) / np.sum(w))

    @property
    def bias_standard_error_mw_cm2(self) -> float:
        """Standard error of :attr:`weighted_bias_mw_cm2`, ``1 / sqrt(sum 1/sigma^2)``."""
        return float(1.0 / np.sqrt(np.sum(self.sigma_mw_cm2**-2.0)))

    @property
    def chi2(self) -> float:
        """Sum of squared normalised residuals, ``sum((r / sigma)^2)``."""
        return float(np.sum((self.residual_mw_cm2 / self.sigma_mw_cm2) ** 2))

    @property
    def chi2_limit(self) -> float:
        """The chi-square's :data:`VERDICT_CONFIDENCE` point for :attr:`dof`."""
        return float(scipy.stats.chi2.ppf(VERDICT_CONFIDENCE, self.dof))

    @property
    def within_2_sigma(self) -> float:
        """Fraction of the points with ``|r| <= 2 sigma`` (0.954 for Gaussian errors)."""
        return float(np.mean(np.abs(self.residual_mw_cm2) <= 2.0 * self.sigma_mw_cm2))

    @property
    def bias_limit_se(self) -> float:
        """The bias test's limit in standard errors (2.58 at 99 %)."""
        return float(scipy.stats.norm.ppf(0.5 + VERDICT_CONFIDENCE / 2.0))

    @property
    def reasons(self) -> list[str]:
        """Why the verdict fails (empty: it passes)."""
        out = []
        if self.chi2 > self.chi2_limit:
            out.append(
                f"chi2/dof {self.chi2 / self.dof:.3g} is above {self.chi2_limit / self.dof:.3g} "
                f"(the {VERDICT_CONFIDENCE:.0%} point for {self.dof:.0f} degrees of freedom): "
                "the residuals are larger than the stated uncertainty explains"
            )
        bias, se = self.weighted_bias_mw_cm2, self.bias_standard_error_mw_cm2
        if abs(bias) > self.bias_limit_se * se:
            side = "low" if bias > 0 else "high"
            out.append(
                f"the model reads {side} on average: weighted bias {bias:.4g} mW/cm2 is "
                f"{abs(bias) / se:.3g} standard errors (limit {self.bias_limit_se:.3g})"
            )
        return out

    @property
    def passed(self) -> bool:
        """Whether the verdict passes (:attr:`reasons` is empty)."""
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        """Return the statistics and verdict as ``validation.json`` holds them."""
        peak = float(np.max(np.abs(self.measured_mw_cm2)))
        return {
            "points": len(self.measured_mw_cm2),
            "rms_mw_cm2": self.rms_mw_cm2,
            "max_abs_mw_cm2": self.max_abs_mw_cm2,
            "bias_mw_cm2": self.bias_mw_cm2,
            "rms_percent_of_peak": 100.0 * self.rms_mw_cm2 / peak if peak > 0 else None,
            "weighted_bias_mw_cm2": self.weighted_bias_mw_cm2,
            "bias_standard_error_mw_cm2": self.bias_standard_error_mw_cm2,
            "chi2": self.chi2,
            "dof": float(self.dof),
            "chi2_per_dof": self.chi2 / self.dof,
            "chi2_per_dof_limit": self.chi2_limit / self.dof,
            "within_2_sigma": self.within_2_sigma,
            "verdict": "pass" if self.passed else "fail",
            "reasons": self.reasons,
        }


def residuals(
    measured_mw_cm2: NDArray[np.float64],
    model_mw_cm2: NDArray[np.float64],
    sigma_mw_cm2: NDArray[np.float64],
    *,
    parameters: float = 0.0,
) -> Residuals:
    """Return the residuals of a model, ``parameters`` of it fitted to the measurement.

    Raises
    ------
    InputError
        When no degree of freedom is left.
    """
    dof = len(measured_mw_cm2) - parameters
    if dof <= 0:
        msg = (
            f"{len(measured_mw_cm2)} points leave no degree of freedom for {parameters:g} "
            "fitted parameters; measure more points"
        )
        raise InputError(msg)
    return Residuals(measured_mw_cm2, model_mw_cm2, sigma_mw_cm2, float(dof))


@dataclass(frozen=True)
class Validation:
    """A scene's detector against a measurement (module's notes).

    Attributes
    ----------
    scene : Scene
    detector : Detector
    measurement : Measurement
    registration : Registration
        Where the measured points sit on the detector for the model as given.
    model : Residuals
        The model as given (the scene's powers and drive levels).
    fit : PowerFit or None
        The calibration (``None``: not asked for).
    calibrated_registration : Registration or None
        The registration refined with the fitted powers.
    calibrated : Residuals or None
        The calibrated model.
    emitters : Emitters or None
        The calibrated emitters (those fitted to 0 mW left out).
    """

    scene: Scene
    detector: Detector
    measurement: Measurement
    registration: Registration
    model: Residuals
    fit: PowerFit | None = None
    calibrated_registration: Registration | None = None
    calibrated: Residuals | None = None
    emitters: Emitters | None = None

    @property
    def final(self) -> Residuals:
        """The calibrated model's residuals where there is one, else the model's as given."""
        return self.calibrated or self.model

    @property
    def passed(self) -> bool:
        """The :attr:`final` verdict."""
        return self.final.passed

    def summary(self) -> dict[str, Any]:
        """Return ``validation.json``: the model as given at the top, ``calibrated`` below."""
        m = self.measurement
        out: dict[str, Any] = {
            "scene": self.scene.name,
            "detector": self.detector.name,
            "measured": m.name,
            "uncertainty": {
                "source": m.uncertainty_source,
                "median_mw_cm2": float(np.median(m.uncertainty_mw_cm2)),
            },
            "light": "direct",
            "registration": self.registration.to_dict(),
            **self.model.to_dict(),
        }
        if self.fit is not None and self.calibrated is not None:
            fit = self.fit
            registration = self.calibrated_registration or self.registration
            out["calibrated"] = {
                "fit": fit.kind,
                "registration": registration.to_dict(),
                **self.calibrated.to_dict(),
                "parameters": len(fit.names),
                "effective_parameters": fit.edf,
                "prior_fraction_of_nominal": fit.prior_fraction,
                "outlier_sigma": fit.outlier_sigma,
                "outliers": [str(n) for n in fit.names[fit.outlier]],
                "nominal_mw": float(fit.nominal_mw.sum()),
                "fitted_mw": float(fit.power_mw.sum()),
                "dropped_emitters": len(self.scene.emitters) - len(self.emitters or ()),
            }
        check_finite_json(out, "validation")
        return out

    def residuals_csv(self) -> str:
        """Return ``residuals.csv``: one row per measured point.

        Columns ``x_mm, y_mm`` (as measured), ``x_detector_mm, y_detector_mm`` (registered),
        ``measured_mw_cm2``, ``model_mw_cm2``, ``residual_mw_cm2``, ``uncertainty_mw_cm2``,
        ``normalised`` (residual over uncertainty), then with a calibration
        ``calibrated_mw_cm2`` and ``calibrated_residual_mw_cm2``.
        """
        m = self.measurement
        cols = [m.xy_mm, self.registration.apply(m.xy_mm)]
        r = self.model
        cols += [r.measured_mw_cm2, r.model_mw_cm2, r.residual_mw_cm2, r.sigma_mw_cm2]
        cols += [r.residual_mw_cm2 / r.sigma_mw_cm2]
        header = "x_mm,y_mm,x_detector_mm,y_detector_mm,measured_mw_cm2,model_mw_cm2,"
        header += "residual_mw_cm2,uncertainty_mw_cm2,normalised"
        if self.calibrated is not None:
            cols += [self.calibrated.model_mw_cm2, self.calibrated.residual_mw_cm2]
            header += ",calibrated_mw_cm2,calibrated_residual_mw_cm2"
        out = io.StringIO()
        out.write(header + "\n")
        table = np.column_stack([np.reshape(c, (len(m), -1)) for c in cols])
        np.savetxt(out, table, delimiter=",", fmt="%.9g")
        return out.getvalue()

    def files(self) -> dict[str, str]:
        """Return the result files by name (:data:`VALIDATION_NAMES`, those that apply)."""
        out = {
            "validation.json": json.dumps(self.summary(), indent=2) + "\n",
            "residuals.csv": self.residuals_csv(),
        }
        if self.fit is not None:
            out["calibration.csv"] = self.fit.csv_text(
                channel=self.scene.emitters.channel if self.fit.kind == "emitter" else None
            )
        if self.emitters is not None:
            out["emitters_calibrated.csv"] = emitter_csv_text(self.emitters)
        return out

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write the result files into ``out_dir``, published whole (:func:`twin.files.publish`).

        Returns
        -------
        list of Path
            The files written.

        Raises
        ------
        InputError
            If ``out_dir`` cannot be written.
        """
        out = Path(out_dir)
        with publish(out, name="out_dir", owned=VALIDATION_NAMES) as stage:
            paths = write_atomic(
                {stage / name: text for name, text in self.files().items()}, name="out_dir"
            )
        return [out / p.relative_to(stage) for p in paths]


def pick_detector(scene: Scene, name: str | None) -> Detector:
    """Return the scene's detector ``name`` (default: its only one).

    Raises
    ------
    InputError
        If the scene has no detector, several and no name, or none of that name.
    """
    names = [d.name for d in scene.detectors]
    if not names:
        msg = (
            f"{scene.name}: expected a detector to validate against, found none; add a "
            "'detectors:' section (README, 'Detectors and bench validation')"
        )
        raise InputError(msg)
    if name is None:
        if len(names) > 1:
            msg = f"{scene.name}: expected --detector NAME, one of {', '.join(names)}"
            raise InputError(msg)
        return scene.detectors[0]
    for d in scene.detectors:
        if d.name == name:
            return d
    msg = f"detector: expected one of the scene's detectors ({', '.join(names)}), got {name!r}"
    raise InputError(msg)


def model_field(
    scene: Scene,
    detector: Detector,
    measurement: Measurement,
    *,
    mode: str,
    max_offset_mm: float,
    backend: Backend,
) -> tuple[NDArray[np.float64], NDArray[np.float64], Any]:
    """Cast the model on the registration grid: its axes and (grid points, n) sparse matrix.

    The grid covers the measured points moved by up to ``max_offset_mm`` (and rotated by up
    to :data:`MAX_ROTATION_DEG` about the plane's origin for ``rigid``) and three pitches
    more, at :data:`GRID_PITCH_MM` or coarser to stay within :data:`MAX_GRID_POINTS` and
    :data:`MAX_GRID_PAIRS`.
    """
    xy = measurement.xy_mm
    turn = float(np.linalg.norm(xy, axis=1).max()) * math.sin(math.radians(MAX_ROTATION_DEG))
    reach = max_offset_mm + (turn if mode == "rigid" else 0.0)
    low, high = xy.min(axis=0) - reach, xy.max(axis=0) + reach
    n = max(len(scene.emitters), 1)
    most = max(16, min(MAX_GRID_POINTS, MAX_GRID_PAIRS // n))
    area = float(np.prod(high - low + 6.0 * GRID_PITCH_MM))
    pitch = max(GRID_PITCH_MM, math.sqrt(area / most))
    low, high = low - 3.0 * pitch, high + 3.0 * pitch
    x = np.arange(low[0], high[0] + pitch / 2, pitch)
    y = np.arange(low[1], high[1] + pitch / 2, pitch)
    xx, yy = np.meshgrid(x, y)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    return x, y, detector_transfer(scene, detector, xy_mm=points, backend=backend)


def validate(
    scene: Scene,
    measurement: Measurement,
    *,
    detector: str | None = None,
    fit: str = "none",
    register_by: str = "offset",
    max_offset_mm: float = MAX_OFFSET_MM,
    backend: Backend | str | None = None,
) -> Validation:
    """Validate a scene's detector against a measurement and, if asked, calibrate (notes).

    Parameters
    ----------
    scene : Scene
        Its emitters at its drive levels light the detector.
    measurement : Measurement
        In the detector's plane coordinates.
    detector : str, optional
        The detector's name (default: the scene's only one).
    fit : {"none", "emitter", "channel"}
        Fit each emitter's power, each channel's (its emitters scaled together), or none.
    register_by : {"offset", "rigid", "none"}
        How the measured points are aligned with the detector.
    max_offset_mm : float, mm
        Largest offset searched along each axis, in [:data:`MIN_OFFSET_MM`,
        :data:`MAX_OFFSET_LIMIT_MM`].
    backend : Backend or str, optional
        A backend over the scene's target and occluders, or its name (default: the scene's).

    Returns
    -------
    Validation

    Raises
    ------
    InputError
        For an unknown detector, fit or registration, an offset out of range, or too few
        points for the parameters fitted.
    """
    check_choice(fit, FITS, name="fit")
    check_choice(register_by, REGISTER, name="register")
    reach = as_bounded(
        max_offset_mm, name="max_offset_mm", low=MIN_OFFSET_MM, high=MAX_OFFSET_LIMIT_MM
    )
    det = pick_detector(scene, detector)
    if backend is None or isinstance(backend, str):
        triangles = scene_triangles(scene.target, scene.occluders)
        backend = make_backend(backend or scene.engine.backend, triangles)
    m = measurement
    level = drive_levels(scene.emitters, scene.drive)
    power = scene.emitters.power_mw * level
    none = Registration("none", np.zeros(2))
    grid = None
    registration = none
    if register_by != "none":
        x, y, grid = model_field(
            scene, det, m, mode=register_by, max_offset_mm=reach, backend=backend
        )
        field = ModelField(x, y, np.reshape(grid @ power, (len(y), len(x))))
        registration = register(field, m, mode=register_by, max_offset_mm=reach)
    per_mw = detector_matrix(scene, det, xy_mm=registration.apply(m.xy_mm), backend=backend)
    values, sigma = m.irradiance_mw_cm2, m.uncertainty_mw_cm2
    given = residuals(values, per_mw @ power, sigma, parameters=registration.parameters)
    if fit == "none":
        return Validation(scene, det, m, registration, given)
    if grid is None:
        power_fit = _fit(per_mw, scene, m, fit, None)
        refined = registration
    else:
        power_fit, refined = _fit_registered(
            grid, (x, y), per_mw, scene, det, m, fit, registration, reach, backend
        )
    calibrated = Residuals(values, power_fit.model_mw_cm2, sigma, power_fit.dof)
    return Validation(
        scene,
        det,
        m,
        registration,
        given,
        power_fit,
        refined,
        calibrated,
        calibrated_emitters(power_fit, scene.emitters),
    )


def _fit_registered(
    grid: Any,
    axes: tuple[NDArray[np.float64], NDArray[np.float64]],
    per_mw: NDArray[np.float64],
    scene: Scene,
    detector: Detector,
    m: Measurement,
    kind: str,
    registration: Registration,
    reach: float,
    backend: Backend,
) -> tuple[PowerFit, Registration]:
    """Fit the powers and the registration together (Gauss-Newton on the registration).

    Each round fits the powers and a linearised step of the registration's parameters at
    once (:func:`fit_powers` with the model's derivative as ``nuisance``, from the model
    field at the powers fitted last), moves the points by the step and casts the model there
    afresh, until the step is below :data:`REGISTRATION_TOLERANCE_MM` (mm, and degrees).
    The offset stays within half the distance to the nearest alternative of the search
    (:attr:`Registration.alternatives_mm`): in the basin the search chose.
    """
    x, y = axes
    level = drive_levels(scene.emitters, scene.drive)
    power = scene.emitters.power_mw * level * registration.scale
    rigid = registration.mode == "rigid"
    start = registration.offset_mm
    others = np.reshape(registration.alternatives_mm, (-1, 2))
    basin = 0.5 * float(np.hypot(*(others - start).T).min()) if len(others) else math.inf
    for _ in range(MAX_ROUNDS):
        for _ in range(2):  # the derivative at the powers this round fits
            field = ModelField(x, y, np.reshape(grid @ power, (len(y), len(x))))
            jacobian = registration_jacobian(field, registration, m.xy_mm)
            power_fit = _fit(per_mw, scene, m, kind, jacobian)
            power = fitted_power_mw(power_fit, scene.emitters) * level
        step = power_fit.nuisance_step
        offset = registration.offset_mm + np.clip(step[:2], -MAX_STEP_MM, MAX_STEP_MM)
        away = float(np.hypot(*(offset - start)))
        if away > basin:
            offset = start + (offset - start) * basin / away
        offset = np.clip(offset, -reach, reach)
        angle = registration.rotation_deg
        if rigid:
            angle = float(
                np.clip(angle + np.clip(step[2], -1.0, 1.0), -MAX_ROTATION_DEG, MAX_ROTATION_DEG)
            )
        done = np.abs(step[:2]).max() < REGISTRATION_TOLERANCE_MM and (
            not rigid or abs(step[2]) < REGISTRATION_TOLERANCE_MM
        )
        if done:
            break
        registration = dataclasses.replace(registration, offset_mm=offset, rotation_deg=angle)
        per_mw = detector_matrix(
            scene, detector, xy_mm=registration.apply(m.xy_mm), backend=backend
        )
    w = m.uncertainty_mw_cm2**-2.0
    scale = _best_scale(m.irradiance_mw_cm2, per_mw @ power, w)
    sigma = tuple(float(v) for v in power_fit.nuisance_sigma)
    return power_fit, dataclasses.replace(registration, scale=scale, sigma=sigma)


def _fit(
    per_mw: NDArray[np.float64],
    scene: Scene,
    m: Measurement,
    kind: str,
    nuisance: NDArray[np.float64] | None,
) -> PowerFit:
    """Fit the emitters' or channels' powers (registration derivatives ``nuisance``)."""
    e = scene.emitters
    if kind == "emitter":
        design, nominal, names = emitter_design(per_mw, e, scene.drive), e.power_mw, e.ids
    else:
        design, nominal, channels = channel_design(per_mw, e, scene.drive)
        names = np.array(channels)
    return fit_powers(
        design,
        m.irradiance_mw_cm2,
        m.uncertainty_mw_cm2,
        nominal,
        kind=kind,
        names=names,
        nuisance=nuisance,
    )
