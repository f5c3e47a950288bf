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
    char dir[4200];
    if (kn_make_scratch_dir(dir, sizeof dir, scratch_dir, "kanava-int8", err) != 0) return -1;
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
