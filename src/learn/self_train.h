/* self_train.h - learning from the unlabelled backlog by self-training: a trained head
 * (hybrid) labels the backlog, the texts it is confident about (calibrated probability >= a
 * threshold) join the labelled ones at a lower weight, and the head is fitted again
 * (train.c). On Banking77 with 10 texts per topic and the rest of the training file as the
 * backlog, one round at 0.5 raised the hybrid head by about 2 points in a scikit-learn check
 * (78.7 -> 80.8, one draw). */
#ifndef KN_SELF_TRAIN_H
#define KN_SELF_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "learn/logreg.h"
#include "learn/sparse.h"
#include "learn/tfidf.h"
#include "model/encoder.h"
#include "util/error.h"
#include "util/progress.h"

/* The most backlog texts self-training reads (a random part of a larger backlog: the first
 * ones of the backlog's own random sample), and the most it adds (the most confident). */
#define KN_SELF_TRAIN_MAX_BACKLOG 20000
#define KN_SELF_TRAIN_MAX_ROWS 20000

/* The rows of a head's layout: the n-gram block, and for hybrid (enc != NULL) the encoder's
 * vectors beside it at weight w (hybrid.h). */
typedef struct kn_head_layout {
    kn_encoder *enc; /* NULL: the n-grams alone */
    const kn_tfidf *tfidf;
    float w;
} kn_head_layout;

/* The n texts' rows in layout (embedding reports progress, texts done of n). */
int kn_layout_rows(const kn_head_layout *layout, const char *const *texts, const size_t *lens, size_t n, kn_csr *X,
                   kn_progress_fn progress, void *progress_ctx, kn_error *err);

/* Which rows of X the head labels with probability >= threshold, at most max_rows of them
 * (the threshold rises to the max_rows-th highest probability): keep[i] = 1 and label[i] its
 * topic. Returns the number kept, or -1 when out of memory. */
long kn_self_train_pick(const kn_logreg *head, const kn_csr *X, double threshold, size_t max_rows,
                        unsigned char *keep, int32_t *label);

/* dst gets src's rows appended (keep: only those with keep[i] set; NULL: all). Columns must
 * match unless dst is empty. */
int kn_csr_append(kn_csr *dst, const kn_csr *src, const unsigned char *keep, kn_error *err);

#endif
