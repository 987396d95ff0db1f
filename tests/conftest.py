"""Shared fixtures, and the CUDA simulator switch.

Without a CUDA device the ``cuda`` backend's kernels run under numba's CUDA simulator: the
switch must be set before numba is first imported, so it is set here, before twin is.
Helper functions are in ``_helpers.py``.
"""

from __future__ import annotations

import os


def _real_gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _real_gpu():
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import pytest  # noqa: E402
from _helpers import write_face_panel  # noqa: E402

import twin  # noqa: E402

#: The CPU backends, which every test taking ``backend`` runs on.
BACKENDS = ["reference", "embree"]


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Give each test a transfer cache of its own, so no test reads another's entries (beside
    its ``tmp_path``, not in it: tests check what they write there)."""
    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path_factory.mktemp("twin-cache")))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each CPU backend's name."""
    return request.param


@pytest.fixture(scope="session")
def panel_render(tmp_path_factory: pytest.TempPathFactory):
    """The built-in face lit by a panel of LEDs, rendered and written to a folder.

    Returns
    -------
    result : RenderResult
    out : Path
        The folder its result files were written to.
    """
    root = tmp_path_factory.mktemp("panel")
    result = twin.render(write_face_panel(root))
    out = root / "out"
    result.write(out)
    return result, out
