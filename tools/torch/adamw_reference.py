#!/usr/bin/env python3
"""adamw_reference.py OUT - trajectories of torch.optim.AdamW under LambdaLR with
transformers' linear warm-up/decay schedule, for tests/test_adamw.c.

For each config OUT/<name>/ holds meta.json (hyper-parameters, tensor sizes, decay flags),
init.f32 (all tensors concatenated), grads.f32 (steps x total, the gradient fed at each
step), params.f32 (steps x total, the values after each step) and lr.f64 (the learning
rate each step used). OUT/index.json lists the configs."""
import json
import os
import sys

import numpy as np
import torch

CONFIGS = [
    # Warm-up, then decay; more steps than total so the tail runs at lr 0.
    dict(name="warmup", lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, warmup=3, total=20, steps=22),
    # No warm-up, strong decay, a short beta2 memory and a larger eps.
    dict(name="nowarmup", lr=3e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, warmup=0, total=12, steps=12),
]
SIZES = [(7, 5), (5,), (3, 4), (6,)]
DECAY = [1, 0, 1, 0]  # weights decay; biases/layer norms do not


def linear_with_warmup(warmup, total):
    # transformers.get_linear_schedule_with_warmup's lr_lambda.
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    return f


def run(cfg, out):
    gen = torch.Generator().manual_seed(1234)
    params = [torch.nn.Parameter(torch.randn(s, generator=gen) + 0.5) for s in SIZES]
    init = torch.cat([p.detach().flatten() for p in params]).numpy().copy()
    groups = [
        {"params": [p for p, d in zip(params, DECAY) if d], "weight_decay": cfg["weight_decay"]},
        {"params": [p for p, d in zip(params, DECAY) if not d], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=cfg["betas"], eps=cfg["eps"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_with_warmup(cfg["warmup"], cfg["total"]))
    grads, traj, lrs = [], [], []
    for step in range(cfg["steps"]):
        for k, p in enumerate(params):
            g = torch.randn(p.shape, generator=gen) * (0.1 if k % 2 else 2.0)
            if step % 5 == 4:
                g.view(-1)[0] = 0.0  # a zero gradient now and then
            p.grad = g
        grads.append(torch.cat([p.grad.flatten() for p in params]).numpy().copy())
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        traj.append(torch.cat([p.detach().flatten() for p in params]).numpy().copy())
    os.makedirs(out, exist_ok=True)
    meta = dict(cfg, betas=list(cfg["betas"]), sizes=[int(np.prod(s)) for s in SIZES], decay=DECAY)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    init.astype("<f4").tofile(os.path.join(out, "init.f32"))
    np.stack(grads).astype("<f4").tofile(os.path.join(out, "grads.f32"))
    np.stack(traj).astype("<f4").tofile(os.path.join(out, "params.f32"))
    np.array(lrs, dtype="<f8").tofile(os.path.join(out, "lr.f64"))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: adamw_reference.py OUT")
    out = sys.argv[1]
    torch.manual_seed(0)
    for cfg in CONFIGS:
        run(cfg, os.path.join(out, cfg["name"]))
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"configs": [c["name"] for c in CONFIGS]}, f)


if __name__ == "__main__":
    main()
