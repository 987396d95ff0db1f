"""Input checks used where data enters twin (files, scene keys, public arguments).

Each helper takes ``name``: the file, column or argument the value came from, so that the
message says where to look, what was expected and what was found.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin.errors import InputError


def as_points(value: Any, *, name: str) -> NDArray[np.float64]:
    """Return ``value`` as a C-contiguous (n, 3) float64 array of finite numbers, or raise."""
    try:
        arr = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"{name}: expected an (n, 3) array of numbers, got {type(value).__name__}"
        raise InputError(msg) from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        msg = f"{name}: expected shape (n, 3), got {arr.shape}"
        raise InputError(msg)
    check_finite(arr, name=name)
    return arr


def check_finite(arr: NDArray[Any], *, name: str) -> None:
    """Raise if ``arr`` holds NaN or infinity."""
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.argwhere(bad)[0]
        msg = (
            f"{name}: expected finite numbers, found {int(bad.sum())} NaN/inf values "
            f"(first at index {tuple(int(i) for i in first)})"
        )
        raise InputError(msg)


def as_unit_vectors(value: Any, *, name: str) -> NDArray[np.float64]:
    """Return ``value`` as (n, 3) unit vectors; a zero-length row is an error."""
    arr = as_points(value, name=name)
    length = np.linalg.norm(arr, axis=1)
    zero = np.flatnonzero(length < 1e-12)
    if zero.size:
        msg = (
            f"{name}: expected non-zero direction vectors, found {zero.size} of zero length "
            f"(first at row {int(zero[0])})"
        )
        raise InputError(msg)
    return arr / length[:, None]


def as_positive(value: Any, *, name: str, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0 with ``allow_zero``), or raise."""
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    number = float(value) if ok else float("nan")
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        expected = "a number >= 0" if allow_zero else "a number > 0"
        msg = f"{name}: expected {expected}, got {value!r}"
        raise InputError(msg)
    return number


def check_keys(mapping: Mapping[str, Any], allowed: Iterable[str], *, name: str) -> None:
    """Raise on the first key of ``mapping`` not in ``allowed``, naming the nearest valid key."""
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = (
                f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(allowed)}"
            )
            msg = f"{name}: unknown key {key!r}{hint}"
            raise InputError(msg)


@contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Re-raise an InputError from the block with ``prefix`` before its message (the caller
    knows where the value came from, the callee what was wrong with it)."""
    try:
        yield
    except InputError as exc:
        message = f"{prefix}{exc}"
        raise InputError(message) from None
