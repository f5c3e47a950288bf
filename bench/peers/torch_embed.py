#!/usr/bin/python3
"""Speed peer: Universal Sentence Encoder lite on PyTorch (Debian python3-torch),
using the independent implementation in tools/torch/use_lite.py.

  /usr/bin/python3 bench/peers/torch_embed.py [BANKING77_TEST_CSV]
      [--threads 2] [--batch 32] [--lat-n 300] [--repeats 3] [--limit N]
      [--package-dir DIR | --model-dir DIR] [--int8]

Default input: ../shared/datasets/banking77/test.csv relative to the project
root. Measures, tokenization (Python port of the TF.js tokenizer) included,
under torch.inference_mode():
  sent_per_s   all texts in dataset order in batches of --batch (padded to the
               longest text of the batch), after a warm-up of two batches;
               best of --repeats passes (as bench_embed.c does)
  lat_p50_ms / lat_p99_ms   one text per call over --lat-n texts spread evenly
               over the set (text floor(i*n/m)), after 10 warm-up calls;
               nearest-rank percentiles
  peak_rss_mib resource.getrusage(RUSAGE_SELF).ru_maxrss at the end
Runs with OMP_WAIT_POLICY=PASSIVE unless told otherwise (see the comment in
main). --int8: the same model with its dense layers as nn.Linear modules holding the
same weights, through torch.quantization.quantize_dynamic (qint8 weights, activations
quantised per batch at run time; token embeddings stay float32); prints the quantised
engine, the int8-vs-float32 cosine on the first texts, and adds "model_file_mib" (the
size of torch.save(state_dict)) to the JSON line. The BLAS torch and numpy use is printed first; the last stdout line is one
JSON object.
"""

import argparse
import csv
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def read_texts(path):
    delim = "\t" if path.endswith(".tsv") else ","
    with open(path, "r", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=delim, strict=True))
    col = rows[0].index("text")
    return [r[col] for r in rows[1:]]


def loaded_libs(patterns):
    """Real paths of shared objects mapped into this process whose file name
    contains one of the patterns."""
    found = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5].startswith("/"):
                name = os.path.basename(parts[5]).lower()
                if any(p in name for p in patterns):
                    real = os.path.realpath(parts[5])
                    if real not in found:
                        found.append(real)
    return found


def openblas_info(libs):
    import ctypes
    for lib in libs:
        try:
            h = ctypes.CDLL(lib)
            h.openblas_get_config.restype = ctypes.c_char_p
            cfg = h.openblas_get_config().decode()
            threads = h.openblas_get_num_threads()
            return cfg.strip(), threads, lib
        except (OSError, AttributeError):
            continue
    return None, None, None


def openblas_short_name(cfg, lib):
    """"OpenBLAS 0.3.21 pthread Haswell" from openblas_get_config() (e.g. "OpenBLAS 0.3.21
    NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64") and the library's path."""
    words = cfg.split()
    flavour = "openmp" if "openmp" in lib else ("pthread" if "pthread" in lib else "")
    return " ".join(words[:2] + ([flavour] if flavour else []) + words[-2:-1])


def with_linear_modules(model):
    """The same USE-lite with every matrix product an nn.Linear holding the same weights
    (Dense and FFN store [in, out]; nn.Linear [out, in]): quantize_dynamic only swaps
    nn.Linear modules, and use_lite.py multiplies by raw parameters."""
    import torch
    from torch import nn

    def linear(w, b):
        lin = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w.t())
            lin.bias.copy_(b)
        return lin

    class LinearFFN(nn.Module):
        def __init__(self, ffn):
            super().__init__()
            self.up, self.down = linear(ffn.w1, ffn.b1), linear(ffn.w2, ffn.b2)

        def forward(self, x):
            return self.down(torch.relu(self.up(x)))

    for layer in (model.l0, model.l1):
        layer.attn.qkv = linear(layer.attn.qkv.weight, layer.attn.qkv.bias)
        layer.attn.out = linear(layer.attn.out.weight, layer.attn.out.bias)
        if layer.res is not None:
            layer.res = linear(layer.res.weight, layer.res.bias)
        layer.ffn = LinearFFN(layer.ffn)
    model.proj = linear(model.proj.weight, model.proj.bias)
    return model.eval()


def percentile(sorted_vals, p):
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def main():
    ap = argparse.ArgumentParser(description="PyTorch USE-lite speed peer")
    ap.add_argument("csv", nargs="?",
                    default=os.path.join(ROOT, "..", "shared", "datasets", "banking77", "test.csv"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lat-n", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--omp-wait-policy", default=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                    choices=["PASSIVE", "ACTIVE", "passive", "active"])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--package-dir")
    src.add_argument("--model-dir")
    ap.add_argument("--int8", action="store_true", help="torch dynamic int8 quantisation of the dense layers")
    args = ap.parse_args()

    # Thread pools are sized when the libraries load: set them first.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    # torch's element-wise ops run on OpenMP threads, its matrix products on
    # OpenBLAS's own pthreads. With 2 cores, OpenMP workers that spin after a
    # parallel region starve OpenBLAS (and the reverse): measured here up to
    # 5x slower. Passive waiting removes that; --omp-wait-policy ACTIVE
    # restores libgomp's default.
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy

    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools", "torch"))
    import use_lite
    from use_tokenizer import UseTokenizer

    torch.set_num_threads(args.threads)

    # --- which BLAS -----------------------------------------------------------------
    cfg = torch.__config__.show()
    keep = []
    for line in cfg.splitlines():
        s = line.strip()
        if s.startswith("- CPU capability") or "MKL-DNN" in s or s.startswith("- LAPACK") or "OpenMP" in s:
            keep.append(s.lstrip("- "))
        if "BLAS_INFO=" in s:
            for item in s.split(":", 1)[1].split(","):
                item = item.strip()
                if item.startswith(("BLAS_INFO=", "LAPACK_INFO=", "USE_MKLDNN=", "USE_OPENMP=")):
                    keep.append(item)
    blas_libs = loaded_libs(("blas", "mkl_rt", "libmkl", "blis"))
    ob_cfg, ob_threads, ob_lib = openblas_info(blas_libs)
    print("torch %s config: %s" % (torch.__version__, "; ".join(keep)))
    print("torch intra-op threads: %d (OMP_WAIT_POLICY=%s); BLAS libraries mapped: %s"
          % (torch.get_num_threads(), os.environ["OMP_WAIT_POLICY"], ", ".join(blas_libs) or "none"))
    if ob_cfg:
        print("OpenBLAS: %s, %d threads (%s)" % (ob_cfg, ob_threads, ob_lib))
    try:
        np_blas = np.__config__.blas_opt_info.get("libraries")
    except AttributeError:
        np_blas = "?"
    print("numpy %s: built against %s; resolves to the same mapped libblas.so.3 above"
          % (np.__version__, np_blas))
    if ob_cfg:  # e.g. "OpenBLAS 0.3.21 pthread Cooperlake"
        blas = openblas_short_name(ob_cfg, ob_lib)
    else:
        blas = "unknown (torch BLAS_INFO=generic, libs: %s)" % ", ".join(blas_libs)

    # --- model and data ---------------------------------------------------------------
    if args.model_dir:
        model = use_lite.from_model_dir(args.model_dir)
    else:
        model = use_lite.from_package(args.package_dir or use_lite.default_package_dir())
    tok = UseTokenizer.from_file(use_lite.find_vocab(args.package_dir, args.model_dir))
    texts = read_texts(args.csv)
    if args.limit:
        texts = texts[:args.limit]
    n = len(texts)

    model_file_mib = None
    if args.int8:
        import io
        probe = texts[:64]
        ids, lengths = use_lite.pad_batch([tok.encode(t) for t in probe])
        with torch.inference_mode():
            ref = model(ids, lengths)
            model = with_linear_modules(model)
            same = float((model(ids, lengths) - ref).abs().max())
            model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
            q = model(ids, lengths)
        cos = (q * ref).sum(1) / (q.norm(dim=1) * ref.norm(dim=1))
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        model_file_mib = buf.tell() / 2**20
        print("torch int8: quantize_dynamic(nn.Linear, qint8), engine %s (supported: %s); nn.Linear copy "
              "vs original max abs diff %.1e; int8 vs float32 cosine on %d texts: min %.5f mean %.5f"
              % (torch.backends.quantized.engine, ", ".join(torch.backends.quantized.supported_engines),
                 same, len(probe), float(cos.min()), float(cos.mean())))

    def embed(chunk):
        ids, lengths = use_lite.pad_batch([tok.encode(t) for t in chunk])
        return model(ids, lengths)

    with torch.inference_mode():
        # (a) throughput
        for s in range(0, min(n, 2 * args.batch), args.batch):
            embed(texts[s:s + args.batch])
        best = float("inf")
        check = None
        for _ in range(max(1, args.repeats)):
            outs = []
            t0 = time.perf_counter()
            for s in range(0, n, args.batch):
                outs.append(embed(texts[s:s + args.batch]))
            best = min(best, time.perf_counter() - t0)
            check = torch.cat(outs)
        if check.shape != (n, 512) or not torch.isfinite(check).all():
            sys.exit("bad output %s" % (tuple(check.shape),))
        norms = check.norm(dim=1)
        if float((norms - 1).abs().max()) > 1e-3:
            sys.exit("embeddings are not unit length")

        # (b) batch-1 latency
        for i in range(min(10, n)):
            embed([texts[i]])
        m = min(args.lat_n, n)
        lat = []
        for i in range(m):
            text = texts[(i * n) // m]
            t0 = time.perf_counter()
            embed([text])
            lat.append((time.perf_counter() - t0) * 1e3)
        lat.sort()

    # (c) peak RSS (ru_maxrss is KiB on Linux)
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print(json.dumps({
        "peer": "pytorch",
        "precision": "int8" if args.int8 else "f32",
        "threads": torch.get_num_threads(),
        "blas": blas,
        "n": n,
        "batch": args.batch,
        "sent_per_s": round(n / best, 1),
        "lat_p50_ms": round(percentile(lat, 50), 2),
        "lat_p99_ms": round(percentile(lat, 99), 2),
        "peak_rss_mib": round(peak, 1),
        **({"model_file_mib": round(model_file_mib, 2), "engine": torch.backends.quantized.engine}
           if args.int8 else {}),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
