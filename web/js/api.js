// api.js - talking to the Kanava JSON API: the token (sessionStorage, so it goes when the
// tab closes), requests with errors turned into readable messages, job polling, and the
// status line that screen readers announce.

const TOKEN_KEY = 'kanava.token';

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(t) { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); }

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// api('/api/stats'), api('/api/topics/x', {method: 'PUT', json: {...}}),
// api('/api/import', {method: 'POST', body: file, type: 'text/csv'}). Resolves to the parsed
// JSON (null for 204); rejects with an ApiError that says what the server said.
export async function api(path, opts = {}) {
  const headers = {};
  const t = opts.token ?? token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let body = opts.body;
  if (opts.json !== undefined) { body = JSON.stringify(opts.json); headers['Content-Type'] = 'application/json'; }
  else if (opts.type) headers['Content-Type'] = opts.type;
  let res;
  try {
    res = await fetch(path, { method: opts.method || 'GET', headers, body });
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach the server (' + e.message + ')');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    const err = data && data.error;
    if (res.status === 401 && !opts.token) window.dispatchEvent(new CustomEvent('kanava-unauthorized'));
    throw new ApiError(res.status, err ? err.code : 'http',
                       `${opts.method || 'GET'} ${path.split('?')[0]}: ${err ? err.message : 'HTTP ' + res.status}`);
  }
  if (data === null && text) throw new ApiError(res.status, 'bad_json', `${path}: the answer is not JSON`);
  return data;
}

// Polls GET /api/jobs/{id} every 500 ms until it is done or failed; onProgress(job) each time.
export async function waitForJob(id, onProgress) {
  for (;;) {
    const job = await api('/api/jobs/' + id);
    onProgress?.(job);
    if (job.state === 'done') return job;
    if (job.state === 'failed') throw new ApiError(0, 'job_failed', `${job.kind} job ${id} failed: ${job.error || 'no reason given'}`);
    await new Promise(r => setTimeout(r, 500));
  }
}

// The live region at the bottom right: short messages that say what just happened.
let statusTimer = 0;
export function say(message, isError = false) {
  const box = document.getElementById('status');
  box.textContent = message;
  box.classList.toggle('error', isError);
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { box.textContent = ''; }, isError ? 12000 : 6000);
}
// API errors are the user's to read; anything else is a bug in this code: the console too.
export function fail(e) { say(e.message || String(e), true); if (!(e instanceof ApiError)) console.error(e); }

// el('button', {class: 'primary', onclick: f}, 'text', child...): a DOM element. Text
// goes in as text nodes, never as HTML, so message texts cannot inject markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

export const pct = (x, digits = 0) => (x === null || x === undefined) ? '–' : (100 * x).toFixed(digits) + ' %';
export const dateOf = (s) => s ? new Date(typeof s === 'number' ? s * 1000 : s).toLocaleString() : '';

// Distinct colours for topics (in the order of the topic list), dark enough for text on white.
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22',
                 '#ff7f0e', '#393b79', '#637939', '#843c39', '#7b4173', '#3182bd', '#e6550d', '#31a354',
                 '#756bb1', '#636363', '#bd9e39', '#ad494a'];
export const UNLABELLED = '#b8bec6';
export function topicColour(index) { return index < 0 ? UNLABELLED : PALETTE[index % PALETTE.length]; }

// Fills a <select> with the topics as <option>s, keeping the choice when it still exists.
export function topicOptions(select, topicList) {
  const was = select.value;
  select.replaceChildren(...topicList.map(t => el('option', { value: t.name }, t.name)));
  if (topicList.some(t => t.name === was)) select.value = was;
}
