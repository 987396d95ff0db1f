"""Calibration: fit LED (or channel) powers to a measured irradiance map.

A detector reading is linear in each emitter's power: ``reading = G @ power`` with ``G``
(points x parameters) the reading per mW of each parameter (one emitter, or one channel's
emitters together at their nominal power ratios), times its drive level. :func:`fit_powers`
solves for the powers by bounded, weighted, regularised least squares:

    minimise  sum_i ((G p - m)_i / sigma_i)^2  +  sum_j ((p_j - p0_j) / (f p0_j))^2,  p >= 0

- ``sigma_i`` is each reading's stated standard uncertainty (mW/cm^2);
- the second term is a Gaussian prior on each power: its nominal value ``p0_j``, with a
  standard deviation of ``f = PRIOR_FRACTION`` (50 %) of it. Per-LED fits are ill-posed
  where LEDs overlap (1000 LEDs measured at 1700 points): the prior keeps the powers the map
  cannot tell apart near their nominal values instead of letting them trade off wildly. It
  is weak where the map decides (a well-measured LED moves wherever the data say) and it is
  all there is for an LED whose light misses the measured points (that LED keeps its nominal
  power and an interval about twice the prior's width);
- ``p >= 0`` (``scipy.optimize.lsq_linear``): a dead LED fits to 0, not below.

Uncertainty (the Gauss-Markov/Bayesian-linear answer, the bound ignored): the covariance
of the powers is ``C = (G^T W G + P)^-1`` (``W = diag(1/sigma^2)``, ``P`` the prior's
precision), with the registration's parameters in the normal matrix too (the model's
derivative in the offset and rotation: an uncertain alignment widens the powers'
intervals), scaled by ``chi2 / dof`` when that exceeds 1 (the stated uncertainty explains
the scatter less than it should: widen, never narrow, the intervals). The 95 % interval is
``p +- 1.96 sqrt(C_jj)``, its lower end at least 0. The effective number of fitted
parameters is ``edf = trace(C G^T W G)``, the sum of each parameter's ``data_fraction``
(the share of its value the measurement decides rather than the prior, 0..1); the
residuals have ``dof = points - edf - registration parameters`` degrees of freedom.

Outliers (a dead or weak LED found from a map): a parameter whose fitted power differs from
its nominal value by more than ``z`` standard deviations, ``z`` the two-sided Bonferroni
bound for a family-wise false-alarm rate of 5 % over all the parameters (3.23 for 40 LEDs,
4.06 for 1000), and by more than :data:`OUTLIER_RELATIVE` (20 %) of nominal.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.stats
from numpy.typing import ArrayLike, NDArray

from twin._validation import as_bounded, check_choice, check_finite
from twin.devices.emitters import Emitters
from twin.errors import InputError

#: What a fit varies: each emitter's power, each channel's power (its emitters scaled
#: together), or nothing.
FITS = ("emitter", "channel", "none")
#: The prior's standard deviation on each power, a fraction of its nominal value.
PRIOR_FRACTION = 0.5
#: Confidence of the reported intervals.
CONFIDENCE = 0.95
#: Family-wise false-alarm rate of the outlier test over all the fitted parameters.
OUTLIER_FAMILY_ALPHA = 0.05
#: Smallest relative change of a power flagged as an outlier.
OUTLIER_RELATIVE = 0.2


@dataclass(frozen=True)
class PowerFit:
    """Fitted powers with their uncertainty, for ``m`` parameters (emitters or channels).

    Attributes
    ----------
    kind : {"emitter", "channel"}
    names : (m,) str
        Each parameter's name: the emitter's id or the channel's name.
    nominal_mw : (m,) float64, mW
        The scene's power at full drive (a channel's: its emitters' sum).
    power_mw : (m,) float64, mW
        The fitted power at full drive (>= 0).
    sigma_mw : (m,) float64, mW
        Its standard uncertainty (scaled by ``sqrt(chi2 / dof)`` when that exceeds 1).
    low_mw, high_mw : (m,) float64, mW
        The :data:`CONFIDENCE` interval, ``low_mw >= 0``.
    data_fraction : (m,) float64
        The share of each fitted value decided by the measurement rather than the prior, in
        [0, 1]: 0 for a parameter whose light misses every measured point.
    outlier : (m,) bool
        Fitted power off its nominal value beyond ``outlier_sigma`` standard deviations and
        :data:`OUTLIER_RELATIVE`.
    model_mw_cm2 : (k,) float64, mW/cm^2
        The fitted model at the measured points, ``G @ power_mw`` (plus the nuisance
        parameters' linear term).
    chi2 : float
        Sum of squared normalised residuals of the fit (data only, not the prior).
    edf : float
        Effective number of fitted parameters, ``sum(data_fraction)``.
    dof : float
        Residual degrees of freedom, ``points - edf - q`` (``q`` nuisance parameters).
    outlier_sigma : float
        The outlier test's threshold, in standard deviations.
    prior_fraction : float
        The prior's standard deviation, a fraction of each nominal power.
    nuisance_step : (q,) float64
        The nuisance parameters fitted (:func:`fit_powers`), per their unit.
    nuisance_sigma : (q,) float64
        Their standard uncertainty (scaled as ``sigma_mw``).
    """

    kind: str
    names: NDArray[np.str_]
    nominal_mw: NDArray[np.float64]
    power_mw: NDArray[np.float64]
    sigma_mw: NDArray[np.float64]
    low_mw: NDArray[np.float64]
    high_mw: NDArray[np.float64]
    data_fraction: NDArray[np.float64]
    outlier: NDArray[np.bool_]
    model_mw_cm2: NDArray[np.float64]
    chi2: float
    edf: float
    dof: float
    outlier_sigma: float
    prior_fraction: float
    nuisance_step: NDArray[np.float64]
    nuisance_sigma: NDArray[np.float64]

    @property
    def scale(self) -> NDArray[np.float64]:
        """(m,) float64: fitted over nominal power."""
        return self.power_mw / self.nominal_mw

    def csv_text(self, *, channel: ArrayLike | None = None) -> str:
        """Return ``calibration.csv``: one row per parameter.

        Columns: ``id`` (an emitter fit) or ``channel`` (a channel fit), ``power_mw``,
        ``power_low_mw``, ``power_high_mw``, ``outlier`` (``true``/``false``), then
        ``channel`` (an emitter fit given ``channel``), ``nominal_mw``, ``scale``,
        ``scale_low``, ``scale_high`` (the powers over nominal), ``sigma_mw`` and
        ``data_fraction``.

        Parameters
        ----------
        channel : (m,) array_like of str, optional
            Each emitter's channel (an emitter fit).
        """
        chans = None if channel is None or self.kind != "emitter" else np.asarray(channel, str)
        header = ["id" if self.kind == "emitter" else "channel", "power_mw", "power_low_mw"]
        header += ["power_high_mw", "outlier", *(["channel"] if chans is not None else [])]
        header += ["nominal_mw", "scale", "scale_low", "scale_high", "sigma_mw", "data_fraction"]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for j, name in enumerate(self.names):
            p0 = self.nominal_mw[j]
            powers = (self.power_mw[j], self.low_mw[j], self.high_mw[j])
            row = [str(name), *(f"{v:.6g}" for v in powers)]
            row += ["true" if self.outlier[j] else "false"]
            row += [] if chans is None else [str(chans[j])]
            row += [f"{p0:.6g}", *(f"{v / p0:.6g}" for v in powers)]
            row += [f"{self.sigma_mw[j]:.6g}", f"{self.data_fraction[j]:.4f}"]
            writer.writerow(row)
        return out.getvalue()


def outlier_threshold_sigma(count: int) -> float:
    """Return the outlier test's threshold in standard deviations for ``count`` parameters.

    The two-sided Bonferroni bound: ``Phi^-1(1 - alpha / (2 count))`` with ``alpha`` =
    :data:`OUTLIER_FAMILY_ALPHA`, so a set of powers all at their nominal values has at most
    a 5 % chance of any false flag.
    """
    return float(scipy.stats.norm.ppf(1.0 - OUTLIER_FAMILY_ALPHA / (2.0 * max(count, 1))))


def fit_powers(
    design: ArrayLike,
    measured_mw_cm2: ArrayLike,
    sigma_mw_cm2: ArrayLike,
    nominal_mw: ArrayLike,
    *,
    kind: str = "emitter",
    names: ArrayLike | None = None,
    prior_fraction: float = PRIOR_FRACTION,
    nuisance: ArrayLike | None = None,
) -> PowerFit:
    """Fit the powers of ``m`` parameters to ``k`` readings (see the module's notes).

    Parameters
    ----------
    design : (k, m) array_like of float, mW/cm^2 per mW
        Each point's reading per mW of each parameter's power at full drive (its drive level
        folded in).
    measured_mw_cm2 : (k,) array_like of float, mW/cm^2
    sigma_mw_cm2 : (k,) array_like of float, mW/cm^2
        Each reading's standard uncertainty, > 0.
    nominal_mw : (m,) array_like of float, mW
        Each parameter's nominal power at full drive, > 0: the prior's centre and scale.
    kind : {"emitter", "channel"}
        What a parameter is (named in ``calibration.csv``).
    names : (m,) array_like of str, optional
        Each parameter's name (default ``"0", "1", ...``).
    prior_fraction : float
        The prior's standard deviation, a fraction of each nominal power, in (0, 100].
    nuisance : (k, q) array_like of float, optional
        The model's derivative in ``q`` parameters fitted with the powers, linearised (a
        registration's offset and rotation, mW/cm^2 per mm and per degree): solved for with
        the powers, unbounded and with no prior (:attr:`PowerFit.nuisance_step`), taken off
        the degrees of freedom, and in the covariance, so their uncertainty widens the
        powers'.

    Returns
    -------
    PowerFit

    Raises
    ------
    InputError
        For arrays of mismatched shapes, non-finite values, an uncertainty or nominal power
        not > 0, or no degree of freedom left.
    """
    check_choice(kind, FITS[:2], name="kind")
    f = as_bounded(prior_fraction, name="prior_fraction", low=1e-6, high=100.0)
    g = np.asarray(design, dtype=np.float64)
    m = np.asarray(measured_mw_cm2, dtype=np.float64)
    s = np.asarray(sigma_mw_cm2, dtype=np.float64)
    p0 = np.asarray(nominal_mw, dtype=np.float64)
    if g.ndim != 2 or m.shape != (len(g),) or s.shape != m.shape or p0.shape != g.shape[1:]:
        msg = (
            f"fit_powers: expected design (k, m), measured (k,), sigma (k,) and nominal (m,), "
            f"got {g.shape}, {m.shape}, {s.shape} and {p0.shape}"
        )
        raise InputError(msg)
    for arr, name in ((g, "design"), (m, "measured_mw_cm2"), (s, "sigma_mw_cm2")):
        check_finite(arr, name=name)
    if not (np.all(s > 0) and np.all(p0 > 0) and np.all(np.isfinite(p0))):
        msg = "fit_powers: expected every sigma_mw_cm2 and nominal_mw > 0"
        raise InputError(msg)
    k, count = g.shape
    extra = np.zeros((k, 0)) if nuisance is None else np.asarray(nuisance, dtype=np.float64)
    if extra.ndim != 2 or len(extra) != k:
        msg = f"fit_powers: expected nuisance of shape ({k}, q), got {extra.shape}"
        raise InputError(msg)
    check_finite(extra, name="nuisance")
    label = np.arange(count).astype(str) if names is None else np.asarray(names, dtype=str)
    # Solve in relative powers u = p / p0 (columns of like size), data weighted by 1/sigma.
    gw = g * p0[None, :] / s[:, None]
    mw = m / s
    q = extra.shape[1]
    # A parameter whose light reaches no point keeps its prior: u = 1, variance f^2.
    seen = np.flatnonzero(np.any(g != 0.0, axis=0))
    ns = len(seen)
    both = np.hstack([gw[:, seen], extra / s[:, None]])
    normal = both.T @ both
    normal[np.arange(ns), np.arange(ns)] += 1.0 / f**2
    inverse = _inverse(normal)
    solved = inverse @ (both.T @ mw + np.concatenate([np.full(ns, 1.0 / f**2), np.zeros(q)]))
    if np.any(solved[:ns] < 0.0):  # a bound is active: solve again, bounded
        prior = np.hstack([np.eye(ns) / f, np.zeros((ns, q))])
        solved = scipy.optimize.lsq_linear(
            np.vstack([both, prior]),
            np.concatenate([mw, np.full(ns, 1.0 / f)]),
            bounds=(np.concatenate([np.zeros(ns), np.full(q, -np.inf)]), np.inf),
            method="bvls",
        ).x
    u, step = np.ones(count), solved[ns:]
    u[seen] = solved[:ns]
    cov = np.full(count, f**2)
    cov[seen] = np.diag(inverse)[:ns]
    data_fraction = np.clip(1.0 - cov / f**2, 0.0, 1.0)
    edf = float(data_fraction.sum())
    chi2 = float(np.sum((both @ solved - mw) ** 2))
    dof = k - edf - q
    if dof <= 0:
        msg = (
            f"fit_powers: {k} points leave no degree of freedom for {edf:.1f} effective "
            f"parameters and {q} more; measure more points"
        )
        raise InputError(msg)
    birge = max(1.0, chi2 / dof)
    sigma_u = np.sqrt(cov * birge)
    z = float(scipy.stats.norm.ppf(0.5 + CONFIDENCE / 2.0))
    threshold = outlier_threshold_sigma(count)
    change = np.abs(u - 1.0)
    return PowerFit(
        kind=kind,
        names=label,
        nominal_mw=p0,
        power_mw=u * p0,
        sigma_mw=sigma_u * p0,
        low_mw=np.maximum(u - z * sigma_u, 0.0) * p0,
        high_mw=(u + z * sigma_u) * p0,
        data_fraction=data_fraction,
        outlier=(change > threshold * sigma_u) & (change > OUTLIER_RELATIVE),
        model_mw_cm2=g @ (u * p0) + extra @ step,
        chi2=chi2,
        edf=edf,
        dof=dof,
        outlier_sigma=threshold,
        prior_fraction=f,
        nuisance_step=step,
        nuisance_sigma=np.sqrt(np.diag(inverse)[ns:] * birge),
    )


def _inverse(normal: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the inverse of a symmetric positive semi-definite matrix (Cholesky, else pinv)."""
    try:
        factor = scipy.linalg.cho_factor(normal)
    except np.linalg.LinAlgError:  # a registration parameter the map does not decide
        return np.asarray(np.linalg.pinv(normal, hermitian=True), dtype=np.float64)
    return np.asarray(scipy.linalg.cho_solve(factor, np.eye(len(normal))), dtype=np.float64)


def channel_design(
    per_mw: NDArray[np.float64], emitters: Emitters, drive: dict[str, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Fold emitters' readings per mW into one column per channel.

    Parameters
    ----------
    per_mw : (k, n) float64, mW/cm^2 per mW
        Each point's reading per mW of each emitter (its power, not drive-scaled).
    emitters : Emitters
    drive : dict of str to float
        Each channel's drive level.

    Returns
    -------
    design : (k, c) float64, mW/cm^2 per mW
        Each point's reading per mW of each channel's power at full drive, its emitters at
        their nominal power ratios.
    nominal_mw : (c,) float64, mW
        Each channel's power at full drive: its emitters' sum.
    channels : list of str
        (c,) the channels, in order of first appearance.
    """
    channels = emitters.channels
    design = np.zeros((len(per_mw), len(channels)))
    nominal = np.zeros(len(channels))
    for c, name in enumerate(channels):
        mine = emitters.channel == name
        nominal[c] = emitters.power_mw[mine].sum()
        share = emitters.power_mw[mine] / nominal[c]
        design[:, c] = per_mw[:, mine] @ share * drive.get(name, 0.0)
    return design, nominal, channels


def emitter_design(
    per_mw: NDArray[np.float64], emitters: Emitters, drive: dict[str, float]
) -> NDArray[np.float64]:
    """Return (k, n) readings per mW of each emitter's power at full drive (drive folded in)."""
    return per_mw * drive_levels(emitters, drive)[None, :]


def drive_levels(emitters: Emitters, drive: dict[str, float]) -> NDArray[np.float64]:
    """Return (n,) each emitter's drive level, its channel's (0 for a channel not named)."""
    return np.array([drive.get(str(c), 0.0) for c in emitters.channel])


def calibrated_emitters(fit: PowerFit, emitters: Emitters) -> Emitters:
    """Return ``emitters`` with the fitted powers; those fitted to 0 mW are left out.

    An emitter CSV holds powers > 0 only: a dead LED (fitted below 1e-9 of its nominal
    power) is dropped from the calibrated set, as a dead LED emits nothing.

    Parameters
    ----------
    fit : PowerFit
        An emitter fit of ``emitters`` or a channel fit of their channels.
    emitters : Emitters

    Returns
    -------
    Emitters
    """
    power = fitted_power_mw(fit, emitters)
    keep = power > 1e-9 * emitters.power_mw
    return emitters.derive(keep, power_mw=power[keep], name="calibrated emitters")


def fitted_power_mw(fit: PowerFit, emitters: Emitters) -> NDArray[np.float64]:
    """Return (n,) each emitter's fitted power at full drive, mW (a channel fit's: scaled).

    Parameters
    ----------
    fit : PowerFit
        An emitter fit of ``emitters`` or a channel fit of their channels.
    emitters : Emitters
    """
    if fit.kind == "emitter":
        return fit.power_mw
    scale = dict(zip(fit.names, fit.scale, strict=True))
    return emitters.power_mw * np.array([scale[str(c)] for c in emitters.channel])
