#!/usr/bin/python3
"""Independent PyTorch reference for sentence-transformers encoders of the BERT and
XLM-RoBERTa families, loaded from a model directory in the Hugging Face layout.

Written from the published architecture descriptions (BERT: Devlin et al. 2019, the
post-layer-norm Transformer encoder; RoBERTa/XLM-R position ids; the
sentence-transformers Pooling and Normalize modules), not from any library code.
It reproduces what transformers' BertModel / XLMRobertaModel (eager attention)
followed by sentence-transformers' Pooling (+ Normalize) computes:

  embeddings  x = word[id] + position[p] + token_type[0], then LayerNorm
              p = 0..T-1 for BERT;
              p = pad_id + cumsum(id != pad_id) * (id != pad_id) for XLM-R, so real
              tokens get pad_id+1, pad_id+2, ... and padding gets pad_id
  each layer  q,k,v = x W^T + b (Linear weights are [out, in]), split into heads
              scores = q k^T / sqrt(head_dim) + mask, mask = (1 - m) * finfo.min
              a = LayerNorm(ctx W_o^T + b_o + x)                  (post-LN)
              x = LayerNorm(gelu_erf(a W_i^T + b_i) W_2^T + b_2 + a)
  pooling     concatenation, in this order, of the enabled modes: cls (token 0),
              max (padding set to -1e9 first), mean (sum over mask / max(count, 1e-9)),
              mean_sqrt_len (sum / sqrt(count))
  normalize   x / max(||x||_2, 1e-12)          (only when modules.json lists it)

The pooler (pooler.dense) is loaded and checked but unused: sentence-transformers
pools the last hidden state. token_type_ids are all 0.

Library use:
    enc = load_model("DIR")                  # nn.Module, float32
    vecs = enc.embed([[101, 7592, 102], ...])  # torch [n, dim]; pads to a batch
    vecs = enc(ids, mask)                      # ids/mask [B, T] tensors

Command line (prints one JSON line per sequence):
    /usr/bin/python3 tools/hf/bert_reference.py MODEL_DIR '[101, 2023, 102]' ...
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------- safetensors

_DTYPES = {  # safetensors dtype -> (numpy dtype, bytes per element)
    "F64": (np.dtype("<f8"), 8),
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),  # raw bits, widened below
    "I64": (np.dtype("<i8"), 8),
    "I32": (np.dtype("<i4"), 4),
    "U8": (np.dtype("u1"), 1),
    "BOOL": (np.dtype("u1"), 1),
}


class SafetensorsError(ValueError):
    pass


def read_safetensors_header(path):
    """Return (header dict without __metadata__, metadata dict, data start offset)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise SafetensorsError("%s: shorter than 8 bytes" % path)
        (n,) = struct.unpack("<Q", raw)
        if n < 2 or 8 + n > size:
            raise SafetensorsError("%s: header length %d does not fit the file" % (path, n))
        text = f.read(n)
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError("%s: header is not JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise SafetensorsError("%s: header is not a JSON object" % path)
    meta = header.pop("__metadata__", {}) or {}
    data_len = size - 8 - n
    spans = []
    for name, info in header.items():
        dt = info.get("dtype")
        if dt not in _DTYPES:
            raise SafetensorsError("%s: tensor %s has unsupported dtype %r" % (path, name, dt))
        shape = info.get("shape")
        b, e = info.get("data_offsets", (None, None))
        if not isinstance(shape, list) or any((not isinstance(d, int)) or d < 0 for d in shape):
            raise SafetensorsError("%s: tensor %s has a bad shape %r" % (path, name, shape))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (isinstance(b, int) and isinstance(e, int) and 0 <= b <= e <= data_len):
            raise SafetensorsError("%s: tensor %s has bad data_offsets" % (path, name))
        if e - b != count * _DTYPES[dt][1]:
            raise SafetensorsError("%s: tensor %s: %d bytes for %s %s"
                                   % (path, name, e - b, dt, shape))
        spans.append((b, e, name))
    spans.sort()
    pos = 0
    for b, e, name in spans:  # the format requires the data to be tiled without holes
        if b != pos:
            raise SafetensorsError("%s: tensor %s: data not contiguous" % (path, name))
        pos = e
    if pos != data_len:
        raise SafetensorsError("%s: %d trailing bytes after the tensor data" % (path, data_len - pos))
    return header, meta, 8 + n


def _widen(raw, dt, shape):
    np_dt, _ = _DTYPES[dt]
    a = np.frombuffer(raw, dtype=np_dt)
    if dt == "BF16":  # bfloat16 = the upper 16 bits of a float32
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.reshape(shape)


def load_safetensors(path, names=None):
    """Read tensors (all, or the given names) as numpy arrays: floating dtypes widened to
    float32 exactly (F16, BF16 -> F32; F64 kept), integer ones kept."""
    header, _, start = read_safetensors_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            if names is not None and name not in names:
                continue
            b, e = info["data_offsets"]
            f.seek(start + b)
            raw = f.read(e - b)
            a = _widen(raw, info["dtype"], info["shape"])
            out[name] = a.astype(np.float32) if info["dtype"] in ("F16", "BF16") else a.copy()
    return out, {k: v["dtype"] for k, v in header.items()}


def load_safetensors_torch_f32(path, keep):
    """Low-memory loader for big checkpoints: reads each wanted tensor straight into a
    float32 torch tensor (peak ~ model size in float32). keep(name) -> bool."""
    header, _, start = read_safetensors_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            if not keep(name):
                continue
            b, e = info["data_offsets"]
            dt, shape = info["dtype"], info["shape"]
            f.seek(start + b)
            if dt == "F32":
                t = torch.empty(shape, dtype=torch.float32)
                view = memoryview(t.numpy().reshape(-1).view(np.uint8))
                if f.readinto(view) != e - b:
                    raise SafetensorsError("%s: short read for %s" % (path, name))
            elif dt in ("F16", "BF16"):
                t = torch.from_numpy(_widen(f.read(e - b), dt, shape).astype(np.float32))
            else:
                t = torch.from_numpy(_widen(f.read(e - b), dt, shape).copy())
            out[name] = t
    return out, {k: v["dtype"] for k, v in header.items()}


# --------------------------------------------------------------------------- config


class ModelDirError(ValueError):
    pass


SUPPORTED_TYPES = ("bert", "xlm-roberta")


def _read_json(path):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def read_model_dir(model_dir):
    """Parse and validate the sentence-transformers directory. Returns a dict with
    config, pooling modes, normalize flag, max_seq_length."""
    cfg = _read_json(os.path.join(model_dir, "config.json"))
    mt = cfg.get("model_type")
    if mt not in SUPPORTED_TYPES:
        raise ModelDirError("model_type %r is not supported (only %s)" % (mt, ", ".join(SUPPORTED_TYPES)))
    pet = cfg.get("position_embedding_type", "absolute")
    if pet != "absolute":
        raise ModelDirError("position_embedding_type %r is not supported (only absolute)" % pet)
    act = cfg.get("hidden_act", "gelu")
    if act != "gelu":
        raise ModelDirError("hidden_act %r is not supported (only gelu)" % act)
    if cfg.get("is_decoder") or cfg.get("add_cross_attention"):
        raise ModelDirError("decoder configurations are not supported")
    for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "max_position_embeddings", "vocab_size"):
        if not isinstance(cfg.get(k), int) or cfg[k] <= 0:
            raise ModelDirError("config.json: %s missing or not a positive integer" % k)
    if cfg["hidden_size"] % cfg["num_attention_heads"]:
        raise ModelDirError("hidden_size is not a multiple of num_attention_heads")
    defaults = {"bert": (2, 0, 1e-12), "xlm-roberta": (1, 1, 1e-5)}[mt]
    cfg.setdefault("type_vocab_size", defaults[0])
    cfg.setdefault("pad_token_id", defaults[1])
    cfg.setdefault("layer_norm_eps", defaults[2])

    mods_path = os.path.join(model_dir, "modules.json")
    mods = _read_json(mods_path)
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in mods]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelDirError("modules.json: unsupported module list %s" % kinds)
    if mods[0].get("path", "") not in ("", "."):
        raise ModelDirError("modules.json: Transformer module not at the directory root")
    pool_dir = os.path.join(model_dir, mods[1]["path"])
    pcfg = _read_json(os.path.join(pool_dir, "config.json"))
    modes = []
    for key, mode in (("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"),
                      ("pooling_mode_mean_tokens", "mean"),
                      ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len")):
        if pcfg.get(key):
            modes.append(mode)
    for key in ("pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"):
        if pcfg.get(key):
            raise ModelDirError("1_Pooling: %s is not supported" % key)
    if not modes:
        raise ModelDirError("1_Pooling: no pooling mode enabled")
    if pcfg.get("word_embedding_dimension", cfg["hidden_size"]) != cfg["hidden_size"]:
        raise ModelDirError("1_Pooling: word_embedding_dimension differs from hidden_size")

    max_seq = cfg["max_position_embeddings"] - (cfg["pad_token_id"] + 1 if mt == "xlm-roberta" else 0)
    sbc = os.path.join(model_dir, "sentence_bert_config.json")
    if os.path.exists(sbc):
        v = _read_json(sbc).get("max_seq_length")
        if v is not None:
            max_seq = min(int(v), max_seq)
    return {"config": cfg, "pooling": modes, "normalize": kinds[-1] == "Normalize",
            "max_seq_length": max_seq}


# --------------------------------------------------------------------------- weights

_PREFIXES = ("bert.", "roberta.", "model.")
_IGNORED = ("embeddings.position_ids", "embeddings.token_type_ids")  # saved buffers


def expected_shapes(cfg):
    D, I = cfg["hidden_size"], cfg["intermediate_size"]
    s = {
        "embeddings.word_embeddings.weight": (cfg["vocab_size"], D),
        "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], D),
        "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], D),
        "embeddings.LayerNorm.weight": (D,),
        "embeddings.LayerNorm.bias": (D,),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            s[p + n + ".weight"] = (D, D)
            s[p + n + ".bias"] = (D,)
        s[p + "attention.output.LayerNorm.weight"] = (D,)
        s[p + "attention.output.LayerNorm.bias"] = (D,)
        s[p + "intermediate.dense.weight"] = (I, D)
        s[p + "intermediate.dense.bias"] = (I,)
        s[p + "output.dense.weight"] = (D, I)
        s[p + "output.dense.bias"] = (D,)
        s[p + "output.LayerNorm.weight"] = (D,)
        s[p + "output.LayerNorm.bias"] = (D,)
    return s


OPTIONAL = {"pooler.dense.weight", "pooler.dense.bias"}


def strip_name(name):
    for p in _PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def check_weights(cfg, names_shapes):
    """names_shapes: {stripped name: shape}. Raises on a missing, misshapen or unknown
    tensor (saved buffers and the pooler are allowed)."""
    want = expected_shapes(cfg)
    D = cfg["hidden_size"]
    for n, shp in want.items():
        if n not in names_shapes:
            raise ModelDirError("model.safetensors: missing tensor %s" % n)
        if tuple(names_shapes[n]) != shp:
            raise ModelDirError("model.safetensors: %s has shape %s, expected %s"
                                % (n, list(names_shapes[n]), list(shp)))
    for n, shp in names_shapes.items():
        if n in want or n in _IGNORED:
            continue
        if n in OPTIONAL:
            if tuple(shp) != ((D, D) if n.endswith("weight") else (D,)):
                raise ModelDirError("model.safetensors: %s has shape %s" % (n, list(shp)))
            continue
        raise ModelDirError("model.safetensors: unexpected tensor %s" % n)


# --------------------------------------------------------------------------- model


class SentenceEncoder(torch.nn.Module):
    """BertModel / XLMRobertaModel body + sentence-transformers Pooling (+ Normalize)."""

    def __init__(self, info, weights):
        super().__init__()
        cfg = info["config"]
        self.cfg = cfg
        self.model_type = cfg["model_type"]
        self.pad_id = int(cfg["pad_token_id"])
        self.eps = float(cfg["layer_norm_eps"])
        self.heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.head_dim = self.hidden // self.heads
        self.layers = cfg["num_hidden_layers"]
        self.pooling = info["pooling"]
        self.normalize = info["normalize"]
        self.max_seq_length = info["max_seq_length"]
        # Registered as parameters so that .double() works (the float64 self-check);
        # ParameterDict keys may not contain dots, hence the substitution.
        params = {}
        for n, t in weights.items():
            if n in _IGNORED:
                continue
            t = t if isinstance(t, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(t))
            params[n.replace(".", "/")] = torch.nn.Parameter(t.float(), requires_grad=False)
        self.params = torch.nn.ParameterDict(params)

    def _p(self, name):
        return self.params[name.replace(".", "/")]

    @property
    def dim(self):
        return self.hidden * len(self.pooling)

    def position_ids(self, ids):
        B, T = ids.shape
        if self.model_type == "xlm-roberta":
            m = (ids != self.pad_id).long()
            return torch.cumsum(m, dim=1) * m + self.pad_id
        return torch.arange(T, dtype=torch.long).unsqueeze(0).expand(B, T)

    def _ln(self, x, name):
        return F.layer_norm(x, (self.hidden,), self._p(name + ".weight"), self._p(name + ".bias"), self.eps)

    def _lin(self, x, name):
        return F.linear(x, self._p(name + ".weight"), self._p(name + ".bias"))

    def token_embeddings(self, ids, mask):
        """ids, mask: [B, T] (mask 1 = real token). Returns last hidden state [B, T, D]."""
        B, T = ids.shape
        dt = self._p("embeddings.LayerNorm.weight").dtype
        pos = self.position_ids(ids)
        if int(pos.max()) >= self.cfg["max_position_embeddings"]:
            raise ValueError("sequence too long for max_position_embeddings")
        x = (F.embedding(ids, self._p("embeddings.word_embeddings.weight"))
             + F.embedding(pos, self._p("embeddings.position_embeddings.weight"))
             + self._p("embeddings.token_type_embeddings.weight")[0])
        x = self._ln(x, "embeddings.LayerNorm")
        add_mask = (1.0 - mask.to(dt))[:, None, None, :] * torch.finfo(dt).min  # [B,1,1,T]
        H, hd = self.heads, self.head_dim
        scale = math.sqrt(hd)
        for i in range(self.layers):
            p = "encoder.layer.%d." % i

            def heads(t):
                return t.view(B, T, H, hd).transpose(1, 2)  # [B,H,T,hd]

            q = heads(self._lin(x, p + "attention.self.query"))
            k = heads(self._lin(x, p + "attention.self.key"))
            v = heads(self._lin(x, p + "attention.self.value"))
            scores = torch.matmul(q, k.transpose(-1, -2)) / scale + add_mask
            probs = torch.softmax(scores, dim=-1)
            ctx = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, self.hidden)
            a = self._ln(self._lin(ctx, p + "attention.output.dense") + x,
                         p + "attention.output.LayerNorm")
            h = F.gelu(self._lin(a, p + "intermediate.dense"))  # exact (erf) GELU
            x = self._ln(self._lin(h, p + "output.dense") + a, p + "output.LayerNorm")
        return x

    def pool(self, tok, mask):
        m = mask.to(tok.dtype).unsqueeze(-1)  # [B,T,1]
        outs = []
        for mode in self.pooling:
            if mode == "cls":
                outs.append(tok[:, 0])
            elif mode == "max":
                outs.append(tok.masked_fill(m == 0, -1e9).max(dim=1).values)
            else:
                s = (tok * m).sum(dim=1)
                cnt = torch.clamp(m.sum(dim=1), min=1e-9)
                outs.append(s / cnt if mode == "mean" else s / torch.sqrt(cnt))
        out = torch.cat(outs, dim=1)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=1, eps=1e-12)
        return out

    def forward(self, ids, mask):
        return self.pool(self.token_embeddings(ids, mask), mask)

    def pad(self, seqs):
        """Right-pad id lists with pad_token_id. Returns (ids, mask) long tensors."""
        T = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), T), dtype=torch.long)
        for r, s in enumerate(seqs):
            if not s:
                raise ValueError("empty id sequence")
            if len(s) > self.max_seq_length:
                raise ValueError("sequence of %d ids exceeds max_seq_length %d"
                                 % (len(s), self.max_seq_length))
            ids[r, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[r, :len(s)] = 1
        if int(ids.min()) < 0 or int(ids.max()) >= self.cfg["vocab_size"]:
            raise ValueError("token id out of range")
        return ids, mask

    @torch.inference_mode()
    def embed(self, seqs):
        ids, mask = self.pad(seqs)
        return self.forward(ids, mask)


def load_model(model_dir, low_memory=False):
    info = read_model_dir(model_dir)
    path = os.path.join(model_dir, "model.safetensors")
    if low_memory:
        header, _, _ = read_safetensors_header(path)
        names = {strip_name(n): tuple(v["shape"]) for n, v in header.items()}
        check_weights(info["config"], names)
        raw, dtypes = load_safetensors_torch_f32(
            path, lambda n: strip_name(n) not in _IGNORED and not strip_name(n).startswith("pooler."))
    else:
        raw, dtypes = load_safetensors(path)
    weights = {}
    for n, a in raw.items():
        s = strip_name(n)
        if s in weights:
            raise ModelDirError("model.safetensors: %s appears twice (with and without prefix)" % s)
        weights[s] = a
    if not low_memory:
        check_weights(info["config"], {n: a.shape for n, a in weights.items()})
    for n, dt in dtypes.items():
        if strip_name(n) not in _IGNORED and dt not in ("F32", "F16", "BF16"):
            raise ModelDirError("model.safetensors: %s has dtype %s" % (n, dt))
    model = SentenceEncoder(info, weights)
    model.weight_dtypes = sorted(set(dt for n, dt in dtypes.items() if strip_name(n) not in _IGNORED))
    model.eval()
    return model


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    model = load_model(argv[1])
    seqs = [json.loads(a) for a in argv[2:]]
    if seqs:
        for s, v in zip(seqs, model.embed(seqs)):
            print(json.dumps({"ids": s, "embedding": [float(x) for x in v]}))
    else:
        print(json.dumps({"model_type": model.model_type, "dim": model.dim, "pooling": model.pooling,
                          "normalize": model.normalize, "max_seq_length": model.max_seq_length,
                          "dtypes": model.weight_dtypes}))


if __name__ == "__main__":
    main(sys.argv)
