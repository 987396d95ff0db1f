"""Detectors: flat radiometer grids against analytic irradiance, shadows, responses, files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import raises_naming
from scipy import integrate

import twin
from twin.cli import main
from twin.geometry import phantoms
from twin.pipeline.detectors import (
    aperture_points,
    aperture_rule,
    detector_matrix,
    read_detectors,
)

#: The issue's contract block, exactly as written.
CONTRACT = """
detectors:
  - {name: bench, center_mm: [0, 0, 0], normal: [0, 0, 1], up: [0, 1, 0],
     size_mm: [80, 80], pixels: [41, 41], response: cosine, aperture_mm: 0}
"""

CONTRACT_ENTRY = yaml.safe_load(CONTRACT)["detectors"][0]

#: (mW/mm^2) -> (mW/cm^2).
PER_CM2 = 100.0


def _bench(
    root: Path,
    leds: list[tuple[float, ...]],
    detectors: list[dict],
    *,
    emitters: dict | None = None,
    occluders: list[dict] | None = None,
    backend: str = "reference",
) -> twin.Scene:
    """Load a bench: LEDs (x, y, z, dx, dy, dz, power) over a plate 50 mm under z = 0.

    The plate is the target (a scene needs one); it lies behind every detector, facing +z.
    The LEDs are Lambertian (half-angle 60 degrees) unless ``emitters`` says otherwise.
    """
    plate = phantoms.plane(size_mm=300.0, divisions=4, z_mm=-50.0)
    trimesh.Trimesh(plate.vertices_mm, plate.faces, process=False).export(root / "plate.ply")
    rows = "".join(",".join(f"{v:g}" for v in led) + "\n" for led in leds)
    (root / "leds.csv").write_text("x,y,z,dx,dy,dz,power_mw\n" + rows)
    spec = {
        "target": {"mesh": "plate.ply", "units": "mm"},
        "emitters": {"file": "leds.csv", **(emitters or {"half_angle_deg": 60})},
        "exposure_s": 600,
        "engine": {"backend": backend, "intensity_cutoff": 0.0, "interreflection": False},
        "occluders": occluders or [],
        "detectors": detectors,
    }
    return twin.load_scene(spec, base=root)


def _grid(**extra) -> dict:
    return {
        "name": "grid",
        "center_mm": [0, 0, 0],
        "normal": [0, 0, 1],
        "up": [0, 1, 0],
        "size_mm": [60, 40],
        "pixels": [13, 9],
        **extra,
    }


def _lambertian_mw_cm2(
    points_mm: np.ndarray, led_mm: np.ndarray, power_mw: float, half_angle_deg: float
) -> np.ndarray:
    """I(theta) cos(alpha) / r^2 of a downward LED on an upward plane: I0 cos^m * cos / r^2."""
    m = -math.log(2.0) / math.log(math.cos(math.radians(half_angle_deg)))
    d = led_mm - points_mm
    r = np.linalg.norm(d, axis=1)
    cos = d[:, 2] / r  # the same angle at the LED (axis -z) and at the plane (normal +z)
    return power_mw * (m + 1) / (2 * math.pi) * cos**m * cos / r**2 * PER_CM2


def test_the_contract_block_loads_exactly_as_written(tmp_path):
    spec = yaml.safe_load(CONTRACT)["detectors"]
    scene = _bench(tmp_path, [(0, 0, 30, 0, 0, -1, 10)], spec)
    (d,) = scene.detectors
    assert d.name == "bench"
    np.testing.assert_array_equal(d.center_mm, [0, 0, 0])
    np.testing.assert_array_equal(d.normal, [0, 0, 1])
    np.testing.assert_array_equal(d.x_axis, [1, 0, 0])  # up x normal
    np.testing.assert_array_equal(d.y_axis, [0, 1, 0])
    assert d.response.is_cosine and d.aperture_mm == 0.0
    xy = d.pixel_xy_mm()
    assert xy.shape == (41 * 41, 2)
    # Row by row: y ascending, then x ascending; every 2 mm from -40 to +40.
    np.testing.assert_array_equal(xy[:3], [[-40, -40], [-38, -40], [-36, -40]])
    np.testing.assert_array_equal(xy[41], [-40, -38])
    np.testing.assert_array_equal(xy[-1], [40, 40])
    np.testing.assert_array_equal(xy[len(xy) // 2], [0, 0])


@pytest.mark.parametrize("backend", ["reference", "embree"])
@pytest.mark.parametrize("half_angle_deg", [60.0, 25.0])
def test_a_cosine_detector_under_one_led_reads_the_analytic_irradiance(
    tmp_path, half_angle_deg, backend
):
    led = np.array([10.0, -5.0, 30.0])  # over a pixel (the grid is every 5 mm)
    scene = _bench(
        tmp_path,
        [(*led, 0, 0, -1, 12.0)],
        [_grid()],
        emitters={"half_angle_deg": half_angle_deg},
        backend=backend,
    )
    (reading,) = read_detectors(scene).values()
    (d,) = scene.detectors
    want = _lambertian_mw_cm2(d.to_world(reading.xy_mm), led, 12.0, half_angle_deg)
    np.testing.assert_allclose(reading.irradiance_mw_cm2, want, rtol=1e-9)
    # On axis: I(0) / d^2 exactly, at the pixel under the LED.
    m = -math.log(2.0) / math.log(math.cos(math.radians(half_angle_deg)))
    (under,) = np.flatnonzero((reading.xy_mm == led[:2]).all(axis=1))
    on_axis = 12.0 * (m + 1) / (2 * math.pi) / 30.0**2 * PER_CM2
    np.testing.assert_allclose(reading.irradiance_mw_cm2[under], on_axis, rtol=1e-12)
    assert reading.peak == pytest.approx(on_axis, rel=1e-12)
    assert reading.mean == pytest.approx(float(np.mean(want)), rel=1e-9)
    assert reading.uniformity == pytest.approx(float(want.min() / want.mean()), rel=1e-9)


def test_the_reading_is_the_matrix_times_the_driven_powers(tmp_path):
    leds = [(-10, 0, 20, 0, 0, -1, 5.0), (10, 5, 25, 0, 0, -1, 8.0)]
    scene = _bench(tmp_path, leds, [_grid()])
    scene = twin.load_scene({**scene.to_spec(), "mode": {"led": 0.25}}, base=tmp_path)
    (d,) = scene.detectors
    matrix = detector_matrix(scene, d)
    assert matrix.shape == (len(d.pixel_xy_mm()), 2)
    power = scene.emitters.power_mw * 0.25
    reading = read_detectors(scene)["grid"]
    np.testing.assert_allclose(reading.irradiance_mw_cm2, matrix @ power, rtol=1e-12)
    # Any points of the plane may be read: the same values where they are pixels.
    xy = d.pixel_xy_mm()[[0, 17, 40]]
    np.testing.assert_allclose(detector_matrix(scene, d, xy_mm=xy), matrix[[0, 17, 40]])
    with raises_naming("xy_mm", "(k, 2)", "(3,)"):
        detector_matrix(scene, d, xy_mm=[1.0, 2.0, 3.0])


def test_plane_coordinates_are_right_handed_with_y_along_up(tmp_path):
    # A tilted detector, up given off-perpendicular: it is made perpendicular to the normal.
    normal = np.array([0.0, -1.0, 1.0]) / math.sqrt(2)
    spec = _grid(center_mm=[5, 6, 7], normal=[0, -2, 2], up=[0, 1, 0.2])
    scene = _bench(tmp_path, [(0, 0, 30, 0, 0, -1, 1.0)], [spec])
    (d,) = scene.detectors
    np.testing.assert_allclose(d.normal, normal, atol=1e-15)
    assert abs(d.up @ d.normal) < 1e-15 and d.up[1] > 0
    np.testing.assert_allclose(d.x_axis, np.cross(d.up, d.normal))
    assert np.linalg.det(np.stack([d.x_axis, d.y_axis, d.normal])) == pytest.approx(1.0)
    world = d.to_world([[2.0, 3.0]])
    np.testing.assert_allclose(world[0], [5, 6, 7] + 2.0 * d.x_axis + 3.0 * d.y_axis)


@pytest.mark.parametrize(
    ("up", "peak_xy"),
    [([0, 1, 0], [10, 0]), ([1, 0, 0], [0, 10])],  # up = +x: x = up x normal = -y
)
def test_an_led_off_centre_shows_where_the_axes_say(tmp_path, up, peak_xy):
    d = _grid(up=up, size_mm=[40, 40], pixels=[21, 21])
    scene = _bench(tmp_path, [(10, 0, 20, 0, 0, -1, 1.0)], [d])
    reading = read_detectors(scene)["grid"]
    np.testing.assert_array_equal(reading.xy_mm[np.argmax(reading.irradiance_mw_cm2)], peak_xy)


def test_aperture_averaging_matches_the_disk_mean_of_a_point_source(tmp_path):
    # An isotropic source P at height h over the centre: E(r) = P/(4 pi) h / (h^2 + r^2)^1.5.
    # Its mean over the disk of radius a: 1/(pi a^2) int_0^a E(r) 2 pi r dr
    #   = P/(4 pi) * 2 h / a^2 * (1/h - 1/sqrt(h^2 + a^2)).
    h, power = 10.0, 7.0
    for a in (2.5, 10.0, 20.0):  # a / h from 1/4 to 2
        scene = _bench(
            tmp_path,
            [(0, 0, h, 0, 0, -1, power)],
            [_grid(size_mm=[40, 40], pixels=[5, 5], aperture_mm=2 * a)],
            emitters={"profile": "isotropic"},
        )
        reading = read_detectors(scene)["grid"]
        centre = reading.irradiance_mw_cm2[12]
        want = power / (4 * math.pi) * 2 * h / a**2 * (1 / h - 1 / math.hypot(h, a)) * PER_CM2
        assert centre == pytest.approx(want, rel=1e-4), a


def test_aperture_averaging_off_centre_matches_numerical_integration(tmp_path):
    # A Lambertian LED 8 mm up, a 12 mm aperture read 6 mm off its axis: the disk mean
    # against scipy's adaptive integration of the point field.
    led = np.array([0.0, 0.0, 8.0])
    scene = _bench(
        tmp_path,
        [(*led, 0, 0, -1, 3.0)],
        [_grid(size_mm=[12, 12], pixels=[3, 3], aperture_mm=12.0)],
    )
    reading = read_detectors(scene)["grid"]
    a = 6.0

    def field(r: float, phi: float) -> float:
        p = np.array([[6.0 + r * math.cos(phi), r * math.sin(phi), 0.0]])
        return float(_lambertian_mw_cm2(p, led, 3.0, 60.0)[0]) * r

    total, _ = integrate.dblquad(field, 0.0, 2 * math.pi, 0.0, a, epsabs=0, epsrel=1e-10)
    want = total / (math.pi * a * a)
    got = reading.irradiance_mw_cm2[5]  # the pixel at (6, 0)
    np.testing.assert_array_equal(reading.xy_mm[5], [6, 0])
    assert got == pytest.approx(want, rel=1e-4)


def test_aperture_points_average_polynomials_exactly():
    offsets, weights = aperture_points(3.0, rings=4, spokes=10)
    assert weights.sum() == pytest.approx(1.0)
    x, y = offsets.T
    # Disk means: <r^2> = a^2/2, <r^4> = a^4/3, <x^2 y^2> = a^4/24, <x> = <x^3 y> = 0.
    assert weights @ (x**2 + y**2) == pytest.approx(9.0 / 2)
    assert weights @ (x**2 + y**2) ** 2 == pytest.approx(81.0 / 3)
    assert weights @ (x**2 * y**2) == pytest.approx(81.0 / 24)
    assert abs(weights @ x) < 1e-12 and abs(weights @ (x**3 * y)) < 1e-12
    # Near sources ask for more points than far ones.
    assert aperture_rule(5.0, 2.0)[0] * aperture_rule(5.0, 2.0)[1] > np.prod(
        aperture_rule(5.0, 50.0)
    )


@pytest.mark.parametrize("backend", ["reference", "embree"])
def test_an_occluder_darkens_exactly_the_geometric_shadow(tmp_path, backend):
    # A 10 mm square at z = 10 under an LED at z = 30: its shadow on z = 0 is the square
    # scaled by 30 / 20 = 1.5, |x|, |y| < 7.5 mm.
    square = phantoms.plane(size_mm=10.0, divisions=2, z_mm=10.0)
    trimesh.Trimesh(square.vertices_mm, square.faces, process=False).export(tmp_path / "sq.ply")
    led = np.array([0.0, 0.0, 30.0])
    scene = _bench(
        tmp_path,
        [(*led, 0, 0, -1, 5.0)],
        [_grid(size_mm=[40, 40], pixels=[41, 41])],
        occluders=[{"mesh": "sq.ply", "units": "mm"}],
        backend=backend,
    )
    reading = read_detectors(scene)["grid"]
    xy = reading.xy_mm
    in_shadow = np.abs(xy).max(axis=1) < 7.5
    e = reading.irradiance_mw_cm2
    assert np.all(e[in_shadow] == 0.0)
    want = _lambertian_mw_cm2(scene.detectors[0].to_world(xy), led, 5.0, 60.0)
    np.testing.assert_allclose(e[~in_shadow], want[~in_shadow], rtol=1e-9)
    assert in_shadow.sum() == 15 * 15


def test_a_tabulated_response_replaces_the_cosine(tmp_path):
    led = np.array([4.0, 2.0, 15.0])
    angles = np.arange(0.0, 90.5, 1.0)
    cosine_table = {float(a): float(math.cos(math.radians(a))) for a in angles}
    (tmp_path / "head.csv").write_text(
        "angle_deg,relative\n" + "".join(f"{a:g},{2.0 * v!r}\n" for a, v in cosine_table.items())
    )
    flat = {0: 1.0, 90: 1.0}
    partial = {0: 1, 40: 0.5}  # zero past 40 degrees
    scene = _bench(
        tmp_path,
        [(*led, 0, 0, -1, 4.0)],
        [
            _grid(name="cos"),
            _grid(name="table", response=cosine_table),
            _grid(name="file", response="head.csv"),  # any unit: taken relative to 0 deg
            _grid(name="flat", response=flat),
            _grid(name="partial", response=partial),
        ],
    )
    readings = read_detectors(scene)
    xyz = scene.detectors[0].to_world(readings["cos"].xy_mm)
    np.testing.assert_allclose(
        readings["cos"].irradiance_mw_cm2, _lambertian_mw_cm2(xyz, led, 4.0, 60.0), rtol=1e-9
    )
    # A table of cos(theta) every degree: linear interpolation, within 1.3e-4 of the cosine.
    for name in ("table", "file"):
        np.testing.assert_allclose(
            readings[name].irradiance_mw_cm2, readings["cos"].irradiance_mw_cm2, rtol=1.3e-4
        )
    # Flat: I / r^2, whatever the direction.
    r = np.linalg.norm(led - xyz, axis=1)
    cos = (led - xyz)[:, 2] / r
    i_over_r2 = 4.0 * 2 / (2 * math.pi) * cos / r**2 * PER_CM2  # m = 1: I = 2P/(2 pi) cos
    np.testing.assert_allclose(readings["flat"].irradiance_mw_cm2, i_over_r2, rtol=1e-9)
    theta = np.degrees(np.arccos(cos))
    want = i_over_r2 * np.interp(theta, [0, 40], [1, 0.5], right=0.0)
    np.testing.assert_allclose(readings["partial"].irradiance_mw_cm2, want, rtol=1e-9)
    assert (theta > 40).any() and np.all(readings["partial"].irradiance_mw_cm2[theta > 40] == 0)


def test_detectors_block_no_light_and_read_only_what_faces_them(tmp_path):
    leds = [(0, 0, 30, 0, 0, -1, 5.0)]
    bare = _bench(tmp_path, leds, [])
    # A detector between the LED and the skin, and one facing away from the LED.
    scene = _bench(
        tmp_path, leds, [_grid(center_mm=[0, 0, -20]), _grid(name="away", normal=[0, 0, -1])]
    )
    with_detectors, without = twin.render(scene), twin.render(bare)
    np.testing.assert_array_equal(
        with_detectors.dose.total_irradiance_mw_cm2, without.dose.total_irradiance_mw_cm2
    )
    assert with_detectors.detectors["grid"].peak > 0.0
    assert with_detectors.detectors["away"].peak == 0.0
    assert with_detectors.metrics["detectors"]["away"]["uniformity_min_over_mean"] is None
    assert "detectors" not in without.metrics


def test_a_detector_can_be_placed_in_front_of_the_emitters(tmp_path):
    leds = [(x, y, 40, 0, 0, -1, 1.0) for x in (-10, 0, 10) for y in (-10, 0, 10)]
    scene = _bench(
        tmp_path,
        leds,
        [{"name": "front", "at": {"standoff_mm": 5}, "size_mm": [30, 30], "pixels": [3, 3]}],
    )
    (d,) = scene.detectors
    np.testing.assert_allclose(d.center_mm, [0, 0, 35])
    np.testing.assert_allclose(d.normal, [0, 0, 1])
    np.testing.assert_allclose(d.up, [0, 1, 0])
    # A bowl of LEDs pointing at its centre: in front of the one on its axis.
    bowl = [(0, 0, 40, 0, 0, -1, 1.0)] + [
        (20 * math.cos(t), 20 * math.sin(t), 30, -math.cos(t), -math.sin(t), -2, 1.0)
        for t in np.linspace(0, 2 * math.pi, 7)[:-1]
    ]
    placed = {"name": "front", "at": {"standoff_mm": 10}, "size_mm": [30, 30], "pixels": [3, 3]}
    (d,) = _bench(tmp_path, bowl, [placed]).detectors
    np.testing.assert_allclose(d.center_mm, [0, 0, 30], atol=1e-12)
    np.testing.assert_allclose(d.normal, [0, 0, 1], atol=1e-12)
    # LEDs that point every way have no axis to stand on.
    with raises_naming("detectors[0].at", "point every way", "center_mm and normal"):
        _bench(tmp_path, [(0, 0, 0, 0, 0, 1, 1.0), (0, 0, 1, 0, 0, -1, 1.0)], [placed])


@pytest.mark.parametrize(
    ("change", "parts"),
    [
        ({"name": "a b"}, ("detectors[0].name", "letters, digits", "'a b'")),
        ({"center_mm": [0, 0]}, ("detectors[0].center_mm", "3 finite numbers", "[0, 0]")),
        ({"center_mm": [0, 0, math.nan]}, ("detectors[0].center_mm", "finite", "nan")),
        ({"normal": [0, 0, 0]}, ("detectors[0].normal", "non-zero", "[0, 0, 0]")),
        ({"up": [0, 0, 5]}, ("detectors[0].up", "not parallel to the normal", "[0, 0, 5]")),
        ({"size_mm": [60, 0]}, ("detectors[0].size_mm", "> 0", "[60, 0]")),
        ({"pixels": [13]}, ("detectors[0].pixels", "two whole numbers", "[13]")),
        ({"pixels": [0, 9]}, ("detectors[0].pixels[0]", "[1, 2001]", "0")),
        ({"pixels": [2001, 2001]}, ("detectors[0].pixels", "at most 1000000", "2001 x 2001")),
        ({"pixels": [3.5, 9]}, ("detectors[0].pixels[0]", "whole number", "3.5")),
        ({"aperture_mm": -1}, ("detectors[0].aperture_mm", ">= 0", "-1")),
        ({"aperture_mm": 50}, ("detectors[0].aperture_mm", "10 times the pixel pitch", "50")),
        ({"response": "cosinus"}, ("detectors[0].response", "cosinus")),
        ({"response": {0: 1, 100: 0.5}}, ("detectors[0].response", "at most 90", "0..100")),
        ({"response": {0: 0, 45: 0.5}}, ("detectors[0].response", "positive at 0", "0 at 0")),
        ({"response": {0: 1, 45: "x"}}, ("detectors[0].response", "numbers", "'x'")),
        ({"size": [1, 1]}, ("detectors[0]", "unknown key 'size'", "size_mm")),
        ({"at": {"standoff_mm": 5}}, ("detectors[0]", "either 'at' or 'center_mm'")),
    ],
)
def test_bad_detectors_are_named(tmp_path, change, parts):
    with raises_naming(*parts):
        _bench(tmp_path, [(0, 0, 30, 0, 0, -1, 1.0)], [_grid(**change)])


def test_missing_keys_and_duplicate_names_are_named(tmp_path):
    led = [(0, 0, 30, 0, 0, -1, 1.0)]
    spec = _grid()
    del spec["pixels"]
    with raises_naming("detectors[0]", "missing required key 'pixels'"):
        _bench(tmp_path, led, [spec])
    spec = _grid()
    del spec["normal"]
    with raises_naming("detectors[0]", "missing required key 'normal'", "'at'"):
        _bench(tmp_path, led, [spec])
    spec = _grid(normal=[0, -3, 0])
    del spec["up"]  # the default, +y, is parallel to this normal
    with raises_naming("detectors[0].up", "not parallel", "[0.0, -1.0, 0.0]", "the default"):
        _bench(tmp_path, led, [spec])
    with raises_naming("detectors[1].name", "no other detector has", "'Grid'", "'grid'"):
        _bench(tmp_path, led, [_grid(), _grid(name="Grid")])
    with raises_naming("detectors", "a list of detectors", "dict"):
        _bench(tmp_path, led, _grid())  # type: ignore[arg-type]


def test_render_writes_detector_files_and_the_resolved_scene_keeps_them(tmp_path):
    table = {0: 1.0, 45: 0.7, 80: 0.1}
    scene = _bench(
        tmp_path,
        [(0, 0, 30, 0, 0, -1, 10.0), (10, 0, 30, 0, 0, -1, 10.0)],
        [CONTRACT_ENTRY, _grid(name="head-2", response=table, aperture_mm=4)],
    )
    out = tmp_path / "out"
    result = twin.render(scene)
    result.write(out)
    for name in ("bench", "head-2"):
        rows = np.loadtxt(out / f"detector_{name}.csv", delimiter=",", skiprows=1)
        header = (out / f"detector_{name}.csv").read_text().splitlines()[0]
        assert header == "x_mm,y_mm,irradiance_mw_cm2"
        reading = result.detectors[name]
        np.testing.assert_allclose(rows[:, :2], reading.xy_mm)
        np.testing.assert_allclose(rows[:, 2], reading.irradiance_mw_cm2, rtol=1e-8)
        block = json.loads((out / "metrics.json").read_text())["detectors"][name]
        assert block["mean_mw_cm2"] == pytest.approx(rows[:, 2].mean(), rel=1e-8)
        assert block["peak_mw_cm2"] == pytest.approx(rows[:, 2].max(), rel=1e-8)
        assert block["uniformity_min_over_mean"] == pytest.approx(
            rows[:, 2].min() / rows[:, 2].mean(), rel=1e-8
        )
        assert block["light"] == "direct"
    again = twin.load_scene(out / "scene.resolved.yaml")
    assert [d.name for d in again.detectors] == ["bench", "head-2"]
    for a, b in zip(again.detectors, scene.detectors, strict=True):
        assert a.to_spec() == b.to_spec()
    np.testing.assert_allclose(
        read_detectors(again)["head-2"].irradiance_mw_cm2,
        result.detectors["head-2"].irradiance_mw_cm2,
        rtol=1e-12,
    )
    # A later render without the detector leaves no stale file behind.
    fewer = twin.load_scene({**scene.to_spec(), "detectors": [CONTRACT_ENTRY]}, base=tmp_path)
    twin.render(fewer).write(out)
    assert not (out / "detector_head-2.csv").exists()
    assert (out / "detector_bench.csv").exists()


def test_twin_render_prints_each_detector(tmp_path, capsys):
    scene = _bench(tmp_path, [(0, 0, 30, 0, 0, -1, 10.0)], [CONTRACT_ENTRY])
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(scene.to_spec()))
    assert main(["render", str(path), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    reading = read_detectors(scene)["bench"]
    line = next(s for s in text.splitlines() if s.startswith("detector bench:"))
    assert f"mean {reading.mean:.3g} mW/cm2" in line
    assert f"peak {reading.peak:.3g} mW/cm2" in line
    assert f"uniformity (min/mean) {reading.uniformity:.3g}" in line
    assert "detector_bench.csv" in text


def test_a_detector_map_is_a_heat_map_in_plane_coordinates(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need matplotlib (twin[viz])")
    from twin.views.plots import detector_map

    scene = _bench(tmp_path, [(10, 0, 20, 0, 0, -1, 1.0)], [_grid()])
    reading = read_detectors(scene)["grid"]
    fig = detector_map(reading)
    ax, bar = fig.axes
    image = ax.images[0].get_array()
    assert image.shape == (9, 13)
    assert np.unravel_index(np.argmax(image), image.shape) == (4, 8)  # y = 0, x = +10
    assert ax.images[0].get_extent() == pytest.approx([-32.5, 32.5, -22.5, 22.5])
    assert "mm" in ax.get_xlabel() and "mm" in ax.get_ylabel()
    assert "mW/cm²" in bar.get_ylabel()
