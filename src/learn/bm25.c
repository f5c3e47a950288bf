/* bm25.c - an inverted index (term -> documents with counts) and the BM25 classifier. */
#include "learn/bm25.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/temperature.h"
#include "text/analyze.h"
#include "util/strmap.h"

struct kn_bm25_index {
    kn_strmap terms;
    size_t n_docs;
    double k1, b, avgdl;
    double *idf;          /* per term */
    size_t *post_start;   /* per term + 1: postings of term t are post_doc/tf[post_start[t] .. post_start[t+1]) */
    uint32_t *post_doc;   /* ascending within a term */
    uint32_t *post_tf;
    double *doc_len;      /* terms per document */
};

void kn_bm25_default_options(kn_bm25_options *opt)
{
    opt->k1 = 1.5;
    opt->b = 0.75;
    opt->mode = KN_BM25_NEIGHBOUR;
}

/* Term ids of one text, repeats included. */
typedef struct term_list {
    kn_strmap *vocab; /* interning (build) */
    const kn_strmap *lookup; /* or looking up only (queries): unknown terms are -1 */
    long *ids;
    size_t n, cap;
    int failed;
} term_list;

static void collect_term(const char *term, size_t len, void *ctx)
{
    term_list *l = ctx;
    if (l->failed) return;
    long id = l->vocab ? kn_strmap_intern(l->vocab, term, len, NULL) : kn_strmap_find(l->lookup, term, len);
    if (l->vocab && id < 0) {
        l->failed = 1;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        long *ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) {
            l->failed = 1;
            return;
        }
        l->ids = ids;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
}

static int terms_of(term_list *l, const char *text, size_t len)
{
    l->n = 0;
    if (kn_analyze_words(text, len, 1, 1, collect_term, l) < 0) l->failed = 1;
    return l->failed ? -1 : 0;
}

void kn_bm25_index_free(kn_bm25_index *ix)
{
    if (!ix) return;
    kn_strmap_free(&ix->terms);
    free(ix->idf);
    free(ix->post_start);
    free(ix->post_doc);
    free(ix->post_tf);
    free(ix->doc_len);
    free(ix);
}

size_t kn_bm25_index_docs(const kn_bm25_index *ix)
{
    return ix->n_docs;
}

/* Sorting (term, doc) occurrences groups them into postings with counts. */
typedef struct occurrence {
    uint32_t term, doc;
} occurrence;

static int by_term_then_doc(const void *a, const void *b)
{
    const occurrence *x = a, *y = b;
    if (x->term != y->term) return x->term < y->term ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

kn_bm25_index *kn_bm25_index_build(const char *const *texts, const size_t *lens, size_t n, const int32_t *group,
                                   size_t n_docs, double k1, double b, kn_error *err)
{
    if (!group) n_docs = n;
    if (n_docs == 0) {
        kn_fail(err, "bm25: no documents to index");
        return NULL;
    }
    if (n_docs > UINT32_MAX || !(k1 >= 0) || !(b >= 0 && b <= 1)) {
        kn_fail(err, "bm25: needs k1 >= 0 and 0 <= b <= 1 (got k1 %g, b %g) and fewer than 2^32 documents", k1, b);
        return NULL;
    }
    kn_bm25_index *ix = calloc(1, sizeof *ix);
    occurrence *occ = NULL;
    size_t n_occ = 0, cap = 0;
    term_list l = {0};
    if (!ix) goto oom;
    kn_strmap_init(&ix->terms);
    ix->n_docs = n_docs;
    ix->k1 = k1;
    ix->b = b;
    l.vocab = &ix->terms;
    if (!(ix->doc_len = calloc(n_docs, sizeof *ix->doc_len))) goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t doc = group ? (size_t)group[i] : i;
        if (doc >= n_docs) {
            kn_fail(err, "bm25: text %zu belongs to document %zu of %zu", i, doc, n_docs);
            goto fail;
        }
        if (terms_of(&l, texts[i], lens[i]) != 0) goto oom;
        if (n_occ + l.n > cap) {
            cap = (n_occ + l.n) * 2;
            occurrence *o = realloc(occ, cap * sizeof *o);
            if (!o) goto oom;
            occ = o;
        }
        for (size_t k = 0; k < l.n; k++) occ[n_occ++] = (occurrence){(uint32_t)l.ids[k], (uint32_t)doc};
        ix->doc_len[doc] += (double)l.n;
    }
    qsort(occ, n_occ, sizeof *occ, by_term_then_doc);
    size_t n_terms = ix->terms.count;
    ix->idf = malloc((n_terms ? n_terms : 1) * sizeof *ix->idf);
    ix->post_start = calloc(n_terms + 1, sizeof *ix->post_start);
    ix->post_doc = malloc((n_occ ? n_occ : 1) * sizeof *ix->post_doc);
    ix->post_tf = malloc((n_occ ? n_occ : 1) * sizeof *ix->post_tf);
    if (!ix->idf || !ix->post_start || !ix->post_doc || !ix->post_tf) goto oom;
    size_t n_post = 0;
    for (size_t k = 0; k < n_occ; k++) {
        if (k > 0 && occ[k].term == occ[k - 1].term && occ[k].doc == occ[k - 1].doc) {
            ix->post_tf[n_post - 1]++;
            continue;
        }
        ix->post_doc[n_post] = occ[k].doc;
        ix->post_tf[n_post] = 1;
        ix->post_start[occ[k].term + 1] = ++n_post;
    }
    for (size_t t = 0; t < n_terms; t++) {
        if (ix->post_start[t + 1] < ix->post_start[t]) ix->post_start[t + 1] = ix->post_start[t];
        double df = (double)(ix->post_start[t + 1] - ix->post_start[t]);
        ix->idf[t] = log(1.0 + ((double)n_docs - df + 0.5) / (df + 0.5));
    }
    double total = 0;
    for (size_t d = 0; d < n_docs; d++) total += ix->doc_len[d];
    ix->avgdl = total / (double)n_docs;
    free(occ);
    free(l.ids);
    return ix;
oom:
    kn_fail(err, "bm25: out of memory indexing %zu texts", n);
fail:
    free(occ);
    free(l.ids);
    kn_bm25_index_free(ix);
    return NULL;
}

/* One term's contribution to a document of length dl with count tf. */
static double term_weight(const kn_bm25_index *ix, double idf, double tf, double dl)
{
    if (tf <= 0) return 0;
    double norm = ix->avgdl > 0 ? 1.0 - ix->b + ix->b * dl / ix->avgdl : 1.0;
    return idf * tf * (ix->k1 + 1.0) / (tf + ix->k1 * norm);
}

/* Scores of the query terms ids[0..n) (-1 = unknown) against every document. */
static void score_terms(const kn_bm25_index *ix, const long *ids, size_t n, double *scores)
{
    memset(scores, 0, ix->n_docs * sizeof *scores);
    for (size_t q = 0; q < n; q++) {
        if (ids[q] < 0) continue;
        size_t t = (size_t)ids[q];
        for (size_t p = ix->post_start[t]; p < ix->post_start[t + 1]; p++) {
            uint32_t d = ix->post_doc[p];
            scores[d] += term_weight(ix, ix->idf[t], ix->post_tf[p], ix->doc_len[d]);
        }
    }
}

void kn_bm25_index_score(const kn_bm25_index *ix, const char *query, size_t len, double *scores)
{
    term_list l = {.lookup = &ix->terms};
    if (terms_of(&l, query, len) != 0) l.n = 0; /* out of memory: no evidence */
    score_terms(ix, l.ids, l.n, scores);
    free(l.ids);
}

/* tf of term t in document d (binary search in its postings). */
static double term_count(const kn_bm25_index *ix, size_t t, uint32_t d)
{
    size_t lo = ix->post_start[t], hi = ix->post_start[t + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->post_doc[mid] < d) lo = mid + 1;
        else hi = mid;
    }
    return lo < ix->post_start[t + 1] && ix->post_doc[lo] == d ? ix->post_tf[lo] : 0;
}

void kn_bm25_free(kn_bm25_classifier *c)
{
    if (!c) return;
    kn_bm25_index_free(c->index);
    free(c->doc_class);
    memset(c, 0, sizeof *c);
}

/* Class scores from document scores: the best document of each class. */
static void class_scores_from_docs(const kn_bm25_classifier *c, const double *doc_scores, double *scores)
{
    size_t n_docs = c->index->n_docs;
    if (c->opt.mode == KN_BM25_TOPIC) {
        memcpy(scores, doc_scores, (size_t)c->n_classes * sizeof *scores);
        return;
    }
    for (int k = 0; k < c->n_classes; k++) scores[k] = 0; /* scores are >= 0: no document = no evidence */
    for (size_t d = 0; d < n_docs; d++)
        if (doc_scores[d] > scores[c->doc_class[d]]) scores[c->doc_class[d]] = doc_scores[d];
}

void kn_bm25_class_scores(const kn_bm25_classifier *c, const char *text, size_t len, double *scores)
{
    double *doc_scores = malloc(c->index->n_docs * sizeof *doc_scores);
    if (!doc_scores) {
        for (int k = 0; k < c->n_classes; k++) scores[k] = 0;
        return;
    }
    kn_bm25_index_score(c->index, text, len, doc_scores);
    class_scores_from_docs(c, doc_scores, scores);
    free(doc_scores);
}

static void softmax_row(const double *scores, int K, double temperature, float *proba)
{
    double zmax = -INFINITY, sum = 0, e[K];
    for (int k = 0; k < K; k++) zmax = fmax(zmax, scores[k] / temperature);
    for (int k = 0; k < K; k++) sum += (e[k] = exp(scores[k] / temperature - zmax));
    for (int k = 0; k < K; k++) proba[k] = (float)(e[k] / sum);
}

void kn_bm25_predict_proba(const kn_bm25_classifier *c, const char *const *texts, const size_t *lens, size_t n,
                           float *proba)
{
    const int K = c->n_classes;
#pragma omp parallel for schedule(dynamic, 16) if (n >= 64)
    for (size_t i = 0; i < n; i++) {
        double scores[K];
        kn_bm25_class_scores(c, texts[i], lens[i], scores);
        softmax_row(scores, K, c->temperature, proba + i * K);
    }
}

static int by_id(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Occurrences of v in the ascending ids[0..n). */
static double count_sorted(const long *ids, size_t n, long v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    size_t first = lo;
    while (lo < n && ids[lo] == v) lo++;
    return (double)(lo - first);
}

/* Scores of training text i with itself left out of the index: in neighbour mode its own
 * document is dropped; in topic mode its terms are taken out of its topic's document. */
static void leave_one_out_scores(const kn_bm25_classifier *c, const term_list *q, size_t doc, const long *own_ids,
                                 size_t own_n, double *doc_scores, double *scores)
{
    const kn_bm25_index *ix = c->index;
    score_terms(ix, q->ids, q->n, doc_scores);
    if (c->opt.mode == KN_BM25_NEIGHBOUR) {
        doc_scores[doc] = 0;
    } else {
        double dl = ix->doc_len[doc] - (double)own_n, s = 0;
        for (size_t k = 0; k < q->n; k++) {
            size_t t = (size_t)q->ids[k];
            double tf = term_count(ix, t, (uint32_t)doc) - count_sorted(own_ids, own_n, (long)t);
            s += term_weight(ix, ix->idf[t], tf, dl);
        }
        doc_scores[doc] = s;
    }
    class_scores_from_docs(c, doc_scores, scores);
}

int kn_bm25_build(kn_bm25_classifier *c, const char *const *texts, const size_t *lens, const int32_t *labels,
                  size_t n, int n_classes, const kn_bm25_options *opt, double temperature, kn_error *err)
{
    memset(c, 0, sizeof *c);
    if (opt) c->opt = *opt;
    else kn_bm25_default_options(&c->opt);
    if (n_classes < 2) return kn_fail(err, "bm25: needs at least 2 topics, got %d", n_classes);
    if (!(temperature > 0) || !isfinite(temperature)) return kn_fail(err, "bm25: temperature must be positive, got %g", temperature);
    if (c->opt.mode != KN_BM25_NEIGHBOUR && c->opt.mode != KN_BM25_TOPIC) return kn_fail(err, "bm25: unknown mode %d", (int)c->opt.mode);
    unsigned char *seen = calloc((size_t)n_classes, 1);
    if (!seen) return kn_fail(err, "bm25: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= n_classes) {
            free(seen);
            return kn_fail(err, "bm25: label %d of text %zu is outside [0, %d)", (int)labels[i], i, n_classes);
        }
        seen[labels[i]] = 1;
    }
    for (int k = 0; k < n_classes; k++)
        if (!seen[k]) {
            free(seen);
            return kn_fail(err, "bm25: topic %d has no labelled text", k);
        }
    free(seen);
    int topic = c->opt.mode == KN_BM25_TOPIC;
    size_t n_docs = topic ? (size_t)n_classes : n;
    c->n_classes = n_classes;
    c->temperature = temperature;
    c->index = kn_bm25_index_build(texts, lens, n, topic ? labels : NULL, n_docs, c->opt.k1, c->opt.b, err);
    if (!c->index) return -1;
    if (!(c->doc_class = malloc(n_docs * sizeof *c->doc_class))) {
        kn_bm25_free(c);
        return kn_fail(err, "bm25: out of memory");
    }
    for (size_t d = 0; d < n_docs; d++) c->doc_class[d] = topic ? (int32_t)d : labels[d];
    return 0;
}

int kn_bm25_fit_temperature(kn_bm25_classifier *c, const char *const *texts, const size_t *lens,
                            const int32_t *labels, size_t n, kn_error *err)
{
    const int n_classes = c->n_classes, topic = c->opt.mode == KN_BM25_TOPIC;
    const size_t n_docs = c->index->n_docs;
    size_t *count = calloc((size_t)n_classes, sizeof *count);
    double *Z = malloc((n ? n : 1) * (size_t)n_classes * sizeof *Z), *doc_scores = malloc(n_docs * sizeof *doc_scores);
    unsigned char *use = malloc(n ? n : 1);
    long *own = malloc(sizeof *own);
    size_t own_cap = 1, used = 0;
    term_list q = {.lookup = &c->index->terms};
    int rc = 0;
    if (!count || !Z || !doc_scores || !use || !own) {
        rc = kn_fail(err, "bm25: out of memory for %zu texts", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) count[labels[i]]++;
    for (size_t i = 0; i < n; i++) {
        if (terms_of(&q, texts[i], lens[i]) != 0) {
            rc = kn_fail(err, "bm25: out of memory");
            goto done;
        }
        /* Every term of a training text is in the index, so its ids are its own terms. */
        if (q.n > own_cap) {
            long *grown = realloc(own, q.n * sizeof *own);
            if (!grown) {
                rc = kn_fail(err, "bm25: out of memory");
                goto done;
            }
            own = grown;
            own_cap = q.n;
        }
        if (q.n) memcpy(own, q.ids, q.n * sizeof *own);
        qsort(own, q.n, sizeof *own, by_id);
        leave_one_out_scores(c, &q, topic ? (size_t)labels[i] : i, own, q.n, doc_scores, Z + i * n_classes);
        use[i] = count[labels[i]] > 1; /* a topic's only text cannot be scored without itself */
        used += use[i];
    }
    c->temperature = used ? kn_fit_temperature(Z, labels, use, n, n_classes) : 1.0;
done:
    free(count);
    free(Z);
    free(doc_scores);
    free(use);
    free(q.ids);
    free(own);
    return rc;
}

int kn_bm25_train(kn_bm25_classifier *c, const char *const *texts, const size_t *lens, const int32_t *labels,
                  size_t n, int n_classes, const kn_bm25_options *opt, kn_error *err)
{
    if (kn_bm25_build(c, texts, lens, labels, n, n_classes, opt, 1.0, err) != 0) return -1;
    if (kn_bm25_fit_temperature(c, texts, lens, labels, n, err) != 0) {
        kn_bm25_free(c);
        return -1;
    }
    return 0;
}
