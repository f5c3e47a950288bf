#!/usr/bin/python3
"""hybrid_reference.py - the hybrid method's features and head (src/learn/hybrid.h) built with
numpy / scipy / scikit-learn, as the reference for tests/test_hybrid.c.

    hybrid_reference.py OUT_DIR [--lbfgs]

A hybrid row is hstack([w * normalize(E), T]): the embedding E of a text scaled to unit L2
length (a zero embedding stays zero) times the dense weight w, then the TF-IDF row T. Here
T is TfidfVectorizer(analyzer='char_wb', ngram_range=(2, 5), lowercase=True), other options
at their defaults (Kanava's kn_tfidf default: the char block alone, word block off), fitted
on the train texts (given as simple_lower(text), as tfidf_reference.py does). The head is
LogisticRegression(C=10, multi_class='multinomial', intercept fitted) on the float64 hybrid
rows, for w = 1.4 and w = 0.7; and for w = 1.4 once more with sample weights (fit(X, y,
sample_weight=...), as Kanava's kn_logreg_fit_sparse_weighted): 1.0 for the first 500 train
rows and 0.5 for the others, except rows 10, 200 and 650 at 0 (they must not count at all)
and rows 3 (the zero embedding), 20, 400 and 700 at 3. The objective is then
C * sum_i s_i * CE_i + 0.5 ||W||^2 (sklearn 1.2 scales it by 1 / C, same optimum).

E is not an encoder's output (no model is needed): deterministic pseudo-embeddings, 32
dimensions, from numpy's default_rng(SEED): per class a Gaussian mean, per text that mean
plus Gaussian noise, times a per-text length drawn log-uniformly from [0.2, 20] (so the rows
are NOT unit length and the join has to normalise). They carry class signal (the means) but
not enough to classify alone, so both blocks matter. Special rows: train row 3 and test
row 5 are all-zero embeddings (the zero case), test row 6 has length ~1e4 and test row 7
~1e-4. The values sklearn sees are the float32 ones written to the files (cast to float64).

Data: Banking77 from $KANAVA_DATASETS, else $KANAVA_SHARED/datasets, else ../shared/datasets
beside the checkout: train.csv, the first 10 rows of each category in file order (770
rows); test.csv, the first 300 rows.

Writes (every .jsonl line is one JSON object; floats are Python repr, i.e. they round-trip to
the same double):

    OUT_DIR/meta.json    {"C", "dim", "weights": [1.4, 0.7], "classes": [first-appearance
                          order], "n_train", "n_test", "n_char", "char_ngram": [2, 5],
                          "zero_train_rows", "zero_test_rows", "reference_solver",
                          "fits": [{"weight", "proba", "reference_n_iter",
                                    "reference_gradient_norm", "test_accuracy"}], "source"}
    OUT_DIR/train.jsonl  {"text", "label"}
    OUT_DIR/test.jsonl   {"text", "label"}
    OUT_DIR/train_emb.f32, test_emb.f32   raw little-endian float32 [n x dim]
    OUT_DIR/vocab_char.json   [term, ...] in sklearn's column order (sorted by code point)
    OUT_DIR/test_features.jsonl   per test row {"dense": {"1.4": {col: value}, "0.7": {...}},
                         "char": {term: value}}: the nonzeros of the test rows of the
                         sklearn-built hstack matrix for each weight, split at column dim:
                         dense columns as strings "0".."31" (absent = zero), char columns by
                         term (the char block is the same for both weights; checked)
    OUT_DIR/proba_w1.4.f64, proba_w0.7.f64   raw little-endian float64 [n_test x n_classes],
                         class columns in first-appearance order: predict_proba at the
                         optimum (newton-cg, see below)
    OUT_DIR/sample_weight.f32   raw little-endian float32 [n_train]: the weights above
                         (exact in float32, so both sides use the same values)
    OUT_DIR/proba_w1.4_weighted.f64   as proba_w1.4.f64, for the weighted fit; meta.json's
                         "weighted_fit": {"weight", "sample_weight", "proba", "zero_rows",
                         "heavy_rows", "reference_n_iter", "reference_gradient_norm" (of the
                         weighted objective), "test_accuracy", "max_diff_from_unweighted"}

The optimum, as in tfidf_reference.py and logreg_reference.py: scikit-learn 1.2's lbfgs stops
early (scipy's L-BFGS-B also stops on a relative decrease below its ftol 2.2e-9, which sklearn
does not expose), however tight tol and max_iter are: here solver='lbfgs' with tol=1e-10,
max_iter=20000 stops after 40 iterations with |gradient| ~1e-2 and probabilities up to 5e-5
from the optimum. So the reference is solver='newton-cg' (tol=1e-8, max_iter=100; 17-20
iterations, |gradient| <= 6e-7). Its gradient of C * sum CE + 0.5 ||W||^2 (intercept not
penalised), computed here independently of sklearn, must be below 1e-5 or the script fails.
The lbfgs fits are not repeated on every run (they cost a third of the script's time);
`hybrid_reference.py OUT_DIR --lbfgs` does them and prints how far they are. The weighted fit
is newton-cg too, warm-started from the unweighted w = 1.4 optimum (warm_start=True): 14
iterations instead of 20, the same optimum (coefficients within 4e-9 of a cold start), and
its weighted gradient is checked against the same 1e-5.

Expected tolerances for the C side: dense features are w * e / |e| with e float32: the C join
computes the norm in double and multiplies in float, so <= ~1e-6 absolute (values are at
most w); char values as tfidf_reference.py (<= 1e-6, same nonzero terms exactly);
probabilities <= 1e-4 absolute against proba_w*.f64 (the tolerance of test_tfidf.c's head
comparison; the C head fits float32 features to a tight gradient tolerance), the weighted ones
included. The weights must matter for that check to mean anything: the script fails unless
the weighted probabilities are at least 1e-2 from the unweighted ones somewhere (100 times
the tolerance).
"""
import csv
import json
import os
import sys
import time
import warnings

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

sys.dont_write_bytecode = True  # no __pycache__ in tools/learn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bm25_reference import simple_lower  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get("KANAVA_DATASETS") or os.path.join(
    os.environ.get("KANAVA_SHARED") or os.path.join(ROOT, "..", "shared"), "datasets")
C = 10.0
DIM = 32
SEED = 20240611
PER_CLASS = 10
N_TEST = 300
WEIGHTS = (1.4, 0.7)
CHAR_NGRAM = (2, 5)
ZERO_TRAIN = [3]
ZERO_TEST = [5]
GRAD_LIMIT = 1e-5
WEIGHTED_W = 1.4
N_FULL_WEIGHT = 500  # train rows 0..499 at weight 1, the others at 0.5 ...
ZERO_WEIGHT_ROWS = [10, 200, 650]  # ... except these at 0
HEAVY_ROWS = [3, 20, 400, 700]  # and these at 3 (3 is the zero-embedding row)
HEAVY_WEIGHT = 3.0
MIN_WEIGHT_EFFECT = 1e-2


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def embeddings(rng, means, labels, class_index):
    """(n x DIM) float32: class mean + noise, times a log-uniform length in [0.2, 20]."""
    n = len(labels)
    mu = means[[class_index[lab] for lab in labels]]
    E = mu + 1.5 * rng.standard_normal((n, DIM))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    E *= np.exp(rng.uniform(np.log(0.2), np.log(20.0), size=(n, 1)))
    return E.astype("<f4")


def sample_weights(n):
    """float32 [n]: 1 for the first N_FULL_WEIGHT rows, 0.5 after, the zero and heavy rows."""
    sw = np.where(np.arange(n) < N_FULL_WEIGHT, 1.0, 0.5)
    sw[ZERO_WEIGHT_ROWS] = 0.0
    sw[HEAVY_ROWS] = HEAVY_WEIGHT
    return sw.astype("<f4")


def gradient_norm(X, Y, W, b, sw=None):
    """|gradient| of C * sum_i sw_i CE_i + 0.5 ||W||^2 (intercept not penalised; sw None: all
    1), written here."""
    Z = np.asarray(X @ W.T) + b
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    R = C * (P - Y)
    if sw is not None:
        R *= np.asarray(sw, dtype=np.float64)[:, None]
    gW = np.asarray((X.T @ R).T) + W
    return float(np.sqrt(np.sum(gW * gW) + np.sum(R.sum(axis=0) ** 2)))


def fit(X, y, solver, sample_weight=None, start=None):
    """solver 'newton-cg' (the reference) or 'lbfgs' (only with --lbfgs, to compare); start: a
    fitted model to warm-start from (its coef_ and intercept_ are copied)."""
    tol, max_iter = (1e-8, 100) if solver == "newton-cg" else (1e-10, 20000)
    clf = LogisticRegression(C=C, solver=solver, multi_class="multinomial", tol=tol, max_iter=max_iter,
                             warm_start=start is not None)
    if start is not None:
        clf.coef_, clf.intercept_ = start.coef_.copy(), start.intercept_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # newton-cg may warn once at the rounding floor
        clf.fit(X, y, sample_weight=None if sample_weight is None else sample_weight.astype(np.float64))
    return clf, int(clf.n_iter_[0]), max_iter


def hybrid(E32, T, w):
    """hstack([w * normalize(E), T]) in float64, CSR (explicit zeros dropped)."""
    D = w * normalize(E32.astype(np.float64))
    H = sparse.hstack([sparse.csr_matrix(D), T]).tocsr()
    H.eliminate_zeros()
    H.sort_indices()
    return H


def fit_weighted(X, T, Y, labels, sw, ref, order, P, test, class_index, out_dir):
    """The w = WEIGHTED_W head with sample weights sw, warm-started from the unweighted
    optimum ref; writes its test probabilities and returns meta.json's "weighted_fit"."""
    if np.any(sw < 0) or float(sw.sum()) <= 0:
        sys.exit("bad sample weights")
    wref, w_iter, w_max = fit(X, labels, "newton-cg", sample_weight=sw, start=ref)
    if list(wref.classes_) != list(ref.classes_):
        sys.exit("class orders differ")
    grad = gradient_norm(X, Y, wref.coef_, wref.intercept_, sw)
    PW = wref.predict_proba(T)[:, order]
    acc = float(np.mean(PW.argmax(axis=1) == np.array([class_index[lab] for _, lab in test])))
    effect = float(np.abs(PW - P).max())
    print("  w=%g weighted (%d rows at 1, %d at 0.5, %d at 0, %d at %g): newton-cg n_iter %d of %d (warm start), "
          "|grad| %.1e, test accuracy %.3f, max proba diff from unweighted %.2e"
          % (WEIGHTED_W, int(np.sum(sw == 1)), int(np.sum(sw == 0.5)), int(np.sum(sw == 0)), int(np.sum(sw == HEAVY_WEIGHT)),
             HEAVY_WEIGHT, w_iter, w_max, grad, acc, effect))
    if grad > GRAD_LIMIT or w_iter >= w_max:
        sys.exit("weighted newton-cg did not reach the optimum (|grad| %.2e)" % grad)
    if np.abs(PW.sum(axis=1) - 1).max() > 1e-12:
        sys.exit("weighted probabilities do not sum to 1")
    if effect < MIN_WEIGHT_EFFECT:
        sys.exit("the sample weights move the probabilities by only %.1e" % effect)
    name = "proba_w%r_weighted.f64" % WEIGHTED_W
    PW.astype("<f8").tofile(os.path.join(out_dir, name))
    return {"weight": WEIGHTED_W, "sample_weight": "sample_weight.f32", "proba": name, "zero_rows": ZERO_WEIGHT_ROWS,
            "heavy_rows": HEAVY_ROWS, "reference_n_iter": w_iter, "reference_gradient_norm": grad,
            "test_accuracy": acc, "max_diff_from_unweighted": effect}


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--lbfgs"):
        sys.exit("usage: hybrid_reference.py OUT_DIR [--lbfgs]")
    out_dir = sys.argv[1]
    with_lbfgs = len(sys.argv) == 3
    t0 = time.process_time()
    os.makedirs(out_dir, exist_ok=True)

    seen = {}
    train = []
    for text, lab in read_csv(os.path.join(DATA, "banking77/train.csv")):
        if seen.get(lab, 0) < PER_CLASS:
            seen[lab] = seen.get(lab, 0) + 1
            train.append((text, lab))
    test = read_csv(os.path.join(DATA, "banking77/test.csv"))[:N_TEST]
    labels = [lab for _, lab in train]
    classes = list(dict.fromkeys(labels))
    class_index = {c: k for k, c in enumerate(classes)}
    if any(lab not in class_index for _, lab in test):
        sys.exit("a test label is not a train class")

    rng = np.random.default_rng(SEED)
    means = 0.6 * rng.standard_normal((len(classes), DIM))
    E = embeddings(rng, means, labels, class_index)
    Et = embeddings(rng, means, [lab for _, lab in test], class_index)
    E[ZERO_TRAIN] = 0
    Et[ZERO_TEST] = 0
    Et[6] *= np.float32(1e4) / np.linalg.norm(Et[6])
    Et[7] *= np.float32(1e-4) / np.linalg.norm(Et[7])

    char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAM, lowercase=True)
    X_char = char.fit_transform([simple_lower(t) for t, _ in train])
    T_char = char.transform([simple_lower(t) for t, _ in test])
    terms = char.get_feature_names_out().tolist()

    y_idx = np.array([class_index[lab] for lab in labels])
    sw = sample_weights(len(labels))
    weighted = None
    fits, dense_rows, char_rows = [], [dict() for _ in test], None
    for w in WEIGHTS:
        X, T = hybrid(E, X_char, w), hybrid(Et, T_char, w)
        ref, ref_iter, ref_max = fit(X, labels, "newton-cg")
        order = [list(ref.classes_).index(c) for c in classes]
        Y = np.zeros((len(labels), len(classes)))
        Y[np.arange(len(labels)), [order[k] for k in y_idx]] = 1  # columns in sklearn's order
        grad = gradient_norm(X, Y, ref.coef_, ref.intercept_)
        P = ref.predict_proba(T)[:, order]
        acc = float(np.mean(P.argmax(axis=1) == np.array([class_index[lab] for _, lab in test])))
        print("  w=%g: %d train x %d features (%d dense + %d char), %d test; newton-cg n_iter %d of %d, |grad| %.1e, "
              "test accuracy %.3f" % (w, X.shape[0], X.shape[1], DIM, len(terms), T.shape[0], ref_iter, ref_max, grad, acc))
        if with_lbfgs:
            lb, lb_iter, lb_max = fit(X, labels, "lbfgs")
            if list(lb.classes_) != list(ref.classes_):
                sys.exit("class orders differ")
            print("    lbfgs tol=1e-10: n_iter %d of %d, |grad| %.1e, max proba diff from newton-cg %.1e"
                  % (lb_iter, lb_max, gradient_norm(X, Y, lb.coef_, lb.intercept_),
                     float(np.abs(P - lb.predict_proba(T)[:, order]).max())))
        if grad > GRAD_LIMIT or ref_iter >= ref_max:
            sys.exit("newton-cg did not reach the optimum (|grad| %.2e)" % grad)
        if np.abs(P.sum(axis=1) - 1).max() > 1e-12:
            sys.exit("probabilities do not sum to 1")
        key = repr(w)
        rows = []
        for i in range(T.shape[0]):
            r = T[i]
            dense = {str(int(j)): float(v) for j, v in zip(r.indices, r.data) if j < DIM}
            if i in ZERO_TEST and dense:
                sys.exit("the zero embedding has dense nonzeros")
            dense_rows[i][key] = dense
            rows.append({terms[j - DIM]: float(v) for j, v in zip(r.indices, r.data) if j >= DIM})
        if char_rows is None:
            char_rows = rows
        elif rows != char_rows:
            sys.exit("the char block depends on the weight")
        P.astype("<f8").tofile(os.path.join(out_dir, "proba_w%s.f64" % key))
        if w == WEIGHTED_W:
            weighted = fit_weighted(X, T, Y, labels, sw, ref, order, P, test, class_index, out_dir)
        fits.append({"weight": w, "proba": "proba_w%s.f64" % key, "reference_n_iter": ref_iter,
                     "reference_gradient_norm": grad, "test_accuracy": acc})

    write_jsonl(os.path.join(out_dir, "train.jsonl"), [{"text": t, "label": lab} for t, lab in train])
    write_jsonl(os.path.join(out_dir, "test.jsonl"), [{"text": t, "label": lab} for t, lab in test])
    E.tofile(os.path.join(out_dir, "train_emb.f32"))
    sw.tofile(os.path.join(out_dir, "sample_weight.f32"))
    Et.tofile(os.path.join(out_dir, "test_emb.f32"))
    with open(os.path.join(out_dir, "vocab_char.json"), "w", encoding="utf-8") as f:
        json.dump(terms, f, ensure_ascii=False)
    write_jsonl(os.path.join(out_dir, "test_features.jsonl"),
                [{"dense": d, "char": c} for d, c in zip(dense_rows, char_rows)])
    meta = {"C": C, "dim": DIM, "weights": list(WEIGHTS), "classes": classes, "n_train": len(train),
            "n_test": len(test), "n_char": len(terms), "char_ngram": list(CHAR_NGRAM), "seed": SEED,
            "zero_train_rows": ZERO_TRAIN, "zero_test_rows": ZERO_TEST,
            "reference_solver": "newton-cg tol=1e-8 max_iter=100", "fits": fits, "weighted_fit": weighted,
            "source": {"train": "banking77/train.csv, first %d rows of each category" % PER_CLASS,
                       "test": "banking77/test.csv rows 0..%d" % (N_TEST - 1)}}
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    print("hybrid reference written to %s (%.1f s CPU)" % (out_dir, time.process_time() - t0))


if __name__ == "__main__":
    main()
