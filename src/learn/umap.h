/* umap.h - UMAP: a 2-D map of sentence embeddings for the web UI's bulk labelling.
 *
 * The steps (src/learn/umap*.c, knn.c): the k nearest neighbours of every row (euclidean,
 * which on L2-normalised embeddings orders like cosine), a fuzzy neighbourhood graph (a
 * per-point bandwidth found by binary search, symmetrised by fuzzy union), a PCA start,
 * then stochastic gradient descent on the graph's edges with negative sampling. */
#ifndef KN_UMAP_H
#define KN_UMAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/progress.h"

typedef struct kn_umap_options {
    int n_neighbors; /* default 15 */
    float min_dist;  /* default 0.1 */
    int n_epochs;    /* 0: automatic (200 for large n, 500 for small, like umap-learn) */
    uint64_t seed;   /* default 42; same seed + same input -> same output on the same thread count */
} kn_umap_options;

void kn_umap_default_options(kn_umap_options *o);

/* x: n rows of dim floats (row-major). out: n*2 floats (x0,y0,x1,y1,...), roughly centred, scaled to about [-10,10].
 * progress may be NULL. Returns 0, or -1 with err (n < 2, dim < 1, non-finite input, out of memory).
 * progress reports done of total thousandths of the estimated work (neighbours, then epochs). */
int kn_umap(const float *x, size_t n, int dim, const kn_umap_options *o, float *out,
            kn_progress_fn progress, void *progress_ctx, kn_error *err);

#endif
