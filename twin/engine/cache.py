"""On-disk cache of transfer matrices, keyed by the content that determines them.

A transfer matrix depends on the skin samples (positions and normals), every blocking
triangle, the emitters' positions, axes, angular profiles and apertures, the engine settings
and the code that computes it — not on drive levels, modes, exposure or LED power. The key is
the SHA-256 of exactly those bytes (:func:`transfer_key`), so changing any of them misses the
cache and changing only the others hits it. The light surfaces return
(:class:`~twin.engine.interreflection.IndirectTransfer`) is kept the same way, keyed by its
direct matrix's key, every reflecting surface, the reflectances and the patch sizes
(:func:`indirect_key`). The code is twin's version and the source of the packages whose
numbers go into a matrix (:func:`code_fingerprint`), so an edited engine never reads an
entry an older one wrote. An entry records its key and a checksum of its arrays; an entry that is
unreadable, truncated, for another key or fails its checksum is rebuilt, never trusted: it is
logged as a warning and deleted. A cache folder that cannot be written (a read-only disk, no
writable home) turns the cache off with a warning: every matrix is built, nothing fails.

The cache folder is ``$TWIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/twin``, else
``~/.cache/twin``. It holds at most ``$TWIN_CACHE_MAX_MB`` (default
:data:`DEFAULT_MAX_MB`) of entries: past that, storing an entry deletes the least recently
used ones (reading an entry marks it used) down to three quarters of the limit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from twin._version import __version__
from twin.devices.aperture import Aperture
from twin.devices.emitters import Emitters
from twin.devices.profiles import Tabulated
from twin.engine.interreflection import IndirectTransfer
from twin.engine.radiosity import Patches
from twin.engine.transfer import TransferMatrix
from twin.geometry.surface import SamplePoints, Surface

logger = logging.getLogger(__name__)
T = TypeVar("T")

_FORMAT = "twin-transfer-cache-2"
#: Default size limit of the entries in the cache folder, MB.
DEFAULT_MAX_MB = 4096
#: The packages and modules (relative to ``twin/``) whose code decides a matrix's numbers.
_NUMBER_CODE = ("engine", "raycast", "devices", "geometry/surface.py", "tissue")


@functools.cache
def code_fingerprint() -> str:
    """Return the SHA-256 (hex) of the source of every module in :data:`_NUMBER_CODE`."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in _NUMBER_CODE:
        path = root / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(file.relative_to(root).as_posix().encode())
            h.update(file.read_bytes())
    return h.hexdigest()


class _Key:
    """SHA-256 of a sequence of arrays and JSON values, each typed and delimited."""

    def __init__(self, *head: Any) -> None:
        self._h = hashlib.sha256()
        self.add([_FORMAT, __version__, code_fingerprint(), *head])

    def add(self, value: Any) -> None:
        if isinstance(value, np.ndarray):
            self._h.update(f"{value.dtype.str}{value.shape}".encode())
            self._h.update(np.ascontiguousarray(value).tobytes())
        else:
            self._h.update(json.dumps(value, sort_keys=True, default=str).encode())
        self._h.update(b"|")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


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
    key = _Key(backend, dict(settings))
    add = key.add
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
    return key.hexdigest()


def indirect_key(
    transfer: str,
    surfaces: Sequence[Surface],
    reflectance: Sequence[Mapping[str, float | NDArray[np.float64]]],
    *,
    sizes_mm: Sequence[float],
    settings: Mapping[str, float | str],
) -> str:
    """Return the SHA-256 (hex) of everything the light surfaces return depends on.

    Parameters
    ----------
    transfer : str
        The direct matrix's key (:func:`transfer_key`), which holds the skin, the blocking
        triangles and the emitters.
    surfaces : sequence of Surface
        Every reflecting surface, the skin first.
    reflectance : sequence of mapping of str to float or (p,) array
        Per surface, per channel, its reflectance.
    sizes_mm : sequence of float, mm
        The patch size per surface.
    settings : mapping of str to float or str
        The engine settings (end tolerance, intensity cut-off, maximum distance) and where
        the skin is sampled.

    Returns
    -------
    str
    """
    key = _Key("indirect", transfer, list(sizes_mm), dict(settings))
    for surface, values in zip(surfaces, reflectance, strict=True):
        key.add(surface.vertices_mm)
        key.add(surface.faces)
        for channel in sorted(values):
            key.add(channel)
            key.add(np.asarray(values[channel], dtype=np.float64))
    return key.hexdigest()


class TransferCache:
    """Transfer matrices and the light surfaces return, stored as ``<folder>/<key>.npz``.

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

        def decode(meta: dict, arrays: dict[str, NDArray]) -> TransferMatrix:
            return TransferMatrix(
                matrix=scipy.sparse.csc_array(
                    (arrays["data"], arrays["indices"], arrays["indptr"]),
                    shape=tuple(meta["shape"]),
                ),
                backend=str(meta["backend"]),
                candidate_pairs=int(meta["candidate_pairs"]),
                rays_cast=int(meta["rays_cast"]),
                rays_cleared=int(meta["rays_cleared"]),
                seconds=float(meta["seconds"]),
                intensity_cutoff=float(meta["intensity_cutoff"]),
                max_distance_mm=float(meta["max_distance_mm"]),
                cached=True,
            )

        cached = self._load(key, decode)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        transfer = build()
        m = scipy.sparse.csc_array(transfer.matrix)
        meta = {
            "shape": list(m.shape),
            "backend": transfer.backend,
            "candidate_pairs": transfer.candidate_pairs,
            "rays_cast": transfer.rays_cast,
            "rays_cleared": transfer.rays_cleared,
            "seconds": transfer.seconds,
            "intensity_cutoff": transfer.intensity_cutoff,
            "max_distance_mm": str(transfer.max_distance_mm),
        }
        self._store(key, meta, {"data": m.data, "indices": m.indices, "indptr": m.indptr})
        return transfer

    def get_or_build_indirect(
        self, key: str, build: Callable[[], IndirectTransfer], *, surfaces: Sequence[Surface]
    ) -> IndirectTransfer:
        """Return the cached indirect transfer for ``key``, or ``build()``'s, stored.

        ``surfaces`` are the patched surfaces (:attr:`Patches.surfaces`) the key was made
        from; the entry keeps everything else.
        """

        def decode(meta: dict, a: dict[str, NDArray]) -> IndirectTransfer:
            patches = Patches(
                positions_mm=a["positions_mm"],
                normals=a["normals"],
                areas_mm2=a["areas_mm2"],
                surface=a["surface"],
                anchors_mm=a["anchors_mm"],
                radii_mm=a["radii_mm"],
                surfaces=tuple(surfaces),
                sample_patch=a["sample_patch"],
                sizes_mm=tuple(meta["sizes_mm"]),
            )
            return IndirectTransfer(
                interpolation=scipy.sparse.csr_array(
                    (a["data"], a["indices"], a["indptr"]), shape=tuple(meta["shape"])
                ),
                patch_irradiance=a["patch_irradiance"],
                patches=patches,
                reflectance={c: a[f"reflectance_{i}"] for i, c in enumerate(meta["channels"])},
                form_factor_nonzeros=int(meta["form_factor_nonzeros"]),
                seconds=float(meta["seconds"]),
            )

        cached = self._load(key, decode)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        indirect = build()
        w, p = scipy.sparse.csr_array(indirect.interpolation), indirect.patches
        meta = {
            "shape": list(w.shape),
            "sizes_mm": list(p.sizes_mm),
            "channels": list(indirect.reflectance),
            "form_factor_nonzeros": indirect.form_factor_nonzeros,
            "seconds": indirect.seconds,
        }
        arrays = {
            "data": w.data,
            "indices": w.indices,
            "indptr": w.indptr,
            "patch_irradiance": indirect.patch_irradiance,
            "positions_mm": p.positions_mm,
            "normals": p.normals,
            "areas_mm2": p.areas_mm2,
            "surface": p.surface,
            "anchors_mm": p.anchors_mm,
            "radii_mm": p.radii_mm,
            "sample_patch": p.sample_patch,
            **{f"reflectance_{i}": r for i, r in enumerate(indirect.reflectance.values())},
        }
        self._store(key, meta, arrays)
        return indirect

    def get_arrays(self, key: str) -> dict[str, NDArray] | None:
        """Return the arrays stored under ``key`` (:class:`~twin.engine.backends.ArrayStore`).

        ``None`` when there is no sound entry; not counted in :attr:`hits`.
        """
        return self._load(key, lambda meta, arrays: arrays)

    def put_arrays(self, key: str, arrays: dict[str, NDArray]) -> None:
        """Store ``arrays`` (maybe none) under ``key``, as every entry is stored."""
        self._store(key, {}, arrays)

    def _load(self, key: str, decode: Callable[[dict, dict[str, NDArray]], T]) -> T | None:
        """Decode the entry for ``key``; ``None`` (and the entry deleted) if it is bad."""
        path = self.path(key)
        try:
            if not path.is_file():
                return None
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {name: f[name] for name in f.files if name != "meta"}
            ok = (
                meta.get("format") == _FORMAT
                and meta.get("key") == key
                and meta.get("checksum") == _checksum(*(arrays[n] for n in sorted(arrays)))
            )
            if not ok:
                msg = "key or checksum mismatch"
                raise ValueError(msg)
            decoded = decode(meta, arrays)
            with contextlib.suppress(OSError):
                os.utime(path)  # used: the last to go
            return decoded
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

    def _store(self, key: str, meta: dict, arrays: dict[str, NDArray]) -> None:
        """Write an entry atomically, with its key and checksum."""
        meta = {
            "format": _FORMAT,
            "key": key,
            "checksum": _checksum(*(arrays[n] for n in sorted(arrays))),
            **meta,
        }
        buffer = io.BytesIO()
        entries: dict[str, Any] = {"meta": np.array(json.dumps(meta)), **arrays}
        np.savez(buffer, **entries)
        tmp = self.folder / f".{key}.{uuid.uuid4().hex}.partial"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(buffer.getvalue())
            os.replace(tmp, self.path(key))
            self._trim()
        except OSError as exc:  # a cache that cannot be written only costs time
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a full disk leaves no partial entry
            logger.warning(
                "%s: cannot write the cache (%s); going on without it", self.folder, exc.strerror
            )

    def _trim(self) -> None:
        """Delete the least recently used entries once they pass the size limit."""
        try:
            limit = float(os.environ.get("TWIN_CACHE_MAX_MB", DEFAULT_MAX_MB)) * 1e6
        except ValueError:
            limit = DEFAULT_MAX_MB * 1e6
        stats = [(p, p.stat()) for p in self.folder.glob("*.npz")]
        entries = sorted((st.st_mtime, st.st_size, p) for p, st in stats)
        total = sum(size for _, size, _ in entries)
        if total <= limit:
            return
        for _, size, path in entries[:-1]:  # never the entry just stored
            if total <= 0.75 * limit:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size


def _checksum(*arrays: NDArray) -> str:
    """CRC-32 of the arrays' bytes: fast, and enough to catch a damaged file."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a).data, crc)
    return f"{crc:08x}"
