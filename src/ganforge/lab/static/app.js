// ganforge lab front end: plain JavaScript and canvas, no libraries, nothing fetched from the internet.
// The live tab talks to /ws (JSON commands out; JSON replies and binary frames in, see lab/session.py);
// the gallery tab reads /api/runs. window.lab exposes the state for the browser tests and the console.
"use strict";

const $ = (id) => document.getElementById(id);
const lab = {
  ws: null, settings: {}, schema: {}, playing: false, step: 0, frames: 0, frame: null,
  losses: [], w1: [], drawn: [], layers: { heat: true, real: true, fake: true, arrows: true, manifold: false },
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
      buildControls(msg.schema, msg.settings);
      $("runs-root").textContent = msg.runs;
    } else if (msg.type === "state") {
      setPlaying(msg.playing);
      syncControls(msg.settings);
    } else if (msg.type === "error") {
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

$("play").onclick = () => lab.send({ type: lab.playing ? "pause" : "play" });
$("step").onclick = () => lab.send({ type: "step" });
$("reset").onclick = () => { lab.losses = []; lab.w1 = []; lab.send({ type: "reset" }); };
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

function heatColor(t) {  // t in [0, 1]: purple (looks fake to D) -> white -> green (looks real)
  t = Math.min(1, Math.max(0, t));
  const a = [142, 36, 170], w = [250, 250, 250], b = [46, 125, 50];
  const [c0, c1, u] = t < 0.5 ? [a, w, t * 2] : [w, b, t * 2 - 1];
  return [0, 1, 2].map((i) => Math.round(c0[i] + (c1[i] - c0[i]) * u));
}

const heatCanvas = document.createElement("canvas");

function drawPlane(frame, canvas = view) {
  const { header, arrays } = frame;
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  const [x0, x1, y0, y1] = header.bounds;
  const px = (x) => ((x - x0) / (x1 - x0)) * W, py = (y) => H - ((y - y0) / (y1 - y0)) * H;
  ctx.clearRect(0, 0, W, H);
  const layers = canvas === view ? lab.layers : { heat: true, real: true, fake: true };
  if (layers.heat && arrays.heat) {
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
        img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 150;
      }
    }
    hctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatCanvas, 0, 0, W, H);
  }
  if (layers.manifold && arrays.manifold) {
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
  const dots = (pts, color, r) => {
    ctx.fillStyle = color;
    for (let k = 0; k < pts.length; k += 2) { ctx.beginPath(); ctx.arc(px(pts[k]), py(pts[k + 1]), r, 0, 2 * Math.PI); ctx.fill(); }
  };
  if (layers.real && arrays.real) dots(arrays.real, "rgba(46, 125, 50, 0.75)", 2.2);
  if (layers.fake && arrays.fake) dots(arrays.fake, "rgba(142, 36, 170, 0.85)", 2.2);
  if (layers.arrows && arrays.arrows) {
    // a fixed scale (not per frame), so vanishing gradients look small: 0.05 of the view per unit
    const f = arrays.fake, a = arrays.arrows, s = 0.05 * (x1 - x0);
    ctx.strokeStyle = "rgba(40, 40, 40, 0.6)"; ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 0; k < f.length; k += 2) {
      ctx.moveTo(px(f[k]), py(f[k + 1]));
      ctx.lineTo(px(f[k] + s * a[k]), py(f[k + 1] + s * a[k + 1]));
    }
    ctx.stroke();
  }
  if (canvas === view && lab.drawn.length) {
    ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
    for (const [x, y] of lab.drawn) ctx.fillRect(px(x) - 1.5, py(y) - 1.5, 3, 3);
  }
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
  "Metric/modes": "modes captured", "Metric/hq": "high quality %", "Metric/reverse_kl": "reverse KL",
  "Metric/w1": "W1", "Metric/kl": "KL", "Metric/jsd": "JSD",
};

function onFrame(frame) {
  const h = frame.header;
  lab.frame = frame;
  lab.frames += 1;
  lab.step = h.step;
  $("stepno").textContent = h.step;
  if (h.step === 0) { lab.losses = []; lab.w1 = []; }
  if (h.losses["Loss/D"] !== undefined) {
    lab.losses.push([h.step, h.losses["Loss/D"], h.losses["Loss/G"]]);
    if (lab.losses.length > 600) lab.losses.shift();
  }
  drawCurves($("curves"), [lab.losses.map((p) => [p[0], p[1]]), lab.losses.map((p) => [p[0], p[2]])],
    ["#ef6c00", "#1565c0"]);
  if (h.metrics) {
    lab.metrics = h.metrics;
    const rows = Object.entries(METRIC_NAMES).filter(([k]) => k in h.metrics)
      .map(([k, label]) => `<tr><td>${label}</td><td>${Number(h.metrics[k]).toPrecision(3)}</td></tr>`);
    rows.push(`<tr><td>mean |grad G| on fakes</td><td>${h.grad_mean.toPrecision(3)}</td></tr>`);
    $("metrics").tBodies[0].innerHTML = rows.join("");
    if ("Metric/w1" in h.metrics) { lab.w1.push([h.step, h.metrics["Metric/w1"]]); if (lab.w1.length > 300) lab.w1.shift(); }
    drawCurves($("w1"), [lab.w1], ["#2e7d32"], true);
  }
  $("heat-legend").textContent = h.prob ? "heat: D(x), purple 0 .. green 1"
    : `heat: critic ${h.heat_range[0].toPrecision(3)} (purple) .. ${h.heat_range[1].toPrecision(3)} (green)`;
  drawPlane(frame);
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
  for (const id of ["g-scatter", "g-grid", "g-interp-box", "g-mix-box", "g-trip-box", "run-controls", "g-class-box"]) $(id).hidden = true;
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
  await refreshRun();
}

async function refreshRun() {
  const run = current;
  if (!run) return;
  const q = (extra) => new URLSearchParams({ seed: $("g-seed").value || 0, ...extra }).toString();
  const name = encodeURIComponent(run.name);
  const cls = $("g-class").value;
  const clsArg = run.views.includes("classes") && cls !== "" ? { cls } : {};
  try {
    if (run.views.includes("scatter")) {
      const d = await getJSON(`/api/runs/${name}/scatter?${q({ n: 1000 })}`);
      const canvas = $("g-scatter");
      drawPlane({ header: { bounds: d.bounds, heat_res: d.res, prob: d.prob,
        heat_range: [Math.min(...d.heat.flat()), Math.max(...d.heat.flat())] },
      arrays: { heat: new Float32Array(d.heat.flat()), real: new Float32Array(d.real.flat()), fake: new Float32Array(d.fake.flat()) } }, canvas);
      canvas.hidden = false;
    }
    if (run.views.includes("grid")) {
      await loadImage($("g-grid"), `/api/runs/${name}/grid.png?${q({ n: 64, ...clsArg })}`);
      $("g-grid").hidden = false;
    }
    if (run.views.includes("interpolate")) {
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
$("g-mix-layers").onchange = refreshRun;
$("g-interp").oninput = async () => {
  if (!current) return;
  const cls = $("g-class").value;
  const extra = current.views.includes("classes") && cls !== "" ? `&cls=${cls}` : "";
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

connect();
route();
