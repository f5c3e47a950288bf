#!/bin/sh
# check_unigram.sh BUILD_DIR - Kanava's XLM-R style unigram tokenizer against
# python3-sentencepiece on a model trained here.
#
#   1. trains BUILD_DIR/hf-unigram/spm.model (train_spm.sh; skipped if it exists),
#   2. converts it to tokenizer.json in both layouts HF has written for XLM-R
#      (current: Precompiled+Strip+Replace / Metaspace; legacy: Precompiled /
#      WhitespaceSplit+Metaspace),
#   3. writes sentencepiece's ids for every SIB-200 (fi, en) and Banking77 text, the
#      edge cases and 3000 random strings (unigram_reference.py),
#   4. runs BUILD_DIR/tests/test_hf_unigram on them (built if missing) and prints
#      "N passed, M failed"; exits 1 on any mismatch.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
mkdir -p "$1"
BUILD=$(cd "$1" && pwd)
DIR=$BUILD/hf-unigram
BIN=$BUILD/tests/test_hf_unigram

if [ ! -f "$DIR/spm.model" ]; then
    "$ROOT/tools/hf/train_spm.sh" "$DIR" >/dev/null
fi
$PY "$ROOT/tools/hf/spm_to_tokenizer_json.py" "$DIR/spm.model" "$DIR/tokenizer.json" >/dev/null
$PY "$ROOT/tools/hf/spm_to_tokenizer_json.py" "$DIR/spm.model" "$DIR/tokenizer-legacy.json" --layout legacy >/dev/null
$PY "$ROOT/tools/hf/unigram_reference.py" "$DIR/spm.model" "$DIR/cases.jsonl"

if [ ! -x "$BIN" ]; then
    SAN=0
    case $(basename "$BUILD") in *san*) SAN=1 ;; esac
    make -C "$ROOT" -s SAN=$SAN BUILD="$BUILD" "$BIN"
fi

passed=0
failed=0
for layout in tokenizer tokenizer-legacy; do
    log=$DIR/$layout.log
    rc=0
    KANAVA_UNIGRAM_JSON=$DIR/$layout.json KANAVA_UNIGRAM_CASES=$DIR/cases.jsonl "$BIN" >"$log" 2>&1 || rc=$?
    counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
    if [ -z "$counts" ]; then
        echo "$layout.json: the test did not report counts (exit $rc); see $log" >&2
        exit 1
    fi
    echo "$layout.json: $counts; $(grep '^load ' "$log" || true)"
    [ "$rc" -eq 0 ] || grep -A4 -E 'mismatch|FAILED|error' "$log" | head -40 >&2
    passed=$((passed + ${counts%% *}))
    f=${counts#*, }
    failed=$((failed + ${f%% *}))
    [ "$rc" -eq 0 ] || [ "${f%% *}" -gt 0 ] || failed=$((failed + 1))   # another test failed
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
