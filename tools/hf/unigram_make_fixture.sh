#!/bin/sh
# unigram_make_fixture.sh - regenerates the committed fixture of tests/test_hf_unigram.c
# (tests/fixtures/hf_unigram/) from its corpus.txt and rules.tsv:
#   spm.model, tokenizer.json, cases.jsonl   a 200-piece model trained by spm_train with a
#                                            small custom normalization rule set (so the
#                                            charsmap stays tiny), converted, and
#                                            python3-sentencepiece's ids for the edge cases
#                                            and 300 random strings;
#   crafted.model, crafted.json, crafted_cases.jsonl
#                                            the hand-made tie/rounding model.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FX=$ROOT/tests/fixtures/hf_unigram
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Relative paths: the model records its training flags, so this keeps it byte-identical.
cp "$FX/corpus.txt" "$FX/rules.tsv" "$TMP/"
(cd "$TMP" && spm_train --input=corpus.txt --model_prefix=spm --model_type=unigram \
    --vocab_size=200 --hard_vocab_limit=false --character_coverage=1.0 \
    --normalization_rule_tsv=rules.tsv --input_sentence_size=1000000 \
    --shuffle_input_sentence=false --num_threads=1 --minloglevel=1)
cp "$TMP/spm.model" "$FX/spm.model"
$PY "$ROOT/tools/hf/spm_to_tokenizer_json.py" "$FX/spm.model" "$FX/tokenizer.json"
$PY "$ROOT/tools/hf/unigram_reference.py" "$FX/spm.model" "$FX/cases.jsonl" \
    --sets edge,random --random 300 --max-chars 2000

$PY "$ROOT/tools/hf/unigram_crafted_model.py" "$FX/crafted.model"
$PY "$ROOT/tools/hf/spm_to_tokenizer_json.py" "$FX/crafted.model" "$FX/crafted.json"
$PY "$ROOT/tools/hf/unigram_reference.py" "$FX/crafted.model" "$FX/crafted_cases.jsonl" --sets crafted
du -ch "$FX"/* | tail -1
