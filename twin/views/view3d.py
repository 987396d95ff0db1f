"""The 3D scene of a result: what is drawn, its labels and colours, pictures and the window.

A :class:`ResultScene` holds what is drawn: the skin with every map (irradiance and fluence,
total and per channel, all the light; where inter-reflection was solved the direct light and
the indirect light skin and device return, total and per channel; with light in tissue the
fluence rate at each depth, total and per channel; named like the ``samples.csv`` columns)
and its regions, the LEDs, the carrier and the occluders. It is made from a
:class:`~twin.pipeline.render.RenderResult` or read back from a ``twin render`` folder without
ray casting (``surface.ply`` holds the maps, ``scene.resolved.yaml`` the rest, ``carrier.ply``
the carrier as worn, whatever its kind).

What a picture and the HTML page (:mod:`twin.views.webpage`) share, without PyVista:
:func:`map_label` (title, colour range and window of a map), :func:`picture_title` (the scene,
the map, the exposure), :func:`led_legend` (each channel's colour, wavelength and count),
:data:`VIRIDIS_HEX` (the colour map), :func:`nice_ticks`, :func:`region_outlines` (smoothed
boundaries between skin regions), :func:`carrier_outline` (the carrier's rim and creases) and
:func:`frame_points` (what the camera frames: the treated skin and the LEDs).

With PyVista (the ``viz`` extra):

- :func:`plotter_for` draws it: the skin coloured by one map on a fixed scale from 0 to twice
  the window's top; a colour bar with ticks, its unit and the window bracketed beside it; a
  title naming the scene, the map and the exposure; the LEDs as small cones along their axes,
  each channel in its own colour (light grey for channels the mode leaves off) with a legend;
  the carrier as its outline only, so the skin keeps the colours of the scale; region
  outlines; occluders grey.
- :func:`snapshots` writes PNG pictures from named views off-screen (EGL: no display needed),
  framed on the treated skin and the LEDs.
- :class:`Viewer` is the interactive window (``twin view``): keys switch the map (``n`` steps
  through them all, direct and indirect light too; ``d`` steps down through the depths),
  clicking the skin shows the point's values, region and the LEDs that give it most direct
  light (a ray cast for that point alone, shadows included).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from twin._extras import require
from twin.errors import InputError
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
    "front-above": ((0.0, 0.6, 0.8), (0.0, 1.0, 0.0)),
    "back": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
    "below": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "front-below": ((0.0, -0.64, 0.77), (0.0, 1.0, 0.0)),
    "left-below": ((0.6, -0.6, 0.53), (0.0, 1.0, 0.0)),
}
#: The views pictured by default, per built-in anatomy (others: front, left, right,
#: three-quarter). Each shows the skin a device of that anatomy treats: the scalp from above
#: and around (not from the front, which looks into the open cap); the pelvis's pad lies on the
#: mons, the genital area and the perineum, seen from the front and from below between the
#: thighs.
DEFAULT_VIEWS = {
    "builtin:scalp": ("top", "front-above", "back", "left", "right"),
    "builtin:pelvis": ("front-below", "front", "left-below", "below"),
}
FACE_VIEWS = ("front", "left", "right", "three-quarter")
#: How the names of the fluence-rate maps begin (``fluence_rate_[<channel>_]<depth>mm_mw_cm2``).
FLUENCE_RATE = "fluence_rate_"
#: How the names of the direct light's maps begin (``irradiance_direct_[<channel>_]mw_cm2``);
#: the indirect light's (total minus direct) begin ``irradiance_indirect_``.
DIRECT = "irradiance_direct_"
INDIRECT = "irradiance_indirect_"
#: The colour map of every dose map, pictures and page alike: matplotlib's viridis, 256 colours
#: as RGB hex (a value ``t`` of the way up the scale takes colour ``min(int(256 t), 255)``).
VIRIDIS_HEX = (
    "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668"
    "48176948186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979"
    "472a7a472c7a472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84"
    "433d84433e85423f854240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a"
    "3d4e8a3c4f8a3c508b3b518b3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d"
    "355e8d355f8d34608d34618d33628d33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e"
    "2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e"
    "297b8e287c8e287d8e277e8e277f8e27808e26818e26828e26828e25838e25848e25858e24868e24878e23888e"
    "23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d21918c20928c20928c20938c1f948c1f958b1f968b"
    "1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f881fa0881fa1881fa1871fa28720a38620a486"
    "21a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad8128ae8029af7f2ab07f2cb17e2db27d"
    "2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc743fbc7340bd7242be7144bf70"
    "46c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc8635ec96260ca6063cb5f"
    "65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d84d44b86d549"
    "89d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32addc30"
    "b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
    "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723"
    "fde725"
)
#: Where channels the mode leaves off are drawn, and the colour of the carrier's outline.
OFF_COLOUR = "#c8c8c8"
CARRIER_COLOUR = "#7a8696"


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
    treated : (t,) int64 or None
        Vertex indices of the treated skin (``target.treat`` minus ``target.exclude``);
        ``None``: all of it.
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
    treated: NDArray[np.int64] | None = None

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


def _treated(scene) -> NDArray[np.int64] | None:
    """Vertex indices of the treated skin (``None``: all of it)."""
    regions = scene.target.regions
    if scene.treat is None and not scene.exclude:
        return None
    keep = np.full(len(scene.target.vertices_mm), scene.treat is None)
    for name in scene.treat or ():
        keep[regions[name]] = True
    for name in scene.exclude:
        keep[regions[name]] = False
    return np.flatnonzero(keep) if keep.any() else None


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
        treated=_treated(scene),
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
    target = scene.target
    expected = len(target.faces) if scene.samples != "vertices" else len(target.vertices_mm)
    if len(data) != expected:
        msg = (
            f"{folder / 'surface.ply'}: {len(data)} points, but its scene builds a skin of "
            f"{expected}: the folder was written by another version of twin's anatomy; render "
            "the scene again"
        )
        raise InputError(msg)
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


def viridis() -> NDArray[np.uint8]:
    """(256, 3) uint8: the colour map of every dose map (:data:`VIRIDIS_HEX`), RGB."""
    text = "".join(VIRIDIS_HEX)
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8).reshape(256, 3)


#: LED display colours by band (below each wavelength, nm): the first for the first channel
#: of a band, the next ones for further channels in the same band (NIR 850 and NIR 940 nm).
_BANDS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (450.0, ("#5b3cc4", "#a58cff")),
    (495.0, ("#1f6fff", "#17becf")),
    (570.0, ("#22b14c", "#9be564")),
    (600.0, ("#f5c400", "#ff8c1a")),
    (700.0, ("#e8201c", "#ff8a80")),
    (math.inf, ("#8b0a50", "#e377c2", "#6d4c41")),
)


def channel_colour(wavelength_nm: float, *, rank: int = 0) -> str:
    """Return a display colour for an LED channel by its wavelength.

    ``rank`` picks another shade for a second (third, ...) channel in the same band.
    """
    colours = next(c for top, c in _BANDS if wavelength_nm < top)
    return colours[rank % len(colours)]


def channel_colours(scene: ResultScene) -> dict[str, str]:
    """Return each LED channel's display colour, one colour per channel.

    By wavelength (:func:`channel_colour`); channels of one band take its shades in order of
    wavelength. In the order the channels first appear among the LEDs.
    """
    channels = list(dict.fromkeys(scene.leds["channel"].tolist()))
    colours: dict[str, str] = {}
    taken: dict[int, int] = {}
    for channel in sorted(channels, key=lambda c: scene.wavelength_nm.get(c, 0.0)):
        wavelength = scene.wavelength_nm.get(channel, 0.0)
        band = next(i for i, (top, _) in enumerate(_BANDS) if wavelength < top)
        colours[channel] = channel_colour(wavelength, rank=taken.get(band, 0))
        taken[band] = taken.get(band, 0) + 1
    return {c: colours[c] for c in channels}


def _channel_text(scene: ResultScene, channel: str) -> str:
    """``"red 633 nm"`` (``"red"`` when the channel's wavelength is not known)."""
    wavelength = scene.wavelength_nm.get(channel)
    return f"{channel} {wavelength:g} nm" if wavelength else channel


def led_legend(scene: ResultScene) -> list[tuple[str, str, str]]:
    """Return the LED legend: per channel its name, colour and ``"red 633 nm: 513 LEDs"``.

    The lit channels first, then those the mode leaves off, each by wavelength; these are
    light grey (``OFF_COLOUR``), as drawn, and say so.
    """
    rows = []
    for channel, colour in channel_colours(scene).items():
        sel = scene.leds["channel"] == channel
        lit = bool(np.any(scene.leds["power_mw"][sel] > 0))
        text = f"{_channel_text(scene, channel)}: {int(sel.sum())} LEDs"
        order = (not lit, scene.wavelength_nm.get(channel, 0.0))
        rows.append((order, channel, colour if lit else OFF_COLOUR,
                     text if lit else f"{text}, off in this mode"))  # fmt: skip
    return [row[1:] for row in sorted(rows)]


def format_exposure(seconds: float) -> str:
    """``"600 s (10 min)"``; ``"30 s"`` under a minute."""
    return f"{seconds:g} s" if seconds < 60 else f"{seconds:g} s ({seconds / 60:.3g} min)"


def describe_map(name: str, scene: ResultScene) -> tuple[str, str, str]:
    """Return what a map shows, of which channel, and its unit.

    ``("fluence rate at 0.5 mm", "red 633 nm", "mW/cm²")``; ``"all channels"`` for a total.
    """
    if name.endswith("_j_cm2"):
        return "fluence", "all channels", "J/cm²"
    if name.startswith(FLUENCE_RATE):
        channel, depth = _split_rate(name)
        what = f"fluence rate at {depth} mm"
    else:
        light = next((k for k in (DIRECT, INDIRECT) if name.startswith(k)), "irradiance_")
        channel = name[len(light) : -len("mw_cm2")].rstrip("_")
        what = light.removeprefix("irradiance_").replace("_", " ") + "irradiance"
    return what, _channel_text(scene, channel) if channel else "all channels", "mW/cm²"


def map_label(
    name: str, scene: ResultScene
) -> tuple[str, tuple[float, float], tuple[float, float]]:
    """Return a map's title, colour range and dose window in the map's unit.

    The title is ``"irradiance, red 633 nm (mW/cm²)"``. The range runs from 0 to twice the
    window's top (fluence) or, for an irradiance or a fluence rate, to twice the window
    divided by the exposure or the map's largest value, whichever is more.
    """
    what, channel, unit = describe_map(name, scene)
    title = f"{what}, {channel} ({unit})"
    if name.endswith("_j_cm2"):
        low, high = scene.window_j_cm2
        return title, (0.0, 2.0 * high), (low, high)
    low, high = (w * 1000.0 / scene.exposure_s for w in scene.window_j_cm2)
    values = scene.maps[name]
    top = max(2.0 * high, float(np.max(values)) if values.size else 1.0)
    return title, (0.0, top), (low, high)


def picture_title(scene: ResultScene, quantity: str) -> tuple[str, str]:
    """Return the two title lines of a picture or page of map ``quantity``.

    ``("default: fluence, all channels", "exposure 600 s (10 min); window 4-10 J/cm²")``; an
    irradiance or fluence rate gives its window over the exposure and the dose's beside it.
    """
    what, channel, unit = describe_map(quantity, scene)
    _, _, (low, high) = map_label(quantity, scene)
    window = f"window {low:.3g}-{high:.3g} {unit}"
    if not quantity.endswith("_j_cm2"):
        dose_low, dose_high = scene.window_j_cm2
        window += f" (a dose of {dose_low:g}-{dose_high:g} J/cm²)"
    return (
        f"{scene.name}: {what}, {channel}",
        f"exposure {format_exposure(scene.exposure_s)}; {window}",
    )


def nice_ticks(low: float, high: float, *, count: int = 5) -> list[float]:
    """Return at most ``count + 1`` round values from ``low`` to ``high``.

    They are 1, 2, 2.5 or 5 times a power of ten apart.
    """
    span = high - low
    if not span > 0:
        return [float(low)]
    magnitude = 10.0 ** math.floor(math.log10(span / count))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if span / (m * magnitude) <= count)
    first = math.ceil(low / step - 1e-9)
    ticks: list[float] = []
    while (value := (first + len(ticks)) * step) <= high + 1e-9 * span:
        ticks.append(float(f"{value:.12g}"))
    return ticks


def _split_rate(name: str) -> tuple[str, str]:
    """``("red", "0.5")`` from ``fluence_rate_red_0.5mm_mw_cm2``; ``("", "0.5")`` for the total."""
    channel, _, depth = name[len(FLUENCE_RATE) : -len("mm_mw_cm2")].rpartition("_")
    return channel, depth


def _edges(faces: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the unique edges (e, 2) of ``faces`` and, per face, its three edges (f, 3)."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    unique, inverse = np.unique(edges, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1, 3)


def region_outlines(
    scene: ResultScene, *, smooth_mm: float = 4.0, lift_mm: float = 0.3
) -> NDArray[np.float64]:
    """(s, 2, 3) segments along the boundaries between skin regions, mm, smooth.

    Each vertex's region becomes one indicator per region (and one for skin in none), which
    is averaged with the neighbours' until it has spread over about ``smooth_mm``. A boundary
    runs where the two largest indicators are equal: on each edge whose ends now lie in
    different regions at the point where they cross (linear along the edge), joined across
    each triangle (three regions meet at the mean of their crossings). So it is drawn as a
    smooth curve, once between two regions, rather than as the triangles' staircase. The
    points are lifted ``lift_mm`` off the skin along its normals to be drawn over it.
    """
    from scipy import sparse

    vertices, normals = scene.vertices_mm, scene.vertex_normals
    n, k = len(vertices), len(scene.regions)
    if k == 0:
        return np.zeros((0, 2, 3))
    label = np.full(n, k)
    for i, idx in enumerate(scene.regions.values()):
        label[idx] = i
    unique, face_edges = _edges(scene.faces)
    a, b = unique.T
    mean_edge_mm = float(np.linalg.norm(vertices[a] - vertices[b], axis=1).mean())
    steps = int(np.clip(np.ceil((smooth_mm / mean_edge_mm) ** 2), 1, 64))
    rows = np.concatenate([a, b, np.arange(n)])
    cols = np.concatenate([b, a, np.arange(n)])
    adjacency = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    adjacency = sparse.diags(1.0 / np.asarray(adjacency.sum(axis=1)).ravel()) @ adjacency
    share = np.zeros((n, k + 1))
    share[np.arange(n), label] = 1.0
    for _ in range(steps):
        share = adjacency @ share
    region = share.argmax(axis=1)
    la, lb = region[a], region[b]
    crosses = la != lb
    above = share[a, la] - share[a, lb]  # >= 0: a lies in la
    below = share[b, la] - share[b, lb]  # <= 0: b lies in lb
    gap = above - below
    t = np.where(gap > 0, above / np.where(gap > 0, gap, 1.0), 0.5)[:, None]
    normal = normals[a] + t * (normals[b] - normals[a])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    point = vertices[a] + t * (vertices[b] - vertices[a]) + lift_mm * normal
    crossing = crosses[face_edges]
    count = crossing.sum(axis=1)
    pairs = face_edges[count == 2]
    first = np.argsort(~crossing[count == 2], axis=1, kind="stable")[:, :2]
    two = point[np.take_along_axis(pairs, first, axis=1)]
    meet = point[face_edges[count == 3]]
    centre = np.broadcast_to(meet.mean(axis=1, keepdims=True), meet.shape)
    three = np.stack([meet, centre], axis=2).reshape(-1, 2, 3)
    return np.concatenate([two, three])


def carrier_outline(scene: ResultScene, *, crease_deg: float = 60.0) -> NDArray[np.float64]:
    """(s, 2, 3) segments of the carrier's rim and creases, mm (none without a carrier).

    The edges of one triangle only (the rim and any openings) and those between triangles
    whose normals differ by more than ``crease_deg``: the carrier drawn so that it hides none
    of the skin's colours.
    """
    if scene.carrier is None:
        return np.zeros((0, 2, 3))
    vertices, faces = scene.carrier
    unique, face_edges = _edges(np.asarray(faces))
    corners = np.asarray(vertices)[np.asarray(faces)]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = cross / np.maximum(np.linalg.norm(cross, axis=1, keepdims=True), 1e-12)
    owner = np.repeat(np.arange(len(faces)), 3)
    edge = face_edges.ravel()
    order = np.argsort(edge, kind="stable")
    counts = np.bincount(edge, minlength=len(unique))
    starts = np.cumsum(counts) - counts
    keep = counts == 1
    shared = np.flatnonzero(counts == 2)
    one, two = owner[order[starts[shared]]], owner[order[starts[shared] + 1]]
    cosine = np.einsum("ij,ij->i", normals[one], normals[two])
    keep[shared[cosine < math.cos(math.radians(crease_deg))]] = True
    return np.asarray(vertices)[unique[keep]]


def led_beams(scene: ResultScene) -> NDArray[np.float64]:
    """(n, 2, 3) each LED's position and where its axis meets the skin, mm.

    The axis's first hit on the skin or an occluder (a ray cast per LED); an axis that meets
    nothing ends where it started. Drawn from each cone to its spot: seen at a slant, an LED
    standing off the skin sits to the side of the light it puts there.
    """
    from twin.raycast import make_tracer

    if not len(scene.leds["positions_mm"]):
        return np.zeros((0, 2, 3))
    triangles = np.concatenate(
        [v[f] for v, f in [(scene.vertices_mm, scene.faces), *scene.occluders]]
    )
    start, axes = scene.leds["positions_mm"], scene.leds["axes"]
    distance, _ = make_tracer("auto", triangles).first_hit(start, axes)
    distance = np.where(np.isfinite(distance), distance, 0.0)
    return np.stack([start, start + distance[:, None] * axes], axis=1)


def beams_apart(scene: ResultScene, beams: NDArray[np.float64]) -> bool:
    """Return whether the lit LEDs stand further apart than off the skin (medians).

    Then drawing each one's beam (``beams``, :func:`led_beams`) tells its spot from its
    neighbours' without crowding the picture.
    """
    from scipy.spatial import cKDTree

    lit = scene.leds["power_mw"] > 0
    if lit.sum() < 2:
        return bool(lit.any())
    beams = beams[lit]
    length = np.linalg.norm(beams[:, 1] - beams[:, 0], axis=1)
    spacing, _ = cKDTree(beams[:, 0]).query(beams[:, 0], k=2)
    return bool(np.median(spacing[:, 1]) >= np.median(length))


def frame_points(scene: ResultScene) -> NDArray[np.float64]:
    """(k, 3) points a camera frames, mm: the treated skin and the LEDs."""
    skin = scene.vertices_mm if scene.treated is None else scene.vertices_mm[scene.treated]
    return np.concatenate([skin, scene.leds["positions_mm"]])


#: Where pictures leave room for their title, colour bar and legends: the 3D scene is framed
#: inside (left, bottom, right, top) of the window, as fractions.
SCENE_AREA = (0.03, 0.05, 0.8, 0.87)
#: The camera's vertical view angle, degrees (VTK's default).
VIEW_ANGLE_DEG = 30.0


def camera_for(
    points_mm: NDArray[np.float64],
    view: str,
    *,
    aspect: float,
    area: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
) -> dict[str, Any]:
    """Return a perspective camera that shows ``points_mm`` from a named view, filling ``area``.

    Parameters
    ----------
    points_mm : (k, 3) float64, mm
        What to frame.
    view : str
        One of ``VIEWS``.
    aspect : float
        Width over height of the window.
    area : (left, bottom, right, top)
        Part of the window the points fill, as fractions of its width and height.

    Returns
    -------
    dict
        ``position``, ``focal_point``, ``up`` (3,) mm and unit; ``window_center`` (2,), where
        the focal point appears in the window, from -1 to 1 (VTK's window centre); the view
        angle is :data:`VIEW_ANGLE_DEG`.

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
    up = up - (up @ direction) * direction
    up /= np.linalg.norm(up)
    right = np.cross(up, direction)
    points = np.asarray(points_mm, dtype=float)
    centre = 0.5 * (points.min(axis=0) + points.max(axis=0))
    x, y = (points - centre) @ right, (points - centre) @ up
    centre = centre + 0.5 * (x.max() + x.min()) * right + 0.5 * (y.max() + y.min()) * up
    x, y, z = ((points - centre) @ v for v in (right, up, direction))
    left, bottom, right_edge, top = area
    tan_half = math.tan(math.radians(VIEW_ANGLE_DEG) / 2.0)
    half_x, half_y = (right_edge - left) * tan_half * aspect, (top - bottom) * tan_half
    distance = float(np.max(np.maximum(z + np.abs(x) / half_x, z + np.abs(y) / half_y)))
    return {
        "position": centre + distance * direction,
        "focal_point": centre,
        "up": up,
        "window_center": (1.0 - left - right_edge, 1.0 - bottom - top),
    }


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


def _segments(pl, segments: NDArray[np.float64], *, colour: str, width: float, name: str) -> None:
    """Draw (s, 2, 3) line segments on plotter ``pl``."""
    if len(segments):
        pl.add_lines(segments.reshape(-1, 3), color=colour, width=width, name=name)


#: The names of the actors :func:`_draw_overlay` adds begin so.
OVERLAY = "overlay-"
#: The colour bar's place in the window (left, bottom, right, top), fractions.
BAR = (0.895, 0.14, 0.925, 0.78)


def _rgb(colour: str) -> tuple[float, float, float]:
    red, green, blue = bytes.fromhex(colour.lstrip("#"))
    return red / 255.0, green / 255.0, blue / 255.0


def _text(
    pl,
    text: str,
    xy: tuple[float, float],
    *,
    name: str,
    size: int = 12,
    align: str = "left",
    valign: str = "bottom",
    bold: bool = False,
) -> None:
    """Write ``text`` at ``xy`` (fractions of the window) in black, anchored by the aligns.

    On a white, nearly opaque ground, to be read over the scene.
    """
    from vtkmodules.vtkRenderingCore import vtkTextActor

    actor = vtkTextActor()
    actor.SetInput(text)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(0.0, 0.0, 0.0)
    prop.SetBold(bold)
    prop.SetFontFamilyToArial()
    prop.SetBackgroundColor(1.0, 1.0, 1.0)
    prop.SetBackgroundOpacity(0.8)
    {"left": prop.SetJustificationToLeft, "center": prop.SetJustificationToCentered,
     "right": prop.SetJustificationToRight}[align]()  # fmt: skip
    {"bottom": prop.SetVerticalJustificationToBottom,
     "center": prop.SetVerticalJustificationToCentered,
     "top": prop.SetVerticalJustificationToTop}[valign]()  # fmt: skip
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    actor.SetPosition(*xy)
    pl.add_actor(actor, name=OVERLAY + name, pickable=False)


def _shapes(
    pl,
    points: NDArray[np.float64],
    *,
    name: str,
    quads: NDArray[np.int64] | None = None,
    lines: NDArray[np.int64] | None = None,
    colours: NDArray[np.uint8] | None = None,
    colour: str = "#000000",
    width: float = 1.0,
    opacity: float = 1.0,
) -> None:
    """Draw 2D quads or lines at ``points`` (k, 2), fractions of the window.

    ``colours`` (one RGB row per quad) or one ``colour`` for all.
    """
    from vtkmodules.vtkRenderingCore import vtkActor2D, vtkCoordinate, vtkPolyDataMapper2D

    pv = _pv()
    xyz = np.column_stack([points, np.zeros(len(points))])
    if quads is not None:
        data = pv.PolyData(xyz, np.column_stack([np.full(len(quads), 4), quads]).ravel())
    else:
        assert lines is not None
        data = pv.PolyData(xyz, lines=np.column_stack([np.full(len(lines), 2), lines]).ravel())
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(data)
    where = vtkCoordinate()
    where.SetCoordinateSystemToNormalizedViewport()
    mapper.SetTransformCoordinate(where)
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    if colours is not None:
        data.cell_data["rgb"] = colours
        data.cell_data.active_scalars_name = "rgb"
        mapper.SetScalarModeToUseCellData()
        mapper.SetColorModeToDirectScalars()
        mapper.ScalarVisibilityOn()
    else:
        mapper.ScalarVisibilityOff()
        actor.GetProperty().SetColor(*_rgb(colour))
    actor.GetProperty().SetLineWidth(width)
    actor.GetProperty().SetOpacity(opacity)
    pl.add_actor(actor, name=OVERLAY + name, pickable=False)


def _draw_overlay(
    pl,
    *,
    title: tuple[str, str],
    unit: str,
    clim: tuple[float, float],
    colours: NDArray[np.uint8],
    window: tuple[float, float] | None,
    legend: list[tuple[str, str]],
) -> None:
    """Draw a picture's title, colour bar and legend in front of the scene.

    All are placed in fractions of the window, so that they follow it when it is resized.
    The colour bar (``BAR``) runs through ``colours`` over ``clim``, the ticks and their values
    to its right, the unit above it; ``window`` (low, high) is bracketed at its left, labelled
    there once; the ``legend`` rows (colour, text) stack up from the bottom left corner.
    """
    width, height = pl.window_size
    left, bottom, right, top = BAR
    ground = np.array([[left - 0.09, bottom - 0.03], [1.0, bottom - 0.03], [1.0, top + 0.05],
                       [left - 0.09, top + 0.05]])  # fmt: skip
    _shapes(pl, ground, quads=np.array([[0, 1, 2, 3]]), colour="#ffffff", opacity=0.85,
            name="ground")  # fmt: skip
    steps = np.linspace(bottom, top, len(colours) + 1)
    corners = np.array([[left, 0], [right, 0]] * (len(colours) + 1), dtype=float)
    corners[:, 1] = np.repeat(steps, 2)
    quads = np.array([[2 * i, 2 * i + 1, 2 * i + 3, 2 * i + 2] for i in range(len(colours))])
    _shapes(pl, corners, quads=quads, colours=colours, name="colours")
    frame = np.array([[left, bottom], [right, bottom], [right, top], [left, top]])
    _shapes(pl, frame, lines=np.array([[0, 1], [1, 2], [2, 3], [3, 0]]), name="frame")
    low, high = clim

    def at(value: float) -> float:
        return bottom + (top - bottom) * (value - low) / (high - low)

    ticks = nice_ticks(low, high)
    tick = 6.0 / width
    marks = np.array([[p for v in ticks for p in ((right, at(v)), (right + tick, at(v)))]])
    _shapes(pl, marks.reshape(-1, 2), lines=np.arange(2 * len(ticks)).reshape(-1, 2),
            name="marks")  # fmt: skip
    for i, value in enumerate(ticks):
        _text(pl, f"{value:g}", (right + 1.6 * tick, at(value)), valign="center", name=f"tick-{i}")
    _text(pl, unit, (0.5 * (left + right), top + 12.0 / height), align="center", name="unit")
    if window is not None and window[0] < high:
        a, b = at(max(window[0], low)), at(min(window[1], high))
        x = left - 1.5 * tick
        bracket = np.array([[left, a], [x, a], [x, b], [left, b], [right, a], [right, b]])
        lines = np.array([[0, 1], [1, 2], [2, 3], [0, 4], [3, 5]])
        _shapes(pl, bracket, lines=lines, width=1.5, name="bracket")
        what = "window" if window[1] <= high else "window, to"
        span = f"{window[0]:.3g}-{window[1]:.3g}"
        _text(pl, f"{what}\n{span}", (x - tick, 0.5 * (a + b)), align="right", valign="center",
              name="window-label")  # fmt: skip
    line1, line2 = title
    _text(pl, line1, (0.02, 1.0 - 12.0 / height), valign="top", size=16, bold=True,
          name="title")  # fmt: skip
    _text(pl, line2, (0.02, 1.0 - 36.0 / height), valign="top", name="subtitle")
    step, box = 18.0 / height, 11.0
    for i, (colour, text) in enumerate(reversed(legend)):
        y = 0.02 + i * step
        x1, y1 = 0.02 + box / width, y + box / height
        square = np.array([[0.02, y], [x1, y], [x1, y1], [0.02, y1]])
        rgb = (np.array(_rgb(colour)) * 255).round().astype(np.uint8)[None]
        _shapes(pl, square, quads=np.array([[0, 1, 2, 3]]), colours=rgb, name=f"legend-box-{i}")
        _text(pl, text, (0.02 + (box + 6.0) / width, y + 0.5 * box / height), valign="center",
              name=f"legend-{i}")  # fmt: skip


def _clear_overlay(pl) -> None:
    for name in [n for n in pl.renderer.actors if n.startswith(OVERLAY)]:
        pl.remove_actor(name, render=False)


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
    :func:`map_label`'s) through :func:`viridis`; its title, colour bar and legends are the
    actors whose names begin with :data:`OVERLAY`. ``device=False`` leaves out the LEDs, the
    carrier and the occluders (the bare skin). ``plotter`` draws into an existing plotter;
    ``kw`` go to a new ``pyvista.Plotter`` (``off_screen``, ``window_size``).

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
    _, default, window = map_label(quantity, scene)
    clim = default if clim is None else clim
    colours = viridis()
    table = pv.LookupTable(values=np.column_stack([colours, np.full(256, 255, np.uint8)]),
                           scalar_range=clim)  # fmt: skip
    pl.add_mesh(skin, scalars=quantity, cmap=table, clim=clim, name="skin",
                smooth_shading=True, show_scalar_bar=False)  # fmt: skip
    _segments(pl, region_outlines(scene), colour="white", width=1.5, name="regions")
    legend: list[tuple[str, str]] = []
    if device:
        _draw_device(pl, scene)
        legend = [(colour, text) for _, colour, text in led_legend(scene)]
    _clear_overlay(pl)
    _draw_overlay(
        pl,
        title=picture_title(scene, quantity),
        unit=describe_map(quantity, scene)[2],
        clim=clim,
        colours=colours,
        window=window,
        legend=legend,
    )
    return pl


def _draw_device(pl, scene: ResultScene) -> None:
    """Draw the LEDs, the carrier's outline and the occluders of ``scene`` on plotter ``pl``."""
    pv = _pv()
    leds = scene.leds
    size = 0.012 * float(np.linalg.norm(np.ptp(frame_points(scene), axis=0)))
    beams = led_beams(scene)
    apart = beams_apart(scene, beams)
    for channel, colour in channel_colours(scene).items():
        sel = leds["channel"] == channel
        lit = bool(np.any(leds["power_mw"][sel] > 0))
        if lit and apart:
            _segments(pl, beams[sel], colour=colour, width=1.0, name=f"beams-{channel}")
        cloud = pv.PolyData(leds["positions_mm"][sel])
        cloud["axis"] = leds["axes"][sel]
        cone = pv.Cone(direction=(1.0, 0.0, 0.0), height=size, radius=0.35 * size, resolution=8)
        pl.add_mesh(
            cloud.glyph(orient="axis", scale=False, geom=cone),
            color=colour if lit else OFF_COLOUR,
            name=f"leds-{channel}",
        )
    _segments(pl, carrier_outline(scene), colour=CARRIER_COLOUR, width=2.0, name="carrier")
    for i, occluder in enumerate(scene.occluders):
        pl.add_mesh(_polydata(*occluder), color="#555555", name=f"occluder-{i}")


def set_view(
    plotter,
    points_mm: NDArray[np.float64],
    view: str,
    *,
    area: tuple[float, float, float, float] = SCENE_AREA,
) -> None:
    """Point the camera at the points ``points_mm`` from a named view (``VIEWS``).

    They fill ``area`` of the window (:func:`camera_for`), by default the part that the
    title, colour bar and legends leave (:data:`SCENE_AREA`).

    Raises
    ------
    InputError
        Naming ``view`` if it is not one of ``VIEWS``.
    """
    width, height = plotter.window_size
    camera = camera_for(points_mm, view, aspect=width / height, area=area)
    plotter.camera_position = [
        tuple(camera["position"]),
        tuple(camera["focal_point"]),
        tuple(camera["up"]),
    ]
    plotter.camera.view_angle = VIEW_ANGLE_DEG
    plotter.camera.SetWindowCenter(*camera["window_center"])
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
    ``device`` (see :func:`plotter_for`), framed on the treated skin and the LEDs
    (:func:`frame_points`).
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
    points = frame_points(scene)
    paths = []
    for view in views or scene.default_views:
        set_view(pl, points, view)
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
    unit: str = "J/cm²",
    views: tuple[str, ...] = ("front",),
    window_size: tuple[int, int] = (900, 720),
) -> list[Path]:
    """Write PNG pictures of one per-vertex map of either sign (a difference) on a bare surface.

    Blue below zero, red above, white at zero; the scale is symmetric about zero and reaches
    the 98th percentile of the magnitude (the few points beyond take the end colours).
    ``title`` heads each picture, ``unit`` the colour bar.
    """
    pv = _pv()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top = max(float(np.percentile(np.abs(values), 98)), 1e-12)
    pl = pv.Plotter(off_screen=True, window_size=list(window_size))
    pl.set_background("white")
    mesh = _polydata(vertices_mm, faces)
    mesh.point_data["values"] = values
    actor = pl.add_mesh(mesh, scalars="values", cmap="coolwarm", clim=(-top, top),
                        smooth_shading=True, show_scalar_bar=False)  # fmt: skip
    table = actor.mapper.lookup_table
    colours = np.asarray(table.values)[:, :3].astype(np.uint8)
    _draw_overlay(pl, title=(title, _difference_note(values)), unit=unit, clim=(-top, top),
                  colours=colours, window=None, legend=[])  # fmt: skip
    paths = []
    for view in views:
        set_view(pl, vertices_mm, view)
        paths.append(out_dir / f"{view}.png")
        pl.screenshot(str(paths[-1]))
    pl.close()
    return paths


def _difference_note(values: NDArray[np.float64]) -> str:
    """Return the second title line of a difference map: its range and the colour scale's reach."""
    return (
        f"from {float(np.min(values)):.3g} to {float(np.max(values)):.3g}; the scale reaches "
        "the 98th percentile of the magnitude"
    )


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
        set_view(self.plotter, frame_points(scene), scene.default_views[0])
        self.plotter.enable_point_picking(
            callback=self.pick, show_message=False, show_point=True, left_clicking=True
        )

    def _draw(self) -> None:
        pl = self.plotter
        camera = pl.camera_position if pl.renderer.actors else None
        pl.clear_actors()
        plotter_for(self.scene, quantity=self.quantity, plotter=pl)
        depth = ", d deeper" if self.scene.depth_maps else ""
        _text(pl, f"keys: h fluence, i irradiance, n next map{depth}; click the skin",
              (0.98, 0.02), align="right", size=10, name="keys")  # fmt: skip
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
        height = self.plotter.window_size[1]
        _text(self.plotter, self.picked, (0.02, 1.0 - 60.0 / height), valign="top", size=10,
              name="picked")  # fmt: skip

    def show(self) -> None:  # pragma: no cover - blocks on a display
        """Open the window; returns when it is closed."""
        self.plotter.show()
