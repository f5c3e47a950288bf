#!/usr/bin/python3
"""logreg_reference.py - scikit-learn's multinomial LogisticRegression as the reference
for Kanava's classification head (src/learn/logreg.c, tests/test_logreg.c).

    logreg_reference.py OUT_DIR [--datasets separated,overlap,embed]

Generates deterministic datasets, fits LogisticRegression(multi_class='multinomial') for C
in {1, 100}, with and without class_weight='balanced', and writes per dataset OUT_DIR/<name>/:

    meta.json         n, dim, n_classes, n_test, fits: [{C, balanced, tag}]
    X.f32 Xtest.f32   float32 little-endian rows (the values sklearn fits on)
    y.i32             int32 class ids
    <tag>.proba.f32 <tag>.proba_test.f32   predict_proba on X and on Xtest
    <tag>.coef.f32 <tag>.intercept.f32     coef_ [n_classes, dim], intercept_
    <tag>.lbfgs_proba.f32 <tag>.lbfgs_proba_test.f32   the same from solver='lbfgs'

and OUT_DIR/index.json listing the datasets. Each dataset also gets the reference for the
held-out temperature a SetFit head is calibrated with (kn_logreg_holdout_temperature):

    holdout.json      cases: each a fold file, C, folds, mode ("one head" or "parts") and the
                      temperature; holdout.<every>.fold.i32 holds fold 0 = every <every>-th row
                      of each class in row order (5: a small fold 0, 2: a large one). Not for
                      a dataset whose held-out rows are all classified with wide margins: its
                      NLL is flat towards T = 0 and any small T is optimal
                      (C = 1: at C = 100 these near-separable sets leave the logits' scale,
                      which T compensates, resting on digits the solvers do not agree on)

computed here from the documented rule: while fold 0 has fewer than 5 rows per class its
rows are dealt round-robin (row order) into `folds` parts and each part's logits come from a
head fitted on every other row; otherwise one head fitted on the rows outside fold 0. T
minimises the held-out negative log-likelihood of softmax(logits / T) (scipy, bounded).

Why two solvers: the reference is solver='newton-cg' (tol=1e-8, max_iter=100), which reaches
the optimum: the gradient of C * sum_i w_i CE_i + 0.5 ||W||^2 (written here independently of
sklearn) must be below 1e-5 at its solution or the script fails. solver='lbfgs' (tol=1e-10,
max_iter=10000) stops early in scikit-learn 1.2: scipy's L-BFGS-B also stops when the
objective's relative decrease falls below its default ftol 2.2e-9, which sklearn does not
expose, leaving probabilities up to ~2e-4 from the optimum. Its probabilities are kept to
report how far they are.
"""
import json
import os
import sys
import warnings

import numpy as np
from scipy import optimize
from sklearn.linear_model import LogisticRegression

FITS = [(1.0, False), (1.0, True), (100.0, False), (100.0, True)]


def unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def blobs(rng, counts, dim, center_scale, noise, n_test_per_class):
    """Gaussian classes around random centres: train rows per counts, test rows per class."""
    k = len(counts)
    centers = rng.normal(0, center_scale, (k, dim))
    X = np.concatenate([centers[c] + rng.normal(0, noise, (m, dim)) for c, m in enumerate(counts)])
    y = np.concatenate([np.full(m, c) for c, m in enumerate(counts)])
    Xt = np.concatenate([centers[c] + rng.normal(0, noise, (n_test_per_class, dim)) for c in range(k)])
    return X, y, Xt


def embeddings(rng, counts, dim, n_test_per_class):
    """Unit vectors like sentence embeddings: a shared direction (every text looks alike a
    little), a class direction, and per-text noise of about the same size."""
    k = len(counts)
    common = unit_rows(rng.normal(0, 1, (1, dim)))[0]
    dirs = unit_rows(rng.normal(0, 1, (k, dim)))

    def rows(c, m):
        return unit_rows(0.6 * common + 0.5 * dirs[c] + 0.7 * unit_rows(rng.normal(0, 1, (m, dim))))

    X = np.concatenate([rows(c, m) for c, m in enumerate(counts)])
    y = np.concatenate([np.full(m, c) for c, m in enumerate(counts)])
    Xt = np.concatenate([rows(c, n_test_per_class) for c in range(k)])
    return X, y, Xt


def make_datasets():
    out = {}
    rng = np.random.default_rng(20261201)
    out["separated"] = blobs(rng, [40] * 5, 16, 3.0, 1.0, 10)
    rng = np.random.default_rng(20261202)
    out["overlap"] = blobs(rng, [30, 20, 16, 12, 10, 8, 8, 6, 6, 4], 64, 0.35, 1.0, 4)
    rng = np.random.default_rng(20261203)
    counts = [10 + (c % 9) - 4 for c in range(77)]  # 6..14 per class, 770 rows
    counts[-1] += 770 - sum(counts)
    out["embed"] = embeddings(rng, counts, 512, 2)
    return out


def objective(theta, X, Y, sw, C):
    """C * sum_i sw_i * CE_i + 0.5 * ||W||^2 and its gradient; theta = [W (k x d), b (k)]."""
    n, d = X.shape
    k = Y.shape[1]
    W = theta[: k * d].reshape(k, d)
    b = theta[k * d:]
    Z = X @ W.T + b
    Z -= Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z).sum(axis=1))
    P = np.exp(Z - lse[:, None])
    f = C * np.sum(sw * (lse - (Z * Y).sum(axis=1))) + 0.5 * np.sum(W * W)
    R = C * sw[:, None] * (P - Y)
    g = np.concatenate([(R.T @ X + W).ravel(), R.sum(axis=0)])
    return f, g


def softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def sklearn_fit(X, y, C, balanced, solver):
    tol, max_iter = (1e-8, 100) if solver == "newton-cg" else (1e-10, 10000)
    clf = LogisticRegression(C=C, multi_class="multinomial", solver=solver, tol=tol, max_iter=max_iter,
                             class_weight="balanced" if balanced else None)
    with warnings.catch_warnings():
        # newton-cg may end with "Line Search failed" once at the rounding floor; lbfgs warns on ftol.
        warnings.simplefilter("ignore")
        return clf.fit(X, y)


def gradient_norm(X, y, C, balanced, clf):
    """|gradient| of the objective Kanava minimises, at sklearn's solution."""
    k = clf.coef_.shape[0]
    counts = np.bincount(y, minlength=k)
    sw = (len(y) / (k * counts))[y] if balanced else np.ones(len(y))
    theta = np.concatenate([clf.coef_.ravel(), clf.intercept_])
    return np.linalg.norm(objective(theta, X, np.eye(k)[y], sw, C)[1])


def holdout_reference(X, y, every, C=1.0, folds=5):
    """The held-out temperature rule of kn_logreg_holdout_temperature, from sklearn heads."""
    k = int(y.max() + 1)
    rank = np.zeros(len(y), dtype=np.int64)
    seen = np.zeros(k, dtype=np.int64)
    for i, c in enumerate(y):
        rank[i] = seen[c]
        seen[c] += 1
    fold = np.where(rank % every == 0, 0, 1 + rank % (folds - 1)).astype(np.int32)
    held = np.where(fold == 0)[0]
    Z = np.zeros((len(held), k))
    if len(held) >= 5 * k:
        mode = "one head"
        clf = sklearn_fit(X[fold != 0], y[fold != 0], C, False, "newton-cg")
        Z[:] = clf.decision_function(X[held])
    else:
        mode = "parts"
        for p in range(folds):
            rows = held[p::folds]
            if len(rows) == 0:
                continue
            train = np.ones(len(y), bool)
            train[rows] = False
            clf = sklearn_fit(X[train], y[train], C, False, "newton-cg")
            Z[p::folds] = clf.decision_function(X[rows])
    yh = y[held]

    def nll(log_t):
        P = softmax(Z / np.exp(log_t))
        return -np.mean(np.log(P[np.arange(len(yh)), yh]))

    res = optimize.minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                                   options={"xatol": 1e-10})
    return fold, {"fold_file": "holdout.%d.fold.i32" % every, "C": C, "folds": folds, "mode": mode,
                  "held_out": int(len(held)), "temperature": float(np.exp(res.x))}


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: logreg_reference.py OUT_DIR [--datasets a,b,c]")
    out_dir = sys.argv[1]
    names = None
    if len(sys.argv) == 4 and sys.argv[2] == "--datasets":
        names = sys.argv[3].split(",")
    data = make_datasets()
    index = []
    for name, (X, y, Xt) in data.items():
        if names and name not in names:
            continue
        X = X.astype(np.float32)
        Xt = Xt.astype(np.float32)
        y = y.astype(np.int32)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        X.tofile(os.path.join(d, "X.f32"))
        Xt.tofile(os.path.join(d, "Xtest.f32"))
        y.tofile(os.path.join(d, "y.i32"))
        X64, Xt64 = X.astype(np.float64), Xt.astype(np.float64)
        fits = []
        for C, balanced in FITS:
            tag = "C%g%s" % (C, "_balanced" if balanced else "")
            clf = sklearn_fit(X64, y, C, balanced, "newton-cg")
            lb = sklearn_fit(X64, y, C, balanced, "lbfgs")
            grad = gradient_norm(X64, y, C, balanced, clf)
            P, Pt = clf.predict_proba(X64), clf.predict_proba(Xt64)
            L, Lt = lb.predict_proba(X64), lb.predict_proba(Xt64)
            gap_lbfgs = max(np.abs(L - P).max(), np.abs(Lt - Pt).max())
            print("%-9s %-13s |grad| at the reference %.1e; sklearn lbfgs max proba diff from it %.1e"
                  % (name, tag, grad, gap_lbfgs))
            if grad > 1e-5:
                sys.exit("%s %s: newton-cg did not reach the optimum" % (name, tag))
            P.astype(np.float32).tofile(os.path.join(d, tag + ".proba.f32"))
            Pt.astype(np.float32).tofile(os.path.join(d, tag + ".proba_test.f32"))
            L.astype(np.float32).tofile(os.path.join(d, tag + ".lbfgs_proba.f32"))
            Lt.astype(np.float32).tofile(os.path.join(d, tag + ".lbfgs_proba_test.f32"))
            clf.coef_.astype(np.float32).tofile(os.path.join(d, tag + ".coef.f32"))
            clf.intercept_.astype(np.float32).tofile(os.path.join(d, tag + ".intercept.f32"))
            fits.append({"C": C, "balanced": balanced, "tag": tag,
                         "reference_gradient_norm": grad, "lbfgs_max_diff": gap_lbfgs})
        cases = []
        for every in (5, 2) if name != "separated" else ():
            fold, case = holdout_reference(X64, y, every)
            fold.tofile(os.path.join(d, case["fold_file"]))
            cases.append(case)
            print("%-9s held-out temperature (%s, %d rows): %.6f" % (name, case["mode"], case["held_out"],
                                                                      case["temperature"]))
        with open(os.path.join(d, "holdout.json"), "w") as f:
            json.dump({"cases": cases}, f, indent=1)
        meta = {"name": name, "n": int(X.shape[0]), "dim": int(X.shape[1]),
                "n_classes": int(y.max() + 1), "n_test": int(Xt.shape[0]), "fits": fits}
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        index.append(name)
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump({"datasets": index}, f)


if __name__ == "__main__":
    main()
