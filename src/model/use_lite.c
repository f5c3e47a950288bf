/* use_lite.c - the USE-lite forward pass, as the TensorFlow.js graph computes it.
 *
 * The graph pads the batch densely and masks; padding never influences real positions
 * (keys are masked with -1e9, FFN and residual outputs are scattered only to real
 * positions, pooling averages only the first `length` positions). So we pack the real
 * tokens of the whole batch into one [M, D] matrix for every dense op, and run the
 * attention per sentence: the same numbers, no wasted FLOPs on padding. */
#include "model/use_lite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"
#include "model/quantize.h"
#include "model/safetensors.h"
#include "text/use_tokenizer.h"
#include "util/fs.h"

typedef struct {
    int d_in, d_att, d_model, d_ff, heads;
    float q_scale;
    const float *attn_ln_s, *attn_ln_b, *qkv_b, *out_b, *res_b, *ffn_ln_s, *ffn_ln_b, *b1, *b2;
    kn_matrix qkv_w, out_w, res_w, w1, w2; /* res_w.N is 0 when the residual is identity */
} use_layer;

typedef struct {
    kn_encoder base;
    kn_safetensors *st;
    kn_use_tokenizer *tok;
    int vocab_rows, d_embed, n_timescales, max_positions;
    float ln_eps, l2_eps;
    const kn_tensor *embed;    /* F32, or I8 with one scale per row in embed_scale */
    const float *embed_scale, *inv_timescales, *proj_b;
    kn_matrix proj_w;
    use_layer layers[KN_USE_LAYERS];
    /* scratch, grown on demand */
    float *buf;
    size_t buf_floats;
} use_lite;

static const float *weight(use_lite *m, const char *name, int ndim, int64_t d0, int64_t d1, kn_error *err)
{
    int64_t shape[2] = {d0, d1};
    return kn_st_f32(m->st, name, ndim, shape, err);
}

/* Finds weight `name` with shape [k, n], F32 or quantised (I8 + per-column scales), and
 * prepares it for the kernels. 1 on success, 0 with err. */
static int bind_weight(use_lite *m, kn_matrix *out, const char *name, int k, int n, kn_error *err)
{
    const kn_tensor *t = kn_st_find(m->st, name);
    kn_weight_src src = {NULL, KN_F32, n, 0, NULL};
    if (t && t->dtype == KN_I8) {
        if (t->ndim != 2 || t->shape[0] != k || t->shape[1] != n) return !kn_fail(err, "weights: tensor '%s' has an unexpected shape", name);
        if (!(src.scale = kn_st_q8_scale(m->st, name, n, err))) return 0;
        src.data = t->data;
        src.dtype = KN_I8;
    } else if (!(src.data = weight(m, name, 2, k, n, err))) {
        return 0;
    }
    if (kn_matrix_init_src(out, k, &src, 1) != 0) return !kn_fail(err, "out of memory preparing %s", name);
    return 1;
}

/* Finds l<layer>.<suffix> with shape [k, n] and prepares it for the kernels. */
static int bind_matrix(use_lite *m, kn_matrix *out, char *name, size_t cap, int l, const char *suffix, int k, int n,
                       kn_error *err)
{
    snprintf(name, cap, "l%d.%s", l, suffix);
    return bind_weight(m, out, name, k, n, err);
}

static int bind_layer(use_lite *m, int l, const json_t *lcfg, kn_error *err)
{
    use_layer *L = &m->layers[l];
    char n[128];
#define W2(field, suffix, a, b) bind_matrix(m, &L->field, n, sizeof n, l, suffix, a, b, err)
#define W1(field, suffix, a) \
    (snprintf(n, sizeof n, "l%d." suffix, l), (L->field = weight(m, n, 1, a, 0, err)) != NULL)
    /* Widths come from the weights themselves; shapes are then checked by name. */
    snprintf(n, sizeof n, "l%d.attn.qkv.weight", l);
    const kn_tensor *qkv = kn_st_find(m->st, n);
    snprintf(n, sizeof n, "l%d.attn.out.weight", l);
    const kn_tensor *out = kn_st_find(m->st, n);
    snprintf(n, sizeof n, "l%d.ffn.w1", l);
    const kn_tensor *w1 = kn_st_find(m->st, n);
    if (!qkv || !out || !w1 || qkv->ndim != 2 || out->ndim != 2 || w1->ndim != 2)
        return kn_fail(err, "weights: layer %d is incomplete", l);
    L->d_in = (int)qkv->shape[0];
    L->d_att = (int)qkv->shape[1] / 3;
    L->d_model = (int)out->shape[1];
    L->d_ff = (int)w1->shape[1];
    L->heads = (int)json_integer_value(json_object_get(lcfg, "heads"));
    L->q_scale = (float)json_number_value(json_object_get(lcfg, "q_scale"));
    if (L->heads <= 0 || L->d_att % L->heads != 0 || L->q_scale <= 0)
        return kn_fail(err, "config.json: layer %d needs positive heads dividing %d and a q_scale", l, L->d_att);
    int ok = W1(attn_ln_s, "attn_ln.scale", L->d_in) && W1(attn_ln_b, "attn_ln.bias", L->d_in) &&
             W2(qkv_w, "attn.qkv.weight", L->d_in, 3 * L->d_att) && W1(qkv_b, "attn.qkv.bias", 3 * L->d_att) &&
             W2(out_w, "attn.out.weight", L->d_att, L->d_model) && W1(out_b, "attn.out.bias", L->d_model) &&
             W1(ffn_ln_s, "ffn_ln.scale", L->d_model) && W1(ffn_ln_b, "ffn_ln.bias", L->d_model) &&
             W2(w1, "ffn.w1", L->d_model, L->d_ff) && W1(b1, "ffn.b1", L->d_ff) &&
             W2(w2, "ffn.w2", L->d_ff, L->d_model) && W1(b2, "ffn.b2", L->d_model);
    if (!ok) return -1;
    /* A layer that changes width projects its residual; otherwise the residual is identity. */
    if (L->d_in != L->d_model) {
        if (!(W2(res_w, "res.weight", L->d_in, L->d_model) && W1(res_b, "res.bias", L->d_model))) return -1;
    }
#undef W1
#undef W2
    return 0;
}

static void destroy(kn_encoder *enc)
{
    use_lite *m = (use_lite *)enc;
    for (int l = 0; l < KN_USE_LAYERS; l++) {
        use_layer *L = &m->layers[l];
        kn_matrix_free(&L->qkv_w);
        kn_matrix_free(&L->out_w);
        kn_matrix_free(&L->res_w);
        kn_matrix_free(&L->w1);
        kn_matrix_free(&L->w2);
    }
    kn_matrix_free(&m->proj_w);
    kn_st_close(m->st);
    kn_use_tokenizer_free(m->tok);
    free(m->buf);
    free(m);
}

static int tokenize(const kn_encoder *enc, const char *text, size_t len, kn_token_seq *out, kn_error *err)
{
    const use_lite *m = (const use_lite *)enc;
    out->ids = NULL;
    out->n = 0;
    return kn_use_tokenizer_encode(m->tok, text, len, &out->ids, &out->n, err);
}

static float *scratch(use_lite *m, size_t floats, kn_error *err)
{
    if (floats > m->buf_floats) {
        float *p = realloc(m->buf, floats * sizeof *p);
        if (!p) { kn_fail(err, "out of memory for %zu activations", floats); return NULL; }
        m->buf = p;
        m->buf_floats = floats;
    }
    return m->buf;
}

/* x[M, d_embed] = 2 * embedding row + the sinusoidal timing signal of each position.
 * The factor 2 is the graph's: Layer_0/add sums the scattered embeddings with the
 * scattered (embeddings + timing signal), so every embedding enters twice. */
static int embed_tokens(const use_lite *m, const kn_token_seq *seqs, size_t n, float *x, kn_error *err)
{
    int D = m->d_embed, half = m->n_timescales;
    long row = 0;
    for (size_t s = 0; s < n; s++) {
        size_t T = seqs[s].n < (size_t)m->max_positions ? seqs[s].n : (size_t)m->max_positions;
        for (size_t t = 0; t < T; t++, row++) {
            int32_t id = seqs[s].ids[t];
            if (id < 0 || id >= m->vocab_rows)
                return kn_fail(err, "token id %d is outside the embedding table (0..%d)", id, m->vocab_rows - 1);
            float *xr = x + row * D;
            kn_embedding_row(m->embed, m->embed_scale, id, D, xr);
            for (int j = 0; j < half; j++) {
                float angle = (float)t * m->inv_timescales[j], e0 = xr[j], e1 = xr[half + j];
                xr[j] = (e0 + (float)sin(angle)) + e0;
                xr[half + j] = (e1 + (float)cos(angle)) + e1;
            }
        }
    }
    return 0;
}

static int forward(kn_encoder *enc, const kn_token_seq *seqs, size_t n, float *out, kn_error *err)
{
    use_lite *m = (use_lite *)enc;
    long M = 0;
    int *lengths = malloc((n ? n : 1) * sizeof *lengths);
    if (!lengths) return kn_fail(err, "out of memory");
    for (size_t s = 0; s < n; s++) {
        lengths[s] = seqs[s].n < (size_t)m->max_positions ? (int)seqs[s].n : m->max_positions;
        M += lengths[s];
    }
    int Dmax = m->d_embed;
    for (int l = 0; l < KN_USE_LAYERS; l++) {
        const use_layer *L = &m->layers[l];
        int w = L->d_model > 3 * L->d_att ? L->d_model : 3 * L->d_att;
        w = L->d_ff > w ? L->d_ff : w;
        Dmax = w > Dmax ? w : Dmax;
    }
    /* x: residual stream; h: normed input; big: qkv or FFN hidden; ctx: attention output. */
    long Mx = M > 0 ? M : 1;
    size_t need = (size_t)(Mx * Dmax * 4) + 1;
    float *base = scratch(m, need, err);
    if (!base) {
        free(lengths);
        return -1;
    }
    float *x = base, *h = x + Mx * Dmax, *big = h + Mx * Dmax, *ctx = big + Mx * Dmax;

    if (embed_tokens(m, seqs, n, x, err) != 0) {
        free(lengths);
        return -1;
    }
    int oom = 0; /* only quantised layers can run out of memory in kn_linear */
    for (int l = 0; l < KN_USE_LAYERS && M > 0 && !oom; l++) {
        const use_layer *L = &m->layers[l];
        kn_layernorm(h, x, L->attn_ln_s, L->attn_ln_b, (int)M, L->d_in, m->ln_eps);
        oom |= kn_linear(big, h, &L->qkv_w, L->qkv_b, (int)M);
        if (kn_attention_batch(ctx, big, lengths, (int)n, L->d_att, L->heads, L->q_scale) != 0) {
            free(lengths);
            return kn_fail(err, "out of memory in attention");
        }
        /* y = attention output + residual (projected when the width changes); kept in h. */
        if (L->res_w.N) {
            oom |= kn_linear(h, x, &L->res_w, L->res_b, (int)M);
            oom |= kn_linear(x, ctx, &L->out_w, L->out_b, (int)M);
            kn_add(x, h, M * L->d_model);
        } else {
            oom |= kn_linear(h, ctx, &L->out_w, L->out_b, (int)M);
            kn_add(x, h, M * L->d_model);
        }
        kn_layernorm(h, x, L->ffn_ln_s, L->ffn_ln_b, (int)M, L->d_model, m->ln_eps);
        oom |= kn_linear(big, h, &L->w1, L->b1, (int)M);
        kn_relu(big, M * L->d_ff);
        oom |= kn_linear(h, big, &L->w2, L->b2, (int)M);
        kn_add(x, h, M * L->d_model);
    }

    free(lengths);
    if (oom) return kn_fail(err, "out of memory for quantised activations");

    /* Mean over each sentence's tokens (an empty sentence pools to zeros, as in the graph). */
    int D = m->layers[KN_USE_LAYERS - 1].d_model, E = m->base.dim;
    float *pooled = ctx; /* ctx is free now and holds >= n*D floats only if M >= n; use big otherwise */
    if ((long)n * D > Mx * Dmax) {
        pooled = malloc((size_t)n * D * sizeof *pooled);
        if (!pooled) return kn_fail(err, "out of memory");
    }
    long row = 0;
    for (size_t s = 0; s < n; s++) {
        int T = seqs[s].n < (size_t)m->max_positions ? (int)seqs[s].n : m->max_positions;
        float *p = pooled + (long)s * D;
        memset(p, 0, (size_t)D * sizeof *p);
        for (int t = 0; t < T; t++) kn_add(p, x + (row + t) * D, D);
        float inv = 1.0f / (float)(T > 0 ? T : 1);
        for (int j = 0; j < D; j++) p[j] *= inv;
        row += T;
    }
    oom = kn_linear(out, pooled, &m->proj_w, m->proj_b, (int)n);
    for (long i = 0; i < (long)n * E; i++) out[i] = tanhf(out[i]);
    kn_l2_normalize(out, (int)n, E, m->l2_eps);
    if (pooled != ctx) free(pooled);
    return oom ? kn_fail(err, "out of memory for quantised activations") : 0;
}

/* Multiply-adds count 2 flops: the linear layers per token, attention per sentence (T^2 per
 * head-width for scores and again for the weighted sum), and the final projection. */
static double flops(const kn_encoder *enc, const kn_token_seq *seqs, size_t n)
{
    const use_lite *m = (const use_lite *)enc;
    double total = 2.0 * (double)n * m->layers[KN_USE_LAYERS - 1].d_model * m->base.dim;
    for (size_t s = 0; s < n; s++) {
        double T = (double)(seqs[s].n < (size_t)m->max_positions ? seqs[s].n : (size_t)m->max_positions);
        for (int l = 0; l < KN_USE_LAYERS; l++) {
            const use_layer *L = &m->layers[l];
            double per_token = (double)L->d_in * 3 * L->d_att + (double)L->d_att * L->d_model +
                               2.0 * L->d_model * L->d_ff + (L->res_w.N ? (double)L->d_in * L->d_model : 0.0);
            total += 2.0 * T * per_token + 2.0 * 2.0 * T * T * L->d_att;
        }
    }
    return total;
}

static const kn_encoder_ops use_lite_ops = {"use-lite", tokenize, forward, destroy, flops};

kn_encoder *kn_use_lite_open(const char *dir, const json_t *cfg, kn_error *err)
{
    use_lite *m = calloc(1, sizeof *m);
    if (!m) { kn_fail(err, "out of memory"); return NULL; }
    m->base.ops = &use_lite_ops;
    char path[4096];
    const char *name = json_string_value(json_object_get(cfg, "name"));
    snprintf(m->base.name, sizeof m->base.name, "%s", name ? name : "use-lite");
    m->max_positions = (int)json_integer_value(json_object_get(cfg, "max_positions"));
    m->ln_eps = (float)json_number_value(json_object_get(cfg, "layer_norm_eps"));
    m->l2_eps = (float)json_number_value(json_object_get(cfg, "l2_eps"));
    json_t *layers = json_object_get(cfg, "layers");
    if (m->max_positions <= 0 || m->ln_eps <= 0 || m->l2_eps <= 0 || json_array_size(layers) != KN_USE_LAYERS) {
        kn_fail(err, "%s/config.json: needs max_positions, layer_norm_eps, l2_eps and %d layers", dir, KN_USE_LAYERS);
        goto fail;
    }
    m->base.max_tokens = m->max_positions;
    if (kn_path_join(path, sizeof path, dir, "model.safetensors") != 0 || !(m->st = kn_st_open(path, err))) goto fail;
    if (kn_path_join(path, sizeof path, dir, "vocab.json") != 0 || !(m->tok = kn_use_tokenizer_load(path, err))) goto fail;

    const kn_tensor *emb = kn_st_find(m->st, "embed.weight");
    const kn_tensor *ts = kn_st_find(m->st, "timing.inv_timescales");
    const kn_tensor *pw = kn_st_find(m->st, "proj.weight");
    if (!emb || emb->ndim != 2 || !ts || ts->ndim != 1 || !pw || pw->ndim != 2) {
        kn_fail(err, "%s: embed.weight, timing.inv_timescales or proj.weight missing", path);
        goto fail;
    }
    m->vocab_rows = (int)emb->shape[0];
    m->d_embed = (int)emb->shape[1];
    m->n_timescales = (int)ts->shape[0];
    if (2 * m->n_timescales != m->d_embed) { kn_fail(err, "weights: timing signal width does not match embeddings"); goto fail; }
    if (emb->dtype == KN_I8) {
        m->embed = emb;
        m->embed_scale = kn_st_q8_scale(m->st, "embed.weight", m->vocab_rows, err);
        if (!m->embed_scale) goto fail;
    } else if (weight(m, "embed.weight", 2, m->vocab_rows, m->d_embed, err)) {
        m->embed = emb;
    }
    m->inv_timescales = weight(m, "timing.inv_timescales", 1, m->n_timescales, 0, err);
    for (int l = 0; l < KN_USE_LAYERS; l++)
        if (bind_layer(m, l, json_array_get(layers, l), err) != 0) goto fail;
    if (m->layers[0].d_in != m->d_embed || m->layers[1].d_in != m->layers[0].d_model) {
        kn_fail(err, "weights: layer widths do not chain");
        goto fail;
    }
    int D = m->layers[KN_USE_LAYERS - 1].d_model;
    m->base.dim = (int)pw->shape[1];
    m->proj_b = weight(m, "proj.bias", 1, m->base.dim, 0, err);
    if (!m->embed || !m->inv_timescales || !m->proj_b) goto fail;
    if (!bind_weight(m, &m->proj_w, "proj.weight", D, m->base.dim, err)) goto fail;
    return &m->base;
fail:
    destroy(&m->base);
    return NULL;
}
