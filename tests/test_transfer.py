"""The transfer-matrix front end, its settings, the backends behind it and their culling.

Physics against analytic answers is in test_analytic.py, the cuda kernels pair by pair against
the reference backend in test_cuda.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
from _helpers import build_transfer

from twin.devices.emitters import Emitters
from twin.devices.profiles import Isotropic, Lambertian
from twin.engine.backends import Cast, backend_status, make_backend
from twin.engine.culling import cone_cosines, make_cells
from twin.engine.settings import TransferSettings
from twin.engine.transfer import transfer_matrix
from twin.errors import InputError
from twin.geometry import phantoms
from twin.raycast import make_tracer


def lit_plane(count: int = 2) -> tuple:
    """A 40 mm plane (81 points) and ``count`` LEDs 8-10 mm above it."""
    surface = phantoms.plane(size_mm=40.0, divisions=8)
    rng = np.random.default_rng(count)
    positions = np.column_stack([rng.uniform(-15, 15, (count, 2)), rng.uniform(8, 10, count)])
    emitters = Emitters.create(positions, [0.0, 0.0, -1.0], 1.0, profile=Lambertian(30.0))
    return surface, emitters


class Recorder:
    """A backend that builds nothing and records the settings the front end hands it."""

    name = "recorder"

    def __init__(self, triangles_mm) -> None:
        self.tracer = make_tracer("reference", triangles_mm)
        self.calls: list[TransferSettings] = []

    def transfer(self, samples, emitters, settings, *, progress=None) -> Cast:
        self.calls.append(settings)
        empty = scipy.sparse.csc_array((len(samples), len(emitters)))
        return Cast(matrix=empty, candidate_pairs=7, rays_cast=3)


def test_the_front_end_checks_the_settings_and_hands_them_to_the_backend():
    surface, emitters = lit_plane()
    backend = Recorder(surface.triangles_mm)
    t = transfer_matrix(
        surface.samples(),
        emitters,
        backend,
        end_tolerance_mm=0.01,
        intensity_cutoff=0.05,
        max_distance_mm=50,
        occlusion=False,
    )
    want = TransferSettings(
        end_tolerance_mm=0.01, intensity_cutoff=0.05, max_distance_mm=50.0, occlusion=False
    )
    assert backend.calls == [want]
    assert (t.backend, t.candidate_pairs, t.rays_cast) == ("recorder", 7, 3)
    assert (t.intensity_cutoff, t.max_distance_mm) == (0.05, 50.0)
    assert t.matrix.shape == (81, 2)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("end_tolerance_mm", -1.0, "a number >= 0"),
        ("end_tolerance_mm", math.nan, "a number >= 0"),
        ("intensity_cutoff", 1.0, "a fraction in [0, 1)"),
        ("intensity_cutoff", -0.1, "a number >= 0"),
        ("intensity_cutoff", "0.1", "a number >= 0"),
        ("max_distance_mm", 0.0, "a distance > 0 mm"),
        ("max_distance_mm", -math.inf, "a distance > 0 mm"),
    ],
)
def test_bad_settings_name_the_argument_and_reach_no_backend(option, value, expected):
    surface, emitters = lit_plane()
    backend = Recorder(surface.triangles_mm)
    with pytest.raises(InputError) as info:
        transfer_matrix(
            surface.samples(), emitters, backend, **{"end_tolerance_mm": 0.01, option: value}
        )
    message = str(info.value)
    assert message.startswith(f"{option}: expected {expected}")
    assert message.endswith(f"got {value!r}")
    assert backend.calls == []


def test_a_tracer_is_not_a_backend():
    surface, emitters = lit_plane()
    tracer = make_tracer("reference", surface.triangles_mm)
    with pytest.raises(InputError, match=r"^backend: ") as info:
        transfer_matrix(surface.samples(), emitters, tracer, end_tolerance_mm=0.01)
    assert "make_backend" in str(info.value) and "ReferenceTracer" in str(info.value)


def test_make_backend_checks_its_arguments():
    triangles = phantoms.plane(size_mm=10.0, divisions=1).triangles_mm
    with pytest.raises(InputError, match=r"^backend: expected one of auto, .*, got 'gpu'$"):
        make_backend("gpu", triangles)
    for workers in (0, 2.5, True):
        with pytest.raises(InputError, match=rf"^workers: .* got {workers!r}$"):
            make_backend("embree", triangles, workers=workers)


def test_every_usable_backend_is_named_after_its_tracer_over_the_same_triangles():
    triangles = phantoms.plane(size_mm=10.0, divisions=1).triangles_mm
    usable = [name for name, reason in backend_status().items() if reason is None]
    assert {"reference", "embree"} <= set(usable)
    origin, down = np.array([[1.0, 2.0, 7.0]]), np.array([[0.0, 0.0, -1.0]])
    for name in usable:
        backend = make_backend(name, triangles)
        assert backend.name == backend.tracer.name == name
        distance, face = backend.tracer.first_hit(origin, down)
        np.testing.assert_allclose(distance, [7.0], rtol=1e-6)
        assert face[0] in (0, 1)


def test_threads_change_nothing_and_progress_counts_every_emitter():
    surface, emitters = lit_plane(40)
    samples, triangles = surface.samples(), surface.triangles_mm
    seen = []
    one = transfer_matrix(
        samples, emitters, make_backend("embree", triangles, workers=1), end_tolerance_mm=0.01
    )
    four = transfer_matrix(
        samples,
        emitters,
        make_backend("embree", triangles, workers=4),
        end_tolerance_mm=0.01,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (one.candidate_pairs, one.rays_cast) == (four.candidate_pairs, four.rays_cast)
    for field in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(four.matrix, field), getattr(one.matrix, field))
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (40, 40) and len(seen) > 1


def test_cells_partition_the_samples_and_bound_their_points_and_normals():
    samples = phantoms.head(subdivisions=3).samples()
    cells = make_cells(samples)
    k = len(samples)
    np.testing.assert_array_equal(np.sort(cells.order), np.arange(k))
    np.testing.assert_array_equal(cells.points[:, :3], samples.positions_mm[cells.order])
    np.testing.assert_array_equal(cells.points[:, 3:], samples.normals[cells.order])
    assert cells.start[0] == 0 and cells.count.sum() == k and cells.count.min() >= 1
    np.testing.assert_array_equal(cells.start[1:], np.cumsum(cells.count)[:-1])
    cell_of = np.repeat(np.arange(len(cells.start)), cells.count)
    reach = np.linalg.norm(cells.points[:, :3] - cells.centre[cell_of], axis=1)
    assert np.all(reach <= cells.radius[cell_of] * (1 + 1e-12))
    cos = np.einsum("ij,ij->i", cells.points[:, 3:], cells.normal[cell_of])
    assert np.all(cos >= cells.cos_cone[cell_of] - 1e-12)
    np.testing.assert_allclose(cells.cos_cone**2 + cells.sin_cone**2, 1.0, rtol=1e-12)


def test_the_emission_cone_ends_where_intensity_falls_to_the_cutoff():
    profiles = [Lambertian(30.0), Lambertian(60.0)]
    which = (0, 1, 1, 0)
    emitters = Emitters.create(
        np.zeros((4, 3)), [0.0, 0.0, -1.0], 1.0, profile=[profiles[k] for k in which]
    )
    cos_cut = cone_cosines(emitters, 0.01)
    for i, k in enumerate(which):
        peak = profiles[k].intensity_per_mw(np.ones(1))
        edge = profiles[k].intensity_per_mw(np.array([cos_cut[i]]))
        np.testing.assert_allclose(edge / peak, 0.01, rtol=1e-9)
    iso = Emitters.create(np.zeros((1, 3)), [0.0, 0.0, -1.0], 1.0, profile=Isotropic())
    assert cone_cosines(iso, 0.01)[0] <= -1.0  # an isotropic LED lights the whole sphere


@pytest.mark.parametrize("backend", ["reference", "embree"])
def test_emitters_out_of_range_or_facing_away_cast_no_ray(backend):
    surface, emitters = lit_plane(3)
    away = Emitters.create(emitters.positions_mm, [0.0, 0.0, 1.0], 1.0, profile=Lambertian(30.0))
    for leds, reach in ((emitters, 5.0), (away, math.inf)):
        t = build_transfer(surface, leds, backend, max_distance_mm=reach)
        # Cells are culled conservatively, pairs exactly: no pair gets a ray.
        assert t.candidate_pairs < 81 * 3 and (t.rays_cast, t.matrix.nnz) == (0, 0)
        assert t.matrix.shape == (81, 3)


@pytest.mark.parametrize("cutoff", [1e-4, 1e-2, 0.2])
def test_culling_never_drops_a_contribution_above_its_cutoff(cutoff):
    head = phantoms.head(subdivisions=4)
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks")])
    rng = np.random.default_rng(3)
    pick = rng.choice(face, 40, replace=False)
    positions = head.vertices_mm[pick] + 12.0 * head.vertex_normals[pick]
    axes = -head.vertex_normals[pick] + rng.normal(0, 0.3, (40, 3))
    profile = Lambertian(30.0)
    emitters = Emitters.create(positions, axes, 1.0, profile=profile)
    full = build_transfer(head, emitters, "embree", intensity_cutoff=0.0).matrix.toarray()
    culled = build_transfer(
        head, emitters, "embree", intensity_cutoff=cutoff, max_distance_mm=80.0
    ).matrix.toarray()
    kept = culled > 0
    np.testing.assert_array_equal(culled[kept], full[kept])
    dropped_p, dropped_e = np.nonzero((full > 0) & ~kept)
    assert dropped_p.size > 0
    d = head.vertices_mm[dropped_p] - positions[dropped_e]
    r = np.linalg.norm(d, axis=1)
    unit_axes = emitters.axes[dropped_e]
    relative = np.einsum("ij,ij->i", d / r[:, None], unit_axes) ** profile.m
    assert np.all((relative < cutoff) | (r > 80.0))
