"""Exports (``twin export``): SI dose units, the flat map on a grid, the skin as VTU.

The grid is checked against geometry (an equal-area chart keeps the skin's area; a map linear
in the chart is reproduced exactly) and against a brute-force point location written here;
the files against the render they came from.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from _helpers import write_small

import twin
from twin.cli import main
from twin.devices.carriers import Chart
from twin.geometry import phantoms
from twin.geometry.export import vtu_bytes
from twin.units import DOSE_UNITS, J_M2_PER_J_CM2, W_M2_PER_MW_CM2, dose_units
from twin.views.export import export_result
from twin.views.flatmap import flat_grid, rasterise, skin_chart

pv = pytest.importorskip("pyvista", reason="reading VTU back needs pyvista (twin[viz])")


def error_line(capsys) -> str:
    """Return the one line the command printed on stderr (and nothing else there)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


# --- units ----------------------------------------------------------------------------------


def test_si_factors_are_the_prefixes_worked_out():
    # 1 mW/cm2 = 1e-3 W / (1e-2 m)^2; 1 J/cm2 = 1 J / (1e-2 m)^2.
    assert W_M2_PER_MW_CM2 == 10.0
    assert J_M2_PER_J_CM2 == 1e4
    assert pytest.approx(1e-3 / 1e-2**2, rel=1e-15) == W_M2_PER_MW_CM2
    si = DOSE_UNITS["W/m2"]
    values = np.array([0.0, 1.0, 14.32, 1e-7])
    assert si.convert("irradiance_red_mw_cm2", values)[0] == "irradiance_red_w_m2"
    np.testing.assert_array_equal(si.convert("irradiance_mw_cm2", values)[1], 10.0 * values)
    name, fluence = si.convert("fluence_j_cm2", values)
    assert name == "fluence_j_m2"
    np.testing.assert_array_equal(fluence, 1e4 * values)
    assert si.convert("fluence_rate_nir_0.5mm_mw_cm2", values)[0] == "fluence_rate_nir_0.5mm_w_m2"
    assert (si.unit_of("fluence_j_m2"), si.unit_of("irradiance_w_m2")) == ("J/m2", "W/m2")
    same = DOSE_UNITS["mW/cm2"].convert("fluence_j_cm2", values)
    assert same[0] == "fluence_j_cm2"
    np.testing.assert_array_equal(same[1], values)


def test_an_unknown_unit_or_map_name_is_named():
    with pytest.raises(twin.InputError, match=r"--unit: .*mW/cm2, W/m2.*'W/cm2'"):
        dose_units("W/cm2", name="--unit")
    with pytest.raises(twin.InputError, match="'area_mm2'"):
        DOSE_UNITS["W/m2"].convert("area_mm2", [1.0])


# --- the chart and the raster ---------------------------------------------------------------


def cap(radius_mm: float = 50.0) -> twin.Surface:
    """The half of an icosphere (centred on the origin) that faces +z."""
    sphere = phantoms.sphere(radius_mm=radius_mm, subdivisions=5)
    keep = sphere.vertices_mm[sphere.faces].mean(axis=1)[:, 2] > 0.0
    used, faces = np.unique(sphere.faces[keep], return_inverse=True)
    return twin.Surface(sphere.vertices_mm[used], faces.reshape(-1, 3))


def test_the_chart_of_a_sphere_is_centred_on_it_and_faces_the_leds():
    skin = cap(50.0)
    shift = np.array([1.0, 2.0, 3.0])
    chart = skin_chart(skin.vertices_mm + shift, np.array([[0.0, 0.0, 300.0]]) + shift)
    assert chart.kind == "radial"
    np.testing.assert_allclose(chart.centre, [1.0, 2.0, 3.0], atol=1e-9)
    np.testing.assert_allclose(chart.axis, [0.0, 0.0, 1.0], atol=1e-12)
    assert chart.radius_mm == pytest.approx(50.0, rel=1e-9)
    flat = phantoms.plane(size_mm=100.0, divisions=10)
    chart = skin_chart(flat.vertices_mm, np.array([[10.0, 0.0, -50.0]]))
    assert chart.kind == "planar"  # no sphere fits a plane
    np.testing.assert_allclose(chart.axis, [0.0, 0.0, -1.0], atol=1e-12)  # the plane's normal
    bent = flat.vertices_mm.copy()  # a plane bent 0.05 mm: a sphere of radius 50 m
    bent[:, 2] = 1e-5 * (bent[:, 0] ** 2 + bent[:, 1] ** 2)
    assert skin_chart(bent, np.array([[0.0, 0.0, 50.0]])).kind == "planar"


def test_the_grid_keeps_the_area_of_the_skin_and_reproduces_a_linear_map():
    skin = cap(50.0)
    chart = skin_chart(skin.vertices_mm, np.array([[0.0, 0.0, 300.0]]))
    uv = chart.to_2d(skin.vertices_mm)
    pixel = 0.5
    raster = rasterise(uv, skin.faces, pixel_mm=pixel)
    # Equal area: the unrolled cap keeps the skin's area; the pixels on it cover it, no more.
    corners = uv[skin.faces]
    ab, ac = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    flat_area = 0.5 * np.abs(ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])
    facets = skin.vertices_mm[skin.faces]
    area = 0.5 * np.linalg.norm(
        np.cross(facets[:, 1] - facets[:, 0], facets[:, 2] - facets[:, 0]), axis=1
    )
    assert flat_area.sum() == pytest.approx(area.sum(), rel=2e-3)
    perimeter = 2 * np.pi * 50.0 * np.sqrt(2)  # the rim of the unrolled hemisphere
    assert abs(raster.skin.sum() * pixel**2 - flat_area.sum()) < 0.5 * perimeter * pixel
    # A map linear in the chart is linear in every triangle: the grid holds it exactly.
    values = 3.0 * uv[:, 0] - 2.0 * uv[:, 1] + 7.0
    grid = raster.sample(values, skin.faces, on_faces=False)
    u, v = np.meshgrid(raster.u_mm, raster.v_mm)
    on = raster.skin
    np.testing.assert_allclose(grid[on], (3.0 * u - 2.0 * v + 7.0)[on], rtol=0, atol=1e-9)
    assert np.isnan(grid[~on]).all()
    # The axes: pixel centres on whole multiples of the pixel, u ascending, v descending.
    np.testing.assert_allclose(np.diff(raster.u_mm), pixel)
    np.testing.assert_allclose(np.diff(raster.v_mm), -pixel)
    np.testing.assert_allclose(raster.u_mm / pixel, np.round(raster.u_mm / pixel), atol=1e-9)
    assert np.hypot(u, v)[on].max() <= 50.0 * np.sqrt(2) + pixel


def test_where_triangles_overlap_the_higher_priority_takes_the_pixel():
    uv = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]] * 2)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    for priority, winner in (([1.0, 0.0], 0), ([0.0, 1.0], 1)):
        raster = rasterise(uv, faces, pixel_mm=1.0, priority=np.array(priority))
        assert set(np.unique(raster.face[raster.skin])) == {winner}
    values = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    grid = rasterise(uv, faces, pixel_mm=1.0).sample(values, faces, on_faces=False)
    np.testing.assert_allclose(grid[~np.isnan(grid)], 2.0, rtol=1e-12)  # no priority: the last


def test_bad_pixel_sizes_are_named():
    uv = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    faces = np.array([[0, 1, 2]])
    with pytest.raises(twin.InputError, match=r"--pixel-mm: expected a number in \[0.01"):
        rasterise(uv, faces, pixel_mm=0.0, name="--pixel-mm")
    with pytest.raises(twin.InputError, match=r"pixel_mm: a 0.01 mm pixel makes a 100001 x"):
        rasterise(uv * 100.0, faces, pixel_mm=0.01)
    with pytest.raises(twin.InputError, match=r"pixel_mm: expected a pixel smaller than the map"):
        rasterise(uv * 0.01 + 0.1, faces, pixel_mm=0.3)  # no pixel centre on it


def brute_force(point, corners):
    """Barycentric coordinates of ``point`` in every triangle by a linear solve; inside mask."""
    systems = np.concatenate([corners.transpose(0, 2, 1), np.ones((len(corners), 1, 3))], axis=1)
    w = np.linalg.solve(systems, np.broadcast_to([*point, 1.0], (len(corners), 3))[..., None])
    w = w[..., 0]
    return w, np.all(w >= -1e-7, axis=1)


def test_the_flat_grid_is_the_map_at_each_pixel_centre(panel_render):
    result, _ = panel_render
    grid = flat_grid(result, ["fluence_j_cm2", "irradiance_mw_cm2"], pixel_mm=2.0)
    target = result.scene.target
    uv = grid.chart.to_2d(target.vertices_mm)
    corners = uv[target.faces]
    fluence = result.dose.fluence_j_cm2()
    rng = np.random.default_rng(5)
    on = np.argwhere(grid.skin)
    checked = 0
    for row, col in on[rng.choice(len(on), 40, replace=False)]:
        w, inside = brute_force((grid.u_mm[col], grid.v_mm[row]), corners)
        candidates = np.einsum("ij,ij->i", w[inside], fluence[target.faces[inside]])
        value = grid.maps["fluence_j_cm2"][row, col]
        if inside.sum() == 1 or np.ptp(candidates) < 1e-9 * candidates.max():
            assert value == pytest.approx(candidates[0], rel=1e-7, abs=1e-12)
            checked += 1
        else:  # a fold: one of the layers
            assert np.min(np.abs(candidates - value)) < 1e-7 * candidates.max()
    assert checked >= 30
    off = np.argwhere(~grid.skin)
    for row, col in off[rng.choice(len(off), 40, replace=False)]:
        assert not brute_force((grid.u_mm[col], grid.v_mm[row]), corners)[1].any()
    lit = grid.skin & (np.nan_to_num(grid.maps["irradiance_mw_cm2"]) > 0)
    ratio = grid.maps["fluence_j_cm2"][lit] / grid.maps["irradiance_mw_cm2"][lit]
    np.testing.assert_allclose(ratio, result.scene.exposure_s / 1000.0, rtol=1e-12)
    # The regions and the treated skin: each pixel's is its nearest vertex's.
    assert grid.region_names == tuple(target.regions)
    assert grid.roi is not None and grid.roi.any() and not grid.roi[~grid.skin].any()
    assert (grid.region[~grid.skin] == -1).all()


# --- files ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(panel_render, tmp_path_factory):
    """The panel render's folder exported in twin's units and in SI units; the render itself."""
    result, folder = panel_render
    root = tmp_path_factory.mktemp("export")
    maps = ["fluence_j_cm2", "irradiance_red_mw_cm2"]
    export_result(folder, root / "twin", maps=maps, pixel_mm=1.5)
    export_result(folder, root / "si", maps=maps, pixel_mm=1.5, units="W/m2")
    export_result(result, root / "memory", formats=["vtu"])
    return root


def test_the_vtu_holds_every_map_exactly_and_reads_back_in_pyvista(panel_render, exported):
    result, _ = panel_render
    target = result.scene.target

    def float32(x):  # a render folder's surface.ply holds the maps in single precision
        return np.asarray(x, dtype=np.float32).astype(np.float64)

    cases = [("memory", 1.0, 1.0, np.asarray), ("twin", 1.0, 1.0, float32),
             ("si", 10.0, 1e4, float32)]  # fmt: skip
    for units, factor_e, factor_h, stored in cases:
        mesh = pv.read(exported / units / "surface.vtu")
        np.testing.assert_array_equal(mesh.points, target.vertices_mm)
        np.testing.assert_array_equal(mesh.cells_dict[5], target.faces)
        suffix = "_w_m2" if units == "si" else "_mw_cm2"
        fluence = "fluence_j_m2" if units == "si" else "fluence_j_cm2"
        data = mesh.point_data
        dose = result.dose
        np.testing.assert_array_equal(data[fluence], stored(dose.fluence_j_cm2()) * factor_h)
        np.testing.assert_array_equal(
            data["irradiance" + suffix], stored(dose.total_irradiance_mw_cm2) * factor_e
        )
        for channel, e in dose.irradiance_mw_cm2.items():
            expected = stored(e) * factor_e
            np.testing.assert_array_equal(data[f"irradiance_{channel}{suffix}"], expected)
        depth = stored(result.tissue.total_fluence_rate_mw_cm2[:, 0]) * factor_e
        label = result.scene.tissue.depth_labels[0]
        np.testing.assert_array_equal(data[f"fluence_rate_{label}mm{suffix}"], depth)
        np.testing.assert_array_equal(data["roi"], result.roi)
        names = list(mesh.field_data["region_names"])
        assert names == list(target.regions)
        for i, name in enumerate(names):
            assert (data["region"][target.regions[name]] == i).all()
        assert mesh.field_data["fluence_unit"][0] == ("J/m2" if units == "si" else "J/cm2")
        twin_names = [n for n in data if n.endswith(("_mw_cm2", "_j_cm2"))]
        assert bool(twin_names) == (units != "si")


def test_the_grid_files_agree_with_each_other_and_across_units(panel_render, exported):
    twin_npz = np.load(exported / "twin" / "flat.npz")
    grid = flat_grid(panel_render[1], "fluence_j_cm2", pixel_mm=1.5)  # the folder, in Python
    np.testing.assert_array_equal(grid.maps["fluence_j_cm2"], twin_npz["fluence_j_cm2"])
    np.testing.assert_array_equal(grid.roi, twin_npz["roi"])
    si_npz = np.load(exported / "si" / "flat.npz")
    h, e = twin_npz["fluence_j_cm2"], twin_npz["irradiance_red_mw_cm2"]
    # Converted before the interpolation: equal to the last bits of a double.
    np.testing.assert_allclose(si_npz["fluence_j_m2"], h * 1e4, rtol=1e-14, equal_nan=True)
    np.testing.assert_allclose(si_npz["irradiance_red_w_m2"], e * 10, rtol=1e-14, equal_nan=True)
    assert str(si_npz["fluence_unit"]) == "J/m2" and str(twin_npz["irradiance_unit"]) == "mW/cm2"
    skin = twin_npz["skin"]
    assert np.isfinite(h[skin]).all() and np.isnan(h[~skin]).all()
    text = (exported / "si" / "flat_fluence_j_m2.csv").read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "# unit: J/m2" in header and "# pixel_mm: 1.5" in header
    u, v = si_npz["u_mm"], si_npz["v_mm"]
    assert f"# columns: u_mm from {u[0]:g} to {u[-1]:g} ({len(u)}, left to right)" in header
    assert f"# rows: v_mm from {v[0]:g} to {v[-1]:g} ({len(v)}, top to bottom)" in header
    matrix = np.loadtxt(exported / "si" / "flat_fluence_j_m2.csv", delimiter=",")
    np.testing.assert_allclose(matrix, si_npz["fluence_j_m2"], rtol=1e-8, equal_nan=True)
    chart = Chart(str(si_npz["chart_kind"]), si_npz["chart_centre_mm"], si_npz["chart_axis"],
                  float(si_npz["chart_radius_mm"]))  # fmt: skip
    assert chart.kind == "radial"
    assert sorted(p.name for p in (exported / "si").iterdir()) == [
        "flat.npz", "flat_fluence_j_m2.csv", "flat_irradiance_red_w_m2.csv", "surface.vtu",
    ]  # fmt: skip


def test_centroid_samples_go_to_cell_data(tmp_path):
    path = write_small(tmp_path)
    spec = yaml.safe_load(path.read_text())
    spec["target"]["samples"] = "centroids"
    path.write_text(yaml.safe_dump(spec))
    result = twin.render(path)
    export_result(result, tmp_path / "out", formats=["vtu", "grid-npz"], pixel_mm=2.0)
    mesh = pv.read(tmp_path / "out" / "surface.vtu")
    np.testing.assert_array_equal(mesh.cell_data["fluence_j_cm2"], result.dose.fluence_j_cm2())
    np.testing.assert_array_equal(mesh.cell_data["roi"], result.roi)
    grid = np.load(tmp_path / "out" / "flat.npz")
    face, skin = grid["face"], grid["skin"]
    np.testing.assert_array_equal(
        grid["fluence_j_cm2"][skin], result.dose.fluence_j_cm2()[face[skin]]
    )


def test_vtu_data_of_the_wrong_length_is_refused():
    v = np.eye(3)
    with pytest.raises(twin.InputError, match=r"PointData 'a': expected 3 values, one per point"):
        vtu_bytes(v, [[0, 1, 2]], point_data={"a": np.zeros(2)}, cell_data={})


# --- command line ---------------------------------------------------------------------------


def test_twin_export_writes_what_it_says(panel_render, tmp_path, capsys):
    _, folder = panel_render
    out = tmp_path / "exp"
    args = ["export", str(folder), "--out", str(out), "--format", "grid-csv,vtu", "--map",
            "fluence_j_cm2,irradiance_mw_cm2", "--irradiance-unit", "W/m2",
            "--pixel-mm", "3"]  # fmt: skip
    assert main(args) == 0
    said = capsys.readouterr().out
    written = sorted(p.name for p in out.iterdir())
    assert written == ["flat_fluence_j_m2.csv", "flat_irradiance_w_m2.csv", "surface.vtu"]
    assert all(name in said for name in written)
    # A second export into the same folder replaces the first's files, keeps others.
    (out / "notes.txt").write_text("mine")
    assert main(["export", str(folder), "--out", str(out), "--format", "grid-npz"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["flat.npz", "notes.txt"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "vtk"], r"--format: expected some of vtu, grid-csv, grid-npz, got 'vtk'"),
        (["--format", ","], r"--format: expected a comma-separated list"),
        (["--map", "fluence"], r"--map: no map 'fluence' in result panel; expected 'all' or some"),
        (["--pixel-mm", "0"], r"--pixel-mm: expected a number in \[0.01"),
        (["--pixel-mm", "0.01"], r"--pixel-mm: a 0.01 mm pixel makes a \d+ x \d+ grid, over"),
    ],
)
def test_bad_export_options_are_one_line(panel_render, tmp_path, capsys, extra, message):
    _, folder = panel_render
    assert main(["export", str(folder), "--out", str(tmp_path / "x"), *extra]) == 2
    assert re.search(message, error_line(capsys))
    assert not (tmp_path / "x").exists()


def test_a_folder_that_is_not_a_render_or_no_longer_fits_is_named(panel_render, tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert f"{tmp_path}: expected a twin render result folder" in error_line(capsys)
    _, folder = panel_render
    stale = tmp_path / "stale"
    stale.mkdir()
    for path in folder.iterdir():
        if path.is_file():
            (stale / path.name).write_bytes(path.read_bytes())
    spec = yaml.safe_load((stale / "scene.resolved.yaml").read_text())
    spec["target"]["max_edge_mm"] = 9.0  # the skin the scene builds now is another one
    (stale / "scene.resolved.yaml").write_text(yaml.safe_dump(spec))
    assert main(["export", str(stale), "--out", str(tmp_path / "x")]) == 2
    assert re.search(rf"{stale}/surface.ply: \d+ points, but its scene builds a skin of \d+",
                     error_line(capsys))  # fmt: skip


def test_render_prints_si_units_on_request(tmp_path, capsys):
    scene = write_small(tmp_path)
    rows = {}
    for unit in ("mW/cm2", "W/m2"):
        args = ["render", str(scene), "--out", str(tmp_path / "out"), "--irradiance-unit", unit]
        assert main(args) == 0
        lines = capsys.readouterr().out.splitlines()
        rows[unit] = (lines[2].split(), next(ln.split() for ln in lines if ln.startswith("total")))
    assert rows["mW/cm2"][0] == ["mW/cm2", "mW/cm2", "mW/cm2", "J/cm2", "%", "area"]
    assert rows["W/m2"][0] == ["W/m2", "W/m2", "W/m2", "J/m2", "%", "area"]
    twin_units, si = (np.array(rows[u][1][1:5], dtype=float) for u in ("mW/cm2", "W/m2"))
    np.testing.assert_allclose(si, twin_units * [10, 10, 10, 1e4], rtol=5e-3)  # 3 digits printed
    assert rows["W/m2"][1][5:] == rows["mW/cm2"][1][5:]  # U0, CV, in window: no unit
