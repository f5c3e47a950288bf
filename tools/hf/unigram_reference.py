#!/usr/bin/python3
"""unigram_reference.py - reference ids from python3-sentencepiece, as JSON lines.

    /usr/bin/python3 tools/hf/unigram_reference.py MODEL OUT.jsonl [--sets datasets,edge,random]

Each line is {"name": ..., "text": ..., "ids": [...]}: spm's ids for the text (no <s>/</s>)
mapped to the XLM-R ids of the tokenizer.json that spm_to_tokenizer_json.py writes
(spm <unk>=0 -> 3, <s>=1 -> 0, </s>=2 -> 2, every other id i -> i + 1).

Sets: "datasets" = every text of SIB-200 (fi, en; train+dev+test) and Banking77 (train+test);
"edge" = written edge cases; "random" = seeded random strings over characters that stress
normalization (combining marks, full-width and compatibility forms, spaces of all kinds,
controls, emoji, unknown scripts); "crafted" = texts for unigram_crafted_model.py's model.
--max-chars drops longer cases (to keep committed fixtures small).
"""
import argparse
import json
import os
import random
import sys

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unigram_datasets  # noqa: E402


def hf_id(i):
    return {0: 3, 1: 0, 2: 2}.get(i, i + 1)


def edge_cases():
    long_sentence = "Tämä on pitkä lause, jossa on sanoja ja välimerkkejä; this one too! "
    cases = {
        "empty": "",
        "space": " ",
        "spaces": "     ",
        "whitespace-only": " \t\n\r\u3000\u00a0 ",
        "leading": "   leading spaces",
        "trailing": "trailing spaces   ",
        "multiple": "multiple     inner   spaces here",
        "tabs-newlines": "tab\there\nnewline\r\nwindows\x0cformfeed",
        "accents-precomposed": "café naïve Åland Jyväskylä façade",
        "accents-decomposed": "cafe\u0301 nai\u0308ve A\u030aland Jyva\u0308skyla\u0308 fac\u0327ade",
        "combining-stack": "a\u0301\u0323\u0302 o\u0308\u0304 e\u0301\u0301",
        "lone-combining": "\u0301 start and end \u0308",
        "full-width": "ＡＢＣ ｄｅｆ １２３ ！？ （ｘ） ～",
        "half-width-katakana": "ｶﾀｶﾅ ﾊﾟﾋﾟ",
        "compatibility": "ﬁne ﬂow Ⅻ ① ㍿ ㎏ ½ x² ℌ ﬀ ǆ ſt",
        "arabic-ligature": "\ufdfa \ufdfb",
        "diaeresis-spacing": "\u00a8 \u00b4 \u02dc x\u00a8y",
        "emoji": "I love it 😀👍🏽 👨‍👩‍👧 🇫🇮 ❤️",
        "emoji-only": "😀😀😀",
        "controls": "a\x01b\x02c\x7fd\x1be\x08f",
        "control-leading": "\x01 \x02  hello",
        "c1-controls": "x\x85y\x80z\x9f",
        "nul": "a\x00b \x00 c\x00",
        "zero-width": "ab\u200bcd\u200c\u200def\ufeffgh\u2060ij",
        "direction-marks": "\u200eleft\u200f right\u202a\u202c",
        "space-kinds": "a\u00a0b\u2000c\u2009d\u202fe\u205ff\u3000g\u1680h\u2028i\u2029j",
        "metaspace-literal": "a \u2581 b\u2581c \u2581\u2581",
        "replacement-char": "bad \ufffd char",
        "specials-as-text": "<s> </s> <unk> <pad> <mask>",
        "cjk": "日本語のテキストと中文文本",
        "hangul": "한국어 텍스트 그리고 자모 \u1100\u1161\u11a8",
        "devanagari": "हिन्दी पाठ",
        "greek-cyrillic": "Ελληνικά και русский текст",
        "mixed": "Moi! How are you? Hyvää päivää – kiitos 100 € / $5.99 (50%)",
        "digits": "1234567890 ٣٤٥ １２３",
        "punctuation": "...!!!???---___***'''\"\"\"``''",
        "quotes": "“quoted” ‘single’ «guillemets» „low“",
        "urls": "https://example.com/path?x=1&y=2 user@example.fi",
        "private-use": "\ue000\uf8ff \U000f0000",
        "noncharacters": "\ufdd0 \uffff \U0010ffff",
        "supplementary": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 𐍈",
        "single-char": "a",
        "single-unknown": "丁",
        "very-long": long_sentence * 400,
        "very-long-word": "abcdefghij" * 2000,
        "very-long-spaces": "x" + " " * 5000 + "y",
    }
    return list(cases.items())


def random_cases(n, seed=20240601):
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzäöåABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÅ",
        "      ", "\t\n\r\x0b\x0c", "\u00a0\u2000\u2003\u200b\u3000\u2028\u2029\u0085\u1680\u202f\ufeff",
        "\u0300\u0301\u0302\u0303\u0308\u030a\u0327\u0323\u0338\u20dd",
        "ＡＢＣａｂｃ０１２！？ｶﾞﾊﾟ～",
        "ﬁﬂﬀ①②ⅫⅣ㍿㎏½¼²³ℌℕǆǈ\u00a8\u00b4\u02dc\u00b8\u2474\ufdfa\u3300",
        "\x00\x01\x02\x07\x08\x1b\x1f\x7f\x80\x9f\u200e\u200f\u2060\ufffd",
        "😀👍🏽👨\u200d👩🇫🇮❤\ufe0f🙂",
        "日本中文한국ελληνικάрусскийहिन्दी",
        ".,;:!?'\"()-–—…«»“”‘’€$%&/",
        "\u2581▁",
    ]
    out = []
    for i in range(n):
        length = rng.choice([1, 2, 3, 5, 8, 13, 21, 40, 80])
        text = "".join(rng.choice(rng.choice(pools)) for _ in range(length))
        out.append((f"random-{i}", text))
    return out


CRAFTED = ["ab", "cd", "ab cd", "abab", "cdcd", "e", "x", "ab x y cd", "  ab  ", "xyz e",
           "abcd", "a b c d e", "\u2581ab", "xx\u2581\u2581yy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--sets", default="datasets,edge,random")
    ap.add_argument("--random", type=int, default=3000, help="number of random strings")
    ap.add_argument("--max-chars", type=int, default=0, help="skip texts longer than this")
    args = ap.parse_args()
    sp = spm.SentencePieceProcessor(model_file=args.model)

    cases = []
    sets = args.sets.split(",")
    if "datasets" in sets:
        for rel in unigram_datasets.SIB200 + unigram_datasets.BANKING77:
            cases += [(f"{rel}:{row + 1}", text) for row, text in enumerate(unigram_datasets.read_texts(rel))]
    if "edge" in sets:
        cases += [(f"edge-{name}", text) for name, text in edge_cases()]
    if "random" in sets:
        cases += random_cases(args.random)
    if "crafted" in sets:
        cases += [(f"crafted-{i}", text) for i, text in enumerate(CRAFTED)]
    if args.max_chars:
        cases = [(name, text) for name, text in cases if len(text) <= args.max_chars]

    with open(args.out, "w", encoding="utf-8") as f:
        for name, text in cases:
            ids = [hf_id(i) for i in sp.encode(text)]
            f.write(json.dumps({"name": name, "text": text, "ids": ids}, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
