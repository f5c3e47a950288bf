/* trainable.c - picks the training context for a model directory's family. */
#include "model/trainable.h"

#include <jansson.h>
#include <string.h>

#include "model/concat_encoder.h"
#include "model/encoder.h"
#include "model/quantize.h"
#include "util/fs.h"

kn_trainable *kn_trainable_open(const char *dir, kn_error *err)
{
    char path[4096];
    if (kn_path_join(path, sizeof path, dir, "config.json") != 0) { kn_fail(err, "model path too long"); return NULL; }
    if (kn_model_is_quantized(dir)) {
        kn_fail(err, "%s is quantised: fine-tuning needs float weights; train on the F32 model with --quantize instead", dir);
        return NULL;
    }
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    if (!cfg) { kn_fail(err, "%s:%d: %s", path, jerr.line, jerr.text); return NULL; }
    kn_model_family family = kn_model_family_of(cfg);
    kn_concat_part parts[KN_CONCAT_MAX_PARTS];
    int n_parts = 0;
    if (family == KN_FAMILY_CONCAT && kn_concat_parts(cfg, path, parts, &n_parts, err) == 0)
        kn_fail(err, "%s: a tuned encoder beside its base cannot be fine-tuned as one; fine-tune its first part, %s/%s",
                dir, dir, parts[0].dir);
    else if (family == KN_FAMILY_UNKNOWN) {
        const char *name = json_string_value(json_object_get(cfg, "family"));
        kn_fail(err, "%s: model family '%s' cannot be fine-tuned", path, name ? name : "(none)");
    }
    json_decref(cfg);
    if (family == KN_FAMILY_USE_LITE) return kn_use_trainable_open(dir, err);
    return family == KN_FAMILY_HF ? kn_bert_trainable_open(dir, err) : NULL;
}

void kn_trainable_close(kn_trainable *t)
{
    if (t) t->ops->destroy(t);
}
