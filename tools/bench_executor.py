"""Time the executor of every fan-out (twin.analysis.executor; docs/performance.md).

``python tools/bench_executor.py overhead|sweep|population [N [here] [pool] [dask]]`` times, on
this machine (in this process, a process pool and a LocalCluster, or those named):

- ``overhead``: starting and closing 2 local workers (a spawned process pool, a Dask
  LocalCluster), each importing twin's renderer once; then the cost per task of 1,000 tasks
  that do nothing, in this process, in the pool and on the LocalCluster.
- ``sweep``: a 100-point sweep-like batch, ``twin check``'s task (a scene file in, its metrics
  out) over the built-in helmet on the scalp at 10 standoffs (6-14 mm) x 10 tilts (0-18 deg),
  direct light only (``engine.interreflection: false``), each point its own ray cast (a fresh
  transfer-matrix cache per run): in this process, the pool, the LocalCluster. ``N`` points
  (default 100).
- ``population``: the bundled ``population-rigid`` scene (1026 LEDs on the face, 2.5 mm
  edges, light in tissue, inter-reflection) on ``N`` wearers (default 8), rendered as ``twin
  render`` renders a population (every result file written, a fresh cache per run): in this
  process on every CPU (the way twin rendered populations before), the pool, the LocalCluster.

Per run: wall time, time per task, and the bytes per task that cross between processes (the
pickled task and result) or land in the shared folders (result files, cache entries). Printed,
never asserted.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from twin._data import scene_path
from twin.analysis.check import _render_member
from twin.analysis.executor import (
    DaskExecutor,
    Executor,
    InProcessExecutor,
    TaskResult,
    _Boxed,
    _call,
)
from twin.engine.cache import TransferCache
from twin.pipeline.population import MemberTask, render_member, render_population
from twin.scene import list_members

WORKERS = 2


class PoolExecutor(Executor):
    """A spawned ``ProcessPoolExecutor`` behind the executor's ``map`` (the alternative)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> PoolExecutor:
        context = multiprocessing.get_context("spawn")
        ignore = (signal.SIGINT, signal.SIG_IGN)
        self.pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=signal.signal, initargs=ignore
        )
        return self

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def map(
        self,
        function: Callable[[Any], Any],
        tasks: Sequence[Any],
        *,
        progress: Callable[[int, int], None] | None = None,
        label: str = "",
    ) -> list[TaskResult[Any]]:
        assert self.pool is not None
        return list(self.pool.map(_call, [_Boxed(function, t) for t in tasks]))


def nothing(task: int) -> int:
    return task


def import_renderer(task: int) -> int:
    import twin.pipeline.render  # noqa: F401

    return task


def executors() -> dict[str, Callable[[], Executor]]:
    """The executors timed: all three, or those named after ``N`` (here, pool, dask)."""
    every = {
        "here": ("in this process", InProcessExecutor),
        "pool": (f"process pool ({WORKERS})", lambda: PoolExecutor(WORKERS)),
        "dask": (f"Dask LocalCluster ({WORKERS})", lambda: DaskExecutor(jobs=WORKERS)),
    }
    chosen = sys.argv[3:] or list(every)
    return dict(every[k] for k in chosen)


def overhead() -> None:
    for name, make in list(executors().items())[1:]:  # the two with workers
        start = time.perf_counter()
        with make() as ex:
            up = time.perf_counter() - start
            ex.map(import_renderer, list(range(WORKERS)))
            ready = time.perf_counter() - start
            closing = time.perf_counter()
        print(
            f"{name}: started in {up:.2f} s, twin imported in every worker at {ready:.2f} s, "
            f"closed in {time.perf_counter() - closing:.2f} s"
        )
    for name, make in executors().items():
        with make() as ex:
            ex.map(nothing, list(range(WORKERS)))
            start = time.perf_counter()
            ex.map(nothing, list(range(1000)))
            per_ms = (time.perf_counter() - start) * 1000 / 1000
        print(f"{name}: {per_ms:.3f} ms per task (1,000 tasks that do nothing)")


def sweep_scenes(root: Path, points: int) -> list[Path]:
    standoffs = np.linspace(6.0, 14.0, 10)
    tilts = np.arange(0.0, 20.0, 2.0)
    paths = []
    for i in range(points):
        scene = {
            "name": f"helmet-{i:03d}",
            "target": {"mesh": "builtin:scalp", "max_edge_mm": 4},
            "emitters": {
                "design": "helmet",
                "standoff_mm": float(standoffs[i % 10]),
                "tilt_deg": float(tilts[(i // 10) % 10]),
            },
            "engine": {"interreflection": False},
            "exposure_s": 1500,
            "tissue": {
                "skin_type": "II",
                "depths_mm": [0.5, 1.0, 2.0, 3.0, 4.0, 5.0],
                "targets": {"roi": {"depth_mm": [3.0, 5.0]}},
            },
        }
        paths.append(root / f"helmet-{i:03d}.yaml")
        paths[-1].write_text(yaml.safe_dump(scene))
    return paths


def untimed(metrics: Any) -> Any:
    """``metrics`` without the seconds a render took (the only numbers that may differ)."""
    if isinstance(metrics, dict):
        return {k: untimed(v) for k, v in metrics.items() if k != "seconds"}
    return metrics


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def sweep(points: int) -> None:
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as root:
        paths = sweep_scenes(Path(root), points)
        warm = _render_member((list_members(paths[0])[0], None))  # numba, anatomy, kernels
        reference = None
        for name, make in executors().items():
            cache = Path(root) / f"cache-{len(name)}"
            tasks = [(list_members(p)[0], str(cache)) for p in paths]
            start = time.perf_counter()
            with make() as ex:
                results = ex.map(_render_member, tasks)
            wall = time.perf_counter() - start
            values = [untimed(r.result()) for r in results]
            same = reference is None or values == reference
            reference = reference or values
            print(
                f"{name}: {points} points in {wall:.1f} s, {wall / points:.2f} s per point "
                f"(start-up included); metrics identical to the first run's: {same}"
            )
        task_bytes = len(pickle.dumps(_Boxed(_render_member, tasks[0])))
        result_bytes = len(pickle.dumps(TaskResult(warm)))
        print(
            f"per point: task {task_bytes} B pickled, result (metrics) {result_bytes} B, "
            f"cache {folder_bytes(cache) / points / 1e6:.2f} MB"
        )


def population(size: int) -> None:
    data = yaml.safe_load(scene_path("population-rigid").read_text())
    data["target"]["population"]["size"] = size
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as root:
        path = Path(root) / "population.yaml"
        path.write_text(yaml.safe_dump(data))
        members = list_members(path)
        for name, make in executors().items():
            cache = TransferCache(Path(root) / f"cache-{len(name)}")
            out = Path(root) / f"out-{len(name)}"
            start = time.perf_counter()
            with make() as ex:
                summary = render_population(members, out, executor=ex, cache=cache)
            wall = time.perf_counter() - start
            print(
                f"{name}: {size} members in {wall:.1f} s, {wall / size:.1f} s per member "
                f"(start-up included), {len(summary['members'])} rendered"
            )
        task = MemberTask(members[0], out / "m", None, cache.folder, 1, None)
        row = summary["members"][0]
        print(
            f"per member: task {len(pickle.dumps(_Boxed(render_member, task)))} B pickled, "
            f"result (its population.json entry) {len(pickle.dumps(TaskResult(row)))} B, "
            f"result files {folder_bytes(out) / size / 1e6:.1f} MB, "
            f"cache {folder_bytes(cache.folder) / size / 1e6:.1f} MB"
        )


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "overhead"
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    if what == "overhead":
        overhead()
    elif what == "sweep":
        sweep(int(sys.argv[2]) if len(sys.argv) > 2 else 100)
    else:
        population(int(sys.argv[2]) if len(sys.argv) > 2 else 8)


if __name__ == "__main__":
    main()
