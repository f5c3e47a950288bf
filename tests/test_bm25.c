/* test_bm25.c - Okapi BM25 (src/learn/bm25.h) against the independent numpy reference
 * tools/learn/bm25_reference.py, plus hand-made cases:
 *   - terms: kn_analyze_words (n = 1) gives exactly the reference's re.findall(r"\w+")
 *     terms for the first 500 documents and every query (Banking77 with 47 edge cases, and
 *     SIB-200 Finnish);
 *   - raw scores: every (query, document) score in both modes (neighbour: one document per
 *     message; topic: one document per topic) for (k1, b) = (1.5, 0.75) and (1.2, 0.3),
 *     within 1e-9 * max(1, |ref|), and exactly 0 where the reference is 0;
 *   - the classifier: class scores (best message / topic document) equal the ones derived
 *     from the reference matrix, probabilities sum to 1, the best-scoring class is the most
 *     probable, a query sharing no term is uniform, the fitted temperature is in [0.05, 20];
 *   - the leave-one-out temperature on tiny hand-made sets (singleton topics excluded,
 *     bounds reached when every held-out text is right / wrong, and an interior optimum
 *     equal to an independent fit), and input errors.
 * Reference data: $KANAVA_BM25_REF (tools/learn/check_bm25.sh generates it, ~56 MB, too
 * large to commit). Without it the fixture tests are skipped, the hand-made ones still run. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
#include <time.h>

#include "learn/bm25.h"
#include "learn/temperature.h"
#include "text/analyze.h"

/* Relative tolerance on raw scores (the reference's suggestion). */
#define SCORE_TOL 1e-9

/* $KANAVA_BM25_REF, or skip the calling test. */
#define REFERENCE_DIR_OR_SKIP(dir)                                                                                 \
    const char *dir = getenv("KANAVA_BM25_REF");                                                                   \
    if (!dir || !*dir) {                                                                                           \
        printf("KANAVA_BM25_REF unset: reference comparison skipped (tools/learn/check_bm25.sh runs it)\n");      \
        skip();                                                                                                    \
    }

/* One fixture directory (Banking77, or its fi/ subdirectory). */
typedef struct fixture {
    char dir[4400];
    json_t *meta, *docs, *queries;
    size_t n_docs, n_queries;
    const char **doc_text, **query_text;
    size_t *doc_len, *query_len;
    int32_t *topic; /* topic of each document, first-appearance order */
    int n_topics;
} fixture;

static void fixture_load(fixture *fx, const char *dir)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "%s", dir);
    fx->meta = test_read_json(dir, "meta.json");
    fx->docs = test_read_jsonl(dir, "docs.jsonl");
    fx->queries = test_read_jsonl(dir, "queries.jsonl");
    fx->n_docs = json_array_size(fx->docs);
    fx->n_queries = json_array_size(fx->queries);
    if (fx->n_docs != (size_t)json_integer_value(json_object_get(fx->meta, "n_docs")) ||
        fx->n_queries != (size_t)json_integer_value(json_object_get(fx->meta, "n_queries")))
        fail_msg("%s: docs.jsonl / queries.jsonl do not match meta.json", dir);
    fx->doc_text = malloc(fx->n_docs * sizeof *fx->doc_text);
    fx->doc_len = malloc(fx->n_docs * sizeof *fx->doc_len);
    fx->topic = malloc(fx->n_docs * sizeof *fx->topic);
    fx->query_text = malloc(fx->n_queries * sizeof *fx->query_text);
    fx->query_len = malloc(fx->n_queries * sizeof *fx->query_len);
    json_t *topics = json_object_get(fx->meta, "topics");
    fx->n_topics = (int)json_array_size(topics);
    int seen = 0; /* topics met so far: they must come in meta's first-appearance order */
    for (size_t i = 0; i < fx->n_docs; i++) {
        json_t *row = json_array_get(fx->docs, i), *text = json_object_get(row, "text");
        const char *label = json_string_value(json_object_get(row, "label"));
        if (!json_is_string(text) || !label) fail_msg("%s: docs.jsonl row %zu", dir, i);
        fx->doc_text[i] = json_string_value(text);
        fx->doc_len[i] = json_string_length(text);
        int k = 0;
        while (k < seen && strcmp(json_string_value(json_array_get(topics, (size_t)k)), label) != 0) k++;
        if (k == seen) {
            if (seen == fx->n_topics || strcmp(json_string_value(json_array_get(topics, (size_t)k)), label) != 0)
                fail_msg("%s: topic '%s' of document %zu is not next in meta.json's topics", dir, label, i);
            seen++;
        }
        fx->topic[i] = k;
    }
    if (seen != fx->n_topics) fail_msg("%s: %d of %d topics used", dir, seen, fx->n_topics);
    for (size_t i = 0; i < fx->n_queries; i++) {
        json_t *text = json_object_get(json_array_get(fx->queries, i), "text");
        if (!json_is_string(text)) fail_msg("%s: queries.jsonl row %zu", dir, i);
        fx->query_text[i] = json_string_value(text);
        fx->query_len[i] = json_string_length(text);
    }
}

static void fixture_free(fixture *fx)
{
    json_decref(fx->meta);
    json_decref(fx->docs);
    json_decref(fx->queries);
    free(fx->doc_text);
    free(fx->doc_len);
    free(fx->topic);
    free(fx->query_text);
    free(fx->query_len);
}

/* The fixture directories: the top one, then its subdirs. Returns the count (<= 4). */
static int fixture_dirs(const char *top, char dirs[][4400])
{
    json_t *meta = test_read_json(top, "meta.json");
    int n = 0;
    snprintf(dirs[n++], 4400, "%s", top);
    size_t i;
    json_t *sub;
    json_array_foreach(json_object_get(meta, "subdirs"), i, sub) {
        if (n == 4) break;
        snprintf(dirs[n++], 4400, "%s/%s", top, json_string_value(sub));
    }
    json_decref(meta);
    return n;
}

static const char *query_name(const fixture *fx, size_t q)
{
    const char *name = json_string_value(json_object_get(json_array_get(fx->queries, q), "name"));
    return name ? name : "dataset";
}

/* ---- 1. Terms ---------------------------------------------------------------------- */

static void collect_term(const char *term, size_t len, void *ctx)
{
    json_array_append_new((json_t *)ctx, json_stringn(term, len));
}

/* Fails with the first difference between kn_analyze_words(text) and want. */
static void expect_terms(const char *dir, const char *what, size_t row, const char *text, size_t len, json_t *want)
{
    json_t *got = json_array();
    long words = kn_analyze_words(text, len, 1, 1, collect_term, got);
    size_t n_got = json_array_size(got), n_want = json_array_size(want);
    for (size_t k = 0; k < n_got || k < n_want; k++) {
        json_t *g = json_array_get(got, k), *w = json_array_get(want, k);
        if (g && w && json_string_length(g) == json_string_length(w) &&
            memcmp(json_string_value(g), json_string_value(w), json_string_length(w)) == 0)
            continue;
        fail_msg("%s: %s %zu, term %zu: got '%s', reference '%s' (%zu vs %zu terms); text: \"%.*s\"", dir, what, row, k,
                 g ? json_string_value(g) : "(end)", w ? json_string_value(w) : "(end)", n_got, n_want,
                 (int)(len > 300 ? 300 : len), text);
    }
    if (words != (long)n_want)
        fail_msg("%s: %s %zu: kn_analyze_words returned %ld for %zu words", dir, what, row, words, n_want);
    json_decref(got);
}

static void test_terms_match_reference(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(top);
    char dirs[4][4400];
    int n_dirs = fixture_dirs(top, dirs);
    for (int d = 0; d < n_dirs; d++) {
        fixture fx;
        fixture_load(&fx, dirs[d]);
        json_t *doc_tokens = test_read_jsonl(fx.dir, "doc_tokens.jsonl"), *query_tokens = test_read_jsonl(fx.dir, "query_tokens.jsonl");
        size_t doc_rows = (size_t)json_integer_value(json_object_get(fx.meta, "doc_tokens_rows"));
        assert_int_equal(json_array_size(doc_tokens), doc_rows);
        assert_true(doc_rows > 0 && doc_rows <= fx.n_docs);
        assert_int_equal(json_array_size(query_tokens), fx.n_queries);
        size_t terms = 0;
        for (size_t i = 0; i < doc_rows; i++) {
            json_t *want = json_array_get(doc_tokens, i);
            expect_terms(fx.dir, "document", i, fx.doc_text[i], fx.doc_len[i], want);
            terms += json_array_size(want);
        }
        for (size_t q = 0; q < fx.n_queries; q++) {
            json_t *want = json_array_get(query_tokens, q);
            expect_terms(fx.dir, "query", q, fx.query_text[q], fx.query_len[q], want);
            terms += json_array_size(want);
        }
        printf("terms %-40s %zu documents + %zu queries, %zu terms: identical\n", fx.dir, doc_rows, fx.n_queries, terms);
        json_decref(doc_tokens);
        json_decref(query_tokens);
        fixture_free(&fx);
    }
}

/* ---- 2. Raw scores ----------------------------------------------------------------- */

typedef struct diff_stats {
    double max_abs, max_rel;
    size_t zeros, checked;
} diff_stats;

/* Compares got[n] to ref[n]; fails on the first score out of tolerance or a nonzero
 * where the reference is exactly zero. */
static void compare_scores(const char *what, size_t q, const char *qname, const double *got, const double *ref, size_t n,
                           diff_stats *st)
{
    for (size_t j = 0; j < n; j++) {
        double a = fabs(got[j] - ref[j]), r = a / fmax(1.0, fabs(ref[j]));
        if (ref[j] == 0) {
            if (got[j] != 0) fail_msg("%s: query %zu (%s), column %zu: %.17g where the reference is exactly 0", what, q, qname, j, got[j]);
            st->zeros++;
        }
        if (!(r <= SCORE_TOL))
            fail_msg("%s: query %zu (%s), column %zu: %.17g vs reference %.17g (diff %.3g > %g * max(1, |ref|))", what, q,
                     qname, j, got[j], ref[j], a, SCORE_TOL);
        st->max_abs = fmax(st->max_abs, a);
        st->max_rel = fmax(st->max_rel, r);
        st->checked++;
    }
}

static void test_scores_match_reference(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(top);
    char dirs[4][4400];
    int n_dirs = fixture_dirs(top, dirs), settings_checked = 0;
    for (int d = 0; d < n_dirs; d++) {
        fixture fx;
        fixture_load(&fx, dirs[d]);
        size_t si;
        json_t *s;
        json_array_foreach(json_object_get(fx.meta, "settings"), si, s) {
            double k1 = json_number_value(json_object_get(s, "k1")), b = json_number_value(json_object_get(s, "b"));
            const char *mode = json_string_value(json_object_get(s, "mode"));
            size_t rows = (size_t)json_integer_value(json_object_get(s, "rows"));
            size_t cols = (size_t)json_integer_value(json_object_get(s, "cols"));
            int topic = strcmp(mode, "topic") == 0;
            if (!topic && strcmp(mode, "neighbour") != 0) fail_msg("%s: unknown mode %s", fx.dir, mode);
            assert_int_equal(rows, fx.n_queries);
            assert_int_equal(cols, topic ? (size_t)fx.n_topics : fx.n_docs);
            double *ref = test_read_exact(fx.dir, json_string_value(json_object_get(s, "file")), rows * cols * sizeof(double));
            kn_error err;
            double t0 = kn_now();
            kn_bm25_index *ix = kn_bm25_index_build(fx.doc_text, fx.doc_len, fx.n_docs, topic ? fx.topic : NULL,
                                                    topic ? (size_t)fx.n_topics : 0, k1, b, &err);
            if (!ix) fail_msg("%s: %s", fx.dir, err.msg);
            assert_int_equal(kn_bm25_index_docs(ix), cols);
            double *got = malloc(cols * sizeof *got);
            diff_stats st = {0};
            size_t zero_rows = 0;
            char what[4600];
            snprintf(what, sizeof what, "%s %s k1=%g b=%g", fx.dir, mode, k1, b);
            for (size_t q = 0; q < rows; q++) {
                kn_bm25_index_score(ix, fx.query_text[q], fx.query_len[q], got);
                compare_scores(what, q, query_name(&fx, q), got, ref + q * cols, cols, &st);
                int all_zero = 1;
                for (size_t j = 0; j < cols && all_zero; j++) all_zero = ref[q * cols + j] == 0;
                zero_rows += (size_t)all_zero;
            }
            printf("scores %-40s %-9s k1=%.1f b=%.2f %4zu x %5zu: max abs diff %.2e, max rel diff %.2e, %zu exact "
                   "zeros (%zu all-zero queries); %.2f s\n",
                   fx.dir, mode, k1, b, rows, cols, st.max_abs, st.max_rel, st.zeros, zero_rows, kn_now() - t0);
            assert_int_equal(st.checked, rows * cols);
            free(got);
            free(ref);
            kn_bm25_index_free(ix);
            settings_checked++;
        }
        fixture_free(&fx);
    }
    assert_true(settings_checked >= 5); /* 4 Banking77 settings + Finnish */
}

/* ---- 3. The classifier on the fixtures --------------------------------------------- */

static void test_classifier_matches_reference(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(top);
    char dirs[4][4400];
    int n_dirs = fixture_dirs(top, dirs), settings_checked = 0;
    for (int d = 0; d < n_dirs; d++) {
        fixture fx;
        fixture_load(&fx, dirs[d]);
        const int K = fx.n_topics;
        size_t si;
        json_t *s;
        json_array_foreach(json_object_get(fx.meta, "settings"), si, s) {
            kn_bm25_options opt;
            kn_bm25_default_options(&opt);
            opt.k1 = json_number_value(json_object_get(s, "k1"));
            opt.b = json_number_value(json_object_get(s, "b"));
            const char *mode = json_string_value(json_object_get(s, "mode"));
            opt.mode = strcmp(mode, "topic") == 0 ? KN_BM25_TOPIC : KN_BM25_NEIGHBOUR;
            size_t rows = fx.n_queries, cols = opt.mode == KN_BM25_TOPIC ? (size_t)K : fx.n_docs;
            double *ref = test_read_exact(fx.dir, json_string_value(json_object_get(s, "file")), rows * cols * sizeof(double));
            kn_bm25_classifier c;
            kn_error err;
            double t0 = kn_now();
            if (kn_bm25_train(&c, fx.doc_text, fx.doc_len, fx.topic, fx.n_docs, K, &opt, &err) != 0)
                fail_msg("%s: %s", fx.dir, err.msg);
            double train_s = kn_now() - t0;
            assert_int_equal(c.n_classes, K);
            if (!(isfinite(c.temperature) && c.temperature >= KN_T_MIN && c.temperature <= KN_T_MAX))
                fail_msg("%s %s: temperature %g outside [0.05, 20]", fx.dir, mode, c.temperature);

            /* Class scores: derived from the reference matrix. */
            double *want = malloc((size_t)K * sizeof *want), *got = malloc((size_t)K * sizeof *got);
            double *all = malloc(rows * (size_t)K * sizeof *all);
            diff_stats st = {0};
            char what[4600];
            snprintf(what, sizeof what, "%s %s k1=%g b=%g class scores", fx.dir, mode, opt.k1, opt.b);
            for (size_t q = 0; q < rows; q++) {
                const double *r = ref + q * cols;
                if (opt.mode == KN_BM25_TOPIC) {
                    memcpy(want, r, (size_t)K * sizeof *want);
                } else {
                    for (int k = 0; k < K; k++) want[k] = 0;
                    for (size_t j = 0; j < cols; j++) want[fx.topic[j]] = fmax(want[fx.topic[j]], r[j]);
                }
                kn_bm25_class_scores(&c, fx.query_text[q], fx.query_len[q], got);
                compare_scores(what, q, query_name(&fx, q), got, want, (size_t)K, &st);
                memcpy(all + q * K, got, (size_t)K * sizeof *got);
            }

            /* Probabilities. */
            float *P = malloc(rows * (size_t)K * sizeof *P);
            kn_bm25_predict_proba(&c, fx.query_text, fx.query_len, rows, P);
            size_t uniform = 0;
            double worst_sum = 0, worst_log = 0;
            for (size_t q = 0; q < rows; q++) {
                const float *p = P + q * K;
                const double *z = all + q * K;
                double sum = 0, best = 0;
                int arg_p = 0, arg_z = 0;
                for (int k = 0; k < K; k++) {
                    if (!(p[k] >= 0 && p[k] <= 1)) fail_msg("%s: query %zu, class %d: probability %g", what, q, k, p[k]);
                    sum += p[k];
                    if (p[k] > p[arg_p]) arg_p = k;
                    if (z[k] > z[arg_z]) arg_z = k;
                    best = fmax(best, z[k]);
                }
                worst_sum = fmax(worst_sum, fabs(sum - 1));
                if (!(fabs(sum - 1) <= 1e-5)) fail_msg("%s: query %zu: probabilities sum to %.9f", what, q, sum);
                /* softmax is monotone: the best-scoring class is (one of) the most probable,
                 * and the most probable has the best score (ties aside). */
                if (p[arg_z] != p[arg_p])
                    fail_msg("%s: query %zu (%s): best class score %d (%g) has probability %g, class %d has %g", what,
                             q, query_name(&fx, q), arg_z, z[arg_z], p[arg_z], arg_p, p[arg_p]);
                if (!(z[arg_p] >= best - SCORE_TOL * fmax(1, best)))
                    fail_msg("%s: query %zu: most probable class %d scores %g < best %g", what, q, arg_p, z[arg_p], best);
                /* softmax(z / T): log(p_k / p_best) = (z_k - z_best) / T wherever p_k is not
                 * lost to float rounding. */
                for (int k = 0; k < K; k++) {
                    if (p[k] < 1e-6f) continue;
                    double e = fabs(log((double)p[k] / p[arg_z]) - (z[k] - z[arg_z]) / c.temperature);
                    worst_log = fmax(worst_log, e);
                    if (!(e <= 1e-4))
                        fail_msg("%s: query %zu, class %d: log(p / p_best) = %.9g, (z - z_best) / T = %.9g", what, q, k,
                                 log((double)p[k] / p[arg_z]), (z[k] - z[arg_z]) / c.temperature);
                }
                if (best == 0) { /* no shared term: uniform */
                    for (int k = 0; k < K; k++)
                        if (p[k] != (float)(1.0 / K))
                            fail_msg("%s: query %zu (%s) shares no term but class %d has probability %.9g, not 1/%d",
                                     what, q, query_name(&fx, q), k, p[k], K);
                    uniform++;
                }
            }
            printf("classifier %-36s %-9s k1=%.1f b=%.2f: T = %.4f (train %.2f s), class scores max abs diff %.2e, "
                   "max rel %.2e; |sum p - 1| <= %.1e; |log p ratio - z diff / T| <= %.1e; %zu uniform rows\n",
                   fx.dir, mode, opt.k1, opt.b, c.temperature, train_s, st.max_abs, st.max_rel, worst_sum, worst_log,
                   uniform);
            if (json_integer_value(json_object_get(fx.meta, "n_queries")) >
                json_integer_value(json_object_get(fx.meta, "n_dataset_queries")))
                assert_true(uniform >= 4); /* edge cases: no_known_term, empty, white space, punctuation */
            free(want);
            free(got);
            free(all);
            free(P);
            free(ref);
            kn_bm25_free(&c);
            assert_null(c.index);
            settings_checked++;
        }
        fixture_free(&fx);
    }
    assert_true(settings_checked >= 5);
}

/* ---- 4. The leave-one-out temperature on tiny sets --------------------------------- */

/* An independent BM25 for texts of lower-case ASCII words separated by single spaces. */
enum { TINY_MAX_TEXTS = 8, TINY_MAX_WORDS = 8, TINY_MAX_VOCAB = 32 };

typedef struct tiny_text {
    int n;                      /* words */
    int id[TINY_MAX_WORDS];     /* term ids */
} tiny_text;

static int tiny_split(const char *text, tiny_text *t, char vocab[][32], int *n_vocab)
{
    t->n = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int v = 0;
        while (v < *n_vocab && !(strlen(vocab[v]) == len && memcmp(vocab[v], p, len) == 0)) v++;
        if (v == *n_vocab) {
            assert_true(*n_vocab < TINY_MAX_VOCAB && len < 32);
            memcpy(vocab[v], p, len);
            vocab[v][len] = '\0';
            (*n_vocab)++;
        }
        assert_true(t->n < TINY_MAX_WORDS);
        t->id[t->n++] = v;
        p += len;
        if (*p == ' ') p++;
    }
    return t->n;
}

/* The held-out class scores of bm25.h's temperature fit: text i is scored with its own terms
 * taken out of the counts of its document (neighbour: its document is empty, so scores 0;
 * topic: tf and |d| of its topic's document less its own terms), idf and avgdl those of the
 * full index. Z: n x K. */
static void tiny_loo_scores(const char *const *texts, const int32_t *labels, int n, int K, kn_bm25_mode mode,
                            double k1, double b, double *Z)
{
    static char vocab[TINY_MAX_VOCAB][32];
    int n_vocab = 0;
    tiny_text t[TINY_MAX_TEXTS];
    assert_true(n <= TINY_MAX_TEXTS);
    for (int i = 0; i < n; i++) tiny_split(texts[i], &t[i], vocab, &n_vocab);
    int n_docs = mode == KN_BM25_TOPIC ? K : n;
    double tf[TINY_MAX_TEXTS][TINY_MAX_VOCAB] = {{0}}, dl[TINY_MAX_TEXTS] = {0}, df[TINY_MAX_VOCAB] = {0};
    for (int i = 0; i < n; i++) {
        int d = mode == KN_BM25_TOPIC ? labels[i] : i;
        for (int w = 0; w < t[i].n; w++) tf[d][t[i].id[w]] += 1;
        dl[d] += t[i].n;
    }
    double avgdl = 0;
    for (int d = 0; d < n_docs; d++) avgdl += dl[d] / n_docs;
    for (int v = 0; v < n_vocab; v++)
        for (int d = 0; d < n_docs; d++) df[v] += tf[d][v] > 0;
    for (int i = 0; i < n; i++) {
        int own = mode == KN_BM25_TOPIC ? labels[i] : i;
        double *z = Z + i * K;
        for (int k = 0; k < K; k++) z[k] = 0;
        for (int d = 0; d < n_docs; d++) {
            double dtf[TINY_MAX_VOCAB], ddl = dl[d];
            memcpy(dtf, tf[d], sizeof dtf);
            if (d == own) {
                for (int w = 0; w < t[i].n; w++) dtf[t[i].id[w]] -= 1;
                ddl -= t[i].n;
            }
            double s = 0;
            for (int w = 0; w < t[i].n; w++) {
                int v = t[i].id[w];
                if (dtf[v] <= 0) continue;
                double idf = log(1 + (n_docs - df[v] + 0.5) / (df[v] + 0.5));
                s += idf * dtf[v] * (k1 + 1) / (dtf[v] + k1 * (1 - b + b * ddl / avgdl));
            }
            int k = mode == KN_BM25_TOPIC ? d : labels[d];
            z[k] = fmax(z[k], s);
        }
    }
}

/* Mean NLL of softmax(Z / T) over the used rows, written out here. */
static double tiny_nll(const double *Z, const int32_t *y, const unsigned char *use, int n, int K, double T)
{
    double total = 0;
    int rows = 0;
    for (int i = 0; i < n; i++) {
        if (!use[i]) continue;
        double m = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++) m = fmax(m, Z[i * K + k] / T);
        for (int k = 0; k < K; k++) sum += exp(Z[i * K + k] / T - m);
        total += m + log(sum) - Z[i * K + y[i]] / T;
        rows++;
    }
    return total / rows;
}

/* argmin over log T in [log 0.05, log 20]: a grid, then golden section around the best
 * grid point (the NLL is convex in 1/T, so unimodal in log T). */
static double tiny_best_temperature(const double *Z, const int32_t *y, const unsigned char *use, int n, int K)
{
    const double lo = log(0.05), hi = log(20.0);
    enum { GRID = 2000 };
    int best = 0;
    double fbest = INFINITY;
    for (int g = 0; g <= GRID; g++) {
        double f = tiny_nll(Z, y, use, n, K, exp(lo + (hi - lo) * g / GRID));
        if (f < fbest) fbest = f, best = g;
    }
    double a = lo + (hi - lo) * (best > 0 ? best - 1 : 0) / GRID, c = lo + (hi - lo) * (best < GRID ? best + 1 : GRID) / GRID;
    const double r = 0.5 * (sqrt(5.0) - 1);
    while (c - a > 1e-12) {
        double x1 = c - r * (c - a), x2 = a + r * (c - a);
        if (tiny_nll(Z, y, use, n, K, exp(x1)) <= tiny_nll(Z, y, use, n, K, exp(x2))) c = x2;
        else a = x1;
    }
    return exp(0.5 * (a + c));
}

typedef struct tiny_case {
    const char *name;
    const char *texts[TINY_MAX_TEXTS];
    int32_t labels[TINY_MAX_TEXTS];
    int n, K;
} tiny_case;

/* Trains on the case; returns T and writes the independent fit (singletons excluded) and
 * the one that would include the singletons. */
static double tiny_train(const tiny_case *tc, kn_bm25_mode mode, double *T_ref, double *T_with_singletons)
{
    size_t lens[TINY_MAX_TEXTS];
    for (int i = 0; i < tc->n; i++) lens[i] = strlen(tc->texts[i]);
    kn_bm25_options opt;
    kn_bm25_default_options(&opt);
    opt.mode = mode;
    kn_bm25_classifier c;
    kn_error err;
    if (kn_bm25_train(&c, tc->texts, lens, tc->labels, (size_t)tc->n, tc->K, &opt, &err) != 0)
        fail_msg("%s: %s", tc->name, err.msg);
    double T = c.temperature;
    kn_bm25_free(&c);

    double Z[TINY_MAX_TEXTS * 8];
    unsigned char use[TINY_MAX_TEXTS], all[TINY_MAX_TEXTS];
    int count[8] = {0}, used = 0;
    assert_true(tc->K <= 8);
    for (int i = 0; i < tc->n; i++) count[tc->labels[i]]++;
    for (int i = 0; i < tc->n; i++) used += (use[i] = count[tc->labels[i]] > 1), all[i] = 1;
    tiny_loo_scores(tc->texts, tc->labels, tc->n, tc->K, mode, opt.k1, opt.b, Z);
    *T_ref = used ? tiny_best_temperature(Z, tc->labels, use, tc->n, tc->K) : 1.0;
    *T_with_singletons = tiny_best_temperature(Z, tc->labels, all, tc->n, tc->K);
    printf("%-34s %-9s T = %.6f, independent fit %.6f (over all rows, singleton topics included: %.6f)\n", tc->name,
           mode == KN_BM25_TOPIC ? "topic" : "neighbour", T, *T_ref, *T_with_singletons);
    return T;
}

static void test_temperature_on_tiny_sets(void **state)
{
    (void)state;
    double ref, with_single, T;

    /* Every topic has a single text: no text can be scored without itself, so no row is
     * used and T stays 1 exactly. */
    static const tiny_case singletons = {"three singleton topics", {"card lost", "pin change", "top up"}, {0, 1, 2}, 3, 3};
    for (int m = 0; m < 2; m++) {
        T = tiny_train(&singletons, (kn_bm25_mode)m, &ref, &with_single);
        assert_true(T == 1.0);
    }

    /* Topics A and B have two texts each, each held-out text's best match is its twin
     * (apple / dog shared; the singleton "kiwi apple dog" also contains them but is longer,
     * so with b = 0.75 it scores lower). Every used row is right with a margin, so the NLL
     * falls as T falls: T is the lower bound 0.05. The singleton topic C, held out, has no
     * text of its own left and would be wrong; had it been used, T would be interior. */
    static const tiny_case excluded = {"singleton excluded, rest right",
                                       {"apple banana", "apple cherry", "dog elephant", "dog fox", "kiwi apple dog"},
                                       {0, 0, 1, 1, 2}, 5, 3};
    T = tiny_train(&excluded, KN_BM25_NEIGHBOUR, &ref, &with_single);
    assert_true(T >= 0.05 && T <= 0.0501);
    assert_true(ref <= 0.0501);
    assert_true(with_single > 0.1); /* including C would have mattered */

    /* Each text's only match is a text of the other topic: every held-out row is wrong with
     * a margin, the NLL falls as T grows: T is the upper bound 20. */
    static const tiny_case wrong = {"every held-out text wrong", {"apple", "banana", "apple", "banana"}, {0, 0, 1, 1}, 4, 2};
    T = tiny_train(&wrong, KN_BM25_NEIGHBOUR, &ref, &with_single);
    assert_true(T >= 19.99 && T <= 20.0);

    /* Mixed: some held-out rows right, some wrong, one tie: an interior optimum, which must
     * be the independent fit's, in both modes. */
    static const tiny_case mixed = {"mixed right and wrong",
                                    {"card lost", "card stolen lost now", "pin change", "card lost pin", "pin code change",
                                     "lost pin"},
                                    {0, 0, 1, 1, 1, 0}, 6, 2};
    for (int m = 0; m < 2; m++) {
        T = tiny_train(&mixed, (kn_bm25_mode)m, &ref, &with_single);
        assert_true(ref > 0.1 && ref < 10);
        if (!(fabs(T - ref) <= 1e-6 * ref)) fail_msg("mixed, mode %d: T = %.9g, independent fit %.9g", m, T, ref);
    }
}

/* ---- 5. Errors --------------------------------------------------------------------- */

static void expect_train_error(const char *const *texts, const size_t *lens, const int32_t *labels, size_t n, int K,
                               const kn_bm25_options *opt, const char *needle)
{
    kn_bm25_classifier c;
    kn_error err = {{0}};
    memset(&c, 0xab, sizeof c);
    if (kn_bm25_train(&c, texts, lens, labels, n, K, opt, &err) == 0) fail_msg("accepted (expected '%s')", needle);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
    assert_null(c.index);
    assert_null(c.doc_class);
    kn_bm25_free(&c);
}

static void test_bad_input_is_a_named_error(void **state)
{
    (void)state;
    const char *texts[4] = {"card lost", "pin change", "card stolen", "new pin"};
    size_t lens[4] = {9, 10, 11, 7};
    int32_t labels[4] = {0, 1, 0, 1};
    kn_bm25_options opt;
    kn_bm25_default_options(&opt);
    assert_true(opt.k1 == 1.5 && opt.b == 0.75 && opt.mode == KN_BM25_NEIGHBOUR);

    /* No documents. */
    kn_error err = {{0}};
    assert_null(kn_bm25_index_build(texts, lens, 0, NULL, 0, 1.5, 0.75, &err));
    assert_non_null(strstr(err.msg, "no documents"));
    int32_t group0[1] = {0};
    assert_null(kn_bm25_index_build(texts, lens, 1, group0, 0, 1.5, 0.75, &err));
    assert_non_null(strstr(err.msg, "no documents"));
    expect_train_error(texts, lens, labels, 0, 2, &opt, "topic 0 has no labelled text");
    expect_train_error(texts, lens, labels, 4, 1, &opt, "at least 2 topics");
    /* A label out of range, either side. */
    int32_t bad[4] = {0, 1, 5, 1};
    expect_train_error(texts, lens, bad, 4, 2, &opt, "label 5 of text 2 is outside [0, 2)");
    bad[2] = -1;
    expect_train_error(texts, lens, bad, 4, 2, &opt, "label -1 of text 2 is outside [0, 2)");
    /* A document out of range in the index. */
    int32_t group[4] = {0, 1, 2, 1};
    assert_null(kn_bm25_index_build(texts, lens, 4, group, 2, 1.5, 0.75, &err));
    assert_non_null(strstr(err.msg, "text 2 belongs to document 2 of 2"));
    /* A topic with no text. */
    expect_train_error(texts, lens, labels, 4, 3, &opt, "topic 2 has no labelled text");
    opt.mode = KN_BM25_TOPIC;
    expect_train_error(texts, lens, labels, 4, 3, &opt, "topic 2 has no labelled text");
    /* k1 < 0, b > 1, b < 0, NaN, in both modes and in the index. */
    for (int m = 0; m < 2; m++) {
        opt.mode = (kn_bm25_mode)m;
        opt.k1 = -0.5, opt.b = 0.75;
        expect_train_error(texts, lens, labels, 4, 2, &opt, "got k1 -0.5, b 0.75");
        opt.k1 = 1.5, opt.b = 1.25;
        expect_train_error(texts, lens, labels, 4, 2, &opt, "got k1 1.5, b 1.25");
        opt.b = -0.1;
        expect_train_error(texts, lens, labels, 4, 2, &opt, "0 <= b <= 1");
        opt.b = NAN;
        expect_train_error(texts, lens, labels, 4, 2, &opt, "0 <= b <= 1");
        opt.b = 0.75, opt.k1 = NAN;
        expect_train_error(texts, lens, labels, 4, 2, &opt, "k1 >= 0");
    }
    assert_null(kn_bm25_index_build(texts, lens, 4, NULL, 0, -1, 0.75, &err));
    assert_non_null(strstr(err.msg, "k1 >= 0"));
    assert_null(kn_bm25_index_build(texts, lens, 4, NULL, 0, 1.5, 2, &err));
    assert_non_null(strstr(err.msg, "b 2"));
    /* An unknown mode. */
    kn_bm25_default_options(&opt);
    opt.mode = (kn_bm25_mode)7;
    expect_train_error(texts, lens, labels, 4, 2, &opt, "unknown mode 7");
    /* The edges of the valid range are accepted: k1 = 0, b = 0, b = 1. */
    kn_bm25_classifier c;
    double edges[3][2] = {{0, 0.75}, {1.5, 0}, {1.5, 1}};
    for (int e = 0; e < 3; e++) {
        kn_bm25_default_options(&opt);
        opt.k1 = edges[e][0], opt.b = edges[e][1];
        if (kn_bm25_train(&c, texts, lens, labels, 4, 2, &opt, &err) != 0) fail_msg("k1 %g b %g: %s", opt.k1, opt.b, err.msg);
        kn_bm25_free(&c);
    }
}

/* A few scores by hand (the reference's self test): docs "the cat sat", "the cat the cat",
 * "dog"; query "Cat CAT dog fish" (cat twice, fish unknown). */
static void test_scores_by_hand(void **state)
{
    (void)state;
    const char *docs[3] = {"the cat sat", "the cat the cat", "dog"};
    size_t lens[3] = {11, 15, 3};
    const double k1 = 1.5, b = 0.75, avgdl = 8.0 / 3.0;
    double idf_cat = log(1 + (3 - 2 + 0.5) / (2 + 0.5)), idf_dog = log(1 + (3 - 1 + 0.5) / (1 + 0.5));
#define TERM(idf, tf, dl) ((idf) * (tf) * (k1 + 1) / ((tf) + k1 * (1 - b + b * (dl) / avgdl)))
    double want[3] = {2 * TERM(idf_cat, 1, 3), 2 * TERM(idf_cat, 2, 4), TERM(idf_dog, 1, 1)};
#undef TERM
    kn_error err;
    kn_bm25_index *ix = kn_bm25_index_build(docs, lens, 3, NULL, 0, k1, b, &err);
    if (!ix) fail_msg("%s", err.msg);
    double got[3];
    const char *q = "Cat CAT dog fish";
    kn_bm25_index_score(ix, q, strlen(q), got);
    for (int d = 0; d < 3; d++)
        if (!(fabs(got[d] - want[d]) <= 1e-14)) fail_msg("doc %d: %.17g, by hand %.17g", d, got[d], want[d]);
    kn_bm25_index_score(ix, "fish", 4, got);
    for (int d = 0; d < 3; d++) assert_true(got[d] == 0);
    kn_bm25_index_free(ix);
    /* Topic grouping: "the cat sat" + "dog" as one document is "the cat sat dog". */
    int32_t group[3] = {0, 1, 0};
    const char *joined[2] = {"the cat sat dog", "the cat the cat"};
    size_t jl[2] = {15, 15};
    kn_bm25_index *g = kn_bm25_index_build(docs, lens, 3, group, 2, k1, b, &err), *j = kn_bm25_index_build(joined, jl, 2, NULL, 0, k1, b, &err);
    assert_non_null(g);
    assert_non_null(j);
    double a[2], c[2];
    kn_bm25_index_score(g, q, strlen(q), a);
    kn_bm25_index_score(j, q, strlen(q), c);
    assert_true(a[0] == c[0] && a[1] == c[1] && a[0] > 0);
    kn_bm25_index_free(g);
    kn_bm25_index_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terms_match_reference),
        cmocka_unit_test(test_scores_match_reference),
        cmocka_unit_test(test_classifier_matches_reference),
        cmocka_unit_test(test_temperature_on_tiny_sets),
        cmocka_unit_test(test_bad_input_is_a_named_error),
        cmocka_unit_test(test_scores_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
