/* pairs.c - see pairs.h. Randomness is our own splitmix64 stream so a seed gives the same
 * pairs everywhere (rand() differs between libcs). */
#include "learn/pairs.h"

#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

typedef struct {
    uint64_t s;
} rng;

/* Uniform in [0, bound), bound > 0, without modulo bias. */
static size_t below(rng *r, size_t bound)
{
    uint64_t b = bound, limit = -b % b, x;
    do x = kn_splitmix64(&r->s);
    while (x < limit);
    return (size_t)(x % b);
}

static void shuffle(kn_pair *p, size_t n, rng *r)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = below(r, i);
        kn_pair t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
}

static kn_pair *alloc_pairs(size_t count, kn_error *err)
{
    if (count > SIZE_MAX / sizeof(kn_pair)) {
        kn_fail(err, "pairs: %zu pairs do not fit in memory", count);
        return NULL;
    }
    kn_pair *p = malloc(count ? count * sizeof *p : 1);
    if (!p) kn_fail(err, "pairs: out of memory for %zu pairs", count);
    return p;
}

/* All unique pairs, positives first (n_pos of them) then negatives (n_neg). */
static kn_pair *unique_pairs(const int32_t *y, size_t n, size_t *n_pos, size_t *n_neg, kn_error *err)
{
    size_t pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) y[i] == y[j] ? pos++ : neg++;
    kn_pair *p = alloc_pairs(pos + neg, err);
    if (!p) return NULL;
    size_t ip = 0, in = pos;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int same = y[i] == y[j];
            p[same ? ip++ : in++] = (kn_pair){(int32_t)i, (int32_t)j, same ? 1.0f : 0.0f};
        }
    *n_pos = pos;
    *n_neg = neg;
    return p;
}

/* Over/undersampling: `len` positives and `len` negatives drawn from the unique sets, then
 * capped. Each side is shuffled before any cut so a cut is a random subset. */
static int balanced(const int32_t *y, size_t n, int over, size_t max_pairs, rng *r, kn_pair **out, size_t *n_out,
                    kn_error *err)
{
    size_t n_pos, n_neg;
    kn_pair *u = unique_pairs(y, n, &n_pos, &n_neg, err);
    if (!u) return -1;
    if (n_pos == 0) {
        free(u);
        return kn_fail(err, "pairs: no positive pairs (every class has a single example); use unique or iterations");
    }
    size_t len = over ? (n_pos > n_neg ? n_pos : n_neg) : (n_pos < n_neg ? n_pos : n_neg);
    size_t want_pos = len, want_neg = len;
    if (max_pairs && max_pairs < 2 * len) {
        want_neg = max_pairs / 2;
        want_pos = max_pairs - want_neg;
    }
    kn_pair *p = alloc_pairs(want_pos + want_neg, err);
    if (!p) {
        free(u);
        return -1;
    }
    /* A side is emitted as whole shuffled passes over its unique set until it has `want`. */
    kn_pair *sides[2] = {u, u + n_pos};
    size_t sizes[2] = {n_pos, n_neg}, wants[2] = {want_pos, want_neg}, k = 0;
    for (int s = 0; s < 2; s++)
        for (size_t done = 0; done < wants[s];) {
            shuffle(sides[s], sizes[s], r);
            size_t take = wants[s] - done < sizes[s] ? wants[s] - done : sizes[s];
            memcpy(p + k, sides[s], take * sizeof *p);
            k += take;
            done += take;
        }
    free(u);
    shuffle(p, k, r);
    *out = p;
    *n_out = k;
    return 0;
}

static int cmp_by_label(const void *a, const void *b)
{
    const int64_t *x = a, *z = b; /* (label << 32 | index): sorts by label, then index */
    return (*x > *z) - (*x < *z);
}

/* SetFit < 1.0. Sentences are sorted by class so a partner is drawn in O(1): a same-class
 * partner from the class's run minus the sentence itself, another-class one from outside it. */
static int iterations(const int32_t *y, size_t n, int num_iterations, size_t max_pairs, rng *r, kn_pair **out,
                      size_t *n_out, kn_error *err)
{
    if (num_iterations < 1) return kn_fail(err, "pairs: num_iterations must be at least 1 (got %d)", num_iterations);
    int64_t *key = malloc(n * sizeof *key);
    size_t *lo = malloc(n * sizeof *lo), *hi = malloc(n * sizeof *hi), *rank = malloc(n * sizeof *rank);
    if (!key || !lo || !hi || !rank) {
        free(key), free(lo), free(hi), free(rank);
        return kn_fail(err, "pairs: out of memory for %zu labels", n);
    }
    for (size_t i = 0; i < n; i++) key[i] = (int64_t)((uint64_t)(int64_t)y[i] << 32 | (uint32_t)i);
    qsort(key, n, sizeof *key, cmp_by_label); /* keys are distinct: a deterministic order */
    for (size_t a = 0; a < n;) { /* class runs [a, b) in sorted order */
        size_t b = a;
        while (b < n && y[(uint32_t)key[b]] == y[(uint32_t)key[a]]) b++;
        for (size_t k = a; k < b; k++) {
            size_t i = (uint32_t)key[k];
            lo[i] = a, hi[i] = b, rank[i] = k;
        }
        a = b;
    }
    size_t per_iter = 0;
    for (size_t i = 0; i < n; i++) per_iter += (hi[i] - lo[i] > 1) + 1;
    size_t count = per_iter * (size_t)num_iterations; /* n < 2^31, so no overflow before alloc_pairs checks */
    kn_pair *p = alloc_pairs(count, err);
    if (!p) {
        free(key), free(lo), free(hi), free(rank);
        return -1;
    }
    size_t k = 0;
    for (int it = 0; it < num_iterations; it++)
        for (size_t i = 0; i < n; i++) {
            size_t size = hi[i] - lo[i];
            if (size > 1) {
                size_t j = lo[i] + below(r, size - 1);
                if (j >= rank[i]) j++; /* skip the sentence itself */
                p[k++] = (kn_pair){(int32_t)i, (int32_t)(uint32_t)key[j], 1.0f};
            }
            size_t j = below(r, n - size);
            if (j >= lo[i]) j += size; /* skip the sentence's class */
            p[k++] = (kn_pair){(int32_t)i, (int32_t)(uint32_t)key[j], 0.0f};
        }
    free(key), free(lo), free(hi), free(rank);
    shuffle(p, k, r);
    if (max_pairs && max_pairs < k) k = max_pairs;
    *out = p;
    *n_out = k;
    return 0;
}

int kn_make_pairs(const int32_t *labels, size_t n, kn_pair_strategy s, int num_iterations, size_t max_pairs,
                  uint64_t seed, kn_pair **pairs, size_t *n_pairs, kn_error *err)
{
    *pairs = NULL;
    *n_pairs = 0;
    if (n < 2) return kn_fail(err, "pairs: need at least 2 examples (got %zu)", n);
    if (n > INT32_MAX) return kn_fail(err, "pairs: %zu examples exceed the int32 pair indices", n);
    size_t other = 1;
    while (other < n && labels[other] == labels[0]) other++;
    if (other == n) return kn_fail(err, "pairs: need at least two classes (all %zu examples are class %d)", n, labels[0]);
    rng r = {seed};
    switch (s) {
    case KN_PAIRS_OVERSAMPLING:
    case KN_PAIRS_UNDERSAMPLING:
        return balanced(labels, n, s == KN_PAIRS_OVERSAMPLING, max_pairs, &r, pairs, n_pairs, err);
    case KN_PAIRS_ITERATIONS:
        return iterations(labels, n, num_iterations, max_pairs, &r, pairs, n_pairs, err);
    case KN_PAIRS_UNIQUE: {
        size_t n_pos, n_neg;
        kn_pair *p = unique_pairs(labels, n, &n_pos, &n_neg, err);
        if (!p) return -1;
        shuffle(p, n_pos + n_neg, &r);
        *pairs = p;
        *n_pairs = max_pairs && max_pairs < n_pos + n_neg ? max_pairs : n_pos + n_neg;
        return 0;
    }
    }
    return kn_fail(err, "pairs: unknown strategy %d", (int)s);
}
