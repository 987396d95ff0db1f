"""User scans: every format round-trips, safe repairs, alignment, region transfer, refusals."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import raises_naming
from scipy.spatial import cKDTree

import twin
from twin.geometry import anatomy
from twin.geometry.export import EXPORT_FORMATS, export_surface
from twin.geometry.scans import icp_alignment, landmark_alignment, transfer_regions
from twin.geometry.surface import Surface

#: A scanner frame: turned about all three axes and moved 1 m away from the anatomy frame.
POSE = trimesh.transformations.euler_matrix(0.5, -0.9, 2.4)
POSE[:3, 3] = [400.0, -200.0, 1000.0]
MM_PER = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "dm": 100.0}


@pytest.fixture(scope="module")
def face() -> Surface:
    return anatomy.builtin("face", max_edge_mm=5.0)


def scanned(surface: Surface, *, units: str = "mm") -> Surface:
    """``surface`` as a scanner would deliver it: in its own frame and units."""
    moved = surface.vertices_mm @ POSE[:3, :3].T + POSE[:3, 3]
    return Surface(moved / MM_PER[units], surface.faces, name="scan")


def nearest_mm(points, reference) -> np.ndarray:
    return cKDTree(reference).query(points)[0]


def write_scene(root, target: dict, *, leds: str | None = None) -> None:
    if leds is None:
        nasion = anatomy.landmarks()["nasion"]
        x, y = np.meshgrid(np.linspace(-50, 50, 5), np.linspace(-70, 50, 5))
        positions = np.column_stack(
            [x.ravel(), nasion[1] + y.ravel(), np.full(x.size, nasion[2] + 100.0)]
        )
        axes = np.tile([0.0, 0.0, -1.0], (len(positions), 1))
        emitters = twin.Emitters.create(positions, axes, 5.0, profile=twin.Lambertian(30.0))
        leds = twin.devices.emitters.emitter_csv_text(emitters)
    (root / "leds.csv").write_text(leds)
    scene = {"target": target, "emitters": {"file": "leds.csv"}, "exposure_s": 600}
    (root / "scene.yaml").write_text(yaml.safe_dump(scene))


@pytest.mark.parametrize("suffix", EXPORT_FORMATS)
def test_every_format_round_trips_into_the_anatomy_frame(tmp_path, face, suffix):
    units = {"ply": "mm", "obj": "cm", "stl": "m", "off": "dm", "glb": "m", "gltf": "cm"}[suffix]
    export_surface(scanned(face, units=units), tmp_path / f"scan.{suffix}")
    target = {
        "mesh": f"scan.{suffix}",
        "units": units,
        "align": "icp",
        "regions_from": "face",
    }
    write_scene(tmp_path, target)
    scene = twin.load_scene(tmp_path / "scene.yaml")
    assert twin.render(scene).metrics["roi"]["total"]["irradiance_mw_cm2"]["mean"] > 0
    # Back where the built-in face is, to float32 precision of the file (STL and GLB).
    assert nearest_mm(scene.target.vertices_mm, face.vertices_mm).max() < 0.05
    np.testing.assert_allclose(scene.target.area_mm2, face.area_mm2, rtol=1e-4)
    assert scene.target.signed_volume_mm3 == pytest.approx(face.signed_volume_mm3, rel=1e-3)
    assert tuple(scene.target.regions) == anatomy.REGIONS["face"]
    assert scene.exclude == ("eyes",)
    # The same labels as the unmoved face gets from the built-in (vertex order may differ).
    expected = transfer_regions(face, anatomy.builtin("face"))
    order = cKDTree(face.vertices_mm).query(scene.target.vertices_mm)[1]
    for region, idx in scene.target.regions.items():
        np.testing.assert_array_equal(np.sort(order[idx]), expected.regions[region])


def test_a_scan_renders_like_the_built_in_face_and_re_renders_from_its_resolved_scene(
    tmp_path, face
):
    export_surface(scanned(face, units="cm"), tmp_path / "scan.obj")
    write_scene(
        tmp_path, {"mesh": "scan.obj", "units": "cm", "align": "icp", "regions_from": "face"}
    )
    result = twin.render(tmp_path / "scene.yaml")
    (tmp_path / "builtin.yaml").write_text(
        yaml.safe_dump(
            {
                "target": {"mesh": "builtin:face", "max_edge_mm": 5.0},
                "emitters": {"file": "leds.csv"},
                "exposure_s": 600,
            }
        )
    )
    builtin = twin.render(tmp_path / "builtin.yaml")
    for key in ("mean", "p5", "max"):
        a = result.metrics["roi"]["total"]["irradiance_mw_cm2"][key]
        b = builtin.metrics["roi"]["total"]["irradiance_mw_cm2"][key]
        assert a == pytest.approx(b, rel=1e-3)
    result.write(tmp_path / "out")
    resolved = yaml.safe_load((tmp_path / "out" / "scene.resolved.yaml").read_text())
    assert set(resolved["target"]["align"]) == {"matrix"}
    again = twin.render(tmp_path / "out" / "scene.resolved.yaml")
    np.testing.assert_allclose(
        again.dose.total_irradiance_mw_cm2, result.dose.total_irradiance_mw_cm2, rtol=1e-6
    )


def test_landmarks_align_exactly_and_icp_refines_them(tmp_path, face):
    export_surface(scanned(face), tmp_path / "scan.ply")
    reference = anatomy.landmarks()
    names = ("nasion", "nose_tip", "menton", "tragion_left", "tragion_right")
    picked = {k: (POSE[:3, :3] @ reference[k] + POSE[:3, 3]).round(3).tolist() for k in names}
    fit = landmark_alignment({k: np.array(v) for k, v in picked.items()}, reference)
    assert fit.rms_mm < 1e-3
    np.testing.assert_allclose(fit.matrix @ POSE, np.eye(4), atol=5e-3)  # picks to 1 µm
    for align in ({"landmarks": picked}, {"landmarks": picked, "icp": True}):
        write_scene(tmp_path, {"mesh": "scan.ply", "units": "mm", "align": align})
        target = twin.load_scene(tmp_path / "scene.yaml").target
        assert nearest_mm(target.vertices_mm, face.vertices_mm).max() < 0.01


def test_icp_tolerates_noise_and_a_different_person(face):
    rng = np.random.default_rng(1)
    noisy = face.vertices_mm + rng.normal(0.0, 0.2, face.vertices_mm.shape)
    scan = scanned(Surface(noisy, face.faces))
    fit = icp_alignment(scan, anatomy.builtin("face"))
    back = scan.vertices_mm @ fit.matrix[:3, :3].T + fit.matrix[:3, 3]
    assert np.abs(back - noisy).max() < 0.1  # the 0.2 mm noise averages out
    assert 0.1 < fit.rms_mm < 0.4
    other = anatomy.builtin("face", variant=twin.Variant(sex=1.0, age_years=50))
    fit = icp_alignment(scanned(other), anatomy.builtin("face"))
    assert fit.rms_mm < 3.0  # a different face: it fits, not exactly


def test_region_transfer_labels_only_what_is_near(face):
    far = Surface(face.vertices_mm + np.array([0.0, 0.0, 300.0]), face.faces)
    assert transfer_regions(far, face).regions == {}
    near = transfer_regions(Surface(face.vertices_mm, face.faces), face)
    for region, idx in face.regions.items():
        np.testing.assert_array_equal(near.regions[region], idx)


def test_safe_repairs_are_made_and_logged(tmp_path, caplog, face):
    tri = face.faces
    flipped = tri.copy()
    flipped[::7] = flipped[::7, ::-1]  # inconsistent winding
    with_junk = np.vstack([flipped, tri[:5], [[0, 0, 1]]])  # 5 duplicates, 1 degenerate
    trimesh.Trimesh(face.vertices_mm, with_junk, process=False).export(tmp_path / "messy.obj")
    with caplog.at_level(logging.WARNING, logger="twin.geometry.meshio"):
        surface = twin.load_surface(tmp_path / "messy.obj", units="mm")
    assert caplog.messages == [
        f"{tmp_path}/messy.obj: repaired: dropped 6 degenerate or duplicate triangles; "
        f"re-wound {len(tri[::7])} triangles to one consistent winding"
    ]
    np.testing.assert_allclose(surface.face_normals, face.face_normals, atol=1e-6)
    # STL stores every triangle on its own: welding is routine and not reported.
    caplog.clear()
    export_surface(face, tmp_path / "face.stl")
    with caplog.at_level(logging.WARNING):
        surface = twin.load_surface(tmp_path / "face.stl", units="mm")
    assert caplog.messages == [] and len(surface.vertices_mm) == len(face.vertices_mm)
    # A closed body wound inside-out is turned outwards.
    head = twin.geometry.phantoms.head(subdivisions=3)
    trimesh.Trimesh(head.vertices_mm, head.faces[:, ::-1], process=False).export(
        tmp_path / "inside_out.ply"
    )
    with caplog.at_level(logging.WARNING):
        surface = twin.load_surface(tmp_path / "inside_out.ply", units="mm")
    assert surface.signed_volume_mm3 == pytest.approx(head.signed_volume_mm3)
    assert caplog.messages[-1].endswith("repaired: turned 1 closed inside-out piece(s) outwards")


def test_debris_is_dropped_but_two_bodies_are_refused(tmp_path, face, caplog):
    speck = trimesh.creation.icosphere(subdivisions=1, radius=1.0)
    speck.vertices += [0.0, 600.0, 300.0]
    body = trimesh.Trimesh(face.vertices_mm, face.faces, process=False)
    trimesh.util.concatenate([body, speck]).export(tmp_path / "specks.ply")
    write_scene(tmp_path, {"mesh": "specks.ply", "units": "mm", "regions_from": "face"})
    with caplog.at_level(logging.WARNING):
        scene = twin.load_scene(tmp_path / "scene.yaml")
    assert len(scene.target.faces) == len(face.faces)
    assert "repaired: dropped 1 small disconnected pieces" in caplog.text
    twin_body = body.copy()
    twin_body.vertices += [200.0, 0.0, 0.0]
    trimesh.util.concatenate([body, twin_body]).export(tmp_path / "two.ply")
    write_scene(tmp_path, {"mesh": "two.ply", "units": "mm"})
    area = f"{face.area_mm2 / 100:.3g}"
    parts = ("2 disconnected bodies", f"{area}, {area} cm2", "one piece", "occluders")
    with raises_naming(*parts, at=tmp_path / "two.ply"):
        twin.load_scene(tmp_path / "scene.yaml")


def test_bad_alignments_get_their_own_message(tmp_path, face):
    export_surface(scanned(face), tmp_path / "scan.ply")
    lm = {k: v.tolist() for k, v in anatomy.landmarks().items()}
    where = f"{tmp_path}/scene.yaml: target"

    def fails(target: dict, key: str, *parts: str) -> None:
        write_scene(tmp_path, {"mesh": "scan.ply", "units": "mm", **target})
        with raises_naming(*parts, at=where + key):
            twin.load_scene(tmp_path / "scene.yaml")

    fails(
        {"align": {"landmarks": {"nasion": lm["nasion"], "menton": lm["menton"]}}},
        ".align.landmarks",
        "at least 3 landmarks",
        "2",
    )
    fails(
        {"align": {"landmarks": {"nasoin": [0, 0, 0]}}},
        ".align.landmarks",
        "unknown landmark 'nasoin'",
        ", ".join(lm),
    )
    line = {k: [0.0, float(i), 0.0] for i, k in enumerate(("nasion", "nose_tip", "menton"))}
    fails(
        {"align": {"landmarks": line}},
        ".align.landmarks",
        "one line",
        "three or more",
    )
    tenfold = {k: (np.array(lm[k]) * 10).tolist() for k in ("nasion", "menton", "tragion_left")}
    rms = landmark_alignment(
        {k: np.array(v) for k, v in tenfold.items()}, anatomy.landmarks()
    ).rms_mm
    fails(
        {"align": {"landmarks": tenfold}},
        ".align.landmarks",
        f"RMS error of {rms:.3g} mm",
        "more than 20 mm",
        "in mm",
    )
    fails(
        {"align": {"matrix": (2 * np.eye(4)).tolist()}},
        ".align.matrix",
        "a rigid transform",
        "no scaling",
    )
    fails({"align": {"icp": False}}, ".align", "landmarks", "icp: true", "a matrix")
    fails(
        {"align": {"icp": True, "reference": "torso"}},
        ".align.reference",
        "a built-in anatomy (face, scalp, pelvis, head)",
        "'torso'",
    )
    fails(
        {"regions_from": "torso"},
        ".regions_from",
        "a built-in anatomy (face, scalp, pelvis, head)",
        "'torso'",
    )
    write_scene(tmp_path, {"mesh": "builtin:face", "align": "icp"})
    with raises_naming("built-in targets", "anatomy frame already", at=f"{where}.align"):
        twin.load_scene(tmp_path / "scene.yaml")
