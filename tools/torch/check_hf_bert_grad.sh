#!/usr/bin/env bash
# check_hf_bert_grad.sh BUILD_DIR - BERT / XLM-R training forward/backward
# (src/model/hf_bert_train.c) against PyTorch autograd in float64 under SetFit's
# CosineSimilarityLoss on the tiny Hugging Face models, plus finite differences, the
# inference-forward equality and save -> reopen. Needs BUILD_DIR/tests/test_hf_bert_grad
# (make tests, or make SAN=1 tests for build-san) and /usr/bin/python3 with torch and numpy.
# Uses $KANAVA_HF_TINY when set (tests/run.sh), else generates BUILD_DIR/hf-tiny; writes the
# reference into BUILD_DIR/hf-bert-grad-ref/; ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$1
PY=${KANAVA_PYTHON:-/usr/bin/python3}
TEST="$BUILD/tests/test_hf_bert_grad"
[ -x "$TEST" ] || { echo "$TEST is missing (make tests)"; echo "0 passed, 1 failed"; exit 1; }
TINY=${KANAVA_HF_TINY:-$BUILD/hf-tiny}
if [ ! -f "$TINY/models.json" ]; then
    "$PY" "$ROOT/tools/hf/tiny_models.py" "$TINY" >/dev/null || {
        echo "tiny model generation failed"; echo "0 passed, 1 failed"; exit 1; }
fi
OUT="$BUILD/hf-bert-grad-ref"
rm -rf "$OUT"
if ! "$PY" "$HERE/hf_bert_grad_reference.py" "$OUT" "$TINY"; then
    echo "reference generation failed"; echo "0 passed, 1 failed"; exit 1
fi
log=$(KANAVA_HF_TINY="$TINY" KANAVA_BERT_GRAD_REF="$OUT" "$TEST" 2>&1)
rc=$?
echo "$log"
passed=$(grep -c '^\[       OK \]' <<<"$log")
failed=$(grep -c '^\[  FAILED  \] test_' <<<"$log")
skipped=$(grep -c '^\[  SKIPPED \] test_' <<<"$log")
# A crash or sanitizer abort ends the run before cmocka's summary; a skip is not a pass here.
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
failed=$((failed + skipped))
echo "$passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$skipped" -eq 0 ]
