/* kmeans.h - k-means clustering (Lloyd's iterations from a k-means++ start), used to cut the
 * 2-D message map into clusters the UI can label as a whole. Deterministic for a seed. */
#ifndef KN_KMEANS_H
#define KN_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Clusters n points of dim floats (x: n x dim, row-major) into k groups. labels gets each
 * point's cluster in [0, k); centers (k x dim) and inertia (sum of squared distances to the
 * assigned center) are optional. Stops when no label changes or after max_iter rounds.
 * Fails for k < 1, k > n, dim < 1, or a non-finite coordinate (naming the point). */
int kn_kmeans(const float *x, size_t n, int dim, int k, int max_iter, uint64_t seed, int *labels, float *centers,
              double *inertia, kn_error *err);

/* The number of clusters of a map of n points: sqrt(n / 4) rounded, within [2, 40] and at
 * most n (1 for a single point). */
int kn_map_cluster_count(size_t n);

#endif
