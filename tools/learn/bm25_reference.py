#!/usr/bin/python3
"""bm25_reference.py - an independent numpy implementation of Kanava's Okapi BM25 scores
(src/learn/bm25.h, tests/test_bm25.c). No BM25 library and no Kanava code: the terms are
re.findall(r"\\w+", lower(text)) (lower: see the caveats) and the scores are the formula of bm25.h:

    idf(t)     = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    score(q,d) = sum over the terms t of q, repeats included, of
                 idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))

with |d| the number of terms of d and avgdl their mean over the N documents.

    bm25_reference.py OUT_DIR

writes (every .jsonl line is one JSON object or array; strings are raw UTF-8, JSON escapes
only for '"', '\\\\' and control characters):

    OUT_DIR/meta.json        {"n_docs", "n_queries", "n_dataset_queries", "topics": [..],
                              "settings": [{"k1", "b", "mode", "file", "rows", "cols"}, ..],
                              "doc_tokens_rows", "subdirs": ["fi"], "source": {..}}
    OUT_DIR/docs.jsonl       {"text": .., "label": ..} per document (Banking77 train.csv,
                             all 10,003 rows in file order)
    OUT_DIR/queries.jsonl    {"text": ..} for the first 300 rows of test.csv, then
                             {"text": .., "name": ..} for the hand-written edge cases
    OUT_DIR/doc_tokens.jsonl a JSON array of the terms of each of the first 500 documents
    OUT_DIR/query_tokens.jsonl  a JSON array of the terms of every query
    OUT_DIR/scores_<i>.f64   raw little-endian float64, row-major [rows x cols]: setting i
    OUT_DIR/fi/              the same layout for SIB-200 Finnish (docs: fin_Latn/train.tsv,
                             queries: fin_Latn/test.tsv), one setting (1.5, 0.75, neighbour)

Settings: (k1, b) in {(1.5, 0.75), (1.2, 0.3)}, each in mode "neighbour" (cols = n_docs:
every message is a document) and "topic" (cols = len(topics): the terms of all messages
of a category, in file order, form one document; topics in order of first appearance).
Concatenating texts is taken to mean concatenating their term lists (i.e. the texts are
joined with white space, so no word runs across two messages).

Expected tolerances for the C side (double accumulation in another order):
|c - ref| <= 1e-9 * max(1, |ref|) per score; zeros are exact (a query with no known term,
"", white space or punctuation only score exactly 0 everywhere).

Caveats found while writing this:
  * In Python 3.11 (Unicode 14) re's \\w is exactly L*, N* and '_' over all code points, so
    combining marks (Mn, Mc) split words: "cafe\\u0301" -> ["cafe"], Devanagari "कार्ड" ->
    ["क", "र", "ड"]. utf8proc 2.8 (Debian 12) is Unicode 15; the edge cases use only code
    points assigned in Unicode 14 (checked below) so both agree.
  * str.lower() differs from the simple lower-case mapping only for U+0130 and the final
    sigma (checked below over all code points); the edge cases contain neither, but SIB-200
    fin_Latn/train.tsv data row 657 (0-based; index_id 1939) starts "İzmirissä": text.lower() would give
    "i\\u0307zmirissä" -> terms "i", "zmirissä". So the reference lower-cases with
    simple_lower() (U+0130 -> 'i', capital sigma -> U+03C3, then str.lower()), giving
    "izmirissä" as utf8proc_tolower does; with that mapping str.lower() equals utf8proc 2.8's
    utf8proc_tolower on every code point assigned in Unicode 14 (checked once by hand
    against the library, not by this script), and unicodedata's categories equal utf8proc's.
    The text in docs.jsonl is the original one. Other
    mappings that may surprise but are simple mappings: KELVIN SIGN U+212A -> ASCII 'k'
    ("\\u212aind" matches "kind"), U+1E9E -> 'ß', roman numeral U+216B -> U+217B (Nl, a
    word character), circled Ⓐ -> ⓐ (So, not a word character), ǅ -> ǆ. Full-width letters
    lower-case to full-width letters (no NFKC), so "ＰＩＮ" does not match "pin".
  * Banking77 train.csv has 10 quoted texts with line breaks; they are read with the csv
    module (CSV quoting), as are the SIB-200 .tsv files (31 train texts are quoted).
"""
import collections
import csv
import json
import math
import os
import re
import sys
import time
import unicodedata

import numpy as np

DATA = os.environ.get("KANAVA_DATASETS", "/work/shared/datasets")
N_TEST_QUERIES = 300
N_DOC_TOKENS = 500
SETTINGS = [(1.5, 0.75, "neighbour"), (1.5, 0.75, "topic"), (1.2, 0.3, "neighbour"), (1.2, 0.3, "topic")]

WORD = re.compile(r"\w+")

# (name, text). Also used by tfidf_reference.py. No U+0130, no capital sigma, nothing newer
# than Unicode 14.
EDGE_CASES = [
    ("accent_cafe", "Can I pay at a café with my card?"),
    ("accent_upper", "CAFÉ PAYMENT DECLINED, NAÏVE RÉSUMÉ"),
    ("decomposed_accent", "cafe\u0301 payment declined"),
    ("finnish_card", "Kortti ei ole vielä saapunut, mitä minun pitäisi tehdä?"),
    ("finnish_charge", "Miksi tililtäni on veloitettu kaksi kertaa? Äkkiä, pankki!"),
    ("finnish_upper", "ÄÖÅ äöå ÖLJY ÅLAND Pääsy kielletty"),
    ("swedish", "Mitt kort har inte kommit än, vad gör jag? Hälsningar, Åsa"),
    ("fullwidth", "ｃａｒｄ ＰＩＮ Ｔｏｐ ｕｐ"),
    ("fullwidth_digits", "１２３ top up ４５"),
    ("digits", "I was charged 100 euros twice on 12/03/2019 at 10:45"),
    ("digits_mixed", "top-up of £20.50 failed 3x, ref 0042abc"),
    ("underscore", "card_arrival top_up __init__ _ a_b"),
    ("apostrophes", "I can't and haven't; it's the card's PIN, isn't it?"),
    ("smart_apostrophe", "I can\u2019t find my card\u2019s PIN \u201cnow\u201d"),
    ("emoji", "my card \U0001F4B3 hasn't arrived \U0001F621\U0001F621"),
    ("emoji_zwj_flag", "\U0001F468\u200d\U0001F469\u200d\U0001F467 family card \U0001F1EB\U0001F1EE"),
    ("no_known_term", "xyzzy qwertyuiop zzzzplugh"),
    ("empty", ""),
    ("whitespace_only", "   \t\n  "),
    ("punctuation_only", "?!... ,;: -- ()"),
    ("long_repeated", "my card is lost " * 300),
    ("repeated_terms", "card card card pin pin top"),
    ("single_term", "card"),
    ("mixed_case", "ToP Up mY CaRd PLEASE"),
    ("greek", "Καλημέρα card αβγ ΑΒΓ"),
    ("cyrillic", "Моя карта не пришла, card"),
    ("cjk", "我的卡还没到 card 卡"),
    ("kelvin_sign", "\u212aind of card"),
    ("titlecase_dz", "\u01c5emal card \u01c4"),
    ("sharp_s", "Straße STRASSE \u1e9e card"),
    ("ligature", "\ufb01nd my card"),
    ("superscript", "x\u00b2 2\u00b3 card \u00bd"),
    ("roman_numeral", "\u216b card \u2167"),
    ("circled_letter", "\u24b6 card \u2460"),
    ("dotless_i", "\u0131 card kart\u0131"),
    ("unicode_spaces", "card\u00a0pin\u2009top\u3000up\u202fnow"),
    ("zero_width_space", "card\u200bpin top\ufeffup"),
    ("tabs_newlines", "card\tpin\nlost\r\nfound\x0bnow\x0cthen"),
    ("control_chars", "card\x1cpin\x07lost\x1ffound\x85now"),
    ("hyphen_words", "e-mail top-up re-activate"),
    ("url_email", "https://example.com/card?pin=1234 help@bank.co.uk"),
    ("very_long_word", "a" * 300 + " card"),
    ("short_pieces", "a ab abc abcd abcde i"),
    ("arabic", "\u0628\u0637\u0627\u0642\u062a\u064a card"),
    ("hangul", "\uce74\ub4dc card"),
    ("devanagari", "\u0915\u093e\u0930\u094d\u0921 card"),
    ("thai", "\u0e1a\u0e31\u0e15\u0e23 card"),
]


def simple_lower(text):
    """utf8proc's simple lower-case mapping (analyze.h): str.lower() after mapping the two
    code points where Python differs (U+0130 -> 'i' rather than "i\u0307", and capital
    sigma -> U+03C3 everywhere rather than U+03C2 at the end of a word)."""
    return text.replace("\u0130", "i").replace("\u03a3", "\u03c3").lower()


def words(text):
    """The terms of bm25.h / analyze.h (n = 1), written independently of Kanava."""
    return WORD.findall(simple_lower(text))


def check_unicode_assumptions():
    """The documented differences, and that the edge cases avoid them."""
    odd = [c for c in range(0x110000) if len(chr(c).lower()) != 1]
    if odd != [0x130]:
        sys.exit("unexpected multi-character lower-casings: %r" % odd)
    for name, text in EDGE_CASES:
        for ch in text:
            if ch in "\u0130\u03a3" or unicodedata.category(ch) == "Cn":
                sys.exit("edge case %s uses %r" % (name, ch))
    word_cats = [c for c in range(0x110000)
                 if bool(WORD.fullmatch(chr(c))) != (unicodedata.category(chr(c))[0] in "LN" or c == 0x5F)]
    if word_cats:
        sys.exit("re \\w is not L*/N*/_ for %d code points" % len(word_cats))


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f, delimiter="\t")]


def first_appearance(labels):
    return list(dict.fromkeys(labels))


def bm25_matrix(doc_terms, query_terms, k1, b):
    """scores [len(query_terms) x len(doc_terms)] from the formula, term by term."""
    n = len(doc_terms)
    dl = np.array([len(t) for t in doc_terms], dtype=np.float64)
    avgdl = dl.mean()
    postings = collections.defaultdict(lambda: ([], []))  # term -> (doc ids, tf)
    for d, terms in enumerate(doc_terms):
        for t, tf in collections.Counter(terms).items():
            postings[t][0].append(d)
            postings[t][1].append(tf)
    # Per term: the doc ids and the contribution of one occurrence of t in the query.
    contrib = {}
    for t, (ids, tfs) in postings.items():
        ids = np.array(ids, dtype=np.int64)
        tf = np.array(tfs, dtype=np.float64)
        df = float(len(ids))
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        w = idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl[ids] / avgdl))
        contrib[t] = (ids, w)
    out = np.zeros((len(query_terms), n), dtype=np.float64)
    for i, q in enumerate(query_terms):
        row = out[i]
        for t in q:
            hit = contrib.get(t)
            if hit is not None:
                row[hit[0]] += hit[1]
    return out


def self_test():
    """A tiny case by hand (scalar math, written out), against bm25_matrix."""
    docs = ["the cat sat", "the cat the cat", "dog"]
    k1, b = 1.5, 0.75
    # |d| = 3, 4, 1; avgdl = 8/3; N = 3; df(cat) = 2, df(the) = 2, df(dog) = 1.
    avgdl = 8.0 / 3.0
    idf_cat = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    idf_dog = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))

    def term(idf, tf, dl):
        return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

    # query "cat cat dog fish": cat counted twice, fish unknown.
    want = [2 * term(idf_cat, 1, 3), 2 * term(idf_cat, 2, 4), term(idf_dog, 1, 1)]
    got = bm25_matrix([words(d) for d in docs], [words("Cat CAT dog fish")], k1, b)[0]
    if np.max(np.abs(got - want)) > 1e-14:
        sys.exit("self test failed: %r vs %r" % (got, want))
    return want


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_fixture(out_dir, docs, queries, n_dataset_queries, settings, source):
    """docs: [(text, label)], queries: [(text, name or None)]."""
    os.makedirs(out_dir, exist_ok=True)
    labels = [lab for _, lab in docs]
    topics = first_appearance(labels)
    doc_terms = [words(t) for t, _ in docs]
    special = [i for i, (t, _) in enumerate(docs + queries) if simple_lower(t) != t.lower()]
    if special:
        print("  %d text(s) with U+0130 or capital sigma, lower-cased by the simple mapping: rows %s of docs+queries"
              % (len(special), special))
    query_terms = [words(t) for t, _ in queries]
    topic_of = {lab: i for i, lab in enumerate(topics)}
    topic_terms = [[] for _ in topics]
    for terms, lab in zip(doc_terms, labels):
        topic_terms[topic_of[lab]].extend(terms)

    write_jsonl(os.path.join(out_dir, "docs.jsonl"), [{"text": t, "label": lab} for t, lab in docs])
    write_jsonl(os.path.join(out_dir, "queries.jsonl"),
                [{"text": t} if name is None else {"text": t, "name": name} for t, name in queries])
    write_jsonl(os.path.join(out_dir, "doc_tokens.jsonl"), doc_terms[:N_DOC_TOKENS])
    write_jsonl(os.path.join(out_dir, "query_tokens.jsonl"), query_terms)

    entries = []
    for i, (k1, b, mode) in enumerate(settings):
        index_terms = doc_terms if mode == "neighbour" else topic_terms
        S = bm25_matrix(index_terms, query_terms, k1, b)
        name = "scores_%d.f64" % i
        S.astype("<f8").tofile(os.path.join(out_dir, name))
        entries.append({"k1": k1, "b": b, "mode": mode, "file": name,
                        "rows": int(S.shape[0]), "cols": int(S.shape[1])})
        print("  %-9s k1=%.1f b=%.2f  %4d x %5d  max %.3f  zero rows %d"
              % (mode, k1, b, S.shape[0], S.shape[1], S.max(), int((S.max(axis=1) == 0).sum())))
    meta = {"n_docs": len(docs), "n_queries": len(queries), "n_dataset_queries": n_dataset_queries,
            "topics": topics, "settings": entries, "doc_tokens_rows": min(N_DOC_TOKENS, len(docs)),
            "source": source}
    return meta


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bm25_reference.py OUT_DIR")
    out_dir = sys.argv[1]
    t0 = time.process_time()
    check_unicode_assumptions()
    hand = self_test()
    print("bm25 self test (hand-computed 'Cat CAT dog fish' on 3 docs): %s" % ", ".join("%.12f" % v for v in hand))

    train = read_csv(os.path.join(DATA, "banking77/train.csv"))
    test = read_csv(os.path.join(DATA, "banking77/test.csv"))
    queries = [(t, None) for t, _ in test[:N_TEST_QUERIES]] + [(t, name) for name, t in EDGE_CASES]
    print("banking77: %d docs, %d queries (%d edge cases)" % (len(train), len(queries), len(EDGE_CASES)))
    meta = write_fixture(out_dir, train, queries, N_TEST_QUERIES, SETTINGS,
                         {"docs": "banking77/train.csv", "queries": "banking77/test.csv rows 0..%d, then edge cases"
                          % (N_TEST_QUERIES - 1)})
    meta["subdirs"] = ["fi"]

    fi_train = read_tsv(os.path.join(DATA, "sib200/fin_Latn/train.tsv"))
    fi_test = read_tsv(os.path.join(DATA, "sib200/fin_Latn/test.tsv"))
    print("sib200 fin_Latn: %d docs, %d queries" % (len(fi_train), len(fi_test)))
    fi_meta = write_fixture(os.path.join(out_dir, "fi"), fi_train, [(t, None) for t, _ in fi_test], len(fi_test),
                            [(1.5, 0.75, "neighbour")],
                            {"docs": "sib200/fin_Latn/train.tsv", "queries": "sib200/fin_Latn/test.tsv"})
    fi_meta["subdirs"] = []
    with open(os.path.join(out_dir, "fi", "meta.json"), "w", encoding="utf-8") as f:
        json.dump(fi_meta, f, indent=1, ensure_ascii=False)
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    print("bm25 reference written to %s (%.1f s CPU)" % (out_dir, time.process_time() - t0))


if __name__ == "__main__":
    main()
