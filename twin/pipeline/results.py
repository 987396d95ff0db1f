"""Result files of ``twin render`` (README, "Outputs of twin render").

``metrics.json``, ``samples.csv``, ``surface.ply``, ``emitters.csv`` and
``scene.resolved.yaml``, and ``detector_<name>.csv`` per detector; for a population scene,
one such folder per member plus ``population.json`` and ``population.csv``. The folder is
published whole (:func:`twin.files.publish`): the new set is written beside it and swapped in,
so a failure or a kill leaves the old set, never a mix.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from twin.devices.emitters import emitter_csv_text
from twin.devices.profiles import Isotropic, Tabulated
from twin.files import check_finite_json, publish, write_atomic
from twin.geometry.export import ply_bytes
from twin.scene.model import aperture_dict

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult

RESULT_FILES = (
    "metrics.json",
    "samples.csv",
    "surface.ply",
    "emitters.csv",
    "scene.resolved.yaml",
)
#: Written beside them when the scene's LEDs sit on a carrier: the carrier as worn, its
#: normals towards the skin (the ``shell`` of ``scene.resolved.yaml``).
CARRIER_FILE = "carrier.ply"
#: Written beside them for each of the scene's detectors (``fnmatch`` pattern).
DETECTOR_FILES = "detector_*.csv"
#: Every file twin may write in a render folder (names and ``fnmatch`` patterns): one a
#: render leaves out is not kept.
RESULT_NAMES = (*RESULT_FILES, CARRIER_FILE, DETECTOR_FILES)


def detector_file(name: str) -> str:
    """Return the file a detector's reading is written to: ``detector_<name>.csv``."""
    return DETECTOR_FILES.replace("*", name)


def map_columns(result: RenderResult) -> dict[str, np.ndarray]:
    """Per-sample dose columns, named with their units.

    The irradiance, all channels together and each channel (all the light: direct and
    returned by skin and device); where inter-reflection was solved, the direct light alone
    (``irradiance_direct_mw_cm2``, ``irradiance_direct_<channel>_mw_cm2``); with light in
    tissue, the fluence rate at each depth (``fluence_rate_0.5mm_mw_cm2``), together and per
    channel.
    """
    dose = result.dose
    cols = {"irradiance_mw_cm2": dose.total_irradiance_mw_cm2}
    for channel, e in dose.irradiance_mw_cm2.items():
        cols[f"irradiance_{channel}_mw_cm2"] = e
    if dose.direct_irradiance_mw_cm2:
        direct = dose.direct_irradiance_mw_cm2
        cols["irradiance_direct_mw_cm2"] = np.sum(list(direct.values()), axis=0)
        for channel, e in direct.items():
            cols[f"irradiance_direct_{channel}_mw_cm2"] = e
    tissue, settings = result.tissue, result.scene.tissue
    if tissue is not None and settings is not None:
        labels = settings.depth_labels
        total = tissue.total_fluence_rate_mw_cm2
        for i, depth in enumerate(labels):
            cols[f"fluence_rate_{depth}mm_mw_cm2"] = total[:, i]
        for channel, phi in tissue.fluence_rate_mw_cm2.items():
            for i, depth in enumerate(labels):
                cols[f"fluence_rate_{channel}_{depth}mm_mw_cm2"] = phi[:, i]
    return cols


def samples_csv(result: RenderResult) -> str:
    """``x_mm,y_mm,z_mm,nx,ny,nz,area_mm2``, then the dose columns (:func:`map_columns`)."""
    s = result.samples
    cols = map_columns(result)
    table = np.column_stack([s.positions_mm, s.normals, s.areas_mm2, *cols.values()])
    out = io.StringIO()
    header = ["x_mm", "y_mm", "z_mm", "nx", "ny", "nz", "area_mm2", *cols]
    out.write(",".join(header) + "\n")
    np.savetxt(out, table, delimiter=",", fmt="%.9g")
    return out.getvalue()


def surface_ply(result: RenderResult) -> bytes:
    """Binary PLY of the target with the maps as vertex (or face, for centroid samples) data.

    Properties: normals, ``area_mm2``, ``irradiance_mw_cm2``, ``fluence_j_cm2``, one
    ``irradiance_<channel>_mw_cm2`` per channel, the fluence rate at each depth with light in
    tissue, and ``roi`` (1 on the treated skin).
    """
    s = result.samples
    data = {
        "nx": s.normals[:, 0],
        "ny": s.normals[:, 1],
        "nz": s.normals[:, 2],
        "area_mm2": s.areas_mm2,
        **map_columns(result),
        "fluence_j_cm2": result.dose.fluence_j_cm2(),
        "roi": result.roi.astype(np.float64),
    }
    on_vertices = result.scene.samples == "vertices"
    return ply_bytes(
        result.scene.target,
        vertex_data=data if on_vertices else {},
        face_data={} if on_vertices else data,
        comments=["twin dose maps; lengths in mm"],
    )


def resolved_scene_yaml(result: RenderResult) -> str:
    """Return the scene with every default filled, rendering the emitters from ``emitters.csv``.

    Lambertian LEDs carry their half-angle in the CSV; tabulated and isotropic profiles are
    named per channel (``profiles``), extended emitters per channel (``apertures``), the LEDs'
    emitting areas where known (``emitting_area_mm2``), and the spectra that are not a line
    at the CSV's wavelength (``spectrum``: a Gaussian's peak and FWHM, a table's file).
    """
    scene = result.scene
    emitters: dict[str, Any] = {"file": "emitters.csv", "units": "mm"}
    profiles = {}
    for channel in scene.emitters.channels:
        index = scene.emitters.profile_index[scene.emitters.channel == channel][0]
        profile = scene.emitters.profiles[index]
        if isinstance(profile, Isotropic):
            profiles[channel] = "isotropic"
        elif isinstance(profile, Tabulated):
            profiles[channel] = profile.source
    if profiles:
        emitters["profiles"] = profiles
    if scene.apertures:
        emitters["apertures"] = {c: aperture_dict(a) for c, a in scene.apertures.items()}
    if scene.emitting_area_mm2:
        emitters["emitting_area_mm2"] = dict(scene.emitting_area_mm2)
    spectra = {c: scene.emitters.spectra.get(c) for c in scene.emitters.channels}
    spectrum = {c: s.to_dict() for c, s in spectra.items() if s is not None and not s.is_line}
    if spectrum:
        emitters["spectrum"] = spectrum
    if scene.carrier is not None and scene.materials.interior is not None:
        emitters["shell"] = CARRIER_FILE
        emitters["interior"] = scene.materials.interior.to_spec()
    spec = scene.to_spec(emitters=emitters)
    spec["engine"]["backend"] = result.transfer.backend
    return yaml.safe_dump(spec, sort_keys=False)


def write_result(result: RenderResult, out_dir: Path) -> list[Path]:
    """Write every result file into ``out_dir`` (created if needed); return their paths.

    The folder is published whole (:func:`twin.files.publish`): the files of :data:`RESULT_NAMES`
    an earlier render left and this one does not write go, other files there are kept.
    """
    check_finite_json(result.metrics)
    contents: dict[str, bytes] = {
        "metrics.json": (json.dumps(result.metrics, indent=2) + "\n").encode(),
        "samples.csv": samples_csv(result).encode(),
        "surface.ply": surface_ply(result),
        "emitters.csv": emitter_csv_text(result.scene.emitters).encode(),
        "scene.resolved.yaml": resolved_scene_yaml(result).encode(),
    }
    shell = result.scene.carrier
    if shell is not None:
        contents[CARRIER_FILE] = ply_bytes(
            shell, vertex_data={}, face_data={}, comments=[f"twin {shell.name}; lengths in mm"]
        )
    for name, reading in result.detectors.items():
        contents[detector_file(name)] = reading.csv_text().encode()
    with publish(out_dir, name="out_dir", owned=RESULT_NAMES) as folder:
        write_atomic({folder / name: blob for name, blob in contents.items()}, name="out_dir")
    return [out_dir / name for name in contents]
