"""Regenerate arrays/face_mask_1026.csv, the emitters of the default scene.

1026 LEDs (the reference face mask's count) spread evenly (farthest-point) over the built-in
face with the eye region cut out, 10 mm out along the skin normal and pointing back at it;
red 633 nm and NIR 830 nm interleaved 1:1; 3 mW radiant flux each; half-angle 30 degrees.
A stand-in for the rigid-mask carrier of Part C.

    python tools/make_default_layout.py
"""

from pathlib import Path

import numpy as np

from twin import anatomy
from twin.emitters import Emitters, emitter_csv_text
from twin.layout import offset_shell_layout
from twin.profiles import Lambertian

face = anatomy.builtin("face")
candidates = np.setdiff1d(np.arange(len(face.vertices_mm)), face.regions["eyes"])
positions, axes = offset_shell_layout(face, count=1026, standoff_mm=10.0, vertices=candidates)
channel = np.where(np.arange(1026) % 2 == 0, "red", "nir")
emitters = Emitters.create(
    positions,
    axes,
    3.0,
    profile=Lambertian(30.0),
    channel=channel,
    wavelength_nm={"red": 633.0, "nir": 830.0},
)
out = Path(__file__).resolve().parent.parent / "arrays" / "face_mask_1026.csv"
out.write_text(emitter_csv_text(emitters))
