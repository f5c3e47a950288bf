#include "learn/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "util/fs.h"
#include "util/spawn.h"

#define BUNDLE_FORMAT "kanava-bundle"
#define BUNDLE_VERSION 1

int kn_bundle_save(const char *dir, const char *encoder_dir, const char *method, const kn_logreg *head,
                   char *const *classes, int n_classes, json_t *meta, kn_error *err)
{
    char stage[4096], path[4200], enc[4200], old[4200];
    snprintf(stage, sizeof stage, "%s.tmp-%ld", dir, (long)getpid());
    kn_rm_rf(stage);
    if (kn_mkdir_p(stage, err) != 0) return -1;
    snprintf(enc, sizeof enc, "%s/encoder", stage);
    /* cp -L: a model registered as a link is copied as the files themselves */
    const char *cp_argv[] = {"cp", "-rL", encoder_dir, enc, NULL};
    int rc = kn_run(cp_argv, NULL, err);
    if (rc == 0) {
        kn_tensor t[2] = {{"head.weight", KN_F32, 2, {n_classes, head->dim}, head->W, (size_t)n_classes * head->dim * 4},
                          {"head.bias", KN_F32, 1, {n_classes}, head->b, (size_t)n_classes * 4}};
        snprintf(path, sizeof path, "%s/head.safetensors", stage);
        rc = kn_st_write(path, t, 2, NULL, err);
    }
    if (rc == 0) {
        json_t *cls = json_array();
        for (int c = 0; c < n_classes; c++) json_array_append_new(cls, json_string(classes[c]));
        json_t *b = json_pack("{s:s, s:i, s:s, s:s, s:o, s:{s:s, s:i, s:f}}", "format", BUNDLE_FORMAT, "version",
                              BUNDLE_VERSION, "method", method, "encoder", "encoder", "classes", cls, "head", "file",
                              "head.safetensors", "dim", head->dim, "temperature", (double)head->temperature);
        if (meta) json_object_set(b, "training", meta);
        snprintf(path, sizeof path, "%s/bundle.json", stage);
        if (json_dump_file(b, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) rc = kn_fail(err, "%s: could not write", path);
        json_decref(b);
    }
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
    kn_logreg_free(&b->head);
    for (int c = 0; c < b->n_classes; c++) free(b->classes[c]);
    free(b->classes);
    json_decref(b->meta);
    free(b);
}

kn_bundle *kn_bundle_open(const char *dir, kn_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/bundle.json", dir);
    json_error_t jerr;
    json_t *meta = json_load_file(path, 0, &jerr);
    if (!meta) {
        kn_fail(err, "%s: %s (is %s a model trained by `kanava train`?)", path, jerr.text, dir);
        return NULL;
    }
    kn_bundle *b = calloc(1, sizeof *b);
    kn_safetensors *st = NULL;
    if (!b) { kn_fail(err, "out of memory"); json_decref(meta); return NULL; }
    b->meta = meta;
    const char *format = json_string_value(json_object_get(meta, "format"));
    json_t *classes = json_object_get(meta, "classes"), *head = json_object_get(meta, "head");
    if (!format || strcmp(format, BUNDLE_FORMAT) != 0 || json_integer_value(json_object_get(meta, "version")) != BUNDLE_VERSION) {
        kn_fail(err, "%s: not a version-%d Kanava bundle", path, BUNDLE_VERSION);
        goto fail;
    }
    b->n_classes = (int)json_array_size(classes);
    b->classes = calloc((size_t)b->n_classes + 1, sizeof *b->classes);
    for (int c = 0; c < b->n_classes; c++) {
        const char *name = json_string_value(json_array_get(classes, (size_t)c));
        if (!name) { kn_fail(err, "%s: classes[%d] is not a string", path, c); goto fail; }
        b->classes[c] = strdup(name);
    }
    snprintf(path, sizeof path, "%s/encoder", dir);
    if (!(b->encoder = kn_encoder_open(path, err))) goto fail;
    int dim = b->encoder->dim;
    snprintf(path, sizeof path, "%s/head.safetensors", dir);
    if (!(st = kn_st_open(path, err))) goto fail;
    int64_t wshape[2] = {b->n_classes, dim}, bshape[1] = {b->n_classes};
    const float *W = kn_st_f32(st, "head.weight", 2, wshape, err), *bias = kn_st_f32(st, "head.bias", 1, bshape, err);
    if (!W || !bias) goto fail;
    b->head.n_classes = b->n_classes;
    b->head.dim = dim;
    b->head.W = malloc((size_t)b->n_classes * dim * sizeof(float));
    b->head.b = malloc((size_t)b->n_classes * sizeof(float));
    if (!b->head.W || !b->head.b) { kn_fail(err, "out of memory"); goto fail; }
    memcpy(b->head.W, W, (size_t)b->n_classes * dim * sizeof(float));
    memcpy(b->head.b, bias, (size_t)b->n_classes * sizeof(float));
    json_t *t = json_object_get(head, "temperature");
    b->head.temperature = json_is_number(t) && json_number_value(t) > 0 ? (float)json_number_value(t) : 1.0f;
    kn_st_close(st);
    return b;
fail:
    kn_st_close(st);
    kn_bundle_close(b);
    return NULL;
}

int kn_bundle_predict(kn_bundle *b, const char *const *texts, const size_t *lens, size_t n, float *proba,
                      kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    float *emb = malloc((n ? n : 1) * (size_t)b->encoder->dim * sizeof *emb);
    if (!emb) return kn_fail(err, "out of memory for %zu embeddings", n);
    int rc = kn_encoder_embed(b->encoder, texts, lens, n, 32, emb, progress, progress_ctx, err);
    if (rc == 0) kn_logreg_predict_proba(&b->head, emb, n, proba);
    free(emb);
    return rc;
}
