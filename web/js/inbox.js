// inbox.js - the messages as they come in, newest first, with the suggested topic, its
// confidence and the routing decision; a filter by decision; importing a CSV file.
import { api, say, fail, el, pct } from './api.js';

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const DECISION = { auto_reply: 'answered automatically', human: 'for a person' };
let offset = 0;

export function init() {
  $('inbox-decision').addEventListener('change', () => { offset = 0; show().catch(fail); });
  $('inbox-prev').addEventListener('click', () => { offset = Math.max(0, offset - PAGE); show().catch(fail); });
  $('inbox-next').addEventListener('click', () => { offset += PAGE; show().catch(fail); });
  $('import-form').addEventListener('submit', (ev) => { ev.preventDefault(); importFile().catch(fail); });
}

export async function show() {
  const decision = $('inbox-decision').value;
  const res = await api(`/api/messages?decision=${decision}&order=newest&limit=${PAGE}&offset=${offset}`);
  $('inbox-total').textContent = res.total
    ? `${offset + 1}–${offset + res.messages.length} of ${res.total}` : 'No messages';
  $('inbox-prev').disabled = offset === 0;
  $('inbox-next').disabled = offset + res.messages.length >= res.total;
  $('inbox-rows').replaceChildren(...res.messages.map(row));
}

function row(m) {
  const d = m.decision;
  const topic = d?.topic ?? m.prediction?.topic ?? '';
  const p = d?.probability ?? m.prediction?.probability;
  const decision = d ? el('span', { class: 'decision-' + d.action, title: d.reason || '' },
                          DECISION[d.action] || d.action, d.reason ? el('div', { class: 'hint' }, d.reason) : null)
                     : el('span', { class: 'hint' }, 'not routed');
  return el('tr', {},
    el('td', { class: 'num' }, m.id),
    el('td', {}, m.text, el('div', { class: 'hint' }, [m.channel, m.language, m.status].filter(Boolean).join(' · '))),
    el('td', {}, topic), el('td', { class: 'num' }, p === undefined ? '' : pct(p)), el('td', {}, decision));
}

async function importFile() {
  const file = $('import-file').files[0];
  if (!file) { say('Choose a CSV file first', true); return; }
  const res = await api('/api/import', { method: 'POST', body: file, type: 'text/csv' });
  const errors = res.errors?.length ? ` Problems: ${res.errors.map(e => `line ${e.line}: ${e.error}`).join('; ')}` : '';
  $('import-result').textContent = `Imported ${res.added} messages, ${res.skipped} skipped.${errors}`;
  say(`Imported ${res.added} messages`);
  offset = 0;
  await show();
}
