/* use_lite_convert.c - TensorFlow.js USE-lite package -> Kanava model directory.
 *
 * The TF.js format is model.json (graph + weightsManifest) and weight shards whose
 * concatenation holds every weight in manifest order. We pick the trainable tensors by
 * their graph names, give them Kanava names, and write one safetensors file. Scalars the
 * graph needs (query scale, layer-norm epsilon, the position clip) go into config.json. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "model/use_lite.h"
#include "util/fs.h"

#define APPLY "module_apply_default/Encoder_en/KonaTransformer/"
#define VARS "module/Encoder_en/KonaTransformer/"

typedef struct {
    const char *tf_name;
    int dtype_int; /* 1 for int32 */
    int ndim;
    int64_t shape[4];
    const uint8_t *data;
} tf_weight;

typedef struct {
    tf_weight *w;
    size_t n;
    uint8_t *blob;
} tf_weights;

static void tf_weights_free(tf_weights *tw)
{
    free(tw->w);
    free(tw->blob);
}

static const tf_weight *tf_find(const tf_weights *tw, const char *name)
{
    for (size_t i = 0; i < tw->n; i++)
        if (strcmp(tw->w[i].tf_name, name) == 0) return &tw->w[i];
    return NULL;
}

/* Reads the manifest and concatenates the shards; every weight must fit exactly. */
static int tf_load(const char *dir, json_t *model, tf_weights *tw, kn_error *err)
{
    json_t *manifest = json_object_get(model, "weightsManifest");
    if (!json_is_array(manifest)) return kn_fail(err, "%s/model.json: no weightsManifest", dir);
    size_t total = 0, cap = 0, idx;
    json_t *group;
    json_array_foreach(manifest, idx, group) {
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(group, "paths"), j, p) {
            char path[4096];
            if (!json_is_string(p) || strchr(json_string_value(p), '/'))
                return kn_fail(err, "%s/model.json: bad shard path", dir);
            kn_path_join(path, sizeof path, dir, json_string_value(p));
            size_t len;
            uint8_t *bytes = (uint8_t *)kn_read_file(path, &len, err);
            if (!bytes) return -1;
            if (total + len > cap) {
                cap = (total + len) * 2;
                uint8_t *b = realloc(tw->blob, cap);
                if (!b) { free(bytes); return kn_fail(err, "out of memory"); }
                tw->blob = b;
            }
            memcpy(tw->blob + total, bytes, len);
            total += len;
            free(bytes);
        }
        tw->n += json_array_size(json_object_get(group, "weights"));
    }
    tw->w = calloc(tw->n ? tw->n : 1, sizeof *tw->w);
    if (!tw->w) return kn_fail(err, "out of memory");
    size_t off = 0, k = 0;
    json_array_foreach(manifest, idx, group) {
        size_t j;
        json_t *w;
        json_array_foreach(json_object_get(group, "weights"), j, w) {
            tf_weight *t = &tw->w[k++];
            const char *dtype = json_string_value(json_object_get(w, "dtype"));
            t->tf_name = json_string_value(json_object_get(w, "name"));
            if (!t->tf_name || !dtype) return kn_fail(err, "%s/model.json: weight %zu lacks name or dtype", dir, k);
            if (json_object_get(w, "quantization"))
                return kn_fail(err, "%s/model.json: weight %s is quantized; only float32 packages are supported", dir, t->tf_name);
            if (strcmp(dtype, "float32") != 0 && strcmp(dtype, "int32") != 0)
                return kn_fail(err, "%s/model.json: weight %s has dtype %s", dir, t->tf_name, dtype);
            t->dtype_int = strcmp(dtype, "int32") == 0;
            json_t *shape = json_object_get(w, "shape");
            size_t count = 1;
            t->ndim = (int)json_array_size(shape);
            if (t->ndim > 4) return kn_fail(err, "%s/model.json: weight %s has too many dims", dir, t->tf_name);
            for (int d = 0; d < t->ndim; d++) {
                t->shape[d] = json_integer_value(json_array_get(shape, (size_t)d));
                count *= (size_t)t->shape[d];
            }
            if (off + count * 4 > total)
                return kn_fail(err, "%s: the weight shards hold %zu bytes but weight %s needs bytes up to %zu (truncated shard?)",
                               dir, total, t->tf_name, off + count * 4);
            t->data = tw->blob + off;
            off += count * 4;
        }
    }
    if (off != total) return kn_fail(err, "%s: weight shards hold %zu bytes, the manifest describes %zu", dir, total, off);
    return 0;
}

static float tf_scalar(const tf_weights *tw, const char *name, int *ok)
{
    const tf_weight *t = tf_find(tw, name);
    if (!t || t->dtype_int || t->ndim != 0) { *ok = 0; return 0; }
    float v;
    memcpy(&v, t->data, 4);
    return v;
}

static int32_t tf_int_scalar(const tf_weights *tw, const char *name, int *ok)
{
    const tf_weight *t = tf_find(tw, name);
    if (!t || !t->dtype_int || t->ndim != 0) { *ok = 0; return 0; }
    int32_t v;
    memcpy(&v, t->data, 4);
    return v;
}

typedef struct {
    const char *kanava;  /* may contain %d for the layer */
    const char *tf;      /* may contain %d for the layer */
    int per_layer;       /* 0: once; 1: every layer; 2: layer 0 only */
} name_map;

static const name_map NAMES[] = {
    {"embed.weight", "module/Embeddings_en", 0},
    {"timing.inv_timescales", APPLY "Encode/TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", 0},
    {"l%d.attn_ln.scale", APPLY "Encode/Layer_%d/TransformerLayer/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", 1},
    {"l%d.attn_ln.bias", APPLY "Encode/Layer_%d/TransformerLayer/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", 1},
    {"l%d.attn.qkv.weight", VARS "Encode/Layer_%d/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0", 1},
    {"l%d.attn.qkv.bias", APPLY "Encode/Layer_%d/TransformerLayer/MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", 1},
    {"l%d.attn.out.weight", VARS "Encode/Layer_%d/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0", 1},
    {"l%d.attn.out.bias", APPLY "Encode/Layer_%d/TransformerLayer/MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", 1},
    {"l%d.res.weight", APPLY "Encode/Layer_%d/TransformerLayer/dense/kernel/ConcatPartitions/concat", 2},
    {"l%d.res.bias", APPLY "Encode/Layer_%d/TransformerLayer/dense/bias/ConcatPartitions/concat", 2},
    {"l%d.ffn_ln.scale", APPLY "Encode/Layer_%d/TransformerLayer/FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", 1},
    {"l%d.ffn_ln.bias", APPLY "Encode/Layer_%d/TransformerLayer/FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", 1},
    {"l%d.ffn.w1", APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/FFN/conv1/Tensordot/Reshape_1", 1},
    {"l%d.ffn.b1", APPLY "Encode/Layer_%d/TransformerLayer/FFN/conv1/bias/ConcatPartitions/concat", 1},
    {"l%d.ffn.w2", APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/FFN/conv2/Tensordot/Reshape_1", 1},
    {"l%d.ffn.b2", APPLY "Encode/Layer_%d/TransformerLayer/FFN/conv2/bias/ConcatPartitions/concat", 1},
    {"proj.weight", "module/Encoder_en/hidden_layers/tanh_layer_0/weights", 0},
    {"proj.bias", "module/Encoder_en/hidden_layers/tanh_layer_0/bias", 0},
};

#define MAX_TENSORS 64

/* Fills out[] with Kanava-named tensors viewing the TF.js blob. 1x1 convolution kernels
 * [1,1,in,out] are plain [in,out] matrices. */
static int map_tensors(const tf_weights *tw, kn_tensor *out, char names[][64], size_t *n_out, kn_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        int layers = NAMES[i].per_layer == 0 ? 1 : NAMES[i].per_layer == 1 ? KN_USE_LAYERS : 1;
        for (int l = 0; l < layers; l++) {
            char tf[512];
            snprintf(names[n], 64, NAMES[i].kanava, l);
            snprintf(tf, sizeof tf, NAMES[i].tf, l);
            const tf_weight *w = tf_find(tw, tf);
            if (!w || w->dtype_int) return kn_fail(err, "model.json: float weight %s not found", tf);
            kn_tensor *t = &out[n];
            t->name = names[n];
            t->dtype = KN_F32;
            t->data = w->data;
            int first = 0;
            while (w->ndim - first > 1 && w->shape[first] == 1) first++; /* drop leading 1s */
            t->ndim = w->ndim - first;
            size_t count = 1;
            for (int d = 0; d < t->ndim; d++) {
                t->shape[d] = w->shape[first + d];
                count *= (size_t)t->shape[d];
            }
            t->nbytes = count * 4;
            n++;
        }
    }
    *n_out = n;
    return 0;
}

static int write_config(const char *out_dir, const tf_weights *tw, json_t *source, kn_error *err)
{
    int ok = 1;
    json_t *layers = json_array();
    for (int l = 0; l < KN_USE_LAYERS; l++) {
        char name[512];
        snprintf(name, sizeof name, APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/MultiheadAttention/mul/y", l);
        float q_scale = tf_scalar(tw, name, &ok);
        /* heads = attention width / head width, both read from the graph's reshape constants */
        snprintf(name, sizeof name, APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/MultiheadAttention/Const", l);
        const tf_weight *split = tf_find(tw, name);
        snprintf(name, sizeof name,
                 APPLY "Encode/TransformerStack/Layer_%d/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3", l);
        int32_t head_dim = tf_int_scalar(tw, name, &ok), width = 0;
        if (split && split->dtype_int && split->ndim == 1 && split->shape[0] == 3) memcpy(&width, split->data, 4);
        if (head_dim <= 0 || width % head_dim != 0) ok = 0;
        json_array_append_new(layers, json_pack("{s:i, s:f}", "heads", ok ? (int)(width / head_dim) : 0, "q_scale", (double)q_scale));
    }
    float ln_eps = tf_scalar(tw, APPLY "Encode/TransformerStack/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x", &ok);
    float l2_eps = tf_scalar(tw, "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y", &ok);
    int clip = tf_int_scalar(tw, APPLY "ClipToMaxLength/Less/y", &ok);
    if (!ok || clip <= 0) {
        json_decref(layers);
        return kn_fail(err, "model.json: a graph constant (query scale, epsilon, heads or length clip) is missing");
    }
    json_t *cfg = json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:o, s:s, s:s}", "name", "use-lite", "family", "use-lite",
                            "dim", 512, "max_positions", clip, "layer_norm_eps", (double)ln_eps, "l2_eps", (double)l2_eps,
                            "layers", layers, "weights", "model.safetensors", "vocab", "vocab.json");
    if (source) json_object_set(cfg, "source", source);
    char path[4096];
    kn_path_join(path, sizeof path, out_dir, "config.json");
    int rc = json_dump_file(cfg, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(cfg);
    return rc == 0 ? 0 : kn_fail(err, "%s: could not write", path);
}

static int copy_file(const char *from, const char *to, kn_error *err)
{
    size_t len;
    char *buf = kn_read_file(from, &len, err);
    if (!buf) return -1;
    FILE *f = fopen(to, "wb");
    int bad = !f || fwrite(buf, 1, len, f) != len;
    if (f && fclose(f) != 0) bad = 1;
    free(buf);
    return bad ? kn_fail(err, "%s: %s", to, strerror(errno)) : 0;
}

int kn_use_lite_convert(const char *dist_dir, const char *out_dir, json_t *source, kn_error *err)
{
    char path[4096], to[4096];
    json_error_t jerr;
    kn_path_join(path, sizeof path, dist_dir, "model.json");
    json_t *model = json_load_file(path, 0, &jerr);
    if (!model) return kn_fail(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
    tf_weights tw = {0};
    kn_tensor tensors[MAX_TENSORS];
    char names[MAX_TENSORS][64];
    size_t n = 0;
    int rc = tf_load(dist_dir, model, &tw, err);
    if (rc == 0) rc = map_tensors(&tw, tensors, names, &n, err);
    if (rc == 0) rc = kn_mkdir_p(out_dir, err);
    if (rc == 0) {
        kn_path_join(to, sizeof to, out_dir, "model.safetensors");
        const char *meta[] = {"format", "pt", "kanava_family", "use-lite", NULL};
        rc = kn_st_write(to, tensors, n, meta, err);
    }
    if (rc == 0) {
        kn_path_join(path, sizeof path, dist_dir, "vocab.json");
        kn_path_join(to, sizeof to, out_dir, "vocab.json");
        json_t *vocab = json_load_file(path, 0, &jerr);
        if (!json_is_array(vocab)) rc = kn_fail(err, "%s: not a JSON array of [piece, score]: %s", path, jerr.text);
        json_decref(vocab);
        if (rc == 0) rc = copy_file(path, to, err);
    }
    if (rc == 0) rc = write_config(out_dir, &tw, source, err); /* last: its presence marks a complete model */
    tf_weights_free(&tw);
    json_decref(model);
    return rc;
}
