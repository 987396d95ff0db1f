"""The culling tests of the transfer matrix, in plain Python compiled twice.

numba compiles them into the CPU kernels (:mod:`twin.engine._cpu_kernels`) and numba-cuda into the
device kernels (:mod:`twin.raycast._cuda_kernels`), so both engines cull the same pairs: to
the bit under the CUDA simulator, which runs them as they are; up to rounding on a GPU,
whose compiler fuses multiply-adds (a pair within an ulp of a test may go either way). All
geometry is float64, in mm.
"""

from __future__ import annotations

import math

_SLACK = 1e-9  # keeps the cell tests conservative under rounding


def cell_reachable(ex, ey, ez, ax, ay, az, cos_cut, sin_cut, cx, cy, cz, radius,
                   nx, ny, nz, cos_cone, sin_cone, max_distance_mm):  # fmt: skip
    """Whether a cell may hold a point the emitter reaches.

    The emitter sits at ``e`` with unit axis ``a`` and emission-cone half-angle
    ``acos(cos_cut)``. A cell is a bounding sphere (centre ``c``, ``radius``) and a normal
    cone (unit mean normal ``n``, cos and sin of its half-angle). Rejected: cells wholly
    outside the emission cone, farther than the range, or whose every point faces away.
    """
    vx, vy, vz = cx - ex, cy - ey, cz - ez
    dist = math.sqrt(vx * vx + vy * vy + vz * vz)
    if dist <= radius:
        return True
    if dist - radius > max_distance_mm:
        return False
    # Emission cone: the sphere spans g = asin(r / dist) around the direction phi to its
    # centre; reached when phi <= acos(c) + g (always when that is >= pi).
    sin_g = radius / dist
    cos_g = math.sqrt(1.0 - sin_g * sin_g)
    cos_phi = (vx * ax + vy * ay + vz * az) / dist
    wraps = cos_cut < 0.0 and cos_g <= -cos_cut
    if not wraps and cos_phi < cos_cut * cos_g - sin_cut * sin_g - _SLACK:
        return False
    # Facing: n . (e - p) <= |e - c| cos(max(0, psi - cone)) + r for its points.
    cos_psi = -(vx * nx + vy * ny + vz * nz) / dist
    if cos_psi > cos_cone:
        cos_dev = 1.0
    else:
        sin_psi = math.sqrt(max(1.0 - cos_psi * cos_psi, 0.0))
        cos_dev = cos_psi * cos_cone + sin_psi * sin_cone
    return dist * (cos_dev + _SLACK) + radius > 0.0


def pair_geometry(ex, ey, ez, ax, ay, az, cos_cut, px, py, pz, nx, ny, nz, max_d2):
    """The exact facing, range and cone tests of one (point, emitter) pair.

    The point sits at ``p`` with unit normal ``n``. Returns ``(r, r cos(alpha),
    r cos(theta))`` in mm, with alpha the incidence angle at the skin and theta the angle off
    the LED axis; ``r`` is -1 when the pair fails a test.
    """
    dx, dy, dz = ex - px, ey - py, ez - pz
    r_cos_a = dx * nx + dy * ny + dz * nz
    r2 = dx * dx + dy * dy + dz * dz
    if r_cos_a <= 0.0 or r2 > max_d2:
        return -1.0, 0.0, 0.0
    r = math.sqrt(r2)
    r_cos_t = -(dx * ax + dy * ay + dz * az)
    if r_cos_t < cos_cut * r:
        return -1.0, 0.0, 0.0
    return r, r_cos_a, r_cos_t
