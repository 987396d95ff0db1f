"""Built-in anatomy from the CC0 MakeHuman hm08 body: face, scalp, pelvis and whole head.

The skin (``geometry/hm08_skin.npz``, provenance in ``geometry/README.md``) is one closed,
outward-wound surface in decimetres, +Y up, +Z forward, +X the subject's left; twin loads it in
millimetres. Each anatomy is a cut of that body by planes through landmarks (anatomy.md
"Region cuts"), and its named regions are rules on the same landmarks. Both are evaluated
once on the base mesh and stored as vertex indices, so they carry over to any shape variant
with the same vertex numbering.

Refinement (:mod:`twin.geometry.refine`) splits long edges, lifting each new point along the closed
body's normals, so a refined cut is the same as a cut of the refined body: the area does not
inflate as it does when an open patch is Loop-subdivided on its own. It is planned on the base
body and replayed on each variant (:mod:`twin.geometry.variants`), so every variant of an
anatomy has the same vertices, triangles and regions.

A variant is placed so that the anchor landmark of the anatomy (``ANCHORS``: the nasion for
the head anatomies, the pubis for the pelvis) sits where it sits on the base body: a device
laid out on the base face starts in the right place on every other face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import cast

import numpy as np
import trimesh
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from twin._data import data_dir
from twin.errors import InputError
from twin.geometry.refine import Refinement, plan_refinement
from twin.geometry.surface import Surface
from twin.geometry.variants import Variant, offsets_mm

DM_TO_MM = 100.0

#: Landmarks at fixed hm08 vertex indices (anatomy.md).
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
#: Landmarks found as the skin vertex nearest a position in decimetres (anatomy.md).
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
#: Default maximum edge length after refinement, mm (issue 3).
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


def _plane_side(points, a, b, c, positive_at) -> NDArray[np.float64]:
    """Signed distance of ``points`` to the plane through a, b, c; positive at ``positive_at``."""
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n)
    if np.dot(positive_at - a, n) < 0:
        n = -n
    return (points - a) @ n


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
    labels = trimesh.graph.connected_component_labels(
        trimesh.graph.face_adjacency(faces), node_count=len(faces)
    )
    out = np.zeros(len(candidates), dtype=bool)
    out[enclosed[np.bincount(labels)[labels] >= 100]] = True
    return out


def _component(
    faces: NDArray[np.int64], keep: NDArray[np.bool_], seed_vertex: int | None
) -> NDArray[np.bool_]:
    """Return the connected part of the kept faces holding ``seed_vertex`` (largest if None)."""
    idx = np.flatnonzero(keep)
    labels = trimesh.graph.connected_component_labels(
        trimesh.graph.face_adjacency(faces[idx]), node_count=len(idx)
    )
    if seed_vertex is None:
        target = np.bincount(labels).argmax()
    else:
        holding = np.flatnonzero((faces[idx] == seed_vertex).any(axis=1))
        target = labels[holding[0]]
    out = np.zeros(len(faces), dtype=bool)
    out[idx[labels == target]] = True
    return out


@dataclass(frozen=True)
class _Cut:
    faces: NDArray[np.bool_]  # (26756,) faces of the body kept
    labels: NDArray[np.int64]  # (13380,) region index per vertex, -1 for none
    regions: tuple[str, ...]


def _above_hairline(b: _Body) -> NDArray[np.float64]:
    """Signed distance above the plane through the trichion and supra-auricular points, mm."""
    lm = b.landmark_mm
    return _plane_side(
        b.vertices_mm,
        lm["trichion"],
        lm["supra_auricular_left"],
        lm["supra_auricular_right"],
        lm["vertex"],
    )


def _without_cavities(
    b: _Body, surface: Surface, keep: NDArray[np.bool_], seed: str
) -> NDArray[np.bool_]:
    """``keep`` less the eye sockets and mouth, as one piece holding landmark ``seed``."""
    kept = np.flatnonzero(keep)
    keep = keep.copy()
    keep[kept[_cavity_faces(surface, kept)]] = False
    return _component(b.faces, keep, b.landmarks[seed])


def _face_cut(b: _Body, surface: Surface) -> NDArray[np.bool_]:
    p, lm = b.vertices_mm, b.landmark_mm
    below_hair = _above_hairline(b) < 0
    above_jaw = (
        _plane_side(p, lm["menton"], lm["gonion_left"], lm["gonion_right"], lm["nose_tip"]) > 0
    )
    up = lm["tragion_left"] + np.array([0.0, 10.0, 0.0])
    in_front = _plane_side(p, lm["tragion_left"], lm["tragion_right"], up, lm["nose_tip"]) > 0
    vertex_ok = below_hair & above_jaw & in_front & ~b.ears
    return _without_cavities(b, surface, np.all(vertex_ok[b.faces], axis=1), "nose_tip")


def _scalp_cut(b: _Body) -> NDArray[np.bool_]:
    above_hair = _above_hairline(b) > 0
    keep = np.all((above_hair & ~b.ears)[b.faces], axis=1)
    return _component(b.faces, keep, b.landmarks["vertex"])


def _head_cut(b: _Body, surface: Surface) -> NDArray[np.bool_]:
    p, lm = b.vertices_mm, b.landmark_mm
    side = lm["menton"] + np.array([10.0, 0.0, 0.0])
    above_neck = (
        _plane_side(
            p, lm["menton"] - [0, 20, 0], side - [0, 20, 0], lm["nape"] - [0, 20, 0], lm["vertex"]
        )
        > 0
    )
    return _without_cavities(b, surface, np.all(above_neck[b.faces], axis=1), "vertex")


def _pelvis_cut(b: _Body) -> NDArray[np.bool_]:
    p, lm = b.vertices_mm, b.landmark_mm
    navel = lm["navel"]
    waist = np.abs(p[:, 1] - navel[1]) < 30.0
    back_z = p[waist & (np.abs(p[:, 0]) < 60.0), 2].min()
    rise = 90.0 * (navel[2] - p[:, 2]) / (navel[2] - back_z)  # 9 cm higher at the back
    inside = (p[:, 1] < navel[1] + rise) & (p[:, 1] > lm["perineum"][1] - 60.0)
    keep = inside[b.faces].all(axis=1)
    return _component(b.faces, keep, b.landmarks["perineum"])


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


def _face_rules(b: _Body, p: NDArray[np.float64], cut: NDArray[np.bool_]) -> list:
    lm = b.landmark_mm
    eye_l, eye_r = (e.vertices_mm.mean(axis=0) for e in b.eyes)
    # The mouth: centre of the face's boundary loop around the lips.
    patch = trimesh.Trimesh(b.vertices_mm, b.faces[cut], process=False)
    open_edges = patch.edges[trimesh.grouping.group_rows(patch.edges_sorted, require_count=1)]
    loops = trimesh.graph.connected_components(open_edges)
    guess = np.array([0.0, 0.5 * (lm["nose_tip"][1] + lm["menton"][1]), lm["nose_tip"][2]])
    lip_loop = b.vertices_mm[
        list(min(loops, key=lambda c: np.linalg.norm(b.vertices_mm[list(c)].mean(0) - guess)))
    ]
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


def _scalp_rules(b: _Body, p: NDArray[np.float64], cut: NDArray[np.bool_]) -> list:
    lm = b.landmark_mm
    used = b.vertices_mm[np.unique(b.faces[cut])]
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


def _pelvis_rules(b: _Body, p: NDArray[np.float64], cut: NDArray[np.bool_]) -> list:
    lm = b.landmark_mm
    used = b.vertices_mm[np.unique(b.faces[cut])]
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


@cache
def _cut(name: str) -> _Cut:
    b = _body()
    surface = body()
    if name == "face":
        faces = _face_cut(b, surface)
        rules = _face_rules(b, b.vertices_mm, faces)
    elif name == "scalp":
        faces = _scalp_cut(b)
        rules = _scalp_rules(b, b.vertices_mm, faces)
    elif name == "pelvis":
        faces = _pelvis_cut(b)
        rules = _pelvis_rules(b, b.vertices_mm, faces)
    else:
        faces = _head_cut(b, surface)
        face, scalp = _cut("face"), _cut("scalp")
        in_face = np.zeros(len(b.vertices_mm), bool)
        in_face[np.unique(b.faces[face.faces])] = True
        in_scalp = np.zeros(len(b.vertices_mm), bool)
        in_scalp[np.unique(b.faces[scalp.faces])] = True
        rules = [
            ("eyes", face.labels == face.regions.index("eyes")),
            ("ears", b.ears),
            ("face", in_face),
            ("scalp", in_scalp),
            ("neck", np.ones(len(b.vertices_mm), dtype=bool)),
        ]
    labels, names = _assign(b.vertices_mm, rules)
    assert names == REGIONS[name]
    used = np.zeros(len(labels), dtype=bool)
    used[b.faces[faces]] = True
    labels[~used] = -1
    return _Cut(faces, labels, names)


@lru_cache(maxsize=16)
def _plan(
    name: str, max_edge_mm: float
) -> tuple[Refinement, NDArray[np.int64], NDArray[np.int64], dict[str, NDArray[np.int64]]]:
    """Plan the refinement of a cut on the base body: plan, vertices kept, faces, regions."""
    b = _body()
    cut = _cut(name)
    normals = body().vertex_normals  # of the closed body, so the cut refines like the body
    plan = plan_refinement(
        b.vertices_mm, normals, b.faces[cut.faces], max_edge_mm=max_edge_mm or np.inf
    )
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
    vertices, _ = plan.apply(skin, normals)
    label = "" if variant is None else f" ({variant.label})"
    return Surface(vertices[used], faces, regions=regions, name=f"builtin:{name}{label}")
