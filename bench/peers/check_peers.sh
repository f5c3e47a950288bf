#!/usr/bin/env bash
# Self-check of the bench-methods accuracy peers (bench/peers/sklearn_tfidf.py,
# bench/peers/fasttext_peer.py with --setting default and tuned): runs each on one
# train/test split through the peer contract (PEER TRAIN.csv TEST.csv OUT_DIR) and prints
# the accuracy of OUT_DIR/predictions.csv against the test categories plus timing.json.
# First a contract test on a tiny hand-made CSV (quoted commas, quotes and newlines, a
# category with a space and a comma, a test text that is empty after preprocessing).
#
#   bench/peers/check_peers.sh [eng_Latn|fin_Latn|banking77]   (default eng_Latn)
#
# eng_Latn / fin_Latn: SIB-200 train (701) -> test (204), converted to CSV under /tmp;
# banking77: full train.csv (10,003) -> test.csv (3,080), takes a few minutes.
# Outputs stay in a /tmp directory (printed). Needs scripts/install-deps.sh --bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
DATA=../shared/datasets
which_set=${1:-eng_Latn}
case "$which_set" in eng_Latn|fin_Latn|banking77) ;; *) echo "usage: $0 [eng_Latn|fin_Latn|banking77]" >&2; exit 2 ;; esac
command -v fasttext >/dev/null || { echo "fasttext missing: run scripts/install-deps.sh --bench" >&2; exit 1; }

OUT=$(mktemp -d /tmp/kanava-check-peers.XXXXXX)
echo "outputs in $OUT"

# Accuracy of OUT/predictions.csv against TEST.csv; also checks the contract's shape.
score() { # TEST.csv OUT_DIR NAME
    "$PY" - "$@" <<'PYEOF'
import csv, json, sys
test, out, name = sys.argv[1:4]
with open(test, encoding="utf-8", newline="") as f:
    r = list(csv.reader(f, strict=True))
gold = [row[r[0].index("category")] for row in r[1:]]
with open(out + "/predictions.csv", encoding="utf-8", newline="") as f:
    p = list(csv.reader(f, strict=True))
assert p[0] == ["label", "confidence"], p[0]
p = p[1:]
assert len(p) == len(gold), "%d predictions for %d test rows" % (len(p), len(gold))
assert all(0.0 <= float(c) <= 1.0 for _, c in p), "confidence outside [0,1]"
t = json.load(open(out + "/timing.json"))
for k in ("train_seconds", "predict_seconds", "threads", "notes"):
    assert k in t, "timing.json lacks " + k
acc = 100.0 * sum(a == b for (a, _), b in zip(p, gold)) / len(gold)
print("%-18s accuracy %6.2f%% (%d rows)  train %7.3f s  predict %6.3f s  threads %d"
      % (name, acc, len(gold), t["train_seconds"], t["predict_seconds"], t["threads"]))
print("%-18s %s%s" % ("", ("blas: " + t["blas"] + "; ") if t.get("blas") else "", t["notes"]))
PYEOF
}

peers() { # TRAIN TEST TAG
    local tr=$1 te=$2 tag=$3
    "$PY" bench/peers/sklearn_tfidf.py "$tr" "$te" "$OUT/$tag-sklearn"
    score "$te" "$OUT/$tag-sklearn" sklearn-tfidf
    for s in default tuned; do
        "$PY" bench/peers/fasttext_peer.py "$tr" "$te" "$OUT/$tag-fasttext-$s" --setting "$s"
        score "$te" "$OUT/$tag-fasttext-$s" "fasttext-$s"
    done
}

# --- contract test on awkward CSV ---------------------------------------------------------
"$PY" - "$OUT" <<'PYEOF'
import csv, sys
out = sys.argv[1]
a, b = 'odd, "quoted" cat', "plain"
train = [("first line\nsecond, with comma", a), ('she said "hi", twice', a), ("A, B; C!", a),
         ("bank card lost", b), ("card stolen yesterday", b), ("where is my card", b),
         ("lost, stolen or gone", b)]
test = [("card lost", "?"), ("", "?"), (" \t\n \r\n ", "?"), ('"hi", she said\nagain', "?")]
for name, rows in (("tiny_train.csv", train), ("tiny_test.csv", test)):
    with open(out + "/" + name, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f); w.writerow(["text", "category"]); w.writerows(rows)
PYEOF
echo "== contract test (7 train rows, 4 test rows, 2 of them empty after preprocessing)"
peers "$OUT/tiny_train.csv" "$OUT/tiny_test.csv" tiny >/dev/null
"$PY" - "$OUT" <<'PYEOF'
import csv, sys
out = sys.argv[1]
cats = {'odd, "quoted" cat', "plain"}
for tag in ("sklearn", "fasttext-default", "fasttext-tuned"):
    with open("%s/tiny-%s/predictions.csv" % (out, tag), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert len(rows) == 4 and all(l in cats for l, _ in rows), (tag, rows)
    if tag.startswith("fasttext"):  # empty after preprocessing: most frequent label, confidence 0
        assert rows[1] == ["plain", "0"] and rows[2] == ["plain", "0"], (tag, rows)
    print("  %-17s ok: %s" % (tag, rows))
PYEOF

# --- the real split -------------------------------------------------------------------------
if [ "$which_set" = banking77 ]; then
    TR=$DATA/banking77/train.csv; TE=$DATA/banking77/test.csv
else
    for sp in train test; do
        "$PY" - "$DATA/sib200/$which_set/$sp.tsv" "$OUT/sib_$sp.csv" <<'PYEOF'
import csv, sys
with open(sys.argv[1], encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t", strict=True))  # fields are CSV-quoted
with open(sys.argv[2], "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f); w.writerow(["text", "category"])
    w.writerows((r["text"], r["category"]) for r in rows)
PYEOF
    done
    TR=$OUT/sib_train.csv; TE=$OUT/sib_test.csv
fi
echo "== $which_set: $TR -> $TE"
peers "$TR" "$TE" "$which_set"
echo "check_peers: ok"
