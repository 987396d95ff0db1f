"""Carriers: the surfaces LEDs sit on, built from the anatomy (docs/physics.md §6.4).

A carrier is a shell over a patch of reference skin, ``standoff_mm`` out along the skin
normals, with an LED direction at every shell vertex (towards the skin), a 2D chart for
lattice patterns, and the axis it is pushed out along when worn:

- ``rigid``: a smooth shell (normals averaged over a standoff-sized neighbourhood) shaped
  once on the reference face, with cut-outs (eyes, nostrils, mouth). Worn on another face it
  keeps its shape: it is placed at the same nasion and moved out along +Z until nothing is
  closer to the skin than ``clearance_mm``, so the gap differs from wearer to wearer.
- ``flexible``: each LED is tied to a point of the skin and sits ``standoff_mm`` out along
  the local skin normal, pointing back along it, on every wearer: the gap is constant,
  spacing and pointing follow the wearer's surface.
- ``helmet``: a rigid shell over the scalp, pushed out along +Y when worn.
- ``pad``: flexible, over the pelvic skin (``pelvic``) or a Y-shaped piece over the sacrum
  and lower back (``y``).
- ``panel``: a flat rectangle at a distance in front of the target, LEDs facing it.

Shell faces keep the skin face they were offset from, so a point on the shell (face and
barycentric coordinates) names a point on the reference skin; on a wearer with the same
vertex numbering (every variant of a built-in anatomy) it names the same anatomical point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin.errors import InputError
from twin.geometry import anatomy
from twin.geometry.surface import Surface
from twin.geometry.topology import boundary_loops, face_components
from twin.geometry.variants import Variant

CARRIER_KINDS = ("rigid", "flexible", "helmet", "pad", "panel")
#: Cut-outs a face mask can have: eye openings (the eye region and 4 mm around it), the
#: nostrils (a 9 mm disk under the nose tip) and the mouth (a 13 mm disk around the lips).
FACE_CUTOUTS = ("eyes", "nostrils", "mouth")
PAD_SHAPES = ("pelvic", "y")
#: Where a panel stands for each built-in anatomy: the landmark it is centred in front of and
#: the direction from that landmark to the panel.
PANEL_PLACEMENT = {
    "face": ("nasion", (0.0, 0.0, 1.0)),
    "head": ("nasion", (0.0, 0.0, 1.0)),
    "scalp": ("vertex", (0.0, 1.0, 0.0)),
    "pelvis": ("pubis", (0.0, 0.0, 1.0)),
}
_PELVIC_REGIONS = ("mons", "genital", "perineum")
#: Y-piece outline on the back, mm in its chart: stem up the lower back, two arms down over
#: the buttocks from the sacrum (assumptions: no vendor dimensions are published).
Y_STEM_MM = (60.0, 130.0)  # width, length
Y_ARM_MM = (55.0, 120.0, 35.0)  # width, length, angle from the midline in degrees


@dataclass(frozen=True)
class Chart:
    """A 2D chart of a carrier, radial (equal-area) or planar.

    ``radial``: Lambert azimuthal equal-area about ``axis`` seen from ``centre``; ``planar``:
    the plane through ``centre`` normal to ``axis``.

    Chart coordinates are in mm. A radial chart maps directions from the centre as the
    equal-area projection of a sphere of ``radius_mm`` (chart radius ``2 R sin(polar / 2)``),
    so a lattice of even density in the chart has even density on a carrier that is close to
    that sphere.
    """

    kind: str  # "radial" or "planar"
    centre: NDArray[np.float64]  # (3,) mm
    axis: NDArray[np.float64]  # (3,) unit
    radius_mm: float

    @property
    def _basis(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        helper = np.array([0.0, 1.0, 0.0]) if abs(self.axis[1]) < 0.9 else np.array([1.0, 0, 0])
        e1 = np.cross(helper, self.axis)
        e1 /= np.linalg.norm(e1)
        return e1, np.cross(self.axis, e1)

    def to_2d(self, points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """(k, 3) points -> (k, 2) chart coordinates, mm."""
        e1, e2 = self._basis
        d = points_mm - self.centre
        if self.kind == "planar":
            return np.column_stack([d @ e1, d @ e2])
        d = d / np.linalg.norm(d, axis=1)[:, None]
        polar = np.arccos(np.clip(d @ self.axis, -1.0, 1.0))
        azimuth = np.arctan2(d @ e2, d @ e1)
        r = 2.0 * self.radius_mm * np.sin(polar / 2.0)
        return r[:, None] * np.column_stack([np.cos(azimuth), np.sin(azimuth)])

    def rays(self, uv: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return the rays that meet the carrier at chart points ``uv``.

        Parameters
        ----------
        uv : (k, 2) float64, mm
            Chart coordinates.

        Returns
        -------
        origins : (k, 3) float64, mm
        directions : (k, 3) float64
            Unit vectors.
        """
        e1, e2 = self._basis
        if self.kind == "planar":
            origins = self.centre + uv[:, :1] * e1 + uv[:, 1:] * e2 - 1e3 * self.axis
            return origins, np.tile(self.axis, (len(uv), 1))
        r = np.minimum(np.linalg.norm(uv, axis=1) / (2.0 * self.radius_mm), 1.0)
        polar = 2.0 * np.arcsin(r)
        azimuth = np.arctan2(uv[:, 1], uv[:, 0])
        side = np.cos(azimuth)[:, None] * e1 + np.sin(azimuth)[:, None] * e2
        directions = np.cos(polar)[:, None] * self.axis + np.sin(polar)[:, None] * side
        return np.tile(self.centre, (len(uv), 1)), directions


@dataclass(frozen=True)
class Carrier:
    """A carrier surface with LED directions.

    Attributes
    ----------
    kind : str
        One of ``CARRIER_KINDS``.
    shell : Surface
        The carrier, mm, reference frame.
    led_axes : (v, 3) float64
        Unit LED direction at each shell vertex (towards the skin).
    skin_faces : (f,) int64 or None
        For shells over skin: the reference-skin face under each shell face.
    reference : Surface or None
        The skin the carrier was shaped on.
    chart : Chart
    push_axis : (3,) float64
        The direction a rigid carrier moves out along when worn.
    standoff_mm : float, mm
    conforming : bool
        Whether the LEDs follow each wearer's skin (flexible, pad).
    """

    kind: str
    shell: Surface
    led_axes: NDArray[np.float64]
    skin_faces: NDArray[np.int64] | None
    reference: Surface | None
    chart: Chart
    push_axis: NDArray[np.float64]
    standoff_mm: float
    conforming: bool


def facing_emitters(
    surface: Surface, positions_mm: NDArray[np.float64], axes: NDArray[np.float64]
) -> Surface:
    """Return ``surface`` with its normals on the side the emitters shine to.

    A carrier reflects the light that comes back from the skin on its inside, the side its
    LEDs face: the surface is flipped when its vertex normals point, on average, against
    the axis of the emitter nearest to each vertex.

    Parameters
    ----------
    surface : Surface
        The carrier, mm.
    positions_mm : (n, 3) float64, mm
    axes : (n, 3) float64
        The emitters on it.
    """
    _, nearest = cKDTree(positions_mm).query(surface.vertices_mm)
    facing = np.einsum("ij,ij->i", surface.vertex_normals, axes[nearest]).mean()
    if facing >= 0:
        return surface
    return Surface(surface.vertices_mm, surface.faces[:, ::-1], name=surface.name)


def _smoothed_normals(skin: Surface, radius_mm: float) -> NDArray[np.float64]:
    """Vertex normals averaged (area-weighted) over every vertex within ``radius_mm``."""
    normals = skin.vertex_normals
    if radius_mm <= 0:
        return normals
    tree = cKDTree(skin.vertices_mm)
    weights = skin.samples().areas_mm2
    pairs = tree.query_pairs(radius_mm, output_type="ndarray")
    weighted = normals * weights[:, None]
    # Each vertex's own normal, then its pairs' in order: one bincount per axis.
    to = np.concatenate([np.arange(len(normals)), pairs[:, 0], pairs[:, 1]])
    source = np.concatenate([np.arange(len(normals)), pairs[:, 1], pairs[:, 0]])
    total = np.column_stack(
        [np.bincount(to, weights=weighted[source, k], minlength=len(normals)) for k in range(3)]
    )
    return total / np.linalg.norm(total, axis=1)[:, None]


def _shell(
    skin: Surface, keep_vertices: NDArray[np.bool_], *, standoff_mm: float, smooth_mm: float
) -> tuple[Surface, NDArray[np.float64], NDArray[np.int64]]:
    """Return the offset shell over the skin faces whose corners are all kept, in one piece."""
    faces = np.flatnonzero(keep_vertices[skin.faces].all(axis=1))
    if faces.size == 0:
        msg = f"{skin.name}: the carrier covers no skin (every face is cut out)"
        raise InputError(msg)
    labels = face_components(skin.faces[faces])
    area = np.bincount(labels, weights=skin.face_areas_mm2[faces])
    faces = faces[area[labels] >= 0.02 * area.sum()]  # drop slivers the cut-outs left
    normals = _smoothed_normals(skin, smooth_mm)
    used, local = np.unique(skin.faces[faces], return_inverse=True)
    points = skin.vertices_mm[used] + standoff_mm * normals[used]
    shell = Surface(points, local.reshape(-1, 3), name=f"{skin.name} carrier")
    return shell, -normals[used], faces


def _landmarks(name: str, variant: Variant | None) -> dict[str, NDArray[np.float64]]:
    return anatomy.landmarks(variant, anchor=anatomy.ANCHORS[name])


def _face_keep(
    face: Surface, cutouts: tuple[str, ...], lm: dict[str, NDArray[np.float64]]
) -> NDArray[np.bool_]:
    """Face vertices outside the cut-outs."""
    unknown = [c for c in cutouts if c not in FACE_CUTOUTS]
    if unknown:
        msg = f"cutouts: unknown cut-out {unknown[0]!r}; available: {', '.join(FACE_CUTOUTS)}"
        raise InputError(msg)
    p = face.vertices_mm
    keep = np.ones(len(p), dtype=bool)
    if "eyes" in cutouts:
        eyes = p[face.regions["eyes"]]
        keep &= cKDTree(eyes).query(p)[0] > 4.0
    if "nostrils" in cutouts:
        under_tip = lm["nose_tip"] + np.array([0.0, -12.0, -8.0])
        keep &= np.linalg.norm(p - under_tip, axis=1) > 9.0
    if "mouth" in cutouts:
        lips = face.vertices_mm[_lip_loop(face, lm)]
        centre = lips.mean(axis=0)
        keep &= np.hypot(p[:, 0] - centre[0], p[:, 1] - centre[1]) > 13.0
    return keep


def _lip_loop(face: Surface, lm: dict[str, NDArray[np.float64]]) -> NDArray[np.int64]:
    """Vertices of the face's boundary loop around the lips (the one nearest the mouth)."""
    guess = np.array([0.0, 0.5 * (lm["nose_tip"][1] + lm["menton"][1]), lm["nose_tip"][2]])
    loops = boundary_loops(face.faces)
    return min(loops, key=lambda c: np.linalg.norm(face.vertices_mm[c].mean(axis=0) - guess))


def _head_centre(lm: dict[str, NDArray[np.float64]]) -> NDArray[np.float64]:
    return 0.5 * (lm["tragion_left"] + lm["tragion_right"])


def _pelvic_centre(lm: dict[str, NDArray[np.float64]]) -> NDArray[np.float64]:
    return np.array([0.0, lm["pubis"][1] + 20.0, 0.5 * (lm["pubis"][2] + lm["sacrum"][2])])


def _radial_chart(shell: Surface, centre: NDArray[np.float64], axis: NDArray[np.float64]) -> Chart:
    radius = float(np.median(np.linalg.norm(shell.vertices_mm - centre, axis=1)))
    return Chart("radial", centre, axis / np.linalg.norm(axis), radius)


def face_mask(
    kind: str,
    *,
    standoff_mm: float,
    cutouts: tuple[str, ...] = FACE_CUTOUTS,
    variant: Variant | None = None,
) -> Carrier:
    """Build a ``rigid`` or ``flexible`` face mask over the built-in face (or a variant's).

    Parameters
    ----------
    kind : {"rigid", "flexible"}
    standoff_mm : float, mm
        Shell distance from the skin (rigid: along normals smoothed over this distance).
    cutouts : tuple of str
        Openings, from ``FACE_CUTOUTS``.
    variant : Variant, optional
        The face it is shaped on (default: the base face).
    """
    face = anatomy.builtin("face", variant=variant)
    lm = _landmarks("face", variant)
    keep = _face_keep(face, tuple(cutouts), lm)
    rigid = kind == "rigid"
    shell, axes, skin_faces = _shell(
        face, keep, standoff_mm=standoff_mm, smooth_mm=standoff_mm if rigid else 0.0
    )
    if rigid:
        axes = -shell.vertex_normals
    chart = _radial_chart(shell, _head_centre(lm), np.array([0.0, 0.0, 1.0]))
    return Carrier(
        kind,
        shell,
        axes,
        skin_faces,
        face,
        chart,
        np.array([0.0, 0.0, 1.0]),
        standoff_mm,
        not rigid,
    )


def helmet(*, standoff_mm: float, variant: Variant | None = None) -> Carrier:
    """Build a rigid helmet shell over the built-in scalp (or a variant's).

    Parameters
    ----------
    standoff_mm : float, mm
        Shell distance from the scalp, 5-20 mm.
    variant : Variant, optional
        The head it is shaped on (default: the base scalp).

    Raises
    ------
    InputError
        Naming ``standoff_mm`` if it is outside 5-20 mm.
    """
    if not 5.0 <= standoff_mm <= 20.0:
        msg = f"standoff_mm: a helmet sits 5-20 mm off the scalp, got {standoff_mm:g}"
        raise InputError(msg)
    scalp = anatomy.builtin("scalp", variant=variant)
    keep = np.ones(len(scalp.vertices_mm), dtype=bool)
    shell, _, skin_faces = _shell(scalp, keep, standoff_mm=standoff_mm, smooth_mm=standoff_mm)
    up = np.array([0.0, 1.0, 0.0])
    chart = _radial_chart(shell, _head_centre(_landmarks("scalp", variant)), up)
    return Carrier(
        "helmet",
        shell,
        -shell.vertex_normals,
        skin_faces,
        scalp,
        chart,
        up,
        standoff_mm,
        conforming=False,
    )


def pad(shape: str, *, standoff_mm: float, variant: Variant | None = None) -> Carrier:
    """Build a conforming pad over the built-in pelvis (or a variant's).

    Parameters
    ----------
    shape : {"pelvic", "y"}
        ``pelvic``: mons, genital area and perineum; ``y``: a Y-shaped piece over the sacrum
        and lower back (``Y_STEM_MM`` and ``Y_ARM_MM``).
    standoff_mm : float, mm
        Distance of the pad's surface from the skin, along the skin's normals.
    variant : Variant, optional
        The body it is shaped on (default: the base pelvis).
    """
    if shape not in PAD_SHAPES:
        msg = f"shape: expected one of {', '.join(PAD_SHAPES)}, got {shape!r}"
        raise InputError(msg)
    pelvis = anatomy.builtin("pelvis", variant=variant)
    lm = _landmarks("pelvis", variant)
    centre = _pelvic_centre(lm)
    if shape == "pelvic":
        keep = np.zeros(len(pelvis.vertices_mm), dtype=bool)
        for region in _PELVIC_REGIONS:
            keep[pelvis.regions[region]] = True
        axis = pelvis.vertices_mm[keep].mean(axis=0) - centre
    else:
        axis = np.array([0.0, 0.0, -1.0])
        keep = _y_outline(pelvis, Chart("planar", centre, axis, 1.0), lm["sacrum"])
    shell, axes, skin_faces = _shell(pelvis, keep, standoff_mm=standoff_mm, smooth_mm=0.0)
    chart = _radial_chart(shell, centre, axis)
    return Carrier(
        "pad", shell, axes, skin_faces, pelvis, chart, chart.axis, standoff_mm, conforming=True
    )


def _y_outline(pelvis: Surface, chart: Chart, sacrum_mm: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Back-facing pelvis vertices inside the Y outline, seen from behind."""
    uv = chart.to_2d(pelvis.vertices_mm)
    sacrum = chart.to_2d(sacrum_mm[None])[0]
    x, y = uv[:, 0] - sacrum[0], uv[:, 1] - sacrum[1]
    stem_w, stem_l = Y_STEM_MM
    in_stem = (np.abs(x) < stem_w / 2) & (y > -stem_w / 2) & (y < stem_l)
    arm_w, arm_l, angle = Y_ARM_MM
    in_arms = np.zeros(len(uv), dtype=bool)
    for side in (-1.0, 1.0):
        direction = np.array([side * np.sin(np.radians(angle)), -np.cos(np.radians(angle))])
        along = x * direction[0] + y * direction[1]
        across = np.abs(-x * direction[1] + y * direction[0])
        in_arms |= (along > 0) & (along < arm_l) & (across < arm_w / 2)
    facing_back = pelvis.vertex_normals[:, 2] < -0.2
    return (in_stem | in_arms) & facing_back


def panel(anatomy_name: str, *, distance_mm: float, width_mm: float, height_mm: float) -> Carrier:
    """Build a flat panel ``distance_mm`` in front of the anatomy's anchor landmark, facing it.

    Face, head: in front (+Z) of the nasion; scalp: above (+Y) the vertex; pelvis: in front
    of the pubis (``PANEL_PLACEMENT``). The panel is a grid of about 2 mm squares.

    Raises
    ------
    InputError
        Naming ``anatomy_name`` if it is not a built-in anatomy.
    """
    if anatomy_name not in PANEL_PLACEMENT:
        msg = f"anatomy_name: expected one of {', '.join(PANEL_PLACEMENT)}, got {anatomy_name!r}"
        raise InputError(msg)
    lm = anatomy.landmarks()
    landmark, facing = PANEL_PLACEMENT[anatomy_name]
    axis = np.array(facing)
    centre = lm[landmark] + distance_mm * axis
    chart = Chart("planar", centre, -axis, 1.0)
    nu, nv = (max(2, int(np.ceil(s / 2.0)) + 1) for s in (width_mm, height_mm))
    u, v = np.meshgrid(
        np.linspace(-width_mm / 2, width_mm / 2, nu),
        np.linspace(-height_mm / 2, height_mm / 2, nv),
    )
    e1, e2 = chart._basis
    points = centre + u.reshape(-1, 1) * e1 + v.reshape(-1, 1) * e2
    grid = np.arange(nu * nv).reshape(nv, nu)
    a, b, c, d = grid[:-1, :-1], grid[:-1, 1:], grid[1:, 1:], grid[1:, :-1]
    faces = np.concatenate([np.stack([a, b, c], -1), np.stack([a, c, d], -1)]).reshape(-1, 3)
    shell = Surface(points, faces, name="panel")
    if np.dot(shell.face_normals[0], axis) < 0:  # the panel faces the target
        shell = shell.flipped()
    axes = np.tile(-axis, (len(points), 1))
    return Carrier("panel", shell, axes, None, None, chart, axis, distance_mm, conforming=False)
