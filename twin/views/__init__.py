"""Pictures: plots, 3D views, the HTML report."""
