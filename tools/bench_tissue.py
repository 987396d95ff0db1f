"""Time what light in tissue adds to a render (docs/performance.md).

``python tools/bench_tissue.py [SCENE]`` (default: the built-in default scene) renders the scene
with a warm transfer-matrix cache, then times, best of 5:

1. the whole render without the ``tissue:`` section, with its ray cast (no cache) and from a
   cached transfer matrix;
2. the same with it;
3. the tissue step alone (:func:`twin.pipeline.tissue.render_tissue`: kernels from the table,
   each nonzero of T shared between the angle nodes, the maps) and the tissue metrics;
4. the fluence-rate matrix at one depth (what the optimiser uses).

Printed, never asserted.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from twin._data import default_scene_path
from twin.dose.tissue import tissue_metrics
from twin.engine.cache import TransferCache
from twin.pipeline.render import region_of_interest, render
from twin.pipeline.tissue import render_kernels, render_tissue
from twin.scene import load_scene
from twin.tissue.depth import fluence_rate_matrix


def best_of(fn: Callable[[], object], runs: int = 5) -> float:
    """Best wall time of ``runs`` calls, s."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(path: Path) -> None:
    """Print the timings for the scene at ``path``."""
    scene = load_scene(path)
    if scene.tissue is None:
        sys.exit(f"{path}: has no tissue section")
    bare = dataclasses.replace(scene, tissue=None)
    cold_without = best_of(lambda: render(bare), runs=3)
    cold_with = best_of(lambda: render(scene), runs=3)
    with tempfile.TemporaryDirectory() as folder:
        cache = TransferCache(Path(folder))
        result = render(scene, cache=cache)  # warms the cache, numba and the table
        without = best_of(lambda: render(bare, cache=cache))
        with_tissue = best_of(lambda: render(scene, cache=cache))
    samples, transfer = result.samples, result.transfer
    roi = region_of_interest(scene, samples)
    step = best_of(lambda: render_tissue(scene, samples, transfer, render_kernels(scene, samples)))
    maps = render_tissue(scene, samples, transfer, render_kernels(scene, samples))
    metrics = best_of(
        lambda: tissue_metrics(
            maps,
            scene.tissue,
            samples.areas_mm2,
            roi=roi,
            regions=samples.regions,
            dose=scene.dose,
        )
    )
    matrix = best_of(
        lambda: fluence_rate_matrix(
            maps.shares,
            maps.kernels,
            site_index=maps.site_index,
            channel_of_emitter=scene.emitters.channel,
            depth=0,
        )
    )
    print(
        f"{scene.name}: {len(samples)} points, {len(scene.emitters)} emitters, "
        f"{transfer.matrix.nnz} nonzeros, {len(scene.tissue.depths_mm)} depths, "
        f"{len(scene.tissue.targets)} target bands"
    )
    for label, bare_s, full_s in (
        ("with its ray cast", cold_without, cold_with),
        ("from a cached transfer matrix", without, with_tissue),
    ):
        print(
            f"render {label}: {bare_s:.3f} s without tissue, {full_s:.3f} s with "
            f"(+{100 * (full_s / bare_s - 1):.1f} %)"
        )
    print(f"  tissue step (kernels, angle shares, maps): {step:.3f} s")
    print(f"  tissue metrics: {metrics:.3f} s")
    print(f"fluence-rate matrix at one depth: {matrix:.3f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default_scene_path())
