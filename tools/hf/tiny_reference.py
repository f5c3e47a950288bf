#!/usr/bin/python3
"""Reference embeddings for the tiny models of tiny_models.py.

  /usr/bin/python3 tools/hf/tiny_reference.py OUT_DIR [--no-generate]

Writes the tiny models into OUT_DIR (unless --no-generate: then they must be there),
then for every model that a loader must accept writes OUT_DIR/<model>/reference.jsonl:
one line {"ids": [...], "embedding": [...]} per token-id sequence, 20 sequences. The
ids are what Kanava's C forward receives: the first is the CLS/<s> id and the last
the SEP/</s> id, as the post-processor adds them, with random ordinary ids between
(never PAD/CLS/SEP; [UNK]/<unk> and the last tokenizer id included); lengths cover 1,
2, 3, max_seq_length (twice), max_seq_length - 1 and random ones. Models sharing
weights get the same sequences.

Embeddings come from bert_reference.py with the weights as stored, upcast exactly to
float32 (F16/BF16 included), the arithmetic carried out in float64 so that the stored
values carry no rounding of their own: a correct float32 implementation then differs
from them by its own rounding only. Computed one sequence at a time and as one
right-padded batch; the two must agree within 1e-6 (float64: ~1e-15; the
single-sequence values are stored). Also checked and printed: the float32 computation
(single and padded batch, as transformers runs it) against the stored values (must be
within 5e-6), an independent float64 recomputation whose encoder layers are
torch.nn.TransformerEncoderLayer (within 1e-6), F16/BF16 models against the same model with the F32 weights of their
source, and that the models marked "refuse" are refused.
"""

import json
import os
import sys
import time
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bert_reference  # noqa: E402
import tiny_models  # noqa: E402

N_SEQ = 20
BATCH_TOL = 1e-6   # float64: padding must change nothing (in practice ~1e-15)
F32_TOL = 5e-6     # a float32 computation must sit well inside Kanava's 1e-5


def sequences(entry):
    """Deterministic id sequences for a model (seeded by its weight set)."""
    sp = entry["special_ids"]
    S = entry["max_seq_length"]
    rng = np.random.default_rng(zlib.crc32(entry["body"].encode()))
    banned = {sp["pad"], sp["cls"], sp["sep"]}
    pool = np.array([i for i in range(sp["tokenizer_vocab"]) if i not in banned])
    lengths = [1, 2, 3, S, S, S - 1]
    lengths += sorted(int(x) for x in rng.integers(4, S - 1, size=N_SEQ - len(lengths)))
    out = []
    for k, n in enumerate(lengths):
        if n == 1:
            out.append([sp["cls"]])
            continue
        mid = [int(x) for x in rng.choice(pool, size=n - 2)]
        if k == 3:  # the first full-length sequence carries the edge ids
            mid[0] = sp["unk"]
            mid[-1] = sp["tokenizer_vocab"] - 1
        out.append([sp["cls"]] + mid + [sp["sep"]])
    return out


def crosscheck(model, seqs):
    """Second, independent computation of the same embeddings in float64: the encoder
    layers run as torch.nn.TransformerEncoderLayer (post-LN, GELU, key padding mask),
    positions and pooling done per sequence with numpy. Returns the [n, dim] array."""
    cfg, D = model.cfg, model.hidden
    W = {n.replace("/", "."): p.detach().double() for n, p in model.params.items()}
    layers = []
    for i in range(model.layers):
        p = "encoder.layer.%d." % i
        L = torch.nn.TransformerEncoderLayer(D, model.heads, cfg["intermediate_size"], dropout=0.0,
                                             activation="gelu", layer_norm_eps=model.eps,
                                             batch_first=True, norm_first=False).double().eval()
        with torch.no_grad():
            L.self_attn.in_proj_weight.copy_(torch.cat([W[p + "attention.self.%s.weight" % n]
                                                        for n in ("query", "key", "value")]))
            L.self_attn.in_proj_bias.copy_(torch.cat([W[p + "attention.self.%s.bias" % n]
                                                      for n in ("query", "key", "value")]))
            for dst, src in ((L.self_attn.out_proj, "attention.output.dense"),
                             (L.linear1, "intermediate.dense"), (L.linear2, "output.dense"),
                             (L.norm1, "attention.output.LayerNorm"), (L.norm2, "output.LayerNorm")):
                dst.weight.copy_(W[p + src + ".weight"])
                dst.bias.copy_(W[p + src + ".bias"])
        layers.append(L)
    out = []
    with torch.no_grad():
        for s in seqs:
            T = len(s)
            # pad by 3 so the key padding mask is exercised
            ids = list(s) + [model.pad_id] * 3
            if model.model_type == "xlm-roberta":
                pos = [model.pad_id + 1 + t for t in range(T)] + [model.pad_id] * 3
            else:
                pos = list(range(T + 3))
            x = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][pos]
                 + W["embeddings.token_type_embeddings.weight"][0])
            x = torch.nn.functional.layer_norm(x, (D,), W["embeddings.LayerNorm.weight"],
                                               W["embeddings.LayerNorm.bias"], model.eps)[None]
            pad = torch.tensor([[False] * T + [True] * 3])
            for L in layers:
                x = L(x, src_key_padding_mask=pad)
            h = x[0, :T].numpy()
            parts = []
            for mode in model.pooling:
                parts.append({"cls": h[0], "max": h.max(axis=0), "mean": h.mean(axis=0),
                              "mean_sqrt_len": h.sum(axis=0) / np.sqrt(T)}[mode])
            v = np.concatenate(parts)
            if model.normalize:
                v = v / max(np.linalg.norm(v), 1e-12)
            out.append(v)
    return np.stack(out)


def embed_single(model, seqs):
    with torch.inference_mode():
        return torch.stack([model.embed([s])[0] for s in seqs])


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    out = args[0]
    t0 = time.time()
    if "--no-generate" in argv:
        with open(os.path.join(out, "models.json")) as f:
            manifest = json.load(f)
    else:
        manifest = tiny_models.write_tiny(out)
    t_gen = time.time() - t0
    torch.set_num_threads(1)  # identical results whatever the machine's core count

    ok = True
    f32_by_body = {}
    print("%-26s %4s %4s %-4s %-5s %-5s %9s %9s %9s %9s %9s" % (
        "model", "dim", "seqs", "dt", "pool", "norm", "batch64", "xcheck", "f32", "f32batch", "vs_f32w"))
    for e in manifest:
        d = os.path.join(out, e["name"])
        if e["expect"] == "refuse":
            try:
                bert_reference.load_model(d)
                print("%-26s NOT REFUSED" % e["name"])
                ok = False
            except bert_reference.ModelDirError as err:
                print("%-26s refused: %s" % (e["name"], err))
            continue
        model = bert_reference.load_model(d)
        assert model.pooling == [e["pooling"]] and model.normalize == e["normalize"]
        assert model.max_seq_length == e["max_seq_length"]
        seqs = sequences(e)
        assert max(map(len, seqs)) == e["max_seq_length"] and min(map(len, seqs)) == 1
        # stored values: float64 computation from the (upcast) float32 weights
        model64 = bert_reference.load_model(d).double()
        ref = embed_single(model64, seqs)
        d_batch64 = float((ref - model64.embed(seqs)).abs().max())
        d_x = float(np.abs(crosscheck(model64, seqs) - ref.numpy()).max())
        # what a float32 implementation gets: one at a time and padded
        d32 = float((embed_single(model, seqs).double() - ref).abs().max())
        d32b = float((model.embed(seqs).double() - ref).abs().max())
        # the F32 source of the same weights, with this model's pooling
        d_src = float("nan")
        if e["dtype"] == "F32":
            f32_by_body.setdefault(e["body"], d)
        elif e["body"] in f32_by_body:
            src = bert_reference.load_model(f32_by_body[e["body"]]).double()
            src.pooling, src.normalize = model.pooling, model.normalize
            vs = embed_single(src, seqs)
            d_src = float((ref - vs).abs().max() / vs.abs().max())
        if not (d_batch64 <= BATCH_TOL and d_x <= BATCH_TOL and d32 <= F32_TOL and d32b <= F32_TOL) \
                or not torch.isfinite(ref).all():
            ok = False
        with open(os.path.join(d, "reference.jsonl"), "w") as f:
            for s, v in zip(seqs, ref.tolist()):
                f.write(json.dumps({"ids": s, "embedding": v}) + "\n")
        print("%-26s %4d %4d %-4s %-5s %-5s %9.2e %9.2e %9.2e %9.2e %9s" % (
            e["name"], model.dim, len(seqs), e["dtype"], e["pooling"], "yes" if e["normalize"] else "no",
            d_batch64, d_x, d32, d32b, "-" if d_src != d_src else "%.2e" % d_src))
    print("batch64 = max |single - padded batch| (float64); xcheck = max |stored - "
          "nn.TransformerEncoderLayer-based recomputation| (float64); f32 / f32batch = max |float32 "
          "computation (single / padded batch) - stored float64 values|; vs_f32w = max |F16/BF16 "
          "model - same model with the F32 weights| / max |F32|")
    print("generated in %.1f s, references in %.1f s" % (t_gen, time.time() - t0 - t_gen))
    if not ok:
        sys.exit("FAILED")


if __name__ == "__main__":
    main(sys.argv)
