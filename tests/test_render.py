"""Rendering a scene (``twin.pipeline.render``): maps and metrics end to end, the sample
points, the backend it runs on, the treated region and the mesh resolution."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import phantom_scene, raises_naming, write_helmet, write_phantom, write_user_head

import twin
from twin.cli import main
from twin.errors import BackendUnavailableError
from twin.geometry import anatomy
from twin.units import photons_per_s_per_mw


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    """A user-style scene: a head mesh file in cm, an emitter CSV with two channels."""
    root = tmp_path_factory.mktemp("scene")
    write_user_head(root)
    return root


def test_python_api_render_maps_and_metrics(scene_dir):
    result = twin.render(scene_dir / "scene.yaml", backend="reference")
    t = result.transfer.matrix
    power = result.scene.emitters.power_mw * np.where(
        result.scene.emitters.channel == "red", 1.0, 0.5
    )
    np.testing.assert_allclose(
        result.dose.total_irradiance_mw_cm2,
        t @ power + result.transfer.indirect @ power,
        rtol=1e-12,
    )
    red = result.dose.irradiance_mw_cm2["red"]
    np.testing.assert_allclose(result.dose.fluence_j_cm2("red"), red * 1.2, rtol=1e-12)
    np.testing.assert_allclose(
        result.dose.photon_flux_per_s_cm2("red"), red * photons_per_s_per_mw(633.0), rtol=1e-12
    )
    m = result.metrics["roi"]
    a = result.samples.areas_mm2
    np.testing.assert_allclose(
        m["total"]["irradiance_mw_cm2"]["mean"],
        np.average(result.dose.total_irradiance_mw_cm2, weights=a),
        rtol=1e-12,
    )
    np.testing.assert_allclose(m["area_cm2"] * 100, a.sum(), rtol=1e-12)
    # The mesh was in cm: the surface is head-sized in mm.
    assert 140 < result.scene.target.extent_mm[0] < 160
    assert result.metrics["emitters"]["axis_misses_skin"] == 0
    np.testing.assert_allclose(result.metrics["emitters"]["gap_mm"]["mean"], 10.0, rtol=1e-3)


def test_default_scene_renders_with_regions_and_eye_check(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "scene default:" in printed and "total" in printed and "IR-eye limit" in printed
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["engine"]["emitters"] == 1026
    assert metrics["layout"]["design"] == "mask-rigid-1026"
    assert metrics["layout"]["channels"] == {"red": 342, "nir": 342, "blue": 342}
    assert metrics["drive"] == {"red": 1.0, "nir": 1.0, "blue": 0.0}  # red mode
    assert metrics["emitters"]["inside_skin"] == 0
    assert tuple(metrics["regions"]) == anatomy.REGIONS["face"]
    assert metrics["engine"]["resolution"]["resolved"]  # 2.5 mm edges, LEDs 10 mm out
    eye = metrics["eye_safety"]
    assert eye["ir_channels"] == ["nir"]
    # The limits are judged at the cornea, facing each LED; the eyelid is reported beside:
    # its skin reads the region's own irradiance, a detector there facing each LED reads more.
    assert (
        eye["judged_on"] == "cornea"
        and eye["ir_irradiance_mw_cm2"] == eye["cornea"]["ir_irradiance_mw_cm2"]
    )
    skin = metrics["regions"]["eyes"]["channels"]["nir"]["irradiance_mw_cm2"]["max"]
    assert eye["eyelid"]["skin_ir_irradiance_mw_cm2"]["max"] == pytest.approx(skin, rel=1e-12)
    assert eye["eyelid"]["ir_irradiance_mw_cm2"]["max"] > 1.1 * skin
    # The IR-eye limit follows the exposure: 1800 t^-0.75 mW/cm2 at 600 s.
    assert eye["ir_limit_mw_cm2"] == pytest.approx(1800.0 * 600.0**-0.75)
    assert eye["ir_within_limit"] == (eye["ir_irradiance_mw_cm2"]["max"] <= eye["ir_limit_mw_cm2"])
    # Eyes and lips are left out of the treated area; the other regions' areas make it up.
    assert metrics["roi_regions"]["exclude"] == ["eyes", "lips"]
    result_area = sum(
        v["area_cm2"] for k, v in metrics["regions"].items() if k not in ("eyes", "lips")
    )
    np.testing.assert_allclose(metrics["roi"]["area_cm2"], result_area, rtol=1e-12)


def test_centroid_samples_carry_face_data(scene_dir, tmp_path):
    # Face and vertex sampling are two quadratures of the same received power, sum of E A;
    # they agree once the mesh resolves the 10 mm gap (edges of 1.8 mm on average, 3.3 at most).
    results = {}
    for at in ("vertices", "centroids"):
        spec = {
            "target": {"mesh": "builtin:phantom-head", "max_edge_mm": 3.5, "samples": at},
            "emitters": {"file": "leds.csv"},
            "exposure_s": 60,
        }
        (scene_dir / f"{at}.yaml").write_text(yaml.safe_dump(spec))
        results[at] = twin.render(scene_dir / f"{at}.yaml")
    result = results["centroids"]
    head = result.scene.target
    assert len(result.samples) == len(head.faces)
    np.testing.assert_allclose(result.samples.areas_mm2.sum(), head.area_mm2, rtol=1e-12)
    received_mw = [
        r.dose.total_irradiance_mw_cm2 @ r.samples.areas_mm2 / 100 for r in results.values()
    ]
    np.testing.assert_allclose(received_mw[0], received_mw[1], rtol=5e-3)
    assert received_mw[0] < 60 * 4.0  # some light passes the head
    result.write(tmp_path)
    ply = trimesh.load(tmp_path / "surface.ply", process=False)
    face_fields = ply.metadata["_ply_raw"]["face"]["data"].dtype.names
    assert "irradiance_mw_cm2" in face_fields


def test_a_mesh_too_coarse_for_the_gap_is_flagged(tmp_path, caplog):
    # The scalp's default 4 mm edges under a helmet 5 mm off the skin: each LED's spot is
    # narrower than that, so three quarters of the narrowest lit beam's spot radius is asked.
    from twin.devices.profiles import spot_radius_per_gap
    from twin.pipeline.metrics import EDGE_PER_SPOT

    result = twin.render(write_helmet(tmp_path, "close", 5.0, count=40))
    resolution = result.metrics["engine"]["resolution"]
    assert resolution["median_gap_mm"] == pytest.approx(5.0, abs=0.05)
    emitters, drive = result.scene.emitters, result.scene.drive
    lit = [p for p, c in zip(emitters.profile_index, emitters.channel, strict=True) if drive[c]]
    spot = min(spot_radius_per_gap(emitters.profiles[i]) for i in set(lit))
    limit = EDGE_PER_SPOT * spot * resolution["median_gap_mm"]
    assert resolution["max_edge_mm"] == pytest.approx(limit)
    assert resolution["edge_mm_p95"] > limit and not resolution["resolved"]
    assert f"keep edges under {limit:.2g} mm" in caplog.text
    # A scene that sets its edge length has chosen it: recorded, not warned about.
    caplog.clear()
    path = write_helmet(tmp_path, "chosen", 5.0, count=40)
    spec = yaml.safe_load(path.read_text())
    spec["target"]["max_edge_mm"] = 4.0
    path.write_text(yaml.safe_dump(spec))
    chosen = twin.render(path).metrics["engine"]["resolution"]
    assert not chosen["resolved"] and chosen["max_edge_mm"] == pytest.approx(limit, rel=0.05)
    assert "skin mesh edges of" not in caplog.text


def test_an_unusable_backend_is_one_clear_line(tmp_path, capsys, monkeypatch):
    from twin.engine.backends import cuda as _cuda
    from twin.engine.backends import resolve_backend

    monkeypatch.setattr(_cuda, "status", lambda: "no CUDA device is visible")
    assert resolve_backend("auto") == "embree"
    root = write_phantom(tmp_path)
    (root / "scene.yaml").write_text(yaml.safe_dump(phantom_scene()))
    reason = ("cannot run here", "no CUDA device is visible")
    with raises_naming("backend 'cuda'", *reason, error=BackendUnavailableError) as info:
        twin.render(root / "scene.yaml", backend="cuda")
    assert str(info.value).startswith("backend 'cuda'")
    args = ["render", str(root / "scene.yaml"), "--out", str(root / "out"), "--backend", "cuda"]
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == [f"twin: error: {info.value}"]
    assert not (root / "out").exists()
    # Asked for by the scene, the message names the scene file and its key.
    on_gpu = {**phantom_scene(), "engine": {"backend": "cuda"}}
    (root / "scene.yaml").write_text(yaml.safe_dump(on_gpu))
    with raises_naming(
        "engine.backend 'cuda'", *reason, at=root / "scene.yaml", error=BackendUnavailableError
    ):
        twin.render(root / "scene.yaml")


@pytest.mark.parametrize(
    ("target", "region"),
    [({"treat": ["eyes"]}, "eyes"), ({"treat": ["nose"], "exclude": ["nose"]}, "nose")],
)
def test_a_treated_region_left_empty(tmp_path, capsys, target, region):
    root = write_phantom(tmp_path)
    scene = phantom_scene()
    scene["target"] = {"mesh": "builtin:phantom-head", "max_edge_mm": 8.0, **target}
    (root / "scene.yaml").write_text(yaml.safe_dump(scene))
    with raises_naming(
        f"target.treat [{region!r}]",
        f"target.exclude [{region!r}]",
        "no skin to treat",
        at=root / "scene.yaml",
    ) as info:
        twin.render(root / "scene.yaml")
    # The eyes are left out unless the scene says otherwise, and the message says so.
    assert ("eyes are excluded by default" in str(info.value)) == ("exclude" not in target)
    assert main(["render", str(root / "scene.yaml"), "--out", str(root / "out")]) == 2
    assert capsys.readouterr().err == f"twin: error: {info.value}\n"
    assert not (root / "out").exists()
