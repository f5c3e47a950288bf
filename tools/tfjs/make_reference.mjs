// Write the USE-lite reference fixture (tests/fixtures/use_lite/) with the
// TensorFlow.js CPU backend, one text per graph call.
//
//   node tools/tfjs/make_reference.mjs [--cases FILE] [--out DIR]
//        [--datasets DIR] [--model-dir DIR]
//
// Without --cases, the built-in selection is used (see defaultCases below).
// --cases FILE is a JSONL list in the fixture's own shape without "ids":
//   {"source": "banking77/test.csv", "row": 17}
//   {"source": "edge", "name": "emoji", "text": "..."}
//
// Outputs (written atomically):
//   cases.jsonl     one JSON object per case, in order, with "ids" added
//   embeddings.f32  N x 512 little-endian float32, row i = case i

import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  tf, REPO_ROOT, takeOption, defaultModelDir, loadModel, loadVocabulary,
  makeTokenizer, embedOne, EMBED_DIM,
} from './use_lite.mjs';
import { EDGE_CASES } from './edge_cases.mjs';
import { readDataset } from './datasets.mjs';
import '@tensorflow/tfjs-backend-cpu';

const BANKING = 'banking77/test.csv';
const SIB_ENG = 'sib200/eng_Latn/test.tsv';
const SIB_FIN = 'sib200/fin_Latn/test.tsv';

// k rows evenly spaced over n rows: floor(i * n / k), i = 0..k-1.
function evenly(n, k) {
  const rows = [];
  for (let i = 0; i < Math.min(n, k); i++) rows.push(Math.floor(i * n / k));
  return rows;
}

// The built-in selection: 200 evenly spaced Banking77 test rows, plus every
// Banking77 test row whose text holds a line break (they exercise the CSV
// reader of the C test), then 150 evenly spaced SIB-200 test rows in English
// and the same rows in Finnish, then the hand-written edge cases.
function defaultCases(datasets) {
  const cases = [];
  const banking = datasets(BANKING);
  const picked = new Set(evenly(banking.length, 200));
  banking.forEach((t, i) => { if (/[\r\n]/.test(t)) picked.add(i); });
  for (const row of [...picked].sort((a, b) => a - b)) {
    cases.push({ source: BANKING, row });
  }
  for (const src of [SIB_ENG, SIB_FIN]) {
    for (const row of evenly(datasets(src).length, 150)) {
      cases.push({ source: src, row });
    }
  }
  for (const { name, text } of EDGE_CASES) {
    cases.push({ source: 'edge', name, text });
  }
  return cases;
}

function readCaseList(file) {
  return readFileSync(file, 'utf8').split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

// JSON with ", " and ": " separators; strings as JSON.stringify writes them
// (raw UTF-8, control characters escaped).
function formatLine(obj) {
  const parts = Object.entries(obj).map(([k, v]) => {
    const val = Array.isArray(v) ? '[' + v.join(', ') + ']' : JSON.stringify(v);
    return `${JSON.stringify(k)}: ${val}`;
  });
  return '{' + parts.join(', ') + '}';
}

function writeAtomic(file, data) {
  const tmp = file + '.tmp';
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

async function main() {
  let argv = process.argv.slice(2);
  let casesFile, outDir, dataDir, modelDir;
  [casesFile, argv] = takeOption(argv, '--cases');
  [outDir, argv] = takeOption(argv, '--out');
  [dataDir, argv] = takeOption(argv, '--datasets');
  [modelDir, argv] = takeOption(argv, '--model-dir');
  if (argv.length) throw new Error(`unknown arguments: ${argv.join(' ')}`);
  outDir ??= path.join(REPO_ROOT, 'tests', 'fixtures', 'use_lite');
  dataDir ??= path.resolve(REPO_ROOT, '..', 'shared', 'datasets');
  modelDir ??= defaultModelDir();

  const cache = new Map();
  const datasets = (src) => {
    if (!cache.has(src)) cache.set(src, readDataset(path.join(dataDir, src)));
    return cache.get(src);
  };
  const cases = casesFile ? readCaseList(casesFile) : defaultCases(datasets);

  await tf.setBackend('cpu');
  await tf.ready();
  const model = await loadModel(modelDir);
  const tokenizer = makeTokenizer(loadVocabulary(modelDir));

  const lines = [];
  const emb = Buffer.alloc(cases.length * EMBED_DIM * 4);
  const seen = new Set();
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    let text, line;
    if (c.source === 'edge') {
      if (typeof c.name !== 'string' || typeof c.text !== 'string') {
        throw new Error(`case ${i}: edge case needs name and text`);
      }
      if (/[\r\n]/.test(c.text)) throw new Error(`edge ${c.name}: line break`);
      if (!c.text.isWellFormed()) throw new Error(`edge ${c.name}: lone surrogate`);
      if (seen.has(c.name)) throw new Error(`edge ${c.name}: duplicate name`);
      seen.add(c.name);
      text = c.text;
      line = { source: 'edge', name: c.name, text };
    } else {
      const rows = datasets(c.source);
      if (!Number.isInteger(c.row) || c.row < 0 || c.row >= rows.length) {
        throw new Error(`case ${i}: row ${c.row} outside ${c.source}`);
      }
      text = rows[c.row];
      line = { source: c.source, row: c.row };
    }
    const { ids, vec, note } = await embedOne(model, tokenizer, text);
    line.ids = ids;
    if (note ?? c.note) line.note = note ?? c.note;
    lines.push(formatLine(line));
    for (let j = 0; j < EMBED_DIM; j++) {
      emb.writeFloatLE(vec[j], (i * EMBED_DIM + j) * 4);
    }
  }

  mkdirSync(outDir, { recursive: true });
  writeAtomic(path.join(outDir, 'cases.jsonl'), lines.join('\n') + '\n');
  writeAtomic(path.join(outDir, 'embeddings.f32'), emb);
  const count = (p) => cases.filter(p).length;
  console.log(`wrote ${cases.length} cases to ${outDir}: ` +
    `${count((c) => c.source === BANKING)} banking77, ` +
    `${count((c) => c.source === SIB_ENG)} sib200 eng, ` +
    `${count((c) => c.source === SIB_FIN)} sib200 fin, ` +
    `${count((c) => c.source === 'edge')} edge`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
