"""Writing output files: all or nothing, and only where a file (or folder) can go.

Every command that writes files goes through :func:`write_atomic`: each file is written under
a temporary name beside it and renamed into place once all of them are written, so a failure
leaves no half-written result.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from twin.errors import InputError


def check_writable(path: Path, *, name: str, folder: bool = False) -> None:
    """Raise unless ``path`` can be written as a file (with ``folder``: as a folder).

    Parameters
    ----------
    path : Path
        Where the output goes; it and its missing parent folders need not exist.
    name : str
        The argument it came from, named in the message.
    folder : bool
        The output is a folder, not a file.

    Raises
    ------
    InputError
        If a folder stands where the file goes (or a file where the folder goes), or a file
        where one of its parent folders must go.
    """
    expected, found = ("folder", "file") if folder else ("file", "folder")
    try:
        exists, parent = path.exists(), next((p for p in path.parents if p.exists()), None)
    except OSError as exc:  # a name too long, say
        msg = f"{name} {path}: cannot write ({exc.strerror})"
        raise InputError(msg) from None
    if exists and path.is_dir() != folder:
        msg = f"{name} {path}: expected a {expected}, found a {found}"
        raise InputError(msg)
    if parent is not None and not parent.is_dir():
        msg = f"{name} {path}: {parent} is a file, not a folder"
        raise InputError(msg)


def write_atomic(files: Mapping[Path, bytes | str], *, name: str) -> list[Path]:
    """Write every file, all or nothing; return their paths.

    Each file is written under a temporary name beside it (its folder created as needed) and
    renamed into place once all of them are written: a failure leaves no partial output.
    Text is written as UTF-8.

    Parameters
    ----------
    files : mapping of Path to bytes or str
        Each file's path and content.
    name : str
        The argument the paths came from, named in the message.

    Raises
    ------
    InputError
        If a path cannot be written (see :func:`check_writable`, or the system's reason).
    """
    for path in files:
        check_writable(path, name=name)
    staged: list[Path] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append(path.with_name(f".twin-{uuid.uuid4().hex}.partial"))
            with open(staged[-1], "xb") as fh:
                fh.write(data.encode() if isinstance(data, str) else data)
    except OSError as exc:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        msg = f"{name} {path}: cannot write ({exc.strerror})"
        raise InputError(msg) from None
    for tmp, path in zip(staged, files, strict=True):
        os.replace(tmp, path)
    return list(files)


def remove_stale(out_dir: Path, names: Iterable[str]) -> None:
    """Remove files twin wrote into ``out_dir`` before that this run does not write again.

    ``names`` are relative to ``out_dir``; the folders among them that this leaves empty go
    too, and nothing else in ``out_dir`` is touched.
    """
    folders = set()
    for name in names:
        path = out_dir / name
        if path.is_file():
            path.unlink()
        if path.parent != out_dir:
            folders.add(path.parent)
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def check_finite_json(value: Any, where: str = "metrics") -> None:
    """Raise if a value to be written as JSON holds a NaN or infinity (a bug, not input)."""
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"internal error: {where} is {value}; refusing to write non-finite metrics"
        raise RuntimeError(msg)
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite_json(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite_json(v, f"{where}[{i}]")
