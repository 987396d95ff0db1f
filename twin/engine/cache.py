"""On-disk cache of transfer matrices, keyed by the content that determines them.

A transfer matrix depends on the skin samples (positions and normals), every blocking
triangle, the emitters' positions, axes, angular profiles and apertures, the engine settings
and twin's version — not on drive levels, modes, exposure or LED power. The key is the
SHA-256 of exactly those bytes, so changing any of them misses the cache and changing only
the others hits it. An entry records its key and a checksum of its arrays; an entry that is
unreadable, truncated, for another key or fails its checksum is rebuilt, never trusted: it is
logged as a warning and deleted. A cache folder that cannot be written (a read-only disk, no
writable home) turns the cache off with a warning: every matrix is built, nothing fails.

The cache folder is ``$TWIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/twin``, else
``~/.cache/twin``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._version import __version__
from twin.devices.aperture import Aperture
from twin.devices.emitters import Emitters
from twin.devices.profiles import Tabulated
from twin.engine.transfer import TransferMatrix
from twin.geometry.surface import SamplePoints

logger = logging.getLogger(__name__)

_FORMAT = "twin-transfer-cache-2"


def default_cache_dir() -> Path:
    """Return the cache folder (see the module docstring)."""
    if os.environ.get("TWIN_CACHE_DIR"):
        return Path(os.environ["TWIN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "twin"


def transfer_key(
    samples: SamplePoints,
    triangles_mm: NDArray[np.float64],
    emitters: Emitters,
    *,
    apertures: Mapping[str, Aperture],
    backend: str,
    settings: Mapping[str, float],
) -> str:
    """Return the SHA-256 (hex) of everything a transfer matrix depends on.

    Parameters
    ----------
    samples : SamplePoints
    triangles_mm : (f, 3, 3) float64, mm
        Every triangle that can block light.
    emitters : Emitters
    apertures : mapping of str to Aperture
        The extended channels' apertures.
    backend : str
        The backend that builds the matrix.
    settings : mapping of str to float
        The transfer settings (offset, intensity cut-off, maximum distance).

    Returns
    -------
    str
    """
    h = hashlib.sha256()

    def add(value) -> None:
        if isinstance(value, np.ndarray):
            h.update(f"{value.dtype.str}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(json.dumps(value, sort_keys=True, default=str).encode())
        h.update(b"|")

    add([_FORMAT, __version__, backend, dict(settings)])
    add(samples.positions_mm)
    add(samples.normals)
    add(np.asarray(triangles_mm, dtype=np.float64))
    add(emitters.positions_mm)
    add(emitters.axes)
    add(emitters.profile_index)
    add(emitters.channel.astype(str))
    for profile in emitters.profiles:
        add(profile.key)
        if isinstance(profile, Tabulated):
            add(np.asarray(profile.angles_deg))
            add(np.asarray(profile.intensity))
    add({c: asdict(a) for c, a in sorted(apertures.items())})
    return h.hexdigest()


class TransferCache:
    """Transfer matrices stored as ``<folder>/<key>.npz``.

    Parameters
    ----------
    folder : Path, optional
        Default: :func:`default_cache_dir` ``/ "transfer"``.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir() / "transfer"
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        """Return the file of the entry for ``key``."""
        return self.folder / f"{key}.npz"

    def get_or_build(self, key: str, build: Callable[[], TransferMatrix]) -> TransferMatrix:
        """Return the cached matrix for ``key``, or ``build()``'s, stored for next time."""
        cached = self._load(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        transfer = build()
        self._store(key, transfer)
        return transfer

    def _load(self, key: str) -> TransferMatrix | None:
        path = self.path(key)
        try:
            if not path.is_file():
                return None
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                data, indices, indptr = f["data"], f["indices"], f["indptr"]
            shape = tuple(meta["shape"])
            ok = (
                meta.get("format") == _FORMAT
                and meta.get("key") == key
                and meta.get("checksum") == _checksum(data, indices, indptr)
                and len(indptr) == shape[1] + 1
            )
            if not ok:
                msg = "key or checksum mismatch"
                raise ValueError(msg)
            matrix = scipy.sparse.csc_array((data, indices, indptr), shape=shape)
            transfer = TransferMatrix(
                matrix=matrix,
                backend=str(meta["backend"]),
                candidate_pairs=int(meta["candidate_pairs"]),
                rays_cast=int(meta["rays_cast"]),
                rays_cleared=int(meta["rays_cleared"]),
                seconds=float(meta["seconds"]),
                intensity_cutoff=float(meta["intensity_cutoff"]),
                max_distance_mm=float(meta["max_distance_mm"]),
            )
        except Exception as exc:  # an entry is untrusted bytes: any failure rebuilds it
            logger.warning(
                "%s: corrupt or stale cache entry (%s: %s); rebuilding it",
                path,
                type(exc).__name__,
                str(exc)[:200],
            )
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            return None
        return transfer

    def _store(self, key: str, transfer: TransferMatrix) -> None:
        m = scipy.sparse.csc_array(transfer.matrix)
        meta = {
            "format": _FORMAT,
            "key": key,
            "shape": list(m.shape),
            "checksum": _checksum(m.data, m.indices, m.indptr),
            "backend": transfer.backend,
            "candidate_pairs": transfer.candidate_pairs,
            "rays_cast": transfer.rays_cast,
            "rays_cleared": transfer.rays_cleared,
            "seconds": transfer.seconds,
            "intensity_cutoff": transfer.intensity_cutoff,
            "max_distance_mm": str(transfer.max_distance_mm),
        }
        buffer = io.BytesIO()
        np.savez(buffer, data=m.data, indices=m.indices, indptr=m.indptr, meta=json.dumps(meta))
        tmp = self.folder / f".{key}.{uuid.uuid4().hex}.partial"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(buffer.getvalue())
            os.replace(tmp, self.path(key))
        except OSError as exc:  # a cache that cannot be written only costs time
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a full disk leaves no partial entry
            logger.warning(
                "%s: cannot write the cache (%s); going on without it", self.folder, exc.strerror
            )


def _checksum(*arrays: NDArray) -> str:
    """CRC-32 of the arrays' bytes: fast, and enough to catch a damaged file."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a).data, crc)
    return f"{crc:08x}"
