/* tfidf.h - TF-IDF features with scikit-learn's TfidfVectorizer semantics, in up to two
 * blocks: word n-grams and character n-grams within word boundaries (analyze.h). Each block
 * is like its own TfidfVectorizer(lowercase=True, norm='l2', use_idf=True, smooth_idf=True,
 * min_df=1): tf = term count (or 1 + ln(count) with sublinear_tf),
 *   idf(t) = ln((1 + n) / (1 + df(t))) + 1,
 * and each row of a block scaled to unit L2 norm; the feature vector is the word block
 * followed by the char block (sklearn's FeatureUnion / scipy hstack of the two). Terms never
 * seen in training are ignored. tools/learn/tfidf_reference.py builds the same thing with
 * scikit-learn.
 *
 * The default is the char block alone: adding word 1-2-grams did not help on held-out
 * Banking77 (72.1 vs 72.2 % at 10 per topic) and hurt SIB-200 (40.5 vs 42.7 % on dev,
 * Finnish and English, 10 and 20 per topic), where inflected Finnish words rarely repeat
 * whole. */
#ifndef KN_TFIDF_H
#define KN_TFIDF_H

#include <stddef.h>
#include <stdint.h>

#include "learn/sparse.h"
#include "util/error.h"

enum { KN_TFIDF_WORD = 0, KN_TFIDF_CHAR = 1, KN_TFIDF_BLOCKS = 2 };

typedef struct kn_tfidf_options {
    int word_min_n, word_max_n; /* default 0, 0 (off); e.g. 1, 2 for words and word pairs */
    int char_min_n, char_max_n; /* default 2, 5; 0, 0 turns the char block off */
    int sublinear_tf;           /* default 0 */
    int lemmatize;              /* KN_LEMMA_NONE (default) or KN_LEMMA_FI: the texts' words as their
                                 * Finnish base forms first (text/lemmatize.h); training's
                                 * KN_LEMMA_AUTO picks FI for mostly Finnish texts (train.c) */
} kn_tfidf_options;

enum { KN_LEMMA_AUTO = -1, KN_LEMMA_NONE = 0, KN_LEMMA_FI = 1 };

void kn_tfidf_default_options(kn_tfidf_options *opt);

typedef struct kn_tfidf kn_tfidf;

/* Learns the vocabulary and idf of each enabled block from n texts. */
kn_tfidf *kn_tfidf_fit(const char *const *texts, const size_t *lens, size_t n, const kn_tfidf_options *opt,
                       kn_error *err);
/* The same with the idf counted over the n texts and n_extra more (an unlabelled backlog):
 * the vocabulary is still the n texts' terms, and idf(t) = ln((1 + n + n_extra) /
 * (1 + df(t))) + 1 with df over all of them (scikit-learn's TfidfVectorizer fitted on all
 * texts with its vocabulary fixed to the n texts' terms). */
kn_tfidf *kn_tfidf_fit_idf_corpus(const char *const *texts, const size_t *lens, size_t n, const char *const *extra,
                                  const size_t *extra_lens, size_t n_extra, const kn_tfidf_options *opt, kn_error *err);
/* Features of n texts: n x kn_tfidf_dim, columns ascending within each row. */
int kn_tfidf_transform(const kn_tfidf *t, const char *const *texts, const size_t *lens, size_t n, kn_csr *out,
                       kn_error *err);
int kn_tfidf_dim(const kn_tfidf *t);
const kn_tfidf_options *kn_tfidf_get_options(const kn_tfidf *t);
/* The column of term in block, or -1 when the term is not in the vocabulary. */
int kn_tfidf_lookup(const kn_tfidf *t, int block, const char *term, size_t len);
/* idf of a column. */
double kn_tfidf_idf(const kn_tfidf *t, int column);

/* Saves to / loads from dir/tfidf.json: the options, and per block the terms in column order
 * with their idf. */
int kn_tfidf_save(const kn_tfidf *t, const char *dir, kn_error *err);
kn_tfidf *kn_tfidf_load(const char *dir, kn_error *err);
void kn_tfidf_free(kn_tfidf *t);

#endif
