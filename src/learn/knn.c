/* knn.c - exact k nearest neighbours: squared distances |a|^2 + |b|^2 - 2 a.b with the dot
 * products from one sgemm per block of query rows, then a bounded max-heap per row.
 * n^2 * dim multiply-adds (5,000 x 512: 13 GFLOP, a fraction of a second); beyond
 * KN_KNN_EXACT_MAX rows the quadratic cost loses to NN-descent (knn_descent.c). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "learn/umap_parts.h"

/* A max-heap of (distance, index) candidates: the root is the worst kept neighbour.
 * "Worse" is the larger distance, ties broken by the larger index, so results never
 * depend on the order candidates arrive in. */
typedef struct {
    float d;
    int32_t i;
} knn_cand;

static int cand_worse(knn_cand a, knn_cand b)
{
    return a.d > b.d || (a.d == b.d && a.i > b.i);
}

static void heap_sift_down(knn_cand *h, int size, int at)
{
    for (;;) {
        int l = 2 * at + 1, r = l + 1, top = at;
        if (l < size && cand_worse(h[l], h[top])) top = l;
        if (r < size && cand_worse(h[r], h[top])) top = r;
        if (top == at) return;
        knn_cand t = h[at];
        h[at] = h[top];
        h[top] = t;
        at = top;
    }
}

static void heap_push(knn_cand *h, int *size, int cap, knn_cand c)
{
    if (*size == cap) {
        if (!cand_worse(h[0], c)) return;
        h[0] = c;
        heap_sift_down(h, cap, 0);
        return;
    }
    int at = (*size)++;
    h[at] = c;
    while (at > 0) {
        int up = (at - 1) / 2;
        if (!cand_worse(h[at], h[up])) break;
        knn_cand t = h[at];
        h[at] = h[up];
        h[up] = t;
        at = up;
    }
}

/* Pops the heap into ascending order. */
static void heap_sorted(knn_cand *h, int size, int32_t *idx, float *dist)
{
    for (int s = size; s > 0; s--) {
        idx[s - 1] = h[0].i;
        dist[s - 1] = h[0].d;
        h[0] = h[s - 1];
        heap_sift_down(h, s - 1, 0);
    }
}

int kn_knn_exact(const float *x, size_t n, int dim, int k, int32_t *idx, float *dist,
                 kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    if (k < 1 || (size_t)k >= n) return kn_fail(err, "knn: k = %d needs 1 <= k < n = %zu", k, n);
    /* Query rows per sgemm: keep the block of dot products near 32 MiB. */
    size_t block = (8u << 20) / n;
    if (block < 16) block = 16;
    if (block > 512) block = 512;
    if (block > n) block = n;
    float *sq = malloc(n * sizeof *sq);
    float *dots = malloc(block * n * sizeof *dots);
    if (!sq || !dots) {
        free(sq);
        free(dots);
        return kn_fail(err, "knn: out of memory for %zu rows", n);
    }
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < dim; j++) s += (double)x[i * dim + j] * x[i * dim + j];
        sq[i] = (float)s;
    }
    int oom = 0;
    for (size_t q0 = 0; q0 < n && !oom; q0 += block) {
        size_t rows = n - q0 < block ? n - q0 : block;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, dim, 1.0f, x + q0 * dim, dim, x, dim,
                    0.0f, dots, (int)n);
#pragma omp parallel
        {
            knn_cand *heap = malloc((size_t)k * sizeof *heap);
            if (!heap) {
#pragma omp atomic write
                oom = 1;
            }
#pragma omp for schedule(static)
            for (size_t r = 0; r < rows; r++) {
                if (!heap) continue;
                size_t i = q0 + r;
                const float *dr = dots + r * n;
                int size = 0;
                for (size_t j = 0; j < n; j++) {
                    if (j == i) continue;
                    float d2 = sq[i] + sq[j] - 2.0f * dr[j];
                    knn_cand c = {d2 > 0.0f ? d2 : 0.0f, (int32_t)j};
                    if (size < k || cand_worse(heap[0], c)) heap_push(heap, &size, k, c);
                }
                heap_sorted(heap, size, idx + i * k, dist + i * k);
                for (int j = 0; j < k; j++) dist[i * k + j] = sqrtf(dist[i * k + j]);
            }
            free(heap);
        }
        if (progress) progress(progress_ctx, q0 + rows, n);
    }
    free(sq);
    free(dots);
    return oom ? kn_fail(err, "knn: out of memory") : 0;
}

int kn_knn(const float *x, size_t n, int dim, int k, int32_t *idx, float *dist, uint64_t seed,
           kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    if (n <= KN_KNN_EXACT_MAX) return kn_knn_exact(x, n, dim, k, idx, dist, progress, progress_ctx, err);
    return kn_knn_descent(x, n, dim, k, idx, dist, seed, progress, progress_ctx, err);
}
