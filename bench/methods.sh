#!/usr/bin/env bash
# methods.sh - every Kanava method beside scikit-learn (TF-IDF + logistic regression) and
# Debian's fastText (defaults and a tuned setting), on the same few-shot splits, through
# `kanava bench-methods`. Writes build/bench-methods/<dataset>.md, .json and -k<K>.svg.
# usage: [METHODS=frozen,setfit,tfidf,bm25,bm25-topic] [SHOTS=5,10,20,all] [SEEDS=5] [BACKLOG=rest]
#        [PEERS=0] [OUT=${OUT:-build/bench-methods}] bench/methods.sh [DATASET...]
#   BACKLOG=rest: each draw's undrawn training texts are the backlog of the methods that use one
#   (tfidf, hybrid, hybrid-setfit, auto); PEERS=0 skips the peers
#   DATASET: banking77, sib200-eng, sib200-fin (default: all three)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SHARED=${KANAVA_SHARED:-$ROOT/../shared}/datasets
OUT=${OUT:-build/bench-methods}
mkdir -p "$OUT"
scripts/install-deps.sh --bench >/dev/null
# KANAVA_BIN: a kanava binary to measure instead of building build/kanava
BIN=${KANAVA_BIN:-build/kanava}
[ -n "${KANAVA_BIN:-}" ] || make -s -j2 all
"$BIN" model fetch use-lite >/dev/null 2>&1 || "$BIN" model fetch use-lite
PY=/usr/bin/python3
DATASETS=${*:-banking77 sib200-eng sib200-fin}
for ds in $DATASETS; do
    case $ds in
    banking77) train=$SHARED/banking77/train.csv; test=$SHARED/banking77/test.csv; title="Banking77 (English, 77 topics)" ;;
    sib200-eng) train=$SHARED/sib200/eng_Latn/train.tsv; test=$SHARED/sib200/eng_Latn/test.tsv; title="SIB-200 English (7 topics)" ;;
    sib200-fin) train=$SHARED/sib200/fin_Latn/train.tsv; test=$SHARED/sib200/fin_Latn/test.tsv; title="SIB-200 Finnish (7 topics)" ;;
    *) echo "unknown dataset $ds" >&2; exit 2 ;;
    esac
    echo "== $title" >&2
    peers=(--peer "sklearn-tfidf=$PY bench/peers/sklearn_tfidf.py --threads 2"
           --peer "fasttext-default=$PY bench/peers/fasttext_peer.py --setting default --threads 2"
           --peer "fasttext-tuned=$PY bench/peers/fasttext_peer.py --setting tuned --threads 2")
    [ "${PEERS:-1}" = 0 ] && peers=()
    "$BIN" bench-methods --data "$train" --test "$test" --title "$title" --out "$OUT/$ds" \
        --methods "${METHODS:-frozen,setfit,tfidf,bm25,bm25-topic}" --shots "${SHOTS:-5,10,20,all}" --seeds "${SEEDS:-5}" \
        --threads 2 --backlog "${BACKLOG:-none}" "${peers[@]}"
    cat "$OUT/$ds.md"
done
