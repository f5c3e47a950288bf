/* quantize.c - turning a model directory into its int8 form (quantize.h). */
#include "model/quantize.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/concat_encoder.h"
#include "model/ops.h"
#include "model/qgemm.h"
#include "util/fs.h"
#include "util/spawn.h"

/* Which axis of a 2-D tensor holds the output channels that get one scale each: 0 (rows),
 * 1 (columns), or -1 to keep the tensor as it is. USE-lite stores linear weights [in, out]
 * (TensorFlow); the BERT family [out, in] (PyTorch). Embedding tables get one scale per
 * token row. Position and token-type tables are small and stay as they are. */
static int channel_axis(int use_lite, const kn_tensor *t)
{
    if (t->ndim != 2 || (t->dtype != KN_F32 && t->dtype != KN_F16 && t->dtype != KN_BF16)) return -1;
    if (use_lite) {
        if (strcmp(t->name, "embed.weight") == 0) return 0;
        static const char *const linear[] = {".attn.qkv.weight", ".attn.out.weight", ".res.weight", ".ffn.w1", ".ffn.w2"};
        for (size_t i = 0; i < sizeof linear / sizeof *linear; i++)
            if (kn_ends_with(t->name, linear[i])) return 1;
        return strcmp(t->name, "proj.weight") == 0 ? 1 : -1;
    }
    if (kn_ends_with(t->name, "word_embeddings.weight")) return 0;
    static const char *const linear[] = {".query.weight", ".key.weight", ".value.weight", ".dense.weight"};
    for (size_t i = 0; i < sizeof linear / sizeof *linear; i++)
        if (kn_ends_with(t->name, linear[i])) return 0;
    return -1;
}

/* One output tensor and the buffer it owns (NULL when it points into the input). */
typedef struct {
    kn_tensor t;
    void *owned;
    char *name;
} out_tensor;

static int quantize_tensor(const kn_tensor *in, int axis, out_tensor *q, out_tensor *s)
{
    int64_t rows = in->shape[0], cols = in->shape[1];
    int64_t channels = axis == 0 ? rows : cols, len = axis == 0 ? cols : rows;
    float *w = malloc((size_t)len * sizeof *w);
    int8_t *data = malloc((size_t)(rows * cols));
    float *scale = malloc((size_t)channels * sizeof *scale);
    size_t nlen = strlen(in->name) + sizeof KN_Q8_SCALE_SUFFIX;
    s->name = malloc(nlen);
    if (!w || !data || !scale || !s->name) {
        free(w), free(data), free(scale);
        return -1;
    }
    for (int64_t c = 0; c < channels; c++) {
        /* the channel's values, contiguous, then quantised back into place */
        long stride = axis == 0 ? 1 : (long)cols, start = axis == 0 ? (long)(c * cols) : (long)c;
        for (int64_t i = 0; i < len; i++) w[i] = kn_load_f32(in->data, in->dtype, start + i * stride);
        scale[c] = kn_q8_quantize_channel(w, 1, (int)len, data + start, stride);
    }
    free(w);
    q->t = *in;
    q->t.dtype = KN_I8;
    q->t.data = q->owned = data;
    q->t.nbytes = (size_t)(rows * cols);
    snprintf(s->name, nlen, "%s%s", in->name, KN_Q8_SCALE_SUFFIX);
    s->t = (kn_tensor){.name = s->name, .dtype = KN_F32, .ndim = 1, .shape = {channels}, .data = scale,
                       .nbytes = (size_t)channels * sizeof *scale};
    s->owned = scale;
    return 0;
}

/* Widest elements first: every tensor then starts aligned for its element type. */
static int by_element_size(const void *a, const void *b)
{
    size_t x = kn_dtype_size(((const out_tensor *)a)->t.dtype), y = kn_dtype_size(((const out_tensor *)b)->t.dtype);
    return x < y ? 1 : x > y ? -1 : 0;
}

static int write_weights(const kn_safetensors *st, int use_lite, const char *path, size_t *n_quantized, kn_error *err)
{
    size_t n = kn_st_count(st), k = 0;
    out_tensor *out = calloc(2 * n, sizeof *out);
    if (!out) return kn_fail(err, "out of memory");
    int rc = 0;
    *n_quantized = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const kn_tensor *t = kn_st_at(st, i);
        int axis = channel_axis(use_lite, t);
        if (axis < 0) {
            out[k++].t = *t;
            continue;
        }
        if (quantize_tensor(t, axis, &out[k], &out[k + 1]) != 0) rc = kn_fail(err, "out of memory quantising %s", t->name);
        k += 2;
        ++*n_quantized;
    }
    if (rc == 0) {
        qsort(out, k, sizeof *out, by_element_size);
        kn_tensor *list = malloc((k ? k : 1) * sizeof *list);
        if (!list) rc = kn_fail(err, "out of memory");
        for (size_t i = 0; rc == 0 && i < k; i++) list[i] = out[i].t;
        const char *meta[] = {"format", "pt", "kanava_quantization", "int8", NULL};
        if (rc == 0) rc = kn_st_write(path, list, k, meta, err);
        free(list);
    }
    for (size_t i = 0; i < 2 * n; i++) {
        free(out[i].owned);
        free(out[i].name);
    }
    free(out);
    return rc;
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d));) empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* The tokenizer, pooling and other files come along as they are; the weights are written
 * next and config.json last, so a directory without it is an unfinished one. */
static int copy_others(const char *in_dir, const char *out_dir, kn_error *err)
{
    if (kn_mkdir_p(out_dir, err) != 0) return -1;
    DIR *d = opendir(in_dir);
    if (!d) return kn_fail(err, "%s: %s", in_dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "model.safetensors") == 0 ||
            strcmp(e->d_name, "config.json") == 0)
            continue;
        char from[4096];
        if (kn_path_join(from, sizeof from, in_dir, e->d_name) != 0) {
            rc = kn_fail(err, "%s/%s: path too long", in_dir, e->d_name);
            break;
        }
        const char *cp_argv[] = {"cp", "-rL", from, out_dir, NULL};
        rc = kn_run(cp_argv, NULL, err);
    }
    closedir(d);
    return rc;
}

int kn_model_is_quantized(const char *dir)
{
    char path[4096];
    if (kn_path_join(path, sizeof path, dir, "config.json") != 0) return 0;
    json_t *cfg = json_load_file(path, 0, NULL);
    int q = cfg && json_is_object(json_object_get(cfg, "quantization"));
    json_decref(cfg);
    return q;
}

/* A concat directory (concat_encoder.h): each part quantised into the same sub-directory of
 * out_dir, then the config with a "quantization" entry of its own (kn_model_is_quantized). */
static int quantize_concat(const char *in_dir, const char *out_dir, json_t *cfg, const char *cfg_path, kn_error *err)
{
    kn_concat_part parts[KN_CONCAT_MAX_PARTS];
    int n_parts = 0;
    if (kn_concat_parts(cfg, cfg_path, parts, &n_parts, err) != 0) return -1;
    if (kn_mkdir_p(out_dir, err) != 0) return -1;
    int rc = 0;
    for (int p = 0; rc == 0 && p < n_parts; p++) {
        char from[4200], to[4200];
        if (kn_path_join(from, sizeof from, in_dir, parts[p].dir) != 0 ||
            kn_path_join(to, sizeof to, out_dir, parts[p].dir) != 0)
            rc = kn_fail(err, "model path too long");
        else
            rc = kn_model_quantize(from, to, err);
    }
    if (rc == 0) {
        json_object_set_new(cfg, "quantization", json_pack("{s:s, s:s}", "weights", "int8", "parts", "each part's own"));
        char to[4200];
        if (kn_path_join(to, sizeof to, out_dir, "config.json") != 0 ||
            json_dump_file(cfg, to, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            rc = kn_fail(err, "%s/config.json: could not write", out_dir);
    }
    return rc;
}

int kn_model_quantize(const char *in_dir, const char *out_dir, kn_error *err)
{
    char cfg_path[4096], st_path[4096], out_path[4096];
    if (kn_path_join(cfg_path, sizeof cfg_path, in_dir, "config.json") != 0 ||
        kn_path_join(st_path, sizeof st_path, in_dir, "model.safetensors") != 0 ||
        kn_path_join(out_path, sizeof out_path, out_dir, "model.safetensors") != 0)
        return kn_fail(err, "model path too long");
    json_error_t jerr;
    json_t *cfg = json_load_file(cfg_path, 0, &jerr);
    if (!cfg) return kn_fail(err, "%s: %s", cfg_path, jerr.text);
    const char *family = json_string_value(json_object_get(cfg, "family"));
    int use_lite = family && strcmp(family, "use-lite") == 0, concat = family && strcmp(family, "concat") == 0;
    if (!use_lite && !concat && (family || !json_object_get(cfg, "model_type"))) {
        json_decref(cfg);
        return kn_fail(err, "%s: not a USE-lite or Hugging Face BERT-family model", cfg_path);
    }
    if (json_object_get(cfg, "quantization")) {
        json_decref(cfg);
        return kn_fail(err, "%s: the model is already quantised", in_dir);
    }
    if (kn_is_file(out_dir) || (kn_is_dir(out_dir) && !is_empty_dir(out_dir))) {
        json_decref(cfg);
        return kn_fail(err, "%s: already exists; give a new (or empty) directory", out_dir);
    }
    if (concat) {
        int rc = quantize_concat(in_dir, out_dir, cfg, cfg_path, err);
        json_decref(cfg);
        if (rc != 0 && kn_is_dir(out_dir)) kn_rm_rf(out_dir);
        return rc;
    }
    kn_safetensors *st = kn_st_open(st_path, err);
    if (!st) {
        json_decref(cfg);
        return -1;
    }
    int rc = copy_others(in_dir, out_dir, err);
    size_t n_quantized = 0;
    if (rc == 0) rc = write_weights(st, use_lite, out_path, &n_quantized, err);
    kn_st_close(st);
    if (rc == 0 && n_quantized == 0) rc = kn_fail(err, "%s: no linear layers found to quantise", st_path);
    if (rc == 0) {
        json_object_set_new(cfg, "quantization",
                            json_pack("{s:s, s:s, s:s, s:I}", "weights", "int8", "scales", "per output channel",
                                      "activations", "int8, dynamic per row", "tensors", (json_int_t)n_quantized));
        char to[4096];
        kn_path_join(to, sizeof to, out_dir, "config.json");
        if (json_dump_file(cfg, to, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) rc = kn_fail(err, "%s: could not write", to);
    }
    json_decref(cfg);
    if (rc != 0 && kn_is_dir(out_dir)) kn_rm_rf(out_dir); /* it was new or empty: nothing of the caller's is lost */
    return rc;
}

const float *kn_st_q8_scale(const kn_safetensors *st, const char *name, int64_t n, kn_error *err)
{
    char sname[512];
    snprintf(sname, sizeof sname, "%s%s", name, KN_Q8_SCALE_SUFFIX);
    return kn_st_f32(st, sname, 1, &n, err);
}

void kn_embedding_row(const kn_tensor *table, const float *row_scale, int64_t row, int d, float *out)
{
    if (table->dtype == KN_I8) {
        const int8_t *q = (const int8_t *)table->data + row * d;
        float s = row_scale[row];
        for (int j = 0; j < d; j++) out[j] = (float)q[j] * s;
        return;
    }
    for (int j = 0; j < d; j++) out[j] = kn_load_f32(table->data, table->dtype, (long)(row * d + j));
}
