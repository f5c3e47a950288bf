#!/usr/bin/env bash
# Banking77 few-shot accuracy of `kanava train` with USE-lite: --method frozen (embeddings
# as they are + the calibrated logistic-regression head) and --method setfit (contrastive
# fine-tuning first): k = 5, 10, 20 examples per topic drawn from train.csv with 5 seeds,
# and all of train.csv; evaluated on test.csv. Prints a Markdown table (mean and spread of
# accuracy, macro-F1, ECE, automation at 95 % precision, training time).
# usage: [METHODS="frozen setfit"] bench/banking77_fewshot.sh [SHOTS...]   (default: 5 10 20 all)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DATA=${KANAVA_SHARED:-$ROOT/../shared}/datasets/banking77
OUT=build/bench-banking77
mkdir -p "$OUT"
make -s -j2 all
build/kanava model fetch use-lite >/dev/null 2>&1 || build/kanava model fetch use-lite
SHOTS=${*:-5 10 20 all}
: > "$OUT/results.jsonl"
METHODS=${METHODS:-frozen setfit}
for method in $METHODS; do
for k in $SHOTS; do
    seeds="1 2 3 4 5"
    [ "$k" = all ] && seeds="1"
    for seed in $seeds; do
        /usr/bin/python3 - "$DATA/train.csv" "$OUT/train-$k-$seed.csv" "$k" "$seed" <<'PY'
import csv, random, sys
src, dst, k, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = list(csv.DictReader(open(src, newline="", encoding="utf-8")))
if k != "all":
    by = {}
    for r in rows:
        by.setdefault(r["category"], []).append(r)
    rng = random.Random(seed)
    rows = [r for cat in sorted(by) for r in rng.sample(by[cat], int(k))]
with open(dst, "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=["text", "category"])
    w.writeheader()
    w.writerows({"text": r["text"], "category": r["category"]} for r in rows)
PY
        start=$(date +%s.%N)
        build/kanava train --method "$method" --data "$OUT/train-$k-$seed.csv" --out "$OUT/model-$k-$seed" --seed "$seed" 2>/dev/null
        secs=$(/usr/bin/python3 -c "import time; print(round(time.time() - $start, 2))")
        build/kanava eval --model "$OUT/model-$k-$seed" --data "$DATA/test.csv" --json 2>/dev/null |
            /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin); print(json.dumps({'method':'$method','k':'$k','seed':$seed,'train_s':$secs,'accuracy':r['accuracy'],'macro_f1':r['macro_f1'],'ece':r['ece'],'auto95':r['automation']['0.95']['rate']}))" |
            tee -a "$OUT/results.jsonl"
        rm -rf "$OUT/model-$k-$seed"
    done
done
done
/usr/bin/python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| method | k per topic | runs | accuracy % | macro-F1 % | ECE | automation at 95 % precision | train s |")
print("|---|---|---|---|---|---|---|---|")
for m, k in dict.fromkeys((r.get("method", "frozen"), r["k"]) for r in rows):
    rs = [r for r in rows if r.get("method", "frozen") == m and r["k"] == k]
    def f(key, scale=100, digits=1):
        v = [r[key] * scale for r in rs]
        return f"{st.mean(v):.{digits}f} ± {st.pstdev(v):.{digits}f}" if len(v) > 1 else f"{v[0]:.{digits}f}"
    print(f"| {m} | {k} | {len(rs)} | {f('accuracy')} | {f('macro_f1')} | {f('ece', 1, 3)} | {f('auto95')} % | {st.mean(r['train_s'] for r in rs):.1f} |")
PY
