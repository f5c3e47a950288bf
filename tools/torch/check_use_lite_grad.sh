#!/usr/bin/env bash
# check_use_lite_grad.sh BUILD_DIR - USE-lite training forward/backward
# (src/model/use_lite_train.c) against PyTorch autograd in float64 under SetFit's
# CosineSimilarityLoss, plus finite differences and the inference-forward equality.
# Needs BUILD_DIR/tests/test_use_lite_grad (make tests, or make SAN=1 tests for build-san),
# $KANAVA_MODELS/use-lite and /usr/bin/python3 with torch and numpy. Generates into
# BUILD_DIR/use-lite-grad-ref/; ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$1
PY=${KANAVA_PYTHON:-/usr/bin/python3}
TEST="$BUILD/tests/test_use_lite_grad"
[ -x "$TEST" ] || { echo "$TEST is missing (make tests)"; echo "0 passed, 1 failed"; exit 1; }
MODEL="${KANAVA_MODELS:-}/use-lite"
[ -n "${KANAVA_MODELS:-}" ] && [ -f "$MODEL/config.json" ] || {
    echo "KANAVA_MODELS/use-lite is missing"; echo "0 passed, 1 failed"; exit 1; }
OUT="$BUILD/use-lite-grad-ref"
rm -rf "$OUT"
if ! "$PY" "$HERE/use_lite_grad_reference.py" "$OUT" "$MODEL"; then
    echo "reference generation failed"; echo "0 passed, 1 failed"; exit 1
fi
log=$(KANAVA_USE_GRAD_REF="$OUT" "$TEST" 2>&1)
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
