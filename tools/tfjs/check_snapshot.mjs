// Reproduce the published USE-lite snapshot with the TF.js CPU backend.
//
//   node tools/tfjs/check_snapshot.mjs [--snapshot FILE] [--model-dir DIR]
//
// The snapshot (a vitest .snap file) holds the full vectors of
// ["the fox jumped over the lazy dog", "lorem ipsum"] embedded as one batch,
// and the first component of "hello world". We compare both the batched call
// (as the snapshot was made) and one-text-at-a-time calls (as the fixture is
// made). Exit status 1 if any difference exceeds 1e-5.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  tf, REPO_ROOT, takeOption, defaultModelDir, loadModel, loadVocabulary,
  makeTokenizer, embedIds, embedOne, EMBED_DIM,
} from './use_lite.mjs';
import '@tensorflow/tfjs-backend-cpu';

const TOL = 1e-5;
const PAIR = ['the fox jumped over the lazy dog', 'lorem ipsum'];

// Extract `exports[`name`] = `body`;` entries from a vitest snapshot file.
function parseSnapshot(text) {
  const out = new Map();
  const re = /exports\[`([^`]*)`\]\s*=\s*`([^`]*)`;/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    out.set(m[1], JSON.parse(m[2].trim().replace(/,(\s*\])/g, '$1')));
  }
  return out;
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

async function main() {
  let argv = process.argv.slice(2);
  let snapPath, modelDir;
  [snapPath, argv] = takeOption(argv, '--snapshot');
  [modelDir, argv] = takeOption(argv, '--model-dir');
  snapPath ??= path.resolve(REPO_ROOT, '..', 'shared', 'reference',
    'use-lite-snapshot.txt');
  modelDir ??= defaultModelDir();

  const snap = parseSnapshot(readFileSync(snapPath, 'utf8'));
  const pairRef = snap.get('compute embedding for array of text 1');
  const helloRef = snap.get('compute embedding for text 1');
  if (!Array.isArray(pairRef) || pairRef.length !== 2 ||
      pairRef.some((r) => r.length !== EMBED_DIM) ||
      typeof helloRef !== 'number') {
    throw new Error(`unexpected snapshot layout in ${snapPath}`);
  }

  await tf.setBackend('cpu');
  await tf.ready();
  const model = await loadModel(modelDir);
  const tok = makeTokenizer(loadVocabulary(modelDir));

  const results = [];
  // Batched, exactly as the snapshot test embedded them.
  const batched = await embedIds(model, PAIR.map((t) => tok.encode(t)));
  for (let r = 0; r < 2; r++) {
    results.push([`batch2 "${PAIR[r]}"`, maxAbsDiff(
      batched.data.subarray(r * EMBED_DIM, (r + 1) * EMBED_DIM), pairRef[r])]);
  }
  // One text per call, as in the fixture.
  for (let r = 0; r < 2; r++) {
    const { vec } = await embedOne(model, tok, PAIR[r]);
    results.push([`batch1 "${PAIR[r]}"`, maxAbsDiff(vec, pairRef[r])]);
  }
  const hello = await embedOne(model, tok, 'hello world');
  results.push(['batch1 "hello world"[0]', Math.abs(hello.vec[0] - helloRef)]);

  let worst = 0;
  for (const [name, d] of results) {
    console.log(`${name.padEnd(48)} max_abs_diff=${d.toExponential(3)}`);
    worst = Math.max(worst, d);
  }
  const ok = worst <= TOL;
  console.log(`max_abs_diff=${worst.toExponential(3)} tol=${TOL} ` +
    (ok ? 'OK' : 'FAIL'));
  process.exitCode = ok ? 0 : 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
