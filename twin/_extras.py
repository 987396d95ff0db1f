"""Optional extras (``twin[viz]``, ``twin[gpu]``): say what is missing before work starts."""

from __future__ import annotations

import importlib.util

from twin.errors import MissingDependencyError


def missing(modules: tuple[str, ...]) -> list[str]:
    """Return the modules of ``modules`` that cannot be imported here (without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(modules: tuple[str, ...], *, feature: str, extra: str = "viz") -> None:
    """Raise unless every module ``feature`` needs is installed.

    Parameters
    ----------
    modules : tuple of str
        Importable module names.
    feature : str
        What needs them, named in the message (an argument or a command).
    extra : str
        The pip extra of twin that brings them.

    Raises
    ------
    MissingDependencyError
    """
    absent = missing(modules)
    if absent:
        msg = (
            f"{feature}: needs {', '.join(absent)}, which is not installed; "
            f"pip install 'twin[{extra}]'"
        )
        raise MissingDependencyError(msg)
