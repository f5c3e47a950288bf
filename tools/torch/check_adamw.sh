#!/usr/bin/env bash
# check_adamw.sh BUILD_DIR - AdamW with the linear warm-up schedule (src/learn/adamw.c)
# against torch.optim.AdamW + LambdaLR step by step. Needs BUILD_DIR/tests/test_adamw
# (make tests, or make SAN=1 tests for build-san) and /usr/bin/python3 with torch and numpy.
# Generates into BUILD_DIR/adamw-ref/; ends with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../reference_check.sh" "$1" adamw "$HERE/adamw_reference.py" KANAVA_ADAMW_REF
