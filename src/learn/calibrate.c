/* calibrate.c - temperature scaling of the logistic-regression head: held-out logits from
 * stratified k-fold cross-validation on the training data, then the T that minimises their
 * negative log-likelihood. A head fitted with a large C is over-confident on new texts;
 * T > 1 softens it without changing which class wins. */
#include "learn/logreg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T_MIN 0.05
#define T_MAX 20.0

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* fold[i]: the fold that holds row i out, or -1 for rows of single-example classes (a fold
 * without them could not fit their class). Each class's rows are shuffled from seed and dealt
 * round-robin, continuing where the previous class stopped, so folds stay balanced. */
static int assign_folds(const int32_t *y, size_t n, int K, int folds, uint64_t seed, int *fold)
{
    size_t *start = calloc((size_t)K + 1, sizeof *start), *rows = malloc(n * sizeof *rows);
    size_t *fill = calloc((size_t)K, sizeof *fill);
    if (!start || !rows || !fill) {
        free(start);
        free(rows);
        free(fill);
        return -1;
    }
    for (size_t i = 0; i < n; i++) start[y[i] + 1]++;
    for (int c = 0; c < K; c++) start[c + 1] += start[c];
    for (size_t i = 0; i < n; i++) rows[start[y[i]] + fill[y[i]]++] = i;
    uint64_t rng = seed;
    size_t next = 0;
    for (int c = 0; c < K; c++) {
        size_t *r = rows + start[c], count = start[c + 1] - start[c];
        for (size_t j = count; j > 1; j--) {
            size_t k = (size_t)(splitmix64(&rng) % j), t = r[j - 1];
            r[j - 1] = r[k];
            r[k] = t;
        }
        for (size_t j = 0; j < count; j++) fold[r[j]] = count > 1 ? (int)((next + j) % (size_t)folds) : -1;
        if (count > 1) next += count;
    }
    free(start);
    free(rows);
    free(fill);
    return 0;
}

/* Mean NLL of softmax(s * z) over the held-out rows, with its first and second derivatives
 * in s = 1 / T (the NLL is convex in s). */
static double nll_at(const double *Z, const int32_t *y, const int *fold, size_t n, int K, double s, double *d1,
                     double *d2)
{
    double total = 0, g = 0, h = 0;
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        if (fold[i] < 0) continue;
        const double *z = Z + i * K;
        double zmax = -INFINITY, sum = 0, mean = 0, sq = 0;
        for (int j = 0; j < K; j++) zmax = fmax(zmax, s * z[j]);
        for (int j = 0; j < K; j++) {
            double e = exp(s * z[j] - zmax);
            sum += e;
            mean += e * z[j];
            sq += e * z[j] * z[j];
        }
        mean /= sum;
        total += log(sum) + zmax - s * z[y[i]];
        g += mean - z[y[i]];
        h += fmax(sq / sum - mean * mean, 0);
        rows++;
    }
    if (d1) *d1 = g / (double)rows;
    if (d2) *d2 = h / (double)rows;
    return total / (double)rows;
}

/* The T in [T_MIN, T_MAX] minimising the held-out NLL: golden section on log T (the NLL is
 * unimodal there), then Newton steps on 1 / T to polish. */
static double best_temperature(const double *Z, const int32_t *y, const int *fold, size_t n, int K)
{
    const double phi = 0.5 * (sqrt(5.0) - 1.0);
    double a = log(T_MIN), b = log(T_MAX);
    double u1 = b - phi * (b - a), u2 = a + phi * (b - a);
    double f1 = nll_at(Z, y, fold, n, K, exp(-u1), NULL, NULL), f2 = nll_at(Z, y, fold, n, K, exp(-u2), NULL, NULL);
    while (b - a > 1e-4) {
        if (f1 <= f2) {
            b = u2;
            u2 = u1;
            f2 = f1;
            u1 = b - phi * (b - a);
            f1 = nll_at(Z, y, fold, n, K, exp(-u1), NULL, NULL);
        } else {
            a = u1;
            u1 = u2;
            f1 = f2;
            u2 = a + phi * (b - a);
            f2 = nll_at(Z, y, fold, n, K, exp(-u2), NULL, NULL);
        }
    }
    double s = exp(-0.5 * (a + b)), d1, d2, f = nll_at(Z, y, fold, n, K, s, &d1, &d2);
    for (int it = 0; it < 20 && d2 > 0; it++) {
        double s_new = fmin(fmax(s - d1 / d2, 1.0 / T_MAX), 1.0 / T_MIN), n1, n2;
        double f_new = nll_at(Z, y, fold, n, K, s_new, &n1, &n2);
        if (!(f_new < f)) break;
        int done = fabs(s_new - s) <= 1e-12 * s;
        s = s_new, f = f_new, d1 = n1, d2 = n2;
        if (done) break;
    }
    return 1.0 / s;
}

/* Fits on the rows outside fold `k` and writes the logits of the rows inside it into Z. */
static int fold_logits(const float *X, const int32_t *y, size_t n, const int *fold, int k, const kn_logreg *m,
                       const kn_logreg_options *opt, float *Xtr, int32_t *ytr, double *Z, kn_error *err)
{
    const int d = m->dim, K = m->n_classes;
    size_t ntr = 0;
    for (size_t i = 0; i < n; i++) {
        if (fold[i] == k) continue;
        memcpy(Xtr + ntr * d, X + i * d, (size_t)d * sizeof *Xtr);
        ytr[ntr++] = y[i];
    }
    kn_logreg part;
    if (kn_logreg_fit(&part, Xtr, ytr, ntr, d, K, opt, err) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (fold[i] != k) continue;
        const float *x = X + i * d;
        for (int j = 0; j < K; j++) {
            const float *w = part.W + (size_t)j * d;
            double s = part.b[j];
            for (int c = 0; c < d; c++) s += (double)w[c] * x[c];
            Z[i * K + j] = s;
        }
    }
    kn_logreg_free(&part);
    return 0;
}

int kn_logreg_calibrate(kn_logreg *m, const float *X, const int32_t *y, size_t n, const kn_logreg_options *opt,
                        int folds, uint64_t seed, double *nll_before, double *nll_after, kn_error *err)
{
    if (!m || !m->W || !m->b || m->n_classes < 2 || m->dim <= 0)
        return kn_fail(err, "calibration: the model is not fitted");
    if (!X || !y || n < 2) return kn_fail(err, "calibration: needs at least 2 training examples, got %zu", n);
    if (folds < 2) return kn_fail(err, "calibration: needs at least 2 folds, got %d", folds);
    const int K = m->n_classes, d = m->dim;
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= K)
            return kn_fail(err, "calibration: label %d of example %zu is outside [0, %d)", (int)y[i], i, K);
    kn_logreg_options defaults;
    if (!opt) {
        kn_logreg_default_options(&defaults);
        opt = &defaults;
    }
    int *fold = malloc(n * sizeof *fold);
    float *Xtr = malloc(n * (size_t)d * sizeof *Xtr);
    int32_t *ytr = malloc(n * sizeof *ytr);
    double *Z = malloc(n * (size_t)K * sizeof *Z);
    int rc = 0;
    if (!fold || !Xtr || !ytr || !Z || assign_folds(y, n, K, folds, seed, fold) != 0) {
        rc = kn_fail(err, "calibration: out of memory for %zu examples", n);
        goto done;
    }
    size_t held = 0;
    for (size_t i = 0; i < n; i++) held += fold[i] >= 0;
    if (held == 0) {
        rc = kn_fail(err, "calibration: every class has a single example, so none can be held out");
        goto done;
    }
    for (int k = 0; k < folds; k++) {
        size_t in_fold = 0;
        for (size_t i = 0; i < n; i++) in_fold += fold[i] == k;
        if (in_fold == 0) continue; /* more folds than rows to hold out */
        kn_error fe;
        if (fold_logits(X, y, n, fold, k, m, opt, Xtr, ytr, Z, &fe) != 0) {
            rc = kn_fail(err, "calibration fold %d of %d: %s", k + 1, folds, fe.msg);
            goto done;
        }
    }
    double before = nll_at(Z, y, fold, n, K, 1.0, NULL, NULL);
    float t = (float)best_temperature(Z, y, fold, n, K);
    double after = nll_at(Z, y, fold, n, K, 1.0 / t, NULL, NULL);
    if (!(after <= before)) t = 1.0f, after = before; /* T = 1 is inside the search range */
    m->temperature = t;
    if (nll_before) *nll_before = before;
    if (nll_after) *nll_after = after;
done:
    free(fold);
    free(Xtr);
    free(ytr);
    free(Z);
    return rc;
}
