/* knn_descent.c - approximate k nearest neighbours for large n: random-projection trees
 * give every point candidates from its leaves, then NN-descent (Dong, Moses and Li, 2011)
 * refines the graph: a neighbour of a neighbour is likely a neighbour, so each round
 * compares, around every point, the recently added neighbours with each other and with
 * the older ones, and keeps whatever is closer.
 *
 * Each round is deterministic for a seed and independent of the thread count: candidate
 * pairs are computed against the graph as the round began, and applying them keeps the k
 * best of a set (distance, then index), which does not depend on the order of arrival. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "learn/umap_parts.h"
#include "util/rng.h"

#define TREES 8
#define LEAF_SIZE 32
#define MAX_DEPTH 60 /* a balanced tree of 100,000 points is 12 deep */
#define MAX_ROUNDS 12
#define STOP_SHARE 0.001 /* stop when fewer than this share of the n*k entries changed */

typedef struct {
    float d; /* squared distance */
    int32_t i;
    uint8_t fresh; /* added since the point's candidates were last sampled */
} nd_entry;

typedef struct {
    int32_t p, q;
    float d;
} nd_update;

typedef struct {
    nd_update *u;
    size_t n, cap;
} nd_updates;

typedef struct {
    const float *x;
    const float *sq;
    size_t n;
    int dim, k;
    nd_entry *heap; /* n * k, max-heaps on (d, i): the root is the worst neighbour */
    int *size;
} nd_graph;

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t s = a ^ (b * 0x9e3779b97f4a7c15ull);
    return kn_splitmix64(&s);
}

/* a . b over dim floats, in 16 independent sums so that the compiler vectorizes it. */
static float dot(const float *a, const float *b, int dim)
{
    float acc[16] = {0};
    int j = 0;
    for (; j + 16 <= dim; j += 16)
        for (int t = 0; t < 16; t++) acc[t] += a[j + t] * b[j + t];
    float sum = 0.0f;
    for (; j < dim; j++) sum += a[j] * b[j];
    for (int t = 0; t < 16; t++) sum += acc[t];
    return sum;
}

static float sq_dist(const nd_graph *g, int32_t p, int32_t q)
{
    float d = g->sq[p] + g->sq[q] - 2.0f * dot(g->x + (size_t)p * g->dim, g->x + (size_t)q * g->dim, g->dim);
    return d > 0.0f ? d : 0.0f;
}

static int worse(float da, int32_t ia, float db, int32_t ib)
{
    return da > db || (da == db && ia > ib);
}

static void sift_down(nd_entry *h, int size, int at)
{
    for (;;) {
        int l = 2 * at + 1, r = l + 1, top = at;
        if (l < size && worse(h[l].d, h[l].i, h[top].d, h[top].i)) top = l;
        if (r < size && worse(h[r].d, h[r].i, h[top].d, h[top].i)) top = r;
        if (top == at) return;
        nd_entry t = h[at];
        h[at] = h[top];
        h[top] = t;
        at = top;
    }
}

/* Offers q at squared distance d to p's neighbours; returns 1 if it was kept. */
static int offer(nd_graph *g, int32_t p, int32_t q, float d)
{
    nd_entry *h = g->heap + (size_t)p * g->k;
    int *size = g->size + p;
    if (p == q) return 0;
    if (*size == g->k && !worse(h[0].d, h[0].i, d, q)) return 0;
    for (int s = 0; s < *size; s++)
        if (h[s].i == q) return 0;
    if (*size == g->k) {
        h[0] = (nd_entry){d, q, 1};
        sift_down(h, g->k, 0);
        return 1;
    }
    int at = (*size)++;
    h[at] = (nd_entry){d, q, 1};
    while (at > 0) {
        int up = (at - 1) / 2;
        if (!worse(h[at].d, h[at].i, h[up].d, h[up].i)) break;
        nd_entry t = h[at];
        h[at] = h[up];
        h[up] = t;
        at = up;
    }
    return 1;
}

/* The worst distance p keeps (infinite while it has fewer than k). */
static float threshold(const nd_graph *g, int32_t p)
{
    return g->size[p] < g->k ? INFINITY : g->heap[(size_t)p * g->k].d;
}

static int push_update(nd_updates *b, int32_t p, int32_t q, float d)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096;
        nd_update *u = realloc(b->u, cap * sizeof *u);
        if (!u) return -1;
        b->u = u;
        b->cap = cap;
    }
    b->u[b->n++] = (nd_update){p, q, d};
    return 0;
}

/* Applies every thread's buffered pairs; thread t owns the points p with p % T == t, so
 * no two threads touch one heap. Returns how many entries changed. */
static size_t apply_updates(nd_graph *g, nd_updates *bufs, int nbufs)
{
    size_t changed = 0;
#pragma omp parallel reduction(+ : changed)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        for (int b = 0; b < nbufs; b++)
            for (size_t s = 0; s < bufs[b].n; s++) {
                nd_update u = bufs[b].u[s];
                if (u.p % T == t) changed += (size_t)offer(g, u.p, u.q, u.d);
                if (u.q % T == t) changed += (size_t)offer(g, u.q, u.p, u.d);
            }
    }
    for (int b = 0; b < nbufs; b++) bufs[b].n = 0;
    return changed;
}

/* One random-projection tree: splits idx[0..m) by the hyperplane halfway between two of
 * its points until at most LEAF_SIZE remain, then pairs every leaf's points. */
static int rp_split(nd_graph *g, int32_t *idx, size_t m, uint64_t rng, nd_updates *out, int32_t *scratch, int depth)
{
    if (m <= LEAF_SIZE) {
        for (size_t a = 0; a < m; a++)
            for (size_t b = a + 1; b < m; b++) {
                float d = sq_dist(g, idx[a], idx[b]);
                if ((d < threshold(g, idx[a]) || d < threshold(g, idx[b])) && push_update(out, idx[a], idx[b], d) != 0)
                    return -1;
            }
        return 0;
    }
    size_t ia = kn_splitmix64(&rng) % m, ib = kn_splitmix64(&rng) % (m - 1);
    if (ib >= ia) ib++;
    const float *xa = g->x + (size_t)idx[ia] * g->dim, *xb = g->x + (size_t)idx[ib] * g->dim;
    float *normal = malloc((size_t)g->dim * sizeof *normal);
    if (!normal) return -1;
    double offset = 0.0;
    for (int j = 0; j < g->dim; j++) {
        normal[j] = xa[j] - xb[j];
        offset += (double)normal[j] * (xa[j] + xb[j]) * 0.5;
    }
    size_t left = 0, right = m;
    for (size_t s = 0; s < m; s++) {
        float side = dot(normal, g->x + (size_t)idx[s] * g->dim, g->dim) - (float)offset;
        int go_left = side > 0.0f || (side == 0.0f && (mix(rng, (uint64_t)idx[s]) & 1));
        if (go_left) scratch[left++] = idx[s];
        else scratch[--right] = idx[s];
    }
    free(normal);
    /* All on one side (equal points), or lopsided splits piling up: halve as they lie. */
    if (left == 0 || left == m || depth > MAX_DEPTH) left = m / 2;
    memcpy(idx, scratch, m * sizeof *idx);
    if (rp_split(g, idx, left, mix(rng, 1), out, scratch, depth + 1) != 0) return -1;
    return rp_split(g, idx + left, m - left, mix(rng, 2), out, scratch + left, depth + 1);
}

/* Candidate lists of one round: up to k sampled fresh and k older neighbours of each
 * point, forward and reverse, chosen by a seeded priority (smallest wins). */
typedef struct {
    uint64_t prio;
    int32_t i;
} nd_cand;

static void cand_push(nd_cand *list, int *size, int cap, uint64_t prio, int32_t i)
{
    for (int s = 0; s < *size; s++)
        if (list[s].i == i) return;
    if (*size < cap) {
        list[(*size)++] = (nd_cand){prio, i};
        return;
    }
    int worst = 0;
    for (int s = 1; s < cap; s++)
        if (list[s].prio > list[worst].prio || (list[s].prio == list[worst].prio && list[s].i > list[worst].i)) worst = s;
    if (prio < list[worst].prio || (prio == list[worst].prio && i < list[worst].i)) list[worst] = (nd_cand){prio, i};
}

int kn_knn_descent(const float *x, size_t n, int dim, int k, int32_t *idx, float *dist, uint64_t seed,
                   kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    if (k < 1 || (size_t)k >= n) return kn_fail(err, "knn: k = %d needs 1 <= k < n = %zu", k, n);
    int nbufs = omp_get_max_threads();
    nd_graph g = {.x = x, .n = n, .dim = dim, .k = k};
    float *sq = malloc(n * sizeof *sq);
    g.heap = malloc(n * (size_t)k * sizeof *g.heap);
    g.size = calloc(n, sizeof *g.size);
    nd_updates *bufs = calloc((size_t)nbufs, sizeof *bufs);
    int32_t *order = malloc((size_t)TREES * n * sizeof *order), *scratch = malloc((size_t)TREES * n * sizeof *scratch);
    nd_cand *fresh = malloc(n * (size_t)k * sizeof *fresh), *old = malloc(n * (size_t)k * sizeof *old);
    int *nfresh = calloc(n, sizeof *nfresh), *nold = calloc(n, sizeof *nold);
    int rc = 0;
    if (!sq || !g.heap || !g.size || !bufs || !order || !scratch || !fresh || !old || !nfresh || !nold) {
        rc = kn_fail(err, "knn: out of memory for the neighbour graph of %zu rows", n);
        goto done;
    }
    g.sq = sq;
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < dim; j++) s += (double)x[i * dim + j] * x[i * dim + j];
        sq[i] = (float)s;
    }
    /* Trees, one per thread at a time, each into its thread's buffer. */
    int oom = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : oom)
    for (int t = 0; t < TREES; t++) {
        int32_t *o = order + (size_t)t * n;
        for (size_t i = 0; i < n; i++) o[i] = (int32_t)i;
        oom |= rp_split(&g, o, n, mix(seed, 1000 + (uint64_t)t), &bufs[omp_get_thread_num()], scratch + (size_t)t * n, 0) != 0;
    }
    if (oom) {
        rc = kn_fail(err, "knn: out of memory for the tree candidates of %zu rows", n);
        goto done;
    }
    apply_updates(&g, bufs, nbufs);
    /* Points a leaf left short of k neighbours get seeded random ones. */
    for (size_t i = 0; i < n; i++) {
        uint64_t s = mix(seed, 2000 + i);
        while (g.size[i] < k) {
            int32_t q = (int32_t)(kn_splitmix64(&s) % n);
            offer(&g, (int32_t)i, q, sq_dist(&g, (int32_t)i, q));
        }
    }
    if (progress) progress(progress_ctx, n / (MAX_ROUNDS + 1), n);
    for (int round = 0; round < MAX_ROUNDS; round++) {
        memset(nfresh, 0, n * sizeof *nfresh);
        memset(nold, 0, n * sizeof *nold);
        /* Forward and reverse candidates; thread t fills the lists of points p % T == t. */
#pragma omp parallel
        {
            int t = omp_get_thread_num(), T = omp_get_num_threads();
            for (size_t p = 0; p < n; p++) {
                const nd_entry *h = g.heap + p * k;
                for (int s = 0; s < k; s++) {
                    int32_t q = h[s].i;
                    /* One priority per unordered pair, whichever list it reaches first. */
                    uint64_t lo = p < (size_t)q ? p : (size_t)q, hi = p < (size_t)q ? (size_t)q : p;
                    uint64_t prio = mix(seed ^ (uint64_t)round << 40, lo * n + hi);
                    nd_cand *lists = h[s].fresh ? fresh : old;
                    int *sizes = h[s].fresh ? nfresh : nold;
                    if ((int)(p % (size_t)T) == t) cand_push(lists + p * k, &sizes[p], k, prio, q);
                    if (q % T == t) cand_push(lists + (size_t)q * k, &sizes[q], k, prio, (int32_t)p);
                }
            }
        }
        /* Entries sampled as fresh are old from now on. */
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < n; p++) {
            nd_entry *h = g.heap + p * k;
            for (int s = 0; s < k; s++) {
                if (!h[s].fresh) continue;
                for (int c = 0; c < nfresh[p]; c++)
                    if (fresh[p * k + c].i == h[s].i) h[s].fresh = 0;
            }
        }
        /* Local joins against the graph as it stands; pairs that improve either end. */
        oom = 0;
#pragma omp parallel reduction(| : oom)
        {
            nd_updates *out = &bufs[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 64)
            for (size_t p = 0; p < n; p++) {
                const nd_cand *f = fresh + p * k, *o = old + p * k;
                for (int a = 0; a < nfresh[p] && !oom; a++) {
                    int32_t u = f[a].i;
                    for (int b = a + 1; b < nfresh[p]; b++) {
                        int32_t v = f[b].i;
                        float d = sq_dist(&g, u, v);
                        if ((d < threshold(&g, u) || d < threshold(&g, v)) && push_update(out, u, v, d) != 0) oom = 1;
                    }
                    for (int b = 0; b < nold[p]; b++) {
                        int32_t v = o[b].i;
                        if (v == u) continue;
                        float d = sq_dist(&g, u, v);
                        if ((d < threshold(&g, u) || d < threshold(&g, v)) && push_update(out, u, v, d) != 0) oom = 1;
                    }
                }
            }
        }
        if (oom) {
            rc = kn_fail(err, "knn: out of memory for candidate pairs of %zu rows", n);
            goto done;
        }
        size_t changed = apply_updates(&g, bufs, nbufs);
        if (progress) progress(progress_ctx, n * (size_t)(round + 2) / (MAX_ROUNDS + 1), n);
        if ((double)changed < STOP_SHARE * (double)n * k) break;
    }
    /* Each heap into ascending order, as distances. */
    for (size_t p = 0; p < n; p++) {
        nd_entry *h = g.heap + p * k;
        for (int s = k; s > 0; s--) {
            idx[p * k + s - 1] = h[0].i;
            dist[p * k + s - 1] = sqrtf(h[0].d);
            h[0] = h[s - 1];
            sift_down(h, s - 1, 0);
        }
    }
    if (progress) progress(progress_ctx, n, n);
done:
    for (int b = 0; bufs && b < nbufs; b++) free(bufs[b].u);
    free(bufs), free(sq), free(g.heap), free(g.size), free(order), free(scratch);
    free(fresh), free(old), free(nfresh), free(nold);
    return rc;
}
