/* tfidf.c - vocabularies, document frequencies and the sparse TF-IDF rows (see tfidf.h). */
#include "learn/tfidf.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/analyze.h"
#include "text/lemmatize.h"
#include "util/strmap.h"

typedef struct block {
    int enabled, min_n, max_n;
    kn_strmap vocab;
    double *idf;
    int offset; /* first column of the block */
} block;

struct kn_tfidf {
    kn_tfidf_options opt;
    block blocks[KN_TFIDF_BLOCKS];
    int dim;
};

void kn_tfidf_default_options(kn_tfidf_options *opt)
{
    opt->word_min_n = 0; /* off: see tfidf.h */
    opt->word_max_n = 0;
    opt->char_min_n = 2;
    opt->char_max_n = 5;
    opt->sublinear_tf = 0;
    opt->lemmatize = KN_LEMMA_NONE;
}

/* Finnish base forms of n texts (text/lemmatize.h), malloc'd; NULL with err on failure. */
static char **lemmatize_all(const char *const *texts, const size_t *lens, size_t n, size_t **out_lens, kn_error *err)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    *out_lens = malloc((n ? n : 1) * sizeof **out_lens);
    int rc = out && *out_lens ? 0 : kn_fail(err, "tfidf: out of memory lemmatizing %zu texts", n);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = kn_lemmatize_fi(texts[i], lens[i], &out[i], &(*out_lens)[i], err);
    if (rc == 0) return out;
    for (size_t i = 0; out && i < n; i++) free(out[i]);
    free(out);
    free(*out_lens);
    *out_lens = NULL;
    return NULL;
}

static void free_texts(char **texts, size_t *lens, size_t n)
{
    for (size_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
}

void kn_csr_free(kn_csr *m)
{
    if (!m) return;
    free(m->indptr);
    free(m->indices);
    free(m->values);
    memset(m, 0, sizeof *m);
}

void kn_tfidf_free(kn_tfidf *t)
{
    if (!t) return;
    for (int k = 0; k < KN_TFIDF_BLOCKS; k++) {
        kn_strmap_free(&t->blocks[k].vocab);
        free(t->blocks[k].idf);
    }
    free(t);
}

int kn_tfidf_dim(const kn_tfidf *t)
{
    return t->dim;
}

const kn_tfidf_options *kn_tfidf_get_options(const kn_tfidf *t)
{
    return &t->opt;
}

int kn_tfidf_lookup(const kn_tfidf *t, int block_id, const char *term, size_t len)
{
    if (block_id < 0 || block_id >= KN_TFIDF_BLOCKS) return -1;
    const block *b = &t->blocks[block_id];
    if (!b->enabled) return -1;
    long id = kn_strmap_find(&b->vocab, term, len);
    return id < 0 ? -1 : b->offset + (int)id;
}

double kn_tfidf_idf(const kn_tfidf *t, int column)
{
    for (int k = KN_TFIDF_BLOCKS - 1; k >= 0; k--)
        if (t->blocks[k].enabled && column >= t->blocks[k].offset) return t->blocks[k].idf[column - t->blocks[k].offset];
    return 0;
}

/* Terms of one text in one block: ids (growing the vocabulary when fitting). */
typedef struct collector {
    kn_strmap *vocab;
    int grow;
    long *ids;
    double *weight; /* transforming: one per id */
    size_t n, cap;
    int failed;
} collector;

static void collect(const char *term, size_t len, void *ctx)
{
    collector *c = ctx;
    if (c->failed) return;
    long id = c->grow ? kn_strmap_intern(c->vocab, term, len, NULL) : kn_strmap_find(c->vocab, term, len);
    if (id < 0) {
        c->failed = c->grow; /* fitting: out of memory; transforming: an unseen term, skipped */
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        long *ids = realloc(c->ids, cap * sizeof *ids);
        if (ids) c->ids = ids;
        double *weight = ids && !c->grow ? realloc(c->weight, cap * sizeof *weight) : NULL;
        if (weight) c->weight = weight;
        if (!ids || (!c->grow && !weight)) {
            c->failed = 1;
            return;
        }
        c->cap = cap;
    }
    c->ids[c->n++] = id;
}

static int analyze(const block *b, int block_id, collector *c, const char *text, size_t len)
{
    c->n = 0;
    long r = block_id == KN_TFIDF_WORD ? kn_analyze_words(text, len, b->min_n, b->max_n, collect, c)
                                       : kn_analyze_char_wb(text, len, b->min_n, b->max_n, collect, c);
    return r < 0 || c->failed ? -1 : 0;
}

static int by_id(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

static int check_range(const char *what, int min_n, int max_n, kn_error *err)
{
    if (min_n == 0 && max_n == 0) return 0;
    if (min_n < 1 || max_n < min_n || max_n > 16)
        return kn_fail(err, "tfidf: %s n-gram range %d..%d is invalid (need 1 <= min <= max <= 16, or 0..0 for off)",
                       what, min_n, max_n);
    return 0;
}

static int setup_blocks(kn_tfidf *t, kn_error *err)
{
    const kn_tfidf_options *o = &t->opt;
    if (check_range("word", o->word_min_n, o->word_max_n, err) != 0 ||
        check_range("char", o->char_min_n, o->char_max_n, err) != 0)
        return -1;
    t->blocks[KN_TFIDF_WORD] = (block){.enabled = o->word_max_n > 0, .min_n = o->word_min_n, .max_n = o->word_max_n};
    t->blocks[KN_TFIDF_CHAR] = (block){.enabled = o->char_max_n > 0, .min_n = o->char_min_n, .max_n = o->char_max_n};
    if (!t->blocks[0].enabled && !t->blocks[1].enabled) return kn_fail(err, "tfidf: both word and char n-grams are off");
    for (int k = 0; k < KN_TFIDF_BLOCKS; k++) kn_strmap_init(&t->blocks[k].vocab);
    return 0;
}

static void set_offsets(kn_tfidf *t)
{
    int offset = 0;
    for (int k = 0; k < KN_TFIDF_BLOCKS; k++) {
        t->blocks[k].offset = offset;
        if (t->blocks[k].enabled) offset += (int)t->blocks[k].vocab.count;
    }
    t->dim = offset;
}

kn_tfidf *kn_tfidf_fit(const char *const *texts, const size_t *lens, size_t n, const kn_tfidf_options *opt,
                       kn_error *err)
{
    return kn_tfidf_fit_idf_corpus(texts, lens, n, NULL, NULL, 0, opt, err);
}

static kn_tfidf *fit_analyzed(const char *const *texts, const size_t *lens, size_t n, const char *const *extra,
                              const size_t *extra_lens, size_t n_extra, const kn_tfidf_options *opt, kn_error *err);

kn_tfidf *kn_tfidf_fit_idf_corpus(const char *const *texts, const size_t *lens, size_t n, const char *const *extra,
                                  const size_t *extra_lens, size_t n_extra, const kn_tfidf_options *opt, kn_error *err)
{
    if (!opt || opt->lemmatize == KN_LEMMA_NONE) return fit_analyzed(texts, lens, n, extra, extra_lens, n_extra, opt, err);
    if (opt->lemmatize != KN_LEMMA_FI) {
        kn_fail(err, "tfidf: unknown lemmatizer %d", opt->lemmatize);
        return NULL;
    }
    size_t *l1 = NULL, *l2 = NULL;
    char **t1 = lemmatize_all(texts, lens, n, &l1, err), **t2 = NULL;
    if (t1 && n_extra) t2 = lemmatize_all(extra, extra_lens, n_extra, &l2, err);
    kn_tfidf *t = t1 && (t2 || !n_extra) ? fit_analyzed((const char *const *)t1, l1, n, (const char *const *)t2, l2,
                                                        n_extra, opt, err)
                                         : NULL;
    free_texts(t1, l1, n);
    free_texts(t2, l2, n_extra);
    return t;
}

static kn_tfidf *fit_analyzed(const char *const *texts, const size_t *lens, size_t n, const char *const *extra,
                              const size_t *extra_lens, size_t n_extra, const kn_tfidf_options *opt, kn_error *err)
{
    kn_tfidf *t = calloc(1, sizeof *t);
    if (!t) {
        kn_fail(err, "tfidf: out of memory");
        return NULL;
    }
    if (opt) t->opt = *opt;
    else kn_tfidf_default_options(&t->opt);
    if (setup_blocks(t, err) != 0) {
        free(t);
        return NULL;
    }
    if (n == 0) {
        kn_fail(err, "tfidf: no texts to learn a vocabulary from");
        kn_tfidf_free(t);
        return NULL;
    }
    collector c = {.grow = 1};
    size_t *df = NULL, *last = NULL, cap = 0;
    for (int k = 0; k < KN_TFIDF_BLOCKS; k++) {
        block *b = &t->blocks[k];
        if (!b->enabled) continue;
        c.vocab = &b->vocab;
        for (size_t i = 0; i < n; i++) {
            if (analyze(b, k, &c, texts[i], lens[i]) != 0) goto oom;
            if (b->vocab.count > cap) {
                size_t ncap = b->vocab.count * 2;
                size_t *d2 = realloc(df, ncap * sizeof *d2), *l2 = d2 ? realloc(last, ncap * sizeof *l2) : NULL;
                if (d2) df = d2;
                if (!d2 || !l2) goto oom;
                last = l2;
                for (size_t j = cap; j < ncap; j++) df[j] = 0, last[j] = (size_t)-1;
                cap = ncap;
            }
            for (size_t j = 0; j < c.n; j++) {
                size_t id = (size_t)c.ids[j];
                if (last[id] != i) last[id] = i, df[id]++;
            }
        }
        /* The extra texts only count towards df: the vocabulary stays the labelled texts'. */
        c.grow = 0;
        for (size_t i = 0; i < n_extra; i++) {
            if (analyze(b, k, &c, extra[i], extra_lens[i]) != 0) goto oom;
            for (size_t j = 0; j < c.n; j++) {
                size_t id = (size_t)c.ids[j];
                if (last[id] != n + i) last[id] = n + i, df[id]++;
            }
        }
        c.grow = 1;
        const size_t docs = n + n_extra;
        size_t nv = b->vocab.count;
        if (nv == 0) {
            kn_fail(err, "tfidf: the training texts contain no %s n-grams", k == KN_TFIDF_WORD ? "word" : "character");
            goto fail;
        }
        if (!(b->idf = malloc(nv * sizeof *b->idf))) goto oom;
        for (size_t j = 0; j < nv; j++) b->idf[j] = log((1.0 + (double)docs) / (1.0 + (double)df[j])) + 1.0;
        for (size_t j = 0; j < cap; j++) df[j] = 0, last[j] = (size_t)-1;
    }
    set_offsets(t);
    free(c.ids);
    free(c.weight);
    free(df);
    free(last);
    return t;
oom:
    kn_fail(err, "tfidf: out of memory learning the vocabulary of %zu texts", n);
fail:
    free(c.ids);
    free(c.weight);
    free(df);
    free(last);
    kn_tfidf_free(t);
    return NULL;
}

/* The row of one text: (column, value) pairs appended to cols/vals, per block sorted by
 * column and scaled to unit norm. Returns the number of entries or -1. */
static long transform_row(const kn_tfidf *t, collector *c, const char *text, size_t len, int32_t *cols, float *vals)
{
    long n_out = 0;
    for (int k = 0; k < KN_TFIDF_BLOCKS; k++) {
        const block *b = &t->blocks[k];
        if (!b->enabled) continue;
        c->vocab = (kn_strmap *)&b->vocab;
        if (analyze(b, k, c, text, len) != 0) return -1;
        qsort(c->ids, c->n, sizeof *c->ids, by_id);
        /* Unique ids to the front of c->ids, their tf-idf (in double) into c->weight. */
        size_t u = 0;
        double norm = 0;
        for (size_t j = 0; j < c->n;) {
            size_t r = j;
            while (r < c->n && c->ids[r] == c->ids[j]) r++;
            double tf = (double)(r - j);
            if (t->opt.sublinear_tf) tf = 1.0 + log(tf);
            c->ids[u] = c->ids[j];
            c->weight[u] = tf * b->idf[c->ids[j]];
            norm += c->weight[u] * c->weight[u];
            u++;
            j = r;
        }
        double inv = norm > 0 ? 1.0 / sqrt(norm) : 0;
        for (size_t j = 0; j < u; j++) {
            cols[n_out] = b->offset + (int32_t)c->ids[j];
            vals[n_out++] = (float)(c->weight[j] * inv);
        }
    }
    return n_out;
}

static int transform_analyzed(const kn_tfidf *t, const char *const *texts, const size_t *lens, size_t n, kn_csr *out,
                              kn_error *err);

int kn_tfidf_transform(const kn_tfidf *t, const char *const *texts, const size_t *lens, size_t n, kn_csr *out,
                       kn_error *err)
{
    if (t->opt.lemmatize == KN_LEMMA_NONE) return transform_analyzed(t, texts, lens, n, out, err);
    memset(out, 0, sizeof *out);
    size_t *l = NULL;
    char **lt = lemmatize_all(texts, lens, n, &l, err);
    int rc = lt ? transform_analyzed(t, (const char *const *)lt, l, n, out, err) : -1;
    free_texts(lt, l, n);
    return rc;
}

static int transform_analyzed(const kn_tfidf *t, const char *const *texts, const size_t *lens, size_t n, kn_csr *out,
                              kn_error *err)
{
    memset(out, 0, sizeof *out);
    out->n_rows = n;
    out->n_cols = t->dim;
    size_t cap = 1024, used = 0;
    out->indptr = malloc((n + 1) * sizeof *out->indptr);
    out->indices = malloc(cap * sizeof *out->indices);
    out->values = malloc(cap * sizeof *out->values);
    collector c = {0};
    if (!out->indptr || !out->indices || !out->values) goto oom;
    out->indptr[0] = 0;
    for (size_t i = 0; i < n; i++) {
        /* A row has at most one entry per term occurrence: bound it before writing. */
        size_t bound = 0;
        for (int k = 0; k < KN_TFIDF_BLOCKS; k++) {
            const block *b = &t->blocks[k];
            if (b->enabled) bound += (lens[i] + 2) * (size_t)(b->max_n - b->min_n + 1) + 2;
        }
        if (used + bound > cap) {
            while (used + bound > cap) cap *= 2;
            int32_t *ind = realloc(out->indices, cap * sizeof *ind);
            if (ind) out->indices = ind;
            float *val = ind ? realloc(out->values, cap * sizeof *val) : NULL;
            if (!ind || !val) goto oom;
            out->values = val;
        }
        long got = transform_row(t, &c, texts[i], lens[i], out->indices + used, out->values + used);
        if (got < 0) goto oom;
        used += (size_t)got;
        out->indptr[i + 1] = used;
    }
    free(c.ids);
    free(c.weight);
    return 0;
oom:
    free(c.ids);
    free(c.weight);
    kn_csr_free(out);
    return kn_fail(err, "tfidf: out of memory for the features of %zu texts", n);
}

int kn_tfidf_save(const kn_tfidf *t, const char *dir, kn_error *err)
{
    static const char *names[KN_TFIDF_BLOCKS] = {"word", "char"};
    json_t *root = json_pack("{s:b, s:s}", "sublinear_tf", t->opt.sublinear_tf, "lemmatize",
                             t->opt.lemmatize == KN_LEMMA_FI ? "voikko-fi" : "none");
    for (int k = 0; k < KN_TFIDF_BLOCKS && root; k++) {
        const block *b = &t->blocks[k];
        json_t *terms = json_array(), *idf = json_array();
        for (size_t j = 0; b->enabled && j < b->vocab.count; j++) {
            size_t len;
            const char *s = kn_strmap_key(&b->vocab, j, &len);
            json_array_append_new(terms, json_stringn(s, len));
            json_array_append_new(idf, json_real(b->idf[j]));
        }
        json_object_set_new(root, names[k], json_pack("{s:i, s:i, s:o, s:o}", "min_n", b->enabled ? b->min_n : 0,
                                                      "max_n", b->enabled ? b->max_n : 0, "terms", terms, "idf", idf));
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/tfidf.json", dir);
    int rc = root && json_dump_file(root, path, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 ? 0 : kn_fail(err, "%s: could not write", path);
    json_decref(root);
    return rc;
}

kn_tfidf *kn_tfidf_load(const char *dir, kn_error *err)
{
    static const char *names[KN_TFIDF_BLOCKS] = {"word", "char"};
    char path[4200];
    snprintf(path, sizeof path, "%s/tfidf.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (jerr.line < 0) kn_fail(err, "%s: cannot read it (%s)", path, jerr.text);
        else kn_fail(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return NULL;
    }
    kn_tfidf *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    json_t *blocks[KN_TFIDF_BLOCKS];
    for (int k = 0; k < KN_TFIDF_BLOCKS; k++) {
        blocks[k] = json_object_get(root, names[k]);
        int min_n = (int)json_integer_value(json_object_get(blocks[k], "min_n"));
        int max_n = (int)json_integer_value(json_object_get(blocks[k], "max_n"));
        if (k == KN_TFIDF_WORD) t->opt.word_min_n = min_n, t->opt.word_max_n = max_n;
        else t->opt.char_min_n = min_n, t->opt.char_max_n = max_n;
    }
    t->opt.sublinear_tf = json_is_true(json_object_get(root, "sublinear_tf"));
    const char *lemma = json_string_value(json_object_get(root, "lemmatize"));
    if (lemma && strcmp(lemma, "voikko-fi") == 0) {
        t->opt.lemmatize = KN_LEMMA_FI;
        kn_error le;
        if (!kn_lemmatizer_available(&le)) {
            kn_fail(err, "%s: the model reads Finnish base forms, but %s", path, le.msg);
            goto fail;
        }
    } else if (lemma && strcmp(lemma, "none") != 0) {
        kn_fail(err, "%s: unknown lemmatize \"%.40s\" (none or voikko-fi)", path, lemma);
        goto fail;
    }
    if (setup_blocks(t, err) != 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        kn_fail(err, "%s: %s", path, msg);
        goto fail;
    }
    for (int k = 0; k < KN_TFIDF_BLOCKS; k++) {
        block *b = &t->blocks[k];
        if (!b->enabled) continue;
        json_t *terms = json_object_get(blocks[k], "terms"), *idf = json_object_get(blocks[k], "idf");
        size_t nv = json_array_size(terms);
        if (!json_is_array(terms) || !json_is_array(idf) || json_array_size(idf) != nv || nv == 0) {
            kn_fail(err, "%s: %s.terms and %s.idf must be non-empty arrays of the same length", path, names[k], names[k]);
            goto fail;
        }
        if (!(b->idf = malloc(nv * sizeof *b->idf))) goto oom;
        for (size_t j = 0; j < nv; j++) {
            json_t *term = json_array_get(terms, j), *v = json_array_get(idf, j);
            int added = 0;
            if (!json_is_string(term) || !json_is_number(v) || !(json_number_value(v) > 0)) {
                kn_fail(err, "%s: %s entry %zu is not a term with a positive idf", path, names[k], j);
                goto fail;
            }
            if (kn_strmap_intern(&b->vocab, json_string_value(term), json_string_length(term), &added) < 0) goto oom;
            if (!added) {
                kn_fail(err, "%s: %s term %zu is a duplicate", path, names[k], j);
                goto fail;
            }
            b->idf[j] = json_number_value(v);
        }
    }
    set_offsets(t);
    json_decref(root);
    return t;
oom:
    kn_fail(err, "%s: out of memory", path);
fail:
    json_decref(root);
    kn_tfidf_free(t);
    return NULL;
}
