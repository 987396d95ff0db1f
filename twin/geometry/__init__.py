"""Skin and body surfaces: the mesh type, mesh files, scans, built-in anatomy, shape variants."""
