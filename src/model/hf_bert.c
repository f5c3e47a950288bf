/* hf_bert.c - BERT / XLM-RoBERTa forward pass with sentence-transformers pooling.
 *
 * Post-layer-norm transformer: x = LN(word + position + token_type[0]); per layer
 * x = LN(x + attention(x)), x = LN(x + W2 gelu(W1 x)). As in USE-lite, the real tokens of a
 * batch are packed into one matrix (padding would only be masked away) and attention runs
 * per sentence. XLM-R numbers positions from pad_token_id + 1. */
#include "model/hf_bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"
#include "model/quantize.h"
#include "model/safetensors.h"
#include "text/hf_tokenizer.h"
#include "util/fs.h"

typedef struct {
    kn_matrix qkv, out, up, down;
    float *qkv_b, *out_b, *ln1_s, *ln1_b, *up_b, *down_b, *ln2_s, *ln2_b; /* owned F32 copies */
} bert_layer;

typedef struct {
    kn_encoder base;
    kn_safetensors *st;
    kn_hf_tokenizer *tok;
    kn_bert_config c;
    const kn_tensor *word, *pos, *type;
    const float *word_scale; /* per token row when word is I8 (quantised) */
    float *emb_ln_s, *emb_ln_b;
    bert_layer *L;
    float *buf;
    size_t buf_floats;
    const char *prefix; /* "", "bert." or "roberta." as the checkpoint names its tensors */
} hf_bert;

/* ---- configuration ------------------------------------------------------------------ */

static json_t *load_json(const char *dir, const char *name, int required, kn_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!kn_is_file(path)) {
        if (required) kn_fail(err, "%s: missing", path);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) kn_fail(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
    return j;
}

static int config_int(const json_t *cfg, const char *key, int *out, const char *dir, kn_error *err)
{
    json_t *v = json_object_get(cfg, key);
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 10000000)
        return kn_fail(err, "%s/config.json: \"%s\" must be a positive integer", dir, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* modules.json lists the pipeline; we support Transformer, Pooling and Normalize. */
static int read_modules(kn_bert_config *m, const char *dir, kn_error *err)
{
    json_t *mods = load_json(dir, "modules.json", 1, err);
    if (!mods) return -1;
    int rc = 0, have_pool = 0;
    size_t i;
    json_t *mod;
    json_array_foreach(mods, i, mod) {
        const char *type = json_string_value(json_object_get(mod, "type"));
        const char *sub = json_string_value(json_object_get(mod, "path"));
        if (!type || !sub) { rc = kn_fail(err, "%s/modules.json: module %zu lacks type or path", dir, i); break; }
        const char *cls = strrchr(type, '.') ? strrchr(type, '.') + 1 : type;
        if (strcmp(cls, "Transformer") == 0) continue;
        if (strcmp(cls, "Normalize") == 0) { m->normalize = 1; continue; }
        if (strcmp(cls, "Pooling") != 0) { rc = kn_fail(err, "%s/modules.json: module type %s is not supported", dir, type); break; }
        char name[512];
        snprintf(name, sizeof name, "%s/config.json", sub);
        json_t *pc = load_json(dir, name, 1, err);
        if (!pc) { rc = -1; break; }
        int mean = json_is_true(json_object_get(pc, "pooling_mode_mean_tokens"));
        int cls_tok = json_is_true(json_object_get(pc, "pooling_mode_cls_token"));
        int max = json_is_true(json_object_get(pc, "pooling_mode_max_tokens"));
        const char *others[] = {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};
        for (int k = 0; k < 3; k++)
            if (json_is_true(json_object_get(pc, others[k])))
                rc = kn_fail(err, "%s/%s: %s is not supported (mean, CLS and max pooling are)", dir, name, others[k]);
        if (rc == 0 && mean + cls_tok + max != 1)
            rc = kn_fail(err, "%s/%s: exactly one of mean, CLS or max pooling must be on", dir, name);
        m->pool = mean ? KN_BERT_POOL_MEAN : cls_tok ? KN_BERT_POOL_CLS : KN_BERT_POOL_MAX;
        json_decref(pc);
        have_pool = 1;
        if (rc) break;
    }
    json_decref(mods);
    if (rc == 0 && !have_pool) rc = kn_fail(err, "%s/modules.json: no Pooling module", dir);
    return rc;
}

int kn_bert_config_read(const char *dir, const json_t *cfg, kn_bert_config *m, kn_error *err)
{
    memset(m, 0, sizeof *m);
    const char *type = json_string_value(json_object_get(cfg, "model_type"));
    if (!type) return kn_fail(err, "%s/config.json: no model_type", dir);
    int xlmr = strcmp(type, "xlm-roberta") == 0;
    if (!xlmr && strcmp(type, "bert") != 0)
        return kn_fail(err, "%s/config.json: model_type '%s' is not supported (bert and xlm-roberta are)", dir, type);
    const char *pet = json_string_value(json_object_get(cfg, "position_embedding_type"));
    if (pet && strcmp(pet, "absolute") != 0)
        return kn_fail(err, "%s/config.json: position_embedding_type '%s' is not supported (absolute is)", dir, pet);
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    if (act && strcmp(act, "gelu") != 0)
        return kn_fail(err, "%s/config.json: hidden_act '%s' is not supported (gelu is)", dir, act);
    if (config_int(cfg, "hidden_size", &m->hidden, dir, err) || config_int(cfg, "num_hidden_layers", &m->layers, dir, err) ||
        config_int(cfg, "num_attention_heads", &m->heads, dir, err) || config_int(cfg, "intermediate_size", &m->inter, dir, err) ||
        config_int(cfg, "vocab_size", &m->vocab, dir, err) || config_int(cfg, "max_position_embeddings", &m->max_pos, dir, err))
        return -1;
    if (m->hidden % m->heads != 0) return kn_fail(err, "%s/config.json: hidden_size is not a multiple of num_attention_heads", dir);
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    m->ln_eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-12f;
    json_t *pad = json_object_get(cfg, "pad_token_id");
    m->position_offset = xlmr ? (json_is_integer(pad) ? (int)json_integer_value(pad) : 1) + 1 : 0;
    snprintf(m->model_type, sizeof m->model_type, "%s", type);

    int max_seq = m->max_pos - m->position_offset;
    json_t *sb = load_json(dir, "sentence_bert_config.json", 0, err);
    if (sb) {
        json_t *v = json_object_get(sb, "max_seq_length");
        if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < max_seq) max_seq = (int)json_integer_value(v);
        json_decref(sb);
    }
    m->max_tokens = max_seq;
    return read_modules(m, dir, err);
}

/* ---- weights ------------------------------------------------------------------------ */

const char *kn_bert_tensor_prefix(const kn_safetensors *st)
{
    const char *prefixes[] = {"bert.", "roberta."};
    for (int i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", prefixes[i]);
        if (kn_st_find(st, name)) return prefixes[i];
    }
    return "";
}

const kn_tensor *kn_bert_tensor(const kn_safetensors *st, const char *prefix, const char *name, int64_t d0, int64_t d1,
                                int allow_i8, kn_error *err)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const kn_tensor *t = kn_st_find(st, full);
    if (!t) { kn_fail(err, "model.safetensors: tensor '%s' is missing", full); return NULL; }
    if (t->dtype != KN_F32 && t->dtype != KN_F16 && t->dtype != KN_BF16 && !(allow_i8 && t->dtype == KN_I8)) {
        kn_fail(err, "model.safetensors: tensor '%s' is %s; F32, F16, BF16%s are supported", full,
                kn_dtype_name(t->dtype), allow_i8 ? " and I8" : "");
        return NULL;
    }
    int ndim = d1 ? 2 : 1;
    if (t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        kn_fail(err, "model.safetensors: tensor '%s' has shape [%lld%s%lld], config.json implies [%lld%s%lld]", full,
                (long long)t->shape[0], t->ndim > 1 ? ", " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL, (long long)d0,
                d1 ? ", " : "", (long long)d1);
        return NULL;
    }
    return t;
}

/* allow_i8: the tensor may be quantised (linear weights, the token embedding table). */
static const kn_tensor *tensor(hf_bert *m, const char *name, int64_t d0, int64_t d1, int allow_i8, kn_error *err)
{
    return kn_bert_tensor(m->st, m->prefix, name, d0, d1, allow_i8, err);
}

/* A vector parameter as an owned F32 array. */
static float *vector(hf_bert *m, const char *name, int n, kn_error *err)
{
    const kn_tensor *t = tensor(m, name, n, 0, 0, err);
    if (!t) return NULL;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) { kn_fail(err, "out of memory"); return NULL; }
    for (int i = 0; i < n; i++) v[i] = kn_load_f32(t->data, t->dtype, i);
    return v;
}

/* A PyTorch Linear weight [out, in] (or several side by side) as a kn_matrix [in, out]. */
static int linear(hf_bert *m, kn_matrix *mat, const char *const *names, int nnames, int out_each, int in, kn_error *err)
{
    kn_weight_src src[KN_MAX_PARTS];
    for (int i = 0; i < nnames; i++) {
        const kn_tensor *t = tensor(m, names[i], out_each, in, 1, err);
        if (!t) return -1;
        src[i] = (kn_weight_src){t->data, t->dtype, out_each, 1, NULL};
        if (t->dtype == KN_I8 && !(src[i].scale = kn_st_q8_scale(m->st, t->name, out_each, err))) return -1;
    }
    if (kn_matrix_init_src(mat, in, src, nnames) != 0)
        return kn_fail(err, "out of memory preparing %s (or its parts mix quantised and float weights)", names[0]);
    return 0;
}

static int bind_layer(hf_bert *m, int l, kn_error *err)
{
    bert_layer *L = &m->L[l];
    int H = m->c.hidden, I = m->c.inter;
    char q[128], k[128], v[128], o[128], up[128], down[128], n[128];
#define P(buf, suffix) snprintf(buf, sizeof buf, "encoder.layer.%d.%s", l, suffix)
    P(q, "attention.self.query.weight");
    P(k, "attention.self.key.weight");
    P(v, "attention.self.value.weight");
    P(o, "attention.output.dense.weight");
    P(up, "intermediate.dense.weight");
    P(down, "output.dense.weight");
    const char *qkv[] = {q, k, v}, *out[] = {o}, *ups[] = {up}, *downs[] = {down};
    if (linear(m, &L->qkv, qkv, 3, H, H, err) || linear(m, &L->out, out, 1, H, H, err) ||
        linear(m, &L->up, ups, 1, I, H, err) || linear(m, &L->down, downs, 1, H, I, err))
        return -1;
    L->qkv_b = malloc(3 * (size_t)H * sizeof(float));
    if (!L->qkv_b) return kn_fail(err, "out of memory");
    const char *bias_names[] = {"attention.self.query.bias", "attention.self.key.bias", "attention.self.value.bias"};
    for (int i = 0; i < 3; i++) {
        P(n, bias_names[i]);
        float *b = vector(m, n, H, err);
        if (!b) return -1;
        memcpy(L->qkv_b + i * H, b, (size_t)H * sizeof *b);
        free(b);
    }
    struct { float **dst; const char *name; int len; } vecs[] = {
        {&L->out_b, "attention.output.dense.bias", H}, {&L->ln1_s, "attention.output.LayerNorm.weight", H},
        {&L->ln1_b, "attention.output.LayerNorm.bias", H}, {&L->up_b, "intermediate.dense.bias", I},
        {&L->down_b, "output.dense.bias", H}, {&L->ln2_s, "output.LayerNorm.weight", H}, {&L->ln2_b, "output.LayerNorm.bias", H}};
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        P(n, vecs[i].name);
        if (!(*vecs[i].dst = vector(m, n, vecs[i].len, err))) return -1;
    }
#undef P
    return 0;
}

static int bind_weights(hf_bert *m, const char *dir, kn_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!kn_is_file(path)) return kn_fail(err, "%s: missing (only safetensors weights are supported)", path);
    if (!(m->st = kn_st_open(path, err))) return -1;
    m->prefix = kn_bert_tensor_prefix(m->st);
    int H = m->c.hidden;
    if (!(m->word = tensor(m, "embeddings.word_embeddings.weight", m->c.vocab, H, 1, err)) ||
        !(m->pos = tensor(m, "embeddings.position_embeddings.weight", m->c.max_pos, H, 0, err)))
        goto fail;
    if (m->word->dtype == KN_I8 && !(m->word_scale = kn_st_q8_scale(m->st, m->word->name, m->c.vocab, err))) goto fail;
    char tname[64];
    snprintf(tname, sizeof tname, "%sembeddings.token_type_embeddings.weight", m->prefix);
    const kn_tensor *tt = kn_st_find(m->st, tname);
    if (tt && !(m->type = tensor(m, "embeddings.token_type_embeddings.weight", tt->ndim ? tt->shape[0] : 0, H, 0, err))) goto fail;
    if (!(m->emb_ln_s = vector(m, "embeddings.LayerNorm.weight", H, err)) ||
        !(m->emb_ln_b = vector(m, "embeddings.LayerNorm.bias", H, err)))
        goto fail;
    if (!(m->L = calloc((size_t)m->c.layers, sizeof *m->L))) { kn_fail(err, "out of memory"); goto fail; }
    for (int l = 0; l < m->c.layers; l++)
        if (bind_layer(m, l, err) != 0) goto fail;
    return 0;
fail:
    /* name the file for errors raised while binding tensors */
    if (err && strncmp(err->msg, "model.safetensors", 17) == 0) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err->msg + 17);
        kn_fail(err, "%s%s", path, inner);
    }
    return -1;
}

/* ---- forward ------------------------------------------------------------------------ */

static void destroy(kn_encoder *enc)
{
    hf_bert *m = (hf_bert *)enc;
    for (int l = 0; m->L && l < m->c.layers; l++) {
        bert_layer *L = &m->L[l];
        kn_matrix_free(&L->qkv);
        kn_matrix_free(&L->out);
        kn_matrix_free(&L->up);
        kn_matrix_free(&L->down);
        float *vecs[] = {L->qkv_b, L->out_b, L->ln1_s, L->ln1_b, L->up_b, L->down_b, L->ln2_s, L->ln2_b};
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) free(vecs[i]);
    }
    free(m->L);
    free(m->emb_ln_s);
    free(m->emb_ln_b);
    kn_hf_tokenizer_free(m->tok);
    kn_st_close(m->st);
    free(m->buf);
    free(m);
}

static int tokenize(const kn_encoder *enc, const char *text, size_t len, kn_token_seq *out, kn_error *err)
{
    const hf_bert *m = (const hf_bert *)enc;
    out->ids = NULL;
    out->n = 0;
    return kn_hf_tokenizer_encode(m->tok, text, len, (size_t)m->base.max_tokens, &out->ids, &out->n, err);
}

static int seq_len(const hf_bert *m, const kn_token_seq *s)
{
    return s->n < (size_t)m->base.max_tokens ? (int)s->n : m->base.max_tokens;
}

static int embed(const hf_bert *m, const kn_token_seq *seqs, size_t n, float *x, kn_error *err)
{
    int H = m->c.hidden;
    long row = 0;
    for (size_t s = 0; s < n; s++) {
        int T = seq_len(m, &seqs[s]);
        for (int t = 0; t < T; t++, row++) {
            int32_t id = seqs[s].ids[t];
            if (id < 0 || id >= m->c.vocab) return kn_fail(err, "token id %d is outside the vocabulary (0..%d)", id, m->c.vocab - 1);
            float *xr = x + row * H;
            long p0 = (long)(t + m->c.position_offset) * H;
            kn_embedding_row(m->word, m->word_scale, id, H, xr);
            for (int j = 0; j < H; j++) {
                float v = xr[j] + kn_load_f32(m->pos->data, m->pos->dtype, p0 + j);
                xr[j] = m->type ? v + kn_load_f32(m->type->data, m->type->dtype, j) : v;
            }
        }
    }
    kn_layernorm(x, x, m->emb_ln_s, m->emb_ln_b, (int)row, H, m->c.ln_eps);
    return 0;
}

static void pool(const hf_bert *m, const kn_token_seq *seqs, size_t n, const float *x, float *out)
{
    int H = m->c.hidden;
    long row = 0;
    for (size_t s = 0; s < n; s++) {
        int T = seq_len(m, &seqs[s]);
        float *o = out + (long)s * H;
        const float *xs = x + row * H;
        if (T == 0) {
            memset(o, 0, (size_t)H * sizeof *o);
        } else if (m->c.pool == KN_BERT_POOL_CLS) {
            memcpy(o, xs, (size_t)H * sizeof *o);
        } else if (m->c.pool == KN_BERT_POOL_MAX) {
            memcpy(o, xs, (size_t)H * sizeof *o);
            for (int t = 1; t < T; t++)
                for (int j = 0; j < H; j++) o[j] = fmaxf(o[j], xs[(long)t * H + j]);
        } else {
            memset(o, 0, (size_t)H * sizeof *o);
            for (int t = 0; t < T; t++) kn_add(o, xs + (long)t * H, H);
            for (int j = 0; j < H; j++) o[j] /= (float)T;
        }
        row += T;
    }
}

static int forward(kn_encoder *enc, const kn_token_seq *seqs, size_t n, float *out, kn_error *err)
{
    hf_bert *m = (hf_bert *)enc;
    int H = m->c.hidden, I = m->c.inter;
    long M = 0;
    int Tmax = 0;
    for (size_t s = 0; s < n; s++) {
        int T = seq_len(m, &seqs[s]);
        M += T;
        Tmax = T > Tmax ? T : Tmax;
    }
    long Mx = M > 0 ? M : 1;
    size_t need = (size_t)Mx * (size_t)(H * 2 + 3 * H + I) + 1;
    if (need > m->buf_floats) {
        float *p = realloc(m->buf, need * sizeof *p);
        if (!p) return kn_fail(err, "out of memory for %zu activations", need);
        m->buf = p;
        m->buf_floats = need;
    }
    float *x = m->buf, *h = x + Mx * H, *qkv = h + Mx * H, *big = qkv + Mx * 3 * H;
    float *ctx = big; /* attention output shares the FFN buffer: never live together */
    int *lengths = malloc((n ? n : 1) * sizeof *lengths);
    if (!lengths) return kn_fail(err, "out of memory");
    for (size_t s = 0; s < n; s++) lengths[s] = seq_len(m, &seqs[s]);
    if (embed(m, seqs, n, x, err) != 0) {
        free(lengths);
        return -1;
    }
    float q_scale = 1.0f / sqrtf((float)(H / m->c.heads));
    int oom = 0; /* only quantised layers can run out of memory in kn_linear */
    for (int l = 0; l < m->c.layers && M > 0 && !oom; l++) {
        bert_layer *L = &m->L[l];
        oom |= kn_linear(qkv, x, &L->qkv, L->qkv_b, (int)M);
        if (kn_attention_batch(ctx, qkv, lengths, (int)n, H, m->c.heads, q_scale) != 0) {
            free(lengths);
            return kn_fail(err, "out of memory in attention");
        }
        oom |= kn_linear(h, ctx, &L->out, L->out_b, (int)M);
        kn_residual_layernorm(x, h, L->ln1_s, L->ln1_b, (int)M, H, m->c.ln_eps);
        oom |= kn_linear(big, x, &L->up, L->up_b, (int)M);
        kn_gelu(big, M * I);
        oom |= kn_linear(h, big, &L->down, L->down_b, (int)M);
        kn_residual_layernorm(x, h, L->ln2_s, L->ln2_b, (int)M, H, m->c.ln_eps);
    }
    free(lengths);
    if (oom) return kn_fail(err, "out of memory for quantised activations");
    pool(m, seqs, n, x, out);
    if (m->c.normalize) kn_l2_normalize(out, (int)n, H, 1e-24f);
    return 0;
}

static double flops(const kn_encoder *enc, const kn_token_seq *seqs, size_t n)
{
    const hf_bert *m = (const hf_bert *)enc;
    double H = m->c.hidden, I = m->c.inter, total = 0;
    for (size_t s = 0; s < n; s++) {
        double T = seq_len(m, &seqs[s]);
        total += m->c.layers * (2.0 * T * (4 * H * H + 2 * H * I) + 4.0 * T * T * H);
    }
    return total;
}

static const kn_encoder_ops hf_bert_ops = {"hf-bert", tokenize, forward, destroy, flops};

kn_encoder *kn_hf_bert_open(const char *dir, const json_t *cfg, kn_error *err)
{
    hf_bert *m = calloc(1, sizeof *m);
    if (!m) { kn_fail(err, "out of memory"); return NULL; }
    m->base.ops = &hf_bert_ops;
    char path[4096];
    if (kn_bert_config_read(dir, cfg, &m->c, err) != 0) goto fail;
    snprintf(m->base.name, sizeof m->base.name, "%s", m->c.model_type);
    m->base.max_tokens = m->c.max_tokens;
    m->base.dim = m->c.hidden;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!kn_is_file(path)) { kn_fail(err, "%s: missing", path); goto fail; }
    if (!(m->tok = kn_hf_tokenizer_load(path, err))) goto fail;
    if (bind_weights(m, dir, err) != 0) goto fail;
    return &m->base;
fail:
    destroy(&m->base);
    return NULL;
}
