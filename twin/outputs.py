"""Result files of ``twin render`` (design.md "File contracts").

``metrics.json``, ``samples.csv``, ``surface.ply``, ``emitters.csv`` and
``scene.resolved.yaml``. Every file is first written under a temporary name in the output
folder and renamed into place only when all of them are written, so a failure leaves no
half-written result.
"""

from __future__ import annotations

import io
import json
import math
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from twin.emitters import emitter_csv_text
from twin.errors import InputError
from twin.profiles import Isotropic, Tabulated

if TYPE_CHECKING:
    from twin.rendering import RenderResult

RESULT_FILES = (
    "metrics.json",
    "samples.csv",
    "surface.ply",
    "emitters.csv",
    "scene.resolved.yaml",
)


def _check_finite_json(value: Any, where: str = "metrics") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        msg = f"internal error: {where} is {value}; refusing to write non-finite metrics"
        raise RuntimeError(msg)
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite_json(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite_json(v, f"{where}[{i}]")


def _map_columns(result: RenderResult) -> dict[str, np.ndarray]:
    """Per-sample dose columns, named with their units."""
    cols = {"irradiance_mw_cm2": result.dose.total_irradiance_mw_cm2}
    for channel, e in result.dose.irradiance_mw_cm2.items():
        cols[f"irradiance_{channel}_mw_cm2"] = e
    return cols


def samples_csv(result: RenderResult) -> str:
    """``x_mm,y_mm,z_mm,nx,ny,nz,area_mm2,irradiance_mw_cm2`` plus one column per channel."""
    s = result.samples
    cols = _map_columns(result)
    table = np.column_stack([s.positions_mm, s.normals, s.areas_mm2, *cols.values()])
    out = io.StringIO()
    header = ["x_mm", "y_mm", "z_mm", "nx", "ny", "nz", "area_mm2", *cols]
    out.write(",".join(header) + "\n")
    np.savetxt(out, table, delimiter=",", fmt="%.9g")
    return out.getvalue()


def surface_ply(result: RenderResult) -> bytes:
    """Binary PLY of the target with the maps as vertex (or face, for centroid samples) data.

    Properties: normals, ``area_mm2``, ``irradiance_mw_cm2``, ``fluence_j_cm2``, one
    ``irradiance_<channel>_mw_cm2`` per channel, and ``roi`` (1 on the treated skin).
    """
    target = result.scene.target
    s = result.samples
    data = {
        "nx": s.normals[:, 0],
        "ny": s.normals[:, 1],
        "nz": s.normals[:, 2],
        "area_mm2": s.areas_mm2,
        **_map_columns(result),
        "fluence_j_cm2": result.dose.fluence_j_cm2(),
        "roi": result.roi.astype(np.float64),
    }
    on_vertices = result.scene.samples == "vertices"
    vertex_fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if on_vertices:
        vertex_fields += [(k, "<f4") for k in data]
    vertices = np.empty(len(target.vertices_mm), dtype=vertex_fields)
    vertices["x"], vertices["y"], vertices["z"] = target.vertices_mm.T
    face_fields = [("n", "u1"), ("v", "<i4", (3,))]
    if not on_vertices:
        face_fields += [(k, "<f4") for k in data]
    faces = np.empty(len(target.faces), dtype=face_fields)
    faces["n"] = 3
    faces["v"] = target.faces
    for k, v in data.items():
        (vertices if on_vertices else faces)[k] = v
    lines = [
        "ply",
        "format binary_little_endian 1.0",
        "comment twin dose maps; lengths in mm",
        f"element vertex {len(vertices)}",
    ]
    lines += [f"property float {name}" for name, *_ in vertex_fields]
    lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    lines += [f"property float {name}" for name, *_ in face_fields[2:]]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode() + vertices.tobytes() + faces.tobytes()


def resolved_scene_yaml(result: RenderResult) -> str:
    """The scene with every default filled, rendering the emitters from ``emitters.csv``."""
    spec = dict(result.scene.spec)
    emitters = {"file": "emitters.csv", "units": "mm", "channel": spec["emitters"]["channel"]}
    profiles = result.scene.emitters.profiles
    others = [p for p in profiles if isinstance(p, (Isotropic, Tabulated))]
    if others:
        emitters["profile"] = "isotropic" if isinstance(others[0], Isotropic) else others[0].source
    spec["emitters"] = emitters
    spec["engine"] = {**spec["engine"], "backend": result.transfer.backend}
    return yaml.safe_dump(spec, sort_keys=False)


def write_result(result: RenderResult, out_dir: Path) -> list[Path]:
    """Write every result file into ``out_dir`` (created if needed); return their paths."""
    _check_finite_json(result.metrics)
    contents: dict[str, bytes] = {
        "metrics.json": (json.dumps(result.metrics, indent=2) + "\n").encode(),
        "samples.csv": samples_csv(result).encode(),
        "surface.ply": surface_ply(result),
        "emitters.csv": emitter_csv_text(result.scene.emitters).encode(),
        "scene.resolved.yaml": resolved_scene_yaml(result).encode(),
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"--out {out_dir}: cannot create the output folder ({exc.strerror})"
        raise InputError(msg) from None
    staged: list[tuple[str, Path]] = []
    try:
        for name, blob in contents.items():
            tmp = out_dir / f".{name}.{uuid.uuid4().hex}.partial"
            staged.append((tmp, out_dir / name))
            with open(tmp, "xb") as fh:
                fh.write(blob)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        msg = f"--out {out_dir}: cannot write results ({exc.strerror})"
        raise InputError(msg) from None
    for tmp, final in staged:
        os.replace(tmp, final)
    return [final for _, final in staged]
