/* pairs.h - SetFit's contrastive pairs for CosineSimilarityLoss: (a, b, 1.0) when a and b
 * share a class, (a, b, 0.0) otherwise. Seedable and deterministic on every platform. */
#ifndef KN_PAIRS_H
#define KN_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum {
    KN_PAIRS_OVERSAMPLING,  /* every unique pair; the smaller side repeated to the larger's size */
    KN_PAIRS_UNDERSAMPLING, /* the larger side randomly cut to the smaller's size */
    KN_PAIRS_UNIQUE,        /* every unique pair once, unbalanced */
    KN_PAIRS_ITERATIONS     /* SetFit < 1.0: per iteration, per sentence, one random positive and one negative */
} kn_pair_strategy;

typedef struct {
    int32_t a, b; /* indices into labels */
    float label;  /* 1 same class, 0 different */
} kn_pair;

/* Unique pairs are unordered (a < b) and never pair an example with itself, so a class with
 * one example has no positive pairs. Oversampling repeats the smaller side in whole shuffled
 * passes (each unique pair appears at least once) and takes the larger side once.
 * ITERATIONS gives per iteration and sentence i the pairs (i, random same-class j != i, 1) and
 * (i, random other-class j, 0): 2 * n * num_iterations pairs, less one per iteration for each
 * single-example class (it has no partner). num_iterations is read only by ITERATIONS (>= 1).
 * max_pairs > 0 caps the result; for over/undersampling the cap keeps the two sides
 * balanced (max_pairs / 2 each, the odd one positive). The list is shuffled by seed.
 * On success *pairs is malloc'd (caller frees) with *n_pairs entries. Errors: n < 2, fewer
 * than two classes, no positive pair at all under over/undersampling, out of memory. */
int kn_make_pairs(const int32_t *labels, size_t n, kn_pair_strategy s, int num_iterations, size_t max_pairs,
                  uint64_t seed, kn_pair **pairs, size_t *n_pairs, kn_error *err);

#endif
