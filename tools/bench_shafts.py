"""Shadow rays cleared by shafts on the shipped scenes (docs/performance.md).

For each scene: the direct transfer matrix with the embree backend, with shafts (the
horizons found on the first map, kept for the next) and without (on the same tracer, after
a warm-up), the segments that pass the culling tests, how many shafts clear, and the time of
each; the matrices must be identical.

Usage: ``python tools/bench_shafts.py [SCENE ...]`` (default: the face, helmet, pelvis and
low-back scenes and the level-7 head phantom of ``twin bench``).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import twin
from twin.analysis.bench import _head_scene
from twin.engine.backends import make_backend
from twin.engine.backends.cpu import CpuBackend
from twin.engine.transfer import scene_triangles, transfer_matrix
from twin.raycast import self_tolerance_mm

SCENES = ("default", "face-rigid-blue", "scalp-helmet", "pelvis-pad", "lower-back-y-piece")


def _inputs(name: str):
    if name == "head-level7":
        _, emitters, samples, triangles, _ = _head_scene(7)
        return samples, emitters, triangles
    scene = twin.load_scene(name)
    return (
        scene.target.samples(at=scene.samples),
        scene.emitters,
        scene_triangles(scene.target, scene.occluders),
    )


def main() -> None:
    names = sys.argv[1:] or [*SCENES, "head-level7"]
    print("| scene | points | emitters | segments | cleared | cleared % | with shafts s "
          "| first map, horizons found s | without s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        samples, emitters, triangles = _inputs(name)
        tol = self_tolerance_mm(triangles)
        plain = CpuBackend(make_backend("embree", triangles).tracer)
        transfer_matrix(samples, emitters, plain, end_tolerance_mm=tol)  # compile the kernels
        fast = CpuBackend(plain.tracer, triangles_mm=triangles, horizons="always")
        t0 = time.perf_counter()
        transfer_matrix(samples, emitters, fast, end_tolerance_mm=tol)
        t_first = time.perf_counter() - t0
        runs = {}
        for label, backend in (("with", fast), ("without", plain)):
            transfer_matrix(samples, emitters, backend, end_tolerance_mm=tol)  # warm-up
            t0 = time.perf_counter()
            runs[label] = transfer_matrix(samples, emitters, backend, end_tolerance_mm=tol)
            runs[label + "_s"] = time.perf_counter() - t0
        a, b = runs["with"].matrix.tocsc(), runs["without"].matrix.tocsc()
        a.sort_indices()
        b.sort_indices()
        same = all(np.array_equal(x, y) for x, y in
                   ((a.indptr, b.indptr), (a.indices, b.indices), (a.data, b.data)))  # fmt: skip
        if not same:
            sys.exit(f"{name}: the matrices with and without shafts differ")
        segments = runs["without"].rays_cast
        cleared = runs["with"].rays_cleared
        print(
            f"| {name} | {len(samples)} | {len(emitters)} | {segments} | {cleared} | "
            f"{100 * cleared / max(segments, 1):.0f} | {runs['with_s']:.2f} | {t_first:.2f} | "
            f"{runs['without_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
