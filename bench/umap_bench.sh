#!/usr/bin/env bash
# UMAP benchmark (`kanava map`, src/learn/umap.c): embeds the first N Banking77 training
# texts with the default model, times `kanava map` on them (wall seconds, neighbours
# included) and judges the layout with tools/learn/umap_check.py: trustworthiness (k = 10)
# against scikit-learn's PCA(2); the acceptance is >= 0.9, above PCA, within 15 s at 10,000.
#
# usage: bench/umap_bench.sh [--quick] [--scale] [--build DIR]
#   (default)  N = 10,000: builds, fetches the model, prints a Markdown result
#   --quick    N = 2,000, no build or fetch (tests/run.sh has done them): the check only
#   --scale    also times 20,000 and 100,000 points: the 13,080 real vectors (train rows
#              1-10,000 and the test set) plus jittered, re-normalised copies of them
#   --build    the build directory holding kanava (default build; build-san works too)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
QUICK=0 SCALE=0 BUILD=build
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --scale) SCALE=1 ;;
    --build) BUILD=$2; shift ;;
    *) echo "usage: $0 [--quick] [--scale] [--build DIR]" >&2; exit 2 ;;
    esac
    shift
done
PY=${KANAVA_PYTHON:-/usr/bin/python3}
export KANAVA_MODELS=${KANAVA_MODELS:-$ROOT/build/test-models}
DATA=${KANAVA_SHARED:-$ROOT/../shared}/datasets/banking77
N=10000
if [ $QUICK -eq 1 ]; then
    N=2000
else
    make -s -j2 all >/dev/null
    "$BUILD/kanava" model fetch use-lite >/dev/null 2>&1 || { echo "model fetch failed"; exit 1; }
fi
OUT=$BUILD/umap-bench/$N
mkdir -p "$OUT"

# The first N rows (CSV texts may span lines, so through the csv module).
"$PY" - "$DATA/train.csv" "$OUT/texts.csv" "$N" <<'PY'
import csv, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, newline="") as f:
    rows = list(csv.DictReader(f))[:n]
with open(dst, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["text", "category"])
    w.writerows([r["text"], r["category"]] for r in rows)
PY
"$BUILD/kanava" embed --column text --format npy --output "$OUT/vectors.npy" "$OUT/texts.csv" 2>/dev/null

# Wall seconds of one `kanava map` run.
time_map() { # vectors coords
    local t0 t1
    t0=$(date +%s.%N)
    "$BUILD/kanava" map --vectors "$1" --out "$2" 2>/dev/null
    t1=$(date +%s.%N)
    awk "BEGIN { printf \"%.2f\", $t1 - $t0 }"
}
secs=$(time_map "$OUT/vectors.npy" "$OUT/coords.csv")
status=0
"$PY" tools/learn/umap_check.py "$OUT/vectors.npy" "$OUT/coords.csv" --labels "$OUT/texts.csv" \
    --json "$OUT/check.json" >/dev/null || status=1

load=$(cut -d' ' -f1 /proc/loadavg)
"$PY" - "$OUT/check.json" "$secs" "$load" <<'PY'
import json, sys
r, secs, load = json.load(open(sys.argv[1])), float(sys.argv[2]), sys.argv[3]
print(f"| points | dim | `kanava map` wall s | trustworthiness (k=10) | PCA(2) trustworthiness | 10-NN topic accuracy 2-D / PCA / {r['dim']}-D |")
print("|---|---|---|---|---|---|")
print(f"| {r['n']:,} | {r['dim']} | {secs:.2f} | {r['trust_kanava']:.4f} | {r['trust_pca']:.4f} | "
      f"{r['knn10_label_acc_kanava']:.3f} / {r['knn10_label_acc_pca']:.3f} / {r['knn10_label_acc_original']:.3f} |")
print(f"\n(load average {load} when measured)")
PY
if [ $QUICK -eq 0 ] && awk "BEGIN { exit !($secs > 15) }"; then
    echo "FAIL: $secs s is over the 15 s budget"; status=1
fi

# Every vector format `kanava map` reads gives the same map; bad input is refused (exit 2).
"$PY" - "$OUT/vectors.npy" "$OUT" <<'PY'
import json, sys
import numpy as np
x, out = np.load(sys.argv[1])[:300], sys.argv[2]
np.save(f"{out}/small.npy", x)
x.astype("<f4").tofile(f"{out}/small.f32")
with open(f"{out}/small.tsv", "w") as f:
    f.writelines("\t".join(f"{v:.9g}" for v in row) + "\n" for row in x)
with open(f"{out}/small.jsonl", "w") as f:
    f.writelines(json.dumps({"embedding": [float(f"{v:.9g}") for v in row]}) + "\n" for row in x)
with open(f"{out}/bad.tsv", "w") as f:
    f.write("0.5\t0.25\n0.5\tnan\n0.125\t1\n")
np.save(f"{out}/bad.npy", x.astype(np.int32))
PY
formats_ok=1
for f in small.npy small.tsv small.jsonl "small.f32 --dim 512"; do
    # shellcheck disable=SC2086
    "$BUILD/kanava" map --vectors "$OUT"/$f --epochs 30 --out "$OUT/map-${f%% *}.csv" 2>/dev/null || formats_ok=0
    cmp -s "$OUT/map-small.npy.csv" "$OUT/map-${f%% *}.csv" || formats_ok=0
done
for bad in bad.tsv bad.npy missing.npy small.f32; do
    rc=0
    "$BUILD/kanava" map --vectors "$OUT/$bad" --out "$OUT/bad.csv" 2>"$OUT/bad.err" || rc=$?
    [ $rc -eq 2 ] || { echo "kanava map $bad: exit $rc, expected 2"; formats_ok=0; }
done
grep -q "bad.tsv:2: value 2 is not a finite float" <("$BUILD/kanava" map --vectors "$OUT/bad.tsv" 2>&1) || formats_ok=0
if [ $formats_ok -eq 1 ]; then echo "- vector formats: .npy, .tsv, .jsonl and .f32 give the same map; bad input exits 2"
else echo "FAIL: vector formats or input errors, see $OUT"; status=1; fi

if [ $SCALE -eq 1 ]; then
    "$BUILD/kanava" embed --column text --format npy --output "$OUT/test.npy" "$DATA/test.csv" 2>/dev/null
    "$PY" - "$OUT/vectors.npy" "$OUT/test.npy" "$OUT" <<'PY'
import sys
import numpy as np
x = np.concatenate([np.load(sys.argv[1]), np.load(sys.argv[2])]).astype(np.float32)
# Copies jittered by about one typical nearest-neighbour distance, then re-normalised.
s = x[:2000] @ x.T
s[np.arange(2000), np.arange(2000)] = -9
noise = np.median(np.sqrt(np.maximum(2 - 2 * s.max(1), 0))) / np.sqrt(x.shape[1])
rng = np.random.default_rng(0)
for m in (20000, 100000):
    parts, have = [x], len(x)
    while have < m:
        y = x + rng.normal(scale=noise, size=x.shape).astype(np.float32)
        parts.append(y / np.linalg.norm(y, axis=1, keepdims=True))
        have += len(y)
    np.save(f"{sys.argv[3]}/scale{m}.npy", np.concatenate(parts)[:m].astype(np.float32))
PY
    echo
    echo "| points (13,080 real + jittered copies) | \`kanava map\` wall s |"
    echo "|---|---|"
    for m in 20000 100000; do
        echo "| $m | $(time_map "$OUT/scale$m.npy" "$OUT/scale$m.csv") |"
    done
fi
exit $status
