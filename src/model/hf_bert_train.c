/* hf_bert_train.c - BERT / XLM-R forward with saved activations, its backward, saving a
 * sentence-transformers directory, and the kn_trainable adapter.
 *
 * The forward mirrors hf_bert.c operation by operation (the same float expression for the
 * embedding sum, the same kernels for layer norm, attention, GELU, pooling order and L2
 * normalisation) but multiplies by the float32 parameter copies with sgemm, PyTorch's
 * [out, in] layout kept (no transposed copy to refresh after an optimiser step).
 * Activations kept per layer: the layer input x, q|k|v, the attention context, the
 * pre-norm sums h1 = ctx Wo + bo + x and h2 = gelu(u) Wd + bd + a, the normed a = LN1(h1),
 * the FFN pre-activation u and its GELU g; plus the embedding sum before its layer norm,
 * the last layer's output and the pooled rows. The backward chains backward.h. */
#include "model/hf_bert_train.h"

#include <cblas.h>
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backward.h"
#include "model/ops.h"
#include "model/quantize.h"
#include "model/safetensors.h"
#include "model/trainable.h"
#include "text/hf_tokenizer.h"
#include "util/fs.h"
#include "util/spawn.h"

/* Per-layer parameters in registration (= memory) order: q, k, v weights then their
 * biases are adjacent, forming the fused [3H, H] matrix and [3H] bias. */
enum { P_QW, P_KW, P_VW, P_QB, P_KB, P_VB, P_OW, P_OB, P_LN1S, P_LN1B, P_UPW, P_UPB, P_DOWNW, P_DOWNB, P_LN2S,
       P_LN2B, P_LAYER_COUNT };

static const char *const layer_names[P_LAYER_COUNT] = {
    "attention.self.query.weight", "attention.self.key.weight",         "attention.self.value.weight",
    "attention.self.query.bias",   "attention.self.key.bias",           "attention.self.value.bias",
    "attention.output.dense.weight", "attention.output.dense.bias",     "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias", "intermediate.dense.weight",     "intermediate.dense.bias",
    "output.dense.weight",         "output.dense.bias",                 "output.LayerNorm.weight",
    "output.LayerNorm.bias"};

typedef struct {
    char name[192]; /* with the checkpoint's prefix */
    int ndim, shape[2];
    size_t off, size;
} param;

typedef struct {
    int p[P_LAYER_COUNT];
    float *x, *qkv, *ctx, *h1, *a, *u, *g, *h2; /* saved activations of the last forward */
} train_layer;

struct kn_bert_train {
    char *dir;
    kn_bert_config c;
    kn_hf_tokenizer *tok;
    param *params;
    size_t n_params, total;
    float *vals, *grads;
    int p_word, p_pos, p_type, p_eln_s, p_eln_b; /* p_type -1 when the checkpoint has none */
    train_layer *L;
    /* the last forward's batch */
    size_t n;
    long M;
    int *lengths;
    int32_t *ids; /* the M packed token ids */
    int *pos;     /* their position rows */
    float *e0, *xout, *pooled, *arena;
    size_t arena_floats, meta_cap, ids_cap;
    int have_forward;
};

/* ---- loading ------------------------------------------------------------------------ */

/* Registers prefix + name with the shape config.json implies, checked against the file. */
static int add_param(kn_bert_train *t, kn_safetensors *st, const char *prefix, const char *name, int d0, int d1,
                     kn_error *err)
{
    if (!kn_bert_tensor(st, prefix, name, d0, d1, 0, err)) return -1;
    param *p = &t->params[t->n_params];
    snprintf(p->name, sizeof p->name, "%s%s", prefix, name);
    p->ndim = d1 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1 ? d1 : 1;
    p->size = (size_t)d0 * (size_t)p->shape[1];
    p->off = t->total;
    t->total += p->size;
    return (int)t->n_params++;
}

static int layout(kn_bert_train *t, kn_safetensors *st, kn_error *err)
{
    const kn_bert_config *c = &t->c;
    const char *pre = kn_bert_tensor_prefix(st);
    int H = c->hidden, FF = c->inter;
    t->params = calloc(5 + (size_t)c->layers * P_LAYER_COUNT, sizeof *t->params);
    t->L = calloc((size_t)c->layers, sizeof *t->L);
    if (!t->params || !t->L) return kn_fail(err, "out of memory");
    if ((t->p_word = add_param(t, st, pre, "embeddings.word_embeddings.weight", c->vocab, H, err)) < 0 ||
        (t->p_pos = add_param(t, st, pre, "embeddings.position_embeddings.weight", c->max_pos, H, err)) < 0)
        return -1;
    char tname[160];
    snprintf(tname, sizeof tname, "%sembeddings.token_type_embeddings.weight", pre);
    const kn_tensor *tt = kn_st_find(st, tname);
    t->p_type = -1;
    if (tt && (tt->ndim != 2 || tt->shape[0] < 1 || tt->shape[0] > INT_MAX))
        return kn_fail(err, "model.safetensors: tensor '%s' is not a [types, %d] table", tname, H);
    if (tt && (t->p_type = add_param(t, st, pre, "embeddings.token_type_embeddings.weight", (int)tt->shape[0], H, err)) < 0)
        return -1;
    if ((t->p_eln_s = add_param(t, st, pre, "embeddings.LayerNorm.weight", H, 0, err)) < 0 ||
        (t->p_eln_b = add_param(t, st, pre, "embeddings.LayerNorm.bias", H, 0, err)) < 0)
        return -1;
    for (int l = 0; l < c->layers; l++) {
        const int dims[P_LAYER_COUNT][2] = {{H, H}, {H, H}, {H, H}, {H, 0}, {H, 0}, {H, 0}, {H, H}, {H, 0},
                                            {H, 0}, {H, 0}, {FF, H}, {FF, 0}, {H, FF}, {H, 0}, {H, 0}, {H, 0}};
        for (int k = 0; k < P_LAYER_COUNT; k++) {
            char n[96];
            snprintf(n, sizeof n, "encoder.layer.%d.%s", l, layer_names[k]);
            if ((t->L[l].p[k] = add_param(t, st, pre, n, dims[k][0], dims[k][1], err)) < 0) return -1;
        }
    }
    return 0;
}

/* Prefixes an error raised while reading tensors ("model.safetensors: ...") with the path. */
static void name_file(kn_error *err, const char *path)
{
    if (err && strncmp(err->msg, "model.safetensors", 17) == 0) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err->msg + 17);
        kn_fail(err, "%s%s", path, inner);
    }
}

kn_bert_train *kn_bert_train_new(const char *dir, kn_error *err)
{
    kn_bert_train *t = calloc(1, sizeof *t);
    if (!t || !(t->dir = strdup(dir))) {
        free(t);
        kn_fail(err, "out of memory");
        return NULL;
    }
    char path[4096];
    json_t *cfg = NULL;
    kn_safetensors *st = NULL;
    json_error_t jerr;
    if (kn_model_is_quantized(dir)) {
        kn_fail(err, "%s is quantised: fine-tuning and export need the float model", dir);
        goto fail;
    }
    if (kn_path_join(path, sizeof path, dir, "config.json") != 0) { kn_fail(err, "%s: path too long", dir); goto fail; }
    if (!(cfg = json_load_file(path, 0, &jerr))) { kn_fail(err, "%s:%d: %s", path, jerr.line, jerr.text); goto fail; }
    if (kn_bert_config_read(dir, cfg, &t->c, err) != 0) goto fail;
    if (kn_path_join(path, sizeof path, dir, "tokenizer.json") != 0 || !kn_is_file(path)) {
        kn_fail(err, "%s/tokenizer.json: missing", dir);
        goto fail;
    }
    if (!(t->tok = kn_hf_tokenizer_load(path, err))) goto fail;
    if (kn_path_join(path, sizeof path, dir, "model.safetensors") != 0 || !kn_is_file(path)) {
        kn_fail(err, "%s/model.safetensors: missing (only safetensors weights are supported)", dir);
        goto fail;
    }
    if (!(st = kn_st_open(path, err))) goto fail;
    if (layout(t, st, err) != 0) {
        name_file(err, path);
        goto fail;
    }
    t->vals = malloc(t->total * sizeof(float));
    t->grads = calloc(t->total, sizeof(float));
    if (!t->vals || !t->grads) { kn_fail(err, "out of memory for %zu parameters", t->total); goto fail; }
    for (size_t i = 0; i < t->n_params; i++) {
        const kn_tensor *x = kn_st_find(st, t->params[i].name);
        float *v = t->vals + t->params[i].off;
        for (size_t j = 0; j < t->params[i].size; j++) v[j] = kn_load_f32(x->data, x->dtype, (long)j);
    }
    kn_st_close(st);
    json_decref(cfg);
    return t;
fail:
    kn_st_close(st);
    json_decref(cfg);
    kn_bert_train_free(t);
    return NULL;
}

void kn_bert_train_free(kn_bert_train *t)
{
    if (!t) return;
    kn_hf_tokenizer_free(t->tok);
    free(t->dir);
    free(t->params);
    free(t->L);
    free(t->vals);
    free(t->grads);
    free(t->lengths);
    free(t->ids);
    free(t->pos);
    free(t->arena);
    free(t);
}

const kn_bert_config *kn_bert_train_config(const kn_bert_train *t) { return &t->c; }
int kn_bert_train_dim(const kn_bert_train *t) { return t->c.hidden; }
int kn_bert_train_max_tokens(const kn_bert_train *t) { return t->c.max_tokens; }

int kn_bert_train_tokenize(const kn_bert_train *t, const char *text, size_t len, kn_token_seq *out, kn_error *err)
{
    out->ids = NULL;
    out->n = 0;
    return kn_hf_tokenizer_encode(t->tok, text, len, (size_t)t->c.max_tokens, &out->ids, &out->n, err);
}

void kn_bert_train_zero_grad(kn_bert_train *t) { memset(t->grads, 0, t->total * sizeof(float)); }

size_t kn_bert_train_param_count(const kn_bert_train *t) { return t->n_params; }

int kn_bert_train_param(kn_bert_train *t, size_t i, const char **name, float **value, float **grad, size_t *size)
{
    if (i >= t->n_params) return -1;
    *name = t->params[i].name;
    *value = t->vals + t->params[i].off;
    *grad = t->grads + t->params[i].off;
    *size = t->params[i].size;
    return t->params[i].ndim;
}

int kn_bert_train_param_shape(const kn_bert_train *t, size_t i, int shape[2])
{
    if (i >= t->n_params) return -1;
    shape[0] = t->params[i].shape[0];
    shape[1] = t->params[i].shape[1];
    return t->params[i].ndim;
}

/* ---- forward ------------------------------------------------------------------------ */

static inline float *V(kn_bert_train *t, int p) { return t->vals + t->params[p].off; }
static inline float *G(kn_bert_train *t, int p) { return t->grads + t->params[p].off; }

/* y[M,N] = x[M,K] W^T + b, W stored [N,K] (PyTorch Linear). */
static void linear(float *y, const float *x, const float *W, const float *b, int M, int K, int N)
{
    if (M <= 0) return;
    for (int i = 0; i < M; i++) memcpy(y + (size_t)i * N, b, (size_t)N * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, W, K, 1.0f, y, N);
}

static size_t wide(const kn_bert_config *c) { return (size_t)(3 * c->hidden > c->inter ? 3 * c->hidden : c->inter); }

/* Floats of activations and backward scratch for M packed tokens of n sentences. */
static size_t arena_need(const kn_bert_train *t, long M, size_t n)
{
    size_t H = (size_t)t->c.hidden, FF = (size_t)t->c.inter, m = (size_t)M;
    size_t per_layer = m * (H + 3 * H + H + H + H + FF + FF + H);
    /* e0, xout, pooled; backward: three [M, H], one [M, wide], one [n, H] */
    return (size_t)t->c.layers * per_layer + 2 * m * H + n * H + 3 * m * H + m * wide(&t->c) + n * H + 1;
}

static int seq_len(const kn_bert_train *t, const kn_token_seq *s)
{
    return s->n < (size_t)t->c.max_tokens ? (int)s->n : t->c.max_tokens;
}

static int prepare(kn_bert_train *t, const kn_token_seq *seqs, size_t n, kn_error *err)
{
    long M = 0;
    for (size_t s = 0; s < n; s++) M += seq_len(t, &seqs[s]);
    if (n > t->meta_cap) {
        int *p = realloc(t->lengths, n * sizeof *p);
        if (!p) return kn_fail(err, "out of memory");
        t->lengths = p;
        t->meta_cap = n;
    }
    if ((size_t)M > t->ids_cap) {
        int32_t *p = realloc(t->ids, (size_t)M * sizeof *p);
        if (p) t->ids = p;
        int *q = realloc(t->pos, (size_t)M * sizeof *q);
        if (q) t->pos = q;
        if (!p || !q) return kn_fail(err, "out of memory");
        t->ids_cap = (size_t)M;
    }
    size_t need = arena_need(t, M, n);
    if (need > t->arena_floats) {
        float *p = realloc(t->arena, need * sizeof *p);
        if (!p) return kn_fail(err, "out of memory for %zu activations", need);
        t->arena = p;
        t->arena_floats = need;
    }
    const long H = t->c.hidden, FF = t->c.inter;
    float *a = t->arena;
    t->e0 = a; a += M * H;
    for (int l = 0; l < t->c.layers; l++) {
        train_layer *L = &t->L[l];
        L->x = a; a += M * H;
        L->qkv = a; a += M * 3 * H;
        L->ctx = a; a += M * H;
        L->h1 = a; a += M * H;
        L->a = a; a += M * H;
        L->u = a; a += M * FF;
        L->g = a; a += M * FF;
        L->h2 = a; a += M * H;
    }
    t->xout = a; a += M * H;
    t->pooled = a;
    t->M = M;
    t->n = n;
    long row = 0;
    for (size_t s = 0; s < n; s++) {
        t->lengths[s] = seq_len(t, &seqs[s]);
        for (int i = 0; i < t->lengths[s]; i++, row++) {
            int32_t id = seqs[s].ids[i];
            if (id < 0 || id >= t->c.vocab)
                return kn_fail(err, "token id %d is outside the vocabulary (0..%d)", id, t->c.vocab - 1);
            t->ids[row] = id;
            t->pos[row] = i + t->c.position_offset;
        }
    }
    return 0;
}

/* Mean, CLS or max over each sentence's rows of x, as hf_bert.c pools. */
static void pool(const kn_bert_train *t, const float *x, float *out)
{
    const int H = t->c.hidden;
    long row = 0;
    for (size_t s = 0; s < t->n; s++) {
        int T = t->lengths[s];
        float *o = out + (long)s * H;
        const float *xs = x + row * H;
        if (T == 0) {
            memset(o, 0, (size_t)H * sizeof *o);
        } else if (t->c.pool == KN_BERT_POOL_CLS) {
            memcpy(o, xs, (size_t)H * sizeof *o);
        } else if (t->c.pool == KN_BERT_POOL_MAX) {
            memcpy(o, xs, (size_t)H * sizeof *o);
            for (int i = 1; i < T; i++)
                for (int j = 0; j < H; j++) o[j] = fmaxf(o[j], xs[(long)i * H + j]);
        } else {
            memset(o, 0, (size_t)H * sizeof *o);
            for (int i = 0; i < T; i++) kn_add(o, xs + (long)i * H, H);
            for (int j = 0; j < H; j++) o[j] /= (float)T;
        }
        row += T;
    }
}

int kn_bert_train_forward(kn_bert_train *t, const kn_token_seq *seqs, size_t n, float *out, kn_error *err)
{
    t->have_forward = 0;
    if (prepare(t, seqs, n, err) != 0) return -1;
    const long M = t->M;
    const int H = t->c.hidden, FF = t->c.inter, m = (int)M;
    /* x = LN(word + position + token type 0), hf_bert.c's float expression. */
    const float *word = V(t, t->p_word), *posv = V(t, t->p_pos), *type = t->p_type >= 0 ? V(t, t->p_type) : NULL;
    for (long r = 0; r < M; r++) {
        float *e = t->e0 + r * H;
        const float *w = word + (long)t->ids[r] * H, *p = posv + (long)t->pos[r] * H;
        for (int j = 0; j < H; j++) {
            float v = w[j] + p[j];
            e[j] = type ? v + type[j] : v;
        }
    }
    float *x0 = t->c.layers > 0 ? t->L[0].x : t->xout;
    kn_layernorm(x0, t->e0, V(t, t->p_eln_s), V(t, t->p_eln_b), m, H, t->c.ln_eps);
    float q_scale = 1.0f / sqrtf((float)(H / t->c.heads));
    for (int l = 0; l < t->c.layers && M > 0; l++) {
        train_layer *L = &t->L[l];
        float *xnext = l + 1 < t->c.layers ? t->L[l + 1].x : t->xout;
        linear(L->qkv, L->x, V(t, L->p[P_QW]), V(t, L->p[P_QB]), m, H, 3 * H);
        if (kn_attention_batch(L->ctx, L->qkv, t->lengths, (int)n, H, t->c.heads, q_scale) != 0)
            return kn_fail(err, "out of memory in attention");
        linear(L->h1, L->ctx, V(t, L->p[P_OW]), V(t, L->p[P_OB]), m, H, H);
        kn_add(L->h1, L->x, M * H);
        kn_layernorm(L->a, L->h1, V(t, L->p[P_LN1S]), V(t, L->p[P_LN1B]), m, H, t->c.ln_eps);
        linear(L->u, L->a, V(t, L->p[P_UPW]), V(t, L->p[P_UPB]), m, H, FF);
        memcpy(L->g, L->u, (size_t)M * FF * sizeof *L->g);
        kn_gelu(L->g, M * FF);
        linear(L->h2, L->g, V(t, L->p[P_DOWNW]), V(t, L->p[P_DOWNB]), m, FF, H);
        kn_add(L->h2, L->a, M * H);
        kn_layernorm(xnext, L->h2, V(t, L->p[P_LN2S]), V(t, L->p[P_LN2B]), m, H, t->c.ln_eps);
    }
    pool(t, t->xout, t->pooled);
    memcpy(out, t->pooled, n * (size_t)H * sizeof *out);
    if (t->c.normalize) kn_l2_normalize(out, (int)n, H, 1e-24f);
    t->have_forward = 1;
    return 0;
}

/* ---- backward ----------------------------------------------------------------------- */

/* Max pooling sends each output dimension's gradient to the row that won it (the first
 * of equal maxima, which is the value fmaxf kept); every other row gets zero. */
static void max_pool_backward(float *dx, const float *dy, const float *x, const int *lengths, int n, int D)
{
    long row = 0;
    for (int s = 0; s < n; s++) {
        int T = lengths[s];
        memset(dx + row * D, 0, (size_t)T * D * sizeof *dx);
        for (int j = 0; j < D && T > 0; j++) {
            int best = 0;
            for (int i = 1; i < T; i++)
                if (x[(row + i) * D + j] > x[(row + best) * D + j]) best = i;
            dx[(row + best) * D + j] = dy[(long)s * D + j];
        }
        row += T;
    }
}

int kn_bert_train_backward(kn_bert_train *t, const float *dout, kn_error *err)
{
    if (!t->have_forward) return kn_fail(err, "kn_bert_train_backward: no forward to differentiate");
    const long M = t->M;
    const int n = (int)t->n, H = t->c.hidden, FF = t->c.inter, m = (int)M;
    if (n == 0 || M == 0) return 0;
    float *dx = t->pooled + (long)n * H; /* scratch follows the saved activations */
    float *dA = dx + M * H, *dB = dA + M * H, *dbig = dB + M * H, *dpool = dbig + M * (long)wide(&t->c);

    if (t->c.normalize) kn_l2_normalize_backward(dpool, dout, t->pooled, n, H, 1e-24f);
    else memcpy(dpool, dout, (size_t)n * H * sizeof *dpool);
    if (t->c.pool == KN_BERT_POOL_MEAN) kn_mean_pool_backward(dx, dpool, t->lengths, n, H);
    else if (t->c.pool == KN_BERT_POOL_CLS) kn_cls_pool_backward(dx, dpool, t->lengths, n, H);
    else max_pool_backward(dx, dpool, t->xout, t->lengths, n, H);

    float q_scale = 1.0f / sqrtf((float)(H / t->c.heads));
    for (int l = t->c.layers - 1; l >= 0; l--) {
        train_layer *L = &t->L[l];
        const int *p = L->p;
        /* out = LN2(h2), h2 = gelu(u) Wd + bd + a, u = a Wu + bu; dx holds d out. */
        kn_layernorm_backward(dx, G(t, p[P_LN2S]), G(t, p[P_LN2B]), dx, L->h2, V(t, p[P_LN2S]), m, H, t->c.ln_eps);
        kn_linear_backward(dbig, G(t, p[P_DOWNW]), G(t, p[P_DOWNB]), dx, L->g, V(t, p[P_DOWNW]), m, FF, H, 1);
        kn_gelu_backward(dbig, dbig, L->u, M * FF);
        kn_linear_backward(dA, G(t, p[P_UPW]), G(t, p[P_UPB]), dbig, L->a, V(t, p[P_UPW]), m, H, FF, 1);
        kn_add(dA, dx, M * H); /* d a: through the FFN and the residual */
        /* a = LN1(h1), h1 = ctx Wo + bo + x, ctx = attention(x Wqkv + bqkv). */
        kn_layernorm_backward(dA, G(t, p[P_LN1S]), G(t, p[P_LN1B]), dA, L->h1, V(t, p[P_LN1S]), m, H, t->c.ln_eps);
        kn_linear_backward(dB, G(t, p[P_OW]), G(t, p[P_OB]), dA, L->ctx, V(t, p[P_OW]), m, H, H, 1);
        if (kn_attention_batch_backward(dbig, dB, L->qkv, t->lengths, n, H, t->c.heads, q_scale) != 0)
            return kn_fail(err, "out of memory in attention backward");
        kn_linear_backward(dx, G(t, p[P_QW]), G(t, p[P_QB]), dbig, L->x, V(t, p[P_QW]), m, H, 3 * H, 1);
        kn_add(dx, dA, M * H); /* d x: through attention and the residual */
    }
    /* x0 = LN(e0), e0 = word[id] + position[p] + type[0]. */
    kn_layernorm_backward(dx, G(t, t->p_eln_s), G(t, t->p_eln_b), dx, t->e0, V(t, t->p_eln_s), m, H, t->c.ln_eps);
    float *gw = G(t, t->p_word), *gp = G(t, t->p_pos), *gt = t->p_type >= 0 ? G(t, t->p_type) : NULL;
    for (long r = 0; r < M; r++) {
        const float *d = dx + r * H;
        kn_add(gw + (long)t->ids[r] * H, d, H);
        kn_add(gp + (long)t->pos[r] * H, d, H);
        if (gt) kn_add(gt, d, H);
    }
    return 0;
}

/* ---- saving ------------------------------------------------------------------------- */

/* Copies every entry of the source directory into out_dir except the weights (and any
 * quantisation scale files), following symbolic links. */
static int copy_side_files(const char *src, const char *out_dir, kn_error *err)
{
    DIR *d = opendir(src);
    if (!d) return kn_fail(err, "%s: cannot list the directory", src);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        const char *nm = e->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strcmp(nm, "model.safetensors") == 0 ||
            kn_ends_with(nm, KN_Q8_SCALE_SUFFIX) || kn_ends_with(nm, ".tmp"))
            continue;
        char from[4200];
        if (kn_path_join(from, sizeof from, src, nm) != 0) { rc = kn_fail(err, "%s/%s: path too long", src, nm); break; }
        const char *argv[] = {"cp", "-rL", from, out_dir, NULL};
        rc = kn_run(argv, NULL, err);
    }
    closedir(d);
    return rc;
}

int kn_bert_train_save(const kn_bert_train *t, const char *out_dir, kn_error *err)
{
    char src_real[PATH_MAX], out_real[PATH_MAX], path[4200];
    if (kn_mkdir_p(out_dir, err) != 0) return -1;
    if (realpath(t->dir, src_real) && realpath(out_dir, out_real) && strcmp(src_real, out_real) == 0)
        return kn_fail(err, "%s: cannot save over the model it was loaded from", out_dir);
    if (kn_path_join(path, sizeof path, t->dir, "model.safetensors") != 0) return kn_fail(err, "%s: path too long", t->dir);
    kn_safetensors *st = kn_st_open(path, err);
    if (!st) return -1;
    size_t n = kn_st_count(st);
    kn_tensor *out = calloc(n ? n : 1, sizeof *out);
    float **widened = calloc(n ? n : 1, sizeof *widened);
    int rc = out && widened ? 0 : kn_fail(err, "out of memory");
    /* 8-byte elements first, so every tensor of the file stays aligned to its element. */
    size_t k = 0;
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const kn_tensor *s = kn_st_at(st, i);
            if ((kn_dtype_size(s->dtype) == 8) != (pass == 0)) continue;
            kn_tensor *o = &out[k++];
            *o = *s;
            size_t j = 0;
            while (j < t->n_params && strcmp(t->params[j].name, s->name) != 0) j++;
            if (j < t->n_params) {
                o->dtype = KN_F32;
                o->data = t->vals + t->params[j].off;
                o->nbytes = t->params[j].size * sizeof(float);
            } else if (s->dtype == KN_F16 || s->dtype == KN_BF16) {
                size_t cnt = s->nbytes / 2;
                float *w = widened[i] = malloc((cnt ? cnt : 1) * sizeof *w);
                if (!w) { rc = kn_fail(err, "out of memory"); break; }
                for (size_t q = 0; q < cnt; q++) w[q] = kn_load_f32(s->data, s->dtype, (long)q);
                o->dtype = KN_F32;
                o->data = w;
                o->nbytes = cnt * sizeof *w;
            }
        }
    }
    if (rc == 0) {
        const char *meta[] = {"format", "pt", NULL};
        if (kn_path_join(path, sizeof path, out_dir, "model.safetensors") != 0) rc = kn_fail(err, "%s: path too long", out_dir);
        else rc = kn_st_write(path, out, n, meta, err);
    }
    for (size_t i = 0; widened && i < n; i++) free(widened[i]);
    free(widened);
    free(out);
    kn_st_close(st);
    return rc == 0 ? copy_side_files(t->dir, out_dir, err) : rc;
}

/* ---- kn_trainable ------------------------------------------------------------------- */

typedef struct {
    kn_trainable base;
    kn_bert_train *t;
} bert_trainable;

static kn_bert_train *inner(kn_trainable *t) { return ((bert_trainable *)t)->t; }

static int tr_tokenize(kn_trainable *t, const char *text, size_t len, kn_token_seq *out, kn_error *err)
{
    return kn_bert_train_tokenize(inner(t), text, len, out, err);
}

static int tr_forward(kn_trainable *t, const kn_token_seq *seqs, size_t n, float *out, kn_error *err)
{
    return kn_bert_train_forward(inner(t), seqs, n, out, err);
}

static int tr_backward(kn_trainable *t, const float *dout, kn_error *err) { return kn_bert_train_backward(inner(t), dout, err); }
static void tr_zero_grad(kn_trainable *t) { kn_bert_train_zero_grad(inner(t)); }

static size_t tr_params(kn_trainable *t, kn_trainable_param *out, size_t cap)
{
    size_t np = kn_bert_train_param_count(inner(t));
    for (size_t i = 0; i < np && i < cap; i++) {
        kn_trainable_param *p = &out[i];
        p->ndim = kn_bert_train_param(inner(t), i, &p->name, &p->value, &p->grad, &p->size);
        const char *layer = strstr(p->name, "encoder.layer.");
        p->depth = layer ? 1 + atoi(layer + strlen("encoder.layer.")) : strstr(p->name, "embeddings.") ? 0 : 1 << 20;
    }
    return np;
}

static int tr_save(kn_trainable *t, const char *out_dir, kn_error *err) { return kn_bert_train_save(inner(t), out_dir, err); }

static void tr_destroy(kn_trainable *t)
{
    kn_bert_train_free(inner(t));
    free(t);
}

static const kn_trainable_ops BERT_OPS = {"hf-bert", tr_tokenize, tr_forward, tr_backward, tr_zero_grad,
                                          tr_params, tr_save,     tr_destroy};

kn_trainable *kn_bert_trainable_open(const char *dir, kn_error *err)
{
    bert_trainable *b = calloc(1, sizeof *b);
    if (!b) { kn_fail(err, "out of memory"); return NULL; }
    if (!(b->t = kn_bert_train_new(dir, err))) {
        free(b);
        return NULL;
    }
    b->base.ops = &BERT_OPS;
    b->base.dim = kn_bert_train_dim(b->t);
    b->base.max_tokens = kn_bert_train_max_tokens(b->t);
    return &b->base;
}
