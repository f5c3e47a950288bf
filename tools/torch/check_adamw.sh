#!/usr/bin/env bash
# check_adamw.sh BUILD_DIR - AdamW with the linear warm-up schedule (src/learn/adamw.c)
# against torch.optim.AdamW + LambdaLR step by step. Needs BUILD_DIR/tests/test_adamw
# (make tests, or make SAN=1 tests for build-san) and /usr/bin/python3 with torch and numpy.
# Generates into BUILD_DIR/adamw-ref/; ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$1
PY=${KANAVA_PYTHON:-/usr/bin/python3}
TEST="$BUILD/tests/test_adamw"
[ -x "$TEST" ] || { echo "$TEST is missing (make tests)"; echo "0 passed, 1 failed"; exit 1; }
OUT="$BUILD/adamw-ref"
rm -rf "$OUT"
if ! "$PY" "$HERE/adamw_reference.py" "$OUT"; then
    echo "reference generation failed"; echo "0 passed, 1 failed"; exit 1
fi
log=$(KANAVA_ADAMW_REF="$OUT" "$TEST" 2>&1)
rc=$?
echo "$log"
passed=$(grep -c '^\[       OK \]' <<<"$log")
failed=$(grep -c '^\[  FAILED  \] test_' <<<"$log")
# A crash or sanitizer abort ends the run before cmocka's summary.
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$rc" -eq 0 ]
