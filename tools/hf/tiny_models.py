#!/usr/bin/python3
"""Deterministic tiny random sentence-transformers models in the Hugging Face layout,
for testing Kanava's loader of BERT / XLM-RoBERTa directories.

  /usr/bin/python3 tools/hf/tiny_models.py OUT_DIR                 # the tiny models
  /usr/bin/python3 tools/hf/tiny_models.py --minilm-shapes OUT_DIR # big benchmark model

Each model directory holds what sentence-transformers saves:
  config.json, model.safetensors (written here, own writer), modules.json,
  sentence_bert_config.json, config_sentence_transformers.json, 1_Pooling/config.json,
  2_Normalize/ (empty, only when the model normalizes), tokenizer.json,
  tokenizer_config.json, special_tokens_map.json (+ vocab.txt for WordPiece).
OUT_DIR/models.json lists every model with its properties and whether a loader
must accept it ("expect": "ok") or refuse it ("expect": "refuse", with the reason).

--minilm-shapes writes OUT_DIR/f32 and OUT_DIR/f16 (two model directories): random
weights with the exact shapes of paraphrase-multilingual-MiniLM-L12-v2 (BERT body,
12 layers, hidden 384, 12 heads, intermediate 1536, vocab 250037, 514 positions,
XLM-R Unigram tokenizer with 250002 pieces, mean pooling, no Normalize). ~470 MB +
~235 MB: write them into a build directory, never commit them.

Everything is seeded: the same command writes byte-identical files.
"""

import json
import os
import shutil
import struct
import sys

import numpy as np

TRANSFORMERS_VERSION = "4.41.2"

# --------------------------------------------------------------------------- safetensors


def _encode(a, dtype):
    a = np.ascontiguousarray(a)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()  # round to nearest even
    if dtype == "BF16":
        u = a.astype("<f4").view(np.uint32).astype(np.uint64)
        # round to nearest even on the upper 16 bits (no NaNs in these weights)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return u.astype("<u2").tobytes()
    if dtype == "I64":
        return a.astype("<i8").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype, numpy array). Header keys sorted by name, data
    laid out in the same order, header padded with spaces to a multiple of 8 bytes
    (as the safetensors library does)."""
    tensors = sorted(tensors, key=lambda t: t[0])
    header = {}
    blobs = []
    off = 0
    for name, dtype, a in tensors:
        b = _encode(a, dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata is not None:
        header = dict([("__metadata__", metadata)] + list(header.items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- vocabularies

EN_WORDS = """the a an and or but to of in on at for with from by is are was were be been world
have has had do does did not no yes i you he she it we they me my your our their this that
these those what which who when where why how can could would should will may might must
order orders ordered ordering account accounts card cards payment payments pay paid refund
refunds money bank transfer transfers balance charge charged fee fees top up cash atm pin
code password email phone app help please thank thanks hello hi problem issue error wrong
still again new old lost stolen blocked block unblock activate delivery deliver delivered
arrive arrived arrival late today yesterday tomorrow week day days time minutes hours
change update cancel cancelled receive received send sent get got want need know think
see why where exchange rate currency euro dollar pound abroad country address verify
identity document photo support customer service message reply answer question
""".split()
FI_WORDS = """ja on ei se että hän mitä kun niin tilaus tilaukseni kortti korttini maksu
raha pankki siirto saldo veloitus palautus apua kiitos hei ongelma virhe uusi vanha
kadonnut varastettu toimitus saapunut tänään eilen huomenna viikko päivä aika muuttaa
peruuttaa vastaanottaa lähettää haluan tarvitsen tiedän osoite henkilöllisyys asiakas
palvelu viesti vastaus kysymys missä miksi milloin miten""".split()
DE_WORDS = """und der die das nicht ist ich du wir sie mein meine karte konto zahlung geld
überweisung rückerstattung hilfe danke hallo problem fehler neu alt verloren gestohlen
lieferung heute gestern morgen woche tag ändern stornieren bestellung adresse kunde""".split()
FR_WORDS = """et le la les un une est je tu nous vous mon ma carte compte paiement argent
virement remboursement aide merci bonjour problème erreur nouveau perdu volé livraison
aujourd hier demain semaine jour changer annuler commande adresse client""".split()
ES_WORDS = """y el la los las un una es yo tú mi tarjeta cuenta pago dinero transferencia
reembolso ayuda gracias hola problema error nuevo perdido robado entrega hoy ayer mañana
semana día cambiar cancelar pedido dirección cliente""".split()
RU_WORDS = """и в не на я что он с как карта счёт платёж деньги перевод помощь спасибо
привет проблема ошибка новый заказ""".split()
SUFFIXES = "s es ed ing er ers ly tion tions ment able ness en et ta ssa lla sta ni si".split()

PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
DIGITS = list("0123456789")
LOWER = list("abcdefghijklmnopqrstuvwxyz")
UPPER = [c.upper() for c in LOWER]
EXTRA = list("äöüåßéèêàçñíóúžšøæœ€£¥абвгдежзийклмнопрстуфхцчшщъыьэюяё中文日本語한국")


def _uniq(seq):
    seen, out = set(), []
    for s in seq:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def wordpiece_vocab():
    """A BERT-uncased-like vocabulary: [PAD]=0, [unused*], [UNK]=100, [CLS]=101,
    [SEP]=102, [MASK]=103, more [unused*], characters, ## continuations, words."""
    v = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    v += ["[unused%d]" % i for i in range(99, 115)]
    chars = PUNCT + DIGITS + LOWER + [c for c in EXTRA if c.lower() == c and c not in "äöüåéèêàçñíóúžšœ"]
    v += chars
    v += ["##" + c for c in DIGITS + LOWER + [c for c in EXTRA[:20] if c.lower() == c]]
    words = EN_WORDS + [w for w in FI_WORDS + DE_WORDS + FR_WORDS + ES_WORDS if w.isascii()]
    v += words
    v += ["##" + s for s in SUFFIXES]
    v += ["##" + w for w in ("ord", "ers", "und", "ment", "ance", "port", "ive", "ure")]
    return _uniq(v)


def unigram_vocab(extra_to=None):
    """An XLM-R-like Unigram vocabulary: <s>=0 <pad>=1 </s>=2 <unk>=3, scored pieces,
    <mask> last. With extra_to, synthetic pieces pad the table to that many entries."""
    pieces = ["▁", ",", ".", "s", "▁-", "-", "'", "a", "▁(", ")", "?", "!", ":", "e", "n", "t"]
    words = EN_WORDS + FI_WORDS + DE_WORDS + FR_WORDS + ES_WORDS + RU_WORDS
    pieces += ["▁" + w for w in words]
    pieces += SUFFIXES + ["ing", "ation", "ista", "lle", "ssä", "ung", "ción", "ment"]
    pieces += ["▁" + w.capitalize() for w in words[:60]]
    pieces += PUNCT + DIGITS + LOWER + UPPER + EXTRA + ["▁" + c for c in DIGITS]
    pieces = [p for p in _uniq(pieces) if p not in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    rng = np.random.default_rng(7)
    out = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    for i, p in enumerate(pieces):
        base = -(3.0 + 0.02 * i) if len(p) > 1 or p == "▁" else -(9.0 + 0.01 * i)
        out.append([p, round(base + float(rng.uniform(-0.2, 0.2)), 4)])
    if extra_to is not None:
        seen = set(p for p, _ in out)
        k = 0
        alphabet = "abcdefghijklmnopqrstuvwxyz"
        while len(out) < extra_to - 1:
            n, s = k, ""
            while True:
                s = alphabet[n % 26] + s
                n = n // 26 - 1
                if n < 0:
                    break
            for cand in ("▁" + s, s):
                if cand not in seen and len(out) < extra_to - 1:
                    seen.add(cand)
                    out.append([cand, round(-10.0 - len(out) * 1e-5, 5)])
            k += 1
    out.append(["<mask>", 0.0])
    return out


# --------------------------------------------------------------------------- tokenizer.json


def _added(i, content, lstrip=False, normalized=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip,
            "rstrip": False, "normalized": normalized, "special": True}


def _template(cls, cls_id, sep, sep_id, pair_type_b, double_sep):
    single = [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
              {"SpecialToken": {"id": sep, "type_id": 0}}]
    pair = list(single)
    if double_sep:
        pair.append({"SpecialToken": {"id": sep, "type_id": pair_type_b}})
    pair += [{"Sequence": {"id": "B", "type_id": pair_type_b}},
             {"SpecialToken": {"id": sep, "type_id": pair_type_b}}]
    return {"type": "TemplateProcessing", "single": single, "pair": pair,
            "special_tokens": {cls: {"id": cls, "ids": [cls_id], "tokens": [cls]},
                               sep: {"id": sep, "ids": [sep_id], "tokens": [sep]}}}


def wordpiece_tokenizer_json(vocab, truncate_to):
    ids = {t: i for i, t in enumerate(vocab)}
    return {
        "version": "1.0",
        # sentence-transformers truncates to max_seq_length itself; this stale
        # truncation setting (as in real exports) must not be what a loader uses.
        "truncation": {"direction": "Right", "max_length": truncate_to, "strategy": "LongestFirst",
                       "stride": 0},
        "padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [_added(ids[t], t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": _template("[CLS]", ids["[CLS]"], "[SEP]", ids["[SEP]"], 1, False),
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }


def unigram_tokenizer_json(vocab, style):
    """style "legacy": as the 2021 exports of paraphrase-multilingual-MiniLM-L12-v2
    (normalizer null here instead of the Precompiled charsmap, Metaspace with
    add_prefix_space); style "modern": tokenizers >= 0.19 (Metaspace prepend_scheme,
    a charsmap-free normalizer Sequence [NFKC, Replace ' {2,}' -> ' '], byte_fallback)."""
    mask_id = len(vocab) - 1
    added = [_added(0, "<s>"), _added(1, "<pad>"), _added(2, "</s>"), _added(3, "<unk>"),
             _added(mask_id, "<mask>", lstrip=True)]
    if style == "legacy":
        normalizer = None
        meta = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}
        model = {"type": "Unigram", "unk_id": 3, "vocab": vocab}
    else:
        normalizer = {"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
        meta = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
        model = {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": False}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": normalizer, "pre_tokenizer": meta,
        "post_processor": _template("<s>", 0, "</s>", 2, 0, True),
        "decoder": dict(meta), "model": model,
    }


def tokenizer_side_files(kind):
    if kind == "wordpiece":
        special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                   "cls_token": "[CLS]", "mask_token": "[MASK]"}
        cfg = dict(special, do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None,
                   model_max_length=512, tokenizer_class="BertTokenizer", clean_up_tokenization_spaces=True)
    else:
        special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                   "pad_token": "<pad>", "cls_token": "<s>",
                   "mask_token": {"content": "<mask>", "single_word": False, "lstrip": True,
                                  "rstrip": False, "normalized": False}}
        cfg = dict(special, model_max_length=512, tokenizer_class="XLMRobertaTokenizer",
                   clean_up_tokenization_spaces=True)
    return special, cfg


# --------------------------------------------------------------------------- weights


def body_weights(cfg, seed, prefix="", position_ids=False, pooler=True, extra=None):
    """Random weights (float32 numpy) named as BertModel / XLMRobertaModel save them.
    Scales are chosen so that attention is far from uniform and every part of the
    forward pass changes the output visibly."""
    rng = np.random.default_rng(seed)
    D, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]

    def n(shape, std):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def ln(name, out):
        out[name + ".weight"] = (1.0 + n((D,), 0.1)).astype(np.float32)
        out[name + ".bias"] = n((D,), 0.05)

    w = {}
    w["embeddings.word_embeddings.weight"] = n((cfg["vocab_size"], D), 0.03)
    w["embeddings.position_embeddings.weight"] = n((cfg["max_position_embeddings"], D), 0.02)
    w["embeddings.token_type_embeddings.weight"] = n((cfg["type_vocab_size"], D), 0.02)
    ln("embeddings.LayerNorm", w)
    sD, sI = 1.0 / np.sqrt(D), 1.0 / np.sqrt(I)
    for i in range(L):
        p = "encoder.layer.%d." % i
        for nm, std in (("attention.self.query", 1.6 * sD), ("attention.self.key", 1.6 * sD),
                        ("attention.self.value", sD), ("attention.output.dense", sD)):
            w[p + nm + ".weight"] = n((D, D), std)
            w[p + nm + ".bias"] = n((D,), 0.05)
        ln(p + "attention.output.LayerNorm", w)
        w[p + "intermediate.dense.weight"] = n((I, D), sD)
        w[p + "intermediate.dense.bias"] = n((I,), 0.1)
        w[p + "output.dense.weight"] = n((D, I), sI)
        w[p + "output.dense.bias"] = n((D,), 0.05)
        ln(p + "output.LayerNorm", w)
        if extra:
            extra(p, w, n)
    if pooler:
        w["pooler.dense.weight"] = n((D, D), sD)
        w["pooler.dense.bias"] = n((D,), 0.05)
    out = [(prefix + k, v) for k, v in w.items()]
    if position_ids:  # older transformers saved this int64 buffer into checkpoints
        out.append((prefix + "embeddings.position_ids",
                    np.arange(cfg["max_position_embeddings"], dtype=np.int64)[None, :]))
    return out


# --------------------------------------------------------------------------- configs


def bert_config(D, L, H, I, P, V, pad_id, dtype, position_embedding_type="absolute"):
    c = {"_name_or_path": "kanava-tiny", "architectures": ["BertModel"],
         "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
         "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
         "hidden_size": D, "initializer_range": 0.02, "intermediate_size": I,
         "layer_norm_eps": 1e-12, "max_position_embeddings": P, "model_type": "bert",
         "num_attention_heads": H, "num_hidden_layers": L, "pad_token_id": pad_id,
         "position_embedding_type": position_embedding_type, "torch_dtype": dtype,
         "transformers_version": TRANSFORMERS_VERSION, "type_vocab_size": 2, "use_cache": True,
         "vocab_size": V}
    if position_embedding_type is None:
        del c["position_embedding_type"]
    return c


def xlmr_config(D, L, H, I, P, V, dtype):
    return {"_name_or_path": "kanava-tiny", "architectures": ["XLMRobertaModel"],
            "attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "classifier_dropout": None,
            "eos_token_id": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": D,
            "initializer_range": 0.02, "intermediate_size": I, "layer_norm_eps": 1e-05,
            "max_position_embeddings": P, "model_type": "xlm-roberta", "num_attention_heads": H,
            "num_hidden_layers": L, "output_past": True, "pad_token_id": 1,
            "position_embedding_type": "absolute", "torch_dtype": dtype,
            "transformers_version": TRANSFORMERS_VERSION, "type_vocab_size": 1, "use_cache": True,
            "vocab_size": V}


TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

# Weight sets ("bodies"); several models share one, differing in dtype/pooling.
WP_VOCAB = wordpiece_vocab()
UNI_VOCAB = unigram_vocab()
BODIES = {
    # BERT + WordPiece (all-MiniLM-L6-v2 layout)
    "bert_wp_a": dict(arch="bert", tok="wordpiece", D=32, L=2, H=4, I=128, P=64, max_seq=32,
                      V=len(WP_VOCAB), seed=101),
    # BERT + WordPiece, names prefixed "bert.", an int64 embeddings.position_ids buffer,
    # no pooler, head_dim 12
    "bert_wp_b": dict(arch="bert", tok="wordpiece", D=48, L=2, H=4, I=192, P=40, max_seq=24,
                      V=len(WP_VOCAB), seed=102, prefix="bert.", position_ids=True, pooler=False),
    # BERT body + XLM-R Unigram tokenizer (paraphrase-multilingual-MiniLM-L12-v2 layout):
    # config vocab larger than the tokenizer's (250037 vs 250002 in the real one);
    # config pad_token_id 0 while the tokenizer's <pad> is 1 (see
    # multilingual_bert_config); no position_embedding_type key (defaults to absolute)
    "mbert_uni": dict(arch="bert", tok="unigram-legacy", D=32, L=2, H=4, I=128, P=64, max_seq=40,
                      V=len(UNI_VOCAB) + 35, seed=103, pet=None),
    # XLM-RoBERTa (multilingual-e5 / bge-m3 layout), max_position = max_seq + 2
    "xlmr_a": dict(arch="xlm-roberta", tok="unigram-modern", D=64, L=2, H=4, I=256, P=34,
                   max_seq=32, V=len(UNI_VOCAB), seed=104),
    # XLM-RoBERTa, names prefixed "roberta."
    "xlmr_b": dict(arch="xlm-roberta", tok="unigram-modern", D=32, L=2, H=4, I=128, P=22,
                   max_seq=20, V=len(UNI_VOCAB), seed=105, prefix="roberta."),
}

# name: (body, dtype, pooling, normalize)
MODELS = [
    ("bert_wp_f32_mean_norm", "bert_wp_a", "F32", "mean", True),
    ("bert_wp_f16_mean_norm", "bert_wp_a", "F16", "mean", True),
    ("bert_wp_bf16_mean_norm", "bert_wp_a", "BF16", "mean", True),
    ("bert_wp_pfx_f32_cls", "bert_wp_b", "F32", "cls", False),
    ("bert_wp_pfx_f16_max_norm", "bert_wp_b", "F16", "max", True),
    ("mbert_uni_f32_mean", "mbert_uni", "F32", "mean", False),
    ("mbert_uni_f16_mean", "mbert_uni", "F16", "mean", False),
    ("mbert_uni_f32_cls_norm", "mbert_uni", "F32", "cls", True),
    ("xlmr_f32_mean_norm", "xlmr_a", "F32", "mean", True),
    ("xlmr_f16_cls_norm", "xlmr_a", "F16", "cls", True),
    ("xlmr_bf16_mean", "xlmr_a", "BF16", "mean", False),
    ("xlmr_pfx_f32_max", "xlmr_b", "F32", "max", False),
]


def multilingual_bert_config(c):
    """The BERT-body + XLM-R-tokenizer configs (Multilingual-MiniLM-L12-H384 and its
    sentence-transformers / e5 descendants) say pad_token_id 0 although the tokenizer's
    <pad> is 1 (for BertModel the value only marks the embedding's padding_idx, which
    does not change the forward pass), and name the tokenizer class."""
    c = dict(c, pad_token_id=0)
    c["tokenizer_class"] = "XLMRobertaTokenizer"
    return c


def body_config(b, dtype, pet="absolute"):
    if b["arch"] == "bert":
        c = bert_config(b["D"], b["L"], b["H"], b["I"], b["P"], b["V"], 0, TORCH_DTYPE[dtype],
                        b.get("pet", "absolute") if pet == "absolute" else pet)
        return c if b["tok"] == "wordpiece" else multilingual_bert_config(c)
    return xlmr_config(b["D"], b["L"], b["H"], b["I"], b["P"], b["V"], TORCH_DTYPE[dtype])


# --------------------------------------------------------------------------- writing


def _dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


_TOKENIZER_CACHE = {}


def tokenizer_json_text(kind, truncate_to=128, unigram=None):
    key = (kind, truncate_to, id(unigram))
    if key not in _TOKENIZER_CACHE:
        if kind == "wordpiece":
            obj = wordpiece_tokenizer_json(WP_VOCAB, truncate_to)
        else:
            obj = unigram_tokenizer_json(unigram if unigram is not None else UNI_VOCAB,
                                         kind.split("-", 1)[1])
        _TOKENIZER_CACHE[key] = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    return _TOKENIZER_CACHE[key]


def write_model(d, config, tensors, dtype, pooling, normalize, max_seq, tok_kind, unigram=None):
    """tensors: list of (name, float32-or-int64 array); float ones stored as dtype."""
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "1_Pooling"))
    _dump(os.path.join(d, "config.json"), config)
    st = [(n, "I64" if a.dtype == np.int64 else dtype, a) for n, a in tensors]
    write_safetensors(os.path.join(d, "model.safetensors"), st, {"format": "pt"})
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        os.makedirs(os.path.join(d, "2_Normalize"))
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    _dump(os.path.join(d, "modules.json"), mods)
    _dump(os.path.join(d, "sentence_bert_config.json"),
          {"max_seq_length": max_seq, "do_lower_case": False})
    _dump(os.path.join(d, "config_sentence_transformers.json"),
          {"__version__": {"sentence_transformers": "3.0.1", "transformers": TRANSFORMERS_VERSION,
                           "pytorch": "2.3.1"}, "prompts": {}, "default_prompt_name": None,
           "similarity_fn_name": None})
    _dump(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": config["hidden_size"],
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True})
    kind = "wordpiece" if tok_kind == "wordpiece" else "unigram"
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tokenizer_json_text(tok_kind, truncate_to=max(8, max_seq // 2), unigram=unigram))
    special, tcfg = tokenizer_side_files(kind)
    _dump(os.path.join(d, "special_tokens_map.json"), special)
    _dump(os.path.join(d, "tokenizer_config.json"), tcfg)
    if kind == "wordpiece":
        with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in WP_VOCAB))


def special_ids(tok_kind):
    if tok_kind == "wordpiece":
        ids = {t: i for i, t in enumerate(WP_VOCAB)}
        return {"cls": ids["[CLS]"], "sep": ids["[SEP]"], "pad": ids["[PAD]"], "unk": ids["[UNK]"],
                "tokenizer_vocab": len(WP_VOCAB)}
    return {"cls": 0, "sep": 2, "pad": 1, "unk": 3, "tokenizer_vocab": len(UNI_VOCAB)}


def write_tiny(out):
    os.makedirs(out, exist_ok=True)
    manifest = []
    body_cache = {}
    for name, bname, dtype, pooling, normalize in MODELS:
        b = BODIES[bname]
        cfg = body_config(b, dtype)
        if bname not in body_cache:
            body_cache[bname] = body_weights(cfg, b["seed"], prefix=b.get("prefix", ""),
                                             position_ids=b.get("position_ids", False),
                                             pooler=b.get("pooler", True))
        write_model(os.path.join(out, name), cfg, body_cache[bname], dtype, pooling, normalize,
                    b["max_seq"], b["tok"])
        manifest.append({
            "name": name, "expect": "ok", "body": bname,
            "arch": b["arch"] + ("+wordpiece" if b["tok"] == "wordpiece" else "+unigram"),
            "model_type": b["arch"], "dtype": dtype, "pooling": pooling, "normalize": normalize,
            "hidden_size": b["D"], "num_hidden_layers": b["L"], "num_attention_heads": b["H"],
            "intermediate_size": b["I"], "vocab_size": b["V"], "max_position_embeddings": b["P"],
            "max_seq_length": b["max_seq"], "tensor_prefix": b.get("prefix", ""),
            "has_pooler": b.get("pooler", True), "has_position_ids_buffer": b.get("position_ids", False),
            "tokenizer": b["tok"], "special_ids": special_ids(b["tok"])})

    # --- models a loader must refuse -------------------------------------------------
    a = BODIES["bert_wp_a"]
    # 1. MPNet (relative position buckets, different tensor names)
    cfg = {"_name_or_path": "kanava-tiny", "architectures": ["MPNetModel"],
           "attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "eos_token_id": 2,
           "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32,
           "initializer_range": 0.02, "intermediate_size": 128, "layer_norm_eps": 1e-05,
           "max_position_embeddings": 34, "model_type": "mpnet", "num_attention_heads": 4,
           "num_hidden_layers": 2, "pad_token_id": 1, "relative_attention_num_buckets": 32,
           "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION,
           "vocab_size": len(WP_VOCAB)}
    rng = np.random.default_rng(106)

    def r(*s):
        return rng.standard_normal(s, dtype=np.float32) * np.float32(0.1)

    t = [("embeddings.word_embeddings.weight", r(len(WP_VOCAB), 32)),
         ("embeddings.position_embeddings.weight", r(34, 32)),
         ("embeddings.LayerNorm.weight", np.ones(32, np.float32)),
         ("embeddings.LayerNorm.bias", np.zeros(32, np.float32)),
         ("encoder.relative_attention_bias.weight", r(32, 4)),
         ("pooler.dense.weight", r(32, 32)), ("pooler.dense.bias", r(32))]
    for i in range(2):
        p = "encoder.layer.%d." % i
        for nm in ("q", "k", "v", "o"):
            t += [(p + "attention.attn.%s.weight" % nm, r(32, 32)), (p + "attention.attn.%s.bias" % nm, r(32))]
        t += [(p + "attention.LayerNorm.weight", np.ones(32, np.float32)),
              (p + "attention.LayerNorm.bias", np.zeros(32, np.float32)),
              (p + "intermediate.dense.weight", r(128, 32)), (p + "intermediate.dense.bias", r(128)),
              (p + "output.dense.weight", r(32, 128)), (p + "output.dense.bias", r(32)),
              (p + "output.LayerNorm.weight", np.ones(32, np.float32)),
              (p + "output.LayerNorm.bias", np.zeros(32, np.float32))]
    write_model(os.path.join(out, "bad_mpnet"), cfg, t, "F32", "mean", True, 32, "wordpiece")
    manifest.append({"name": "bad_mpnet", "expect": "refuse", "reason": "model_type mpnet",
                     "model_type": "mpnet", "dtype": "F32"})
    # 2. BERT with rotary position embeddings (not a BERT option transformers implements;
    #    same weights as bert_wp_a, so only the config tells)
    cfg = body_config(a, "F32", pet="rotary")
    write_model(os.path.join(out, "bad_rotary"), cfg, body_cache["bert_wp_a"], "F32", "mean", True,
                a["max_seq"], "wordpiece")
    manifest.append({"name": "bad_rotary", "expect": "refuse",
                     "reason": "position_embedding_type rotary", "model_type": "bert", "dtype": "F32"})
    # 3. BERT with relative_key attention (a real transformers option, with its
    #    distance_embedding tensors)
    cfg = body_config(a, "F32", pet="relative_key")
    hd = a["D"] // a["H"]

    def dist(p, w, n):
        w[p + "attention.self.distance_embedding.weight"] = n((2 * a["P"] - 1, hd), 0.1)

    t = body_weights(cfg, 107, extra=dist)
    write_model(os.path.join(out, "bad_relative_key"), cfg, t, "F32", "mean", True, a["max_seq"],
                "wordpiece")
    manifest.append({"name": "bad_relative_key", "expect": "refuse",
                     "reason": "position_embedding_type relative_key", "model_type": "bert",
                     "dtype": "F32"})
    _dump(os.path.join(out, "models.json"), manifest)
    return manifest


MINILM = dict(D=384, L=12, H=12, I=1536, P=514, V=250037, max_seq=128, tok_vocab=250002)


def write_minilm(out):
    os.makedirs(out, exist_ok=True)
    m = MINILM
    vocab = unigram_vocab(extra_to=m["tok_vocab"])
    assert len(vocab) == m["tok_vocab"] and vocab[-1][0] == "<mask>"
    cfg = multilingual_bert_config(bert_config(m["D"], m["L"], m["H"], m["I"], m["P"], m["V"], 0,
                                               "float32"))
    cfg["_name_or_path"] = "kanava-random/paraphrase-multilingual-MiniLM-L12-v2-shapes"
    tensors = body_weights(cfg, 2024)
    written = []
    for dtype in ("F32", "F16"):
        c = dict(cfg, torch_dtype=TORCH_DTYPE[dtype])
        d = os.path.join(out, dtype.lower())
        write_model(d, c, tensors, dtype, "mean", False, m["max_seq"], "unigram-legacy", unigram=vocab)
        written.append(d)
    return written


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        sys.exit(__doc__)
    if args[0] == "--minilm-shapes":
        if len(args) != 2:
            sys.exit(__doc__)
        for d in write_minilm(args[1]):
            print("wrote %s (%.1f MB)" % (d, os.path.getsize(os.path.join(d, "model.safetensors")) / 1e6))
        return
    if len(args) != 1:
        sys.exit(__doc__)
    for m in write_tiny(args[0]):
        print("%-26s %-6s %-4s %-5s %s" % (m["name"], m.get("expect"), m.get("dtype"),
                                           m.get("pooling", "-"), m.get("arch", m.get("reason"))))


if __name__ == "__main__":
    main(sys.argv)
