/* logreg.h - the classification head: multinomial logistic regression with an L2 penalty
 * (scikit-learn's LogisticRegression, multi_class='multinomial'), optional class-balanced
 * weights, and a softmax temperature fitted by cross-validation (calibrate.c). */
#ifndef KN_LOGREG_H
#define KN_LOGREG_H

#include <stddef.h>
#include <stdint.h>

#include "learn/sparse.h"
#include "util/error.h"

typedef struct kn_logreg {
    int n_classes, dim;
    float *W;          /* [n_classes, dim], row-major, malloc'd */
    float *b;          /* [n_classes] */
    float temperature; /* logits are divided by it; 1 until calibrated */
} kn_logreg;

typedef struct kn_logreg_options {
    double C;     /* inverse L2 strength as in scikit-learn (default 1.0; SetFit-style heads often use 100) */
    int max_iter; /* default 1000 */
    double tol;   /* default 1e-6 on the gradient norm (tighter than sklearn so both reach the optimum) */
    int balanced; /* 1: class_weight='balanced' */
    int tol_max_abs; /* 1: tol bounds the largest gradient component (scikit-learn's lbfgs test) instead of the norm */
} kn_logreg_options;

void kn_logreg_default_options(kn_logreg_options *opt);

/* Minimizes  C * sum_i w_i * CE(softmax(W x_i + b), y_i) + 0.5 * ||W||_F^2  (intercept not
 * penalized) with L-BFGS in double precision; w_i = 1, or n / (n_classes * count(y_i)) when
 * balanced. X: n x dim floats (row-major), y: class ids in [0, n_classes). Needs
 * n_classes >= 2 and every class to have an example. For two classes this is the
 * two-logit softmax (sklearn's multi_class='multinomial'), not sklearn's binary default.
 * Overwrites *m (zeroed on failure, so kn_logreg_free is always safe); temperature = 1.
 * opt may be NULL for the defaults. Deterministic. */
int kn_logreg_fit(kn_logreg *m, const float *X, const int32_t *y, size_t n, int dim, int n_classes,
                  const kn_logreg_options *opt, kn_error *err);

/* proba: n x n_classes, softmax(logits / temperature). X has m->dim columns. */
void kn_logreg_predict_proba(const kn_logreg *m, const float *X, size_t n, float *proba);

/* Temperature scaling by stratified k-fold cross-validation on the training data: each fold
 * is fitted on the other rows (same options) and its held-out logits collected; then T in
 * [0.05, 20] minimising the mean NLL of softmax(logits / T) over all held-out rows is stored
 * in m->temperature. Folds are deterministic from seed. A class's rows are spread over the
 * folds round-robin; a class with a single example is never held out (its fold fits would
 * lack it). nll_before (T = 1) and nll_after (the chosen T) are optional. */
int kn_logreg_calibrate(kn_logreg *m, const float *X, const int32_t *y, size_t n, const kn_logreg_options *opt,
                        int folds, uint64_t seed, double *nll_before, double *nll_after, kn_error *err);

/* fold[i] in [0, folds): the cross-validation fold that holds row i out, or -1 for rows of
 * single-example classes (a fold without them could not fit their class). Each class's rows
 * are shuffled from seed and dealt round-robin, continuing where the previous class stopped,
 * so folds stay balanced. Returns -1 if out of memory. */
int kn_stratified_folds(const int32_t *y, size_t n, int K, int folds, uint64_t seed, int *fold);

/* A held-out fold averaging fewer rows per class than this is small: its temperature comes
 * from parts (below), and SetFit spends a separate fine-tune on it (learn/train.c). */
#define KN_SMALL_HOLDOUT_PER_CLASS 5
/* Whether fold 0 of the assignment averages fewer than KN_SMALL_HOLDOUT_PER_CLASS rows per
 * class. */
int kn_holdout_is_small(const int *fold, size_t n, int n_classes);

/* The temperature from fold 0 of the given assignment (kn_stratified_folds) held out, T
 * fitted to fold 0's logits. For features of fold 0 made without its rows (a SetFit encoder
 * tuned on the others). Each fold-0 row's logits come from a head fitted on every other
 * row, fold 0's others included, as the final head is: while fold 0 is small
 * (kn_holdout_is_small) it is split into `folds` parts with one head each; larger, one head
 * without all of fold 0 is close enough and `folds` times cheaper. */
int kn_logreg_holdout_temperature(const float *X, int dim, const int32_t *y, size_t n, int n_classes,
                                  const kn_logreg_options *opt, int folds, const int *fold, float *temperature,
                                  double *nll_before, double *nll_after, kn_error *err);

/* The same on sparse rows (TF-IDF features; X->n_cols is the dimension), from zeros. */
int kn_logreg_fit_sparse(kn_logreg *m, const kn_csr *X, const int32_t *y, int n_classes,
                         const kn_logreg_options *opt, kn_error *err);
void kn_logreg_predict_proba_sparse(const kn_logreg *m, const kn_csr *X, float *proba);
/* The temperature from one held-out fold of `folds` (a fit from zero on the other rows),
 * without the full fit: so that both can run at the same time. */
int kn_logreg_holdout_temperature_sparse(const kn_csr *X, const int32_t *y, int n_classes,
                                         const kn_logreg_options *opt, int folds, uint64_t seed, float *temperature,
                                         double *nll_before, double *nll_after, kn_error *err);
/* kn_logreg_fit_sparse with a weight per row (its cross-entropy term times the weight, in
 * [0, 1e6]; NULL: all 1), as scikit-learn's fit(sample_weight=...). */
int kn_logreg_fit_sparse_weighted(kn_logreg *m, const kn_csr *X, const int32_t *y, const float *sample_weight,
                                  int n_classes, const kn_logreg_options *opt, kn_error *err);
/* Held-out logits on sparse rows (sample_weight as above, may be NULL): for each k in [0, parts), a head fitted from zero on the
 * rows whose part[i] != k gives the logits of the rows with part[i] == k, written to
 * Z[i * n_classes ..]. Rows with a negative part always train and their Z rows are left as
 * they are. Parts without rows are skipped. */
int kn_logreg_heldout_logits_sparse(const kn_csr *X, const int32_t *y, const float *sample_weight, int n_classes,
                                    const kn_logreg_options *opt, const int *part, int parts, double *Z,
                                    kn_error *err);
/* Logits W x + b of one sparse row (before the temperature): z[n_classes]. */
void kn_logreg_logits_sparse(const kn_logreg *m, const kn_csr *X, size_t row, double *z);

void kn_logreg_free(kn_logreg *m);

#endif
