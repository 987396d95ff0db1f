"""Triangle surfaces (skin, occluders) and the sample points irradiance is computed at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin._validation import as_points
from twin.errors import InputError

SampleKind = Literal["vertices", "centroids"]


def _read_only(arr: NDArray) -> NDArray:
    arr.flags.writeable = False
    return arr


class Surface:
    """An immutable triangle mesh in millimetres, scene frame, with optional named regions.

    Parameters
    ----------
    vertices_mm : (v, 3) array_like of float, mm
        Vertex positions.
    faces : (f, 3) array_like of int
        Vertex indices of each triangle, counter-clockwise seen from the side the normal
        points to (the side light arrives from on skin).
    regions : mapping of str to (k,) array_like of int, optional
        Named vertex sets (for example ``"eyes"``); regions of one surface may not overlap.
    name : str, default: "surface"
        Where the surface came from (a file path, ``builtin:...``); used in error messages.

    Raises
    ------
    InputError
        If the mesh is empty, has non-finite vertices, out-of-range or degenerate faces,
        unreferenced vertices, or a region that is empty, out of range or overlapping.
    """

    def __init__(
        self,
        vertices_mm: ArrayLike,
        faces: ArrayLike,
        *,
        regions: Mapping[str, ArrayLike] | None = None,
        name: str = "surface",
    ) -> None:
        self.name = name
        vertices = as_points(vertices_mm, name=f"{name}: vertices")
        faces_arr = np.asarray(faces)
        if faces_arr.ndim != 2 or faces_arr.shape[1] != 3 or faces_arr.shape[0] == 0:
            msg = (
                f"{name}: expected at least one triangle, faces of shape (f, 3), got "
                f"{faces_arr.shape}"
            )
            raise InputError(msg)
        if not np.issubdtype(faces_arr.dtype, np.integer):
            msg = f"{name}: expected integer face indices, got {faces_arr.dtype}"
            raise InputError(msg)
        faces_arr = np.ascontiguousarray(faces_arr, dtype=np.int64)
        if faces_arr.min() < 0 or faces_arr.max() >= len(vertices):
            msg = (
                f"{name}: face indices must lie in [0, {len(vertices) - 1}], "
                f"found [{faces_arr.min()}, {faces_arr.max()}]"
            )
            raise InputError(msg)
        unused = np.setdiff1d(np.arange(len(vertices)), faces_arr.ravel())
        if unused.size:
            msg = f"{name}: {unused.size} vertices belong to no face (first: {int(unused[0])})"
            raise InputError(msg)
        self.vertices_mm = _read_only(vertices)
        self.faces = _read_only(faces_arr)
        tiny = (1e-10 * self.extent_mm.max()) ** 2
        degenerate = np.flatnonzero(self.face_areas_mm2 <= tiny)
        if degenerate.size:
            msg = (
                f"{name}: {degenerate.size} degenerate (zero-area) triangles "
                f"(first: face {int(degenerate[0])})"
            )
            raise InputError(msg)
        self.regions = self._check_regions(regions or {})

    def _check_regions(self, regions: Mapping[str, ArrayLike]) -> dict[str, NDArray[np.int64]]:
        checked: dict[str, NDArray[np.int64]] = {}
        owner = np.full(len(self.vertices_mm), -1)
        for i, (key, value) in enumerate(regions.items()):
            idx = np.unique(np.asarray(value, dtype=np.int64))
            if idx.size == 0:
                msg = f"{self.name}: region {key!r} is empty"
                raise InputError(msg)
            if idx[0] < 0 or idx[-1] >= len(self.vertices_mm):
                msg = f"{self.name}: region {key!r} has vertex indices out of range"
                raise InputError(msg)
            clash = owner[idx] >= 0
            if clash.any():
                other = list(regions)[owner[idx][clash][0]]
                msg = f"{self.name}: regions {other!r} and {key!r} overlap"
                raise InputError(msg)
            owner[idx] = i
            checked[key] = _read_only(idx)
        return checked

    # -- derived geometry (cached, read-only) -------------------------------------------------

    @cached_property
    def triangles_mm(self) -> NDArray[np.float64]:
        """(f, 3, 3) float64, mm: the corner positions of each triangle."""
        return _read_only(self.vertices_mm[self.faces])

    @cached_property
    def _face_cross(self) -> NDArray[np.float64]:
        t = self.triangles_mm
        return np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])

    @cached_property
    def face_areas_mm2(self) -> NDArray[np.float64]:
        """(f,) float64, mm^2."""
        return _read_only(0.5 * np.linalg.norm(self._face_cross, axis=1))

    @cached_property
    def face_normals(self) -> NDArray[np.float64]:
        """(f, 3) float64 unit vectors, from the winding (right-hand rule)."""
        return _read_only(self._face_cross / (2.0 * self.face_areas_mm2[:, None]))

    @cached_property
    def face_centroids_mm(self) -> NDArray[np.float64]:
        """(f, 3) float64, mm."""
        return _read_only(self.triangles_mm.mean(axis=1))

    @cached_property
    def vertex_normals(self) -> NDArray[np.float64]:
        """(v, 3) float64 unit vectors: the area-weighted mean of the adjacent face normals."""
        acc = np.zeros_like(self.vertices_mm)
        for corner in range(3):
            np.add.at(acc, self.faces[:, corner], self._face_cross)
        length = np.linalg.norm(acc, axis=1)
        flat = np.flatnonzero(length <= 1e-12 * length.max())
        if flat.size:
            msg = (
                f"{self.name}: the adjacent faces of {flat.size} vertices cancel out, so they "
                f"have no normal (first: vertex {int(flat[0])}); is the mesh folded onto itself?"
            )
            raise InputError(msg)
        return _read_only(acc / length[:, None])

    @cached_property
    def vertex_areas_mm2(self) -> NDArray[np.float64]:
        """(v,) float64, mm^2: a third of the area of each adjacent triangle."""
        areas = np.bincount(
            self.faces.ravel(),
            weights=np.repeat(self.face_areas_mm2 / 3.0, 3),
            minlength=len(self.vertices_mm),
        )
        return _read_only(areas)

    @cached_property
    def extent_mm(self) -> NDArray[np.float64]:
        """(3,) float64, mm: size of the axis-aligned bounding box."""
        return _read_only(np.ptp(self.vertices_mm, axis=0))

    @cached_property
    def edge_lengths_mm(self) -> NDArray[np.float64]:
        """(f, 3) float64, mm: each triangle's three edge lengths."""
        t = self.triangles_mm
        return _read_only(np.linalg.norm(t - np.roll(t, 1, axis=1), axis=2))

    @property
    def mean_edge_mm(self) -> float:
        """Mean triangle edge length, mm."""
        return float(self.edge_lengths_mm.mean())

    @property
    def max_edge_mm(self) -> float:
        """Longest triangle edge, mm."""
        return float(self.edge_lengths_mm.max())

    @cached_property
    def is_closed(self) -> bool:
        """True when every edge is shared by exactly two triangles with opposite directions."""
        directed = np.concatenate(
            [self.faces[:, [0, 1]], self.faces[:, [1, 2]], self.faces[:, [2, 0]]]
        )
        n = len(self.vertices_mm)
        forward = directed[:, 0] * n + directed[:, 1]
        backward = directed[:, 1] * n + directed[:, 0]
        unique_fwd = np.unique(forward)
        return unique_fwd.size == forward.size and bool(np.isin(backward, unique_fwd).all())

    @cached_property
    def signed_volume_mm3(self) -> float:
        """Enclosed volume by the divergence theorem, mm^3; negative when wound inside-out."""
        t = self.triangles_mm
        return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)

    @property
    def area_mm2(self) -> float:
        """Total area, mm^2."""
        return float(self.face_areas_mm2.sum())

    def flipped(self) -> Surface:
        """Return the same surface with every triangle's winding, and so its normals, reversed."""
        return Surface(
            self.vertices_mm, self.faces[:, ::-1], regions=dict(self.regions), name=self.name
        )

    def samples(self, *, at: SampleKind = "vertices") -> SamplePoints:
        """Return the points where irradiance is evaluated.

        Parameters
        ----------
        at : {"vertices", "centroids"}, default: "vertices"
            ``"vertices"``: mesh vertices with area-weighted normals and a third of each
            adjacent triangle's area. ``"centroids"``: face centroids with face normals and
            face areas.

        Returns
        -------
        SamplePoints
        """
        if at == "vertices":
            regions = {}
            for key, idx in self.regions.items():
                mask = np.zeros(len(self.vertices_mm), dtype=bool)
                mask[idx] = True
                regions[key] = mask
            return SamplePoints(
                self.vertices_mm, self.vertex_normals, self.vertex_areas_mm2, regions
            )
        if at == "centroids":
            regions = {}
            for key, idx in self.regions.items():
                mask = np.zeros(len(self.vertices_mm), dtype=bool)
                mask[idx] = True
                regions[key] = mask[self.faces].all(axis=1)
            return SamplePoints(
                self.face_centroids_mm, self.face_normals, self.face_areas_mm2, regions
            )
        msg = f"samples: expected at='vertices' or 'centroids', got {at!r}"
        raise InputError(msg)


@dataclass(frozen=True)
class SamplePoints:
    """Skin points with the normal and the patch of area each one stands for.

    Attributes
    ----------
    positions_mm : (k, 3) float64, mm
    normals : (k, 3) float64, unit vectors pointing to where light arrives from
    areas_mm2 : (k,) float64, mm^2; they sum to the sampled surface area
    regions : dict of str to (k,) bool
        Which samples belong to each named region.
    """

    positions_mm: NDArray[np.float64]
    normals: NDArray[np.float64]
    areas_mm2: NDArray[np.float64]
    regions: dict[str, NDArray[np.bool_]]

    def __len__(self) -> int:
        """Return the number of points."""
        return len(self.positions_mm)

    def area_mean(self, values: ArrayLike, *, where: ArrayLike | None = None) -> float:
        """Return the area-weighted mean of a per-point map, as ``metrics.json`` reports means.

        Parameters
        ----------
        values : (k,) float
            One value per point (an irradiance or fluence map, in any unit).
        where : (k,) bool, optional
            The points to average over (a region, or ``RenderResult.roi``); all by default.

        Returns
        -------
        float
            ``sum(values * areas) / sum(areas)`` over the chosen points, in the unit of ``values``.
        """
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (len(self),):
            msg = f"values: expected one value per point, shape ({len(self)},); found {v.shape}"
            raise InputError(msg)
        mask = np.ones(len(self), bool) if where is None else np.asarray(where, dtype=bool)
        if mask.shape != (len(self),) or not mask.any():
            msg = (
                f"where: expected a ({len(self)},) boolean mask selecting at least one point; "
                f"found shape {mask.shape} with {int(mask.sum())} selected"
            )
            raise InputError(msg)
        return float(np.average(v[mask], weights=self.areas_mm2[mask]))
