"""Scene files: the YAML that ties a target mesh, emitters, a mode and an exposure together.

Minimal form (README, "Scene files")::

    name: example
    target:
      mesh: path/to/head.ply        # or builtin:phantom-head
      units: mm
    emitters:
      file: path/to/leds.csv
      half_angle_deg: 30
    exposure_s: 1200

Every key is listed in :mod:`twin.scene.schema` and documented, with its default, in
README.md. Paths are relative to the scene file. Unknown keys are errors naming the nearest
valid key. A file whose target is a population holds many scenes:
:mod:`twin.scene.population`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin._data import scene_path
from twin._validation import as_mapping, as_positive, as_string, check_keys, read_yaml
from twin.devices.aperture import Aperture
from twin.devices.carriers import facing_emitters
from twin.devices.designs import Layout, package_area_mm2
from twin.devices.emitters import Emitters
from twin.devices.materials import (
    DEFAULT_INTERIOR,
    DEFAULT_OCCLUDER,
    SKIN,
    Materials,
    Reflectance,
    parse_reflectance,
)
from twin.errors import InputError
from twin.geometry.meshio import load_surface
from twin.geometry.surface import Surface
from twin.scene.checks import parse_checks
from twin.scene.detectors import parse_detectors
from twin.scene.emitters import frame_origin_mm, load_emitters, parse_drive
from twin.scene.model import EmitterFile, Scene, SceneSource
from twin.scene.schema import (
    BUILTIN_ANATOMIES,
    EYE_REGION,
    SAMPLES,
    TOP_KEYS,
    as_path,
    as_regions,
    parse_dose,
    parse_engine,
)
from twin.scene.target import load_occluder, load_target
from twin.tissue.settings import parse_tissue


def load_scene(path: str | Path | Mapping[str, Any], *, base: str | Path | None = None) -> Scene:
    """Read, validate and load a scene file, or a scene given as data.

    Every mesh and emitter file is read and checked here, so a bad scene fails before any
    computation, with one message naming the file and key. A population scene holds many
    scenes: load it with :func:`twin.scene.load_scenes`.

    Parameters
    ----------
    path : str, Path or mapping
        The scene file, a bundled scene's name (``"face-rigid-red"``), or the scene's keys as
        data (a sweep need not write YAML).
    base : str or Path, optional
        For data: the folder its relative paths are taken from (default: the working
        folder). A file's paths are taken from its own folder.

    Returns
    -------
    Scene

    Raises
    ------
    InputError
    """
    if isinstance(path, Mapping):
        return scene_from_dict(dict(path), base=Path(base or Path.cwd()).resolve())
    path = scene_path(path)
    return scene_from_dict(read_scene_file(path), base=path.resolve().parent, path=path)


def read_scene_file(path: str | Path) -> dict[str, Any]:
    """Return a scene file's YAML as data, unvalidated.

    Raises
    ------
    InputError
        When the file cannot be read, is not YAML within twin's limits (duplicate keys,
        deep nesting, alias bombs), or is not a mapping.
    """
    return as_mapping(read_yaml(Path(path), what="scene file"), name=str(path))


def scene_from_dict(data: dict[str, Any], *, base: Path, path: Path | None = None) -> Scene:
    """Validate and load a scene given as data.

    Parameters
    ----------
    data : dict
        The scene file's keys (:data:`twin.scene.schema.TOP_KEYS`).
    base : Path
        Folder that relative paths are taken from.
    path : Path, optional
        The scene file, named in messages; its stem is the default name.

    Returns
    -------
    Scene

    Raises
    ------
    InputError
    """
    src = str(path) if path else "scene"
    check_keys(data, TOP_KEYS, name=src)
    for key in ("target", "emitters", "exposure_s"):
        if key not in data:
            msg = f"{src}: missing required key {key!r}"
            raise InputError(msg)
    name = as_string(data.get("name", path.stem if path else "scene"), name=f"{src}: name")
    target_data = as_mapping(data["target"], name=f"{src}: target")
    target, variant, target_source = load_target(target_data, where=f"{src}: target", base=base)
    occluder_specs = data.get("occluders", [])
    if not isinstance(occluder_specs, list):
        msg = f"{src}: occluders: expected a list of meshes, got {type(occluder_specs).__name__}"
        raise InputError(msg)
    occluders = [
        load_occluder(o, where=f"{src}: occluders[{i}]", base=base, variant=variant)
        for i, o in enumerate(occluder_specs)
    ]
    mesh = target_source.mesh
    emitter_spec = as_mapping(data["emitters"], name=f"{src}: emitters")
    anatomy_name = mesh.removeprefix("builtin:") if mesh in BUILTIN_ANATOMIES else None
    origin = frame_origin_mm(
        emitter_spec.get("frame"),
        anatomy_name=anatomy_name,
        variant=variant,
        where=f"{src}: emitters.frame",
    )
    emitters, layout, apertures, emitter_source = load_emitters(
        emitter_spec,
        where=f"{src}: emitters",
        base=base,
        target=target,
        anatomy_name=anatomy_name,
        origin_mm=origin,
    )
    samples = target_data.get("samples", "vertices")
    if samples not in SAMPLES:
        msg = f"{src}: target.samples: expected 'vertices' or 'centroids', got {samples!r}"
        raise InputError(msg)
    treat = None
    if "treat" in target_data:
        treat = as_regions(target_data["treat"], name=f"{src}: target.treat", surface=target)
    default_exclude = [EYE_REGION] if EYE_REGION in target.regions else []
    exclude = as_regions(
        target_data.get("exclude", default_exclude), name=f"{src}: target.exclude", surface=target
    )
    exposure = as_positive(data["exposure_s"], name=f"{src}: exposure_s")
    drive = parse_drive(data.get("mode"), emitters, layout, where=f"{src}: mode")
    dose = parse_dose(data.get("dose"), where=f"{src}: dose")
    engine = parse_engine(data.get("engine"), where=f"{src}: engine")
    checks = parse_checks(data.get("checks"), name=f"{src}: checks")
    carrier, interior = _carrier(
        emitter_spec,
        layout,
        emitters,
        target,
        where=f"{src}: emitters",
        base=base,
        origin_mm=origin,
    )
    materials = Materials(
        target=parse_reflectance(
            target_data.get("reflectance", SKIN),
            name=f"{src}: target.reflectance",
            channels=emitters.channels,
            skin=True,
        ),
        occluders=tuple(
            parse_reflectance(
                o.get("reflectance", DEFAULT_OCCLUDER),
                name=f"{src}: occluders[{i}].reflectance",
                channels=emitters.channels,
            )
            for i, o in enumerate(occluder_specs)
        ),
        interior=interior,
    )
    tissue = parse_tissue(
        data.get("tissue"),
        where=f"{src}: tissue",
        channels=emitters.channels,
        regions=list(target.regions),
    )
    detectors = parse_detectors(
        data.get("detectors"), where=f"{src}: detectors", base=base, emitters=emitters
    )
    description = None
    if "description" in data:
        description = as_string(data["description"], name=f"{src}: description")
    source = SceneSource(
        target=target_source,
        occluders=tuple(s for _, s in occluders),
        emitters=emitter_source,
        description=description,
        checks=data.get("checks"),
    )
    return Scene(
        name=name,
        path=path,
        target=target,
        occluders=tuple(s for s, _ in occluders),
        emitters=emitters,
        drive=drive,
        exposure_s=exposure,
        source=source,
        variant=variant,
        layout=layout,
        apertures=apertures,
        emitting_area_mm2=_emitting_areas(layout, apertures, emitter_source),
        samples=samples,
        treat=treat,
        exclude=exclude,
        dose=dose,
        engine=engine,
        checks=checks,
        tissue=tissue,
        materials=materials,
        carrier=carrier,
        detectors=detectors,
    )


def _carrier(
    spec: dict[str, Any],
    layout: Layout | None,
    emitters: Emitters,
    target: Surface,
    *,
    where: str,
    base: Path,
    origin_mm: NDArray[np.float64],
) -> tuple[Surface | None, Reflectance | None]:
    """Return the emitters' carrier as worn (its inside towards the skin) and its material.

    A design's carrier (:meth:`twin.devices.designs.Layout.reflecting_surface`), or an
    emitter CSV's ``shell``: a mesh in the CSV's units, turned to face the LEDs, with
    ``interior`` (default ``white``), moved to the CSV's ``frame`` (``origin_mm``). Neither:
    no carrier.
    """
    if layout is not None:
        return layout.reflecting_surface(target), layout.interior
    if "shell" not in spec:
        if "interior" in spec:
            msg = f"{where}.interior: the emitters have no carrier; give its mesh as shell"
            raise InputError(msg)
        return None, None
    path = as_path(spec["shell"], name=f"{where}.shell", base=base)
    shell = load_surface(path, units=spec.get("units", "mm"))
    if origin_mm.any():
        shell = Surface(shell.vertices_mm + origin_mm, shell.faces, name=str(path))
    interior = parse_reflectance(
        spec.get("interior", DEFAULT_INTERIOR),
        name=f"{where}.interior",
        channels=emitters.channels,
    )
    return facing_emitters(shell, emitters.positions_mm, emitters.axes), interior


def _emitting_areas(
    layout: Layout | None, apertures: dict[str, Aperture], source: EmitterFile | None
) -> dict[str, float]:
    """Each channel's LED emitting area where known: the design's, an aperture's, stated."""
    if layout is not None:
        return dict(layout.emitting_area_mm2)
    areas = {c: package_area_mm2(a.shape, a.size_mm) for c, a in apertures.items()}
    return {**areas, **({} if source is None else source.emitting_area_mm2)}
