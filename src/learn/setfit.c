/* setfit.c - the contrastive fine-tuning loop: pairs -> forward both sides -> cosine loss
 * -> backward -> AdamW, for max_steps batches; then the tuned weights are written as a
 * model directory the ordinary encoder loads. */
#include "learn/setfit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn/adamw.h"
#include "model/backward.h"
#include "model/safetensors.h"
#include "model/use_lite_train.h"
#include "util/fs.h"
#include "util/spawn.h"

#define MAX_PARAMS 64

void kn_setfit_default_options(kn_setfit_options *o)
{
    o->strategy = KN_PAIRS_OVERSAMPLING;
    o->num_iterations = 20;
    o->max_steps = 500;
    o->batch_pairs = 16;
    o->lr = 1e-4;
    o->weight_decay = 0.01;
    o->warmup_ratio = 0.1;
    o->seed = 42;
}

/* The base model's tensors, with the trainable ones replaced by their tuned values. */
static int write_tuned(const char *model_dir, kn_use_train *t, const char *out_dir, kn_error *err)
{
    char path[4200];
    const char *names[MAX_PARAMS];
    float *values[MAX_PARAMS], *grads[MAX_PARAMS];
    size_t sizes[MAX_PARAMS];
    size_t np = kn_use_train_params(t, names, values, grads, sizes, MAX_PARAMS);
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    kn_safetensors *st = kn_st_open(path, err);
    if (!st) return -1;
    size_t n = kn_st_count(st);
    kn_tensor *out = calloc(n, sizeof *out);
    if (!out) { kn_st_close(st); return kn_fail(err, "out of memory"); }
    for (size_t i = 0; i < n; i++) {
        out[i] = *kn_st_at(st, i);
        for (size_t p = 0; p < np; p++)
            if (strcmp(names[p], out[i].name) == 0 && sizes[p] * sizeof(float) == out[i].nbytes) out[i].data = values[p];
    }
    int rc = kn_mkdir_p(out_dir, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
        const char *meta[] = {"format", "pt", "kanava_family", "use-lite", "kanava_tuned", "setfit", NULL};
        rc = kn_st_write(path, out, n, meta, err);
    }
    free(out);
    kn_st_close(st);
    const char *files[] = {"config.json", "vocab.json"};
    for (int f = 0; rc == 0 && f < 2; f++) {
        char from[4200];
        snprintf(from, sizeof from, "%s/%s", model_dir, files[f]);
        const char *cp_argv[] = {"cp", "-L", from, out_dir, NULL};
        rc = kn_run(cp_argv, NULL, err);
    }
    return rc;
}

int kn_setfit_tune_use_lite(const char *model_dir, const char *const *texts, const size_t *lens, const int32_t *labels,
                            size_t n, const kn_setfit_options *opt, const char *out_dir, kn_progress_fn progress,
                            void *progress_ctx, double *final_loss, kn_error *err)
{
    kn_use_train *t = kn_use_train_new(model_dir, err);
    if (!t) return -1;
    int rc = 0, D = kn_use_train_dim(t), B = opt->batch_pairs > 0 ? opt->batch_pairs : 16;
    kn_token_seq *tok = calloc(n, sizeof *tok), *batch = calloc(2 * (size_t)B, sizeof *batch);
    float *out = malloc(2 * (size_t)B * D * sizeof *out), *dout = malloc(2 * (size_t)B * D * sizeof *dout);
    float *label = malloc((size_t)B * sizeof *label);
    kn_pair *pairs = NULL;
    size_t n_pairs = 0;
    kn_adamw *adam = NULL;
    if (!tok || !batch || !out || !dout || !label) rc = kn_fail(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = kn_use_train_tokenize(t, texts[i], lens[i], &tok[i], err);
        if (rc != 0) {
            char inner[sizeof err->msg];
            memcpy(inner, err->msg, sizeof inner);
            kn_fail(err, "text %zu: %s", i + 1, inner);
        }
    }
    size_t max_pairs = opt->max_steps > 0 ? (size_t)opt->max_steps * B : 0;
    if (rc == 0) rc = kn_make_pairs(labels, n, opt->strategy, opt->num_iterations, max_pairs, opt->seed, &pairs, &n_pairs, err);
    long steps = rc == 0 ? (long)((n_pairs + B - 1) / B) : 0;
    if (rc == 0) {
        adam = kn_adamw_new(opt->lr, 0.9, 0.999, 1e-6, opt->weight_decay, (long)(opt->warmup_ratio * steps), steps);
        if (!adam) rc = kn_fail(err, "bad optimizer settings");
    }
    if (rc == 0) {
        const char *names[MAX_PARAMS];
        float *values[MAX_PARAMS], *grads[MAX_PARAMS];
        size_t sizes[MAX_PARAMS];
        size_t np = kn_use_train_params(t, names, values, grads, sizes, MAX_PARAMS);
        for (size_t p = 0; rc == 0 && p < np; p++) {
            int shape[2] = {0, 0};
            int ndim = kn_use_train_param_shape(t, p, shape);
            rc = kn_adamw_add_param(adam, values[p], grads[p], sizes[p], ndim == 2, err); /* no decay: biases, norms */
        }
    }
    double loss = 0;
    for (long s = 0; rc == 0 && s < steps; s++) {
        size_t first = (size_t)s * B, m = n_pairs - first < (size_t)B ? n_pairs - first : (size_t)B;
        for (size_t k = 0; k < m; k++) {
            batch[k] = tok[pairs[first + k].a];
            batch[m + k] = tok[pairs[first + k].b];
            label[k] = pairs[first + k].label;
        }
        kn_use_train_zero_grad(t);
        rc = kn_use_train_forward(t, batch, 2 * m, out, err);
        if (rc != 0) break;
        loss = kn_cosine_loss_backward(dout, dout + m * D, out, out + m * D, label, (int)m, D);
        rc = kn_use_train_backward(t, dout, err);
        if (rc != 0) break;
        kn_adamw_step(adam);
        if (progress) progress(progress_ctx, (size_t)s + 1, (size_t)steps);
    }
    if (final_loss) *final_loss = loss;
    if (rc == 0) rc = write_tuned(model_dir, t, out_dir, err);
    for (size_t i = 0; tok && i < n; i++) free(tok[i].ids);
    free(tok);
    free(batch);
    free(out);
    free(dout);
    free(label);
    free(pairs);
    kn_adamw_free(adam);
    kn_use_train_free(t);
    return rc;
}
