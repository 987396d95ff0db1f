"""Input checks used where data enters twin (files, scene keys, public arguments).

Each helper takes ``name``: the file, column or argument the value came from, so that the
message says where to look, what was expected and what was found.
"""

from __future__ import annotations

import codecs
import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from twin.errors import InputError

T = TypeVar("T")

#: What a channel name may hold: it becomes a column name in samples.csv and a PLY property.
CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]+")


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


def per_row(
    value: Any, n: int, *, name: str, shape: tuple[int, ...] = (), dtype: Any = np.float64
) -> NDArray[Any]:
    """Return ``value`` as ``n`` rows of ``shape``: given once for all rows, or once per row.

    Exactly ``shape`` is repeated ``n`` times; ``(n, *shape)`` is taken as is; anything else
    (a ``(1, *shape)`` array for ``n > 1`` included) is an error.
    """
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        msg = f"{name}: expected an array of numbers, got {type(value).__name__}"
        raise InputError(msg) from None
    if arr.shape == (n, *shape):
        return arr
    if arr.shape == shape:
        return np.array(np.broadcast_to(arr, (n, *shape)))
    one = "a single value" if shape == () else f"shape {shape}"
    msg = (
        f"{name}: expected {one} (one for all) or shape {(n, *shape)} (one each), got {arr.shape}"
    )
    raise InputError(msg)


def check_per_row(value: Any, n: int, *, name: str) -> None:
    """Raise unless the sequence ``value`` has one entry for each of ``n`` rows."""
    if len(value) != n:
        msg = (
            f"{name}: expected one for all or a list of {n} (one each), got a list of {len(value)}"
        )
        raise InputError(msg)


def check_channel_name(value: str, *, name: str) -> str:
    """Return ``value`` if it is a usable channel name (letters, digits, ``_``, ``-``).

    Raises
    ------
    InputError
        Naming ``name``, if ``value`` has any other character.
    """
    if not CHANNEL_NAME.fullmatch(value):
        msg = f"{name}: expected a channel name of letters, digits, '_' and '-', got {value!r}"
        raise InputError(msg)
    return value


def read_text(path: Path, *, what: str) -> str:
    """Return the text of a UTF-8 file, with universal newlines.

    A leading byte-order mark, as Excel writes, is dropped; ``what`` names the kind of file in
    the message.

    Raises
    ------
    InputError
        Naming ``path``, if it cannot be read or is not UTF-8.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read {what} ({exc.strerror})"
        raise InputError(msg) from None
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        msg = (
            f"{path}: expected UTF-8 text, found byte 0x{data[offset]:02x} at byte offset "
            f"{offset} that is not UTF-8; save the {what} as UTF-8"
        )
        raise InputError(msg) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def as_positive(value: Any, *, name: str, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0 with ``allow_zero``), or raise."""
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    number = float(value) if ok else float("nan")
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        expected = "a number >= 0" if allow_zero else "a number > 0"
        msg = f"{name}: expected {expected}, got {value!r}"
        raise InputError(msg)
    return number


def check_keys(
    mapping: Iterable[Any], allowed: Iterable[str], *, name: str, what: str = "key"
) -> None:
    """Raise on the first key of ``mapping`` not in ``allowed``, naming the nearest valid key.

    ``what`` says what the keys are: "key", "channel", ...

    Raises
    ------
    InputError
        Naming ``name`` and the unknown key.
    """
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = (
                f"; did you mean {near[0]!r}?"
                if near
                else f"; valid {what}s: {', '.join(allowed) or 'none'}"
            )
            msg = f"{name}: unknown {what} {key!r}{hint}"
            raise InputError(msg)


@contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Re-raise an InputError from the block with ``prefix`` before its message.

    The caller knows where the value came from, the callee what was wrong with it.
    """
    try:
        yield
    except InputError as exc:
        message = f"{prefix}{exc}"
        raise InputError(message) from None


def as_count(value: Any, *, name: str, least: int = 1) -> int:
    """Return ``value`` if it is a whole number >= ``least``, or raise.

    Parameters
    ----------
    value : int
    name : str
        The argument it came from, named in the message.
    least : int

    Raises
    ------
    InputError
        Naming the argument, what was expected and what was found.
    """
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not whole or value < least:
        msg = f"{name}: expected a whole number >= {least}, got {value!r}"
        raise InputError(msg)
    return int(value)


def check_choice(value: str, choices: tuple[str, ...], *, name: str) -> None:
    """Raise unless ``value`` is one of ``choices``.

    Parameters
    ----------
    value : str
    choices : tuple of str
    name : str
        The argument it came from, named in the message.

    Raises
    ------
    InputError
        Naming the argument, the choices and what was found.
    """
    if value not in choices:
        msg = f"{name}: expected one of {', '.join(choices)}, got {value!r}"
        raise InputError(msg)


def one_or_many(value: Any, kind: type[T], *, name: str) -> list[T]:
    """Return ``value`` as a non-empty list of ``kind``: one, or a sequence of them.

    Raises
    ------
    InputError
        Naming ``name`` and the type found, for an empty sequence or any other type.
    """
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    wrong = [type(v).__name__ for v in items if not isinstance(v, kind)]
    if not items or wrong:
        found = wrong[0] if wrong else "none"
        msg = f"{name}: expected a {kind.__name__} or a sequence of them, got {found}"
        raise InputError(msg)
    return items
