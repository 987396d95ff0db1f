"""Drive-level optimisation on dose problems built in memory: hand-solved optima, symmetry,
hard limits, refusals, drive groups, per-wearer metrics, a dose aimed at depth; and
``twin optimise`` end to end, at the surface and at depth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import twin
from twin.analysis.groups import drive_groups
from twin.analysis.optimise import (
    OBJECTIVES,
    drive_metrics,
    misplaced,
    optimise_drive,
    optimised_scene,
)
from twin.analysis.optimise_run import run_optimisation
from twin.analysis.problem import DepthObjective, DoseProblem
from twin.cli import main
from twin.devices.layout import offset_shell_layout
from twin.dose.hazards import blue_irradiance_limit_mw_cm2, blue_radiance_limit_w_m2_sr
from twin.dose.maps import DoseSettings
from twin.dose.registry import WEARER, metric
from twin.errors import InputError
from twin.geometry import phantoms
from twin.scene import scene_from_dict
from twin.units import fluence_j_cm2

#: At this exposure an irradiance of 1 mW/cm2 gives a fluence of 1 J/cm2.
EXPOSURE_S = 1000.0


def problem(matrix, *, power_mw=1.0, channel="red", window=(0.5, 5.0), dose=None, **extra):
    """A dose problem in memory: every point treated, equal areas unless ``extra`` says
    otherwise, every channel at full drive, 1 mW/cm2 = 1 J/cm2."""
    matrix = np.asarray(matrix, dtype=float)
    k, n = matrix.shape
    channel = np.broadcast_to(np.asarray(channel, dtype=str), (n,))
    fields = {
        "ir": np.zeros(n, dtype=bool),
        "areas_mm2": np.ones(k),
        "roi": np.ones(k, dtype=bool),
        "channel_levels": {str(c): 1.0 for c in channel},
        "exposure_s": EXPOSURE_S,
        **extra,
    }
    return DoseProblem(
        matrix,
        power_mw=np.full(n, power_mw) if np.ndim(power_mw) == 0 else power_mw,
        channel=channel,
        dose=dose or DoseSettings(fluence_window_j_cm2=window),
        **fields,
    )


def mean_fluence(p: DoseProblem, drive) -> float:
    e = p.matrix @ (p.power_mw * drive)
    return float(np.average(e[p.roi], weights=p.areas_mm2[p.roi])) * p.exposure_s / 1000.0


def test_minmax_finds_the_hand_solved_optimum():
    # max min(d1, 2 d2) with d1 + d2 <= 1.2 mW: d1 = 2 d2, so d = (0.8, 0.4).
    p = problem([[1.0, 0.0], [0.0, 2.0]])
    res = optimise_drive(p, objective="minmax", budget_mw=1.2)
    np.testing.assert_allclose(res.emitter_drive, [0.8, 0.4], rtol=1e-7)
    assert res.solver == "highs"


def test_uniformity_finds_the_least_squares_optimum():
    # One LED: d* = sum w a t / sum w a^2 (every treated point is in the sample).
    rng = np.random.default_rng(1)
    a, w = rng.uniform(0.5, 1.5, 50), rng.uniform(1.0, 2.0, 50)
    p = problem(a[:, None], window=(0.2, 1.0), areas_mm2=w)
    res = optimise_drive(p, objective="uniformity")
    expected = np.sum(w * a * 0.6) / np.sum(w * a * a)  # 0.6: mid-window
    np.testing.assert_allclose(res.emitter_drive, [expected], rtol=1e-6)
    assert res.solver == "lsq_linear"
    # Both LEDs of one channel at one level d: (d - 0.8) + 2 (2 d - 0.8) = 0, d = 0.48.
    p = problem([[1.0, 0.0], [0.0, 2.0]], window=(0.4, 1.2))
    res = optimise_drive(p, objective="uniformity", group="channel")
    assert res.groups == ["red"]
    np.testing.assert_allclose(res.group_levels, [0.48], rtol=1e-6)
    np.testing.assert_allclose(res.emitter_drive, [0.48, 0.48], rtol=1e-6)


def test_coverage_brings_every_point_into_a_window_it_can_reach():
    p = problem([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.5, 4.0]], window=(0.4, 1.2))
    res = optimise_drive(p, objective="coverage")
    fluence = p.matrix @ res.emitter_drive
    assert np.all((fluence >= 0.4 - 1e-7) & (fluence <= 1.2 + 1e-7))


def test_symmetric_problems_get_symmetric_drives():
    # Two LEDs mirrored across the middle of a row of points.
    x = np.linspace(-1.0, 1.0, 41)
    a = np.exp(-(((x - 0.3) / 0.4) ** 2))
    p = problem(np.column_stack([a, a[::-1]]), window=(0.3, 0.9))
    # Least squares has one optimum, so symmetric; a linear programme's optimum can be a
    # whole edge, of which it returns a vertex: there the mirrored answer is as good.
    d = optimise_drive(p, objective="uniformity").emitter_drive
    np.testing.assert_allclose(d[0], d[1], rtol=1e-6)
    for objective in ("coverage", "minmax"):
        d = optimise_drive(p, objective=objective).emitter_drive
        h, mirrored = (p.matrix @ x for x in (d, d[::-1]))
        if objective == "minmax":
            np.testing.assert_allclose(h.min(), mirrored.min(), rtol=1e-6, atol=1e-9)
        else:
            outside = [
                np.sum(np.clip(0.3 - f, 0, None) + np.clip(f - 0.9, 0, None))
                for f in (h, mirrored)
            ]
            np.testing.assert_allclose(outside[0], outside[1], rtol=1e-5, atol=1e-9)


def limits_problem() -> DoseProblem:
    """300 points under 12 red and NIR LEDs, the last 30 points an eye region (untreated),
    with limits full drive breaks and a window a uniform 40 % drive meets."""
    rng = np.random.default_rng(0)
    points = rng.uniform(0.0, 1.0, (300, 2))
    leds = np.stack(np.meshgrid(np.linspace(0.1, 0.9, 4), np.linspace(0.2, 0.8, 3)), -1)
    r2 = np.sum((points[:, None] - leds.reshape(-1, 2)[None]) ** 2, axis=2)
    matrix = np.where(r2 < 0.15, np.exp(-r2 / 0.02), 0.0)
    channel = np.where(np.arange(12) % 2, "nir", "red")
    power = rng.uniform(5.0, 10.0, 12)
    eye = np.arange(270, 300)
    full = matrix @ power
    eye_full = matrix[eye] @ (power * (channel == "nir"))
    mean = np.average(full[:270])
    dose = DoseSettings(
        fluence_window_j_cm2=(0.2 * mean, 0.6 * mean),
        irradiance_limit_mw_cm2=0.7 * full.max(),
        eye_ir_limit_mw_cm2=0.5 * eye_full.max(),
    )
    return problem(
        matrix,
        power_mw=power,
        channel=channel,
        dose=dose,
        ir=channel == "nir",
        areas_mm2=rng.uniform(0.5, 1.5, 300),
        roi=np.arange(300) < 270,
        eye_matrix=matrix[eye],
    )


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_hard_limits_hold_in_every_answer(objective):
    p = limits_problem()
    budget = 0.5 * p.power_mw.sum()
    res = optimise_drive(p, objective=objective, budget_mw=budget)
    d = res.emitter_drive
    assert np.all((d >= 0) & (d <= 1))
    e = p.matrix @ (p.power_mw * d)
    assert e.max() <= p.dose.irradiance_limit_mw_cm2 + 1e-6
    assert p.eye_ir_irradiance_mw_cm2(d).max() <= p.dose.eye_ir_limit_mw_cm2 + 1e-6
    assert (p.power_mw * d).sum() <= budget + 1e-6
    low, high = p.dose.fluence_window_j_cm2
    assert low - 1e-6 <= mean_fluence(p, d) <= high + 1e-6
    # The limits bind: full drive breaks each of them.
    full = np.ones(len(d))
    assert (p.matrix @ p.power_mw).max() > p.dose.irradiance_limit_mw_cm2
    assert p.eye_ir_irradiance_mw_cm2(full).max() > p.dose.eye_ir_limit_mw_cm2


def test_an_unreachable_window_says_by_how_much():
    p = problem([[1.0, 0.0], [0.0, 2.0]], window=(400.0, 500.0))
    top = mean_fluence(p, np.ones(2))  # 1.5 J/cm2
    with pytest.raises(InputError) as info:
        optimise_drive(p)
    message = str(info.value)
    assert message.startswith("dose window:")
    assert "400 J/cm2" in message and f"{top:.3g} J/cm2" in message
    assert f"{400 - top:.3g} J/cm2 short" in message


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"budget_mw": float("nan")}, "budget_mw"),
        ({"budget_mw": -5.0}, "budget_mw"),
        ({"budget_mw": float("inf")}, "budget_mw"),
        ({"max_points": 0}, "max_points"),
        ({"seed": -1}, "seed"),
        ({"group": "string", "string_leds": 0}, "string_leds"),
        ({"group": "row"}, "group"),
        ({"objective": "beauty"}, "objective"),
    ],
)
def test_bad_arguments_are_named(options, name):
    p = problem([[1.0, 0.0], [0.0, 2.0]], positions_mm=np.zeros((2, 3)))
    with pytest.raises(InputError, match=f"^{name}: expected "):
        optimise_drive(p, **options)


def test_the_optimiser_takes_dose_problems():
    with pytest.raises(InputError, match=r"^problem: expected a DoseProblem .* got none$"):
        optimise_drive([])
    with pytest.raises(InputError, match=r"^problem: expected a DoseProblem .* got dict$"):
        optimise_drive({"matrix": np.eye(2)})


def test_a_dose_problem_checks_its_arrays():
    with pytest.raises(InputError, match=r"^DoseProblem\.power_mw: expected shape \(2,\)"):
        problem([[1.0, 0.0]], power_mw=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match=r"^DoseProblem\.roi: expected shape \(1,\)"):
        problem([[1.0, 0.0]], roi=[True, False])
    with pytest.raises(InputError, match=r"^DoseProblem\.exposure_s: expected a number > 0"):
        problem([[1.0, 0.0]], exposure_s=0.0)
    with pytest.raises(InputError, match=r"^DoseProblem\.matrix: expected finite numbers"):
        problem([[1.0, np.nan]])
    with pytest.raises(InputError, match=r"^DoseProblem\.channel_levels: unknown channel 'blu'"):
        problem([[1.0]], channel_levels={"blu": 1.0})


def test_one_robust_drive_serves_every_wearer_or_is_refused():
    # Twice the exposure doubles every fluence: each wearer alone can be brought into a
    # narrow window, both at once cannot; a wider one serves both.
    matrix = [[1.0, 0.2], [0.3, 1.0], [0.5, 0.5]]
    short, long = (
        problem(matrix, window=(0.4, 0.44), exposure_s=t, name=n)
        for t, n in ((1000.0, "short"), (2000.0, "long"))
    )
    for one in (short, long):
        assert 0.4 - 1e-7 <= mean_fluence(one, optimise_drive(one).emitter_drive) <= 0.44 + 1e-7
    with pytest.raises(InputError, match="all 2 wearers"):
        optimise_drive([short, long])
    wide = [problem(matrix, window=(0.4, 1.2), exposure_s=t) for t in (1000.0, 2000.0)]
    res = optimise_drive(wide, objective="coverage")
    for one in wide:
        assert 0.4 - 1e-7 <= mean_fluence(one, res.emitter_drive) <= 1.2 + 1e-7
    assert res.log[0].startswith("2 drive levels (emitter), 2 wearer(s)")
    other = problem([[1.0, 0.2, 0.0]], name="three")
    with pytest.raises(InputError, match=r"^three: .*a robust drive needs one design$"):
        optimise_drive([short, other])


def test_only_the_lit_channels_are_driven():
    p = problem(
        [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]],
        channel=["red", "blue", "red"],
        channel_levels={"red": 1.0, "blue": 0.0},
        window=(0.2, 1.0),
    )
    res = optimise_drive(p)
    assert res.emitter_drive[1] == 0.0 and res.group_of[1] == -1
    assert res.groups == ["0", "2"]
    np.testing.assert_array_equal(p.mode_drive, [1.0, 0.0, 1.0])
    dark = problem([[1.0]], channel_levels={"red": 0.0}, name="dark")
    with pytest.raises(InputError, match=r"^dark: channel_levels: every channel is off"):
        optimise_drive(dark)


def test_driver_strings_are_compact_runs_of_the_string_size():
    # An 8 x 8 grid of red and NIR LEDs (checkerboard), 10 mm apart.
    pitch = 10.0
    grid = (np.arange(8) - 3.5) * pitch
    x, y = (g.ravel() for g in np.meshgrid(grid, grid))
    positions = np.column_stack([x, y, np.zeros(64)])
    channel = np.where((np.arange(8)[:, None] + np.arange(8)[None, :]).ravel() % 2, "red", "nir")
    p = problem(np.eye(64), channel=channel, positions_mm=positions, window=(0.2, 1.0))
    names, group_of = drive_groups(p, group="string", string_leds=6)
    assert len(names) == 12
    for c in ("red", "nir"):
        mine = [n for n in names if n.startswith(f"{c}/s")]
        sizes = [int(np.sum(group_of == names.index(n))) for n in mine]
        assert sorted(sizes) == [2, 6, 6, 6, 6, 6]  # 32 LEDs: ceil(32 / 6) strings
        for n in mine:
            members = positions[group_of == names.index(n)]
            span = np.linalg.norm(members[:, None] - members[None, :], axis=2).max()
            assert span <= np.hypot(2, 4) * pitch + 1e-9  # a patch; runs along rows span 7
            assert np.all(channel[group_of == names.index(n)] == c)
    res = optimise_drive(p, group="string", string_leds=6)
    for g in range(len(names)):
        assert np.ptp(res.emitter_drive[group_of == g]) == 0.0  # one current per string
    with pytest.raises(InputError, match="positions_mm"):
        drive_groups(problem(np.eye(2)), group="string")


def test_an_led_aimed_at_a_region_is_in_its_zone():
    regions = ("forehead", "nose", "cheeks", "chin")
    masks = {r: np.arange(40) // 10 == i for i, r in enumerate(regions)}
    # LED i lights its own region most; the last LED reaches no region.
    matrix = np.column_stack([np.where(masks[r], 1.0, 0.1) for r in regions] + [np.zeros(40)])
    p = problem(matrix, regions=masks, window=(0.2, 5.0))
    names, group_of = drive_groups(p, group="zone")
    assert [names[g] for g in group_of] == [f"red/{r}" for r in regions] + ["red/none"]
    res = optimise_drive(p, group="zone")
    assert res.groups == names and len(res.group_levels) == 5


def blue_problem(**extra):
    """Two blue LEDs and a red one whose full drive breaks the blue-light limit at the eye."""
    t = 600.0
    eye = np.array([[4.0, 1.0, 3.0]])  # facing readings per mW at one eye point
    return problem(
        [[1.0, 1.0, 1.0], [1.0, 0.5, 1.0], [0.5, 1.0, 1.0]],
        channel=["blue", "blue", "red"],
        power_mw=1.0,
        window=(0.3, 3.0),
        eye_matrix=eye,
        blue_weight=np.array([0.8, 0.8, 0.001]),
        exposure_s=t,
        **extra,
    )


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_the_blue_light_small_source_bound_holds_at_the_eye(objective):
    p = blue_problem()
    limit = blue_irradiance_limit_mw_cm2(p.exposure_s)  # 0.1 mW/cm2 beyond 100 s
    assert (p.eye_matrix @ (p.power_mw * p.blue_weight)).max() > limit  # full drive breaks it
    d = optimise_drive(p, objective=objective).emitter_drive
    assert (p.eye_matrix @ (p.power_mw * d * p.blue_weight)).max() <= limit * (1 + 1e-6)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_the_blue_light_radiance_limit_holds_for_each_led(objective):
    t = 600.0
    limit = blue_radiance_limit_w_m2_sr(t)  # 10^6 / 600 W m^-2 sr^-1
    radiance = np.array([2.0, 0.5, 0.0]) * limit  # LED 0 twice over its limit at full drive
    p = blue_problem(blue_radiance_w_m2_sr_per_mw=radiance)
    d = optimise_drive(p, objective=objective).emitter_drive
    assert np.all(radiance * p.power_mw * d <= limit * (1 + 1e-6))
    assert d[0] <= 0.5 + 1e-6


def test_drive_metrics_are_the_registry_wearer_metrics():
    p = problem(
        [[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]],
        channel=["red", "nir"],
        ir=[False, True],
        roi=[True, True, False],
        eye_matrix=[[3.0, 1.0]],
        window=(0.5, 1.5),
    )
    m = drive_metrics(p, np.array([1.0, 0.5]))
    # Without a depth objective the depth metrics are left out, as metrics.json leaves them.
    surface = [path for path in WEARER if not path.startswith("tissue.")]
    assert list(m) == [metric(path).column for path in surface]
    assert m["mean_fluence_j_cm2"] == pytest.approx(1.0)  # (1 + 1) / 2 at 1 J/cm2 per mW/cm2
    assert m["max_irradiance_mw_cm2"] == pytest.approx(1.0)
    assert m["cv"] == pytest.approx(0.0, abs=1e-12) and m["u0"] == pytest.approx(1.0)
    assert m["in_window_area_fraction"] == pytest.approx(1.0)
    assert m["eye_ir_max_mw_cm2"] == pytest.approx(0.5)  # the NIR LED alone: 1 x 0.5
    dark = drive_metrics(p, np.zeros(2))
    assert dark["cv"] is None and dark["u0"] is None and dark["mean_fluence_j_cm2"] == 0.0
    no_eye = drive_metrics(problem([[1.0]]), np.ones(1))
    assert list(no_eye) == [metric(path).column for path in surface if "eye" not in path]


def helmet(count: int = 60):
    """A helmet design on the built-in scalp, loaded from data (no file)."""
    data = {
        "target": {"mesh": "builtin:scalp"},
        "emitters": {"design": "helmet", "count": count},
        "exposure_s": 600,
    }
    return scene_from_dict(data, base=Path.cwd())


def test_misplacements_move_the_whole_device_rigidly():
    scene = helmet()
    moved = misplaced(scene)
    assert len(moved) == 6
    p = scene.emitters.positions_mm
    for m in moved[:4]:
        shift = m.emitters.positions_mm - p
        np.testing.assert_allclose(np.linalg.norm(shift, axis=1), 3.0, rtol=1e-9)
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9)
        np.testing.assert_array_equal(m.emitters.channel, scene.emitters.channel)
        np.testing.assert_array_equal(m.emitters.ids, scene.emitters.ids)
    nasion = twin.geometry.anatomy.landmarks()["nasion"]
    for m in moved[4:]:
        # A tilt about the nasion keeps every LED's distance to it and turns each axis by at
        # most 5 degrees (exactly 5 for axes across the tilt's left-right axis).
        np.testing.assert_allclose(
            np.linalg.norm(m.emitters.positions_mm - nasion, axis=1),
            np.linalg.norm(p - nasion, axis=1),
            rtol=1e-9,
        )
        cos = np.einsum("ij,ij->i", m.emitters.axes, scene.emitters.axes)
        angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        assert angle.max() <= 5.0 + 1e-6 and angle.max() > 4.5


def test_the_optimised_scene_folds_the_drive_into_the_power():
    scene = helmet()
    drive = np.linspace(0.0, 1.0, len(scene.emitters))
    out = optimised_scene(scene, drive)
    kept = drive > 1e-6
    np.testing.assert_allclose(out.emitters.power_mw, scene.emitters.power_mw[kept] * drive[kept])
    np.testing.assert_array_equal(out.emitters.ids, scene.emitters.ids[kept])
    assert out.drive == dict.fromkeys(out.emitters.channels, 1.0)
    assert out.name == f"{scene.name}-optimised" and out.layout is None


def test_cli_optimise_evens_the_map_and_writes_its_files(tmp_path, capsys):
    head = phantoms.head(subdivisions=3)
    positions, axes = offset_shell_layout(head, count=40, standoff_mm=12.0)
    leds = twin.Emitters.create(
        positions,
        axes,
        20.0,
        profile=twin.Lambertian(30.0),
        channel=np.where(np.arange(40) % 2 == 0, "red", "nir"),
        wavelength_nm={"red": 633.0, "nir": 830.0},
    )
    (tmp_path / "leds.csv").write_text(twin.devices.emitters.emitter_csv_text(leds))
    scene = {
        "target": {"mesh": "builtin:phantom-head", "max_edge_mm": 8.0},
        "emitters": {"file": "leds.csv"},
        "exposure_s": 600,
        "dose": {"fluence_window_j_cm2": [0.2, 1.0]},
    }
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(scene))
    out = tmp_path / "opt"
    assert main(["optimise", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "in-window area" in printed and "U0 (min / mean)" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"roi.total.u0_min_over_mean", "roi.total.in_window_area_fraction"}

    def rms_to_target(result) -> float:  # the objective: fluence against mid-window, 0.6
        h = result.dose.fluence_j_cm2()[result.roi]
        return float(
            np.sqrt(np.average((h - 0.6) ** 2, weights=result.samples.areas_mm2[result.roi]))
        )

    before = twin.render(path)
    after = twin.render(out / "scene.yaml")
    assert rms_to_target(after) < rms_to_target(before)
    mean = np.average(
        after.dose.fluence_j_cm2()[after.roi], weights=after.samples.areas_mm2[after.roi]
    )
    assert 0.2 - 1e-6 <= mean <= 1.0 + 1e-6
    assert (out / "convergence.log").read_text().startswith("40 drive levels (emitter)")
    groups = np.genfromtxt(out / "groups.csv", delimiter=",", names=True, dtype=None)
    assert len(groups) == 40 and np.all((groups["drive"] >= 0) & (groups["drive"] <= 1))
    # The written scene renders the optimised result again.
    written = json.loads((out / "after" / "metrics.json").read_text())
    np.testing.assert_allclose(
        after.metrics["roi"]["total"]["in_window_area_fraction"],
        written["roi"]["total"]["in_window_area_fraction"],
        rtol=1e-9,
    )


def test_cli_robust_drive_reports_every_wearer(tmp_path, capsys):
    path = tmp_path / "helmet.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "helmet",
                "target": {"mesh": "builtin:scalp"},
                "emitters": {"design": "helmet", "count": 60},
                "exposure_s": 1500,
                "dose": {"fluence_window_j_cm2": [0.1, 3.0], "irradiance_limit_mw_cm2": 8.0},
            }
        )
    )
    out = tmp_path / "robust"
    args = ["optimise", str(path), "--population", "1", "--objective", "coverage"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "worst wearer in-window area" in printed
    wearers = json.loads((out / "summary.json").read_text())["wearers"]
    assert [w["scene"] for w in wearers] == ["helmet", "helmet-p00"]
    columns = [metric(p).column for p in WEARER if not p.startswith(("eye", "tissue"))]
    for w in wearers:
        assert list(w["before"]) == columns and list(w["after"]) == columns
        assert w["after"]["max_irradiance_mw_cm2"] <= 8.0 + 1e-6  # every wearer's limit


# --- the dose aimed at depth -------------------------------------------------------------


def test_a_depth_objective_is_aimed_while_the_limits_stay_at_the_surface():
    # Surface T = I, depth A = diag(0.5, 0.25). Mid-window at depth (0.25 J/cm2) needs
    # d = (0.5, 1), but LED 2 at full drive puts 1 mW/cm2 on its skin, over the 0.6 limit:
    # the L1 optimum under the limit is d = (0.5, 0.6). The surface window (4-10 J/cm2), which
    # no drive reaches, plays no part.
    dose = DoseSettings(fluence_window_j_cm2=(4.0, 10.0), irradiance_limit_mw_cm2=0.6)
    deep = DepthObjective(np.diag([0.5, 0.25]), (0.5, 1.5), (0.1, 0.4))
    p = problem(np.eye(2), dose=dose, at_depth=deep)
    res = optimise_drive(p)
    np.testing.assert_allclose(res.emitter_drive, [0.5, 0.6], rtol=1e-6)
    assert "at 0.5-1.5 mm deep, window 0.1-0.4 J/cm2" in res.log[0]
    m = drive_metrics(p, res.emitter_drive)
    assert m["mean_fluence_at_depth_j_cm2"] == pytest.approx((0.25 + 0.15) / 2, rel=1e-6)
    assert m["in_window_area_fraction_at_depth"] == pytest.approx(1.0)
    assert m["max_irradiance_mw_cm2"] == pytest.approx(0.6, rel=1e-6)  # at the surface
    with pytest.raises(InputError, match="mean fluence must reach 4 J/cm2"):
        optimise_drive(problem(np.eye(2), dose=dose))  # the same at the surface
    with pytest.raises(InputError, match=r"^DoseProblem.at_depth.matrix: expected shape"):
        problem(np.eye(2), at_depth=DepthObjective(np.ones((3, 2)), (0.5, 1.5), (0.1, 0.4)))


def write_tissue_panel(root: Path, **tissue) -> Path:
    """A flat panel of 60 LEDs (red and NIR) over the built-in face's forehead, with light in
    explicit tissue layers and a target band 0.5-1.5 mm deep; ``tissue`` overrides keys."""
    layers = [
        {"thickness_mm": 0.1, "mua_per_mm": 0.3, "mus_prime_per_mm": 3, "g": 0.8, "n": 1.4},
        {"thickness_mm": ".inf", "mua_per_mm": 0.02, "mus_prime_per_mm": 2, "g": 0.8, "n": 1.4},
    ]
    scene = {
        "name": "panel",
        "target": {"mesh": "builtin:face", "max_edge_mm": 8.0, "treat": ["forehead"]},
        "emitters": {"design": "panel", "count": 60},
        "mode": {"red": 1.0, "nir": 1.0},
        "exposure_s": 600,
        "tissue": {
            "depths_mm": [0.5, 1.0],
            "layers": layers,
            "targets": {"roi": {"depth_mm": [0.5, 1.5], "fluence_window_j_cm2": [0.2, 0.6]}},
            **tissue,
        },
    }
    path = root / "panel.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_optimising_at_depth_evens_the_band_and_a_fresh_render_agrees(tmp_path, capsys):
    path = write_tissue_panel(tmp_path)
    result = run_optimisation(path, at_depth=True)
    before, drive = result.before, result.drive
    assert drive is not None and result.at_depth_mm == (0.5, 1.5)
    problem_ = DoseProblem.from_render(before, at_depth=True)
    assert problem_.window_j_cm2 == (0.2, 0.6)  # the band's own window

    def band(r) -> np.ndarray:  # the rendered fluence in the band, J/cm2 (column 2: after z)
        return fluence_j_cm2(r.tissue.total_fluence_rate_mw_cm2[:, 2], r.scene.exposure_s)

    def rms_to_target(h: np.ndarray) -> float:  # the objective: against mid-window, 0.4
        weights = before.samples.areas_mm2[before.roi]
        return float(np.sqrt(np.average((h[before.roi] - 0.4) ** 2, weights=weights)))

    # Every treated point is in the objective's sample (605 < 2000), so least squares can
    # only bring the band closer to mid-window than the scene's own full drive.
    result.write(tmp_path / "opt")
    after = twin.render(tmp_path / "opt" / "scene.yaml")  # a fresh render of the drive
    assert rms_to_target(band(after)) < 0.8 * rms_to_target(band(before))
    # Linearity: the fresh render's fluence in the band is what the optimiser predicted from
    # the band's fluence-rate matrix, point by point and in the metrics.
    predicted = problem_.at_depth.matrix @ (problem_.power_mw * drive.emitter_drive)
    np.testing.assert_allclose(band(after), fluence_j_cm2(predicted, 600.0), rtol=1e-6, atol=1e-9)
    expected = drive_metrics(problem_, drive.emitter_drive)
    target = after.metrics["tissue"]["targets"]["roi"]
    assert target["fluence_mean_j_cm2"] == pytest.approx(
        expected["mean_fluence_at_depth_j_cm2"], rel=1e-6
    )
    assert 0.2 - 1e-6 <= target["fluence_mean_j_cm2"] <= 0.6 + 1e-6
    # The before/after table and summary.json show the band.
    changes = {c.label: c for c in result.changes}
    deep = changes["in-window area at target depth"]
    assert deep.after > deep.before and deep.after == target["in_window_area_fraction"]
    summary = json.loads((tmp_path / "opt" / "summary.json").read_text())
    assert summary["at_depth"] == {"depth_mm": [0.5, 1.5], "fluence_window_j_cm2": [0.2, 0.6]}
    assert "tissue.targets.roi.fluence_mean_j_cm2" in summary
    assert main(["optimise", str(path), "--at-depth", "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    assert "aimed at 0.5-1.5 mm deep" in printed
    assert "mean fluence at target depth (J/cm2)" in printed


def test_at_depth_needs_a_roi_band_and_a_drive(tmp_path, capsys):
    path = write_tissue_panel(tmp_path, targets={"forehead": {"depth_mm": [3, 5]}})
    out = str(tmp_path / "out")
    assert main(["optimise", str(path), "--at-depth", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"twin: error: {path}: at_depth: expected a tissue.targets.roi band (tissue: "
        "{targets: {roi: {depth_mm: [top, bottom]}}}), found tissue.targets ['forehead']\n"
    )
    with pytest.raises(InputError, match=r"^at_depth: .* vary 'placement' varies no drive"):
        run_optimisation(path, at_depth=True, vary="placement")
