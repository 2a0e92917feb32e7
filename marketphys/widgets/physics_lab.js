// PhysicsLab front end: blits the kernel's RGBA texture and draws, on an overlay,
// the text (labels, error numbers, debug overlay) and the hover crosshair readout
// computed here from the frame's float32 arrays (no round trip per mouse move).

function bytesOf(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}

function floatsOf(v) {
  const b = bytesOf(v);
  const copy = new Uint8Array(b.length);
  copy.set(b);
  return new Float32Array(copy.buffer, 0, Math.floor(b.length / 4));
}

function part(arr, layout, name) {
  const [off, len] = layout[name];
  return arr.subarray(off, off + len);
}

// Mirrors marketphys.render.reference.field_at (float64 here; readouts are text).
function fieldAt(values, half, xt, dx) {
  const n = values.length;
  const f = xt / dx + half;
  const i0 = Math.min(Math.max(Math.floor(f), 0), n - 2);
  const t = Math.min(Math.max(f - i0, 0), 1);
  return { v: values[i0] * (1 - t) + values[i0 + 1] * t, slope: (values[i0 + 1] - values[i0]) / dx };
}

function fmt(x, d = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return x.toFixed(d);
}

export function readoutAt(meta, arrays, xt) {
  const L = meta.layout;
  const U = part(arrays, L, "U"), O = part(arrays, L, "O"), C = part(arrays, L, "C"), G = part(arrays, L, "G");
  const half = (meta.n_cells - 1) / 2;
  const u = fieldAt(U, half, xt, meta.dx), o = fieldAt(O, half, xt, meta.dx);
  const wU = meta.theta.wU, wO = meta.theta.wO;
  const walls = part(arrays, L, "walls");
  const nf = meta.wall_fields.length;
  let gate = null;
  for (let k = 0; k < meta.wall_ids.length; k++) {
    const c = walls[k * nf], w = walls[k * nf + 1], s = walls[k * nf + 2], smax = walls[k * nf + 3];
    const d = Math.abs(xt - c);
    // the gate spans the wall's σ: centre ± σ/2 (at least ± 0.25 tick), as the kernel draws it
    if (s > 0 && d <= Math.max(w / 2, 0.25) && (gate === null || d < gate.d)) {
      gate = { id: meta.wall_ids[k], center: c, width: w, strength: s, s_max: smax, d };
    }
  }
  return {
    x: xt, U: u.v, O: o.v, C: fieldAt(C, half, xt, meta.dx).v, G: fieldAt(G, half, xt, meta.dx).v,
    dVdx: wU * u.slope + wO * o.slope, gate,
  };
}

// Axis labels every `step` ticks, step in {1, 2, 5} x 10^k, the largest giving >= 5 labels
// strictly inside ±x_half (so the outermost labels never sit on the canvas edge).
export function axisTicks(xHalf, minLabels = 5) {
  const steps = [];
  for (let k = -2; k <= 6; k++) for (const m of [1, 2, 5]) steps.push(m * 10 ** k);
  let best = steps[0];
  for (const s of steps) {
    const n = 2 * Math.ceil(xHalf / s - 1e-9) - 1;        // multiples of s with |t| < xHalf
    if (n >= minLabels) best = s; else break;
  }
  const out = [];
  for (let t = -Math.ceil(xHalf / best - 1e-9) + 1; t * best < xHalf - 1e-9; t++) out.push(t * best);
  return out;
}

// Greedy word wrap of `text` to `maxW` pixels in the context's current font.
export function wrapText(ctx, text, maxW) {
  const lines = [];
  let line = "";
  for (const word of text.split(" ")) {
    const tryLine = line ? `${line} ${word}` : word;
    if (!line || ctx.measureText(tryLine).width <= maxW) { line = tryLine; continue; }
    lines.push(line);
    line = word;
  }
  if (line) lines.push(line);
  // a single word wider than the box is cut by characters
  return lines.flatMap((l) => {
    if (ctx.measureText(l).width <= maxW) return [l];
    const parts = [];
    let cur = "";
    for (const ch of l) {
      if (cur && ctx.measureText(cur + ch).width > maxW) { parts.push(cur); cur = ""; }
      cur += ch;
    }
    if (cur) parts.push(cur);
    return parts;
  });
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "mp-lab";
  const bar = document.createElement("div");
  bar.className = "mp-toolbar";
  const mk = (label, cls, title) => {
    const b = document.createElement("button");
    b.textContent = label; b.className = cls; b.title = title;
    bar.appendChild(b);
    return b;
  };
  const freezeBtn = mk("Freeze", "mp-freeze", "pause the stream; rendering continues");
  const backBtn = mk("◀", "mp-step-back", "step back one frame");
  const stepBtn = mk("▶", "mp-step", "step forward one frame");
  const slider = document.createElement("input");
  slider.type = "range"; slider.min = "0"; slider.step = "1"; slider.className = "mp-scrub";
  bar.appendChild(slider);
  const zoomOut = mk("−", "mp-zoom-out", "zoom out (symmetric around spot)");
  const zoomIn = mk("+", "mp-zoom-in", "zoom in (symmetric around spot)");
  const fitBtn = mk("fit", "mp-fit", "fit the view to the forecasts, band and resolved actuals (the default)");
  const debugBtn = mk("debug", "mp-debug", "θ, per-horizon errors, clamp/NaN counters");
  const status = document.createElement("span");
  status.className = "mp-status";
  bar.appendChild(status);

  const stage = document.createElement("div");
  stage.className = "mp-stage";
  const canvas = document.createElement("canvas");
  canvas.className = "mp-texture";
  const overlay = document.createElement("canvas");
  overlay.className = "mp-overlay";
  stage.append(canvas, overlay);
  const readout = document.createElement("div");
  readout.className = "mp-readout";
  const errBox = document.createElement("div");
  errBox.className = "mp-error";
  root.append(bar, stage, readout, errBox);
  el.appendChild(root);

  let meta = null, arrays = new Float32Array(0), hoverX = null;

  function xToTicks(px) {
    return (px - meta.width / 2) * (2 * meta.x_half / meta.width);
  }
  function ticksToX(t) {
    return meta.width / 2 + t * (meta.width / (2 * meta.x_half));
  }

  // Every string drawn is recorded with its measured box (canvas pixels) in root.mpTextBoxes,
  // so a test can check that no text is clipped by the canvas or overlaps other text.
  let boxes = [];
  function text(ctx, s, x, y, kind) {
    ctx.fillText(s, x, y);
    const m = ctx.measureText(s);
    boxes.push({ kind, text: s, left: x - m.actualBoundingBoxLeft, right: x + m.actualBoundingBoxRight,
                 top: y - m.actualBoundingBoxAscent, bottom: y + m.actualBoundingBoxDescent });
  }

  function drawText() {
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    boxes = [];
    root.mpTextBoxes = boxes;
    if (!meta) return;
    const W = meta.width, H = meta.height, A = meta.band_a, B = meta.band_b, nh = meta.horizons;
    ctx.font = "11px ui-monospace, monospace";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#e0e2ea";
    ctx.textAlign = "left";
    text(ctx, "Spot (t0)", W / 2 + 5, 10, "spot");
    ctx.fillStyle = "#9aa0b0";
    ctx.textAlign = "center";
    for (const t of axisTicks(meta.x_half)) {
      const s = t === 0 ? "0" : `${t > 0 ? "+" : "−"}${Math.abs(t) >= 1 ? Math.abs(t).toFixed(0) : Math.abs(t).toFixed(1)}t`;
      const half = ctx.measureText(s).width / 2 + 1;
      text(ctx, s, Math.min(Math.max(ticksToX(t), half), W - half), A - 8, "xlabel");
    }
    ctx.textAlign = "left";
    const rb = B / nh, rc = (H - A - B) / nh;
    drawForecastBand(ctx, A, rb, nh);
    for (let h = 0; h < nh; h++) {
      const lab = `+${((h + 1) * meta.dt).toFixed(1)}s`;
      ctx.fillStyle = "#b0f0b0";
      text(ctx, lab, 4, A + rb * (h + 0.5), "hlabel");
      ctx.fillStyle = "#c0c4d0";
      text(ctx, lab, 4, A + B + rc * (h + 0.5), "hlabel");
    }
    drawBandCKey(ctx, W, A + B - 7);
    if (meta.resolved_origin_ns === null) {
      ctx.fillStyle = "#8088a0";
      text(ctx, "no resolved origin yet", 60, A + B + (H - A - B) / 2, "note");
    } else if (meta.errors) {
      const pred = part(arrays, meta.layout, "pred"), act = part(arrays, meta.layout, "actual");
      ctx.fillStyle = "#ff9090";
      for (let h = 0; h < nh; h++) {
        const e = meta.errors[h];
        if (e === null || Math.abs(e) < model.get("err_threshold")) continue;
        const s = `${e > 0 ? "+" : ""}${e.toFixed(1)}t`;
        const x = Math.min(Math.max(ticksToX(pred[h]), ticksToX(act[h]), 48) + 8, W - ctx.measureText(s).width - 2);
        text(ctx, s, x, A + B + rc * (h + 0.5), "error");
      }
    }
    if (model.get("debug")) drawDebug(ctx, W, A);
    if (hoverX !== null) {
      const r = readoutAt(meta, arrays, xToTicks(hoverX));
      ctx.strokeStyle = "rgba(255,255,255,0.6)";
      ctx.beginPath(); ctx.moveTo(hoverX, 0); ctx.lineTo(hoverX, H); ctx.stroke();
      if (r.gate) {
        const hw = Math.max(r.gate.width / 2, 0.25);
        const x0 = ticksToX(r.gate.center - hw), x1 = ticksToX(r.gate.center + hw);
        ctx.strokeStyle = "#ffe080"; ctx.lineWidth = 2;
        ctx.strokeRect(x0, 1, x1 - x0, A - 2); ctx.lineWidth = 1;
      }
      showReadout(r);
    }
  }

  // The forecast's band (outermost quantiles) behind band B's markers: one translucent span per
  // horizon row, from band_lo to band_hi, so the spread reads at a glance next to the forecast.
  function drawForecastBand(ctx, A, rb, nh) {
    const lo = part(arrays, meta.layout, "band_lo"), hi = part(arrays, meta.layout, "band_hi");
    for (let h = 0; h < nh; h++) {
      if (!Number.isFinite(lo[h]) || !Number.isFinite(hi[h])) continue;
      const x0 = ticksToX(Math.min(lo[h], hi[h])), x1 = ticksToX(Math.max(lo[h], hi[h]));
      const y = A + rb * (h + 0.5), hh = Math.max(2, rb * 0.45);
      ctx.fillStyle = "rgba(140,242,140,0.13)";
      ctx.fillRect(x0, y - hh / 2, x1 - x0, hh);
      ctx.fillStyle = "rgba(140,242,140,0.45)";
      ctx.fillRect(x0 - 0.5, y - hh / 2, 1, hh);
      ctx.fillRect(x1 - 0.5, y - hh / 2, 1, hh);
    }
  }

  // Band C key, right-aligned just above band C (where band B's fitted forecasts never reach):
  // what the resolved ladder's marks mean, drawn as the kernel draws them (marketphys.render.layout).
  function drawBandCKey(ctx, W, y) {
    const items = [["pred", "#8cf28c", "ring"], ["actual", "#ffffff", "dot"], ["error", "#ff5a5a", "bar"]];
    ctx.font = "10px ui-monospace, monospace";
    ctx.textAlign = "left";
    let x = W - 4;
    for (let k = items.length - 1; k >= 0; k--) {
      const [label, colour, shape] = items[k];
      x -= ctx.measureText(label).width;
      ctx.fillStyle = "#c0c4d0";
      text(ctx, label, x, y, "key");
      x -= 9;
      ctx.fillStyle = colour; ctx.strokeStyle = colour;
      if (shape === "bar") ctx.fillRect(x - 1, y - 1, 8, 2);
      else {
        ctx.beginPath(); ctx.arc(x + 3, y, 3, 0, 2 * Math.PI);
        if (shape === "dot") ctx.fill(); else ctx.stroke();
      }
      x -= 10;
    }
    ctx.fillStyle = "#c0c4d0";
    x -= ctx.measureText("Band C:").width;
    text(ctx, "Band C:", x, y, "key");
    ctx.font = "11px ui-monospace, monospace";
  }

  // Debug overlay: full width under the "Spot (t0)" row, lines wrapped to fit inside the canvas.
  function drawDebug(ctx, W, A) {
    const refs = meta.refs ? `  arrows: C=${fmt(meta.refs.c_ref, 2)} v=${fmt(meta.refs.v_ref, 2)} a=${fmt(meta.refs.a_ref, 2)}` : "";
    const raw = [
      `frame ${meta.index + 1}/${model.get("n_frames")}  t0=${meta.ts_ns}  spot=${meta.spot}`,
      `zoom ±${fmt(meta.x_half, 1)}t ${meta.auto_zoom ? "fit" : "held"}${refs}`,
      "θ " + meta.param_names.map((n) => `${n}=${fmt(meta.theta[n])}`).join(" "),
      "err " + (meta.errors ? meta.errors.map((e, h) => `h${h + 1}=${fmt(e, 2)}`).join(" ") : "—"),
      "counters " + Object.entries(meta.counters).map(([k, v]) => `${k}=${v}`).join(" "),
    ];
    ctx.textAlign = "left";
    const pad = 6, lh = 14, top = 20;
    const lines = raw.flatMap((s) => wrapText(ctx, s, W - 2 * pad - 8));
    const shown = lines.slice(0, Math.max(1, Math.floor((A - top - 8) / lh)));
    ctx.fillStyle = "rgba(0,0,0,0.7)";
    ctx.fillRect(pad, top, W - 2 * pad, lh * shown.length + 6);
    ctx.fillStyle = "#ffe080";
    shown.forEach((s, i) => text(ctx, s, pad + 4, top + 3 + lh * (i + 0.5), "debug"));
  }

  function showReadout(r) {
    const g = r.gate ? `  gate ${r.gate.id} S=${fmt(r.gate.strength, 2)}/${fmt(r.gate.s_max, 1)}` : "";
    readout.textContent = `x=${fmt(r.x, 2)}t  U=${fmt(r.U)}  O=${fmt(r.O)}  C=${fmt(r.C)}  Γ=${fmt(r.G)}  ∂V/∂x=${fmt(r.dVdx)}${g}`;
    Object.assign(readout.dataset, { x: r.x, u: r.U, o: r.O, c: r.C, g: r.G, dvdx: r.dVdx, gate: r.gate ? r.gate.id : "" });
  }

  // Off the canvas the readout is empty rather than stale values from another frame.
  function clearReadout() {
    readout.textContent = "";
    for (const k of Object.keys(readout.dataset)) delete readout.dataset[k];
  }

  // Texture -> canvas. PNG decodes natively off the main thread; a newer frame that
  // arrives while one decodes wins (drawSeq), so the canvas never goes backwards.
  let drawSeq = 0;
  async function paintTexture(fmt, px, W, H) {
    const ctx = canvas.getContext("2d");
    if (fmt === "png") {
      const bmp = await createImageBitmap(new Blob([px], { type: "image/png" }),
                                          { premultiplyAlpha: "none", colorSpaceConversion: "none" });
      try {
        if (bmp.width !== W || bmp.height !== H) throw new Error(`texture is ${bmp.width}x${bmp.height}, expected ${W}x${H}`);
        return { blit: () => { ctx.drawImage(bmp, 0, 0); bmp.close(); }, drop: () => bmp.close() };
      } catch (err) { bmp.close(); throw err; }
    }
    if (px.length !== W * H * 4) throw new Error(`raw texture has ${px.length} bytes, expected ${W * H * 4}`);
    const img = new ImageData(new Uint8ClampedArray(px.buffer.slice(px.byteOffset, px.byteOffset + px.length)), W, H);
    return { blit: () => ctx.putImageData(img, 0, 0), drop: () => {} };
  }

  function refreshUi() {
    if (!meta) return;
    const n = model.get("n_frames");
    slider.max = String(Math.max(n - 1, 0));
    if (pending === null && !inFlight) slider.value = String(model.get("index"));
    freezeBtn.classList.toggle("mp-on", model.get("frozen"));
    freezeBtn.textContent = model.get("frozen") ? "Resume" : "Freeze";
    debugBtn.classList.toggle("mp-on", model.get("debug"));
    status.textContent = `${meta.index + 1}/${n}  ±${meta.x_half.toFixed(0)} ticks ${model.get("auto_zoom") ? "fit" : "held"}`;
    fitBtn.classList.toggle("mp-on", model.get("auto_zoom"));
    drawText();
  }

  // fromServer: a new frame (version) arrived, which answers the request in flight.
  async function draw(fromServer = false) {
    const seq = ++drawSeq;
    try {
      const m = model.get("meta");
      if (!m || !m.layout) return;
      const W = model.get("tex_width"), H = model.get("tex_height");
      const px = bytesOf(model.get("texture"));
      if (!px.length) return;
      const tex = await paintTexture(m.texture_format || "raw", px, W, H);
      if (seq !== drawSeq) { tex.drop(); return; }          // a newer frame is being drawn
      meta = m;
      arrays = floatsOf(model.get("arrays"));
      for (const c of [canvas, overlay]) { if (c.width !== W) c.width = W; if (c.height !== H) c.height = H; }
      tex.blit();
      refreshUi();
      root.dataset.version = String(model.get("version"));
      root.dataset.index = String(meta.index);
      errBox.textContent = "";
    } catch (err) {
      errBox.textContent = `PhysicsLab: ${err}`;
      console.error(err);
    } finally {
      if (fromServer && seq === drawSeq) settle();
    }
  }

  // Scrub throttle: one navigation request in flight; while it renders, only the newest
  // wanted frame is remembered and sent when the frame comes back (or after a timeout),
  // so dragging never queues a backlog of renders in the kernel.
  let inFlight = false, pending = null, flightTimer = null;
  function settle() {
    inFlight = false;
    clearTimeout(flightTimer);
    if (pending !== null) {
      const i = pending;
      pending = null;
      go(i);
    } else {
      slider.value = String(model.get("index"));   // after a step the thumb follows the frame shown
    }
  }
  const set = (k, v) => { model.set(k, v); model.save_changes(); };
  freezeBtn.onclick = () => {
    const f = !model.get("frozen");
    model.set("frozen", f);
    if (!f) model.set("index", Math.max(model.get("n_frames") - 1, 0));
    model.save_changes();
  };
  function go(i) {
    i = Math.min(Math.max(i, 0), Math.max(model.get("n_frames") - 1, 0));
    if (inFlight) { pending = i; return; }
    if (i === model.get("index") && model.get("frozen")) return;     // already shown
    inFlight = true;
    flightTimer = setTimeout(settle, 2000);   // never wait forever on a lost reply
    model.set("frozen", true);
    model.set("index", i);
    model.save_changes();
  }
  const target = () => (pending !== null ? pending : model.get("index"));
  stepBtn.onclick = () => go(target() + 1);
  backBtn.onclick = () => go(target() - 1);
  slider.oninput = () => go(parseInt(slider.value, 10));
  zoomIn.onclick = () => set("x_half", model.get("x_half") / 1.5);
  zoomOut.onclick = () => set("x_half", model.get("x_half") * 1.5);
  fitBtn.onclick = () => set("auto_zoom", true);
  debugBtn.onclick = () => set("debug", !model.get("debug"));
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    hoverX = (ev.clientX - r.left) * (canvas.width / r.width);
    drawText();
  });
  canvas.addEventListener("mouseleave", () => { hoverX = null; clearReadout(); drawText(); });
  // Keys pressed on the toolbar belong to it: JupyterLab's notebook shortcuts would otherwise
  // swallow the slider's arrow keys. Escape and chords (Shift+Enter, Ctrl+S, ...) still reach it.
  bar.addEventListener("keydown", (ev) => {
    if (!(ev.shiftKey || ev.ctrlKey || ev.altKey || ev.metaKey || ev.key === "Escape")) ev.stopPropagation();
  });

  const onVersion = () => draw(true);
  model.on("change:version", onVersion);
  model.on("change:debug", refreshUi);
  model.on("change:err_threshold", drawText);
  model.on("change:frozen", refreshUi);
  draw();
  return () => {
    model.off("change:version", onVersion);
    model.off("change:debug", refreshUi);
    model.off("change:err_threshold", drawText);
    model.off("change:frozen", refreshUi);
    clearTimeout(flightTimer);
  };
}

export default { render };
