// ganforge lab front end: plain JavaScript and canvas, no libraries, nothing fetched from the internet.
// The live tab talks to /ws (JSON commands out; JSON replies and binary frames in, see lab/session.py);
// the gallery tab reads /api/runs. window.lab exposes the state for the browser tests and the console.
"use strict";

const $ = (id) => document.getElementById(id);
const lab = {
  ws: null, settings: {}, schema: {}, playing: false, step: 0, frames: 0, frame: null,
  losses: [], w1: [], drawn: [], layers: { heat: true, real: true, fake: true, arrows: true, manifold: false },
  highlight: null, pinned: null, substeps: {}, slowmo: false, kl: null, cycle: 0,
  send(obj) { if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(obj)); },
};
window.lab = lab;

// ------------------------------------------------------------------ messages

function showMessage(text, ok = false) {
  const m = $("message");
  m.textContent = text;
  m.classList.toggle("ok", ok);
  m.hidden = !text;
  clearTimeout(showMessage.timer);
  if (ok) showMessage.timer = setTimeout(() => { m.hidden = true; }, 4000);
}

// ------------------------------------------------------------------ the WebSocket

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  lab.ws = ws;
  ws.onopen = () => { $("conn").textContent = "connected"; };
  ws.onclose = () => { $("conn").textContent = "disconnected (reload the page)"; setPlaying(false); };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") { onFrame(decodeFrame(ev.data)); return; }
    const msg = JSON.parse(ev.data);
    if (msg.type === "hello") {
      lab.schema = msg.schema;
      lab.substeps = msg.substeps || {};
      lab.kl = msg.kl || null;
      buildControls(msg.schema, msg.settings);
      buildSubsteps();
      $("runs-root").textContent = msg.runs;
    } else if (msg.type === "state") {
      setPlaying(msg.playing);
      syncControls(msg.settings);
      lab.cycle = msg.cycle || 0;
      if (msg.applied && !$("message").classList.contains("ok")) showMessage("");  // the value is fixed now
    } else if (msg.type === "error") {
      stopSlowmo();
      showMessage(msg.message);
    } else if (msg.type === "saved") {
      showMessage(`saved ${msg.path} at step ${msg.step}: ganforge resume/sample/eval ${msg.path}`, true);
      loadRuns();
    }
  };
}

function decodeFrame(buf) {
  const view = new DataView(buf);
  const h = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, h)));
  let offset = 4 + h + ((4 - ((4 + h) % 4)) % 4);
  const arrays = {};
  for (const [name, n] of header.arrays) {
    arrays[name] = new Float32Array(buf, offset, n);
    offset += 4 * n;
  }
  return { header, arrays };
}

function setPlaying(p) {
  lab.playing = p;
  $("play").textContent = p ? "Pause" : "Play";
}

// ------------------------------------------------------------------ controls

const LABELS = {
  distribution: "distribution", loss: "loss", d_steps: "k (D steps)", lr_g: "lr G", lr_d: "lr D",
  optimizer: "optimiser", z_dim: "noise size", g_width: "G width", g_depth: "G depth", d_width: "D width",
  d_depth: "D depth", remedy: "collapse remedy", batch_size: "batch", seed: "seed",
};

function buildControls(schema, values) {
  const box = $("settings");
  box.innerHTML = "";
  for (const [name, s] of Object.entries(schema)) {
    if (name === "speed") continue;
    const label = document.createElement("label");
    label.title = s.help;
    label.append(LABELS[name] || name);
    let input;
    if (s.kind === "choice") {
      input = document.createElement("select");
      for (const c of s.choices) input.append(new Option(c, c));
    } else {
      input = document.createElement("input");
      input.type = "number";
      input.step = s.kind === "int" ? "1" : "any";
    }
    input.id = `set-${name}`;
    input.dataset.name = name;
    input.addEventListener("change", () => {
      let v = input.value;
      if (s.kind !== "choice") v = v.trim() === "" ? null : Number(v);
      if (name === "distribution" && v === "draw" && lab.drawn.length >= 2) {
        lab.send({ type: "points", points: lab.drawn });
        return;
      }
      lab.send({ type: "settings", values: { [name]: v } });
    });
    label.append(input);
    box.append(label);
  }
  const speed = $("speed");
  speed.min = schema.speed.lo; speed.max = schema.speed.hi;
  syncControls(values);
}

function syncControls(values) {
  lab.settings = values;
  for (const [name, v] of Object.entries(values)) {
    const input = $(`set-${name}`);
    if (input) input.value = v;
  }
  $("speed").value = values.speed;
  $("speed-value").textContent = values.speed;
  $("draw-mode").checked = values.distribution === "draw" || $("draw-mode").checked;
}

$("play").onclick = () => { stopSlowmo(); lab.send({ type: lab.playing ? "pause" : "play" }); };
$("step").onclick = () => { stopSlowmo(); lab.send({ type: "step" }); };
$("reset").onclick = () => {
  stopSlowmo(); lab.losses = []; lab.w1 = []; showMessage(""); lab.send({ type: "reset" });
};
$("speed").oninput = () => { $("speed-value").textContent = $("speed").value; };
$("speed").onchange = () => lab.send({ type: "settings", values: { speed: Number($("speed").value) } });
$("save").onclick = () => lab.send({ type: "save", name: $("save-name").value.trim() || null });
for (const box of document.querySelectorAll("[data-layer]")) {
  box.onchange = () => { lab.layers[box.dataset.layer] = box.checked; if (lab.frame) drawPlane(lab.frame); };
}

// ------------------------------------------------------------------ drawing your own points

const view = $("view");

function toData(ev, bounds) {
  const r = view.getBoundingClientRect();
  const fx = (ev.clientX - r.left) / r.width, fy = (ev.clientY - r.top) / r.height;
  const [x0, x1, y0, y1] = bounds;
  return [x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)];
}

let drawing = false;
function addPoints(ev) {
  if (!$("draw-mode").checked || !lab.frame || lab.drawn.length >= 2000) return;
  const [x, y] = toData(ev, lab.frame.header.bounds);
  const span = lab.frame.header.bounds[1] - lab.frame.header.bounds[0];
  for (let i = 0; i < 4 && lab.drawn.length < 2000; i++) {  // a small spray around the pointer
    lab.drawn.push([x + (Math.random() - 0.5) * 0.03 * span, y + (Math.random() - 0.5) * 0.03 * span]);
  }
  $("draw-count").textContent = `${lab.drawn.length} points`;
  drawPlane(lab.frame);
}
view.addEventListener("pointerdown", (ev) => { drawing = true; addPoints(ev); });
view.addEventListener("pointermove", (ev) => { if (drawing) addPoints(ev); });
window.addEventListener("pointerup", () => { drawing = false; });
$("draw-clear").onclick = () => { lab.drawn = []; $("draw-count").textContent = "0 points"; if (lab.frame) drawPlane(lab.frame); };
$("draw-train").onclick = () => {
  if (lab.drawn.length < 2) { showMessage("draw at least 2 points first (tick 'draw on the plane', then drag)"); return; }
  lab.losses = []; lab.w1 = [];
  lab.send({ type: "points", points: lab.drawn.map(([x, y]) => [+x.toFixed(4), +y.toFixed(4)]) });
};

// ------------------------------------------------------------------ the plane

// Colours shared with run.plot() and the report (ganforge/viz/toy.py): real #333333, generated #e8452c,
// D's surface in matplotlib's viridis.
const REAL = "#333333", FAKE = "#e8452c";
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
  [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
function heatColor(t) {  // t in [0, 1]: viridis, dark purple (low: looks fake) .. yellow (high: looks real)
  t = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0.5)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), u = t - i;
  return [0, 1, 2].map((c) => Math.round(VIRIDIS[i][c] + (VIRIDIS[i + 1][c] - VIRIDIS[i][c]) * u));
}

// What D is called and what its surface means, by loss: a probability (minimax, ns), a least-squares score
// (lsgan: still a discriminator, trained towards 1 on real and 0 on fake), an unbounded critic (wgan, wgan-gp, hinge).
function dInfo(loss) {
  if (loss === "minimax" || loss === "ns") {
    return { name: "discriminator", short: "D", out: "D(x)", scale: "D(x): probability that x is real" };
  }
  if (loss === "lsgan") {
    return { name: "discriminator", short: "D", out: "D(x)", scale: "D(x): least-squares score (target 0 fake, 1 real)" };
  }
  return { name: "critic", short: "critic", out: "f(x)", scale: "critic f(x): unbounded score, higher = more real" };
}

function zDist(z) {  // the noise distribution as the lecture writes it
  return z && z.dist === "uniform" ? "U[-1, 1]" : "N(0, I)";
}

function fmt(v, integer = false) {  // counts as integers ("8"), the rest with 3 significant digits
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  if (integer || Number.isInteger(v)) return String(Math.round(v));
  return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(3);
}

function niceStep(span, ticks = 5) {
  const raw = span / ticks, p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
}

function drawColorbar(canvas, lo, hi, loText, hiText) {
  const ctx = canvas.getContext("2d");
  for (let i = 0; i < canvas.width; i++) {
    const [r, g, b] = heatColor(i / (canvas.width - 1));
    ctx.fillStyle = `rgb(${r},${g},${b})`; ctx.fillRect(i, 0, 1, canvas.height);
  }
  $(lo).textContent = loText; $(hi).textContent = hiText;
}

const heatCanvas = document.createElement("canvas");
const ARROW_PX = 0.05;  // arrow length: 0.05 of the view's width per unit of |gradient| (a fixed scale, not per frame)
const ARROW_MAX = 36;   // longer arrows are drawn this long (direction kept) and counted in the legend

function drawArrows(ctx, f, a, px, py, W, color) {
  const unit = ARROW_PX * W;  // pixels per unit of |gradient|
  let clipped = 0;
  ctx.strokeStyle = color; ctx.lineWidth = 1;
  ctx.beginPath();
  for (let k = 0; k < f.length; k += 2) {
    const x = px(f[k]), y = py(f[k + 1]);
    let dx = a[k] * unit, dy = -a[k + 1] * unit;
    const len = Math.hypot(dx, dy);
    if (!Number.isFinite(len) || len < 0.5) continue;
    if (len > ARROW_MAX) { dx *= ARROW_MAX / len; dy *= ARROW_MAX / len; clipped += 1; }
    const L = Math.min(len, ARROW_MAX), ux = dx / L, uy = dy / L, hx = x + dx, hy = y + dy;
    ctx.moveTo(x, y); ctx.lineTo(hx, hy);
    if (L >= 4) {  // the head: two short strokes back from the tip
      const h = Math.min(5, L * 0.4);
      ctx.moveTo(hx, hy); ctx.lineTo(hx - h * (ux - 0.5 * uy), hy - h * (uy + 0.5 * ux));
      ctx.moveTo(hx, hy); ctx.lineTo(hx - h * (ux + 0.5 * uy), hy - h * (uy - 0.5 * ux));
    }
  }
  ctx.stroke();
  return { clipped, n: f.length / 2, unit };
}

function drawAxes(ctx, bounds, px, py, W, H) {
  const [x0, x1, y0, y1] = bounds, step = niceStep(x1 - x0);
  ctx.save();
  ctx.strokeStyle = "rgba(0, 0, 0, 0.08)"; ctx.fillStyle = "#455a64"; ctx.font = "10px sans-serif"; ctx.lineWidth = 1;
  const dec = Math.max(0, -Math.floor(Math.log10(step)));
  for (let v = Math.ceil(x0 / step) * step; v <= x1; v += step) {
    const x = px(v);
    ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, H); ctx.stroke();
    ctx.fillText(v.toFixed(dec), x + 2, H - 3);
  }
  for (let v = Math.ceil(y0 / step) * step; v <= y1; v += step) {
    const y = py(v);
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke();
    ctx.fillText(v.toFixed(dec), 2, y - 2);
  }
  ctx.font = "italic 11px sans-serif";
  ctx.fillText("x1", W - 16, H - 14); ctx.fillText("x2", 16, 12);
  ctx.restore();
}

// frame: {header, arrays}; opts.layers: which layers; opts.highlight: the layer lit by the graph (others faded)
function drawPlane(frame, canvas = view, opts = {}) {
  const { header, arrays } = frame;
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  const [x0, x1, y0, y1] = header.bounds;
  const px = (x) => ((x - x0) / (x1 - x0)) * W, py = (y) => H - ((y - y0) / (y1 - y0)) * H;
  ctx.clearRect(0, 0, W, H);
  const live = canvas === view;
  const layers = opts.layers || (live ? lab.layers : { heat: true, real: true, fake: true });
  const lit = live ? lab.highlight : null;
  const sub = live ? header.substep : null;
  const on = (name) => layers[name] || lit === name;
  const alpha = (name) => { ctx.globalAlpha = lit && lit !== name ? 0.25 : 1; };
  if (on("heat") && arrays.heat) {
    alpha("heat");
    const R = header.heat_res;
    heatCanvas.width = R; heatCanvas.height = R;
    const hctx = heatCanvas.getContext("2d");
    const img = hctx.createImageData(R, R);
    const [lo, hi] = header.prob ? [0, 1] : header.heat_range;
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        const v = arrays.heat[i * R + j];
        const [r, g, b] = heatColor(hi > lo ? (v - lo) / (hi - lo) : 0.5);
        const k = ((R - 1 - i) * R + j) * 4;  // row i is y_i, drawn bottom-up
        img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 120;
      }
    }
    hctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatCanvas, 0, 0, W, H);
  }
  ctx.globalAlpha = 1;
  drawAxes(ctx, header.bounds, px, py, W, H);
  if (on("manifold") && arrays.manifold) {
    alpha("manifold");
    const m = arrays.manifold, shape = header.manifold_shape;
    ctx.strokeStyle = "rgba(30, 30, 30, 0.45)"; ctx.lineWidth = 1;
    const line = (idx) => {
      ctx.beginPath();
      idx.forEach((k, n) => { const x = px(m[2 * k]), y = py(m[2 * k + 1]); if (n) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
      ctx.stroke();
    };
    if (shape.length === 1) line([...Array(shape[0]).keys()]);
    else {
      const S = shape[0];
      for (let i = 0; i < S; i++) { line([...Array(S).keys()].map((j) => i * S + j)); line([...Array(S).keys()].map((j) => j * S + i)); }
    }
  }
  const dots = (pts, color, r, a = 0.7) => {
    ctx.fillStyle = color;
    const g = ctx.globalAlpha; ctx.globalAlpha = g * a;
    for (let k = 0; k < pts.length; k += 2) { ctx.beginPath(); ctx.arc(px(pts[k]), py(pts[k + 1]), r, 0, 2 * Math.PI); ctx.fill(); }
    ctx.globalAlpha = g;
  };
  const faint = sub ? 0.25 : 1;  // step by step: the batch of the sub-step in front, the view's points faint
  if (on("real") && arrays.real) { alpha("real"); dots(arrays.real, REAL, 2.2, 0.6 * faint); }
  let outside = 0;
  if (on("fake") && arrays.fake) {
    alpha("fake");
    dots(arrays.fake, FAKE, 2.2, 0.75 * faint);
    ctx.strokeStyle = FAKE; ctx.lineWidth = 1.5;
    const f = arrays.fake;
    for (let k = 0; k < f.length; k += 2) {  // fakes off the plane: a mark on the edge, in their direction
      const x = px(f[k]), y = py(f[k + 1]);
      if (x >= 0 && x <= W && y >= 0 && y <= H) continue;
      outside += 1;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const cx = Math.min(W - 3, Math.max(3, x)), cy = Math.min(H - 3, Math.max(3, y));
      ctx.strokeRect(cx - 2.5, cy - 2.5, 5, 5);
    }
  }
  let arrowInfo = null;
  if (on("arrows") && arrays.arrows && !sub) {
    alpha("arrows");
    arrowInfo = drawArrows(ctx, arrays.fake, arrays.arrows, px, py, W, "rgba(30, 30, 30, 0.7)");
  }
  ctx.globalAlpha = 1;
  if (sub) {  // the sub-step's own batch: outlined points, its arrows, the noise in an inset
    const ring = (pts, color) => {
      ctx.lineWidth = 1.2;
      for (let k = 0; k < pts.length; k += 2) {
        ctx.beginPath(); ctx.arc(px(pts[k]), py(pts[k + 1]), 3.2, 0, 2 * Math.PI);
        ctx.fillStyle = color; ctx.fill(); ctx.strokeStyle = "#fff"; ctx.stroke();
      }
    };
    if (arrays.step_real) ring(arrays.step_real, REAL);
    if (arrays.step_fake) ring(arrays.step_fake, FAKE);
    if (arrays.step_arrows && arrays.step_fake) {
      arrowInfo = drawArrows(ctx, arrays.step_fake, arrays.step_arrows, px, py, W, "rgba(20, 20, 20, 0.9)");
    }
    if (arrays.step_z) {
      const S = 110, ox = W - S - 6, oy = 6;
      ctx.fillStyle = "rgba(255, 255, 255, 0.92)"; ctx.fillRect(ox, oy, S, S);
      ctx.strokeStyle = sub.box === "z" ? "#f9a825" : "#90a4ae"; ctx.lineWidth = sub.box === "z" ? 3 : 1;
      ctx.strokeRect(ox, oy, S, S);
      ctx.fillStyle = "#1565c0";
      const zf = header.flow ? header.flow.z : {}, z = arrays.step_z, zr = zf.range || 3;
      for (let k = 0; k < z.length; k += 2) {
        const zx = ox + ((z[k] + zr) / (2 * zr)) * S, zy = oy + S - ((z[k + 1] + zr) / (2 * zr)) * S;
        if (zx > ox && zx < ox + S && zy > oy && zy < oy + S) ctx.fillRect(zx - 1, zy - 1, 2, 2);
      }
      ctx.fillStyle = "#263238"; ctx.font = "10px sans-serif";
      ctx.fillText(`noise z ~ ${zDist(zf)}, [-${zr}, ${zr}]${zf.dim > 2 ? " (z1, z2)" : ""}`, ox + 3, oy + S - 3);
    }
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)"; ctx.fillRect(0, 0, Math.min(W - 120, 430), 20);
    ctx.fillStyle = "#bf360c"; ctx.font = "bold 12px sans-serif";
    ctx.fillText(`${sub.cycle || sub.length}/${sub.length} ${sub.label}`, 6, 14);
  }
  if (live && lab.drawn.length) {
    ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
    for (const [x, y] of lab.drawn) ctx.fillRect(px(x) - 1.5, py(y) - 1.5, 3, 3);
  }
  return { outside, arrows: arrowInfo };
}

// ------------------------------------------------------------------ curves and metrics

function drawCurves(canvas, series, colors, log = false) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const all = series.flat().filter((p) => Number.isFinite(p[1]));
  if (all.length < 2) return;
  const f = log ? (v) => Math.log10(Math.max(v, 1e-6)) : (v) => v;
  const xs = all.map((p) => p[0]), ys = all.map((p) => f(p[1]));
  const xmin = Math.min(...xs), xmax = Math.max(...xs), ymin = Math.min(...ys), ymax = Math.max(...ys);
  const X = (x) => 4 + ((x - xmin) / Math.max(1e-9, xmax - xmin)) * (W - 8);
  const Y = (y) => H - 14 - ((y - ymin) / Math.max(1e-9, ymax - ymin)) * (H - 22);
  ctx.fillStyle = "#78909c"; ctx.font = "10px sans-serif";
  ctx.fillText(`${(log ? 10 ** ymax : ymax).toPrecision(3)}`, 4, 10);
  ctx.fillText(`${(log ? 10 ** ymin : ymin).toPrecision(3)}   step ${xmin}..${xmax}`, 4, H - 3);
  series.forEach((s, i) => {
    ctx.strokeStyle = colors[i]; ctx.lineWidth = 1.3; ctx.beginPath();
    s.forEach((p, n) => { if (n) ctx.lineTo(X(p[0]), Y(f(p[1]))); else ctx.moveTo(X(p[0]), Y(f(p[1]))); });
    ctx.stroke();
  });
}

const METRIC_NAMES = {
  "Metric/modes": "modes captured", "Metric/hq": "high quality", "Metric/reverse_kl": "reverse KL",
  "Metric/w1": "W1", "Metric/kl": "KL (histogram)", "Metric/jsd": "JSD",
};
const INTEGER_METRICS = new Set(["Metric/modes"]);
const PERCENT_METRICS = new Set(["Metric/hq"]);  // fractions in the frames, shown as percentages

function metricValue(k, v) {
  return PERCENT_METRICS.has(k) && Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : fmt(v, INTEGER_METRICS.has(k));
}

function metricRows(metrics) {
  return Object.entries(METRIC_NAMES).filter(([k]) => k in metrics)
    .map(([k, label]) => `<tr><td>${label}</td><td>${metricValue(k, Number(metrics[k]))}</td></tr>`);
}

function klNote(kl) {  // why the lab's KL is finite where the true one is infinite
  return kl ? `KL(real‖fake) is finite even when the fakes miss a mode (true KL = ∞ there): it is measured on a `
    + `${kl.bins}×${kl.bins} histogram with ${kl.alpha} pseudo-counts added to every bin. Compare it with a `
    + "real-vs-real value, not with 0." : "";
}

// ------------------------------------------------------------------ the model graph (SVG)

const SVG = "http://www.w3.org/2000/svg";
// id -> [x, y, w, h, title, the view it lights]; the edges follow the data: z -> G -> fake -> D -> prediction -> loss
const BOXES = {
  z: [4, 14, 72, 56, "noise z", "manifold"],
  G: [96, 14, 78, 56, "generator G", "manifold"],
  fake: [194, 14, 84, 56, "fake x = G(z)", "fake"],
  real: [194, 86, 84, 50, "real x ~ data", "real"],
  D: [292, 14, 92, 56, "D", "heat"],
  pred: [400, 14, 72, 56, "prediction", "heat"],
  loss: [486, 14, 70, 56, "loss", "curves"],
  grad: [400, 86, 72, 50, "gradient", "arrows"],
};
const EDGES = [["z", "G"], ["G", "fake"], ["fake", "D"], ["real", "D"], ["D", "pred"], ["pred", "loss"],
  ["loss", "grad", true], ["grad", "fake", true]];
const SUBSTEP_BOXES = { noise: ["z", "real"], generate: ["G", "fake"], classify: ["D", "pred"], d_loss: ["loss"],
  d_update: ["D"], g_forward: ["z", "G", "fake", "D", "pred"], g_loss: ["loss"], g_grad: ["grad", "fake"], g_update: ["G"] };

function el(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

function buildGraph() {
  const svg = $("graph");
  svg.innerHTML = "";
  const defs = el("defs", {}, svg);
  const m = el("marker", { id: "head", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#607d8b" }, m);
  const mid = (b, side) => {
    const [x, y, w, h] = BOXES[b];
    return { l: [x, y + h / 2], r: [x + w, y + h / 2], t: [x + w / 2, y], b: [x + w / 2, y + h] }[side];
  };
  for (const [a, b, back] of EDGES) {
    let p, q;
    if (a === "real") { p = mid(a, "r"); q = [BOXES.D[0], BOXES.D[1] + BOXES.D[3] - 8]; }
    else if (a === "loss") { p = mid(a, "b"); q = mid(b, "r"); p = [p[0], p[1]]; }
    else if (a === "grad") { p = mid(a, "l"); q = [BOXES.fake[0] + BOXES.fake[2] - 10, BOXES.fake[1] + BOXES.fake[3]]; }
    else { p = mid(a, "r"); q = mid(b, "l"); }
    const d = a === "loss" ? `M${p[0]},${p[1]} L${p[0]},${q[1]} L${q[0]},${q[1]}`
      : a === "grad" ? `M${p[0]},${p[1]} L${q[0]},${p[1]} L${q[0]},${q[1]}` : `M${p[0]},${p[1]} L${q[0]},${q[1]}`;
    el("path", { d, fill: "none", stroke: "#607d8b", "stroke-width": 1.4, "marker-end": "url(#head)",
      "stroke-dasharray": back ? "4 3" : "none", class: "edge" }, svg);
  }
  for (const [id, [x, y, w, h, title, viewName]] of Object.entries(BOXES)) {
    const g = el("g", { id: `box-${id}`, class: "box", "data-view": viewName, tabindex: 0 }, svg);
    el("rect", { x, y, width: w, height: h, rx: 5 }, g);
    el("text", { x: x + 5, y: y + 14, class: "title" }, g).textContent = title;
    el("text", { x: x + 5, y: y + 29, class: "v1" }, g);
    el("text", { x: x + 5, y: y + 42, class: "v2" }, g);
    el("text", { x: x + 5, y: y + 54, class: "v3" }, g);
    const t = el("title", {}, g);
    t.textContent = `${title}: hover or click to light its view (${viewName === "curves" ? "the loss curve" : viewName})`;
    g.addEventListener("mouseenter", () => setHighlight(viewName, id));
    g.addEventListener("mouseleave", () => setHighlight(lab.pinned ? BOXES[lab.pinned][5] : null, lab.pinned));
    g.addEventListener("click", () => {
      lab.pinned = lab.pinned === id ? null : id;
      setHighlight(lab.pinned ? viewName : null, lab.pinned);
    });
  }
}

function setHighlight(viewName, boxId) {
  lab.highlight = viewName;
  for (const g of document.querySelectorAll("#graph .box")) g.classList.toggle("lit", g.id === `box-${boxId}`);
  $("curves").classList.toggle("lit", viewName === "curves");
  if (lab.frame) drawPlane(lab.frame);
}

function boxText(id, lines) {
  const g = $(`box-${id}`);
  if (!g) return;
  ["v1", "v2", "v3"].forEach((c, i) => { g.querySelector(`.${c}`).textContent = lines[i] || ""; });
}

function updateGraph(h) {
  const f = h.flow;
  if (!f) return;
  const d = dInfo(f.loss), sub = h.substep, info = (sub && sub.info) || {};
  if (h.losses && "Loss/D" in h.losses) lab.lastLosses = h.losses;  // sub-steps before an update log none
  const lv = lab.lastLosses || {};
  const num = (v) => (v === undefined ? "–" : fmt(v));
  $("box-D").querySelector(".title").textContent = d.name;
  boxText("z", [`${zDist(f.z)}, dim ${f.z.dim}`, `mean ${fmt(info.z_mean ?? f.z.mean)}`, `sd ${fmt(info.z_std ?? f.z.std)}`]);
  boxText("G", [`MLP ${f.G[0]}×${f.G[1]}`, `batch m = ${f.batch}`, ""]);
  boxText("fake", [`${f.fake.n} shown`, `mean (${f.fake.mean[0].toFixed(2)}, ${f.fake.mean[1].toFixed(2)})`,
    f.fake.outside ? `${f.fake.outside} off the plane` : "all on the plane"]);
  boxText("real", [`${lab.settings.distribution || ""}`, `${f.fake.n} shown`]);
  boxText("D", [`MLP ${f.Dnet[0]}×${f.Dnet[1]}`, `k = ${f.k} step${f.k > 1 ? "s" : ""}`, `per G step`]);
  boxText("pred", [`${d.out} mean`, `real ${fmt(info.D_real ?? f.D.real)}`, `fake ${fmt(info.D_fake ?? f.D.fake)}`]);
  boxText("loss", [f.loss, `${d.short === "D" ? "D" : "critic"} ${num(info.loss_D ?? lv["Loss/D"])}`,
    `G ${num(info.loss_G ?? lv["Loss/G"])}`]);
  boxText("grad", ["−∂loss_G/∂x", `mean |∇| ${fmt(info.grad_mean ?? h.grad_mean)}`]);
  const active = new Set(sub ? SUBSTEP_BOXES[sub.name] || [] : []);
  for (const g of document.querySelectorAll("#graph .box")) g.classList.toggle("active", active.has(g.id.slice(4)));
}

// ------------------------------------------------------------------ step by step (Algorithm 1)

const SUB_SHORT = { noise: "draw noise", generate: "generate", classify: "classify real & fake", d_loss: "D loss",
  d_update: "D update", g_forward: "G forward", g_loss: "G loss", g_grad: "gradient arrows", g_update: "G update" };

function buildSubsteps() {
  const box = $("sub-buttons");
  box.innerHTML = "";
  let n = 0;
  for (const [name, s] of Object.entries(lab.substeps)) {
    if (name === "g_forward") { const hr = document.createElement("div"); hr.className = "subsep"; hr.textContent = "then, once:"; box.append(hr); }
    const b = document.createElement("button");
    b.id = `sub-${name}`;
    b.dataset.name = name;
    b.title = s.label;
    b.textContent = `${++n}. ${SUB_SHORT[name] || name}`;
    b.onclick = () => { stopSlowmo(); lab.send({ type: "substep", name }); };
    box.append(b);
  }
  markNext("noise", 0);
}

function markNext(name, round) {
  for (const b of document.querySelectorAll("#sub-buttons button")) b.classList.toggle("next", b.dataset.name === name);
  const k = lab.frame && lab.frame.header.flow ? lab.frame.header.flow.k : (lab.settings.d_steps || 1);
  $("sub-round").textContent = name.startsWith("g_") ? `next: G's turn (after ${k} D update${k > 1 ? "s" : ""})`
    : `next: D round ${round + 1} of k = ${k}`;
}

function stopSlowmo() {
  lab.slowmo = false;
  clearTimeout(lab.slowTimer);
  $("slowmo").textContent = "Slow motion";
}

$("slowmo").onclick = () => {
  if (lab.slowmo) { stopSlowmo(); return; }
  if (lab.playing) lab.send({ type: "pause" });
  lab.slowmo = true;
  $("slowmo").textContent = "Stop slow motion";
  lab.send({ type: "substep" });
};

function onSubstepFrame(h) {
  const sub = h.substep;
  if (!sub) { markNext("noise", 0); return; }
  markNext(sub.next, sub.next_round);
  const i = sub.info, parts = [];
  const d = dInfo(h.flow.loss);
  if (sub.name === "classify") parts.push(`mean ${d.out}: real ${fmt(i.D_real)}, fake ${fmt(i.D_fake)}`);
  if (sub.name === "d_loss") parts.push(`${d.short} loss ${fmt(i.loss_D)}${h.flow.loss === "wgan-gp" ? " (+ gradient penalty in the update)" : ""}`);
  if (sub.name === "d_update") parts.push(`${d.name} moved (its loss on that batch was ${fmt(i.loss_D_update)}); G did not`);
  if (sub.name === "g_forward") parts.push(`mean ${d.out} on the new fakes ${fmt(i.D_fake)}`);
  if (sub.name === "g_loss") parts.push(`G loss ${fmt(i.loss_G)}`);
  if (sub.name === "g_grad") parts.push(`mean |∇| ${fmt(i.grad_mean)}: each arrow is where that fake would move`);
  if (sub.name === "g_update") parts.push(`G moved; ${d.name} did not. Iteration ${h.step} done`);
  const round = sub.name.startsWith("g_") ? "" : ` (round ${sub.round + 1} of ${sub.k})`;
  $("sub-caption").textContent = `${sub.label}${round}${parts.length ? ": " + parts.join("; ") : ""}`;
  if (lab.slowmo) {
    clearTimeout(lab.slowTimer);
    lab.slowTimer = setTimeout(() => { if (lab.slowmo) lab.send({ type: "substep" }); },
      Math.max(100, Number($("slowmo-ms").value) || 700));
  }
}

function onFrame(frame) {
  const h = frame.header;
  lab.frame = frame;
  lab.frames += 1;
  lab.step = h.step;
  $("stepno").textContent = h.step;
  if (h.step === 0 && !h.substep) { lab.losses = []; lab.w1 = []; lab.lastLosses = null; }
  if (h.losses["Loss/D"] !== undefined) {
    lab.losses.push([h.step, h.losses["Loss/D"], h.losses["Loss/G"]]);
    if (lab.losses.length > 600) lab.losses.shift();
  }
  drawCurves($("curves"), [lab.losses.map((p) => [p[0], p[1]]), lab.losses.map((p) => [p[0], p[2]])],
    ["#ef6c00", "#1565c0"]);
  if (h.metrics) {
    lab.metrics = h.metrics;
    const rows = metricRows(h.metrics);
    rows.push(`<tr><td>mean |grad G| on fakes</td><td>${fmt(h.grad_mean)}</td></tr>`);
    $("metrics").tBodies[0].innerHTML = rows.join("");
    $("kl-note").textContent = "Metric/kl" in h.metrics ? klNote(lab.kl) : "";
    if ("Metric/w1" in h.metrics) { lab.w1.push([h.step, h.metrics["Metric/w1"]]); if (lab.w1.length > 300) lab.w1.shift(); }
    drawCurves($("w1"), [lab.w1], ["#2e7d32"], true);
  }
  const d = dInfo(h.flow ? h.flow.loss : (h.prob ? "ns" : "wgan"));
  for (const e of document.querySelectorAll(".dname")) e.textContent = d.short === "D" ? "D" : "the critic";
  $("heat-name").textContent = `${d.short === "D" ? "D" : "critic"}'s surface`;
  $("heat-legend").textContent = d.scale;
  if (h.prob) drawColorbar($("heat-bar"), "heat-lo", "heat-hi", "0 (fake)", "1 (real)");
  else drawColorbar($("heat-bar"), "heat-lo", "heat-hi", fmt(h.heat_range[0]), fmt(h.heat_range[1]));
  const drawn = drawPlane(frame);
  const out = h.flow ? h.flow.fake.outside : drawn.outside;
  $("outside").textContent = out ? `${out} of ${h.flow ? h.flow.fake.n : ""} fakes outside the plane (squares on its edge)` : "";
  lab.outside = out;
  const ai = drawn.arrows;
  $("arrow-legend").textContent = ai ? `arrows: ${fmt(ai.unit)} px = |∇| of 1 (per sample, data units); `
    + (ai.clipped ? `${ai.clipped} of ${ai.n} longer than ${ARROW_MAX} px drawn at ${ARROW_MAX} px (direction only)`
      : `none clipped (longest drawn to scale)`) : "";
  lab.arrowsClipped = ai ? ai.clipped : 0;
  updateGraph(h);
  onSubstepFrame(h);
}

// ------------------------------------------------------------------ tabs and gallery

function showTab(name) {
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.tab === name);
  $("live").hidden = name !== "live";
  $("gallery").hidden = name !== "gallery";
  if (name === "gallery") loadRuns();
}
for (const t of document.querySelectorAll(".tab")) t.onclick = () => showTab(t.dataset.tab);

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || JSON.stringify(body.detail || body));
  return body;
}

async function loadRuns() {
  try {
    const data = await getJSON("/api/runs");
    $("runs-root").textContent = data.root;
    const ul = $("runs");
    ul.innerHTML = "";
    if (!data.runs.some((r) => !r.pretrained)) {
      ul.innerHTML = "<li class='note'>no run folders here yet: train one, or Save run on the live tab. "
        + "The pretrained models below ship with ganforge.</li>";
    }
    let heading = false;
    for (const run of data.runs) {
      if (run.pretrained && !heading) {  // the shipped models, after the user's runs
        const h = document.createElement("li");
        h.className = "heading";
        h.textContent = "pretrained (shipped with ganforge, read-only)";
        ul.append(h);
        heading = true;
      }
      const li = document.createElement("li");
      li.dataset.name = run.name;
      li.innerHTML = "<b></b><small></small>";
      li.querySelector("b").textContent = run.name;
      if (run.pretrained) {
        li.classList.add("pretrained");
        li.title = run.description || "";
      }
      if (run.unreadable) {  // a broken run folder: greyed, with the server's reason; nothing to open
        li.classList.add("unreadable");
        li.title = run.unreadable;
        li.querySelector("small").textContent = `unreadable: ${run.unreadable}`;
      } else {
        li.querySelector("small").textContent = `${run.kind} · ${run.data} · ${run.loss} · step ${run.step}`
          + (run.score ? ` · ${run.score}` : "");
        li.onclick = () => { location.hash = `run=${encodeURIComponent(run.name)}`; };
      }
      ul.append(li);
    }
    lab.runs = data.runs;
  } catch (e) { showMessage(`gallery: ${e.message}`); }
}

let current = null;
async function openRun(name) {
  showTab("gallery");
  if (!lab.runs) await loadRuns();
  for (const li of document.querySelectorAll("#runs li")) li.classList.toggle("active", li.dataset.name === name);
  $("run-title").textContent = name;
  for (const id of ["g-scatter-box", "g-grid", "g-interp-box", "g-mix-box", "g-trip-box", "run-controls", "g-class-box", "g-text-box"]) $(id).hidden = true;
  const run = (lab.runs || []).find((r) => r.name === name) || { name, views: ["scatter"], num_classes: 0 };
  current = run;
  $("run-info").textContent = run.kind ? `${run.kind} run · data ${run.data} · loss ${run.loss} · step ${run.step}`
    + (run.pretrained ? ` · ${run.description} · ${run.score}` : "") : "";
  if (run.unreadable) {
    current = null;
    $("run-info").textContent = `unreadable: ${run.unreadable}`;
    return;
  }
  if (run.views.includes("classes")) {
    const sel = $("g-class");
    sel.innerHTML = "";
    sel.append(new Option("one row per class", ""));
    for (let k = 0; k < run.num_classes; k++) sel.append(new Option(`class ${k}`, k));
    $("g-class-box").hidden = false;
  }
  if (run.views.includes("text")) $("g-text-box").hidden = false;  // a caption: blank = held-out captions
  await refreshRun();
}

async function refreshRun() {
  const run = current;
  if (!run) return;
  const q = (extra) => new URLSearchParams({ seed: $("g-seed").value || 0, ...extra }).toString();
  const name = encodeURIComponent(run.name);
  const cls = $("g-class").value;
  const text = $("g-text").value.trim();
  const clsArg = { ...(run.views.includes("classes") && cls !== "" ? { cls } : {}),
    ...(run.views.includes("text") && text ? { text } : {}) };
  try {
    if (run.views.includes("scatter")) {
      const d = await getJSON(`/api/runs/${name}/scatter?${q({ n: 1000 })}`);
      drawGalleryScatter(d);
      $("g-scatter-box").hidden = false;
    }
    if (run.views.includes("grid")) {
      await loadImage($("g-grid"), `/api/runs/${name}/grid.png?${q({ n: 64, ...clsArg })}`);
      $("g-grid").hidden = false;
    }
    if (run.views.includes("interpolate")) {
      interpLabel();
      await loadImage($("g-interp-img"), `/api/runs/${name}/interpolate.png?${q({ t: $("g-interp").value, ...clsArg })}`);
      $("g-interp-box").hidden = false;
    }
    if (run.views.includes("mix")) {
      await loadImage($("g-mix-img"), `/api/runs/${name}/mix.png?${q({ layers: $("g-mix-layers").value })}`);
      $("g-mix-box").hidden = false;
    }
    if (run.views.includes("triptychs")) {
      await loadImage($("g-trip-img"), `/api/runs/${name}/triptychs.png?n=8`);
      $("g-trip-box").hidden = false;
    }
    $("run-controls").hidden = false;
    showMessage("");
  } catch (e) { showMessage(`gallery: ${e.message}`); }
}

function drawGalleryScatter(d) {
  lab.gallery = d;
  const heat = d.heat.flat(), lo = Math.min(...heat), hi = Math.max(...heat);
  const info = dInfo(d.loss);
  const drawn = drawPlane({ header: { bounds: d.bounds, heat_res: d.res, prob: d.prob, heat_range: [lo, hi] },
    arrays: { heat: new Float32Array(heat), real: new Float32Array(d.real.flat()), fake: new Float32Array(d.fake.flat()) } },
  $("g-scatter"), { layers: { heat: true, real: true, fake: true } });
  $("g-outside").textContent = drawn.outside ? `${drawn.outside} generated points outside the plane` : "";
  if (d.prob) drawColorbar($("g-heat-bar"), "g-heat-lo", "g-heat-hi", "0 (fake)", "1 (real)");
  else drawColorbar($("g-heat-bar"), "g-heat-lo", "g-heat-hi", fmt(lo), fmt(hi));
  $("g-heat-legend").textContent = `${info.scale} (loss ${d.loss}, step ${d.step})`;
  const rows = metricRows(d.metrics || {});
  $("g-metrics-title").textContent = d.metrics_source === "computed"
    ? `metrics (computed now on ${d.fake.length} samples: the run logged none)` : "metrics (last logged in training)";
  $("g-kl-note").textContent = "Metric/kl" in (d.metrics || {}) ? klNote(lab.kl) : "";
  $("g-metrics").tBodies[0].innerHTML = rows.length ? rows.join("")
    : "<tr><td colspan=2>no metrics logged in this run</td></tr>";
  const c = d.curves || {};
  drawCurves($("g-curves"), [c["Loss/D"] || [], c["Loss/G"] || []], ["#ef6c00", "#1565c0"]);
  drawCurves($("g-w1"), [c["Metric/w1"] || []], ["#2e7d32"], true);
}

function interpLabel() {
  const t = Number($("g-interp").value), max = Number($("g-interp").max), seed = $("g-seed").value || 0;
  $("g-interp-label").textContent = `t = ${t}/${max}: each row walks from a random z_A (t = 0) to z_B (t = ${max}), `
    + `both drawn with seed ${seed}; slerp (spherical interpolation between the two noise vectors)`;
}

async function loadImage(img, url) {  // fetch first, so a refusal shows its message
  const r = await fetch(url);
  if (!r.ok) { const body = await r.json(); throw new Error(body.error || JSON.stringify(body.detail)); }
  const old = img.src;
  img.src = URL.createObjectURL(await r.blob());
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

$("refresh").onclick = loadRuns;
$("g-new").onclick = () => { $("g-seed").value = Number($("g-seed").value || 0) + 1; refreshRun(); };
$("g-seed").onchange = refreshRun;
$("g-class").onchange = refreshRun;
$("g-text").onchange = refreshRun;
$("g-mix-layers").onchange = refreshRun;
$("g-interp").oninput = async () => {
  if (!current) return;
  interpLabel();
  const cls = $("g-class").value;
  const text = $("g-text").value.trim();
  const extra = (current.views.includes("classes") && cls !== "" ? `&cls=${cls}` : "")
    + (current.views.includes("text") && text ? `&text=${encodeURIComponent(text)}` : "");
  try {
    await loadImage($("g-interp-img"), `/api/runs/${encodeURIComponent(current.name)}/interpolate.png?seed=${$("g-seed").value || 0}&t=${$("g-interp").value}${extra}`);
  } catch (e) { showMessage(`gallery: ${e.message}`); }
};

function route() {
  const m = location.hash.match(/^#run=(.*)$/);
  if (m) openRun(decodeURIComponent(m[1]));
  else if (location.hash === "#gallery") showTab("gallery");
}
window.addEventListener("hashchange", route);

buildGraph();
connect();
route();
