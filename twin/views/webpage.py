"""The HTML page of a result (``twin render --html``): one self-contained file, no network.

:func:`write_page` writes the skin, every map of the :class:`~twin.views.view3d.ResultScene`
(each channel's irradiance, the fluence, the direct and indirect light where inter-reflection
was solved, the fluence rate at each depth with light in tissue), the LEDs, the carrier's
outline and the region outlines into one HTML file with a small WebGL viewer written here:
drag to turn it, shift-drag (or the right button) to move it, the wheel to zoom, a
double-click to reset the view; a menu switches the map, buttons pick the named views, and a
click on the skin reads the values there. ``scene.html#<map>`` opens on that map (named as
the ``samples.csv`` columns). The colour map, its range, its ticks and the window
are those of the pictures (:mod:`twin.views.view3d`); a colour bar with the unit and the
window bracketed, and the LED channels' colours, stand beside the view.

The page loads nothing: no script, style sheet or font from elsewhere, so it opens offline,
and it needs no PyVista to be written (numpy only). The data sit in one
``<script type="application/json" id="twin-data">`` block; arrays in it are base64 of
little-endian float32 (``uint32`` for the faces, ``uint16`` for the region of each vertex,
65535 for none).
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from twin.files import write_atomic
from twin.views.view3d import (
    DIRECT,
    FLUENCE_RATE,
    INDIRECT,
    OFF_COLOUR,
    VIEWS,
    VIRIDIS_HEX,
    ResultScene,
    beams_apart,
    carrier_outline,
    describe_map,
    format_exposure,
    frame_points,
    led_beams,
    led_legend,
    map_label,
    nice_ticks,
    picture_title,
    region_outlines,
)

#: The page's groups of maps, in the order of its menu.
GROUPS = (
    "Fluence",
    "Irradiance (all the light)",
    "Direct light",
    "Indirect light (returned by skin and device)",
    "Fluence rate at depth",
)
#: At most this many of the framed points travel to the page for its camera.
FRAME_POINTS = 4000


def _b64(values: ArrayLike, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def map_group(name: str) -> str:
    """Return the menu group of a map (one of :data:`GROUPS`)."""
    if name.endswith("_j_cm2"):
        return GROUPS[0]
    for prefix, group in ((DIRECT, GROUPS[2]), (INDIRECT, GROUPS[3]), (FLUENCE_RATE, GROUPS[4])):
        if name.startswith(prefix):
            return group
    return GROUPS[1]


def page_data(scene: ResultScene, *, quantity: str = "fluence_j_cm2") -> dict[str, Any]:
    """Return what the page embeds (see the module), ``quantity`` the map it opens on.

    Returns
    -------
    dict
        ``name``, ``title`` (the page's title); ``vertices`` (v*3 float32), ``faces``
        (f*3 uint32), ``onFaces``; ``maps``: per map its ``name``, ``label`` (its menu
        entry), ``group``, ``title``, ``subtitle`` (the two heading lines), ``unit``,
        ``range``, ``window`` and ``ticks`` in its unit, and ``values`` (float32); ``initial``
        (the map shown first); ``colours`` (the colour map, 256 RGB hex); ``leds``: per
        channel its ``name``, ``colour``, ``label``, ``lit`` and ``positions`` (n*3
        float32); ``beams``, ``outlines`` and ``carrier``: line segments (s*2*3 float32);
        ``regionNames`` and ``regions`` (v uint16); ``views`` (name to direction and up),
        ``view`` (the first), ``frame`` (k*3 float32, what the camera frames).
    """
    maps = []
    for name, values in sorted(scene.maps.items(), key=lambda kv: GROUPS.index(map_group(kv[0]))):
        _, clim, window = map_label(name, scene)
        what, channel, unit = describe_map(name, scene)
        line1, line2 = picture_title(scene, name)
        maps.append(
            {
                "name": name,
                "label": f"{what}, {channel}",
                "group": map_group(name),
                "title": line1,
                "subtitle": line2,
                "unit": unit,
                "range": list(clim),
                "window": list(window),
                "ticks": nice_ticks(*clim),
                "values": _b64(values, "<f4"),
            }
        )
    beams = led_beams(scene)
    apart = beams_apart(scene, beams)
    leds = []
    for channel, colour, label in led_legend(scene):
        sel = scene.leds["channel"] == channel
        lit = colour != OFF_COLOUR
        leds.append(
            {
                "name": channel,
                "colour": colour,
                "label": label,
                "lit": lit,
                "positions": _b64(scene.leds["positions_mm"][sel], "<f4"),
                "beams": _b64(beams[sel] if lit and apart else np.zeros((0, 2, 3)), "<f4"),
            }
        )
    region = np.full(len(scene.vertices_mm), 65535)
    for i, idx in enumerate(scene.regions.values()):
        region[idx] = i
    frame = frame_points(scene)
    step = max(1, len(frame) // FRAME_POINTS)
    view = scene.default_views[0]
    return {
        "name": scene.name,
        "title": page_title(scene),
        "vertices": _b64(scene.vertices_mm, "<f4"),
        "faces": _b64(scene.faces, "<u4"),
        "onFaces": scene.on_faces,
        "maps": maps,
        "initial": quantity,
        "colours": "".join(VIRIDIS_HEX),
        "leds": leds,
        "outlines": _b64(region_outlines(scene), "<f4"),
        "carrier": _b64(carrier_outline(scene), "<f4"),
        "regionNames": list(scene.regions),
        "regions": _b64(region, "<u2"),
        "views": {k: [list(d), list(u)] for k, (d, u) in VIEWS.items()},
        "defaultViews": list(scene.default_views),
        "view": view,
        "frame": _b64(frame[::step], "<f4"),
    }


def page_title(scene: ResultScene) -> str:
    """Return the page's title: the scene's name and exposure."""
    return f"{scene.name}: dose maps, exposure {format_exposure(scene.exposure_s)} (twin)"


def page_html(scene: ResultScene, *, quantity: str = "fluence_j_cm2") -> str:
    """Return the page (see the module) opening on map ``quantity``."""
    data = page_data(scene, quantity=quantity)
    first = next(m for m in data["maps"] if m["name"] == quantity)
    fields = {
        "title": html.escape(data["title"]),
        "heading": html.escape(first["title"]),
        "subtitle": html.escape(first["subtitle"]),
        "data": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
    }
    return re.sub(r"\{(title|heading|subtitle|data)\}", lambda m: fields[m[1]], _PAGE)


def write_page(scene: ResultScene, path: Path, *, quantity: str = "fluence_j_cm2") -> Path:
    """Write the page of ``scene`` (see the module) to ``path``, opening on map ``quantity``.

    Raises
    ------
    InputError
        Naming ``quantity`` if the scene has no such map.
    """
    from twin.errors import InputError

    if quantity not in scene.maps:
        msg = f"quantity: expected one of {', '.join(scene.maps)}, got {quantity!r}"
        raise InputError(msg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic({path: page_html(scene, quantity=quantity)}, name="path")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
html, body { margin: 0; height: 100%; background: #fff; color: #1d1d1f;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
body { display: flex; flex-direction: column; }
header { padding: 8px 16px 6px; border-bottom: 1px solid #ddd; }
h1 { font-size: 19px; margin: 0; }
#subtitle { margin: 2px 0 0; color: #444; }
main { flex: 1; display: flex; min-height: 0; }
#view { flex: 1; position: relative; min-width: 0; }
#canvas { width: 100%; height: 100%; display: block; cursor: grab; touch-action: none; }
#nogl { position: absolute; inset: 0; display: none; align-items: center;
  justify-content: center; color: #a00; }
aside { width: 290px; padding: 10px 14px; border-left: 1px solid #ddd; overflow-y: auto; }
aside h2 { font-size: 13px; margin: 14px 0 6px; text-transform: uppercase; letter-spacing: .04em;
  color: #555; }
select { width: 100%; font: inherit; padding: 3px; }
#legend-title { font-weight: 600; margin-bottom: 8px; }
#scale { position: relative; height: 280px; margin: 14px 0 10px 110px; width: 24px; }
#bar { position: absolute; inset: 0; width: 24px; height: 100%; border: 1px solid #000;
  box-sizing: border-box; image-rendering: pixelated; }
.tick { position: absolute; left: 24px; width: 60px; transform: translateY(50%);
  font-size: 12px; white-space: nowrap; }
.tick::before { content: ""; display: inline-block; width: 6px; border-top: 1px solid #000;
  vertical-align: middle; margin-right: 4px; }
#window { position: absolute; left: -12px; width: 36px; border: 1.5px solid #000;
  border-right: none; box-sizing: border-box; }
#window span { position: absolute; right: calc(100% + 5px); top: 50%;
  transform: translateY(-50%); text-align: right; font-size: 12px; white-space: pre; }
.row { display: flex; align-items: center; gap: 6px; margin: 3px 0; font-size: 13px; }
.swatch { width: 12px; height: 12px; border-radius: 50%; flex: none; }
.views { display: flex; flex-wrap: wrap; gap: 4px; }
button { font: inherit; font-size: 12px; padding: 2px 7px; }
#readout { font-size: 13px; white-space: pre-line; min-height: 3em; }
.help { font-size: 12px; color: #555; }
</style>
</head>
<body>
<header>
<h1 id="heading">{heading}</h1>
<p id="subtitle">{subtitle}</p>
</header>
<main>
<div id="view"><canvas id="canvas"></canvas><div id="nogl">This page needs WebGL to show the
scene.</div></div>
<aside>
<h2>Map</h2>
<select id="map" aria-label="map"></select>
<h2>Scale</h2>
<div id="legend-title"></div>
<div id="scale"><canvas id="bar" width="1" height="256"></canvas><div id="ticks"></div>
<div id="window"><span></span></div></div>
<h2>LEDs</h2>
<div id="leds"></div>
<h2>Show</h2>
<label class="row"><input type="checkbox" id="show-leds" checked> LEDs</label>
<label class="row"><input type="checkbox" id="show-outlines" checked> region outlines
(white)</label>
<label class="row"><input type="checkbox" id="show-carrier" checked> carrier outline
(grey)</label>
<h2>View</h2>
<div class="views" id="views"></div>
<h2>Point</h2>
<div id="readout">Click the skin to read its values.</div>
<p class="help">Drag to turn, shift-drag or right-drag to move, wheel to zoom, double-click
to reset.</p>
</aside>
</main>
<script type="application/json" id="twin-data">{data}</script>
<script>
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("twin-data").textContent);
  function buffer(b64) {
    const s = atob(b64), u = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
    return u.buffer;
  }
  const f32 = (b) => new Float32Array(buffer(b));
  const V = f32(D.vertices), F = new Uint32Array(buffer(D.faces));
  const REGION = new Uint16Array(buffer(D.regions));
  const nv = V.length / 3, nf = F.length / 3;
  const maps = {};
  for (const m of D.maps) maps[m.name] = m;
  const values = (m) => m.data || (m.data = f32(m.values));

  // Vertex normals (area-weighted), then the skin as a triangle soup.
  const N = new Float32Array(nv * 3);
  for (let f = 0; f < nf; f++) {
    const a = 3 * F[3 * f], b = 3 * F[3 * f + 1], c = 3 * F[3 * f + 2];
    const ux = V[b] - V[a], uy = V[b + 1] - V[a + 1], uz = V[b + 2] - V[a + 2];
    const vx = V[c] - V[a], vy = V[c + 1] - V[a + 1], vz = V[c + 2] - V[a + 2];
    const nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    for (const i of [a, b, c]) { N[i] += nx; N[i + 1] += ny; N[i + 2] += nz; }
  }
  const pos = new Float32Array(nf * 9), nor = new Float32Array(nf * 9);
  for (let i = 0; i < nf * 3; i++) {
    const v = 3 * F[i];
    const l = Math.hypot(N[v], N[v + 1], N[v + 2]) || 1;
    for (let k = 0; k < 3; k++) { pos[3 * i + k] = V[v + k]; nor[3 * i + k] = N[v + k] / l; }
  }

  const canvas = document.getElementById("canvas");
  const gl = canvas.getContext("webgl", { antialias: true, preserveDrawingBuffer: true });
  if (!gl) { document.getElementById("nogl").style.display = "flex"; }

  function program(vs, fs) {
    const p = gl.createProgram();
    for (const [type, src] of [[gl.VERTEX_SHADER, vs], [gl.FRAGMENT_SHADER, fs]]) {
      const s = gl.createShader(type);
      gl.shaderSource(s, src); gl.compileShader(s); gl.attachShader(p, s);
    }
    gl.linkProgram(p);
    return p;
  }
  function array(data) {
    const b = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, b); gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    return b;
  }
  function attribute(p, name, b, size) {
    const at = gl.getAttribLocation(p, name);
    gl.bindBuffer(gl.ARRAY_BUFFER, b);
    gl.enableVertexAttribArray(at);
    gl.vertexAttribPointer(at, size, gl.FLOAT, false, 0, 0);
    return at;
  }
  const HEAD = "precision highp float; uniform mat4 uProj, uView;";
  let skin, lines, points, skinPos, skinNor, skinVal, lut;
  const layers = {};
  if (gl) {
    skin = program(HEAD + `attribute vec3 aPos, aNor; attribute float aVal;
      uniform mat3 uNormal; uniform vec2 uRange; varying float vT; varying vec3 vN;
      void main() { vT = (aVal - uRange.x) / (uRange.y - uRange.x); vN = uNormal * aNor;
        gl_Position = uProj * uView * vec4(aPos, 1.0); }`,
      `precision highp float; uniform sampler2D uLut; varying float vT; varying vec3 vN;
      void main() { vec3 c = texture2D(uLut, vec2(clamp(vT, 0.0, 1.0), 0.5)).rgb;
        float d = abs(normalize(vN).z);
        gl_FragColor = vec4(c * (0.5 + 0.5 * d), 1.0); }`);
    lines = program(HEAD + `attribute vec3 aPos; uniform float uSize;
      void main() { gl_Position = uProj * uView * vec4(aPos, 1.0); gl_PointSize = uSize; }`,
      `precision highp float; uniform vec4 uColour; uniform float uRound;
      void main() { if (uRound > 0.5 && length(gl_PointCoord - 0.5) > 0.5) discard;
        gl_FragColor = uColour; }`);
    skinPos = array(pos); skinNor = array(nor);
    skinVal = gl.createBuffer();
    lut = gl.createTexture();
    const rgba = new Uint8Array(256 * 4);
    for (let i = 0; i < 256; i++) {
      for (let k = 0; k < 3; k++) {
        rgba[4 * i + k] = parseInt(D.colours.substr(6 * i + 2 * k, 2), 16);
      }
      rgba[4 * i + 3] = 255;
    }
    gl.bindTexture(gl.TEXTURE_2D, lut);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER])
      gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
    for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T])
      gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
    const layer = (key, data, colour, mode, size) => {
      if (data.length) layers[key] = { b: array(data), n: data.length / 3, colour, mode, size };
    };
    layer("outlines", f32(D.outlines), [1, 1, 1, 1], gl.LINES, 1);
    layer("carrier", f32(D.carrier), [0.48, 0.53, 0.59, 1], gl.LINES, 1);
    D.leds.forEach((c, i) => {
      const rgb = [0, 2, 4].map((k) => parseInt(c.colour.substr(1 + k, 2), 16) / 255);
      layer("beam" + i, f32(c.beams), [...rgb, 1], gl.LINES, 1);
      layer("led" + i, f32(c.positions), [...rgb, 1], gl.POINTS, 7);
    });
  }

  // The camera: a frame (right, up, back) about a target, as the pictures' named views.
  const FOV = 30 * Math.PI / 180;
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                           a[0] * b[1] - a[1] * b[0]];
  const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
  const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
  const unit = (a) => scale(a, 1 / (Math.hypot(a[0], a[1], a[2]) || 1));
  function rotate(v, axis, angle) {
    const c = Math.cos(angle), s = Math.sin(angle);
    return add(add(scale(v, c), scale(cross(axis, v), s)), scale(axis, dot(axis, v) * (1 - c)));
  }
  const FRAME = f32(D.frame);
  let lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < nv; i++) for (let k = 0; k < 3; k++) {
    lo[k] = Math.min(lo[k], V[3 * i + k]); hi[k] = Math.max(hi[k], V[3 * i + k]);
  }
  const middle = scale(add(lo, hi), 0.5), reach = 0.5 * Math.hypot(...sub(hi, lo)) + 50;
  let cam = null;
  function fit(view) {  // as twin.views.view3d.camera_for, on the whole canvas
    const [d0, u0] = D.views[view];
    const back = unit(d0), up = unit(sub(u0, scale(back, dot(u0, back))));
    const right = cross(up, back);
    const aspect = canvas.clientWidth / Math.max(canvas.clientHeight, 1);
    const pts = [];
    for (let i = 0; i < FRAME.length; i += 3) pts.push([FRAME[i], FRAME[i + 1], FRAME[i + 2]]);
    let c = [0, 0, 0];
    const lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
    for (const p of pts) c = add(c, scale(p, 1 / pts.length));
    for (const p of pts) {
      const x = dot(sub(p, c), right), y = dot(sub(p, c), up);
      lo[0] = Math.min(lo[0], x); hi[0] = Math.max(hi[0], x);
      lo[1] = Math.min(lo[1], y); hi[1] = Math.max(hi[1], y);
    }
    c = add(c, add(scale(right, (lo[0] + hi[0]) / 2), scale(up, (lo[1] + hi[1]) / 2)));
    const t = Math.tan(FOV / 2) * 0.92;
    let dist = 1;
    for (const p of pts) {
      const q = sub(p, c);
      dist = Math.max(dist, dot(q, back) + Math.abs(dot(q, right)) / (t * aspect),
                      dot(q, back) + Math.abs(dot(q, up)) / t);
    }
    cam = { target: c, dist, right, up, back };
    draw();
  }
  function matrices() {
    const eye = add(cam.target, scale(cam.back, cam.dist));
    const { right: r, up: u, back: b } = cam;
    const view = [r[0], u[0], b[0], 0, r[1], u[1], b[1], 0, r[2], u[2], b[2], 0,
                  -dot(r, eye), -dot(u, eye), -dot(b, eye), 1];
    const far = Math.hypot(...sub(eye, middle)) + reach;
    const near = Math.max(far - 2 * reach, far * 1e-3);
    const aspect = canvas.width / Math.max(canvas.height, 1), f = 1 / Math.tan(FOV / 2);
    const proj = [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1,
                  0, 0, 2 * far * near / (near - far), 0];
    return { eye, view, proj, normal: [r[0], u[0], b[0], r[1], u[1], b[1], r[2], u[2], b[2]] };
  }

  // The map, its scale and the heading.
  const asked = decodeURIComponent(location.hash.slice(1));
  let current = maps[asked] ? asked : maps[D.initial] ? D.initial : D.maps[0].name;
  const bar = document.getElementById("bar").getContext("2d");
  function legend(m) {
    document.getElementById("heading").textContent = m.title;
    document.getElementById("subtitle").textContent = m.subtitle;
    document.getElementById("legend-title").textContent = m.label + " (" + m.unit + ")";
    for (let i = 0; i < 256; i++) {
      bar.fillStyle = "#" + D.colours.substr(6 * i, 6);
      bar.fillRect(0, 255 - i, 1, 1);
    }
    const [a, b] = m.range, at = (v) => 100 * (v - a) / (b - a);
    const ticks = document.getElementById("ticks");
    ticks.textContent = "";
    for (const v of m.ticks) {
      const t = document.createElement("div");
      t.className = "tick"; t.style.bottom = at(v) + "%";
      const last = v === m.ticks[m.ticks.length - 1];
      t.textContent = String(+v.toPrecision(12)) + (last ? " " + m.unit : "");
      ticks.appendChild(t);
    }
    const w = document.getElementById("window");
    const [wl, wh] = [Math.max(m.window[0], a), Math.min(m.window[1], b)];
    w.style.display = wl < wh ? "" : "none";
    w.style.bottom = at(wl) + "%"; w.style.height = (at(wh) - at(wl)) + "%";
    w.firstChild.textContent = "window\\n" + +m.window[0].toPrecision(3) + "\\u2013" +
      +m.window[1].toPrecision(3);
  }
  function choose(name) {
    current = name;
    const m = maps[name];
    legend(m);
    if (gl) {
      const vals = values(m), soup = new Float32Array(nf * 3);
      for (let i = 0; i < nf * 3; i++) soup[i] = D.onFaces ? vals[Math.floor(i / 3)] : vals[F[i]];
      gl.bindBuffer(gl.ARRAY_BUFFER, skinVal);
      gl.bufferData(gl.ARRAY_BUFFER, soup, gl.STATIC_DRAW);
    }
    if (picked) read(picked);
    draw();
  }
  const select = document.getElementById("map");
  let group = null;
  for (const m of D.maps) {
    if (!group || group.label !== m.group) {
      group = document.createElement("optgroup"); group.label = m.group; select.appendChild(group);
    }
    const o = document.createElement("option");
    o.value = m.name; o.textContent = m.label; group.appendChild(o);
  }
  select.addEventListener("change", () => {
    choose(select.value);
    history.replaceState(null, "", "#" + encodeURIComponent(select.value));
  });

  const ledList = document.getElementById("leds");
  for (const c of D.leds) {
    const row = document.createElement("div");
    row.className = "row";
    const s = document.createElement("span");
    s.className = "swatch"; s.style.background = c.colour;
    row.appendChild(s); row.appendChild(document.createTextNode(c.label));
    ledList.appendChild(row);
  }
  const views = document.getElementById("views");
  const others = Object.keys(D.views).filter((v) => !D.defaultViews.includes(v));
  for (const name of [...D.defaultViews, ...others]) {
    const b = document.createElement("button");
    b.textContent = name; b.addEventListener("click", () => fit(name));
    views.appendChild(b);
  }
  const reset = document.createElement("button");
  reset.textContent = "reset"; reset.addEventListener("click", () => fit(D.view));
  views.appendChild(reset);
  const shown = (id) => document.getElementById(id).checked;
  for (const id of ["show-leds", "show-outlines", "show-carrier"])
    document.getElementById(id).addEventListener("change", draw);

  function draw() {
    if (!gl || !cam) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr), h = Math.round(canvas.clientHeight * dpr);
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    gl.viewport(0, 0, w, h);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    const M = matrices(), m = maps[current];
    gl.useProgram(skin);
    gl.uniformMatrix4fv(gl.getUniformLocation(skin, "uProj"), false, M.proj);
    gl.uniformMatrix4fv(gl.getUniformLocation(skin, "uView"), false, M.view);
    gl.uniformMatrix3fv(gl.getUniformLocation(skin, "uNormal"), false, M.normal);
    gl.uniform2f(gl.getUniformLocation(skin, "uRange"), m.range[0], m.range[1]);
    gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, lut);
    gl.uniform1i(gl.getUniformLocation(skin, "uLut"), 0);
    const at = [attribute(skin, "aPos", skinPos, 3), attribute(skin, "aNor", skinNor, 3),
                attribute(skin, "aVal", skinVal, 1)];
    gl.enable(gl.POLYGON_OFFSET_FILL); gl.polygonOffset(1, 1);
    gl.drawArrays(gl.TRIANGLES, 0, nf * 3);
    gl.disable(gl.POLYGON_OFFSET_FILL);
    for (const a of at) gl.disableVertexAttribArray(a);
    gl.useProgram(lines);
    gl.uniformMatrix4fv(gl.getUniformLocation(lines, "uProj"), false, M.proj);
    gl.uniformMatrix4fv(gl.getUniformLocation(lines, "uView"), false, M.view);
    for (const [key, l] of Object.entries(layers)) {
      if ((key.startsWith("led") || key.startsWith("beam")) && !shown("show-leds")) continue;
      if (key === "outlines" && !shown("show-outlines")) continue;
      if (key === "carrier" && !shown("show-carrier")) continue;
      gl.uniform4fv(gl.getUniformLocation(lines, "uColour"), l.colour);
      gl.uniform1f(gl.getUniformLocation(lines, "uSize"), l.size * dpr);
      gl.uniform1f(gl.getUniformLocation(lines, "uRound"), l.mode === gl.POINTS ? 1 : 0);
      const a = attribute(lines, "aPos", l.b, 3);
      gl.drawArrays(l.mode, 0, l.n);
      gl.disableVertexAttribArray(a);
    }
  }

  // Reading a point: the nearest triangle along the ray under the pointer.
  let picked = null;
  function read(hit) {
    const m = maps[current], vals = values(m);
    const key = D.onFaces ? hit.face : hit.vertex;
    const r = REGION[hit.vertex];
    const rows = ["region: " + (r === 65535 ? "none" : D.regionNames[r]),
                  m.label + ": " + +vals[key].toPrecision(4) + " " + m.unit];
    for (const other of ["fluence_j_cm2", "irradiance_mw_cm2"]) {
      if (other !== current && maps[other]) {
        const o = maps[other];
        rows.push(o.label + ": " + +values(o)[key].toPrecision(4) + " " + o.unit);
      }
    }
    document.getElementById("readout").textContent = rows.join("\\n");
  }
  function pick(px, py) {
    const M = matrices(), t = Math.tan(FOV / 2);
    const aspect = canvas.clientWidth / canvas.clientHeight;
    const x = (2 * px / canvas.clientWidth - 1) * t * aspect;
    const y = (1 - 2 * py / canvas.clientHeight) * t;
    const dir = unit(add(add(scale(cam.right, x), scale(cam.up, y)), scale(cam.back, -1)));
    let best = Infinity, face = -1, bary = null;
    const o = M.eye;
    for (let f = 0; f < nf; f++) {
      const a = 3 * F[3 * f], b = 3 * F[3 * f + 1], c = 3 * F[3 * f + 2];
      const e1 = [V[b] - V[a], V[b + 1] - V[a + 1], V[b + 2] - V[a + 2]];
      const e2 = [V[c] - V[a], V[c + 1] - V[a + 1], V[c + 2] - V[a + 2]];
      const p = cross(dir, e2), det = dot(e1, p);
      if (Math.abs(det) < 1e-12) continue;
      const s = [o[0] - V[a], o[1] - V[a + 1], o[2] - V[a + 2]];
      const u = dot(s, p) / det;
      if (u < 0 || u > 1) continue;
      const q = cross(s, e1), v = dot(dir, q) / det;
      if (v < 0 || u + v > 1) continue;
      const d = dot(e2, q) / det;
      if (d > 0 && d < best) { best = d; face = f; bary = [1 - u - v, u, v]; }
    }
    if (face < 0) return;
    const corner = bary.indexOf(Math.max(...bary));
    picked = { face, vertex: F[3 * face + corner] };
    read(picked);
  }

  // Mouse and touch: turn, move, zoom, reset, read.
  let drag = null;
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, x0: e.clientX, y0: e.clientY,
             pan: e.shiftKey || e.button === 2 };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag || !cam) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag.x = e.clientX; drag.y = e.clientY;
    if (drag.pan) {
      const s = 2 * cam.dist * Math.tan(FOV / 2) / canvas.clientHeight;
      cam.target = add(cam.target, add(scale(cam.right, -dx * s), scale(cam.up, dy * s)));
    } else {
      for (const [axis, angle] of [[cam.up, -dx * 0.008], [cam.right, -dy * 0.008]]) {
        const a = axis.slice();
        cam.right = rotate(cam.right, a, angle); cam.up = rotate(cam.up, a, angle);
        cam.back = rotate(cam.back, a, angle);
      }
    }
    draw();
  });
  canvas.addEventListener("pointerup", (e) => {
    if (drag && Math.hypot(e.clientX - drag.x0, e.clientY - drag.y0) < 4 && cam) {
      const r = canvas.getBoundingClientRect();
      pick(e.clientX - r.left, e.clientY - r.top);
    }
    drag = null;
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (cam) { cam.dist *= Math.exp(e.deltaY * 0.001); draw(); }
  }, { passive: false });
  canvas.addEventListener("dblclick", () => fit(D.view));
  window.addEventListener("resize", draw);

  select.value = current;
  choose(current);
  fit(D.view);
})();
</script>
</body>
</html>
"""
