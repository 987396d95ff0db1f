"""Built-in anatomy from the CC0 MakeHuman hm08 body: face, scalp, pelvis and whole head.

The skin (``geometry/hm08_skin.npz``, provenance in ``geometry/README.md``) is one closed,
outward-wound surface in decimetres, +Y up, +Z forward, +X the subject's left; twin loads it in
millimetres. Each anatomy is a cut of that body by planes through landmarks and, around
the ears, by a smooth field; its named regions are rules on the
same landmarks. A cut follows each plane or field through the triangles, adding points where
edges cross it (``_slice``), so its border is a smooth curve: cutting along mesh edges instead
leaves a staircase, half-quad spikes and, where a landmark that defines a plane lies on it, a
notch (the V-notch and two spikes at the top of the forehead). Cuts and regions are
evaluated once on the base mesh and stored as vertex indices and points on edges (fractions
of an edge between two indices), so they carry over to any shape variant with the same
vertex numbering.

Refinement (:mod:`twin.geometry.refine`) splits long edges, lifting each new point along the closed
body's normals, so a refined cut follows the smooth body: the area does not inflate as it
does when an open patch is Loop-subdivided on its own. It is planned on the base body and
replayed on each variant (:mod:`twin.geometry.variants`), so every variant of an anatomy has
the same vertices, triangles and regions.

A variant is placed so that the anchor landmark of the anatomy (``ANCHORS``: the nasion for
the head anatomies, the pubis for the pelvis) sits where it sits on the base body: a device
laid out on the base face starts in the right place on every other face.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import cast

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin._data import data_dir
from twin.errors import InputError
from twin.geometry.refine import Refinement, plan_refinement
from twin.geometry.surface import Surface
from twin.geometry.topology import boundary_loops, face_components
from twin.geometry.variants import Variant, offsets_mm

DM_TO_MM = 100.0

#: Landmarks at fixed hm08 vertex indices.
_FIXED_LANDMARKS = {
    "vertex": 881,
    "nose_tip": 297,
    "nasion": 132,
    "menton": 991,
    "nape": 5266,
    "navel": 4121,
    "perineum": 4376,
    "pubis": 4335,
}
#: Landmarks found as the skin vertex nearest a position in decimetres.
_NEAREST_LANDMARKS_DM = {
    "trichion": (0.0, 8.21, 1.25),
    "tragion_left": (0.72, 7.15, 0.63),
    "tragion_right": (-0.72, 7.15, 0.63),
    "supra_auricular_left": (0.73, 7.42, 0.45),
    "supra_auricular_right": (-0.73, 7.42, 0.45),
    "gonion_left": (0.56, 6.55, 0.55),
    "gonion_right": (-0.56, 6.55, 0.55),
    "sacrum": (0.0, 0.80, -0.78),  # back midline over S2, above the gluteal cleft
}

ANATOMIES = ("face", "scalp", "pelvis", "head")
#: Default maximum edge length after refinement, mm (docs/physics.md §1.7).
DEFAULT_MAX_EDGE_MM = {"face": 2.5, "scalp": 4.0, "pelvis": 4.0, "head": 4.0}
#: Regions of each anatomy; ``eyes`` is left out of the treated skin by default.
REGIONS = {
    "face": (
        "eyes",
        "nose",
        "periorbital_left",
        "periorbital_right",
        "glabella",
        "forehead",
        "lips",
        "upper_lip",
        "perioral",
        "chin",
        "jaw",
        "cheek_left",
        "cheek_right",
    ),
    "scalp": ("vertex", "temporal_left", "temporal_right", "frontal", "occipital", "mid_scalp"),
    "pelvis": (
        "perineum",
        "genital",
        "mons",
        "sacral",
        "lower_back",
        "gluteal_left",
        "gluteal_right",
    ),
    "head": ("eyes", "ears", "face", "scalp", "neck"),
}
#: The landmark each anatomy's variants share with the base body (see the module docstring).
ANCHORS = {"face": "nasion", "scalp": "nasion", "head": "nasion", "pelvis": "pubis"}
_CAVITY_RAYS = 32
#: A cut adds no point nearer than this fraction of an edge's length to either end: a vertex
#: that near the cut moves onto it instead (see ``_slice``).
_SNAP = 0.25
#: Halvings that place a cut's point on its edge (to 2**-30 of the edge's length).
_BISECTIONS = 30
#: Width of the Gaussian that smooths the ears' border before it is cut (``_ears``), mm.
_EAR_SIGMA_MM = 8.0
#: Where two of a cut's fields come within this of each other, their corner is rounded, mm
#: (under the 10 mm at which the ears' field levels off, so a border away from the ears stays
#: exactly on its plane: the trichion on the hairline's, the menton on the jaw's).
_CORNER_MM = 8.0


@dataclass(frozen=True)
class _Body:
    vertices_mm: NDArray[np.float64]  # (13380, 3)
    faces: NDArray[np.int64]  # (26756, 3)
    ears: NDArray[np.bool_]  # (13380,)
    eyes: tuple[Surface, Surface]  # left, right eyeballs
    landmarks: dict[str, int]  # name -> vertex index

    @property
    def landmark_mm(self) -> dict[str, NDArray[np.float64]]:
        return {name: self.vertices_mm[i] for name, i in self.landmarks.items()}


def _quads_to_triangles(quads: NDArray) -> NDArray[np.int64]:
    q = quads.astype(np.int64)
    tri = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    return tri[(tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])]


@cache
def _body() -> _Body:
    asset = np.load(data_dir("geometry") / "hm08_skin.npz")
    vertices = asset["skin_vertices_dm"].astype(np.float64) * DM_TO_MM
    faces = _quads_to_triangles(asset["skin_quads"])
    ears = np.zeros(len(vertices), dtype=bool)
    ears[asset["ear_vertices"]] = True
    left_eye, right_eye = (
        Surface(
            asset[f"{side}_eye_vertices_dm"].astype(np.float64) * DM_TO_MM,
            _quads_to_triangles(asset[f"{side}_eye_quads"]),
            name=f"builtin:eye_{name}",
        )
        for side, name in (("l", "left"), ("r", "right"))
    )
    landmarks = dict(_FIXED_LANDMARKS)
    for name, position_dm in _NEAREST_LANDMARKS_DM.items():
        d = np.linalg.norm(vertices - np.asarray(position_dm) * DM_TO_MM, axis=1)
        landmarks[name] = int(np.argmin(d))
    return _Body(vertices, faces, ears, (left_eye, right_eye), landmarks)


@lru_cache(maxsize=64)
def _shape_mm(variant: Variant | None, anchor: str | None) -> NDArray[np.float64]:
    """Skin and eyeball vertices (in that order) of ``variant``, mm, anchored at a landmark."""
    b = _body()
    base = np.vstack([b.vertices_mm, *(e.vertices_mm for e in b.eyes)])
    if variant is None:
        return base
    shape = base + offsets_mm(variant)
    if anchor is not None:
        i = b.landmarks[anchor]
        shape += base[i] - shape[i]
    shape.flags.writeable = False
    return shape


def _check_anchor(anchor: str | None) -> None:
    if anchor is not None and anchor not in _body().landmarks:
        have = ", ".join(_body().landmarks)
        msg = f"anatomy: unknown anchor landmark {anchor!r}; available: {have}"
        raise InputError(msg)


def body(variant: Variant | None = None, *, anchor: str | None = None) -> Surface:
    """Return the whole closed hm08 skin, mm (13,380 vertices, 26,756 triangles).

    Parameters
    ----------
    variant : Variant, optional
        A body shape (default: the base mesh).
    anchor : str, optional
        A landmark name: translate the variant so this landmark sits where it is on the base.
    """
    _check_anchor(anchor)
    b = _body()
    vertices = _shape_mm(variant, anchor)[: len(b.vertices_mm)]
    return Surface(vertices, b.faces, name="builtin:body")


def eyeballs(
    variant: Variant | None = None, *, anchor: str | None = "nasion"
) -> tuple[Surface, Surface]:
    """Return the left and right eyeballs as closed surfaces, mm (for eye-exposure estimates).

    ``variant`` and ``anchor`` as for :func:`body`; by default the eyes are anchored at the
    nasion like the built-in face.
    """
    _check_anchor(anchor)
    b = _body()
    shape = _shape_mm(variant, anchor)
    n_left = len(b.eyes[0].vertices_mm)
    start = len(b.vertices_mm)
    left, right = shape[start : start + n_left], shape[start + n_left :]
    left_eye, right_eye = (
        Surface(points, eye.faces, name=eye.name)
        for points, eye in zip((left, right), b.eyes, strict=True)
    )
    return left_eye, right_eye


#: Eye shields (goggles): a disk of this radius and thickness over each eye, its inner face
#: this far in front of the eyelids (assumptions for a typical LED-mask goggle).
EYE_SHIELD_MM = {"radius": 22.0, "thickness": 1.5, "gap": 2.0}


def eye_shields(variant: Variant | None = None) -> Surface:
    """Two closed disks over the eyes of the built-in face (or a variant's), mm.

    Each is centred on the eyeball's axis, ``EYE_SHIELD_MM["gap"]`` in front of the most
    forward eyelid point within its radius; used as an occluder in blue-light scenes.
    """
    import trimesh  # only here, for the disks

    face = builtin("face", variant=variant)
    eyelids = face.vertices_mm[face.regions["eyes"]]
    parts = []
    for eye in eyeballs(variant):
        centre = eye.vertices_mm.mean(axis=0)
        near = np.hypot(*(eyelids[:, :2] - centre[:2]).T) < EYE_SHIELD_MM["radius"]
        front = eyelids[near, 2].max() + EYE_SHIELD_MM["gap"]
        disk = trimesh.creation.cylinder(
            radius=EYE_SHIELD_MM["radius"], height=EYE_SHIELD_MM["thickness"], sections=48
        )
        disk.apply_translation([centre[0], centre[1], front + EYE_SHIELD_MM["thickness"] / 2])
        parts.append(disk)
    both = cast("trimesh.Trimesh", trimesh.util.concatenate(parts))  # meshes in, a mesh out
    return Surface(both.vertices, both.faces, name="builtin:eye-shields")


def landmarks(
    variant: Variant | None = None, *, anchor: str | None = None
) -> dict[str, NDArray[np.float64]]:
    """Named landmark positions, mm; ``variant`` and ``anchor`` as for :func:`body`.

    Use ``anchor=ANCHORS[name]`` for the landmarks of ``builtin(name, variant=...)``.
    """
    _check_anchor(anchor)
    shape = _shape_mm(variant, anchor)
    return {name: shape[i].copy() for name, i in _body().landmarks.items()}


#: A field of the scene frame, negative on the side a cut keeps: (n, 3) points, mm -> (n,).
_Field = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _plane(a, b, c, *, keep) -> _Field:
    """Signed distance to the plane through a, b, c, mm: negative on the side of ``keep``."""
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n)
    if np.dot(keep - a, n) > 0:
        n = -n
    return lambda points: (points - a) @ n


@dataclass(frozen=True)
class _EdgePoints:
    """Points a cut adds on mesh edges: point ``k`` is ``(1 - t[k]) p[i] + t[k] p[j]``.

    They are numbered after the points that exist before them, in this order; as vertex
    numbers they hold on every shape variant, like the refinement's midpoints.
    """

    edges: NDArray[np.int64]  # (k, 2) the end points i, j
    t: NDArray[np.float64]  # (k,) in [0, 1]


def _with_edge_points(values: NDArray[np.float64], added: _EdgePoints) -> NDArray[np.float64]:
    """Per-point values (positions, normals) extended by interpolation to a cut's points.

    Parameters
    ----------
    values : (v, 3) float64
        One row per point the cut's points are numbered after (the body's vertices).
    added : _EdgePoints

    Returns
    -------
    (v + added, 3) float64
        The first ``v`` rows are ``values``.
    """
    t = added.t[:, None]
    return np.vstack([values, (1 - t) * values[added.edges[:, 0]] + t * values[added.edges[:, 1]]])


def _unique_edges(faces: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.unique(np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)


def _crossings(
    points_mm: NDArray[np.float64], edges: NDArray[np.int64], field: _Field
) -> NDArray[np.float64]:
    """Where the field changes sign along each edge, as the fraction ``t`` from its first end."""
    a, b = points_mm[edges[:, 0]], points_mm[edges[:, 1]]
    low, high = np.zeros(len(edges)), np.ones(len(edges))
    negative_first = field(a) < 0
    for _ in range(_BISECTIONS):
        t = 0.5 * (low + high)
        below = (field((1 - t)[:, None] * a + t[:, None] * b) < 0) == negative_first
        low, high = np.where(below, t, low), np.where(below, high, t)
    return 0.5 * (low + high)


def _slice(
    points_mm: NDArray[np.float64], faces: NDArray[np.int64], field: _Field
) -> tuple[_EdgePoints, NDArray[np.int64]]:
    """Cut triangles along the zero level of a field and keep the part where it is negative.

    The cut follows the level through the triangles, not the mesh's edges: where an edge
    crosses it, a point is added on the crossing, so the border is as smooth as the level
    (a plane's, or any smooth field's). A vertex nearer a crossing than ``_SNAP`` of the
    edge's length moves onto the nearest one instead, so no sliver triangles are left; a
    vertex on the level (a landmark that defines a cutting plane) is on the border.

    Parameters
    ----------
    points_mm : (v, 3) float64, mm
    faces : (f, 3) int64
    field : callable
        (n, 3) points, mm -> (n,) values, negative on the side kept.

    Returns
    -------
    points : _EdgePoints
        The moved vertices' new places, then the other crossings, numbered from ``v``.
    faces : (g, 3) int64
        The kept part, triangulated, with the winding of ``faces``.
    """
    value = np.zeros(len(points_mm))
    used = np.unique(faces)
    value[used] = field(points_mm[used])
    edges = _unique_edges(faces)
    edges = edges[value[edges[:, 0]] * value[edges[:, 1]] < 0]
    t = _crossings(points_mm, edges, field)
    # Each vertex nearer than _SNAP to a crossing moves onto its nearest crossing.
    near = np.where(t < 0.5, edges[:, 0], edges[:, 1])
    gap = np.minimum(t, 1 - t)
    order = np.lexsort((gap, near))
    first = order[np.unique(near[order], return_index=True)[1]]
    snap = first[gap[first] < _SNAP]
    n = len(points_mm)
    renumber = np.arange(n)
    renumber[near[snap]] = n + np.arange(len(snap))
    faces = renumber[faces]
    value = np.concatenate([value, np.zeros(len(snap))])
    # The remaining crossings (no moved vertex is on one: it is on the level).
    keep = ~np.isin(edges, near[snap]).any(axis=1)
    added = _EdgePoints(np.vstack([edges[snap], edges[keep]]), np.concatenate([t[snap], t[keep]]))
    crossing = {(int(i), int(j)): n + len(snap) + k for k, (i, j) in enumerate(edges[keep])}
    value = np.concatenate([value, np.zeros(keep.sum())])
    points_mm = _with_edge_points(points_mm, added)
    side = value[faces]
    kept = [faces[(side <= 0).all(axis=1)]]
    for triangle in faces[(side < 0).any(axis=1) & (side > 0).any(axis=1)]:
        polygon = []  # the triangle clipped to the negative side, in its winding order
        for k in range(3):
            p, q = int(triangle[k]), int(triangle[(k + 1) % 3])
            if value[p] <= 0:
                polygon.append(p)
            if value[p] * value[q] < 0:
                polygon.append(crossing[min(p, q), max(p, q)])
        if len(polygon) == 4:  # split along the shorter diagonal
            a, b, c, d = polygon
            if np.linalg.norm(points_mm[a] - points_mm[c]) > np.linalg.norm(
                points_mm[b] - points_mm[d]
            ):
                a, b, c, d = b, c, d, a
            kept.append(np.array([[a, b, c], [a, c, d]]))
        else:
            kept.append(np.array([polygon]))
    return added, np.concatenate(kept)


def _all_of(fields: list[_Field]) -> _Field:
    """One field, negative where all ``fields`` are: their maximum, with rounded corners.

    Two fields within ``r = _CORNER_MM`` of each other combine as
    ``max(a, b) + r h**2 / 4`` with ``h = 1 - |a - b| / r`` (a smooth maximum), elsewhere
    as the plain maximum: a border stays exactly on each plane away from a corner, and a
    corner where two of them meet becomes a bend over a few millimetres instead of a point.
    """

    def field(points: NDArray[np.float64]) -> NDArray[np.float64]:
        out = fields[0](points)
        for other in fields[1:]:
            value = other(points)
            h = np.maximum(1.0 - np.abs(out - value) / _CORNER_MM, 0.0)
            out = np.maximum(out, value) + 0.25 * _CORNER_MM * h**2
        return out

    return field


def _cavity_faces(surface: Surface, candidates: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which candidate faces line the eye sockets or the mouth: enclosed on nearly every side.

    From each face, 32 fixed directions spread over its outer hemisphere are traced; a face
    whose rays hit the body again within 80 mm in at least 90 % of them is enclosed. Only
    enclosed patches of 100 faces or more count as cavities (each socket has 586 triangles),
    so creases of the outer skin stay.
    """
    from twin.raycast import make_tracer

    tracer = make_tracer("auto", surface.triangles_mm)
    n = surface.face_normals[candidates]
    origin = surface.face_centroids_mm[candidates] + 1e-3 * n
    helper = np.where(np.abs(n[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(n, helper)
    u /= np.linalg.norm(u, axis=1)[:, None]
    v = np.cross(n, u)
    k = np.arange(_CAVITY_RAYS) + 0.5
    cos_polar = 1.0 - k / _CAVITY_RAYS  # uniform over the hemisphere's solid angle
    sin_polar = np.sqrt(1.0 - cos_polar**2)
    azimuth = math.pi * (3.0 - math.sqrt(5.0)) * k
    hits = np.zeros(len(candidates))
    for c, s_, a in zip(cos_polar, sin_polar, azimuth, strict=True):
        direction = c * n + s_ * (math.cos(a) * u + math.sin(a) * v)
        dist, _ = tracer.first_hit(origin, direction)
        hits += dist < 80.0
    enclosed = np.flatnonzero(hits >= 0.9 * _CAVITY_RAYS)
    faces = surface.faces[candidates[enclosed]]
    labels = face_components(faces)
    out = np.zeros(len(candidates), dtype=bool)
    out[enclosed[np.bincount(labels)[labels] >= 100]] = True
    return out


def _component(faces: NDArray[np.int64], seed_vertex: int) -> NDArray[np.int64]:
    """Return the connected part of ``faces`` holding ``seed_vertex``."""
    labels = face_components(faces)
    holding = np.flatnonzero((faces == seed_vertex).any(axis=1))
    return faces[labels == labels[holding[0]]]


@dataclass(frozen=True)
class _Cut:
    added: _EdgePoints  # the points the cut adds after the body's vertices
    faces: NDArray[np.int64]  # (f, 3) into the body's vertices, then the added points
    labels: NDArray[np.int64]  # region index per point, -1 for none
    regions: tuple[str, ...]


def _hairline(b: _Body) -> _Field:
    """Distance above the plane through the trichion and supra-auricular points, mm."""
    lm = b.landmark_mm
    return _plane(
        lm["trichion"], lm["supra_auricular_left"], lm["supra_auricular_right"], keep=lm["menton"]
    )


def _ears(b: _Body) -> _Field:
    """Distance into the ears, mm (negative off them), from the share of nearby skin that is ear.

    The share is area-weighted with a Gaussian of ``_EAR_SIGMA_MM`` over the skin's vertices
    (each weighted by a third of its triangles' area), so its half level is a smooth curve
    along the ears' border; the ear vertices themselves (``ear_vertices``) lie on a coarse mesh
    (edges across the border are 6 to 17 mm long) and would leave a staircase. The share less
    one half, times ``sqrt(2 pi)`` sigma (the inverse of its slope across a straight border),
    reads as a distance near the border; it levels off at 10 mm away from it.
    """
    area = np.zeros(len(b.vertices_mm))
    corners = b.vertices_mm[b.faces]
    triangle_area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    np.add.at(area, b.faces, triangle_area[:, None] / 3)
    skin, ears = cKDTree(b.vertices_mm), cKDTree(b.vertices_mm[b.ears])
    reach = 3.0 * _EAR_SIGMA_MM
    scale_mm = math.sqrt(2.0 * math.pi) * _EAR_SIGMA_MM

    def share(points: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.full(len(points), -0.5 * scale_mm)
        near = np.flatnonzero(np.isfinite(ears.query(points, distance_upper_bound=reach)[0]))
        if near.size == 0:
            return out
        pairs = cKDTree(points[near]).sparse_distance_matrix(skin, reach, output_type="ndarray")
        weight = area[pairs["j"]] * np.exp(-0.5 * (pairs["v"] / _EAR_SIGMA_MM) ** 2)
        on_ear = np.bincount(pairs["i"], weight * b.ears[pairs["j"]], minlength=len(near))
        out[near] = (
            on_ear / np.bincount(pairs["i"], weight, minlength=len(near)) - 0.5
        ) * scale_mm
        return out

    return share


def _face_fields(b: _Body) -> list[_Field]:
    """Return the face's fields, negative on the face: hairline, jaw, front (tragions), ears."""
    lm = b.landmark_mm
    up = lm["tragion_left"] + np.array([0.0, 10.0, 0.0])
    return [
        _hairline(b),
        _plane(lm["menton"], lm["gonion_left"], lm["gonion_right"], keep=lm["nose_tip"]),
        _plane(lm["tragion_left"], lm["tragion_right"], up, keep=lm["nose_tip"]),
        _ears(b),
    ]


def _neck_field(b: _Body) -> _Field:
    """Distance below the plane 20 mm under the menton and the nape, mm."""
    lm = b.landmark_mm
    low = np.array([0.0, 20.0, 0.0])
    side = lm["menton"] + np.array([10.0, 0.0, 0.0])
    return _plane(lm["menton"] - low, side - low, lm["nape"] - low, keep=lm["vertex"])


def _pelvis_fields(b: _Body) -> list[_Field]:
    """Return the pelvis's fields, negative inside: under the waist, above the thighs' cut.

    The waist is a plane through the navel rising 9 cm toward the back (about L1), the
    lower cut a horizontal plane 6 cm below the perineum.
    """
    p, lm = b.vertices_mm, b.landmark_mm
    navel, perineum = lm["navel"], lm["perineum"]
    waist = np.abs(p[:, 1] - navel[1]) < 30.0
    back = np.array([0.0, navel[1] + 90.0, p[waist & (np.abs(p[:, 0]) < 60.0), 2].min()])
    x, y, z = np.eye(3)
    low = perineum - 60.0 * y
    return [
        _plane(navel, navel + x, back, keep=perineum),
        _plane(low, low + x, low + z, keep=navel),
    ]


def _cut_body(
    b: _Body, fields: list[_Field], seed: str, *, cavities: bool
) -> tuple[_EdgePoints, NDArray[np.int64]]:
    """Cut the skin where every field is negative, as one piece holding landmark ``seed``.

    With ``cavities``, the eye sockets and the mouth are left out first (their rims, the
    eyelids and lips, are the source mesh's own edge loops).
    """
    field = _all_of(fields)
    candidates = np.flatnonzero(np.any(field(b.vertices_mm)[b.faces] < 0, axis=1))
    if cavities:
        candidates = candidates[~_cavity_faces(body(), candidates)]
    added, faces = _slice(b.vertices_mm, b.faces[candidates], field)
    return added, _component(faces, b.landmarks[seed])


def _assign(
    points: NDArray[np.float64], rules: list[tuple[str, NDArray[np.bool_]]]
) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Label each point with the first rule it meets (-1 for none)."""
    labels = np.full(len(points), -1)
    names = []
    for i, (name, mask) in enumerate(rules):
        labels[(labels < 0) & mask] = i
        names.append(name)
    return labels, tuple(names)


def _face_rules(b: _Body, p: NDArray[np.float64], faces: NDArray[np.int64]) -> list:
    lm = b.landmark_mm
    eye_l, eye_r = (e.vertices_mm.mean(axis=0) for e in b.eyes)
    # The mouth: centre of the face's boundary loop around the lips.
    loops = boundary_loops(faces)
    guess = np.array([0.0, 0.5 * (lm["nose_tip"][1] + lm["menton"][1]), lm["nose_tip"][2]])
    lip_loop = p[min(loops, key=lambda c: np.linalg.norm(p[c].mean(0) - guess))]
    mouth = lip_loop.mean(axis=0)
    x, y = p[:, 0], p[:, 1]

    def around(centre: NDArray[np.float64], radius: float) -> NDArray[np.bool_]:
        return np.hypot(x - centre[0], y - centre[1]) < radius

    subnasale = lm["nose_tip"][1] - 14.0
    brow = eye_l[1] + 22.0
    return [
        ("eyes", around(eye_l, 17.0) | around(eye_r, 17.0)),
        ("nose", (np.abs(x) < 17.0) & (y > subnasale) & (y < lm["nasion"][1] - 4.0)),
        ("periorbital_left", around(eye_l, 28.0)),
        ("periorbital_right", around(eye_r, 28.0)),
        ("glabella", (np.abs(x) < 15.0) & (y > lm["nasion"][1] - 8.0) & (y < brow + 6.0)),
        ("forehead", y >= brow),
        ("lips", cKDTree(lip_loop).query(p)[0] < 7.0),  # the vermilion around the opening
        ("upper_lip", (np.abs(x) < 22.0) & (y > mouth[1] + 2.0) & (y <= subnasale)),
        ("perioral", around(mouth, 32.0)),
        ("chin", (np.abs(x) < 28.0) & (y < mouth[1] - 14.0)),
        ("jaw", y < mouth[1] - 5.0),
        ("cheek_left", x > 0.0),
        ("cheek_right", x <= 0.0),
    ]


def _scalp_rules(b: _Body, p: NDArray[np.float64], faces: NDArray[np.int64]) -> list:
    lm = b.landmark_mm
    used = p[np.unique(faces)]
    half_width = np.abs(used[:, 0]).max()
    z_mid, depth = 0.5 * (used[:, 2].max() + used[:, 2].min()), np.ptp(used[:, 2])
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    return [
        ("vertex", np.linalg.norm(p - lm["vertex"], axis=1) < 45.0),
        ("temporal_left", x > 0.6 * half_width),
        ("temporal_right", x < -0.6 * half_width),
        ("frontal", z > z_mid + 0.25 * depth),
        ("occipital", (z < z_mid - 0.2 * depth) & (y < lm["vertex"][1] - 45.0)),
        ("mid_scalp", np.ones(len(p), dtype=bool)),
    ]


def _pelvis_rules(b: _Body, p: NDArray[np.float64], faces: NDArray[np.int64]) -> list:
    lm = b.landmark_mm
    used = p[np.unique(faces)]
    z_mid = 0.5 * (used[:, 2].max() + used[:, 2].min())
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    back = z < z_mid - 20.0
    return [
        ("perineum", np.linalg.norm(p - lm["perineum"], axis=1) < 30.0),
        (
            "genital",
            (np.abs(x) < 30.0)
            & (y < lm["pubis"][1] - 5.0)
            & (y > lm["perineum"][1] - 20.0)
            & (z > lm["perineum"][2] + 20.0),
        ),
        (
            "mons",
            (np.abs(x) < 65.0)
            & (y < lm["pubis"][1] + 55.0)
            & (z > z_mid + 30.0)
            & (y > lm["perineum"][1]),
        ),
        (
            "sacral",
            back & (np.abs(x) < 45.0) & (y > lm["pubis"][1] + 20.0) & (y < lm["navel"][1] - 40.0),
        ),
        ("lower_back", back & (np.abs(x) < 120.0) & (y >= lm["navel"][1] - 40.0)),
        ("gluteal_left", back & (x > 0.0) & (y < lm["navel"][1] - 40.0)),
        ("gluteal_right", back & (x <= 0.0) & (y < lm["navel"][1] - 40.0)),
    ]


def _head_rules(b: _Body, p: NDArray[np.float64]) -> list[tuple[str, NDArray[np.bool_]]]:
    """Eyes as on the face; ears, face and scalp by the fields that cut those anatomies."""
    face = _cut("face")
    n = len(b.vertices_mm)
    eyes = np.zeros(len(p), dtype=bool)
    eyes[:n] = face.labels[:n] == face.regions.index("eyes")
    hairline, jaw, front, ears = (field(p) for field in _face_fields(b))
    return [
        ("eyes", eyes),
        ("ears", ears > 0),
        ("face", (hairline <= 0) & (jaw <= 0) & (front <= 0)),
        ("scalp", hairline > 0),
        ("neck", np.ones(len(p), dtype=bool)),
    ]


@cache
def _cut(name: str) -> _Cut:
    b = _body()
    if name == "face":
        added, faces = _cut_body(b, _face_fields(b), "nose_tip", cavities=True)
    elif name == "scalp":
        hairline = _hairline(b)
        fields = [lambda points: -hairline(points), _ears(b)]
        added, faces = _cut_body(b, fields, "vertex", cavities=False)
    elif name == "pelvis":
        added, faces = _cut_body(b, _pelvis_fields(b), "perineum", cavities=False)
    else:
        added, faces = _cut_body(b, [_neck_field(b)], "vertex", cavities=True)
    p = _with_edge_points(b.vertices_mm, added)
    if name == "head":
        rules = _head_rules(b, p)
    else:
        rules = {"face": _face_rules, "scalp": _scalp_rules, "pelvis": _pelvis_rules}[name](
            b, p, faces
        )
    labels, names = _assign(p, rules)
    assert names == REGIONS[name]
    used = np.zeros(len(labels), dtype=bool)
    used[faces] = True
    labels[~used] = -1
    return _Cut(added, faces, labels, names)


def _cut_points(
    vertices_mm: NDArray[np.float64], normals: NDArray[np.float64], name: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the body's vertices and unit normals, then those of the points cut ``name`` adds."""
    added = _cut(name).added
    normals = _with_edge_points(normals, added)
    normals = normals / np.linalg.norm(normals, axis=1)[:, None]
    return _with_edge_points(vertices_mm, added), normals


@lru_cache(maxsize=16)
def _plan(
    name: str, max_edge_mm: float
) -> tuple[Refinement, NDArray[np.int64], NDArray[np.int64], dict[str, NDArray[np.int64]]]:
    """Plan the refinement of a cut on the base body: plan, vertices kept, faces, regions."""
    cut = _cut(name)
    # The normals of the closed body, so the cut refines like the body.
    points, normals = _cut_points(_body().vertices_mm, body().vertex_normals, name)
    plan = plan_refinement(points, normals, cut.faces, max_edge_mm=max_edge_mm or np.inf)
    labels = plan.labels(cut.labels)
    used, local = np.unique(plan.faces, return_inverse=True)
    regions = {region: np.flatnonzero(labels[used] == i) for i, region in enumerate(cut.regions)}
    return plan, used, local.reshape(plan.faces.shape), regions


@lru_cache(maxsize=32)
def builtin(
    name: str, *, max_edge_mm: float | None = None, variant: Variant | None = None
) -> Surface:
    """Return a built-in anatomy, refined, with its named regions.

    Parameters
    ----------
    name : {"face", "scalp", "pelvis", "head"}
    max_edge_mm : float, optional, mm
        Subdivide until every edge is at most this long (default: 2.5 mm on the face, 4 mm
        elsewhere); 0 or anything above the base mesh's longest edge keeps the base mesh. The
        splits are planned on the base body and edges stretch with a variant's shape (on the
        25-year-old female face, 99.9 % of edges stay under 3.1 mm for the 2.5 mm default; the
        lip corners, which the variants open, stretch most, to 6 mm).
    variant : Variant, optional
        A body shape (default: the base mesh), placed with its ``ANCHORS[name]`` landmark
        where it is on the base body. Every variant has the base's vertices, triangles and
        regions.

    Returns
    -------
    Surface
        In mm, anatomy frame, with the regions of ``REGIONS[name]``; cached (it is immutable).
    """
    if name not in ANATOMIES:
        msg = f"anatomy: unknown built-in {name!r}; available: {', '.join(ANATOMIES)}"
        raise InputError(msg)
    limit = DEFAULT_MAX_EDGE_MM[name] if max_edge_mm is None else float(max_edge_mm)
    plan, used, faces, regions = _plan(name, limit)
    b = _body()
    if variant is None:
        skin, normals = b.vertices_mm, body().vertex_normals
    else:
        closed = body(variant, anchor=ANCHORS[name])
        skin, normals = closed.vertices_mm, closed.vertex_normals
    vertices, _ = plan.apply(*_cut_points(skin, normals, name))
    label = "" if variant is None else f" ({variant.label})"
    return Surface(vertices[used], faces, regions=regions, name=f"builtin:{name}{label}")
