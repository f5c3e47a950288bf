/* umap_graph.c - the fuzzy neighbourhood graph. Each row sees its k neighbours through its
 * own metric: distances beyond the nearest (rho) are divided by a bandwidth sigma chosen so
 * that the memberships exp(-(d - rho) / sigma) sum to log2(k + 1). The directed graph is
 * then made symmetric by fuzzy union, w = a + b - a*b. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/umap_parts.h"

/* Sigma below this share of the mean distance is noise, not structure. */
#define MIN_SIGMA_SHARE 1e-3
#define SIGMA_TOLERANCE 1e-5
#define SIGMA_STEPS 64

/* Binary search for sigma (doubling until bracketed, as the sum grows with sigma). */
static double row_sigma(const float *d, int k, double rho, double target)
{
    double lo = 0.0, hi = INFINITY, mid = 1.0;
    for (int step = 0; step < SIGMA_STEPS; step++) {
        double sum = 0.0;
        for (int j = 0; j < k; j++) {
            double gap = d[j] - rho;
            sum += gap > 0.0 ? exp(-gap / mid) : 1.0;
        }
        if (fabs(sum - target) < SIGMA_TOLERANCE) break;
        if (sum > target) {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = isinf(hi) ? mid * 2.0 : (lo + hi) / 2.0;
        }
    }
    return mid;
}

typedef struct {
    int32_t row, col;
    float w;
    int forward; /* 1: row's own neighbour; 0: the transposed entry */
} graph_entry;

static int entry_cmp(const void *pa, const void *pb)
{
    const graph_entry *a = pa, *b = pb;
    if (a->row != b->row) return a->row < b->row ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    return a->forward - b->forward;
}

int kn_umap_fuzzy_graph(const int32_t *idx, const float *dist, size_t n, int k, kn_umap_graph *g, kn_error *err)
{
    memset(g, 0, sizeof *g);
    size_t m = n * (size_t)k;
    float *w = malloc(m * sizeof *w);
    graph_entry *e = malloc(2 * m * sizeof *e);
    size_t *count = calloc(n + 1, sizeof *count);
    if (!w || !e || !count) {
        free(w);
        free(e);
        free(count);
        return kn_fail(err, "umap: out of memory for the neighbour graph of %zu rows", n);
    }
    double mean_all = 0.0;
    for (size_t i = 0; i < m; i++) mean_all += dist[i];
    mean_all /= (double)m;
    double target = log2((double)k + 1.0);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float *d = dist + i * k;
        double rho = 0.0, mean = 0.0;
        for (int j = 0; j < k; j++) {
            mean += d[j];
            if (rho == 0.0 && d[j] > 0.0f) rho = d[j];
        }
        mean /= k;
        double sigma = row_sigma(d, k, rho, target);
        double floor = MIN_SIGMA_SHARE * (rho > 0.0 ? mean : mean_all);
        if (sigma < floor) sigma = floor;
        for (int j = 0; j < k; j++) {
            double gap = d[j] - rho;
            w[i * k + j] = gap <= 0.0 || sigma <= 0.0 ? 1.0f : (float)exp(-gap / sigma);
        }
    }
    /* Both directions of every entry, grouped by row, then merged pairwise. */
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < k; j++) {
            size_t at = i * k + j;
            e[2 * at] = (graph_entry){(int32_t)i, idx[at], w[at], 1};
            e[2 * at + 1] = (graph_entry){idx[at], (int32_t)i, w[at], 0};
        }
    }
    qsort(e, 2 * m, sizeof *e, entry_cmp);
    size_t out = 0;
    for (size_t s = 0; s < 2 * m;) {
        size_t t = s + 1;
        while (t < 2 * m && e[t].row == e[s].row && e[t].col == e[s].col) t++;
        float a = 0.0f, b = 0.0f;
        for (size_t u = s; u < t; u++) {
            if (e[u].forward) a = e[u].w;
            else b = e[u].w;
        }
        e[out] = e[s];
        /* a + b - ab, written so that it is symmetric in a and b and never above 1 */
        float hi = a > b ? a : b, lo = a > b ? b : a;
        e[out].w = hi + lo * (1.0f - hi);
        count[e[s].row + 1]++;
        out++;
        s = t;
    }
    g->n = n;
    g->rowptr = count;
    for (size_t i = 0; i < n; i++) g->rowptr[i + 1] += g->rowptr[i];
    g->col = malloc((out ? out : 1) * sizeof *g->col);
    g->w = malloc((out ? out : 1) * sizeof *g->w);
    free(w);
    if (!g->col || !g->w) {
        free(e);
        kn_umap_graph_free(g);
        return kn_fail(err, "umap: out of memory for %zu graph edges", out);
    }
    for (size_t i = 0; i < out; i++) {
        g->col[i] = e[i].col;
        g->w[i] = e[i].w;
    }
    free(e);
    return 0;
}

void kn_umap_graph_free(kn_umap_graph *g)
{
    free(g->rowptr);
    free(g->col);
    free(g->w);
    memset(g, 0, sizeof *g);
}
