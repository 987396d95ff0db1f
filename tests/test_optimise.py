"""Drive-level optimisation: known optima, symmetry, hard limits, infeasible windows, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import trimesh
import yaml

import twin
from twin.analysis.optimise import OBJECTIVES, optimise_drive
from twin.cli import main
from twin.devices.layout import offset_shell_layout
from twin.errors import InputError
from twin.geometry import phantoms


def write(root, *, leds: twin.Emitters, target: dict, dose: dict | None = None, **extra):
    (root / "leds.csv").write_text(twin.devices.emitters.emitter_csv_text(leds))
    scene = {"target": target, "emitters": {"file": "leds.csv"}, "exposure_s": 600, **extra}
    if dose:
        scene["dose"] = dose
    (root / "scene.yaml").write_text(yaml.safe_dump(scene))
    return root / "scene.yaml"


@pytest.fixture
def head_scene(tmp_path):
    """Phantom head (eyes region) under 40 red and NIR LEDs 12 mm out."""
    head = phantoms.head(subdivisions=3)
    positions, axes = offset_shell_layout(head, count=40, standoff_mm=12.0)
    channel = np.where(np.arange(40) % 2 == 0, "red", "nir")
    leds = twin.Emitters.create(
        positions,
        axes,
        20.0,
        profile=twin.Lambertian(30.0),
        channel=channel,
        wavelength_nm={"red": 633.0, "nir": 830.0},
    )
    return lambda **kw: write(
        tmp_path, leds=leds, target={"mesh": "builtin:phantom-head", "max_edge_mm": 8.0}, **kw
    )


def plane_scene(root, *, size_mm, divisions, leds, window):
    """A flat square of skin under ``leds``, with the dose window ``window`` (J/cm2)."""
    plane = phantoms.plane(size_mm=size_mm, divisions=divisions)
    trimesh.Trimesh(plane.vertices_mm, plane.faces, process=False).export(root / "plane.obj")
    return write(
        root,
        leds=leds,
        target={"mesh": "plane.obj", "units": "mm"},
        dose={"fluence_window_j_cm2": window},
    )


def irradiance(result, drive):
    return result.transfer.matrix @ (result.scene.emitters.power_mw * drive)


def test_one_led_reaches_the_least_squares_optimum(tmp_path):
    leds = twin.Emitters.create(
        [[0.0, 0.0, 20.0]], [[0.0, 0.0, -1.0]], 10.0, profile=twin.Lambertian(60.0)
    )
    path = plane_scene(tmp_path, size_mm=60.0, divisions=30, leds=leds, window=[0.02, 0.1])
    result = twin.render(path)
    res = optimise_drive(result, objective="uniformity")
    # One variable: d* = sum w a t / sum w a^2 (every treated point is in the sample).
    a = result.transfer.matrix.toarray()[:, 0] * 10.0 * 0.6
    w = result.samples.areas_mm2 / result.samples.areas_mm2.sum()
    expected = np.clip(np.sum(w * a * 0.06) / np.sum(w * a * a), 0.0, 1.0)  # 0.06: mid-window
    np.testing.assert_allclose(res.drive[0], expected, rtol=1e-6)
    assert res.solver == "lsq_linear"


def test_symmetric_layouts_get_symmetric_drives(tmp_path):
    # Two LEDs at the Sparrow spacing d = sqrt(4 / (m + 4)) h (physics.md 1.4, with cos alpha),
    # mirrored across the line y = x, which the plane's triangulation is symmetric about.
    m, h = 1.0, 15.0
    s = np.sqrt(4.0 / (m + 4.0)) * h / (2.0 * np.sqrt(2.0))
    leds = twin.Emitters.create(
        [[s, -s, h], [-s, s, h]],
        [[0.0, 0.0, -1.0]] * 2,
        10.0,
        profile=twin.Lambertian(60.0),
    )
    path = plane_scene(tmp_path, size_mm=80.0, divisions=40, leds=leds, window=[0.01, 0.1])
    result = twin.render(path)
    # Least squares has one optimum, so symmetric; a linear programme's optimum can be a
    # whole edge, of which it returns a vertex: there the mirrored answer is as good.
    drive = optimise_drive(result, objective="uniformity").drive
    np.testing.assert_allclose(drive[0], drive[1], rtol=1e-6)
    sample = result.roi
    for objective in ("coverage", "minmax"):
        d = optimise_drive(result, objective=objective).drive
        h, mirrored = (irradiance(result, x)[sample] * 0.6 for x in (d, d[::-1]))
        if objective == "minmax":
            np.testing.assert_allclose(h.min(), mirrored.min(), rtol=1e-6, atol=1e-9)
        else:
            area = result.samples.areas_mm2[sample]
            outside = [
                np.sum(area * (np.clip(0.01 - x, 0, None) + np.clip(x - 0.1, 0, None)))
                for x in (h, mirrored)
            ]
            np.testing.assert_allclose(outside[0], outside[1], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_hard_limits_hold_in_every_answer(head_scene, objective):
    limits = {
        "irradiance_limit_mw_cm2": 6.0,
        "eye_ir_limit_mw_cm2": 0.03,
        "fluence_window_j_cm2": [0.1, 0.4],
    }
    result = twin.render(head_scene(dose=limits))
    full = irradiance(result, np.ones(len(result.scene.emitters)))
    nir = result.scene.emitters.channel == "nir"
    eye = result.samples.regions["eyes"]
    eye_full = result.transfer.matrix[eye] @ (result.scene.emitters.power_mw * nir)
    assert full.max() > 6.0 and eye_full.max() > 0.03  # the limits bind
    budget = 0.5 * result.scene.emitters.power_mw.sum()
    res = optimise_drive(result, objective=objective, budget_mw=budget)
    e = irradiance(result, res.drive)
    assert e.max() <= 6.0 + 1e-6
    eye_ir = result.transfer.matrix[eye] @ (result.scene.emitters.power_mw * res.drive * nir)
    assert eye_ir.max() <= 0.03 + 1e-6
    assert (result.scene.emitters.power_mw * res.drive).sum() <= budget + 1e-6
    mean = np.average(e[result.roi], weights=result.samples.areas_mm2[result.roi]) * 0.6
    assert 0.1 - 1e-6 <= mean <= 0.4 + 1e-6
    assert np.all((res.drive >= 0) & (res.drive <= 1))


def test_an_unreachable_window_says_by_how_much(head_scene):
    result = twin.render(head_scene(dose={"fluence_window_j_cm2": [400.0, 500.0]}))
    full = irradiance(result, np.ones(len(result.scene.emitters)))
    top = np.average(full[result.roi], weights=result.samples.areas_mm2[result.roi]) * 0.6
    message = (
        f"dose window: the treated skin's mean fluence must reach 400 J/cm2, but full drive "
        f"gives at most {top:.3g} J/cm2 ({400 - top:.3g} J/cm2 short); raise the exposure or "
        "the LED power, or lower the window"
    )
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        optimise_drive(result)
    with pytest.raises(InputError, match=r"^objective: expected one of uniformity, coverage, "):
        optimise_drive(result, objective="beauty")


def test_wearers_no_single_drive_can_serve_are_refused(head_scene):
    # Twice the exposure doubles every fluence: each wearer alone can be brought into the
    # narrow window, both at once cannot.
    window = {"fluence_window_j_cm2": [0.2, 0.22]}  # full drive gives 0.45 J/cm2 in 600 s
    short = twin.render(head_scene(dose=window))
    long = twin.render(head_scene(dose=window, exposure_s=1200))
    for one in (short, long):
        assert optimise_drive(one).drive.max() > 0
    message = (
        "dose window: no single drive keeps the mean fluence of all 2 wearers within 0.2-0.22 "
        "J/cm2 under the hard limits; widen the window, or optimise for fewer or more alike "
        "wearers"
    )
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        optimise_drive([short, long])


def test_cli_optimise_evens_the_map_and_writes_its_files(head_scene, tmp_path, capsys):
    path = head_scene(dose={"fluence_window_j_cm2": [0.2, 1.0]})
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
    # The written scene renders the optimised result again.
    written = json.loads((out / "after" / "metrics.json").read_text())
    np.testing.assert_allclose(
        after.metrics["roi"]["total"]["in_window_area_fraction"],
        written["roi"]["total"]["in_window_area_fraction"],
        rtol=1e-9,
    )


def test_one_robust_drive_for_several_wearers(tmp_path, capsys):
    def helmet_on(variant, count=120, name="wearer"):
        target = {"mesh": "builtin:scalp"}
        if variant is not None:
            target["variant"] = variant
        scene = {
            "name": name,
            "target": target,
            "emitters": {"design": "helmet", "count": count},
            "exposure_s": 1500,
            "dose": {"fluence_window_j_cm2": [0.1, 3.0], "irradiance_limit_mw_cm2": 8.0},
        }
        (tmp_path / "s.yaml").write_text(yaml.safe_dump(scene))
        return twin.render(tmp_path / "s.yaml")

    wearers = [helmet_on(None), helmet_on({"sex": "male", "weight": 0.8}), helmet_on({"sex": 0})]
    res = optimise_drive(wearers, objective="coverage")
    for w in wearers:
        e = irradiance(w, res.drive)
        assert e.max() <= 8.0 + 1e-6  # every wearer's limit holds
        mean = np.average(e[w.roi], weights=w.samples.areas_mm2[w.roi]) * 1.5
        assert 0.1 - 1e-6 <= mean <= 3.0 + 1e-6
    assert res.log[0].startswith("120 drive levels (emitter), 3 wearer(s)")
    with pytest.raises(InputError, match=r"a robust drive needs one design$"):
        optimise_drive([wearers[0], helmet_on(None, count=90)])


def test_misplacements_move_the_whole_device_rigidly(tmp_path):
    path = tmp_path / "helmet.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "target": {"mesh": "builtin:scalp"},
                "emitters": {"design": "helmet", "count": 60},
                "exposure_s": 600,
            }
        )
    )
    scene = twin.load_scene(path)
    moved = twin.analysis.optimise.misplaced(scene)
    assert len(moved) == 6
    p = scene.emitters.positions_mm
    for m in moved[:4]:
        shift = m.emitters.positions_mm - p
        np.testing.assert_allclose(np.linalg.norm(shift, axis=1), 3.0, rtol=1e-9)
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-9)
        np.testing.assert_array_equal(m.emitters.channel, scene.emitters.channel)
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


def test_driver_strings_are_compact_runs_of_the_string_size(tmp_path, capsys):
    # An 8 x 8 grid of red and NIR LEDs (checkerboard) 15 mm over a plane.
    pitch = 10.0
    grid = (np.arange(8) - 3.5) * pitch
    x, y = (g.ravel() for g in np.meshgrid(grid, grid))
    channel = np.where((np.arange(8)[:, None] + np.arange(8)[None, :]).ravel() % 2, "red", "nir")
    leds = twin.Emitters.create(
        np.column_stack([x, y, np.full(64, 15.0)]),
        [[0.0, 0.0, -1.0]] * 64,
        2.0,
        profile=twin.Lambertian(60.0),
        channel=channel,
        wavelength_nm={"red": 633.0, "nir": 830.0},
    )
    path = plane_scene(tmp_path, size_mm=100.0, divisions=25, leds=leds, window=[0.5, 2.0])
    out = tmp_path / "strings"
    args = ["optimise", str(path), "--group", "string", "--string-leds", "6", "--out", str(out)]
    assert main(args) == 0
    assert "groups.csv (12 string groups)" in capsys.readouterr().out
    rows = np.genfromtxt(out / "groups.csv", delimiter=",", names=True, dtype=None, encoding=None)
    for c in ("red", "nir"):
        mine = rows[rows["channel"] == c]
        names, sizes = np.unique(mine["group"], return_counts=True)
        assert all(n.startswith(f"{c}/s") for n in names)
        assert sorted(sizes) == [2, 6, 6, 6, 6, 6]  # 32 LEDs: ceil(32 / 6) strings
        for name in names:
            members = np.isin(leds.ids.astype(str), mine["id"][mine["group"] == name].astype(str))
            assert np.ptp(mine["drive"][mine["group"] == name]) == 0.0  # one current per string
            p = leds.positions_mm[members]
            span = np.linalg.norm(p[:, None] - p[None, :], axis=2).max()
            assert span <= np.hypot(2, 4) * pitch + 1e-9  # a patch; runs along rows span 7
    with pytest.raises(InputError, match=r"^string_leds: expected a whole number of LEDs >= 1, "):
        optimise_drive(twin.render(path), group="string", string_leds=0)


def test_an_led_aimed_at_a_region_is_in_its_zone(tmp_path):
    head = phantoms.head(subdivisions=4)
    regions = ("forehead", "nose", "cheeks", "chin")
    positions, axes = [], []
    for name in regions:
        idx = head.regions[name]
        centre = head.vertices_mm[idx].mean(axis=0)
        v = idx[np.argmin(np.linalg.norm(head.vertices_mm[idx] - centre, axis=1))]
        positions.append(head.vertices_mm[v] + 6.0 * head.vertex_normals[v])
        axes.append(-head.vertex_normals[v])
    leds = twin.Emitters.create(
        np.array(positions), np.array(axes), 5.0, profile=twin.Lambertian(15.0), channel="red"
    )
    path = write(
        tmp_path,
        leds=leds,
        target={"mesh": "builtin:phantom-head", "max_edge_mm": 6.0},
        dose={"fluence_window_j_cm2": [0.01, 5.0]},
    )
    result = twin.render(path)
    names, group_of = twin.analysis.optimise.drive_groups(result, group="zone")
    assert [names[g] for g in group_of] == [f"red/{r}" for r in regions]
    res = optimise_drive(result, group="zone")
    assert res.groups == names and len(res.levels) == 4
