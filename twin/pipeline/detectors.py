"""Detector readings: what a scene's radiometer grids (:mod:`twin.scene.detectors`) read.

Each pixel is a point of the detector's plane with the detector's normal, cast by the same
engine as the skin (:func:`twin.engine.transfer.transfer_matrix` over the target and the
occluders, the scene's intensity cut-off and range, extended LEDs sampled over their
apertures), so its reading per mW of emitter ``i`` is ``I_i(theta) cos(alpha) / r^2``, zero
where the target or an occluder shadows it. Then:

- a tabulated angular response ``R(alpha)`` (relative to normal incidence) replaces the
  cosine: each (point, emitter) entry is multiplied by ``R(alpha) / cos(alpha)`` from its own
  geometry (each sub-emitter of an extended LED by its own angle);
- an aperture of diameter ``2 a`` averages each pixel's reading over the disk of radius ``a``
  about it (:func:`aperture_points`): Gauss-Legendre rings in ``(r / a)^2`` (equal-area
  rings) times equally spaced spokes, as many as the nearest emitter's distance asks for
  (:func:`aperture_rule`), so a smooth field's average is exact to about 1e-5.

Detectors are virtual instruments: they block no light, so the skin maps are unchanged by
them, and they read the **direct** light only: light the skin, carrier and occluders return
(inter-reflection) is not added to a reading (``metrics.json`` says ``light: direct``).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from twin.devices.aperture import expand
from twin.devices.profiles import Profile, spot_radius_per_gap
from twin.dose.maps import emitter_power_mw
from twin.engine.backends import Backend, make_backend
from twin.engine.transfer import scene_triangles, transfer_matrix
from twin.errors import InputError
from twin.geometry.surface import SamplePoints
from twin.raycast import self_tolerance_mm
from twin.scene import Scene
from twin.scene.detectors import Detector

#: Relative error the aperture's quadrature aims at on a smooth field (its count of points
#: comes from a bound on the error of Gauss-Legendre rings and of equally spaced spokes).
APERTURE_TOLERANCE = 1e-5
#: Most rings and spokes of an aperture's quadrature (an aperture far wider than its distance
#: to the nearest LED is averaged less exactly).
MAX_RINGS, MAX_SPOKES = 16, 64
#: Fewest rings and spokes of an aperture's quadrature.
MIN_RINGS, MIN_SPOKES = 2, 6
#: Points cast at once, and (point, emitter) pairs at once: memory stays bounded.
POINTS_PER_BLOCK = 200_000
PAIRS_PER_BLOCK = 20_000_000
#: What a reading holds: the light straight from the emitters (inter-reflection not added).
LIGHT = "direct"


@dataclass(frozen=True, eq=False)
class DetectorReading:
    """A detector's reading at the scene's drive levels.

    Attributes
    ----------
    name : str
        The detector's name.
    xy_mm : (p, 2) float64, mm
        The points read, in the detector's plane coordinates (its pixel centres, row by row).
    irradiance_mw_cm2 : (p,) float64, mW/cm^2
        The reading at each point, through the detector's angular response and aperture.
    detector : Detector or None
        The detector read (``None``: not given).
    """

    name: str
    xy_mm: NDArray[np.float64]
    irradiance_mw_cm2: NDArray[np.float64]
    detector: Detector | None = None

    @property
    def mean(self) -> float:
        """Mean reading over the points, mW/cm^2."""
        return float(np.mean(self.irradiance_mw_cm2))

    @property
    def peak(self) -> float:
        """Highest reading, mW/cm^2."""
        return float(np.max(self.irradiance_mw_cm2))

    @property
    def min(self) -> float:
        """Lowest reading, mW/cm^2."""
        return float(np.min(self.irradiance_mw_cm2))

    @property
    def uniformity(self) -> float:
        """Lowest over mean reading (``nan`` where nothing is read)."""
        mean = self.mean
        return self.min / mean if mean > 0.0 else math.nan

    @property
    def cv(self) -> float:
        """Standard deviation over mean of the readings (``nan`` where nothing is read)."""
        mean = self.mean
        return float(np.std(self.irradiance_mw_cm2)) / mean if mean > 0.0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Return the reading's block of ``metrics.json`` (``detectors.<name>``)."""

        def finite(value: float) -> float | None:
            return value if math.isfinite(value) else None

        out: dict[str, Any] = {
            "light": LIGHT,
            "mean_mw_cm2": self.mean,
            "peak_mw_cm2": self.peak,
            "min_mw_cm2": self.min,
            "uniformity_min_over_mean": finite(self.uniformity),
            "cv": finite(self.cv),
            "points": len(self.xy_mm),
        }
        d = self.detector
        if d is not None:
            source = d.response.source
            out |= {
                "pixels": [int(v) for v in d.pixels],
                "size_mm": [float(v) for v in d.size_mm],
                "pitch_mm": [float(v) for v in d.pitch_mm],
                "center_mm": [float(v) for v in d.center_mm],
                "normal": [float(v) for v in d.normal],
                "up": [float(v) for v in d.up],
                "response": source if source in ("cosine", "table") else Path(source).name,
                "aperture_mm": d.aperture_mm,
            }
        return out

    def csv_text(self) -> str:
        """Return ``detector_<name>.csv``: ``x_mm,y_mm,irradiance_mw_cm2``, one row a point."""
        out = io.StringIO()
        out.write("x_mm,y_mm,irradiance_mw_cm2\n")
        table = np.column_stack([self.xy_mm, self.irradiance_mw_cm2])
        np.savetxt(out, table, delimiter=",", fmt="%.9g")
        return out.getvalue()


def aperture_points(
    radius_mm: float, *, rings: int, spokes: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Points and weights that average a field over a disk.

    Rings at the Gauss-Legendre nodes of ``u = (r / radius)^2`` on [0, 1] (the equal-area
    variable: ``dA = pi radius^2 du``) with their weights, each with ``spokes`` equally
    spaced points: exact for polynomials of degree ``2 rings - 1`` in ``u`` times
    trigonometric ones of degree below ``spokes`` in the angle.

    Parameters
    ----------
    radius_mm : float, mm
        The disk's radius (0: its centre alone).
    rings, spokes : int

    Returns
    -------
    offsets_mm : (s, 2) float64, mm
        From the disk's centre, in its plane.
    weights : (s,) float64
        Non-negative, summing to 1.
    """
    if radius_mm == 0.0:
        return np.zeros((1, 2)), np.ones(1)
    nodes, weights = np.polynomial.legendre.leggauss(rings)
    u, w = (nodes + 1.0) / 2.0, weights / 2.0
    angle = 2.0 * math.pi * np.arange(spokes) / spokes
    r = radius_mm * np.sqrt(u)
    offsets = np.stack(
        [np.outer(r, np.cos(angle)).ravel(), np.outer(r, np.sin(angle)).ravel()], axis=1
    )
    return offsets, np.repeat(w / spokes, spokes)


def aperture_rule(radius_mm: float, distance_mm: float) -> tuple[int, int]:
    """Rings and spokes that average a field from sources ``distance_mm`` away over a disk.

    A source at distance ``d`` from the disk's plane gives a field analytic in
    ``u = (r / a)^2`` but for ``u = -(d / a)^2``, and in the angle but for an imaginary
    part ``asinh(d / a)``: Gauss-Legendre's error falls as ``rho^(-2 rings)`` (``rho`` the
    Bernstein ellipse through that point), the spokes' as ``exp(-spokes asinh(d / a))``;
    each is chosen to bring its error under :data:`APERTURE_TOLERANCE`, within
    [:data:`MIN_RINGS`, :data:`MAX_RINGS`] and [:data:`MIN_SPOKES`, :data:`MAX_SPOKES`].

    Parameters
    ----------
    radius_mm : float, mm
        The aperture's radius, > 0.
    distance_mm : float, mm
        Distance over which the field changes: the nearest source's, scaled by how narrow its
        beam is.

    Returns
    -------
    rings, spokes : int
    """
    # log(rho) = acosh(1 + 2 (d / a)^2) = 2 asinh(d / a).
    width = math.asinh(max(distance_mm / radius_mm, 1e-9))
    decades = math.log(1.0 / APERTURE_TOLERANCE)
    rings = math.ceil(decades / (4.0 * width))
    spokes = math.ceil(decades / width)
    return (
        int(np.clip(rings, MIN_RINGS, MAX_RINGS)),
        int(np.clip(spokes, MIN_SPOKES, MAX_SPOKES)),
    )


def _field_scales_mm(
    emitters_mm: NDArray[np.float64],
    profiles: tuple[Profile, ...],
    points_mm: NDArray[np.float64],
    detector: Detector,
) -> NDArray[np.float64]:
    """Distance over which the light about each point changes: its nearest LED's, beam-scaled.

    The distance from the aperture's disk about each point to the nearest LED in front of
    the detector's plane (exact for the 16 LEDs nearest the point, bounded below for the
    others), times the narrowest beam's spot radius per gap (at most 1); ``inf`` where no
    LED is in front.
    """
    front = emitters_mm[(emitters_mm - detector.center_mm) @ detector.normal > 0.0]
    if not len(front):
        return np.full(len(points_mm), np.inf)
    radius = detector.aperture_mm / 2.0
    k = min(16, len(front))
    centre, near = cKDTree(front).query(points_mm, k=k)
    centre, near = centre.reshape(len(points_mm), k), near.reshape(len(points_mm), k)
    offset = front[near] - points_mm[:, None, :]
    height = offset @ detector.normal
    lateral = np.sqrt(np.maximum(centre**2 - height**2, 0.0))
    to_disk = np.hypot(height, np.maximum(lateral - radius, 0.0)).min(axis=1)
    if k < len(front):  # the others are at least as far from the centre as the k-th
        to_disk = np.minimum(to_disk, np.maximum(centre[:, -1] - radius, 0.0))
    narrowest = min(spot_radius_per_gap(p) for p in profiles)
    return to_disk * min(1.0, narrowest)


def detector_transfer(
    scene: Scene,
    detector: Detector,
    *,
    xy_mm: ArrayLike | None = None,
    backend: Backend | str | None = None,
    workers: int | None = None,
) -> scipy.sparse.csr_array:
    """Return the reading at points of a detector per mW of each emitter, sparse.

    See :func:`detector_matrix`, which returns it dense.

    Returns
    -------
    (k, n) scipy.sparse.csr_array of float64, (mW/cm^2) per mW
    """
    xy = _points(detector, xy_mm)
    triangles = scene_triangles(scene.target, scene.occluders)
    if backend is None or isinstance(backend, str):
        name = backend or scene.engine.backend
        backend = make_backend(name, triangles, workers=workers)
    end_tolerance_mm = self_tolerance_mm(triangles)
    emitters = scene.emitters
    expanded, collapse = expand(emitters, scene.apertures) if scene.apertures else (emitters, None)
    radius = detector.aperture_mm / 2.0
    # Each point's quadrature from its own nearest LED: only the points close to one need
    # many; points sharing a rule are cast together.
    if radius == 0.0:
        rules = np.ones((len(xy), 2), dtype=np.int64)
    else:
        scales = _field_scales_mm(
            expanded.positions_mm, emitters.profiles, detector.to_world(xy), detector
        )
        rules = np.array([aperture_rule(radius, float(d)) for d in scales], dtype=np.int64)
    parts, order = [], []
    for rule in np.unique(rules, axis=0):
        chosen = np.flatnonzero((rules == rule).all(axis=1))
        offsets, weights = aperture_points(radius, rings=int(rule[0]), spokes=int(rule[1]))
        s, n = len(weights), len(expanded)
        per_block = max(1, min(POINTS_PER_BLOCK // s, PAIRS_PER_BLOCK // (s * max(n, 1))))
        for start in range(0, len(chosen), per_block):
            block = chosen[start : start + per_block]
            b = len(block)
            sub = (xy[block, None, :] + offsets[None, :, :]).reshape(-1, 2)
            points = SamplePoints(
                detector.to_world(sub),
                np.broadcast_to(detector.normal, (b * s, 3)).copy(),
                np.tile(weights, b) * detector.pixel_area_mm2,
                {},
            )
            t = transfer_matrix(
                points,
                expanded,
                backend,
                end_tolerance_mm=end_tolerance_mm,
                intensity_cutoff=scene.engine.intensity_cutoff,
                max_distance_mm=scene.engine.max_distance_mm,
            ).matrix
            if not detector.response.is_cosine:
                t = _with_response(t, points.positions_mm, expanded.positions_mm, detector)
            average = scipy.sparse.csr_array(
                (np.tile(weights, b), (np.repeat(np.arange(b), s), np.arange(b * s))),
                shape=(b, b * s),
            )
            t = average @ t
            if collapse is not None:
                t = t @ collapse
            parts.append(scipy.sparse.csr_array(t))
            order.append(block)
    stacked = scipy.sparse.csr_array(scipy.sparse.vstack(parts))
    return scipy.sparse.csr_array(stacked[np.argsort(np.concatenate(order))])


def _with_response(
    t: scipy.sparse.sparray,
    points_mm: NDArray[np.float64],
    emitters_mm: NDArray[np.float64],
    detector: Detector,
) -> scipy.sparse.csr_array:
    """Replace the cosine in each entry of ``t`` by the detector's response at its angle."""
    coo = scipy.sparse.coo_array(t)
    towards = emitters_mm[coo.col] - points_mm[coo.row]
    cos = (towards @ detector.normal) / np.linalg.norm(towards, axis=1)
    factor = np.zeros_like(cos)
    lit = cos > 0.0
    factor[lit] = detector.response.at(cos[lit]) / cos[lit]
    return scipy.sparse.csr_array((coo.data * factor, (coo.row, coo.col)), shape=coo.shape)


def _points(detector: Detector, xy_mm: ArrayLike | None) -> NDArray[np.float64]:
    """Return the points to read, (k, 2) plane coordinates: given, else the pixel centres."""
    if xy_mm is None:
        return detector.pixel_xy_mm()
    try:
        xy = np.asarray(xy_mm, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"xy_mm: expected a (k, 2) array of numbers, got {type(xy_mm).__name__}"
        raise InputError(msg) from None
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0 or not np.isfinite(xy).all():
        msg = f"xy_mm: expected a (k, 2) array of finite numbers, k >= 1; got shape {xy.shape}"
        raise InputError(msg)
    return xy


def detector_matrix(
    scene: Scene,
    detector: Detector,
    *,
    xy_mm: ArrayLike | None = None,
    backend: Backend | str | None = None,
) -> NDArray[np.float64]:
    """Return the reading at points of a detector per mW of each emitter's power.

    Not scaled by the drive: ``detector_matrix(...) @ (emitters.power_mw * drive)`` is the
    reading at the scene's levels. Cast by the skin's engine (shadows of the target and the
    occluders, extended LEDs, intensity cut-off, range), through the detector's angular
    response and averaged over its aperture; direct light only.

    Parameters
    ----------
    scene : Scene
        The ``n`` emitters, the surfaces that shadow, the engine settings.
    detector : Detector
        One of the scene's detectors, or any other.
    xy_mm : (k, 2) float, mm, optional
        Points of the detector's plane to read (plane coordinates); default its pixel
        centres, row by row (:meth:`twin.scene.detectors.Detector.pixel_xy_mm`).
    backend : Backend or str, optional
        A backend built over :func:`twin.engine.transfer.scene_triangles` of the scene's
        target and occluders (reused), or a backend's name (default: the scene's
        ``engine.backend``).

    Returns
    -------
    (k, n) float64, (mW/cm^2) per mW

    Raises
    ------
    InputError
        If ``xy_mm`` is not a (k, 2) array of finite numbers.
    """
    return detector_transfer(scene, detector, xy_mm=xy_mm, backend=backend).toarray()


def read_detectors(
    scene: Scene, *, backend: Backend | str | None = None, workers: int | None = None
) -> dict[str, DetectorReading]:
    """Read every detector of a scene at its drive levels.

    Parameters
    ----------
    scene : Scene
    backend : Backend or str, optional
        As for :func:`detector_matrix`.
    workers : int, optional
        Threads for ray casting, when the backend is built here.

    Returns
    -------
    dict of str to DetectorReading
        By detector name, in the scene's order (empty without detectors).
    """
    if not scene.detectors:
        return {}
    if backend is None or isinstance(backend, str):
        triangles = scene_triangles(scene.target, scene.occluders)
        backend = make_backend(backend or scene.engine.backend, triangles, workers=workers)
    power = emitter_power_mw(scene.emitters, scene.drive)
    out = {}
    for detector in scene.detectors:
        t = detector_transfer(scene, detector, backend=backend)
        out[detector.name] = DetectorReading(
            detector.name, detector.pixel_xy_mm(), np.asarray(t @ power), detector
        )
    return out
