"""Where the built-in data folders (geometry/, arrays/, scenes/) are.

In a source checkout they sit at the top of the repository; in an installed wheel they are
packaged as ``twin/data/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Path of the built-in data folder ``name`` (``"geometry"``, ``"arrays"`` or ``"scenes"``)."""
    packaged = _PACKAGE / "data" / name
    return packaged if packaged.is_dir() else _PACKAGE.parent / name


def default_scene_path() -> Path:
    """Return the path of the built-in default scene."""
    return data_dir("scenes") / "default.yaml"
