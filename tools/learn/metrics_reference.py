#!/usr/bin/env python3
"""metrics_reference.py - an independent reference for src/learn/metrics.c (`kanava eval`).

Accuracy, per-class precision / recall / F1, macro F1 and the confusion matrix come from
sklearn.metrics; ECE and the automation rate are written here from the definitions in
src/learn/metrics.h, by a different method than the C (explicit bin edges; every distinct
threshold tried by brute force instead of one sorted pass).

Usage: metrics_reference.py OUT.jsonl
  Writes deterministic evaluation sets, one JSON object a line:
  {"name", "n_classes", "names", "truth", "pred", "conf" (null = NaN), and either
   "expected" (the report as kn_eval_report_json writes it) or "error" (a substring the
   C error message must contain)}.
"""
import json
import math
import sys

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

TARGETS = (0.90, 0.95, 0.99)
ECE_BINS = 15


def first_invalid_row(truth, pred, conf, n_classes):
    """The C's input errors: (substring of the message) or None."""
    if n_classes < 1:
        return 'at least one class'
    if len(truth) == 0:
        return 'no rows'
    for i, (t, p, c) in enumerate(zip(truth, pred, conf)):
        if not -1 <= t < n_classes or not 0 <= p < n_classes or c is None or math.isnan(c) or not 0 <= c <= 1:
            return f'row {i + 1}:'
    return None


def expected_calibration_error(correct, conf):
    """15 bins [b/15, (b+1)/15), the last one closed at 1.0; weighted |accuracy - mean conf|."""
    n = len(conf)
    ece = 0.0
    for b in range(ECE_BINS):
        lo, hi = b / ECE_BINS, (b + 1) / ECE_BINS
        in_bin = (conf >= lo) & ((conf < hi) if b < ECE_BINS - 1 else (conf <= 1.0))
        m = int(in_bin.sum())
        if m:
            ece += m / n * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return ece


def automation(correct, conf, target):
    """Every distinct confidence tried as the threshold (answer conf >= t); the largest
    answered share whose precision reaches the target."""
    n = len(conf)
    best = {'rate': 0.0, 'threshold': None, 'precision': None}  # nothing answered
    best_answered = 0
    for t in np.unique(conf):
        answered = conf >= t
        a = int(answered.sum())
        precision = int(correct[answered].sum()) / a
        if precision >= target and a > best_answered:
            best_answered = a
            best = {'rate': a / n, 'threshold': float(t), 'precision': precision}
    return best


def reference(truth, pred, conf, n_classes):
    truth = np.asarray(truth, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    # The C reads float32 confidences; compute with exactly those values.
    conf = np.asarray(conf, dtype=np.float32).astype(np.float64)
    correct = (truth == pred).astype(np.float64)  # truth -1 (out of scope) never equals a class
    all_classes = list(range(n_classes))
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, pred, labels=all_classes, average=None, zero_division=0)
    occurring = sorted(set(truth[truth >= 0].tolist()) | set(pred.tolist()))
    in_scope = truth >= 0
    if in_scope.any():
        confusion = confusion_matrix(truth[in_scope], pred[in_scope], labels=all_classes)
    else:
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    return {
        'n': len(truth),
        'n_classes': n_classes,
        'n_out_of_scope': int((~in_scope).sum()),
        'accuracy': float(accuracy_score(truth, pred)),
        'macro_f1': float(f1_score(truth, pred, labels=occurring, average='macro', zero_division=0)),
        'ece': float(expected_calibration_error(correct, conf)),
        'automation': {f'{t:.2f}': automation(correct, conf, t) for t in TARGETS},
        'per_class': [{'name': f'topic {c}', 'precision': float(precision[c]), 'recall': float(recall[c]),
                       'f1': float(f1[c]), 'support': int(confusion[c].sum())} for c in all_classes],
        'confusion': confusion.astype(int).tolist(),
    }


# ---- evaluation sets ----

def f32(values):
    """Python floats equal to float32 values, so the C reads exactly what the reference used."""
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def simulated(rng, n, k, oos_share=0.0, quantize=None, skill=1.0, used_classes=None):
    """Confidences from a Beta distribution; a row is right with probability conf**skill
    (roughly calibrated), else a random other class. quantize=q rounds conf to multiples of
    1/q, which makes ties."""
    classes = np.arange(k) if used_classes is None else np.asarray(used_classes)
    truth = rng.choice(classes, size=n)
    truth[rng.random(n) < oos_share] = -1
    conf = np.asarray(rng.beta(5, 2, size=n), dtype=np.float32)
    if quantize:
        conf = np.asarray(np.round(conf * quantize) / quantize, dtype=np.float32)
    right = (rng.random(n) < conf.astype(np.float64) ** skill) & (truth >= 0)
    pred = np.where(right, truth, rng.choice(classes, size=n))
    if k > 1:  # a wrong in-scope row names another class
        clash = ~right & (pred == truth)
        pred[clash] = (pred[clash] + 1) % k
    return truth.tolist(), pred.tolist(), f32(conf)


def cases():
    rng = np.random.default_rng(20261201)
    out = []

    def add(name, k, truth, pred, conf):
        out.append({'name': name, 'n_classes': k, 'truth': list(map(int, truth)), 'pred': list(map(int, pred)),
                    'conf': [None if c is None else float(c) for c in conf]})

    add('banking77-like', 77, *simulated(rng, 3080, 77, skill=0.8))
    add('banking77-like with 10% out of scope', 77, *simulated(rng, 3080, 77, oos_share=0.1, skill=0.7))
    add('small, many ties (conf in steps of 0.05)', 7, *simulated(rng, 500, 7, oos_share=0.08, quantize=20))
    add('heavy ties (conf in steps of 0.25)', 5, *simulated(rng, 400, 5, quantize=4, skill=0.3))
    add('40% out of scope', 12, *simulated(rng, 1000, 12, oos_share=0.4))
    add('only out of scope rows', 4, *simulated(rng, 50, 4, oos_share=1.0))
    add('unused classes (3 of 10 occur)', 10, *simulated(rng, 300, 10, used_classes=[2, 5, 9]))
    add('very confident and right', 6, *simulated(rng, 2000, 6, skill=0.05))
    for seed in range(8):
        r = np.random.default_rng(seed)
        k = int(r.integers(1, 15))
        add(f'random small #{seed} (k={k})', k,
            *simulated(r, int(r.integers(1, 60)), k, oos_share=float(r.random() * 0.3),
                       quantize=int(r.integers(2, 12)) if seed % 2 else None, skill=float(r.random() * 2)))

    # A class never predicted (0) and a class never true (5).
    truth = rng.integers(0, 5, size=200)
    pred = rng.integers(1, 6, size=200)
    add('class never predicted, class never true', 6, truth, pred, f32(rng.random(200)))

    truth = rng.integers(0, 9, size=300)
    add('perfect predictions', 9, truth, truth, f32(rng.uniform(0.2, 1.0, size=300)))
    add('perfect predictions, all conf 1', 9, truth, truth, [1.0] * 300)
    add('all wrong', 9, truth, (truth + 1) % 9, f32(rng.random(300)))
    add('all wrong, all conf 1', 3, [0, 1, 2, 0], [1, 2, 0, 2], [1.0] * 4)
    add('n=1 right', 3, [1], [1], f32([0.7]))
    add('n=1 wrong', 3, [1], [2], f32([0.7]))
    add('n=1 out of scope', 3, [-1], [0], f32([0.99]))
    add('one class', 1, [0, 0, -1, 0], [0, 0, 0, 0], f32([0.5, 0.9, 0.95, 0.2]))
    add('one tie over every row', 4, *simulated(rng, 100, 4, quantize=1)[:2], [0.75] * 100)

    # Confidences on and beside the ECE bin edges, and 0 / -0 / 1.
    edges = np.asarray([b / ECE_BINS for b in range(ECE_BINS + 1)], dtype=np.float32)
    near = np.concatenate([edges, np.nextafter(edges, np.float32(0)), np.nextafter(edges, np.float32(1))])
    near = np.clip(near, 0, 1).astype(np.float32)
    n_edge = len(near)
    truth = rng.integers(0, 3, size=n_edge)
    pred = np.where(rng.random(n_edge) < 0.6, truth, (truth + 1) % 3)
    add('confidences at bin edges', 3, truth, pred, f32(near))
    add('conf 0, -0 and 1', 2, [0, 1, 1, 0], [0, 1, 0, 0], [0.0, -0.0, 1.0, 1.0])

    # Precision exactly at a target is enough, and is the best: the 20 most confident hold 19
    # right (0.95), the 30 most confident 27 (0.90); any more rows fall below both.
    conf = f32(np.linspace(1.0, 0.5, 40))
    truth = [0] * 40
    pred = [0] * 9 + [1] + [0] * 10 + [1] * 2 + [0] * 8 + [1] * 10
    add('precision exactly 0.90 and 0.95', 2, truth, pred, conf)
    # A tie that would reach the target only if it were split.
    add('never split a tie', 2, [0, 0, 0, 0, 1], [0, 0, 1, 0, 0], f32([0.9, 0.8, 0.8, 0.8, 0.1]))

    # Input errors, each naming its row.
    add('error: true class too large', 3, [0, 1, 3], [0, 1, 2], [0.5] * 3)
    add('error: true class below -1', 3, [0, -2], [0, 1], [0.5] * 2)
    add('error: predicted class -1', 3, [0, 1, 2, 0], [0, 1, 2, -1], [0.5] * 4)
    add('error: predicted class == n_classes', 3, [0], [3], [0.5])
    add('error: confidence above 1', 3, [0, 1], [0, 1], [0.5, float(np.nextafter(np.float32(1), np.float32(2)))])
    add('error: negative confidence', 3, [0, 1, 2], [0, 1, 2], [0.5, 0.5, -0.25])
    add('error: NaN confidence', 3, [0, 1, 2], [0, 1, 2], [0.5, None, 0.5])
    add('error: no rows', 3, [], [], [])
    add('error: no classes', 0, [0], [0], [0.5])
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], 'w') as f:
        for case in cases():
            k = case['n_classes']
            case['names'] = [f'topic {c}' for c in range(max(k, 0))]
            error = first_invalid_row(case['truth'], case['pred'], case['conf'], k)
            if error:
                case['error'] = error
            else:
                case['expected'] = reference(case['truth'], case['pred'], case['conf'], k)
            f.write(json.dumps(case, allow_nan=False) + '\n')


if __name__ == '__main__':
    main()
