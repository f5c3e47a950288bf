#!/usr/bin/env bash
# Micro-batching and the small-pod settings of `kanava serve`: an int8 USE-lite bundle
# (train --quantize) served with one compute thread and eight connection threads; requests
# that arrive together are predicted in shared batches (/metrics counts batches and texts)
# and get the same probabilities as when they come one at a time.
# Usage: tests/serve_batch_test.sh BUILD_DIR  (needs curl, jq and $KANAVA_MODELS/use-lite)
set -u
BUILD="$1"
BIN="$BUILD/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# ok/bad/check, test_summary, $TMP and $PID cleaned at exit, build_fixture, start_kanava_server
. "$ROOT/tests/lib.sh"
test_tmp_dir

WS="$TMP/ws"
mkdir -p "$WS"
build_fixture "$BUILD" "$TMP/fixture" || { echo "serve-batch: cannot build the fixture"; exit 1; }
TOKEN=$("$TMP/fixture" "$WS/kanava.db" service test-service)

"$BIN" train --method frozen --quantize --data "$ROOT/data/demo/messages.csv" --label-column topic --out "$TMP/model" \
    >"$TMP/train.log" 2>&1
check "an int8 bundle trains (train --quantize)" [ -f "$TMP/model/bundle.json" ]
check "its encoder records the quantisation" jq -e '.quantization.weights == "int8"' "$TMP/model/encoder/config.json" >/dev/null
check "its metadata says so" jq -e '.training.quantized == "int8"' "$TMP/model/bundle.json" >/dev/null

LOG="$TMP/server.log"
if ! start_kanava_server "$LOG" --workspace "$WS" --model "$TMP/model" --threads 1 --http-threads 8; then
    bad "server starts"; cat "$LOG"; test_summary serve-batch; exit 1
fi

# 16 different texts from the demo messages, as JSON bodies.
tail -n +2 "$ROOT/data/demo/messages.csv" | cut -d, -f2 | tr -d '"' | head -n 16 >"$TMP/texts"
i=0
while IFS= read -r text; do
    jq -nc --arg t "$text" '{text: $t}' >"$TMP/req.$i"
    i=$((i + 1))
done <"$TMP/texts"
N=$i
classify() { # i -> writes $TMP/<prefix>.i
    curl -s -o "$TMP/$2.$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data-binary @"$TMP/req.$1" "$URL/api/classify"
}
for i in $(seq 0 $((N - 1))); do classify "$i" one; done
metric() { curl -s -H "Authorization: Bearer $ADMIN" "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
ADMIN=$("$TMP/fixture" "$WS/kanava.db" admin test-admin)
b1=$(metric kanava_model_batches_total)
t1=$(metric kanava_model_batch_texts_total)
check "one at a time: one batch per text ($b1 batches, $t1 texts)" [ "$b1" = "$N" -a "$t1" = "$N" ]

# The same texts 8 times over from one curl with 16 transfers in flight at once.
: >"$TMP/parallel.cfg"
for r in 1 2 3 4 5 6 7 8; do
    for i in $(seq 0 $((N - 1))); do
        printf 'url = "%s/api/classify"\ndata-binary = "@%s/req.%d"\noutput = "%s/together.%d"\n' \
            "$URL" "$TMP" "$i" "$TMP" "$i" >>"$TMP/parallel.cfg"
        printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
            "$TOKEN" >>"$TMP/parallel.cfg"
    done
done
sed -i '$ d' "$TMP/parallel.cfg" # no empty transfer after the last "next"
curl -s -S --no-progress-meter --parallel --parallel-max 16 -K "$TMP/parallel.cfg" >"$TMP/statuses"
check "all $((8 * N)) concurrent requests answered 200" [ "$(tr -d "\r" <"$TMP/statuses" | grep -c "^200$")" = $((8 * N)) ]
b2=$(metric kanava_model_batches_total)
t2=$(metric kanava_model_batch_texts_total)
check "together: $((t2 - t1)) texts in $((b2 - b1)) batches (some shared)" [ $((t2 - t1)) -eq $((8 * N)) -a $((b2 - b1)) -lt $((t2 - t1)) ]

same=1
for i in $(seq 0 $((N - 1))); do
    jq -e --slurpfile b "$TMP/together.$i" '.topic == $b[0].topic and ((.probability - $b[0].probability) | fabs) < 1e-4' \
        "$TMP/one.$i" >/dev/null || { same=0; echo "text $i: $(cat "$TMP/one.$i") vs $(cat "$TMP/together.$i")"; }
done
check "batched answers equal the one-at-a-time answers (probability within 1e-4)" [ "$same" = 1 ]
check "the log never shows message text" bash -c "! grep -qiF \"\$(head -n 1 '$TMP/texts')\" '$LOG'"

kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
test_summary serve-batch
