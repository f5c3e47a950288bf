#!/usr/bin/env bash
# check_hybrid.sh BUILD_DIR - the hybrid method's features ([w * e / |e|, TF-IDF char_wb
# 2-5-grams]) and the logistic-regression head on them against numpy / scikit-learn:
# Banking77 (770 train rows, 300 test rows) with deterministic pseudo-embeddings, for
# w = 1.4 and 0.7. Needs BUILD_DIR/tests/test_hybrid (make tests, or make SAN=1 tests for
# build-san) and /usr/bin/python3 with numpy, scipy and scikit-learn. Generates into
# BUILD_DIR/hybrid-ref/ (~3 MB); ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../reference_check.sh" "$1" hybrid "$HERE/hybrid_reference.py" KANAVA_HYBRID_REF
