"""Input checks used where data enters twin (files, scene keys, public arguments).

Each helper takes ``name``: the file, column or argument the value came from, so that the
message says where to look, what was expected and what was found.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import logging
import math
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml
from numpy.typing import NDArray

from twin.errors import InputError

_log = logging.getLogger("twin")

T = TypeVar("T")

# --- limits: what twin refuses up front, before it allocates anything --------------------

#: Largest file twin reads (a scene, table, baseline or mesh), bytes.
MAX_FILE_BYTES = 1 << 30
#: Deepest nesting of lists and mappings in a YAML or JSON file.
MAX_NESTING = 64
#: Most values a YAML file may hold once its aliases are expanded (an alias bomb has billions).
MAX_YAML_VALUES = 100_000
#: Most emitters in a scene (a design's ``count``, an emitter CSV's rows).
MAX_EMITTERS = 100_000
#: Most people in a population.
MAX_POPULATION = 10_000
#: Most sample points per LED aperture.
MAX_APERTURE_SAMPLES = 4096
#: Smallest edge a built-in target is refined to, mm (0.1 mm: about 10 million triangles).
MIN_EDGE_MM = 0.1
#: Largest coordinate of a point (an emitter, a vertex), mm: 1 km.
MAX_COORDINATE_MM = 1e6
#: Largest radiant power of one emitter, mW: 1 kW.
MAX_POWER_MW = 1e6
#: Range of the peak of an intensity table (any unit): the table's shape is used, and its
#: values must stay finite through the normalisation and in single precision.
TABLE_PEAK_RANGE = (1e-30, 1e30)
#: Longest file or folder name in a path, bytes (what common file systems hold).
MAX_NAME_BYTES = 255
#: Characters of file content or of a value quoted in a message.
QUOTE_CHARS = 40

#: What a channel name may hold: it becomes a column name in samples.csv and a PLY property.
CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]+")
#: Names a channel may not have: they name the direct and returned light's maps.
RESERVED_CHANNELS = ("direct", "indirect")


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
    # Scaled by the largest component first, so that 1e200 does not overflow and 1e-100
    # does not underflow: any non-zero finite direction normalises.
    biggest = np.abs(arr).max(axis=1, initial=0.0)
    zero = np.flatnonzero(biggest == 0.0)
    if zero.size:
        msg = (
            f"{name}: expected non-zero direction vectors, found {zero.size} of zero length "
            f"(first at row {int(zero[0])})"
        )
        raise InputError(msg)
    arr = arr / biggest[:, None]
    return arr / np.linalg.norm(arr, axis=1)[:, None]


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

    ``direct`` and ``indirect`` are taken: the maps of the light straight from the emitters
    and of the light surfaces return are named ``irradiance_direct_...`` and
    ``irradiance_indirect_...``.

    Raises
    ------
    InputError
        Naming ``name``, if ``value`` has any other character or is a taken name.
    """
    if not CHANNEL_NAME.fullmatch(value):
        msg = f"{name}: expected a channel name of letters, digits, '_' and '-', got {value!r}"
        raise InputError(msg)
    if value in RESERVED_CHANNELS:
        msg = f"{name}: {value!r} is taken by the map names (irradiance_{value}_...); rename it"
        raise InputError(msg)
    return value


def shorten(text: str) -> str:
    """Return ``text`` cut to :data:`QUOTE_CHARS` characters, ``...`` marking a cut.

    A message quotes only what is needed of a file's content or a value: enough to find the
    spot, not a file's start (a shared scene pointing at another file would reveal it).
    """
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "..."


def quote(text: str) -> str:
    """Return ``text`` quoted (``repr``) and shortened (:func:`shorten`)."""
    return shorten(repr(text)) if len(text) > QUOTE_CHARS else repr(text)


def as_file_path(value: Any, *, name: str) -> Path:
    """Return ``value`` as a path if it is a non-empty string a file system can hold.

    Raises
    ------
    InputError
        Naming ``name``, for a non-string, a NUL byte, or a file or folder name over
        :data:`MAX_NAME_BYTES`.
    """
    if not isinstance(value, str) or not value:
        msg = f"{name}: expected a file name, got {shorten(repr(value))}"
        raise InputError(msg)
    if "\0" in value:
        msg = f"{name}: expected a file name, got one holding a NUL byte: {quote(value)}"
        raise InputError(msg)
    path = Path(value)
    longest = max((len(part.encode("utf-8", "surrogateescape")) for part in path.parts), default=0)
    if longest > MAX_NAME_BYTES:
        msg = (
            f"{name}: expected file and folder names of at most {MAX_NAME_BYTES} bytes, got "
            f"one of {longest}: {quote(value)}"
        )
        raise InputError(msg)
    return path


def check_file(path: Path, *, what: str) -> int:
    """Raise unless ``path`` is a regular file twin may read; return its size in bytes.

    A FIFO or device (reading it may never end), a folder, a path with a NUL byte or a name
    too long for the file system are refused, as is a file over :data:`MAX_FILE_BYTES`.

    Raises
    ------
    InputError
        Naming ``path`` (shortened), the kind of file ``what`` and what is wrong.
    """
    shown = quote(str(path)) if len(str(path)) > MAX_NAME_BYTES or "\0" in str(path) else str(path)
    try:
        info = os.stat(path)
    except ValueError:
        msg = f"{shown}: cannot read {what} (the path holds a NUL byte)"
        raise InputError(msg) from None
    except OSError as exc:
        msg = f"{shown}: cannot read {what} ({exc.strerror})"
        raise InputError(msg) from None
    if not stat.S_ISREG(info.st_mode):
        msg = f"{shown}: expected the {what} as a regular file, found a folder or special file"
        raise InputError(msg)
    if info.st_size > MAX_FILE_BYTES:
        msg = (
            f"{shown}: expected a {what} of at most {MAX_FILE_BYTES} bytes, found "
            f"{info.st_size} bytes"
        )
        raise InputError(msg)
    return info.st_size


def read_bytes(path: Path, *, what: str) -> bytes:
    """Return the content of the regular file ``path`` (see :func:`check_file`).

    Raises
    ------
    InputError
        Naming ``path``, if it is not a regular file twin may read, or cannot be read.
    """
    check_file(path, what=what)
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"{path}: cannot read {what} ({exc.strerror})"
        raise InputError(msg) from None


def read_text(path: Path, *, what: str) -> str:
    """Return the text of a UTF-8 file, with universal newlines.

    A leading byte-order mark, as Excel writes, is dropped; ``what`` names the kind of file in
    the message.

    Raises
    ------
    InputError
        Naming ``path``, if it cannot be read or is not UTF-8.
    """
    data = read_bytes(Path(path), what=what)
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


class _LimitedLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys and nesting beyond :data:`MAX_NESTING`."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise yaml.MarkedYAMLError(
                    problem=f"nesting deeper than {MAX_NESTING} levels", problem_mark=mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # noqa: FBT001, FBT002 (PyYAML's signature)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.MarkedYAMLError(
                        problem=f"duplicate key {quote(str(key))}",
                        problem_mark=key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_csv_rows(path: Path, *, what: str) -> list[tuple[int, list[str]]]:
    """Return the non-blank rows of a UTF-8 CSV file with their line numbers (from 1).

    Parameters
    ----------
    path : Path
    what : str
        The kind of file, named in messages (:func:`read_text`).

    Raises
    ------
    InputError
        Naming the file, if it cannot be read as text or as CSV (a field over the csv
        module's limit included).
    """
    text = read_text(path, what=what)
    try:
        return [
            (line, fields)
            for line, fields in enumerate(csv.reader(io.StringIO(text)), start=1)
            if any(c.strip() for c in fields)
        ]
    except csv.Error as exc:
        msg = f"{path}: not a readable CSV ({exc})"
        raise InputError(msg) from None


def csv_header(
    rows: list[tuple[int, list[str]]],
    *,
    path: Path,
    required: Sequence[str],
    optional: Sequence[str],
) -> list[str]:
    """Return a CSV's column names, lower-cased.

    Names match in any case; a file from CAD or a lab may carry columns of its own: they are
    ignored, with one warning naming them and the column each may have meant.

    Parameters
    ----------
    rows : list of (line, fields)
        :func:`read_csv_rows`'s rows, the header first.
    path : Path
        The file, named in messages.
    required, optional : sequence of str
        The lower-case columns that must and may be there.

    Raises
    ------
    InputError
        Naming the file, when a required column is missing or a column is there twice.
    """
    written = [h.strip() for h in rows[0][1]] if rows else []
    header = [h.lower() for h in written]
    missing = [c for c in required if c not in header]
    if missing:
        msg = f"{path}: line 1: expected the columns {','.join(required)}"
        msg += f" (and optionally {','.join(optional)})" if optional else ""
        msg += f"; missing {','.join(missing)}"
        raise InputError(msg)
    twice = [c for i, c in enumerate(header) if c in header[:i]]
    if twice:
        msg = f"{path}: line 1: expected each column once, found {twice[0]!r} twice"
        raise InputError(msg)
    known = [*required, *optional]
    unknown = [w for w, c in zip(written, header, strict=True) if c not in known]
    if unknown:
        hints = ", ".join(
            f"{quote(c)} (did you mean {near[0]!r}?)" if near else quote(c)
            for c in unknown
            for near in [difflib.get_close_matches(c.lower(), known, n=1, cutoff=0.75)]
        )
        _log.warning("%s: ignored column(s) %s; twin reads %s", path, hints, ",".join(known))
    return header


def _expanded_values(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Return how many values ``node`` holds with every alias expanded, without expanding.

    ``sizes`` remembers each node's count (the composer bounds the depth to
    :data:`MAX_NESTING`); a node that holds itself counts as over the limit.
    """
    known = sizes.get(id(node))
    if known is not None:
        return known if known >= 0 else MAX_YAML_VALUES + 1
    sizes[id(node)] = -1
    total = 1
    if isinstance(node, yaml.CollectionNode):
        for child in node.value:
            for part in child if isinstance(child, tuple) else (child,):
                total = min(total + _expanded_values(part, sizes), MAX_YAML_VALUES + 1)
    sizes[id(node)] = total
    return total


def parse_yaml(text: str, *, name: str) -> Any:
    """Return the data of the YAML ``text`` read from ``name``, within twin's limits.

    Duplicate keys, nesting deeper than :data:`MAX_NESTING` and more than
    :data:`MAX_YAML_VALUES` values once aliases are expanded are refused; a syntax error is
    one line: the file, the line and column, and what is wrong.

    Raises
    ------
    InputError
        Naming ``name``.
    """
    try:
        loader = _LimitedLoader(text)
    except yaml.YAMLError as exc:  # a character YAML does not allow
        msg = f"{name}: invalid YAML: {' '.join(str(exc).split())}"
        raise InputError(msg) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values = _expanded_values(node, {})
        if values > MAX_YAML_VALUES:
            msg = (
                f"{name}: expected at most {MAX_YAML_VALUES} values with aliases expanded, "
                "found more"
            )
            raise InputError(msg)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        msg = f"{name}: invalid YAML{where}: {' '.join(str(problem).split())}"
        raise InputError(msg) from None
    finally:
        loader.dispose()


def read_yaml(path: Path, *, what: str) -> Any:
    """Return the data of the YAML file ``path`` (:func:`read_text`, :func:`parse_yaml`).

    Raises
    ------
    InputError
        Naming ``path``.
    """
    return parse_yaml(read_text(path, what=what), name=str(path))


def as_bounded(value: Any, *, name: str, low: float, high: float) -> float:
    """Return ``value`` as a float within [``low``, ``high``], or raise naming the limits.

    Any number is accepted, an int too large for a float included (it is out of range).

    Raises
    ------
    InputError
        Naming ``name``, the range and the value found (shortened).
    """
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    try:
        number = float(value) if ok else math.nan
    except OverflowError:
        number = math.inf
    if not low <= number <= high:
        msg = f"{name}: expected a number in [{low:g}, {high:g}], got {shorten(repr(value))}"
        raise InputError(msg)
    return number


def as_positive(value: Any, *, name: str, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0 with ``allow_zero``), or raise."""
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    try:
        number = float(value) if ok else math.nan
    except OverflowError:  # an int beyond a float
        number = math.inf
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        expected = "a number >= 0" if allow_zero else "a number > 0"
        msg = f"{name}: expected {expected}, got {shorten(repr(value))}"
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


def as_count(value: Any, *, name: str, least: int = 1, most: int | None = None) -> int:
    """Return ``value`` if it is a whole number >= ``least`` (and <= ``most``), or raise.

    Parameters
    ----------
    value : int
    name : str
        The argument it came from, named in the message.
    least : int
    most : int, optional
        The largest allowed (a size limit, such as :data:`MAX_EMITTERS`).

    Raises
    ------
    InputError
        Naming the argument, what was expected and what was found.
    """
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not whole or value < least or (most is not None and value > most):
        expected = f">= {least}" if most is None else f"in [{least}, {most}]"
        msg = f"{name}: expected a whole number {expected}, got {shorten(repr(value))}"
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


def as_mapping(value: Any, *, name: str) -> dict[str, Any]:
    """Return ``value`` if it is a mapping, else raise naming ``name``."""
    if not isinstance(value, dict):
        msg = f"{name}: expected a mapping of keys to values, got {type(value).__name__}"
        raise InputError(msg)
    return value


def as_string(value: Any, *, name: str) -> str:
    """Return ``value`` if it is a non-empty string, else raise naming ``name``."""
    if not isinstance(value, str) or not value:
        msg = f"{name}: expected a non-empty string, got {value!r}"
        raise InputError(msg)
    return value


def as_bool(value: Any, *, name: str) -> bool:
    """Return ``value`` if it is ``true`` or ``false``, else raise naming ``name``."""
    if not isinstance(value, bool):
        msg = f"{name}: expected true or false, got {value!r}"
        raise InputError(msg)
    return value
