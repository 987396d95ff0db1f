"""Writing output files: all or nothing, and only where a file (or folder) can go.

Every command that writes files goes through :func:`write_atomic`: each file is written under
a temporary name beside it and renamed into place once all of them are written, so a failure
leaves no half-written result. A folder of results is published whole by :func:`publish`: the
new set is written into a sibling folder and swapped in, so a reader (or a run killed midway)
sees the old set or the new set, never a mix. Names that become paths go through
:func:`safe_name`.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twin.errors import InputError

logger = logging.getLogger(__name__)

#: Suffixes of the sibling folders :func:`publish` stages and sets aside.
_NEW, _OLD = ".new", ".old"
#: Prefix of a file :func:`write_atomic` has not yet renamed into place.
_PARTIAL = ".twin-"


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
            staged.append(path.with_name(f"{_PARTIAL}{uuid.uuid4().hex}.partial"))
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


def safe_name(name: str) -> str:
    """Return ``name`` as one file name, with no folder, link or hidden part.

    Used wherever a name becomes a path. Every character other than letters, digits, ``.``,
    ``_``, ``+`` and ``-`` becomes ``_``, leading dots go, and the result is at most 100
    characters (``"_"`` if nothing is left), so ``../../escaped`` and ``/abs/name`` stay inside
    the folder they are written to.
    """
    clean = re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".")[:100]
    return clean or "_"


@contextmanager
def publish(out_dir: Path, *, name: str, owned: Iterable[str] = ()) -> Iterator[Path]:
    """Stage a folder of results and swap it in for ``out_dir`` when the block succeeds.

    The block writes the new set into the folder it is given (a sibling of ``out_dir``). On
    success, what ``out_dir`` held that twin did not write this time is carried over (hard
    links, or copies where links cannot be made), except the names matching ``owned`` (twin's
    own outputs, as ``fnmatch`` patterns relative to ``out_dir``, e.g. ``"plots/*.png"``);
    then the old folder is renamed aside, the new one renamed in and the old one removed. A
    failure, or a kill, leaves ``out_dir`` as it was; the sibling folders a killed run left
    are cleaned up (an old folder set aside is put back) by the next publish of ``out_dir``.
    Links inside ``out_dir`` are never written or deleted through: the new set's real files
    and folders replace a link of the same name, other links are carried over as links.
    ``out_dir`` itself may be a link: the folder it points to is replaced.

    Parameters
    ----------
    out_dir : Path
        The folder to publish; its parent folders are created as needed.
    name : str
        The argument ``out_dir`` came from, named in messages.
    owned : iterable of str
        Patterns of the files twin writes there that are not carried over.

    Yields
    ------
    Path
        The staging folder to write the new set into.

    Raises
    ------
    InputError
        If ``out_dir`` or the folder holding it cannot be written.
    """
    check_writable(out_dir, name=name, folder=True)
    out_dir = Path(os.path.realpath(out_dir))
    patterns = list(owned)
    tag = f".{out_dir.name[:200]}.twin-{uuid.uuid4().hex}"
    stage, aside = out_dir.with_name(tag + _NEW), out_dir.with_name(tag + _OLD)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        _recover(out_dir)
        if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
            raise PermissionError(13, "Permission denied")
        stage.mkdir()
    except OSError as exc:
        msg = f"{name} {out_dir}: cannot write ({exc.strerror})"
        raise InputError(msg) from None
    try:
        yield stage
        if out_dir.is_dir():
            _carry(out_dir, stage, "", patterns)
            os.chmod(stage, out_dir.stat().st_mode & 0o7777)
            os.rename(out_dir, aside)
        os.rename(stage, out_dir)
    except OSError as exc:
        msg = f"{name} {out_dir}: cannot write ({exc.strerror})"
        raise InputError(msg) from None
    finally:
        _remove(stage)
        if os.path.lexists(aside) and not os.path.lexists(out_dir):
            os.rename(aside, out_dir)  # the new set did not go in: the old one stays
    _remove(aside)


def _recover(out_dir: Path) -> None:
    """Undo what a killed :func:`publish` of ``out_dir`` left: staged and set-aside folders."""
    prefix = f".{out_dir.name[:200]}.twin-"
    for entry in out_dir.parent.iterdir():
        if not entry.name.startswith(prefix) or entry.is_symlink():
            continue
        if entry.name.endswith(_OLD) and not os.path.lexists(out_dir):
            os.rename(entry, out_dir)  # killed between the two renames: the old set is back
        elif entry.name.endswith((_NEW, _OLD)):
            _remove(entry)


def _carry(old: Path, new: Path, relative: str, owned: list[str]) -> None:
    """Carry what ``old`` holds and ``new`` does not into ``new``, except ``owned`` names."""
    for entry in os.scandir(old):
        rel = f"{relative}{entry.name}"
        target = new / entry.name
        if entry.name.startswith(_PARTIAL) and entry.name.endswith(".partial"):
            continue  # a file a killed write left
        if entry.is_dir(follow_symlinks=False):
            if not os.path.lexists(target):
                target.mkdir()
                _carry(Path(entry.path), target, f"{rel}/", owned)
                if not any(target.iterdir()):
                    target.rmdir()
            elif target.is_dir() and not target.is_symlink():
                _carry(Path(entry.path), target, f"{rel}/", owned)
        elif os.path.lexists(target) or any(fnmatch.fnmatchcase(rel, p) for p in owned):
            continue  # the new set has it, or it is twin's and no longer written
        elif entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        else:
            try:
                os.link(entry.path, target, follow_symlinks=False)
            except OSError:  # a file system without hard links
                shutil.copy2(entry.path, target, follow_symlinks=False)


def _remove(folder: Path) -> None:
    """Remove a staged or set-aside folder, never following a link; warn if some of it stays."""
    if not os.path.lexists(folder):
        return
    shutil.rmtree(folder, ignore_errors=True)
    if os.path.lexists(folder):
        logger.warning("%s: cannot remove this temporary folder; the next run retries", folder)


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
