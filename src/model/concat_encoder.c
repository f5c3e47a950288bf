/* concat_encoder.c - parts' vectors side by side (concat_encoder.h). */
#include "model/concat_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"

typedef struct {
    kn_encoder base; /* must be first */
    int n_parts;
    kn_encoder *part[KN_CONCAT_MAX_PARTS];
    float weight[KN_CONCAT_MAX_PARTS];
    float *scratch; /* one part's vectors for a batch */
    size_t scratch_rows;
} concat_encoder;

int kn_concat_parts(const json_t *config, const char *where, kn_concat_part *parts, int *n_parts, kn_error *err)
{
    const json_t *list = json_object_get(config, "parts");
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > KN_CONCAT_MAX_PARTS)
        return kn_fail(err, "%s: \"parts\" must be an array of 1 to %d parts", where, KN_CONCAT_MAX_PARTS);
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(list, i);
        const char *dir = json_string_value(json_object_get(p, "dir"));
        const json_t *w = json_object_get(p, "weight");
        if (!dir || !*dir || strchr(dir, '/') || strcmp(dir, "..") == 0 || strcmp(dir, ".") == 0)
            return kn_fail(err, "%s: part %zu needs a \"dir\" naming a sub-directory", where, i + 1);
        if (!json_is_number(w) || !(json_number_value(w) >= 0) || json_number_value(w) > 1e6)
            return kn_fail(err, "%s: part %zu (%s) needs a \"weight\" >= 0", where, i + 1, dir);
        parts[i] = (kn_concat_part){dir, (float)json_number_value(w)};
    }
    *n_parts = (int)n;
    return 0;
}

int kn_concat_write_config(const char *dir, const kn_concat_part *parts, int n_parts, kn_error *err)
{
    json_t *list = json_array();
    for (int i = 0; i < n_parts; i++)
        json_array_append_new(list, json_pack("{s:s, s:f}", "dir", parts[i].dir, "weight", (double)parts[i].weight));
    json_t *cfg = json_pack("{s:s, s:o}", "family", "concat", "parts", list);
    char path[4200];
    int rc = kn_path_join(path, sizeof path, dir, "config.json") != 0 ? kn_fail(err, "model path too long")
             : json_dump_file(cfg, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0
                 ? kn_fail(err, "%s: could not write", path)
                 : 0;
    json_decref(cfg);
    return rc;
}

static int concat_tokenize(const kn_encoder *enc, const char *text, size_t len, kn_token_seq *out, kn_error *err)
{
    const concat_encoder *c = (const concat_encoder *)enc;
    return c->part[0]->ops->tokenize(c->part[0], text, len, out, err);
}

static int concat_forward(kn_encoder *enc, const kn_token_seq *seqs, size_t n, float *out, kn_error *err)
{
    concat_encoder *c = (concat_encoder *)enc;
    if (n > c->scratch_rows) {
        size_t widest = 0;
        for (int p = 0; p < c->n_parts; p++) widest = (size_t)c->part[p]->dim > widest ? (size_t)c->part[p]->dim : widest;
        float *s = realloc(c->scratch, n * widest * sizeof *s);
        if (!s) return kn_fail(err, "out of memory for %zu vectors", n);
        c->scratch = s;
        c->scratch_rows = n;
    }
    size_t D = (size_t)enc->dim, offset = 0;
    for (int p = 0; p < c->n_parts; p++) {
        size_t d = (size_t)c->part[p]->dim;
        if (c->part[p]->ops->forward(c->part[p], seqs, n, c->scratch, err) != 0) return -1;
        float w = c->weight[p];
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) out[i * D + offset + j] = w * c->scratch[i * d + j];
        offset += d;
    }
    return 0;
}

static double concat_flops(const kn_encoder *enc, const kn_token_seq *seqs, size_t n)
{
    const concat_encoder *c = (const concat_encoder *)enc;
    double f = 0;
    for (int p = 0; p < c->n_parts; p++) f += c->part[p]->ops->flops(c->part[p], seqs, n);
    return f;
}

static void concat_destroy(kn_encoder *enc)
{
    concat_encoder *c = (concat_encoder *)enc;
    for (int p = 0; p < c->n_parts; p++) kn_encoder_close(c->part[p]);
    free(c->scratch);
    free(c);
}

static const kn_encoder_ops concat_ops = {"concat", concat_tokenize, concat_forward, concat_destroy, concat_flops};

kn_encoder *kn_concat_open(const char *dir, const json_t *config, kn_error *err)
{
    kn_concat_part parts[KN_CONCAT_MAX_PARTS];
    int n_parts = 0;
    if (kn_concat_parts(config, dir, parts, &n_parts, err) != 0) return NULL;
    concat_encoder *c = calloc(1, sizeof *c);
    if (!c) {
        kn_fail(err, "out of memory");
        return NULL;
    }
    c->base.ops = &concat_ops;
    for (int p = 0; p < n_parts; p++) {
        char sub[4200];
        if (kn_path_join(sub, sizeof sub, dir, parts[p].dir) != 0) {
            kn_fail(err, "model path too long");
            concat_destroy(&c->base);
            return NULL;
        }
        if (!(c->part[p] = kn_encoder_open(sub, err))) {
            concat_destroy(&c->base);
            return NULL;
        }
        c->n_parts = p + 1;
        c->weight[p] = parts[p].weight;
        const kn_encoder *first = c->part[0], *e = c->part[p];
        if (strcmp(e->ops->family, first->ops->family) != 0 || strcmp(e->ops->family, "concat") == 0) {
            kn_fail(err, "%s: part %s is a %s model beside a %s one; the parts must share a tokenizer", dir,
                    parts[p].dir, e->ops->family, first->ops->family);
            concat_destroy(&c->base);
            return NULL;
        }
        c->base.dim += e->dim;
    }
    snprintf(c->base.name, sizeof c->base.name, "%.200s+%d", c->part[0]->name, n_parts - 1);
    c->base.max_tokens = c->part[0]->max_tokens;
    return &c->base;
}
