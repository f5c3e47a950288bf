/* use_lite_trainable.c - USE-lite's training context (use_lite_train.h) behind the
 * kn_trainable interface; save writes the base model's tensors with the trainable ones
 * replaced by their current values, plus its config and vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "model/trainable.h"
#include "model/use_lite_train.h"
#include "util/fs.h"
#include "util/spawn.h"

typedef struct {
    kn_trainable base;
    kn_use_train *t;
    char *model_dir;
} use_trainable;

static kn_use_train *inner(kn_trainable *t) { return ((use_trainable *)t)->t; }

static int tokenize(kn_trainable *t, const char *text, size_t len, kn_token_seq *out, kn_error *err)
{
    return kn_use_train_tokenize(inner(t), text, len, out, err);
}

static int forward(kn_trainable *t, const kn_token_seq *seqs, size_t n, float *out, kn_error *err)
{
    return kn_use_train_forward(inner(t), seqs, n, out, err);
}

static int backward(kn_trainable *t, const float *dout, kn_error *err) { return kn_use_train_backward(inner(t), dout, err); }

static void zero_grad(kn_trainable *t) { kn_use_train_zero_grad(inner(t)); }

static size_t params(kn_trainable *t, kn_trainable_param *out, size_t cap)
{
    size_t np = kn_use_train_param_count(inner(t));
    for (size_t i = 0; i < np && i < cap; i++) {
        kn_trainable_param *p = &out[i];
        p->ndim = kn_use_train_param(inner(t), i, &p->name, &p->value, &p->grad, &p->size);
        /* "embed.weight", "l<N>.*", then the projection */
        p->depth = strncmp(p->name, "embed.", 6) == 0 ? 0 : p->name[0] == 'l' ? 1 + atoi(p->name + 1) : 1 << 20;
    }
    return np;
}

static int save(kn_trainable *tr, const char *out_dir, kn_error *err)
{
    use_trainable *u = (use_trainable *)tr;
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", u->model_dir);
    kn_safetensors *st = kn_st_open(path, err);
    if (!st) return -1;
    size_t n = kn_st_count(st), np = kn_use_train_param_count(u->t);
    kn_tensor *out = calloc(n, sizeof *out);
    if (!out) { kn_st_close(st); return kn_fail(err, "out of memory"); }
    for (size_t i = 0; i < n; i++) {
        out[i] = *kn_st_at(st, i);
        for (size_t p = 0; p < np; p++) {
            const char *name;
            float *value, *grad;
            size_t size;
            kn_use_train_param(u->t, p, &name, &value, &grad, &size);
            if (strcmp(name, out[i].name) == 0 && size * sizeof(float) == out[i].nbytes) out[i].data = value;
        }
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
        snprintf(from, sizeof from, "%s/%s", u->model_dir, files[f]);
        const char *cp_argv[] = {"cp", "-L", from, out_dir, NULL};
        rc = kn_run(cp_argv, NULL, err);
    }
    return rc;
}

static void destroy(kn_trainable *t)
{
    use_trainable *u = (use_trainable *)t;
    kn_use_train_free(u->t);
    free(u->model_dir);
    free(u);
}

static const kn_trainable_ops USE_OPS = {"use-lite", tokenize, forward, backward, zero_grad, params, save, destroy};

kn_trainable *kn_use_trainable_open(const char *dir, kn_error *err)
{
    use_trainable *u = calloc(1, sizeof *u);
    if (!u || !(u->model_dir = strdup(dir))) {
        free(u);
        kn_fail(err, "out of memory");
        return NULL;
    }
    if (!(u->t = kn_use_train_new(dir, err))) {
        free(u->model_dir);
        free(u);
        return NULL;
    }
    u->base.ops = &USE_OPS;
    u->base.dim = kn_use_train_dim(u->t);
    u->base.max_tokens = kn_use_train_max_tokens(u->t);
    return &u->base;
}
