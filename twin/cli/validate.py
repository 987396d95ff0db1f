"""``twin validate``: a scene's detector against a bench measurement, and calibration."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import numpy as np

from twin._text import table
from twin._validation import as_bounded
from twin.cli._common import positive
from twin.files import check_writable, publish, write_atomic

if TYPE_CHECKING:
    from twin.analysis.validate import Validation

#: Exit status of a validation whose verdict fails under ``--strict``.
EXIT_VERDICT_FAILED = 1
#: Outliers listed one by one in the summary (the rest counted).
LISTED_OUTLIERS = 10


def _cmd_validate(args: argparse.Namespace) -> int:
    from twin._extras import require
    from twin.analysis.measured import read_measured_csv
    from twin.analysis.validate import (
        MAX_OFFSET_LIMIT_MM,
        MIN_OFFSET_MM,
        VALIDATION_NAMES,
        validate,
    )
    from twin.scene import load_scene
    from twin.views.validation_plots import VALIDATION_PLOTS, write_validation_plots

    if args.plots:
        require(("matplotlib",), feature="--plots")
    positive(args.uncertainty_mw_cm2, name="--uncertainty-mw-cm2")
    positive(args.uncertainty_percent, name="--uncertainty-percent")
    as_bounded(
        args.max_offset_mm, name="--max-offset-mm", low=MIN_OFFSET_MM, high=MAX_OFFSET_LIMIT_MM
    )
    check_writable(args.out, name="--out", folder=True)
    scene = load_scene(args.scene)
    measurement = read_measured_csv(
        args.measured,
        uncertainty_mw_cm2=args.uncertainty_mw_cm2,
        uncertainty_percent=args.uncertainty_percent,
    )
    result = validate(
        scene,
        measurement,
        detector=args.detector,
        fit=args.fit,
        register_by=args.register,
        max_offset_mm=args.max_offset_mm,
        backend=args.backend,
    )
    owned = [*VALIDATION_NAMES, *(f"plots/{p}.png" for p in VALIDATION_PLOTS)]
    with publish(args.out, name="--out", owned=owned) as folder:
        files = {folder / name: text for name, text in result.files().items()}
        paths = write_atomic(files, name="--out")
        if args.plots:
            paths += write_validation_plots(result, folder / "plots")
    print(_summary(result))
    names = ", ".join(str(p.relative_to(folder)) for p in paths)
    print(f"wrote {names} to {args.out}")
    if args.strict and not result.passed:
        return EXIT_VERDICT_FAILED
    return 0


def _summary(result: Validation) -> str:
    """Return what ``twin validate`` prints: registration, residuals, verdicts, powers."""
    m, r = result.measurement, result.registration
    lines = [
        f"{result.scene.name}, detector {result.detector.name}, against {m.name}: {len(m)} "
        f"points, uncertainty {m.uncertainty_source}",
    ]
    if r.mode == "none":
        lines.append("registration: none (the points as measured)")
    else:
        turn = f", rotation {r.rotation_deg:+.3f} deg" if r.mode == "rigid" else ""
        lines.append(
            f"registration: offset ({r.offset_mm[0]:+.3f}, {r.offset_mm[1]:+.3f}) mm{turn}; "
            f"measured/model overall {r.scale:.4g}"
        )
        if r.alternatives_mm:
            others = ", ".join(f"({x:+.1f}, {y:+.1f})" for x, y in r.alternatives_mm[:4])
            lines.append(
                f"warning: offsets {others} mm align the model as well (the layout repeats "
                "over the scan); the one nearest zero is taken: narrow --max-offset-mm, or "
                "align the stage and use --register none"
            )
    rows = [("model", "RMS", "max |r|", "bias", "chi2/dof", "limit", "in 2 sigma", "verdict")]
    named = [("as given", result.model)]
    fit = result.fit
    if fit is not None and result.calibrated is not None:
        named.append((f"calibrated ({fit.kind})", result.calibrated))
    for label, res in named:
        rows.append(
            (
                label,
                f"{res.rms_mw_cm2:.4g}",
                f"{res.max_abs_mw_cm2:.4g}",
                f"{res.bias_mw_cm2:+.3g}",
                f"{res.chi2 / res.dof:.3g}",
                f"{res.chi2_limit / res.dof:.3g}",
                f"{res.within_2_sigma:.1%}",
                "PASS" if res.passed else "FAIL",
            )
        )
    lines.append(table(rows) + "\n(RMS, max |r| and bias in mW/cm2; r = measured - model)")
    for label, res in named:
        lines += [f"{label}: {reason}" for reason in res.reasons]
    if fit is not None:
        lines.append(
            f"fitted {len(fit.names)} {fit.kind} powers ({fit.edf:.1f} effective parameters, "
            f"prior {fit.prior_fraction:.0%} of nominal): total {fit.power_mw.sum():.4g} mW "
            f"at full drive (nominal {fit.nominal_mw.sum():.4g} mW)"
        )
        if fit.kind == "channel":
            lines += [
                f"  {n}: x{s:.4g} [{lo / p0:.4g}, {hi / p0:.4g}]"
                for n, s, lo, hi, p0 in zip(
                    fit.names, fit.scale, fit.low_mw, fit.high_mw, fit.nominal_mw, strict=True
                )
            ]
        flagged = np.flatnonzero(fit.outlier)
        lines.append(
            f"outliers (beyond {fit.outlier_sigma:.2f} sigma and 20 %): {len(flagged)}"
            + (":" if len(flagged) else "")
        )
        lines += [
            f"  {fit.names[j]}: {fit.power_mw[j]:.4g} mW [{fit.low_mw[j]:.4g}, "
            f"{fit.high_mw[j]:.4g}], nominal {fit.nominal_mw[j]:.4g} (x{fit.scale[j]:.3g})"
            for j in flagged[:LISTED_OUTLIERS]
        ]
        if len(flagged) > LISTED_OUTLIERS:
            lines.append(f"  ... and {len(flagged) - LISTED_OUTLIERS} more (calibration.csv)")
    return "\n".join(lines)
