"""The engine benchmark behind ``twin bench``: numbers reported, not asserted.

Scene: the head phantom at ``subdivisions`` (level 7: 163,842 sample points), 1026 emitters
spread over its face on an offset shell 10 mm out, half-angle 30 degrees. Timings:

1. twin: the full transfer matrix with the embree backend (culling, shafts, geometry, shadow
   rays), warm: the points' horizons (:mod:`twin.engine.shafts`) kept from the first map,
   as in every map after the first on a skin; and that first map, which finds them.
2. twin without shafts: every pair that passes the culling tests casts its ray.
3. bare Embree: every one of those segments, as twin's tracer casts them (from a few float32
   steps off each end), through embreex alone, on as many threads: what an Embree-based tool
   without shafts pays for the rays alone.
4. naive: what a user writes without twin, trimesh's Embree ray queries one emitter at a
   time over every facing point; timed on a few emitters and scaled to all of them.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import trimesh
from numpy.typing import NDArray

from twin._validation import as_count
from twin.devices.emitters import Emitters, emitter_csv_text
from twin.devices.layout import offset_shell_layout
from twin.devices.profiles import Lambertian
from twin.engine.backends import Backend, make_backend
from twin.engine.transfer import TransferMatrix, scene_triangles, transfer_matrix
from twin.geometry import phantoms
from twin.geometry.surface import SamplePoints, Surface
from twin.raycast import self_tolerance_mm

T = TypeVar("T")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _best(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Call ``fn`` ``repeat`` times (at least once): the best time, s, and the last value."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _head_scene(
    subdivisions: int,
) -> tuple[Surface, Emitters, SamplePoints, NDArray[np.float64], float]:
    """Build the benchmark scene: the head phantom, 1026 LEDs (1 mW, 30 deg) 10 mm off its face.

    Returns the head, the emitters, the samples, the triangles and the shadow-ray offset (mm).
    """
    head = phantoms.head(subdivisions=subdivisions)
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    positions, axes = offset_shell_layout(head, count=1026, standoff_mm=10.0, vertices=face)
    emitters = Emitters.create(positions, axes, 1.0, profile=Lambertian(30.0))
    triangles = scene_triangles(head)
    return head, emitters, head.samples(), triangles, self_tolerance_mm(triangles)


def run_benchmark(*, subdivisions: int = 7, naive_emitters: int = 16, repeat: int = 3) -> str:
    """Run the benchmark and return a Markdown report.

    Raises
    ------
    InputError
        Naming ``repeat`` unless it is a whole number >= 1.
    """
    from twin.engine.backends.cpu import CpuBackend
    from twin.raycast._embree import EmbreeTracer

    repeat = as_count(repeat, name="repeat")
    head, emitters, samples, triangles, offset = _head_scene(subdivisions)
    workers = os.cpu_count() or 1

    t_build, built = _best(lambda: make_backend("embree", triangles), 1)
    tracer = built.tracer
    assert isinstance(tracer, EmbreeTracer)  # the embree backend traces with Embree
    unculled = CpuBackend(tracer)
    transfer_matrix(samples, emitters, unculled, end_tolerance_mm=offset)  # compile kernels
    engine = CpuBackend(tracer, triangles_mm=triangles, horizons="always")
    t_first, _ = _best(
        lambda: transfer_matrix(samples, emitters, engine, end_tolerance_mm=offset), 1
    )
    t_twin, result = _best(
        lambda: transfer_matrix(samples, emitters, engine, end_tolerance_mm=offset), repeat
    )
    t_plain, plain = _best(
        lambda: transfer_matrix(samples, emitters, unculled, end_tolerance_mm=offset), repeat
    )

    # The same segments, as the tracer's first pass casts them, through embreex alone.
    free = transfer_matrix(
        samples, emitters, engine, end_tolerance_mm=offset, occlusion=False
    ).matrix.tocoo()
    origin = samples.positions_mm[free.row]
    to_emitter = emitters.positions_mm[free.col] - origin
    length = np.linalg.norm(to_emitter, axis=1)
    direction = to_emitter / length[:, None]
    o32 = (origin + tracer.start_mm * direction).astype(np.float32)
    d32 = direction.astype(np.float32)
    l32 = (length - 2.0 * tracer.start_mm).astype(np.float32)
    scene = tracer._scene  # the same BVH twin used
    chunks = np.array_split(np.arange(len(o32)), 8 * workers)

    def bare() -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(
                pool.map(
                    lambda c: scene.run(o32[c], d32[c], query="OCCLUDED", dists=l32[c]), chunks
                )
            )

    t_bare, _ = _best(bare, repeat)

    # The naive way: trimesh + its Embree ray queries, one emitter at a time.
    mesh = trimesh.Trimesh(head.vertices_mm, head.faces, process=False)
    m = Lambertian(30.0).m
    naive_map = np.zeros(len(samples))

    def naive() -> None:
        p, n = samples.positions_mm, samples.normals
        for i in range(naive_emitters):
            d = emitters.positions_mm[i] - p
            r = np.linalg.norm(d, axis=1)
            d /= r[:, None]
            cos_a = np.einsum("ij,ij->i", d, n)
            cos_t = -d @ emitters.axes[i]
            facing = np.flatnonzero((cos_a > 0) & (cos_t > 0))
            origins = p[facing] + offset * n[facing]
            _, ray, loc = mesh.ray.intersects_id(
                origins, d[facing], multiple_hits=False, return_locations=True
            )
            blocked = np.zeros(len(facing), dtype=bool)
            blocked[ray] = np.linalg.norm(loc - origins[ray], axis=1) < r[facing][ray] - offset
            keep = facing[~blocked]
            naive_map[keep] += (
                (m + 1) / (2 * np.pi) * cos_t[keep] ** m * cos_a[keep] / r[keep] ** 2 * 100
            )

    t_naive_part, _ = _best(naive, 1)
    t_naive = t_naive_part * len(emitters) / naive_emitters

    rays = result.rays_cast
    rows = [
        ("twin (embree backend, shafts), full map", t_twin, rays),
        ("twin, the first map on a skin (horizons found)", t_first, rays),
        ("twin without shafts, full map", t_plain, plain.rays_cast),
        ("bare embreex, every segment", t_bare, len(o32)),
        (f"naive trimesh, per emitter (from {naive_emitters} emitters, scaled)", t_naive, None),
    ]
    lines = [
        f"# twin bench — {time.strftime('%Y-%m-%d')}",
        "",
        f"machine: {_cpu_name()}, {workers} CPUs, {platform.platform()}",
        f"scene: head phantom level {subdivisions}: {len(samples)} sample points, "
        f"{len(head.faces)} "
        f"triangles; 1026 emitters 10 mm out, half-angle 30 deg; BVH build {t_build * 1e3:.0f} ms",
        f"pairs after culling: {result.candidate_pairs} candidates, {plain.rays_cast} segments, "
        f"{result.rays_cleared} cleared by shafts, {rays} shadow rays cast, "
        f"{result.matrix.nnz} non-zeros; best of {repeat} runs after a warm-up",
        "",
        "| method | seconds | rays | Mrays/s |",
        "|---|---:|---:|---:|",
    ]
    for name, t, r in rows:
        rate = f"{r / t / 1e6:.2f}" if r else "-"
        lines.append(f"| {name} | {t:.3f} | {r if r else '-'} | {rate} |")
    lines += [
        "",
        f"twin / bare Embree: {t_twin / t_bare:.2f}x; twin / twin without shafts: "
        f"{t_twin / t_plain:.2f}x; naive / twin: {t_naive / t_twin:.1f}x",
    ]
    return "\n".join(lines)


#: Above this many sample points the brute-force reference backend is left out of ``all``.
REFERENCE_MAX_POINTS = 5_000


def run_backend_benchmark(*, backend: str = "all", subdivisions: int = 7, repeat: int = 3) -> str:
    """Every usable backend (or one) on the same scene, side by side, as Markdown.

    Per backend: BVH build, the first full map (with any kernel compilation), the best of
    ``repeat`` warm maps (transfer matrix and ``E = T P``), shadow rays, rays per second and
    the transfer matrix's size. The reference backend runs only on scenes of at most
    ``REFERENCE_MAX_POINTS`` points; a simulated CUDA device is not timed.

    Raises
    ------
    InputError
        Naming ``repeat`` unless it is a whole number >= 1.
    """
    from twin.engine.backends import BACKENDS, backend_status
    from twin.raycast.cuda import simulated

    repeat = as_count(repeat, name="repeat")

    head, emitters, samples, triangles, offset = _head_scene(subdivisions)
    status = backend_status()
    lines = [
        f"# twin bench --backend {backend} — {time.strftime('%Y-%m-%d')}",
        "",
        f"machine: {_cpu_name()}, {os.cpu_count()} CPUs, {platform.platform()}",
        f"scene: head phantom level {subdivisions}: {len(samples)} sample points, "
        f"{len(head.faces)} triangles; 1026 emitters 10 mm out, half-angle 30 deg; "
        f"warm map: best of {repeat}",
        "",
        "| backend | BVH build s | first map s | warm map s | shadow rays | cleared by shafts "
        "| Mrays/s | non-zeros | matrix MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for name in BACKENDS if backend == "all" else (backend,):
        skip = status[name]
        if skip is None and name == "cuda" and simulated():
            skip = "numba's CUDA simulator is not a GPU"
        if skip is None and name == "reference" and len(samples) > REFERENCE_MAX_POINTS:
            skip = f"brute force, for scenes of at most {REFERENCE_MAX_POINTS} points"
        if skip is not None:
            notes.append(f"- {name}: not run ({skip})")
            continue
        t_build, engine = _best(partial(make_backend, name, triangles), 1)

        def full_map(engine: Backend = engine) -> tuple[TransferMatrix, NDArray[np.float64]]:
            t = transfer_matrix(samples, emitters, engine, end_tolerance_mm=offset)
            return t, t.matrix @ emitters.power_mw

        t_first, _ = _best(full_map, 1)
        t_warm, (result, _) = _best(full_map, repeat)
        m = result.matrix
        size_mb = (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 1e6
        lines.append(
            f"| {name} | {t_build:.3f} | {t_first:.3f} | {t_warm:.4f} | {result.rays_cast} | "
            f"{result.rays_cleared} | {result.rays_cast / t_warm / 1e6:.1f} | {m.nnz} | "
            f"{size_mb:.1f} |"
        )
    return "\n".join(lines + (["", *notes] if notes else []))


def run_optimise_benchmark(*, subdivisions: int = 7, repeat: int = 1) -> str:
    """Time the drive and placement optimisers.

    Drive optimisation of 1026 emitters on the head phantom (matrix built once), and
    placement of the default scene's 1026 LEDs from 6x as many candidates.

    Raises
    ------
    InputError
        Naming ``repeat`` unless it is a whole number >= 1.
    """
    from twin._data import default_scene_path
    from twin.analysis.optimise import OBJECTIVES, optimise_drive
    from twin.analysis.placement import optimise_placement
    from twin.analysis.problem import DoseProblem
    from twin.pipeline.render import render
    from twin.scene.load import load_scene, scene_from_dict

    repeat = as_count(repeat, name="repeat")
    head = phantoms.head(subdivisions=subdivisions)
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    positions, axes = offset_shell_layout(head, count=1026, standoff_mm=10.0, vertices=face)
    emitters = Emitters.create(positions, axes, 8.0, profile=Lambertian(30.0))
    with tempfile.TemporaryDirectory() as folder:
        leds = Path(folder) / "leds.csv"
        leds.write_text(emitter_csv_text(emitters))
        scene = scene_from_dict(
            {
                "target": {"mesh": "builtin:phantom-head", "max_edge_mm": head.max_edge_mm},
                "emitters": {"file": str(leds)},
                "exposure_s": 600,
                "dose": {"fluence_window_j_cm2": [1.0, 3.0]},
            },
            base=Path(folder),
        )
        t_render, result = _best(lambda: render(scene), 1)
    lines = [
        f"# twin bench --optimise — {time.strftime('%Y-%m-%d')}",
        "",
        f"machine: {_cpu_name()}, {os.cpu_count()} CPUs",
        f"scene: head phantom level {subdivisions}: {len(result.samples)} points, 1026 "
        f"emitters; render (transfer matrix) {t_render:.2f} s, not counted below",
        "",
        "| objective | seconds | solver |",
        "|---|---:|---|",
    ]
    problem = DoseProblem.from_render(result)
    for objective in OBJECTIVES:
        t, out = _best(partial(optimise_drive, problem, objective=objective), repeat)
        lines.append(f"| {objective} | {t:.2f} | {out.solver} |")
    # Placement: the default scene's 1026 LEDs from 6x as many candidates on the rigid mask.
    default = load_scene(default_scene_path())
    t, placement = _best(lambda: optimise_placement(default, factor=6), 1)
    candidates = placement.log[0].split(" candidates", 1)[0]
    points = len(default.target.samples(at=default.samples))
    lines += [
        "",
        f"placement: default scene ({points} points), {candidates} candidates "
        f"to {len(default.emitters)} LEDs, their transfer matrix included: {t:.1f} s",
    ]
    return "\n".join(lines)
