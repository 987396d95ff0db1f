"""Light sources and what holds them.

Emitters, angular profiles, photometric files, apertures, carriers, layouts and designs.
"""
