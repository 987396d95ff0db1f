"""Helpers shared by the test modules: scene files to test with, transfer matrices, messages.

Test modules import them as ``from _helpers import ...`` (pytest puts ``tests/`` on the path).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml

import twin
from twin.devices.emitters import emitter_csv_text
from twin.devices.layout import offset_shell_layout
from twin.dose.maps import DoseMaps
from twin.engine.backends import make_backend
from twin.engine.transfer import TransferMatrix, scene_triangles, transfer_matrix
from twin.errors import InputError
from twin.geometry import anatomy, phantoms
from twin.raycast import self_tolerance_mm

#: Relative tolerance against analytic answers: float64 geometry in both backends; embree
#: decides occlusion in float32, which must not change any value beyond this.
RTOL = {"reference": 1e-6, "embree": 1e-4}

#: One LED 120 mm above the head phantom's top, pointing down at it.
ONE_LED = "x,y,z,dx,dy,dz,power_mw\n0,0,120,0,0,-1,5\n"


# --- messages ----------------------------------------------------------------------------


def assert_names(message: str, *parts: str, at: object = None) -> None:
    """Assert that an error message names its key parts, in the order given.

    Parameters
    ----------
    message : str
        The message.
    *parts : str
        What it must say, in order: typically the key, what was expected, what was found.
    at : str or Path, optional
        The file or argument the message must start with (followed by ``": "``).
    """
    if at is not None:
        assert message.startswith(f"{at}: "), f"{message!r} does not start with {at!r}"
    rest = message
    for part in parts:
        found = rest.find(part)
        assert found >= 0, f"{part!r} is not in {message!r} (in this order)"
        rest = rest[found + len(part) :]


@contextmanager
def raises_naming(
    *parts: str, at: object = None, error: type[Exception] = InputError
) -> Iterator[pytest.ExceptionInfo]:
    """Expect ``error`` with a message that names ``parts`` in order (see :func:`assert_names`)."""
    with pytest.raises(error) as info:
        yield info
    assert_names(str(info.value), *parts, at=at)


# --- scene files -------------------------------------------------------------------------


def write_phantom(root: Path, *, leds: str = ONE_LED) -> Path:
    """Write the head phantom as ``head.ply`` (mm) and ``leds`` as ``leds.csv``; return root."""
    head = phantoms.head(subdivisions=3)
    trimesh.Trimesh(head.vertices_mm, head.faces, process=False).export(root / "head.ply")
    (root / "leds.csv").write_text(leds)
    return root


def phantom_scene() -> dict:
    """Return a scene of ``write_phantom``'s files: ``head.ply`` lit from ``leds.csv``."""
    return {
        "target": {"mesh": "head.ply", "units": "mm"},
        "emitters": {"file": "leds.csv", "half_angle_deg": 30},
        "exposure_s": 600,
    }


def load_fails(
    root: Path,
    scene: dict | str,
    *parts: str,
    at: object,
    leds: str = ONE_LED,
    files: dict[str, str] | None = None,
) -> str:
    """Write ``root/scene.yaml`` and its files; assert loading it names ``parts``.

    Parameters
    ----------
    root : Path
        A folder with ``write_phantom``'s files.
    scene : dict or str
        The scene, as data or as the text of the file.
    *parts : str
        What the message must say, in order (:func:`assert_names`).
    at : str or Path
        The file (or file and key) the message must start with.
    leds : str
        The text of ``leds.csv``.
    files : dict of str to str, optional
        More files to write into ``root``, by name.

    Returns
    -------
    str
        The message.
    """
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    (root / "leds.csv").write_text(leds)
    path = root / "scene.yaml"
    path.write_text(scene if isinstance(scene, str) else yaml.safe_dump(scene))
    with raises_naming(*parts, at=at) as info:
        twin.load_scene(path)
    return str(info.value)


def write_helmet(root: Path, name: str, standoff_mm: float, *, count: int = 120) -> Path:
    """Write a helmet scene file ``root/<name>.yaml`` on the built-in scalp; return its path."""
    path = root / f"{name}.yaml"
    scene = {
        "name": name,
        "target": {"mesh": "builtin:scalp"},
        "emitters": {"design": "helmet", "standoff_mm": standoff_mm, "count": count},
        "exposure_s": 1500,
    }
    path.write_text(yaml.safe_dump(scene))
    return path


def write_small(root: Path) -> Path:
    """Write a small scene ``root/small.yaml``: four LEDs over the head phantom, no carrier."""
    leds = "x,y,z,dx,dy,dz,power_mw\n" + "".join(
        f"{x},0,130,0,0,-1,5\n" for x in (-20, -10, 10, 20)
    )
    write_phantom(root, leds=leds)
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump({"name": "small", **phantom_scene()}))
    return path


def write_user_head(root: Path) -> Path:
    """Write a user-style scene ``root/scene.yaml``; return its path.

    A head mesh file in cm (``head.ply``) and an emitter CSV (``leds.csv``) of 60 LEDs 10 mm
    off the face, alternately red (633 nm) and NIR (830 nm), NIR at half drive.
    """
    head = phantoms.head(subdivisions=4)
    trimesh.Trimesh(head.vertices_mm / 10.0, head.faces, process=False).export(root / "head.ply")
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    positions, axes = offset_shell_layout(head, count=60, standoff_mm=10.0, vertices=face)
    emitters = twin.Emitters.create(
        positions,
        axes,
        4.0,
        profile=twin.Lambertian(30.0),
        channel=np.where(np.arange(60) % 2 == 0, "red", "nir"),
        wavelength_nm={"red": 633.0, "nir": 830.0},
    )
    (root / "leds.csv").write_text(emitter_csv_text(emitters))
    scene = {
        "name": "user-head",
        "target": {"mesh": "head.ply", "units": "cm"},
        "emitters": {"file": "leds.csv"},
        "mode": {"red": 1.0, "nir": 0.5},
        "exposure_s": 1200,
    }
    path = root / "scene.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


def write_face_panel(root: Path) -> Path:
    """Write ``root/panel.yaml``: the built-in face lit by a flat panel of 60 LEDs; return it.

    The panel is 120 mm in front of the face and points back at it; its LEDs are alternately
    ``red`` (633 nm) and ``led`` (no wavelength), from ``panel.csv``; the skin is type II, its
    dermis (0.5-1.5 mm) the depth target.
    """
    x, y = np.meshgrid(np.linspace(-60, 60, 10), np.linspace(-80, 80, 6))
    nasion = anatomy.landmarks()["nasion"]
    positions = np.column_stack(
        [x.ravel(), nasion[1] + y.ravel(), np.full(x.size, nasion[2] + 120.0)]
    )
    emitters = twin.Emitters.create(
        positions,
        [0.0, 0.0, -1.0],
        5.0,
        profile=twin.Lambertian(30.0),
        channel=np.where(np.arange(len(positions)) % 2 == 0, "red", "led"),
        wavelength_nm={"red": 633.0},
    )
    (root / "panel.csv").write_text(emitter_csv_text(emitters))
    scene = {
        "name": "panel",
        "target": {"mesh": "builtin:face", "max_edge_mm": 6.0},
        "emitters": {"file": "panel.csv"},
        "exposure_s": 600,
        "tissue": {"skin_type": "II", "targets": {"roi": {"depth_mm": [0.5, 1.5]}}},
    }
    path = root / "panel.yaml"
    path.write_text(yaml.safe_dump(scene))
    return path


# --- transfer matrices and dose maps -----------------------------------------------------


def build_transfer(
    surface: twin.Surface, emitters: twin.Emitters, backend: str, *, occluders=(), **options
) -> TransferMatrix:
    """Return the transfer matrix of ``emitters`` on ``surface``'s vertices with ``backend``."""
    triangles = scene_triangles(surface, occluders)
    return transfer_matrix(
        surface.samples(),
        emitters,
        make_backend(backend, triangles),
        end_tolerance_mm=self_tolerance_mm(triangles),
        **options,
    )


def eye_maps(exposure_s: float) -> tuple[DoseMaps, np.ndarray]:
    """Return dose maps on an eye region of two points, and their areas.

    A blue (415 nm), a red (660 nm) and an unlabelled channel; areas 1 and 3 mm^2.
    """
    maps = {
        "blue": np.array([0.5, 2.0]),
        "red": np.array([30.0, 1.0]),
        "led": np.array([0.2, 3.0]),
    }
    return DoseMaps(maps, exposure_s, {"blue": 415.0, "red": 660.0}), np.array([1.0, 3.0])


def point_to_square(x: float, y: float, a: float, c: float) -> float:
    """View factor from a point (x, y) under a centred a x a square c away, parallel to it.

    Sum of the four corner rectangles of Howell's B-3: F = (1/2 pi) (A/sqrt(1 + A^2)
    atan(B/sqrt(1 + A^2)) + B/sqrt(1 + B^2) atan(A/sqrt(1 + B^2))), A, B = sides / c.
    """
    total = 0.0
    for u in (a / 2 - x, a / 2 + x):
        for v in (a / 2 - y, a / 2 + y):
            p, q = u / c, v / c
            total += (
                p / math.sqrt(1 + p * p) * math.atan(q / math.sqrt(1 + p * p))
                + q / math.sqrt(1 + q * q) * math.atan(p / math.sqrt(1 + q * q))
            ) / (2 * math.pi)
    return total
