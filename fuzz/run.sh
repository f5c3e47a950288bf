#!/usr/bin/env bash
# Short libFuzzer runs over the two file parsers a user can hand Kanava: safetensors and
# tokenizer.json. Not part of CI. usage: fuzz/run.sh [SECONDS per target, default 60]
# Needs clang-14 and libclang-rt-14-dev (apt). Crashes land in build-fuzz/crash-*.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${1:-60}
OUT=build-fuzz
mkdir -p "$OUT/corpus-st" "$OUT/corpus-tok"
CFLAGS="-g -O1 -march=native -fsanitize=fuzzer,address,undefined -Isrc -D_GNU_SOURCE -I/usr/include/x86_64-linux-gnu/openblas-openmp"
SRC=$(find src/util src/text src/model -name '*.c' | sort) # the parsers' layers only
LIBS="$(pkg-config --libs libutf8proc jansson libcrypto) -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lm -fopenmp"
for target in safetensors tokenizer_json; do
    clang-14 $CFLAGS -o "$OUT/fuzz_$target" "fuzz/fuzz_$target.c" $SRC $LIBS
done
# Seeds: a valid safetensors file and the committed tokenizer fixtures.
printf '\x40\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}         \x00\x00\x80\x3f\x00\x00\x00\x40' > "$OUT/corpus-st/seed"
cp tests/fixtures/*/tokenizer*.json "$OUT/corpus-tok/" 2>/dev/null || true
"$OUT/fuzz_safetensors" -max_total_time="$SECS" -artifact_prefix="$OUT/" "$OUT/corpus-st"
"$OUT/fuzz_tokenizer_json" -max_total_time="$SECS" -max_len=65536 -artifact_prefix="$OUT/" "$OUT/corpus-tok"
