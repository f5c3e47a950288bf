#!/usr/bin/python3
"""supcon_reference.py OUT - the supervised contrastive loss of src/learn/supcon.h in
PyTorch float64 autograd, for tests/test_supcon.c (tools/torch/check_supcon.sh runs both).

For each case OUT/<name>.e.f32 holds the embeddings [B, D] (raw little-endian float32),
OUT/<name>.labels.i32 the labels [B] (int32) and OUT/<name>.grad.f64 d loss / d e [B, D]
(float64) computed from exactly those float32 values. OUT/meta.json lists the cases with
B, D, tau and the float64 loss.

The formulation is deliberately not the C one: F.normalize, a masked log-softmax over the
whole row with the diagonal at -inf (Khosla et al.'s reference code), and autograd."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


def supcon(e, labels, tau):
    B = e.shape[0]
    z = F.normalize(e, dim=1, eps=1e-12)  # e / max(|e|, 1e-12)
    logits = (z @ z.T / tau).masked_fill(torch.eye(B, dtype=torch.bool), float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~torch.eye(B, dtype=torch.bool)
    npos = pos.sum(1)
    anchors = npos > 0
    if not anchors.any():
        return (e * 0).sum()  # no anchor: loss 0 and a zero gradient
    per_anchor = log_prob.masked_fill(~pos, 0).sum(1)[anchors] / npos[anchors]
    return -per_anchor.mean()


def case(rng, name, B, D, tau, labels, scale_rows=None, dup=None):
    e = rng.standard_normal((B, D)).astype(np.float32)
    for row, s in (scale_rows or {}).items():
        e[row] = (e[row] / np.linalg.norm(e[row]) * s).astype(np.float32)
    for dst, src in (dup or {}).items():  # identical embeddings: similarity exactly 1 / tau
        e[dst] = e[src]
    return dict(name=name, B=B, D=D, tau=tau, e=e, labels=np.asarray(labels, dtype=np.int32))


def cases():
    rng = np.random.default_rng(20240611)
    out = [
        case(rng, "pairs8", 8, 16, 0.1, [0, 0, 1, 1, 2, 2, 3, 3]),
        # Random topics with singletons (negatives only), negative and large label values.
        case(rng, "singletons", 32, 64, 0.07,
             rng.choice([-5, 0, 3, 7, 1 << 30], size=27).tolist() + [11, 12, 13, 14, 15]),
        # The training shape: 64 topics x 2 texts, the USE-lite width, tau 0.1.
        case(rng, "train128", 128, 512, 0.1, rng.permutation(np.repeat(np.arange(64), 2)).tolist()),
        case(rng, "uneven", 20, 24, 0.5, [0] * 7 + [1] * 5 + [2] * 3 + [3, 3] + [4, 5, 6]),
        case(rng, "all_same", 12, 8, 1.0, [4] * 12),
        case(rng, "all_distinct", 10, 8, 0.1, list(range(10))),  # loss 0, gradient 0
        case(rng, "two_same", 2, 5, 0.1, [1, 1]),  # one candidate per anchor: loss 0 exactly
        case(rng, "one_row", 1, 4, 0.1, [0]),
        # A near-zero-norm row (still above the 1e-12 floor) and a very long one.
        case(rng, "tiny_norm", 16, 32, 0.2, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 7],
             scale_rows={2: 1e-6, 9: 1e3}),
        # An all-zero row: z = 0 and its gradient is d loss / d z divided by the 1e-12 floor.
        case(rng, "zero_row", 6, 8, 0.3, [0, 0, 1, 1, 2, 2], scale_rows={3: 0.0}),
        case(rng, "below_floor_row", 6, 8, 0.3, [0, 0, 1, 1, 2, 2], scale_rows={3: 1e-14}),
        # A small tau with duplicates: logits up to 1 / 0.02 = 50 need a stable log-sum-exp.
        case(rng, "sharp", 24, 16, 0.02, np.repeat(np.arange(6), 4).tolist(), dup={1: 0, 5: 4, 9: 20}),
    ]
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: supcon_reference.py OUT")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    meta = []
    for c in cases():
        e = torch.tensor(c["e"].astype(np.float64), requires_grad=True)
        loss = supcon(e, torch.tensor(c["labels"].astype(np.int64)), c["tau"])
        loss.backward()
        grad = e.grad.numpy()
        if not (np.isfinite(loss.item()) and np.isfinite(grad).all()):
            sys.exit(f"{c['name']}: non-finite reference")
        c["e"].astype("<f4").tofile(os.path.join(outdir, c["name"] + ".e.f32"))
        c["labels"].astype("<i4").tofile(os.path.join(outdir, c["name"] + ".labels.i32"))
        grad.astype("<f8").tofile(os.path.join(outdir, c["name"] + ".grad.f64"))
        meta.append(dict(name=c["name"], B=c["B"], D=c["D"], tau=c["tau"], loss=loss.item()))
        print(f"{c['name']:<13} B {c['B']:>3} D {c['D']:>3} tau {c['tau']:<5} loss {loss.item():.10g}")
    with open(os.path.join(outdir, "meta.json"), "w") as f:
        json.dump({"cases": meta}, f, indent=1)


if __name__ == "__main__":
    main()
