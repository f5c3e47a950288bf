// ui_test.mjs - the web UI end to end in headless Chromium, as a new user would use it, in
// the order of issue 7's acceptance: sign in, import the demo messages, add a topic, label
// ten messages with the keyboard only, compute the map before any model exists (the base
// encoder's), lasso a cluster and label it (and undo), train, read the dashboard and move the
// threshold slider, activate, route, find the routed messages in the inbox, and map again
// with the active model.
// Every view gets an axe-core check (no "serious" or "critical" violation) and a screenshot.
// The numbers the page shows are checked against the API (read here directly with the same
// token) and against the demo file's own labels.
//
// Usage: node ui_test.mjs   (tests/ui/run.sh sets KANAVA_URL, KANAVA_TOKEN, KANAVA_ROOT,
// ARTIFACTS and CHROMIUM and starts the server)
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const URL_ = process.env.KANAVA_URL;
const TOKEN = process.env.KANAVA_TOKEN;
const ROOT = process.env.KANAVA_ROOT;
const ARTIFACTS = process.env.ARTIFACTS;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DEMO_CSV = path.join(ROOT, 'data/demo/messages.csv');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
mkdirSync(ARTIFACTS, { recursive: true });

// ---- small harness ----------------------------------------------------------------------
let passed = 0, failed = 0;
function check(name, cond, detail = '') {
  if (cond) { passed++; console.log(`ok - ${name}`); }
  else { failed++; console.log(`FAIL - ${name}${detail ? ': ' + detail : ''}`); }
  return cond;
}
class Abort extends Error {}
function must(name, cond, detail) { if (!check(name, cond, detail)) throw new Abort(name); }

async function api(p, opts = {}) {
  const res = await fetch(URL_ + p, { method: opts.method || 'GET',
    headers: { Authorization: 'Bearer ' + TOKEN, ...(opts.json ? { 'Content-Type': 'application/json' } : {}) },
    body: opts.json ? JSON.stringify(opts.json) : undefined });
  const text = await res.text();
  if (!res.ok) throw new Error(`${p}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// The demo file: id,text,topic with RFC 4180 quoting (no line breaks inside fields).
function parseCsvLine(line) {
  const out = []; let f = '', q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) { if (c === '"') { if (line[i + 1] === '"') { f += '"'; i++; } else q = false; } else f += c; }
    else if (c === '"') q = true; else if (c === ',') { out.push(f); f = ''; } else f += c;
  }
  out.push(f);
  return out;
}
const demo = readFileSync(DEMO_CSV, 'utf8').split(/\r?\n/).slice(1).filter(Boolean).map(parseCsvLine);
const truth = new Map(demo.map(([, text, topic]) => [text, topic])); // text -> topic

// Point in polygon (even-odd), the reference for what a lasso must select.
function inside(x, y, poly) {
  let r = false;
  for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    const [xa, ya] = poly[a], [xb, yb] = poly[b];
    if ((ya > y) !== (yb > y) && x < (xb - xa) * (y - ya) / (yb - ya) + xa) r = !r;
  }
  return r;
}
function convexHull(pts) {
  const p = [...pts].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [], upper = [];
  for (const q of p) { while (lower.length >= 2 && cross(lower.at(-2), lower.at(-1), q) <= 0) lower.pop(); lower.push(q); }
  for (const q of p.reverse()) { while (upper.length >= 2 && cross(upper.at(-2), upper.at(-1), q) <= 0) upper.pop(); upper.push(q); }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

// ---- the browser --------------------------------------------------------------------------
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
                                        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const page = await (await browser.newContext({ viewport: { width: 1400, height: 950 } })).newPage();
page.setDefaultTimeout(15000);
const pageErrors = [], foreign = [];
page.on('pageerror', e => pageErrors.push(e.message));
page.on('console', m => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text()); });
page.on('request', r => { if (!r.url().startsWith(URL_) && !r.url().startsWith('data:')) foreign.push(r.url()); });

const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });
const status = () => page.locator('#status');

async function axe(view) {
  // Through the DevTools protocol, so the page's Content-Security-Policy stays as served.
  await page.evaluate(AXE_SOURCE + ';0');
  const bad = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
      .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
  });
  check(`axe: no serious or critical violations on ${view}`, bad.length === 0, bad.join('; '));
}

async function go(view) {
  await page.click(`.sidenav a[data-view="${view}"]`);
  await page.waitForSelector(`#view-${view}:not([hidden])`);
}

// Trains with the frozen method from the Train view; the new model's id, its dashboard open.
async function train() {
  await page.selectOption('#train-method', 'frozen');
  const prev = await page.textContent('#train-stage');
  await page.click('#train-start');
  await page.waitForFunction((p) => { const t = document.getElementById('train-stage').textContent; return t !== p && /^Model \d+ trained/.test(t); },
                             prev, { timeout: 120000 });
  const id = Number((await page.textContent('#train-stage')).match(/Model (\d+)/)[1]);
  await page.waitForFunction((id) => document.getElementById('dash-title').textContent.startsWith(`Model ${id} `), id);
  await page.waitForSelector('#dashboard:not([hidden]) #dash-curve polyline', { state: 'attached' });
  check(`training model ${id} from the page registers it`, (await api('/api/models')).models.some(m => m.id === id));
  return id;
}

async function run() {
  // --- static assets and headers
  const index = await fetch(URL_ + '/');
  must('GET / serves the app', index.status === 200 && /text\/html/.test(index.headers.get('content-type')));
  check('the app is served with a Content-Security-Policy of this origin only',
        index.headers.get('content-security-policy') === "default-src 'self'");
  const js = await fetch(URL_ + '/ui/js/app.js');
  check('scripts are served as JavaScript', js.status === 200 && /text\/javascript/.test(js.headers.get('content-type')));
  check('an unknown asset is 404', (await fetch(URL_ + '/ui/nope.js')).status === 404);
  const etag = js.headers.get('etag');
  check('a reload with the ETag costs a 304', etag && (await fetch(URL_ + '/ui/js/app.js', { headers: { 'If-None-Match': etag } })).status === 304);
  check('assets are read-only (POST is 405)', (await fetch(URL_ + '/ui/app.css', { method: 'POST' })).status === 405);
  check('assets need no token, the API does', (await fetch(URL_ + '/api/stats')).status === 401);

  // --- sign in
  await page.goto(URL_ + '/');
  await page.waitForSelector('#login:not([hidden])');
  await shot('01-login');
  await axe('the sign-in page');
  await page.fill('#login-token', 'not-a-token');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  check('a wrong token is refused with a message', /not valid/.test(await page.textContent('#login-error')));
  await page.fill('#login-token', TOKEN);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app:not([hidden])');
  const me = await api('/api/me');
  check('the top bar shows who is signed in (GET /api/me)',
        (await page.textContent('#whoami')) === `Signed in as ${me.name} (${me.role})`, await page.textContent('#whoami'));
  check('the token is kept in sessionStorage', await page.evaluate(() => sessionStorage.getItem('kanava.token')) === TOKEN);

  // --- import the demo messages through the inbox
  await go('inbox');
  await page.setInputFiles('#import-file', DEMO_CSV);
  await page.click('#import-form button[type=submit]');
  await page.waitForFunction(() => /^Imported/.test(document.getElementById('import-result').textContent));
  check('the import reports every demo message added',
        (await page.textContent('#import-result')).startsWith(`Imported ${demo.length} messages, 0 skipped`),
        await page.textContent('#import-result'));
  const stats0 = await api('/api/stats');
  check('the server has the demo messages', stats0.messages === demo.length, `${stats0.messages}`);
  await page.waitForFunction((n) => document.getElementById('inbox-total').textContent === `1–${Math.min(50, n)} of ${n}`, demo.length);
  check('the inbox lists them', (await page.locator('#inbox-rows tr').count()) === Math.min(50, demo.length));

  // --- overview
  await go('overview');
  await page.waitForSelector('#overview-cards .card');
  check('the overview counts the messages', (await page.textContent('#overview-cards')).includes(`${demo.length}messages`));
  await shot('02-overview');
  await axe('the overview');

  // --- topics: the demo topics are there (CLI in run.sh); add one with the form
  await go('topics');
  await page.waitForSelector('#topics-rows tr');
  const topics0 = (await api('/api/topics')).topics;
  check('the topics table lists every topic', (await page.locator('#topics-rows tr').count()) === topics0.length);
  await page.fill('#topic-name', 'ui_feedback');
  await page.fill('#topic-description', 'Praise or complaints about the app itself.');
  await page.check('#topic-automatable');
  await page.fill('#topic-threshold', '0.85');
  await page.click('#topic-form button[type=submit]');
  await page.waitForSelector('#topics-rows th:has-text("ui_feedback")');
  await page.fill('#topic-reply-lang', 'en');
  await page.fill('#topic-reply-text', 'Thank you for the feedback: we pass it on to the app team.');
  await page.click('#topic-reply-save');
  await page.waitForFunction(() => /Replies in: en/.test(document.getElementById('topic-languages').textContent));
  const created = await api('/api/topics/ui_feedback');
  check('the topic form creates the topic with its settings and reply',
        created.automatable === true && Math.abs(created.threshold - 0.85) < 1e-6 &&
        created.description === 'Praise or complaints about the app itself.' && created.reply_languages.includes('en'),
        JSON.stringify(created));
  await shot('03-topics');
  await axe('the topics view');

  // --- annotate ten messages with the keyboard only: Tab to the nav link, Enter, then keys
  await page.evaluate(() => document.activeElement?.blur()); // from the top of the page
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.dataset?.view === 'annotate');
  }
  must('the Annotate link is reachable with Tab', reached);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-annotate:not([hidden]) #annotate-topics button');
  await page.waitForFunction(() => /^Message #/.test(document.getElementById('annotate-meta').textContent));
  // "Most uncertain first" (with no model yet: by id), picked with the keyboard too.
  await page.keyboard.press('Tab');
  check('Tab from the view lands on the order picker', await page.evaluate(() => document.activeElement.id) === 'annotate-order');
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => document.getElementById('annotate-order').value === 'uncertain');
  await page.keyboard.press('Tab');
  await page.waitForFunction(() => /^Message #1( |$)/.test(document.getElementById('annotate-meta').textContent));
  await shot('04-annotate');
  await axe('the annotate view');
  const keyOf = async (topic) => page.textContent(`#annotate-topics button[data-topic="${topic}"] kbd`);
  const current = async () => ({ meta: await page.textContent('#annotate-meta'), text: await page.textContent('#annotate-text') });
  const waitChange = (meta) => page.waitForFunction((m) => document.getElementById('annotate-meta').textContent !== m, meta);
  const labelled = new Map(); // message id -> topic
  // Skip one (s), label one and undo it (u), then label ten.
  let cur = await current();
  await page.keyboard.press('s');
  await waitChange(cur.meta);
  const afterSkip = await current();
  check('s skips to another message', afterSkip.meta !== cur.meta);
  cur = afterSkip;
  await page.keyboard.press(await keyOf(truth.get(cur.text)));
  await waitChange(cur.meta);
  await page.keyboard.press('u');
  await page.waitForFunction((m) => document.getElementById('annotate-meta').textContent === m, cur.meta);
  const undoneId = Number(cur.meta.match(/#(\d+)/)[1]);
  check('u undoes the last label (the message is back and has no annotation)',
        (await api(`/api/messages/${undoneId}/annotations`)).annotations.length === 0);
  for (let k = 0; k < 10; k++) {
    cur = await current();
    const topic = truth.get(cur.text);
    must(`message ${k + 1} is a demo message`, topic !== undefined, cur.text);
    await page.keyboard.press(await keyOf(topic));
    await waitChange(cur.meta);
    labelled.set(Number(cur.meta.match(/#(\d+)/)[1]), topic);
  }
  await page.waitForFunction(() => /10 labelled in this session/.test(document.getElementById('annotate-count').textContent));
  const stats1 = await api('/api/stats');
  check('ten messages are labelled on the server', stats1.labelled === 10, `${stats1.labelled}`);
  let right = 0, byName = 0;
  for (const [id, topic] of labelled) {
    const a = (await api(`/api/messages/${id}/annotations`)).annotations;
    if (a.length === 1 && a[0].topic === topic) right++;
    if (a.length === 1 && a[0].annotator === me.name) byName++;
  }
  check('each keyboard label is stored with the topic pressed', right === 10, `${right}/10`);
  check("each label records the signed-in user's name as annotator", byName === 10, `${byName}/10`);
  const bars = await page.textContent('#annotate-progress');
  check('the progress bars show the counts per topic', stats1.topics.every(t => bars.includes(t.name + t.labelled)));

  // --- the map before any model exists (the base encoder's): compute it, lasso the largest
  // cluster, label it, undo, label again
  check('there is no model yet', (await api('/api/stats')).active_model == null && (await api('/api/models')).models.length === 0);
  await go('map');
  await page.click('#map-compute');
  await page.waitForFunction(() => /^\d+ messages/.test(document.getElementById('map-stage').textContent), null, { timeout: 120000 });
  check('the map shows every message', (await page.textContent('#map-stage')).startsWith(`${demo.length} messages`));
  check("the page says it is the base encoder's map", /base encoder/.test(await page.textContent('#map-stage')), await page.textContent('#map-stage'));
  const mapData = await api('/api/map');
  check('the server answers the base map: every message, the ten labels, no predictions',
        mapData.base === true && mapData.model_id === null && mapData.points.length === demo.length &&
        mapData.points.filter(p => p.label !== null).length === 10 &&
        mapData.points.every(p => p.prediction === null && p.probability === null &&
                                  (p.label === null || p.label === labelled.get(p.id))));
  const byCluster = new Map();
  for (const p of mapData.points) byCluster.set(p.cluster, [...(byCluster.get(p.cluster) || []), p]);
  const allIds = mapData.points.map(p => p.id);
  const screen = await page.evaluate((ids) => window.kanavaMap.project(ids), allIds);
  const box = await page.locator('#map-canvas').boundingBox();
  const at = new Map(allIds.map((id, i) => [id, screen[i]]));
  // A lasso around a cluster: its convex hull on screen, pushed 10 px outwards; what it must
  // select, and the selection's most common true topic.
  const lassoAround = (cluster) => {
    const hull = convexHull(cluster.map(p => at.get(p.id)));
    const cxm = hull.reduce((s, p) => s + p[0], 0) / hull.length, cym = hull.reduce((s, p) => s + p[1], 0) / hull.length;
    const poly = hull.map(([x, y]) => { const d = Math.hypot(x - cxm, y - cym) || 1; return [x + 10 * (x - cxm) / d, y + 10 * (y - cym) / d]; });
    if (poly.length < 3) poly.splice(0, poly.length, [cxm - 15, cym - 15], [cxm + 15, cym - 15], [cxm + 15, cym + 15], [cxm - 15, cym + 15]);
    const expected = allIds.filter(id => inside(...at.get(id), poly));
    const counts = new Map();
    for (const id of expected) { const t = truth.get(demo[id - 1][1]); counts.set(t, (counts.get(t) || 0) + 1); }
    return { poly, expected, major: [...counts].sort((a, b) => b[1] - a[1])[0][0] };
  };
  // The largest cluster whose labelling still leaves two topics with two labels each (the
  // bulk label replaces the keyboard labels inside it, and training needs two such topics).
  const trainableAfter = ({ expected, major }) => {
    const latest = new Map(labelled);
    for (const id of expected) latest.set(id, major);
    const perTopic = new Map();
    for (const t of latest.values()) perTopic.set(t, (perTopic.get(t) || 0) + 1);
    return [...perTopic.values()].filter(c => c >= 2).length >= 2;
  };
  const lassos = [...byCluster.values()].sort((a, b) => b.length - a.length).map(lassoAround);
  const { poly, expected, major } = lassos.find(trainableAfter) ?? lassos[0];
  await page.keyboard.down('Shift');
  await page.mouse.move(box.x + poly[0][0], box.y + poly[0][1]);
  await page.mouse.down();
  for (const [x, y] of [...poly.slice(1), poly[0]]) await page.mouse.move(box.x + x, box.y + y, { steps: 4 });
  await page.mouse.up();
  await page.keyboard.up('Shift');
  await page.waitForFunction(() => /selected/.test(document.getElementById('map-selection-count').textContent));
  check('the lasso selects exactly the points inside it',
        (await page.textContent('#map-selection-count')).startsWith(`${expected.length} selected`),
        `${await page.textContent('#map-selection-count')} / expected ${expected.length}`);
  await page.waitForFunction((n) => document.querySelectorAll('#map-selection-list li').length === n, Math.min(200, expected.length));
  const listed = await page.locator('#map-selection-list li').allTextContents();
  const expTexts = new Set(expected.map(id => demo[id - 1]?.[1]));
  check('the selected texts are listed beside the map', listed.length === expected.length && listed.every(t => [...expTexts].some(x => t.startsWith(x))));
  await shot('05-map-selection');
  await page.selectOption('#map-topic', major);
  await page.click('#map-label');
  await page.waitForFunction((n) => document.getElementById('status').textContent.startsWith(`Labelled ${n} messages`), expected.length);
  const annotatedAfterBulk = async () => {
    let n = 0;
    for (const id of expected) { const a = (await api(`/api/messages/${id}/annotations`)).annotations; if (a.some(x => x.topic === major)) n++; }
    return n;
  };
  check('"Label selection" labels every selected message', (await annotatedAfterBulk()) === expected.length);
  await page.click('#map-undo');
  await page.waitForFunction((n) => document.getElementById('status').textContent === `Removed ${n} labels`, expected.length);
  check('undo removes the bulk labels', (await api('/api/stats')).labelled === 10);
  await page.click('#map-label');
  await page.waitForFunction((n) => document.getElementById('status').textContent.startsWith(`Labelled ${n} messages`), expected.length);
  // Keyword highlight: the count is the server's own.
  await page.fill('#map-q', 'card');
  await page.click('#map-filter button[type=submit]');
  await page.waitForFunction(() => /contain/.test(document.getElementById('map-matches').textContent));
  const cardTotal = demo.filter(([, text]) => text.toLowerCase().includes('card')).length;
  check('the keyword filter counts the matching messages', (await page.textContent('#map-matches')).startsWith(`${cardTotal} messages`),
        await page.textContent('#map-matches'));
  await page.click('input[name="map-colour"][value="prediction"]');
  await shot('06-map');
  await axe('the map view');

  // --- train (frozen), the dashboard, the slider
  const trainable = (await api('/api/stats')).topics.filter(t => t.labelled >= 2).length;
  must('at least two topics have two labels (training needs them)', trainable >= 2, `${trainable}`);
  await go('models');
  const modelId = await train();
  const model = await api('/api/models/' + modelId);
  const m = model.metrics;
  const cards = await page.textContent('#dash-cards');
  check('the dashboard shows the accuracy', cards.includes((100 * m.accuracy).toFixed(1) + ' %accuracy'), cards);
  check('the per-topic table has a row per evaluated topic', (await page.locator('#dash-topics tr').count()) === m.per_topic.length);
  check('the confusion matrix has a cell per pair of topics',
        (await page.locator('#dash-confusion svg rect').count()) === m.confusion.topics.length ** 2);
  const confText = await page.textContent('#dash-confusion svg');
  check('the confusion matrix is labelled with the topics', m.confusion.topics.every(t => confText.includes(t)));
  // The slider, by keyboard: Home (threshold 0) and then End (1); the text follows the curve.
  const pointAt = (t) => m.curve.filter(p => p.threshold >= t - 1e-9).sort((a, b) => a.threshold - b.threshold)[0];
  const before = await page.textContent('#dash-threshold-result');
  await page.focus('#dash-threshold');
  await page.keyboard.press('Home');
  const atZero = await page.textContent('#dash-threshold-result');
  const p0 = pointAt(0);
  check('moving the threshold slider changes the numbers shown', atZero !== before, `${before} | ${atZero}`);
  check('at threshold 0 the page shows the curve point: every held-out message answered',
        atZero.includes(`${p0.answered} of ${m.n_eval} held-out messages`) && atZero.includes(`precision ${(100 * p0.precision).toFixed(1)} %`) &&
        p0.answered === m.n_eval, atZero);
  for (let i = 0; i < 50; i++) await page.keyboard.press('ArrowRight');
  const atHalf = await page.textContent('#dash-threshold-result');
  const pH = pointAt(0.5);
  check('at threshold 0.50 the page shows the curve point at 0.50',
        pH ? atHalf.includes(`${pH.answered} of ${m.n_eval} held-out`) && atHalf.includes(`precision ${(100 * pH.precision).toFixed(1)} %`)
           : /no held-out message/.test(atHalf), atHalf);
  await shot('07-dashboard');
  await axe('the dashboard');

  // --- activate, route new messages, the inbox
  const newBefore = (await api('/api/messages?status=new&limit=1')).total;
  check('the new model is not active before activation', (await page.textContent('#dash-title')) === `Model ${modelId} (frozen)`);
  await page.click('#dash-activate');
  await page.waitForFunction((id) => document.getElementById('dash-title').textContent === `Model ${id} (frozen) – active`, modelId);
  check('the model is active on the server', (await api('/api/stats')).active_model === modelId);
  await page.click('#dash-route');
  await page.waitForFunction(() => /^Routed/.test(document.getElementById('dash-route-result').textContent), null, { timeout: 120000 });
  const stats2 = await api('/api/stats');
  const routed = stats2.decisions.auto_reply + stats2.decisions.human;
  check('routing decides every new message', routed === newBefore, `${routed} of ${newBefore}`);
  check('the page reports the routing counts',
        (await page.textContent('#dash-route-result')) ===
        `Routed ${routed} messages: ${stats2.decisions.auto_reply} answered automatically, ${stats2.decisions.human} for a person.`,
        await page.textContent('#dash-route-result'));
  await go('inbox');
  await page.selectOption('#inbox-decision', 'human');
  await page.waitForFunction((n) => document.getElementById('inbox-total').textContent.endsWith(`of ${n}`) || (n === 0 && document.getElementById('inbox-total').textContent === 'No messages'), stats2.decisions.human);
  const humanRows = await page.locator('#inbox-rows tr').allTextContents();
  check('the inbox filtered to "for a person" shows those messages', humanRows.length === Math.min(50, stats2.decisions.human) &&
        humanRows.every(t => t.includes('for a person')), `${humanRows.length}`);
  await page.selectOption('#inbox-decision', 'any');
  await page.waitForFunction((n) => document.getElementById('inbox-total').textContent.endsWith(`of ${n}`), demo.length);
  const firstRow = await page.textContent('#inbox-rows tr:first-child');
  check('the inbox shows the newest message first with its decision', firstRow.startsWith(String(demo.length)) &&
        /(answered automatically|for a person)/.test(firstRow), firstRow);
  await shot('08-inbox');
  await axe('the inbox');

  // --- the map again, now with the active model: its own points and predictions
  await go('map');
  await page.click('#map-compute');
  await page.waitForFunction((id) => document.getElementById('map-stage').textContent.endsWith(`messages (model ${id})`),
                             modelId, { timeout: 120000 });
  const modelMap = await api('/api/map');
  check("after activation the map is the active model's, with its predictions",
        modelMap.model_id === modelId && modelMap.base === false && modelMap.points.length === demo.length &&
        modelMap.points.every(p => typeof p.prediction === 'string' && p.probability > 0 && p.probability <= 1),
        `model ${modelMap.model_id}, base ${modelMap.base}`);
  check('the page shows as many points as the server has', (await page.textContent('#map-stage')).startsWith(`${modelMap.points.length} messages (model ${modelId})`));
}

// 20,000 points on the map (GET /api/map answered here with synthetic blobs): frames stay
// short while zooming and panning, and a lasso over thousands of points selects at once.
async function bigMap() {
  const N = 20000, topics = (await api('/api/topics')).topics.map(t => t.name);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const points = Array.from({ length: N }, (_, i) => {
    const b = i % 12, ang = 2 * Math.PI * b / 12;
    return { id: i + 1, x: 10 * Math.cos(ang) + 2 * (rnd() - 0.5) * 2, y: 10 * Math.sin(ang) + 2 * (rnd() - 0.5) * 2,
             cluster: b, label: rnd() < 0.3 ? topics[b % topics.length] : null, prediction: topics[b % topics.length], probability: rnd() };
  });
  const p2 = await (await browser.newContext({ viewport: { width: 1400, height: 950 } })).newPage();
  p2.on('pageerror', e => pageErrors.push('20k page: ' + e.message));
  await p2.route(/\/api\/map$/, (route) => route.request().method() === 'GET'
    ? route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ model_id: 0, points }) })
    : route.continue());
  await p2.route(/\/api\/messages\?ids=/, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '{"total":0,"messages":[]}' }));
  await p2.goto(URL_ + '/#map');
  await p2.fill('#login-token', TOKEN);
  await p2.click('#login-form button[type=submit]');
  await p2.waitForFunction((n) => document.getElementById('map-stage').textContent.startsWith(`${n} messages`), N);
  const box = await p2.locator('#map-canvas').boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  await p2.mouse.move(cx, cy);
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) { await p2.mouse.wheel(0, i < 5 ? -120 : 120); await p2.waitForTimeout(20); }
  await p2.mouse.down(); await p2.mouse.move(cx + 80, cy + 40, { steps: 10 }); await p2.mouse.up();
  await p2.waitForTimeout(100);
  const times = (await p2.evaluate(() => window.kanavaMap.drawTimes())).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)], worst = times.at(-1);
  console.log(`# 20,000 points: ${times.length} frames in ${Date.now() - t0} ms of interaction, draw median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`);
  check('20,000 points draw in under 50 ms a frame (median)', median < 50, `${median}`);
  // A lasso around the right half of the canvas.
  const poly = [[box.width / 2, 5], [box.width - 5, 5], [box.width - 5, box.height - 5], [box.width / 2, box.height - 5]];
  const ids = points.map(p => p.id);
  const screen = await p2.evaluate((ids) => window.kanavaMap.project(ids), ids);
  const expected = screen.filter(([x, y]) => inside(x, y, poly)).length;
  await p2.keyboard.down('Shift');
  await p2.mouse.move(box.x + poly[0][0], box.y + poly[0][1]);
  await p2.mouse.down();
  const l0 = Date.now();
  for (const [x, y] of [...poly.slice(1), poly[0]]) await p2.mouse.move(box.x + x, box.y + y, { steps: 3 });
  await p2.mouse.up();
  await p2.keyboard.up('Shift');
  await p2.waitForFunction(() => /selected/.test(document.getElementById('map-selection-count').textContent));
  console.log(`# lasso over 20,000 points: ${expected} selected, ${Date.now() - l0} ms from the first move to the count shown`);
  check('a lasso over 20,000 points selects exactly those inside it',
        (await p2.textContent('#map-selection-count')).startsWith(`${expected} selected`), await p2.textContent('#map-selection-count'));
  await p2.screenshot({ path: path.join(ARTIFACTS, '09-map-20000.png') });
  await p2.context().close();
}

try { await run(); await bigMap(); }
catch (e) {
  if (!(e instanceof Abort)) check('the UI test runs to the end', false, e.stack || String(e));
  await shot('failure').catch(() => {});
}
check('no script error in the page', pageErrors.length === 0, pageErrors.join(' | '));
check('the page fetched nothing from other origins', foreign.length === 0, foreign.join(' '));
await browser.close();
console.log(`ui: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
