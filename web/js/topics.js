// topics.js - create and edit topics: the labelling guideline (description), whether the
// topic may be answered automatically and at what confidence, and its reply templates.
import { api, say, fail, el, pct } from './api.js';

const $ = (id) => document.getElementById(id);
let ctx = null;
let editing = null; // the topic's name, or null for a new one

export function init(c) {
  ctx = c;
  $('topic-form').addEventListener('submit', (ev) => { ev.preventDefault(); save().catch(fail); });
  $('topic-new').addEventListener('click', () => edit(null));
  $('topic-reply-save').addEventListener('click', () => saveReply().catch(fail));
}

export async function show() {
  const [topics, stats] = await Promise.all([ctx.refreshTopics(), ctx.refreshStats()]);
  const labelled = new Map(stats.topics.map(t => [t.name, t.labelled]));
  $('topics-rows').replaceChildren(...topics.map(t => el('tr', {},
    el('th', { scope: 'row' }, t.name, el('div', { class: 'hint' }, t.description || '')),
    el('td', {}, t.automatable ? 'when confident' : 'never'),
    el('td', { class: 'num' }, pct(t.threshold)),
    el('td', { class: 'num' }, labelled.get(t.name) ?? 0),
    el('td', {}, el('button', { type: 'button', 'aria-label': `Edit topic ${t.name}`, onclick: () => edit(t.name).catch(fail) }, 'Edit')))));
  if (!topics.length)
    $('topics-rows').append(el('tr', {}, el('td', { colspan: 5, class: 'hint' }, 'No topics yet: add the first one with the form.')));
}

async function edit(name) {
  editing = name;
  $('topic-form-title').textContent = name ? `Edit ${name}` : 'New topic';
  $('topic-name').readOnly = !!name;
  if (!name) {
    $('topic-name').value = ''; $('topic-description').value = '';
    $('topic-automatable').checked = false; $('topic-threshold').value = '0.9';
    $('topic-languages').textContent = 'Save the topic first.';
    $('topic-name').focus();
    return;
  }
  const t = await api('/api/topics/' + encodeURIComponent(name));
  $('topic-name').value = t.name;
  $('topic-description').value = t.description || '';
  $('topic-automatable').checked = t.automatable;
  $('topic-threshold').value = t.threshold;
  $('topic-languages').textContent = t.reply_languages?.length
    ? 'Replies in: ' + t.reply_languages.join(', ') + '. Saving a language replaces its reply.'
    : 'No replies yet: an automatic answer needs one in the message\'s language.';
  $('topic-description').focus();
}

async function save() {
  const name = $('topic-name').value.trim();
  const threshold = Number($('topic-threshold').value);
  if (!/^[A-Za-z0-9_-]+$/.test(name)) { say('A topic name is letters, digits, _ and -', true); return; }
  if (!(threshold >= 0 && threshold <= 1)) { say('The threshold is a number from 0 to 1', true); return; }
  const description = $('topic-description').value.trim() || null;
  await api('/api/topics/' + encodeURIComponent(name), { method: 'PUT',
    json: { description, automatable: $('topic-automatable').checked, threshold } });
  say(`Topic ${name} saved`);
  await show();
  await edit(name);
}

async function saveReply() {
  const name = editing || $('topic-name').value.trim();
  const lang = $('topic-reply-lang').value.trim();
  const text = $('topic-reply-text').value.trim();
  if (!name) { say('Save the topic first', true); return; }
  if (!lang || !text) { say('A reply needs a language and a text', true); return; }
  await api(`/api/topics/${encodeURIComponent(name)}/replies/${encodeURIComponent(lang)}`, { method: 'PUT', json: { text } });
  $('topic-reply-text').value = '';
  say(`Reply of ${name} in ${lang} saved`);
  await edit(name);
}
