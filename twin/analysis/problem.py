"""The dose problem the optimisers solve: a transfer matrix and what a drive of it is judged by.

The irradiance of a layout is linear in how hard each emitter is driven, ``E = T diag(P) d``
(docs/physics.md §2.5): ``T`` the transfer matrix, ``P`` each emitter's full radiant power
and ``d`` the **emitter drive**, one level in [0, 1] per emitter. A scene states its drive
per channel instead, as **channel levels** (``Scene.drive``, a dict of channel to level);
:attr:`DoseProblem.mode_drive` turns those into an emitter drive. Every name in
:mod:`twin.analysis` keeps the two apart: ``channel_levels`` is always the dict, an
``emitter_drive`` always the ``(n,)`` array.

A :class:`DoseProblem` holds only arrays and settings, so the optimisers never see a scene
or a render: :meth:`DoseProblem.from_render` builds one from a render, and tests build small
ones in memory.

The dose aimed at may lie at depth (:class:`DepthObjective`): the fluence rate in a band of
depth is linear in the drive too, ``phi = A diag(P) d`` with ``A`` the band's fluence-rate
matrix (:func:`twin.tissue.depth.fluence_rate_matrix`), so the same optimisers aim ``A``
at the band's window while the safety limits stay on the surface's ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._validation import as_positive, check_finite
from twin.dose.hazards import blue_per_emitter, counts_as_ir, led_blue_radiance_w_m2_sr
from twin.dose.maps import DoseSettings, check_drive
from twin.errors import InputError
from twin.tissue.depth import fluence_rate_matrix
from twin.tissue.settings import ROI

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult
    from twin.scene import Scene


@dataclass(frozen=True)
class DepthObjective:
    """The dose in a band of depth under the skin, aimed at instead of the surface dose.

    Attributes
    ----------
    matrix : (k, n) scipy sparse array of float64, (mW/cm^2) per mW
        The fluence rate in the band under each point per mW of each emitter (the band's
        column of :func:`twin.tissue.depth.fluence_rate_matrix`).
    band_mm : (float, float), mm
        Top and bottom of the band.
    window_j_cm2 : (float, float), J/cm^2
        The fluence window in the band.
    """

    matrix: Any
    band_mm: tuple[float, float]
    window_j_cm2: tuple[float, float]

    @property
    def label(self) -> str:
        """The band as text: ``0.5-1.5 mm``."""
        return f"{self.band_mm[0]:g}-{self.band_mm[1]:g} mm"


@dataclass(frozen=True)
class DoseProblem:
    """A layout's transfer matrix with everything a drive of it is judged by.

    Parameters and attributes are the same; ``k`` is the number of skin sample points, ``n``
    the number of emitters.

    Attributes
    ----------
    matrix : (k, n) scipy sparse array of float64, (mW/cm^2) per mW
        The transfer matrix: irradiance at each point per mW of each emitter (dense input
        is converted).
    power_mw : (n,) float64, mW
        Each emitter's radiant power at full drive.
    channel : (n,) str
        Each emitter's channel.
    channel_levels : dict of str to float
        Each channel's drive level in [0, 1] in the scene's mode (``Scene.drive``); a
        channel at 0 (or not named) is off and is not optimised.
    ir : (n,) bool
        The emitters whose light counts toward the IR-eye limit
        (:func:`twin.dose.hazards.counts_as_ir` of their channel's wavelength).
    areas_mm2 : (k,) float64, mm^2
        The skin area each point stands for.
    roi : (k,) bool
        The treated skin.
    dose : DoseSettings
        The fluence window and the irradiance and IR-eye limits.
    exposure_s : float, s
        Exposure time, > 0.
    eye_matrix : (e, n) sparse, (mW/cm^2) per mW, optional
        What a detector at each eye point facing each emitter reads, shadows kept
        (:class:`twin.pipeline.eye.EyeDetector`): held to the IR-eye limit and, without
        emitting areas, the blue-light small-source bound (default: no eye points).
    blue_weight : (n,) float64, optional
        B(lambda) of each emitter's wavelength (default, or empty: 0, no blue-light hazard).
    blue_radiance_w_m2_sr_per_mw : (n,) float64, W m^-2 sr^-1 per mW, optional
        Each emitter's largest blue-weighted radiance toward the eye points per mW, where
        every blue emitter's emitting area is known: held to the large-source limit
        (``None``: the small-source bound on ``eye_matrix`` applies instead).
    regions : dict of str to (k,) bool, optional
        Named skin regions, for drive groups by zone (default: none).
    ids : (n,) str, optional
        Emitter ids, which name per-emitter drive groups (default ``"0", "1", ...``).
    positions_mm : (n, 3) float64, mm, optional
        Emitter positions, which lay out driver strings (``None``: no driver strings).
    at_depth : DepthObjective, optional
        Aim the dose in this band of depth (its matrix, the same shape as ``matrix``, and its
        window) instead of at the surface; the irradiance and eye limits stay on ``matrix``
        (``None``: the surface dose and ``dose.fluence_window_j_cm2``).
    name : str
        Names the problem (the wearer) in messages.

    Raises
    ------
    InputError
        Naming the field: an array without one entry per point or per emitter, a matrix,
        power or area that is not finite, a channel level for no channel or outside
        [0, 1], an eye matrix without one column per emitter, or an ``exposure_s`` that is
        not a finite number > 0; a depth matrix of another shape than ``matrix``.
    """

    matrix: Any
    power_mw: NDArray[np.float64]
    channel: NDArray[np.str_]
    channel_levels: dict[str, float]
    ir: NDArray[np.bool_]
    areas_mm2: NDArray[np.float64]
    roi: NDArray[np.bool_]
    dose: DoseSettings
    exposure_s: float
    eye_matrix: Any = None
    blue_weight: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    blue_radiance_w_m2_sr_per_mw: NDArray[np.float64] | None = None
    regions: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    ids: NDArray[np.str_] | None = None
    positions_mm: NDArray[np.float64] | None = None
    at_depth: DepthObjective | None = None
    name: str = "dose problem"

    def __post_init__(self) -> None:
        """Check the fields and hold them as arrays of their documented shapes."""
        matrix = self.matrix
        if not scipy.sparse.issparse(matrix):
            matrix = scipy.sparse.csc_array(_shaped(matrix, None, np.float64, name="matrix"))
        if matrix.ndim != 2:
            msg = f"DoseProblem.matrix: expected a (points, emitters) matrix, got {matrix.shape}"
            raise InputError(msg)
        k, n = matrix.shape
        ids = np.arange(n).astype(str) if self.ids is None else self.ids
        channel = _shaped(self.channel, (n,), str, name="channel")
        values = {
            "matrix": matrix,
            "power_mw": _shaped(self.power_mw, (n,), np.float64, name="power_mw"),
            "channel": channel,
            "channel_levels": check_drive(
                self.channel_levels,
                list(dict.fromkeys(channel.tolist())),
                name="DoseProblem.channel_levels",
            ),
            "ir": _shaped(self.ir, (n,), bool, name="ir"),
            "areas_mm2": _shaped(self.areas_mm2, (k,), np.float64, name="areas_mm2"),
            "roi": _shaped(self.roi, (k,), bool, name="roi"),
            "eye_matrix": scipy.sparse.csr_array(
                (0, n) if self.eye_matrix is None else self.eye_matrix, dtype=np.float64
            ),
            "blue_weight": _shaped(
                np.zeros(n) if not np.size(self.blue_weight) else self.blue_weight,
                (n,),
                np.float64,
                name="blue_weight",
            ),
            "regions": {
                key: _shaped(mask, (k,), bool, name=f"regions[{key!r}]")
                for key, mask in self.regions.items()
            },
            "ids": _shaped(ids, (n,), str, name="ids"),
            "exposure_s": as_positive(self.exposure_s, name="DoseProblem.exposure_s"),
        }
        if self.positions_mm is not None:
            values["positions_mm"] = _shaped(
                self.positions_mm, (n, 3), np.float64, name="positions_mm"
            )
        if self.blue_radiance_w_m2_sr_per_mw is not None:
            values["blue_radiance_w_m2_sr_per_mw"] = _shaped(
                self.blue_radiance_w_m2_sr_per_mw,
                (n,),
                np.float64,
                name="blue_radiance_w_m2_sr_per_mw",
            )
        if self.at_depth is not None:
            depth = self.at_depth
            deep = depth.matrix
            if not scipy.sparse.issparse(deep):
                deep = _shaped(deep, None, np.float64, name="at_depth.matrix")
            if deep.shape != (k, n):
                msg = f"DoseProblem.at_depth.matrix: expected shape {(k, n)}, got {deep.shape}"
                raise InputError(msg)
            deep = scipy.sparse.csc_array(deep, dtype=np.float64)
            check_finite(deep.data, name="DoseProblem.at_depth.matrix")
            values["at_depth"] = DepthObjective(deep, depth.band_mm, depth.window_j_cm2)
        if values["eye_matrix"].shape[1] != n:
            msg = (
                f"DoseProblem.eye_matrix: expected one column per emitter ({n}), got "
                f"{values['eye_matrix'].shape[1]}"
            )
            raise InputError(msg)
        for key in ("matrix", "power_mw", "areas_mm2", "eye_matrix", "blue_weight"):
            check_finite(getattr(values[key], "data", values[key]), name=f"DoseProblem.{key}")
        for key, value in values.items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_render(cls, result: RenderResult, *, at_depth: bool = False) -> DoseProblem:
        """Build the dose problem of a render: its transfer matrix, treated skin and scene.

        Parameters
        ----------
        result : RenderResult
        at_depth : bool
            Aim the dose in the scene's ``tissue.targets.roi`` band (its fluence-rate matrix
            and window, :class:`DepthObjective`) instead of at the surface.

        Returns
        -------
        DoseProblem
            Named after the render's scene; ``channel_levels`` are the scene's mode, the eye
            matrix its eye detector's facing readings (if any).

        Raises
        ------
        InputError
            With ``at_depth``, when the scene has no ``tissue.targets.roi`` band.
        """
        scene, samples = result.scene, result.samples
        emitters = scene.emitters
        wavelength = emitters.spectra
        weight, area = blue_per_emitter(emitters.channel, wavelength, scene.emitting_area_mm2)
        detector = result.eye
        radiance = None
        if detector is not None and area is not None:
            radiance = led_blue_radiance_w_m2_sr(
                detector.facing,
                detector.points.positions_mm,
                emitters.positions_mm,
                blue_weight=weight,
                emitting_area_mm2=area,
            )
        return cls(
            matrix=result.transfer.total,
            power_mw=emitters.power_mw,
            channel=emitters.channel,
            channel_levels=dict(scene.drive),
            ir=np.array([counts_as_ir(wavelength.get(str(c))) for c in emitters.channel]),
            areas_mm2=samples.areas_mm2,
            roi=result.roi,
            dose=scene.dose,
            exposure_s=scene.exposure_s,
            eye_matrix=None if detector is None else detector.facing,
            blue_weight=weight,
            blue_radiance_w_m2_sr_per_mw=radiance,
            regions=samples.regions,
            ids=emitters.ids,
            positions_mm=emitters.positions_mm,
            at_depth=depth_objective(result) if at_depth else None,
            name=scene.name,
        )

    @property
    def window_j_cm2(self) -> tuple[float, float]:
        """The fluence window aimed at: the depth band's, else ``dose.fluence_window_j_cm2``."""
        if self.at_depth is None:
            return self.dose.fluence_window_j_cm2
        return self.at_depth.window_j_cm2

    @property
    def mode_drive(self) -> NDArray[np.float64]:
        """(n,) float64: the emitter drive of the channel levels (each at its channel's)."""
        return np.array([self.channel_levels.get(str(c), 0.0) for c in self.channel])

    @property
    def has_eyes(self) -> bool:
        """Whether the problem has eye points (and so eye limits)."""
        return bool(self.eye_matrix.shape[0])

    def eye_ir_irradiance_mw_cm2(self, emitter_drive: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the IR irradiance at the eye-region points for an emitter drive.

        Parameters
        ----------
        emitter_drive : (n,) float64
            Each emitter's drive level in [0, 1].

        Returns
        -------
        (e,) float64, mW/cm^2
            What a detector facing each emitter reads at each eye point, from the emitters
            that count as IR.
        """
        return self.eye_matrix @ (self.power_mw * emitter_drive * self.ir)


def check_depth_target(scene: Scene) -> None:
    """Raise unless the scene has a ``tissue.targets.roi`` band to aim the dose at.

    Raises
    ------
    InputError
        Naming the scene file and what its ``tissue:`` section holds instead.
    """
    settings = scene.tissue
    if settings is None or ROI not in settings.targets:
        found = (
            "no tissue: section"
            if settings is None
            else f"tissue.targets {sorted(settings.targets) or 'empty'}"
        )
        msg = (
            f"{scene.path or scene.name}: at_depth: expected a tissue.targets.roi band "
            f"(tissue: {{targets: {{roi: {{depth_mm: [top, bottom]}}}}}}), found {found}"
        )
        raise InputError(msg)


def depth_objective(result: RenderResult) -> DepthObjective:
    """Return the ``tissue.targets.roi`` band of a render as a :class:`DepthObjective`.

    Raises
    ------
    InputError
        When the scene has no ``tissue:`` section or no ``roi`` target in it.
    """
    scene, tissue = result.scene, result.tissue
    check_depth_target(scene)
    settings = scene.tissue
    assert settings is not None and tissue is not None  # a tissue: section renders maps
    target = settings.targets[ROI]
    matrix = fluence_rate_matrix(
        tissue.shares,
        tissue.kernels,
        site_index=tissue.site_index,
        channel_of_emitter=scene.emitters.channel,
        depth=len(settings.depths_mm) + list(settings.targets).index(ROI),
        blur=tissue.blur,
        indirect=tissue.indirect,
    )
    window = target.fluence_window_j_cm2 or scene.dose.fluence_window_j_cm2
    return DepthObjective(matrix, target.depth_mm, window)


def _shaped(value: Any, shape: tuple[int, ...] | None, dtype: Any, *, name: str) -> NDArray[Any]:
    """Return ``value`` as an array of ``shape`` (any) and ``dtype``, or raise naming it."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        expected = np.dtype(dtype).name
        msg = f"DoseProblem.{name}: expected an array of {expected}, got {type(value).__name__}"
        raise InputError(msg) from None
    if shape is not None and arr.shape != shape:
        msg = f"DoseProblem.{name}: expected shape {shape}, got {arr.shape}"
        raise InputError(msg)
    return arr
