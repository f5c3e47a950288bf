#!/usr/bin/env bash
# check_tfidf.sh BUILD_DIR - TF-IDF features (word 1-2-grams + char_wb 2-5-grams) and the
# logistic-regression head on them against scikit-learn: Banking77 (770 train rows, 400
# test rows plus 47 edge cases) and SIB-200 Finnish. Needs BUILD_DIR/tests/test_tfidf
# (make tests, or make SAN=1 tests for build-san) and /usr/bin/python3 with numpy, scipy and
# scikit-learn. Generates into BUILD_DIR/tfidf-ref/ (~7 MB); ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../reference_check.sh" "$1" tfidf "$HERE/tfidf_reference.py" KANAVA_TFIDF_REF
