/* umap_init.c - the starting layout: the data's first two principal components. They keep
 * the large-scale arrangement, which the edge-by-edge optimisation cannot repair, and cost
 * one covariance (ssyrk) and a few hundred 2-vector products with it. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "learn/umap_parts.h"
#include "util/rng.h"

#define SUBSPACE_STEPS 150
#define INIT_EXTENT 10.0
#define INIT_NOISE 1e-4

static double uniform_pm1(uint64_t *state)
{
    return (double)(kn_splitmix64(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* Orthonormalises the two columns of v (dim x 2, column-major) by Gram-Schmidt; a column
 * that vanishes (rank-deficient data) is left at zero. */
static void orthonormalise(double *v, int dim)
{
    double *u = v, *w = v + dim, uu = 0.0, uw = 0.0, ww = 0.0;
    for (int j = 0; j < dim; j++) uu += u[j] * u[j];
    double nu = sqrt(uu);
    for (int j = 0; j < dim; j++) u[j] = nu > 0.0 ? u[j] / nu : 0.0;
    for (int j = 0; j < dim; j++) uw += u[j] * w[j];
    for (int j = 0; j < dim; j++) w[j] -= uw * u[j];
    for (int j = 0; j < dim; j++) ww += w[j] * w[j];
    double nw = sqrt(ww);
    for (int j = 0; j < dim; j++) w[j] = nw > 0.0 ? w[j] / nw : 0.0;
}

int kn_umap_pca_init(const float *x, size_t n, int dim, uint64_t seed, float *out, kn_error *err)
{
    size_t d = (size_t)dim;
    float *cov = calloc(d * d, sizeof *cov);
    double *mean = calloc(d, sizeof *mean), *c = malloc(d * d * sizeof *c);
    double *v = malloc(2 * d * sizeof *v), *nv = malloc(2 * d * sizeof *nv);
    if (!cov || !mean || !c || !v || !nv) {
        free(cov), free(mean), free(c), free(v), free(nv);
        return kn_fail(err, "umap: out of memory for a %d x %d covariance", dim, dim);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    /* Upper triangle of X^T X, then centred and mirrored in double. */
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, dim, (int)n, 1.0f, x, dim, 0.0f, cov, dim);
    for (size_t r = 0; r < d; r++)
        for (size_t s = r; s < d; s++) {
            double val = cov[r * d + s] / (double)n - mean[r] * mean[s];
            c[r * d + s] = c[s * d + r] = val;
        }
    uint64_t rng = seed ^ 0x5eed1417u;
    for (size_t j = 0; j < 2 * d; j++) v[j] = uniform_pm1(&rng);
    orthonormalise(v, dim);
    for (int step = 0; step < SUBSPACE_STEPS; step++) {
        for (size_t r = 0; r < d; r++) {
            double s0 = 0.0, s1 = 0.0;
            for (size_t t = 0; t < d; t++) {
                s0 += c[r * d + t] * v[t];
                s1 += c[r * d + t] * v[d + t];
            }
            nv[r] = s0;
            nv[d + r] = s1;
        }
        double *t = v;
        v = nv;
        nv = t;
        orthonormalise(v, dim);
    }
    /* A fixed sign: each component's largest entry is positive. */
    for (int col = 0; col < 2; col++) {
        size_t big = 0;
        for (size_t j = 1; j < d; j++)
            if (fabs(v[col * d + j]) > fabs(v[col * d + big])) big = j;
        if (v[col * d + big] < 0.0)
            for (size_t j = 0; j < d; j++) v[col * d + j] = -v[col * d + j];
    }
    double extent = 0.0;
    for (size_t i = 0; i < n; i++)
        for (int col = 0; col < 2; col++) {
            double s = 0.0;
            for (size_t j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * v[col * d + j];
            out[2 * i + col] = (float)s;
            if (fabs(s) > extent) extent = fabs(s);
        }
    double scale = extent > 0.0 ? INIT_EXTENT / extent : 0.0;
    for (size_t i = 0; i < 2 * n; i++) out[i] = (float)(out[i] * scale + INIT_NOISE * uniform_pm1(&rng));
    free(cov), free(mean), free(c), free(v), free(nv);
    return 0;
}
