"""Emitters (``twin.devices.emitters``): ``Emitters.create``'s arguments and emitter CSV files.

Every bad argument or file fails with one message naming the argument or the file, the line
and column, what was expected and what was found.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from _helpers import load_fails, phantom_scene, raises_naming, write_phantom

import twin

HEADER = "x,y,z,dx,dy,dz,power_mw"


@pytest.fixture
def root(tmp_path):
    return write_phantom(tmp_path)


@pytest.mark.parametrize(
    ("leds", "parts"),
    [
        (f"{HEADER}\n0,0,120,0,0,-1,0\n", ("line 2", "power_mw", "> 0 mW", "0")),
        (
            f"{HEADER}\n0,0,120,0,0,-1,5\n0,0,120,0,0,0,5\n",
            ("line 3", "(dx, dy, dz)", "zero length"),
        ),
        (f"{HEADER}\n0,zero,120,0,0,-1,5\n", ("line 2", "column y", "a number", "'zero'")),
        ("x,y,z,dx,dy,power_mw\n0,0,120,0,0,5\n", (HEADER, "missing dz")),
        (f"{HEADER}\n", ("at least one emitter row", "none")),
        (
            f"{HEADER},colour\n0,0,120,0,0,-1,5,red\n",
            ("'colour'", f"{HEADER},channel,wavelength_nm,half_angle_deg,id"),
        ),
        (
            f"{HEADER},channel,wavelength_nm\n0,0,120,0,0,-1,5,red,633\n5,0,120,0,0,-1,5,red,640\n",
            ("line 3", "'red'", "640 nm", "633 nm"),
        ),
        (
            f"{HEADER},channel\n0,0,120,0,0,-1,5,deep red\n",
            ("line 2", "column channel", "letters, digits, '_' and '-'", "'deep red'"),
        ),
    ],
)
def test_bad_emitter_files(root, leds, parts):
    load_fails(root, phantom_scene(), *parts, at=root / "leds.csv", leds=leds)


def test_an_emitter_without_a_beam_needs_a_default(root):
    scene = phantom_scene()
    scene["emitters"].pop("half_angle_deg")
    load_fails(
        root,
        scene,
        "line 2",
        "half_angle_deg",
        "emitters.half_angle_deg",
        "emitters.profile",
        at=root / "leds.csv",
    )


def test_an_emitter_file_that_is_not_utf8(root):
    (root / "leds.csv").write_bytes(b"x,y,z,dx,dy,dz,power_mw,channel\n0,0,120,0,0,-1,5,r\xe9d\n")
    with raises_naming("UTF-8", "0xe9", "byte offset 50", "emitter CSV", at=root / "leds.csv"):
        twin.read_emitter_csv(root / "leds.csv")


def test_an_excel_utf8_csv_with_a_byte_order_mark_loads(root):
    (root / "leds.csv").write_bytes(b"\xef\xbb\xbfx,y,z,dx,dy,dz,power_mw\r\n0,0,120,0,0,-1,5\r\n")
    np.testing.assert_array_equal(
        twin.read_emitter_csv(root / "leds.csv", half_angle_deg=30.0).positions_mm,
        [[0.0, 0.0, 120.0]],
    )
    (root / "scene.yaml").write_text(yaml.safe_dump(phantom_scene()))
    scene = twin.load_scene(root / "scene.yaml")
    np.testing.assert_array_equal(scene.emitters.positions_mm, [[0.0, 0.0, 120.0]])


@pytest.mark.parametrize(
    ("change", "parts"),
    [
        (
            {"positions_mm": [[0, 0, 1], [0, 0, 2]], "axes": [[0, 0, -1]]},
            ("axes (dx, dy, dz)", "(3,)", "one for all", "(2, 3)", "one each", "(1, 3)"),
        ),
        ({"axes": [[0, 0, -1]] * 2}, ("axes (dx, dy, dz)", "(3,)", "(3, 3)", "(2, 3)")),
        ({"power_mw": [1.0, 2.0]}, ("power_mw", "a single value", "(3,)", "(2,)")),
        (
            {"profile": [twin.Lambertian(30.0)] * 2},
            ("profile", "one for all", "a list of 3", "a list of 2"),
        ),
        ({"channel": ["red", "nir"]}, ("channel", "a single value", "(3,)", "(2,)")),
        ({"ids": ["a", "b"]}, ("ids", "(3,)", "(2,)")),
        (
            {"channel": ["red", "red", "r,ed"]},
            ("channel of emitter 2", "letters, digits, '_' and '-'", "'r,ed'"),
        ),
    ],
)
def test_emitter_arguments_must_match_the_positions(change, parts):
    args = {
        "positions_mm": [[0, 0, 1], [0, 0, 2], [0, 0, 3]],
        "axes": [0, 0, -1],
        "power_mw": 1.0,
        "profile": twin.Lambertian(30.0),
        **change,
    }
    with raises_naming(*parts, at="emitters"):
        twin.Emitters.create(**args)
