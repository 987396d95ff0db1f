"""Extended emitters: an LED's emitting aperture sampled by point sources.

At mask distances (3-15 mm from LED to skin) the gap is only 1-5 LED package sizes (2-5 mm),
where a point source is a poor model: straight below a Lambertian disk of radius ``a`` the
irradiance is ``P / (pi (a^2 + h^2))``, half the point-source value ``P / (pi h^2)`` at
``h = a``. An :class:`Aperture` replaces each LED of a channel by ``K`` points spread over a
disk or square of the package size, each a point source with the LED's own angular profile,
axis, channel and wavelength, carrying ``P / K`` (docs/physics.md §1.3).

On the axis, where they differ most, the point model is brighter by ``(m + 3) / 2 <r^2> / h^2``
to leading order, ``<r^2>`` the aperture's mean squared radius (``D^2 / 8`` for a disk of
diameter ``D``, ``D^2 / 6`` for a square of side ``D``). For an ideal Lambertian disk (m = 1)
that is 1 % at ``h = 5 D``; narrower LEDs and squares need more: a cos^m disk reaches 1 % at
``h = 2.5 D sqrt(m + 3)``, 7 D for m = 4.82.

:func:`expand` does the bookkeeping; :func:`twin.engine.extended.extended_transfer` builds a
transfer matrix with the extended model whose columns are still the original LEDs, so that
every drive vector, mode and metric downstream is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._validation import as_count
from twin.devices.emitters import Emitters
from twin.errors import InputError

SHAPES = ("disk", "square")

#: Angle between successive points of the sunflower (Vogel) spiral, radians.
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


@dataclass(frozen=True)
class Aperture:
    """The emitting area of an LED, sampled by ``samples`` equal-area point sources.

    Attributes
    ----------
    shape : {"disk", "square"}
    size_mm : float, mm
        Disk diameter or square side, > 0.
    samples : int
        Number ``K`` of sample points, >= 1; a square number (1, 4, 9, ...) for a square.

    Raises
    ------
    InputError
        If a field is out of range.
    """

    shape: str
    size_mm: float
    samples: int

    def __post_init__(self) -> None:
        """Check the fields and normalise their types."""
        size, count = _checked(self.shape, self.size_mm, self.samples, name="aperture")
        object.__setattr__(self, "size_mm", size)
        object.__setattr__(self, "samples", count)

    @classmethod
    def create(cls, shape: Any, size_mm: Any, samples: Any, *, name: str) -> Aperture:
        """Check and build an aperture given as data; ``name`` names it in messages.

        Raises
        ------
        InputError
            Naming ``name`` and the field, if a field is out of range.
        """
        size, count = _checked(shape, size_mm, samples, name=name)
        return cls(shape, size, count)

    @property
    def offsets_mm(self) -> NDArray[np.float64]:
        """(K, 2) float64, mm: sample points in the aperture plane, each for an equal area.

        Disk: the sunflower (Vogel) spiral ``r_k = R sqrt((k + 0.5) / K)``,
        ``phi_k = k * golden angle``, ``R = size_mm / 2`` (``K = 1``: the centre). Its mean is
        not exactly the centre: ``|mean| <= 0.66 R / K`` for every ``K`` up to 5000 (about
        ``0.54 R / K`` typically; ``0.002 R`` at ``K = 256``).

        Square: the centres of an ``n x n`` grid of equal cells, ``K = n^2``; the mean is the
        centre to rounding (1e-12 mm).
        """
        k_count = self.samples
        if self.shape == "disk":
            if k_count == 1:
                return np.zeros((1, 2))
            k = np.arange(k_count, dtype=np.float64)
            r = 0.5 * self.size_mm * np.sqrt((k + 0.5) / k_count)
            phi = k * GOLDEN_ANGLE
            return np.column_stack([r * np.cos(phi), r * np.sin(phi)])
        n = math.isqrt(k_count)
        # (2j + 1 - n) / (2n) is exactly antisymmetric about the centre.
        u = (2.0 * np.arange(n) + 1.0 - n) / (2.0 * n) * self.size_mm
        x, y = np.meshgrid(u, u, indexing="ij")
        return np.column_stack([x.ravel(), y.ravel()])


def _checked(shape: Any, size_mm: Any, samples: Any, *, name: str) -> tuple[float, int]:
    """Return the size (float, mm) and sample count (int) of a valid aperture.

    Raises
    ------
    InputError
        Naming ``name`` and the field that is out of range.
    """
    if not isinstance(shape, str) or shape not in SHAPES:
        msg = f"{name}.shape: expected 'disk' or 'square', got {shape!r}"
        raise InputError(msg)
    ok = isinstance(size_mm, Real) and not isinstance(size_mm, bool)
    if not ok or not 0.0 < float(size_mm) < math.inf:
        msg = f"{name}.size_mm: expected a number > 0, got {size_mm!r}"
        raise InputError(msg)
    count = as_count(samples, name=f"{name}.samples")
    if shape == "square" and math.isqrt(count) ** 2 != count:
        msg = (
            f"{name}.samples: a square aperture needs a square number of samples "
            f"(1, 4, 9, 16, ...), got {count}"
        )
        raise InputError(msg)
    return float(size_mm), count


def plane_basis(axes: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Orthonormal vectors ``u, v`` spanning the plane perpendicular to each axis.

    Deterministic (Duff et al. 2017, "Building an orthonormal basis, revisited"): ``u, v, axis``
    is right-handed; for the axis ``(0, 0, +-1)`` ``u`` is ``(+-1, 0, 0)`` up to sign. A square
    aperture's sides run along ``u`` and ``v``.

    Parameters
    ----------
    axes : (n, 3) float64 unit vectors

    Returns
    -------
    u, v : (n, 3) float64 unit vectors
    """
    x, y, z = axes[:, 0], axes[:, 1], axes[:, 2]
    sign = np.where(z >= 0.0, 1.0, -1.0)
    a = -1.0 / (sign + z)
    b = x * y * a
    u = np.column_stack([1.0 + sign * x * x * a, sign * b, -sign * x])
    v = np.column_stack([b, sign + y * y * a, -y])
    return u, v


def expand(
    emitters: Emitters, apertures: Mapping[str, Aperture]
) -> tuple[Emitters, scipy.sparse.csr_array]:
    """Replace each LED of a channel with an aperture by its aperture's sample points.

    Parameters
    ----------
    emitters : Emitters
        ``n`` LEDs.
    apertures : mapping of str to Aperture
        Aperture per channel name; LEDs of other channels stay single points.

    Returns
    -------
    expanded : Emitters
        ``n_expanded`` point sources, the sub-emitters of each LED contiguous and in the
        LEDs' order. A sub-emitter of LED ``i`` with ``K`` samples sits at the LED's position
        plus its aperture offset in the plane perpendicular to the LED's axis (see
        :func:`plane_basis`), with the LED's axis, profile, channel and wavelength, power
        ``P_i / K`` and id ``"<id>#<k>"``. LEDs without an aperture keep everything, id too.
    collapse : (n_expanded, n) scipy.sparse.csr_array of float64
        ``1 / K`` from each sub-emitter to its LED (1 for LEDs without an aperture): a
        transfer matrix of ``expanded`` (per mW of each sub-emitter) times ``collapse`` is the
        transfer matrix per mW of each original LED. Each column sums to 1.

    Raises
    ------
    InputError
        If an aperture is not an :class:`Aperture` or names a channel no LED has.
    """
    present = set(emitters.channels)
    for channel, aperture in apertures.items():
        if not isinstance(aperture, Aperture):
            msg = f"apertures[{channel!r}]: expected an Aperture, got {type(aperture).__name__}"
            raise InputError(msg)
        if channel not in present:
            msg = (
                f"apertures: no emitter has channel {channel!r} "
                f"(channels: {', '.join(emitters.channels)})"
            )
            raise InputError(msg)
    n = len(emitters)
    counts = np.ones(n, dtype=np.int64)
    for channel, aperture in apertures.items():
        counts[emitters.channel == channel] = aperture.samples
    owner = np.repeat(np.arange(n), counts)  # original LED of each sub-emitter
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = np.arange(len(owner)) - first[owner]  # k of each sub-emitter within its LED
    offsets = np.zeros((len(owner), 2))
    for channel, aperture in apertures.items():
        sub = np.flatnonzero(emitters.channel[owner] == channel)
        offsets[sub] = aperture.offsets_mm[local[sub]]
    axes = emitters.axes[owner]
    u, v = plane_basis(axes)
    positions = emitters.positions_mm[owner] + offsets[:, :1] * u + offsets[:, 1:] * v
    share = 1.0 / counts[owner]
    has_aperture = np.isin(emitters.channel, list(apertures))
    ids = [
        f"{emitters.ids[i]}#{k}" if has_aperture[i] else str(emitters.ids[i])
        for i, k in zip(owner.tolist(), local.tolist(), strict=True)
    ]
    expanded = Emitters.create(
        positions,
        axes,
        emitters.power_mw[owner] * share,
        profile=[emitters.profiles[emitters.profile_index[i]] for i in owner],
        channel=emitters.channel[owner],
        wavelength_nm=dict(emitters.wavelength_nm),
        ids=ids,
        name="emitters (apertures expanded)",
    )
    collapse = scipy.sparse.csr_array(
        (share, (np.arange(len(owner)), owner)), shape=(len(owner), n)
    )
    return expanded, collapse
