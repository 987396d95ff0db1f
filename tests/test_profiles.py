"""Angular profiles (``twin.devices.profiles``): a profile table that is not one fails with one
message naming the file, what was expected and what was found."""

from __future__ import annotations

import pytest
from _helpers import load_fails, phantom_scene, write_phantom


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
