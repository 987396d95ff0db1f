"""Exports of a result for other tools: the skin and its maps for ParaView, the flat map as grids.

Made from a render in memory or read back from a ``twin render`` folder (renders are
expensive; an export needs no ray casting), in twin's units (irradiance mW/cm^2, fluence
J/cm^2) or SI units (W/m^2, J/m^2; :data:`twin.units.DOSE_UNITS`):

- ``vtu``: ``surface.vtu``, a VTK XML unstructured grid of the skin's triangles (mm) with
  every map (:func:`result_vtu`);
- ``grid-csv``: ``flat_<map>.csv``, one per map asked for, the unrolled map as a matrix
  (:func:`twin.views.flatmap.grid_csv`);
- ``grid-npz``: ``flat.npz``, every map asked for on the grid with its axes, regions and the
  treated skin (:func:`twin.views.flatmap.grid_npz`).

The result files themselves (``metrics.json``, ``samples.csv``, ``surface.ply``) stay in
twin's units whatever is exported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from twin.errors import InputError
from twin.files import check_writable, publish, write_atomic
from twin.geometry.export import vtu_bytes
from twin.units import dose_units
from twin.views.flatmap import flat_grid, grid_csv, grid_npz, read_result

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult
    from twin.views.view3d import ResultScene

#: What ``twin export`` writes, by format name.
EXPORT_FORMATS = ("vtu", "grid-csv", "grid-npz")
#: The files each format writes, as ``fnmatch`` patterns (an earlier export's are replaced).
EXPORT_FILES = {"vtu": "surface.vtu", "grid-csv": "flat_*.csv", "grid-npz": "flat.npz"}


def result_vtu(scene: ResultScene, *, roi: NDArray[np.bool_] | None, units: str) -> bytes:
    """Return the skin of a result as a VTK XML unstructured grid (``.vtu``), for ParaView.

    Points are the skin's vertices (mm), cells its triangles. Every map of the result, in
    ``units``, named with its unit (``fluence_j_cm2`` or ``fluence_j_m2``,
    ``irradiance_red_w_m2``, ...) as point data, or cell data for centroid samples; ``roi``
    (1 on the treated skin) beside them; point data ``Normals`` and ``region`` (index into
    the field data ``region_names``, -1 for none); field data ``scene``, ``irradiance_unit``
    and ``fluence_unit``.

    Parameters
    ----------
    scene : ResultScene
    roi : (k,) bool or None
        The treated skin per sample (left out where None).
    units : {"mW/cm2", "W/m2"}
    """
    dose = dose_units(units, name="units")
    maps = dict(dose.convert(name, values) for name, values in scene.maps.items())
    if roi is not None:
        maps["roi"] = np.asarray(roi, dtype=np.uint8)
    region = np.full(len(scene.vertices_mm), -1, dtype=np.int64)
    for i, idx in enumerate(scene.regions.values()):
        region[idx] = i
    point_data = {"Normals": scene.vertex_normals, "region": region}
    if not scene.on_faces:
        point_data.update(maps)
    return vtu_bytes(
        scene.vertices_mm,
        scene.faces,
        point_data=point_data,
        cell_data=maps if scene.on_faces else {},
        field_strings={
            "scene": [scene.name],
            "region_names": list(scene.regions),
            "irradiance_unit": [dose.irradiance],
            "fluence_unit": [dose.fluence],
        },
        comment=f"twin result {scene.name}: lengths in mm, irradiance in {dose.irradiance}, "
        f"fluence in {dose.fluence}",
    )


def export_result(
    source: RenderResult | str | Path,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = EXPORT_FORMATS,
    maps: Sequence[str] = ("fluence_j_cm2",),
    pixel_mm: float = 1.0,
    units: str = "mW/cm2",
    names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the exports of a result into ``out_dir`` (see the module); return their paths.

    The folder is published whole (:func:`twin.files.publish`): files an earlier export left
    there (:data:`EXPORT_FILES`) go, other files are kept.

    Parameters
    ----------
    source : RenderResult or path of a ``twin render`` folder
    out_dir : Path
    formats : sequence of {"vtu", "grid-csv", "grid-npz"}
    maps : sequence of str
        The maps on the grids, as ``samples.csv`` names them, or ``["all"]``; the VTU file
        holds every map.
    pixel_mm : float
        The grids' pixel pitch, mm.
    units : {"mW/cm2", "W/m2"}
    names : mapping of str to str, optional
        How messages name the arguments ``formats``, ``maps``, ``pixel_mm``, ``units`` and
        ``out_dir`` (the command line passes its options); by their own names otherwise.

    Raises
    ------
    InputError
        Naming the format, map, pixel size, unit or folder that is wrong.
    """
    from twin.pipeline.render import RenderResult
    from twin.views import view3d

    named = {k: k for k in ("formats", "maps", "pixel_mm", "units", "out_dir")}
    named |= dict(names or {})
    if not formats or any(fmt not in EXPORT_FORMATS for fmt in formats):
        bad = next((fmt for fmt in formats if fmt not in EXPORT_FORMATS), "nothing")
        msg = f"{named['formats']}: expected some of {', '.join(EXPORT_FORMATS)}, got {bad!r}"
        raise InputError(msg)
    dose_units(units, name=named["units"])
    out_dir = Path(out_dir)
    check_writable(out_dir, name=named["out_dir"], folder=True)
    if isinstance(source, RenderResult):
        scene, roi = view3d.from_result(source), source.roi
    else:
        scene, roi = read_result(Path(source))
    contents: dict[str, bytes | str] = {}
    if "grid-csv" in formats or "grid-npz" in formats:
        grid = flat_grid(scene, maps, pixel_mm=pixel_mm, units=units, roi=roi, names=named)
        if "grid-csv" in formats:
            contents.update({f"flat_{name}.csv": grid_csv(grid, name) for name in grid.maps})
        if "grid-npz" in formats:
            contents["flat.npz"] = grid_npz(grid)
    if "vtu" in formats:
        contents["surface.vtu"] = result_vtu(scene, roi=roi, units=units)
    with publish(out_dir, name=named["out_dir"], owned=EXPORT_FILES.values()) as folder:
        write_atomic({folder / n: blob for n, blob in contents.items()}, name=named["out_dir"])
    return [out_dir / name for name in contents]
