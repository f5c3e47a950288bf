#!/usr/bin/python3
"""unigram_crafted_model.py - writes a tiny hand-made SentencePiece unigram .model whose
scores pin down spm's tie and rounding rules (the trained fixture rarely hits them).

    /usr/bin/python3 tools/hf/unigram_crafted_model.py OUT.model

Normalization is "identity" (no charsmap). For the text "ab":
  "▁ab" scores -1.0, "▁a" + "b" scores -0.75 + (-0.25 + 2^-26) = -1 + 2^-26 exactly, which
  rounds to -1.0 in float. spm's optimized encoder adds piece scores in double and compares
  against the stored float, so "▁a" "b" wins; pure float arithmetic (or spm's older lattice
  encoder) would keep "▁ab".
For "cd": "▁cd" = -1.0 ties exactly with "▁c" + "d"; the earlier arc ("▁cd") must win.
"""
import struct
import sys

NORMAL, UNKNOWN, CONTROL = 1, 2, 3


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def piece(text, score, type_):
    return (field(1, 2, text.encode("utf-8")) + field(2, 5, struct.pack("<f", score))
            + field(3, 0, varint(type_)))


PIECES = [
    ("<unk>", 0.0, UNKNOWN), ("<s>", 0.0, CONTROL), ("</s>", 0.0, CONTROL),
    ("\u2581", -10.0, NORMAL), ("a", -10.0, NORMAL), ("c", -10.0, NORMAL),
    ("\u2581ab", -1.0, NORMAL), ("\u2581a", -0.75, NORMAL), ("b", -0.25 + 2.0 ** -26, NORMAL),
    ("\u2581cd", -1.0, NORMAL), ("\u2581c", -0.5, NORMAL), ("d", -0.5, NORMAL),
    ("e", -12.0, NORMAL),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: unigram_crafted_model.py OUT.model")
    assert struct.unpack("<f", struct.pack("<f", -0.25 + 2.0 ** -26))[0] == -0.25 + 2.0 ** -26
    model = b"".join(field(1, 2, piece(*p)) for p in PIECES)
    model += field(2, 2, field(3, 0, varint(1)))                 # trainer_spec.model_type = UNIGRAM
    model += field(3, 2, field(1, 2, b"identity") + field(3, 0, b"\x01")
                   + field(4, 0, b"\x01") + field(5, 0, b"\x01"))  # normalizer_spec
    with open(sys.argv[1], "wb") as f:
        f.write(model)


if __name__ == "__main__":
    main()
