"""Carriers, layout patterns, channels, modes and the built-in designs."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from _helpers import raises_naming
from scipy.spatial import cKDTree

import twin
from twin.cli import main
from twin.devices import carriers
from twin.devices.designs import builtin_designs
from twin.devices.emitters import emitter_csv_text, read_emitter_csv
from twin.devices.layout import PATTERNS, interleave, pattern_points
from twin.geometry import anatomy
from twin.geometry.variants import population
from twin.pipeline.render import skin_clearance_mm

ANATOMY = {
    "mask-rigid-1026": "face",
    "mask-flexible-1026": "face",
    "helmet": "scalp",
    "pelvic-pad": "pelvis",
    "y-piece": "pelvis",
    "panel": "face",
}


def scene_file(root, emitters: dict, *, target=None, **extra) -> str:
    path = root / "scene.yaml"
    scene = {
        "target": target or {"mesh": "builtin:face"},
        "emitters": emitters,
        "exposure_s": 600,
        **extra,
    }
    path.write_text(yaml.safe_dump(scene))
    return path


@pytest.fixture(scope="module")
def rigid():
    return carriers.face_mask("rigid", standoff_mm=10.0)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_give_exact_counts_and_keep_apart(rigid, pattern):
    points = pattern_points(rigid, count=1026, pattern=pattern, seed=3)
    positions = points.positions(rigid.shell)
    assert len(positions) == 1026
    spacing = cKDTree(positions).query(positions, k=2)[0][:, 1]
    mean_spacing = np.sqrt(rigid.shell.area_mm2 / 1026)  # of a square lattice of that density
    # No two LEDs closer than a 3 mm package, and none much closer than the even density gives.
    assert spacing.min() > 3.0 and spacing.min() > 0.55 * mean_spacing
    assert np.median(spacing) > 0.7 * mean_spacing
    # Every point is on the shell: 10 mm off the face, less where the smooth shell bridges
    # a fold (beside the nose).
    clearance = skin_clearance_mm(positions, anatomy.builtin("face"))
    assert clearance.min() > 3.0 and np.median(clearance) > 9.5


def test_poisson_is_seeded_and_hex_is_regular(rigid):
    a = pattern_points(rigid, count=200, pattern="poisson", seed=1)
    b = pattern_points(rigid, count=200, pattern="poisson", seed=1)
    c = pattern_points(rigid, count=200, pattern="poisson", seed=2)
    np.testing.assert_array_equal(a.faces, b.faces)
    assert not np.array_equal(a.faces, c.faces)
    # A hex lattice: in the chart, each inner point has six neighbours at one spacing.
    # A hex lattice in the chart: neighbours are one spacing apart, or sqrt(3) spacings where
    # a cut-out took the one between; nothing in between.
    hexes = pattern_points(rigid, count=300, pattern="hex")
    uv = rigid.chart.to_2d(hexes.positions(rigid.shell))
    d = cKDTree(uv).query(uv, k=7)[0][:, 1:]
    spacing = d[:, 0].min()
    np.testing.assert_allclose(d[:, 0], spacing, rtol=1e-3)
    between = (d > spacing * 1.001) & (d < spacing * np.sqrt(3) * 0.999)
    assert not between.any()


def test_channel_ratios_are_exact_and_interleaved():
    rng = np.random.default_rng(0)
    points = rng.random((1000, 3)) * [200.0, 200.0, 1.0]
    channel = interleave(points, {"red": 2, "nir": 1})
    assert (channel == "red").sum() == 667 and (channel == "nir").sum() == 333
    # Each channel covers the whole area: its points' spread matches all points'.
    for name in ("red", "nir"):
        np.testing.assert_allclose(
            points[channel == name].mean(axis=0), points.mean(axis=0), atol=8
        )
    three = interleave(points[: 1026 - 1000 + 1000], {"a": 1, "b": 1, "c": 1})
    assert [int((three == c).sum()) for c in "abc"] == [334, 333, 333]


def test_rigid_mask_clears_every_wearer_and_its_gap_varies(tmp_path):
    gaps = {}
    people = population(10, seed=11)
    for i, variant in enumerate((None, *people)):
        target = {"mesh": "builtin:face"}
        if variant is not None:
            target["variant"] = variant.to_dict()
        scene = twin.load_scene(scene_file(tmp_path, {"design": "mask-rigid-1026"}, target=target))
        clearance = skin_clearance_mm(scene.emitters.positions_mm, scene.target)
        assert clearance.min() >= 1.0 - 1e-2, (i, clearance.min())
        gaps[i] = clearance
    reference_spread = np.std(gaps[0])
    assert all(np.std(g) > reference_spread for i, g in gaps.items() if i)
    assert np.mean([np.std(g) for i, g in gaps.items() if i]) > 2 * reference_spread


def test_flexible_mask_keeps_its_standoff_on_every_wearer(tmp_path):
    for variant in population(3, seed=5):
        target = {"mesh": "builtin:face", "variant": variant.to_dict()}
        scene = twin.load_scene(
            scene_file(tmp_path, {"design": "mask-flexible-1026"}, target=target)
        )
        result = twin.render(scene)
        gap = np.array(result.metrics["emitters"]["per_emitter"]["gap_mm"], dtype=float)
        # Along its axis each LED sees its own skin point 3 mm away, unless a fold is nearer.
        assert np.percentile(gap, 5) > 2.9 and np.abs(gap[gap > 2.9] - 3.0).max() < 0.1
        # In the creases beside the nostrils 3 mm out along the normal is inside the nose
        # wing: reported, not refused, for a flexible mask.
        clearance = np.array(result.metrics["emitters"]["per_emitter"]["clearance_mm"])
        assert result.metrics["emitters"]["inside_skin"] == int((clearance < 0).sum()) <= 4


def test_rigid_and_flexible_differ_as_physics_says(tmp_path):
    wearer = {"mesh": "builtin:face", "variant": population(1, seed=2)[0].to_dict()}
    m = {}
    for design in ("mask-rigid-1026", "mask-flexible-1026"):
        for who, target in (("reference", {"mesh": "builtin:face"}), ("wearer", wearer)):
            result = twin.render(scene_file(tmp_path, {"design": design}, target=target))
            m[design, who] = result.metrics
    rigid = m["mask-rigid-1026", "reference"], m["mask-rigid-1026", "wearer"]
    flexible = m["mask-flexible-1026", "reference"], m["mask-flexible-1026", "wearer"]

    def clearance(metrics, key):
        return metrics["emitters"]["clearance_mm"][key]

    def irradiance(metrics, key):
        return metrics["roi"]["total"]["irradiance_mw_cm2"][key]

    # The flexible mask holds its 3 mm on both faces; the rigid one, made for the reference,
    # comes closer to this wearer (never nearer than its 1 mm clearance) and its gap spreads.
    for a in flexible:
        assert abs(clearance(a, "p95") - 3.0) < 0.1 and abs(clearance(a, "p5") - 3.0) < 0.1
    assert 1.0 - 0.01 < clearance(rigid[1], "min") < clearance(rigid[0], "min") - 2.0
    assert clearance(rigid[1], "std") > 2 * clearance(rigid[0], "std")
    # Where a rigid LED comes close the skin gets a hot spot (I0 / h^2 grows as 1 / h^2);
    # the flexible mask's peak stays where it was.
    assert irradiance(rigid[1], "max") > 2 * irradiance(rigid[0], "max")
    assert irradiance(flexible[1], "max") < 1.5 * irradiance(flexible[0], "max")
    # With the same LEDs per area and power the mean stays near n P (docs/physics.md §1.6, T4).
    ratio = irradiance(rigid[0], "mean") / irradiance(flexible[0], "mean")
    assert 0.7 < ratio < 1.4


@pytest.mark.parametrize("design", list(ANATOMY))
def test_every_built_in_design_renders_on_its_anatomy(tmp_path, design):
    assert set(builtin_designs()) == set(ANATOMY)
    spec = yaml.safe_load(builtin_designs()[design].read_text())
    path = scene_file(tmp_path, {"design": design}, target={"mesh": f"builtin:{ANATOMY[design]}"})
    result = twin.render(path)
    layout = result.metrics["layout"]
    assert result.metrics["engine"]["emitters"] == spec["count"] == layout["count"]
    ratios = {c: v["ratio"] for c, v in spec["channels"].items()}
    per_ratio = spec["count"] / sum(ratios.values())
    assert layout["channels"] == {c: round(r * per_ratio) for c, r in ratios.items()}
    assert result.metrics["roi"]["total"]["irradiance_mw_cm2"]["mean"] > 0
    if result.scene.layout.carrier.conforming:
        assert result.metrics["emitters"]["inside_skin"] <= 4  # creases: reported
    else:
        assert result.metrics["emitters"]["inside_skin"] == 0
    assert 0 < result.metrics["coverage"]["at_least_1"] <= 1


def test_layout_csv_round_trips_exactly(tmp_path, capsys):
    path = scene_file(tmp_path, {"design": "helmet"}, target={"mesh": "builtin:scalp"})
    assert main(["layout", str(path), "--out", str(tmp_path / "leds.csv")]) == 0
    printed = capsys.readouterr().out
    assert "300 emitters on a helmet carrier (" in printed
    assert all(f"{c} 100" in printed for c in ("red", "nir", "nir2"))
    text = (tmp_path / "leds.csv").read_text()
    again = read_emitter_csv(tmp_path / "leds.csv")

    def positions(csv_text: str) -> list[str]:
        return [",".join(line.split(",")[:3]) for line in csv_text.splitlines()]

    assert positions(emitter_csv_text(again)) == positions(text)  # as written, to the digit
    scene = twin.load_scene(path)
    np.testing.assert_allclose(again.positions_mm, scene.emitters.positions_mm, rtol=1e-8)
    # The CSV renders the same direct light as the design it came from (without the
    # helmet's shell it has no carrier to return light).
    csv_scene = scene_file(
        tmp_path,
        {"file": "leds.csv"},
        target={"mesh": "builtin:scalp"},
        mode={"red": 1.0, "nir": 1.0, "nir2": 1.0},
    )

    def direct(result: twin.RenderResult) -> np.ndarray:
        return np.sum([result.dose.direct(c) for c in result.dose.channels], axis=0)

    np.testing.assert_allclose(
        direct(twin.render(csv_scene)), direct(twin.render(scene)), rtol=1e-6, atol=1e-9
    )
    assert main(["layout", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted(ANATOMY)


def test_modes_are_data(tmp_path):
    for mode, on in (("red", {"red", "nir"}), ("blue", {"blue"}), ("pink", {"red", "blue"})):
        scene = twin.load_scene(scene_file(tmp_path, {"design": "mask-rigid-1026"}, mode=mode))
        assert {c for c, level in scene.drive.items() if level > 0} == on
    mix = {"red": 0.5, "blue": 0.25}
    scene = twin.load_scene(scene_file(tmp_path, {"design": "mask-rigid-1026"}, mode=mix))
    assert scene.drive == {"red": 0.5, "nir": 0.0, "blue": 0.25}
    helmet = twin.load_scene(
        scene_file(tmp_path, {"design": "helmet"}, target={"mesh": "builtin:scalp"})
    )
    assert helmet.drive == {"red": 1.0, "nir": 1.0, "nir2": 1.0}  # its own default mode


def test_generator_form_tilt_and_extended_emitters(tmp_path):
    base = {
        "carrier": "flexible",
        "count": 300,
        "pattern": "poisson",
        "channels": {"red": {"led": "red-633-wide", "ratio": 1}},
    }
    point = twin.render(scene_file(tmp_path, base))
    extended = twin.render(scene_file(tmp_path, {**base, "extended": True}))
    assert extended.metrics["layout"]["extended"] is True
    np.testing.assert_array_equal(
        point.scene.emitters.positions_mm, extended.scene.emitters.positions_mm
    )
    # A 2 mm chip 3 mm off the skin spreads its light: lower peak, same power on the face.
    e_point, e_ext = point.dose.total_irradiance_mw_cm2, extended.dose.total_irradiance_mw_cm2
    assert e_ext.max() < e_point.max()
    a = point.samples.areas_mm2
    np.testing.assert_allclose((e_ext * a).sum(), (e_point * a).sum(), rtol=0.02)
    tilted = twin.load_scene(scene_file(tmp_path, {**base, "tilt_deg": 10.0}))
    angle = np.degrees(
        np.arccos(
            np.clip(np.einsum("ij,ij->i", tilted.emitters.axes, point.scene.emitters.axes), -1, 1)
        )
    )
    assert np.all(angle <= 10.0 + 1e-6) and np.median(angle) > 5.0


def test_ies_led_model_in_a_design(tmp_path):
    lines = ["IESNA:LM-63-2002", "TILT=NONE", "1 -1 1 19 1 1 2 0 0 0", "1 1 1"]
    angles = np.arange(0, 91, 5)
    lines.append(" ".join(str(a) for a in angles))
    lines.append("0")
    lines.append(" ".join(f"{np.cos(np.radians(a)) ** 4.82:.6f}" for a in angles))
    (tmp_path / "led.ies").write_text("\n".join(lines) + "\n")
    led = {"wavelength_nm": 633, "power_mw": 8.0, "profile": "led.ies"}
    spec = {
        "design": "mask-rigid-1026",
        "channels": {"red": {"led": led}},
        "count": 200,
    }
    scene = twin.load_scene(scene_file(tmp_path, spec, mode={"red": 1.0}))
    profile = scene.emitters.profiles[0]
    cos = np.cos(np.radians([0.0, 20.0, 40.0]))
    np.testing.assert_allclose(
        profile.intensity_per_mw(cos), twin.Lambertian(30.0).intensity_per_mw(cos), rtol=5e-3
    )  # linear interpolation of cos^4.82 between 5-degree table rows: 0.3 % at 40 degrees


def test_bad_designs_get_one_clear_message(tmp_path):
    where = f"{tmp_path}/scene.yaml: emitters"

    def fails(emitters: dict, key: str, *parts: str, **extra) -> None:
        path = scene_file(tmp_path, emitters, **extra)
        with raises_naming(*parts, at=where + key):
            twin.load_scene(path)

    names = ", ".join(sorted(ANATOMY))
    fails({"design": "mask-rigid-1062"}, ".design", "'mask-rigid-1062'", f"({names})", "file")
    fails(
        {"design": "mask-rigid-1026", "pattern": "square"},
        ".pattern",
        "hex, poisson, fibonacci, uniform",
        "'square'",
    )
    fails(
        {"design": "mask-rigid-1026", "count": 0}, ".count", "a whole number in [1, 100000]", "0"
    )
    fails({"design": "mask-rigid-1026", "cuont": 10}, "", "unknown key 'cuont'", "'count'")
    fails({"design": "helmet"}, "", "worn on the scalp", "builtin:face")
    fails(
        {"carrier": "hat", "count": 10, "channels": {}},
        ".carrier",
        "rigid, flexible, helmet, pad, panel",
        "'hat'",
    )
    leds = sorted(p.stem for p in (twin._data.data_dir("arrays") / "leds").glob("*.yaml"))
    fails(
        {"design": "mask-rigid-1026", "channels": {"red": {"led": "red-999"}}},
        ".channels.red.led",
        "unknown LED model 'red-999'",
        f"({', '.join(leds)})",
        "file",
    )
    fails(
        {"design": "mask-rigid-1026", "channels": {"red": {"led": "red-633", "ratio": 0}}},
        ".channels.red.ratio",
        "a whole number >= 1",
        "0",
    )
    fails(
        {"design": "helmet", "standoff_mm": 30},
        ".standoff_mm",
        "5-20 mm",
        "30",
        target={"mesh": "builtin:scalp"},
    )
    path = scene_file(tmp_path, {"design": "mask-rigid-1026"}, mode="sunset")
    with raises_naming(
        "unknown mode 'sunset'", "red, blue, pink, nir", at=f"{tmp_path}/scene.yaml: mode"
    ):
        twin.load_scene(path)


def test_a_rigid_mask_shaped_on_a_variant_fits_that_variant(tmp_path):
    wearer = population(1, seed=4)[0]
    target = {"mesh": "builtin:face", "variant": wearer.to_dict()}
    own = twin.load_scene(
        scene_file(
            tmp_path,
            {"design": "mask-rigid-1026", "shaped_on": wearer.to_dict(), "count": 300},
            target=target,
        )
    )
    generic = twin.load_scene(
        scene_file(tmp_path, {"design": "mask-rigid-1026", "count": 300}, target=target)
    )
    fitted = skin_clearance_mm(own.emitters.positions_mm, own.target)
    assert own.layout.push_mm == 0.0 and np.median(fitted) > 9.5
    worn = skin_clearance_mm(generic.emitters.positions_mm, generic.target)
    assert np.std(worn) > 2 * np.std(fitted)


@pytest.mark.parametrize(
    ("emitters", "key", "parts"),
    [
        ({"count": [1]}, ".count", ("a whole number in [1, 100000]", "[1]")),
        ({"count": 10**9}, ".count", ("a whole number in [1, 100000]", "1000000000")),
        ({"count": 1e9}, ".count", ("a whole number", "1000000000.0")),
        ({"carrier": [1]}, ".carrier", ("rigid, flexible", "[1]")),
        ({"cutouts": [[1]]}, ".cutouts", ("a list of", "[[1]]")),
        ({"seed": [1]}, ".seed", ("a whole number >= 0", "[1]")),
        ({"pattern": ["hex"]}, ".pattern", ("a pattern name", "['hex']")),
        ({"tilt_deg": 10**400}, ".tilt_deg", ("a number >= 0", "1000")),
        (
            {"extended": True, "aperture_samples": 10**8},
            ".aperture_samples",
            ("a whole number in [1, 4096]", "100000000"),
        ),
        (
            {"channels": {"red": {"led": {"wavelength_nm": 633, "power_mw": 5, "profile": 0}}}},
            ".channels.red.led.profile",
            ("a file name", "0"),
        ),
        (
            {
                "channels": {
                    "red": {"led": {"wavelength_nm": 633, "power_mw": 5, "half_angle_deg": 1e-7}}
                }
            },
            ".channels.red.led.half_angle_deg",
            ("[0.5, 90) degrees", "1e-07"),
        ),
        ({"design": "a" * 300}, ".design", ("at most 255 bytes", "aaa")),
        ({"design": "x\0y"}, ".design", ("NUL byte",)),
    ],
)
def test_fuzzed_design_values_are_refused_by_key(tmp_path, emitters, key, parts):
    # Reproducers of fuzzed input: lists where a scalar goes, sizes past the limits, odd names.
    spec = {"design": "mask-rigid-1026", **emitters}
    path = scene_file(tmp_path, spec)
    with raises_naming(*parts, at=f"{tmp_path}/scene.yaml: emitters{key}"):
        twin.load_scene(path)


def test_a_design_file_that_is_not_utf8_or_has_duplicate_keys(tmp_path):
    design = tmp_path / "mine.yaml"
    for body, parts in (
        (b"carrier: rigid\ncount: 10\xff\n", ("expected UTF-8", "0xff")),
        (b"carrier: rigid\ncount: 10\ncount: 20\n", ("line 3, column 1", "duplicate key 'count'")),
    ):
        design.write_bytes(body)
        with raises_naming(*parts, at=design):
            twin.load_scene(scene_file(tmp_path, {"design": "mine.yaml"}))


def test_overriding_one_channel_of_a_design_keeps_the_others(tmp_path):
    design = yaml.safe_load(builtin_designs()["mask-rigid-1026"].read_text())
    weak_red = {"wavelength_nm": 633, "power_mw": 6.0, "half_angle_deg": 30}
    spec = {"design": "mask-rigid-1026", "count": 300, "channels": {"red": {"led": weak_red}}}
    scene = twin.load_scene(scene_file(tmp_path, spec))
    emitters = scene.emitters
    assert sorted(emitters.channels) == sorted(design["channels"])  # nir and blue stay
    red = np.asarray(emitters.channel) == "red"
    np.testing.assert_array_equal(emitters.power_mw[red], 6.0)
    base = twin.load_scene(scene_file(tmp_path, {"design": "mask-rigid-1026", "count": 300}))
    np.testing.assert_array_equal(emitters.positions_mm, base.emitters.positions_mm)
    np.testing.assert_array_equal(emitters.channel, base.emitters.channel)  # the ratio is kept
    np.testing.assert_array_equal(emitters.power_mw[~red], base.emitters.power_mw[~red])
    assert scene.drive == base.drive  # the design's mode still fits

    # null removes a channel; the modes that need it go with it
    no_blue = {"design": "mask-rigid-1026", "count": 300, "channels": {"blue": None}}
    scene = twin.load_scene(scene_file(tmp_path, no_blue, mode="red"))
    assert sorted(scene.emitters.channels) == ["nir", "red"]
    assert "blue" not in scene.layout.modes and "red" in scene.layout.modes
