/* hybrid.c - joining an encoder's vectors with TF-IDF rows, and choosing the dense block's
 * weight on held-out rows (hybrid.h). */
#include "learn/hybrid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/temperature.h"

int kn_hybrid_join(const float *emb, int dim, float w, const kn_csr *S, kn_csr *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    if (dim < 0 || (dim > 0 && !emb)) return kn_fail(err, "hybrid: %d embedding columns%s", dim, dim > 0 ? " but no embeddings" : "");
    const size_t n = S->n_rows, nnz = S->indptr[n] + n * (size_t)dim;
    out->n_rows = n;
    out->n_cols = dim + S->n_cols;
    out->indptr = malloc((n + 1) * sizeof *out->indptr);
    out->indices = malloc((nnz ? nnz : 1) * sizeof *out->indices);
    out->values = malloc((nnz ? nnz : 1) * sizeof *out->values);
    if (!out->indptr || !out->indices || !out->values) {
        kn_csr_free(out);
        return kn_fail(err, "out of memory joining %zu rows of %d + %d features", n, dim, S->n_cols);
    }
    size_t at = 0;
    out->indptr[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const float *e = dim > 0 ? emb + i * (size_t)dim : NULL;
        double norm2 = 0;
        for (int c = 0; c < dim; c++) norm2 += (double)e[c] * e[c];
        if (!isfinite(norm2)) {
            kn_csr_free(out);
            return kn_fail(err, "hybrid: the embedding of row %zu is not finite", i + 1);
        }
        /* in double: a tiny norm's reciprocal overflows float */
        const double scale = norm2 > 0 ? w / sqrt(norm2) : 0.0;
        for (int c = 0; c < dim; c++) {
            out->indices[at] = c;
            out->values[at++] = (float)(e[c] * scale);
        }
        for (size_t k = S->indptr[i]; k < S->indptr[i + 1]; k++) {
            out->indices[at] = dim + S->indices[k];
            out->values[at++] = S->values[k];
        }
        out->indptr[i + 1] = at;
    }
    return 0;
}

static double heldout_accuracy(const double *Z, const int32_t *y, const unsigned char *use, size_t n, int K)
{
    size_t right = 0, used = 0;
    for (size_t i = 0; i < n; i++) {
        if (!use[i]) continue;
        const double *z = Z + i * (size_t)K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[arg]) arg = k;
        right += arg == y[i];
        used++;
    }
    return used ? (double)right / (double)used : 0.0;
}

int kn_hybrid_heldout_score(const float *emb, int dim, double w, const kn_csr *S, const int32_t *y, int n_classes,
                            const kn_logreg_options *opt, const int *part, int parts, kn_hybrid_score *score,
                            kn_error *err)
{
    const size_t n = S->n_rows;
    double *Z = calloc(n ? n * (size_t)n_classes : 1, sizeof *Z);
    unsigned char *use = malloc(n ? n : 1);
    kn_csr X = {0};
    int rc = !Z || !use ? kn_fail(err, "out of memory for %zu held-out rows", n) : 0;
    size_t used = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) used += (use[i] = part[i] >= 0 && part[i] < parts);
    if (rc == 0 && used == 0) rc = kn_fail(err, "hybrid: no held-out rows to score on");
    if (rc == 0) rc = kn_hybrid_join(emb, dim, (float)w, S, &X, err);
    if (rc == 0) rc = kn_logreg_heldout_logits_sparse(&X, y, NULL, n_classes, opt, part, parts, Z, err);
    if (rc == 0) {
        score->weight = w;
        score->rows = used;
        score->nll_before = kn_temperature_nll(Z, y, use, n, n_classes, 1.0);
        score->temperature = (float)kn_fit_temperature(Z, y, use, n, n_classes);
        score->nll = kn_temperature_nll(Z, y, use, n, n_classes, score->temperature);
        if (!(score->nll <= score->nll_before)) score->temperature = 1.0f, score->nll = score->nll_before;
        score->accuracy = heldout_accuracy(Z, y, use, n, n_classes);
    }
    kn_csr_free(&X);
    free(Z);
    free(use);
    return rc;
}

/* a beats b: a lower NLL; when both are within rounding of each other (every held-out row
 * right, the temperature at its floor: all near 0), the lower NLL at T = 1. NaN never wins. */
static int lower_nll(const kn_hybrid_score *a, const kn_hybrid_score *b)
{
    if (isnan(a->nll)) return 0;
    if (isnan(b->nll)) return 1;
    const double tie = 1e-9 * (1.0 + fabs(b->nll));
    if (fabs(a->nll - b->nll) <= tie) return a->nll_before < b->nll_before;
    return a->nll < b->nll;
}

int kn_hybrid_choose_weight(const float *emb, int dim, const kn_csr *S, const int32_t *y, int n_classes,
                            const kn_logreg_options *opt, const int *part, int parts, const double *grid, int n_grid,
                            kn_hybrid_score *scores, int *best, kn_error *err)
{
    *best = 0;
    if (n_grid < 1 || n_grid > KN_HYBRID_GRID_MAX)
        return kn_fail(err, "hybrid: 1 to %d weights to try, not %d", KN_HYBRID_GRID_MAX, n_grid);
    for (int g = 0; g < n_grid; g++) {
        kn_error e;
        if (kn_hybrid_heldout_score(emb, dim, grid[g], S, y, n_classes, opt, part, parts, &scores[g], &e) != 0)
            return kn_fail(err, "%s (dense weight %g)", e.msg, grid[g]);
        if (lower_nll(&scores[g], &scores[*best])) *best = g;
    }
    return 0;
}
