/* umap_parts.h - the stages of kn_umap (umap.h), exposed for the tests and for reuse:
 * neighbours, the fuzzy graph, the curve parameters, the starting layout. */
#ifndef KN_UMAP_PARTS_H
#define KN_UMAP_PARTS_H

#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include "util/error.h"
#include "util/progress.h"

/* The k nearest other rows of every row by euclidean distance: idx and dist are n*k,
 * each row sorted by ascending distance (ties by index). k must be 1..n-1. Exact up to
 * KN_KNN_EXACT_MAX rows (blocked sgemm, quadratic); NN-descent beyond, about linear, with
 * a recall near 0.985 on sentence embeddings (13,080 Banking77 vectors: 0.68 s against
 * 2.2 s on one thread). progress counts rows. */
#define KN_KNN_EXACT_MAX 5000
int kn_knn(const float *x, size_t n, int dim, int k, int32_t *idx, float *dist, uint64_t seed,
           kn_progress_fn progress, void *progress_ctx, kn_error *err);
int kn_knn_exact(const float *x, size_t n, int dim, int k, int32_t *idx, float *dist,
                 kn_progress_fn progress, void *progress_ctx, kn_error *err);
int kn_knn_descent(const float *x, size_t n, int dim, int k, int32_t *idx, float *dist, uint64_t seed,
                   kn_progress_fn progress, void *progress_ctx, kn_error *err);

/* The symmetric fuzzy neighbourhood graph in CSR form (both directions of every edge). */
typedef struct kn_umap_graph {
    size_t n;
    size_t *rowptr; /* n + 1 */
    int32_t *col;
    float *w; /* membership strength in (0, 1] */
} kn_umap_graph;

/* From k neighbours per row: per-row rho (nearest distance) and sigma (binary search so
 * that the row's memberships sum to log2(k + 1)), then w = a + b - a*b over both
 * directions. */
int kn_umap_fuzzy_graph(const int32_t *idx, const float *dist, size_t n, int k, kn_umap_graph *g, kn_error *err);
void kn_umap_graph_free(kn_umap_graph *g);

/* a, b of the curve 1 / (1 + a d^(2b)) fitted by least squares to 1 below min_dist and
 * exp(-(d - min_dist) / spread) above, on 300 points of [0, 3 spread]. */
void kn_umap_fit_ab(float min_dist, float spread, float *a, float *b);

/* The first two principal components of x, scaled so the largest |coordinate| is 10,
 * plus a little seeded noise so that equal rows do not start on one point. out is n*2. */
int kn_umap_pca_init(const float *x, size_t n, int dim, uint64_t seed, float *out, kn_error *err);

/* x^y for x > 0 as 2^(y log2 x) with short polynomials (relative error below 5e-5; results
 * under 2^-126 come out as 2^-126): the layout
 * optimisation calls it once per sample, and libm's powf was over a third of its time. */
static inline float kn_umap_fast_powf(float x, float y)
{
    union {
        float f;
        uint32_t u;
    } v = {x};
    float e = (float)((int)(v.u >> 23) - 127);
    v.u = (v.u & 0x007fffffu) | 0x3f800000u; /* mantissa in [1, 2) */
    float m = v.f - 1.0f;
    /* log2(1 + m) / m on [0, 1): least-squares polynomial, |error| of log2 below 2e-5 */
    float l = m * (1.4426689f + m * (-0.7201761f + m * (0.4680285f + m * (-0.3010488f + m * (0.1446854f + m * -0.0341768f)))));
    float t = y * (e + l);
    t = fminf(fmaxf(t, -126.0f), 126.0f); /* branch-free, so loops over it vectorize */
    float fl = floorf(t), f = t - fl;
    /* 2^f on [0, 1): 1 + f * (least-squares polynomial), relative error below 1e-7 */
    float p = 1.0f + f * (0.6931472f + f * (0.2402274f + f * (0.0554951f + f * (0.0096537f + f * (0.0012684f + f * 0.0002082f)))));
    v.u = (uint32_t)((int)fl + 127) << 23;
    return p * v.f;
}

#endif
