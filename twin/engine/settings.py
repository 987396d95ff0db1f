"""The settings of a transfer-matrix build, checked once where they enter.

Every backend gets the same :class:`TransferSettings`; they decide which (point, emitter)
pairs are traced and where shadow rays start and stop, so a cached matrix is keyed on them
(:mod:`twin.engine.cache`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin._validation import as_positive
from twin.errors import InputError

#: Default relative-intensity cut-off of the emission cone: directions where an LED emits less
#: than this fraction of its peak intensity are not traced. For a cos^m emitter the flux outside
#: the cone is cutoff^((m+1)/m) of the total (1.5e-5 at m = 4.82).
DEFAULT_INTENSITY_CUTOFF = 1e-4


@dataclass(frozen=True)
class TransferSettings:
    """How a transfer matrix is traced: the same for every backend.

    Parameters
    ----------
    end_tolerance_mm : float, mm
        Shadow segments run from the skin point to the emitter; a triangle whose plane
        passes within this distance of either end does not block (see
        :func:`twin.raycast.self_tolerance_mm`); >= 0.
    intensity_cutoff : float, default: 1e-4
        Directions where an LED's intensity is below this fraction of its peak are not
        traced, in [0, 1). 0 traces the full forward hemisphere (or sphere, for isotropic
        LEDs).
    max_distance_mm : float, default: inf, mm
        Pairs farther apart are not traced; > 0.
    occlusion : bool, default: True
        Cast shadow rays; ``False`` keeps only the facing, cone and range tests.

    Raises
    ------
    InputError
        If a value is out of range; the message names the argument.
    """

    end_tolerance_mm: float
    intensity_cutoff: float = DEFAULT_INTENSITY_CUTOFF
    max_distance_mm: float = math.inf
    occlusion: bool = True

    def __post_init__(self) -> None:
        """Check the fields and store them as floats and a bool."""
        tolerance = as_positive(self.end_tolerance_mm, name="end_tolerance_mm", allow_zero=True)
        cutoff = as_positive(self.intensity_cutoff, name="intensity_cutoff", allow_zero=True)
        if cutoff >= 1.0:
            msg = f"intensity_cutoff: expected a fraction in [0, 1), got {self.intensity_cutoff!r}"
            raise InputError(msg)
        max_d = float(self.max_distance_mm)
        if not max_d > 0.0:
            msg = (
                "max_distance_mm: expected a distance > 0 mm (inf for no limit), got "
                f"{self.max_distance_mm!r}"
            )
            raise InputError(msg)
        object.__setattr__(self, "end_tolerance_mm", tolerance)
        object.__setattr__(self, "intensity_cutoff", cutoff)
        object.__setattr__(self, "max_distance_mm", max_d)
        object.__setattr__(self, "occlusion", bool(self.occlusion))
