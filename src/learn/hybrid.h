/* hybrid.h - the hybrid method's features: a sentence encoder's vector and TF-IDF n-grams
 * (tfidf.h) side by side in one sparse row, for one logistic-regression head. The encoder
 * sees meaning, the n-grams see the exact words (card names, "PIN", Finnish stems the
 * encoder never learnt); on Banking77 with 10 texts per topic either alone scores about
 * 74 %, the two in one head about 80 %.
 *
 * A row is [w * embedding / |embedding|, tfidf]: the embedding at unit length (an encoder
 * without a Normalize module, or a concat of two, gives other lengths) times the dense
 * weight w, then the TF-IDF block (unit length per n-gram block).
 * With one L2 penalty on the head, w sets how strongly each block is regularised
 * against the other; it is chosen on held-out rows (kn_hybrid_choose_weight). */
#ifndef KN_HYBRID_H
#define KN_HYBRID_H

#include <stddef.h>
#include <stdint.h>

#include "learn/logreg.h"
#include "learn/sparse.h"
#include "util/error.h"

/* Dense weights tried by default, and the most a caller may pass. */
#define KN_HYBRID_GRID_DEFAULT {0.7, 1.0, 1.4, 2.0}
#define KN_HYBRID_GRID_MAX 16

/* out = [w * emb[i] / |emb[i]|, S[i]] (a zero embedding stays zero) for each of S->n_rows rows; emb is n_rows x dim. Columns ascend
 * within each row. out->n_cols = dim + S->n_cols. */
int kn_hybrid_join(const float *emb, int dim, float w, const kn_csr *S, kn_csr *out, kn_error *err);

/* What one dense weight scored on the held-out rows. */
typedef struct kn_hybrid_score {
    double weight;
    double nll;         /* mean NLL at the temperature fitted to these logits */
    double nll_before;  /* at T = 1 */
    double accuracy;    /* share of held-out rows whose most probable topic is right */
    float temperature;
    size_t rows;        /* held-out rows scored */
} kn_hybrid_score;

/* One weight's score: held-out logits of the joined rows (kn_logreg_heldout_logits_sparse
 * with part / parts: the rows with 0 <= part[i] < parts are scored), a temperature fitted to
 * them and their NLL and accuracy. dim may be 0 (emb NULL): the TF-IDF block alone. */
int kn_hybrid_heldout_score(const float *emb, int dim, double w, const kn_csr *S, const int32_t *y, int n_classes,
                            const kn_logreg_options *opt, const int *part, int parts, kn_hybrid_score *score,
                            kn_error *err);

/* kn_hybrid_heldout_score for each weight of grid; *best is the grid index with the lowest
 * NLL (the first on ties). scores has n_grid entries. */
int kn_hybrid_choose_weight(const float *emb, int dim, const kn_csr *S, const int32_t *y, int n_classes,
                            const kn_logreg_options *opt, const int *part, int parts, const double *grid, int n_grid,
                            kn_hybrid_score *scores, int *best, kn_error *err);

#endif
