"""The engine against independent analytic answers (docs/physics.md §1.6, tests T1-T6).

Every test that takes ``backend`` runs on every backend that can run here: ``reference``,
``embree`` and ``cuda`` (on a GPU, or under numba's CUDA simulator, which conftest.py switches
on without one).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _helpers import RTOL as CPU_RTOL
from _helpers import build_transfer

from twin.devices.emitters import Emitters
from twin.devices.profiles import Isotropic, Lambertian, Tabulated
from twin.engine.backends import backend_status
from twin.geometry import phantoms
from twin.geometry.surface import Surface

#: The cuda backend computes in float64, as the reference one.
RTOL = {**CPU_RTOL, "cuda": 1e-6}

# numba's CUDA simulator runs every GPU thread in Python, so cuda gets coarser meshes; flux
# conservation on a mesh holds to its discretisation error (its facets miss part of the
# surface): 0.5 % on the finer meshes, 1 % and 1.5 % on cuda's.
#: Sphere subdivisions and relative tolerance of conservation per backend.
SPHERE = {"reference": (4, 5e-3), "embree": (5, 5e-3), "cuda": (3, 1e-2)}
#: Torus (major, minor) segments and relative tolerance of conservation per backend.
TORUS = {"reference": ((144, 72), 5e-3), "embree": ((192, 96), 5e-3), "cuda": ((72, 36), 1.5e-2)}
#: Plane divisions per backend for tests that compare every point with an analytic map.
PLANE_DIVISIONS = {"reference": 64, "embree": 64, "cuda": 16}
#: Size (mm) and divisions of the plane under the disk: the same 2 mm grid, less of it on cuda.
SHADOWED_PLANE = {"reference": (160.0, 80), "embree": (160.0, 80), "cuda": (80.0, 40)}


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.skipif(reason is not None, reason=str(reason)))
        for name, reason in backend_status().items()
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


PROFILES = {
    "isotropic": Isotropic(),
    "m=1": Lambertian(60.0),
    "m=4.82": Lambertian(30.0),
    "m=20": Lambertian(math.degrees(math.acos(2 ** (-1 / 20)))),
}


def plane_irradiance(xy_mm, source_xy_mm, h_mm, power_mw, m):
    """E(rho) = I0 h^(m+1) / (h^2 + rho^2)^((m+3)/2), mW/cm^2 (docs/physics.md §1.2, T2)."""
    rho2 = ((xy_mm - source_xy_mm) ** 2).sum(axis=1)
    i0 = power_mw / (4 * math.pi) if m is None else power_mw * (m + 1) / (2 * math.pi)
    mm = 0.0 if m is None else m
    return 100.0 * i0 * h_mm ** (mm + 1) / (h_mm**2 + rho2) ** ((mm + 3) / 2)


def test_profile_exponents_match_physics_table():
    # docs/physics.md §1.1: full angle 120 -> m = 1, 60 -> 4.82, 30 -> 20.0.
    np.testing.assert_allclose(Lambertian(60.0).m, 1.0, rtol=1e-12)
    np.testing.assert_allclose(Lambertian(30.0).m, 4.818841679, rtol=1e-9)
    np.testing.assert_allclose(Lambertian(15.0).m, 19.99, atol=0.05)


@pytest.mark.parametrize("name", list(PROFILES))
def test_single_emitter_over_plane(backend, name):
    profile = PROFILES[name]
    surface = phantoms.plane(size_mm=200.0, divisions=PLANE_DIVISIONS[backend])
    source, h, power = np.array([3.0, -2.0]), 50.0, 10.0
    emitters = Emitters.create([[*source, h]], [[0.0, 0.0, -1.0]], power, profile=profile)
    t = build_transfer(surface, emitters, backend, intensity_cutoff=0.0)
    got = t.matrix.toarray()[:, 0] * power
    m = None if isinstance(profile, Isotropic) else profile.m
    want = plane_irradiance(surface.vertices_mm[:, :2], source, h, power, m)
    np.testing.assert_allclose(got, want, rtol=RTOL[backend], atol=0)


def test_inverse_square_on_axis(backend):
    # T1: E = I0 / h^2 straight below the emitter; doubling h quarters it.
    surface = phantoms.plane(size_mm=20.0, divisions=2)
    centre = np.flatnonzero(np.all(surface.vertices_mm == 0.0, axis=1))[0]
    values = []
    for h in (40.0, 80.0):
        emitters = Emitters.create([[0, 0, h]], [[0, 0, -1]], 1.0, profile=Lambertian(60.0))
        values.append(build_transfer(surface, emitters, backend).matrix.toarray()[centre, 0])
    np.testing.assert_allclose(values[0], 100 * (2 / (2 * math.pi)) / 40.0**2, rtol=RTOL[backend])
    np.testing.assert_allclose(values[0] / values[1], 4.0, rtol=RTOL[backend])


@pytest.mark.parametrize("name", ["isotropic", "m=1", "m=4.82"])
def test_flux_conservation_closed_sphere(backend, name):
    # T3: every watt leaving emitters inside a closed surface lands on it exactly once.
    subdivisions, rtol = SPHERE[backend]
    sphere = phantoms.sphere(radius_mm=50.0, subdivisions=subdivisions, inward=True)
    rng = np.random.default_rng(7)
    emitters = Emitters.create(
        rng.uniform(-20, 20, (3, 3)),
        rng.normal(size=(3, 3)),
        [5.0, 10.0, 20.0],
        profile=PROFILES[name],
    )
    t = build_transfer(sphere, emitters, backend, intensity_cutoff=0.0)
    landed = t.matrix.T @ sphere.vertex_areas_mm2 / 100.0  # mW per mW emitted
    np.testing.assert_allclose(landed, 1.0, rtol=rtol)


def test_flux_conservation_torus_needs_occlusion(backend):
    # Inside a torus tube, rays leave the tube, cross the hole and re-enter it: only the first
    # hit counts. Without shadow rays the far wall is counted too.
    (n_major, n_minor), rtol = TORUS[backend]
    torus = phantoms.torus(
        major_mm=50.0, minor_mm=20.0, n_major=n_major, n_minor=n_minor, inward=True
    )
    positions = [[50.0, 0.0, 0.0], [-45.0, -10.0, 0.0], [0.0, 50.0, 5.0]]
    axes = [[0.0, 1.0, 0.0], [0.3, -1.0, 0.0], [1.0, 0.0, 0.0]]
    emitters = Emitters.create(positions, axes, 1.0, profile=Lambertian(60.0))
    landed = (
        build_transfer(torus, emitters, backend, intensity_cutoff=0.0).matrix.T
        @ torus.vertex_areas_mm2
        / 100
    )
    np.testing.assert_allclose(landed, 1.0, rtol=rtol)
    unshadowed = build_transfer(torus, emitters, backend, intensity_cutoff=0.0, occlusion=False)
    assert (unshadowed.matrix.T @ torus.vertex_areas_mm2 / 100).max() > 1.02


def test_disk_occluder_casts_the_analytic_shadow(backend):
    # Emitter 60 mm above a plane, a disk of radius 15 mm at 30 mm: the shadow on the plane is
    # the disk scaled by 60 / (60 - 30), radius 30 mm; outside it, light is unchanged.
    size_mm, divisions = SHADOWED_PLANE[backend]
    plane = phantoms.plane(size_mm=size_mm, divisions=divisions)
    segments = 256
    fan = phantoms.disk(radius_mm=15.0, center_mm=(0.0, 0.0, 30.0), segments=segments)
    # Turned by 0.1 rad about its axis, so that no shadow ray crosses an edge of the fan
    # exactly: Moller-Trumbore may let such a ray through (test_cuda.py, fan edges).
    c, s = math.cos(0.1), math.sin(0.1)
    disk = Surface(
        fan.vertices_mm @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]), fan.faces
    )
    emitters = Emitters.create([[0, 0, 60.0]], [[0, 0, -1]], 10.0, profile=Lambertian(60.0))
    e = build_transfer(plane, emitters, backend, occluders=[disk]).matrix.toarray()[:, 0] * 10.0
    rho = np.linalg.norm(plane.vertices_mm[:, :2], axis=1)
    scale = 60.0 / 30.0
    inner = 15.0 * math.cos(math.pi / segments) * scale  # the polygon's inscribed circle
    outer = 15.0 * scale
    want = plane_irradiance(plane.vertices_mm[:, :2], np.zeros(2), 60.0, 10.0, 1.0)
    assert (rho < inner).sum() > 500
    np.testing.assert_array_equal(e[rho < inner], 0.0)
    np.testing.assert_allclose(e[rho > outer], want[rho > outer], rtol=RTOL[backend])


def test_back_facing_points_get_zero(backend):
    plane = phantoms.plane(size_mm=100.0, divisions=10)
    emitters = Emitters.create([[0, 0, 30.0]], [[0, 0, -1]], 1.0, profile=Isotropic())
    lit = build_transfer(plane, emitters, backend).matrix
    dark = build_transfer(plane.flipped(), emitters, backend).matrix
    assert lit.nnz == len(plane.vertices_mm)
    assert dark.nnz == 0


@pytest.mark.parametrize("tilt_deg", [0.0, 30.0, 60.0, 85.0])
def test_tilted_plane_follows_cos_alpha(backend, tilt_deg):
    # T6: an isotropic source 40 mm above the centre of a plane tilted by alpha.
    flat = phantoms.plane(size_mm=40.0, divisions=4)
    a = math.radians(tilt_deg)
    rotation = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    plane = Surface(flat.vertices_mm @ rotation.T, flat.faces)
    centre = np.flatnonzero(np.all(np.abs(plane.vertices_mm) < 1e-9, axis=1))[0]
    emitters = Emitters.create([[0, 0, 40.0]], [[0, 0, -1]], 1.0, profile=Isotropic())
    got = build_transfer(plane, emitters, backend).matrix.toarray()[centre, 0]
    np.testing.assert_allclose(
        got, 100 / (4 * math.pi) / 40.0**2 * math.cos(a), rtol=RTOL[backend]
    )


def test_tabulated_profile_matches_lambertian_and_conserves_flux():
    m = Lambertian(30.0).m
    angles = np.linspace(0.0, 90.0, 721)
    table = Tabulated(
        tuple(angles), tuple(7.3 * np.cos(np.radians(angles)) ** m), source="cos-m table"
    )
    cos_t = np.cos(np.radians(np.linspace(0.0, 80.0, 50)))
    # Linear interpolation on a 0.125-degree grid: relative error below 1e-4 where it matters.
    np.testing.assert_allclose(
        table.intensity_per_mw(cos_t),
        Lambertian(30.0).intensity_per_mw(cos_t),
        rtol=2e-4,
        atol=1e-9,
    )
    sphere = phantoms.sphere(radius_mm=40.0, subdivisions=5, inward=True)
    emitters = Emitters.create([[5.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], 1.0, profile=table)
    landed = (
        build_transfer(sphere, emitters, "embree", intensity_cutoff=0.0).matrix.T
        @ sphere.vertex_areas_mm2
    )
    np.testing.assert_allclose(landed / 100.0, 1.0, rtol=5e-3)


def test_periodic_array_gives_density_times_power():
    # T4: an array of LEDs with density n per cm^2, far from its edges, gives E = n P.
    pitch, h, power = 5.0, 10.0, 2.0
    grid = np.arange(-200.0, 200.0 + 1e-9, pitch)
    x, y = np.meshgrid(grid, grid)
    positions = np.column_stack([x.ravel(), y.ravel(), np.full(x.size, h)])
    emitters = Emitters.create(positions, [0, 0, -1], power, profile=Lambertian(60.0))
    patch = phantoms.plane(size_mm=20.0, divisions=8)
    e = build_transfer(patch, emitters, "embree").matrix @ np.full(len(emitters), power)
    density_per_cm2 = 100.0 / pitch**2
    edge_loss = h**2 / (h**2 + 200.0**2)  # flux of an m = 1 array beyond 200 mm
    np.testing.assert_allclose(e, density_per_cm2 * power * (1 - edge_loss), rtol=2e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backends_agree_on_random_scenes(seed):
    # A bumpy surface that shadows itself, lit by randomly placed and aimed emitters.
    rng = np.random.default_rng(seed)
    flat = phantoms.plane(size_mm=120.0, divisions=40)
    v = flat.vertices_mm.copy()
    for cx, cy, height, width in rng.uniform([-50, -50, 5, 5], [50, 50, 25, 15], (6, 4)):
        v[:, 2] += height * np.exp(-((v[:, 0] - cx) ** 2 + (v[:, 1] - cy) ** 2) / (2 * width**2))
    surface = Surface(v, flat.faces)
    positions = np.column_stack([rng.uniform(-60, 60, (12, 2)), rng.uniform(30, 60, 12)])
    axes = np.column_stack([rng.normal(0, 0.5, (12, 2)), -np.ones(12)])
    emitters = Emitters.create(positions, axes, rng.uniform(1, 5, 12), profile=Lambertian(40.0))
    ref = build_transfer(surface, emitters, "reference")
    fast = build_transfer(surface, emitters, "embree")
    assert ref.rays_cast == fast.rays_cast
    assert ref.matrix.nnz < ref.rays_cast  # some points are in shadow
    np.testing.assert_allclose(fast.matrix.toarray(), ref.matrix.toarray(), rtol=1e-4, atol=0)
