"""Angular profiles (``twin.devices.profiles``): a profile table that is not one fails with one
message naming the file, what was expected and what was found."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _helpers import load_fails, phantom_scene, raises_naming, write_phantom

from twin.devices.profiles import Isotropic, Lambertian, Tabulated, spot_radius_per_gap


@pytest.mark.parametrize(
    ("table", "parts"),
    [
        ("theta,i\n0,1\n90,0\n", ("the header 'angle_deg,intensity'", "'theta,i'")),
        (
            "angle_deg,intensity\n10,1\n90,0\n",
            ("angles strictly increasing from 0 to at most 180 degrees", "10..90"),
        ),
    ],
)
def test_bad_profile_table(tmp_path, table, parts):
    root = write_phantom(tmp_path)
    scene = phantom_scene()
    scene["emitters"].pop("half_angle_deg")
    scene["emitters"]["profile"] = "beam.csv"
    load_fails(root, scene, *parts, at=root / "beam.csv", files={"beam.csv": table})


TABLE = "angle_deg,intensity\n0,1\n30,0.8\n60,0.3\n90,0\n"


@pytest.mark.parametrize(
    ("table", "parts"),
    [
        (TABLE.encode() + b"\xff", ("expected UTF-8", "0xff")),
        (TABLE.replace("30,0.8", "30,0.8,7").encode(), ("line 3", "two numbers", "'30,0.8,7'")),
        (
            TABLE.replace("30,0.8", "30," + "8" * 200_000).encode(),
            ("not a readable CSV", "131072"),
        ),
        (
            TABLE.replace("0,1\n", "0,1e306\n").encode(),
            ("a peak intensity in [1e-30, 1e+30]", "1e+306"),
        ),
        (("angle_deg,intensity" + "z" * 200 + "\n0,1\n").encode(), ("the header", "...")),
    ],
)
def test_fuzzed_profile_tables_are_refused_in_one_line(tmp_path, table, parts):
    root = write_phantom(tmp_path)
    (root / "beam.csv").write_bytes(table)
    with raises_naming(*parts, at=root / "beam.csv") as info:
        Tabulated.from_csv(root / "beam.csv")
    assert "\n" not in str(info.value)
    assert "z" * 50 not in str(info.value)


def test_a_fifo_is_refused_not_read(tmp_path):
    fifo = tmp_path / "beam.csv"
    os.mkfifo(fifo)
    with raises_naming("a regular file", at=fifo):
        Tabulated.from_csv(fifo)


def test_blank_lines_a_byte_order_mark_and_crlf_do_not_change_the_profile(tmp_path):
    cos = np.linspace(-1.0, 1.0, 201)
    reference = Tabulated((0.0, 30.0, 60.0, 90.0), (1.0, 0.8, 0.3, 0.0)).intensity_per_mw(cos)
    for text in ("\ufeff" + TABLE, TABLE.replace("\n", "\r\n"), TABLE.replace("\n", "\n\n , \n")):
        (tmp_path / "beam.csv").write_text(text)
        got = Tabulated.from_csv(tmp_path / "beam.csv").intensity_per_mw(cos)
        np.testing.assert_array_equal(got, reference)


@pytest.mark.parametrize("scale", [1e-20, 1.0, 1e20])
def test_a_table_is_used_by_its_shape_only(scale):
    cos = np.linspace(0.0, 1.0, 11)
    one = Tabulated((0.0, 45.0, 90.0), (1.0, 0.5, 0.0)).intensity_per_mw(cos)
    scaled = Tabulated((0.0, 45.0, 90.0), (scale, 0.5 * scale, 0.0)).intensity_per_mw(cos)
    np.testing.assert_allclose(scaled, one, rtol=1e-12)


@pytest.mark.parametrize("half", [0.0, 1e-7, 0.49, 90.0, 10**400, float("nan"), True, "30"])
def test_a_lambertian_half_angle_is_in_range(half):
    with raises_naming("[0.5, 90) degrees", at="half_angle_deg"):
        Lambertian(half)


@pytest.mark.parametrize("half", [5.0, 30.0, 60.0, 80.0])
def test_the_spot_radius_of_a_lambertian_beam_is_analytic(half):
    # E(r) ~ cos^(m+3)(theta) on a plane at height h: half at tan^2 = 2^(2/(m+3)) - 1.
    m = Lambertian(half).m
    expected = np.sqrt(2.0 ** (2.0 / (m + 3.0)) - 1.0)
    assert spot_radius_per_gap(Lambertian(half)) == pytest.approx(expected, rel=2e-3)
    # an isotropic source: cos^3 = 1/2
    assert spot_radius_per_gap(Isotropic()) == pytest.approx(np.sqrt(2 ** (2 / 3) - 1), rel=2e-3)
