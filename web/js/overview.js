// overview.js - the workspace at a glance: messages, labels, routing decisions, topics.
import { el, pct } from './api.js';

const $ = (id) => document.getElementById(id);

function card(label, value) { return el('div', { class: 'card' }, el('span', { class: 'num' }, value), label); }

export async function show(ctx) {
  const s = await ctx.refreshStats();
  $('overview-cards').replaceChildren(
    card('messages', s.messages), card('labelled', s.labelled), card('unlabelled', s.unlabelled),
    card('answered automatically', s.decisions?.auto_reply ?? 0), card('for a person', s.decisions?.human ?? 0),
    card('active model', s.active_model ?? 'none'));
  $('overview-topics').replaceChildren(progressBars(s));
}

// One bar per topic: labelled messages, relative to the largest topic.
export function progressBars(stats) {
  const top = Math.max(1, ...stats.topics.map(t => t.labelled));
  const box = el('div');
  if (!stats.topics.length) box.append(el('p', { class: 'hint' }, 'No topics yet: create them under Topics.'));
  for (const t of stats.topics) {
    const fill = el('div', { class: 'fill' });
    fill.style.width = (100 * t.labelled / top).toFixed(1) + '%';
    box.append(el('div', { class: 'bar', title: `${t.name}: ${t.labelled} labelled` },
      el('span', { class: 'name' }, t.name),
      el('div', { class: 'track', role: 'img', 'aria-label': `${t.name}: ${t.labelled} labelled, ${t.automatable ? 'automatable at ' + pct(t.threshold) : 'never automated'}` }, fill),
      el('span', { class: 'num' }, t.labelled)));
  }
  return box;
}
