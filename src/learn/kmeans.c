/* kmeans.c - Lloyd's k-means from a k-means++ start (Arthur and Vassilvitskii 2007: each
 * next seed drawn with probability proportional to its squared distance to the nearest seed
 * so far). Distances are accumulated in double; ties go to the lowest cluster index, so a
 * seed gives the same clusters on every machine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/kmeans.h"
#include "util/rng.h"

static double sq_dist(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int d = 0; d < dim; d++) {
        double t = (double)a[d] - (double)b[d];
        s += t * t;
    }
    return s;
}

/* A uniform double in [0, 1). */
static double uniform(uint64_t *state) { return (double)(kn_splitmix64(state) >> 11) * 0x1.0p-53; }

/* k-means++ seeding into centers; nearest[i] ends as point i's squared distance to its
 * nearest seed. */
static void seed_centers(const float *x, size_t n, int dim, int k, uint64_t seed, float *centers, double *nearest)
{
    uint64_t state = seed;
    size_t first = (size_t)(uniform(&state) * (double)n);
    memcpy(centers, x + first * (size_t)dim, (size_t)dim * sizeof *centers);
    for (size_t i = 0; i < n; i++) nearest[i] = sq_dist(x + i * (size_t)dim, centers, dim);
    for (int c = 1; c < k; c++) {
        double total = 0;
        for (size_t i = 0; i < n; i++) total += nearest[i];
        size_t pick = 0;
        if (total > 0) {
            double r = uniform(&state) * total, acc = 0;
            pick = n - 1;
            for (size_t i = 0; i < n; i++) {
                acc += nearest[i];
                if (acc > r && nearest[i] > 0) {
                    pick = i;
                    break;
                }
            }
        } else {
            pick = (size_t)c % n; /* every point sits on a seed: any point will do */
        }
        float *ctr = centers + (size_t)c * (size_t)dim;
        memcpy(ctr, x + pick * (size_t)dim, (size_t)dim * sizeof *ctr);
        for (size_t i = 0; i < n; i++) {
            double d = sq_dist(x + i * (size_t)dim, ctr, dim);
            if (d < nearest[i]) nearest[i] = d;
        }
    }
}

/* Assigns every point to its nearest center; returns how many labels changed. */
static size_t assign(const float *x, size_t n, int dim, int k, const float *centers, int *labels, double *dist)
{
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        double bd = sq_dist(x + i * (size_t)dim, centers, dim);
        for (int c = 1; c < k; c++) {
            double d = sq_dist(x + i * (size_t)dim, centers + (size_t)c * (size_t)dim, dim);
            if (d < bd) {
                bd = d;
                best = c;
            }
        }
        if (labels[i] != best) changed++;
        labels[i] = best;
        dist[i] = bd;
    }
    return changed;
}

/* Moves each center to the mean of its points. An emptied cluster takes the point farthest
 * from its own center (which then leaves its old cluster), so k clusters stay k. */
static int update(const float *x, size_t n, int dim, int k, float *centers, int *labels, double *dist)
{
    double *sum = calloc((size_t)k * (size_t)dim, sizeof *sum);
    size_t *count = calloc((size_t)k, sizeof *count);
    if (!sum || !count) {
        free(sum);
        free(count);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        count[labels[i]]++;
        for (int d = 0; d < dim; d++) sum[(size_t)labels[i] * (size_t)dim + (size_t)d] += x[i * (size_t)dim + (size_t)d];
    }
    for (int c = 0; c < k; c++) {
        float *ctr = centers + (size_t)c * (size_t)dim;
        if (count[c] > 0) {
            for (int d = 0; d < dim; d++) ctr[d] = (float)(sum[(size_t)c * (size_t)dim + (size_t)d] / (double)count[c]);
            continue;
        }
        size_t far = 0;
        for (size_t i = 1; i < n; i++)
            if (dist[i] > dist[far] && count[labels[i]] > 1) far = i;
        count[labels[far]]--;
        labels[far] = c;
        count[c] = 1;
        dist[far] = 0;
        memcpy(ctr, x + far * (size_t)dim, (size_t)dim * sizeof *ctr);
    }
    free(sum);
    free(count);
    return 0;
}

int kn_kmeans(const float *x, size_t n, int dim, int k, int max_iter, uint64_t seed, int *labels, float *centers,
              double *inertia, kn_error *err)
{
    if (dim < 1) return kn_fail(err, "k-means: dimension %d; expected at least 1", dim);
    if (k < 1 || (size_t)k > n) return kn_fail(err, "k-means: %d clusters for %zu points; expected 1 to %zu", k, n, n);
    for (size_t i = 0; i < n * (size_t)dim; i++)
        if (!isfinite(x[i])) return kn_fail(err, "k-means: point %zu has a non-finite coordinate", i / (size_t)dim);
    double *dist = malloc(n * sizeof *dist);
    float *ctr = centers ? centers : malloc((size_t)k * (size_t)dim * sizeof *ctr);
    if (!dist || !ctr) {
        free(dist);
        if (!centers) free(ctr);
        return kn_fail(err, "k-means: out of memory");
    }
    seed_centers(x, n, dim, k, seed, ctr, dist);
    for (size_t i = 0; i < n; i++) labels[i] = -1;
    int rc = 0;
    for (int it = 0; it < max_iter; it++) {
        if (assign(x, n, dim, k, ctr, labels, dist) == 0 && it > 0) break;
        if (update(x, n, dim, k, ctr, labels, dist) != 0) {
            rc = kn_fail(err, "k-means: out of memory");
            break;
        }
    }
    if (rc == 0) {
        assign(x, n, dim, k, ctr, labels, dist);
        if (inertia) {
            double s = 0;
            for (size_t i = 0; i < n; i++) s += dist[i];
            *inertia = s;
        }
    }
    free(dist);
    if (!centers) free(ctr);
    return rc;
}

int kn_map_cluster_count(size_t n)
{
    if (n <= 1) return (int)n;
    int k = (int)lround(sqrt((double)n / 4.0));
    if (k < 2) k = 2;
    if (k > 40) k = 40;
    if ((size_t)k > n) k = (int)n;
    return k;
}
