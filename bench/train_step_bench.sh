#!/usr/bin/env bash
# SetFit training-step benchmark (issue: "a training step is >= 1.5x faster than the same
# step in the PyTorch reference"): USE-lite, B = 16 Banking77 pairs per step (32 texts),
# zero_grad + forward + CosineSimilarityLoss + backward + AdamW, Kanava
# (build/bench/bench_train_step) vs PyTorch float32 (bench/peers/use_lite_train_torch.py),
# with 1 and 2 threads (with 2, Kanava runs twice: libgomp's default spinning waits, and
# OMP_WAIT_POLICY=PASSIVE as the PyTorch peer always uses). Both sides pick the same texts
# and pairs; the run fails if they disagree on the tokens per step or the first step's
# loss (same weights, same texts, nothing updated yet).
# Waits (up to KANAVA_BENCH_WAIT seconds, default 1200) for a 1-minute load below 1.0
# first, so that the figures come from a quiet machine; says so when it gives up.
# usage: bench/train_step_bench.sh [TRAIN_CSV]
#   env: KANAVA_TRAIN_PAIRS (16), KANAVA_TRAIN_STEPS (timed steps, 20),
#        KANAVA_TRAIN_ROUNDS (1: alternate Kanava/PyTorch this many times per thread count;
#        the table shows the median over rounds), KANAVA_BENCH_SKIP_DEPS=1
# Output: build/bench-train-step/{results.jsonl,machine.txt,table.md}; the table on stdout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CSV=${1:-${KANAVA_SHARED:-$ROOT/../shared}/datasets/banking77/train.csv}
PY=/usr/bin/python3
PAIRS=${KANAVA_TRAIN_PAIRS:-16} STEPS=${KANAVA_TRAIN_STEPS:-20} ROUNDS=${KANAVA_TRAIN_ROUNDS:-1}
export KANAVA_MODELS=${KANAVA_MODELS:-$ROOT/build/test-models}
[ -n "${KANAVA_BENCH_SKIP_DEPS:-}" ] || scripts/install-deps.sh
make -s -j2 all bench-bin
build/kanava model fetch use-lite
MODEL="$KANAVA_MODELS/use-lite"
OUT=build/bench-train-step
mkdir -p "$OUT"

. bench/quiet_machine.sh
wait_for_quiet_machine "$OUT/machine.txt"

: >"$OUT/results.jsonl"
ARGS=(--model "$MODEL" --data "$CSV" --pairs "$PAIRS" --steps "$STEPS")
for t in 1 2; do
    for r in $(seq "$ROUNDS"); do
        build/bench/bench_train_step "${ARGS[@]}" --threads "$t" | tee -a "$OUT/results.jsonl" >&2
        # libgomp spins in its barriers by default; with passive waiting as the PyTorch peer uses.
        [ "$t" -gt 1 ] && OMP_WAIT_POLICY=PASSIVE build/bench/bench_train_step "${ARGS[@]}" --threads "$t" \
            | tee -a "$OUT/results.jsonl" >&2
        $PY bench/peers/use_lite_train_torch.py "${ARGS[@]}" --threads "$t" >"$OUT/pytorch.$t.log" 2>&1 \
            || { cat "$OUT/pytorch.$t.log" >&2; exit 1; }
        grep -v '^{' "$OUT/pytorch.$t.log" >&2 || true
        grep '^{' "$OUT/pytorch.$t.log" | tail -n 1 | tee -a "$OUT/results.jsonl" >&2
    done
done
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2

$PY - "$OUT" <<'PY' | tee "$OUT/table.md"
import json, os, statistics, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "results.jsonl")) if l.strip()]

def blas_name(cfg):  # "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... USE_OPENMP Haswell MAX_THREADS=64"
    if not cfg.startswith("OpenBLAS") or "MAX_THREADS" not in cfg:
        return cfg
    w = cfg.split()
    return " ".join(w[:2] + (["openmp"] if "USE_OPENMP" in w else []) + w[-2:-1])

# Both sides must have done the same work: same tokens, same loss before any update.
bad = []
for t in sorted({r["threads"] for r in rows}):
    k = [r for r in rows if r["threads"] == t and r["runtime"] == "kanava"]
    p = [r for r in rows if r["threads"] == t and r["runtime"] == "pytorch"]
    for a in k:
        for b in p:
            if a["tokens_per_step"] != b["tokens_per_step"] or abs(a["first_loss"] - b["first_loss"]) > 1e-4:
                bad.append((t, a["tokens_per_step"], b["tokens_per_step"], a["first_loss"], b["first_loss"]))
if bad:
    sys.exit("train_step_bench: Kanava and PyTorch disagree (threads, tokens, tokens, loss, loss): %r" % bad)

med = lambda rs, key: statistics.median(r[key] for r in rs)
def variant(r):
    if r["runtime"] == "pytorch":
        return "PyTorch"
    return "Kanava" + (" (OMP_WAIT_POLICY=%s)" % r["omp_wait_policy"] if r["omp_wait_policy"] != "default" else "")
print(open(os.path.join(out, "machine.txt")).read().strip())
for rt in ("kanava", "pytorch"):
    r = next(r for r in rows if r["runtime"] == rt)
    print("%s BLAS: %s" % ("Kanava" if rt == "kanava" else "PyTorch " + r.get("torch", ""), blas_name(r["blas"])))
pt = next(r for r in rows if r["runtime"] == "pytorch")
print("PyTorch runs with OMP_WAIT_POLICY=%s (its best setting here); Kanava with libgomp's default unless the row says "
      "otherwise" % pt["omp_wait_policy"])
r0 = rows[0]
print("USE-lite, %d pairs (%d texts) per step, %.0f real tokens per step (PyTorch pads to %.0f positions), "
      "%d timed steps after %d warm-up, median of %d round(s); first-step loss %.7f on both sides"
      % (r0["pairs"], 2 * r0["pairs"], r0["tokens_per_step"], pt["padded_positions_per_step"], r0["steps"],
         r0["warmup"], sum(1 for r in rows if r["runtime"] == "pytorch" and r["threads"] == r0["threads"]),
         r0["first_loss"]))
print()
print("| runtime | threads | ms/step p50 | ms/step p90 | forward+loss | backward | AdamW | zero_grad | "
      "PyTorch p50 / this p50 |")
print("|---|---|---|---|---|---|---|---|---|")
verdicts = []
for t in sorted({r["threads"] for r in rows}):
    groups = {}
    for r in rows:
        if r["threads"] == t:
            groups.setdefault(variant(r), []).append(r)
    ref = med(groups["PyTorch"], "ms_per_step_p50")
    for name, rs in sorted(groups.items(), key=lambda kv: (kv[0] == "PyTorch", kv[0])):
        p50 = med(rs, "ms_per_step_p50")
        print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2fx |" % (
            name, t, p50, med(rs, "ms_per_step_p90"), med(rs, "forward_loss_ms_p50"), med(rs, "backward_ms_p50"),
            med(rs, "adamw_ms_p50"), med(rs, "zero_grad_ms_p50"), ref / p50))
        if name != "PyTorch":
            verdicts.append("- %s, %d thread%s: the step is %.2fx faster than PyTorch's (target >= 1.5): %s"
                            % (name, t, "s" if t > 1 else "", ref / p50, "met" if ref / p50 >= 1.5 else "NOT met"))
print()
print("\n".join(verdicts))
PY
