// models.js - train in the background (POST /api/train, progress polled every 500 ms), the
// models, and one model's dashboard: accuracy, per-topic precision and recall, the
// confusion matrix, and the precision-against-automation curve with a threshold slider
// that reads the held-out numbers off the curve. Then activate it and route new messages.
import { api, waitForJob, say, fail, el, pct, dateOf } from './api.js';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
let ctx = null;
let model = null; // the model on the dashboard

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

export function init(c) {
  ctx = c;
  $('train-start').addEventListener('click', () => train().catch(fail));
  $('dash-threshold').addEventListener('input', updateThreshold);
  $('dash-activate').addEventListener('click', () => activate().catch(fail));
  $('dash-route').addEventListener('click', () => route().catch(fail));
}

export async function show() {
  await ctx.refreshStats();
  const list = await listModels();
  if (!model && list.length) await openModel((list.find(m => m.active) || list[list.length - 1]).id);
}

async function listModels() {
  const { models } = await api('/api/models');
  $('models-rows').replaceChildren(...models.map(m => el('tr', {},
    el('th', { scope: 'row' }, `Model ${m.id}`),
    el('td', {}, m.method), el('td', { class: 'num' }, m.classes ?? ''), el('td', {}, dateOf(m.created_at)),
    el('td', {}, m.active ? 'active' : ''),
    el('td', {}, el('button', { type: 'button', 'aria-label': `Show model ${m.id}`, onclick: () => openModel(m.id).catch(fail) }, 'Show')))));
  if (!models.length) $('models-rows').append(el('tr', {}, el('td', { colspan: 6, class: 'hint' }, 'No models yet: label messages, then train.')));
  return models;
}

async function train() {
  const btn = $('train-start'), bar = $('train-progress');
  btn.disabled = true; bar.hidden = false; bar.value = 0;
  try {
    const { job } = await api('/api/train', { method: 'POST', json: { method: $('train-method').value } });
    say('Training started');
    const done = await waitForJob(job, (j) => {
      bar.value = j.progress ?? 0;
      $('train-stage').textContent = `Training: ${j.stage || j.state} (${pct(j.progress)})`;
    });
    $('train-stage').textContent = `Model ${done.model_id} trained`;
    say(`Model ${done.model_id} trained`);
    await listModels();
    if (done.model_id) await openModel(done.model_id);
  } catch (e) { $('train-stage').textContent = ''; throw e; }
  finally { btn.disabled = false; bar.hidden = true; }
}

async function openModel(id) {
  model = await api('/api/models/' + id);
  $('dashboard').hidden = false;
  $('dash-title').textContent = `Model ${model.id} (${model.method})` + (model.active ? ' – active' : '');
  $('dash-activate').disabled = !!model.active;
  $('dash-route').hidden = !model.active; // routing uses the active model
  const m = model.metrics;
  if (!m) {
    $('dash-cards').replaceChildren(el('p', { class: 'hint' }, 'No evaluation is stored for this model (it was not trained here).'));
    for (const id of ['dash-curve', 'dash-confusion', 'dash-topics', 'dash-threshold-result']) $(id).replaceChildren();
    return;
  }
  const card = (label, value) => el('div', { class: 'card' }, el('span', { class: 'num' }, value), label);
  $('dash-cards').replaceChildren(card('accuracy', pct(m.accuracy, 1)), card('macro-F1', pct(m.macro_f1, 1)),
    card('training messages', m.n_train), card('held-out messages', m.n_eval));
  $('dash-topics').replaceChildren(...(m.per_topic || []).map(t => el('tr', {},
    el('th', { scope: 'row' }, t.topic), el('td', { class: 'num' }, pct(t.precision, 1)),
    el('td', { class: 'num' }, pct(t.recall, 1)), el('td', { class: 'num' }, pct(t.f1, 1)), el('td', { class: 'num' }, t.support))));
  drawConfusion(m.confusion);
  drawCurve(m.curve || []);
  updateThreshold();
}

// ---- the confusion matrix: rows are the true topics, columns the predicted ones ---------

function drawConfusion(conf) {
  const box = $('dash-confusion');
  if (!conf || !conf.topics?.length) { box.replaceChildren(el('p', { class: 'hint' }, 'No confusion matrix.')); return; }
  const k = conf.topics.length, cell = Math.max(18, Math.min(36, Math.floor(360 / k))), left = 120, top = 110;
  const w = left + k * cell + 10, h = top + k * cell + 10;
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img',
    'aria-label': `Confusion matrix of ${k} topics: rows are the true topic, columns the predicted one` });
  root.append(svg('title', {}, 'Confusion matrix: rows true topic, columns predicted topic'));
  conf.matrix.forEach((row, i) => {
    const rowSum = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((v, j) => {
      const share = v / rowSum;
      // Blue for the diagonal, red for confusions; darker is more.
      const hue = i === j ? 212 : 0, light = 97 - 55 * share;
      root.append(svg('rect', { x: left + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1,
                                fill: `hsl(${hue} 70% ${light}%)` },
                      svg('title', {}, `true ${conf.topics[i]}, predicted ${conf.topics[j]}: ${v}`)));
      if (v) root.append(svg('text', { x: left + j * cell + cell / 2, y: top + i * cell + cell / 2 + 4, 'text-anchor': 'middle',
                                       'font-size': 11, fill: light < 60 ? '#fff' : '#111' }, v));
    });
  });
  conf.topics.forEach((t, i) => {
    root.append(svg('text', { x: left - 6, y: top + i * cell + cell / 2 + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#1b1f24' }, t));
    const x = left + i * cell + cell / 2;
    root.append(svg('text', { x, y: top - 6, 'font-size': 11, fill: '#1b1f24', transform: `rotate(-55 ${x} ${top - 6})` }, t));
  });
  root.append(svg('text', { x: 4, y: 14, 'font-size': 11, fill: '#4a5360' }, 'rows: true topic · columns: predicted'));
  box.replaceChildren(root);
}

// ---- the curve and the threshold slider ---------------------------------------------------

const CW = 440, CH = 280, PAD = { l: 48, r: 24, t: 12, b: 40 };
const cx = (a) => PAD.l + a * (CW - PAD.l - PAD.r);
const cy = (p) => CH - PAD.b - p * (CH - PAD.t - PAD.b);

function drawCurve(curve) {
  const box = $('dash-curve');
  const root = svg('svg', { viewBox: `0 0 ${CW} ${CH}`, width: '100%', role: 'img',
    'aria-label': 'Precision of the automatic answers against the share of messages answered automatically' });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    root.append(svg('line', { x1: cx(0), x2: cx(1), y1: cy(v), y2: cy(v), stroke: '#e3e6ea' }));
    root.append(svg('text', { x: PAD.l - 6, y: cy(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#4a5360' }, pct(v)));
    root.append(svg('text', { x: cx(v), y: CH - PAD.b + 16, 'text-anchor': 'middle', 'font-size': 11, fill: '#4a5360' }, pct(v)));
  }
  root.append(svg('text', { x: cx(0.5), y: CH - 6, 'text-anchor': 'middle', 'font-size': 12, fill: '#1b1f24' }, 'answered automatically'));
  root.append(svg('text', { x: 12, y: cy(0.5), 'text-anchor': 'middle', 'font-size': 12, fill: '#1b1f24',
                            transform: `rotate(-90 12 ${cy(0.5)})` }, 'precision'));
  const pts = [...curve].sort((a, b) => a.automation - b.automation);
  root.append(svg('polyline', { fill: 'none', stroke: '#0b5cad', 'stroke-width': 2,
                                points: pts.map(p => `${cx(p.automation)},${cy(p.precision)}`).join(' ') }));
  for (const p of pts) root.append(svg('circle', { r: 2.5, fill: '#0b5cad', cx: cx(p.automation), cy: cy(p.precision) },
                                        svg('title', {}, `threshold ${p.threshold.toFixed(3)}: ${pct(p.automation)} answered, precision ${pct(p.precision, 1)}`)));
  root.append(svg('circle', { id: 'dash-marker', r: 6, fill: '#f0a000', stroke: '#111', cx: cx(0), cy: cy(1), visibility: 'hidden' }));
  box.replaceChildren(root);
}

// The curve point in force at threshold t: the lowest curve threshold at or above t (the
// same messages clear both).
export function pointAt(curve, t) {
  let best = null;
  for (const p of curve) if (p.threshold >= t - 1e-9 && (!best || p.threshold < best.threshold)) best = p;
  return best;
}

function updateThreshold() {
  const t = Number($('dash-threshold').value);
  $('dash-threshold-value').textContent = t.toFixed(2);
  const curve = model?.metrics?.curve || [];
  const p = pointAt(curve, t);
  const marker = document.getElementById('dash-marker');
  const nEval = model?.metrics?.n_eval ?? 0;
  if (!p || !p.answered) {
    $('dash-threshold-result').textContent = `At ${t.toFixed(2)}: no held-out message would be answered automatically.`;
    marker?.setAttribute('visibility', 'hidden');
    return;
  }
  const total = ctx.stats?.messages;
  $('dash-threshold-result').textContent =
    `At ${t.toFixed(2)}: ${p.answered} of ${nEval} held-out messages (${pct(p.automation)}) answered automatically, ` +
    `precision ${pct(p.precision, 1)}` + (total ? ` · about ${Math.round(p.automation * total)} of the ${total} messages here` : '');
  marker?.setAttribute('cx', cx(p.automation));
  marker?.setAttribute('cy', cy(p.precision));
  marker?.setAttribute('visibility', 'visible');
}

// ---- activation and routing ---------------------------------------------------------------

async function activate() {
  await api(`/api/models/${model.id}/activate`, { method: 'POST' });
  say(`Model ${model.id} is active`);
  await listModels();
  await openModel(model.id);
  $('dash-route').focus();
}

async function route() {
  const btn = $('dash-route'), bar = $('route-progress');
  btn.disabled = true; bar.hidden = false; bar.value = 0;
  try {
    const before = await ctx.refreshStats();
    const { job } = await api('/api/route', { method: 'POST', json: { status: 'new' } });
    await waitForJob(job, (j) => { bar.value = j.progress ?? 0; });
    const after = await ctx.refreshStats();
    const auto = (after.decisions?.auto_reply ?? 0) - (before.decisions?.auto_reply ?? 0);
    const human = (after.decisions?.human ?? 0) - (before.decisions?.human ?? 0);
    $('dash-route-result').textContent = `Routed ${auto + human} messages: ${auto} answered automatically, ${human} for a person.`;
    say(`Routed ${auto + human} messages`);
  } finally { btn.disabled = false; bar.hidden = true; }
}
