// app.js - the shell: sign-in, the left navigation (one view per #hash), and what the views
// share (who is signed in, the topics, the stats).
import { api, setToken, token, say, fail, el } from './api.js';
import * as overview from './overview.js';
import * as annotate from './annotate.js';
import * as map from './map.js';
import * as topics from './topics.js';
import * as models from './models.js';
import * as inbox from './inbox.js';

const views = { overview, annotate, map, topics, models, inbox };

// Shared state, refreshed by the views that change it.
export const ctx = {
  me: null,
  topics: [],
  stats: null,
  async refreshTopics() { this.topics = (await api('/api/topics')).topics; return this.topics; },
  async refreshStats() { this.stats = await api('/api/stats'); return this.stats; },
};

const $ = (id) => document.getElementById(id);
let current = null;

async function show(name) {
  if (!views[name]) name = 'overview';
  for (const n of Object.keys(views)) $('view-' + n).hidden = n !== name;
  for (const a of document.querySelectorAll('.sidenav a'))
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  if (current && current !== name) views[current].hide?.(ctx);
  current = name;
  document.title = 'Kanava – ' + $('view-' + name).querySelector('h1').textContent;
  try { await views[name].show(ctx); } catch (e) { fail(e); }
}

async function signIn(t) {
  const me = await api('/api/me', { token: t });
  setToken(t);
  ctx.me = me;
  $('whoami').textContent = `Signed in as ${me.name} (${me.role})`;
  $('login').hidden = true;
  $('app').hidden = false;
  await ctx.refreshTopics().catch(() => { ctx.topics = []; });
  await show(location.hash.slice(1));
}

function signOut(message) {
  setToken(null);
  ctx.me = null;
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('login-token').value = '';
  $('login-token').focus();
}

function start() {
  for (const v of Object.values(views)) v.init?.(ctx);
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = $('login-token').value.trim();
    $('login-error').textContent = '';
    try { await signIn(t); say('Signed in'); }
    catch (e) { $('login-error').textContent = e.status === 401 ? 'That token is not valid (revoked, or mistyped).' : e.message; }
  });
  $('logout').addEventListener('click', () => signOut('Signed out.'));
  window.addEventListener('kanava-unauthorized', () => signOut('Your token is no longer accepted: sign in again.'));
  window.addEventListener('hashchange', () => { if (ctx.me) { show(location.hash.slice(1)); $('main').focus(); } });
  const saved = token();
  if (saved) signIn(saved).catch(() => signOut());
  else signOut();
}

start();
