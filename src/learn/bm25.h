/* bm25.h - Okapi BM25 over labelled messages, as a classifier.
 *
 * Terms are the lower-cased words of analyze.h (kn_analyze_words with n = 1). With N
 * documents, df(t) documents containing t, |d| the number of terms of d and avgdl their mean:
 *   idf(t)    = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))          (never negative)
 *   score(q,d) = sum over the terms t of q, repeats included, of
 *                idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
 * Terms of q that no document contains add nothing. tools/learn/bm25_reference.py is an
 * independent numpy implementation of exactly this.
 *
 * Two ways to turn scores into a topic:
 *   KN_BM25_NEIGHBOUR  every labelled message is a document; a topic's score is the best
 *                      score of its messages (1-nearest neighbour).
 *   KN_BM25_TOPIC      all messages of a topic form one document; its score is the topic's.
 * Probabilities are softmax(topic scores / T); T is fitted on the labelled messages
 * themselves, each scored with itself left out, minimising the negative log-likelihood.
 * Leaving out is approximate in one way: the text's terms are taken out of its own
 * document's counts and length (neighbour mode: the document is dropped), while N, df and
 * avgdl stay those of the whole index. Texts of a topic with a single text are not used. */
#ifndef KN_BM25_H
#define KN_BM25_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum kn_bm25_mode { KN_BM25_NEIGHBOUR = 0, KN_BM25_TOPIC = 1 } kn_bm25_mode;

typedef struct kn_bm25_options {
    double k1;         /* default 1.5 */
    double b;          /* default 0.75 */
    kn_bm25_mode mode; /* default KN_BM25_NEIGHBOUR */
} kn_bm25_options;

void kn_bm25_default_options(kn_bm25_options *opt);

/* An index of documents. */
typedef struct kn_bm25_index kn_bm25_index;

/* Indexes n texts. group: NULL (text i is document i), or the document of each text in
 * [0, n_docs): the texts of one group are concatenated into one document. */
kn_bm25_index *kn_bm25_index_build(const char *const *texts, const size_t *lens, size_t n, const int32_t *group,
                                   size_t n_docs, double k1, double b, kn_error *err);
size_t kn_bm25_index_docs(const kn_bm25_index *ix);
/* scores[n_docs] for one query. */
void kn_bm25_index_score(const kn_bm25_index *ix, const char *query, size_t len, double *scores);
void kn_bm25_index_free(kn_bm25_index *ix);

/* The classifier: an index over labelled texts plus the fitted temperature. */
typedef struct kn_bm25_classifier {
    kn_bm25_options opt;
    kn_bm25_index *index;
    int32_t *doc_class; /* class of each index document */
    int n_classes;
    double temperature;
} kn_bm25_classifier;

/* Builds the index over the labelled texts (labels in [0, n_classes), every class present)
 * and fits the temperature. */
int kn_bm25_train(kn_bm25_classifier *c, const char *const *texts, const size_t *lens, const int32_t *labels,
                  size_t n, int n_classes, const kn_bm25_options *opt, kn_error *err);
/* The two halves of kn_bm25_train: the index with a given temperature (a saved model is
 * rebuilt this way), and the leave-one-out temperature fit over the same texts. */
int kn_bm25_build(kn_bm25_classifier *c, const char *const *texts, const size_t *lens, const int32_t *labels,
                  size_t n, int n_classes, const kn_bm25_options *opt, double temperature, kn_error *err);
int kn_bm25_fit_temperature(kn_bm25_classifier *c, const char *const *texts, const size_t *lens,
                            const int32_t *labels, size_t n, kn_error *err);
/* proba: n x n_classes. A text sharing no term with any document gets uniform
 * probabilities. */
void kn_bm25_predict_proba(const kn_bm25_classifier *c, const char *const *texts, const size_t *lens, size_t n,
                           float *proba);
/* The per-class scores before the softmax: scores[n_classes]. */
void kn_bm25_class_scores(const kn_bm25_classifier *c, const char *text, size_t len, double *scores);
void kn_bm25_free(kn_bm25_classifier *c);

#endif
