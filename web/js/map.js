// map.js - the 2-D map of every message (GET /api/map) on a <canvas>: the active model's
// map, or before there is one the base encoder's (labels only); colours by label or
// prediction, wheel zoom, drag pan, lasso (shift+drag or lasso mode), keyword highlight,
// and labelling the selection in one request (with undo). Drawn in one path per colour
// on the next animation frame; a uniform grid answers "which points are here" without
// looking at all of them, so 20,000 points stay smooth.
import { api, waitForJob, say, fail, el, pct, topicColour, topicOptions, UNLABELLED } from './api.js';

const $ = (id) => document.getElementById(id);
const GRID = 64;        // grid cells per axis (data space)
const SHOW_TEXTS = 200; // texts listed beside the map

let ctx = null;
let canvas, g;          // the canvas and its 2-D context
let n = 0;
let ids, xs, ys, labelOf, predOf, probOf; // per point; labelOf/predOf index topicNames (-1: none)
let topicNames = [], topicIdx = new Map(), indexOfId = new Map();
let selected, matched;  // Uint8Array flags
let nSelected = 0, nMatched = 0;
let colourBy = 'label';
let groups = [];        // per colour: point indices (last one: no topic)
let view = { scale: 1, ox: 0, oy: 0 }; // screen = data * scale + o (CSS pixels)
let grid = null;        // { x0, y0, cw, ch, start: Int32Array(GRID*GRID+1), items: Int32Array }
let lasso = null;       // [[sx, sy], ...] while drawing
let drag = null;        // {x, y, ox, oy} while panning
let lassoMode = false;
let lastBulk = null;    // {annotationIds, indices, previous} for undo
let frame = 0;
const drawTimes = []; // milliseconds of the last frames (for the browser test)

export function init(c) {
  ctx = c;
  canvas = $('map-canvas');
  g = canvas.getContext('2d');
  canvas.tabIndex = 0;
  new ResizeObserver(() => { if (n) redraw(); }).observe(canvas);
  canvas.addEventListener('pointerdown', onDown);
  canvas.addEventListener('pointermove', onMove);
  canvas.addEventListener('pointerup', onUp);
  canvas.addEventListener('pointerleave', () => { $('map-tooltip').hidden = true; });
  canvas.addEventListener('wheel', onWheel, { passive: false });
  canvas.addEventListener('keydown', onCanvasKey);
  $('map-compute').addEventListener('click', () => compute().catch(fail));
  $('map-reset').addEventListener('click', () => { fit(); redraw(); });
  $('map-lasso').addEventListener('click', () => {
    lassoMode = !lassoMode;
    $('map-lasso').setAttribute('aria-pressed', String(lassoMode));
    canvas.classList.toggle('lasso', lassoMode);
  });
  for (const r of document.querySelectorAll('input[name="map-colour"]'))
    r.addEventListener('change', () => { colourBy = r.value; regroup(); redraw(); renderLegend(); });
  $('map-filter').addEventListener('submit', (ev) => { ev.preventDefault(); highlight().catch(fail); });
  $('map-select-matches').addEventListener('click', () => {
    if (!nMatched) { say('No keyword matches to select'); return; }
    selected.set(matched); nSelected = nMatched; selectionChanged();
  });
  $('map-label').addEventListener('click', () => labelSelection().catch(fail));
  $('map-undo').addEventListener('click', () => undoBulk().catch(fail));
  $('map-clear').addEventListener('click', () => { if (n) { selected.fill(0); nSelected = 0; selectionChanged(); } });
  // For the browser test and debugging: where points are on screen, and how many are selected.
  window.kanavaMap = {
    project: (want) => want.map(id => { const i = indexOfId.get(id); return i === undefined ? null : [sx(i), sy(i)]; }),
    selectedCount: () => nSelected,
    drawTimes: () => [...drawTimes],
  };
}

export async function show() {
  await ctx.refreshTopics();
  topicOptions($('map-topic'), ctx.topics);
  if (!n) await load();
  else redraw();
}

// ---- data ------------------------------------------------------------------------------

async function load() {
  let res;
  try { res = await api('/api/map'); }
  catch (e) {
    if (e.status === 404) { $('map-stage').textContent = 'No map yet: press "Compute map".'; return; }
    throw e;
  }
  const pts = res.points;
  n = pts.length;
  topicNames = ctx.topics.map(t => t.name);
  topicIdx = new Map(topicNames.map((t, i) => [t, i]));
  const idxOf = (t) => {
    if (t === null || t === undefined) return -1;
    if (!topicIdx.has(t)) { topicIdx.set(t, topicNames.length); topicNames.push(t); }
    return topicIdx.get(t);
  };
  ids = new Int32Array(n); xs = new Float32Array(n); ys = new Float32Array(n);
  labelOf = new Int16Array(n); predOf = new Int16Array(n); probOf = new Float32Array(n);
  indexOfId = new Map();
  pts.forEach((p, i) => {
    ids[i] = p.id; xs[i] = p.x; ys[i] = p.y;
    labelOf[i] = idxOf(p.label); predOf[i] = idxOf(p.prediction); probOf[i] = p.probability ?? NaN;
    indexOfId.set(p.id, i);
  });
  selected = new Uint8Array(n); matched = new Uint8Array(n);
  nSelected = nMatched = 0;
  lastBulk = null;
  buildGrid();
  regroup();
  fit();
  renderLegend();
  selectionChanged();
  $('map-stage').textContent = res.base
    ? `${n} messages (the base encoder's map, no predictions: "Compute map" again once a model is active)`
    : `${n} messages (model ${res.model_id})`;
}

async function compute() {
  const btn = $('map-compute'), bar = $('map-progress');
  btn.disabled = true;
  bar.hidden = false; bar.value = 0;
  try {
    let job;
    try { ({ job } = await api('/api/map', { method: 'POST', json: {} })); }
    catch (e) {
      if (e.code === 'no_base_model') $('map-stage').textContent = 'No encoder to draw the map with: install the default model (kanava model fetch use-lite).';
      throw e;
    }
    await waitForJob(job, (j) => {
      bar.value = j.progress ?? 0;
      $('map-stage').textContent = `Computing the map: ${j.stage || j.state} (${pct(j.progress)})`;
    });
    n = 0;
    await load();
    say(`Map computed: ${n} messages`);
  } finally { btn.disabled = false; bar.hidden = true; }
}

// Uniform grid over the data's bounding box: cell -> the points in it (counting sort).
function buildGrid() {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) { x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]); y0 = Math.min(y0, ys[i]); y1 = Math.max(y1, ys[i]); }
  const cw = (x1 - x0) / GRID || 1, ch = (y1 - y0) / GRID || 1;
  const cell = new Int32Array(n), start = new Int32Array(GRID * GRID + 1);
  for (let i = 0; i < n; i++) {
    const cx = Math.min(GRID - 1, Math.floor((xs[i] - x0) / cw)), cy = Math.min(GRID - 1, Math.floor((ys[i] - y0) / ch));
    cell[i] = cy * GRID + cx;
    start[cell[i] + 1]++;
  }
  for (let c = 0; c < GRID * GRID; c++) start[c + 1] += start[c];
  const fillAt = start.slice(0, GRID * GRID), items = new Int32Array(n);
  for (let i = 0; i < n; i++) items[fillAt[cell[i]]++] = i;
  grid = { x0, y0, x1, y1, cw, ch, start, items };
}

// Calls f(i) for every point in the grid cells that overlap the data-space box.
function eachInBox(bx0, by0, bx1, by1, f) {
  const clampCell = (v) => Math.max(0, Math.min(GRID - 1, v));
  const cx0 = clampCell(Math.floor((bx0 - grid.x0) / grid.cw)), cx1 = clampCell(Math.floor((bx1 - grid.x0) / grid.cw));
  const cy0 = clampCell(Math.floor((by0 - grid.y0) / grid.ch)), cy1 = clampCell(Math.floor((by1 - grid.y0) / grid.ch));
  for (let cy = cy0; cy <= cy1; cy++)
    for (let cx = cx0; cx <= cx1; cx++) {
      const c = cy * GRID + cx;
      for (let k = grid.start[c]; k < grid.start[c + 1]; k++) f(grid.items[k]);
    }
}

function colourIndex(i) { return colourBy === 'label' ? labelOf[i] : predOf[i]; }

function regroup() {
  const buckets = Array.from({ length: topicNames.length + 1 }, () => []);
  for (let i = 0; i < n; i++) { const c = colourIndex(i); buckets[c < 0 ? topicNames.length : c].push(i); }
  groups = buckets.map(b => Int32Array.from(b));
}

// ---- view and drawing -------------------------------------------------------------------

const sx = (i) => xs[i] * view.scale + view.ox;
const sy = (i) => ys[i] * view.scale + view.oy;
const toData = (px, py) => [(px - view.ox) / view.scale, (py - view.oy) / view.scale];

function fit() {
  if (!n) return;
  const w = canvas.clientWidth, h = canvas.clientHeight, pad = 20;
  const dw = grid.x1 - grid.x0 || 1, dh = grid.y1 - grid.y0 || 1;
  view.scale = Math.min((w - 2 * pad) / dw, (h - 2 * pad) / dh);
  view.ox = (w - dw * view.scale) / 2 - grid.x0 * view.scale;
  view.oy = (h - dh * view.scale) / 2 - grid.y0 * view.scale;
}

function redraw() { if (!frame) frame = requestAnimationFrame(draw); }

function draw() {
  frame = 0;
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const t0 = performance.now();
  const r = n > 5000 ? 1.5 : n > 500 ? 2.5 : 4;
  const square = n > 5000; // tiny squares are cheaper than arcs and look the same at 3 px
  // One path per colour: a few fill calls instead of one per point.
  groups.forEach((grp, c) => {
    g.fillStyle = c === topicNames.length ? UNLABELLED : topicColour(c);
    g.beginPath();
    for (const i of grp) {
      const x = sx(i), y = sy(i);
      if (x < -r || y < -r || x > w + r || y > h + r) continue;
      if (square) g.rect(x - r, y - r, 2 * r, 2 * r);
      else { g.moveTo(x + r, y); g.arc(x, y, r, 0, 2 * Math.PI); }
    }
    g.fill();
  });
  const ring = (flags, colour, rr, width) => {
    g.strokeStyle = colour; g.lineWidth = width;
    g.beginPath();
    for (let i = 0; i < n; i++) if (flags[i]) { const x = sx(i), y = sy(i); g.moveTo(x + rr, y); g.arc(x, y, rr, 0, 2 * Math.PI); }
    g.stroke();
  };
  if (nMatched) ring(matched, '#f0a000', r + 3, 2);
  // Thousands of rings would hide the colours: fainter ones on a big map.
  if (nSelected) ring(selected, n > 5000 ? 'rgba(17,17,17,.4)' : '#111', r + 1.5, n > 5000 ? 0.8 : 1.5);
  if (lasso && lasso.length > 1) {
    g.strokeStyle = '#0b5cad'; g.lineWidth = 1.5; g.setLineDash([5, 4]);
    g.beginPath(); g.moveTo(...lasso[0]); for (const p of lasso) g.lineTo(...p); g.closePath(); g.stroke();
    g.setLineDash([]);
  }
  drawTimes.push(performance.now() - t0);
  if (drawTimes.length > 100) drawTimes.shift();
}

function renderLegend() {
  const used = new Set();
  for (let i = 0; i < n; i++) used.add(colourIndex(i));
  const items = topicNames.map((t, c) => used.has(c) ? el('div', {}, swatch(topicColour(c)), t) : null);
  items.push(el('div', {}, swatch(UNLABELLED), colourBy === 'label' ? 'unlabelled' : 'no prediction'));
  $('map-legend').replaceChildren(el('strong', {}, colourBy === 'label' ? 'Label' : 'Prediction'), ...items.filter(Boolean));
}
function swatch(colour) { const s = el('span', { class: 'swatch' }); s.style.background = colour; return s; }

// ---- interaction ------------------------------------------------------------------------

function pos(ev) { const b = canvas.getBoundingClientRect(); return [ev.clientX - b.left, ev.clientY - b.top]; }

function onDown(ev) {
  if (!n || ev.button !== 0) return;
  canvas.setPointerCapture(ev.pointerId);
  const [x, y] = pos(ev);
  if (ev.shiftKey || lassoMode) lasso = [[x, y]];
  else { drag = { x, y, ox: view.ox, oy: view.oy }; canvas.style.cursor = 'grabbing'; }
}

function onMove(ev) {
  if (!n) return;
  const [x, y] = pos(ev);
  if (lasso) { lasso.push([x, y]); redraw(); return; }
  if (drag) { view.ox = drag.ox + x - drag.x; view.oy = drag.oy + y - drag.y; redraw(); return; }
  hover(x, y);
}

function onUp(ev) {
  if (lasso) {
    if (lasso.length > 2) selectInPolygon(lasso);
    lasso = null;
    redraw();
  }
  if (drag) { drag = null; canvas.style.cursor = ''; }
  canvas.releasePointerCapture?.(ev.pointerId);
}

function onWheel(ev) {
  if (!n) return;
  ev.preventDefault();
  const [x, y] = pos(ev);
  zoomAt(x, y, Math.exp(-ev.deltaY * 0.0015));
}

function zoomAt(x, y, f) {
  view.ox = x - (x - view.ox) * f; view.oy = y - (y - view.oy) * f; view.scale *= f;
  redraw();
}

// Keyboard: arrows pan, + and - zoom, 0 resets, Escape clears the selection.
function onCanvasKey(ev) {
  if (!n) return;
  const step = 40, w = canvas.clientWidth / 2, h = canvas.clientHeight / 2;
  const act = { ArrowLeft: () => { view.ox += step; }, ArrowRight: () => { view.ox -= step; },
                ArrowUp: () => { view.oy += step; }, ArrowDown: () => { view.oy -= step; },
                '+': () => zoomAt(w, h, 1.25), '=': () => zoomAt(w, h, 1.25), '-': () => zoomAt(w, h, 0.8),
                '0': () => fit(), Escape: () => { selected.fill(0); nSelected = 0; selectionChanged(); } }[ev.key];
  if (act) { ev.preventDefault(); act(); redraw(); }
}

function hover(x, y) {
  const tip = $('map-tooltip');
  const [dx, dy] = toData(x, y), rad = 6 / view.scale;
  let best = -1, bestD = Infinity;
  eachInBox(dx - rad, dy - rad, dx + rad, dy + rad, (i) => {
    const d = (sx(i) - x) ** 2 + (sy(i) - y) ** 2;
    if (d < bestD && d <= 36) { bestD = d; best = i; }
  });
  if (best < 0) { tip.hidden = true; return; }
  const lab = labelOf[best] >= 0 ? topicNames[labelOf[best]] : 'unlabelled';
  const pred = predOf[best] >= 0 ? `${topicNames[predOf[best]]} ${pct(probOf[best])}` : 'no prediction';
  tip.textContent = `#${ids[best]} · label: ${lab} · predicted: ${pred}`;
  tip.style.left = Math.min(x + 12, canvas.clientWidth - 200) + 'px';
  tip.style.top = (y + 12) + 'px';
  tip.hidden = false;
}

function insidePolygon(x, y, poly) {
  let inside = false;
  for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    const [xa, ya] = poly[a], [xb, yb] = poly[b];
    if ((ya > y) !== (yb > y) && x < (xb - xa) * (y - ya) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}

function selectInPolygon(screenPoly) {
  const poly = screenPoly.map(([x, y]) => toData(x, y));
  let bx0 = Infinity, by0 = Infinity, bx1 = -Infinity, by1 = -Infinity;
  for (const [x, y] of poly) { bx0 = Math.min(bx0, x); bx1 = Math.max(bx1, x); by0 = Math.min(by0, y); by1 = Math.max(by1, y); }
  selected.fill(0);
  nSelected = 0;
  eachInBox(bx0, by0, bx1, by1, (i) => {
    if (xs[i] >= bx0 && xs[i] <= bx1 && ys[i] >= by0 && ys[i] <= by1 && insidePolygon(xs[i], ys[i], poly)) {
      selected[i] = 1; nSelected++;
    }
  });
  selectionChanged();
}

function selectedIndices() { const out = []; for (let i = 0; i < n; i++) if (selected[i]) out.push(i); return out; }

async function selectionChanged() {
  redraw();
  const list = $('map-selection-list');
  if (!nSelected) {
    $('map-selection-count').textContent = n ? 'Nothing selected. Shift and drag on the map to lasso.' : 'No map yet.';
    list.replaceChildren();
    return;
  }
  $('map-selection-count').textContent = `${nSelected} selected` + (nSelected > SHOW_TEXTS ? ` (the first ${SHOW_TEXTS} are listed)` : '');
  const want = selectedIndices().slice(0, SHOW_TEXTS).map(i => ids[i]);
  try {
    const res = await api(`/api/messages?ids=${want.join(',')}&limit=${want.length}`);
    list.replaceChildren(...res.messages.map(m => el('li', {},
      m.text, ' ',
      el('span', { class: 'tag' }, `#${m.id}` + (m.labels?.length ? ` · ${m.labels[m.labels.length - 1].topic}` : '') +
        (m.prediction ? ` · predicted ${m.prediction.topic} ${pct(m.prediction.probability)}` : '')))));
  } catch (e) { fail(e); }
}

async function highlight() {
  const q = $('map-q').value.trim();
  matched?.fill(0);
  nMatched = 0;
  if (!q || !n) { $('map-matches').textContent = ''; redraw(); return; }
  const res = await api(`/api/messages?q=${encodeURIComponent(q)}&fields=id&limit=100000`);
  for (const id of res.ids) { const i = indexOfId.get(id); if (i !== undefined) { matched[i] = 1; nMatched++; } }
  $('map-matches').textContent = `${res.total} messages contain "${q}"`;
  redraw();
}

async function labelSelection() {
  if (!nSelected) { say('Select messages on the map first'); return; }
  const topic = $('map-topic').value;
  if (!topic) { say('Create a topic first', true); return; }
  const indices = selectedIndices();
  const res = await api('/api/annotations/bulk', { method: 'POST', json: { message_ids: indices.map(i => ids[i]), topic } });
  lastBulk = { annotationIds: res.annotation_ids, indices, previous: indices.map(i => labelOf[i]) };
  const t = topicIdx.get(topic) ?? (topicNames.push(topic), topicIdx.set(topic, topicNames.length - 1), topicNames.length - 1);
  for (const i of indices) labelOf[i] = t;
  regroup(); renderLegend(); selectionChanged();
  say(`Labelled ${indices.length} messages as ${topic}`);
}

async function undoBulk() {
  if (!lastBulk) { say('Nothing to undo'); return; }
  const res = await api('/api/annotations/bulk-delete', { method: 'POST', json: { annotation_ids: lastBulk.annotationIds } });
  lastBulk.indices.forEach((i, k) => { labelOf[i] = lastBulk.previous[k]; });
  lastBulk = null;
  regroup(); renderLegend(); selectionChanged();
  say(`Removed ${res.deleted} labels`);
}
