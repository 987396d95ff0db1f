"""Radiosity (inter-reflection) against analytic answers (docs/physics.md §3.6.5).

Irradiance here is in mW/mm^2 from sources of power in mW (the solver is unit-agnostic): a
point source of power ``P`` gives ``P cos / (4 pi r^2)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
from _helpers import point_to_square, raises_naming

from twin.engine.radiosity import (
    Patches,
    RadiositySolver,
    form_factors,
    indirect_irradiance,
    interpolation_matrix,
    patches_of,
    solve,
    to_points,
)
from twin.geometry import anatomy, phantoms
from twin.geometry.surface import Surface
from twin.raycast import make_tracer, self_tolerance_mm

TRACER = "embree"


def factors(patches: Patches, **options) -> scipy.sparse.csr_array:
    """The form factors of ``patches`` with visibility over their own surfaces."""
    triangles = np.concatenate([s.triangles_mm for s in patches.surfaces])
    tracer = make_tracer(TRACER, triangles)
    return form_factors(patches, tracer, end_tolerance_mm=self_tolerance_mm(triangles), **options)


def point_source(patches: Patches, source_mm, power_mw: float) -> np.ndarray:
    """Direct irradiance of an isotropic point source at every vertex sample, patch means.

    Visibility is traced from the source to each sample over the patches' surfaces.
    """
    samples = [s.samples() for s in patches.surfaces]
    points = np.concatenate([s.positions_mm for s in samples])
    normals = np.concatenate([s.normals for s in samples])
    offset = points - np.asarray(source_mm)
    r = np.linalg.norm(offset, axis=1)
    cos = -np.einsum("ij,ij->i", offset, normals) / r
    triangles = np.concatenate([s.triangles_mm for s in patches.surfaces])
    tracer = make_tracer(TRACER, triangles)
    blocked = tracer.occluded(
        np.broadcast_to(source_mm, points.shape).copy(),
        offset / r[:, None],
        r,
        end_tolerance_mm=self_tolerance_mm(triangles),
    )
    e = np.where((cos > 0) & ~blocked, power_mw * cos / (4 * math.pi * r**2), 0.0)
    return patches.averaging_matrix() @ e


# --- 1. integrating sphere -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sphere():
    """An icosphere of radius 50 mm, normals inward, its 5 mm patches and their factors."""
    surface = phantoms.sphere(radius_mm=50.0, subdivisions=5, inward=True)
    patches = patches_of([surface], size_mm=5.0)
    return surface, patches, factors(patches)


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_integrating_sphere(sphere, rho):
    """Every wall point gets E_direct + rho P / (A (1 - rho)) within 0.5 %."""
    surface, patches, f = sphere
    power, radius = 10.0, 50.0
    area = 4 * math.pi * radius**2
    direct = point_source(patches, [0.0, 0.0, 0.0], power)
    np.testing.assert_allclose(direct, power / area, rtol=1e-3)
    e_ind = indirect_irradiance(f, solve(f, rho, direct))
    expected_indirect = rho * power / (area * (1 - rho))
    np.testing.assert_allclose(direct + e_ind, power / area + expected_indirect, rtol=5e-3)
    # And at every vertex of the fine mesh, the indirect part interpolated from the patches.
    samples = surface.samples()
    fine = to_points(
        patches, e_ind, samples.positions_mm, samples.normals, np.zeros(len(samples), int)
    )
    np.testing.assert_allclose(power / area + fine, power / area + expected_indirect, rtol=5e-3)


def test_sphere_rows_sum_to_one(sphere):
    """A closed sphere's rows sum to 1 (all the light leaving a patch lands on the wall)."""
    _, _, f = sphere
    rows = f.sum(axis=1)
    # Exact near-field factors close the view; what is left is the far field's quadrature
    # over four points per patch (measured: rows 1 + 2e-5 to 1 + 9e-5).
    np.testing.assert_allclose(rows, 1.0, atol=3e-4)


def test_dense_and_sparse_solves_agree(sphere):
    _, patches, f = sphere
    rng = np.random.default_rng(1)
    direct = rng.uniform(0.0, 1.0, size=(len(patches), 3))
    rho = rng.uniform(0.1, 0.9, size=len(patches))
    dense = RadiositySolver(f, rho, method="dense")
    sparse = RadiositySolver(f, rho, method="sparse")
    assert dense.method == "dense" and sparse.method == "sparse"
    b = dense.radiosity(direct)
    np.testing.assert_allclose(sparse.radiosity(direct), b, rtol=1e-9)
    # The solution satisfies the radiosity equation, column by column.
    np.testing.assert_allclose(b, rho[:, None] * (direct + f @ b), rtol=1e-9)
    np.testing.assert_allclose(dense.radiosity(direct[:, 0]), b[:, 0], rtol=1e-12)


# --- 2. energy balance in a closed non-convex enclosure ------------------------------------


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_torus_absorbs_what_is_emitted(rho):
    """Inside a closed torus tube, sum (1 - rho) E_total A equals the emitted power."""
    torus = phantoms.torus(major_mm=50.0, minor_mm=20.0, n_major=192, n_minor=96, inward=True)
    patches = patches_of([torus], size_mm=6.0)
    f = factors(patches)
    power = 5.0
    direct = point_source(patches, [50.0, 0.0, 5.0], power)
    # The source does not see the whole tube: visibility matters here.
    assert (direct == 0).mean() > 0.1
    np.testing.assert_allclose((direct * patches.areas_mm2).sum(), power, rtol=2e-3)
    total = direct + indirect_irradiance(f, solve(f, rho, direct))
    absorbed = ((1 - rho) * total * patches.areas_mm2).sum()
    np.testing.assert_allclose(absorbed, power, rtol=5e-3)


# --- 3. parallel plates ----------------------------------------------------------------------


def parallel_squares(a: float, c: float) -> float:
    """View factor between directly opposed squares of side a, distance c (Howell C-11)."""
    x = y = a / c
    return (2 / (math.pi * x * y)) * (
        math.log(math.sqrt((1 + x * x) * (1 + y * y) / (1 + x * x + y * y)))
        + x * math.sqrt(1 + y * y) * math.atan(x / math.sqrt(1 + y * y))
        + y * math.sqrt(1 + x * x) * math.atan(y / math.sqrt(1 + x * x))
        - x * math.atan(x)
        - y * math.atan(y)
    )


def plates(a: float, c: float, divisions: int, size_mm: float) -> Patches:
    """Two a x a squares c apart facing each other, meshed with ``divisions`` per side."""
    lower = phantoms.plane(size_mm=a, divisions=divisions, z_mm=0.0)
    upper = phantoms.plane(size_mm=a, divisions=divisions, z_mm=c).flipped()
    return patches_of([lower, upper], size_mm=size_mm)


@pytest.mark.parametrize(
    ("a", "c", "divisions", "size_mm"),
    [(20, 3, 16, 4.0), (20, 5, 16, 4.0), (30, 3, 24, 5.0), (40, 10, 32, 5.0), (20, 20, 16, 4.0)],
)
def test_parallel_plates_view_factor(a, c, divisions, size_mm):
    """F between the plates within 0.5 % of Howell's closed form (gaps down to 0.6 patch).

    Measured: 0.2 % at most. Without the near field (four points per patch) it is up to
    0.9 % high here; point-to-point between the centroids 17-32 % high at a 3 mm gap.
    """
    patches = plates(a, c, divisions, size_mm)
    f = factors(patches)
    lower, upper = patches.surface == 0, patches.surface == 1
    exchange = (f * patches.areas_mm2[:, None]).tocsr()
    f12 = exchange[lower][:, upper].sum() / patches.areas_mm2[lower].sum()
    np.testing.assert_allclose(f12, parallel_squares(a, c), rtol=5e-3)
    # Coplanar patches of one plate see nothing of each other.
    assert exchange[lower][:, lower].nnz == 0


def test_lit_plate_pair_matches_two_surface_solution():
    """The middle of a lit plate pair 3 mm apart against the closed form for two surfaces.

    Plate 1 lit uniformly (E1 = 1), plate 2 dark, each seeing the other with F:
    B1 = rho1 / (1 - rho1 rho2 F^2), B2 = rho2 F B1, E_ind = F B1 on plate 2. Within 10 mm of
    the centre of 100 mm plates F is the point factor there (99.7 %, varying by 0.02 %);
    infinite plates (F = 1) would be 1.4 % off B2. Measured: 0.3 % low (the far-field
    factors of the 5 mm patches 3 mm apart are 0.04 % low, twice that in B1, and the closed
    form takes F as uniform); tolerance 0.5 %.
    """
    a, c, rho1, rho2 = 100.0, 3.0, 0.6, 0.85
    patches = plates(a, c, 80, 5.0)
    f = factors(patches)
    lower = patches.surface == 0
    b = solve(f, np.where(lower, rho1, rho2), np.where(lower, 1.0, 0.0))
    e_ind = indirect_irradiance(f, b)
    middle = np.flatnonzero(np.all(np.abs(patches.positions_mm[:, :2]) < 10.0, axis=1))
    view = np.array([point_to_square(*patches.positions_mm[i, :2], a, c) for i in middle])
    b1 = rho1 / (1 - rho1 * rho2 * view**2)
    up = ~lower[middle]
    np.testing.assert_allclose(b[middle[~up]], b1[~up], rtol=5e-3)
    np.testing.assert_allclose(b[middle[up]], rho2 * view[up] * b1[up], rtol=5e-3)
    np.testing.assert_allclose(e_ind[middle[up]], view[up] * b1[up], rtol=5e-3)


def test_concentric_spheres_match_two_surface_solution():
    """A lit ball inside a sphere: the exact closed form for two uniform surfaces.

    The ball (radius r, outward normals) sees only the shell: F_12 = 1; the shell sees the
    ball with F_21 = A1/A2 and itself with 1 - A1/A2 (the ball hides part of it: visibility
    matters). With the ball lit uniformly (E1), B2 = rho2 (A1/A2) B1 / (1 - rho2 (1 - A1/A2))
    and B1 = rho1 (E1 + B2). One segment per patch pair decides visibility, so the patches
    whose view of the shell is cut by the ball's outline are up to 0.5 % off (rows of
    shell patches 0.9954 to 1.0038), their mean 0.1 %: tolerances 1 % and 0.5 %.
    """
    rho1, rho2 = 0.5, 0.9
    ball = phantoms.sphere(radius_mm=25.0, subdivisions=4)
    shell = phantoms.sphere(radius_mm=50.0, subdivisions=5, inward=True)
    patches = patches_of([ball, shell], size_mm=5.0)
    f = factors(patches)
    inner = patches.surface == 0
    b = solve(f, np.where(inner, rho1, rho2), np.where(inner, 1.0, 0.0))
    ratio = patches.areas_mm2[inner].sum() / patches.areas_mm2[~inner].sum()
    b2_per_b1 = rho2 * ratio / (1 - rho2 * (1 - ratio))
    b1 = rho1 / (1 - rho1 * b2_per_b1)
    np.testing.assert_allclose(b[inner], b1, rtol=5e-3)
    np.testing.assert_allclose(b[~inner], b2_per_b1 * b1, rtol=1e-2)
    shell_mean = (b * patches.areas_mm2)[~inner].sum() / patches.areas_mm2[~inner].sum()
    np.testing.assert_allclose(shell_mean, b2_per_b1 * b1, rtol=5e-3)


# --- 4. reciprocity, rho = 0 -----------------------------------------------------------------


def test_reciprocity(sphere):
    _, patches, f = sphere
    exchange = (f * patches.areas_mm2[:, None]).tocsr()
    diff = abs(exchange - exchange.T)
    assert diff.max() <= 1e-14 * abs(exchange).max()
    assert f.data.min() > 0


def test_plates_back_to_back_exchange_nothing():
    """Only pairs that face each other exchange light: two plates turned away see nothing."""
    lower = phantoms.plane(size_mm=20.0, divisions=16, z_mm=0.0).flipped()
    upper = phantoms.plane(size_mm=20.0, divisions=16, z_mm=3.0)
    assert factors(patches_of([lower, upper], size_mm=4.0)).nnz == 0


def test_visibility_is_the_same_on_both_tracers():
    """A disk between two plates hides part of them, exactly alike with either tracer."""
    patches = plates(20.0, 10.0, 10, 4.0)
    blocker = phantoms.disk(radius_mm=5.0, center_mm=(0.37, -0.61, 5.3), segments=31)
    triangles = np.concatenate([*(s.triangles_mm for s in patches.surfaces), blocker.triangles_mm])
    tolerance = self_tolerance_mm(triangles)
    shaded = {
        name: form_factors(patches, make_tracer(name, triangles), end_tolerance_mm=tolerance)
        for name in ("reference", "embree")
    }
    np.testing.assert_array_equal(shaded["reference"].indices, shaded["embree"].indices)
    np.testing.assert_allclose(shaded["reference"].data, shaded["embree"].data, rtol=1e-12)
    lower, upper = patches.surface == 0, patches.surface == 1
    free = factors(patches)
    assert shaded["embree"][lower][:, upper].sum() < 0.8 * free[lower][:, upper].sum()


def test_reflectance_zero_gives_no_indirect_light():
    patches = plates(20.0, 3.0, 16, 4.0)
    f = factors(patches)
    direct = np.random.default_rng(2).uniform(size=(len(patches), 4))
    b = solve(f, 0.0, direct)
    assert not b.any()
    assert not indirect_irradiance(f, b).any()


# --- 5. patches and interpolation ------------------------------------------------------------


def thin_shell() -> Surface:
    """Two 40 mm squares 0.5 mm apart, back to back, as one mesh (normals -z and +z)."""
    below = phantoms.plane(size_mm=40.0, divisions=20, z_mm=0.0).flipped()
    above = phantoms.plane(size_mm=40.0, divisions=20, z_mm=0.5)
    return Surface(
        np.concatenate([below.vertices_mm, above.vertices_mm]),
        np.concatenate([below.faces, above.faces + len(below.vertices_mm)]),
    )


def test_patches_keep_sides_apart_and_area():
    """The two sides of a thin shell never share a patch; areas and means add up."""
    shell = thin_shell()
    patches = patches_of([shell], size_mm=5.0)
    samples = shell.samples()
    own = patches.normals[patches.sample_patch]
    assert (np.einsum("ij,ij->i", own, samples.normals) > 0.5).all()
    np.testing.assert_allclose(patches.areas_mm2.sum(), shell.area_mm2, rtol=1e-12)
    np.testing.assert_allclose(patches.averaging_matrix().sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(patches.normals, axis=1), 1.0, rtol=1e-12)


def test_interpolation_stays_on_its_side():
    """Points of a thin shell take values only from patches facing their way."""
    shell = thin_shell()
    patches = patches_of([shell], size_mm=5.0)
    side = np.sign(patches.normals[:, 2])
    samples = shell.samples()
    on = np.zeros(len(samples), dtype=int)
    got = to_points(patches, side, samples.positions_mm, samples.normals, on)
    np.testing.assert_allclose(got, np.sign(samples.normals[:, 2]), rtol=1e-12)


def test_patch_size_per_surface():
    lower = phantoms.plane(size_mm=40.0, divisions=40)
    upper = phantoms.plane(size_mm=40.0, divisions=40, z_mm=5.0).flipped()
    patches = patches_of([lower, upper], size_mm=[4.0, 8.0])
    fine, coarse = np.bincount(patches.surface)
    np.testing.assert_allclose(fine / coarse, 4.0, rtol=0.3)
    assert patches.sizes_mm == (4.0, 8.0)


def test_coarse_surface_keeps_its_samples():
    coarse = phantoms.plane(size_mm=100.0, divisions=4)
    patches = patches_of([coarse], size_mm=5.0)
    samples = coarse.samples()
    assert len(patches) == len(samples)
    np.testing.assert_allclose(patches.positions_mm, samples.positions_mm)


def test_interpolation_error_bound():
    """The interpolated value lies within g d of the truth: g the gradient, d < 2.5 size_mm."""
    face = anatomy.builtin("face")
    size = 5.0
    patches = patches_of([face], size_mm=size)
    samples = face.samples()
    on = np.zeros(len(samples), dtype=int)
    weights = interpolation_matrix(patches, samples.positions_mm, samples.normals, on)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    assert weights.data.min() >= 0.0
    rows = np.repeat(np.arange(len(samples)), np.diff(weights.indptr))
    reach = np.linalg.norm(
        samples.positions_mm[rows] - patches.positions_mm[weights.indices], axis=1
    )
    farthest = np.zeros(len(samples))
    np.maximum.at(farthest, rows, reach)
    assert farthest.max() < 2.5 * size
    # Smooth fields: Gaussians 10 mm in front of the nose tip, gradient at most
    # 1 / (sigma sqrt(e)) per mm.
    centre = samples.positions_mm[np.argmax(samples.positions_mm[:, 2])] + [0.0, 0.0, 10.0]
    for sigma in (10.0, 40.0):
        values = np.exp(-np.sum((patches.positions_mm - centre) ** 2, axis=1) / (2 * sigma**2))
        got = to_points(patches, values, samples.positions_mm, samples.normals, on)
        truth = np.exp(-np.sum((samples.positions_mm - centre) ** 2, axis=1) / (2 * sigma**2))
        assert (np.abs(got - truth) <= farthest / (sigma * math.sqrt(math.e))).all()


# --- input checks ----------------------------------------------------------------------------


def test_bad_inputs_are_named(sphere):
    _, patches, f = sphere
    m = len(patches)
    with raises_naming("size_mm", "positive", "one per surface (1)", "-1", at="patches_of"):
        patches_of([phantoms.plane()], size_mm=-1)
    with raises_naming("at least one surface", at="patches_of"):
        patches_of([], size_mm=5.0)
    with raises_naming("values in [0, 1)", "1.0", "patch 0", at="reflectance"):
        solve(f, 1.0, np.ones(m))
    with raises_naming("one per patch", f"({m},)", "(3,)", at="reflectance"):
        solve(f, [0.5, 0.5, 0.5], np.ones(m))
    with raises_naming(f"({m},) or ({m}, c)", "(2,)", at="irradiance_direct"):
        solve(f, 0.5, np.ones(2))
    with raises_naming("square", "(2, 3)", at="form_factors"):
        solve(scipy.sparse.csr_array((2, 3)), 0.5, np.ones(2))
    with raises_naming("'auto', 'dense' or 'sparse'", "'lu'", at="method"):
        RadiositySolver(f, 0.5, method="lu")  # type: ignore[arg-type]
    with raises_naming("surface 3 has no patch", at="surface_of_points"):
        to_points(patches, np.ones(m), np.zeros((1, 3)), [[0.0, 0.0, 1.0]], [3])
    tracer = make_tracer("reference", phantoms.plane(divisions=1).triangles_mm)
    with raises_naming("end_tolerance_mm", ">= 0", at="form_factors"):
        form_factors(patches, tracer, end_tolerance_mm=-1.0)
