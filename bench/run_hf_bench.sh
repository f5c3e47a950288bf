#!/usr/bin/env bash
# BERT-family benchmark: a random-weight model with paraphrase-multilingual-MiniLM-L12-v2's
# exact shapes (12 layers, hidden 384, 12 heads, FFN 1536, vocabulary 250,037) in Kanava
# (F32 and F16 weights) and in PyTorch 1.13 (F32), 2 threads, sequence lengths 16 and 64.
# usage: bench/run_hf_bench.sh   (prints JSON lines and a Markdown table)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/install-deps.sh
make -s -j2 all bench-bin
OUT=build/bench-hf
mkdir -p "$OUT"
[ -f "$OUT/minilm-shapes/f32/model.safetensors" ] || /usr/bin/python3 tools/hf/tiny_models.py --minilm-shapes "$OUT/minilm-shapes" >&2
F32=$(dirname "$(find "$OUT/minilm-shapes" -name model.safetensors -path '*f32*' | head -1)")
F16=$(dirname "$(find "$OUT/minilm-shapes" -name model.safetensors -path '*f16*' | head -1)")
: > "$OUT/results.jsonl"
for len in 16 64; do
    build/bench/bench_hf "$F32" "$len" 2 | sed 's/"peer":"kanava"/"peer":"kanava-f32"/' | tee -a "$OUT/results.jsonl"
    build/bench/bench_hf "$F16" "$len" 2 | sed 's/"peer":"kanava"/"peer":"kanava-f16"/' | tee -a "$OUT/results.jsonl"
done
/usr/bin/python3 bench/peers/bert_torch.py "$F32" | grep '^{' | tee -a "$OUT/results.jsonl"

/usr/bin/python3 - "$OUT/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["peer"], r["seq_len"]): r for r in rows}
print()
print("| runtime | seq len | batch-1 p50 ms | batch-1 p99 ms | batch 32 sentences/s | peak RSS MiB |")
print("|---|---|---|---|---|---|")
for (peer, n), r in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    name = peer + (f" ({r['blas']})" if "blas" in r else "")
    print(f"| {name} | {n} | {r['lat_p50_ms']:.2f} | {r['lat_p99_ms']:.2f} | {r['batch32_sent_per_s']:.0f} | {r['peak_rss_mib']:.0f} |")
print()
for n in (16, 64):
    p = by.get(("pytorch", n))
    for k in ("kanava-f32", "kanava-f16"):
        r = by.get((k, n))
        if p and r:
            print(f"- len {n}, {k}: batch-1 p50 {r['lat_p50_ms'] / p['lat_p50_ms']:.2f} of PyTorch (target <= 0.33), "
                  f"batch-32 throughput {r['batch32_sent_per_s'] / p['batch32_sent_per_s']:.2f}x (target >= 2)")
PY
