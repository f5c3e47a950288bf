#!/usr/bin/python3
"""Reference gradients of BERT / XLM-RoBERTa sentence encoders under SetFit's
CosineSimilarityLoss (tests/test_hf_bert_grad.c reads them).

  /usr/bin/python3 tools/torch/hf_bert_grad_reference.py OUT_DIR HF_TINY_DIR

HF_TINY_DIR is what tools/hf/tiny_models.py wrote (its models.json). For each model in
MODELS (BERT + WordPiece, the BERT body + XLM-R Unigram layout, XLM-RoBERTa; mean, CLS and
max pooling; with and without Normalize; F32, F16, BF16; with and without a tensor-name
prefix) it draws PAIRS pairs of token-id sequences (seeded; [CLS]/<s> first, [SEP]/</s>
last, ordinary ids between, one of them max_seq_length long), embeds the first and the
second sequences of every pair in one right-padded batch with tools/hf/bert_reference.py's
SentenceEncoder in float64 (weights as stored, widened exactly), computes
mean over pairs of (cos(u_i, v_i) - label_i)^2, backpropagates, and writes OUT_DIR/<model>/:
  meta.json     {"model", "loss", "labels", "ids" (first sequences, then second ones),
                 "params": [{"name", "shape"}] (checkpoint names, prefix included),
                 "word_rows" (sorted ids of the word-embedding rows written)}
  NAME.f32      the gradient of every trainable tensor, little-endian float32 row-major;
                for the word embeddings only the rows in word_rows, in that order
  outputs.f32   the float64 embeddings (u rows then v rows) as float32
and OUT_DIR/models.txt, one model name per line. The pooler is not trainable (the
sentence-transformers pipeline never uses it) and is left out.
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "hf"))

import bert_reference  # noqa: E402

MODELS = [
    "bert_wp_f32_mean_norm",     # BERT + WordPiece, mean, Normalize
    "bert_wp_pfx_f32_cls",       # "bert." prefix, CLS, no Normalize, int64 position_ids buffer
    "bert_wp_pfx_f16_max_norm",  # F16 weights, max pooling, Normalize
    "mbert_uni_f32_mean",        # BERT body + XLM-R Unigram ids, mean
    "mbert_uni_f32_cls_norm",    # the same, CLS + Normalize
    "xlmr_f32_mean_norm",        # XLM-RoBERTa, positions from pad_id + 1
    "xlmr_pfx_f32_max",          # "roberta." prefix, max pooling
    "xlmr_bf16_mean",            # BF16 weights
]
PAIRS = 4
LABELS = [1.0, 0.0, 1.0, 0.0]


def sequences(entry, seed):
    sp = entry["special_ids"]
    S = entry["max_seq_length"]
    rng = np.random.default_rng(seed)
    banned = {sp["pad"], sp["cls"], sp["sep"]}
    pool = np.array([i for i in range(sp["tokenizer_vocab"]) if i not in banned])
    lengths = [S, 3] + [int(x) for x in rng.integers(4, S, size=2 * PAIRS - 2)]
    out = []
    for n in lengths:
        mid = [int(x) for x in rng.choice(pool, size=n - 2)]
        out.append([sp["cls"]] + mid + [sp["sep"]])
    return out


def tensor_prefix(model_dir):
    header, _, _ = bert_reference.read_safetensors_header(os.path.join(model_dir, "model.safetensors"))
    for p in ("bert.", "roberta."):
        if p + "embeddings.word_embeddings.weight" in header:
            return p
    return ""


def reference(model_dir, entry, out, seed):
    model = bert_reference.load_model(model_dir).double()
    for p in model.parameters():
        p.requires_grad_(True)
    prefix = tensor_prefix(model_dir)
    ids = sequences(entry, seed)
    padded, mask = model.pad(ids)
    emb = model(padded, mask)
    cos = torch.cosine_similarity(emb[:PAIRS], emb[PAIRS:], dim=-1)
    loss = ((cos - torch.tensor(LABELS, dtype=torch.float64)) ** 2).mean()
    model.zero_grad()
    loss.backward()

    os.makedirs(out, exist_ok=True)

    def save(name, a):
        np.ascontiguousarray(a, dtype="<f4").tofile(os.path.join(out, name + ".f32"))

    rows = sorted({i for s in ids for i in s})
    params = []
    for key, prm in model.params.items():
        name = key.replace("/", ".")
        if name.startswith("pooler."):
            continue
        g = prm.grad
        if g is None:
            raise SystemExit("%s: no gradient reached %s" % (model_dir, name))
        g = g.detach().numpy()
        if name == "embeddings.word_embeddings.weight":
            g = g[rows]
        save(prefix + name, g)
        params.append({"name": prefix + name, "shape": list(prm.shape)})
    save("outputs", emb.detach().numpy())
    meta = {"model": entry["name"], "loss": float(loss.item()), "labels": LABELS, "ids": ids,
            "params": params, "word_rows": rows}
    with open(os.path.join(out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    print("%-26s loss %.10f, %d tensors, %d word rows" % (entry["name"], loss.item(), len(params), len(rows)))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, tiny = sys.argv[1], sys.argv[2]
    torch.set_default_dtype(torch.float64)
    with open(os.path.join(tiny, "models.json"), encoding="utf-8") as f:
        manifest = {m["name"]: m for m in json.load(f)}
    os.makedirs(out, exist_ok=True)
    for k, name in enumerate(MODELS):
        if name not in manifest:
            raise SystemExit("%s: model %s is missing (run tools/hf/tiny_models.py)" % (tiny, name))
        reference(os.path.join(tiny, name), manifest[name], os.path.join(out, name), 7000 + k)
    with open(os.path.join(out, "models.txt"), "w", encoding="utf-8") as f:
        f.write("".join(m + "\n" for m in MODELS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
