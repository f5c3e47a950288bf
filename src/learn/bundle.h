/* bundle.h - a trained classifier: how it was trained (the method), what it needs to
 * predict, and its topic names, in memory and as one directory.
 *
 * Methods:
 *   frozen  the encoder as it is + a logistic-regression head on its embeddings
 *   setfit  the encoder fine-tuned contrastively on pairs (setfit.h) + the head
 *   tfidf   TF-IDF word and character n-grams (tfidf.h) + the head on the sparse features
 *   bm25    Okapi BM25 over the labelled messages (bm25.h)
 *   hybrid  the encoder's vectors (as they are, or SetFit-tuned) and TF-IDF n-grams in one
 *           head (hybrid.h)
 * Every method gives calibrated probabilities over the topics.
 *
 * On disk (bundle.json names the method and the files):
 *   <dir>/bundle.json        format, version, method, topics, head temperature, training metadata
 *   <dir>/head.safetensors   head.weight [topics, dim], head.bias [topics]  (all but bm25; hybrid's
 *                            dim is the encoder's plus the TF-IDF features)
 *   <dir>/encoder/           a complete model directory                  (frozen, setfit, hybrid;
 *                            a tuned one is beside its base, concat_encoder.h)
 *   <dir>/tfidf.json         vocabularies and idf                        (tfidf, hybrid)
 *   <dir>/bm25.json          parameters, temperature, the labelled texts (bm25)
 */
#ifndef KN_BUNDLE_H
#define KN_BUNDLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "learn/bm25.h"
#include "learn/hybrid.h"
#include "learn/logreg.h"
#include "learn/setfit.h"
#include "learn/tfidf.h"
#include "model/encoder.h"
#include "util/error.h"

typedef enum kn_method { KN_METHOD_FROZEN, KN_METHOD_SETFIT, KN_METHOD_TFIDF, KN_METHOD_BM25, KN_METHOD_HYBRID, KN_METHODS } kn_method;

const char *kn_method_name(kn_method m);
/* 0 and *m on success, -1 for an unknown name. */
int kn_method_parse(const char *name, kn_method *m);
/* Whether the method embeds with a sentence encoder. */
int kn_method_uses_encoder(kn_method m);

typedef struct kn_bundle {
    kn_method method;
    char **classes;
    int n_classes;
    kn_encoder *encoder;   /* frozen, setfit, hybrid */
    char *encoder_dir;     /* its files (copied into a saved bundle) */
    int owns_encoder_dir;  /* a temporary fine-tuned encoder: removed by kn_bundle_close */
    kn_logreg head;        /* every method but bm25 */
    kn_tfidf *tfidf;       /* tfidf, hybrid */
    float hybrid_weight;   /* hybrid: the embedding block's weight (hybrid.h) */
    kn_bm25_classifier bm25;
    char **texts;          /* bm25: the labelled texts it indexes, saved with it */
    int32_t *labels;
    size_t n_texts;
    json_t *meta;          /* training metadata ("training" in bundle.json); may be NULL */
} kn_bundle;

typedef struct kn_train_options {
    kn_method method;
    const char *encoder_dir;   /* frozen, setfit: the base model directory */
    kn_logreg_options head;    /* C <= 0 picks the method's default: 100 on embeddings, 10 on TF-IDF
                                * and hybrid */
    int calibration_folds;     /* temperature scaling of the head (default 5) */
    uint64_t seed;             /* calibration folds and SetFit pairs (default 42) */
    kn_setfit_options setfit;
    kn_tfidf_options tfidf;
    kn_bm25_options bm25;
    const char *scratch_dir;   /* setfit: where the tuned encoder is staged (default $TMPDIR or /tmp) */
    int show_progress;         /* progress bars on stderr (they only draw on a terminal) */
    kn_progress_fn progress;   /* instead of the bars (a server's job): frozen and setfit report
                                * fine-tuning and embedding as one done/total */
    void *progress_ctx;
    int quantize;              /* frozen, setfit: int8 encoder (model/quantize.h); the head is fitted
                                * on the quantised encoder's embeddings */
    int hybrid_tune;           /* hybrid: fine-tune the encoder with SetFit first (o->setfit) */
    double hybrid_grid[KN_HYBRID_GRID_MAX]; /* hybrid: dense weights to choose from on held-out rows */
    int hybrid_n_grid;         /* (default KN_HYBRID_GRID_DEFAULT; one value fixes the weight) */
    const char *const *unlabelled; /* tfidf, hybrid: a backlog of unlabelled texts (backlog.h); */
    const size_t *unlabelled_lens; /* their idf counts it beside the labelled texts' */
    size_t n_unlabelled;
    double self_train_threshold;   /* hybrid with a backlog: pseudo-label the backlog texts the
                                    * head is this sure of (0: off; default 0.5, self_train.h) */
    double pseudo_weight;          /* their weight in the refit (default 0.5) */
    int auto_select;           /* `--method auto`: method is ignored; the best of tfidf, frozen,
                                * hybrid and (within the budget) hybrid on a tuned encoder, by
                                * held-out accuracy (auto_select.c) */
    double budget_seconds;     /* auto: the whole training's time budget (default 180) */
    double base_weight;        /* setfit: > 0 keeps the untuned base beside the tuned encoder, its
                                * vectors scaled by this (model/concat_encoder.h; default 0.5) */
} kn_train_options;

void kn_train_default_options(kn_train_options *o);

/* Trains a classifier on n labelled texts (labels in [0, n_classes), every class present).
 * The result is in memory; kn_bundle_save writes it. meta gets the method's settings and
 * what training measured (held-out NLL before / after calibration, seconds, ...). */
kn_bundle *kn_bundle_train(const kn_train_options *o, const char *const *texts, const size_t *lens,
                           const int32_t *labels, size_t n, char *const *classes, int n_classes, kn_error *err);

/* The n-gram options training uses for these labelled texts: o->tfidf with lemmatize
 * KN_LEMMA_AUTO resolved (Finnish base forms when at least half the texts read as Finnish
 * and the dictionary is installed). */
kn_tfidf_options kn_train_tfidf_options(const kn_train_options *o, const char *const *texts, const size_t *lens,
                                        size_t n);

/* kn_bundle_train with o->auto_select: the bundle of the chosen method, its metadata's
 * "auto" naming every candidate's held-out score (or why it was skipped). */
kn_bundle *kn_bundle_train_auto(const kn_train_options *o, const char *const *texts, const size_t *lens,
                                const int32_t *labels, size_t n, char *const *classes, int n_classes, kn_error *err);

/* Replaces the bundle's encoder by its int8 form (staged in scratch_dir, NULL: $TMPDIR or
 * /tmp, and owned by the bundle) and records "quantized": "int8" in its metadata. The head
 * is kept. Fails for methods without an encoder and for an already quantised encoder. */
int kn_bundle_quantize_encoder(kn_bundle *b, const char *scratch_dir, kn_error *err);

/* Writes the bundle to dir (staged beside it and renamed into place; an existing bundle at
 * dir is replaced only once the new one is complete). extra_meta, if given, is merged into
 * the training metadata. */
int kn_bundle_save(const kn_bundle *b, const char *dir, json_t *extra_meta, kn_error *err);
kn_bundle *kn_bundle_open(const char *dir, kn_error *err);
/* proba: n x n_classes. */
int kn_bundle_predict(kn_bundle *b, const char *const *texts, const size_t *lens, size_t n, float *proba,
                      kn_progress_fn progress, void *progress_ctx, kn_error *err);
void kn_bundle_close(kn_bundle *b);

#endif
