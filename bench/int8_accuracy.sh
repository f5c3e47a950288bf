#!/usr/bin/env bash
# Accuracy of int8 bundles against F32 ones on Banking77 (issue 8): frozen USE-lite trained
# on k = 10 messages per topic (3 seeded draws) and on all training data; each F32 bundle is
# compared with (a) `kanava train --quantize` (int8 encoder, head fitted on its embeddings)
# and (b) `kanava model quantize BUNDLE` (int8 encoder, the F32 head kept), on the whole
# test set. Prints a Markdown table; the target is |int8 - F32| <= 0.5 points.
# usage: bench/int8_accuracy.sh   (about 10 minutes on 2 cores)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export KANAVA_MODELS=${KANAVA_MODELS:-$ROOT/build/test-models}
DATA=${KANAVA_SHARED:-$ROOT/../shared}/datasets/banking77
K=${KANAVA_BIN:-build/kanava}
if [ -z "${KANAVA_BIN:-}" ]; then
    scripts/install-deps.sh --build-only >&2
    make -s -j2 all >&2
fi
"$K" model fetch use-lite >&2
OUT=build/bench-int8-accuracy
rm -rf "$OUT"
mkdir -p "$OUT"

# k messages per topic, seeded (Python's random: the draw is reproducible).
draw() { # seed k out
    /usr/bin/python3 - "$DATA/train.csv" "$1" "$2" "$3" <<'PY'
import csv, random, sys
path, seed, k, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = list(csv.DictReader(open(path, newline="")))
by = {}
for r in rows:
    by.setdefault(r["category"], []).append(r)
rng = random.Random(seed)
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["text", "category"], extrasaction="ignore")
    w.writeheader()
    for c in sorted(by):
        for r in rng.sample(by[c], min(k, len(by[c]))):
            w.writerow(r)
PY
}
accuracy() { "$K" eval --model "$1" --data "$DATA/test.csv" --json 2>/dev/null | jq -r '.accuracy'; }

echo "| training data | F32 | int8 (train --quantize) | int8 (model quantize, F32 head) | difference (a) | difference (b) |"
echo "|---|---|---|---|---|---|"
for setting in "k10:1" "k10:2" "k10:3" "all:0"; do
    name=${setting%%:*} seed=${setting##*:}
    train="$OUT/train-$name-$seed.csv"
    if [ "$name" = all ]; then cp "$DATA/train.csv" "$train"; else draw "$seed" 10 "$train"; fi
    "$K" train --data "$train" --out "$OUT/f32-$name-$seed" >"$OUT/log-$name-$seed.txt" 2>&1
    "$K" train --quantize --data "$train" --out "$OUT/int8-$name-$seed" >>"$OUT/log-$name-$seed.txt" 2>&1
    "$K" model quantize "$OUT/f32-$name-$seed" --out "$OUT/int8q-$name-$seed" >>"$OUT/log-$name-$seed.txt" 2>&1
    a=$(accuracy "$OUT/f32-$name-$seed") b=$(accuracy "$OUT/int8-$name-$seed") c=$(accuracy "$OUT/int8q-$name-$seed")
    /usr/bin/python3 -c "
a, b, c = $a, $b, $c
label = '$name' + (' (seed $seed)' if '$name' != 'all' else ' (10,003)')
print(f'| {label} | {100*a:.2f} | {100*b:.2f} | {100*c:.2f} | {100*(b-a):+.2f} | {100*(c-a):+.2f} |')"
done
ls -l "$OUT"/f32-all-0/encoder/model.safetensors "$OUT"/int8-all-0/encoder/model.safetensors | awk '{print "- " $NF ": " $5 " bytes"}'
