"""One executor for every fan-out: local worker processes, or a running Dask cluster.

Checks, comparisons, populations, sweeps and tolerances are many small tasks — a scene spec in,
metrics out — and :func:`make_executor` runs them all the same way:

- with no scheduler (the default, nothing to configure), on a zero-configuration Dask
  ``LocalCluster`` of ``jobs`` single-threaded worker processes on this machine, listening on
  the loopback interface only (one job runs in this process instead, with no start-up cost);
- with ``scheduler="tcp://HOST:PORT"`` (or ``TWIN_SCHEDULER``), on the workers of a running
  Dask cluster (``dask scheduler`` and ``dask worker``, dask-jobqueue, Kubernetes), which must
  have this version of twin installed and see the scene files and the cache folder at the
  same paths (a shared file system).

Each task's function runs inside :func:`_call` wherever it runs, so the values, and the
errors of the tasks that fail, are the same whichever executor ran them. A worker that dies
mid-run loses nothing: the scheduler runs its tasks again on another worker (a task that
kills every worker it lands on is given up after ``distributed.scheduler.allowed-failures``
tries, 3 by default, and reported as its error). Tasks carry small picklable arguments;
transfer matrices stay on the workers or go through the shared cache folder
(:class:`twin.engine.cache.TransferCache`), never through the scheduler.
"""

from __future__ import annotations

import abc
import contextlib
import importlib.util
import logging
import os
import pickle
import re
import signal
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from twin._validation import as_count, shorten
from twin._version import __version__
from twin.errors import InputError, TwinError

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

#: The environment variable naming a Dask scheduler when no ``scheduler`` is given.
SCHEDULER_ENV = "TWIN_SCHEDULER"
#: Seconds to wait for a running scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 20.0
#: The scheduler address schemes accepted (Dask's TCP, and TCP with TLS).
SCHEMES = ("tcp", "tls")

_ADDRESS = re.compile(r"^(?P<scheme>[a-z]+)://(?P<host>\[[0-9a-fA-F:]+\]|[^:/\s]+):(?P<port>\d+)$")

T = TypeVar("T")

#: Dask's log (its scheduler, nannies and client log here when they run in this process).
_DASK_LOG = logging.getLogger("distributed")

#: A progress callback: ``progress(done, total)`` as tasks finish.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TaskResult(Generic[T]):
    """What one task gave: its value, or why it failed.

    Attributes
    ----------
    value : object or None
        The function's return value (``None`` when the task failed).
    error : str or None
        ``None`` on success; else one line: a twin error's own message (invalid input), or
        ``<ExceptionType>: <message>`` for anything else (a bug, or a task the cluster gave
        up on after its workers died).
    exception : BaseException or None
        The exception itself, where it could be brought back (not compared).
    """

    value: T | None
    error: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the task succeeded."""
        return self.error is None

    @property
    def internal(self) -> bool:
        """Whether the task failed for a reason other than invalid input (twin's own errors)."""
        return self.error is not None and not isinstance(self.exception, TwinError)

    def result(self) -> T:
        """Return the value, or raise the task's exception (a RuntimeError with its message)."""
        if self.error is None:
            return self.value  # type: ignore[return-value]
        if self.exception is not None:
            raise self.exception
        raise RuntimeError(self.error)


def _error_message(exc: BaseException) -> str:
    """One line saying why a task failed (see :attr:`TaskResult.error`)."""
    if isinstance(exc, TwinError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Boxed:
    """A task's function and argument, opaque to Dask (which would look inside tuples)."""

    __slots__ = ("argument", "function")

    def __init__(self, function: Callable[[Any], Any], argument: Any) -> None:
        self.function = function
        self.argument = argument


def _call(box: _Boxed) -> TaskResult[Any]:
    """Run one task wherever it runs; its exception becomes its :class:`TaskResult`.

    The task runs on one BLAS thread, as in a worker (Dask's nannies start them so): a
    multi-threaded BLAS splits its sums by thread, and the last digit of a result would
    depend on where it ran.
    """
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return TaskResult(box.function(box.argument))
    except Exception as exc:
        return TaskResult(None, _error_message(exc), _portable(exc))


def _portable(exc: Exception) -> Exception | None:
    """``exc`` if it survives pickling (to travel back from a worker), else ``None``."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return None
    return exc


def _ignore_interrupts() -> None:
    """Ignore Ctrl-C (SIGINT) in a local worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _twin_version() -> str:
    """Return the version of twin a worker runs (asked of each worker of a running cluster)."""
    return __version__


class Executor(abc.ABC):
    """Runs tasks and returns their results in task order; a context manager.

    Attributes
    ----------
    workers : int
        Tasks run at once (worker processes times their threads; on a running cluster, as
        many as it had when this executor connected).
    dashboard_link : str or None
        The Dask dashboard's address (``None`` in this process, or where the dashboard cannot
        run: without bokeh installed).
    """

    workers: int = 1
    dashboard_link: str | None = None

    def __enter__(self) -> Executor:
        """Start the workers, or connect to them (nothing to do in this process)."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the workers (:meth:`close`)."""
        self.close()

    @abc.abstractmethod
    def close(self) -> None:
        """Release the workers."""

    @abc.abstractmethod
    def map(
        self,
        function: Callable[[Any], T],
        tasks: Sequence[Any],
        *,
        progress: Progress | None = None,
        label: str = "",
    ) -> list[TaskResult[T]]:
        """Run ``function(task)`` for each task; one that fails does not stop the others.

        Parameters
        ----------
        function : callable
            A top-level function of an importable module (pickled by reference).
        tasks : sequence
            Its arguments, one per task: small and picklable (scene specs, seeds,
            parameters; never transfer matrices).
        progress : callable(done, total), optional
            Called in this process as tasks finish.
        label : str
            What the tasks are, in the names of their Dask keys (default: the function's).

        Returns
        -------
        list of TaskResult
            One per task, in task order.
        """


class InProcessExecutor(Executor):
    """Runs the tasks one after the other in this process: no start-up cost."""

    def close(self) -> None:
        """Release nothing: there are no workers."""

    def map(
        self,
        function: Callable[[Any], T],
        tasks: Sequence[Any],
        *,
        progress: Progress | None = None,
        label: str = "",
    ) -> list[TaskResult[T]]:
        """Run ``function(task)`` for each task in turn (see :meth:`Executor.map`)."""
        out = []
        for task in tasks:
            out.append(_call(_Boxed(function, task)))
            if progress is not None:
                progress(len(out), len(tasks))
        return out


class DaskExecutor(Executor):
    """Runs the tasks on a Dask cluster: a LocalCluster of its own, or a running one.

    Parameters
    ----------
    address : str, optional
        A running scheduler's address; ``None`` starts a LocalCluster of ``jobs`` worker
        processes when entered, closed again on exit.
    jobs : int
        Worker processes of that LocalCluster (one thread each).
    name : str
        Where ``address`` came from, named in the messages.
    """

    def __init__(
        self, *, address: str | None = None, jobs: int = 1, name: str = "scheduler"
    ) -> None:
        self.address = address
        self.name = name
        self.workers = jobs
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._log_level: int | None = None

    def __enter__(self) -> DaskExecutor:
        """Start the LocalCluster, or connect to the running scheduler.

        While it runs, Dask's own log in this process says only what matters: errors for
        the LocalCluster (whose scheduler and nannies live here, and whose restarts are
        routine), warnings from a running cluster's client (a lost connection).
        """
        from distributed import Client, LocalCluster

        self._log_level = _DASK_LOG.level
        _DASK_LOG.setLevel(logging.ERROR if self.address is None else logging.WARNING)
        try:
            return self._start(Client, LocalCluster)
        except BaseException:
            self.close()
            raise

    def _start(self, client: type[Client], local: type[LocalCluster]) -> DaskExecutor:
        if self.address is None:
            # Workers in processes of their own (numba and Embree are not ours to share),
            # one thread each, no memory limit (a render is not to be killed for its size),
            # every port on the loopback interface and picked free.
            self._cluster = local(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address="127.0.0.1:0",
                memory_limit=0,
                silence_logs=logging.ERROR,
            )
            self._client = client(self._cluster, set_as_default=False)
            # Ctrl-C is this process's to handle (it closes the cluster): the workers, in
            # its process group, ignore it, as do those started again after a death.
            self._client.register_worker_callbacks(setup=_ignore_interrupts)
            if importlib.util.find_spec("bokeh") is not None:
                self.dashboard_link = self._client.dashboard_link
            return self
        try:
            self._client = client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError):
            msg = (
                f"{self.name}: expected a running Dask scheduler at {self.address}, found none "
                f"answering in {CONNECT_TIMEOUT_S:g} s"
            )
            raise InputError(msg) from None
        self._check_workers(self._client)
        self.workers = sum(self._client.nthreads().values())
        self.dashboard_link = self._client.dashboard_link
        return self

    def _check_workers(self, client: Client) -> None:
        """Raise unless every worker runs this version of twin."""
        try:
            versions = client.run(_twin_version)
        except ImportError as exc:
            msg = (
                f"{self.name}: the workers of {self.address} cannot import twin "
                f"({shorten(str(exc))}); install twin {__version__} on them"
            )
            raise InputError(msg) from None
        other = {w: v for w, v in versions.items() if v != __version__}
        if other:
            found = ", ".join(f"{w}: {v}" for w, v in sorted(other.items()))
            msg = f"{self.name}: expected twin {__version__} on every worker, found {found}"
            raise InputError(msg)

    def close(self) -> None:
        """Disconnect, and stop the LocalCluster if this executor started one."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        try:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        finally:
            if self._log_level is not None:
                _DASK_LOG.setLevel(self._log_level)
                self._log_level = None

    def map(
        self,
        function: Callable[[Any], T],
        tasks: Sequence[Any],
        *,
        progress: Progress | None = None,
        label: str = "",
    ) -> list[TaskResult[T]]:
        """Run ``function(task)`` for each task on the cluster (see :meth:`Executor.map`)."""
        from distributed import as_completed

        if self._client is None:
            msg = "DaskExecutor.map: enter the executor (with ...) before mapping tasks"
            raise RuntimeError(msg)
        if not tasks:
            return []
        total = len(tasks)
        token = uuid.uuid4().hex[:8]
        prefix = re.sub(r"[^\w.]+", "-", label or function.__name__)
        keys = [f"{prefix}-{token}-{i}" for i in range(total)]
        boxes = [_Boxed(function, task) for task in tasks]
        futures = self._client.map(_call, boxes, key=keys, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        pending = {f.key: f for f in futures}
        del futures  # results leave the workers' memory as soon as they are gathered
        out: list[TaskResult[T] | None] = [None] * total
        try:
            done = 0
            for future, value in as_completed(
                list(pending.values()),
                loop=self._client.loop,
                with_results=True,
                raise_errors=False,
            ):
                pending.pop(future.key, None)
                if future.status == "finished":
                    out[index[future.key]] = value
                else:  # the cluster gave up on it (its workers died, its result would not
                    # travel, or it was cancelled): reported as the task's error
                    exc = future.exception() if future.status == "error" else None
                    out[index[future.key]] = (
                        TaskResult(None, f"the cluster {future.status} the task")
                        if exc is None
                        else TaskResult(None, _error_message(exc), exc)
                    )
                done += 1
                if progress is not None:
                    progress(done, total)
        except BaseException:  # Ctrl-C or a lost scheduler: stop the rest of the work
            if pending:
                self._client.cancel(list(pending.values()))
            raise
        return out  # type: ignore[return-value]


def scheduler_address(value: str | None, *, name: str = "scheduler") -> str | None:
    """Return a Dask scheduler's address from ``value`` or ``TWIN_SCHEDULER``, ``None`` if none.

    Parameters
    ----------
    value : str, optional
        ``tcp://HOST:PORT`` (or ``tls://``); ``None`` reads the environment variable
        :data:`SCHEDULER_ENV`; an empty string, in either, means this machine.
    name : str
        The argument ``value`` came from, named in the message.

    Raises
    ------
    InputError
        For an address that is not ``SCHEME://HOST:PORT`` with a scheme of :data:`SCHEMES`.
    """
    if value is None:
        value, name = os.environ.get(SCHEDULER_ENV), SCHEDULER_ENV
    if not value:
        return None
    match = _ADDRESS.match(value.strip())
    if match is None or match["scheme"] not in SCHEMES or not 0 < int(match["port"]) < 65536:
        msg = (
            f"{name}: expected a Dask scheduler's address tcp://HOST:PORT (or tls://), got "
            f"{shorten(repr(value))}"
        )
        raise InputError(msg)
    return value.strip()


def make_executor(
    *, scheduler: str | None = None, jobs: int | None = None, name: str = "scheduler"
) -> Executor:
    """Return the executor for a fan-out: local worker processes, or a running Dask cluster.

    Parameters
    ----------
    scheduler : str, optional
        A running Dask scheduler, ``tcp://HOST:PORT``; ``None`` reads ``TWIN_SCHEDULER``;
        none, or an empty string, runs on this machine.
    jobs : int, optional
        Local worker processes (default: every CPU); ``1`` runs the tasks in this process,
        one after the other. Not used with a scheduler, whose cluster has its own workers.
    name : str
        The argument ``scheduler`` came from, named in the messages (``TWIN_SCHEDULER`` when
        the address is read from there).

    Returns
    -------
    Executor
        To be entered (``with make_executor() as executor: executor.map(...)``); the local
        cluster starts, or the connection is made, on entering.

    Raises
    ------
    InputError
        For a bad address or ``jobs``; on entering, when no scheduler answers at the address
        or its workers do not run this version of twin.
    """
    if scheduler is None and os.environ.get(SCHEDULER_ENV):
        name = SCHEDULER_ENV
    address = scheduler_address(scheduler, name=name)
    if address is not None:
        return DaskExecutor(address=address, name=name)
    workers = as_count(jobs, name="jobs") if jobs is not None else os.cpu_count() or 1
    return InProcessExecutor() if workers == 1 else DaskExecutor(jobs=workers)


@contextlib.contextmanager
def executor_for(
    tasks: int,
    *,
    executor: Executor | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
) -> Iterator[Executor]:
    """Return ``executor`` as it is, or one made for ``tasks`` tasks, entered (and closed after).

    The one made has at most one local worker process per task, so that a single task runs
    in this process with no start-up cost (:func:`make_executor`).

    Parameters
    ----------
    tasks : int
        How many tasks it will run.
    executor : Executor, optional
        An entered executor to use (its owner closes it).
    jobs, scheduler
        As :func:`make_executor`, for the one made.
    """
    if executor is not None:
        yield executor
        return
    most = os.cpu_count() or 1 if jobs is None else as_count(jobs, name="jobs")
    with make_executor(scheduler=scheduler, jobs=max(1, min(most, tasks))) as made:
        yield made
