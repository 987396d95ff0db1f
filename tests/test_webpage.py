"""The HTML page of a result (``twin render --html``): offline, quiet, and faithful to the maps."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from twin.errors import InputError
from twin.views import view3d, webpage

#: A small rigid mask in red mode with inter-reflection (so direct and indirect maps).
MASK = {
    "name": "small-mask",
    "target": {"mesh": "builtin:face", "max_edge_mm": 6.0, "exclude": ["eyes", "lips"]},
    "emitters": {"design": "mask-rigid-1026", "count": 150},
    "mode": "red",
    "exposure_s": 1200,
}
#: Run before anything else in the render's Python: every attempt to reach the network is
#: logged and refused, and the ``viz`` extra's modules cannot be imported.
SITECUSTOMIZE = """
import os, socket, sys

def _refuse(*args, **kwargs):
    with open(os.environ["TWIN_TEST_NETWORK_LOG"], "a") as log:
        log.write(repr(args[:2]) + "\\n")
    raise OSError("the network is refused in this test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
for name in ("pyvista", "vtk", "vtkmodules", "matplotlib", "trame", "trame_pyvista",
             "trame_vtklocal", "nest_asyncio2", "aiohttp"):
    sys.modules[name] = None
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """``twin render --html`` of the small mask, offline and without the viz extra:
    (completed process, result folder, network log)."""
    root = tmp_path_factory.mktemp("page")
    (root / "mask.yaml").write_text(yaml.safe_dump(MASK))
    site = root / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    log = root / "network.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "TWIN_TEST_NETWORK_LOG": str(log),
    }
    out = root / "out"
    command = [sys.executable, "-m", "twin", "render", str(root / "mask.yaml"), "--html",
               "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return done, out, log


def _data(text: str) -> dict:
    """The data block of a page, parsed."""
    block = re.search(r'<script type="application/json" id="twin-data">(.*?)</script>', text, re.S)
    assert block is not None
    return json.loads(block.group(1))


def _floats(b64: str, dtype: str = "<f4") -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


def test_render_html_is_offline_quiet_and_needs_no_viz_extra(rendered):
    done, out, log = rendered
    assert done.returncode == 0, done.stderr
    assert not log.exists(), log.read_text()  # nothing even tried to reach the network
    for word in ("Traceback", "Task exception", "ERROR", "Error"):
        assert word not in done.stderr
    assert "scene.html" in done.stdout
    text = (out / "scene.html").read_text()
    assert re.search(r"https?://|//cdn|<link|<script src|@import|url\(", text) is None


def test_the_page_names_the_scene_and_holds_every_map_exactly(rendered):
    _, out, _ = rendered
    text = (out / "scene.html").read_text()
    scene = view3d.from_folder(out)  # the maps as surface.ply holds them
    assert re.search(r"<title>small-mask: dose maps, exposure 1200 s \(20 min\)", text)
    heading = re.search(r'<h1 id="heading">(.*?)</h1>', text).group(1)
    assert html.unescape(heading) == "small-mask: fluence, all channels"
    data = _data(text)
    np.testing.assert_array_equal(
        _floats(data["vertices"]).reshape(-1, 3), scene.vertices_mm.astype(np.float32)
    )
    np.testing.assert_array_equal(_floats(data["faces"], "<u4").reshape(-1, 3), scene.faces)
    names = [m["name"] for m in data["maps"]]
    assert sorted(names) == sorted(scene.maps)  # every map, the indirect light too
    assert {"irradiance_direct_red_mw_cm2", "irradiance_indirect_red_mw_cm2"} <= set(names)
    for m in data["maps"]:
        # float32 both, but the indirect light is total minus direct before or after rounding
        expected = scene.maps[m["name"]]
        np.testing.assert_allclose(_floats(m["values"]), expected, rtol=1e-6,
                                   atol=1e-6 * np.abs(expected).max())  # fmt: skip
        low, high = m["range"]
        assert low <= min(m["ticks"]) and max(m["ticks"]) <= high and len(m["ticks"]) >= 3
        # The window in the map's unit: an irradiance is the dose over the exposure.
        per_s = 1.0 if m["unit"] == "J/cm²" else 1000.0 / 1200.0
        np.testing.assert_allclose(m["window"], [4.0 * per_s, 10.0 * per_s])
    groups = list(dict.fromkeys(m["group"] for m in data["maps"]))
    assert groups == ["Fluence", "Irradiance (all the light)", "Direct light",
                      "Indirect light (returned by skin and device)"]  # fmt: skip
    # One LED entry per channel, counted, in the colour the points take; blue is off.
    counts = {c: int((scene.leds["channel"] == c).sum()) for c in ("red", "nir", "blue")}
    labels = {led["name"]: led["label"] for led in data["leds"]}
    assert labels["red"] == f"red 633 nm: {counts['red']} LEDs"
    assert labels["blue"] == f"blue 415 nm: {counts['blue']} LEDs, off in this mode"
    assert len({led["colour"] for led in data["leds"]}) == 3
    assert data["regionNames"] == list(scene.regions)
    region = _floats(data["regions"], "<u2")
    forehead = data["regionNames"].index("forehead")
    np.testing.assert_array_equal(np.flatnonzero(region == forehead), scene.regions["forehead"])


def test_the_page_draws_with_the_pictures_colour_map():
    matplotlib = pytest.importorskip("matplotlib", reason="compared with matplotlib's viridis")
    reference = matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3]
    np.testing.assert_allclose(view3d.viridis() / 255.0, reference, atol=0.5 / 255.0)


def _tiny(name: str, maps: dict[str, np.ndarray]) -> view3d.ResultScene:
    """A two-triangle result scene with ``maps`` on its four vertices and two LEDs."""
    vertices = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], dtype=float)
    leds = {
        "positions_mm": np.array([[2.0, 2.0, 10.0], [8.0, 8.0, 10.0]]),
        "axes": np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]),
        "power_mw": np.array([5.0, 0.0]),
        "channel": np.array(["red", "blue"]),
        "profile_index": np.zeros(2, int),
    }
    return view3d.ResultScene(
        name=name, vertices_mm=vertices, faces=np.array([[0, 1, 2], [0, 2, 3]]), maps=maps,
        on_faces=False, regions={"a": np.array([0, 1]), "b": np.array([2, 3])},
        vertex_normals=np.tile([0.0, 0.0, 1.0], (4, 1)), window_j_cm2=(4.0, 10.0),
        exposure_s=600.0, leds=leds, profiles=[], wavelength_nm={"red": 633.0, "blue": 415.0},
    )  # fmt: skip


def test_the_page_offers_the_fluence_rate_at_each_depth_and_keeps_odd_names_inert(tmp_path):
    ramp = np.array([0.0, 1.0, 2.0, 3.0])
    names = ["fluence_j_cm2", "irradiance_mw_cm2", "irradiance_red_mw_cm2",
             "fluence_rate_0.5mm_mw_cm2", "fluence_rate_red_2.0mm_mw_cm2"]  # fmt: skip
    name = "</script><h1>odd & co"
    scene = _tiny(name, {n: ramp * (i + 1) for i, n in enumerate(names)})
    path = webpage.write_page(scene, tmp_path / "page.html", quantity="irradiance_red_mw_cm2")
    text = path.read_text()
    assert text.count("</script>") == 2  # the data block's and the viewer's: none from the name
    data = _data(text)
    assert data["name"] == name and data["initial"] == "irradiance_red_mw_cm2"
    assert f"<title>{html.escape(name)}: dose maps" in text
    labels = {m["name"]: (m["group"], m["label"]) for m in data["maps"]}
    assert labels["fluence_rate_0.5mm_mw_cm2"] == (
        "Fluence rate at depth",
        "fluence rate at 0.5 mm, all channels",
    )
    assert labels["fluence_rate_red_2.0mm_mw_cm2"] == (
        "Fluence rate at depth",
        "fluence rate at 2.0 mm, red 633 nm",
    )
    assert labels["irradiance_red_mw_cm2"] == ("Irradiance (all the light)",
                                               "irradiance, red 633 nm")  # fmt: skip
    with pytest.raises(InputError, match="quantity: expected one of"):
        webpage.write_page(_tiny("x", {"fluence_j_cm2": ramp}), tmp_path / "x.html",
                           quantity="irradiance_mw_cm2")  # fmt: skip


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="the browser test needs Debian's chromium (tools/system_packages.sh installs it)",
)
def test_the_page_shows_the_dose_map_and_its_menu_in_a_headless_browser(rendered, tmp_path):
    from PIL import Image

    _, out, _ = rendered
    page = (out / "scene.html").as_uri()
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
               "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--window-size=1100,800",
               "--virtual-time-budget=15000"]  # fmt: skip
    shot = tmp_path / "page.png"
    subprocess.run([*browser, f"--screenshot={shot}", page], check=True, capture_output=True,
                   timeout=180)  # fmt: skip
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=float) / 255.0
    view = image[70:, : int(0.7 * image.shape[1])]  # the WebGL view, left of the side panel
    chroma = view.max(axis=2) - view.min(axis=2)
    assert (chroma > 0.25).mean() > 0.08  # the skin in colour, not a blank page
    # The colour bar of the side panel runs through the colour map: its exact colours show.
    colours = {tuple(c) for c in view3d.viridis().tolist()}
    pixels = (image * 255).round().astype(int).reshape(-1, 3)
    assert sum(tuple(p) in colours for p in pixels[::7]) > 100
    # The menu the script builds offers every map by its name.
    dom = subprocess.run([*browser, "--dump-dom", page], check=True, capture_output=True,
                         text=True, timeout=180).stdout  # fmt: skip
    options = re.findall(r'<option value="([^"]+)"', dom)
    assert sorted(options) == sorted(view3d.from_folder(out).maps)
    assert re.search(r'<div id="legend-title">fluence, all channels \(J/cm²\)</div>', dom)
