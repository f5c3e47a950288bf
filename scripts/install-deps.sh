#!/usr/bin/env bash
# Installs the Debian packages Kanava builds, tests and benchmarks with.
# Idempotent and fast when everything is present: apt is only called for what is missing.
set -euo pipefail

BUILD_PKGS=(build-essential pkg-config libopenblas-openmp-dev libopenblas0-pthread libutf8proc-dev libjansson-dev libssl-dev
            libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libcmocka-dev libvoikko-dev voikko-fi)
# Test references (never runtime dependencies): PyTorch, numpy, scikit-learn, sentencepiece, Node/npm;
# Chromium for the web UI's browser test (tests/ui/run.sh).
TEST_PKGS=(python3 python3-numpy python3-torch python3-sklearn python3-sentencepiece sentencepiece nodejs npm curl jq chromium)

# Benchmark peers and load generators only: the fastText command line tool
# (bench/peers/fasttext_peer.py); wrk, Flask and gunicorn for bench/serve_bench.sh
# (bench/peers/flask_route.py).
BENCH_PKGS=(fasttext wrk python3-flask gunicorn)

# (no option): build + test packages; --build-only: build packages only;
# --bench: additionally the benchmark peers' packages (combines with either).
build_only=0
bench=0
for a in "$@"; do
    case "$a" in
        --build-only) build_only=1 ;;
        --bench) bench=1 ;;
        *) echo "usage: $0 [--build-only] [--bench]" >&2; exit 2 ;;
    esac
done

want=("${BUILD_PKGS[@]}")
if [ "$build_only" -eq 0 ]; then want+=("${TEST_PKGS[@]}"); fi
if [ "$bench" -eq 1 ]; then want+=("${BENCH_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
    # npm/node may come from outside Debian on some machines: a working binary is enough.
    case "$p" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
