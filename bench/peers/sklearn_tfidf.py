#!/usr/bin/python3
"""Accuracy peer for `kanava bench-methods`: scikit-learn TF-IDF + logistic regression,
with the settings of Kanava's tfidf method (src/learn/tfidf.h), by default character
n-grams only:

  FeatureUnion([TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True)])
  (with --word-ngrams A,B also TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\\w+",
  ngram_range=(A, B)) first, as `kanava train --method tfidf --word-ngrams A,B`)
  LogisticRegression(C=C, solver="lbfgs", multi_class="multinomial", max_iter=1000)

Usage (the peer contract):
  /usr/bin/python3 bench/peers/sklearn_tfidf.py TRAIN.csv TEST.csv OUT_DIR [--C 10] [--threads 2]
         [--word-ngrams 0,0] [--char-ngrams 2,5]

TRAIN.csv and TEST.csv: RFC 4180 CSV with a header naming the columns `text` and
`category` (order free; only TEST's `text` column is read). Writes
OUT_DIR/predictions.csv (`label,confidence`: the arg-max class and its probability, one
row per test row, in order) and OUT_DIR/timing.json. train_seconds covers vectoriser
fitting + transform of the training texts + LogisticRegression.fit; predict_seconds
covers transform + predict_proba of the whole test file. Process start-up, imports and
file I/O are outside both. Exit status 0 on success, 1 (message on stderr) otherwise.
"""

import argparse
import csv
import json
import os
import sys
import time


def read_csv(path, need_category):
    with open(path, "r", encoding="utf-8-sig", newline="") as f:
        try:
            rows = list(csv.reader(f, strict=True))
        except csv.Error as e:
            raise ValueError("%s: not valid CSV: %s" % (path, e))
    if not rows:
        raise ValueError("%s: empty file" % path)
    header = [h.strip() for h in rows[0]]
    if "text" not in header or (need_category and "category" not in header):
        raise ValueError("%s: header must name columns text,category (got %r)" % (path, rows[0]))
    ti = header.index("text")
    ci = header.index("category") if need_category else None
    texts, cats = [], []
    for k, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ValueError("%s: record %d has %d fields, header has %d" % (path, k, len(r), len(header)))
        texts.append(r[ti])
        if need_category:
            cats.append(r[ci])
    return texts, cats


def blas_description():
    """Which BLAS numpy really calls, and with how many threads."""
    try:
        import threadpoolctl
        infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            i = infos[0]
            return "%s %s %s %s, %s threads (%s)" % (
                i.get("internal_api"), i.get("version"), i.get("threading_layer"),
                i.get("architecture"), i.get("num_threads"), i.get("filepath"))
    except Exception:  # threadpoolctl missing or failing: fall back to numpy's build info
        pass
    import numpy as np
    try:
        libs = np.__config__.blas_opt_info.get("libraries")
        return "numpy built against %s (threadpoolctl unavailable)" % libs
    except AttributeError:
        return "unknown (numpy %s)" % np.__version__


def parse_range(text):
    lo, hi = (int(v) for v in text.split(","))
    return lo, hi


def make_model(C, word_ngrams=(0, 0), char_ngrams=(2, 5)):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion
    blocks = []
    if word_ngrams[1] > 0:
        blocks.append(("word", TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\w+", ngram_range=word_ngrams)))
    if char_ngrams[1] > 0:
        blocks.append(("char", TfidfVectorizer(analyzer="char_wb", ngram_range=char_ngrams, lowercase=True)))
    feats = FeatureUnion(blocks)
    try:
        clf = LogisticRegression(C=C, solver="lbfgs", multi_class="multinomial", max_iter=1000)
    except TypeError:  # scikit-learn >= 1.7 dropped multi_class; multinomial is lbfgs's only mode
        clf = LogisticRegression(C=C, solver="lbfgs", max_iter=1000)
    return feats, clf


def main():
    ap = argparse.ArgumentParser(description="scikit-learn TF-IDF + LogisticRegression peer")
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("out_dir")
    ap.add_argument("--C", type=float, default=10.0, help="inverse regularisation strength (default 10)")
    ap.add_argument("--word-ngrams", type=parse_range, default=(0, 0),
                    help="word n-gram range A,B; 0,0 = off (default, as Kanava's tfidf)")
    ap.add_argument("--char-ngrams", type=parse_range, default=(2, 5),
                    help="char_wb n-gram range A,B; 0,0 = off (default 2,5, as Kanava's tfidf)")
    ap.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (default 2)")
    args = ap.parse_args()

    # Thread pools are sized when the libraries load: set the variables before numpy.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import warnings
    import numpy as np
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    train_texts, train_cats = read_csv(args.train, True)
    test_texts, _ = read_csv(args.test, False)
    if not train_texts:
        raise ValueError("%s: no training rows" % args.train)
    if len(set(train_cats)) < 2:
        raise ValueError("%s: need at least two categories" % args.train)
    os.makedirs(args.out_dir, exist_ok=True)

    feats, clf = make_model(args.C, args.word_ngrams, args.char_ngrams)
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        X = feats.fit_transform(train_texts)
        clf.fit(X, train_cats)
        t1 = time.perf_counter()
    train_seconds = t1 - t0
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("lbfgs did not converge in max_iter=1000")

    if test_texts:
        t0 = time.perf_counter()
        P = clf.predict_proba(feats.transform(test_texts))
        best = P.argmax(axis=1)
        t1 = time.perf_counter()
        predict_seconds = t1 - t0
    else:
        best, P, predict_seconds = np.zeros(0, dtype=int), np.zeros((0, len(clf.classes_))), 0.0

    with open(os.path.join(args.out_dir, "predictions.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["label", "confidence"])
        for i, j in enumerate(best):
            w.writerow([clf.classes_[j], "%.6g" % P[i, j]])

    blocks = ", ".join("%s %d-%d (%d features)" % (name, *vec.ngram_range, len(vec.vocabulary_))
                       for name, vec in feats.transformer_list)
    notes.insert(0, "scikit-learn %s, numpy %s; TF-IDF %s; "
                    "LogisticRegression C=%g lbfgs multinomial max_iter=1000, %d iterations; "
                    "%d train / %d test rows, %d classes"
                 % (sklearn.__version__, np.__version__, blocks, args.C,
                    int(np.max(clf.n_iter_)), len(train_texts), len(test_texts), len(clf.classes_)))
    timing = {
        "train_seconds": train_seconds,
        "predict_seconds": predict_seconds,
        "threads": args.threads,
        "blas": blas_description(),
        "notes": "; ".join(notes),
    }
    with open(os.path.join(args.out_dir, "timing.json"), "w", encoding="utf-8") as f:
        json.dump(timing, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # contract: non-zero exit with a message on stderr
        print("sklearn_tfidf.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
