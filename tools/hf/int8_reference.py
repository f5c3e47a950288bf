#!/usr/bin/python3
"""Independent numpy reference for Kanava's int8 BERT / XLM-R models, and the check of
`kanava embed --model DIR8` against it.

A quantised directory (`kanava model quantize DIR --out DIR8`) holds, in
model.safetensors, every linear weight [out, in] and the word-embedding table as I8 with
one F32 scale per output channel (per token row for the table) in "<name>.q8scale".
This file computes what such a model means, written from that description and
src/model/qgemm.h's scheme, sharing no code with the C engine:

  weights     W[o, i] ~ q[o, i] * scale[o]
  activations per row r of the layer input x: amax = max_i |x[r, i]|,
              xq = rint(x * (127 / amax)) clamped to +-127 (round half to even),
              s_r = amax / 127; a zero row stays zero with s_r = 1
  linear      y[r, o] = (sum_i xq[r, i] * q[o, i]) * (s_r * scale[o]) + b[o]
              the sum is an exact integer (int64 here, int32 in C)
  embeddings  word[id] = q[id, :] * scale[id]; position and token-type tables as stored
  the rest    layer norms, attention scores / softmax / context, GELU (erf), pooling and
              L2 normalisation in floating point, as in bert_reference.py

Precision: "float32" carries every float step in float32 (the C engine's precision);
"float64" the same steps in float64. The two differ by float rounding and, rarely, by a
value that lands on the other side of a rounding boundary of the activation
quantisation: that gap measures the ambiguity any correct implementation has, and the
check's tolerance allows for it (see FLIP_REL below).

Usage:
  int8_reference.py embed DIR8 IDS.jsonl [--float64]
      one JSON line {"ids": [...], "embedding": [...]} per input line (a list of ids or
      an object with "ids")
  int8_reference.py check --kanava BIN --tiny HF_TINY_DIR --work DIR [MODEL ...]
      quantises each tiny model with `BIN model quantize`, embeds texts made of
      single-piece words with `BIN embed`, and compares (see check()); ends with
      "N passed, M failed"
"""

import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bert_reference  # noqa: E402  (config parsing and the F32 PyTorch reference only)

SCALE_SUFFIX = ".q8scale"
LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value",
           "attention.output.dense", "intermediate.dense", "output.dense")

# Tolerances of the check.
#  - C int8 vs this reference. The integer sums are exact on both sides, so what is left
#    is float32 rounding (~1e-7 relative) plus, now and then, an activation whose
#    x * 127/amax lands within an ulp of a .5 boundary: the two sides' float32 values
#    differ by an ulp and round it to neighbouring steps. One such flip moves the
#    layer's outputs by |w| * amax / 127 (one step of one term of a K-term sum) and, after
#    the following layers, the sentence's embedding by up to ~5e-3 of its largest element
#    on these tiny models (K = 32..128, so one term weighs more than in real models).
#    So, per sequence: either no flip (within FLOAT_REL of max|e|: float rounding only)
#    or a few (within FLIP_REL of max|e| and cosine within FLIP_COS of 1); and at least
#    EXACT_SHARE of the sequences must show no flip at all, which a wrong scale, axis,
#    rounding rule or a missing dequantisation cannot pass (they move every sequence by
#    1e-2..1e-1). The reference's own float32-vs-float64 gap is printed beside as the
#    measured size of this ambiguity.
FLOAT_REL = 1e-5
FLIP_REL = 1e-2
FLIP_COS = 1e-4
EXACT_SHARE = 2.0 / 3.0
#  - the ids the texts are built from are checked through the F32 model: Kanava F32 vs
#    PyTorch F32 within the tolerance tests/test_hf_bert.c uses.
F32_TOLERANCE = 1e-5
#  - int8 vs float: cosine between the int8 and the F32 embedding of every text.
MIN_COSINE = 0.99


# --------------------------------------------------------------------------- weights

_DT = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2), "I8": ("i1", 1), "I64": ("<i8", 8)}


def read_safetensors(path):
    """{name: numpy array} with F16/BF16 widened to float32, I8 kept as int8."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: too short for safetensors" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError("%s: header length %d does not fit the file" % (path, n))
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if info["dtype"] not in _DT:
            raise ValueError("%s: tensor %s has dtype %s" % (path, name, info["dtype"]))
        np_dt, size = _DT[info["dtype"]]
        b, e = info["data_offsets"]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if not 0 <= b <= e <= len(data) or e - b != count * size:
            raise ValueError("%s: tensor %s: bad data_offsets" % (path, name))
        a = np.frombuffer(data[b:e], dtype=np_dt).reshape(info["shape"])
        if info["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F16":
            a = a.astype(np.float32)
        out[name] = a
    return out


class Int8Model:
    """A quantised BERT / XLM-R sentence encoder; embed(ids) -> numpy vector."""

    def __init__(self, model_dir, precision="float32"):
        info = bert_reference.read_model_dir(model_dir)
        cfg = info["config"]
        self.cfg, self.pooling, self.normalize = cfg, info["pooling"], info["normalize"]
        self.dt = np.dtype(precision)
        self.eps = self.dt.type(cfg["layer_norm_eps"])
        self.D, self.heads, self.layers = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
        self.xlmr = cfg["model_type"] == "xlm-roberta"
        self.pad_id = int(cfg["pad_token_id"])
        path = os.path.join(model_dir, "model.safetensors")
        raw = read_safetensors(path)
        t = {bert_reference.strip_name(n): a for n, a in raw.items()}

        def q8(name):
            if name not in t:
                raise ValueError("%s: missing tensor %s" % (path, name))
            if t[name].dtype != np.int8 or name + SCALE_SUFFIX not in t:
                raise ValueError("%s: %s is not quantised (I8 with %s%s)" % (path, name, name, SCALE_SUFFIX))
            q, s = t[name], t[name + SCALE_SUFFIX]
            if s.shape != (q.shape[0],) or s.dtype != np.float32:
                raise ValueError("%s: %s%s has shape %s, expected [%d] F32"
                                 % (path, name, SCALE_SUFFIX, list(s.shape), q.shape[0]))
            if int(np.abs(q.astype(np.int16)).max()) > 127:
                raise ValueError("%s: %s holds -128 (the scheme uses -127..127)" % (path, name))
            return q, s

        def f(name):
            return t[name].astype(self.dt)

        self.word = q8("embeddings.word_embeddings.weight")
        self.pos = f("embeddings.position_embeddings.weight")
        self.tt0 = f("embeddings.token_type_embeddings.weight")[0]
        self.ln_e = (f("embeddings.LayerNorm.weight"), f("embeddings.LayerNorm.bias"))
        self.L = []
        for i in range(self.layers):
            p = "encoder.layer.%d." % i
            lay = {n: (q8(p + n + ".weight"), f(p + n + ".bias")) for n in LINEARS}
            lay["ln1"] = (f(p + "attention.output.LayerNorm.weight"), f(p + "attention.output.LayerNorm.bias"))
            lay["ln2"] = (f(p + "output.LayerNorm.weight"), f(p + "output.LayerNorm.bias"))
            self.L.append(lay)
        self.flips_near = 0  # activations within 1e-4 of a rounding boundary (diagnostic)

    def quantize_rows(self, x):
        one27 = self.dt.type(127)
        amax = np.abs(x).max(axis=1)
        safe = np.where(amax > 0, amax, one27)
        inv = np.where(amax > 0, one27 / safe, self.dt.type(0)).astype(self.dt)
        v = x * inv[:, None]
        frac = np.abs(v - np.floor(v) - 0.5)
        self.flips_near += int((frac < 1e-4).sum())
        q = np.clip(np.rint(v), -127, 127).astype(np.int64)
        s = np.where(amax > 0, amax / one27, self.dt.type(1)).astype(self.dt)
        return q, s

    def linear(self, x, wb):
        (q, scale), b = wb
        xq, s = self.quantize_rows(x)
        acc = xq @ q.astype(np.int64).T  # exact
        return (acc.astype(self.dt) * (s[:, None] * scale.astype(self.dt)[None, :]) + b).astype(self.dt)

    def layer_norm(self, x, wb):
        mean = x.mean(axis=1, keepdims=True, dtype=self.dt)
        c = x - mean
        var = (c * c).mean(axis=1, keepdims=True, dtype=self.dt)
        return (c / np.sqrt(var + self.eps) * wb[0] + wb[1]).astype(self.dt)

    def gelu(self, x):
        erf = np.vectorize(math.erf, otypes=[np.float64])
        return (0.5 * x.astype(np.float64) * (1.0 + erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(self.dt)

    def embed(self, ids):
        ids = [int(i) for i in ids]
        T, D, H = len(ids), self.D, self.heads
        if T == 0 or min(ids) < 0 or max(ids) >= self.word[0].shape[0]:
            raise ValueError("ids must be a non-empty list within the vocabulary")
        wq, ws = self.word
        pos = np.arange(T) + (self.pad_id + 1 if self.xlmr else 0)
        x = wq[ids].astype(self.dt) * ws[ids].astype(self.dt)[:, None] + self.pos[pos] + self.tt0
        x = self.layer_norm(x.astype(self.dt), self.ln_e)
        hd = D // H
        for lay in self.L:
            q = self.linear(x, lay["attention.self.query"]).reshape(T, H, hd).transpose(1, 0, 2)
            k = self.linear(x, lay["attention.self.key"]).reshape(T, H, hd).transpose(1, 0, 2)
            v = self.linear(x, lay["attention.self.value"]).reshape(T, H, hd).transpose(1, 0, 2)
            sc = (q @ k.transpose(0, 2, 1)) / self.dt.type(math.sqrt(hd))
            sc = np.exp(sc - sc.max(axis=2, keepdims=True))
            p = sc / sc.sum(axis=2, keepdims=True)
            ctx = (p @ v).transpose(1, 0, 2).reshape(T, D).astype(self.dt)
            a = self.layer_norm(self.linear(ctx, lay["attention.output.dense"]) + x, lay["ln1"])
            h = self.gelu(self.linear(a, lay["intermediate.dense"]))
            x = self.layer_norm(self.linear(h, lay["output.dense"]) + a, lay["ln2"])
        parts = []
        for mode in self.pooling:
            parts.append({"cls": lambda: x[0], "max": lambda: x.max(axis=0), "mean": lambda: x.mean(axis=0),
                          "mean_sqrt_len": lambda: x.sum(axis=0) / np.sqrt(T)}[mode]())
        out = np.concatenate(parts).astype(np.float64)
        if self.normalize:
            out = out / max(float(np.linalg.norm(out)), 1e-12)
        return out


# --------------------------------------------------------------------------- texts

def single_piece_words(model_dir):
    """[(word, id)]: lowercase ASCII words the model's tokenizer provably maps to exactly
    one id each, so that a text of such words separated by single spaces has known ids.
      WordPiece: the whole word is in the vocabulary (greedy longest-prefix takes it).
      Unigram:   the piece "▁word" scores above twice the best score of any piece made of
                 '▁' and a-z; every other segmentation has >= 2 pieces, each scoring at most
                 that best (all scores < 0), so Viterbi must pick the single piece."""
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    model = tok["model"]
    alpha = set("abcdefghijklmnopqrstuvwxyz")
    if model["type"] == "WordPiece":
        return sorted((w, i) for w, i in model["vocab"].items() if len(w) >= 2 and set(w) <= alpha)
    if model["type"] == "Unigram":
        vocab = model["vocab"]
        best = max(s for p, s in vocab if p and set(p) <= alpha | {"▁"})
        if best >= 0:
            raise ValueError("%s: Unigram scores not negative; no provable single pieces" % model_dir)
        return sorted((p[1:], i) for i, (p, s) in enumerate(vocab)
                      if p.startswith("▁") and len(p) >= 3 and set(p[1:]) <= alpha and s > 2 * best)
    raise ValueError("%s: tokenizer model %s" % (model_dir, model["type"]))


def special_ids(model_dir):
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    if tok["model"]["type"] == "WordPiece":
        v = tok["model"]["vocab"]
        return v["[CLS]"], v["[SEP]"]
    return 0, 2  # <s>, </s> (XLM-R layout; tiny_models.py and real exports)


def make_texts(model_dir, max_seq, n=24, seed=8):
    """n texts of 1 .. max_seq-2 words and their ids ([CLS] words [SEP])."""
    words = single_piece_words(model_dir)
    if len(words) < 20:
        raise ValueError("%s: only %d provably single-piece words" % (model_dir, len(words)))
    cls, sep = special_ids(model_dir)
    rng = np.random.default_rng(seed)
    lengths = [1, 2, max_seq - 2, max_seq - 2] + [int(x) for x in rng.integers(3, max_seq - 2, size=n - 4)]
    texts, ids = [], []
    for k in lengths:
        pick = [words[int(j)] for j in rng.integers(0, len(words), size=k)]
        texts.append(" ".join(w for w, _ in pick))
        ids.append([cls] + [i for _, i in pick] + [sep])
    return texts, ids


# --------------------------------------------------------------------------- check

def kanava_embed(kanava, model_dir, texts, out_path):
    txt = out_path + ".txt"
    with open(txt, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in texts))
    subprocess.run([kanava, "embed", "--model", model_dir, "--format", "npy", "--threads", "1",
                    "--output", out_path, txt], check=True)
    a = np.load(out_path).astype(np.float64)
    if a.shape[0] != len(texts):
        raise ValueError("%s: %d vectors for %d texts" % (out_path, a.shape[0], len(texts)))
    return a


def cosines(a, b):
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


def check_model(kanava, tiny, work, name, results):
    src, dst = os.path.join(tiny, name), os.path.join(work, name + "-int8")
    shutil.rmtree(dst, ignore_errors=True)  # quantize never overwrites
    subprocess.run([kanava, "model", "quantize", src, "--out", dst], check=True, stdout=subprocess.DEVNULL)
    f32_model = bert_reference.load_model(src).double()
    texts, ids = make_texts(src, f32_model.max_seq_length)

    def ok(label, cond, detail):
        results.append(bool(cond))
        print("%-24s %-44s %s  %s" % (name, label, "ok  " if cond else "FAIL", detail))

    # 1. the ids: Kanava's F32 engine on the texts against PyTorch F32 on the ids
    f32_ref = f32_model.embed(ids).numpy()
    f32_kan = kanava_embed(kanava, src, texts, os.path.join(work, name + "-f32.npy"))
    d = float(np.abs(f32_kan - f32_ref).max())
    ok("texts -> ids (F32 Kanava vs PyTorch)", d <= F32_TOLERANCE, "max abs diff %.2e" % d)

    # 2. the int8 engine against this reference (float32 steps), tolerance from the gap
    #    between the reference's own float32 and float64 computations
    ref32, ref64 = Int8Model(dst, "float32"), Int8Model(dst, "float64")
    r32 = np.stack([ref32.embed(s) for s in ids])
    r64 = np.stack([ref64.embed(s) for s in ids])
    q8_kan = kanava_embed(kanava, dst, texts, os.path.join(work, name + "-int8.npy"))
    scale = np.maximum(np.abs(r32).max(axis=1), 1e-30)
    rel = np.abs(q8_kan - r32).max(axis=1) / scale
    one_minus_cos = 1.0 - cosines(q8_kan, r32)
    exact = int((rel <= FLOAT_REL).sum())
    gap = float((np.abs(r32 - r64).max(axis=1) / scale).max())
    good = exact >= EXACT_SHARE * len(ids) and rel.max() <= FLIP_REL and one_minus_cos.max() <= FLIP_COS
    ok("int8 Kanava vs int8 reference", good,
       "max abs diff %.2e; %d/%d sequences within %.0e of max|e|, worst %.1e of max|e|, 1-cos %.1e "
       "(reference float32 vs float64: %.1e of max|e|; %d activations within 1e-4 of a rounding boundary)"
       % (float(np.abs(q8_kan - r32).max()), exact, len(ids), FLOAT_REL, rel.max(), one_minus_cos.max(), gap,
          ref32.flips_near))

    # 3. it is really quantised: the int8 result differs from the float one far beyond
    #    float rounding, and the reference agrees about where (same sign of the change)
    dq = np.abs(r32 - f32_ref)
    ok("int8 differs from F32 (not a no-op)", float(dq.mean()) > 50 * F32_TOLERANCE,
       "mean |int8 ref - F32| %.2e" % float(dq.mean()))

    # 4. int8 against F32 PyTorch: cosine per text, and on tiny_reference.py's sequences
    c = cosines(q8_kan, f32_ref)
    ok("int8 Kanava vs F32 PyTorch cosine", c.min() >= MIN_COSINE, "min %.5f mean %.5f" % (c.min(), c.mean()))
    seqs, stored = [], []
    with open(os.path.join(src, "reference.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            seqs.append(rec["ids"])
            stored.append(rec["embedding"])
    c = cosines(np.stack([ref32.embed(s) for s in seqs]), np.array(stored))
    ok("int8 reference vs reference.jsonl cosine", c.min() >= MIN_COSINE,
       "min %.5f mean %.5f over %d sequences" % (c.min(), c.mean(), len(seqs)))


def check(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="int8_reference.py check")
    ap.add_argument("--kanava", required=True)
    ap.add_argument("--tiny", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("models", nargs="*",
                    default=["bert_wp_f32_mean_norm", "xlmr_f32_mean_norm", "bert_wp_pfx_f32_cls",
                             "mbert_uni_f32_mean", "xlmr_pfx_f32_max"])
    a = ap.parse_args(argv)
    os.makedirs(a.work, exist_ok=True)
    results = []
    for name in a.models:
        try:
            check_model(a.kanava, a.tiny, a.work, name, results)
        except (OSError, ValueError, KeyError, subprocess.CalledProcessError) as e:
            print("%-24s FAIL  %s" % (name, e))
            results.append(False)
    # the reference refuses a float model by name rather than computing something else
    try:
        Int8Model(os.path.join(a.tiny, a.models[0]))
        print("float model accepted by the int8 reference  FAIL")
        results.append(False)
    except ValueError as e:
        print("float model refused: %s  ok" % e)
        results.append("is not quantised" in str(e))
    print("%d passed, %d failed" % (sum(results), len(results) - sum(results)))
    return 0 if all(results) else 1


def main(argv):
    if len(argv) >= 2 and argv[1] == "check":
        return check(argv[2:])
    if len(argv) >= 4 and argv[1] == "embed":
        model = Int8Model(argv[2], "float64" if "--float64" in argv else "float32")
        with open(argv[3], encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    ids = rec["ids"] if isinstance(rec, dict) else rec
                    print(json.dumps({"ids": ids, "embedding": [float(x) for x in model.embed(ids)]}))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
