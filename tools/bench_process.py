"""Whole-process timing of ``twin render`` against a direct script (docs/performance.md).

Writes the level-7 head scene as a user would have it (an ASCII PLY of the head phantom, a CSV
of 1026 LEDs 10 mm off its face, half-angle 30 degrees, a scene YAML) and a direct script: what
a user writes without twin (cKDTree culling to each LED's range, NumPy facing and cone tests,
Embree segment queries through embreex, single-threaded, BLAS included). Then times both as
whole processes,
alternating, and prints the times: twin with nothing cached (every matrix built), the
direct script, and twin's re-run, which reads the matrices its first run kept.

Usage: ``python tools/bench_process.py [--runs N] [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

DIRECT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import trimesh
    from embreex import rtcore_scene
    from embreex.mesh_construction import TriangleMesh
    from scipy.spatial import cKDTree

    mesh = trimesh.load(sys.argv[1], process=False)
    leds = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1, usecols=range(7))
    p = np.asarray(mesh.vertices, dtype=np.float64)
    n = np.asarray(mesh.vertex_normals, dtype=np.float64)
    tri = np.asarray(mesh.triangles, dtype=np.float32)
    scene = rtcore_scene.EmbreeScene()
    TriangleMesh(scene, tri)
    m = np.log(0.5) / np.log(np.cos(np.radians(30.0)))
    cos_cut = 1e-4 ** (1.0 / m)
    # Cull with a k-d tree: only LEDs within reach of a point's neighbourhood are tested.
    tree = cKDTree(p)
    reach = np.ptp(p, axis=0).max()
    eps = 1e-3
    irradiance = np.zeros(len(p))
    for e, a, power in zip(leds[:, :3], leds[:, 3:6], leds[:, 6]):
        idx = np.asarray(tree.query_ball_point(e, reach, return_sorted=False), dtype=np.int64)
        d = e - p[idx]
        ok = np.flatnonzero((np.einsum("ij,ij->i", d, n[idx]) > 0) & (d @ a < 0))
        idx, d = idx[ok], d[ok]
        r = np.sqrt(np.einsum("ij,ij->i", d, d))
        d /= r[:, None]
        cos_t = -d @ a
        keep = cos_t >= cos_cut
        idx, d, r, cos_t = idx[keep], d[keep], r[keep], cos_t[keep]
        cos_a = np.einsum("ij,ij->i", d, n[idx])
        origin = p[idx] + eps * d
        hit = scene.run(origin.astype(np.float32), d.astype(np.float32),
                        query="OCCLUDED", dists=(r - 2 * eps).astype(np.float32))
        free = hit != 0
        irradiance[idx[free]] += (power * (m + 1) / (2 * np.pi) * cos_t[free] ** m
                                  * cos_a[free] / r[free] ** 2 * 100.0)
    np.savetxt("direct_irradiance.csv", irradiance, fmt="%.6g")
    print(f"mean irradiance {irradiance.mean():.4g} mW/cm2")
    """
)


def write_scene(folder: Path, subdivisions: int = 7) -> Path:
    """Write head.ply, leds.csv, scene.yaml and direct.py into ``folder``; return the scene."""
    import numpy as np
    import trimesh

    from twin.devices.layout import offset_shell_layout
    from twin.geometry import phantoms

    folder.mkdir(parents=True, exist_ok=True)
    head = phantoms.head(subdivisions=subdivisions)
    face = np.concatenate([head.regions[r] for r in ("forehead", "nose", "cheeks", "chin")])
    pos, axes = offset_shell_layout(head, count=1026, standoff_mm=10.0, vertices=face)
    mesh = trimesh.Trimesh(head.vertices_mm, head.faces, process=False)
    (folder / "head.ply").write_bytes(trimesh.exchange.ply.export_ply(mesh, encoding="ascii"))
    rows = ["x,y,z,dx,dy,dz,power_mw"] + [
        ",".join(f"{v:.6f}" for v in (*q, *a)) + ",1.0" for q, a in zip(pos, axes, strict=True)
    ]
    (folder / "leds.csv").write_text("\n".join(rows) + "\n")
    (folder / "scene.yaml").write_text(
        "name: head-level7\n"
        "target: {mesh: head.ply, units: mm}\n"
        "emitters: {file: leds.csv, half_angle_deg: 30}\n"
        "exposure_s: 600\n"
    )
    (folder / "direct.py").write_text(DIRECT)
    return folder / "scene.yaml"


def _time(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("out/bench-process"))
    args = parser.parse_args()
    scene = write_scene(args.dir)
    twin = [sys.executable, "-m", "twin", "render", "scene.yaml", "--out", "result"]
    direct = [sys.executable, "direct.py", "head.ply", "leds.csv"]
    _time([*twin, "--no-cache"], scene.parent)  # numba's compiled kernels, the OS file cache
    single_threaded = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    times: dict[str, list[float]] = {
        "twin render --no-cache": [],
        "direct script": [],
        "twin render, cached re-run": [],
    }
    for _ in range(args.runs):
        times["twin render --no-cache"].append(_time([*twin, "--no-cache"], scene.parent))
        times["direct script"].append(_time(direct, scene.parent, single_threaded))
        times["twin render, cached re-run"].append(_time(twin, scene.parent))
    for name, ts in times.items():
        runs = ", ".join(f"{t:.2f}" for t in ts)
        print(f"{name}: median {statistics.median(ts):.2f} s ({runs})")
    median = {name: statistics.median(ts) for name, ts in times.items()}
    ratio = median["twin render --no-cache"] / median["direct script"]
    print(f"twin --no-cache / direct: {ratio:.2f}")


if __name__ == "__main__":
    main()
