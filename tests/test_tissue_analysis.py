"""Dose at depth downstream: one scene compared on two skin types (one transfer matrix), and
a population that samples skin types (each member's kernels, the summaries per skin type).

The Fitzpatrick types' kernels come from the shipped table (``twin/tissue/data/kernels.npz``);
the tests of behaviour put a small stand-in in its place (:func:`stand_in_kernels`, a
melanin-laden epidermis over dermis, by Monte Carlo), and one test reads the table itself
where it is installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
import yaml

from twin.analysis.compare import compare_skin_types
from twin.cli import main
from twin.scene import list_members
from twin.tissue.kernels import TABLE, DepthKernels, layer_kernels
from twin.tissue.layers import Layer
from twin.tissue.optics import SKIN_TYPES


def stand_in_kernels(skin_type: str, spectra: dict, depths) -> DepthKernels:
    """Kernels of a skin type: a 0.1 mm epidermis whose absorption grows with the type's
    melanin fraction, over a scattering dermis (no wavelength dependence)."""
    epidermis = Layer(0.1, 0.1 + 30.0 * SKIN_TYPES[skin_type], 3.0, 0.8, 1.4)
    dermis = Layer(np.inf, 0.02, 2.0, 0.8, 1.4)
    return layer_kernels({c: (epidermis, dermis) for c in spectra}, depths, photons=5000)


@pytest.fixture
def fitzpatrick(monkeypatch):
    """Render the Fitzpatrick types with :func:`stand_in_kernels` (in this process)."""
    monkeypatch.setattr("twin.pipeline.tissue.table_kernels", stand_in_kernels)


def write_face(root, *, population: dict | None = None, mode: str | dict = "red") -> object:
    """``root/face.yaml``: a flat panel of 60 red and NIR LEDs over the built-in face, skin
    type II, dose at 0.5 and 1 mm and in a band 0.5-1.5 mm deep."""
    target: dict = {"mesh": "builtin:face", "max_edge_mm": 8.0}
    if population is not None:
        target["population"] = population
    scene = {
        "name": "face",
        "target": target,
        "emitters": {"design": "panel", "count": 60},
        "mode": mode,
        "exposure_s": 600,
        "tissue": {
            "skin_type": "II",
            "depths_mm": [0.5, 1.0],
            "targets": {"roi": {"depth_mm": [0.5, 1.5]}},
        },
    }
    path = root / "face.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def test_two_skin_types_compare_on_one_transfer_matrix(tmp_path, fitzpatrick, monkeypatch, capsys):
    import twin.pipeline.render as render_module

    built = []
    cast = render_module.extended_transfer
    monkeypatch.setattr(
        render_module, "extended_transfer", lambda *a, **k: built.append(1) or cast(*a, **k)
    )
    path, out = write_face(tmp_path), tmp_path / "cmp"
    args = ["compare", str(path), "--skin-types", "I", "VI", "--jobs", "1", "--no-cache"]
    assert main([*args, "--out", str(out)]) == 0
    assert len(built) == 1  # the rays are cast once: only the depth kernels differ
    result = json.loads((out / "compare.json").read_text())
    assert result["designs"] == ["face (skin I)", "face (skin VI)"]
    rows = {r["path"]: r for r in result["metrics"]}
    # At the surface the two get the same direct light (the same LEDs reach the same skin);
    # the darker skin returns less of it to the rest of the face.
    coverage = rows["coverage.at_least_2"]
    assert coverage["a"] == coverage["b"] and coverage["winner"] is None
    surface = rows["roi.total.fluence_j_cm2.mean"]
    assert surface["b"]["median"] < surface["a"]["median"]
    # Under it, melanin in the epidermis takes more of the light of the darker skin at every
    # depth and in the target band.
    deep = [
        "tissue.targets.roi.fluence_mean_j_cm2",
        "tissue.roi.total.fluence_mean_j_cm2[0.5mm]",
        "tissue.roi.total.fluence_mean_j_cm2[1mm]",
    ]
    for path_ in deep:
        assert rows[path_]["b"]["median"] < 0.8 * rows[path_]["a"]["median"]
    printed = capsys.readouterr().out
    assert "mean fluence at target depth (J/cm2)" in printed and "face (skin VI)" in printed
    # No skin "wins": the verdict gives the ratio of the doses at the target depth instead.
    band = rows["tissue.targets.roi.fluence_mean_j_cm2"]
    ratio = band["b"]["median"] / band["a"]["median"]
    assert result["verdict"].startswith("One device on two skins")
    assert (
        f"face (skin VI) gets {ratio:.2f} times the mean fluence of face (skin I)"
        in (result["verdict"])
    )
    ply = trimesh.load(out / "difference.ply", process=False)
    data = ply.metadata["_ply_raw"]["vertex"]["data"]
    # The darker skin returns less light at the surface too, but far less than it takes in
    # the dermis.
    surface = data["difference_j_cm2"]
    assert surface.max() <= 0.0 and -surface.min() < 0.1 * -data["difference_at_depth_j_cm2"].min()
    assert (
        data["difference_at_depth_j_cm2"].max() <= 0.0 < -data["difference_at_depth_j_cm2"].min()
    )
    # On a population: each person's matrix once; the people are named by body shape.
    built.clear()
    comparison = compare_skin_types(path, ["VI", "I"], people=2, jobs=1)
    assert len(built) == 2 and len(comparison.people) == 2
    assert not any("skin" in label for label in comparison.people)
    assert comparison.names == ("face (skin VI)", "face (skin I)")


def test_a_population_renders_each_member_on_its_skin_type(tmp_path, fitzpatrick, capsys):
    population = {"size": 4, "seed": 3, "skin_types": ["I", "VI"]}
    path, out = write_face(tmp_path, population=population), tmp_path / "pop"
    skins = [m.skin_type for m in list_members(path)]
    assert set(skins) == {"I", "VI"}  # this seed draws both
    assert main(["render", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    summary = json.loads((out / "population.json").read_text())
    assert [m["skin_type"] for m in summary["members"]] == skins
    assert all(
        m["label"].endswith(f"skin {s}") for m, s in zip(summary["members"], skins, strict=True)
    )
    lines = (out / "population.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["name", "sex", "age_years", "skin_type"]
    assert [line.split(",")[3] for line in lines[1:]] == skins
    # Per skin type: its members and the spread of their dose at depth. Melanin, not the
    # body shape, sets it apart: every type-VI member gets less than every type-I member.
    by_type = summary["by_skin_type"]
    assert {s: by_type[s]["members"] for s in by_type} == {s: skins.count(s) for s in set(skins)}
    band = {s: by_type[s]["summary"]["mean_fluence_at_depth_j_cm2"] for s in by_type}
    assert band["VI"]["max"] < band["I"]["min"]
    column = header.index("mean_fluence_at_depth_j_cm2")
    values = [float(line.split(",")[column]) for line in lines[1:]]
    for skin in ("I", "VI"):
        mine = [v for v, s in zip(values, skins, strict=True) if s == skin]
        assert band[skin]["median"] == pytest.approx(np.median(mine), rel=1e-5)
    # A member's resolved scene renders it alone, on its skin type.
    member = yaml.safe_load((out / "face-p01" / "scene.resolved.yaml").read_text())
    assert member["tissue"]["skin_type"] == skins[1]


@pytest.mark.skipif(not TABLE.exists(), reason="no shipped depth-kernel table in this checkout")
def test_darker_skin_lets_less_red_light_into_the_dermis(tmp_path):
    comparison = compare_skin_types(write_face(tmp_path), ["I", "VI"], jobs=1)
    path = "tissue.targets.roi.fluence_mean_j_cm2"
    light, dark = (comparison.values(i, path)[0] for i in (0, 1))
    assert dark < light
    # At the surface the darker skin returns less light to the rest of the face.
    surface = "roi.total.fluence_j_cm2.mean"
    assert comparison.values(1, surface)[0] < comparison.values(0, surface)[0]
