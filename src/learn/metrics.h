/* metrics.h - the numbers `kanava eval` reports for a classifier: accuracy, macro F1,
 * calibration (ECE), per-topic precision / recall / F1, the confusion matrix, and the
 * automation rate: how many messages could be answered automatically at a given precision.
 *
 * Definitions (tools/learn/metrics_reference.py implements them independently):
 * - Out-of-scope rows (truth -1) carry the --oos-label: the classifier always names a class,
 *   so every answer to such a row is wrong. They count as wrong in accuracy, ECE and the
 *   automation rate, as false positives of the predicted class in its precision, and they
 *   are not in the confusion matrix or any class's support.
 * - Per class: precision = TP / predicted, recall = TP / support, F1 = 2TP / (2TP + FP + FN);
 *   each is 0 when its denominator is 0 (sklearn's zero_division=0).
 * - macro_f1: mean F1 over the classes that occur in the truth (in-scope rows) or in the
 *   predictions (any row); classes that occur in neither are left out. This equals sklearn
 *   f1_score(truth, pred, labels=<that union>, average='macro', zero_division=0) with -1 as
 *   the truth of out-of-scope rows.
 * - ece: 15 equal-width bins; bin b holds b/15 <= conf < (b+1)/15 and the last bin also
 *   holds 1.0. ECE = sum over bins of (rows in bin / n) * |accuracy in bin - mean conf in bin|.
 * - automation: answering every row with conf >= t (ties are answered together) has
 *   precision = correct answered / answered and rate = answered / n. For each target the
 *   largest rate whose precision >= target is reported, with its t. When no threshold
 *   reaches the target: rate 0, threshold +INFINITY, precision NaN (nothing answered). */
#ifndef KN_METRICS_H
#define KN_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

#define KN_AUTOMATION_TARGETS 3 /* precision 0.90, 0.95, 0.99 */
#define KN_ECE_BINS 15

typedef struct kn_automation {
    double precision_target; /* 0.90, 0.95, 0.99 */
    double rate;             /* largest share of ALL messages answered automatically while precision among answered >= target */
    double threshold;        /* answer when conf >= threshold; +INFINITY when rate is 0 */
    double precision;        /* the precision achieved at that threshold; NaN when rate is 0 */
} kn_automation;

typedef struct kn_eval_report {
    size_t n;          /* rows evaluated */
    int n_classes;
    double accuracy;   /* over all rows; out-of-scope rows count as wrong */
    double macro_f1;   /* mean F1 over classes in truth or predictions (see above) */
    double ece;        /* expected calibration error, KN_ECE_BINS equal-width bins */
    double *precision, *recall, *f1; /* per class [n_classes] */
    int64_t *support;  /* in-scope true count per class */
    int64_t *confusion; /* [n_classes x n_classes], row = true, column = predicted; out-of-scope rows are not in it */
    int64_t n_out_of_scope;
    kn_automation automation[KN_AUTOMATION_TARGETS];
} kn_eval_report;

/* truth[i]: true class in [0,n_classes) or -1 for an out-of-scope row; pred[i] in
 * [0,n_classes); conf[i] in [0,1] = probability of the predicted class. Fails (naming the
 * 1-based row) for a class id out of range or a confidence outside [0,1] or NaN, and for
 * n == 0 or n_classes < 1. On failure *out is left empty (safe to free). */
int kn_evaluate(const int32_t *truth, const int32_t *pred, const float *conf, size_t n, int n_classes,
                kn_eval_report *out, kn_error *err);
void kn_eval_report_free(kn_eval_report *r);

/* One JSON object (compact, keys in a fixed order): n, n_classes, n_out_of_scope, accuracy,
 * macro_f1, ece, automation {"0.90": {rate, threshold, precision}, ...}, per_class
 * [{name, precision, recall, f1, support}], confusion [[...]]. A threshold of +INFINITY and
 * a NaN precision are null. class_names may be NULL (names become the class ids).
 * *json_out is malloc'ed; returns 0, or -1 when out of memory. */
int kn_eval_report_json(const kn_eval_report *r, const char *const *class_names, char **json_out);

/* A readable report: summary, automation table, per-topic table sorted by F1 ascending,
 * the confusion matrix when there are at most 20 classes, and the most frequent confusions. */
void kn_eval_report_print(const kn_eval_report *r, const char *const *class_names, FILE *f);

#endif
