"""Shaft culling (``twin.engine.shafts``): fewer rays, exactly the same matrices.

Each scene is built twice on the same tracer, with and without shafts, and the two matrices
must agree to the bit: a ray cleared by a shaft is one the tracer finds free. The scenes are
the ones where light is blocked: a torus seen from inside its tube, a head with a nose and
ears, a face behind eye shields, thin creases. How many rays are cleared is checked where
geometry says what it must be: everything on a convex body, nothing across a torus's hole.
"""

from __future__ import annotations

import numpy as np
import pytest

import twin
from twin.devices.emitters import Emitters
from twin.devices.layout import offset_shell_layout
from twin.devices.profiles import Isotropic, Lambertian
from twin.engine.backends.cpu import CpuBackend
from twin.engine.cache import TransferCache
from twin.engine.settings import TransferSettings
from twin.engine.shafts import MIN_ELEVATION, SECTORS, SHELLS_MM, build_shafts
from twin.engine.transfer import TransferMatrix, scene_triangles, transfer_matrix
from twin.geometry import phantoms
from twin.geometry.surface import SamplePoints, Surface
from twin.raycast import make_tracer, self_tolerance_mm

CPU_BACKENDS = ["reference", "embree"]


def both(
    backend: str, samples: SamplePoints, emitters: Emitters, triangles: np.ndarray, **options
) -> tuple[TransferMatrix, TransferMatrix]:
    """Build the matrix with shafts and without, on one tracer."""
    plain = CpuBackend(make_tracer(backend, triangles))
    fast = CpuBackend(plain.tracer, triangles_mm=triangles, horizons="always")
    tol = self_tolerance_mm(triangles)
    with_shafts = transfer_matrix(samples, emitters, fast, end_tolerance_mm=tol, **options)
    without = transfer_matrix(samples, emitters, plain, end_tolerance_mm=tol, **options)
    return with_shafts, without


def assert_identical(a: TransferMatrix, b: TransferMatrix) -> None:
    """The same sparsity and the same values, to the bit."""
    ma, mb = a.matrix.tocsc(), b.matrix.tocsc()
    ma.sort_indices()
    mb.sort_indices()
    np.testing.assert_array_equal(ma.indptr, mb.indptr)
    np.testing.assert_array_equal(ma.indices, mb.indices)
    np.testing.assert_array_equal(ma.data, mb.data)
    # Every pair that passed the culling tests was either cast or cleared.
    assert a.rays_cast + a.rays_cleared == b.rays_cast and b.rays_cleared == 0
    assert a.candidate_pairs == b.candidate_pairs


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_inside_a_torus_rays_across_the_hole_are_cast_and_blocked(backend):
    torus = phantoms.torus(major_mm=50.0, minor_mm=20.0, n_major=48, n_minor=24, inward=True)
    rng = np.random.default_rng(1)
    angle = rng.uniform(0, 2 * np.pi, 12)
    centre = np.column_stack([50 * np.cos(angle), 50 * np.sin(angle), rng.uniform(-5, 5, 12)])
    emitters = Emitters.create(centre, rng.normal(size=(12, 3)), 1.0, profile=Lambertian(60.0))
    triangles = scene_triangles(torus)
    fast, plain = both(backend, torus.samples(), emitters, triangles, intensity_cutoff=0.0)
    assert_identical(fast, plain)
    assert plain.matrix.nnz < plain.rays_cast  # light is blocked: the test has teeth
    assert 0 < fast.rays_cleared < plain.rays_cast


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_head_with_nose_and_ears(backend):
    head = phantoms.head(subdivisions=4 if backend == "reference" else 5)
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    count = 60 if backend == "reference" else 300
    pos, axes = offset_shell_layout(head, count=count, standoff_mm=10.0, vertices=face)
    emitters = Emitters.create(pos, axes, 1.0, profile=Lambertian(30.0))
    fast, plain = both(backend, head.samples(), emitters, scene_triangles(head))
    assert_identical(fast, plain)
    assert plain.matrix.nnz < plain.rays_cast
    assert fast.rays_cleared > 0.3 * plain.rays_cast  # most of a head is convex


def test_a_face_behind_eye_shields():
    scene = twin.load_scene("face-rigid-blue")
    assert scene.occluders, "the scene has eye shields"
    samples = scene.target.samples(at=scene.samples)
    triangles = scene_triangles(scene.target, scene.occluders)
    fast, plain = both("embree", samples, scene.emitters, triangles)
    assert_identical(fast, plain)
    # The shields cast shadows on the eyes' surroundings: some segments are blocked.
    assert plain.matrix.nnz < plain.rays_cast


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_thin_creases_and_flaps(backend):
    # A V-crease and a flap 0.05 mm over the skin, extruded along y: rays graze and are
    # blocked within a hair's breadth of where they start.
    x = np.linspace(-20.0, 20.0, 81)
    crease = np.column_stack([x, 0.6 * np.abs(x)])
    flap = np.array([[-20.0, 0.05], [0.0, 0.05], [0.0, 0.0], [20.0, 0.0]])
    rng = np.random.default_rng(5)
    for profile in (crease, flap):
        n = len(profile)
        ys = np.linspace(-10.0, 10.0, 9)
        vertices = np.array([[px, y, pz] for y in ys for px, pz in profile])
        faces = [
            f
            for row in range(len(ys) - 1)
            for i in range(n - 1)
            for f in ([row * n + i, row * n + i + 1 + n, row * n + i + 1],
                      [row * n + i, row * n + i + n, row * n + i + 1 + n])
        ]  # fmt: skip
        surface = Surface(vertices, np.array(faces))
        if surface.face_normals[:, 2].mean() < 0:
            surface = Surface(vertices, np.array(faces)[:, ::-1])
        pos = np.column_stack(
            [rng.uniform(-25, 25, 20), rng.uniform(-8, 8, 20), rng.uniform(1, 30, 20)]
        )
        emitters = Emitters.create(pos, rng.normal(size=(20, 3)), 1.0, profile=Isotropic())
        fast, plain = both(backend, surface.samples(), emitters, scene_triangles(surface))
        assert_identical(fast, plain)


def test_a_convex_body_needs_no_ray_and_a_blocker_brings_them_back():
    sphere = phantoms.sphere(radius_mm=50.0, subdivisions=4)
    rng = np.random.default_rng(2)
    direction = rng.normal(size=(40, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    emitters = Emitters.create(60.0 * direction, -direction, 1.0, profile=Lambertian(30.0))
    samples = sphere.samples()
    fast, plain = both("embree", samples, emitters, scene_triangles(sphere))
    assert_identical(fast, plain)
    # Nothing is blocked; only rays leaving within MIN_ELEVATION of the tangent plane are cast.
    lit = plain.matrix.tocoo()
    assert lit.nnz == plain.rays_cast
    to_led = emitters.positions_mm[lit.col] - samples.positions_mm[lit.row]
    sin_elevation = np.einsum("ij,ij->i", to_led, samples.normals[lit.row]) / np.linalg.norm(
        to_led, axis=1
    )
    assert fast.rays_cast == np.count_nonzero(sin_elevation < MIN_ELEVATION) > 0
    # A plate floating over the sphere is in front of the tangent planes under it: the
    # neighbourhoods stop there, the rays it may block are cast, and it casts its shadow.
    plate = phantoms.plane(size_mm=20.0, divisions=2, z_mm=55.0)
    triangles = scene_triangles(sphere, [plate])
    fast, plain = both("embree", sphere.samples(), emitters, triangles)
    assert_identical(fast, plain)
    assert plain.matrix.nnz < plain.rays_cast


def horizons_of(surface: Surface, occluders=()) -> tuple[np.ndarray, np.ndarray]:
    """The horizons (k, shells, sectors) and frames (k, 2, 3) of a surface's vertices."""
    triangles = scene_triangles(surface, occluders)
    backend = CpuBackend(make_tracer("embree", triangles), triangles_mm=triangles)
    backend._shafts = build_shafts(triangles)
    settings = TransferSettings(end_tolerance_mm=self_tolerance_mm(triangles))
    return backend._find_horizons(surface.samples(), settings)


@pytest.mark.parametrize("name", ["sphere", "torus", "face"])
def test_horizons_bound_every_vertex_above_every_point(name):
    """Brute force: no vertex (a point of the triangles) rises above a point's horizon in
    its own sector and shell; on a sphere nothing rises at all."""
    surface = {
        "sphere": lambda: phantoms.sphere(radius_mm=50.0, subdivisions=4),
        "torus": lambda: phantoms.torus(
            major_mm=50.0, minor_mm=20.0, n_major=48, n_minor=24, inward=True
        ),
        "face": lambda: twin.load_scene("default").target,
    }[name]()
    horizon, frame = horizons_of(surface)
    if name == "sphere":
        assert np.all(horizon == -np.inf)
    samples = surface.samples()
    rng = np.random.default_rng(4)
    some = rng.choice(len(samples), size=min(len(samples), 400), replace=False)
    v = surface.vertices_mm
    for p in some:
        offset = v - samples.positions_mm[p]
        dist = np.linalg.norm(offset, axis=1)
        keep = dist > 0
        rise = offset[keep] @ samples.normals[p] / dist[keep]
        azimuth = np.arctan2(offset[keep] @ frame[p, 1], offset[keep] @ frame[p, 0]) + np.pi
        sector = np.floor(azimuth / (2 * np.pi) * SECTORS).astype(int) % SECTORS
        shell = np.searchsorted(SHELLS_MM, dist[keep], side="right")
        for s in range(len(SHELLS_MM)):
            inside = shell <= s
            top = np.full(SECTORS, -np.inf)
            np.maximum.at(top, sector[inside], rise[inside])
            # -inf: nothing above the plane
            assert np.all(np.maximum(horizon[p, s], 0.0) >= top - 1e-12), (p, s)
    if name == "torus":  # seen from inside a tube, the far wall rises straight up
        assert np.all(horizon[:, -1].max(axis=1) > 0.99)


def test_horizons_are_found_when_they_will_serve_again(tmp_path):
    """By default a backend casts every ray of a first matrix and finds the horizons when
    the same points come back, in the same backend or, through a folder, in a later run."""
    head = phantoms.head(subdivisions=4)
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    pos, axes = offset_shell_layout(head, count=300, standoff_mm=10.0, vertices=face)
    emitters = Emitters.create(pos, axes, 1.0, profile=Lambertian(30.0))
    triangles, samples = scene_triangles(head), head.samples()
    tol = self_tolerance_mm(triangles)

    def backend(**options) -> CpuBackend:
        return CpuBackend(make_tracer("embree", triangles), triangles_mm=triangles, **options)

    once = backend()
    first = transfer_matrix(samples, emitters, once, end_tolerance_mm=tol)
    second = transfer_matrix(samples, emitters, once, end_tolerance_mm=tol)
    assert first.rays_cleared == 0 < second.rays_cleared
    assert_identical(second, first)
    never = backend(horizons="never")
    for _ in range(2):
        assert transfer_matrix(samples, emitters, never, end_tolerance_mm=tol).rays_cleared == 0
    store = TransferCache(tmp_path / "horizons")  # a second run finds them, a third reads
    cleared = [
        transfer_matrix(
            samples, emitters, backend(horizon_store=store), end_tolerance_mm=tol
        ).rays_cleared
        for _ in range(3)
    ]
    assert cleared == [0, second.rays_cleared, second.rays_cleared]
    assert len(list(store.folder.glob("*.npz"))) == 2  # the skin's mark and its horizons
    kept = max(store.folder.glob("*.npz"), key=lambda p: p.stat().st_size)  # the horizons
    kept.write_bytes(kept.read_bytes()[:500])  # a damaged copy is found again, never trusted
    rebuilt = transfer_matrix(
        samples, emitters, backend(horizon_store=store), end_tolerance_mm=tol
    )
    assert_identical(rebuilt, first)
    assert rebuilt.rays_cleared == second.rays_cleared
