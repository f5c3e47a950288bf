// annotate.js - one message at a time: a topic button (or its key) labels it, s / → skips,
// u / Ctrl+Z deletes the last annotation made here. The model's suggestion is shown and its
// button outlined; the bars show how many messages each topic has.
import { api, say, fail, el, pct } from './api.js';
import { progressBars } from './overview.js';

const $ = (id) => document.getElementById(id);
// Keys for the topics: 1-9, then letters other than s and u (skip and undo).
const KEYS = '123456789abcdefghijklmnopqrtvwxyz'.split('');

let ctx = null;
let queue = [];          // messages still to show, current first
let total = 0;           // unlabelled messages on the server when last asked
const skipped = new Set();
const undoStack = [];    // {annotationId, message}
let labelledHere = 0;
let busy = false;
let visible = false;
const seed = Math.floor(Math.random() * 1e9);

export function init(c) {
  ctx = c;
  $('annotate-skip').addEventListener('click', skip);
  $('annotate-undo').addEventListener('click', undo);
  $('annotate-order').addEventListener('change', () => { queue = []; skipped.clear(); load().catch(fail); });
  document.addEventListener('keydown', onKey);
}

export async function show() {
  visible = true;
  await ctx.refreshTopics();
  renderButtons();
  await Promise.all([load(), refreshProgress()]);
}

export function hide() { visible = false; }

function onKey(ev) {
  if (!visible || busy) return;
  const tag = ev.target.tagName;
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === 'z') { ev.preventDefault(); undo(); return; }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  if (key === 's' || ev.key === 'ArrowRight') { ev.preventDefault(); skip(); return; }
  if (key === 'u') { ev.preventDefault(); undo(); return; }
  const i = KEYS.indexOf(key);
  if (i >= 0 && i < ctx.topics.length) { ev.preventDefault(); label(ctx.topics[i].name); }
}

function renderButtons() {
  const box = $('annotate-topics');
  if (!ctx.topics.length) {
    box.replaceChildren(el('p', { class: 'hint' }, 'No topics yet: create them under Topics first.'));
    return;
  }
  box.replaceChildren(...ctx.topics.slice(0, KEYS.length).map((t, i) =>
    el('button', { type: 'button', 'data-topic': t.name, title: t.description || t.name,
                   'aria-keyshortcuts': KEYS[i], onclick: () => label(t.name) },
       el('kbd', {}, KEYS[i]), ' ', t.name)));
}

async function load() {
  const order = $('annotate-order').value;
  const limit = Math.min(1000, 50 + skipped.size);
  const res = await api(`/api/messages?labelled=no&order=${order}&seed=${seed}&limit=${limit}`);
  total = res.total;
  queue = res.messages.filter(m => !skipped.has(m.id));
  render();
}

function render() {
  const m = queue[0];
  $('annotate-count').textContent = `${Math.max(0, total)} unlabelled · ${labelledHere} labelled in this session`;
  for (const b of document.querySelectorAll('#annotate-topics button'))
    b.classList.toggle('suggested', !!(m && m.prediction && m.prediction.topic === b.dataset.topic));
  if (!m) {
    $('annotate-meta').textContent = '';
    $('annotate-text').textContent = total > 0 ? 'You skipped the rest: change the order to see them again.'
                                               : 'Every message is labelled.';
    $('annotate-suggestion').textContent = '';
    return;
  }
  $('annotate-meta').textContent = [`Message #${m.id}`, m.channel, m.language].filter(Boolean).join(' · ');
  $('annotate-text').textContent = m.text;
  $('annotate-suggestion').textContent = m.prediction
    ? `Model suggests ${m.prediction.topic} (confidence ${pct(m.prediction.probability)})`
    : 'No suggestion yet: train and activate a model.';
}

async function refreshProgress() {
  const s = await ctx.refreshStats();
  $('annotate-progress').replaceChildren(progressBars(s));
}

async function label(topic) {
  const m = queue[0];
  if (!m || busy) return;
  busy = true;
  try {
    const a = await api(`/api/messages/${m.id}/annotations`, { method: 'POST', json: { topic } });
    undoStack.push({ annotationId: a.id, message: m });
    labelledHere++;
    total--;
    queue.shift();
    say(`Message #${m.id} labelled ${topic}`);
    if (!queue.length) await load(); else render();
    refreshProgress().catch(fail);
  } catch (e) { fail(e); } finally { busy = false; }
}

function skip() {
  const m = queue.shift();
  if (!m) return;
  skipped.add(m.id);
  if (!queue.length) load().catch(fail); else render();
}

async function undo() {
  const last = undoStack.pop();
  if (!last || busy) { if (!last) say('Nothing to undo'); return; }
  busy = true;
  try {
    await api(`/api/annotations/${last.annotationId}`, { method: 'DELETE' });
    labelledHere--;
    total++;
    queue.unshift(last.message);
    render();
    say(`Label of message #${last.message.id} removed`);
    refreshProgress().catch(fail);
  } catch (e) { undoStack.push(last); fail(e); } finally { busy = false; }
}
