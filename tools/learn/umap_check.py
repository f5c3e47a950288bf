#!/usr/bin/env python3
"""umap_check.py VECTORS.npy COORDS.csv [--labels LABELS.csv --label-column category] [--json OUT]

Judges Kanava's 2-D map (`kanava map`) against scikit-learn: trustworthiness (k = 10,
euclidean, sklearn.manifold.trustworthiness) of Kanava's layout and of PCA(2) on the same
vectors. Exits 1 if Kanava's is below --min-trust (0.9) or not above PCA's. With --labels,
also prints the 10-NN label accuracy in 2-D (how well topics stay together on the map)."""
import argparse
import csv
import json
import sys

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier


def read_coords(path, n):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0]] != ["x", "y"]:
        sys.exit(f"{path}: expected a header x,y")
    xy = np.array([[float(a), float(b)] for a, b in rows[1:]], dtype=np.float64)
    if xy.shape != (n, 2):
        sys.exit(f"{path}: {xy.shape[0]} points for {n} vectors")
    if not np.all(np.isfinite(xy)):
        sys.exit(f"{path}: non-finite coordinates")
    return xy


def knn_label_accuracy(xy, labels, k=10):
    # Leave-one-out: the majority label among each point's k nearest others.
    clf = KNeighborsClassifier(n_neighbors=k + 1).fit(xy, labels)
    idx = clf.kneighbors(xy, return_distance=False)[:, 1:]
    lab = np.asarray(labels)
    hits = 0
    for i, row in enumerate(idx):
        vals, counts = np.unique(lab[row], return_counts=True)
        hits += vals[np.argmax(counts)] == lab[i]
    return hits / len(lab)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vectors")
    ap.add_argument("coords")
    ap.add_argument("--labels")
    ap.add_argument("--label-column", default="category")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--min-trust", type=float, default=0.9)
    ap.add_argument("--json")
    a = ap.parse_args()

    x = np.load(a.vectors).astype(np.float64)
    xy = read_coords(a.coords, x.shape[0])
    pca = PCA(n_components=2, random_state=0).fit_transform(x)
    result = {
        "n": int(x.shape[0]),
        "dim": int(x.shape[1]),
        "k": a.k,
        "trust_kanava": float(trustworthiness(x, xy, n_neighbors=a.k)),
        "trust_pca": float(trustworthiness(x, pca, n_neighbors=a.k)),
    }
    if a.labels:
        with open(a.labels, newline="") as f:
            labels = [r[a.label_column] for r in csv.DictReader(f)][: x.shape[0]]
        result["knn10_label_acc_kanava"] = float(knn_label_accuracy(xy, labels))
        result["knn10_label_acc_pca"] = float(knn_label_accuracy(pca, labels))
        result["knn10_label_acc_original"] = float(knn_label_accuracy(x, labels))
    print(json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f)
    ok = result["trust_kanava"] >= a.min_trust and result["trust_kanava"] > result["trust_pca"]
    if not ok:
        print(f"FAIL: trustworthiness {result['trust_kanava']:.4f} (PCA {result['trust_pca']:.4f}, "
              f"needs >= {a.min_trust} and above PCA)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
