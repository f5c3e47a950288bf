/* setfit.h - SetFit's first stage: contrastive fine-tuning of the sentence encoder on
 * labelled messages, through the kn_trainable interface (any family with a backward).
 *
 * Two objectives:
 *   cosine  SetFit's CosineSimilarityLoss on pairs (same topic: cosine 1, different: 0),
 *           pairs drawn by a kn_pair_strategy; a step is batch_pairs pairs (2x texts).
 *   supcon  the in-batch supervised contrastive loss (supcon.h): a step is batch_texts
 *           texts, per_topic of each of batch_texts / per_topic topics, so every text has
 *           positives and all others are its negatives: B (B - 1) pairs from B forwards. */
#ifndef KN_SETFIT_H
#define KN_SETFIT_H

#include <stddef.h>
#include <stdint.h>

#include "learn/pairs.h"
#include "model/encoder.h"
#include "util/error.h"

typedef enum { KN_SETFIT_SUPCON, KN_SETFIT_COSINE } kn_setfit_loss;

typedef struct kn_setfit_options {
    kn_setfit_loss loss;       /* default supcon */
    kn_pair_strategy strategy; /* cosine: default oversampling */
    int num_iterations;        /* cosine: for KN_PAIRS_ITERATIONS */
    long max_steps;            /* optimizer steps; bounds training time */
    int batch_pairs;           /* cosine: pairs per step (default 16) */
    int batch_texts;           /* supcon: texts per step (default 32) */
    int per_topic;             /* supcon: texts of one topic in a step (default 2) */
    double tau;                /* supcon: temperature (default 0.05) */
    double token_drop;         /* supcon: share of each text's inner tokens dropped at random in
                                * each step, a cheap augmentation; < 0 (default): 0.2 when the
                                * steps see each text 4 times or more, else none (on 10,003
                                * Banking77 texts, seen 1.6 times, it cost 0.5 points) */
    int freeze;                /* tensors below this depth stay fixed: 1 the embeddings, 1 + k also
                                * the lowest k layers (default 0: everything trains) */
    double lr, weight_decay, warmup_ratio;
    uint64_t seed;
} kn_setfit_options;

void kn_setfit_default_options(kn_setfit_options *o);
const char *kn_setfit_loss_name(kn_setfit_loss l);
/* 0 and *l on success, -1 for an unknown name ("supcon", "cosine"). */
int kn_setfit_loss_parse(const char *name, kn_setfit_loss *l);

/* Fine-tunes the float model in model_dir on the labelled texts and writes the tuned model
 * directory (same family, loadable by kn_encoder_open) to out_dir. */
int kn_setfit_tune(const char *model_dir, const char *const *texts, const size_t *lens, const int32_t *labels,
                   size_t n, const kn_setfit_options *opt, const char *out_dir, kn_progress_fn progress,
                   void *progress_ctx, double *final_loss, kn_error *err);

#endif
