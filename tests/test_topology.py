"""Mesh connectivity and closest points (``twin.geometry.topology``) against trimesh."""

from __future__ import annotations

import numpy as np
import trimesh

from twin.geometry import phantoms
from twin.geometry.topology import boundary_loops, closest_points, face_components


def test_closest_points_match_trimesh_in_every_region():
    """Points all around random triangles (inside, beyond each edge and each corner), and
    slivers: the same closest points as trimesh's, and never farther than any corner."""
    rng = np.random.default_rng(0)
    tri = rng.normal(size=(4000, 3, 3)) * 10.0
    tri[:200, 2] = tri[:200, 1] + 1e-9  # slivers
    points = tri.mean(axis=1) + rng.normal(size=(4000, 3)) * 15.0
    ours = closest_points(tri, points)
    theirs = trimesh.triangles.closest_point(tri, points)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    corner = np.linalg.norm(tri - points[:, None], axis=2).min(axis=1)
    assert np.all(np.linalg.norm(ours - points, axis=1) <= corner + 1e-9)


def test_pieces_and_boundary_loops_match_trimesh():
    head = phantoms.head(subdivisions=3)
    keep = np.flatnonzero(np.abs(head.face_centroids_mm[:, 1]) > 30.0)  # a cut band: two caps
    faces = head.faces[keep]
    labels = face_components(faces)
    theirs = trimesh.graph.connected_component_labels(
        trimesh.graph.face_adjacency(faces), node_count=len(faces)
    )
    assert len(np.unique(labels)) == len(np.unique(theirs)) == 2
    for piece in np.unique(labels):  # the same partition, whatever the numbering
        assert len(np.unique(theirs[labels == piece])) == 1
    mesh = trimesh.Trimesh(head.vertices_mm, faces, process=False)
    edges = mesh.edges[trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1)]
    expected = sorted(sorted(c) for c in trimesh.graph.connected_components(edges))
    assert sorted(loop.tolist() for loop in boundary_loops(faces)) == expected
    assert boundary_loops(head.faces) == []  # closed
