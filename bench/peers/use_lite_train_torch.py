#!/usr/bin/python3
"""PyTorch side of the SetFit training-step benchmark (bench/train_step_bench.sh; Kanava's
side is bench/bench_train_step.c, which this file mirrors step for step).

  /usr/bin/python3 bench/peers/use_lite_train_torch.py --model DIR --data CSV
      [--pairs 16] [--steps 20] [--warmup 3] [--threads 2] [--lr 1e-4]
      [--omp-wait-policy PASSIVE|ACTIVE]

The model is tools/torch/use_lite.py's UseLite in float32 with the weights of the Kanava
model directory DIR, texts tokenised by tools/torch/use_tokenizer.py. It picks the same
2*B*(W+S) texts as the C side (row floor(k * rows / N) of the CSV's "text" column),
pairs text 2i with 2i+1 (label 1 when "category" is equal), tokenises them up front and
then runs W untimed and S timed steps of: optimizer.zero_grad(), forward of the 2B texts
(first texts, then second ones) as one padded batch, SetFit's CosineSimilarityLoss
(mean of (cos(u, v) - label)^2), backward, torch.optim.AdamW (betas 0.9/0.999, eps 1e-6,
weight decay 0.01 on matrices, none on biases and norms) and a LambdaLR with
transformers' linear warm-up (10% of the steps) and decay.

Prints which BLAS torch has mapped (from /proc/self/maps and OpenBLAS's own
openblas_get_config), then one JSON line with the same keys as bench_train_step.
"""

import argparse
import csv
import json
import math
import os
import resource
import sys
import time

from torch_embed import loaded_libs, openblas_info, openblas_short_name  # the BLAS probes every torch peer shares

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def read_rows(path):
    """(texts, categories) of the CSV, header excluded; empty lines skipped as kn_csv does."""
    with open(path, "r", encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f, strict=True) if r]
    ct, cc = rows[0].index("text"), rows[0].index("category")
    return [r[ct] for r in rows[1:]], [r[cc] for r in rows[1:]]


def describe_blas(torch):
    """Short name of the BLAS torch calls, after printing the evidence."""
    libs = loaded_libs(("blas", "mkl_rt", "libmkl", "blis"))
    info = [item.strip() for line in torch.__config__.show().splitlines() if "BLAS_INFO=" in line
            for item in line.split(":", 1)[1].split(",")
            if item.strip().startswith(("BLAS_INFO=", "USE_MKLDNN=", "USE_OPENMP="))]
    print("torch %s: %s; intra-op threads %d (OMP_WAIT_POLICY=%s); BLAS libraries mapped: %s"
          % (torch.__version__, ", ".join(info), torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY"),
             ", ".join(libs) or "none"))
    cfg, threads, lib = openblas_info(libs)
    if cfg is None:
        return "unknown (libs: %s)" % (", ".join(libs) or "none")
    print("OpenBLAS: %s, %d threads (%s)" % (cfg, threads, lib))
    return openblas_short_name(cfg, lib)


def pct(sorted_vals, p):
    """Nearest rank, as bench_train_step.c."""
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals) - 1e-9))
    return sorted_vals[k - 1]


def main():
    ap = argparse.ArgumentParser(description="PyTorch USE-lite SetFit training step")
    ap.add_argument("--model", required=True, help="Kanava use-lite model directory")
    ap.add_argument("--data", required=True, help="CSV with text and category columns")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--omp-wait-policy", default=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                    choices=["PASSIVE", "ACTIVE", "passive", "active"])
    args = ap.parse_args()

    # Thread pools are sized when the libraries load. Passive OpenMP waiting: torch's
    # element-wise ops (OpenMP) and OpenBLAS's own pthreads otherwise spin against each
    # other on 2 cores (see bench/peers/torch_embed.py); this is torch's best setting here.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()

    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools", "torch"))
    import use_lite
    from use_tokenizer import UseTokenizer

    torch.set_num_threads(args.threads)
    B, S, W = args.pairs, args.steps, args.warmup
    steps = W + S

    model = use_lite.from_model_dir(args.model).float()
    model.train()
    blas = describe_blas(torch)
    tok = UseTokenizer.from_file(os.path.join(args.model, "vocab.json"))
    texts, cats = read_rows(args.data)
    n = 2 * B * steps
    idx = [k * len(texts) // n for k in range(n)]
    ids = [tok.encode(texts[i]) for i in idx]
    labels = [1.0 if cats[idx[2 * p]] == cats[idx[2 * p + 1]] else 0.0 for p in range(B * steps)]

    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-6)
    warm, total = int(0.1 * steps), steps

    def lr_lambda(step):  # transformers.get_linear_schedule_with_warmup
        if step < warm:
            return step / max(1, warm)
        return max(0.0, (total - step) / max(1, total - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)

    # Batches built up front (SetFit tokenises and collates outside the step too).
    batches = []
    for s in range(steps):
        pairs = range(s * B, (s + 1) * B)
        seqs = [ids[2 * p] for p in pairs] + [ids[2 * p + 1] for p in pairs]
        padded, lengths = use_lite.pad_batch(seqs)
        batches.append((padded, lengths, torch.tensor([labels[p] for p in pairs]),
                        sum(min(len(q), use_lite.MAX_POSITIONS) for q in seqs)))

    ms, ph = [], [[], [], [], []]
    first_loss = last_loss = 0.0
    tokens = positives = 0
    for s, (padded, lengths, lab, ntok) in enumerate(batches):
        positives += int(lab.sum().item())
        t0 = time.perf_counter()
        opt.zero_grad()
        t1 = time.perf_counter()
        emb = model(padded, lengths)
        cos = torch.cosine_similarity(emb[:B], emb[B:], dim=-1)
        loss = ((cos - lab) ** 2).mean()
        loss_value = loss.item()  # Kanava's loss is computed (and known) at this point too
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        sched.step()
        t4 = time.perf_counter()
        if s == 0:
            first_loss = loss_value
        last_loss = loss_value
        if s >= W:
            ms.append((t4 - t0) * 1e3)
            for k, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
                ph[k].append((b - a) * 1e3)
            tokens += ntok
    ms.sort()
    for p in ph:
        p.sort()
    padded_per_step = sum(b[0].numel() for b in batches[W:]) / S
    print(json.dumps({
        "runtime": "pytorch", "threads": args.threads, "blas": blas, "pairs": B, "steps": S, "warmup": W,
        "ms_per_step_p50": round(pct(ms, 50), 2), "ms_per_step_p90": round(pct(ms, 90), 2),
        "ms_per_step_mean": round(sum(ms) / S, 2),
        "zero_grad_ms_p50": round(pct(ph[0], 50), 2), "forward_loss_ms_p50": round(pct(ph[1], 50), 2),
        "backward_ms_p50": round(pct(ph[2], 50), 2), "adamw_ms_p50": round(pct(ph[3], 50), 2),
        "tokens_per_step": tokens / S, "padded_positions_per_step": padded_per_step, "positive_pairs": positives,
        "params": sum(p.numel() for p in model.parameters()), "first_loss": round(first_loss, 7),
        "last_loss": round(last_loss, 7),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
        "torch": torch.__version__, "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
