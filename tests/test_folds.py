"""Shadows at thin folds: shadow segments start on the skin itself, on every backend.

Each scene is a crease or a flap closer to the skin than the old 1e-4-of-the-scene offset,
extruded along y, so whether a segment is blocked is a 2D line crossing computed here in
float64, independently of the tracers.
"""

from __future__ import annotations

import numpy as np
import pytest

from twin.devices.emitters import Emitters
from twin.devices.profiles import Isotropic
from twin.engine.backends import make_backend
from twin.engine.transfer import scene_triangles, transfer_matrix
from twin.geometry.surface import Surface
from twin.raycast import self_tolerance_mm

BACKENDS = ["reference", "embree", "cuda"]  # cuda under numba's simulator without a GPU
HALF_WIDTH_MM = 10.0


def strips(profile_xz: np.ndarray) -> Surface:
    """A surface extruded along y (+-HALF_WIDTH_MM) from a polyline in the x-z plane."""
    n = len(profile_xz)
    ys = (-HALF_WIDTH_MM, 0.0, HALF_WIDTH_MM)
    vertices = np.array([[x, y, z] for y in ys for x, z in profile_xz])
    faces = []
    for row in range(len(ys) - 1):
        for i in range(n - 1):
            a, b = row * n + i, row * n + i + 1
            faces += [[a, b, b + n], [a, b + n, a + n]]
    surface = Surface(vertices, np.array(faces))
    if surface.face_normals[:, 2].mean() < 0.0:  # light arrives from above
        surface = Surface(vertices, np.array(faces)[:, ::-1])
    return surface


def blocked_by(p: np.ndarray, e: np.ndarray, a_xz, b_xz) -> np.ndarray:
    """Whether the segments p -> e cross the strip a-b (x-z segment, |y| <= HALF_WIDTH_MM).

    Strictly inside both segments; (k, 3) points, one emitter.
    """
    a, b = np.asarray(a_xz, float), np.asarray(b_xz, float)
    pxz, exz = p[:, [0, 2]], e[[0, 2]]
    d, s = exz - pxz, b - a
    cross = d[:, 0] * s[1] - d[:, 1] * s[0]
    w = a - pxz
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (w[:, 0] * s[1] - w[:, 1] * s[0]) / cross  # along p -> e
        mu = (w[:, 0] * d[:, 1] - w[:, 1] * d[:, 0]) / cross  # along a -> b
    y = p[:, 1] + lam * (e[1] - p[:, 1])
    return (lam > 1e-12) & (lam < 1 - 1e-12) & (mu > 0) & (mu < 1) & (np.abs(y) < HALF_WIDTH_MM)


def cast(surface: Surface, emitter_mm, name: str, *, at: str, occlusion: bool = True):
    """The transfer column of one isotropic LED aimed at the origin, on ``surface``."""
    position = np.asarray(emitter_mm, float)
    leds = Emitters.create([position], -position / np.linalg.norm(position), 1.0,
                           profile=Isotropic())  # fmt: skip
    triangles = scene_triangles(surface)
    samples = surface.samples(at=at)
    matrix = transfer_matrix(
        samples,
        leds,
        make_backend(name, triangles),
        end_tolerance_mm=self_tolerance_mm(triangles),
        intensity_cutoff=0.0,
        occlusion=occlusion,
    ).matrix
    return samples.positions_mm, matrix.toarray()[:, 0]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("at", ["vertices", "centroids"])
def test_a_narrow_crease_shadows_its_floor_as_the_exact_line_crossing(name, at):
    # A V of half-opening 8 degrees; points on the left wall down to 1 um from the apex, lit
    # from beyond the right wall. The old offset (1e-4 of the scene, 4 um here) carried the
    # origins of points within ~15 um of the apex through the right wall.
    beta = np.radians(8.0)
    s = np.array([0.0, 1e-3, 2e-3, 5e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 25.0])
    left = np.c_[-s[::-1] * np.sin(beta), s[::-1] * np.cos(beta)]
    right = np.c_[s[1:] * np.sin(beta), s[1:] * np.cos(beta)]
    fold = strips(np.vstack([left, right]))
    top = (25.0 * np.sin(beta), 25.0 * np.cos(beta))
    emitter = np.array([12.0, 0.0, 40.0])
    p, value = cast(fold, emitter, name, at=at)
    _, free = cast(fold, emitter, name, at=at, occlusion=False)
    on_left = (p[:, 0] < 0.0) & (np.hypot(p[:, 0], p[:, 2]) > 1e-4)  # not the apex
    shadowed = blocked_by(p, emitter, (0.0, 0.0), top)
    assert shadowed[on_left & (free > 0)].sum() >= 8  # the deep points are in shadow
    assert (~shadowed[on_left & (free > 0)]).any()  # and the upper ones in the light
    np.testing.assert_allclose(value[on_left], np.where(shadowed, 0.0, free)[on_left], rtol=1e-6)


@pytest.mark.parametrize("name", BACKENDS)
def test_a_flap_a_micron_above_the_skin_shadows_it(name):
    # Skin z = 0 for x in [-10, 10]; a flap at z = 1 um over x < 0, open along its edge at
    # x = 0. Lit from above-right: a skin point is shadowed exactly when its segment to the
    # LED crosses the flap's height at x < 0. The old offset put every origin above the flap.
    gap = 1e-3
    skin = strips(np.c_[np.linspace(-10.0, 10.0, 41), np.zeros(41)])
    flap = strips(np.array([[-10.0, gap], [0.0, gap]]))
    emitter = np.array([3.0, 0.0, 40.0])
    position = emitter / np.linalg.norm(emitter)
    leds = Emitters.create([emitter], -position, 1.0, profile=Isotropic())
    triangles = scene_triangles(skin, [flap])
    samples = skin.samples()
    values = {
        occ: transfer_matrix(samples, leds, make_backend(name, triangles),
                             end_tolerance_mm=self_tolerance_mm(triangles), intensity_cutoff=0.0,
                             occlusion=occ).matrix.toarray()[:, 0]
        for occ in (True, False)
    }  # fmt: skip
    p = samples.positions_mm
    shadowed = blocked_by(p, emitter, (-10.0, gap), (0.0, gap))
    assert shadowed.sum() > 40 and (~shadowed).sum() > 40
    np.testing.assert_allclose(values[True], np.where(shadowed, 0.0, values[False]), rtol=1e-6)


@pytest.mark.parametrize("name", BACKENDS)
def test_a_segment_ending_on_a_carrier_is_not_blocked_by_it(name):
    # The LED sits on a carrier plate facing the skin: the plate's plane holds the segment's
    # end, so it does not shadow, whatever the angle.
    skin = strips(np.c_[np.linspace(-10.0, 10.0, 21), np.zeros(21)])
    carrier = strips(np.array([[-10.0, 5.0], [10.0, 5.0]]))
    leds = Emitters.create([[0.3, 0.0, 5.0]], [0.0, 0.0, -1.0], 1.0, profile=Isotropic())
    triangles = scene_triangles(skin, [carrier])
    samples = skin.samples()
    lit, free = (
        transfer_matrix(samples, leds, make_backend(name, triangles),
                        end_tolerance_mm=self_tolerance_mm(triangles), intensity_cutoff=0.0,
                        occlusion=occ).matrix.toarray()[:, 0]
        for occ in (True, False)
    )  # fmt: skip
    assert (free > 0).sum() == len(free)
    np.testing.assert_allclose(lit, free, rtol=1e-12)
