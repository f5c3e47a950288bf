/* bundle.c - saving, opening and predicting with a trained classifier (see bundle.h). */
#include "learn/bundle.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "util/fs.h"
#include "util/spawn.h"

#define BUNDLE_FORMAT "kanava-bundle"
#define BUNDLE_VERSION 1

static const char *const method_names[KN_METHODS] = {"frozen", "setfit", "tfidf", "bm25", "hybrid"};

const char *kn_method_name(kn_method m)
{
    return m < KN_METHODS ? method_names[m] : "unknown";
}

int kn_method_parse(const char *name, kn_method *m)
{
    for (int k = 0; k < KN_METHODS; k++)
        if (strcmp(name, method_names[k]) == 0) {
            *m = (kn_method)k;
            return 0;
        }
    return -1;
}

int kn_method_uses_encoder(kn_method m)
{
    return m == KN_METHOD_FROZEN || m == KN_METHOD_SETFIT || m == KN_METHOD_HYBRID;
}

static int save_head(const kn_logreg *head, const char *stage, kn_error *err)
{
    char path[4200];
    kn_tensor t[2] = {{"head.weight", KN_F32, 2, {head->n_classes, head->dim}, head->W, (size_t)head->n_classes * head->dim * 4},
                      {"head.bias", KN_F32, 1, {head->n_classes}, head->b, (size_t)head->n_classes * 4}};
    snprintf(path, sizeof path, "%s/head.safetensors", stage);
    return kn_st_write(path, t, 2, NULL, err);
}

static int save_bm25(const kn_bundle *b, const char *stage, kn_error *err)
{
    char path[4200];
    json_t *texts = json_array(), *labels = json_array();
    for (size_t i = 0; i < b->n_texts; i++) {
        json_array_append_new(texts, json_string(b->texts[i]));
        json_array_append_new(labels, json_integer(b->labels[i]));
    }
    json_t *j = json_pack("{s:f, s:f, s:s, s:f, s:o, s:o}", "k1", b->bm25.opt.k1, "b", b->bm25.opt.b, "mode",
                          b->bm25.opt.mode == KN_BM25_TOPIC ? "topic" : "neighbour", "temperature",
                          b->bm25.temperature, "texts", texts, "labels", labels);
    snprintf(path, sizeof path, "%s/bm25.json", stage);
    int rc = j && json_dump_file(j, path, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 ? 0 : kn_fail(err, "%s: could not write", path);
    json_decref(j);
    return rc;
}

int kn_bundle_save(const kn_bundle *b, const char *dir, json_t *extra_meta, kn_error *err)
{
    char stage[4096], path[4200], old[4200];
    snprintf(stage, sizeof stage, "%s.tmp-%ld", dir, (long)getpid());
    kn_rm_rf(stage);
    if (kn_mkdir_p(stage, err) != 0) return -1;
    int rc = 0;
    json_t *desc = json_pack("{s:s, s:i, s:s}", "format", BUNDLE_FORMAT, "version", BUNDLE_VERSION, "method",
                             kn_method_name(b->method));
    json_t *cls = json_array();
    for (int c = 0; c < b->n_classes; c++) json_array_append_new(cls, json_string(b->classes[c]));
    json_object_set_new(desc, "classes", cls);
    if (kn_method_uses_encoder(b->method)) {
        char enc[4200];
        snprintf(enc, sizeof enc, "%s/encoder", stage);
        /* cp -L: a model registered as a link is copied as the files themselves */
        const char *cp_argv[] = {"cp", "-rL", b->encoder_dir, enc, NULL};
        rc = kn_run(cp_argv, NULL, err);
        json_object_set_new(desc, "encoder", json_string("encoder"));
    }
    if (rc == 0 && b->method != KN_METHOD_BM25) {
        rc = save_head(&b->head, stage, err);
        json_object_set_new(desc, "head", json_pack("{s:s, s:i, s:f}", "file", "head.safetensors", "dim", b->head.dim,
                                                    "temperature", (double)b->head.temperature));
    }
    if (rc == 0 && (b->method == KN_METHOD_TFIDF || b->method == KN_METHOD_HYBRID)) {
        rc = kn_tfidf_save(b->tfidf, stage, err);
        json_object_set_new(desc, "features", json_string("tfidf.json"));
    }
    if (rc == 0 && b->method == KN_METHOD_HYBRID)
        json_object_set_new(desc, "hybrid", json_pack("{s:f}", "dense_weight", (double)b->hybrid_weight));
    if (rc == 0 && b->method == KN_METHOD_BM25) {
        rc = save_bm25(b, stage, err);
        json_object_set_new(desc, "index", json_string("bm25.json"));
    }
    if (rc == 0) {
        json_t *meta = b->meta ? json_deep_copy(b->meta) : json_object();
        if (extra_meta) json_object_update(meta, extra_meta);
        json_object_set_new(desc, "training", meta);
        snprintf(path, sizeof path, "%s/bundle.json", stage);
        if (json_dump_file(desc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) rc = kn_fail(err, "%s: could not write", path);
    }
    json_decref(desc);
    if (rc == 0) {
        /* Replace an older bundle only now that the new one is complete. */
        snprintf(old, sizeof old, "%s.old-%ld", dir, (long)getpid());
        int had_old = kn_is_dir(dir) && rename(dir, old) == 0;
        if (rename(stage, dir) != 0) {
            rc = kn_fail(err, "%s: %s", dir, strerror(errno));
            if (had_old) rename(old, dir);
        } else if (had_old) {
            kn_rm_rf(old);
        }
    }
    if (rc != 0) kn_rm_rf(stage);
    return rc;
}

void kn_bundle_close(kn_bundle *b)
{
    if (!b) return;
    kn_encoder_close(b->encoder);
    if (b->owns_encoder_dir && b->encoder_dir) kn_rm_rf(b->encoder_dir);
    free(b->encoder_dir);
    kn_logreg_free(&b->head);
    kn_tfidf_free(b->tfidf);
    kn_bm25_free(&b->bm25);
    for (size_t i = 0; i < b->n_texts; i++) free(b->texts[i]);
    free(b->texts);
    free(b->labels);
    for (int c = 0; c < b->n_classes; c++) free(b->classes[c]);
    free(b->classes);
    json_decref(b->meta);
    free(b);
}

static int open_head(kn_bundle *b, const char *dir, json_t *desc, int dim, kn_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/head.safetensors", dir);
    kn_safetensors *st = kn_st_open(path, err);
    if (!st) return -1;
    int64_t wshape[2] = {b->n_classes, dim}, bshape[1] = {b->n_classes};
    const float *W = kn_st_f32(st, "head.weight", 2, wshape, err), *bias = kn_st_f32(st, "head.bias", 1, bshape, err);
    int rc = -1;
    if (W && bias) {
        b->head.n_classes = b->n_classes;
        b->head.dim = dim;
        b->head.W = malloc((size_t)b->n_classes * dim * sizeof(float));
        b->head.b = malloc((size_t)b->n_classes * sizeof(float));
        if (!b->head.W || !b->head.b) {
            kn_fail(err, "out of memory");
        } else {
            memcpy(b->head.W, W, (size_t)b->n_classes * dim * sizeof(float));
            memcpy(b->head.b, bias, (size_t)b->n_classes * sizeof(float));
            json_t *t = json_object_get(json_object_get(desc, "head"), "temperature");
            b->head.temperature = json_is_number(t) && json_number_value(t) > 0 ? (float)json_number_value(t) : 1.0f;
            rc = 0;
        }
    }
    kn_st_close(st);
    return rc;
}

static int open_bm25(kn_bundle *b, const char *dir, kn_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/bm25.json", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) return kn_fail(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
    json_t *texts = json_object_get(j, "texts"), *labels = json_object_get(j, "labels");
    const char *mode = json_string_value(json_object_get(j, "mode"));
    kn_bm25_options opt = {.k1 = json_number_value(json_object_get(j, "k1")),
                           .b = json_number_value(json_object_get(j, "b")),
                           .mode = mode && strcmp(mode, "topic") == 0 ? KN_BM25_TOPIC : KN_BM25_NEIGHBOUR};
    size_t n = json_array_size(texts);
    int rc = -1;
    size_t *lens = NULL;
    if (!json_is_array(texts) || !json_is_array(labels) || json_array_size(labels) != n || n == 0 || !mode) {
        kn_fail(err, "%s: needs mode, texts and labels (arrays of the same length)", path);
        goto done;
    }
    b->texts = calloc(n, sizeof *b->texts);
    b->labels = malloc(n * sizeof *b->labels);
    lens = malloc(n * sizeof *lens);
    if (!b->texts || !b->labels || !lens) {
        kn_fail(err, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++, b->n_texts++) {
        json_t *t = json_array_get(texts, i), *l = json_array_get(labels, i);
        if (!json_is_string(t) || !json_is_integer(l) || json_integer_value(l) < 0 || json_integer_value(l) >= b->n_classes) {
            kn_fail(err, "%s: text %zu needs a string and a label in [0, %d)", path, i, b->n_classes);
            goto done;
        }
        b->texts[i] = strdup(json_string_value(t));
        lens[i] = json_string_length(t);
        b->labels[i] = (int32_t)json_integer_value(l);
        if (!b->texts[i]) {
            kn_fail(err, "%s: out of memory", path);
            goto done;
        }
    }
    kn_error e;
    if (kn_bm25_build(&b->bm25, (const char *const *)b->texts, lens, b->labels, n, b->n_classes, &opt,
                      json_number_value(json_object_get(j, "temperature")), &e) != 0) {
        kn_fail(err, "%s: %s", path, e.msg);
        goto done;
    }
    rc = 0;
done:
    free(lens);
    json_decref(j);
    return rc;
}

kn_bundle *kn_bundle_open(const char *dir, kn_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/bundle.json", dir);
    json_error_t jerr;
    json_t *desc = json_load_file(path, 0, &jerr);
    if (!desc) {
        kn_fail(err, "%s: %s (is %s a model trained by `kanava train`?)", path, jerr.text, dir);
        return NULL;
    }
    kn_bundle *b = calloc(1, sizeof *b);
    if (!b) {
        kn_fail(err, "out of memory");
        json_decref(desc);
        return NULL;
    }
    const char *format = json_string_value(json_object_get(desc, "format"));
    const char *method = json_string_value(json_object_get(desc, "method"));
    json_t *classes = json_object_get(desc, "classes");
    if (!format || strcmp(format, BUNDLE_FORMAT) != 0 || json_integer_value(json_object_get(desc, "version")) != BUNDLE_VERSION) {
        kn_fail(err, "%s: not a version-%d Kanava bundle", path, BUNDLE_VERSION);
        goto fail;
    }
    if (!method || kn_method_parse(method, &b->method) != 0) {
        kn_fail(err, "%s: unknown method '%s' (this Kanava knows frozen, setfit, tfidf, bm25, hybrid)", path, method ? method : "");
        goto fail;
    }
    b->n_classes = (int)json_array_size(classes);
    if (b->n_classes < 2) {
        kn_fail(err, "%s: needs at least two classes", path);
        goto fail;
    }
    b->classes = calloc((size_t)b->n_classes + 1, sizeof *b->classes);
    if (!b->classes) goto oom;
    for (int c = 0; c < b->n_classes; c++) {
        const char *name = json_string_value(json_array_get(classes, (size_t)c));
        if (!name) {
            kn_fail(err, "%s: classes[%d] is not a string", path, c);
            goto fail;
        }
        if (!(b->classes[c] = strdup(name))) goto oom;
    }
    b->meta = json_incref(json_object_get(desc, "training"));
    if (b->method == KN_METHOD_HYBRID) {
        json_t *w = json_object_get(json_object_get(desc, "hybrid"), "dense_weight");
        if (!json_is_number(w) || !(json_number_value(w) >= 0)) {
            kn_fail(err, "%s: a hybrid bundle needs hybrid.dense_weight, a number >= 0", path);
            goto fail;
        }
        b->hybrid_weight = (float)json_number_value(w);
    }
    if (kn_method_uses_encoder(b->method)) {
        snprintf(path, sizeof path, "%s/encoder", dir);
        if (!(b->encoder_dir = strdup(path))) goto oom;
        if (!(b->encoder = kn_encoder_open(path, err))) goto fail;
        int dim = b->encoder->dim;
        if (b->method == KN_METHOD_HYBRID) {
            if (!(b->tfidf = kn_tfidf_load(dir, err))) goto fail;
            dim += kn_tfidf_dim(b->tfidf);
        }
        if (open_head(b, dir, desc, dim, err) != 0) goto fail;
    } else if (b->method == KN_METHOD_TFIDF) {
        if (!(b->tfidf = kn_tfidf_load(dir, err))) goto fail;
        if (open_head(b, dir, desc, kn_tfidf_dim(b->tfidf), err) != 0) goto fail;
    } else if (open_bm25(b, dir, err) != 0) {
        goto fail;
    }
    json_decref(desc);
    return b;
oom:
    kn_fail(err, "%s: out of memory", dir);
fail:
    json_decref(desc);
    kn_bundle_close(b);
    return NULL;
}

int kn_bundle_predict(kn_bundle *b, const char *const *texts, const size_t *lens, size_t n, float *proba,
                      kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    if (b->method == KN_METHOD_BM25) {
        kn_bm25_predict_proba(&b->bm25, texts, lens, n, proba);
        if (progress) progress(progress_ctx, n, n);
        return 0;
    }
    if (b->method == KN_METHOD_TFIDF) {
        kn_csr X;
        if (kn_tfidf_transform(b->tfidf, texts, lens, n, &X, err) != 0) return -1;
        kn_logreg_predict_proba_sparse(&b->head, &X, proba);
        kn_csr_free(&X);
        if (progress) progress(progress_ctx, n, n);
        return 0;
    }
    float *emb = malloc((n ? n : 1) * (size_t)b->encoder->dim * sizeof *emb);
    if (!emb) return kn_fail(err, "out of memory for %zu embeddings", n);
    int rc = kn_encoder_embed(b->encoder, texts, lens, n, 32, emb, progress, progress_ctx, err);
    if (rc == 0 && b->method == KN_METHOD_HYBRID) {
        kn_csr S = {0}, X;
        rc = kn_tfidf_transform(b->tfidf, texts, lens, n, &S, err);
        if (rc == 0) rc = kn_hybrid_join(emb, b->encoder->dim, b->hybrid_weight, &S, &X, err);
        if (rc == 0) kn_logreg_predict_proba_sparse(&b->head, &X, proba);
        if (rc == 0) kn_csr_free(&X);
        kn_csr_free(&S);
    } else if (rc == 0) {
        kn_logreg_predict_proba(&b->head, emb, n, proba);
    }
    free(emb);
    return rc;
}
