#!/bin/sh
# train_spm.sh OUT_DIR - trains a SentencePiece unigram model (8000 pieces, spm's default
# nmt_nfkc normalization) on the Finnish and English SIB-200 texts, as OUT_DIR/spm.model.
#
# Deterministic: one thread, no sentence sampling or shuffling, a fixed seed, and paths
# given relative to OUT_DIR (the model records its training flags), so the same inputs
# give a byte-identical model.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)

/usr/bin/python3 "$HERE/unigram_datasets.py" corpus "$OUT/corpus.txt"
cd "$OUT"
spm_train --input=corpus.txt --model_prefix=spm --model_type=unigram --vocab_size=8000 \
    --character_coverage=0.9995 --input_sentence_size=1000000 --shuffle_input_sentence=false \
    --seed_sentencepiece_size=1000000 --num_threads=1 --random_seed=1 --minloglevel=1
echo "$OUT/spm.model"
