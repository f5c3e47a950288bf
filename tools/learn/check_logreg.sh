#!/usr/bin/env bash
# check_logreg.sh BUILD_DIR - the logistic-regression head against scikit-learn on every
# reference dataset, including the 77-class, 512-dimensional one that is too large to commit
# (tests/fixtures/logreg holds only the two small ones). Needs BUILD_DIR/tests/test_logreg
# (make tests, or make SAN=1 tests for build-san) and /usr/bin/python3 with numpy, scipy and
# scikit-learn. Generates into BUILD_DIR/logreg-ref/; ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../reference_check.sh" "$1" logreg "$HERE/logreg_reference.py" KANAVA_LOGREG_REF
