/* evaluate.h - the held-out evaluation the web UI shows for a model trained from the
 * annotations: a stratified split with a fixed seed, and one JSON report (accuracy, macro F1,
 * per-topic precision / recall / F1, the confusion matrix and the precision / automation
 * curve) built from metrics.h and curve.h. */
#ifndef KN_EVALUATE_H
#define KN_EVALUATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Marks the held-out rows (is_eval[i] = 1): in each class, share of its rows rounded to the
 * nearest integer (halves up), but always leaving at least one row to train on, drawn with
 * seed. Returns the number of held-out rows. labels in [0, n_classes). */
size_t kn_stratified_holdout(const int32_t *labels, size_t n, int n_classes, double share, uint64_t seed,
                             unsigned char *is_eval);

/* The report of n held-out rows (truth, proba: n x n_classes) of a model trained on n_train
 * rows: {"accuracy", "macro_f1", "n_train", "n_eval", "per_topic": [{"topic", "precision",
 * "recall", "f1", "support"}], "confusion": {"topics", "matrix"} (rows = true, columns =
 * predicted), "curve": [{"threshold", "automation", "precision", "answered"}] (at most
 * max_points, from the most confident threshold down)}. The prediction is the most probable
 * class (lowest index on ties). With n == 0 accuracy and macro_f1 are null and the lists
 * empty. NULL with err on bad input or when out of memory. */
json_t *kn_holdout_report(const int32_t *truth, const float *proba, size_t n, int n_classes,
                          const char *const *classes, size_t n_train, size_t max_points, kn_error *err);

#endif
