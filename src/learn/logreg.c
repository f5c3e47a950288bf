/* logreg.c - fitting the multinomial logistic regression head with L-BFGS, in double
 * precision; each evaluation of the objective is two OpenBLAS dgemm calls (logits, gradient). */
#include "learn/logreg.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Curvature pairs kept by L-BFGS; trial steps per line search before giving up. */
enum { LBFGS_MEMORY = 20, LINE_SEARCH_EVALS = 40 };
/* The sparse objective walks the features column by column in this many blocks of rows, one
 * per thread: each block's logits are written by one thread only. */
enum { ST_BLOCKS = 2 };

void kn_logreg_default_options(kn_logreg_options *opt)
{
    opt->C = 1.0;
    opt->max_iter = 1000;
    opt->tol = 1e-6;
    opt->balanced = 0;
    opt->tol_max_abs = 0;
}

void kn_logreg_free(kn_logreg *m)
{
    if (!m) return;
    free(m->W);
    free(m->b);
    m->W = m->b = NULL;
}

/* The training problem. Parameters are theta = [W (K x d, row-major) | b (K)]. */
typedef struct problem {
    const double *X;    /* n x d, or NULL when the rows are sparse: */
    const kn_csr *S;    /* then theta holds W transposed (d x K) so that rows touch contiguous memory */
    const kn_csr *St;   /* S transposed per block of rows (column-major), ST_BLOCKS of them: */
    size_t block_row[ST_BLOCKS + 1]; /* block k holds rows block_row[k] .. block_row[k+1]-1 */
    const int32_t *y;
    const double *cw;   /* C * w_i per row */
    size_t n;
    int d, K;
    double *R;          /* n x K scratch: logits, then C w_i (softmax - onehot) */
} problem;

/* Vector loops over the parameters run on all threads once there are enough of them (a TF-IDF
 * head has millions, and L-BFGS's history sweeps are memory-bound); below that, a parallel
 * region costs more than it saves, and on a busy machine a descheduled thread stalls it. The static schedule keeps
 * the result the same from run to run at a given thread count. */
#define PARALLEL_MIN ((size_t)1 << 20)

/* Eight partial sums: a single running sum is one dependent add per element, several times
 * slower than the memory it reads. */
static double dot_serial(const double *a, const double *b, size_t n)
{
    double acc[8] = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[k + j] * b[k + j];
    for (; k < n; k++) acc[0] += a[k] * b[k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static double dot(const double *a, const double *b, size_t n)
{
    if (n < PARALLEL_MIN) return dot_serial(a, b, n);
    /* Fixed chunks, summed in order: the same result at any thread count. */
    enum { CHUNKS = 16 };
    double part[CHUNKS];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = n * (size_t)c / CHUNKS, hi = n * (size_t)(c + 1) / CHUNKS;
        part[c] = dot_serial(a + lo, b + lo, hi - lo);
    }
    double s = 0;
    for (int c = 0; c < CHUNKS; c++) s += part[c];
    return s;
}

/* One row's cross-entropy from its logits z, which become softmax(z) - onehot(y). Written
 * around the largest logit so a confidently right row costs log1p(tiny) instead of
 * lse - z_y cancelling: near the optimum the objective changes by less than that rounding. */
static double row_loss(double *z, int K, int y)
{
    int top = 0;
    for (int j = 1; j < K; j++)
        if (z[j] > z[top]) top = j;
    double zmax = z[top], zy = z[y], rest = 0;
    for (int j = 0; j < K; j++) {
        z[j] = exp(z[j] - zmax);
        if (j != top) rest += z[j];
    }
    double inv = 1.0 / (1.0 + rest);
    for (int j = 0; j < K; j++) z[j] *= inv;
    z[y] -= 1.0;
    return log1p(rest) + (zmax - zy);
}

/* C * sum_i w_i CE_i + 0.5 ||W||^2 at theta; its gradient into grad. */
static double sparse_objective(const problem *p, const double *theta, double *grad);

static double objective(const problem *p, const double *theta, double *grad)
{
    if (p->S) return sparse_objective(p, theta, grad);
    const int d = p->d, K = p->K;
    const size_t nw = (size_t)K * d;
    const double *W = theta, *b = theta + nw;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->n, K, d, 1.0, p->X, d, W, d, 0.0, p->R, K);
    double loss = 0;
    for (size_t i = 0; i < p->n; i++) {
        double *z = p->R + i * K;
        for (int j = 0; j < K; j++) z[j] += b[j];
        loss += p->cw[i] * row_loss(z, K, p->y[i]);
        for (int j = 0; j < K; j++) z[j] *= p->cw[i];
    }
    memcpy(grad, W, nw * sizeof *grad);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, d, (int)p->n, 1.0, p->R, K, p->X, d, 1.0, grad, d);
    double *gb = grad + nw;
    for (int j = 0; j < K; j++) gb[j] = 0;
    for (size_t i = 0; i < p->n; i++)
        for (int j = 0; j < K; j++) gb[j] += p->R[i * K + j];
    return loss + 0.5 * dot(W, W, nw);
}

/* The sparse objective, column by column: each feature's row of W^T is read once and
 * added into the logits of the rows that have it (R stays in cache; W^T streams through);
 * the gradient of a feature gathers the same rows' residuals. Per-block transposes keep the
 * threads' writes apart. */
static double sparse_objective(const problem *p, const double *theta, double *grad)
{
    const int d = p->d, K = p->K;
    const size_t nw = (size_t)K * d;
    const double *Wt = theta, *b = theta + nw;
    const int parallel = p->S->indptr[p->n] * (size_t)K >= PARALLEL_MIN;
    double loss = 0;
#pragma omp parallel for schedule(static, 1) reduction(+ : loss) num_threads(ST_BLOCKS) if (parallel)
    for (int blk = 0; blk < ST_BLOCKS; blk++) {
        const kn_csr *T = &p->St[blk];
        for (size_t i = p->block_row[blk]; i < p->block_row[blk + 1]; i++)
            for (int j = 0; j < K; j++) p->R[i * K + j] = b[j];
        for (size_t f = 0; f < (size_t)d; f++) {
            const double *w = Wt + f * K;
            for (size_t e = T->indptr[f]; e < T->indptr[f + 1]; e++) {
                double *z = p->R + (size_t)T->indices[e] * K;
                const double v = T->values[e];
                for (int j = 0; j < K; j++) z[j] += v * w[j];
            }
        }
        for (size_t i = p->block_row[blk]; i < p->block_row[blk + 1]; i++) {
            double *z = p->R + i * K;
            loss += p->cw[i] * row_loss(z, K, p->y[i]);
            for (int j = 0; j < K; j++) z[j] *= p->cw[i];
        }
    }
#pragma omp parallel for schedule(static) num_threads(ST_BLOCKS) if (parallel)
    for (size_t f = 0; f < (size_t)d; f++) {
        double *g = grad + f * K;
        const double *w = Wt + f * K;
        for (int j = 0; j < K; j++) g[j] = w[j];
        for (int blk = 0; blk < ST_BLOCKS; blk++) {
            const kn_csr *T = &p->St[blk];
            for (size_t e = T->indptr[f]; e < T->indptr[f + 1]; e++) {
                const double v = T->values[e], *r = p->R + (size_t)T->indices[e] * K;
                for (int j = 0; j < K; j++) g[j] += v * r[j];
            }
        }
    }
    double *gb = grad + nw;
    for (int j = 0; j < K; j++) gb[j] = 0;
    for (size_t i = 0; i < p->n; i++)
        for (int j = 0; j < K; j++) gb[j] += p->R[i * K + j];
    return loss + 0.5 * dot(Wt, Wt, nw);
}

/* The last h->memory (<= LBFGS_MEMORY) steps s and gradient changes g, oldest first from `head`. */
typedef struct history {
    size_t np;
    int memory, count, head;
    int single;        /* pairs stored as float: half the memory traffic for huge sparse heads */
    double *s, *g;     /* or, when single: */
    float *sf, *gf;
    double rho[LBFGS_MEMORY], a[LBFGS_MEMORY];
} history;

/* One stored vector: double or float. */
typedef struct hvec {
    const double *d;
    const float *f;
} hvec;

static hvec pair_vec(const history *h, int which_g, int t)
{
    size_t off = (size_t)((h->head + t) % h->memory) * h->np;
    if (h->single) return (hvec){NULL, (which_g ? h->gf : h->sf) + off};
    return (hvec){(which_g ? h->g : h->s) + off, NULL};
}

static double dot_float(const float *a, const float *b, size_t n)
{
    double acc[8] = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)a[k + j] * b[k + j];
    for (; k < n; k++) acc[0] += (double)a[k] * b[k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static double dot_mixed(const float *a, const double *b, size_t n)
{
    double acc[8] = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)a[k + j] * b[k + j];
    for (; k < n; k++) acc[0] += (double)a[k] * b[k];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* a . a for a stored vector, in fixed chunks as dot(). */
static double hvec_norm2(hvec a, size_t n)
{
    if (a.d) return dot(a.d, a.d, n);
    enum { CHUNKS = 16 };
    double part[CHUNKS], s = 0;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = n * (size_t)c / CHUNKS, hi = n * (size_t)(c + 1) / CHUNKS;
        part[c] = dot_float(a.f + lo, a.f + lo, hi - lo);
    }
    for (int c = 0; c < CHUNKS; c++) s += part[c];
    return s;
}

static void history_push(history *h, const double *x_old, const double *x_new, const double *g_old,
                         const double *g_new)
{
    int slot = (h->head + h->count) % h->memory;
    size_t off = (size_t)slot * h->np;
    enum { CHUNKS = 16 };
    double part[CHUNKS], sg = 0;
#pragma omp parallel for schedule(static) if (h->np >= PARALLEL_MIN)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = h->np * (size_t)c / CHUNKS, hi = h->np * (size_t)(c + 1) / CHUNKS;
        if (h->single) {
            float *s = h->sf + off, *g = h->gf + off;
            for (size_t k = lo; k < hi; k++) {
                s[k] = (float)(x_new[k] - x_old[k]);
                g[k] = (float)(g_new[k] - g_old[k]);
            }
            part[c] = dot_float(s + lo, g + lo, hi - lo);
        } else {
            double *s = h->s + off, *g = h->g + off;
            for (size_t k = lo; k < hi; k++) {
                s[k] = x_new[k] - x_old[k];
                g[k] = g_new[k] - g_old[k];
            }
            part[c] = dot_serial(s + lo, g + lo, hi - lo);
        }
    }
    for (int c = 0; c < CHUNKS; c++) sg += part[c];
    if (!(sg > 1e-300)) return; /* no curvature information (the objective is convex) */
    h->rho[slot] = 1.0 / sg;
    if (h->count < h->memory) h->count++;
    else h->head = (h->head + 1) % h->memory;
}

/* y += a * x, then returns next . y (0 when next is empty), in one sweep over memory. Fixed
 * chunks summed in order, as in dot(). */
static double axpy_dot(double *y, double a, hvec x, hvec next, size_t n)
{
    enum { CHUNKS = 16 };
    double part[CHUNKS];
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = n * (size_t)c / CHUNKS, hi = n * (size_t)(c + 1) / CHUNKS;
        if (x.f)
            for (size_t k = lo; k < hi; k++) y[k] += a * x.f[k];
        else
            for (size_t k = lo; k < hi; k++) y[k] += a * x.d[k];
        part[c] = next.f ? dot_mixed(next.f + lo, y + lo, hi - lo) : next.d ? dot_serial(next.d + lo, y + lo, hi - lo) : 0;
    }
    double s = 0;
    for (int c = 0; c < CHUNKS; c++) s += part[c];
    return s;
}

/* dir = -H grad with the two-loop recursion, H0 scaled by the newest pair's s.g / g.g; each
 * update of dir also computes the dot product the next pair needs. */
static void history_direction(history *h, const double *grad, double *dir)
{
    const size_t np = h->np;
    const hvec none = {NULL, NULL};
#define SLOT(t) ((h->head + (t)) % h->memory)
    memset(dir, 0, np * sizeof *dir);
    double sd = axpy_dot(dir, -1.0, (hvec){grad, NULL}, pair_vec(h, 0, h->count - 1), np);
    for (int t = h->count - 1; t >= 0; t--) {
        h->a[SLOT(t)] = h->rho[SLOT(t)] * sd;
        sd = axpy_dot(dir, -h->a[SLOT(t)], pair_vec(h, 1, t), t > 0 ? pair_vec(h, 0, t - 1) : none, np);
    }
    double scale = 1.0 / (h->rho[SLOT(h->count - 1)] * hvec_norm2(pair_vec(h, 1, h->count - 1), np));
    /* dir *= scale, as dir += (scale - 1) dir, with the first g . dir */
    double gd = axpy_dot(dir, scale - 1.0, (hvec){dir, NULL}, pair_vec(h, 1, 0), np);
    for (int t = 0; t < h->count; t++) {
        double beta = h->rho[SLOT(t)] * gd;
        gd = axpy_dot(dir, h->a[SLOT(t)] - beta, pair_vec(h, 0, t), t + 1 < h->count ? pair_vec(h, 1, t + 1) : none, np);
    }
#undef SLOT
}

/* A step along dir from x (objective f0, gradient g0) meeting the strong Wolfe conditions,
 * or Hager and Zhang's approximate Wolfe conditions once the decrease is within the
 * objective's rounding (near the optimum Armijo's test only sees noise). The search uses
 * the directional derivative to bracket and secant to zoom: the objective is convex.
 * Returns 0 with the point in xt, gt, *ft; -1 when no acceptable step was found. */
static int line_search(const problem *p, size_t np, const double *x, double f0, const double *g0,
                       const double *dir, double step, double *xt, double *gt, double *ft)
{
    const double c1 = 1e-4, sigma = 0.9;
    const double d0 = dot(g0, dir, np), noise = 1e-11 * (1.0 + fabs(f0));
    double lo = 0, dlo = d0, hi = INFINITY, dhi = 0;
    for (int e = 0; e < LINE_SEARCH_EVALS; e++) {
        #pragma omp parallel for schedule(static) if (np >= PARALLEL_MIN)
        for (size_t k = 0; k < np; k++) xt[k] = x[k] + step * dir[k];
        double f = objective(p, xt, gt), dd = dot(gt, dir, np);
        int armijo = f <= f0 + c1 * step * d0;
        int approx = f <= f0 + noise && dd <= -0.8 * d0;
        if ((armijo || approx) && fabs(dd) <= -sigma * d0) {
            *ft = f;
            return 0;
        }
        if (!(armijo || approx) || !isfinite(dd) || dd > 0) {
            hi = step;
            dhi = dd;
        } else {
            lo = step;
            dlo = dd;
        }
        if (isinf(hi)) {
            step *= 4;
        } else if (dlo < 0 && dhi > 0 && isfinite(dhi)) {
            double w = hi - lo, t = lo + w * dlo / (dlo - dhi);
            step = fmin(fmax(t, lo + 0.1 * w), hi - 0.1 * w);
        } else {
            step = 0.5 * (lo + hi);
        }
    }
    return -1;
}

/* L-BFGS from theta (zeros) until ||grad|| <= tol, max_iter steps, or no further progress
 * is possible in double precision. ws: 4 * np doubles of scratch. */
static void minimize(const problem *p, double *theta, size_t np, const kn_logreg_options *opt, history *h,
                     double *ws)
{
    double *grad = ws, *xt = ws + np, *gt = ws + 2 * np, *dir = ws + 3 * np;
    double f = objective(p, theta, grad);
    for (int iter = 0; iter < opt->max_iter; iter++) {
        double gnorm = sqrt(dot(grad, grad, np));
        if (opt->tol_max_abs) {
            double gmax = 0;
            for (size_t k = 0; k < np; k++) gmax = fmax(gmax, fabs(grad[k]));
            if (gmax <= opt->tol) break;
        } else if (gnorm <= opt->tol) {
            break;
        }
        double step = 1.0, ft;
        if (h->count > 0) history_direction(h, grad, dir);
        if (h->count == 0 || dot(dir, grad, np) >= 0) {
            h->count = 0;
            for (size_t k = 0; k < np; k++) dir[k] = -grad[k];
            step = 1.0 / gnorm;
        }
        if (line_search(p, np, theta, f, grad, dir, step, xt, gt, &ft) != 0) {
            if (h->count == 0) break; /* even steepest descent cannot improve: converged */
            h->count = 0;             /* retry once from a fresh, steepest-descent model */
            continue;
        }
        history_push(h, theta, xt, grad, gt);
        memcpy(theta, xt, np * sizeof *theta);
        memcpy(grad, gt, np * sizeof *grad);
        f = ft;
    }
}

static int check_inputs(const float *X, const kn_csr *S, const int32_t *y, size_t n, int dim, int n_classes,
                        const kn_logreg_options *opt, size_t *counts, kn_error *err)
{
    if ((!X && !S) || !y) return kn_fail(err, "logistic regression: X and y are required");
    if (n == 0) return kn_fail(err, "logistic regression: no training examples (n = 0)");
    if (dim <= 0) return kn_fail(err, "logistic regression: dimension must be positive, got %d", dim);
    if (n_classes < 2) return kn_fail(err, "logistic regression: needs at least 2 classes, got %d", n_classes);
    if (n > INT_MAX || (!S && n > SIZE_MAX / sizeof(double) / (size_t)dim) ||
        n > SIZE_MAX / sizeof(double) / (size_t)n_classes)
        return kn_fail(err, "logistic regression: %zu examples of dimension %d are too many", n, dim);
    if (!(opt->C > 0) || !isfinite(opt->C)) return kn_fail(err, "logistic regression: C must be positive, got %g", opt->C);
    if (opt->max_iter <= 0) return kn_fail(err, "logistic regression: max_iter must be positive, got %d", opt->max_iter);
    if (!(opt->tol >= 0)) return kn_fail(err, "logistic regression: tol must be >= 0, got %g", opt->tol);
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= n_classes)
            return kn_fail(err, "logistic regression: label %d of example %zu is outside [0, %d)", (int)y[i], i,
                           n_classes);
        counts[y[i]]++;
        if (S) {
            if (S->indptr[i + 1] < S->indptr[i]) return kn_fail(err, "logistic regression: row %zu of the sparse matrix ends before it starts", i);
            for (size_t e = S->indptr[i]; e < S->indptr[i + 1]; e++)
                if (S->indices[e] < 0 || S->indices[e] >= dim || !isfinite(S->values[e]))
                    return kn_fail(err, "logistic regression: example %zu has a bad entry (column %d)", i, (int)S->indices[e]);
            continue;
        }
        for (int k = 0; k < dim; k++)
            if (!isfinite(X[i * (size_t)dim + k]))
                return kn_fail(err, "logistic regression: example %zu, feature %d is not finite", i, k);
    }
    for (int c = 0; c < n_classes; c++)
        if (counts[c] == 0) return kn_fail(err, "logistic regression: class %d has no training examples", c);
    return 0;
}

/* out = rows lo..hi-1 of S transposed: dim rows, entries sorted by row of S (global row
 * numbers). */
static int transpose(const kn_csr *S, size_t lo, size_t hi, int dim, kn_csr *out)
{
    const size_t nnz = S->indptr[hi] - S->indptr[lo];
    out->n_rows = (size_t)dim;
    out->n_cols = (int)S->n_rows;
    out->indptr = calloc((size_t)dim + 1, sizeof *out->indptr);
    out->indices = malloc((nnz ? nnz : 1) * sizeof *out->indices);
    out->values = malloc((nnz ? nnz : 1) * sizeof *out->values);
    size_t *fill = malloc(((size_t)dim + 1) * sizeof *fill);
    if (!out->indptr || !out->indices || !out->values || !fill) {
        free(fill);
        kn_csr_free(out);
        return -1;
    }
    for (size_t e = S->indptr[lo]; e < S->indptr[hi]; e++) out->indptr[S->indices[e] + 1]++;
    for (int f = 0; f < dim; f++) out->indptr[f + 1] += out->indptr[f];
    memcpy(fill, out->indptr, ((size_t)dim + 1) * sizeof *fill);
    for (size_t i = lo; i < hi; i++)
        for (size_t e = S->indptr[i]; e < S->indptr[i + 1]; e++) {
            size_t at = fill[S->indices[e]]++;
            out->indices[at] = (int32_t)i;
            out->values[at] = S->values[e];
        }
    free(fill);
    return 0;
}

/* Dense rows X (n x dim floats) or sparse rows S; the fit starts from zeros. */
static int fit(kn_logreg *m, const float *X, const kn_csr *S, const int32_t *y, const float *sample_weight, size_t n,
               int dim, int n_classes, const kn_logreg_options *opt, kn_error *err)
{
    memset(m, 0, sizeof *m);
    kn_logreg_options defaults;
    if (!opt) {
        kn_logreg_default_options(&defaults);
        opt = &defaults;
    }
    kn_csr St[ST_BLOCKS] = {{0}};
    size_t *counts = calloc(n_classes > 0 ? (size_t)n_classes : 1, sizeof *counts);
    if (!counts) return kn_fail(err, "logistic regression: out of memory");
    if (check_inputs(X, S, y, n, dim, n_classes, opt, counts, err) != 0) {
        free(counts);
        return -1;
    }
    const size_t np = (size_t)n_classes * ((size_t)dim + 1), nw = (size_t)n_classes * dim;
    double *Xd = S ? NULL : malloc(n * (size_t)dim * sizeof *Xd), *cw = malloc(n * sizeof *cw);
    double *R = malloc(n * (size_t)n_classes * sizeof *R), *theta = calloc(np, sizeof *theta);
    double *ws = malloc(4 * np * sizeof *ws);
    /* Sparse (TF-IDF) heads keep half the history, as scikit-learn's L-BFGS does: they have
     * millions of parameters, each pair costs two copies of them, and more pairs did not
     * save iterations on Banking77 or SIB-200. */
    history h = {.np = np, .memory = S ? LBFGS_MEMORY / 2 : LBFGS_MEMORY};
    /* Huge heads keep the pairs as float: they only shape the search direction (the objective
     * and the stopping test stay in double), and half the bytes is half the time of the
     * memory-bound history sweeps. */
    h.single = S != NULL;
    if (h.single) {
        h.sf = malloc((size_t)h.memory * np * sizeof *h.sf);
        h.gf = malloc((size_t)h.memory * np * sizeof *h.gf);
    } else {
        h.s = malloc((size_t)h.memory * np * sizeof *h.s);
        h.g = malloc((size_t)h.memory * np * sizeof *h.g);
    }
    m->W = malloc(nw * sizeof *m->W);
    m->b = malloc((size_t)n_classes * sizeof *m->b);
    int rc = 0;
    if ((!S && !Xd) || !cw || !R || !theta || !ws || (h.single ? !h.sf || !h.gf : !h.s || !h.g) || !m->W || !m->b) {
        rc = kn_fail(err, "logistic regression: out of memory for %zu x %d examples, %d classes", n, dim, n_classes);
        kn_logreg_free(m);
        goto done;
    }
    if (Xd)
        for (size_t k = 0; k < n * (size_t)dim; k++) Xd[k] = X[k];
    /* class_weight='balanced': n / (n_classes * count(class)). */
    for (size_t i = 0; i < n; i++)
        cw[i] = opt->C * (opt->balanced ? (double)n / ((double)n_classes * (double)counts[y[i]]) : 1.0) *
                (sample_weight ? (double)sample_weight[i] : 1.0);
    problem p = {.X = Xd, .S = S, .St = St, .y = y, .cw = cw, .n = n, .d = dim, .K = n_classes, .R = R};
    for (int blk = 0; S && blk <= ST_BLOCKS; blk++) p.block_row[blk] = n * (size_t)blk / ST_BLOCKS;
    for (int blk = 0; S && blk < ST_BLOCKS; blk++)
        if (transpose(S, p.block_row[blk], p.block_row[blk + 1], dim, &St[blk]) != 0) {
            rc = kn_fail(err, "logistic regression: out of memory for %zu x %d examples, %d classes", n, dim, n_classes);
            kn_logreg_free(m);
            goto done;
        }
    minimize(&p, theta, np, opt, &h, ws);
    m->n_classes = n_classes;
    m->dim = dim;
    m->temperature = 1.0f;
    for (int j = 0; j < n_classes; j++)
        for (int k = 0; k < dim; k++) m->W[(size_t)j * dim + k] = (float)theta[S ? (size_t)k * n_classes + j : (size_t)j * dim + k];
    for (int j = 0; j < n_classes; j++) m->b[j] = (float)theta[nw + j];
done:
    for (int blk = 0; blk < ST_BLOCKS; blk++) kn_csr_free(&St[blk]);
    free(counts);
    free(Xd);
    free(cw);
    free(R);
    free(theta);
    free(ws);
    free(h.s);
    free(h.g);
    free(h.sf);
    free(h.gf);
    return rc;
}

int kn_logreg_fit(kn_logreg *m, const float *X, const int32_t *y, size_t n, int dim, int n_classes,
                  const kn_logreg_options *opt, kn_error *err)
{
    return fit(m, X, NULL, y, NULL, n, dim, n_classes, opt, err);
}

int kn_logreg_fit_sparse(kn_logreg *m, const kn_csr *X, const int32_t *y, int n_classes,
                         const kn_logreg_options *opt, kn_error *err)
{
    if (!X) {
        memset(m, 0, sizeof *m);
        return kn_fail(err, "logistic regression: X and y are required");
    }
    return fit(m, NULL, X, y, NULL, X->n_rows, X->n_cols, n_classes, opt, err);
}

int kn_logreg_fit_sparse_weighted(kn_logreg *m, const kn_csr *X, const int32_t *y, const float *sample_weight,
                                  int n_classes, const kn_logreg_options *opt, kn_error *err)
{
    if (!X) {
        memset(m, 0, sizeof *m);
        return kn_fail(err, "logistic regression: X and y are required");
    }
    for (size_t i = 0; sample_weight && i < X->n_rows; i++)
        if (!(sample_weight[i] >= 0 && sample_weight[i] <= 1e6)) {
            memset(m, 0, sizeof *m);
            return kn_fail(err, "logistic regression: sample weight %zu is %g, not in [0, 1e6]", i,
                           (double)sample_weight[i]);
        }
    return fit(m, NULL, X, y, sample_weight, X->n_rows, X->n_cols, n_classes, opt, err);
}

void kn_logreg_logits_sparse(const kn_logreg *m, const kn_csr *X, size_t row, double *z)
{
    const int K = m->n_classes, d = m->dim;
    for (int j = 0; j < K; j++) z[j] = m->b[j];
    for (size_t e = X->indptr[row]; e < X->indptr[row + 1]; e++)
        for (int j = 0; j < K; j++) z[j] += (double)X->values[e] * m->W[(size_t)j * d + X->indices[e]];
}

void kn_logreg_predict_proba_sparse(const kn_logreg *m, const kn_csr *X, float *proba)
{
    const int K = m->n_classes;
    const double inv_t = 1.0 / m->temperature;
#pragma omp parallel for schedule(static) if (X->n_rows >= 256)
    for (size_t i = 0; i < X->n_rows; i++) {
        double z[K > 0 ? K : 1], zmax = -INFINITY, sum = 0;
        kn_logreg_logits_sparse(m, X, i, z);
        for (int j = 0; j < K; j++) zmax = fmax(zmax, z[j] *= inv_t);
        for (int j = 0; j < K; j++) sum += (z[j] = exp(z[j] - zmax));
        for (int j = 0; j < K; j++) proba[i * K + j] = (float)(z[j] / sum);
    }
}

void kn_logreg_predict_proba(const kn_logreg *m, const float *X, size_t n, float *proba)
{
    const int K = m->n_classes, d = m->dim;
    const double inv_t = 1.0 / m->temperature;
    /* Rows are independent and each is computed the same way, so the result of a row does
     * not depend on the batch or the thread count. */
#pragma omp parallel for schedule(static) if (n * (size_t)K * d >= (1u << 20))
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * (size_t)d;
        double z[K > 0 ? K : 1], zmax = -INFINITY, sum = 0;
        for (int j = 0; j < K; j++) {
            const float *w = m->W + (size_t)j * d;
            double s = m->b[j];
            for (int k = 0; k < d; k++) s += (double)w[k] * x[k];
            z[j] = s * inv_t;
            zmax = fmax(zmax, z[j]);
        }
        for (int j = 0; j < K; j++) sum += (z[j] = exp(z[j] - zmax));
        for (int j = 0; j < K; j++) proba[i * K + j] = (float)(z[j] / sum);
    }
}
