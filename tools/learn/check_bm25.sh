#!/usr/bin/env bash
# check_bm25.sh BUILD_DIR - BM25 scores against the independent numpy reference on all of
# Banking77 train.csv (10,003 documents; 300 test.csv queries plus 47 edge cases; k1/b in
# {1.5/0.75, 1.2/0.3}, neighbour and topic modes) and on SIB-200 Finnish. The fixture is
# ~56 MB, too large to commit. Needs BUILD_DIR/tests/test_bm25 (make tests, or make SAN=1
# tests for build-san) and /usr/bin/python3 with numpy. Generates into BUILD_DIR/bm25-ref/;
# ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../reference_check.sh" "$1" bm25 "$HERE/bm25_reference.py" KANAVA_BM25_REF
