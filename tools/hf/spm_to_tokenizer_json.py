#!/usr/bin/python3
"""spm_to_tokenizer_json.py - a SentencePiece unigram .model as an XLM-R style tokenizer.json.

    /usr/bin/python3 tools/hf/spm_to_tokenizer_json.py MODEL OUT [--layout current|legacy]

The model protobuf is read by hand (only the fields needed), so python3-protobuf is not
required. Ids follow fairseq/XLM-R: <s>=0, <pad>=1, </s>=2, <unk>=3, every other spm piece
i -> i + 1, and <mask> after the last piece.

spm's normalizer flags become HF pipeline steps that reproduce them:
  add_dummy_prefix          -> Metaspace prepend_scheme "always" (else "never")
  remove_extra_whitespaces  -> layout current: normalizer Strip(right) + Replace(" {2,}" -> "▁")
                                 after Precompiled, as transformers' SpmConverter writes today;
                               layout legacy:  pre_tokenizer WhitespaceSplit before Metaspace,
                                 as older XLM-R tokenizer.json files have it.
"""
import argparse
import base64
import json
import struct
import sys

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM = 1
SPACE = "\u2581"


# ---- a minimal protobuf reader: (field number, wire type, value) triples ----

def varint(buf, pos):
    shift = value = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end of the message")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def fields(buf):
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire} for field {number}")
        if pos > len(buf):
            raise ValueError(f"field {number} runs past the end of the message")
        yield number, wire, value


def read_model(path):
    """The parts of ModelProto this converter needs (proto2 defaults where absent)."""
    with open(path, "rb") as f:
        data = f.read()
    model = {"pieces": [], "model_type": UNIGRAM, "byte_fallback": False,
             "treat_whitespace_as_suffix": False, "charsmap": b"", "rule_name": "",
             "add_dummy_prefix": True, "remove_extra_whitespaces": True,
             "escape_whitespaces": True}
    for number, _, value in fields(data):
        if number == 1:      # SentencePiece: piece=1, score=2 (float), type=3
            piece = {"piece": "", "score": 0.0, "type": NORMAL}
            for n, _, v in fields(value):
                if n == 1:
                    piece["piece"] = v.decode("utf-8")
                elif n == 2:
                    piece["score"] = struct.unpack("<f", v)[0]
                elif n == 3:
                    piece["type"] = v
            model["pieces"].append(piece)
        elif number == 2:    # TrainerSpec
            for n, _, v in fields(value):
                if n == 3:
                    model["model_type"] = v
                elif n == 24:
                    model["treat_whitespace_as_suffix"] = bool(v)
                elif n == 35:
                    model["byte_fallback"] = bool(v)
        elif number == 3:    # NormalizerSpec
            for n, _, v in fields(value):
                if n == 1:
                    model["rule_name"] = v.decode("utf-8")
                elif n == 2:
                    model["charsmap"] = bytes(v)
                elif n == 3:
                    model["add_dummy_prefix"] = bool(v)
                elif n == 4:
                    model["remove_extra_whitespaces"] = bool(v)
                elif n == 5:
                    model["escape_whitespaces"] = bool(v)
    return model


def check_supported(model, path):
    """Refuses what an XLM-R style tokenizer.json cannot express the spm way."""
    def fail(why):
        sys.exit(f"{path}: {why}")
    if model["model_type"] != UNIGRAM:
        fail(f"model_type {model['model_type']} is not UNIGRAM (1)")
    if model["byte_fallback"]:
        fail("byte_fallback models are not supported")
    if model["treat_whitespace_as_suffix"]:
        fail("treat_whitespace_as_suffix is not supported")
    if not model["escape_whitespaces"]:
        fail("escape_whitespaces=false is not supported (Metaspace always writes ▁)")
    expected = [("<unk>", UNKNOWN), ("<s>", CONTROL), ("</s>", CONTROL)]
    got = [(p["piece"], p["type"]) for p in model["pieces"][:3]]
    if got != expected:
        fail(f"the first pieces are {got}, expected spm's defaults {expected}")
    for i, p in enumerate(model["pieces"][3:], start=3):
        if p["type"] != NORMAL:
            fail(f"piece {i} {p['piece']!r} has type {p['type']}; only NORMAL pieces after the first three are supported")


def added_token(id_, content, lstrip=False):
    return {"id": id_, "content": content, "single_word": False, "lstrip": lstrip,
            "rstrip": False, "normalized": False, "special": True}


def tokenizer_json(model, layout):
    prepend = "always" if model["add_dummy_prefix"] else "never"
    metaspace = {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": prepend, "split": True}
    steps = []
    if model["charsmap"]:
        steps.append({"type": "Precompiled",
                      "precompiled_charsmap": base64.b64encode(model["charsmap"]).decode("ascii")})
    pre_tokenizer = metaspace
    if model["remove_extra_whitespaces"]:
        if layout == "current":
            steps += [{"type": "Strip", "strip_left": False, "strip_right": True},
                      {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": SPACE}]
        else:
            legacy = {"type": "Metaspace", "replacement": SPACE,
                      "add_prefix_space": model["add_dummy_prefix"]}
            pre_tokenizer = {"type": "Sequence",
                             "pretokenizers": [{"type": "WhitespaceSplit"}, legacy]}
    if layout == "legacy" and len(steps) == 1:
        normalizer = steps[0]
    elif steps:
        normalizer = {"type": "Sequence", "normalizers": steps}
    else:
        normalizer = None

    vocab = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
    vocab += [[p["piece"], p["score"]] for p in model["pieces"][3:]]
    mask_id = len(vocab)
    vocab.append(["<mask>", 0.0])

    specials = {name: {"id": name, "ids": [i], "tokens": [name]} for name, i in (("<s>", 0), ("</s>", 2))}
    seq = lambda s: {"Sequence": {"id": s, "type_id": 0}}
    tok = lambda t: {"SpecialToken": {"id": t, "type_id": 0}}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added_token(0, "<s>"), added_token(1, "<pad>"), added_token(2, "</s>"),
                         added_token(3, "<unk>"), added_token(mask_id, "<mask>", lstrip=True)],
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok("<s>"), seq("A"), tok("</s>")],
            "pair": [tok("<s>"), seq("A"), tok("</s>"), tok("</s>"), seq("B"), tok("</s>")],
            "special_tokens": specials,
        },
        "decoder": dict(metaspace),
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": False},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--layout", choices=("current", "legacy"), default="current")
    args = ap.parse_args()
    try:
        model = read_model(args.model)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        sys.exit(f"{args.model}: cannot read the model: {e}")
    check_supported(model, args.model)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(model, args.layout), f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{args.model} ({len(model['pieces'])} pieces, rules {model['rule_name'] or 'custom'}) -> {args.out}")


if __name__ == "__main__":
    main()
