/* test_tfidf.c - TF-IDF features (src/learn/tfidf.h, src/text/analyze.h) against
 * scikit-learn (tools/learn/tfidf_reference.py), plus hand-made cases:
 *   - vocabulary: exactly the reference's word 1-2-gram and char_wb 2-5-gram terms, idf
 *     within 1e-12;
 *   - features of every test row (Banking77 test rows plus the 47 edge cases, SIB-200
 *     Finnish): the same nonzero terms, values within 1e-6, columns ascending, unit norm per
 *     block, empty rows where no term is known;
 *   - the logistic-regression head on them (kn_logreg_fit_sparse, C from meta.json):
 *     probabilities within 1e-4 of scikit-learn's optimum (newton-cg);
 *   - options (one block off, both off, sublinear tf by hand), save / load round trip and
 *     corrupted tfidf.json files;
 *   - the analyzers on hand-made edge cases (char_wb short pieces, bigrams, Finnish
 *     lower-casing, word characters).
 * Reference data: $KANAVA_TFIDF_REF (tools/learn/check_tfidf.sh generates it). Without it
 * the fixture tests are skipped, the hand-made ones still run. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "learn/logreg.h"
#include "learn/tfidf.h"
#include "text/analyze.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

#define IDF_TOL 1e-12
#define VALUE_TOL 1e-6
#define PROBA_TOL 1e-4

/* $KANAVA_TFIDF_REF, or skip the calling test. */
#define REFERENCE_DIR_OR_SKIP(dir)                                                                                 \
    const char *dir = getenv("KANAVA_TFIDF_REF");                                                                  \
    if (!dir || !*dir) {                                                                                           \
        printf("KANAVA_TFIDF_REF unset: reference comparison skipped (tools/learn/check_tfidf.sh runs it)\n");    \
        skip();                                                                                                    \
    }

/* One fixture directory (Banking77, or its fi/ subdirectory). */
typedef struct fixture {
    char dir[4400];
    json_t *meta, *train, *test;
    size_t n_train, n_test;
    const char **train_text, **test_text;
    size_t *train_len, *test_len;
    int32_t *label; /* class of each train row, meta's first-appearance order */
    int n_classes;
    kn_tfidf_options opt;
} fixture;

static void texts_of(json_t *rows, const char ***text, size_t **len, const char *what)
{
    size_t n = json_array_size(rows);
    *text = malloc((n ? n : 1) * sizeof **text);
    *len = malloc((n ? n : 1) * sizeof **len);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_object_get(json_array_get(rows, i), "text");
        if (!json_is_string(t)) fail_msg("%s row %zu has no text", what, i);
        (*text)[i] = json_string_value(t);
        (*len)[i] = json_string_length(t);
    }
}

static void fixture_load(fixture *fx, const char *dir)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "%s", dir);
    fx->meta = test_read_json(dir, "meta.json");
    fx->train = test_read_jsonl(dir, "train.jsonl");
    fx->test = test_read_jsonl(dir, "test.jsonl");
    fx->n_train = json_array_size(fx->train);
    fx->n_test = json_array_size(fx->test);
    if (fx->n_train != (size_t)json_integer_value(json_object_get(fx->meta, "n_train")) ||
        fx->n_test != (size_t)json_integer_value(json_object_get(fx->meta, "n_test")))
        fail_msg("%s: train.jsonl / test.jsonl do not match meta.json", dir);
    texts_of(fx->train, &fx->train_text, &fx->train_len, "train.jsonl");
    texts_of(fx->test, &fx->test_text, &fx->test_len, "test.jsonl");
    json_t *classes = json_object_get(fx->meta, "classes");
    fx->n_classes = (int)json_array_size(classes);
    fx->label = malloc(fx->n_train * sizeof *fx->label);
    int seen = 0;
    for (size_t i = 0; i < fx->n_train; i++) {
        const char *lab = json_string_value(json_object_get(json_array_get(fx->train, i), "label"));
        if (!lab) fail_msg("%s: train row %zu has no label", dir, i);
        int k = 0;
        while (k < seen && strcmp(json_string_value(json_array_get(classes, (size_t)k)), lab) != 0) k++;
        if (k == seen) {
            if (seen == fx->n_classes || strcmp(json_string_value(json_array_get(classes, (size_t)k)), lab) != 0)
                fail_msg("%s: class '%s' of train row %zu is not next in meta.json's classes", dir, lab, i);
            seen++;
        }
        fx->label[i] = k;
    }
    if (seen != fx->n_classes) fail_msg("%s: %d of %d classes used", dir, seen, fx->n_classes);
    kn_tfidf_default_options(&fx->opt);
    json_t *w = json_object_get(fx->meta, "word_ngram"), *c = json_object_get(fx->meta, "char_ngram");
    fx->opt.word_min_n = (int)json_integer_value(json_array_get(w, 0));
    fx->opt.word_max_n = (int)json_integer_value(json_array_get(w, 1));
    fx->opt.char_min_n = (int)json_integer_value(json_array_get(c, 0));
    fx->opt.char_max_n = (int)json_integer_value(json_array_get(c, 1));
}

static void fixture_free(fixture *fx)
{
    json_decref(fx->meta);
    json_decref(fx->train);
    json_decref(fx->test);
    free(fx->train_text);
    free(fx->train_len);
    free(fx->test_text);
    free(fx->test_len);
    free(fx->label);
}

static kn_tfidf *fixture_fit(const fixture *fx)
{
    kn_error err;
    kn_tfidf *t = kn_tfidf_fit(fx->train_text, fx->train_len, fx->n_train, &fx->opt, &err);
    if (!t) fail_msg("%s: %s", fx->dir, err.msg);
    return t;
}

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

static const char *test_name(const fixture *fx, size_t i)
{
    const char *name = json_string_value(json_object_get(json_array_get(fx->test, i), "name"));
    return name ? name : "dataset";
}

/* ---- 1. Vocabulary ----------------------------------------------------------------- */

static void test_vocabulary_matches_sklearn(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(top);
    char dirs[4][4400];
    int n_dirs = fixture_dirs(top, dirs);
    for (int d = 0; d < n_dirs; d++) {
        fixture fx;
        fixture_load(&fx, dirs[d]);
        kn_tfidf *t = fixture_fit(&fx);
        static const char *files[KN_TFIDF_BLOCKS] = {"vocab_word.json", "vocab_char.json"};
        size_t n_ref[KN_TFIDF_BLOCKS];
        json_t *vocab[KN_TFIDF_BLOCKS];
        for (int b = 0; b < KN_TFIDF_BLOCKS; b++) vocab[b] = test_read_json(fx.dir, files[b]);
        n_ref[0] = (size_t)json_integer_value(json_object_get(fx.meta, "n_word"));
        n_ref[1] = (size_t)json_integer_value(json_object_get(fx.meta, "n_char"));
        assert_int_equal(json_object_size(vocab[0]), n_ref[0]);
        assert_int_equal(json_object_size(vocab[1]), n_ref[1]);
        const int dim = kn_tfidf_dim(t);
        if ((size_t)dim != n_ref[0] + n_ref[1])
            fail_msg("%s: dim %d, reference %zu word + %zu char terms", fx.dir, dim, n_ref[0], n_ref[1]);
        /* Every reference term found, in its block's column range, each column once: with
         * dim equal to the reference count, the vocabularies are the same sets. */
        unsigned char *seen = calloc((size_t)dim, 1);
        double worst = 0;
        for (int b = 0; b < KN_TFIDF_BLOCKS; b++) {
            int lo = b == KN_TFIDF_WORD ? 0 : (int)n_ref[0], hi = b == KN_TFIDF_WORD ? (int)n_ref[0] : dim;
            const char *term;
            json_t *idf;
            json_object_foreach(vocab[b], term, idf) {
                int col = kn_tfidf_lookup(t, b, term, strlen(term));
                if (col < lo || col >= hi)
                    fail_msg("%s: %s term '%s' (idf %.17g) has column %d, not in [%d, %d)", fx.dir, files[b], term,
                             json_number_value(idf), col, lo, hi);
                if (seen[col]++) fail_msg("%s: column %d found twice ('%s')", fx.dir, col, term);
                double diff = fabs(kn_tfidf_idf(t, col) - json_number_value(idf));
                if (!(diff <= IDF_TOL))
                    fail_msg("%s: idf of '%s' %.17g, reference %.17g", fx.dir, term, kn_tfidf_idf(t, col), json_number_value(idf));
                worst = fmax(worst, diff);
            }
        }
        assert_int_equal(kn_tfidf_lookup(t, KN_TFIDF_WORD, "xyzzy", 5), -1);
        assert_int_equal(kn_tfidf_lookup(t, KN_TFIDF_CHAR, "xyzzy", 5), -1);
        printf("vocabulary %-36s %zu word + %zu char terms identical, max idf diff %.2e\n", fx.dir, n_ref[0], n_ref[1], worst);
        free(seen);
        for (int b = 0; b < KN_TFIDF_BLOCKS; b++) json_decref(vocab[b]);
        kn_tfidf_free(t);
        fixture_free(&fx);
    }
}

/* ---- 2. Features ------------------------------------------------------------------- */

typedef struct entry {
    int32_t col;
    double value;
} entry;

static int by_col(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->col > y->col) - (x->col < y->col);
}

static void test_features_match_sklearn(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(top);
    char dirs[4][4400];
    int n_dirs = fixture_dirs(top, dirs);
    for (int d = 0; d < n_dirs; d++) {
        fixture fx;
        fixture_load(&fx, dirs[d]);
        kn_tfidf *t = fixture_fit(&fx);
        const int n_word = (int)json_integer_value(json_object_get(fx.meta, "n_word"));
        json_t *feats = test_read_jsonl(fx.dir, "test_features.jsonl");
        assert_int_equal(json_array_size(feats), fx.n_test);
        kn_csr X;
        kn_error err;
        double t0 = kn_now();
        if (kn_tfidf_transform(t, fx.test_text, fx.test_len, fx.n_test, &X, &err) != 0) fail_msg("%s: %s", fx.dir, err.msg);
        double seconds = kn_now() - t0;
        assert_int_equal(X.n_rows, fx.n_test);
        assert_int_equal(X.n_cols, kn_tfidf_dim(t));
        assert_int_equal(X.indptr[0], 0);
        double worst = 0, worst_norm = 0;
        size_t empty_rows = 0, nonzeros = 0;
        entry *want = NULL;
        size_t want_cap = 0;
        for (size_t i = 0; i < fx.n_test; i++) {
            json_t *row = json_array_get(feats, i);
            size_t n_want = 0;
            for (int b = 0; b < KN_TFIDF_BLOCKS; b++) {
                json_t *blk = json_object_get(row, b == KN_TFIDF_WORD ? "word" : "char");
                if (!json_is_object(blk)) fail_msg("%s: test_features row %zu lacks a block", fx.dir, i);
                if (n_want + json_object_size(blk) > want_cap) {
                    want_cap = 2 * (n_want + json_object_size(blk));
                    want = realloc(want, want_cap * sizeof *want);
                }
                const char *term;
                json_t *v;
                json_object_foreach(blk, term, v) {
                    int col = kn_tfidf_lookup(t, b, term, strlen(term));
                    if (col < 0) fail_msg("%s: row %zu term '%s' is not in the vocabulary", fx.dir, i, term);
                    want[n_want++] = (entry){col, json_number_value(v)};
                }
            }
            qsort(want, n_want, sizeof *want, by_col);
            size_t start = X.indptr[i], n_got = X.indptr[i + 1] - start;
            for (size_t p = start; p < X.indptr[i + 1]; p++)
                if (p > start && !(X.indices[p] > X.indices[p - 1]))
                    fail_msg("%s row %zu: columns %d, %d not ascending", fx.dir, i, X.indices[p - 1], X.indices[p]);
            for (size_t k = 0; k < n_got || k < n_want; k++) {
                if (k >= n_got || k >= n_want || X.indices[start + k] != want[k].col)
                    fail_msg("%s row %zu (%s, \"%.80s\"): %zu nonzeros, reference %zu; first difference at %zu: column "
                             "%d vs %d",
                             fx.dir, i, test_name(&fx, i), fx.test_text[i], n_got, n_want, k,
                             k < n_got ? X.indices[start + k] : -1, k < n_want ? want[k].col : -1);
                double diff = fabs((double)X.values[start + k] - want[k].value);
                if (!(diff <= VALUE_TOL))
                    fail_msg("%s row %zu, column %d: %.9g, reference %.17g", fx.dir, i, want[k].col,
                             X.values[start + k], want[k].value);
                worst = fmax(worst, diff);
            }
            /* Each nonempty block has unit norm. */
            double sq[2] = {0, 0};
            for (size_t p = start; p < X.indptr[i + 1]; p++)
                sq[X.indices[p] >= n_word] += (double)X.values[p] * X.values[p];
            for (int b = 0; b < 2; b++)
                if (sq[b] > 0) {
                    if (!(fabs(sqrt(sq[b]) - 1) <= 1e-6)) fail_msg("%s row %zu: block %d norm %.9f", fx.dir, i, b, sqrt(sq[b]));
                    worst_norm = fmax(worst_norm, fabs(sqrt(sq[b]) - 1));
                }
            if (n_want == 0) {
                assert_int_equal(n_got, 0);
                empty_rows++;
            }
            const char *name = test_name(&fx, i);
            if (strcmp(name, "empty") == 0 || strcmp(name, "whitespace_only") == 0) assert_int_equal(n_got, 0);
            if (strcmp(name, "no_known_term") == 0) /* no known word: no word column */
                for (size_t p = start; p < X.indptr[i + 1]; p++) assert_true(X.indices[p] >= n_word);
            nonzeros += n_got;
        }
        printf("features %-38s %zu rows, %zu nonzeros: max abs diff %.2e, max |norm - 1| %.1e, %zu empty rows "
               "(transform %.3f s)\n",
               fx.dir, fx.n_test, nonzeros, worst, worst_norm, empty_rows, seconds);
        if (fx.n_test > (size_t)json_integer_value(json_object_get(fx.meta, "n_test_dataset")))
            assert_true(empty_rows >= 2); /* "" and white space only */
        free(want);
        kn_csr_free(&X);
        json_decref(feats);
        kn_tfidf_free(t);
        fixture_free(&fx);
    }
}

/* ---- 3. Probabilities -------------------------------------------------------------- */

static void test_probabilities_match_sklearn(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(top);
    char dirs[4][4400];
    int n_dirs = fixture_dirs(top, dirs), checked = 0;
    for (int d = 0; d < n_dirs; d++) {
        fixture fx;
        fixture_load(&fx, dirs[d]);
        kn_tfidf *t = fixture_fit(&fx);
        kn_csr X, T;
        kn_error err;
        if (kn_tfidf_transform(t, fx.train_text, fx.train_len, fx.n_train, &X, &err) != 0 ||
            kn_tfidf_transform(t, fx.test_text, fx.test_len, fx.n_test, &T, &err) != 0)
            fail_msg("%s: %s", fx.dir, err.msg);
        kn_logreg_options opt;
        kn_logreg_default_options(&opt);
        opt.C = json_number_value(json_object_get(fx.meta, "C"));
        assert_true(opt.C > 0);
        kn_logreg m;
        double t0 = kn_now();
        if (kn_logreg_fit_sparse(&m, &X, fx.label, fx.n_classes, &opt, &err) != 0) fail_msg("%s: %s", fx.dir, err.msg);
        double seconds = kn_now() - t0;
        assert_true(m.temperature == 1.0f);
        const size_t K = (size_t)fx.n_classes;
        float *P = malloc(fx.n_test * K * sizeof *P);
        kn_logreg_predict_proba_sparse(&m, &T, P);
        double *ref = test_read_exact(fx.dir, "proba.f64", fx.n_test * K * sizeof(double));
        double *lbfgs = test_read_exact(fx.dir, "proba_lbfgs.f64", fx.n_test * K * sizeof(double));
        double diff = 0, diff_lbfgs = 0, ref_vs_lbfgs = 0;
        size_t at = 0, agree = 0;
        for (size_t k = 0; k < fx.n_test * K; k++) {
            double e = fabs((double)P[k] - ref[k]);
            if (e > diff) diff = e, at = k;
            diff_lbfgs = fmax(diff_lbfgs, fabs((double)P[k] - lbfgs[k]));
            ref_vs_lbfgs = fmax(ref_vs_lbfgs, fabs(ref[k] - lbfgs[k]));
        }
        for (size_t i = 0; i < fx.n_test; i++) {
            size_t a = 0, b = 0;
            for (size_t k = 1; k < K; k++) {
                if (P[i * K + k] > P[i * K + a]) a = k;
                if (ref[i * K + k] > ref[i * K + b]) b = k;
            }
            agree += a == b;
        }
        printf("probabilities %-33s %zu train x %d features, %zu classes, C=%g: max abs diff %.2e (row %zu, %s), "
               "vs sklearn lbfgs %.2e (lbfgs vs newton-cg %.2e); argmax agrees on %zu/%zu rows; fit %.2f s\n",
               fx.dir, fx.n_train, X.n_cols, K, opt.C, diff, at / K, test_name(&fx, at / K), diff_lbfgs, ref_vs_lbfgs,
               agree, fx.n_test, seconds);
        if (!(diff <= PROBA_TOL))
            fail_msg("%s: probability of row %zu class %zu is %.9g, sklearn %.9g", fx.dir, at / K, at % K, P[at], ref[at]);
        free(P);
        free(ref);
        free(lbfgs);
        kn_logreg_free(&m);
        kn_csr_free(&X);
        kn_csr_free(&T);
        kn_tfidf_free(t);
        fixture_free(&fx);
        checked++;
    }
    assert_true(checked >= 2);
}

/* ---- 4. Options, save / load, corrupted files -------------------------------------- */

static const char *const CORPUS[] = {
    "My card has not arrived yet",
    "How do I top up my card?",
    "Kortti ei ole vielä saapunut",
    "card_arrival: top-up failed 3x",
    "Äiti ÖLJY pankki",
    "a ab abc",
};
static const char *const PROBES[] = {
    "my card arrived", "TOP UP", "kortti saapui", "", "   ", "unseen words only qqq", "äiti ab", "a",
};

static void lens_of(const char *const *texts, size_t n, size_t *lens)
{
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
}

static kn_tfidf *fit_corpus(const kn_tfidf_options *opt, kn_error *err)
{
    size_t lens[LEN(CORPUS)];
    lens_of(CORPUS, LEN(CORPUS), lens);
    return kn_tfidf_fit(CORPUS, lens, LEN(CORPUS), opt, err);
}

static void transform_probes(const kn_tfidf *t, kn_csr *X)
{
    size_t lens[LEN(PROBES)];
    kn_error err;
    lens_of(PROBES, LEN(PROBES), lens);
    if (kn_tfidf_transform(t, PROBES, lens, LEN(PROBES), X, &err) != 0) fail_msg("%s", err.msg);
}

static void assert_same_csr(const kn_csr *a, const kn_csr *b)
{
    assert_int_equal(a->n_rows, b->n_rows);
    assert_int_equal(a->n_cols, b->n_cols);
    assert_memory_equal(a->indptr, b->indptr, (a->n_rows + 1) * sizeof *a->indptr);
    size_t nnz = a->indptr[a->n_rows];
    if (nnz) {
        assert_memory_equal(a->indices, b->indices, nnz * sizeof *a->indices);
        assert_memory_equal(a->values, b->values, nnz * sizeof *a->values);
    }
}

/* Rows of `part` (one block on) equal the columns [lo, hi) of `full`, shifted by lo. */
static void assert_block_of(const kn_csr *full, const kn_csr *part, int lo, int hi)
{
    assert_int_equal(part->n_cols, hi - lo);
    for (size_t i = 0; i < full->n_rows; i++) {
        size_t q = part->indptr[i];
        for (size_t p = full->indptr[i]; p < full->indptr[i + 1]; p++) {
            if (full->indices[p] < lo || full->indices[p] >= hi) continue;
            if (q >= part->indptr[i + 1]) fail_msg("row %zu: the single-block row is missing column %d", i, full->indices[p]);
            assert_int_equal(part->indices[q], full->indices[p] - lo);
            assert_true(part->values[q] == full->values[p]);
            q++;
        }
        assert_int_equal(q, part->indptr[i + 1]);
    }
}

static void test_block_options(void **state)
{
    (void)state;
    kn_error err;
    kn_tfidf_options opt;
    kn_tfidf_default_options(&opt);
    /* The default is character n-grams only (word n-grams on top did not help on held-out
     * Banking77 and SIB-200 dev, and hurt Finnish); switch the word block on for this test. */
    assert_true(opt.word_min_n == 0 && opt.word_max_n == 0 && opt.char_min_n == 2 && opt.char_max_n == 5 && !opt.sublinear_tf);
    opt.word_min_n = 1, opt.word_max_n = 2;
    kn_tfidf *both = fit_corpus(&opt, &err);
    if (!both) fail_msg("%s", err.msg);
    kn_tfidf_options w = opt, c = opt;
    c.word_min_n = c.word_max_n = 0;
    w.char_min_n = w.char_max_n = 0;
    kn_tfidf *word = fit_corpus(&w, &err), *chr = fit_corpus(&c, &err);
    assert_non_null(word);
    assert_non_null(chr);
    const int n_word = kn_tfidf_dim(word), n_char = kn_tfidf_dim(chr);
    assert_true(n_word > 0 && n_char > 0);
    assert_int_equal(kn_tfidf_dim(both), n_word + n_char);
    /* Lookups: the off block finds nothing; the on block's columns start at 0. */
    assert_int_equal(kn_tfidf_lookup(word, KN_TFIDF_CHAR, " a", 2), -1);
    assert_int_equal(kn_tfidf_lookup(chr, KN_TFIDF_WORD, "card", 4), -1);
    assert_int_equal(kn_tfidf_lookup(chr, KN_TFIDF_CHAR, " a", 2) + n_word, kn_tfidf_lookup(both, KN_TFIDF_CHAR, " a", 2));
    assert_int_equal(kn_tfidf_lookup(word, KN_TFIDF_WORD, "top up", 6), kn_tfidf_lookup(both, KN_TFIDF_WORD, "top up", 6));
    assert_true(kn_tfidf_lookup(both, KN_TFIDF_WORD, "top up", 6) >= 0);
    kn_csr B, W, Ch;
    transform_probes(both, &B);
    transform_probes(word, &W);
    transform_probes(chr, &Ch);
    assert_block_of(&B, &W, 0, n_word);
    assert_block_of(&B, &Ch, n_word, n_word + n_char);
    assert_true(W.indptr[W.n_rows] > 0 && Ch.indptr[Ch.n_rows] > 0);
    printf("blocks: %d word + %d char columns; word-only / char-only rows are the blocks of the full rows\n", n_word, n_char);
    kn_csr_free(&B);
    kn_csr_free(&W);
    kn_csr_free(&Ch);
    kn_tfidf_free(both);
    kn_tfidf_free(word);
    kn_tfidf_free(chr);

    /* Both off, bad ranges, no texts: errors that say so. */
    kn_tfidf_options off = opt;
    off.word_min_n = off.word_max_n = off.char_min_n = off.char_max_n = 0;
    assert_null(fit_corpus(&off, &err));
    assert_non_null(strstr(err.msg, "both word and char n-grams are off"));
    kn_tfidf_options bad = opt;
    bad.word_min_n = 3, bad.word_max_n = 2;
    assert_null(fit_corpus(&bad, &err));
    assert_non_null(strstr(err.msg, "word n-gram range 3..2 is invalid"));
    bad = opt;
    bad.char_min_n = 0, bad.char_max_n = 4;
    assert_null(fit_corpus(&bad, &err));
    assert_non_null(strstr(err.msg, "char n-gram range 0..4 is invalid"));
    size_t one = 4;
    const char *texts[1] = {"card"};
    assert_null(kn_tfidf_fit(texts, &one, 0, &opt, &err));
    assert_non_null(strstr(err.msg, "no texts"));
    /* Only punctuation: no word n-grams to learn. */
    const char *punct[1] = {"?!"};
    size_t plen = 2;
    assert_null(kn_tfidf_fit(punct, &plen, 1, &opt, &err));
    assert_non_null(strstr(err.msg, "no word n-grams"));
}

/* sublinear_tf by hand: texts "a a a b", "b c"; words only, n = 1. n = 2 texts, so
 * idf(a) = idf(c) = ln(3/2) + 1, idf(b) = ln(3/3) + 1 = 1. Row "a a a b": tf(a) = 3, tf(b) = 1;
 * raw (3 idf_a, 1), sublinear ((1 + ln 3) idf_a, 1), each scaled to unit norm. */
static void test_sublinear_tf_by_hand(void **state)
{
    (void)state;
    const char *texts[2] = {"a a a b", "b c"};
    size_t lens[2] = {7, 3};
    kn_tfidf_options opt;
    kn_tfidf_default_options(&opt);
    opt.word_min_n = opt.word_max_n = 1;
    opt.char_min_n = opt.char_max_n = 0;
    const double idf_a = log(1.5) + 1;
    for (int sub = 0; sub < 2; sub++) {
        opt.sublinear_tf = sub;
        kn_error err;
        kn_tfidf *t = kn_tfidf_fit(texts, lens, 2, &opt, &err);
        if (!t) fail_msg("%s", err.msg);
        assert_int_equal(kn_tfidf_dim(t), 3);
        int ca = kn_tfidf_lookup(t, KN_TFIDF_WORD, "a", 1), cb = kn_tfidf_lookup(t, KN_TFIDF_WORD, "b", 1),
            cc = kn_tfidf_lookup(t, KN_TFIDF_WORD, "c", 1);
        assert_true(ca >= 0 && cb >= 0 && cc >= 0);
        assert_true(fabs(kn_tfidf_idf(t, ca) - idf_a) <= 1e-15 && kn_tfidf_idf(t, cb) == 1.0 &&
                    fabs(kn_tfidf_idf(t, cc) - idf_a) <= 1e-15);
        kn_csr X;
        if (kn_tfidf_transform(t, texts, lens, 2, &X, &err) != 0) fail_msg("%s", err.msg);
        double wa = (sub ? 1 + log(3.0) : 3.0) * idf_a, wb = 1.0, norm = sqrt(wa * wa + wb * wb);
        assert_int_equal(X.indptr[1], 2);
        double got_a = 0, got_b = 0;
        for (size_t p = 0; p < 2; p++) {
            if (X.indices[p] == ca) got_a = X.values[p];
            if (X.indices[p] == cb) got_b = X.values[p];
        }
        printf("sublinear_tf=%d: row \"a a a b\" = (%.7f, %.7f), by hand (%.7f, %.7f)\n", sub, got_a, got_b, wa / norm,
               wb / norm);
        assert_true(fabs(got_a - wa / norm) <= VALUE_TOL && fabs(got_b - wb / norm) <= VALUE_TOL);
        /* "b c": tf 1 everywhere, so sublinear changes nothing: (1, idf_c) / norm. */
        double n2 = sqrt(1 + idf_a * idf_a);
        assert_int_equal(X.indptr[2] - X.indptr[1], 2);
        for (size_t p = X.indptr[1]; p < X.indptr[2]; p++)
            assert_true(fabs(X.values[p] - (X.indices[p] == cb ? 1 / n2 : idf_a / n2)) <= VALUE_TOL);
        assert_true(kn_tfidf_get_options(t)->sublinear_tf == sub);
        kn_csr_free(&X);
        kn_tfidf_free(t);
    }
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Loading dir must fail with a message naming dir/tfidf.json and containing needle. */
static void expect_load_error(const char *dir, const char *needle, const char *what)
{
    kn_error err = {{0}};
    char path[4200];
    snprintf(path, sizeof path, "%s/tfidf.json", dir);
    kn_tfidf *t = kn_tfidf_load(dir, &err);
    if (t) fail_msg("%s: loaded (expected '%s')", what, needle);
    if (!strstr(err.msg, path)) fail_msg("%s: '%s' does not name %s", what, err.msg, path);
    if (needle && !strstr(err.msg, needle)) fail_msg("%s: '%s' lacks '%s'", what, err.msg, needle);
    printf("corrupted tfidf.json, %-22s -> %s\n", what, err.msg + strlen(dir) + 1);
}

/* Writes a modified copy of the saved JSON (good) into dir/tfidf.json. */
static void write_json(const char *dir, json_t *root)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tfidf.json", dir);
    assert_int_equal(json_dump_file(root, path, JSON_COMPACT | JSON_PRESERVE_ORDER), 0);
}

/* The test's temporary directory, removed by the teardown even when an assertion fails. */
static char save_dir[64];

static int remove_save_dir(void **state)
{
    (void)state;
    if (save_dir[0]) kn_rm_rf(save_dir);
    save_dir[0] = '\0';
    return 0;
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    snprintf(save_dir, sizeof save_dir, "/tmp/kanava-test-tfidf-XXXXXX");
    char *dir = mkdtemp(save_dir);
    if (!dir) {
        save_dir[0] = '\0';
        fail_msg("mkdtemp failed");
    }
    kn_error err;
    kn_tfidf_options variants[3];
    kn_tfidf_default_options(&variants[0]);
    variants[1] = variants[0];
    variants[1].sublinear_tf = 1;
    variants[1].word_min_n = variants[1].word_max_n = 0;
    variants[1].char_min_n = 1, variants[1].char_max_n = 3;
    variants[2] = variants[0];
    variants[2].char_min_n = variants[2].char_max_n = 0;
    variants[2].word_min_n = 1, variants[2].word_max_n = 3;
    for (int v = 0; v < 3; v++) {
        kn_tfidf *t = fit_corpus(&variants[v], &err);
        if (!t) fail_msg("%s", err.msg);
        if (kn_tfidf_save(t, dir, &err) != 0) fail_msg("%s", err.msg);
        kn_tfidf *u = kn_tfidf_load(dir, &err);
        if (!u) fail_msg("variant %d: %s", v, err.msg);
        assert_int_equal(kn_tfidf_dim(u), kn_tfidf_dim(t));
        assert_memory_equal(kn_tfidf_get_options(u), kn_tfidf_get_options(t), sizeof(kn_tfidf_options));
        for (int col = 0; col < kn_tfidf_dim(t); col++) assert_true(kn_tfidf_idf(u, col) == kn_tfidf_idf(t, col));
        kn_csr A, B;
        transform_probes(t, &A);
        transform_probes(u, &B);
        assert_same_csr(&A, &B);
        size_t corpus_lens[LEN(CORPUS)];
        lens_of(CORPUS, LEN(CORPUS), corpus_lens);
        kn_csr_free(&A);
        kn_csr_free(&B);
        assert_int_equal(kn_tfidf_transform(t, CORPUS, corpus_lens, LEN(CORPUS), &A, &err), 0);
        assert_int_equal(kn_tfidf_transform(u, CORPUS, corpus_lens, LEN(CORPUS), &B, &err), 0);
        assert_same_csr(&A, &B);
        kn_csr_free(&A);
        kn_csr_free(&B);
        kn_tfidf_free(u);
        kn_tfidf_free(t);
    }
    printf("save / load: 3 option sets give bit-identical transforms\n");

    /* Corruptions of a saved model with both blocks. */
    kn_tfidf_options both = variants[0];
    both.word_min_n = 1, both.word_max_n = 2;
    kn_tfidf *t = fit_corpus(&both, &err);
    assert_int_equal(kn_tfidf_save(t, dir, &err), 0);
    kn_tfidf_free(t);
    char path[4200];
    snprintf(path, sizeof path, "%s/tfidf.json", dir);
    size_t len;
    char *good_text = kn_read_file(path, &len, &err);
    assert_non_null(good_text);
    json_t *good = json_loads(good_text, 0, NULL);
    assert_non_null(good);

    write_text(path, good_text, len / 2);
    expect_load_error(dir, NULL, "truncated");
    write_text(path, "", 0);
    expect_load_error(dir, NULL, "empty");

    json_t *j = json_deep_copy(good);
    json_t *terms = json_object_get(json_object_get(j, "char"), "terms");
    json_array_set(terms, 3, json_array_get(terms, 1));
    write_json(dir, j);
    json_decref(j);
    expect_load_error(dir, "char term 3 is a duplicate", "duplicate term");

    const double bad_idf[3] = {0.0, -1.5, NAN};
    for (int k = 0; k < 3; k++) {
        j = json_deep_copy(good);
        json_array_set_new(json_object_get(json_object_get(j, "word"), "idf"), 2,
                           isnan(bad_idf[k]) ? json_string("x") : json_real(bad_idf[k]));
        write_json(dir, j);
        json_decref(j);
        expect_load_error(dir, "word entry 2 is not a term with a positive idf", isnan(bad_idf[k]) ? "idf a string" : k ? "idf negative" : "idf zero");
    }

    j = json_deep_copy(good);
    json_t *idf = json_object_get(json_object_get(j, "char"), "idf");
    json_array_remove(idf, json_array_size(idf) - 1);
    write_json(dir, j);
    json_decref(j);
    expect_load_error(dir, "char.terms and char.idf must be non-empty arrays of the same length", "mismatched arrays");

    j = json_deep_copy(good);
    json_array_set_new(json_object_get(json_object_get(j, "word"), "terms"), 0, json_integer(7));
    write_json(dir, j);
    json_decref(j);
    expect_load_error(dir, "word entry 0", "term not a string");

    j = json_deep_copy(good);
    json_object_set_new(json_object_get(j, "word"), "max_n", json_integer(0));
    json_object_set_new(json_object_get(j, "char"), "max_n", json_integer(0));
    json_object_set_new(json_object_get(j, "word"), "min_n", json_integer(0));
    json_object_set_new(json_object_get(j, "char"), "min_n", json_integer(0));
    write_json(dir, j);
    json_decref(j);
    expect_load_error(dir, "both word and char n-grams are off", "both blocks off");

    unlink(path);
    expect_load_error(dir, NULL, "missing");

    json_decref(good);
    free(good_text);
}

/* ---- 5. The analyzers by hand ------------------------------------------------------ */

static void collect(const char *term, size_t len, void *ctx)
{
    json_array_append_new((json_t *)ctx, json_stringn(term, len));
}

typedef long (*analyzer)(const char *, size_t, int, int, kn_term_fn, void *);

/* The terms of text must be exactly want[0..n) (NULL-terminated), in order. */
static void expect_analysis(analyzer fn, const char *name, const char *text, int min_n, int max_n, long ret,
                            const char *const *want)
{
    json_t *got = json_array();
    long r = fn(text, strlen(text), min_n, max_n, collect, got);
    size_t n = 0;
    while (want[n]) n++;
    for (size_t k = 0; k < n || k < json_array_size(got); k++) {
        json_t *g = json_array_get(got, k);
        if (k < n && g && strlen(want[k]) == json_string_length(g) && memcmp(want[k], json_string_value(g), strlen(want[k])) == 0)
            continue;
        fail_msg("%s(\"%s\", %d..%d): term %zu is '%s', expected '%s' (%zu terms, expected %zu)", name, text, min_n, max_n,
                 k, g ? json_string_value(g) : "(end)", k < n ? want[k] : "(end)", json_array_size(got), n);
    }
    if (r != ret) fail_msg("%s(\"%s\"): returned %ld, expected %ld", name, text, r, ret);
    json_decref(got);
}

#define WORDS(text, lo, hi, ret, ...)                                                                              \
    expect_analysis(kn_analyze_words, "words", text, lo, hi, ret, (const char *const[]){__VA_ARGS__, NULL})
#define CHARS(text, lo, hi, ...)                                                                                   \
    do {                                                                                                           \
        static const char *const want_[] = {__VA_ARGS__, NULL};                                                    \
        expect_analysis(kn_analyze_char_wb, "char_wb", text, lo, hi, (long)(LEN(want_) - 1), want_);               \
    } while (0)

static void test_analyzers_by_hand(void **state)
{
    (void)state;
    /* char_wb: the padded piece " a " (length 3) gives its 2-grams, then itself once at
     * n = 3, and nothing more for 4 and 5. */
    CHARS("a", 2, 5, " a", "a ", " a ");
    CHARS("  a\t\n", 2, 5, " a", "a ", " a ");
    CHARS("A", 2, 5, " a", "a ", " a ");
    /* " ab " (length 4): 2-grams, 3-grams, itself once at n = 4. */
    CHARS("ab", 2, 5, " a", "ab", "b ", " ab", "ab ", " ab ");
    /* " abc " (length 5): n = 5 is the whole piece, exactly once. */
    CHARS("abc", 2, 5, " a", "ab", "bc", "c ", " ab", "abc", "bc ", " abc", "abc ", " abc ");
    /* Longer than max_n: every n-gram, no whole piece. */
    CHARS("abcdef", 4, 5, " abc", "abcd", "bcde", "cdef", "def ", " abcd", "abcde", "bcdef", "cdef ");
    /* Pieces are separate; punctuation stays inside a piece; lower-cased code points. */
    CHARS("Ä b!", 2, 3, " ä", "ä ", " ä ", " b", "b!", "! ", " b!", "b! ");
    /* U+00A0 NO-BREAK SPACE splits pieces (str.split); U+200B ZERO WIDTH SPACE does not. */
    CHARS("a\xc2\xa0" "b", 3, 3, " a ", " b ");
    CHARS("a\xe2\x80\x8b" "b", 4, 4, " a\xe2\x80\x8b" "b", "a\xe2\x80\x8b" "b ");
    CHARS("x", 1, 1, " ", "x", " "); /* n = 1: the padding spaces too */
    CHARS("xy", 1, 2, " ", "x", "y", " ", " x", "xy", "y ");
    expect_analysis(kn_analyze_char_wb, "char_wb", "", 2, 5, 0, (const char *const[]){NULL});
    expect_analysis(kn_analyze_char_wb, "char_wb", " \t ", 2, 5, 0, (const char *const[]){NULL});

    /* Words: lower-cased runs of letters, numbers and '_'; 1-grams, then 2-grams joined by one
     * space whatever separated the words. */
    WORDS("Top  up,\tmy CARD", 1, 2, 4, "top", "up", "my", "card", "top up", "up my", "my card");
    WORDS("a b c", 2, 2, 3, "a b", "b c");
    WORDS("a b c", 1, 3, 3, "a", "b", "c", "a b", "b c", "a b c");
    WORDS("Äiti ÖLJY", 1, 1, 2, "äiti", "öljy");
    WORDS("ÅLAND Pääsy kielletty", 1, 1, 3, "åland", "pääsy", "kielletty");
    WORDS("card_arrival 2x 12_3 __init__ ½ x²", 1, 1, 6, "card_arrival", "2x", "12_3", "__init__", "½", "x²");
    WORDS("top-up,it's(ok)!e-mail", 1, 1, 7, "top", "up", "it", "s", "ok", "e", "mail");
    WORDS("Straße ΚΑΛΗΜΈΡΑ", 1, 1, 2, "straße", "καλημέρα");
    expect_analysis(kn_analyze_words, "words", "?!... ,;: --", 1, 2, 0, (const char *const[]){NULL});
    expect_analysis(kn_analyze_words, "words", "single", 2, 2, 1, (const char *const[]){NULL});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocabulary_matches_sklearn),
        cmocka_unit_test(test_features_match_sklearn),
        cmocka_unit_test(test_probabilities_match_sklearn),
        cmocka_unit_test(test_block_options),
        cmocka_unit_test(test_sublinear_tf_by_hand),
        cmocka_unit_test_teardown(test_save_load_round_trip, remove_save_dir),
        cmocka_unit_test(test_analyzers_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
