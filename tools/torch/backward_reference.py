#!/usr/bin/python3
"""Reference gradients for src/model/backward.c (tests/test_backward.c reads them).

  /usr/bin/python3 tools/torch/backward_reference.py OUT_DIR

For each op: deterministic random float32 inputs and an upstream gradient, then PyTorch
autograd in float64 on those float32 values. Every tensor is written as OUT_DIR/NAME.f32,
raw little-endian float32, row-major; the shapes are fixed here and in the C test (which
checks each file's byte size). The parameter gradients are plain gradients; the C test
seeds its accumulators with a constant to check they accumulate.
"""

import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

# Shapes shared with tests/test_backward.c.
LIN_M, LIN_K, LIN_N = 5, 7, 6
LN_M, LN_D, LN_EPS = 4, 10, 1e-5
ACT_N = 32
SM_ROWS, SM_COLS = 3, 8
ATT_LENGTHS, ATT_D, ATT_HEADS = [1, 4, 7], 16, 4
ATT_SCALE = 0.5  # 1 / sqrt(head width 4)
POOL_D = 16
L2_ROWS, L2_COLS, L2_EPS = 4, 16, 1e-12
COS_PAIRS, COS_D = 5, 8


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261128)

    def rand(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def save(name, a):
        a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
        np.ascontiguousarray(a, dtype="<f4").tofile(os.path.join(out, name + ".f32"))

    def leaf(a):
        return torch.tensor(a.astype(np.float64), requires_grad=True)

    def run(name, fn, inputs, dy_shape):
        """Saves inputs and dy, backpropagates dy through fn(*inputs) in float64, saves grads."""
        for k, a in inputs.items():
            save(f"{name}_{k}", a)
        dy = rand(*dy_shape)
        save(f"{name}_dy", dy)
        leaves = {k: leaf(a) for k, a in inputs.items()}
        y = fn(**leaves)
        y.backward(torch.tensor(dy.astype(np.float64)))
        for k, t in leaves.items():
            save(f"{name}_d{k}", t.grad)

    x = rand(LIN_M, LIN_K)
    w = rand(LIN_K, LIN_N, scale=0.5)
    b = rand(LIN_N)
    run("linear", lambda x, w, b: x @ w + b, {"x": x, "w": w, "b": b}, (LIN_M, LIN_N))
    # PyTorch layout [N, K]; same x, so dx must agree with the [K, N] case too.
    run("linear_t", lambda x, w, b: torch.nn.functional.linear(x, w, b),
        {"x": x, "w": np.ascontiguousarray(w.T), "b": b}, (LIN_M, LIN_N))

    run("layernorm",
        lambda x, scale, bias: torch.nn.functional.layer_norm(x, (LN_D,), scale, bias, LN_EPS),
        {"x": rand(LN_M, LN_D, scale=2.0) + 0.5, "scale": rand(LN_D) + 1.0, "bias": rand(LN_D)}, (LN_M, LN_D))

    act = rand(ACT_N, scale=1.5)
    act = np.where(np.abs(act) < 0.1, act + np.copysign(0.1, act), act).astype(np.float32)  # off ReLU's kink
    run("relu", lambda x: torch.relu(x), {"x": act}, (ACT_N,))
    run("tanh", lambda x: torch.tanh(x), {"x": act}, (ACT_N,))
    run("gelu", lambda x: torch.nn.functional.gelu(x), {"x": act}, (ACT_N,))

    run("softmax", lambda x: torch.softmax(x, dim=-1), {"x": rand(SM_ROWS, SM_COLS, scale=2.0)}, (SM_ROWS, SM_COLS))

    total = sum(ATT_LENGTHS)
    D, H = ATT_D, ATT_HEADS
    hd = D // H

    def attention(qkv):
        ctx, start = [], 0
        for T in ATT_LENGTHS:
            rows = qkv[start:start + T]
            q, k, v = (rows[:, i * D:(i + 1) * D].reshape(T, H, hd).transpose(0, 1) for i in range(3))
            p = torch.softmax(q @ k.transpose(1, 2) * ATT_SCALE, dim=-1)
            ctx.append((p @ v).transpose(0, 1).reshape(T, D))
            start += T
        return torch.cat(ctx)

    run("attention", attention, {"qkv": rand(total, 3 * D)}, (total, D))

    def pool(x, first):
        out, start = [], 0
        for T in ATT_LENGTHS:
            out.append(x[start] if first else x[start:start + T].mean(0))
            start += T
        return torch.stack(out)

    pool_x = rand(total, POOL_D)
    run("meanpool", lambda x: pool(x, False), {"x": pool_x}, (len(ATT_LENGTHS), POOL_D))
    run("clspool", lambda x: pool(x, True), {"x": pool_x}, (len(ATT_LENGTHS), POOL_D))

    run("l2", lambda x: x * torch.rsqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=L2_EPS)),
        {"x": rand(L2_ROWS, L2_COLS)}, (L2_ROWS, L2_COLS))

    # CosineSimilarityLoss: MSE of cosine_similarity(u, v) against labels; dy is the scalar 1.
    u, v = rand(COS_PAIRS, COS_D), rand(COS_PAIRS, COS_D)
    v[0] = u[0] + 0.1 * v[0]  # one near-parallel pair
    labels = np.array([1, 0, 1, 0, 1], dtype=np.float32)
    save("cosloss_u", u)
    save("cosloss_v", v)
    save("cosloss_labels", labels)
    lu, lv = leaf(u), leaf(v)
    loss = torch.nn.functional.mse_loss(torch.cosine_similarity(lu, lv, dim=-1), torch.tensor(labels.astype(np.float64)))
    loss.backward()
    save("cosloss_loss", np.array([loss.item()]))
    save("cosloss_du", lu.grad)
    save("cosloss_dv", lv.grad)
    print(f"wrote backward references to {out}")


if __name__ == "__main__":
    main()
