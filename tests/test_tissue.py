"""Light in tissue: the skin model against NIST, the shipped kernels, the scene's ``tissue:``
section, and the fluence rate at depth through the whole render pipeline."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import load_fails, write_phantom

import twin
from twin.devices.spectra import gaussian, line
from twin.tissue import kernels as kernel_module
from twin.tissue.kernels import (
    ANGLES_DEG,
    TABLE,
    kernel_table,
    layer_kernels,
    model_kernels,
    table_kernels,
)
from twin.tissue.layers import Layer
from twin.tissue.montecarlo import simulate
from twin.tissue.optics import CALIBRATION, SITES, SKIN_TYPES, Site, SkinModel

NIST = (415.0, 634.0, 829.0, 940.0)


def nist_reflectance() -> dict[float, np.ndarray]:
    """Per-subject mean reflectance at each NIST wavelength (docs/physics.md §3.5)."""
    path = Path(__file__).with_name("data") / "skin_reflectance_nist.csv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = np.genfromtxt(lines, delimiter=",", names=True)
    return {wl: rows["mean"][rows["wavelength_nm"] == wl] for wl in NIST}


def total_reflectance(model: SkinModel, wavelength_nm: float) -> float:
    """Specular + remitted at the NIST geometry (8 degrees) on the inner forearm's layers."""
    forearm = Site(epidermis_mm=0.07, dermis_mm=1.0)
    r = simulate(model.layers(wavelength_nm, forearm), incidence_deg=8.0, photons=20_000, seed=3)
    return r.specular + r.remitted


# --- the skin model against measured skin ------------------------------------------------


def test_calibrated_type_ii_lies_within_the_nist_cohort():
    """The calibrated model (type II, the cohort's fitted melanin) within NIST's p5..p95."""
    nist = nist_reflectance()
    model = SkinModel(melanin_fraction=SKIN_TYPES["II"])
    for wl in NIST:
        got = total_reflectance(model, wl)
        p5, p95 = np.percentile(nist[wl], [5, 95])
        assert p5 <= got <= p95, (wl, got, p5, p95)


def test_types_ii_and_iii_lie_within_the_measured_range_and_darker_types_reflect_less():
    nist = nist_reflectance()
    by_type = {
        t: [total_reflectance(SkinModel(melanin_fraction=m), wl) for wl in NIST]
        for t, m in SKIN_TYPES.items()
    }
    for t in ("II", "III"):
        for wl, got in zip(NIST, by_type[t], strict=True):
            assert nist[wl].min() <= got <= nist[wl].max(), (t, wl, got)
    order = np.array(list(by_type.values()))  # (types, wavelengths)
    assert np.all(np.diff(order, axis=0) < 0)  # more melanin, less light back, everywhere


# --- the shipped table -------------------------------------------------------------------


def test_table_passes_its_checksum_and_matches_the_model_it_claims():
    blob = TABLE.read_bytes()
    expected = TABLE.with_suffix(".sha256").read_text().split()[0]
    assert hashlib.sha256(blob).hexdigest() == expected
    with np.load(TABLE) as data:
        assert list(data["skin_types"]) == list(SKIN_TYPES)
        np.testing.assert_array_equal(data["melanin_fraction"], list(SKIN_TYPES.values()))
        assert list(data["sites"]) == list(SITES)
        thickness = [[s.epidermis_mm, s.dermis_mm] for s in SITES.values()]
        np.testing.assert_array_equal(data["site_thickness_mm"], thickness)
        calibration = [
            CALIBRATION.mus_prime_500nm_per_mm,
            CALIBRATION.scattering_power,
            CALIBRATION.dermis_blood_fraction,
        ]
        np.testing.assert_array_equal(data["calibration"], calibration)
        np.testing.assert_array_equal(data["incidence_deg"], ANGLES_DEG)


def test_a_table_entry_is_what_the_monte_carlo_gives_now():
    """Regenerating one entry (seeded) gives the same numbers: the table is this code's."""
    table = kernel_table()
    w, t, s, a = int(np.searchsorted(table.wavelength_nm, 450.0)), 5, 1, 2
    layers = SkinModel(melanin_fraction=SKIN_TYPES[table.skin_types[t]]).layers(
        float(table.wavelength_nm[w]), SITES[table.sites[s]]
    )
    r = simulate(
        layers,
        incidence_deg=float(table.incidence_deg[a]),
        photons=table.photons,
        seed=kernel_module.SEED,
    )
    centres = 0.5 * (r.depth_edges_mm[:-1] + r.depth_edges_mm[1:])
    expected = np.interp(table.depth_mm, centres, r.fluence_rate).astype(np.float32)
    np.testing.assert_array_equal(table.fluence_rate[w, t, s, a], expected)
    assert table.remitted[w, t, s, a] == np.float32(r.remitted)


def test_damaged_table_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "kernels.npz"
    copy.write_bytes(TABLE.read_bytes()[:-10] + b"0123456789")
    (tmp_path / "kernels.sha256").write_text(TABLE.with_suffix(".sha256").read_text())
    monkeypatch.setattr(kernel_module, "TABLE", copy)
    kernel_table.cache_clear()
    try:
        with pytest.raises(twin.errors.TwinError, match="fails its SHA-256"):
            kernel_table()
    finally:
        kernel_table.cache_clear()


def test_dark_skin_gets_a_fraction_of_the_dermal_dose_of_fair_skin():
    """Same irradiance: type VI ~0.3x type I's dermal fluence at 633 nm, ~0.5x at 830 nm.

    The numbers are those of docs/physics.md §3.4.7.
    """
    depths = [(1.0, 1.0)]
    face = list(SITES).index("face")
    for wl, expected in ((633.0, 0.3), (830.0, 0.5)):
        spectra = {"c": line(wl)}
        fair = table_kernels("I", spectra, depths).fluence_rate["c"][face, 0, 0]
        dark = table_kernels("VI", spectra, depths).fluence_rate["c"][face, 0, 0]
        assert dark / fair == pytest.approx(expected, abs=0.1)


def test_kernels_fall_with_depth_and_obliquity_and_blue_stays_shallow():
    depths = [(z, z) for z in (0.5, 1.0, 2.0, 4.0)]
    face = list(SITES).index("face")
    k = table_kernels("II", {"b": line(415.0), "r": line(633.0), "n": line(830.0)}, depths)
    red, nir, blue = (k.fluence_rate[c][face] for c in ("r", "n", "b"))
    assert np.all(np.diff(red[0]) < 0) and np.all(np.diff(nir[0]) < 0)
    assert np.all(red[0] > red[-1])  # 0 degrees against 80 degrees
    assert blue[0, 1] < 0.05 * red[0, 1]  # 415 nm is gone by 1 mm; 633 nm is not
    assert np.all(nir[0, 2:] > red[0, 2:])  # NIR reaches deepest


def test_a_spectrum_mixes_the_kernels_of_its_wavelengths():
    depths = [(1.0, 1.0)]
    narrow = table_kernels("II", {"c": line(630.0)}, depths).fluence_rate["c"]
    broad = table_kernels("II", {"c": gaussian(630.0, 40.0)}, depths).fluence_rate["c"]
    low = table_kernels("II", {"c": line(580.0)}, depths).fluence_rate["c"]
    high = table_kernels("II", {"c": line(680.0)}, depths).fluence_rate["c"]
    assert np.all(np.minimum(low, high) <= broad) and np.all(broad <= np.maximum(low, high))
    assert not np.allclose(broad, narrow)


def test_a_custom_mix_run_now_agrees_with_the_table():
    """model_kernels (Monte Carlo at render time) of type II's mix = the table, within noise."""
    depths = [(z, z) for z in (0.2, 1.0, 3.0)]
    spectra = {"r": line(640.0)}
    table = table_kernels("II", spectra, depths)
    now = model_kernels(
        SkinModel(melanin_fraction=SKIN_TYPES["II"]), spectra, depths, sites=["face"]
    )
    face = table.sites.index("face")
    np.testing.assert_allclose(now.fluence_rate["r"][0], table.fluence_rate["r"][face], rtol=0.05)


# --- the scene's tissue section ----------------------------------------------------------


@pytest.fixture
def phantom(tmp_path):
    return write_phantom(tmp_path)


LAYER = {"thickness_mm": 0.1, "mua_per_mm": 0.2, "mus_prime_per_mm": 2.0, "g": 0.8, "n": 1.4}


@pytest.mark.parametrize(
    ("tissue", "parts"),
    [
        ({"skin_type": "VII"}, ("tissue.skin_type", "unknown skin type 'VII'")),
        ({"skin_type": {"melanin_fraction": 2}}, ("melanin_fraction", "[0, 1]", "2")),
        ({"skin_type": {"melanin": 0.1}}, ("skin_type", "unknown key 'melanin'")),
        ({"depths_mm": [1.0, 0.5]}, ("tissue.depths_mm", "increasing", "[1.0, 0.5]")),
        ({"depths_mm": [25]}, ("tissue.depths_mm[0]", "[0, 20]", "25")),
        ({"depths_mm": "1"}, ("tissue.depths_mm", "a list of 1 to 32 depths", "'1'")),
        ({"skin_type": "II", "layers": [LAYER]}, ("tissue", "skin_type or layers, not both")),
        ({"layers": [LAYER, LAYER | {"thickness_mm": "x"}]}, ("layers[1].thickness_mm", "'x'")),
        (
            {"layers": [LAYER | {"thickness_mm": ".inf"}, LAYER]},
            ("layers[0].thickness_mm", "only the last layer may be infinite"),
        ),
        ({"layers": [{"thickness_mm": 1}]}, ("layers[0]", "missing mua_per_mm")),
        (
            {"layers": [LAYER | {"mua_per_mm": {"blue": 0.1}}]},
            ("layers[0].mua_per_mm", "unknown channel 'blue'"),
        ),
        ({"targets": {"dermis": {"depth_mm": [0.5, 1]}}}, ("tissue.targets", "unknown region")),
        ({"targets": {"roi": {"depth_mm": [2, 1]}}}, ("targets.roi.depth_mm", "low <= high")),
        ({"targets": {"roi": {}}}, ("targets.roi", "missing depth_mm")),
        ({"site": "knee"}, ("tissue.site", "unknown body site 'knee'")),
        ({"outside_n": 0.5}, ("tissue.outside_n", "[1, 3]", "0.5")),
    ],
)
def test_bad_tissue_sections_are_refused_naming_the_key(phantom, tissue, parts):
    scene = {
        "target": {"mesh": "head.ply", "units": "mm"},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30, "channel": "red"},
        "exposure_s": 600,
        "tissue": tissue,
    }
    load_fails(phantom, scene, *parts, at=phantom / "scene.yaml")


# --- through the whole pipeline ----------------------------------------------------------

HEIGHT_MM = 40.0


@pytest.fixture(scope="module")
def plane_render(tmp_path_factory):
    """A flat 60 mm square of skin lit by one red and one NIR LED 40 mm above its centre."""
    root = tmp_path_factory.mktemp("plane")
    x, y = np.meshgrid(np.linspace(-30, 30, 31), np.linspace(-30, 30, 31))
    vertices = np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size)])
    grid = np.arange(31 * 31).reshape(31, 31)
    quads = np.stack([grid[:-1, :-1], grid[:-1, 1:], grid[1:, 1:], grid[1:, :-1]], -1)
    tri = np.concatenate([quads[..., [0, 1, 2]], quads[..., [0, 2, 3]]]).reshape(-1, 3)
    trimesh.Trimesh(vertices, tri, process=False).export(root / "plane.ply")
    (root / "leds.csv").write_text(
        "x,y,z,dx,dy,dz,power_mw,channel,wavelength_nm\n"
        f"0,0,{HEIGHT_MM},0,0,-1,10,red,633\n"
        f"0,0,{HEIGHT_MM},0,0,-1,20,nir,830\n"
    )
    scene = {
        "name": "plane",
        "target": {"mesh": "plane.ply", "units": "mm"},
        "emitters": {"file": "leds.csv", "half_angle_deg": 60},
        "exposure_s": 300,
        "engine": {"backend": "reference"},
        "tissue": {
            "skin_type": "IV",
            "depths_mm": [0, 0.5, 1, 2.0],
            "targets": {"roi": {"depth_mm": [0.5, 1.5], "fluence_window_j_cm2": [1, 50]}},
        },
    }
    (root / "plane.yaml").write_text(yaml.safe_dump(scene))
    result = twin.render(root / "plane.yaml")
    result.write(root / "out")
    return result, root


def test_normal_incidence_reproduces_the_kernel_exactly(plane_render):
    result, _ = plane_render
    tissue = result.tissue
    below = int(np.argmin(np.linalg.norm(result.samples.positions_mm, axis=1)))
    site = tissue.site_index[below]
    for channel, phi in tissue.fluence_rate_mw_cm2.items():
        e = result.dose.irradiance_mw_cm2[channel][below]
        kernel = tissue.kernels.fluence_rate[channel][site, 0]  # the 0-degree node
        np.testing.assert_allclose(phi[below], e * kernel, rtol=1e-12)


def test_every_point_gets_its_irradiance_times_the_kernel_at_its_angle(plane_render):
    result, _ = plane_render
    tissue = result.tissue
    p = result.samples.positions_mm
    angle = np.degrees(np.arctan2(np.hypot(p[:, 0], p[:, 1]), HEIGHT_MM))
    for channel, phi in tissue.fluence_rate_mw_cm2.items():
        kernel = tissue.kernels.fluence_rate[channel][tissue.site_index]  # (k, a, d)
        at_angle = np.stack(
            [
                [np.interp(angle[i], ANGLES_DEG, kernel[i, :, d]) for d in range(kernel.shape[2])]
                for i in range(len(p))
            ]
        )
        e = result.dose.irradiance_mw_cm2[channel]
        lit = e > 0
        np.testing.assert_allclose(phi[lit], e[lit, None] * at_angle[lit], rtol=1e-9)


def test_depth_matrix_gives_the_same_maps(plane_render):
    from twin.dose.maps import emitter_power_mw
    from twin.tissue.depth import fluence_rate_matrix

    result, _ = plane_render
    tissue, emitters = result.tissue, result.scene.emitters
    power = emitter_power_mw(emitters, result.scene.drive)
    for depth in range(len(tissue.kernels.depths)):
        a = fluence_rate_matrix(
            tissue.shares,
            tissue.kernels,
            site_index=tissue.site_index,
            channel_of_emitter=emitters.channel,
            depth=depth,
        )
        np.testing.assert_allclose(a @ power, tissue.total_fluence_rate_mw_cm2[:, depth])


def test_metrics_and_files_carry_the_dose_at_depth(plane_render):
    result, root = plane_render
    metrics = json.loads((root / "out" / "metrics.json").read_text())
    tissue = metrics["tissue"]
    assert tissue["depths_mm"] == [0, 0.5, 1, 2.0]
    assert tissue["skin_type"] == "IV"
    areas = result.samples.areas_mm2
    phi = result.tissue.total_fluence_rate_mw_cm2
    mean = areas @ phi / areas.sum()
    np.testing.assert_allclose(tissue["roi"]["total"]["fluence_rate_mean_mw_cm2"], mean[:4])
    np.testing.assert_allclose(tissue["roi"]["total"]["fluence_mean_j_cm2"], mean[:4] * 300 / 1000)
    red = tissue["roi"]["channels"]["red"]["fluence_rate_min_mw_cm2"]
    np.testing.assert_allclose(red, result.tissue.fluence_rate_mw_cm2["red"][:, :4].min(axis=0))
    target = tissue["targets"]["roi"]
    assert target["depth_mm"] == [0.5, 1.5] and target["fluence_window_j_cm2"] == [1, 50]
    assert target["fluence_mean_j_cm2"] == pytest.approx(mean[4] * 0.3)
    # The band's mean lies between the dose at its top and its bottom.
    assert (
        mean[2] * 0.3 * 0.9
        < target["fluence_mean_j_cm2"]
        < tissue["roi"]["total"]["fluence_mean_j_cm2"][1] * 1.1
    )
    header = (root / "out" / "samples.csv").read_text().splitlines()[0].split(",")
    for depth in ("0", "0.5", "1", "2.0"):
        assert f"fluence_rate_{depth}mm_mw_cm2" in header
        assert f"fluence_rate_red_{depth}mm_mw_cm2" in header
        assert f"fluence_rate_nir_{depth}mm_mw_cm2" in header
    table = np.loadtxt(root / "out" / "samples.csv", delimiter=",", skiprows=1)
    column = header.index("fluence_rate_1mm_mw_cm2")
    np.testing.assert_allclose(table[:, column], phi[:, 2], rtol=1e-8)
    ply = trimesh.load(root / "out" / "surface.ply", process=False)
    vertex = ply.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_allclose(vertex["fluence_rate_0.5mm_mw_cm2"], phi[:, 1], rtol=1e-6)


def test_resolved_scene_renders_the_same_dose_at_depth(plane_render):
    result, root = plane_render
    resolved = yaml.safe_load((root / "out" / "scene.resolved.yaml").read_text())
    assert resolved["tissue"]["skin_type"] == "IV"
    again = twin.render(root / "out" / "scene.resolved.yaml")
    np.testing.assert_allclose(
        again.tissue.total_fluence_rate_mw_cm2, result.tissue.total_fluence_rate_mw_cm2
    )


def test_explicit_layers_match_their_own_monte_carlo(plane_render, tmp_path):
    _, root = plane_render
    scene = yaml.safe_load((root / "plane.yaml").read_text())
    stack = [
        {
            "thickness_mm": 0.1,
            "mua_per_mm": {"red": 0.3, "nir": 0.1},
            "mus_prime_per_mm": 3,
            "g": 0.8,
            "n": 1.4,
        },
        {"thickness_mm": ".inf", "mua_per_mm": 0.02, "mus_prime_per_mm": 2, "g": 0.8, "n": 1.4},
    ]
    scene["tissue"] = {"layers": stack, "depths_mm": [0.5]}
    for name in ("plane.ply", "leds.csv"):
        (tmp_path / name).write_bytes((root / name).read_bytes())
    (tmp_path / "layers.yaml").write_text(yaml.safe_dump(scene))
    result = twin.render(tmp_path / "layers.yaml")
    assert result.metrics["tissue"]["skin_type"] == "layers"
    red = (Layer(0.1, 0.3, 3.0, 0.8, 1.4), Layer(math.inf, 0.02, 2.0, 0.8, 1.4))
    expected = layer_kernels({"red": red}, [(0.5, 0.5)]).fluence_rate["red"][0, 0, 0]
    r = simulate(red, photons=kernel_module.RENDER_PHOTONS, seed=kernel_module.SEED)
    centres = 0.5 * (r.depth_edges_mm[:-1] + r.depth_edges_mm[1:])
    assert expected == pytest.approx(np.interp(0.5, centres, r.fluence_rate), rel=1e-12)
    below = int(np.argmin(np.linalg.norm(result.samples.positions_mm, axis=1)))
    e = result.dose.irradiance_mw_cm2["red"][below]
    assert result.tissue.fluence_rate_mw_cm2["red"][below, 0] == pytest.approx(e * expected)


def test_lateral_blur_keeps_a_uniform_map_and_spreads_a_point_by_sigma(plane_render):
    from twin.tissue.depth import lateral_blur

    result, _ = plane_render
    samples = result.samples
    blur = lateral_blur(samples, sigma_mm=4.0)
    np.testing.assert_allclose(blur @ np.ones(len(samples)), 1.0)
    centre = int(np.argmin(np.linalg.norm(samples.positions_mm, axis=1)))
    spot = np.zeros(len(samples))
    spot[centre] = 1.0
    spread = blur.T @ spot  # where the centre's light goes
    spread /= spread.sum()
    x = samples.positions_mm[:, 0]
    assert np.sqrt(spread @ x**2) == pytest.approx(4.0, rel=0.1)


def test_lateral_spread_blurs_every_depth_map_and_its_matrix(plane_render, tmp_path):
    from twin.dose.maps import emitter_power_mw
    from twin.tissue.depth import fluence_rate_matrix, lateral_blur

    sharp, root = plane_render
    scene = yaml.safe_load((root / "plane.yaml").read_text())
    scene["tissue"]["lateral_spread_mm"] = {"red": 2.0}
    for name in ("plane.ply", "leds.csv"):
        (tmp_path / name).write_bytes((root / name).read_bytes())
    (tmp_path / "spread.yaml").write_text(yaml.safe_dump(scene))
    result = twin.render(tmp_path / "spread.yaml")
    blur = lateral_blur(result.samples, sigma_mm=2.0)
    red, nir = (result.tissue.fluence_rate_mw_cm2[c] for c in ("red", "nir"))
    np.testing.assert_allclose(red, blur @ sharp.tissue.fluence_rate_mw_cm2["red"])
    np.testing.assert_allclose(nir, sharp.tissue.fluence_rate_mw_cm2["nir"])
    tissue, emitters = result.tissue, result.scene.emitters
    a = fluence_rate_matrix(
        tissue.shares,
        tissue.kernels,
        site_index=tissue.site_index,
        channel_of_emitter=emitters.channel,
        depth=1,
        blur=tissue.blur,
    )
    power = emitter_power_mw(emitters, result.scene.drive)
    np.testing.assert_allclose(a @ power, tissue.total_fluence_rate_mw_cm2[:, 1])


def test_monte_carlo_run_at_render_time_is_kept_on_disk_and_rerun_when_damaged(tmp_path):
    stack = {"c": (Layer(0.1, 0.5, 2.0, 0.8, 1.4), Layer(math.inf, 0.2, 1.5, 0.8, 1.4))}
    depths = [(0.3, 0.3)]
    first = layer_kernels(stack, depths, photons=2000, cache_dir=tmp_path)
    entries = sorted((tmp_path / "tissue").glob("*.npz"))
    assert len(entries) == len(ANGLES_DEG)
    kernel_module._slab.cache_clear()
    entries[0].write_bytes(b"not an npz")
    again = layer_kernels(stack, depths, photons=2000, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.fluence_rate["c"], first.fluence_rate["c"])
    assert np.load(entries[0])["fluence_rate"].size  # rewritten whole


def test_each_point_gets_the_body_site_of_its_region():
    from twin.pipeline.tissue import sample_sites

    scene = twin.load_scene(Path(twin.__file__).parent.parent / "scenes" / "default.yaml")
    samples = scene.target.samples()
    sites = sample_sites(scene, samples)
    assert set(sites[samples.regions["eyes"]]) == {"eyelid"}  # thin lids
    assert set(sites[samples.regions["forehead"]]) == {"forehead"}
    assert set(sites[samples.regions["cheek_left"]]) == {"face"}


def test_skin_no_region_places_takes_the_scenes_site(plane_render, tmp_path):
    from twin.pipeline.tissue import sample_sites

    result, root = plane_render
    assert set(sample_sites(result.scene, result.samples)) == {"face"}  # no anatomy: the face
    scene = yaml.safe_load((root / "plane.yaml").read_text())
    scene["tissue"]["site"] = "trunk"
    for name in ("plane.ply", "leds.csv"):
        (tmp_path / name).write_bytes((root / name).read_bytes())
    (tmp_path / "trunk.yaml").write_text(yaml.safe_dump(scene))
    trunk = twin.load_scene(tmp_path / "trunk.yaml")
    assert set(sample_sites(trunk, result.samples)) == {"trunk"}


def test_heating_uses_the_skin_models_reflectance_of_the_skin_type(plane_render):
    result, _ = plane_render
    heating = result.metrics["heating"]
    r = result.tissue.reflectance_at_points
    areas = result.samples.areas_mm2
    for channel in ("red", "nir"):
        assert heating["reflectance"][channel] == pytest.approx(
            np.average(r[channel], weights=areas)
        )
    absorbed = sum((1 - r[c]) * e for c, e in result.dose.irradiance_mw_cm2.items())
    assert heating["roi"]["absorbed_mw_cm2"]["max"] == pytest.approx(absorbed.max())
    # Darker skin reflects less and so absorbs more of the same light.
    face = list(SITES).index("face")
    fair = table_kernels("I", {"r": line(633.0)}, [(1.0, 1.0)]).reflectance["r"][face, 0]
    dark = table_kernels("VI", {"r": line(633.0)}, [(1.0, 1.0)]).reflectance["r"][face, 0]
    assert 1 - dark > 2 * (1 - fair)
