"""Shared pieces of the commands: progress bars, argument checks, text tables."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from twin._validation import as_count, as_positive
from twin.errors import InputError

if TYPE_CHECKING:
    from twin.analysis.executor import Executor

logger = logging.getLogger(__name__)


class ProgressBar:
    """A one-line progress bar on a terminal, shown only once the work has taken a second."""

    def __init__(
        self, label: str, *, stream: TextIO, unit: str = "emitters", delay_s: float = 1.0
    ) -> None:
        self.enabled = stream.isatty()
        self.label = label
        self.stream = stream
        self.unit = unit
        self.delay_s = delay_s
        self.start = time.perf_counter()
        self.shown = False
        self.finished = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        if not self.enabled or (elapsed < self.delay_s and not self.shown):
            return
        self.shown = True
        width = 30
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        unit = f" {self.unit}" if self.unit else ""
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}{unit} {elapsed:5.1f} s")
        self.finished = done >= total
        if self.finished:
            self.stream.write("\n")
        self.stream.flush()


class StageBars:
    """Progress of a multi-stage job: ``(stage, done, total)`` calls, one bar per stage."""

    def __init__(self, *, stream: TextIO) -> None:
        self.stream = stream
        self.bar: ProgressBar | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        self._show(stage, "", done, total)

    def stage(self, label: str) -> Callable[[int, int], None]:
        """Return a ``(done, total)`` callback for a render's emitters, shown as ``label``."""
        return lambda done, total: self._show(label, "emitters", done, total)

    def _show(self, label: str, unit: str, done: int, total: int) -> None:
        if self.bar is None or self.bar.label != label:
            if self.bar is not None and self.bar.shown and not self.bar.finished:
                self.stream.write("\n")
            self.bar = ProgressBar(label, stream=self.stream, unit=unit)
        self.bar(done, total)


@contextlib.contextmanager
def executor_of(args: argparse.Namespace, *, stream: TextIO) -> Iterator[Executor]:
    """Return the executor of ``--jobs`` and ``--scheduler``, entered (and closed after).

    The Dask dashboard's address, where there is one, is written to ``stream``.

    Raises
    ------
    InputError
        For a bad ``--jobs`` or ``--scheduler``, or both given (``--jobs`` sizes the local
        worker processes a scheduler's cluster does not use); when no scheduler answers.
    """
    from twin.analysis.executor import SCHEDULER_ENV, make_executor, scheduler_address

    count(args.jobs, name="--jobs")
    name = "--scheduler" if args.scheduler is not None else SCHEDULER_ENV
    address = scheduler_address(args.scheduler, name=name)
    if args.jobs is not None and address is not None:
        msg = (
            f"--jobs: local worker processes, not used on the Dask cluster at {address} "
            "(--scheduler, or $TWIN_SCHEDULER); give one of them (--scheduler '' runs here)"
        )
        raise InputError(msg)
    with make_executor(scheduler=address or "", jobs=args.jobs, name=name) as executor:
        if executor.dashboard_link:
            print(f"Dask dashboard: {executor.dashboard_link}", file=stream)
        yield executor


def count(value: int | None, *, name: str, least: int = 1, most: int | None = None) -> None:
    """Raise unless the whole-number argument ``name`` is absent or in [``least``, ``most``]."""
    if value is not None:
        as_count(value, name=name, least=least, most=most)


def positive(value: float | None, *, name: str) -> None:
    """Raise unless the argument ``name`` is absent or a finite number > 0."""
    if value is not None:
        as_positive(value, name=name)


def numba_cache_fallback() -> None:
    """Give numba's compiled-kernel cache a private temporary folder when it has nowhere to go.

    numba caches beside twin's kernels or in the user's cache folder (``$XDG_CACHE_HOME`` or
    ``~/.cache``) and fails with a traceback when neither can be written (a read-only install
    run by a user with no writable home). Then, unless ``NUMBA_CACHE_DIR`` is set, the kernels
    are cached for this run only, in a folder of its own removed at exit (a shared one could
    be planted), with a warning: each run compiles them again.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    kernels = Path(__file__).parents[1] / "engine" / "backends"
    user = Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"))
    if any(_can_create(p) for p in (kernels / "__pycache__", user / "numba")):
        return
    folder = tempfile.mkdtemp(prefix="twin-numba-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["NUMBA_CACHE_DIR"] = folder
    logger.warning(
        "no writable folder for numba's cache (%s, %s); compiling into %s for this run "
        "(set NUMBA_CACHE_DIR to keep it)",
        kernels / "__pycache__",
        user / "numba",
        folder,
    )


def _can_create(folder: Path) -> bool:
    """Whether ``folder`` is, or its nearest existing parent is, a writable folder."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return (
        existing is not None
        and existing.is_absolute()
        and existing.is_dir()
        and os.access(existing, os.W_OK)
    )
