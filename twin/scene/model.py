"""The loaded scene: :class:`Scene`, what it was loaded from, and the scene as data again.

A :class:`Scene` holds every file loaded and every default filled in. Of what the scene file
said, it keeps as provenance (:class:`SceneSource`) only what the loaded data cannot tell:
where the target and occluders came from, the emitter CSV and how it was read, the
description and the ``checks:`` section as written. Everything else in
:meth:`Scene.to_spec` is derived from the typed fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.devices.aperture import Aperture
from twin.devices.designs import Layout
from twin.devices.emitters import DEFAULT_CHANNEL, Emitters
from twin.devices.materials import Materials
from twin.dose.maps import DoseSettings
from twin.geometry.surface import SampleKind, Surface
from twin.geometry.variants import Variant
from twin.scene.checks import Checks
from twin.scene.detectors import Detector
from twin.scene.schema import EngineSettings
from twin.tissue.settings import TissueSettings


@dataclass(frozen=True)
class TargetSource:
    """Where a scene's target came from.

    Attributes
    ----------
    mesh : str
        ``builtin:<name>``, or the mesh file's absolute path.
    units : str
        The mesh file's length unit (``mm`` for a built-in).
    flip_normals : bool
        Whether the mesh's normals were flipped on load.
    max_edge_mm : float or None, mm
        The refinement a built-in target was asked for (``None``: its default).
    alignment : tuple of tuple of float or None
        The 4 x 4 rigid transform that moved a scan into the anatomy frame (``None``: not
        aligned).
    regions_from : str or None
        The built-in anatomy a scan's regions were taken from.
    """

    mesh: str
    units: str = "mm"
    flip_normals: bool = False
    max_edge_mm: float | None = None
    alignment: tuple[tuple[float, ...], ...] | None = None
    regions_from: str | None = None

    @property
    def builtin(self) -> bool:
        """Whether the target is a built-in (``builtin:<name>``)."""
        return self.mesh.startswith("builtin:")

    def to_dict(self, variant: Variant | None) -> dict[str, Any]:
        """Return the ``target:`` keys that name the mesh, worn by ``variant`` (a built-in's)."""
        out: dict[str, Any] = {"mesh": self.mesh, "units": self.units}
        if self.builtin:
            out["max_edge_mm"] = self.max_edge_mm
            if variant is not None:
                out["variant"] = variant.to_dict()
        else:
            if self.alignment is not None:
                out["align"] = {"matrix": [list(row) for row in self.alignment]}
            if self.regions_from is not None:
                out["regions_from"] = self.regions_from
        out["flip_normals"] = self.flip_normals
        return out


@dataclass(frozen=True)
class OccluderSource:
    """Where an occluder came from.

    Attributes
    ----------
    mesh : str
        ``builtin:eye-shields``, or the mesh file's absolute path.
    units : str
        The mesh file's length unit (``mm`` for the built-in).
    flip_normals : bool
        Whether a mesh file's normals were flipped on load.
    """

    mesh: str
    units: str = "mm"
    flip_normals: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the occluder's entry in ``occluders:``."""
        if self.mesh.startswith("builtin:"):
            return {"mesh": self.mesh, "units": self.units}
        return {"mesh": self.mesh, "units": self.units, "flip_normals": self.flip_normals}


@dataclass(frozen=True)
class EmitterFile:
    """An emitter CSV and how it was read.

    Attributes
    ----------
    file : str
        The CSV's absolute path.
    units : str
        Its length unit.
    channel : str
        The channel of rows without a ``channel`` column (default ``led``).
    half_angle_deg : float or None, degrees
        The Lambertian half-angle of rows without one (``None``: not given).
    profile : str or None
        ``isotropic`` or a photometric file's absolute path (``None``: not given).
    wavelength_nm : float or None, nm
        The wavelength of rows without one (``None``: not given).
    profiles : dict of str to str
        Per channel, ``isotropic`` or a photometric file's absolute path.
    emitting_area_mm2 : dict of str to float, mm^2
        Per channel, the LEDs' emitting area the scene states (for the blue-light radiance).
    spectrum : dict of str to dict
        Per channel, the spectrum the scene gives (``Spectrum.to_dict``, paths absolute).
    shell : str or None
        The carrier mesh's absolute path (``None``: no carrier).
    frame : str or None
        The landmark of the built-in anatomy the CSV's (and shell's) coordinates start from
        (``None``: the anatomy frame itself).
    """

    file: str
    units: str = "mm"
    channel: str = DEFAULT_CHANNEL
    half_angle_deg: float | None = None
    profile: str | None = None
    wavelength_nm: float | None = None
    profiles: dict[str, str] = field(default_factory=dict)
    emitting_area_mm2: dict[str, float] = field(default_factory=dict)
    spectrum: dict[str, dict[str, Any]] = field(default_factory=dict)
    shell: str | None = None
    frame: str | None = None

    def to_dict(self, apertures: dict[str, Aperture]) -> dict[str, Any]:
        """Return the ``emitters:`` section, with the extended channels' ``apertures``."""
        out: dict[str, Any] = {"file": self.file, "units": self.units}
        if self.half_angle_deg is not None:
            out["half_angle_deg"] = self.half_angle_deg
        if self.profile is not None:
            out["profile"] = self.profile
        out["channel"] = self.channel
        if self.wavelength_nm is not None:
            out["wavelength_nm"] = self.wavelength_nm
        if self.profiles:
            out["profiles"] = dict(self.profiles)
        if apertures:
            out["apertures"] = {c: aperture_dict(a) for c, a in apertures.items()}
        if self.emitting_area_mm2:
            out["emitting_area_mm2"] = dict(self.emitting_area_mm2)
        if self.spectrum:
            out["spectrum"] = dict(self.spectrum)
        if self.shell is not None:
            out["shell"] = self.shell
        if self.frame is not None:
            out["frame"] = self.frame
        return out


@dataclass(frozen=True)
class SceneSource:
    """What a scene was loaded from that its loaded data cannot tell.

    Attributes
    ----------
    target : TargetSource
    occluders : tuple of OccluderSource
        One per :attr:`Scene.occluders`, in order.
    emitters : EmitterFile or None
        The emitter CSV (``None``: the emitters come from a design, :attr:`Scene.layout`, or
        were swapped in with :meth:`Scene.with_emitters`).
    description : str or None
        The scene file's ``description``.
    checks : dict or None
        The ``checks:`` section as written (parsed: :attr:`Scene.checks`).
    """

    target: TargetSource
    occluders: tuple[OccluderSource, ...] = ()
    emitters: EmitterFile | None = None
    description: str | None = None
    checks: dict[str, Any] | None = None


def aperture_dict(aperture: Aperture) -> dict[str, Any]:
    """Return an aperture as a scene file's ``apertures:`` entry."""
    return {"shape": aperture.shape, "size_mm": aperture.size_mm, "samples": aperture.samples}


@dataclass(frozen=True)
class Scene:
    """A validated scene, every file loaded and every default filled in.

    Attributes
    ----------
    name : str
    path : Path or None
        The scene file, when loaded from one.
    target : Surface
        The skin, mm, with its regions.
    occluders : tuple of Surface
        Extra surfaces that block light (eye shields, carrier shell).
    emitters : Emitters
    drive : dict of str to float
        Drive level of each channel, a fraction of full power in [0, 1].
    exposure_s : float, s
    source : SceneSource
        What the scene was loaded from (its provenance, for :meth:`to_spec`).
    variant : Variant or None
        The body shape of a built-in anatomy target (``None``: the base mesh, or a file).
    layout : Layout or None
        The design the emitters were generated from (``None`` for an emitter CSV).
    apertures : dict of str to Aperture
        Channels whose LEDs are extended emitters (their package aperture sampled).
    emitting_area_mm2 : dict of str to float, mm^2
        Per channel where known, the LEDs' emitting area: the design's LED package, an
        aperture, or the scene's ``emitters.emitting_area_mm2`` (the blue-light radiance).
    samples : {"vertices", "centroids"}
    treat : tuple of str or None
        Regions that make up the treated skin (``None``: the whole target).
    exclude : tuple of str
        Regions left out of the treated skin.
    dose : DoseSettings
    engine : EngineSettings
    checks : Checks
        Design rules and baseline tolerances for ``twin check`` (:mod:`twin.scene.checks`).
    tissue : TissueSettings or None
        Light in tissue (:mod:`twin.tissue`); ``None``: the surface only.
    materials : Materials
        What the skin, the occluders and the carrier's inside reflect
        (:mod:`twin.devices.materials`).
    carrier : Surface or None
        The emitters' carrier as worn, normals towards the skin: a design's, or an emitter
        CSV's ``shell`` (``None``: none). It returns light; it blocks none.
    detectors : tuple of Detector
        Flat grids of radiometer readings (:mod:`twin.scene.detectors`); they block no light.
    """

    name: str
    path: Path | None
    target: Surface
    occluders: tuple[Surface, ...]
    emitters: Emitters
    drive: dict[str, float]
    exposure_s: float
    source: SceneSource
    variant: Variant | None = None
    layout: Layout | None = None
    apertures: dict[str, Aperture] = field(default_factory=dict)
    emitting_area_mm2: dict[str, float] = field(default_factory=dict)
    samples: SampleKind = "vertices"
    treat: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    dose: DoseSettings = field(default_factory=DoseSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    checks: Checks = field(default_factory=Checks)
    tissue: TissueSettings | None = None
    materials: Materials = field(default_factory=Materials)
    carrier: Surface | None = None
    detectors: tuple[Detector, ...] = ()

    @property
    def interreflection(self) -> bool:
        """Whether renders solve the light surfaces return (``engine.interreflection``)."""
        wanted = self.engine.interreflection
        return self.materials.reflective if wanted is None else wanted

    @property
    def anatomy(self) -> str | None:
        """The built-in anatomy the target is or took its regions from (``None``: neither)."""
        target = self.source.target
        if target.builtin:
            return target.mesh.removeprefix("builtin:")
        return target.regions_from

    def with_emitters(
        self, emitters: Emitters, *, name: str, drive: dict[str, float] | None = None
    ) -> Scene:
        """Return this scene with other emitters, named ``name``: the one way to swap a layout.

        Neither the design (``layout``) nor the emitter CSV describes them any more, so both
        are dropped; only their channels keep an aperture. The carrier stays: the new
        emitters sit on the same device.

        Parameters
        ----------
        emitters : Emitters
            The new emitters.
        name : str
            The new scene's name.
        drive : dict of str to float, optional
            Each channel's drive level (default: this scene's levels of the channels they
            have).

        Returns
        -------
        Scene
        """
        if drive is None:
            drive = {c: v for c, v in self.drive.items() if c in emitters.channels}
        return dataclasses.replace(
            self,
            name=name,
            emitters=emitters,
            drive=drive,
            layout=None,
            apertures={c: a for c, a in self.apertures.items() if c in emitters.channels},
            emitting_area_mm2={
                c: a for c, a in self.emitting_area_mm2.items() if c in emitters.channels
            },
            source=dataclasses.replace(self.source, emitters=None),
        )

    def to_spec(self, *, emitters: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return the scene as scene-file data, every default filled and every path absolute.

        Loading it again (:func:`twin.scene.scene_from_dict`) gives this scene.

        Parameters
        ----------
        emitters : dict, optional
            The ``emitters:`` section to write (default: the design's, or the emitter CSV's;
            required once :meth:`with_emitters` has dropped both).

        Returns
        -------
        dict
            The scene file's keys in their documented order (what ``scene.resolved.yaml``
            holds).

        Raises
        ------
        ValueError
            When the emitters come from neither a design nor a file and ``emitters`` is not
            given.
        """
        if emitters is None:
            if self.layout is not None:
                emitters = self.layout.spec
            elif self.source.emitters is not None:
                emitters = self.source.emitters.to_dict(self.apertures)
                if self.materials.interior is not None:
                    emitters["interior"] = self.materials.interior.to_spec()
            else:
                msg = f"{self.name}: emitters: the emitters come from no design or file"
                raise ValueError(msg)
        source = self.source
        target = {
            **source.target.to_dict(self.variant),
            "samples": self.samples,
            **({"treat": list(self.treat)} if self.treat else {}),
            "exclude": list(self.exclude),
            "reflectance": self.materials.target.to_spec(),
        }
        occluders = [
            {**o.to_dict(), "reflectance": r.to_spec()}
            for o, r in zip(
                source.occluders,
                map(self.materials.occluder, range(len(source.occluders))),
                strict=True,
            )
        ]
        engine = self.engine
        return {
            "name": self.name,
            **({"description": source.description} if source.description is not None else {}),
            "target": target,
            "occluders": occluders,
            "emitters": emitters,
            "mode": dict(self.drive),
            "exposure_s": self.exposure_s,
            "dose": {
                "fluence_window_j_cm2": list(self.dose.fluence_window_j_cm2),
                "irradiance_limit_mw_cm2": self.dose.irradiance_limit_mw_cm2,
                "eye_ir_limit_mw_cm2": self.dose.eye_ir_limit_mw_cm2,
                "absorbed_limit_mw_cm2": self.dose.absorbed_limit_mw_cm2,
            },
            "engine": {
                "backend": engine.backend,
                "intensity_cutoff": engine.intensity_cutoff,
                "max_distance_mm": None
                if math.isinf(engine.max_distance_mm)
                else engine.max_distance_mm,
                "interreflection": engine.interreflection,
                "patch_mm": engine.patch_mm,
            },
            **({"tissue": dict(self.tissue.spec)} if self.tissue is not None else {}),
            **({"detectors": [d.to_spec() for d in self.detectors]} if self.detectors else {}),
            **({"checks": source.checks} if source.checks is not None else {}),
        }
