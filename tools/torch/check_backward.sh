#!/usr/bin/env bash
# check_backward.sh BUILD_DIR - the backward passes (src/model/backward.c) against PyTorch
# autograd in float64, plus the finite-difference checks. Needs BUILD_DIR/tests/test_backward
# (make tests, or make SAN=1 tests for build-san) and /usr/bin/python3 with torch and numpy.
# Generates into BUILD_DIR/backward-ref/; ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../reference_check.sh" "$1" backward "$HERE/backward_reference.py" KANAVA_BACKWARD_REF
