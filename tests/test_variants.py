"""Shape variants and populations: MakeHuman's check values, shared topology, scenes, CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest
import trimesh
import yaml
from _helpers import raises_naming

import twin
from twin.cli import main
from twin.geometry import anatomy
from twin.geometry.variants import (
    HEIGHT_CM_PER_UNIT,
    Variant,
    offsets_mm,
    population,
    target_weights,
)

FEMALE, MALE = Variant(sex=0.0), Variant(sex=1.0)


def height_cm(variant: Variant) -> float:
    return float(anatomy.body(variant).extent_mm[1] / 10)


@pytest.mark.parametrize(
    ("variant", "expected_cm"), [(FEMALE, 159.0), (MALE, 173.0), (Variant(), 165.9)]
)
def test_heights_match_makehuman(variant, expected_cm):
    # MakeHuman's: a 25-year-old female 159.0 cm, a male 173.0 cm, the default human 165.9 cm.
    assert abs(height_cm(variant) - expected_cm) < 0.5


def test_macro_weights_are_a_partition_of_unity():
    # Each universal target stands for one corner of sex x age x muscle x weight: MakeHuman's
    # weights of those corners sum to one for every variant, and so do the race weights.
    for variant in population(12, seed=3, age_years=(10, 90)):
        weights = target_weights(variant)
        universal = sum(w for k, w in weights.items() if "/universal-" in k)
        race = sum(w for k, w in weights.items() if re.search(r"/(african|asian|caucasian)-", k))
        np.testing.assert_allclose([universal, race], 1.0, rtol=1e-12)


def test_bigger_parameters_move_the_body_the_expected_way():
    assert height_cm(Variant(height=1.0)) > height_cm(Variant()) > height_cm(Variant(height=0.0))
    heavy = anatomy.body(Variant(weight=1.0)).signed_volume_mm3
    thin = anatomy.body(Variant(weight=0.0)).signed_volume_mm3
    assert heavy > 1.2 * thin  # 61 L against 48 L
    tip, big, small = (
        anatomy.landmarks(Variant(nose=v), anchor="nasion")["nose_tip"] for v in (0.0, 1.0, -1.0)
    )
    assert big[2] > tip[2] > small[2]  # a bigger nose reaches further forward


@pytest.mark.parametrize(
    "parameter", ["head_oval", "head_round", "head_square", "nose", "chin", "cheeks", "forehead"]
)
def test_local_shapes_move_only_the_head(parameter):
    skin = anatomy.body().vertices_mm
    change = offsets_mm(Variant(**{parameter: 1.0})) - offsets_mm(Variant())
    moved = np.linalg.norm(change[: len(skin)], axis=1) > 1e-6
    assert moved.sum() > 50
    assert skin[moved, 1].min() > anatomy.landmarks()["menton"][1] - 40.0  # above the neck


def test_ear_size_moves_mostly_the_ears():
    change = offsets_mm(Variant(ears=1.0)) - offsets_mm(Variant())
    ears = np.zeros(len(change), dtype=bool)
    ears[: len(anatomy._body().ears)] = anatomy._body().ears
    moved = np.linalg.norm(change, axis=1)
    assert moved[ears].sum() > 0.8 * moved.sum()


@pytest.mark.parametrize("name", anatomy.ANATOMIES)
def test_variants_share_topology_regions_and_anchor(name):
    base = anatomy.builtin(name)
    for variant in (FEMALE, MALE, Variant(age_years=70, weight=0.9, head_round=1.0, chin=-1)):
        shaped = anatomy.builtin(name, variant=variant)
        np.testing.assert_array_equal(shaped.faces, base.faces)
        assert shaped.regions.keys() == base.regions.keys()
        for region, idx in base.regions.items():
            np.testing.assert_array_equal(shaped.regions[region], idx)
        anchor = anatomy.ANCHORS[name]
        np.testing.assert_allclose(
            anatomy.landmarks(variant, anchor=anchor)[anchor], anatomy.landmarks()[anchor]
        )
        assert not np.allclose(shaped.vertices_mm, base.vertices_mm, atol=1.0)


@pytest.mark.parametrize(
    ("variant", "face_cm", "pelvis_cm"),
    [
        (FEMALE, (13.2, 19.1, 9.8), (37.0, 39.5, 23.5)),
        (MALE, (13.5, 21.0, 11.5), (38.5, 37.3, 23.4)),
    ],
)
def test_variant_cut_sizes_agree_with_anatomy_md(variant, face_cm, pelvis_cm):
    face = anatomy.builtin("face", max_edge_mm=0, variant=variant)
    pelvis = anatomy.builtin("pelvis", max_edge_mm=0, variant=variant)
    np.testing.assert_allclose(face.extent_mm / 10, face_cm, rtol=0.1)
    np.testing.assert_allclose(pelvis.extent_mm / 10, pelvis_cm, rtol=0.1)


def test_eyes_move_with_the_variant_face():
    face = anatomy.builtin("face", variant=MALE)
    for eye in anatomy.eyeballs(MALE):
        centre = eye.vertices_mm.mean(axis=0)
        # The eyeball sits just behind the skin of the eye region it belongs to.
        nearest = np.linalg.norm(face.vertices_mm[face.regions["eyes"]] - centre, axis=1).min()
        assert nearest < 16.0


def test_population_is_seeded_balanced_and_in_range():
    people = population(50, seed=7)
    assert people == population(50, seed=7)
    assert people != population(50, seed=8)
    assert sum(p.sex for p in people) == 25
    ages = [p.age_years for p in people]
    assert 18 <= min(ages) and max(ages) <= 70 and max(ages) - min(ages) > 40
    weights = [p.weight for p in people]
    assert np.std(weights) > 0.1
    heights = [height_cm(p) for p in people[:10]]
    assert np.ptp(heights) > 10.0


def test_variant_arguments_are_checked():
    with raises_naming("[10, 90]", "5", at="variant.age_years"):
        Variant(age_years=5)
    with raises_naming("[-1, 1]", "2", at="v.nose"):
        Variant.from_dict({"nose": 2}, name="v")
    with raises_naming("unknown key 'wieght'", "'weight'", at="v"):
        Variant.from_dict({"wieght": 0.3}, name="v")
    with raises_naming("female, male or a number in [0, 1]", "'f'", at="v.sex"):
        Variant.from_dict({"sex": "f"}, name="v")
    assert Variant.from_dict({"sex": "male", "age_years": 40}) == Variant(sex=1.0, age_years=40)
    with raises_naming("a whole number", "0", at="population.size"):
        population(0, seed=1)


def _panel(tmp_path, count=60, distance_mm=120.0) -> None:
    """LEDs on a flat panel well in front of every face variant, pointing back at it."""
    x, y = np.meshgrid(np.linspace(-60, 60, 10), np.linspace(-80, 80, count // 10))
    nasion = anatomy.landmarks()["nasion"]
    positions = np.column_stack(
        [x.ravel(), nasion[1] + y.ravel(), np.full(x.size, nasion[2] + distance_mm)]
    )
    axes = np.tile([0.0, 0.0, -1.0], (len(positions), 1))
    emitters = twin.Emitters.create(positions, axes, 5.0, profile=twin.Lambertian(30.0))
    (tmp_path / "panel.csv").write_text(twin.devices.emitters.emitter_csv_text(emitters))


def test_variant_and_population_scenes_render(tmp_path, capsys):
    _panel(tmp_path)
    scene = {
        "name": "pop",
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0, "population": {"size": 3}},
        "emitters": {"file": "panel.csv"},
        "exposure_s": 600,
    }
    (tmp_path / "pop.yaml").write_text(yaml.safe_dump(scene))
    members = twin.load_scenes(tmp_path / "pop.yaml")
    assert [m.name for m in members] == ["pop-p00", "pop-p01", "pop-p02"]
    assert [m.variant for m in members] == list(population(3, seed=0))
    with raises_naming("target.population", "a population"):
        twin.load_scene(tmp_path / "pop.yaml")

    assert main(["render", str(tmp_path / "pop.yaml"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "population of 3" in out and "u0" in out
    table = (tmp_path / "out" / "population.csv").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("name,sex,age_years,mean_irradiance_mw_cm2")
    # A member's resolved scene renders that member alone, with the same maps.
    member = tmp_path / "out" / "pop-p01"
    again = twin.render(member / "scene.resolved.yaml")
    assert again.scene.variant == members[1].variant
    written = trimesh.load(member / "surface.ply", process=False)
    e = written.metadata["_ply_raw"]["vertex"]["data"]["irradiance_mw_cm2"]
    np.testing.assert_allclose(again.dose.total_irradiance_mw_cm2, e, rtol=1e-5, atol=1e-9)


def test_bad_variant_and_population_scenes(tmp_path):
    _panel(tmp_path)

    path = tmp_path / "s.yaml"

    def fails(target: dict, at: str, *parts: str, loader=twin.load_scene) -> None:
        scene = {"target": target, "emitters": {"file": "panel.csv"}, "exposure_s": 60}
        path.write_text(yaml.safe_dump(scene))
        with raises_naming(*parts, at=at):
            loader(path)

    fails(
        {"mesh": "builtin:face", "variant": {"age_years": 95}},
        f"{path}: target.variant.age_years",
        "[10, 90]",
        "95",
    )
    fails(
        {"mesh": "builtin:phantom-head", "variant": {"sex": "male"}},
        f"{path}: target.variant",
        "builtin:phantom-head",
        "no shape variants",
    )
    fails(
        {"mesh": "builtin:face", "variant": {}, "population": {"size": 2}},
        f"{path}: target.population",
        "either a variant or a population",
        loader=twin.load_scenes,
    )
    fails(
        {"mesh": "builtin:face", "population": {"size": 0}},
        f"{path}: target.population.size",
        "a whole number",
        "0",
        loader=twin.load_scenes,
    )
    fails(
        {"mesh": "builtin:face", "population": {"size": 2, "age_years": [30, 20]}},
        f"{path}: target.population.age_years",
        "[youngest, oldest]",
        "[30, 20]",
        loader=twin.load_scenes,
    )
    fails(
        {"mesh": "builtin:face", "population": {"size": 2, "seeds": 1}},
        f"{path}: target.population",
        "unknown key 'seeds'",
        "'seed'",
        loader=twin.load_scenes,
    )


def test_height_slider_rates_match_the_targets():
    low, high = (height_cm(Variant(sex=1.0, height=h)) for h in (0.0, 1.0))
    per_unit = (173.0 - low) / 0.5, (high - 173.0) / 0.5
    np.testing.assert_allclose(per_unit, HEIGHT_CM_PER_UNIT, rtol=0.01)
    people = population(40, seed=1)
    for sex in (0.0, 1.0):
        heights = [height_cm(p) for p in people if p.sex == sex]
        assert 4.0 < np.std(heights) < 10.0  # HEIGHT_SD_CM = 7, plus age and weight


def test_anatomy_cli_population_and_variant_export(tmp_path, capsys):
    assert main(["anatomy", "population", "3", "--seed", "4", "--out", str(tmp_path)]) == 0
    rows = (tmp_path / "population.csv").read_text().splitlines()
    assert rows[0].startswith("file,sex,age_years,muscle,weight") and len(rows) == 4
    meshes = [twin.load_surface(tmp_path / f"p{i:02d}.ply", units="mm") for i in range(3)]
    for mesh, variant in zip(meshes, population(3, seed=4), strict=True):
        expected = anatomy.builtin("face", variant=variant)
        np.testing.assert_array_equal(mesh.faces, expected.faces)
        np.testing.assert_allclose(mesh.vertices_mm, expected.vertices_mm, atol=1e-4)
    capsys.readouterr()
    out = tmp_path / "male.ply"
    assert (
        main(["anatomy", "export", "face", "--sex", "male", "--nose", "0.5", "--out", str(out)])
        == 0
    )
    assert "face (male 25 y)" in capsys.readouterr().out
    np.testing.assert_allclose(
        twin.load_surface(out, units="mm").vertices_mm,
        anatomy.builtin("face", variant=Variant(sex=1.0, nose=0.5)).vertices_mm,
        atol=1e-4,
    )
    assert main(["anatomy", "export", "face", "--age-years", "3", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "twin: error: --age-years: expected a number in [10, 90], got 3.0\n"
    )
