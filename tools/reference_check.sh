#!/usr/bin/env bash
# reference_check.sh BUILD_DIR NAME REFERENCE_SCRIPT ENV_VAR - the shared body of the
# reference checks: generate BUILD_DIR/NAME-ref with the Python reference, run the cmocka
# test BUILD_DIR/tests/test_NAME with ENV_VAR pointing at it, and end with
# "N passed, M failed" (a crash or sanitizer abort counts as a failure).
set -u
[ $# -eq 4 ] || { echo "usage: $0 BUILD_DIR NAME REFERENCE_SCRIPT ENV_VAR" >&2; exit 2; }
BUILD=$1 NAME=$2 SCRIPT=$3 VAR=$4
PY=${KANAVA_PYTHON:-/usr/bin/python3}
TEST="$BUILD/tests/test_$NAME"
[ -x "$TEST" ] || { echo "$TEST is missing (make tests)"; echo "0 passed, 1 failed"; exit 1; }
OUT="$BUILD/$NAME-ref"
rm -rf "$OUT"
if ! "$PY" "$SCRIPT" "$OUT"; then
    echo "reference generation failed"; echo "0 passed, 1 failed"; exit 1
fi
log=$(env "$VAR=$OUT" "$TEST" 2>&1)
rc=$?
echo "$log"
passed=$(grep -c '^\[       OK \]' <<<"$log")
# cmocka names a failed test twice (where it fails and in the summary): count names once
failed=$(grep '^\[  FAILED  \] test_' <<<"$log" | sort -u | wc -l)
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$rc" -eq 0 ]
