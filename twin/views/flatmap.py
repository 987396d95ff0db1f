"""The flat map: a result's skin unrolled into 2D, and resampled on a regular grid.

The skin is unrolled through :func:`skin_chart`, a chart made from what a ``twin render``
folder holds (the skin and the LED positions), so a render in memory and its folder read back
unroll the same way: a Lambert azimuthal equal-area chart (areas kept, so a patch of skin
keeps its share of the map) about the centre of the sphere that fits the skin best, looking
from that centre towards the LEDs. The chart's ``u`` runs along ``e1`` (for a face seen from
the front: the subject's left, to the right of the picture), ``v`` along ``e2`` (up).

:func:`flat_grid` resamples maps of a result on a regular grid of pixels in that chart: a
pixel takes the value of the skin triangle its centre lies in, interpolated linearly between
the triangle's vertices (maps sampled at vertices) or the triangle's own value (centroid
samples); where folds of the skin (under the nose, the chin) lay two triangles over one
pixel, the one nearest an LED wins (the layer the device faces). Pixels off the skin are NaN.

:func:`grid_csv` and :func:`grid_npz` write a grid as files (see their docs for the layouts).
No plotting library is needed; :mod:`twin.views.plots` draws its unrolled maps from these
grids, so a plot shows what ``twin export`` writes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from twin._validation import as_bounded
from twin.devices.carriers import Chart
from twin.errors import InputError
from twin.units import DoseUnits, dose_units

if TYPE_CHECKING:
    from twin.pipeline.render import RenderResult
    from twin.views.view3d import ResultScene

#: Most pixels in one grid (about 5000 x 5000): a finer pixel is refused before allocating.
MAX_PIXELS = 25_000_000
#: Smallest pixel, mm.
MIN_PIXEL_MM = 0.01
#: Candidate (triangle, pixel) pairs tested at once while rasterising, to bound the memory.
_CHUNK_PAIRS = 2_000_000
#: Barycentric slack that keeps pixel centres on a shared edge inside one of its triangles.
_EDGE_SLACK = 1e-9


def skin_chart(vertices_mm: NDArray[np.float64], led_positions_mm: NDArray[np.float64]) -> Chart:
    """Return the chart the skin is unrolled through (see the module).

    Radial (equal-area) about the centre of the least-squares sphere through the skin's
    vertices, its axis towards the LEDs' mean position, its radius the median distance of
    the vertices from the centre. Where the skin is too flat for a sphere (flat to 1e-6 of its
    size, or a fitted radius over ten times its size), planar: the skin's best plane through
    its centroid, facing the LEDs.

    Parameters
    ----------
    vertices_mm : (v, 3) float64, mm
    led_positions_mm : (n, 3) float64, mm

    Returns
    -------
    Chart
    """
    v = np.asarray(vertices_mm, dtype=np.float64)
    led = np.mean(led_positions_mm, axis=0)
    size = max(float(np.linalg.norm(np.ptp(v, axis=0))), 1e-9)
    centroid = v.mean(axis=0)
    _, spread, directions = np.linalg.svd(v - centroid, full_matrices=False)
    radial = spread[-1] / np.sqrt(len(v)) > 1e-6 * size
    if radial:
        design = np.column_stack([2.0 * v, np.ones(len(v))])
        solution, *_ = np.linalg.lstsq(design, np.einsum("ij,ij->i", v, v), rcond=None)
        centre = solution[:3]
        fitted = solution[3] + centre @ centre
        radial = fitted > 0.0 and np.sqrt(fitted) <= 10.0 * size
    if not radial:
        normal = directions[-1] * (1.0 if directions[-1] @ (led - centroid) >= 0.0 else -1.0)
        return Chart("planar", centroid, normal, 1.0)
    axis = led - centre
    length = float(np.linalg.norm(axis))
    axis = axis / length if length > 1e-9 * size else directions[-1]
    radius = float(np.median(np.linalg.norm(v - centre, axis=1)))
    return Chart("radial", centre, axis, radius)


def _skin(
    source: RenderResult | ResultScene,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Return the skin's vertices (mm), faces and the LED positions (mm) of a result."""
    from twin.pipeline.render import RenderResult

    if isinstance(source, RenderResult):
        scene = source.scene
        return scene.target.vertices_mm, scene.target.faces, scene.emitters.positions_mm
    return source.vertices_mm, source.faces, source.leds["positions_mm"]


def unrolled(
    source: RenderResult | ResultScene,
) -> tuple[NDArray[np.float64], NDArray[np.int64], Chart]:
    """Return a result's skin unrolled through :func:`skin_chart`.

    Parameters
    ----------
    source : RenderResult or ResultScene
        A render, or a result scene (:mod:`twin.views.view3d`, e.g. a result folder read back).

    Returns
    -------
    uv_mm : (v, 2) float64, mm
        Each vertex of the skin in the chart.
    faces : (f, 3) int64
        The skin's triangles (indices into ``uv_mm``).
    chart : Chart
    """
    vertices, faces, leds = _skin(source)
    chart = skin_chart(vertices, leds)
    return chart.to_2d(vertices), faces, chart


def vertex_values(
    values: NDArray[np.float64], faces: NDArray[np.int64], n_vertices: int
) -> NDArray[np.float64]:
    """Return a map given per face as a map per vertex: the mean of the faces around each.

    Parameters
    ----------
    values : (f,) float64
        One value per face (centroid samples).
    faces : (f, 3) int64
    n_vertices : int

    Returns
    -------
    (v,) float64
        0 at a vertex no face uses.
    """
    total = np.zeros(n_vertices)
    counts = np.zeros(n_vertices)
    for corner in range(3):
        np.add.at(total, faces[:, corner], values)
        np.add.at(counts, faces[:, corner], 1.0)
    return total / np.maximum(counts, 1.0)


@dataclass(frozen=True)
class Raster:
    """Which triangle each pixel centre of a regular grid lies in, and where in it.

    Attributes
    ----------
    u_mm : (nu,) float64, mm
        The pixel centres' ``u``, left to right (ascending).
    v_mm : (nv,) float64, mm
        The pixel centres' ``v``, top to bottom (descending): row 0 is the top of the map.
    pixel_mm : float
    face : (nv, nu) int64
        The triangle each pixel centre lies in; -1 off the skin.
    weights : (nv, nu, 3) float64
        The pixel centre's barycentric coordinates in that triangle (0 off the skin).
    """

    u_mm: NDArray[np.float64]
    v_mm: NDArray[np.float64]
    pixel_mm: float
    face: NDArray[np.int64]
    weights: NDArray[np.float64]

    @property
    def skin(self) -> NDArray[np.bool_]:
        """(nv, nu) bool: the pixels on the skin."""
        return self.face >= 0

    def sample(
        self, values: NDArray[np.float64], faces: NDArray[np.int64], *, on_faces: bool
    ) -> NDArray[np.float64]:
        """Return a map on the grid: NaN off the skin.

        Parameters
        ----------
        values : (v,) or (f,) float64
            Per vertex (interpolated linearly in each triangle) or, with ``on_faces``, per face.
        faces : (f, 3) int64
            The triangles :attr:`face` indexes.
        on_faces : bool

        Returns
        -------
        (nv, nu) float64
        """
        out = np.full(self.face.shape, np.nan)
        skin = self.skin
        f = self.face[skin]
        if on_faces:
            out[skin] = values[f]
        else:
            out[skin] = np.einsum("ij,ij->i", self.weights[skin], values[faces[f]])
        return out

    def nearest_vertex(self, faces: NDArray[np.int64]) -> NDArray[np.int64]:
        """(nv, nu) int64: the vertex of each pixel's triangle with the largest weight; -1 off."""
        out = np.full(self.face.shape, -1, dtype=np.int64)
        skin = self.skin
        corner = np.argmax(self.weights[skin], axis=1)
        out[skin] = faces[self.face[skin], corner]
        return out


def rasterise(
    uv_mm: NDArray[np.float64],
    faces: NDArray[np.int64],
    *,
    pixel_mm: float,
    priority: NDArray[np.float64] | None = None,
    name: str = "pixel_mm",
) -> Raster:
    """Find the triangle under each pixel centre of a regular grid over 2D triangles.

    The pixel centres lie on whole multiples of ``pixel_mm`` (``u = 0`` and ``v = 0`` are
    centres), over the triangles' bounding box.

    Parameters
    ----------
    uv_mm : (v, 2) float64, mm
        The vertices in 2D.
    faces : (f, 3) int64
    pixel_mm : float
        The pixel pitch, mm.
    priority : (f,) float64, optional
        Where triangles overlap, the one with the highest priority takes the pixel (the last
        one by index without it).
    name : str
        The argument ``pixel_mm`` came from, named in messages.

    Returns
    -------
    Raster

    Raises
    ------
    InputError
        Naming ``name`` if ``pixel_mm`` is out of range or makes no grid or too large a one.
    """
    pixel_mm = as_bounded(pixel_mm, name=name, low=MIN_PIXEL_MM, high=1e6)
    uv = np.asarray(uv_mm, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    first = np.ceil(uv.min(axis=0) / pixel_mm).astype(np.int64)
    last = np.floor(uv.max(axis=0) / pixel_mm).astype(np.int64)
    nu, nv = (int(n) for n in np.maximum(last - first + 1, 0))
    if nu * nv == 0:
        extent = " x ".join(f"{x:.3g}" for x in np.ptp(uv, axis=0))
        msg = f"{name}: expected a pixel smaller than the map ({extent} mm), got {pixel_mm:g}"
        raise InputError(msg)
    if nu * nv > MAX_PIXELS:
        msg = (
            f"{name}: a {pixel_mm:g} mm pixel makes a {nu} x {nv} grid, over "
            f"{MAX_PIXELS:,} pixels; expected a larger pixel"
        )
        raise InputError(msg)
    u_mm = pixel_mm * np.arange(first[0], first[0] + nu, dtype=np.float64)
    v_mm = pixel_mm * np.arange(first[1] + nv - 1, first[1] - 1, -1, dtype=np.float64)
    order = np.arange(len(faces), dtype=np.float64) if priority is None else priority
    best_face = np.full(nu * nv, -1, dtype=np.int64)
    best_weights = np.zeros((nu * nv, 3))
    best_order = np.full(nu * nv, -np.inf)

    corners = uv[faces]  # (f, 3, 2)
    low = np.ceil(corners.min(axis=1) / pixel_mm).astype(np.int64) - first
    high = np.floor(corners.max(axis=1) / pixel_mm).astype(np.int64) - first
    width = np.maximum(high[:, 0] - low[:, 0] + 1, 0)
    counts = width * np.maximum(high[:, 1] - low[:, 1] + 1, 0)
    ends = np.cumsum(counts)
    start = 0
    while start < len(faces):
        done = int(ends[start - 1]) if start else 0
        stop = max(int(np.searchsorted(ends, done + _CHUNK_PAIRS, side="right")), start + 1)
        tri = np.repeat(np.arange(start, stop), counts[start:stop])
        offsets = np.repeat(ends[start:stop] - counts[start:stop], counts[start:stop])
        local = np.arange(len(tri)) + done - offsets
        col = low[tri, 0] + local % width[tri]
        row_up = low[tri, 1] + local // width[tri]  # counted from the bottom
        a, b, c = corners[tri, 0], corners[tri, 1], corners[tri, 2]
        p = np.column_stack([u_mm[col], pixel_mm * (first[1] + row_up)])
        ab, ac, ap = b - a, c - a, p - a
        det = ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            wb = (ap[:, 0] * ac[:, 1] - ap[:, 1] * ac[:, 0]) / det
            wc = (ab[:, 0] * ap[:, 1] - ab[:, 1] * ap[:, 0]) / det
        weights = np.column_stack([1.0 - wb - wc, wb, wc])
        inside = (det != 0.0) & np.all(weights >= -_EDGE_SLACK, axis=1)
        pixel = (nv - 1 - row_up[inside]) * nu + col[inside]
        tri, weights = tri[inside], np.clip(weights[inside], 0.0, 1.0)
        rank = order[tri]
        # Per pixel, the candidate of highest rank (then the last by index): sorted last.
        keep = np.lexsort((tri, rank, pixel))
        pixel, tri, weights, rank = pixel[keep], tri[keep], weights[keep], rank[keep]
        last_of_pixel = np.append(pixel[1:] != pixel[:-1], True)
        pixel, tri, weights, rank = (x[last_of_pixel] for x in (pixel, tri, weights, rank))
        better = rank >= best_order[pixel]
        best_face[pixel[better]] = tri[better]
        best_weights[pixel[better]] = weights[better]
        best_order[pixel[better]] = rank[better]
        start = stop
    return Raster(
        u_mm=u_mm,
        v_mm=v_mm,
        pixel_mm=pixel_mm,
        face=best_face.reshape(nv, nu),
        weights=best_weights.reshape(nv, nu, 3),
    )


@dataclass(frozen=True)
class FlatGrid:
    """Maps of a result on a regular grid of the unrolled skin (:func:`flat_grid`).

    Arrays of shape (nv, nu) are images: row 0 is the top of the map (the largest ``v``),
    column 0 its left (the smallest ``u``).

    Attributes
    ----------
    scene : str
        The scene's name.
    u_mm : (nu,) float64, mm
        The pixel centres' chart ``u``, ascending.
    v_mm : (nv,) float64, mm
        The pixel centres' chart ``v``, descending.
    pixel_mm : float
    maps : dict of str to (nv, nu) float64
        Each map named with its unit (``fluence_j_cm2``; ``fluence_j_m2`` in SI units),
        in that unit; NaN off the skin.
    units : DoseUnits
        The units of the maps.
    face : (nv, nu) int64
        The skin triangle each pixel centre lies in; -1 off the skin.
    region : (nv, nu) int64
        Index into ``region_names`` of the region of the pixel's nearest vertex; -1 for none
        and off the skin.
    region_names : tuple of str
    roi : (nv, nu) bool or None
        The treated skin (the metrics' region of interest); None where not known.
    chart : Chart
        The chart the skin was unrolled through (``chart.to_2d`` places any 3D point).
    """

    scene: str
    u_mm: NDArray[np.float64]
    v_mm: NDArray[np.float64]
    pixel_mm: float
    maps: dict[str, NDArray[np.float64]]
    units: DoseUnits
    face: NDArray[np.int64]
    region: NDArray[np.int64]
    region_names: tuple[str, ...]
    roi: NDArray[np.bool_] | None
    chart: Chart

    @property
    def skin(self) -> NDArray[np.bool_]:
        """(nv, nu) bool: the pixels on the skin."""
        return self.face >= 0


def flat_grid(
    source: RenderResult | ResultScene | str | Path,
    maps: str | Sequence[str] = ("fluence_j_cm2",),
    *,
    pixel_mm: float = 1.0,
    units: str = "mW/cm2",
    roi: NDArray[np.bool_] | None = None,
    names: Mapping[str, str] | None = None,
) -> FlatGrid:
    """Unroll maps of a result onto a regular grid (see the module).

    Parameters
    ----------
    source : RenderResult, ResultScene, or path of a ``twin render`` folder
    maps : sequence of str
        Map names as ``samples.csv`` names them (``fluence_j_cm2``, ``irradiance_red_mw_cm2``,
        ``fluence_rate_0.5mm_mw_cm2``, ``irradiance_indirect_mw_cm2`` ...), or ``"all"``.
    pixel_mm : float
        The pixel pitch, mm.
    units : {"mW/cm2", "W/m2"}
        ``W/m2``: irradiance in W/m^2 and fluence in J/m^2 (:data:`twin.units.DOSE_UNITS`).
    roi : (k,) bool, optional
        The treated skin per sample; read from the render or the folder where not given.
    names : mapping of str to str, optional
        How messages name the arguments ``maps``, ``pixel_mm`` and ``units`` (the command
        line passes its options); by their own names otherwise.

    Returns
    -------
    FlatGrid

    Raises
    ------
    InputError
        Naming the map, unit, pixel size or folder that is wrong.
    """
    named = {key: key for key in ("maps", "pixel_mm", "units")} | dict(names or {})
    dose = dose_units(units, name=named["units"])
    scene, roi = _result_scene(source, roi)
    wanted = check_maps(scene, maps, name=named["maps"])
    uv, faces, chart = unrolled(scene)
    priority = _towards_leds(scene)
    raster = rasterise(uv, faces, pixel_mm=pixel_mm, priority=priority, name=named["pixel_mm"])
    grids = {}
    for name in wanted:
        unit_name, values = dose.convert(name, scene.maps[name])
        grids[unit_name] = raster.sample(values, faces, on_faces=scene.on_faces)
    vertex_region = np.full(len(scene.vertices_mm), -1, dtype=np.int64)
    for i, idx in enumerate(scene.regions.values()):
        vertex_region[idx] = i
    nearest = raster.nearest_vertex(faces)
    region = np.where(raster.skin, vertex_region[nearest], -1)
    roi_grid = None
    if roi is not None:
        at = raster.face if scene.on_faces else nearest
        roi_grid = raster.skin & np.asarray(roi, dtype=bool)[np.maximum(at, 0)]
    return FlatGrid(
        scene=scene.name,
        u_mm=raster.u_mm,
        v_mm=raster.v_mm,
        pixel_mm=raster.pixel_mm,
        maps=grids,
        units=dose,
        face=raster.face,
        region=region,
        region_names=tuple(scene.regions),
        roi=roi_grid,
        chart=chart,
    )


def check_maps(scene: ResultScene, maps: str | Sequence[str], *, name: str) -> list[str]:
    """Return the maps named (``"all"``: every map of the result), or raise.

    Raises
    ------
    InputError
        Naming ``name``, the map not found and the maps the result holds.
    """
    wanted = [maps] if isinstance(maps, str) else list(maps)
    if wanted == ["all"]:
        return list(scene.maps)
    if not wanted:
        msg = f"{name}: expected at least one map name or 'all', got none"
        raise InputError(msg)
    for map_name in wanted:
        if map_name not in scene.maps:
            msg = (
                f"{name}: no map {map_name!r} in result {scene.name}; expected 'all' or some of "
                f"{', '.join(scene.maps)}"
            )
            raise InputError(msg)
    return wanted


def _towards_leds(scene: ResultScene) -> NDArray[np.float64]:
    """(f,) minus the distance from each triangle's centroid to its nearest LED, mm."""
    from scipy.spatial import cKDTree

    centroids = scene.vertices_mm[scene.faces].mean(axis=1)
    distance, _ = cKDTree(scene.leds["positions_mm"]).query(centroids)
    return -distance


def _result_scene(
    source: RenderResult | ResultScene | str | Path, roi: NDArray[np.bool_] | None
) -> tuple[ResultScene, NDArray[np.bool_] | None]:
    from twin.pipeline.render import RenderResult
    from twin.views import view3d

    if isinstance(source, RenderResult):
        return view3d.from_result(source), source.roi if roi is None else roi
    if isinstance(source, (str, Path)):
        scene, read = read_result(Path(source))
        return scene, read if roi is None else roi
    return source, roi


def read_result(folder: Path) -> tuple[ResultScene, NDArray[np.bool_]]:
    """Read a ``twin render`` folder back: its result scene and its treated skin per sample.

    Raises
    ------
    InputError
        Naming the folder if it is not a render folder, or if its maps do not fit the skin
        its scene builds here (:func:`twin.views.view3d.from_folder`).
    """
    from twin.views.view3d import from_folder, read_ply

    scene = from_folder(folder)
    raw = read_ply(folder / "surface.ply").metadata["_ply_raw"]
    data = raw["face" if scene.on_faces else "vertex"]["data"]
    if "roi" not in (data.dtype.names or ()):
        msg = f"{folder / 'surface.ply'}: expected a 'roi' property, found none"
        raise InputError(msg)
    return scene, np.asarray(data["roi"]) > 0.5


def _header(grid: FlatGrid) -> list[str]:
    c = grid.chart
    where = f"centre_mm {' '.join(f'{x:.6g}' for x in c.centre)}"
    where += f", axis {' '.join(f'{x:.6g}' for x in c.axis)}"
    kind = "radial (Lambert azimuthal equal-area)" if c.kind == "radial" else "planar"
    if c.kind == "radial":
        where += f", radius_mm {c.radius_mm:.6g}"
    return [
        f"scene: {grid.scene}",
        f"pixel_mm: {grid.pixel_mm:g}",
        f"columns: u_mm from {grid.u_mm[0]:g} to {grid.u_mm[-1]:g} ({len(grid.u_mm)}, left "
        "to right)",
        f"rows: v_mm from {grid.v_mm[0]:g} to {grid.v_mm[-1]:g} ({len(grid.v_mm)}, top to bottom)",
        "off the skin: nan",
        f"chart: {kind}, {where}",
    ]


def grid_csv(grid: FlatGrid, name: str) -> str:
    """One map of a grid as CSV text: ``#`` comment lines, then the matrix.

    The comments name the map and its unit, the scene, the pixel pitch, the ``u`` of the
    first and last column and the ``v`` of the first and last row, and the chart. The
    matrix has one line per row of pixels, top of the map first, values comma-separated
    left to right, ``nan`` off the skin: ``numpy.loadtxt(path, delimiter=",")`` reads it
    back as the (nv, nu) image.

    Raises
    ------
    InputError
        If the grid has no map ``name``.
    """
    if name not in grid.maps:
        msg = f"name: no map {name!r} in the grid; expected one of {', '.join(grid.maps)}"
        raise InputError(msg)
    unit = grid.units.unit_of(name)
    out = io.StringIO()
    lines = [f"twin flat map: {name} ({unit})", f"map: {name}", f"unit: {unit}", *_header(grid)]
    out.write("".join(f"# {line}\n" for line in lines))
    np.savetxt(out, grid.maps[name], delimiter=",", fmt="%.9g")
    return out.getvalue()


def grid_npz(grid: FlatGrid) -> bytes:
    """Every map of a grid, with its axes and labels, as a compressed NumPy ``.npz`` file.

    Arrays (``numpy.load(path)`` reads them, no pickle): each map by its name (``fluence_j_cm2``
    or ``fluence_j_m2``; (nv, nu) float64, NaN off the skin); ``u_mm`` (nu,) ascending;
    ``v_mm`` (nv,) descending (row 0 is the top); ``pixel_mm``; ``skin`` (nv, nu) bool;
    ``face`` (nv, nu) int64, the skin triangle under each pixel, -1 off the skin; ``region``
    (nv, nu) int64 into ``region_names``, -1 for none; ``roi`` (nv, nu) bool, the treated
    skin (where known); ``irradiance_unit`` and ``fluence_unit``; ``scene``; and the chart:
    ``chart_kind`` (``radial`` or ``planar``), ``chart_centre_mm``, ``chart_axis``,
    ``chart_radius_mm``.
    """
    arrays: dict[str, NDArray] = {
        **grid.maps,
        "u_mm": grid.u_mm,
        "v_mm": grid.v_mm,
        "pixel_mm": np.array(grid.pixel_mm),
        "skin": grid.skin,
        "face": grid.face,
        "region": grid.region,
        "region_names": np.array(grid.region_names, dtype=np.str_),
        "irradiance_unit": np.array(grid.units.irradiance),
        "fluence_unit": np.array(grid.units.fluence),
        "scene": np.array(grid.scene),
        "chart_kind": np.array(grid.chart.kind),
        "chart_centre_mm": grid.chart.centre,
        "chart_axis": grid.chart.axis,
        "chart_radius_mm": np.array(grid.chart.radius_mm),
    }
    if grid.roi is not None:
        arrays["roi"] = grid.roi
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]  # the stub types **kwds as bool
    return out.getvalue()
