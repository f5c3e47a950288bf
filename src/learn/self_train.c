/* self_train.c - the parts of self-training (self_train.h): a head layout's rows, picking
 * the confident rows, appending rows. */
#include "learn/self_train.h"

#include <stdlib.h>
#include <string.h>

#include "learn/hybrid.h"

int kn_csr_append(kn_csr *dst, const kn_csr *src, const unsigned char *keep, kn_error *err)
{
    if (dst->n_rows && dst->n_cols != src->n_cols)
        return kn_fail(err, "appending rows of %d columns to rows of %d", src->n_cols, dst->n_cols);
    size_t rows = 0, nnz = 0;
    for (size_t i = 0; i < src->n_rows; i++)
        if (!keep || keep[i]) rows++, nnz += src->indptr[i + 1] - src->indptr[i];
    const size_t n = dst->n_rows + rows, base = dst->n_rows ? dst->indptr[dst->n_rows] : 0;
    size_t *indptr = realloc(dst->indptr, (n + 1) * sizeof *indptr);
    if (indptr) dst->indptr = indptr;
    int32_t *indices = indptr ? realloc(dst->indices, (base + nnz + 1) * sizeof *indices) : NULL;
    if (indices) dst->indices = indices;
    float *values = indices ? realloc(dst->values, (base + nnz + 1) * sizeof *values) : NULL;
    if (!values) return kn_fail(err, "out of memory for %zu rows of features", n);
    dst->values = values;
    if (dst->n_rows == 0) dst->indptr[0] = 0;
    size_t at = base, row = dst->n_rows;
    for (size_t i = 0; i < src->n_rows; i++) {
        if (keep && !keep[i]) continue;
        const size_t len = src->indptr[i + 1] - src->indptr[i];
        memcpy(dst->indices + at, src->indices + src->indptr[i], len * sizeof *src->indices);
        memcpy(dst->values + at, src->values + src->indptr[i], len * sizeof *src->values);
        at += len;
        dst->indptr[++row] = at;
    }
    dst->n_rows = n;
    dst->n_cols = src->n_cols;
    return 0;
}

int kn_layout_rows(const kn_head_layout *layout, const char *const *texts, const size_t *lens, size_t n, kn_csr *X,
                   kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    memset(X, 0, sizeof *X);
    kn_csr S = {0};
    if (kn_tfidf_transform(layout->tfidf, texts, lens, n, &S, err) != 0) return -1;
    if (!layout->enc) {
        *X = S;
        if (progress) progress(progress_ctx, n, n);
        return 0;
    }
    const int dim = layout->enc->dim;
    float *emb = malloc((n ? n : 1) * (size_t)dim * sizeof *emb);
    int rc = emb ? 0 : kn_fail(err, "out of memory for the embeddings of %zu texts", n);
    if (rc == 0) rc = kn_encoder_embed(layout->enc, texts, lens, n, 32, emb, progress, progress_ctx, err);
    if (rc == 0) rc = kn_hybrid_join(emb, dim, layout->w, &S, X, err);
    free(emb);
    kn_csr_free(&S);
    return rc;
}

static int by_confidence_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

long kn_self_train_pick(const kn_logreg *head, const kn_csr *X, double threshold, size_t max_rows,
                        unsigned char *keep, int32_t *label)
{
    const size_t n = X->n_rows;
    const int K = head->n_classes;
    float *proba = malloc((n ? n : 1) * (size_t)K * sizeof *proba), *conf = malloc((n ? n : 1) * sizeof *conf);
    if (!proba || !conf) {
        free(proba);
        free(conf);
        return -1;
    }
    kn_logreg_predict_proba_sparse(head, X, proba);
    size_t passing = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        conf[i] = p[best];
        label[i] = best;
        passing += conf[i] >= threshold;
    }
    double cut = threshold; /* in double: a float threshold would let rows just below it in */
    if (passing > max_rows) {
        memcpy(proba, conf, n * sizeof *conf); /* proba is free now: the sorted copy */
        qsort(proba, n, sizeof *proba, by_confidence_desc);
        cut = max_rows ? (double)proba[max_rows - 1] : 2.0;
    }
    long kept = 0;
    for (size_t i = 0; i < n; i++) {
        keep[i] = (double)conf[i] >= cut && (size_t)kept < max_rows;
        kept += keep[i];
    }
    free(proba);
    free(conf);
    return kept;
}
