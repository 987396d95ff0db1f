"""The cuda tracer and backend: kernels against the reference backend, pair by pair.

Without a GPU the kernels run under numba's CUDA simulator (set up in conftest.py), so the
scenes are small; tests marked ``gpu`` need a real device and skip with the reason otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from _helpers import build_transfer

import twin
from twin.devices.emitters import Emitters
from twin.devices.profiles import Isotropic, Lambertian, Tabulated
from twin.engine.backends import backend_status, resolve_backend
from twin.engine.backends import cuda as cuda_backend
from twin.engine.culling import make_cells
from twin.geometry import phantoms
from twin.geometry.surface import Surface
from twin.raycast import cuda as cuda_tracer
from twin.raycast import make_tracer

if backend_status()["cuda"] is not None:
    pytest.skip(f"cuda backend unusable: {backend_status()['cuda']}", allow_module_level=True)

needs_gpu = pytest.mark.skipif(
    cuda_tracer.simulated(), reason="needs a CUDA device (running under numba's CUDA simulator)"
)


def bumpy(seed: int, *, divisions: int = 20) -> Surface:
    """A plane with Gaussian bumps that shadow each other."""
    rng = np.random.default_rng(seed)
    flat = phantoms.plane(size_mm=120.0, divisions=divisions)
    v = flat.vertices_mm.copy()
    for cx, cy, height, width in rng.uniform([-50, -50, 5, 5], [50, 50, 25, 15], (6, 4)):
        v[:, 2] += height * np.exp(-((v[:, 0] - cx) ** 2 + (v[:, 1] - cy) ** 2) / (2 * width**2))
    return Surface(v, flat.faces)


def aimed(seed: int, count: int, profile) -> Emitters:
    rng = np.random.default_rng(seed + 100)
    positions = np.column_stack([rng.uniform(-60, 60, (count, 2)), rng.uniform(30, 60, count)])
    axes = np.column_stack([rng.normal(0, 0.5, (count, 2)), -np.ones(count)])
    return Emitters.create(positions, axes, rng.uniform(1, 5, count), profile=profile)


@pytest.mark.parametrize(("seed", "reach_mm"), [(0, np.inf), (1, 60.0)])
def test_transfer_matrix_matches_the_reference_pair_by_pair(seed, reach_mm):
    surface = bumpy(seed)
    emitters = aimed(seed, 12, Lambertian(40.0))
    ref = build_transfer(surface, emitters, "reference", max_distance_mm=reach_mm)
    gpu = build_transfer(surface, emitters, "cuda", max_distance_mm=reach_mm)
    assert gpu.backend == "cuda"
    # The same cells survive culling, the same pairs pass the same exact tests...
    assert ref.rays_cast < ref.candidate_pairs < len(surface.vertices_mm) * len(emitters)
    assert ref.matrix.nnz < ref.rays_cast  # ...and some are in shadow
    if cuda_tracer.simulated():
        assert (gpu.candidate_pairs, gpu.rays_cast) == (ref.candidate_pairs, ref.rays_cast)
        a, b = ref.matrix.tocsr(), gpu.matrix.tocsr()
        a.sort_indices()
        b.sort_indices()
        np.testing.assert_array_equal(b.indptr, a.indptr)
        np.testing.assert_array_equal(b.indices, a.indices)
        np.testing.assert_allclose(b.data, a.data, rtol=1e-4, atol=0)
    else:  # the device fuses multiply-adds: a pair within an ulp of a test may flip
        assert abs(gpu.rays_cast - ref.rays_cast) <= 1e-3 * ref.rays_cast
        a, b = ref.matrix.toarray(), gpu.matrix.toarray()
        same = (a > 0) == (b > 0)
        assert same.mean() > 0.999
        np.testing.assert_allclose(b[same], a[same], rtol=1e-4, atol=0)


def test_every_profile_kind_evaluates_as_on_the_cpu():
    surface = bumpy(2, divisions=12)
    table = Tabulated([0.0, 20.0, 45.0, 70.0], [1.0, 0.8, 0.3, 0.0], source="test")
    for profile in (Isotropic(), table, Lambertian(12.0)):
        emitters = aimed(2, 5, profile)
        ref = build_transfer(surface, emitters, "reference").matrix.toarray()
        gpu = build_transfer(surface, emitters, "cuda").matrix.toarray()
        assert (ref > 0).sum() > 50, profile
        np.testing.assert_allclose(gpu, ref, rtol=1e-4, atol=0, err_msg=str(profile))


def test_a_scene_no_led_reaches_gives_an_empty_matrix():
    surface = bumpy(4, divisions=8)
    emitters = aimed(4, 3, Lambertian(40.0))
    below = emitters.positions_mm * [1.0, 1.0, -1.0]  # under the skin: it faces away
    away = Emitters.create(below, emitters.axes, 1.0, profile=Lambertian(40.0))
    for leds, reach in ((away, np.inf), (emitters, 1.0)):  # facing away; out of range
        gpu = build_transfer(surface, leds, "cuda", max_distance_mm=reach)
        assert gpu.matrix.shape == (len(surface.vertices_mm), 3) and gpu.matrix.nnz == 0
        assert gpu.rays_cast == 0


def test_batches_bound_memory_and_change_nothing():
    # 1026 emitters on a million points (~15,600 cells): 16 batches of 65 emitters' cell
    # flags (32 MB at the peak of compaction), then launches of at most 256 MiB of values.
    ends = np.cumsum(np.random.default_rng(0).integers(1, 200, 10_000))
    runs = cuda_backend._launches(ends, 1000)
    assert [lo for lo, _ in runs] == [0, *[hi for _, hi in runs[:-1]]] and runs[-1][1] == 10_000
    assert all(ends[hi - 1] - (ends[lo - 1] if lo else 0) <= 1000 for lo, hi in runs)
    assert cuda_backend._launches(np.array([5000, 5001]), 1000) == [(0, 1), (1, 2)]
    surface = bumpy(3, divisions=10)
    emitters = aimed(3, 6, Lambertian(40.0))
    whole = build_transfer(surface, emitters, "cuda")
    seen = []
    with pytest.MonkeyPatch.context() as patch:
        # One emitter a batch, and 32 pair values a launch: cells of 64, 24, 24 and 9 points.
        cells = make_cells(surface.samples()).count
        assert cells.tolist() == [64, 24, 24, 9]
        patch.setattr(cuda_backend, "PAIR_BYTES", 32 * 8)
        parts = build_transfer(surface, emitters, "cuda",
                               progress=lambda done, total: seen.append(done))  # fmt: skip
    assert seen == [1, 2, 3, 4, 5, 6]
    assert (parts.candidate_pairs, parts.rays_cast) == (whole.candidate_pairs, whole.rays_cast)
    np.testing.assert_array_equal(parts.matrix.toarray(), whole.matrix.toarray())


def lbvh_on_host(triangles):
    arrays, face = cuda_tracer.build_lbvh(triangles)
    host = [cuda_tracer.to_host(a) for a in arrays]
    names = ("lo", "hi", "left", "right", "start", "count")
    return dict(zip(names, host[:6], strict=True)), cuda_tracer.to_host(face)


@pytest.mark.parametrize("count", [1, 2, 3, 57, 300])
def test_the_device_bvh_is_a_binary_tree_over_every_triangle(count):
    rng = np.random.default_rng(count)
    tri = rng.normal(0.0, 30.0, (count, 1, 3)) + rng.normal(0.0, 2.0, (count, 3, 3))
    tri[: count // 3] = tri[0]  # a third share one centroid: one Morton code, ties by index
    bvh, face = lbvh_on_host(tri)
    assert sorted(face.tolist()) == list(range(count))
    assert len(bvh["left"]) == 2 * count - 1
    # From the root every leaf is reached exactly once, every inner node has two children.
    seen, stack = [], [0]
    while stack:
        node = stack.pop()
        seen.append(node)
        if bvh["left"][node] >= 0:
            stack += [bvh["left"][node], bvh["right"][node]]
            for child in (bvh["left"][node], bvh["right"][node]):
                assert np.all(bvh["lo"][child] >= bvh["lo"][node])
                assert np.all(bvh["hi"][child] <= bvh["hi"][node])
        else:
            k = bvh["start"][node]
            assert bvh["count"][node] == 1
            np.testing.assert_array_equal(bvh["lo"][node], tri[face[k]].min(axis=0))
            np.testing.assert_array_equal(bvh["hi"][node], tri[face[k]].max(axis=0))
    assert sorted(seen) == list(range(2 * count - 1))


def square_tracers():
    """A 2 x 2 mm square in z = 0 split along its diagonal, in both backends."""
    tri = np.array(
        [
            [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [2.0, 2.0, 0.0]],
            [[0.0, 0.0, 0.0], [2.0, 2.0, 0.0], [0.0, 2.0, 0.0]],
        ]
    )
    return make_tracer("reference", tri), make_tracer("cuda", tri)


def test_occlusion_edge_cases_match_the_reference():
    reference, gpu = square_tracers()
    down = [0.0, 0.0, -1.0]
    cases = {  # origin, direction, length: expected
        "through the shared diagonal": ([1.0, 1.0, 1.0], down, 2.0, True),
        "through the shared corner": ([0.0, 0.0, 1.0], down, 2.0, True),
        "through the outer edge": ([2.0, 1.0, 1.0], down, 2.0, True),
        "just outside": ([2.0 + 1e-9, 1.0, 1.0], down, 2.0, False),
        "grazing, in the plane": ([-1.0, 1.0, 0.0], [1.0, 0.0, 0.0], 5.0, False),
        "ends exactly on the plane": ([1.0, 0.5, 1.0], down, 1.0, False),
        "ends just past the plane": ([1.0, 0.5, 1.0], down, 1.0 + 1e-9, True),
        "starts exactly on the plane": ([1.0, 0.5, 0.0], [0.0, 0.0, 1.0], 3.0, False),
        "oblique through": ([-1.0, 1.0, 1.0], np.array([2.0, 0.0, -1.0]) / np.sqrt(5), 5.0, True),
    }
    o = np.array([c[0] for c in cases.values()])
    d = np.array([c[1] for c in cases.values()], dtype=float)
    length = np.array([c[2] for c in cases.values()])
    expected = [c[3] for c in cases.values()]
    for tracer in (reference, gpu):
        got = tracer.occluded(o, d, length).tolist()
        assert dict(zip(cases, got, strict=True)) == dict(zip(cases, expected, strict=True))


@pytest.mark.xfail(
    strict=cuda_tracer.simulated(),
    reason="Moller-Trumbore is not watertight: this ray crosses the edge two triangles of the "
    "fan share, where u and v round to -7e-16 and -9e-18 in the cuda kernel; NumPy's rounding "
    "in the reference backend happens to hit",
)
def test_a_shadow_ray_through_an_edge_of_a_fan_is_blocked():
    fan = phantoms.disk(radius_mm=15.0, center_mm=(0.0, 0.0, 30.0), segments=256)
    offset = 1e-4 * float(np.linalg.norm([160.0, 160.0, 30.0]))  # as in a 160 mm scene
    point, emitter = np.array([[5.0, 5.0, 0.0]]), np.array([0.0, 0.0, 60.0])
    r = np.linalg.norm(emitter - point, axis=1)
    direction = (emitter - point) / r[:, None]  # crosses the fan's 45-degree edge
    for name in ("reference", "cuda"):
        tracer = make_tracer(name, fan.triangles_mm)
        origin = point + np.array([0.0, 0.0, offset])
        assert tracer.occluded(origin, direction, r - 2 * offset), name


def test_first_hits_match_the_reference():
    tri = phantoms.head(subdivisions=2).triangles_mm
    reference, gpu = make_tracer("reference", tri), make_tracer("cuda", tri)
    rng = np.random.default_rng(5)
    o = rng.normal(0.0, 150.0, (300, 3))
    d = rng.normal(size=(300, 3))
    d /= np.linalg.norm(d, axis=1)[:, None]
    t_ref, f_ref = reference.first_hit(o, d)
    t_gpu, f_gpu = gpu.first_hit(o, d)
    assert np.isfinite(t_ref).sum() > 30
    np.testing.assert_array_equal(f_gpu, f_ref)
    np.testing.assert_allclose(t_gpu, t_ref, rtol=1e-12)


def test_the_self_tests_run_every_kernel_and_catch_a_wrong_matrix(monkeypatch):
    cuda_tracer.self_test()
    cuda_backend.self_test()
    # One thread a block walks all of its cell's points: still the reference's matrix.
    monkeypatch.setattr(cuda_backend, "SHADE_THREADS", 1)
    cuda_backend.self_test()
    monkeypatch.setattr(
        cuda_backend, "_csc", lambda xp, parts, shape: scipy.sparse.csc_array(shape)
    )
    with pytest.raises(RuntimeError, match="differs from the reference backend's"):
        cuda_backend.self_test()


def test_auto_never_picks_a_simulated_device():
    assert resolve_backend("auto") == ("embree" if cuda_tracer.simulated() else "cuda")
    triangle = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert make_tracer("auto", triangle).name == resolve_backend("auto")


@needs_gpu
@pytest.mark.gpu
def test_on_a_gpu_the_head_map_matches_embree():
    head = phantoms.head(subdivisions=6)
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    positions, axes = twin.devices.layout.offset_shell_layout(
        head, count=256, standoff_mm=10.0, vertices=face
    )
    emitters = Emitters.create(positions, axes, 8.0, profile=Lambertian(30.0))
    cpu = build_transfer(head, emitters, "embree").matrix.toarray()
    gpu = build_transfer(head, emitters, "cuda").matrix.toarray()
    # embree decides occlusion in float32: the maps agree wherever it does.
    same = (cpu > 0) == (gpu > 0)
    assert same.mean() > 0.9999
    np.testing.assert_allclose(gpu[same], cpu[same], rtol=1e-4)
