#!/usr/bin/env bash
# check_int8.sh BUILD_DIR - int8 BERT / XLM-R models (`kanava model quantize`) against the
# independent numpy reference tools/hf/int8_reference.py, and against the F32 PyTorch
# reference. Uses the tiny models in $KANAVA_HF_TINY (tests/run.sh generates them; when
# unset, build/hf-tiny, generated here if missing). Works in BUILD_DIR/int8-ref/; ends
# with "N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$1
PY=${KANAVA_PYTHON:-/usr/bin/python3}
BIN="$BUILD/kanava"
[ -x "$BIN" ] || { echo "$BIN is missing (make)"; echo "0 passed, 1 failed"; exit 1; }
TINY=${KANAVA_HF_TINY:-$ROOT/build/hf-tiny}
if [ ! -f "$TINY/xlmr_f32_mean_norm/reference.jsonl" ]; then
    if [ -n "${KANAVA_HF_TINY:-}" ]; then
        echo "$TINY has no tiny models with reference.jsonl (tools/hf/tiny_reference.py)"; echo "0 passed, 1 failed"; exit 1
    fi
    "$PY" "$HERE/tiny_reference.py" "$TINY" >/dev/null || { echo "tiny model generation failed"; echo "0 passed, 1 failed"; exit 1; }
fi
WORK="$BUILD/int8-ref"
rm -rf "$WORK"
exec "$PY" "$HERE/int8_reference.py" check --kanava "$BIN" --tiny "$TINY" --work "$WORK"
