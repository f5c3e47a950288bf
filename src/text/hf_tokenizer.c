/* hf_tokenizer.c - reads tokenizer.json, hands the text to the model's tokenizer and wraps
 * the ids in the special tokens the post-processor names. */
#include "text/hf_tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "text/hf_unigram.h"
#include "text/wordpiece.h"

#define MAX_SPECIAL 4

struct kn_hf_tokenizer {
    kn_wordpiece *wordpiece;
    kn_hf_unigram *unigram;
    int32_t prefix[MAX_SPECIAL], suffix[MAX_SPECIAL];
    int n_prefix, n_suffix;
};

void kn_hf_tokenizer_free(kn_hf_tokenizer *t)
{
    if (!t) return;
    kn_wordpiece_free(t->wordpiece);
    kn_hf_unigram_free(t->unigram);
    free(t);
}

const char *kn_hf_tokenizer_kind(const kn_hf_tokenizer *t)
{
    return t->wordpiece ? "WordPiece" : "Unigram";
}

/* ["[CLS]", 101] as BertProcessing and RobertaProcessing write it. */
static int pair_id(const json_t *pair, int32_t *id)
{
    json_t *v = json_array_get(pair, 1);
    if (!json_is_integer(v)) return -1;
    *id = (int32_t)json_integer_value(v);
    return 0;
}

/* TemplateProcessing "single": special tokens before and after the one Sequence item. */
static int parse_template(kn_hf_tokenizer *t, const json_t *pp, const char *path, kn_error *err)
{
    json_t *single = json_object_get(pp, "single"), *specials = json_object_get(pp, "special_tokens");
    if (!json_is_array(single)) return kn_fail(err, "%s: post_processor TemplateProcessing has no \"single\" template", path);
    int seen_sequence = 0;
    size_t i;
    json_t *item;
    json_array_foreach(single, i, item) {
        json_t *sp = json_object_get(item, "SpecialToken");
        if (json_object_get(item, "Sequence")) {
            seen_sequence = 1;
            continue;
        }
        const char *name = json_string_value(json_object_get(sp, "id"));
        json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
        if (!name || !json_is_array(ids))
            return kn_fail(err, "%s: post_processor template item %zu is not a known special token", path, i);
        size_t k;
        json_t *idv;
        json_array_foreach(ids, k, idv) {
            int *n = seen_sequence ? &t->n_suffix : &t->n_prefix;
            int32_t *dst = seen_sequence ? t->suffix : t->prefix;
            if (*n >= MAX_SPECIAL || !json_is_integer(idv))
                return kn_fail(err, "%s: post_processor special token '%s' has bad or too many ids", path, name);
            dst[(*n)++] = (int32_t)json_integer_value(idv);
        }
    }
    return seen_sequence ? 0 : kn_fail(err, "%s: post_processor template has no $A sequence", path);
}

static int parse_post_processor(kn_hf_tokenizer *t, const json_t *pp, const char *path, kn_error *err)
{
    if (!pp || json_is_null(pp)) return 0;
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (!type) return kn_fail(err, "%s: post_processor has no type", path);
    if (strcmp(type, "TemplateProcessing") == 0) return parse_template(t, pp, path, err);
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        if (pair_id(json_object_get(pp, "cls"), &t->prefix[0]) != 0 || pair_id(json_object_get(pp, "sep"), &t->suffix[0]) != 0)
            return kn_fail(err, "%s: post_processor %s needs cls and sep as [token, id]", path, type);
        t->n_prefix = t->n_suffix = 1;
        return 0;
    }
    if (strcmp(type, "Sequence") == 0) { /* e.g. ByteLevel + Template: only the template adds ids */
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(pp, "processors"), i, p) {
            const char *pt = json_string_value(json_object_get(p, "type"));
            if (pt && strcmp(pt, "ByteLevel") != 0 && parse_post_processor(t, p, path, err) != 0) return -1;
        }
        return 0;
    }
    return kn_fail(err, "%s: unsupported post_processor type '%s'", path, type);
}

kn_hf_tokenizer *kn_hf_tokenizer_load(const char *path, kn_error *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        kn_fail(err, "%s: %s (line %d, column %d)", path, jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    kn_hf_tokenizer *t = calloc(1, sizeof *t);
    const char *type = json_string_value(json_object_get(json_object_get(root, "model"), "type"));
    int rc = 0;
    if (!t) rc = kn_fail(err, "out of memory");
    else if (!json_is_object(root)) rc = kn_fail(err, "%s: not a JSON object", path);
    else if (!type) rc = kn_fail(err, "%s: no model.type", path);
    else if (strcmp(type, "WordPiece") == 0) rc = (t->wordpiece = kn_wordpiece_load(root, path, err)) ? 0 : -1;
    else if (strcmp(type, "Unigram") == 0) rc = (t->unigram = kn_hf_unigram_load(root, path, err)) ? 0 : -1;
    else rc = kn_fail(err, "%s: tokenizer model type '%s' is not supported (WordPiece and Unigram are)", path, type);
    if (rc == 0) rc = parse_post_processor(t, json_object_get(root, "post_processor"), path, err);
    json_decref(root);
    if (rc != 0) {
        kn_hf_tokenizer_free(t);
        return NULL;
    }
    return t;
}

int kn_hf_tokenizer_encode(const kn_hf_tokenizer *t, const char *text, size_t len, size_t max_len, int32_t **ids,
                           size_t *n, kn_error *err)
{
    int32_t *body = NULL;
    size_t nb = 0;
    int rc = t->wordpiece ? kn_wordpiece_encode(t->wordpiece, text, len, &body, &nb, err)
                          : kn_hf_unigram_encode(t->unigram, text, len, &body, &nb, err);
    if (rc != 0) return -1;
    size_t specials = (size_t)(t->n_prefix + t->n_suffix);
    size_t room = max_len > specials ? max_len - specials : 0;
    if (nb > room) nb = room;
    size_t total = (size_t)t->n_prefix + nb + (size_t)t->n_suffix;
    int32_t *out = malloc((total ? total : 1) * sizeof *out);
    if (!out) {
        free(body);
        return kn_fail(err, "out of memory");
    }
    memcpy(out, t->prefix, (size_t)t->n_prefix * sizeof *out);
    if (nb) memcpy(out + t->n_prefix, body, nb * sizeof *out);
    memcpy(out + t->n_prefix + nb, t->suffix, (size_t)t->n_suffix * sizeof *out);
    free(body);
    *ids = out;
    *n = total;
    return 0;
}
