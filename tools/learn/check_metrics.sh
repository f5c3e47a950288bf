#!/usr/bin/env bash
# check_metrics.sh BUILD_DIR - Kanava's evaluation metrics (src/learn/metrics.c) against the
# independent Python reference (metrics_reference.py: sklearn.metrics, plus ECE and the
# automation rate written from their definitions) on deterministic evaluation sets: ties in
# confidence, out-of-scope rows, classes never predicted or never true, perfect and all-wrong
# predictions, n=1, bin-edge confidences, and input errors. Every number must agree within 1e-9.
# Needs BUILD_DIR/tests/test_metrics (make tests, or make SAN=1 tests for build-san).
# Generates BUILD_DIR/metrics/cases.jsonl; ends with "N passed, M failed".
# KANAVA_PYTHON: the reference interpreter (default /usr/bin/python3, with numpy and sklearn).
set -u
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${KANAVA_PYTHON:-/usr/bin/python3}
BIN="$1/tests/test_metrics"
[ -x "$BIN" ] || { echo "$BIN not found: run make tests first" >&2; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$1/metrics"
CASES="$1/metrics/cases.jsonl"
"$PY" "$HERE/metrics_reference.py" "$CASES" || { echo "reference failed"; echo "0 passed, 1 failed"; exit 1; }

out=$(KANAVA_METRICS_CASES="$CASES" "$BIN" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -v '^\[ *\(RUN\|OK\) *\]'
counts=$(printf '%s\n' "$out" | sed -n 's/.*reference cases: \([0-9]* passed, [0-9]* failed\).*/\1/p' | tail -n 1)
if [ -z "$counts" ]; then echo "0 passed, 1 failed"; exit 1; fi
echo "$counts"
[ $rc -eq 0 ]
