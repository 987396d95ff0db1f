"""Time what inter-reflection adds to a render (docs/performance.md).

``python tools/bench_interreflection.py [SCENE ...]`` (default: the built-in rigid and
flexible red scenes) renders each scene with ``engine.interreflection`` off and on, best of
3 after a warm-up, and prints the render times, their ratio, the solve's own time (form
factors, factorisations, solves) and its size, and the gain per channel. Printed, never
asserted.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import twin
from twin.scene import Scene, load_scene

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENES = ("scenes/face-rigid-red.yaml", "scenes/face-flexible-red.yaml")
REPEAT = 3


def best_of(scene: Scene) -> tuple[float, twin.RenderResult]:
    """The best wall time of :data:`REPEAT` renders (after a warm-up) and the last result."""
    result = twin.render(scene)
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        result = twin.render(scene)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str]) -> int:
    """Print the timings of each scene in ``argv`` (default :data:`DEFAULT_SCENES`)."""
    for path in argv or [str(ROOT / s) for s in DEFAULT_SCENES]:
        scene = load_scene(path)
        off = dataclasses.replace(
            scene, engine=dataclasses.replace(scene.engine, interreflection=False)
        )
        direct_s, _ = best_of(off)
        total_s, result = best_of(scene)
        block = result.metrics["interreflection"]
        roi = result.metrics["roi"]
        gains = ", ".join(
            f"{c} {m['interreflection_gain']:.3f}"
            for c, m in roi["channels"].items()
            if m.get("interreflection_gain") is not None
        )
        print(
            f"{scene.name}: direct only {direct_s:.1f} s, with inter-reflection "
            f"{total_s:.1f} s ({total_s / direct_s:.2f}x); solve {block['seconds']:.1f} s on "
            f"{block['patches']} patches ({block['form_factor_nonzeros']} form factors); "
            f"gain {gains}, total {roi['total']['interreflection_gain']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
