"""The layered Monte Carlo (twin.tissue.montecarlo) against independent references.

References: adding-doubling (iadpython), the MCML benchmark values from the literature,
Beer-Lambert attenuation, diffusion theory deep in a scattering medium, the Fresnel formulas
and the oblique-incidence numbers of docs/physics.md §3.4.7. Tolerances are set from the Monte
Carlo standard error of each quantity (a fraction p of N photons has ``sqrt(p (1 - p) / N)``).
"""

from __future__ import annotations

import math
import re
from itertools import pairwise

import numba
import numpy as np
import pytest

from twin.errors import InputError
from twin.tissue.layers import Layer
from twin.tissue.montecarlo import fresnel_reflectance, simulate

INF = math.inf

#: A fair-skin stack at 633 nm (docs/physics.md §3.4.7: 0.1 mm epidermis, 1.5 mm dermis,
#: subcutis).
FAIR_633 = (
    Layer(0.1, 0.2, 4.6, 0.8, 1.4),
    Layer(1.5, 0.03, 2.5, 0.8, 1.4),
    Layer(INF, 0.1, 1.8, 0.8, 1.4),
)


def _standard_error(p: float, photons: int) -> float:
    """Standard error of a fraction ``p`` scored by ``photons`` analog photons."""
    return math.sqrt(p * (1.0 - p) / photons)


def _slab(a: float, b: float, g: float, d_mm: float, n: float) -> Layer:
    """The layer of albedo ``a``, optical thickness ``b``, anisotropy ``g``, ``d_mm`` thick."""
    return Layer(d_mm, (1.0 - a) * b / d_mm, a * b / d_mm * (1.0 - g), g, n)


# --- 1. adding-doubling (iadpython) --------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "a", "b", "g"),
    [
        (1.0, 0.9, 2.0, 0.75),  # matched index
        (1.4, 0.99, 8.0, 0.9),  # skin-like index, high albedo, forward scattering
        (1.5, 0.3, 2.0, 0.0),  # low albedo, isotropic
        (1.33, 0.95, 4.0, 0.5),
        (1.4, 0.6, 1.0, 0.8),
    ],
)
def test_slab_reflectance_and_transmittance_match_adding_doubling(n, a, b, g):
    # iadpython's Sample(a, b, g, d, n).rt() returns (UR1, UT1, URU, UTU): UR1 and UT1 are the
    # total reflectance and transmittance of a slab in air (n_above = n_below = 1) lit by a
    # normal collimated beam; UR1 includes the specular reflection and UT1 the unscattered
    # transmission (for a = 0, UR1 = 2 R / (1 + R) of the two faces). 16 quadrature points
    # give about 1e-4.
    iad = pytest.importorskip("iadpython")
    r_ad, t_ad, _, _ = iad.Sample(a=a, b=b, g=g, d=1.0, n=n, quad_pts=16).rt()
    result = simulate([_slab(a, b, g, 1.0, n)], photons=200_000, seed=1)
    assert abs(result.specular + result.remitted - r_ad) < 0.005
    assert abs(result.transmitted - t_ad) < 0.005


def test_slab_split_into_identical_layers_matches_adding_doubling():
    # Boundaries between layers of the same index reflect nothing: splitting a slab into three
    # layers leaves R and T unchanged.
    iad = pytest.importorskip("iadpython")
    a, b, g, n = 0.99, 8.0, 0.9, 1.4
    r_ad, t_ad, _, _ = iad.Sample(a=a, b=b, g=g, d=1.0, n=n, quad_pts=16).rt()
    layers = [_slab(a, b * d, g, d, n) for d in (0.2, 0.3, 0.5)]
    result = simulate(layers, photons=200_000, seed=2)
    assert abs(result.specular + result.remitted - r_ad) < 0.005
    assert abs(result.transmitted - t_ad) < 0.005


# --- 2. MCML benchmarks from the literature ------------------------------------------------


def test_matched_slab_matches_van_de_hulst():
    # Wang, Jacques & Zheng 1995 (MCML, Comput Methods Programs Biomed 47:131), Table 1: a slab
    # with n = 1, mua = 10 /cm, mus = 90 /cm, g = 0.75, d = 0.02 cm; van de Hulst (1980) gives
    # total diffuse reflectance 0.09739 and total transmittance 0.66096 (unscattered
    # exp(-2) included). In mm: mua = 1, mus' = 9 (1 - 0.75) = 2.25, d = 0.2.
    photons = 100_000
    result = simulate([Layer(0.2, 1.0, 2.25, 0.75, 1.0)], photons=photons, seed=3)
    assert result.specular == 0.0
    assert abs(result.remitted - 0.09739) < 4 * _standard_error(0.09739, photons)
    assert abs(result.transmitted - 0.66096) < 4 * _standard_error(0.66096, photons)


def test_semi_infinite_mismatched_medium_matches_giovanelli():
    # MCML paper, Table 2: a semi-infinite medium with n = 1.5, mua = 10 /cm, mus = 90 /cm,
    # isotropic scattering; Giovanelli (1955) gives total reflectance 0.2600 of the incident
    # beam, the 4 % specular reflection included (adding-doubling gives 0.25994).
    photons = 100_000
    result = simulate([Layer(INF, 1.0, 9.0, 0.0, 1.5)], photons=photons, seed=4)
    assert result.specular == pytest.approx(0.04)
    assert result.transmitted == 0.0
    total = result.specular + result.remitted
    assert abs(total - 0.2600) < 4 * _standard_error(0.26, photons)


def test_two_layer_stack_matches_mcml():
    # MCML (mcml.exe, 1e6 photons) for two layers under air, as published by Virtual
    # Photonics when validating their MCCL ("MCCL Validation And Comparison With MCML",
    # github.com/VirtualPhotonics/Vts.MonteCarlo/wiki): layer 1 0.1 mm, mua 2 /mm, mus 20 /mm,
    # g 0.7, n 1.3; layer 2 semi-infinite, mua 1, mus 20, g 0.9, n 1.4. Specular reflectance
    # 0.0170, total diffuse reflectance 0.1050. The index step between the layers reflects.
    photons = 100_000
    layers = [Layer(0.1, 2.0, 20.0 * 0.3, 0.7, 1.3), Layer(INF, 1.0, 20.0 * 0.1, 0.9, 1.4)]
    result = simulate(layers, photons=photons, seed=5)
    assert result.specular == pytest.approx(0.0170, abs=5e-5)
    noise = math.hypot(_standard_error(0.105, photons), _standard_error(0.105, 1_000_000))
    assert abs(result.remitted - 0.1050) < 4 * noise


# --- Beer-Lambert: the normalisation per unit surface irradiance ----------------------------


@pytest.mark.parametrize("incidence_deg", [0.0, 50.0])
def test_non_scattering_stack_follows_beer_lambert_per_unit_surface_irradiance(incidence_deg):
    # A clear layer over an absorbing one, same index, no scattering. Per unit irradiance of
    # the surface, (1 - R) enters along cos(theta_t), so phi = (1 - R) / cos(theta_t) in the
    # clear layer (every photon crosses it once: exact) and (1 - R) / cos(theta_t)
    # exp(-mua (z - 0.5) / cos(theta_t)) below.
    n, mua, clear_mm = 1.4, 1.0, 0.5
    layers = [Layer(clear_mm, 0.0, 0.0, 0.0, n), Layer(INF, mua, 0.0, 0.0, n)]
    edges = np.linspace(0.0, 2.5, 26)
    photons = 20_000
    result = simulate(layers, incidence_deg=incidence_deg, photons=photons, depth_edges_mm=edges)
    theta = math.radians(incidence_deg)
    cos_t = math.sqrt(1.0 - (math.sin(theta) / n) ** 2)
    entering = 1.0 - result.specular
    phi = result.fluence_rate
    clear = edges[1:] <= clear_mm
    np.testing.assert_allclose(phi[clear], entering / cos_t, rtol=1e-12)
    # Below: the mean over each bin of the exponential. A photon adds a path in [0, L] to a bin
    # (L = dz / cos_t): L if it gets through (a fraction e_b), nothing if it never reaches it
    # (1 - e_t); so the variance of one photon's score is at most L**2 (e_t - e_b**2).
    top, bottom = edges[:-1][~clear] - clear_mm, edges[1:][~clear] - clear_mm
    k = mua / cos_t
    reach_top, reach_bottom = np.exp(-k * top), np.exp(-k * bottom)
    expected = entering / cos_t * (reach_top - reach_bottom) / (k * (bottom - top))
    noise = entering / cos_t * np.sqrt((reach_top - reach_bottom**2) / photons)
    assert np.all(np.abs(phi[~clear] - expected) < 5 * noise)
    assert result.remitted == 0.0
    assert result.absorbed == pytest.approx(entering, rel=1e-12)


# --- 3. diffusion theory deep in the medium ------------------------------------------------


def test_decay_length_deep_in_dermis_matches_diffusion_theory():
    # Red light in dermis (mus'/mua ~ 80): several to many transport mean free paths
    # (1/(mua + mus') = 0.40 mm) below the surface, phi(z) decays as exp(-mu_eff z), mu_eff
    # = sqrt(3 mua (mua + mus')) (docs/physics.md §3.1; within a few % of transport theory at this
    # albedo). Fitted over 2-7 mm, 5 to 18 transport mean free paths.
    layer = Layer(INF, 0.03, 2.5, 0.8, 1.4)
    edges = np.linspace(0.0, 10.0, 41)
    result = simulate([layer], photons=150_000, seed=6, depth_edges_mm=edges)
    centres = 0.5 * (edges[:-1] + edges[1:])
    deep = (centres >= 2.0) & (centres <= 7.0)
    slope = np.polyfit(centres[deep], np.log(result.fluence_rate[deep]), 1)[0]
    assert -1.0 / slope == pytest.approx(1.0 / layer.mu_eff_per_mm, rel=0.05)


# --- 4. energy, Fresnel ------------------------------------------------------------------


def _fresnel_by_angles(n1: float, n2: float, theta: float) -> float:
    """Unpolarised Fresnel reflectance in the sine and tangent form (Born & Wolf 1.5)."""
    if theta == 0.0:
        return ((n1 - n2) / (n1 + n2)) ** 2
    theta_t = math.asin(n1 / n2 * math.sin(theta))
    s = math.sin(theta - theta_t) / math.sin(theta + theta_t)
    p = math.tan(theta - theta_t) / math.tan(theta + theta_t)
    return 0.5 * (s * s + p * p)


@pytest.mark.parametrize("incidence_deg", [0.0, 30.0, 60.0, 85.0])
def test_energy_balances_and_specular_is_fresnel(incidence_deg):
    layers = [
        Layer(0.1, 0.5, 3.0, 0.7, 1.45),
        Layer(0.4, 0.05, 2.0, 0.9, 1.37),
        Layer(0.3, 0.0, 1.0, 0.8, 1.5),
    ]
    result = simulate(layers, incidence_deg=incidence_deg, photons=5_000, outside_n=1.33)
    total = result.specular + result.remitted + result.absorbed + result.transmitted
    assert total == pytest.approx(1.0, abs=1e-12)
    assert result.absorbed_per_layer.sum() == pytest.approx(result.absorbed, abs=1e-15)
    assert result.absorbed_per_layer[2] == 0.0  # no absorber, nothing absorbed
    assert min(result.remitted, result.transmitted, *result.absorbed_per_layer[:2]) > 0.0
    theta = math.radians(incidence_deg)
    assert result.specular == pytest.approx(_fresnel_by_angles(1.33, 1.45, theta), rel=1e-12)


@pytest.mark.parametrize(
    ("incidence_deg", "percent"), [(0, 2.8), (45, 3.7), (60, 7.2), (70, 15.0), (80, 37.0)]
)
def test_specular_matches_physics_table(incidence_deg, percent):
    # docs/physics.md §3.4.7, Fresnel reflectance at n = 1.40 (rounded to 2 digits).
    result = simulate([FAIR_633[1]], incidence_deg=incidence_deg, photons=1)
    assert 100 * result.specular == pytest.approx(percent, rel=0.02)


def test_fresnel_total_internal_reflection_and_matched_index():
    assert fresnel_reflectance(1.4, 1.0, math.cos(math.radians(46.0))) == (1.0, 0.0)
    reflectance, cos_out = fresnel_reflectance(1.4, 1.4, 0.3)
    assert (reflectance, cos_out) == (0.0, 0.3)
    theta = math.radians(40.0)  # below the critical angle of 45.6 deg
    reflectance, cos_out = fresnel_reflectance(1.4, 1.0, math.cos(theta))
    assert reflectance == pytest.approx(_fresnel_by_angles(1.4, 1.0, theta), rel=1e-12)
    assert cos_out == pytest.approx(math.sqrt(1.0 - (1.4 * math.sin(theta)) ** 2), rel=1e-12)


# --- 5. the two estimators agree -------------------------------------------------------


def test_absorbed_per_layer_equals_mua_times_integrated_fluence():
    # Analog absorption counts the photons absorbed in each layer; the track-length fluence
    # gives mua * integral(phi dz). Both estimate the same power; the edges follow the layers
    # and reach the bottom of the finite stack, so nothing is cut off.
    layers = [
        Layer(0.1, 0.2, 4.6, 0.8, 1.45),
        Layer(1.5, 0.03, 2.5, 0.8, 1.38),
        Layer(2.0, 0.1, 1.8, 0.8, 1.45),
    ]
    bounds = np.cumsum([0.0, 0.1, 1.5, 2.0])
    edges = np.unique(np.concatenate([np.linspace(lo, hi, 11) for lo, hi in pairwise(bounds)]))
    photons = 60_000
    result = simulate(layers, photons=photons, seed=7, depth_edges_mm=edges)
    path = result.fluence_rate * np.diff(edges)
    for i, (layer, (lo, hi)) in enumerate(zip(layers, pairwise(bounds), strict=True)):
        inside = (edges[:-1] >= lo - 1e-12) & (edges[1:] <= hi + 1e-12)
        from_fluence = layer.mua_per_mm * path[inside].sum()
        counted = result.absorbed_per_layer[i]
        assert abs(from_fluence - counted) < 4 * _standard_error(counted, photons), i


# --- 6. determinism, oblique incidence, input errors ----------------------------------------


def test_same_seed_same_result_on_any_number_of_threads():
    kwargs = {"photons": 3_000, "seed": 11}
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(FAIR_633, **kwargs)
    finally:
        numba.set_num_threads(threads)
    many = simulate(FAIR_633, **kwargs)
    np.testing.assert_array_equal(one.fluence_rate, many.fluence_rate)
    np.testing.assert_array_equal(one.absorbed_per_layer, many.absorbed_per_layer)
    assert one.remitted == many.remitted
    other = simulate(FAIR_633, photons=3_000, seed=12)
    assert other.remitted != one.remitted
    assert not np.array_equal(other.fluence_rate, one.fluence_rate)


def test_oblique_incidence_reduces_fluence_at_depth():
    # docs/physics.md §3.4.7: per unit surface irradiance, fluence at 0.3-1 mm at 60 deg is
    # 0.85-0.89x that at normal incidence (633 nm, fair skin; an independent numpy Monte
    # Carlo). More than the Fresnel loss alone (0.93 / 0.97): oblique light turns back nearer
    # the surface.
    edges = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 1.0])
    normal = simulate(FAIR_633, photons=100_000, seed=8, depth_edges_mm=edges)
    oblique = simulate(FAIR_633, incidence_deg=60.0, photons=100_000, seed=9, depth_edges_mm=edges)
    ratio = (oblique.fluence_rate / normal.fluence_rate)[2:]
    fresnel_only = (1.0 - oblique.specular) / (1.0 - normal.specular)
    assert np.all(ratio < fresnel_only - 0.03)
    assert np.all((ratio > 0.85 - 0.03) & (ratio < 0.89 + 0.03))
    assert normal.incidence_deg == 0.0
    assert oblique.incidence_deg == 60.0


def test_default_depth_edges():
    result = simulate(FAIR_633, photons=100)
    edges = result.depth_edges_mm
    assert edges[0] == 0.0
    assert edges[-1] == pytest.approx(20.0)
    widths = np.diff(edges)
    for depth, width in [(0.1, 0.01), (1.0, 0.05), (4.0, 0.1), (10.0, 0.25)]:
        assert widths[np.searchsorted(edges, depth) - 1] == pytest.approx(width)
    assert result.fluence_rate.shape == (edges.size - 1,)
    assert result.photons == 100
    assert not result.fluence_rate.flags.writeable


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"incidence_deg": 90.0}, "incidence_deg: expected a number in [0, 90)"),
        ({"incidence_deg": -1.0}, "incidence_deg: expected a number in [0, 90), got -1.0"),
        ({"incidence_deg": "45"}, "incidence_deg: expected a number in [0, 90), got '45'"),
        ({"photons": 0}, "photons: expected a whole number in [1, "),
        ({"photons": 10**10}, "photons: expected a whole number in [1, "),
        ({"photons": 1.5}, "photons: expected a whole number"),
        ({"seed": -1}, "seed: expected a whole number >= 0"),
        ({"outside_n": 0.9}, "outside_n: expected a number in [1, 3]"),
        ({"depth_edges_mm": [0.0, 1.0, 1.0]}, "depth_edges_mm: expected strictly increasing"),
        ({"depth_edges_mm": [-0.1, 1.0]}, "depth_edges_mm: expected depths >= 0 mm"),
        ({"depth_edges_mm": [0.0, np.nan]}, "depth_edges_mm: expected finite numbers"),
        ({"depth_edges_mm": [1.0]}, "depth_edges_mm: expected a 1-D array of 2 to"),
        ({"depth_edges_mm": [[0.0, 1.0]]}, "depth_edges_mm: expected a 1-D array of 2 to"),
        ({"depth_edges_mm": "deep"}, "depth_edges_mm: expected a 1-D array of numbers"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        simulate(FAIR_633, **kwargs)


def test_bad_layers_are_named():
    with pytest.raises(InputError, match="layers: expected at least one layer"):
        simulate([])
    with pytest.raises(InputError, match=r"layers\[0\]\.g"):
        simulate([Layer(INF, 0.1, 1.0, 1.0, 1.4)])
    with pytest.raises(InputError, match=r"layers\[1\]\.mua_per_mm: a semi-infinite bottom"):
        simulate([FAIR_633[0], Layer(INF, 0.0, 2.0, 0.8, 1.4)])
    with pytest.raises(InputError, match=r"layers\[0\]\.mua_per_mm: a semi-infinite bottom"):
        simulate([Layer(INF, 1e-9, 2.0, 0.8, 1.4)])
