// Speed peer: Universal Sentence Encoder lite on TensorFlow.js 4.22.0.
//
//   node bench/peers/tfjs_embed.mjs [BANKING77_TEST_CSV] [--backend wasm|cpu]
//        [--threads N] [--batch N] [--lat-n N] [--limit N] [--model-dir DIR]
//
// Needs tools/tfjs/install.sh to have run. Default input:
// ../shared/datasets/banking77/test.csv relative to the project root.
//
// Measures, tokenization included:
//   sent_per_s  all texts in batches of --batch (32), after one warm-up batch
//   lat_p50_ms / lat_p99_ms  one text per call over --lat-n (300) texts spread
//               evenly over the set, after 10 warm-up calls
//   peak_rss_mib  process.resourceUsage().maxRSS at the end
// and prints one JSON line on stdout (TF.js notices go to stderr).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import {
  tf, requireFromTools, takeOption, defaultModelDir, loadModel,
  loadVocabulary, makeTokenizer, embedIds,
} from '../../tools/tfjs/use_lite.mjs';
import { readDataset } from '../../tools/tfjs/datasets.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

function percentile(sorted, p) {
  // Nearest-rank percentile of an ascending array.
  const k = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[k - 1];
}

const round = (x, d) => Number(x.toFixed(d));

async function main() {
  let argv = process.argv.slice(2);
  let backend, threads, batch, latN, limit, modelDir;
  [backend, argv] = takeOption(argv, '--backend');
  [threads, argv] = takeOption(argv, '--threads');
  [batch, argv] = takeOption(argv, '--batch');
  [latN, argv] = takeOption(argv, '--lat-n');
  [limit, argv] = takeOption(argv, '--limit');
  [modelDir, argv] = takeOption(argv, '--model-dir');
  const flags = argv.filter((a) => a.startsWith('--'));
  if (flags.length || argv.length > 1) {
    throw new Error(`unexpected arguments: ${argv.join(' ')}`);
  }
  const csv = argv[0] ??
    path.resolve(ROOT, '..', 'shared', 'datasets', 'banking77', 'test.csv');
  backend ??= 'wasm';
  threads = Number(threads ?? 2);
  batch = Number(batch ?? 32);
  latN = Number(latN ?? 300);
  modelDir ??= defaultModelDir();

  let texts = readDataset(csv);
  if (limit) texts = texts.slice(0, Number(limit));
  const n = texts.length;

  let threadsUsed = 1;
  let simd = false;
  if (backend === 'wasm') {
    const wasm = requireFromTools('@tensorflow/tfjs-backend-wasm');
    // Only takes effect in the multi-threaded build; TF.js 4.22 reports no
    // thread support under Node, so the single-threaded SIMD build loads.
    wasm.setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed');
    await tf.ready();
    threadsUsed = wasm.getThreadsCount();
    simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  } else if (backend === 'cpu') {
    requireFromTools('@tensorflow/tfjs-backend-cpu');
    if (!(await tf.setBackend('cpu'))) throw new Error('cpu backend failed');
    await tf.ready();
  } else {
    throw new Error(`unknown backend ${backend}`);
  }

  const model = await loadModel(modelDir);
  const tokenizer = makeTokenizer(loadVocabulary(modelDir));

  const embedTexts = async (chunk) => {
    const { rows } = await embedIds(model, chunk.map((t) => tokenizer.encode(t)));
    if (rows !== chunk.length) {
      throw new Error(`got ${rows} rows for ${chunk.length} texts`);
    }
  };

  // (a) Throughput.
  await embedTexts(texts.slice(0, batch));
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    await embedTexts(texts.slice(i, i + batch));
  }
  const sentPerS = n / ((performance.now() - t0) / 1000);

  // (b) Batch-1 latency.
  for (let i = 0; i < Math.min(10, n); i++) await embedTexts([texts[i]]);
  const m = Math.min(latN, n);
  const lat = [];
  for (let i = 0; i < m; i++) {
    const text = texts[Math.floor(i * n / m)];
    const s = performance.now();
    await embedTexts([text]);
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);

  // (c) Peak RSS (maxRSS is in KiB).
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;

  console.log(JSON.stringify({
    peer: `tfjs-${backend}`,
    threads: threadsUsed,
    simd,
    n,
    batch,
    sent_per_s: round(sentPerS, 1),
    lat_p50_ms: round(percentile(lat, 50), 2),
    lat_p99_ms: round(percentile(lat, 99), 2),
    peak_rss_mib: round(peakRssMiB, 1),
  }));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
