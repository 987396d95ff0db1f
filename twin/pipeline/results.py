"""Result files of ``twin render`` (design.md "File contracts").

``metrics.json``, ``samples.csv``, ``surface.ply``, ``emitters.csv`` and
``scene.resolved.yaml``; for a population scene, one such folder per member plus
``population.json`` and ``population.csv``. Every file is first written under a temporary
name in the output folder and renamed into place only when all of them are written, so a
failure leaves no half-written result (:func:`write_atomic`, which every command that writes
files uses).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh
import yaml

from twin.devices.emitters import emitter_csv_text
from twin.devices.profiles import Isotropic, Tabulated
from twin.errors import InputError
from twin.geometry.surface import Surface

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult
    from twin.scene.load import Scene

RESULT_FILES = (
    "metrics.json",
    "samples.csv",
    "surface.ply",
    "emitters.csv",
    "scene.resolved.yaml",
)
#: Written beside them when the scene's LEDs sit on a rigid carrier: its shell as worn.
CARRIER_FILE = "carrier.ply"


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


def ply_bytes(
    surface: Surface,
    *,
    vertex_data: dict[str, np.ndarray],
    face_data: dict[str, np.ndarray],
    comments: list[str],
) -> bytes:
    """Binary little-endian PLY of ``surface`` (mm) with extra per-vertex and per-face data.

    Float data is written as ``float``, integer data as ``int``.
    """

    def fields(data: dict[str, np.ndarray]) -> list[tuple[str, str]]:
        return [
            (k, "<i4" if np.issubdtype(v.dtype, np.integer) else "<f4") for k, v in data.items()
        ]

    vertex_fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), *fields(vertex_data)]
    vertices = np.empty(len(surface.vertices_mm), dtype=vertex_fields)
    vertices["x"], vertices["y"], vertices["z"] = surface.vertices_mm.T
    face_fields = [("n", "u1"), ("v", "<i4", (3,)), *fields(face_data)]
    faces = np.empty(len(surface.faces), dtype=face_fields)
    faces["n"] = 3
    faces["v"] = surface.faces
    for table, data in ((vertices, vertex_data), (faces, face_data)):
        for k, v in data.items():
            table[k] = v
    ply_type = {"<f4": "float", "<i4": "int"}
    lines = ["ply", "format binary_little_endian 1.0", *(f"comment {c}" for c in comments)]
    lines.append(f"element vertex {len(vertices)}")
    lines += [f"property {ply_type[t]} {name}" for name, t in vertex_fields]
    lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    lines += [f"property {ply_type[t]} {name}" for name, t, *_ in face_fields[2:]]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode() + vertices.tobytes() + faces.tobytes()


def surface_ply(result: RenderResult) -> bytes:
    """Binary PLY of the target with the maps as vertex (or face, for centroid samples) data.

    Properties: normals, ``area_mm2``, ``irradiance_mw_cm2``, ``fluence_j_cm2``, one
    ``irradiance_<channel>_mw_cm2`` per channel, and ``roi`` (1 on the treated skin).
    """
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
    return ply_bytes(
        result.scene.target,
        vertex_data=data if on_vertices else {},
        face_data={} if on_vertices else data,
        comments=["twin dose maps; lengths in mm"],
    )


def resolved_scene_yaml(result: RenderResult) -> str:
    """The scene with every default filled, rendering the emitters from ``emitters.csv``.

    Lambertian LEDs carry their half-angle in the CSV; tabulated and isotropic profiles are
    named per channel (``profiles``), extended emitters per channel (``apertures``).
    """
    scene = result.scene
    spec = dict(scene.spec)
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
        emitters["apertures"] = {
            c: {"shape": a.shape, "size_mm": a.size_mm, "samples": a.samples}
            for c, a in scene.apertures.items()
        }
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
    shell = None if result.scene.layout is None else result.scene.layout.worn_shell()
    if shell is not None:
        contents[CARRIER_FILE] = ply_bytes(
            shell, vertex_data={}, face_data={}, comments=[f"twin {shell.name}; lengths in mm"]
        )
    paths = write_atomic({out_dir / name: blob for name, blob in contents.items()}, option="--out")
    if shell is None:
        remove_stale(out_dir, [CARRIER_FILE])
    return paths


def check_writable(path: Path, *, option: str, folder: bool = False) -> None:
    """Raise unless ``path`` can be written as a file (with ``folder``: as a folder).

    Parameters
    ----------
    path : Path
        Where the output goes; it and its missing parent folders need not exist.
    option : str
        The argument it came from (``--out``), named in the message.
    folder : bool
        The output is a folder, not a file.

    Raises
    ------
    InputError
        If a folder stands where the file goes (or a file where the folder goes), or a file
        where one of its parent folders must go.
    """
    expected, found = ("folder", "file") if folder else ("file", "folder")
    try:
        exists, parent = path.exists(), next((p for p in path.parents if p.exists()), None)
    except OSError as exc:  # a name too long, say
        msg = f"{option} {path}: cannot write ({exc.strerror})"
        raise InputError(msg) from None
    if exists and path.is_dir() != folder:
        msg = f"{option} {path}: expected a {expected}, found a {found}"
        raise InputError(msg)
    if parent is not None and not parent.is_dir():
        msg = f"{option} {path}: {parent} is a file, not a folder"
        raise InputError(msg)


def write_atomic(files: Mapping[Path, bytes | str], *, option: str) -> list[Path]:
    """Write every file, all or nothing; return their paths.

    Each file is written under a temporary name beside it (its folder created as needed) and
    renamed into place once all of them are written: a failure leaves no partial output.
    Text is written as UTF-8.

    Parameters
    ----------
    files : mapping of Path to bytes or str
        Each file's path and content.
    option : str
        The argument the paths came from (``--out``), named in the message.

    Raises
    ------
    InputError
        If a path cannot be written (see :func:`check_writable`, or the system's reason).
    """
    for path in files:
        check_writable(path, option=option)
    staged: list[Path] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append(path.with_name(f".twin-{uuid.uuid4().hex}.partial"))
            with open(staged[-1], "xb") as fh:
                fh.write(data.encode() if isinstance(data, str) else data)
    except OSError as exc:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        msg = f"{option} {path}: cannot write ({exc.strerror})"
        raise InputError(msg) from None
    for tmp, path in zip(staged, files, strict=True):
        os.replace(tmp, path)
    return list(files)


def remove_stale(out_dir: Path, names: Iterable[str]) -> None:
    """Remove files twin wrote into ``out_dir`` before (``names``, relative to it) that this
    run does not write again, and the folders among them that this leaves empty; nothing
    else in ``out_dir`` is touched."""
    folders = set()
    for name in names:
        path = out_dir / name
        if path.is_file():
            path.unlink()
        if path.parent != out_dir:
            folders.add(path.parent)
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


#: Mesh formats ``twin anatomy export`` writes (by file suffix).
EXPORT_FORMATS = ("ply", "obj", "stl", "off", "glb", "gltf")


def export_surface(surface: Surface, path: Path) -> None:
    """Write ``surface`` (mm) in the format its suffix names (see ``EXPORT_FORMATS``).

    PLY files also carry a per-vertex ``region`` label: the index of the vertex's region in
    the names listed by the ``comment regions:`` header line, -1 for none. Written under a
    temporary name, then renamed.
    """
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in EXPORT_FORMATS:
        msg = (
            f"--out {path}: unknown mesh format {suffix!r}; "
            f"expected one of {', '.join(EXPORT_FORMATS)}"
        )
        raise InputError(msg)
    if suffix == "ply":
        label = np.full(len(surface.vertices_mm), -1, dtype=np.int32)
        for i, idx in enumerate(surface.regions.values()):
            label[idx] = i
        data = ply_bytes(
            surface,
            vertex_data={"region": label},
            face_data={},
            comments=["lengths in mm", "regions: " + " ".join(surface.regions)],
        )
    elif suffix == "gltf":  # one self-contained file: the buffer embedded as a data URI
        mesh = trimesh.Trimesh(surface.vertices_mm, surface.faces, process=False)
        files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(mesh), embed_buffers=True)
        data = files["model.gltf"]
    else:
        mesh = trimesh.Trimesh(surface.vertices_mm, surface.faces, process=False)
        blob = trimesh.exchange.export.export_mesh(mesh, file_obj=None, file_type=suffix)
        data = blob.encode() if isinstance(blob, str) else blob
    write_atomic({path: data}, option="--out")


#: Metrics summarised across a population: column name and path in ``metrics.json``.
POPULATION_METRICS = (
    ("mean_irradiance_mw_cm2", ("roi", "total", "irradiance_mw_cm2", "mean")),
    ("p5_irradiance_mw_cm2", ("roi", "total", "irradiance_mw_cm2", "p5")),
    ("max_irradiance_mw_cm2", ("roi", "total", "irradiance_mw_cm2", "max")),
    ("mean_fluence_j_cm2", ("roi", "total", "fluence_j_cm2", "mean")),
    ("u0", ("roi", "total", "u0_min_over_mean")),
    ("cv", ("roi", "total", "cv")),
    ("in_window_area_fraction", ("roi", "total", "in_window_area_fraction")),
    ("eye_ir_max_mw_cm2", ("eye_safety", "ir_irradiance_mw_cm2", "max")),
    ("gap_min_mm", ("emitters", "gap_mm", "min")),
    ("gap_mean_mm", ("emitters", "gap_mm", "mean")),
)


def _lookup(metrics: dict[str, Any], path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics


def population_summary(members: list[tuple[Scene, dict[str, Any]]]) -> dict[str, Any]:
    """Each member's variant and headline metrics, and their spread across the population.

    Parameters
    ----------
    members : list of (Scene, dict)
        Each member's scene and its ``metrics.json`` content.

    Returns
    -------
    dict
        ``members``: one entry per result (name, variant parameters, ``POPULATION_METRICS``);
        ``summary``: for each metric its min, 5th percentile, median, 95th percentile and max
        over the members that have it.
    """
    rows = []
    for scene, metrics in members:
        variant = scene.variant
        rows.append(
            {
                "name": scene.name,
                "variant": {} if variant is None else variant.to_dict(),
                "label": "" if variant is None else variant.label,
                "metrics": {k: _lookup(metrics, p) for k, p in POPULATION_METRICS},
            }
        )
    summary = {}
    for key, _ in POPULATION_METRICS:
        values = np.array([m["metrics"][key] for m in rows if m["metrics"][key] is not None])
        if values.size:
            q = np.percentile(values, [0, 5, 50, 95, 100])
            summary[key] = dict(
                zip(("min", "p5", "median", "p95", "max"), q.tolist(), strict=True)
            )
    return {"members": rows, "summary": summary}


def population_csv(summary: dict[str, Any]) -> str:
    """One row per member: name, sex, age_years, then the ``POPULATION_METRICS`` columns."""
    keys = [k for k, _ in POPULATION_METRICS]
    lines = [",".join(["name", "sex", "age_years", *keys])]
    for m in summary["members"]:
        variant = m["variant"]
        cells = [m["name"], f"{variant.get('sex', 0.5):g}", f"{variant.get('age_years', 25.0):g}"]
        cells += ["" if m["metrics"][k] is None else f"{m['metrics'][k]:.6g}" for k in keys]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_population(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``population.json`` and ``population.csv`` (see :func:`population_summary`)."""
    _check_finite_json(summary, "population")
    return write_atomic(
        {
            out_dir / "population.json": json.dumps(summary, indent=2) + "\n",
            out_dir / "population.csv": population_csv(summary),
        },
        option="--out",
    )


def export_population(
    size: int,
    *,
    seed: int,
    age_years: tuple[float, float],
    name: str,
    max_edge_mm: float | None,
    suffix: str,
    out_dir: Path,
) -> list[Path]:
    """Write one built-in anatomy per member of a seeded population, and ``population.csv``.

    The meshes are ``p00.<suffix>``, ``p01.<suffix>`` ... (mm, same vertices and regions for
    every member); ``population.csv`` has one row per member: file, every
    :class:`~twin.geometry.variants.Variant` parameter, body height and the anatomy's extent (mm).
    """
    from twin.geometry import anatomy
    from twin.geometry.variants import Variant, population

    if suffix not in EXPORT_FORMATS:
        msg = f"--format: expected one of {', '.join(EXPORT_FORMATS)}, got {suffix!r}"
        raise InputError(msg)
    members = population(size, seed=seed, age_years=age_years)
    parameters = [f.name for f in dataclasses.fields(Variant)]
    header = ["file", *parameters, "height_mm", "extent_x_mm", "extent_y_mm", "extent_z_mm"]
    rows = [",".join(header)]
    paths = []
    for i, variant in enumerate(members):
        surface = anatomy.builtin(name, max_edge_mm=max_edge_mm, variant=variant)
        path = out_dir / f"p{i:02d}.{suffix}"
        export_surface(surface, path)
        paths.append(path)
        height = anatomy.body(variant).extent_mm[1]
        values = [getattr(variant, p) for p in parameters] + [height, *surface.extent_mm]
        rows.append(",".join([path.name, *(f"{v:.6g}" for v in values)]))
    table = out_dir / "population.csv"
    write_atomic({table: "\n".join(rows) + "\n"}, option="--out")
    return [*paths, table]
