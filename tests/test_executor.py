"""The executor (``twin.analysis.executor``): the same results in this process, in local worker
processes and on a 2-worker Dask cluster, also when a worker is killed mid-run; a failing task
reported as its error while the rest finish; progress up to the total; ``twin check`` the same
locally and on the cluster (the test issue 20 asks for)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import trimesh
import yaml
from _helpers import raises_naming

from twin.analysis import check, executor
from twin.analysis.executor import TaskResult, make_executor, scheduler_address
from twin.cli import main
from twin.errors import InputError
from twin.geometry import phantoms
from twin.pipeline.population import render_population
from twin.scene import list_members


@pytest.fixture(scope="module")
def cluster():
    """A running 2-worker Dask cluster on this machine (processes, one thread each, no
    dashboard), shared by the module's tests: its scheduler's address and a client of it."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address="127.0.0.1:0",  # the HTTP routes on a free port, no bokeh
            silence_logs=logging.ERROR,
        ) as local,
        Client(local, set_as_default=False) as client,
    ):
        yield local.scheduler_address, client


def _square(task: tuple[int, str, float]) -> int:
    """A task: marks its start in a folder (by task and worker process), waits, squares."""
    i, folder, wait_s = task
    (Path(folder) / f"{i}.{os.getpid()}.start").touch()
    if i == 3:
        msg = f"task {i}: expected a good task, found a bad one"
        raise InputError(msg)
    if i == 4:
        return 1 // (i - 4)  # a bug: ZeroDivisionError
    time.sleep(wait_s)
    (Path(folder) / f"{i}.{os.getpid()}.done").touch()
    return i * i


def _sums(seed: int) -> tuple[float, float]:
    """A task of a multi-threaded BLAS's kind: a long dot product and an LU factorisation,
    whose last digits depend on the BLAS's thread count."""
    rng = np.random.default_rng(seed)
    x = rng.random(100_000)
    lu, _ = scipy.linalg.lu_factor(rng.random((600, 600)))
    return float(x @ x), float(lu.sum())


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_results_are_the_same_in_process_locally_and_on_a_cluster(cluster, tmp_path):
    address, _ = cluster
    tasks = [(i, str(tmp_path), 0.0) for i in range(8)]
    runs, ticks = [], []
    for options in ({"jobs": 1}, {"jobs": 2}, {"scheduler": address}):
        seen: list[tuple[int, int]] = []
        with make_executor(**options) as ex:
            assert ex.workers == (1 if options.get("jobs") == 1 else 2)
            if options.get("jobs") == 2:  # a LocalCluster of its own: a link only with bokeh
                assert (ex.dashboard_link is None) == (importlib.util.find_spec("bokeh") is None)
            runs.append(ex.map(_square, tasks, progress=lambda d, n, s=seen: s.append((d, n))))
        ticks.append(seen)
    assert runs[0] == runs[1] == runs[2]
    values = [r.value for r in runs[0]]
    assert values == [i * i if i not in (3, 4) else None for i in range(8)]
    bad, bug = runs[0][3], runs[0][4]
    assert bad.error == "task 3: expected a good task, found a bad one" and not bad.internal
    assert bug.error.startswith("ZeroDivisionError") and bug.internal
    with pytest.raises(ZeroDivisionError):
        bug.result()
    for seen in ticks:  # one tick per task, up to the total
        assert [d for d, _ in seen] == list(range(1, 9)) and {n for _, n in seen} == {8}
    with make_executor(scheduler=address) as ex:
        assert ex.map(_square, []) == []


def test_sums_are_the_same_in_this_process_and_in_a_worker(cluster):
    """Every task runs on one BLAS thread: a worker's (Dask starts them so) and this
    process's, which has one per CPU, would otherwise sum in another order."""
    address, _ = cluster
    with make_executor(jobs=1) as here, make_executor(scheduler=address) as there:
        assert here.map(_sums, [0, 1]) == there.map(_sums, [0, 1])


def test_a_worker_killed_mid_run_loses_nothing(cluster, tmp_path):
    address, client = cluster
    tasks = [(i, str(tmp_path), 0.4) for i in range(10) if i not in (3, 4)]
    killed: list[tuple[int, int]] = []

    def kill_a_busy_worker(done: int, total: int) -> None:
        if done != 1:
            return
        # A task started and not finished: kill the worker process running it.
        for start in tmp_path.glob("*.start"):
            i, pid, _ = start.name.split(".")
            if not (tmp_path / f"{i}.{pid}.done").exists():
                os.kill(int(pid), signal.SIGKILL)
                killed.append((int(i), int(pid)))
                return

    with make_executor(scheduler=address) as ex:
        results = ex.map(_square, tasks, progress=kill_a_busy_worker)
    assert killed, "no task was running when the first finished"
    assert results == [TaskResult(i * i) for i, *_ in tasks]
    # The killed worker's task ran again, to the end, in another worker process.
    i, pid = killed[0]
    again = [p for p in tmp_path.glob(f"{i}.*.done")]
    assert again and all(p.name != f"{i}.{pid}.done" for p in again)
    client.wait_for_workers(2, timeout=30)  # the nanny starts it again
    assert pid not in _worker_pids(client).values()


def _phantom_scenes(root: Path) -> list[Path]:
    """Six small scenes on a 10k-point head phantom (lit from above, each its own LED rows
    and power) with a rule each, and one whose LED file is missing (a bad scene)."""
    head = phantoms.head(subdivisions=5)
    trimesh.Trimesh(head.vertices_mm, head.faces, process=False).export(root / "head.ply")
    paths = []
    for k in range(6):
        leds = "x,y,z,dx,dy,dz,power_mw\n" + "".join(
            f"{x},{y},{120 + 5 * k},0,0,-1,{2 + k}\n"
            for x in range(-40, 41, 10)
            for y in (-10, 10)
        )
        (root / f"leds{k}.csv").write_text(leds)
        scene = {
            "name": f"phantom{k}",
            "target": {"mesh": "head.ply", "units": "mm"},
            "emitters": {"file": f"leds{k}.csv", "half_angle_deg": 30},
            "exposure_s": 600,
            "checks": {"rules": [{"metric": "roi.total.irradiance_mw_cm2.max", "max": 5}]},
        }
        paths.append(root / f"phantom{k}.yaml")
        paths[-1].write_text(yaml.safe_dump(scene))
    missing = yaml.safe_load(paths[0].read_text()) | {"name": "missing"}
    missing["emitters"]["file"] = "nowhere.csv"
    paths.insert(2, root / "missing.yaml")
    paths[2].write_text(yaml.safe_dump(missing))
    return paths


def _outcome(reports: list[check.SceneReport]) -> list[tuple]:
    return [(r.name, r.error, r.internal, r.values, r.rows) for r in reports]


def test_twin_check_is_the_same_locally_and_on_a_cluster_with_a_worker_killed(cluster, tmp_path):
    """The same ``twin check`` run gives identical results locally and against a 2-worker
    Dask cluster, including when one worker is killed mid-run."""
    address, client = cluster
    paths = _phantom_scenes(tmp_path)
    ticks: list[int] = []
    local = check.run_checks(paths, jobs=1, progress=lambda d, n: ticks.append(n - d))
    assert ticks[-1] == 0 and len(ticks) == len(paths)
    assert local[2].error is not None and "nowhere.csv" in local[2].error
    assert not local[2].internal
    assert all(r.error is None and r.rows for i, r in enumerate(local) if i != 2)
    assert len({r.values["roi.total.irradiance_mw_cm2.max"] for r in local if r.values}) == 6

    assert _outcome(check.run_checks(paths, scheduler=address)) == _outcome(local)

    killed: list[int] = []

    def kill_a_busy_worker(done: int, total: int) -> None:
        if done == 1:  # renders to go: a worker with one under way dies
            busy = [w for w, keys in client.processing().items() if keys]
            killed.append(client.run(os.getpid, workers=busy[:1])[busy[0]])
            os.kill(killed[0], signal.SIGKILL)

    again = check.run_checks(paths, scheduler=address, progress=kill_a_busy_worker)
    assert killed and _outcome(again) == _outcome(local)
    client.wait_for_workers(2, timeout=30)
    assert killed[0] not in _worker_pids(client).values()


def test_a_population_renders_the_same_here_and_on_a_cluster_one_bad_member_reported(
    cluster, tmp_path
):
    address, _ = cluster
    paths = _phantom_scenes(tmp_path)
    members = [list_members(p)[0] for p in paths]  # any members: here one per file
    out = {}
    for where, options in (("here", {"jobs": 1}), ("there", {"scheduler": address})):
        ticks: list[tuple[int, int]] = []
        with make_executor(**options) as ex:
            out[where] = render_population(
                members, tmp_path / where, executor=ex, progress=lambda *t, s=ticks: s.append(t)
            )
        assert ticks[-1] == (len(members), len(members))
    assert out["here"] == out["there"]
    names = [m["name"] for m in out["here"]["members"]]
    assert names == [f"phantom{k}" for k in range(6)]
    (failed,) = out["here"]["failed"]
    assert failed["name"] == "missing" and "nowhere.csv" in failed["error"]
    assert not failed["internal"]
    written = json.loads((tmp_path / "there" / "population.json").read_text())
    assert written["failed"] == [failed]
    assert all((tmp_path / "there" / n / "metrics.json").is_file() for n in names)
    assert not (tmp_path / "there" / "missing").exists()


def test_twin_check_runs_on_a_scheduler_from_the_command_line(cluster, tmp_path, capsys):
    address, _ = cluster
    paths = _phantom_scenes(tmp_path)[:2]
    assert main(["check", *map(str, paths), "--no-cache", "--scheduler", address]) == 1
    out = capsys.readouterr().out
    assert "run twin check --update" in out  # rendered on the cluster; no baselines yet
    code = main(["check", str(paths[0]), "--jobs", "2", "--scheduler", address])
    assert code == 2
    err = capsys.readouterr().err
    assert "--jobs" in err and "--scheduler" in err


def test_scheduler_addresses(monkeypatch):
    monkeypatch.delenv(executor.SCHEDULER_ENV, raising=False)
    assert scheduler_address(None) is None and scheduler_address("") is None
    assert scheduler_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert scheduler_address(" tls://[::1]:8786 ") == "tls://[::1]:8786"
    for bad in ("10.0.0.5:8786", "http://host:8786", "tcp://host", "tcp://host:0"):
        with raises_naming("scheduler", "tcp://HOST:PORT", repr(bad)):
            make_executor(scheduler=bad)
    monkeypatch.setenv(executor.SCHEDULER_ENV, "tcp://10.0.0.5:8786")
    assert scheduler_address(None) == "tcp://10.0.0.5:8786"
    assert scheduler_address("") is None  # an empty argument: this machine, whatever is set
    monkeypatch.setenv(executor.SCHEDULER_ENV, "localhost")
    with raises_naming(executor.SCHEDULER_ENV, "tcp://HOST:PORT", "'localhost'"):
        make_executor()
    with raises_naming("jobs", ">= 1", "0"):
        make_executor(scheduler="", jobs=0)


def test_no_scheduler_at_the_address_is_an_input_error(monkeypatch):
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as free:  # a port nobody listens on once closed
        free.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    with (
        raises_naming("scheduler", "a running Dask scheduler", address, "1 s"),
        make_executor(scheduler=address),
    ):
        pass
