#!/usr/bin/python3
"""Speed peer: a sentence-transformers BERT / XLM-R model on PyTorch (Debian
python3-torch), run by the independent eager implementation in
tools/hf/bert_reference.py (the same operations transformers' eager BertModel runs:
F.linear, matmul, softmax, layer_norm, erf GELU, then mean pooling).

  /usr/bin/python3 bench/peers/bert_torch.py MODEL_DIR
      [--threads 2] [--lengths 16,64] [--lat-n 200] [--warmup 10]
      [--batch 32] [--batches 6] [--repeats 3] [--seed 1] [--int8]

MODEL_DIR is normally the random-weight model with the exact shapes of
paraphrase-multilingual-MiniLM-L12-v2 written by
  /usr/bin/python3 tools/hf/tiny_models.py --minilm-shapes build/bench-hf/minilm-shapes
(its f32/ directory; an F16 directory is computed in float32 after upcasting).

Inputs are random token-id sequences of exactly the given length: <s>/[CLS] id, random
ordinary ids, </s>/[SEP] id (no tokenization is timed). Under torch.inference_mode(),
per length:
  lat_p50_ms / lat_p99_ms  batch-1 latency of --lat-n calls, each on a new sequence,
                           after --warmup calls; nearest-rank percentiles
  batch32_sent_per_s       --batches batches of --batch sequences (no padding needed,
                           all of the same length) after one warm-up batch; best of
                           --repeats passes (this 2-core VM is noisy)
  peak_rss_mib             ru_maxrss so far (model loading included)
The BLAS that torch has mapped is printed first; then one JSON line per length.

--int8: the linear layers become nn.Linear modules holding the same weights and go
through torch.quantization.quantize_dynamic (qint8 weights, activations quantised per
batch at run time; embedding tables stay float32). The quantised engine and the
int8-vs-float32 cosine on a few sequences are printed; after the per-length lines, one
more JSON line gives "model_file_mib", the size of torch.save(state_dict).
"""

import argparse
import json
import math
import os
import resource
import sys
import time

from torch_embed import loaded_libs, openblas_info, openblas_short_name  # the BLAS probes every torch peer shares

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def describe_blas():
    """(short name, detail lines) of the BLAS mapped into this process."""
    libs = loaded_libs(("blas", "mkl_rt", "libmkl", "blis"))
    detail = ["BLAS libraries mapped: %s" % (", ".join(libs) or "none")]
    cfg, threads, lib = openblas_info(libs)
    if cfg is not None:
        detail.append("OpenBLAS config: %s; %d threads" % (cfg, threads))
        return openblas_short_name(cfg, lib), detail
    if libs:
        return os.path.basename(libs[0]), detail
    return "none mapped (torch BLAS_INFO from its build config)", detail


def with_linear_modules(model):
    """Moves every linear layer's weight and bias out of model.params into an nn.Linear
    (same [out, in] layout) that model._lin then calls: quantize_dynamic only swaps
    nn.Linear modules, and bert_reference.py calls F.linear on raw parameters."""
    import torch
    linears = torch.nn.ModuleDict()
    for key in [k for k in model.params.keys() if k.endswith("/weight")]:
        base = key[:-len("/weight")]
        w = model.params[key]
        if w.dim() != 2 or "embeddings" in base:
            continue
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(model.params[base + "/bias"])
        linears[base] = lin
        del model.params[key], model.params[base + "/bias"]
    model.linears = linears
    model._lin = lambda x, name: model.linears[name.replace(".", "/")](x)
    return model


def percentile(sorted_vals, p):
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def main():
    ap = argparse.ArgumentParser(description="PyTorch BERT/XLM-R sentence-embedding speed peer")
    ap.add_argument("model_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", default="16,64")
    ap.add_argument("--lat-n", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--int8", action="store_true", help="torch dynamic int8 quantisation of the linear layers")
    args = ap.parse_args()

    # Thread pools are sized when the libraries load: set the variables first.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    # With 2 cores, spinning OpenMP workers starve the BLAS threads (see torch_embed.py).
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools", "hf"))
    import bert_reference

    torch.set_num_threads(args.threads)
    model = bert_reference.load_model(args.model_dir, low_memory=True)
    cfg = model.cfg
    blas, detail = describe_blas()
    print("torch %s, intra-op threads %d, OMP_WAIT_POLICY=%s" % (
        torch.__version__, torch.get_num_threads(), os.environ["OMP_WAIT_POLICY"]))
    for line in detail:
        print(line)
    print("model %s: %s, %d layers, hidden %d, %d heads, intermediate %d, vocab %d, weights %s, "
          "pooling %s%s" % (args.model_dir, cfg["model_type"], cfg["num_hidden_layers"], cfg["hidden_size"],
                            cfg["num_attention_heads"], cfg["intermediate_size"], cfg["vocab_size"],
                            "+".join(model.weight_dtypes), "+".join(model.pooling),
                            " + normalize" if model.normalize else ""))
    sys.stdout.flush()

    # special ids: XLM-R tokenizer layout (<s>=0 <pad>=1 </s>=2 <unk>=3) when the
    # tokenizer is Unigram, BERT's [CLS]/[SEP] otherwise
    with open(os.path.join(args.model_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    if tok["model"]["type"] == "Unigram":
        cls_id, sep_id, lo, hi = 0, 2, 4, len(tok["model"]["vocab"]) - 1
    else:
        v = tok["model"]["vocab"]
        cls_id, sep_id, lo, hi = v["[CLS]"], v["[SEP]"], v["[MASK]"] + 1, len(v)
    rng = np.random.default_rng(args.seed)
    if args.int8:
        probe = torch.from_numpy(rng.integers(lo, hi, size=(4, 16)).astype(np.int64))
        probe_mask = torch.ones_like(probe)
        with torch.inference_mode():
            ref = model(probe, probe_mask)
            model = with_linear_modules(model)
            same = float((model(probe, probe_mask) - ref).abs().max())
            model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
            q = model(probe, probe_mask)
        cos = (q * ref).sum(1) / (q.norm(dim=1) * ref.norm(dim=1))
        print("torch int8: quantize_dynamic(nn.Linear, qint8) of %d layers, engine %s (supported: %s); nn.Linear "
              "copy vs original max abs diff %.1e; int8 vs float32 cosine on 4 sequences: min %.5f"
              % (len(model.linears), torch.backends.quantized.engine,
                 ", ".join(torch.backends.quantized.supported_engines), same, float(cos.min())))
        sys.stdout.flush()

    def make(n, length):
        ids = rng.integers(lo, hi, size=(n, length))
        ids[:, 0], ids[:, -1] = cls_id, sep_id
        return torch.from_numpy(ids.astype(np.int64))

    for length in [int(x) for x in args.lengths.split(",")]:
        if length > model.max_seq_length:
            sys.exit("length %d exceeds max_seq_length %d" % (length, model.max_seq_length))
        lat_ids = make(args.warmup + args.lat_n, length)
        one = torch.ones((1, length), dtype=torch.long)
        batches = [make(args.batch, length) for _ in range(args.batches + 1)]
        full = torch.ones((args.batch, length), dtype=torch.long)
        with torch.inference_mode():
            for i in range(args.warmup):
                model(lat_ids[i:i + 1], one)
            lat = []
            for i in range(args.warmup, args.warmup + args.lat_n):
                t0 = time.perf_counter()
                out = model(lat_ids[i:i + 1], one)
                lat.append((time.perf_counter() - t0) * 1e3)
            assert out.shape == (1, model.dim) and bool(torch.isfinite(out).all())
            lat.sort()
            model(batches[0], full)
            dt = float("inf")
            for _ in range(max(1, args.repeats)):
                t0 = time.perf_counter()
                for b in batches[1:]:
                    out = model(b, full)
                dt = min(dt, time.perf_counter() - t0)
            assert out.shape == (args.batch, model.dim) and bool(torch.isfinite(out).all())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({
            "peer": "pytorch", "precision": "int8" if args.int8 else "f32",
            "seq_len": length, "threads": torch.get_num_threads(), "blas": blas,
            "lat_p50_ms": round(percentile(lat, 50), 2), "lat_p99_ms": round(percentile(lat, 99), 2),
            "batch32_sent_per_s": round(args.batch * args.batches / dt, 1),
            "peak_rss_mib": round(peak, 1)}))
        sys.stdout.flush()
    if args.int8:  # after the timings, so that serialising adds nothing to their peak RSS
        import io
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        print(json.dumps({"peer": "pytorch", "precision": "int8", "engine": torch.backends.quantized.engine,
                          "model_file_mib": round(buf.tell() / 2**20, 2)}))


if __name__ == "__main__":
    main()
