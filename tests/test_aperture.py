"""Extended emitters: sampled LED apertures against analytic answers (docs/physics.md §1.6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
from _helpers import RTOL, build_transfer, raises_naming

from twin.devices.aperture import Aperture, expand, plane_basis
from twin.devices.emitters import Emitters
from twin.devices.profiles import Isotropic, Lambertian, Tabulated
from twin.engine.backends import make_backend
from twin.engine.extended import extended_transfer
from twin.engine.transfer import scene_triangles, transfer_matrix
from twin.geometry import phantoms
from twin.raycast import self_tolerance_mm


def build_extended(surface, emitters, backend, *, apertures, **options):
    """:func:`extended_transfer` of ``emitters`` on ``surface``'s vertices (cf. build_transfer)."""
    triangles = scene_triangles(surface)
    return extended_transfer(
        surface.samples(),
        emitters,
        make_backend(backend, triangles),
        apertures=apertures,
        end_tolerance_mm=self_tolerance_mm(triangles),
        **options,
    )


def on_axis_index(surface):
    return int(np.flatnonzero(np.all(surface.vertices_mm == 0.0, axis=1))[0])


@pytest.mark.parametrize("h_over_a", [1.0, 2.0, 5.0])
def test_t7_lambertian_disk_on_axis(backend, h_over_a):
    # T7: a uniform Lambertian disk of radius a and flux P gives E = P / (pi (a^2 + h^2)) on its
    # axis. The sunflower sampling is a midpoint rule in r^2 for this radial integrand; measured
    # relative error at K = 256: -2.2e-6 (h = a), -1.9e-7 (2a), -5.9e-9 (5a).
    a, power = 1.5, 4.0
    h = h_over_a * a
    surface = phantoms.plane(size_mm=20.0, divisions=2)
    centre = on_axis_index(surface)
    emitters = Emitters.create([[0.0, 0.0, h]], [[0.0, 0.0, -1.0]], power, profile=Lambertian(60))
    disk = {"led": Aperture("disk", 2 * a, 256)}
    got = build_extended(surface, emitters, backend, apertures=disk).matrix[centre, 0] * power
    want = 100.0 * power / (math.pi * (a**2 + h**2))
    np.testing.assert_allclose(got, want, rtol=1e-4)
    point = build_transfer(surface, emitters, backend).matrix[centre, 0] * power
    np.testing.assert_allclose(point / want, 1.0 + (a / h) ** 2, rtol=RTOL[backend])
    if h_over_a == 1.0:
        assert point / want - 1.0 > 0.10  # the point model is 2x too bright at h = a


@pytest.mark.parametrize("h_over_d", [5.0, 8.0])
def test_t8_point_model_within_1_percent_beyond_5_diameters(h_over_d):
    # T8 for an m = 1 disk of diameter D: on the axis the extended model is darker by
    # (m + 3) / 16 (D / h)^2 to leading order, the largest deviation in the spot (off the axis
    # it changes sign). Measured over points above 1 % of the peak: -0.990 % to +0.504 % at
    # h = 5 D (so the 1 % bound is tight), -0.392 % to +0.235 % at 8 D.
    d = 3.0
    h = h_over_d * d
    plane = phantoms.plane(size_mm=8.0 * h, divisions=64)
    emitters = Emitters.create([[0.0, 0.0, h]], [[0, 0, -1.0]], 1.0, profile=Lambertian(60.0))
    disk = {"led": Aperture("disk", d, 64)}
    ext = build_extended(plane, emitters, "embree", apertures=disk).matrix.toarray()[:, 0]
    point = build_transfer(plane, emitters, "embree").matrix.toarray()[:, 0]
    lit = point > 0.01 * point.max()
    assert lit.sum() > 1000
    deviation = ext[lit] / point[lit] - 1.0
    assert np.abs(deviation).max() < 0.01
    centre = on_axis_index(plane)
    np.testing.assert_allclose(ext[centre] / point[centre] - 1.0, -1 / 4 / h_over_d**2, rtol=0.02)


@pytest.mark.parametrize(
    ("shape", "half_angle_deg", "second_moment"),
    [("disk", 30.0, 1 / 8), ("square", 60.0, 1 / 6), ("square", 30.0, 1 / 6)],
)
def test_t8_rule_of_5_diameters_is_for_lambertian_disks(shape, half_angle_deg, second_moment):
    # On the axis at h = 5 D the point model is too bright by about (m + 3) / 2 <r^2> / h^2,
    # <r^2> = D^2 / 8 (disk) or D^2 / 6 (square): 1.3 % for an m = 1 square, 1.9 % for an
    # m = 4.82 disk, 2.5 % for an m = 4.82 square (measured: 1.29, 1.92, 2.51 %). For 1 % a disk
    # needs h > 2.5 D sqrt(m + 3), a square h > 2.9 D sqrt(m + 3).
    d, h = 3.0, 15.0
    plane = phantoms.plane(size_mm=20.0, divisions=2)
    profile = Lambertian(half_angle_deg)
    emitters = Emitters.create([[0.0, 0.0, h]], [[0, 0, -1.0]], 1.0, profile=profile)
    aperture = {"led": Aperture(shape, d, 64)}
    centre = on_axis_index(plane)
    ext = build_extended(plane, emitters, "embree", apertures=aperture).matrix[centre, 0]
    point = build_transfer(plane, emitters, "embree").matrix[centre, 0]
    predicted = (profile.m + 3) / 2 * second_moment * d**2 / h**2
    assert 1 - ext / point > 0.01
    np.testing.assert_allclose(1 - ext / point, predicted, rtol=0.05)


@pytest.mark.parametrize("half_angle_deg", [60.0, 30.0])
def test_flux_conservation_closed_sphere(backend, half_angle_deg):
    # T3 with extended emitters: every sub-emitter's P / K lands on the inner surface once.
    # Measured: 1.1e-3 to 1.2e-3 below 1 (as for the point model on this mesh).
    sphere = phantoms.sphere(radius_mm=50.0, subdivisions=4, inward=True)
    rng = np.random.default_rng(7)
    count, samples = (3, 64) if backend == "embree" else (1, 4)
    emitters = Emitters.create(
        rng.uniform(-20, 20, (count, 3)),
        rng.normal(size=(count, 3)),
        [5.0, 10.0, 20.0][:count],
        profile=Lambertian(half_angle_deg),
    )
    apertures = {"led": Aperture("disk" if backend == "embree" else "square", 4.0, samples)}
    t = build_extended(sphere, emitters, backend, apertures=apertures, intensity_cutoff=0.0)
    assert t.matrix.shape == (len(sphere.vertices_mm), count)
    landed = t.matrix.T @ sphere.vertex_areas_mm2 / 100.0  # mW per mW emitted
    np.testing.assert_allclose(landed, 1.0, rtol=5e-3)


def mixed_emitters():
    table = Tabulated((0.0, 45.0, 90.0), (1.0, 0.5, 0.0), source="triangle")
    return Emitters.create(
        [[0.0, 0.0, 10.0], [5.0, 0.0, 10.0], [0.0, 5.0, 12.0], [9.0, 9.0, 9.0]],
        [[0.0, 0.0, -1.0], [0.3, 0.1, -1.0], [0.0, 0.0, 1.0], [1.0, -2.0, 0.5]],
        [2.0, 3.0, 4.0, 5.0],
        profile=[Lambertian(60.0), table, Lambertian(30.0), Isotropic()],
        channel=["red", "nir", "red", "nir"],
        wavelength_nm={"red": 630.0, "nir": 850.0},
        ids=["a", "b", "c", "d"],
    )


def test_expand_bookkeeping():
    emitters = mixed_emitters()
    red = Aperture("disk", 3.0, 16)
    expanded, collapse = expand(emitters, {"red": red})
    assert len(expanded) == 16 + 1 + 16 + 1
    assert list(expanded.ids[:3]) == ["a#0", "a#1", "a#2"]
    assert list(expanded.ids[15:18]) == ["a#15", "b", "c#0"]
    assert expanded.ids[-1] == "d"
    assert isinstance(collapse, scipy.sparse.csr_array)
    assert collapse.shape == (34, 4)
    np.testing.assert_allclose(collapse.sum(axis=0), 1.0, rtol=1e-15)
    owner = collapse.indices  # one entry per row: the LED of each sub-emitter
    np.testing.assert_allclose(np.bincount(owner, expanded.power_mw), emitters.power_mw)
    np.testing.assert_allclose(collapse.T @ expanded.power_mw, [2.0 / 16, 3.0, 4.0 / 16, 5.0])
    # Sub-emitters: in the plane through the LED perpendicular to its axis, inside the disk,
    # centred on the LED to within 0.66 R / K, with the LED's axis, profile, channel, power/K.
    for i in (0, 2):
        sub = np.flatnonzero(owner == i)
        assert sub.size == 16
        d = expanded.positions_mm[sub] - emitters.positions_mm[i]
        np.testing.assert_allclose(d @ emitters.axes[i], 0.0, atol=1e-12)
        assert np.linalg.norm(d, axis=1).max() <= 1.5
        assert np.linalg.norm(d.mean(axis=0)) <= 0.66 * 1.5 / 16
        np.testing.assert_allclose(expanded.axes[sub], emitters.axes[[i] * 16], rtol=1e-15)
        np.testing.assert_allclose(expanded.power_mw[sub], emitters.power_mw[i] / 16)
        assert set(expanded.channel[sub]) == {"red"}
        profiles = {expanded.profiles[k] for k in expanded.profile_index[sub]}
        assert profiles == {emitters.profiles[emitters.profile_index[i]]}
    # Channels without an aperture: unchanged, down to the profile.
    for i, j in ((1, 16), (3, 33)):
        np.testing.assert_array_equal(expanded.positions_mm[j], emitters.positions_mm[i])
        np.testing.assert_allclose(expanded.axes[j], emitters.axes[i], rtol=1e-15)
        assert expanded.power_mw[j] == emitters.power_mw[i]
        assert expanded.channel[j] == "nir"
        assert (
            expanded.profiles[expanded.profile_index[j]]
            == (emitters.profiles[emitters.profile_index[i]])
        )
    assert expanded.wavelength_nm == {"red": 630.0, "nir": 850.0}


def test_expand_two_apertures_and_none():
    emitters = mixed_emitters()
    expanded, collapse = expand(
        emitters, {"red": Aperture("square", 2.0, 9), "nir": Aperture("disk", 4.0, 5)}
    )
    assert len(expanded) == 9 + 5 + 9 + 5
    np.testing.assert_allclose(collapse.sum(axis=0), 1.0, rtol=1e-15)
    owner = collapse.indices  # one entry per row: the LED of each sub-emitter
    np.testing.assert_array_equal(np.bincount(owner), [9, 5, 9, 5])
    np.testing.assert_allclose(np.bincount(owner, expanded.power_mw), emitters.power_mw)
    assert list(expanded.ids[9:15]) == ["b#0", "b#1", "b#2", "b#3", "b#4", "c#0"]
    # A square's samples are the cell centres of a 3 x 3 grid of side 2 mm: spacing 2/3 mm.
    d = expanded.positions_mm[:9] - emitters.positions_mm[0]
    np.testing.assert_allclose(d.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(d).max(), 2.0 / 3.0, rtol=1e-12)
    same, identity = expand(emitters, {})
    np.testing.assert_array_equal(same.positions_mm, emitters.positions_mm)
    np.testing.assert_array_equal(same.ids, emitters.ids)
    np.testing.assert_array_equal(identity.toarray(), np.eye(4))


def test_offsets_are_equal_area_samples():
    square = Aperture("square", 3.0, 16).offsets_mm
    assert square.shape == (16, 2)
    assert square.dtype == np.float64
    np.testing.assert_allclose(square.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.unique(square[:, 0]), [-1.125, -0.375, 0.375, 1.125])
    np.testing.assert_array_equal(Aperture("square", 3.0, 1).offsets_mm, [[0.0, 0.0]])
    np.testing.assert_array_equal(Aperture("disk", 3.0, 1).offsets_mm, [[0.0, 0.0]])
    for k in (2, 3, 4, 7, 64, 256, 1000):
        disk = Aperture("disk", 2.0, k).offsets_mm
        r = np.linalg.norm(disk, axis=1)
        # Equal areas: the k-th point lies on the circle that splits off (k + 0.5) / K of it.
        np.testing.assert_allclose(np.sort(r) ** 2, (np.arange(k) + 0.5) / k, rtol=1e-12)
        assert np.linalg.norm(disk.mean(axis=0)) <= 0.66 / k


def test_plane_basis_is_orthonormal_and_right_handed():
    rng = np.random.default_rng(1)
    axes = np.vstack([rng.normal(size=(200, 3)), np.eye(3), -np.eye(3)])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    u, v = plane_basis(axes)
    for p, q in ((u, u), (v, v)):
        np.testing.assert_allclose(np.einsum("ij,ij->i", p, q), 1.0, rtol=1e-12)
    for p, q in ((u, v), (u, axes), (v, axes)):
        np.testing.assert_allclose(np.einsum("ij,ij->i", p, q), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.cross(u, v), axes, atol=1e-12)


def test_single_sample_and_no_aperture_reproduce_the_point_model(backend):
    surface = phantoms.plane(size_mm=40.0, divisions=8)
    emitters = Emitters.create(
        [[1.0, 2.0, 10.0], [-3.0, 0.0, 8.0]],
        [[0.2, 0.0, -1.0], [0.0, 0.0, -1.0]],
        [1.0, 2.0],
        profile=Lambertian(30.0),
        channel=["red", "blue"],
    )
    point = build_transfer(surface, emitters, backend)
    for apertures in ({}, {"red": Aperture("disk", 3.0, 1), "blue": Aperture("square", 3, 1)}):
        t = build_extended(surface, emitters, backend, apertures=apertures)
        assert isinstance(t.matrix, scipy.sparse.csc_array)
        assert t.backend == backend
        assert t.rays_cast == point.rays_cast
        # Equal up to the last bit of the axes, which Emitters.create normalises again.
        np.testing.assert_allclose(t.matrix.toarray(), point.matrix.toarray(), rtol=1e-14)


def test_extended_transfer_counts_the_sub_emitter_run():
    surface = phantoms.plane(size_mm=40.0, divisions=8)
    emitters = mixed_emitters()
    apertures = {"red": Aperture("disk", 3.0, 16)}
    triangles = scene_triangles(surface)
    backend = make_backend("embree", triangles)
    offset = self_tolerance_mm(triangles)
    t = extended_transfer(
        surface.samples(), emitters, backend, apertures=apertures, end_tolerance_mm=offset
    )
    expanded, collapse = expand(emitters, apertures)
    sub = transfer_matrix(surface.samples(), expanded, backend, end_tolerance_mm=offset)
    # The same segments (cast, or cleared by shafts once the backend has the horizons).
    segments = t.rays_cast + t.rays_cleared, sub.rays_cast + sub.rays_cleared
    assert (segments[0], t.candidate_pairs) == (segments[1], sub.candidate_pairs)
    assert t.matrix.shape == (len(surface.vertices_mm), 4)
    np.testing.assert_allclose(t.matrix.toarray(), (sub.matrix @ collapse).toarray(), rtol=1e-15)


@pytest.mark.parametrize(
    ("args", "key", "parts"),
    [
        (("hex", 3.0, 16), "shape", ("'disk' or 'square'", "'hex'")),
        (("disk", 0, 16), "size_mm", ("> 0", "0")),
        (("disk", -2.5, 16), "size_mm", ("> 0", "-2.5")),
        (("disk", math.nan, 16), "size_mm", ("> 0", "nan")),
        (("disk", "3", 16), "size_mm", ("> 0", "'3'")),
        (("disk", 3.0, 0), "samples", ("a whole number >= 1", "0")),
        (("disk", 3.0, 2.5), "samples", ("a whole number >= 1", "2.5")),
        (("disk", 3.0, True), "samples", ("a whole number >= 1", "True")),
        (("square", 3.0, 10), "samples", ("square number", "(1, 4, 9, 16, ...)", "10")),
    ],
)
def test_bad_aperture_arguments(args, key, parts):
    with raises_naming(*parts, at=f"aperture.{key}"):
        Aperture(*args)


def test_bad_apertures_mapping():
    emitters = mixed_emitters()
    with raises_naming("no emitter has channel 'blue'", "red, nir", at="apertures"):
        expand(emitters, {"blue": Aperture("disk", 3.0, 4)})
    with raises_naming("an Aperture", "float", at="apertures['red']"):
        expand(emitters, {"red": 3.0})


def test_aperture_normalises_numbers():
    aperture = Aperture("disk", np.float32(3.0), np.int64(16))
    assert type(aperture.size_mm) is float
    assert type(aperture.samples) is int
    assert aperture == Aperture("disk", 3.0, 16)
