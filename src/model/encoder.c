#include "model/encoder.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/concat_encoder.h"
#include "model/hf_bert.h"
#include "model/use_lite.h"
#include "util/fs.h"

kn_model_family kn_model_family_of(const json_t *cfg)
{
    const char *family = json_string_value(json_object_get(cfg, "family"));
    if (family)
        return strcmp(family, "use-lite") == 0 ? KN_FAMILY_USE_LITE
               : strcmp(family, "concat") == 0 ? KN_FAMILY_CONCAT
                                               : KN_FAMILY_UNKNOWN;
    return json_object_get(cfg, "model_type") ? KN_FAMILY_HF : KN_FAMILY_UNKNOWN;
}

kn_encoder *kn_encoder_open(const char *dir, kn_error *err)
{
    char path[4096];
    if (kn_path_join(path, sizeof path, dir, "config.json") != 0) { kn_fail(err, "model path too long"); return NULL; }
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) {
        kn_fail(err, "%s: %s (is the model installed? try `kanava model list`)", path, jerr.text);
        return NULL;
    }
    const char *family = json_string_value(json_object_get(cfg, "family"));
    kn_encoder *enc = NULL;
    switch (kn_model_family_of(cfg)) {
    case KN_FAMILY_USE_LITE: enc = kn_use_lite_open(dir, cfg, err); break;
    case KN_FAMILY_HF: enc = kn_hf_bert_open(dir, cfg, err); break;
    case KN_FAMILY_CONCAT: enc = kn_concat_open(dir, cfg, err); break;
    default: kn_fail(err, "%s: unsupported model family '%s'", path, family ? family : "(none)");
    }
    json_decref(cfg);
    return enc;
}

void kn_encoder_close(kn_encoder *enc)
{
    if (enc) enc->ops->destroy(enc);
}

int kn_encoder_embed(kn_encoder *enc, const char *const *texts, const size_t *lens, size_t n, size_t batch_size,
                     float *out, kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    if (batch_size == 0) batch_size = 32;
    kn_token_seq *seqs = calloc(batch_size, sizeof *seqs);
    if (!seqs) return kn_fail(err, "out of memory");
    int rc = 0;
    for (size_t start = 0; start < n && rc == 0; start += batch_size) {
        size_t m = n - start < batch_size ? n - start : batch_size;
        for (size_t i = 0; i < m && rc == 0; i++) {
            rc = enc->ops->tokenize(enc, texts[start + i], lens[start + i], &seqs[i], err);
            if (rc != 0) {
                char inner[sizeof err->msg];
                memcpy(inner, err->msg, sizeof inner);
                kn_fail(err, "text %zu: %s", start + i + 1, inner);
            }
        }
        if (rc == 0) rc = enc->ops->forward(enc, seqs, m, out + start * (size_t)enc->dim, err);
        for (size_t i = 0; i < m; i++) {
            free(seqs[i].ids);
            seqs[i].ids = NULL;
        }
        if (rc == 0 && progress) progress(progress_ctx, start + m, n);
    }
    free(seqs);
    return rc;
}

void kn_set_threads(int n)
{
    if (n <= 0) return;
    openblas_set_num_threads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}
