#!/usr/bin/env bash
# check_supcon.sh BUILD_DIR - the supervised contrastive loss and gradient (src/learn/supcon.c)
# against PyTorch float64 autograd, plus the test's own finite-difference checks. Needs
# BUILD_DIR/tests/test_supcon (make tests, or make SAN=1 tests for build-san) and
# /usr/bin/python3 with torch and numpy. Generates into BUILD_DIR/supcon-ref/; ends with
# "N passed, M failed", where a skipped test counts as a failure (here nothing may skip).
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
log=$("$HERE/../reference_check.sh" "$1" supcon "$HERE/supcon_reference.py" KANAVA_SUPCON_REF)
rc=$?
echo "$log" | sed '$d'
read -r passed _ failed _ <<<"$(tail -n 1 <<<"$log")"
skipped=$(grep '^\[  SKIPPED \] test_' <<<"$log" | sort -u | wc -l)
failed=$((failed + skipped))
echo "$passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
