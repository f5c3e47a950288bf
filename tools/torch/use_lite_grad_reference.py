#!/usr/bin/python3
"""Reference gradients of USE-lite under SetFit's CosineSimilarityLoss
(tests/test_use_lite_grad.c reads them).

  /usr/bin/python3 tools/torch/use_lite_grad_reference.py OUT_DIR [MODEL_DIR]

MODEL_DIR defaults to $KANAVA_MODELS/use-lite. Tokenizes fixed sentence pairs with
use_tokenizer.py, embeds the first and the second sentences of every pair in one padded
batch with use_lite.py's UseLite in float64 (weights loaded from Kanava's model
directory), computes mean over pairs of (cos(u_i, v_i) - label_i)^2, backpropagates and
writes into OUT_DIR:
  meta.json        {"loss", "texts" (first sentences, then second ones), "labels",
                    "ids" (token ids per text), "params": [{"name", "shape", "file"}],
                    "embed_rows" (sorted ids of the embedding rows written)}
  NAME.f32         the gradient of every parameter, raw little-endian float32 row-major;
                   for embed.weight only the rows in embed_rows, in that order.
  outputs.f32      the float64 embeddings (u rows then v rows) as float32.
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import use_lite  # noqa: E402
from use_tokenizer import UseTokenizer  # noqa: E402

PAIRS = [
    ("How do I order a new card?", "I need a replacement card", 1.0),
    ("My transfer has not arrived yet.", "What is the exchange rate for euros?", 0.0),
    ("Why was I charged a fee at the ATM?", "The cash machine took an extra charge", 1.0),
    ("Can I change my PIN number?", "Where is my parcel? It was shipped last week.", 0.0),
]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    model_dir = sys.argv[2] if len(sys.argv) == 3 else os.path.join(os.environ.get("KANAVA_MODELS", ""), "use-lite")
    os.makedirs(out, exist_ok=True)
    torch.set_default_dtype(torch.float64)

    model = use_lite.from_model_dir(model_dir).double()
    model.train()
    tok = UseTokenizer.from_file(os.path.join(model_dir, "vocab.json"))
    texts = [a for a, _, _ in PAIRS] + [b for _, b, _ in PAIRS]
    labels = [lab for _, _, lab in PAIRS]
    ids = [tok.encode(t) for t in texts]
    padded, lengths = use_lite.pad_batch(ids)

    emb = model(padded, lengths)
    p = len(PAIRS)
    cos = torch.cosine_similarity(emb[:p], emb[p:], dim=-1)
    loss = ((cos - torch.tensor(labels)) ** 2).mean()
    model.zero_grad()
    loss.backward()

    def save(name, a):
        np.ascontiguousarray(a, dtype="<f4").tofile(os.path.join(out, name + ".f32"))

    rows = sorted({i for seq in ids for i in seq[:use_lite.MAX_POSITIONS]})
    params = []
    for name, prm in model.named_parameters():
        g = prm.grad.detach().numpy()
        if name == "embed.weight":
            g = g[rows]
        save(name, g)
        params.append({"name": name, "shape": list(prm.shape), "file": name + ".f32"})
    save("outputs", emb.detach().numpy())
    meta = {"loss": float(loss.item()), "texts": texts, "labels": labels, "ids": ids,
            "params": params, "embed_rows": rows}
    with open(os.path.join(out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    print("use_lite_grad_reference: loss %.10f, %d parameter tensors, %d embedding rows -> %s"
          % (loss.item(), len(params), len(rows), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
