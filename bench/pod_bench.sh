#!/usr/bin/env bash
# The small pod of issue 8: `kanava serve --threads 1` pinned to one core (taskset) with the
# USE-lite model and a 100,000-message store, F32 and int8 bundles in the same run. wrk,
# pinned to the other core, routes messages by id (POST /api/messages/{id}/route, the
# service's call) with 8 connections; reported: requests/s, latency, the server's peak
# resident memory (VmHWM, startup included) against the 512 MiB budget, and how many texts
# the micro-batches held (/metrics).
# usage: bench/pod_bench.sh   (env: MESSAGES [100000], DURATION [30], CONNECTIONS [8])
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MESSAGES=${MESSAGES:-100000}
DURATION=${DURATION:-30}
CONNECTIONS=${CONNECTIONS:-8}
PORT=${PORT:-18180}
PY=/usr/bin/python3
export KANAVA_MODELS=${KANAVA_MODELS:-$ROOT/build/test-models}
if [ -z "${KANAVA_BIN:-}" ]; then
    scripts/install-deps.sh --bench >&2
    make -s -j2 all >&2
fi
KANAVA=${KANAVA_BIN:-$ROOT/build/kanava}
"$KANAVA" model fetch use-lite >/dev/null
OUT=$ROOT/build/pod-bench
WS=$OUT/ws
rm -rf "$OUT"
mkdir -p "$OUT"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; true' EXIT

echo "workspace with $MESSAGES messages..." >&2
"$KANAVA" init --workspace "$WS" >/dev/null
$PY - "$MESSAGES" "${KANAVA_SHARED:-$ROOT/../shared}/datasets/banking77" "$OUT/messages.csv" <<'PY'
import csv, sys
n, b77, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
texts = []
for part in ("train", "test"):
    with open(f"{b77}/{part}.csv", encoding="utf-8", newline="") as f:
        texts += [r["text"] for r in csv.DictReader(f)]
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["external_id", "language", "text"])
    for i in range(n):
        w.writerow([f"pod-{i + 1}", "en", texts[i % len(texts)]])
PY
"$KANAVA" import "$OUT/messages.csv" --workspace "$WS" --batch 5000 >&2
while IFS=, read -r name _; do
    [ "$name" = name ] && continue
    "$KANAVA" topic add "$name" --threshold 0.8 --automate --workspace "$WS" >/dev/null
done <data/demo/topics.csv
TOKEN=$("$KANAVA" token create --role service --name pod-service --workspace "$WS")
ADMIN=$("$KANAVA" token create --role admin --name pod-admin --workspace "$WS")
seq 1 "$MESSAGES" | shuf --random-source=<(yes) >"$OUT/ids.txt"
"$KANAVA" train --data data/demo/messages.csv --label-column topic --out "$OUT/f32" >"$OUT/train.log" 2>&1
"$KANAVA" train --quantize --data data/demo/messages.csv --label-column topic --out "$OUT/int8" >>"$OUT/train.log" 2>&1
echo "store: $(du -m "$WS/kanava.db" | cut -f1) MiB on disk" >&2

echo "| bundle | requests/s | p50 ms | p99 ms | errors | peak RSS MiB (VmHWM) | texts per batch |"
echo "|---|---|---|---|---|---|---|"
for bundle in f32 int8; do
    taskset -c 0 "$KANAVA" serve --workspace "$WS" --model "$OUT/$bundle" --port "$PORT" --threads 1 \
        --http-threads 4 2>"$OUT/serve-$bundle.log" &
    PID=$!
    for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    KANAVA_BENCH_TOKEN=$TOKEN KANAVA_BENCH_IDS=$OUT/ids.txt KANAVA_BENCH_OUT=$OUT/wrk-$bundle.json \
        taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/peers/serve_route.lua \
        "http://127.0.0.1:$PORT" >"$OUT/wrk-$bundle.txt"
    hwm=$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' /proc/"$PID"/status)
    curl -s -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$PORT/metrics" >"$OUT/metrics-$bundle.txt"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    $PY - "$bundle" "$OUT/wrk-$bundle.json" "$OUT/metrics-$bundle.txt" "$hwm" <<'PY'
import json, sys
name, wrk, metrics, hwm = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3], int(sys.argv[4])
m = {l.split()[0]: float(l.split()[1]) for l in open(metrics) if l and not l.startswith("#") and len(l.split()) == 2}
errors = sum(wrk["errors"].values())
per = m["kanava_model_batch_texts_total"] / max(m["kanava_model_batches_total"], 1)
lat = wrk["lat_ms"]
print(f"| {name} | {wrk['requests'] / wrk['duration_s']:.0f} | {lat['p50']:.1f} | {lat['p99']:.1f} | {errors} | "
      f"{hwm}{' (over 512!)' if hwm > 512 else ''} | {per:.2f} |")
PY
done
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); server on core 0, wrk on core 1"
