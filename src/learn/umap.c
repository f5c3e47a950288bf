/* umap.c - kn_umap: neighbours (knn.c), fuzzy graph (umap_graph.c), PCA start
 * (umap_init.c), then the layout optimisation here.
 *
 * The optimisation follows umap-learn's: every edge of the graph is sampled in proportion
 * to its weight (an edge of weight w every max_w / w epochs), pulls its two ends together
 * with the gradient of log(1 / (1 + a d^(2b))) and is followed by 5 negative samples that
 * push the head away from random points; the learning rate falls linearly to 0 and each
 * gradient component is clipped to [-4, 4].
 *
 * One difference makes it deterministic on any number of threads: within an epoch a point
 * moves only through its own edges, against the positions every point had when the epoch
 * began (double buffering), and its random draws come from (seed, epoch, point). Because
 * the graph holds both directions of every edge with the same weight and schedule, pulling
 * the head twice stands in for umap-learn moving both ends of each directed edge. And an
 * edge's negative samples push from one position and are summed (in vector lanes) rather
 * than applied one after another. */
#include "learn/umap.h"

#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "learn/umap_parts.h"
#include "util/rng.h"

#define NEGATIVE_SAMPLE_RATE 5
#define REPULSION_STRENGTH 1.0f
#define GRADIENT_CLIP 4.0f
#define OUTPUT_EXTENT 10.0f
/* umap-learn's automatic epoch counts and the size that separates them. */
#define EPOCHS_SMALL 500
#define EPOCHS_LARGE 200
#define SMALL_N 10000
#define PARALLEL_MIN_POINTS 2048
#define EPOCH_CHUNK 256 /* points a thread takes at a time */
#define BARRIER_SPINS 200
/* Progress in thousandths: neighbours first, the epochs after. */

void kn_umap_default_options(kn_umap_options *o)
{
    o->n_neighbors = 15;
    o->min_dist = 0.1f;
    o->n_epochs = 0;
    o->seed = 42;
}

static float clip(float g)
{
    return fminf(fmaxf(g, -GRADIENT_CLIP), GRADIENT_CLIP);
}

/* Eight lanes through GCC/Clang vector extensions: AVX or SSE, whatever the target has. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline v8f select8(v8i mask, v8f yes, v8f no)
{
    return (v8f)((mask & (v8i)yes) | (~mask & (v8i)no));
}

/* kn_umap_fast_powf on eight lanes (x > 0). */
static inline v8f pow8(v8f x, float y)
{
    v8i u = (v8i)x;
    v8f e = __builtin_convertvector((u >> 23) - 127, v8f);
    v8f m = (v8f)((u & 0x007fffff) | 0x3f800000) - 1.0f;
    v8f l = m * (1.4426689f + m * (-0.7201761f + m * (0.4680285f + m * (-0.3010488f + m * (0.1446854f + m * -0.0341768f)))));
    v8f t = y * (e + l), lo = t - t - 126.0f, hi = t - t + 126.0f;
    t = select8(t < lo, lo, select8(t > hi, hi, t));
    v8i whole = __builtin_convertvector(t, v8i); /* truncates; one less below zero gives the floor */
    whole += (v8i)(__builtin_convertvector(whole, v8f) > t);
    v8f f = t - __builtin_convertvector(whole, v8f);
    v8f p = 1.0f + f * (0.6931472f + f * (0.2402274f + f * (0.0554951f + f * (0.0096537f + f * (0.0012684f + f * 0.0002082f)))));
    return p * (v8f)((whole + 127) << 23);
}

/* Repulsive steps (clipped per component) for offsets (nx, ny) from eight random points;
 * lanes off in `use`, or at distance 0, give 0. */
static inline void repulse8(v8f nx, v8f ny, float a, float b, v8i use, v8f *gx, v8f *gy)
{
    v8f n2 = nx * nx + ny * ny, zero = n2 - n2, one = zero + 1.0f;
    v8i on = use & (n2 > zero);
    v8f safe = select8(on, n2, one);
    v8f coeff = 2.0f * REPULSION_STRENGTH * b / ((0.001f + safe) * (a * pow8(safe, b) + 1.0f));
    v8f cx = coeff * nx, cy = coeff * ny, lo = zero - GRADIENT_CLIP, hi = zero + GRADIENT_CLIP;
    cx = select8(cx < lo, lo, select8(cx > hi, hi, cx));
    cy = select8(cy < lo, lo, select8(cy > hi, hi, cy));
    *gx = select8(on, cx, zero);
    *gy = select8(on, cy, zero);
}

/* A barrier whose waiters spin briefly, then give their core away until the last arrives. */
typedef struct {
    atomic_int arrived, generation;
    int threads;
} yielding_barrier;

static void barrier_init(yielding_barrier *b, int threads)
{
    atomic_init(&b->arrived, 0);
    atomic_init(&b->generation, 0);
    b->threads = threads;
}

static void barrier_wait(yielding_barrier *b)
{
    int generation = atomic_load(&b->generation);
    if (atomic_fetch_add(&b->arrived, 1) == b->threads - 1) {
        atomic_store(&b->arrived, 0);
        atomic_fetch_add(&b->generation, 1);
        return;
    }
    for (int spins = 0; atomic_load(&b->generation) == generation; spins++)
        if (spins > BARRIER_SPINS) sched_yield();
}

typedef struct {
    const kn_umap_graph *g;
    float a, b;
    int n_epochs;
    uint64_t seed;
    float *epochs_per_sample; /* per edge; < 0: never sampled */
    float *next_sample, *next_negative;
} layout;

/* One epoch for point i: its edges due now, each with its negative samples, against the
 * positions `cur` the epoch began with; writes the point's new position into `next`. */
static void move_point(layout *L, size_t i, int epoch, float alpha, const float *cur, float *next)
{
    const kn_umap_graph *g = L->g;
    float px = cur[2 * i], py = cur[2 * i + 1];
    const float a = L->a, b = L->b;
    uint64_t rng = L->seed ^ (0x9e3779b97f4a7c15ull * (i + 1)) ^ (0xd1b54a32d192ed03ull * (uint64_t)(epoch + 1));
    kn_splitmix64(&rng);
    for (size_t e = g->rowptr[i]; e < g->rowptr[i + 1]; e++) {
        float eps = L->epochs_per_sample[e];
        if (eps < 0.0f || L->next_sample[e] > (float)epoch) continue;
        size_t j = (size_t)g->col[e];
        float dx = px - cur[2 * j], dy = py - cur[2 * j + 1], d2 = dx * dx + dy * dy;
        if (d2 > 0.0f) {
            float pb = kn_umap_fast_powf(d2, b);
            float coeff = -2.0f * a * b * (pb / d2) / (a * pb + 1.0f);
            px += 2.0f * clip(coeff * dx) * alpha;
            py += 2.0f * clip(coeff * dy) * alpha;
        }
        L->next_sample[e] += eps;
        float eps_neg = eps / NEGATIVE_SAMPLE_RATE;
        int n_neg = (int)(((float)epoch - L->next_negative[e]) / eps_neg);
        /* The negative samples all push from the same position and are summed, eight at a
         * time in vector lanes, instead of each waiting on the previous one's update. */
        float gx = 0.0f, gy = 0.0f;
        for (int s0 = 0; s0 < n_neg; s0 += 8) {
            v8f ox, oy;
            v8i use;
            for (int l = 0; l < 8; l++) {
                size_t k = i;
                if (s0 + l < n_neg) k = (size_t)(((kn_splitmix64(&rng) >> 32) * (uint64_t)g->n) >> 32);
                use[l] = k != i ? -1 : 0;
                ox[l] = cur[2 * k];
                oy[l] = cur[2 * k + 1];
            }
            v8f lx, ly;
            repulse8(px - ox, py - oy, a, b, use, &lx, &ly);
            for (int l = 0; l < 8; l++) {
                gx += lx[l];
                gy += ly[l];
            }
        }
        px += gx * alpha;
        py += gy * alpha;
        L->next_negative[e] += (float)n_neg * eps_neg;
    }
    next[2 * i] = px;
    next[2 * i + 1] = py;
}

static int optimise(layout *L, float *pos, kn_progress_span *epochs_span, kn_error *err)
{
    const kn_umap_graph *g = L->g;
    size_t n = g->n, m = g->rowptr[n];
    float *spare = malloc(2 * n * sizeof *spare);
    L->epochs_per_sample = malloc((m ? m : 1) * sizeof(float));
    L->next_sample = malloc((m ? m : 1) * sizeof(float));
    L->next_negative = malloc((m ? m : 1) * sizeof(float));
    if (!spare || !L->epochs_per_sample || !L->next_sample || !L->next_negative) {
        free(spare);
        return kn_fail(err, "umap: out of memory for %zu edges", m);
    }
    float max_w = 0.0f;
    for (size_t e = 0; e < m; e++) max_w = g->w[e] > max_w ? g->w[e] : max_w;
    for (size_t e = 0; e < m; e++) {
        /* Edges too weak to be sampled even once are dropped, as umap-learn does. */
        float eps = g->w[e] >= max_w / (float)L->n_epochs ? max_w / g->w[e] : -1.0f;
        L->epochs_per_sample[e] = eps;
        L->next_sample[e] = eps;
        L->next_negative[e] = eps / NEGATIVE_SAMPLE_RATE;
    }
    /* One parallel region for all epochs: threads take chunks of points from a counter and
     * meet at a barrier that yields the core while it waits. OpenMP's own barrier spins,
     * which on a machine shared with other work burned as much time as the epochs took. */
    size_t chunks = (n + EPOCH_CHUNK - 1) / EPOCH_CHUNK;
    atomic_size_t taken[2];
    atomic_init(&taken[0], 0);
    atomic_init(&taken[1], 0);
    yielding_barrier barrier;
    int threads = n > PARALLEL_MIN_POINTS ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(threads)
    {
        int team = omp_get_num_threads();
#pragma omp single
        barrier_init(&barrier, team);
        for (int epoch = 0; epoch < L->n_epochs; epoch++) {
            const float *cur = epoch % 2 ? spare : pos;
            float *next = epoch % 2 ? pos : spare;
            float alpha = 1.0f - (float)epoch / (float)L->n_epochs;
            /* The other counter was last used an epoch ago; nobody takes from it before the
             * barrier below. */
            if (omp_get_thread_num() == 0) atomic_store(&taken[(epoch + 1) % 2], 0);
            for (;;) {
                size_t c = atomic_fetch_add(&taken[epoch % 2], 1);
                if (c >= chunks) break;
                size_t end = (c + 1) * EPOCH_CHUNK < n ? (c + 1) * EPOCH_CHUNK : n;
                for (size_t i = c * EPOCH_CHUNK; i < end; i++) move_point(L, i, epoch, alpha, cur, next);
            }
            barrier_wait(&barrier);
            if (omp_get_thread_num() == 0) kn_progress_span_update(epochs_span, (size_t)epoch + 1, (size_t)L->n_epochs);
        }
    }
    if (L->n_epochs % 2) memcpy(pos, spare, 2 * n * sizeof *pos);
    free(spare);
    return 0;
}

/* Centres the layout and scales its largest |coordinate| to OUTPUT_EXTENT. */
static int normalise_output(float *out, size_t n, kn_error *err)
{
    double mx = 0.0, my = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(out[2 * i]) || !isfinite(out[2 * i + 1]))
            return kn_fail(err, "umap: the layout diverged at point %zu", i);
        mx += out[2 * i];
        my += out[2 * i + 1];
    }
    mx /= (double)n;
    my /= (double)n;
    double extent = 0.0;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (float)(out[2 * i] - mx);
        out[2 * i + 1] = (float)(out[2 * i + 1] - my);
        extent = fmax(extent, fmax(fabs(out[2 * i]), fabs(out[2 * i + 1])));
    }
    if (extent > 0.0)
        for (size_t i = 0; i < 2 * n; i++) out[i] = (float)(out[i] * (OUTPUT_EXTENT / extent));
    return 0;
}

int kn_umap(const float *x, size_t n, int dim, const kn_umap_options *o, float *out,
            kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    kn_umap_options opt;
    if (o) opt = *o;
    else kn_umap_default_options(&opt);
    if (!x || !out) return kn_fail(err, "umap: no input or output buffer");
    if (n < 2) return kn_fail(err, "umap: needs at least 2 rows, got %zu", n);
    if (dim < 1) return kn_fail(err, "umap: dimension must be at least 1, got %d", dim);
    if (n > INT32_MAX) return kn_fail(err, "umap: %zu rows is more than supported", n);
    if (opt.n_neighbors < 2) return kn_fail(err, "umap: n_neighbors must be at least 2, got %d", opt.n_neighbors);
    if (!(opt.min_dist >= 0.0f && opt.min_dist <= 1.0f))
        return kn_fail(err, "umap: min_dist must be in [0, 1], got %g", (double)opt.min_dist);
    if (opt.n_epochs < 0 || opt.n_epochs > 100000)
        return kn_fail(err, "umap: n_epochs must be 0 (automatic) to 100000, got %d", opt.n_epochs);
    for (size_t i = 0; i < n * (size_t)dim; i++)
        if (!isfinite(x[i]))
            return kn_fail(err, "umap: row %zu, column %zu (counting from 0) is not a finite number", i / dim, i % dim);

    int k = opt.n_neighbors - 1; /* umap-learn counts the point itself among its neighbours */
    if ((size_t)k > n - 1) k = (int)(n - 1);
    int32_t *idx = malloc(n * (size_t)k * sizeof *idx);
    float *dist = malloc(n * (size_t)k * sizeof *dist);
    if (!idx || !dist) {
        free(idx);
        free(dist);
        return kn_fail(err, "umap: out of memory for the neighbours of %zu rows", n);
    }
    /* The neighbour search is the first 30 % of the bar, the epochs the rest. */
    kn_progress_span sp = {progress, progress_ctx, 0.0, 0.3}, epochs_span = {progress, progress_ctx, 0.3, 1.0};
    kn_umap_graph g = {0};
    int rc = kn_knn(x, n, dim, k, idx, dist, opt.seed, kn_progress_span_update, &sp, err);
    if (rc == 0) rc = kn_umap_fuzzy_graph(idx, dist, n, k, &g, err);
    free(idx);
    free(dist);
    if (rc == 0) rc = kn_umap_pca_init(x, n, dim, opt.seed, out, err);
    if (rc == 0) {
        layout L = {.g = &g, .n_epochs = opt.n_epochs, .seed = opt.seed};
        if (L.n_epochs == 0) L.n_epochs = n <= SMALL_N ? EPOCHS_SMALL : EPOCHS_LARGE;
        kn_umap_fit_ab(opt.min_dist, 1.0f, &L.a, &L.b);
        rc = optimise(&L, out, &epochs_span, err);
        free(L.epochs_per_sample);
        free(L.next_sample);
        free(L.next_negative);
    }
    kn_umap_graph_free(&g);
    if (rc == 0) rc = normalise_output(out, n, err);
    return rc;
}
