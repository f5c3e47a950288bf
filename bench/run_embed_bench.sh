#!/usr/bin/env bash
# Embedding benchmark: Kanava vs the TensorFlow.js WASM backend vs the PyTorch reference,
# in one run, on the Banking77 test set (3,080 texts), each with up to 2 threads.
# usage: bench/run_embed_bench.sh [CSV]   (prints the three JSON lines and a Markdown table)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CSV=${1:-$ROOT/../shared/datasets/banking77/test.csv}
export KANAVA_MODELS=${KANAVA_MODELS:-$ROOT/build/test-models}
scripts/install-deps.sh
make -s -j2 all bench-bin
build/kanava model fetch use-lite
tools/tfjs/install.sh >/dev/null
OUT=build/bench-results
mkdir -p "$OUT"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
build/bench/bench_embed "$KANAVA_MODELS/use-lite" "$CSV" 2 | tee "$OUT/kanava.json"
node bench/peers/tfjs_embed.mjs "$CSV" | tail -n 1 | tee "$OUT/tfjs-wasm.json"
/usr/bin/python3 bench/peers/torch_embed.py "$CSV" | tail -n 1 | tee "$OUT/pytorch.json"

/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
d = sys.argv[1]
k, t, p = (json.load(open(f"{d}/{n}.json")) for n in ("kanava", "tfjs-wasm", "pytorch"))
def row(name, r):
    return f"| {name} | {r.get('threads')} | {r['sent_per_s']:.0f} | {r['lat_p50_ms']:.2f} | {r['lat_p99_ms']:.2f} | {r['peak_rss_mib']:.0f} |"
print()
print("| runtime | threads | sentences/s (batch 32) | batch-1 p50 ms | batch-1 p99 ms | peak RSS MiB |")
print("|---|---|---|---|---|---|")
print(row("Kanava (C, OpenBLAS)", k))
print(row("TensorFlow.js WASM", t))
print(row(f"PyTorch ({p.get('blas', '?')})", p))
print()
print(f"- throughput: {k['sent_per_s'] / t['sent_per_s']:.2f}x TF.js WASM (target >= 2.5), "
      f"{k['sent_per_s'] / p['sent_per_s']:.2f}x PyTorch (target >= 1.5)")
print(f"- forward pass {k['forward_gflops']:.1f} GFLOP/s = {100 * k['forward_gflops'] / k['sgemm_gflops']:.0f}% "
      f"of this machine's OpenBLAS sgemm {k['sgemm_gflops']:.1f} GFLOP/s (target >= 60%)")
print(f"- batch-1 p50 latency: {k['lat_p50_ms'] / t['lat_p50_ms']:.2f} of TF.js WASM (target <= 0.25), "
      f"{k['lat_p50_ms'] / p['lat_p50_ms']:.2f} of PyTorch (target <= 0.33)")
print(f"- peak RSS: {k['peak_rss_mib'] / p['peak_rss_mib']:.2f} of PyTorch (target <= 0.5)")
PY
