"""Dose maps (``twin.dose.maps``): linear in the drive, arguments checked, channels named."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import raises_naming, write_user_head

import twin
from twin.engine.backends import make_backend
from twin.geometry import phantoms


@pytest.fixture(scope="module")
def rendered():
    """A transfer matrix of two LEDs (red at 633 nm, nir without a wavelength) on a plane."""
    surface = phantoms.plane(size_mm=20.0, divisions=2)
    emitters = twin.Emitters.create(
        [[0.0, 0.0, 10.0], [5.0, 0.0, 10.0]],
        [0.0, 0.0, -1.0],
        1.0,
        profile=twin.Lambertian(30.0),
        channel=["red", "nir"],
        wavelength_nm={"red": 633.0},
    )
    backend = make_backend("reference", surface.triangles_mm)
    return twin.transfer_matrix(
        surface.samples(), emitters, backend, end_tolerance_mm=1e-6
    ), emitters


def test_drive_levels_scale_irradiance_linearly(tmp_path):
    scene = twin.load_scene(write_user_head(tmp_path))
    result = twin.render(scene)
    half = twin.dose_maps(
        result.transfer, scene.emitters, drive={"red": 0.5, "nir": 0.25}, exposure_s=60.0
    )
    np.testing.assert_allclose(
        half.total_irradiance_mw_cm2, 0.5 * result.dose.total_irradiance_mw_cm2, rtol=1e-12
    )


@pytest.mark.parametrize(
    ("drive", "exposure", "at", "parts"),
    [
        ({"redd": 1.0}, 60, "drive", ("unknown channel", "'redd'", "'red'")),
        ({"uv": 1.0}, 60, "drive", ("unknown channel", "'uv'", "red, nir")),
        ({"red": -1}, 60, "drive.red", ("[0, 1]", "-1")),
        ({"nir": np.nan}, 60, "drive.nir", ("[0, 1]", "nan")),
        ({"red": 1.0}, np.nan, "exposure_s", ("> 0", "nan")),
        ({"red": 1.0}, 0, "exposure_s", ("> 0", "0")),
    ],
)
def test_dose_maps_arguments_are_checked(rendered, drive, exposure, at, parts):
    transfer, emitters = rendered
    with raises_naming(*parts, at=at):
        twin.dose_maps(transfer, emitters, drive=drive, exposure_s=exposure)


def test_dose_maps_accessors_name_the_channels(rendered):
    transfer, emitters = rendered
    maps = twin.dose_maps(transfer, emitters, drive={"red": 0.5}, exposure_s=60)
    assert maps.fluence_j_cm2("nir").max() == 0.0
    with raises_naming("unknown channel", "'uv'", "red, nir", at="DoseMaps.fluence_j_cm2"):
        maps.fluence_j_cm2("uv")
    with raises_naming("'nir'", "no wavelength_nm", at="DoseMaps.photon_flux_per_s_cm2"):
        maps.photon_flux_per_s_cm2("nir")
