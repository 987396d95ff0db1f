"""Emitters (``twin.devices.emitters``): ``Emitters.create``'s arguments and emitter CSV files.

Every bad argument or file fails with one message naming the argument or the file, the line
and column, what was expected and what was found.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import yaml
from _helpers import load_fails, phantom_scene, raises_naming, write_phantom

import twin
from twin.devices.emitters import read_emitter_csv

HEADER = "x,y,z,dx,dy,dz,power_mw"


@pytest.fixture
def root(tmp_path):
    return write_phantom(tmp_path)


@pytest.mark.parametrize(
    ("leds", "parts"),
    [
        (f"{HEADER}\n0,0,120,0,0,-1,0\n", ("line 2", "power_mw", "(0, 1e+06] mW", "0")),
        (
            f"{HEADER}\n0,0,120,0,0,-1,5\n0,0,120,0,0,0,5\n",
            ("line 3", "(dx, dy, dz)", "zero length"),
        ),
        (f"{HEADER}\n0,zero,120,0,0,-1,5\n", ("line 2", "column y", "a number", "'zero'")),
        ("x,y,z,dx,dy,power_mw\n0,0,120,0,0,5\n", (HEADER, "missing dz")),
        (f"{HEADER}\n", ("at least one emitter row", "none")),
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


@pytest.mark.parametrize(
    ("leds", "parts"),
    [
        (f"{HEADER}\n0,0,120,0,0,-1,1e300\n", ("line 2", "power_mw", "(0, 1e+06] mW", "'1e300'")),
        (f"{HEADER}\n0,0,1e308,0,0,-1,5\n", ("line 2", "column z", "within 1e+06 mm", "'1e308'")),
        (f"{HEADER}\n0,0,120,0,0,-1," + "5" * 200_000 + "\n", ("not a readable CSV", "131072")),
        (f"{HEADER},x\n0,0,120,0,0,-1,5,3\n", ("each column once", "'x' twice")),
        (f"{HEADER}\n0,0,120,0,0,-1,5,7\n", ("line 2", "7 fields", "found 8")),
        (
            f"{HEADER}\n\n0,0,120,0,0,-1,5\n0,0,120,0,0,-1,x\n",
            ("line 4", "column power_mw", "'x'"),
        ),
        (f"{HEADER}\n0,0,120,0,0,-1,5,{'z' * 500}\n", ("line 2", "found 8")),
        (
            f"{HEADER},half_angle_deg\n0,0,120,0,0,-1,5,1e-7\n",
            ("line 2", "half_angle_deg", "[0.5, 90)"),
        ),
    ],
)
def test_fuzzed_emitter_files_are_refused_in_one_line(root, leds, parts):
    message = load_fails(root, phantom_scene(), *parts, at=root / "leds.csv", leds=leds)
    assert "\n" not in message
    assert len(message) < 250 + len(str(root))


def test_a_long_value_is_quoted_shortened(root):
    secret = "s" * 30 + "-the-rest-of-the-file"
    message = load_fails(
        root,
        phantom_scene(),
        "column y",
        at=root / "leds.csv",
        leds=f"{HEADER}\n0,{secret},120,0,0,-1,5\n",
    )
    assert secret not in message
    assert "..." in message


def test_blank_lines_a_byte_order_mark_and_crlf_do_not_change_the_emitters(root):
    plain = f"{HEADER}\n0,0,120,0,0,-1,5\n5,0,125,0,0,-1,4\n"
    variants = [
        plain,
        "\ufeff" + plain,
        plain.replace("\n", "\r\n"),
        plain.replace("\n", "\n\n  \n"),
    ]
    read = []
    for text in variants:
        (root / "leds.csv").write_text(text)
        read.append(read_emitter_csv(root / "leds.csv", half_angle_deg=30))
    for other in read[1:]:
        np.testing.assert_array_equal(other.positions_mm, read[0].positions_mm)
        np.testing.assert_array_equal(other.power_mw, read[0].power_mw)


@pytest.mark.parametrize("axis", [(0.0, 0.0, -1e-100), (0.0, 1e200, -1e200), (1e-300, 0.0, 0.0)])
def test_any_non_zero_finite_axis_normalises(root, axis):
    (root / "leds.csv").write_text(f"{HEADER}\n0,0,120,{axis[0]!r},{axis[1]!r},{axis[2]!r},5\n")
    emitters = read_emitter_csv(root / "leds.csv", half_angle_deg=30)
    expected = np.sign(axis) / np.linalg.norm(np.sign(axis))
    np.testing.assert_allclose(emitters.axes[0], expected, rtol=1e-15)


def test_a_cad_export_reads_in_any_case_and_its_extra_columns_are_named(tmp_path, caplog):
    csv_text = "RefDes,X,Y,Z,DX,DY,DZ,Power_mW,Layer,half_angel_deg\nD1,1,2,3,0,0,-1,5,Top,30\n"
    path = tmp_path / "cad.csv"
    path.write_text(csv_text)
    with caplog.at_level(logging.WARNING, logger="twin"):
        emitters = read_emitter_csv(path, units="inch", half_angle_deg=60.0)
    np.testing.assert_allclose(emitters.positions_mm, [[25.4, 50.8, 76.2]])
    assert emitters.power_mw.tolist() == [5.0]
    (message,) = [r.getMessage() for r in caplog.records]
    assert str(path) in message and "'RefDes'" in message and "'Layer'" in message
    assert "'half_angel_deg' (did you mean 'half_angle_deg'?)" in message


def test_a_cad_layout_in_inches_from_the_nasion_lands_where_the_body_frame_one_does(tmp_path):
    """The same LEDs, drawn by CAD about the nasion in inches with its own columns, load at
    the body-frame positions, on the base face and on a variant whose nasion moved."""
    from twin.geometry import anatomy

    design = {"design": "mask-rigid-1026", "count": 60}
    spec = {"target": {"mesh": "builtin:face"}, "emitters": design, "exposure_s": 60}
    worn = twin.load_scene(spec, base=tmp_path).emitters
    for variant in (None, twin.population(2, seed=3)[1]):
        nasion = anatomy.landmarks(variant, anchor="nasion")["nasion"]
        local_in = (worn.positions_mm - nasion) / 25.4
        rows = [
            f"D{i},{x:.9f},{y:.9f},{z:.9f},{a:.9f},{b:.9f},{c:.9f},{p},Top"
            for i, ((x, y, z), (a, b, c), p) in enumerate(
                zip(local_in, worn.axes, worn.power_mw, strict=True)
            )
        ]
        (tmp_path / "cad.csv").write_text(
            "RefDes,X,Y,Z,DX,DY,DZ,POWER_MW,Layer\n" + "\n".join(rows) + "\n"
        )
        target = {"mesh": "builtin:face"}
        if variant is not None:
            target["variant"] = variant.to_dict()
        cad = {"file": "cad.csv", "units": "inch", "frame": "nasion", "half_angle_deg": 30}
        scene = twin.load_scene({**spec, "target": target, "emitters": cad}, base=tmp_path)
        np.testing.assert_allclose(scene.emitters.positions_mm, worn.positions_mm + (
            0 if variant is None else nasion - anatomy.landmarks(anchor="nasion")["nasion"]
        ), atol=1e-6)  # fmt: skip
        assert scene.source.emitters.frame == "nasion"  # kept in the resolved scene

    bad = {**spec, "emitters": {**cad, "frame": "nose"}}
    with raises_naming("emitters.frame", "unknown landmark 'nose'", "nasion"):
        twin.load_scene(bad, base=tmp_path)
