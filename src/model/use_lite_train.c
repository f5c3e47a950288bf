/* use_lite_train.c - USE-lite forward with saved activations, and its backward.
 *
 * The forward mirrors use_lite.c operation by operation (same kernels for layer norm,
 * attention, L2 normalisation; the same float expression for 2 E[id] + timing; the same
 * pooling order), but multiplies by the float32 parameter copies with sgemm, so parameters
 * updated in place by an optimiser take effect on the next forward. Activations are kept
 * per layer: the layer input (attention layer-norm input), its normed form, q|k|v, the
 * attention context, the post-attention residual stream (FFN layer-norm input), its normed
 * form and the post-ReLU FFN hidden; then the last layer's output, the pooled rows and the
 * tanh output (the L2 normalisation's input). The backward chains backward.h. */
#include "model/use_lite_train.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backward.h"
#include "model/ops.h"
#include "model/safetensors.h"
#include "model/use_lite.h"
#include "text/use_tokenizer.h"
#include "util/fs.h"

enum { P_ATTN_LN_S, P_ATTN_LN_B, P_QKV_W, P_QKV_B, P_OUT_W, P_OUT_B, P_FFN_LN_S, P_FFN_LN_B,
       P_W1, P_B1, P_W2, P_B2, P_RES_W, P_RES_B, P_LAYER_COUNT };

static const char *const layer_suffix[P_LAYER_COUNT] = {
    "attn_ln.scale", "attn_ln.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.out.weight", "attn.out.bias",
    "ffn_ln.scale",  "ffn_ln.bias",  "ffn.w1",          "ffn.b1",        "ffn.w2",          "ffn.b2",
    "res.weight",    "res.bias"};

#define MAX_PARAMS (2 + KN_USE_LAYERS * P_LAYER_COUNT + 2)

typedef struct {
    char name[64];
    int ndim, shape[2];
    size_t off, size;
} param;

typedef struct {
    int d_in, d_att, d_model, d_ff, heads, has_res;
    float q_scale;
    int p[P_LAYER_COUNT]; /* parameter index, -1 when absent (res of an identity residual) */
    /* saved activations of the last forward */
    float *xin, *h1, *qkv, *ctx, *xmid, *h2, *hid;
} train_layer;

struct kn_use_train {
    kn_use_tokenizer *tok;
    int vocab_rows, d_embed, n_timescales, max_positions, dim;
    float ln_eps, l2_eps;
    float *inv_timescales;
    param params[MAX_PARAMS];
    size_t n_params, total;
    float *vals, *grads;
    int p_embed, p_proj_w, p_proj_b;
    train_layer layers[KN_USE_LAYERS];
    /* the last forward's batch */
    size_t n;
    long M;
    int *lengths;
    int32_t *ids; /* the M packed token ids */
    float *xout, *pooled, *y, *arena;
    size_t arena_floats, meta_cap, ids_cap;
    int have_forward;
};

static int add_param(kn_use_train *t, kn_safetensors *st, const char *name, int ndim, int d0, int d1, kn_error *err)
{
    int64_t shape[2] = {d0, d1};
    const float *src = kn_st_f32(st, name, ndim, shape, err);
    if (!src) return -1;
    param *p = &t->params[t->n_params];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim == 2 ? d1 : 1;
    p->size = (size_t)d0 * (size_t)p->shape[1];
    p->off = t->total;
    t->total += p->size;
    return (int)t->n_params++;
}

static int tensor_dims(kn_safetensors *st, const char *name, int ndim, int64_t *shape, kn_error *err)
{
    const kn_tensor *x = kn_st_find(st, name);
    if (!x || x->ndim != ndim) return kn_fail(err, "weights: %s missing or not %d-dimensional", name, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = x->shape[i];
    return 0;
}

/* Registers the parameters (shapes checked by name) without copying yet. */
static int layout(kn_use_train *t, kn_safetensors *st, const json_t *cfg, kn_error *err)
{
    int64_t s[2] = {0, 0};
    if (tensor_dims(st, "embed.weight", 2, s, err) != 0) return -1;
    t->vocab_rows = (int)s[0];
    t->d_embed = (int)s[1];
    if (tensor_dims(st, "timing.inv_timescales", 1, s, err) != 0) return -1;
    t->n_timescales = (int)s[0];
    if (2 * t->n_timescales != t->d_embed) return kn_fail(err, "weights: timing signal width does not match embeddings");
    if ((t->p_embed = add_param(t, st, "embed.weight", 2, t->vocab_rows, t->d_embed, err)) < 0) return -1;
    json_t *lcfgs = json_object_get(cfg, "layers");
    int d_prev = t->d_embed;
    for (int l = 0; l < KN_USE_LAYERS; l++) {
        train_layer *L = &t->layers[l];
        const json_t *lcfg = json_array_get(lcfgs, l);
        char n[64];
        snprintf(n, sizeof n, "l%d.attn.qkv.weight", l);
        if (tensor_dims(st, n, 2, s, err) != 0) return -1;
        L->d_in = (int)s[0];
        L->d_att = (int)(s[1] / 3);
        snprintf(n, sizeof n, "l%d.attn.out.weight", l);
        if (tensor_dims(st, n, 2, s, err) != 0) return -1;
        L->d_model = (int)s[1];
        snprintf(n, sizeof n, "l%d.ffn.w1", l);
        if (tensor_dims(st, n, 2, s, err) != 0) return -1;
        L->d_ff = (int)s[1];
        L->heads = (int)json_integer_value(json_object_get(lcfg, "heads"));
        L->q_scale = (float)json_number_value(json_object_get(lcfg, "q_scale"));
        if (L->heads <= 0 || L->d_att % L->heads != 0 || L->q_scale <= 0)
            return kn_fail(err, "config.json: layer %d needs positive heads dividing %d and a q_scale", l, L->d_att);
        if (L->d_in != d_prev) return kn_fail(err, "weights: layer widths do not chain at layer %d", l);
        d_prev = L->d_model;
        L->has_res = L->d_in != L->d_model;
        const int dims[P_LAYER_COUNT][3] = {
            {1, L->d_in, 0},         {1, L->d_in, 0},       {2, L->d_in, 3 * L->d_att}, {1, 3 * L->d_att, 0},
            {2, L->d_att, L->d_model}, {1, L->d_model, 0},  {1, L->d_model, 0},         {1, L->d_model, 0},
            {2, L->d_model, L->d_ff}, {1, L->d_ff, 0},      {2, L->d_ff, L->d_model},   {1, L->d_model, 0},
            {2, L->d_in, L->d_model}, {1, L->d_model, 0}};
        for (int k = 0; k < P_LAYER_COUNT; k++) {
            L->p[k] = -1;
            if ((k == P_RES_W || k == P_RES_B) && !L->has_res) continue;
            snprintf(n, sizeof n, "l%d.%s", l, layer_suffix[k]);
            if ((L->p[k] = add_param(t, st, n, dims[k][0], dims[k][1], dims[k][2], err)) < 0) return -1;
        }
    }
    if (tensor_dims(st, "proj.weight", 2, s, err) != 0) return -1;
    t->dim = (int)s[1];
    if ((t->p_proj_w = add_param(t, st, "proj.weight", 2, d_prev, t->dim, err)) < 0) return -1;
    if ((t->p_proj_b = add_param(t, st, "proj.bias", 1, t->dim, 0, err)) < 0) return -1;
    return 0;
}

kn_use_train *kn_use_train_new(const char *model_dir, kn_error *err)
{
    kn_use_train *t = calloc(1, sizeof *t);
    if (!t) { kn_fail(err, "out of memory"); return NULL; }
    char path[4096];
    json_t *cfg = NULL;
    kn_safetensors *st = NULL;
    json_error_t jerr;
    if (kn_path_join(path, sizeof path, model_dir, "config.json") != 0) { kn_fail(err, "%s: path too long", model_dir); goto fail; }
    if (!(cfg = json_load_file(path, 0, &jerr))) { kn_fail(err, "%s:%d: %s", path, jerr.line, jerr.text); goto fail; }
    const char *family = json_string_value(json_object_get(cfg, "family"));
    if (!family || strcmp(family, "use-lite") != 0) { kn_fail(err, "%s: family is not use-lite", path); goto fail; }
    t->max_positions = (int)json_integer_value(json_object_get(cfg, "max_positions"));
    t->ln_eps = (float)json_number_value(json_object_get(cfg, "layer_norm_eps"));
    t->l2_eps = (float)json_number_value(json_object_get(cfg, "l2_eps"));
    if (t->max_positions <= 0 || t->ln_eps <= 0 || t->l2_eps <= 0 ||
        json_array_size(json_object_get(cfg, "layers")) != KN_USE_LAYERS) {
        kn_fail(err, "%s: needs max_positions, layer_norm_eps, l2_eps and %d layers", path, KN_USE_LAYERS);
        goto fail;
    }
    if (kn_path_join(path, sizeof path, model_dir, "model.safetensors") != 0 || !(st = kn_st_open(path, err))) goto fail;
    if (layout(t, st, cfg, err) != 0) goto fail;
    int64_t ts_shape[1] = {t->n_timescales};
    const float *ts = kn_st_f32(st, "timing.inv_timescales", 1, ts_shape, err);
    if (!ts) goto fail;
    t->inv_timescales = malloc((size_t)t->n_timescales * sizeof(float));
    t->vals = malloc(t->total * sizeof(float));
    t->grads = calloc(t->total, sizeof(float));
    if (!t->inv_timescales || !t->vals || !t->grads) { kn_fail(err, "out of memory for %zu parameters", t->total); goto fail; }
    memcpy(t->inv_timescales, ts, (size_t)t->n_timescales * sizeof(float));
    for (size_t i = 0; i < t->n_params; i++) {
        param *p = &t->params[i];
        int64_t shape[2] = {p->shape[0], p->shape[1]};
        const float *src = kn_st_f32(st, p->name, p->ndim, shape, err);
        if (!src) goto fail;
        memcpy(t->vals + p->off, src, p->size * sizeof(float));
    }
    kn_st_close(st);
    st = NULL;
    if (kn_path_join(path, sizeof path, model_dir, "vocab.json") != 0 || !(t->tok = kn_use_tokenizer_load(path, err)))
        goto fail;
    json_decref(cfg);
    return t;
fail:
    kn_st_close(st);
    json_decref(cfg);
    kn_use_train_free(t);
    return NULL;
}

void kn_use_train_free(kn_use_train *t)
{
    if (!t) return;
    kn_use_tokenizer_free(t->tok);
    free(t->inv_timescales);
    free(t->vals);
    free(t->grads);
    free(t->lengths);
    free(t->ids);
    free(t->arena);
    free(t);
}

int kn_use_train_dim(const kn_use_train *t) { return t->dim; }

int kn_use_train_tokenize(const kn_use_train *t, const char *text, size_t len, kn_token_seq *out, kn_error *err)
{
    out->ids = NULL;
    out->n = 0;
    return kn_use_tokenizer_encode(t->tok, text, len, &out->ids, &out->n, err);
}

void kn_use_train_zero_grad(kn_use_train *t) { memset(t->grads, 0, t->total * sizeof(float)); }

size_t kn_use_train_param_count(const kn_use_train *t) { return t->n_params; }

int kn_use_train_param(kn_use_train *t, size_t i, const char **name, float **value, float **grad, size_t *size)
{
    if (i >= t->n_params) return -1;
    *name = t->params[i].name;
    *value = t->vals + t->params[i].off;
    *grad = t->grads + t->params[i].off;
    *size = t->params[i].size;
    return t->params[i].ndim;
}

int kn_use_train_param_shape(const kn_use_train *t, size_t i, int shape[2])
{
    if (i >= t->n_params) return -1;
    shape[0] = t->params[i].shape[0];
    shape[1] = t->params[i].shape[1];
    return t->params[i].ndim;
}

int kn_use_train_max_tokens(const kn_use_train *t) { return t->max_positions; }

static inline float *V(kn_use_train *t, int p) { return t->vals + t->params[p].off; }
static inline float *G(kn_use_train *t, int p) { return t->grads + t->params[p].off; }

/* y[M,N] = x[M,K] @ W[K,N] + b. */
static void linear(float *y, const float *x, const float *W, const float *b, int M, int K, int N)
{
    if (M <= 0) return;
    for (int i = 0; i < M; i++) memcpy(y + (size_t)i * N, b, (size_t)N * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, W, N, 1.0f, y, N);
}

/* Floats of activations and backward scratch for M packed tokens of n sentences. */
static size_t arena_need(const kn_use_train *t, long M, size_t n, size_t *wmax_out)
{
    size_t need = 0, wmax = (size_t)t->d_embed;
    for (int l = 0; l < KN_USE_LAYERS; l++) {
        const train_layer *L = &t->layers[l];
        need += (size_t)M * (2 * (size_t)L->d_in + 3 * (size_t)L->d_att + (size_t)L->d_att + 2 * (size_t)L->d_model +
                             (size_t)L->d_ff);
        size_t w = (size_t)(3 * L->d_att > L->d_ff ? 3 * L->d_att : L->d_ff);
        if (w > wmax) wmax = w;
        if ((size_t)L->d_model > wmax) wmax = (size_t)L->d_model;
    }
    size_t D = (size_t)t->layers[KN_USE_LAYERS - 1].d_model;
    need += (size_t)M * D + n * D + n * (size_t)t->dim;
    /* backward: four [M, wmax] buffers and two [n, max(D, dim)] */
    size_t nd = D > (size_t)t->dim ? D : (size_t)t->dim;
    *wmax_out = wmax;
    return need + 4 * (size_t)M * wmax + 2 * n * nd + 1;
}

static int prepare(kn_use_train *t, const kn_token_seq *seqs, size_t n, kn_error *err)
{
    long M = 0;
    for (size_t s = 0; s < n; s++) M += (long)(seqs[s].n < (size_t)t->max_positions ? seqs[s].n : (size_t)t->max_positions);
    if (n > t->meta_cap) {
        int *p = realloc(t->lengths, n * sizeof *p);
        if (!p) return kn_fail(err, "out of memory");
        t->lengths = p;
        t->meta_cap = n;
    }
    if ((size_t)M > t->ids_cap) {
        int32_t *p = realloc(t->ids, (size_t)M * sizeof *p);
        if (!p) return kn_fail(err, "out of memory");
        t->ids = p;
        t->ids_cap = (size_t)M;
    }
    size_t wmax, need = arena_need(t, M, n, &wmax);
    if (need > t->arena_floats) {
        float *p = realloc(t->arena, need * sizeof *p);
        if (!p) return kn_fail(err, "out of memory for %zu activations", need);
        t->arena = p;
        t->arena_floats = need;
    }
    float *a = t->arena;
    for (int l = 0; l < KN_USE_LAYERS; l++) {
        train_layer *L = &t->layers[l];
        L->xin = a; a += M * L->d_in;
        L->h1 = a; a += M * L->d_in;
        L->qkv = a; a += M * 3 * L->d_att;
        L->ctx = a; a += M * L->d_att;
        L->xmid = a; a += M * L->d_model;
        L->h2 = a; a += M * L->d_model;
        L->hid = a; a += M * L->d_ff;
    }
    int D = t->layers[KN_USE_LAYERS - 1].d_model;
    t->xout = a; a += M * D;
    t->pooled = a; a += (long)n * D;
    t->y = a;
    t->M = M;
    t->n = n;
    long row = 0;
    for (size_t s = 0; s < n; s++) {
        t->lengths[s] = seqs[s].n < (size_t)t->max_positions ? (int)seqs[s].n : t->max_positions;
        for (int i = 0; i < t->lengths[s]; i++, row++) {
            int32_t id = seqs[s].ids[i];
            if (id < 0 || id >= t->vocab_rows)
                return kn_fail(err, "token id %d is outside the embedding table (0..%d)", id, t->vocab_rows - 1);
            t->ids[row] = id;
        }
    }
    return 0;
}

int kn_use_train_forward(kn_use_train *t, const kn_token_seq *seqs, size_t n, float *out, kn_error *err)
{
    t->have_forward = 0;
    if (prepare(t, seqs, n, err) != 0) return -1;
    if (n == 0) {
        t->have_forward = 1;
        return 0;
    }
    const long M = t->M;
    const int De = t->d_embed, half = t->n_timescales;
    const float *E = V(t, t->p_embed);
    /* x = 2 E[id] + timing, with use_lite.c's float expression. */
    float *x0 = t->layers[0].xin;
    long row = 0;
    for (size_t s = 0; s < n; s++) {
        for (int p = 0; p < t->lengths[s]; p++, row++) {
            float *xr = x0 + row * De;
            const float *e = E + (long)t->ids[row] * De;
            for (int j = 0; j < half; j++) {
                float angle = (float)p * t->inv_timescales[j];
                xr[j] = (e[j] + (float)sin(angle)) + e[j];
                xr[half + j] = (e[half + j] + (float)cos(angle)) + e[half + j];
            }
        }
    }
    for (int l = 0; l < KN_USE_LAYERS; l++) {
        train_layer *L = &t->layers[l];
        float *xnext = l + 1 < KN_USE_LAYERS ? t->layers[l + 1].xin : t->xout;
        if (M == 0) continue;
        const int m = (int)M, Dm = L->d_model;
        kn_layernorm(L->h1, L->xin, V(t, L->p[P_ATTN_LN_S]), V(t, L->p[P_ATTN_LN_B]), m, L->d_in, t->ln_eps);
        linear(L->qkv, L->h1, V(t, L->p[P_QKV_W]), V(t, L->p[P_QKV_B]), m, L->d_in, 3 * L->d_att);
        if (kn_attention_batch(L->ctx, L->qkv, t->lengths, (int)n, L->d_att, L->heads, L->q_scale) != 0)
            return kn_fail(err, "out of memory in attention");
        /* xmid = attention output + residual (projected when the width changes). */
        linear(L->xmid, L->ctx, V(t, L->p[P_OUT_W]), V(t, L->p[P_OUT_B]), m, L->d_att, Dm);
        if (L->has_res) {
            linear(L->h2, L->xin, V(t, L->p[P_RES_W]), V(t, L->p[P_RES_B]), m, L->d_in, Dm);
            kn_add(L->xmid, L->h2, M * Dm);
        } else {
            /* use_lite.c: x += out(ctx); the same sum with the operands swapped. */
            kn_add(L->xmid, L->xin, M * Dm);
        }
        kn_layernorm(L->h2, L->xmid, V(t, L->p[P_FFN_LN_S]), V(t, L->p[P_FFN_LN_B]), m, Dm, t->ln_eps);
        linear(L->hid, L->h2, V(t, L->p[P_W1]), V(t, L->p[P_B1]), m, Dm, L->d_ff);
        kn_relu(L->hid, M * L->d_ff);
        linear(xnext, L->hid, V(t, L->p[P_W2]), V(t, L->p[P_B2]), m, L->d_ff, Dm);
        kn_add(xnext, L->xmid, M * Dm); /* x + ffn, commuted */
    }
    const int D = t->layers[KN_USE_LAYERS - 1].d_model, Eo = t->dim;
    row = 0;
    for (size_t s = 0; s < n; s++) {
        int T = t->lengths[s];
        float *p = t->pooled + (long)s * D;
        memset(p, 0, (size_t)D * sizeof *p);
        for (int i = 0; i < T; i++) kn_add(p, t->xout + (row + i) * D, D);
        float inv = 1.0f / (float)(T > 0 ? T : 1);
        for (int j = 0; j < D; j++) p[j] *= inv;
        row += T;
    }
    linear(t->y, t->pooled, V(t, t->p_proj_w), V(t, t->p_proj_b), (int)n, D, Eo);
    for (long i = 0; i < (long)n * Eo; i++) t->y[i] = tanhf(t->y[i]);
    memcpy(out, t->y, (size_t)n * Eo * sizeof *out);
    kn_l2_normalize(out, (int)n, Eo, t->l2_eps);
    t->have_forward = 1;
    return 0;
}

int kn_use_train_backward(kn_use_train *t, const float *dout, kn_error *err)
{
    if (!t->have_forward) return kn_fail(err, "kn_use_train_backward: no forward to differentiate");
    const long M = t->M;
    const int n = (int)t->n, D = t->layers[KN_USE_LAYERS - 1].d_model, Eo = t->dim;
    if (n == 0) return 0;
    size_t wmax;
    arena_need(t, M, t->n, &wmax);
    float *dx = t->y + (long)n * Eo; /* scratch follows the saved activations */
    float *dmid = dx + M * (long)wmax, *dt = dmid + M * (long)wmax, *dbig = dt + M * (long)wmax;
    float *dn1 = dbig + M * (long)wmax, *dn2 = dn1 + (long)n * (D > Eo ? D : Eo);

    /* out = l2(tanh(pooled W + b)) */
    kn_l2_normalize_backward(dn1, dout, t->y, n, Eo, t->l2_eps);
    kn_tanh_backward(dn1, dn1, t->y, (long)n * Eo);
    kn_linear_backward(dn2, G(t, t->p_proj_w), G(t, t->p_proj_b), dn1, t->pooled, V(t, t->p_proj_w), n, D, Eo, 0);
    if (M == 0) return 0;
    kn_mean_pool_backward(dx, dn2, t->lengths, n, D);

    const int m = (int)M;
    for (int l = KN_USE_LAYERS - 1; l >= 0; l--) {
        train_layer *L = &t->layers[l];
        const int Dm = L->d_model, Di = L->d_in, Da = L->d_att, F = L->d_ff;
        /* xout = xmid + W2 relu(LN2(xmid) W1 + b1) + b2; dx holds d xout [M, Dm]. */
        kn_linear_backward(dbig, G(t, L->p[P_W2]), G(t, L->p[P_B2]), dx, L->hid, V(t, L->p[P_W2]), m, F, Dm, 0);
        kn_relu_backward(dbig, dbig, L->hid, M * F);
        kn_linear_backward(dt, G(t, L->p[P_W1]), G(t, L->p[P_B1]), dbig, L->h2, V(t, L->p[P_W1]), m, Dm, F, 0);
        kn_layernorm_backward(dmid, G(t, L->p[P_FFN_LN_S]), G(t, L->p[P_FFN_LN_B]), dt, L->xmid,
                              V(t, L->p[P_FFN_LN_S]), m, Dm, t->ln_eps);
        kn_add(dmid, dx, M * Dm); /* d xmid */
        /* xmid = ctx Wo + bo + residual(xin); ctx = attention(LN1(xin) Wqkv + bqkv). */
        kn_linear_backward(dt, G(t, L->p[P_OUT_W]), G(t, L->p[P_OUT_B]), dmid, L->ctx, V(t, L->p[P_OUT_W]), m, Da, Dm,
                           0);
        if (kn_attention_batch_backward(dbig, dt, L->qkv, t->lengths, n, Da, L->heads, L->q_scale) != 0)
            return kn_fail(err, "out of memory in attention backward");
        kn_linear_backward(dt, G(t, L->p[P_QKV_W]), G(t, L->p[P_QKV_B]), dbig, L->h1, V(t, L->p[P_QKV_W]), m, Di,
                           3 * Da, 0);
        kn_layernorm_backward(dx, G(t, L->p[P_ATTN_LN_S]), G(t, L->p[P_ATTN_LN_B]), dt, L->xin,
                              V(t, L->p[P_ATTN_LN_S]), m, Di, t->ln_eps);
        if (L->has_res) {
            kn_linear_backward(dt, G(t, L->p[P_RES_W]), G(t, L->p[P_RES_B]), dmid, L->xin, V(t, L->p[P_RES_W]), m, Di,
                               Dm, 0);
            kn_add(dx, dt, M * Di);
        } else {
            kn_add(dx, dmid, M * Di);
        }
        /* dx now holds d xin of layer l [M, Di]. */
    }
    /* x0 = 2 E[id] + timing: every used row gets twice its tokens' gradients. */
    float *dE = G(t, t->p_embed);
    const int De = t->d_embed;
    for (long r = 0; r < M; r++) {
        float *g = dE + (long)t->ids[r] * De;
        const float *d = dx + r * De;
        for (int j = 0; j < De; j++) g[j] += 2.0f * d[j];
    }
    return 0;
}
