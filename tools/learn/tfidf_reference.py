#!/usr/bin/python3
"""tfidf_reference.py - scikit-learn's TfidfVectorizer (word 1-2-grams + char_wb 2-5-grams)
and a multinomial LogisticRegression on top, as the reference for Kanava's TF-IDF
classifier (src/learn/tfidf.h, src/text/analyze.h, tests/test_tfidf.c).

    tfidf_reference.py OUT_DIR

Blocks: TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\\w+", ngram_range=(1, 2)) and
TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True), other options at
their defaults (norm='l2' per block, use_idf, smooth_idf, sublinear_tf=False), fitted on the
train rows and hstacked word block first. Head: LogisticRegression(C=10, multinomial,
intercept fitted) on the hstacked float64 features.

Writes (every .jsonl line is one JSON object; raw UTF-8, JSON escapes only for '"', '\\\\'
and control characters; floats are Python repr, i.e. they round-trip to the same double):

    OUT_DIR/meta.json    {"C": 10.0, "classes": [first-appearance order], "n_train", "n_test",
                          "n_test_dataset", "word_ngram": [1, 2], "char_ngram": [2, 5],
                          "n_word", "n_char", "reference_solver", "reference_gradient_norm",
                          "lbfgs_n_iter", "lbfgs_max_diff", "subdirs": ["fi"], "source": {..}}
    OUT_DIR/train.jsonl  {"text", "label"}   Banking77 train.csv: the first 10 rows of each
                                              category, in file order (770 rows)
    OUT_DIR/test.jsonl   {"text"} for the first 400 rows of test.csv, then
                         {"text", "name"} for the 47 edge cases of bm25_reference.py
    OUT_DIR/vocab_word.json, vocab_char.json   {term: idf}, keys in sklearn's column order
                         (sorted by code point); a char term is a string of code points that
                         may start or end with ' '
    OUT_DIR/test_features.jsonl   per test row {"word": {term: value}, "char": {term: value}}:
                         the nonzeros of each L2-normalised block (an empty object when the
                         row has no known term, e.g. "")
    OUT_DIR/proba.f64    raw little-endian float64 [n_test x n_classes], class columns in
                         first-appearance order (sklearn's sorted classes_ reordered): the
                         probabilities at the optimum (see below)
    OUT_DIR/proba_lbfgs.f64   the same from solver='lbfgs', tol=1e-10, max_iter=20000
    OUT_DIR/fi/          the same layout for SIB-200 Finnish: train.tsv (701) / test.tsv (204),
                         C = 10, no edge cases

Which solver is the reference: solver='lbfgs' (tol=1e-10, max_iter=20000) reports
n_iter_ = 39 on Banking77, far below max_iter, but it has not converged: scipy's L-BFGS-B
also stops when the objective's relative decrease falls below its ftol 2.2e-9, which
scikit-learn 1.2 does not expose; |gradient| of C * sum CE + 0.5 ||W||^2 is still ~3e-2 there
and its probabilities are up to ~1e-4 from the optimum. So proba.f64 comes from
solver='newton-cg' (tol=1e-8, max_iter=100; 18 iterations), whose gradient (computed here
independently of sklearn) must be below 1e-5 or the script fails, as in logreg_reference.py.
proba_lbfgs.f64 is kept to show how far lbfgs is.

Expected tolerances for the C side: idf and feature values are exact formulas (double):
|idf - ref| <= 1e-12; feature values, stored as float in kn_csr, <= 1e-6 absolute (they are
in [0, 1]); the same set of nonzero terms per row, exactly. Probabilities: the C head fits on
float32 features to |grad| <= 1e-6, so <= 1e-4 absolute against proba.f64 (the tolerance of
tests/test_logreg.c) should hold with margin.

Caveats found while writing this:
  * char_wb: a padded piece (" " + word + " ") of length L yields, for n = 2..5, all its
    n-grams while L > n; at the first n >= L it yields the whole piece ONCE and stops
    (sklearn's `if offset == 0: break`). So " a " (L = 3) gives " a", "a ", " a " and
    " ab " gives " a", "ab", "b ", " ab", "ab ", " ab " - each once. analyze.h says "a padded
    piece shorter than n yields itself once and ends"; read literally for L == n (the piece
    is its own single n-gram, then at n + 1 it is shorter and would be emitted again) that
    double-counts every 1- and 2-character word. The script checks its own char_wb
    (written from the rule above) against sklearn on every text and prints how many terms
    the literal reading would get wrong.
  * char_wb splits on str.split() white space only. U+200B ZERO WIDTH SPACE and U+FEFF are
    not white space (Cf), so "card\\u200bpin" is one piece, ' card\\u200bpin ', and gives
    n-grams that contain U+200B, while the word block splits it into "card", "pin" (\\w is
    L*/N*/_ only). U+001C..U+001F and U+0085 ARE white space for str.split (bidi B/S), U+0007
    is not. Emoji, combining marks and punctuation stay inside char_wb pieces (code points,
    not UTF-16 units: one astral emoji is one character of an n-gram).
  * sklearn's word analyzer with token_pattern r"(?u)\\w+" gives exactly re.findall(r"\\w+",
    text.lower()) (checked on every text), and 2-grams are consecutive words joined by ' '.
  * Lower-casing: as in bm25_reference.py, texts are given to sklearn as simple_lower(text)
    (U+0130 -> 'i', capital sigma -> U+03C3, then str.lower()), i.e. utf8proc's simple
    mapping. Only SIB-200 fin_Latn/train.tsv data row 657 ("İzmirissä") is affected: plain
    str.lower() would give "i\\u0307zmirissä", hence word terms "i", "zmirissä" and char
    n-grams containing U+0307. The stored texts are the original ones.
"""
import csv
import json
import os
import re
import sys
import time
import warnings

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.dont_write_bytecode = True  # no __pycache__ in tools/learn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bm25_reference import EDGE_CASES, simple_lower  # noqa: E402

DATA = os.environ.get("KANAVA_DATASETS", "/work/shared/datasets")
C = 10.0
PER_CLASS = 10
N_TEST = 400
WORD_NGRAM = (1, 2)
CHAR_NGRAM = (2, 5)
WORD = re.compile(r"\w+")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f, delimiter="\t")]


def vectorizers():
    word = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\w+", ngram_range=WORD_NGRAM)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAM, lowercase=True)
    return word, char


def my_char_wb(text, min_n, max_n, literal_header=False):
    """char_wb written from the rule in the caveats; literal_header=True reads analyze.h's
    "shorter than n" literally (only to count how often that reading differs)."""
    out = []
    for piece in simple_lower(text).split():
        w = " " + piece + " "
        L = len(w)
        for n in range(min_n, max_n + 1):
            if L < n or (L == n and not literal_header):
                out.append(w)
                break
            out.extend(w[i:i + n] for i in range(L - n + 1))
    return out


def check_analyzers(texts):
    """re.findall tokens == sklearn's 1-grams; word 1-2-grams and char_wb independently."""
    word1 = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\w+", ngram_range=(1, 1)).build_analyzer()
    word12, char = [v.build_analyzer() for v in vectorizers()]
    literal_wrong = 0
    for t in texts:
        toks = WORD.findall(simple_lower(t))
        t = simple_lower(t)  # what sklearn is given (see the caveats)
        if toks != word1(t):
            sys.exit("re.findall and sklearn disagree on %r: %r vs %r" % (t[:80], toks, word1(t)))
        bigrams = [" ".join(toks[i:i + 2]) for i in range(len(toks) - 1)]
        if toks + bigrams != word12(t):
            sys.exit("word 1-2-grams disagree on %r" % t[:80])
        mine = my_char_wb(t, *CHAR_NGRAM)
        if mine != char(t):
            sys.exit("char_wb disagrees on %r: %r vs %r" % (t[:80], mine, char(t)))
        literal_wrong += my_char_wb(t, *CHAR_NGRAM, literal_header=True) != mine
    return literal_wrong


def block_dict(row, terms):
    """Nonzeros of one CSR row as {term: value}."""
    return {terms[j]: float(v) for j, v in zip(row.indices, row.data)}


def objective_gradient_norm(X, Y, W, b):
    """|gradient| of C * sum_i CE_i + 0.5 ||W||^2 (intercept not penalised), written here."""
    Z = X @ W.T + b
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    R = C * (P - Y)
    gW = np.asarray((X.T @ R).T) + W
    return float(np.sqrt(np.sum(gW * gW) + np.sum(R.sum(axis=0) ** 2)))


def fit(X, y, solver):
    tol, max_iter = (1e-8, 100) if solver == "newton-cg" else (1e-10, 20000)
    clf = LogisticRegression(C=C, solver=solver, multi_class="multinomial", tol=tol, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # newton-cg may warn once at the rounding floor
        clf.fit(X, y)
    return clf, int(clf.n_iter_[0]), max_iter


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_fixture(out_dir, train, test, n_test_dataset, source):
    """train: [(text, label)], test: [(text, name or None)]."""
    t0 = time.process_time()
    os.makedirs(out_dir, exist_ok=True)
    texts = [t for t, _ in train]
    labels = [lab for _, lab in train]
    test_texts = [t for t, _ in test]
    classes = list(dict.fromkeys(labels))
    literal_wrong = check_analyzers(texts + test_texts)

    word, char = vectorizers()
    # sklearn gets simple_lower(text) (and lower-cases it again, which changes nothing), so
    # that U+0130 and capital sigma follow utf8proc's simple mapping.
    texts_in, test_in = [simple_lower(t) for t in texts], [simple_lower(t) for t in test_texts]
    Xw, Xc = word.fit_transform(texts_in), char.fit_transform(texts_in)
    Tw, Tc = word.transform(test_in), char.transform(test_in)
    X = sparse.hstack([Xw, Xc]).tocsr()
    T = sparse.hstack([Tw, Tc]).tocsr()
    word_terms = word.get_feature_names_out().tolist()
    char_terms = char.get_feature_names_out().tolist()
    for blk in (Xw, Tw, Xc, Tc):  # every nonempty row of a block has unit norm
        norms = np.sqrt(np.asarray(blk.multiply(blk).sum(axis=1)).ravel())
        if np.any(np.abs(norms[norms > 0] - 1) > 1e-12):
            sys.exit("a block row is not unit norm")

    ref, ref_iter, ref_max = fit(X, labels, "newton-cg")
    lb, lb_iter, lb_max = fit(X, labels, "lbfgs")
    order = [list(ref.classes_).index(c) for c in classes]
    if [list(lb.classes_).index(c) for c in classes] != order:
        sys.exit("class orders differ")
    Y = np.zeros((len(labels), len(classes)))
    Y[np.arange(len(labels)), [list(ref.classes_).index(lab) for lab in labels]] = 1
    grad = objective_gradient_norm(X, Y, ref.coef_, ref.intercept_)
    grad_lb = objective_gradient_norm(X, Y, lb.coef_, lb.intercept_)
    P = ref.predict_proba(T)[:, order]
    PL = lb.predict_proba(T)[:, order]
    gap = float(np.abs(P - PL).max())
    print("  %d train x %d features (%d word + %d char), %d test, %d classes"
          % (X.shape[0], X.shape[1], len(word_terms), len(char_terms), T.shape[0], len(classes)))
    print("  newton-cg (reference): n_iter %d of %d, |grad| %.1e; lbfgs: n_iter %d of %d (%s), |grad| %.1e, "
          "max proba diff from the reference %.1e"
          % (ref_iter, ref_max, grad, lb_iter, lb_max, "below max_iter" if lb_iter < lb_max else "HIT max_iter",
             grad_lb, gap))
    print("  char_wb: %d texts where reading analyze.h's 'shorter than n' literally would differ" % literal_wrong)
    if grad > 1e-5 or ref_iter >= ref_max:
        sys.exit("newton-cg did not reach the optimum")
    if np.abs(P.sum(axis=1) - 1).max() > 1e-12:
        sys.exit("probabilities do not sum to 1")

    write_jsonl(os.path.join(out_dir, "train.jsonl"), [{"text": t, "label": lab} for t, lab in train])
    write_jsonl(os.path.join(out_dir, "test.jsonl"),
                [{"text": t} if name is None else {"text": t, "name": name} for t, name in test])
    for name, vec, terms in (("vocab_word.json", word, word_terms), ("vocab_char.json", char, char_terms)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump({t: float(v) for t, v in zip(terms, vec.idf_)}, f, ensure_ascii=False)
    write_jsonl(os.path.join(out_dir, "test_features.jsonl"),
                [{"word": block_dict(Tw[i], word_terms), "char": block_dict(Tc[i], char_terms)}
                 for i in range(T.shape[0])])
    P.astype("<f8").tofile(os.path.join(out_dir, "proba.f64"))
    PL.astype("<f8").tofile(os.path.join(out_dir, "proba_lbfgs.f64"))
    meta = {"C": C, "classes": classes, "n_train": len(train), "n_test": len(test),
            "n_test_dataset": n_test_dataset, "word_ngram": list(WORD_NGRAM), "char_ngram": list(CHAR_NGRAM),
            "n_word": len(word_terms), "n_char": len(char_terms),
            "reference_solver": "newton-cg tol=1e-8 max_iter=100", "reference_n_iter": ref_iter,
            "reference_gradient_norm": grad, "lbfgs_n_iter": lb_iter, "lbfgs_gradient_norm": grad_lb,
            "lbfgs_max_diff": gap, "subdirs": [], "source": source}
    print("  %.1f s CPU" % (time.process_time() - t0))
    return meta


def write_meta(out_dir, meta):
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tfidf_reference.py OUT_DIR")
    out_dir = sys.argv[1]
    t0 = time.process_time()

    rows = read_csv(os.path.join(DATA, "banking77/train.csv"))
    seen = {}
    train = []
    for text, lab in rows:
        if seen.get(lab, 0) < PER_CLASS:
            seen[lab] = seen.get(lab, 0) + 1
            train.append((text, lab))
    test = [(t, None) for t, _ in read_csv(os.path.join(DATA, "banking77/test.csv"))[:N_TEST]]
    test += [(t, name) for name, t in EDGE_CASES]
    print("banking77:")
    meta = write_fixture(out_dir, train, test, N_TEST,
                         {"train": "banking77/train.csv, first %d rows of each category" % PER_CLASS,
                          "test": "banking77/test.csv rows 0..%d, then the edge cases" % (N_TEST - 1)})

    fi_train = read_tsv(os.path.join(DATA, "sib200/fin_Latn/train.tsv"))
    fi_test = [(t, None) for t, _ in read_tsv(os.path.join(DATA, "sib200/fin_Latn/test.tsv"))]
    print("sib200 fin_Latn:")
    fi_meta = write_fixture(os.path.join(out_dir, "fi"), fi_train, fi_test, len(fi_test),
                            {"train": "sib200/fin_Latn/train.tsv", "test": "sib200/fin_Latn/test.tsv"})
    write_meta(os.path.join(out_dir, "fi"), fi_meta)
    meta["subdirs"] = ["fi"]
    write_meta(out_dir, meta)
    print("tfidf reference written to %s (%.1f s CPU)" % (out_dir, time.process_time() - t0))


if __name__ == "__main__":
    main()
