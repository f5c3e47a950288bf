/* setfit.h - SetFit's first stage: contrastive fine-tuning of the sentence encoder on
 * pairs of labelled messages (same topic: cosine 1, different topics: cosine 0). */
#ifndef KN_SETFIT_H
#define KN_SETFIT_H

#include <stddef.h>
#include <stdint.h>

#include "learn/pairs.h"
#include "model/encoder.h"
#include "util/error.h"

typedef struct kn_setfit_options {
    kn_pair_strategy strategy; /* default oversampling */
    int num_iterations;        /* for KN_PAIRS_ITERATIONS */
    long max_steps;            /* optimizer steps (batches of pairs); bounds training time */
    int batch_pairs;           /* pairs per step (default 16) */
    double lr, weight_decay, warmup_ratio;
    uint64_t seed;
} kn_setfit_options;

void kn_setfit_default_options(kn_setfit_options *o);

/* Fine-tunes the USE-lite model in model_dir on the labelled texts with the
 * CosineSimilarityLoss and AdamW, and writes the tuned model directory to out_dir
 * (config.json and vocab.json copied, model.safetensors with the tuned weights). */
int kn_setfit_tune_use_lite(const char *model_dir, const char *const *texts, const size_t *lens, const int32_t *labels,
                            size_t n, const kn_setfit_options *opt, const char *out_dir, kn_progress_fn progress,
                            void *progress_ctx, double *final_loss, kn_error *err);

#endif
