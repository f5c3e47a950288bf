/* bundle_quantize.c - a bundle's encoder swapped for its int8 form (bundle.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn/bundle.h"
#include "model/quantize.h"
#include "util/fs.h"

int kn_bundle_quantize_encoder(kn_bundle *b, const char *scratch_dir, kn_error *err)
{
    if (!kn_method_uses_encoder(b->method))
        return kn_fail(err, "a %s bundle has no encoder to quantise", kn_method_name(b->method));
    if (kn_model_is_quantized(b->encoder_dir)) return kn_fail(err, "the bundle's encoder is already quantised");
    const char *scratch = scratch_dir ? scratch_dir : getenv("TMPDIR");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/kanava-int8-XXXXXX", scratch && *scratch ? scratch : "/tmp");
    if (!mkdtemp(dir)) return kn_fail(err, "%s: cannot make a scratch directory", dir);
    if (kn_model_quantize(b->encoder_dir, dir, err) != 0) {
        kn_rm_rf(dir);
        return -1;
    }
    kn_encoder *enc = kn_encoder_open(dir, err);
    char *path = enc ? strdup(dir) : NULL;
    if (!path) {
        if (enc) kn_fail(err, "out of memory");
        kn_encoder_close(enc);
        kn_rm_rf(dir);
        return -1;
    }
    kn_encoder_close(b->encoder);
    if (b->owns_encoder_dir) kn_rm_rf(b->encoder_dir);
    free(b->encoder_dir);
    b->encoder = enc;
    b->encoder_dir = path;
    b->owns_encoder_dir = 1;
    if (!b->meta) b->meta = json_object();
    if (b->meta) json_object_set_new(b->meta, "quantized", json_string("int8"));
    return 0;
}
