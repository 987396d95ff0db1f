"""Compile the CUDA kernels to PTX without a GPU: numba-cuda's type inference and NVVM code
generation, which numba's CUDA simulator (CI) does not exercise.

Needs, in a scratch environment: ``pip install numba-cuda nvidia-cuda-nvcc-cu12
nvidia-cuda-nvrtc-cu12 numpy scipy trimesh pyyaml``; run ``PYTHONPATH=. python
tools/compile_cuda_ptx.py`` from the repository root. Prints each kernel's PTX size; any
typing or compile error is raised. The argument types are those :mod:`twin.raycast.cuda` (the
BVH and its rays) and :mod:`twin.engine.backends.cuda` (the transfer matrix) launch the kernels
with.
"""

from __future__ import annotations

import argparse

import numba.cuda.dispatcher
from numba import cuda, types


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="compute capability (default 9.0: H100)")
    cc = tuple(int(x) for x in parser.parse_args().cc.split("."))

    class Device:  # device functions ask the current device for its compute capability
        compute_capability = cc

    numba.cuda.dispatcher.get_current_device = Device
    from twin.engine.backends import _cuda_kernels as transfer_kernels
    from twin.raycast import cuda_kernels as ray_kernels

    f8, i4, i8, u1 = types.float64, types.int32, types.int64, types.uint8
    m2, v8, v4, w8 = (types.Array(t, n, "C") for t, n in ((f8, 2), (f8, 1), (i4, 1), (i8, 1)))
    flags = types.Array(u1, 2, "C")
    bvh = (m2, m2, v4, v4, v4, v4, m2, m2, m2, v8)  # lo hi left right start count v0 e1 e2 scale
    profiles = (v4, v8, v8, v4, v4, v8, v8)  # kind m coef table_first table_size angles values
    signatures = {
        "rays": (m2, m2, v8, types.boolean, *bvh, v8, v4),
        # emitters first_emitter cos_cut centre radius normal cos_cone sin_cone range flags
        "near_cells": (m2, i8, v8, m2, v8, m2, v8, v8, f8, flags),
        # pair_emitter pair_cell offsets cell_start cell_count points emitters profile_of
        # cos_cut max_d2 offset occlusion ... out
        "shade_cells": (
            (v4, v4, w8, v4, v4, m2, m2, v4, v8, f8, f8, types.boolean, *profiles, *bvh, v8)
        ),
        "lbvh_topology": (w8, i8, v4, v4, v4),  # codes n left right parent
        "lbvh_boxes": (m2, m2, i8, v4, v4, v4, v4, m2, m2),  # tri_lo tri_hi n ... lo hi
    }
    for name, signature in signatures.items():
        kernels = transfer_kernels if name in ("near_cells", "shade_cells") else ray_kernels
        ptx, _ = cuda.compile_ptx(getattr(kernels, name).py_func, signature, cc=cc)
        print(f"{name}: {len(ptx)} bytes of PTX for sm_{cc[0]}{cc[1]}")


if __name__ == "__main__":
    main()
