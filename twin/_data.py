"""Where the built-in data folders (geometry/, arrays/, scenes/) are.

In a source checkout they sit at the top of the repository; in an installed wheel they are
packaged as ``twin/data/``.
"""

from __future__ import annotations

from pathlib import Path

from twin.errors import InputError

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Path of the built-in data folder ``name`` (``"geometry"``, ``"arrays"`` or ``"scenes"``)."""
    packaged = _PACKAGE / "data" / name
    return packaged if packaged.is_dir() else _PACKAGE.parent / name


def default_scene_path() -> Path:
    """Return the path of the built-in default scene."""
    return data_dir("scenes") / "default.yaml"


def is_installed_data(path: Path) -> bool:
    """Whether ``path`` lies in the data installed with the package (not a source checkout)."""
    return _PACKAGE / "data" in Path(path).resolve().parents


def bundled_scenes() -> dict[str, Path]:
    """Return the scene library shipped with twin (``scenes/*.yaml``), by name."""
    return {p.stem: p for p in sorted(data_dir("scenes").glob("*.yaml"))}


def scene_path(value: str | Path, *, name: str = "scene") -> Path:
    """Return the scene file ``value`` names: a file, else a bundled scene's name.

    Parameters
    ----------
    value : str or Path
        A scene file, or the name of a bundled scene (``face-rigid-red``), which a wheel
        install reaches from any folder.
    name : str
        The argument, for the message.

    Raises
    ------
    InputError
        When ``value`` is a bare name (no folder, no suffix) that is neither a file nor a
        bundled scene, naming the bundled scenes.
    """
    path = Path(value)
    bundled = bundled_scenes()
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path  # a path: its reader says what is wrong with it
    if str(value) in bundled:
        return bundled[str(value)]
    msg = (
        f"{name}: {str(value)!r} is neither a scene file nor a bundled scene "
        f"({', '.join(bundled)}; `twin scenes list` describes them)"
    )
    raise InputError(msg)
