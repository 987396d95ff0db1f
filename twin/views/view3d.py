"""The 3D scene of a result, for PyVista: the window, off-screen pictures and HTML pages.

A :class:`ResultScene` holds what is drawn: the skin with every map (irradiance and fluence,
total and per channel, all the light; where inter-reflection was solved the direct light and
the indirect light skin and device return, total and per channel; with light in tissue the
fluence rate at each depth, total and per channel; named like the ``samples.csv`` columns)
and its regions, the LEDs, the carrier and the occluders. It is made from a
:class:`~twin.pipeline.render.RenderResult` or read back from a ``twin render`` folder without
ray casting (``surface.ply`` holds the maps, ``scene.resolved.yaml`` the rest, ``carrier.ply``
the carrier as worn, whatever its kind).

- :func:`plotter_for` draws it on a PyVista plotter: the skin coloured by one map on a fixed
  scale from 0 to twice the window's top, with the window marked on the scale bar; the LEDs
  as small cones along their axes coloured by channel (light grey for channels the mode
  leaves off); the carrier translucent; region outlines; occluders grey.
- :func:`snapshots` writes PNG pictures from named views off-screen (EGL: no display needed).
- :func:`export_html` writes one self-contained interactive page (PyVista's trame export).
- :class:`Viewer` is the interactive window (``twin view``): keys switch the map (``n`` steps
  through them all, direct and indirect light too; ``d`` steps down through the depths),
  clicking the skin shows the point's values, region and the LEDs that give it most direct
  light (a ray cast for that point alone, shadows included).

Needs the ``viz`` extra (PyVista; trame-pyvista and nest_asyncio2 for HTML).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from twin._extras import require
from twin.errors import InputError, MissingDependencyError
from twin.pipeline.results import CARRIER_FILE, map_columns

if TYPE_CHECKING:
    import trimesh

    from twin.pipeline.render import RenderResult

#: Named camera views in the anatomy frame (+Y up, +Z forward, +X the subject's left):
#: direction from the focal point to the camera, and the up vector.
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "front": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "left": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "right": ((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "three-quarter": ((0.7, 0.25, 0.7), (0.0, 1.0, 0.0)),
    "top": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    "back": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
    "below": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
}
#: The views pictured by default, per built-in anatomy (others: front, left, right,
#: three-quarter).
DEFAULT_VIEWS = {
    "builtin:scalp": ("top", "left", "right", "front"),
    "builtin:pelvis": ("below", "front", "back", "left"),
}
FACE_VIEWS = ("front", "left", "right", "three-quarter")
#: How the names of the fluence-rate maps begin (``fluence_rate_[<channel>_]<depth>mm_mw_cm2``).
FLUENCE_RATE = "fluence_rate_"
#: How the names of the direct light's maps begin (``irradiance_direct_[<channel>_]mw_cm2``);
#: the indirect light's (total minus direct) begin ``irradiance_indirect_``.
DIRECT = "irradiance_direct_"
INDIRECT = "irradiance_indirect_"


@dataclass
class ResultScene:
    """Everything drawn for one result (see the module).

    Attributes
    ----------
    name : str
    vertices_mm : (v, 3) float64
    faces : (f, 3) int64
    maps : dict of str to (v,) or (f,) float64
        ``fluence_j_cm2``, ``irradiance_mw_cm2`` and ``irradiance_<channel>_mw_cm2`` (all the
        light); where inter-reflection was solved ``irradiance_direct_[<channel>_]mw_cm2``
        and, each after its direct map, ``irradiance_indirect_[<channel>_]mw_cm2`` (total
        minus direct); with light in tissue ``fluence_rate_<depth>mm_mw_cm2`` and
        ``fluence_rate_<channel>_<depth>mm_mw_cm2`` (mW/cm^2).
    on_faces : bool
        Whether the maps are per face (centroid samples) rather than per vertex.
    regions : dict of str to (k,) int64
        Vertex indices of each skin region.
    vertex_normals : (v, 3) float64
    window_j_cm2 : (float, float)
    exposure_s : float
    leds : dict of str to ndarray
        ``positions_mm`` (n, 3), ``axes`` (n, 3), ``power_mw`` (n,) at the scene's drive
        levels, ``channel`` (n,), ``profile_index`` (n,) into ``profiles``.
    profiles : list of Profile
    wavelength_nm : dict of str to float
    carrier : (vertices_mm, faces) or None
    occluders : list of (vertices_mm, faces)
    target : str
        The scene's target mesh (``builtin:face``, a path, ...).
    """

    name: str
    vertices_mm: NDArray[np.float64]
    faces: NDArray[np.int64]
    maps: dict[str, NDArray[np.float64]]
    on_faces: bool
    regions: dict[str, NDArray[np.int64]]
    vertex_normals: NDArray[np.float64]
    window_j_cm2: tuple[float, float]
    exposure_s: float
    leds: dict[str, NDArray[Any]]
    profiles: list[Any]
    wavelength_nm: dict[str, float]
    carrier: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None
    occluders: list[tuple[NDArray[np.float64], NDArray[np.int64]]] = field(default_factory=list)
    target: str = ""

    @property
    def depth_maps(self) -> list[str]:
        """The maps of the total fluence rate at each depth, shallow to deep (none: no tissue)."""
        return [n for n in self.maps if n.startswith(FLUENCE_RATE) and not _split_rate(n)[0]]

    @property
    def default_views(self) -> tuple[str, ...]:
        """The camera views that suit the target (``DEFAULT_VIEWS``), the face's by default."""
        return DEFAULT_VIEWS.get(self.target, FACE_VIEWS)


def _leds(scene) -> dict[str, NDArray[Any]]:
    emitters = scene.emitters
    return {
        "positions_mm": emitters.positions_mm,
        "axes": emitters.axes,
        "power_mw": emitters.power_mw
        * np.array([scene.drive.get(str(c), 0.0) for c in emitters.channel]),
        "channel": emitters.channel.astype(str),
        "profile_index": emitters.profile_index,
    }


def from_result(result: RenderResult) -> ResultScene:
    """Return the result scene of a render (its maps named as ``samples.csv`` names them)."""
    scene = result.scene
    maps = {"fluence_j_cm2": result.dose.fluence_j_cm2(), **map_columns(result)}
    shell = scene.carrier
    return _scene_from(scene, maps, None if shell is None else (shell.vertices_mm, shell.faces))


def with_indirect(maps: dict[str, NDArray[np.float64]]) -> dict[str, NDArray[np.float64]]:
    """Return ``maps`` with the indirect light after each direct map: total minus direct.

    ``irradiance_indirect_red_mw_cm2`` is ``irradiance_red_mw_cm2`` minus
    ``irradiance_direct_red_mw_cm2`` (mW/cm^2), the light skin and device return.
    """
    out = {}
    for name, values in maps.items():
        out[name] = values
        if name.startswith(DIRECT):
            total = maps.get("irradiance_" + name[len(DIRECT) :])
            if total is not None:
                out[INDIRECT + name[len(DIRECT) :]] = total - values
    return out


def _scene_from(scene, maps, carrier) -> ResultScene:
    target = scene.target
    return ResultScene(
        name=scene.name,
        vertices_mm=target.vertices_mm,
        faces=target.faces,
        maps=with_indirect(maps),
        on_faces=scene.samples != "vertices",
        regions=dict(target.regions),
        vertex_normals=target.vertex_normals,
        window_j_cm2=tuple(scene.dose.fluence_window_j_cm2),
        exposure_s=scene.exposure_s,
        leds=_leds(scene),
        profiles=list(scene.emitters.profiles),
        wavelength_nm=dict(scene.emitters.wavelength_nm),
        carrier=carrier,
        occluders=[(o.vertices_mm, o.faces) for o in scene.occluders],
        target=scene.source.target.mesh,
    )


def read_ply(path: Path) -> trimesh.Trimesh:
    """Read a PLY that twin wrote, its raw vertex and face data in ``metadata["_ply_raw"]``.

    Raises
    ------
    InputError
        Naming ``path`` if it holds no triangle mesh.
    """
    import trimesh

    mesh = trimesh.load(path, process=False)
    if not isinstance(mesh, trimesh.Trimesh):
        msg = f"{path}: expected a triangle mesh, found {type(mesh).__name__}"
        raise InputError(msg)
    return mesh


def from_folder(folder: Path) -> ResultScene:
    """Read the result scene of a ``twin render`` result folder back, without ray casting."""
    from twin.scene.load import load_scene

    folder = Path(folder)
    for name in ("surface.ply", "scene.resolved.yaml", "emitters.csv"):
        if not (folder / name).is_file():
            msg = f"{folder}: expected a twin render result folder with {name}, found none"
            raise InputError(msg)
    scene = load_scene(folder / "scene.resolved.yaml")
    ply = read_ply(folder / "surface.ply")
    raw = ply.metadata["_ply_raw"]
    data = raw["face" if scene.samples != "vertices" else "vertex"]["data"]
    names = [n for n in data.dtype.names if n.endswith(("_mw_cm2", "_j_cm2"))]
    maps = {n: np.asarray(data[n], dtype=np.float64) for n in names}
    carrier = None
    if (folder / CARRIER_FILE).is_file():
        shell = read_ply(folder / CARRIER_FILE)
        carrier = (np.asarray(shell.vertices), np.asarray(shell.faces))
    return _scene_from(scene, maps, carrier)


def load(source: RenderResult | str | Path) -> ResultScene:
    """Return a result scene from a render, a result folder, or a scene file (rendered now)."""
    from twin.pipeline.render import RenderResult, render

    if isinstance(source, RenderResult):
        return from_result(source)
    path = Path(source)
    if path.is_dir():
        return from_folder(path)
    return from_result(render(path))


def channel_colour(wavelength_nm: float) -> str:
    """Return a display colour for an LED channel by its wavelength."""
    for top, colour in ((450, "#5b3cc4"), (495, "#1f6fff"), (570, "#22b14c"), (600, "#f5c400")):
        if wavelength_nm < top:
            return colour
    return "#e8201c" if wavelength_nm < 700 else "#8b0a50"


def map_label(name: str, scene: ResultScene) -> tuple[str, tuple[float, float], dict]:
    """Return the scale-bar title, colour range and window marks of a map.

    The title names the window too: the HTML page drops the marks. A fluence rate (at depth)
    or an irradiance is marked at the window divided by the exposure.
    """
    if name.endswith("_j_cm2"):
        low, high = scene.window_j_cm2
        marks = {low: f"window {low:g}", high: f"{high:g} J/cm²"}
        return f"fluence (J/cm²), window {low:g}-{high:g}", (0.0, 2.0 * high), marks
    if name.startswith(FLUENCE_RATE):
        channel, depth = _split_rate(name)
        what = f"fluence rate at {depth} mm" + (f", {channel}" if channel else "")
    else:
        light = next((k for k in (DIRECT, INDIRECT) if name.startswith(k)), "irradiance_")
        channel = name[len(light) : -len("mw_cm2")].rstrip("_")
        what = light.removeprefix("irradiance_").replace("_", " ") + "irradiance"
        what = f"{what}, {channel}" if channel else what
    low, high = (w * 1000.0 / scene.exposure_s for w in scene.window_j_cm2)
    marks = {low: f"window {low:.3g}", high: f"{high:.3g} mW/cm²"}
    top = max(2.0 * high, float(np.max(scene.maps[name])) if scene.maps[name].size else 1.0)
    return f"{what} (mW/cm²), window {low:.3g}-{high:.3g}", (0.0, top), marks


def _split_rate(name: str) -> tuple[str, str]:
    """``("red", "0.5")`` from ``fluence_rate_red_0.5mm_mw_cm2``; ``("", "0.5")`` for the total."""
    channel, _, depth = name[len(FLUENCE_RATE) : -len("mm_mw_cm2")].rpartition("_")
    return channel, depth


def _pv():
    if "DISPLAY" not in os.environ and "VTK_DEFAULT_OPENGL_WINDOW" not in os.environ:
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"  # headless: EGL
    require(("pyvista",), feature="3D views")
    import pyvista

    return pyvista


def _polydata(vertices, faces):
    pv = _pv()
    cells = np.column_stack([np.full(len(faces), 3), faces]).ravel()
    return pv.PolyData(np.asarray(vertices, dtype=np.float64), cells)


def region_outlines(scene: ResultScene) -> NDArray[np.float64]:
    """(s, 2, 3) segments along the boundaries between skin regions, mm."""
    label = np.full(len(scene.vertices_mm), -1)
    for i, idx in enumerate(scene.regions.values()):
        label[idx] = i
    segments = []
    for i in range(len(scene.regions)):
        inside = (label[scene.faces] == i).all(axis=1)
        edges = np.sort(scene.faces[inside][:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        unique, count = np.unique(edges, axis=0, return_counts=True)
        segments.append(unique[count == 1])
    edges = np.concatenate(segments) if segments else np.zeros((0, 2), np.int64)
    return scene.vertices_mm[edges]


def plotter_for(
    scene: ResultScene,
    *,
    quantity: str = "fluence_j_cm2",
    plotter=None,
    clim: tuple[float, float] | None = None,
    device: bool = True,
    **kw,
):
    """Return a PyVista plotter showing ``scene`` coloured by map ``quantity``.

    The skin is the actor named ``skin``, on the colour range ``clim`` (default
    :func:`map_label`'s). ``device=False`` leaves out the LEDs, the carrier and the occluders
    (the bare skin). ``plotter`` draws into an existing plotter; ``kw`` go to a new
    ``pyvista.Plotter`` (``off_screen``, ``window_size``).

    Raises
    ------
    InputError
        Naming ``quantity`` if the scene has no such map.
    """
    pv = _pv()
    if quantity not in scene.maps:
        msg = f"quantity: expected one of {', '.join(scene.maps)}, got {quantity!r}"
        raise InputError(msg)
    pl = plotter if plotter is not None else pv.Plotter(**kw)
    pl.set_background("white")
    skin = _polydata(scene.vertices_mm, scene.faces)
    for name, values in scene.maps.items():
        (skin.cell_data if scene.on_faces else skin.point_data)[name] = values
    title, default, marks = map_label(quantity, scene)
    clim = default if clim is None else clim
    pl.add_mesh(
        skin,
        scalars=quantity,
        cmap="viridis",
        clim=clim,
        name="skin",
        smooth_shading=True,
        scalar_bar_args={
            "title": title,
            "n_labels": 5,
            "fmt": "%.3g",
            "color": "black",
            "vertical": True,
            "position_x": 0.86,
            "position_y": 0.1,
            "height": 0.8,
            "width": 0.06,
        },
        annotations=marks,
    )
    outline = region_outlines(scene)
    if len(outline):
        pl.add_lines(outline.reshape(-1, 3), color="white", width=1, name="regions")
    if device:
        _draw_device(pl, scene)
    return pl


def _draw_device(pl, scene: ResultScene) -> None:
    """Draw the LEDs, the carrier and the occluders of ``scene`` on plotter ``pl``."""
    pv = _pv()
    leds = scene.leds
    size = 0.012 * float(np.linalg.norm(np.ptp(scene.vertices_mm, axis=0)))
    for channel in dict.fromkeys(leds["channel"]):
        sel = leds["channel"] == channel
        lit = bool(np.any(leds["power_mw"][sel] > 0))
        cloud = pv.PolyData(leds["positions_mm"][sel])
        cloud["axis"] = leds["axes"][sel]
        cone = pv.Cone(direction=(1.0, 0.0, 0.0), height=size, radius=0.35 * size, resolution=8)
        pl.add_mesh(
            cloud.glyph(orient="axis", scale=False, geom=cone),
            color=channel_colour(scene.wavelength_nm.get(channel, 0.0)) if lit else "#d0d0d0",
            name=f"leds-{channel}",
        )
    if scene.carrier is not None:
        pl.add_mesh(_polydata(*scene.carrier), color="#9aa7b8", opacity=0.25, name="carrier")
    for i, occluder in enumerate(scene.occluders):
        pl.add_mesh(_polydata(*occluder), color="#555555", name=f"occluder-{i}")


def set_view(plotter, vertices_mm: NDArray[np.float64], view: str) -> None:
    """Point the camera at the points ``vertices_mm`` from a named view (``VIEWS``).

    Parameters
    ----------
    plotter : pyvista.Plotter
    vertices_mm : (v, 3) float64, mm
        The points to frame.
    view : str
        One of ``VIEWS``.

    Raises
    ------
    InputError
        Naming ``view`` if it is not one of ``VIEWS``.
    """
    if view not in VIEWS:
        msg = f"view: expected one of {', '.join(VIEWS)}, got {view!r}"
        raise InputError(msg)
    direction, up = (np.asarray(v, dtype=float) for v in VIEWS[view])
    direction /= np.linalg.norm(direction)
    centre = 0.5 * (vertices_mm.min(axis=0) + vertices_mm.max(axis=0))
    distance = 2.2 * float(np.linalg.norm(np.ptp(vertices_mm, axis=0)))
    plotter.camera_position = [tuple(centre + distance * direction), tuple(centre), tuple(up)]
    plotter.reset_camera_clipping_range()
    plotter.render()


def snapshots(
    scene: ResultScene,
    out_dir: Path,
    *,
    views: tuple[str, ...] | None = None,
    quantity: str = "fluence_j_cm2",
    clim: tuple[float, float] | None = None,
    device: bool = True,
    window_size: tuple[int, int] = (1000, 800),
) -> list[Path]:
    """PNG pictures ``<view>.png`` of the scene from each named view, off-screen.

    The skin is coloured by map ``quantity`` on the range ``clim``, with or without the
    ``device`` (see :func:`plotter_for`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pl = plotter_for(
        scene,
        quantity=quantity,
        clim=clim,
        device=device,
        off_screen=True,
        window_size=list(window_size),
    )
    paths = []
    for view in views or scene.default_views:
        set_view(pl, scene.vertices_mm, view)
        path = out_dir / f"{view}.png"
        pl.screenshot(str(path))
        paths.append(path)
    pl.close()
    return paths


def map_snapshots(
    vertices_mm: NDArray[np.float64],
    faces: NDArray[np.int64],
    values: NDArray[np.float64],
    out_dir: Path,
    *,
    title: str,
    views: tuple[str, ...] = ("front",),
    window_size: tuple[int, int] = (900, 720),
) -> list[Path]:
    """Write PNG pictures of one per-vertex map of either sign (a difference) on a bare surface.

    Blue below zero, red above, white at zero; the scale is symmetric about zero and reaches
    the 98th percentile of the magnitude (the few points beyond take the end colours).
    """
    pv = _pv()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top = max(float(np.percentile(np.abs(values), 98)), 1e-12)
    pl = pv.Plotter(off_screen=True, window_size=list(window_size))
    pl.set_background("white")
    mesh = _polydata(vertices_mm, faces)
    mesh.point_data["values"] = values
    pl.add_mesh(
        mesh,
        scalars="values",
        cmap="coolwarm",
        clim=(-top, top),
        smooth_shading=True,
        scalar_bar_args={"title": title, "color": "black", "fmt": "%.3g", "vertical": True,
                         "position_x": 0.86, "position_y": 0.1, "height": 0.8, "width": 0.06},
    )  # fmt: skip
    paths = []
    for view in views:
        set_view(pl, vertices_mm, view)
        paths.append(out_dir / f"{view}.png")
        pl.screenshot(str(paths[-1]))
    pl.close()
    return paths


def export_html(scene: ResultScene, path: Path, *, quantity: str = "fluence_j_cm2") -> Path:
    """One self-contained interactive HTML page of the scene (opens offline)."""
    pl = plotter_for(scene, quantity=quantity, off_screen=True, window_size=[1000, 800])
    set_view(pl, scene.vertices_mm, scene.default_views[0])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pl.trame.export_html(str(path))
    except ImportError as exc:
        msg = f"the HTML export needs trame-pyvista and nest_asyncio2 ({exc})"
        raise MissingDependencyError(msg) from None
    finally:
        pl.close()
    return path


def contributions(
    scene: ResultScene, vertex: int, *, top: int | None = 5
) -> list[tuple[int, float]]:
    """Return the ``top`` LEDs (all, for ``None``) giving a skin vertex most direct light.

    One row of the (direct) transfer matrix, ray cast for this point alone against the skin
    and the occluders (shadows counted, as in the render); the light skin and device return
    is not split by LED.

    Returns
    -------
    list of (int, float)
        LED index and its direct irradiance at the vertex, mW/cm2, brightest first.
    """
    from twin.devices.emitters import Emitters
    from twin.engine.backends import make_backend
    from twin.engine.transfer import transfer_matrix
    from twin.geometry.surface import SamplePoints
    from twin.raycast import self_tolerance_mm

    leds = scene.leds
    emitters = Emitters.create(  # per mW: channels the mode leaves off have no power
        leds["positions_mm"],
        leds["axes"],
        1.0,
        profile=[scene.profiles[k] for k in leds["profile_index"]],
    )
    point = SamplePoints(
        scene.vertices_mm[[vertex]], scene.vertex_normals[[vertex]], np.ones(1), {}
    )
    triangles = np.concatenate(
        [v[f] for v, f in [(scene.vertices_mm, scene.faces), *scene.occluders]]
    )
    row = transfer_matrix(
        point,
        emitters,
        make_backend("auto", triangles),
        end_tolerance_mm=self_tolerance_mm(triangles),
    ).matrix
    e = row.toarray().ravel() * leds["power_mw"]
    order = np.argsort(-e)[:top]
    return [(int(i), float(e[i])) for i in order if e[i] > 0]


def describe_point(scene: ResultScene, vertex: int) -> str:
    """Describe a skin vertex as a click shows it: every map's value, its region, the top LEDs."""
    region = next((k for k, idx in scene.regions.items() if vertex in set(idx.tolist())), "-")
    if scene.on_faces:
        owner = np.flatnonzero((scene.faces == vertex).any(axis=1))
        values = {k: float(v[owner].mean()) for k, v in scene.maps.items()}
    else:
        values = {k: float(v[vertex]) for k, v in scene.maps.items()}
    lines = [f"vertex {vertex}, region {region}"]
    lines += [f"{k}: {v:.4g}" for k, v in values.items()]
    direct = "irradiance_direct_mw_cm2" in scene.maps
    lines.append(f"most {'direct ' if direct else ''}light from (mW/cm2):")
    lines += [
        f"  LED {i} ({scene.leds['channel'][i]}): {e:.3g}" for i, e in contributions(scene, vertex)
    ]
    return "\n".join(lines)


class Viewer:
    """The interactive window of ``twin view``.

    Keys: ``h`` fluence, ``i`` irradiance, ``n`` the next map (each channel's irradiance in
    turn, then the direct and indirect light where inter-reflection was solved, then each
    fluence rate at depth), ``d`` the total fluence rate one depth deeper
    (with light in tissue; from the deepest back to the shallowest); clicking the skin shows
    the point's values, region and brightest LEDs (:func:`describe_point`). VTK keeps its own
    keys: ``q``/``e`` quit, ``r`` resets the camera, ``w``/``s`` wireframe or surface.

    ``plotter_kw`` go to ``pyvista.Plotter`` (``off_screen=True`` drives it without a
    display, as the tests do).
    """

    def __init__(self, scene: ResultScene, **plotter_kw) -> None:
        pv = _pv()
        self.scene = scene
        self.plotter = pv.Plotter(title=f"twin: {scene.name}", **plotter_kw)
        self.quantity = "fluence_j_cm2"
        self.picked: str | None = None
        names = list(scene.maps)
        self.plotter.add_key_event("h", lambda: self.switch("fluence_j_cm2"))
        self.plotter.add_key_event("i", lambda: self.switch("irradiance_mw_cm2"))
        self.plotter.add_key_event(
            "n", lambda: self.switch(names[(names.index(self.quantity) + 1) % len(names)])
        )
        if scene.depth_maps:
            self.plotter.add_key_event("d", self.deeper)
        self._draw()
        set_view(self.plotter, scene.vertices_mm, scene.default_views[0])
        self.plotter.enable_point_picking(
            callback=self.pick, show_message=False, show_point=True, left_clicking=True
        )

    def _draw(self) -> None:
        pl = self.plotter
        camera = pl.camera_position if pl.renderer.actors else None
        pl.clear_actors()
        for title in list(pl.scalar_bars.keys()):
            pl.remove_scalar_bar(title)
        plotter_for(self.scene, quantity=self.quantity, plotter=pl)
        depth = ", d deeper" if self.scene.depth_maps else ""
        pl.add_text(
            f"{self.quantity}   keys: h fluence, i irradiance, n next map{depth}; click the skin",
            position="lower_left", font_size=8, color="black", name="keys",
        )  # fmt: skip
        if camera is not None:
            pl.camera_position = camera

    def switch(self, quantity: str) -> None:
        """Colour the skin by another map."""
        self.quantity = quantity
        self._draw()

    def deeper(self) -> None:
        """Colour the skin by the total fluence rate one depth deeper (else the shallowest)."""
        depths = self.scene.depth_maps
        now = depths.index(self.quantity) + 1 if self.quantity in depths else 0
        self.switch(depths[now % len(depths)])

    def pick(self, point) -> None:
        """Show what is known at the skin vertex nearest ``point`` (mm)."""
        vertices = self.scene.vertices_mm
        vertex = int(np.argmin(np.linalg.norm(vertices - np.asarray(point), axis=1)))
        self.picked = describe_point(self.scene, vertex)
        self.plotter.add_text(self.picked, position="upper_left", font_size=9, color="black",
                              name="picked")  # fmt: skip

    def show(self) -> None:  # pragma: no cover - blocks on a display
        """Open the window; returns when it is closed."""
        self.plotter.show()
