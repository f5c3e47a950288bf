#!/usr/bin/env bash
# check_wordpiece.sh BUILD_DIR - Kanava's WordPiece tokenizer against the Python reference
# on every SIB-200 and Banking77 text plus edge cases (see check_wordpiece.py). Needs
# BUILD_DIR/tests/test_wordpiece (make tests, or make SAN=1 tests for build-san).
# Generates into BUILD_DIR/hf-wordpiece/; ends with "N passed, M failed".
# KANAVA_PYTHON: the reference interpreter (default /usr/bin/python3, standard library only);
# KANAVA_WORDPIECE_PYTHONS: more interpreters to run the reference with, space-separated.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${KANAVA_PYTHON:-/usr/bin/python3}
args=(--python "$PY")
for p in ${KANAVA_WORDPIECE_PYTHONS:-}; do args+=(--python "$p"); done
exec "$PY" "$HERE/check_wordpiece.py" "$1" "${args[@]}"
