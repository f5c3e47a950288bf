/* test_hybrid.c - the hybrid method's features and head (src/learn/hybrid.h) against
 * numpy / scikit-learn (tools/learn/hybrid_reference.py), plus hand-made cases:
 *   - kn_hybrid_join on Banking77 test rows (pseudo-embeddings of varied length, a zero one,
 *     a huge and a tiny one, beside Kanava's default TF-IDF, char_wb 2-5): dense columns
 *     0..dim-1 within 1e-6 of w * e / |e|, then the TF-IDF columns shifted by dim with the
 *     same nonzero terms as sklearn's hstack and values within 1e-6, for w = 1.4 and 0.7;
 *   - the head on the joined rows (kn_logreg_fit_sparse, C = 10, tol 1e-8): probabilities
 *     within 1e-4 of scikit-learn's optimum (newton-cg), for both weights;
 *   - the same with sample weights (kn_logreg_fit_sparse_weighted against
 *     fit(sample_weight=...), w = 1.4; weights 1, 0.5, 0 and 3), within the same 1e-4, where
 *     the weights move sklearn's probabilities by more than 1e-2;
 *   - weights by hand: NULL is all ones bit for bit, a weight of 2 is the row twice, 0 is the
 *     row left out, 0.5 everywhere is C / 2; a negative, NaN, infinite or > 1e6 weight is an
 *     error naming the row, with the head left zeroed;
 *   - by hand: zero embeddings give exactly zero dense entries, empty TF-IDF rows (and an
 *     all-empty matrix) give the dense part alone, the TF-IDF values are copied bit for bit;
 *   - kn_hybrid_choose_weight on a tiny separable problem: a valid best index (the lowest
 *     NLL, first on ties), scores filled (weight == grid value, nll <= nll_before, accuracy
 *     in [0, 1]) and nll_before / accuracy equal to held-out heads fitted here; errors for
 *     n_grid = 0, n_grid > KN_HYBRID_GRID_MAX and no held-out rows.
 * Reference data: $KANAVA_HYBRID_REF (tools/learn/check_hybrid.sh generates it). Without it
 * the fixture tests are skipped, the hand-made ones still run. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "learn/hybrid.h"
#include "learn/logreg.h"
#include "learn/tfidf.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

#define VALUE_TOL 1e-6
/* As test_tfidf.c's head comparison (and test_logreg.c's). The C head fits float32 features
 * (sklearn: float64) to a tight gradient (tol 1e-8) and stores W and b as float: what is left
 * is rounding, measured at ~7e-8, so 1e-4 holds with three orders of magnitude of margin and
 * does not depend on where either optimiser stops. It still catches a wrong dense scale or
 * layout (w = 0.7 vs 1.4 moves probabilities by far more than 1e-2); it would not catch a head
 * stopped as early as sklearn's own lbfgs (5e-5 from the optimum, hybrid_reference.py). */
#define PROBA_TOL 1e-4

/* $KANAVA_HYBRID_REF, or skip the calling test. */
#define REFERENCE_DIR_OR_SKIP(dir)                                                                                 \
    const char *dir = getenv("KANAVA_HYBRID_REF");                                                                 \
    if (!dir || !*dir) {                                                                                           \
        printf("KANAVA_HYBRID_REF unset: reference comparison skipped (tools/learn/check_hybrid.sh runs it)\n");  \
        skip();                                                                                                    \
    }

typedef struct fixture {
    const char *dir;
    json_t *meta, *train, *test;
    size_t n_train, n_test;
    const char **train_text, **test_text;
    size_t *train_len, *test_len;
    int32_t *label; /* class of each train row, meta's first-appearance order */
    int n_classes, dim;
    float *train_emb, *test_emb;
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
    fx->dir = dir;
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
    for (size_t i = 0; i < fx->n_train; i++) {
        const char *lab = json_string_value(json_object_get(json_array_get(fx->train, i), "label"));
        if (!lab) fail_msg("%s: train row %zu has no label", dir, i);
        int k = 0;
        while (k < fx->n_classes && strcmp(json_string_value(json_array_get(classes, (size_t)k)), lab) != 0) k++;
        if (k == fx->n_classes) fail_msg("%s: class '%s' of train row %zu is not in meta.json", dir, lab, i);
        fx->label[i] = k;
    }
    fx->dim = (int)json_integer_value(json_object_get(fx->meta, "dim"));
    if (fx->dim < 1) fail_msg("%s: meta.json has no dim", dir);
    fx->train_emb = test_read_exact(dir, "train_emb.f32", fx->n_train * (size_t)fx->dim * sizeof(float));
    fx->test_emb = test_read_exact(dir, "test_emb.f32", fx->n_test * (size_t)fx->dim * sizeof(float));
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
    free(fx->train_emb);
    free(fx->test_emb);
}

/* Kanava's default TF-IDF (the reference's char_wb 2-5, no word block) on the train texts. */
static kn_tfidf *fixture_tfidf(const fixture *fx)
{
    kn_tfidf_options opt;
    kn_tfidf_default_options(&opt);
    json_t *c = json_object_get(fx->meta, "char_ngram");
    if (opt.word_min_n != 0 || opt.word_max_n != 0 || opt.char_min_n != json_integer_value(json_array_get(c, 0)) ||
        opt.char_max_n != json_integer_value(json_array_get(c, 1)))
        fail_msg("kn_tfidf's defaults (word %d..%d, char %d..%d) are not the reference's char_wb block alone",
                 opt.word_min_n, opt.word_max_n, opt.char_min_n, opt.char_max_n);
    kn_error err;
    kn_tfidf *t = kn_tfidf_fit(fx->train_text, fx->train_len, fx->n_train, &opt, &err);
    if (!t) fail_msg("%s: %s", fx->dir, err.msg);
    return t;
}

static double weight_of(const fixture *fx, size_t k)
{
    return json_number_value(json_array_get(json_object_get(fx->meta, "weights"), k));
}

static int is_zero_test_row(const fixture *fx, size_t i)
{
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(fx->meta, "zero_test_rows"), k, v) if ((size_t)json_integer_value(v) == i) return 1;
    return 0;
}

/* ---- 1. Features ------------------------------------------------------------------- */

typedef struct entry {
    int32_t col;
    double value;
} entry;

static int by_col(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return (x->col > y->col) - (x->col < y->col);
}

static void test_join_matches_sklearn(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(dir);
    fixture fx;
    fixture_load(&fx, dir);
    kn_tfidf *t = fixture_tfidf(&fx);
    const int dim = fx.dim, n_char = kn_tfidf_dim(t);
    if (n_char != json_integer_value(json_object_get(fx.meta, "n_char")))
        fail_msg("%s: %d tfidf columns, reference %d char terms", dir, n_char,
                 (int)json_integer_value(json_object_get(fx.meta, "n_char")));
    json_t *feats = test_read_jsonl(dir, "test_features.jsonl");
    assert_int_equal(json_array_size(feats), fx.n_test);
    kn_csr S;
    kn_error err;
    if (kn_tfidf_transform(t, fx.test_text, fx.test_len, fx.n_test, &S, &err) != 0) fail_msg("%s", err.msg);
    double *dense_ref = malloc((size_t)dim * sizeof *dense_ref), *dense_got = malloc((size_t)dim * sizeof *dense_got);
    entry *want = NULL;
    size_t want_cap = 0;
    size_t n_weights = json_array_size(json_object_get(fx.meta, "weights"));
    assert_true(n_weights >= 2);
    for (size_t wk = 0; wk < n_weights; wk++) {
        const double w = weight_of(&fx, wk);
        char key[32];
        snprintf(key, sizeof key, "%g", w); /* Python's repr of 1.4 and 0.7 */
        kn_csr H;
        if (kn_hybrid_join(fx.test_emb, dim, (float)w, &S, &H, &err) != 0) fail_msg("w=%g: %s", w, err.msg);
        assert_int_equal(H.n_rows, fx.n_test);
        assert_int_equal(H.n_cols, dim + n_char);
        assert_int_equal(H.indptr[0], 0);
        double worst_dense = 0, worst_char = 0;
        size_t nonzeros = 0, zero_rows = 0;
        for (size_t i = 0; i < fx.n_test; i++) {
            json_t *row = json_array_get(feats, i);
            json_t *dense = json_object_get(json_object_get(row, "dense"), key), *chr = json_object_get(row, "char");
            if (!json_is_object(dense) || !json_is_object(chr)) fail_msg("test_features row %zu lacks dense[%s] or char", i, key);
            for (int c = 0; c < dim; c++) dense_ref[c] = dense_got[c] = 0;
            const char *name;
            json_t *v;
            json_object_foreach(dense, name, v) {
                int c = atoi(name);
                if (c < 0 || c >= dim) fail_msg("test_features row %zu: dense column '%s'", i, name);
                dense_ref[c] = json_number_value(v);
            }
            size_t n_want = 0;
            if (json_object_size(chr) > want_cap) {
                want_cap = 2 * json_object_size(chr);
                want = realloc(want, want_cap * sizeof *want);
            }
            json_object_foreach(chr, name, v) {
                int col = kn_tfidf_lookup(t, KN_TFIDF_CHAR, name, strlen(name));
                if (col < 0) fail_msg("row %zu: reference term '%s' is not in Kanava's vocabulary", i, name);
                want[n_want++] = (entry){dim + col, json_number_value(v)};
            }
            qsort(want, n_want, sizeof *want, by_col);
            /* Kanava's row: ascending columns, dense ones first, then exactly the reference's terms. */
            size_t start = H.indptr[i], end = H.indptr[i + 1], p = start;
            for (size_t q = start + 1; q < end; q++)
                if (!(H.indices[q] > H.indices[q - 1]))
                    fail_msg("w=%g row %zu: columns %d, %d not ascending", w, i, H.indices[q - 1], H.indices[q]);
            for (; p < end && H.indices[p] < dim; p++) {
                if (H.indices[p] < 0) fail_msg("w=%g row %zu: column %d", w, i, H.indices[p]);
                dense_got[H.indices[p]] = H.values[p];
            }
            for (int c = 0; c < dim; c++) {
                double diff = fabs(dense_got[c] - dense_ref[c]);
                if (!(diff <= VALUE_TOL))
                    fail_msg("w=%g row %zu dense column %d: %.9g, reference %.17g", w, i, c, dense_got[c], dense_ref[c]);
                worst_dense = fmax(worst_dense, diff);
            }
            if (is_zero_test_row(&fx, i)) {
                for (int c = 0; c < dim; c++)
                    if (dense_got[c] != 0) fail_msg("w=%g row %zu (zero embedding): dense column %d is %.9g", w, i, c, dense_got[c]);
                zero_rows++;
            }
            size_t n_got = end - p;
            for (size_t k = 0; k < n_got || k < n_want; k++) {
                if (k >= n_got || k >= n_want || H.indices[p + k] != want[k].col)
                    fail_msg("w=%g row %zu (\"%.80s\"): %zu tfidf nonzeros, reference %zu; first difference at %zu: "
                             "column %d vs %d",
                             w, i, fx.test_text[i], n_got, n_want, k, k < n_got ? H.indices[p + k] : -1,
                             k < n_want ? want[k].col : -1);
                double diff = fabs((double)H.values[p + k] - want[k].value);
                if (!(diff <= VALUE_TOL))
                    fail_msg("w=%g row %zu column %d: %.9g, reference %.17g", w, i, want[k].col, H.values[p + k], want[k].value);
                worst_char = fmax(worst_char, diff);
            }
            /* The tfidf part is S's row, copied. */
            assert_int_equal(n_got, S.indptr[i + 1] - S.indptr[i]);
            for (size_t k = 0; k < n_got; k++) {
                assert_int_equal(H.indices[p + k], dim + S.indices[S.indptr[i] + k]);
                assert_true(H.values[p + k] == S.values[S.indptr[i] + k]);
            }
            nonzeros += end - start;
        }
        assert_true(zero_rows >= 1);
        printf("join w=%g: %zu rows x (%d dense + %d tfidf) columns, %zu entries: dense max abs diff %.2e, tfidf max abs "
               "diff %.2e, %zu zero embedding row(s) exactly zero\n",
               w, fx.n_test, dim, n_char, nonzeros, worst_dense, worst_char, zero_rows);
        kn_csr_free(&H);
    }
    free(want);
    free(dense_ref);
    free(dense_got);
    kn_csr_free(&S);
    json_decref(feats);
    kn_tfidf_free(t);
    fixture_free(&fx);
}

/* ---- 2. The head ------------------------------------------------------------------- */

/* |gradient| of C * sum sw_i CE_i + 0.5 ||W||^2 (intercept not penalised; sw NULL: all 1) at
 * the fitted float head. */
static double gradient_norm(const kn_logreg *m, const kn_csr *X, const int32_t *y, const float *sw, double C)
{
    const int K = m->n_classes, d = m->dim;
    double *gW = calloc((size_t)K * d, sizeof *gW), *gb = calloc((size_t)K, sizeof *gb), *z = malloc((size_t)K * sizeof *z);
    for (size_t i = 0; i < X->n_rows; i++) {
        kn_logreg_logits_sparse(m, X, i, z);
        double zmax = -INFINITY, sum = 0;
        for (int j = 0; j < K; j++) zmax = fmax(zmax, z[j]);
        for (int j = 0; j < K; j++) sum += (z[j] = exp(z[j] - zmax));
        for (int j = 0; j < K; j++) {
            double r = C * (sw ? (double)sw[i] : 1.0) * (z[j] / sum - (j == y[i]));
            gb[j] += r;
            for (size_t e = X->indptr[i]; e < X->indptr[i + 1]; e++) gW[(size_t)j * d + X->indices[e]] += r * X->values[e];
        }
    }
    double g2 = 0;
    for (int j = 0; j < K; j++) {
        g2 += gb[j] * gb[j];
        for (int c = 0; c < d; c++) {
            double g = gW[(size_t)j * d + c] + m->W[(size_t)j * d + c];
            g2 += g * g;
        }
    }
    free(gW);
    free(gb);
    free(z);
    return sqrt(g2);
}

static void test_probabilities_match_sklearn(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(dir);
    fixture fx;
    fixture_load(&fx, dir);
    kn_tfidf *t = fixture_tfidf(&fx);
    kn_csr S, T;
    kn_error err;
    if (kn_tfidf_transform(t, fx.train_text, fx.train_len, fx.n_train, &S, &err) != 0 ||
        kn_tfidf_transform(t, fx.test_text, fx.test_len, fx.n_test, &T, &err) != 0)
        fail_msg("%s", err.msg);
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    opt.C = json_number_value(json_object_get(fx.meta, "C"));
    opt.tol = 1e-8;
    assert_true(opt.C > 0);
    const size_t K = (size_t)fx.n_classes;
    json_t *fits = json_object_get(fx.meta, "fits");
    assert_true(json_array_size(fits) >= 2);
    size_t k;
    json_t *fit;
    json_array_foreach(fits, k, fit) {
        const double w = json_number_value(json_object_get(fit, "weight"));
        kn_csr X, H;
        if (kn_hybrid_join(fx.train_emb, fx.dim, (float)w, &S, &X, &err) != 0 ||
            kn_hybrid_join(fx.test_emb, fx.dim, (float)w, &T, &H, &err) != 0)
            fail_msg("w=%g: %s", w, err.msg);
        kn_logreg m;
        double t0 = kn_now();
        if (kn_logreg_fit_sparse(&m, &X, fx.label, fx.n_classes, &opt, &err) != 0) fail_msg("w=%g: %s", w, err.msg);
        double seconds = kn_now() - t0;
        double grad = gradient_norm(&m, &X, fx.label, NULL, opt.C);
        float *P = malloc(fx.n_test * K * sizeof *P);
        kn_logreg_predict_proba_sparse(&m, &H, P);
        double *ref = test_read_exact(dir, json_string_value(json_object_get(fit, "proba")), fx.n_test * K * sizeof(double));
        double diff = 0;
        size_t at = 0, agree = 0;
        for (size_t q = 0; q < fx.n_test * K; q++) {
            double e = fabs((double)P[q] - ref[q]);
            if (e > diff) diff = e, at = q;
        }
        for (size_t i = 0; i < fx.n_test; i++) {
            size_t a = 0, b = 0;
            for (size_t j = 1; j < K; j++) {
                if (P[i * K + j] > P[i * K + a]) a = j;
                if (ref[i * K + j] > ref[i * K + b]) b = j;
            }
            agree += a == b;
        }
        printf("probabilities w=%g: %zu train x %d features, %zu classes, C=%g, tol %g: max abs diff %.2e (row %zu); "
               "|grad| at the float head %.1e (sklearn newton-cg %.1e); argmax agrees on %zu/%zu rows; fit %.2f s\n",
               w, fx.n_train, X.n_cols, K, opt.C, opt.tol, diff, at / K, grad,
               json_number_value(json_object_get(fit, "reference_gradient_norm")), agree, fx.n_test, seconds);
        if (!(diff <= PROBA_TOL))
            fail_msg("w=%g: probability of row %zu class %zu is %.9g, sklearn %.9g", w, at / K, at % K, P[at], ref[at]);
        free(P);
        free(ref);
        kn_logreg_free(&m);
        kn_csr_free(&X);
        kn_csr_free(&H);
    }
    kn_csr_free(&S);
    kn_csr_free(&T);
    kn_tfidf_free(t);
    fixture_free(&fx);
}

/* The weighted head (w = 1.4, sample_weight.f32) against sklearn's fit(sample_weight=...). */
static void test_weighted_probabilities_match_sklearn(void **state)
{
    (void)state;
    REFERENCE_DIR_OR_SKIP(dir);
    fixture fx;
    fixture_load(&fx, dir);
    json_t *wf = json_object_get(fx.meta, "weighted_fit");
    if (!json_is_object(wf)) fail_msg("%s: meta.json has no weighted_fit (an older reference?)", dir);
    const double w = json_number_value(json_object_get(wf, "weight"));
    const size_t K = (size_t)fx.n_classes;
    float *sw = test_read_exact(dir, json_string_value(json_object_get(wf, "sample_weight")), fx.n_train * sizeof(float));
    /* The weights are the ones hybrid_reference.py describes: 1 then 0.5, the zero rows, the
     * heavy rows at 3. */
    size_t n_zero = 0, n_heavy = 0;
    for (size_t i = 0; i < fx.n_train; i++) {
        n_zero += sw[i] == 0;
        n_heavy += sw[i] == 3;
        assert_true(sw[i] == 0 || sw[i] == 3 || sw[i] == (i < 500 ? 1.0f : 0.5f));
    }
    assert_int_equal(n_zero, json_array_size(json_object_get(wf, "zero_rows")));
    assert_int_equal(n_heavy, json_array_size(json_object_get(wf, "heavy_rows")));
    assert_true(n_zero >= 1 && n_heavy >= 1);
    /* The unweighted reference at the same w, to see that the weights matter. */
    const char *plain_name = NULL;
    size_t k;
    json_t *fit;
    json_array_foreach(json_object_get(fx.meta, "fits"), k, fit) if (json_number_value(json_object_get(fit, "weight")) == w)
        plain_name = json_string_value(json_object_get(fit, "proba"));
    if (!plain_name) fail_msg("%s: no unweighted fit at w=%g", dir, w);
    double *ref = test_read_exact(dir, json_string_value(json_object_get(wf, "proba")), fx.n_test * K * sizeof(double));
    double *plain = test_read_exact(dir, plain_name, fx.n_test * K * sizeof(double));
    double effect = 0;
    for (size_t q = 0; q < fx.n_test * K; q++) effect = fmax(effect, fabs(ref[q] - plain[q]));
    if (!(effect > 100 * PROBA_TOL)) fail_msg("the weights move sklearn's probabilities by only %.2e", effect);

    kn_tfidf *t = fixture_tfidf(&fx);
    kn_csr S, T, X, H;
    kn_error err;
    if (kn_tfidf_transform(t, fx.train_text, fx.train_len, fx.n_train, &S, &err) != 0 ||
        kn_tfidf_transform(t, fx.test_text, fx.test_len, fx.n_test, &T, &err) != 0 ||
        kn_hybrid_join(fx.train_emb, fx.dim, (float)w, &S, &X, &err) != 0 ||
        kn_hybrid_join(fx.test_emb, fx.dim, (float)w, &T, &H, &err) != 0)
        fail_msg("%s", err.msg);
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    opt.C = json_number_value(json_object_get(fx.meta, "C"));
    opt.tol = 1e-8;
    kn_logreg m;
    double t0 = kn_now();
    if (kn_logreg_fit_sparse_weighted(&m, &X, fx.label, sw, fx.n_classes, &opt, &err) != 0) fail_msg("w=%g: %s", w, err.msg);
    double seconds = kn_now() - t0;
    double grad = gradient_norm(&m, &X, fx.label, sw, opt.C);
    float *P = malloc(fx.n_test * K * sizeof *P);
    kn_logreg_predict_proba_sparse(&m, &H, P);
    double diff = 0;
    size_t at = 0, agree = 0;
    for (size_t q = 0; q < fx.n_test * K; q++) {
        double e = fabs((double)P[q] - ref[q]);
        if (e > diff) diff = e, at = q;
    }
    for (size_t i = 0; i < fx.n_test; i++) {
        size_t a = 0, b = 0;
        for (size_t j = 1; j < K; j++) {
            if (P[i * K + j] > P[i * K + a]) a = j;
            if (ref[i * K + j] > ref[i * K + b]) b = j;
        }
        agree += a == b;
    }
    printf("weighted probabilities w=%g (%zu rows at 0, %zu at 3): max abs diff %.2e (row %zu) from sklearn's "
           "fit(sample_weight); the weights move sklearn's probabilities by up to %.2e; |weighted grad| at the float head "
           "%.1e (sklearn %.1e); argmax agrees on %zu/%zu rows; fit %.2f s\n",
           w, n_zero, n_heavy, diff, at / K, effect, grad,
           json_number_value(json_object_get(wf, "reference_gradient_norm")), agree, fx.n_test, seconds);
    if (!(diff <= PROBA_TOL))
        fail_msg("w=%g weighted: probability of row %zu class %zu is %.9g, sklearn %.9g", w, at / K, at % K, P[at], ref[at]);
    free(P);
    free(ref);
    free(plain);
    free(sw);
    kn_logreg_free(&m);
    kn_csr_free(&X);
    kn_csr_free(&H);
    kn_csr_free(&S);
    kn_csr_free(&T);
    kn_tfidf_free(t);
    fixture_free(&fx);
}

/* ---- 3. Joins by hand -------------------------------------------------------------- */

/* Row i of out: dense values want_dense[0..dim) (compared within tol, or exactly when tol is
 * 0), then S's row i shifted by dim, bit for bit. */
static void expect_row(const kn_csr *out, size_t i, int dim, const double *want_dense, double tol, const kn_csr *S)
{
    double got[8] = {0};
    assert_true(dim <= 8);
    size_t p = out->indptr[i], end = out->indptr[i + 1];
    for (size_t q = p + 1; q < end; q++) assert_true(out->indices[q] > out->indices[q - 1]);
    for (; p < end && out->indices[p] < dim; p++) {
        assert_true(out->indices[p] >= 0);
        got[out->indices[p]] = out->values[p];
    }
    for (int c = 0; c < dim; c++)
        if (tol == 0 ? got[c] != want_dense[c] : !(fabs(got[c] - want_dense[c]) <= tol))
            fail_msg("row %zu dense column %d: %.9g, expected %.9g", i, c, got[c], want_dense[c]);
    assert_int_equal(end - p, S->indptr[i + 1] - S->indptr[i]);
    for (size_t k = 0; p + k < end; k++) {
        assert_int_equal(out->indices[p + k], dim + S->indices[S->indptr[i] + k]);
        assert_true(out->values[p + k] == S->values[S->indptr[i] + k]);
    }
}

static void test_join_by_hand(void **state)
{
    (void)state;
    /* 5 rows, dim 3; the tfidf part has 4 columns and two empty rows (1 and 3). */
    const float emb[5 * 3] = {
        3, 0, 4,          /* |e| = 5 */
        0, 0, 0,          /* zero embedding, beside an empty tfidf row */
        0, 0, 0,          /* zero embedding, beside a tfidf row */
        -1e-3f, 0, 0,     /* tiny, empty tfidf row */
        6e3f, -8e3f, 0,   /* large */
    };
    size_t indptr[6] = {0, 2, 2, 3, 3, 5};
    int32_t indices[5] = {0, 3, 2, 1, 3};
    float values[5] = {0.6f, 0.8f, 1.0f, 0.28f, 0.96f};
    const kn_csr S = {.n_rows = 5, .n_cols = 4, .indptr = indptr, .indices = indices, .values = values};
    const float weights[3] = {2.0f, 1.4f, 0.0f};
    kn_error err;
    for (int k = 0; k < 3; k++) {
        const double w = weights[k];
        kn_csr out;
        assert_int_equal(kn_hybrid_join(emb, 3, weights[k], &S, &out, &err), 0);
        assert_int_equal(out.n_rows, 5);
        assert_int_equal(out.n_cols, 7);
        assert_int_equal(out.indptr[0], 0);
        const double zero[3] = {0, 0, 0};
        expect_row(&out, 0, 3, (const double[]){0.6 * w, 0, 0.8 * w}, 1e-6, &S);
        expect_row(&out, 1, 3, zero, 0, &S); /* exactly zero, and nothing else */
        expect_row(&out, 2, 3, zero, 0, &S);
        expect_row(&out, 3, 3, (const double[]){-w, 0, 0}, 1e-6, &S);
        expect_row(&out, 4, 3, (const double[]){0.6 * w, -0.8 * w, 0}, 1e-6, &S);
        kn_csr_free(&out);
    }
    /* A tfidf matrix with no entries at all (no known term in any text). */
    size_t none[6] = {0, 0, 0, 0, 0, 0};
    const kn_csr E = {.n_rows = 5, .n_cols = 4, .indptr = none, .indices = indices, .values = values};
    kn_csr out;
    assert_int_equal(kn_hybrid_join(emb, 3, 1.0f, &E, &out, &err), 0);
    assert_int_equal(out.n_cols, 7);
    expect_row(&out, 0, 3, (const double[]){0.6, 0, 0.8}, 1e-6, &E);
    expect_row(&out, 1, 3, (const double[]){0, 0, 0}, 0, &E);
    expect_row(&out, 4, 3, (const double[]){0.6, -0.8, 0}, 1e-6, &E);
    kn_csr_free(&out);
    /* No rows. */
    const kn_csr Z = {.n_rows = 0, .n_cols = 4, .indptr = none, .indices = indices, .values = values};
    assert_int_equal(kn_hybrid_join(emb, 3, 1.0f, &Z, &out, &err), 0);
    assert_int_equal(out.n_rows, 0);
    assert_int_equal(out.n_cols, 7);
    assert_int_equal(out.indptr[0], 0);
    kn_csr_free(&out);
    printf("join by hand: unit-length dense blocks times w (2, 1.4, 0), zero embeddings exactly zero, empty tfidf rows "
           "and an empty matrix give the dense part alone\n");
}

/* ---- 4. Choosing the weight -------------------------------------------------------- */

enum { TINY_K = 3, TINY_PER = 8, TINY_N = TINY_K * TINY_PER, TINY_DIM = 4, TINY_COLS = 5 };

typedef struct tiny {
    float emb[TINY_N * TINY_DIM];
    size_t indptr[TINY_N + 1];
    int32_t indices[TINY_N * 2];
    float values[TINY_N * 2];
    kn_csr S;
    int32_t y[TINY_N];
    int part[TINY_N];
} tiny;

/* Three separable classes: embeddings near a class direction (lengths 0.5 to 4), tfidf rows
 * with the class's column and a shared one; every class has rows in each of 3 parts and 2
 * rows that always train (part -1). Deterministic. */
static void tiny_problem(tiny *p)
{
    memset(p, 0, sizeof *p);
    size_t at = 0;
    p->indptr[0] = 0;
    for (int i = 0; i < TINY_N; i++) {
        const int c = i % TINY_K, r = i / TINY_K;
        p->y[i] = c;
        p->part[i] = r < 6 ? r % 3 : -1;
        const float len = 0.5f + 0.5f * (float)(r % 8);
        for (int d = 0; d < TINY_DIM; d++) {
            float noise = 0.15f * (float)(((i * 7 + d * 13) % 11) - 5) / 5.0f;
            p->emb[i * TINY_DIM + d] = len * ((d == c ? 1.0f : 0.0f) + noise);
        }
        if (r != 5) { /* one row per class has no tfidf entry */
            p->indices[at] = c, p->values[at++] = 0.8f;
            p->indices[at] = 4, p->values[at++] = 0.6f;
        }
        p->indptr[i + 1] = at;
    }
    p->S = (kn_csr){.n_rows = TINY_N, .n_cols = TINY_COLS, .indptr = p->indptr, .indices = p->indices, .values = p->values};
}

/* The held-out mean NLL (T = 1) and accuracy for weight w, from heads fitted here. */
static void heldout_by_hand(const tiny *p, float w, const kn_logreg_options *opt, int parts, double *nll, double *acc)
{
    kn_error err;
    kn_csr X;
    assert_int_equal(kn_hybrid_join(p->emb, TINY_DIM, w, &p->S, &X, &err), 0);
    double sum = 0;
    size_t used = 0, right = 0;
    for (int k = 0; k < parts; k++) {
        size_t idx[TINY_N], n_tr = 0, n_te = 0, te[TINY_N];
        for (size_t i = 0; i < TINY_N; i++) {
            if (p->part[i] == k) te[n_te++] = i;
            else idx[n_tr++] = i;
        }
        if (n_te == 0) continue;
        /* Train rows as their own CSR. */
        kn_csr tr = {.n_rows = n_tr, .n_cols = X.n_cols};
        tr.indptr = malloc((n_tr + 1) * sizeof *tr.indptr);
        tr.indices = malloc(X.indptr[X.n_rows] * sizeof *tr.indices);
        tr.values = malloc(X.indptr[X.n_rows] * sizeof *tr.values);
        int32_t ytr[TINY_N];
        tr.indptr[0] = 0;
        for (size_t j = 0; j < n_tr; j++) {
            size_t a = X.indptr[idx[j]], b = X.indptr[idx[j] + 1];
            memcpy(tr.indices + tr.indptr[j], X.indices + a, (b - a) * sizeof *tr.indices);
            memcpy(tr.values + tr.indptr[j], X.values + a, (b - a) * sizeof *tr.values);
            tr.indptr[j + 1] = tr.indptr[j] + (b - a);
            ytr[j] = p->y[idx[j]];
        }
        kn_logreg m;
        if (kn_logreg_fit_sparse(&m, &tr, ytr, TINY_K, opt, &err) != 0) fail_msg("%s", err.msg);
        for (size_t j = 0; j < n_te; j++) {
            double z[TINY_K], zmax = -INFINITY, s = 0;
            kn_logreg_logits_sparse(&m, &X, te[j], z);
            int arg = 0;
            for (int c = 0; c < TINY_K; c++) {
                zmax = fmax(zmax, z[c]);
                if (z[c] > z[arg]) arg = c;
            }
            for (int c = 0; c < TINY_K; c++) s += exp(z[c] - zmax);
            sum += -(z[p->y[te[j]]] - zmax - log(s));
            right += arg == p->y[te[j]];
            used++;
        }
        kn_logreg_free(&m);
        kn_csr_free(&tr);
    }
    kn_csr_free(&X);
    *nll = sum / (double)used;
    *acc = (double)right / (double)used;
}

/* rows of X picked by idx (repeats allowed), as a new CSR, with their labels. */
static void select_rows(const kn_csr *X, const int32_t *y, const size_t *idx, size_t n, kn_csr *out, int32_t *yout)
{
    *out = (kn_csr){.n_rows = n, .n_cols = X->n_cols};
    out->indptr = malloc((n + 1) * sizeof *out->indptr);
    size_t nnz = 0;
    for (size_t j = 0; j < n; j++) nnz += X->indptr[idx[j] + 1] - X->indptr[idx[j]];
    out->indices = malloc((nnz ? nnz : 1) * sizeof *out->indices);
    out->values = malloc((nnz ? nnz : 1) * sizeof *out->values);
    out->indptr[0] = 0;
    for (size_t j = 0; j < n; j++) {
        size_t a = X->indptr[idx[j]], b = X->indptr[idx[j] + 1];
        memcpy(out->indices + out->indptr[j], X->indices + a, (b - a) * sizeof *out->indices);
        memcpy(out->values + out->indptr[j], X->values + a, (b - a) * sizeof *out->values);
        out->indptr[j + 1] = out->indptr[j] + (b - a);
        yout[j] = y[idx[j]];
    }
}

/* Largest |difference| of the two heads' probabilities on X's rows. */
static double proba_diff(const kn_logreg *a, const kn_logreg *b, const kn_csr *X)
{
    const size_t K = (size_t)a->n_classes;
    float *pa = malloc(X->n_rows * K * sizeof *pa), *pb = malloc(X->n_rows * K * sizeof *pb);
    kn_logreg_predict_proba_sparse(a, X, pa);
    kn_logreg_predict_proba_sparse(b, X, pb);
    double d = 0;
    for (size_t q = 0; q < X->n_rows * K; q++) d = fmax(d, fabs((double)pa[q] - pb[q]));
    free(pa);
    free(pb);
    return d;
}

/* Equivalences that pin down what a weight means, on the tiny problem (w = 1): the two sides
 * of each are different fits of the same optimum, so they agree within the fit tolerance
 * (1e-5 in probability), while each weighting moves the head by far more (checked, > 1e-3),
 * so a weight that were ignored would fail. */
static void test_weighted_by_hand(void **state)
{
    (void)state;
    tiny p;
    tiny_problem(&p);
    kn_error err = {{0}};
    kn_csr X;
    assert_int_equal(kn_hybrid_join(p.emb, TINY_DIM, 1.0f, &p.S, &X, &err), 0);
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    opt.tol = 1e-9;
    float sw[TINY_N + 2];
    size_t idx[TINY_N + 2];
    int32_t ysel[TINY_N + 2];
    kn_logreg plain, a, b;
    if (kn_logreg_fit_sparse(&plain, &X, p.y, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);

    /* NULL weights and all-ones weights: the same computation, bit for bit. */
    for (int i = 0; i < TINY_N; i++) sw[i] = 1;
    if (kn_logreg_fit_sparse_weighted(&a, &X, p.y, sw, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);
    if (kn_logreg_fit_sparse_weighted(&b, &X, p.y, NULL, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);
    assert_memory_equal(a.W, plain.W, (size_t)TINY_K * a.dim * sizeof *a.W);
    assert_memory_equal(b.W, plain.W, (size_t)TINY_K * b.dim * sizeof *b.W);
    assert_memory_equal(a.b, plain.b, TINY_K * sizeof *a.b);
    kn_logreg_free(&a);
    kn_logreg_free(&b);

    /* Weight 2 on rows 4 and 9 = those rows twice (appended at the end). */
    for (size_t i = 0; i < TINY_N; i++) sw[i] = (i == 4 || i == 9) ? 2.0f : 1.0f, idx[i] = i;
    idx[TINY_N] = 4, idx[TINY_N + 1] = 9;
    kn_csr D;
    select_rows(&X, p.y, idx, TINY_N + 2, &D, ysel);
    if (kn_logreg_fit_sparse_weighted(&a, &X, p.y, sw, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);
    if (kn_logreg_fit_sparse(&b, &D, ysel, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);
    double twice = proba_diff(&a, &b, &X), moved2 = proba_diff(&a, &plain, &X);
    kn_logreg_free(&a);
    kn_logreg_free(&b);
    kn_csr_free(&D);

    /* Weight 0 on rows 0, 7 and 17 = those rows left out. */
    size_t n_kept = 0;
    for (size_t i = 0; i < TINY_N; i++) {
        sw[i] = (i == 0 || i == 7 || i == 17) ? 0.0f : 1.0f;
        if (sw[i] != 0) idx[n_kept++] = i;
    }
    select_rows(&X, p.y, idx, n_kept, &D, ysel);
    if (kn_logreg_fit_sparse_weighted(&a, &X, p.y, sw, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);
    if (kn_logreg_fit_sparse(&b, &D, ysel, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);
    double left_out = proba_diff(&a, &b, &X), moved0 = proba_diff(&a, &plain, &X);
    kn_logreg_free(&a);
    kn_logreg_free(&b);
    kn_csr_free(&D);

    /* 0.5 everywhere = C / 2. */
    for (size_t i = 0; i < TINY_N; i++) sw[i] = 0.5f;
    kn_logreg_options half = opt;
    half.C = opt.C / 2;
    if (kn_logreg_fit_sparse_weighted(&a, &X, p.y, sw, TINY_K, &opt, &err) != 0) fail_msg("%s", err.msg);
    if (kn_logreg_fit_sparse(&b, &X, p.y, TINY_K, &half, &err) != 0) fail_msg("%s", err.msg);
    double halved = proba_diff(&a, &b, &X), moved_half = proba_diff(&a, &plain, &X);
    kn_logreg_free(&a);
    kn_logreg_free(&b);

    printf("weights by hand: weight 2 vs the row twice %.1e (moves the head %.1e), weight 0 vs left out %.1e (moves "
           "%.1e), 0.5 everywhere vs C/2 %.1e (moves %.1e)\n",
           twice, moved2, left_out, moved0, halved, moved_half);
    assert_true(twice <= 1e-5 && left_out <= 1e-5 && halved <= 1e-5);
    assert_true(moved2 > 1e-3 && moved0 > 1e-3 && moved_half > 1e-3);
    kn_logreg_free(&plain);
    kn_csr_free(&X);
}

/* A weight outside [0, 1e6] (negative, NaN, infinite, too large) is refused with a message
 * naming its row, and the head is left zeroed (kn_logreg_free safe); 0 and 1e6 are allowed. */
static void test_weighted_rejects_bad_weights(void **state)
{
    (void)state;
    tiny p;
    tiny_problem(&p);
    kn_error err = {{0}};
    kn_csr X;
    assert_int_equal(kn_hybrid_join(p.emb, TINY_DIM, 1.0f, &p.S, &X, &err), 0);
    const struct { size_t row; float value; const char *msg; } bad[] = {
        {4, -1.0f, "logistic regression: sample weight 4 is -1, not in [0, 1e6]"},
        {0, -1e-30f, "logistic regression: sample weight 0 is -1e-30, not in [0, 1e6]"},
        {7, NAN, "logistic regression: sample weight 7 is nan, not in [0, 1e6]"},
        {23, INFINITY, "logistic regression: sample weight 23 is inf, not in [0, 1e6]"},
        {11, 2e6f, "logistic regression: sample weight 11 is 2e+06, not in [0, 1e6]"},
    };
    float sw[TINY_N];
    for (size_t k = 0; k < LEN(bad); k++) {
        for (int i = 0; i < TINY_N; i++) sw[i] = 1;
        sw[bad[k].row] = bad[k].value;
        kn_logreg m;
        memset(&m, 0x5a, sizeof m); /* garbage: must come back zeroed */
        assert_int_equal(kn_logreg_fit_sparse_weighted(&m, &X, p.y, sw, TINY_K, NULL, &err), -1);
        assert_string_equal(err.msg, bad[k].msg);
        assert_null(m.W);
        assert_null(m.b);
        assert_int_equal(m.n_classes, 0);
        kn_logreg_free(&m);
        printf("  weight %g at row %zu -> %s\n", (double)bad[k].value, bad[k].row, err.msg);
    }
    /* The bounds themselves are fine. */
    for (int i = 0; i < TINY_N; i++) sw[i] = 1;
    sw[2] = 0, sw[5] = 1e6f;
    kn_logreg m;
    if (kn_logreg_fit_sparse_weighted(&m, &X, p.y, sw, TINY_K, NULL, &err) != 0) fail_msg("weights 0 and 1e6: %s", err.msg);
    assert_int_equal(m.n_classes, TINY_K);
    kn_logreg_free(&m);
    kn_csr_free(&X);
}

static void test_choose_weight_tiny(void **state)
{
    (void)state;
    tiny p;
    tiny_problem(&p);
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    const double grid[] = KN_HYBRID_GRID_DEFAULT;
    const int n_grid = (int)LEN(grid);
    kn_hybrid_score scores[KN_HYBRID_GRID_MAX];
    memset(scores, 0xff, sizeof scores); /* garbage: every used entry must be written */
    int best = -7;
    kn_error err = {{0}};
    if (kn_hybrid_choose_weight(p.emb, TINY_DIM, &p.S, p.y, TINY_K, &opt, p.part, 3, grid, n_grid, scores, &best, &err) != 0)
        fail_msg("%s", err.msg);
    if (best < 0 || best >= n_grid) fail_msg("best = %d, not in [0, %d)", best, n_grid);
    for (int g = 0; g < n_grid; g++) {
        const kn_hybrid_score *s = &scores[g];
        double nll, acc;
        heldout_by_hand(&p, (float)grid[g], &opt, 3, &nll, &acc);
        printf("  w=%g: nll %.3e (T=1: %.6f, by hand %.6f), T %.3f, accuracy %.3f (by hand %.3f)\n", s->weight, s->nll,
               s->nll_before, nll, s->temperature, s->accuracy, acc);
        assert_true(s->weight == grid[g]);
        assert_true(isfinite(s->nll) && isfinite(s->nll_before) && s->nll >= 0);
        assert_true(s->nll <= s->nll_before);
        assert_true(s->accuracy >= 0 && s->accuracy <= 1);
        assert_true(s->temperature >= 0.05f && s->temperature <= 20.0f);
        if (!(fabs(s->nll_before - nll) <= 1e-6 * fmax(1, nll)))
            fail_msg("w=%g: nll_before %.9g, held-out heads fitted here %.9g", grid[g], s->nll_before, nll);
        assert_true(s->accuracy == acc);
        assert_true(s->accuracy == 1.0); /* separable */
        /* best: the lowest nll, the first on ties */
        assert_true(scores[best].nll <= s->nll);
        if (g < best) assert_true(s->nll > scores[best].nll);
    }
    printf("choose weight, tiny separable problem: best w=%g (index %d of %d)\n", grid[best], best, n_grid);

    /* The largest grid is accepted. */
    double big[KN_HYBRID_GRID_MAX];
    for (int g = 0; g < KN_HYBRID_GRID_MAX; g++) big[g] = 0.25 * (g + 1);
    best = -7;
    if (kn_hybrid_choose_weight(p.emb, TINY_DIM, &p.S, p.y, TINY_K, &opt, p.part, 3, big, KN_HYBRID_GRID_MAX, scores, &best,
                                &err) != 0)
        fail_msg("%d weights: %s", KN_HYBRID_GRID_MAX, err.msg);
    assert_true(best >= 0 && best < KN_HYBRID_GRID_MAX);
    for (int g = 0; g < KN_HYBRID_GRID_MAX; g++) assert_true(scores[g].weight == big[g] && scores[g].nll <= scores[g].nll_before);
}

static void expect_choose_error(const tiny *p, const int *part, int parts, const double *grid, int n_grid, const char *needle,
                                const char *what)
{
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    kn_hybrid_score scores[KN_HYBRID_GRID_MAX + 1];
    int best = 0;
    kn_error err = {{0}};
    int rc = kn_hybrid_choose_weight(p->emb, TINY_DIM, &p->S, p->y, TINY_K, &opt, part, parts, grid, n_grid, scores, &best, &err);
    if (rc != -1) fail_msg("%s: returned %d, expected -1", what, rc);
    if (!strstr(err.msg, needle)) fail_msg("%s: '%s' lacks '%s'", what, err.msg, needle);
    printf("choose weight, %-22s -> %s\n", what, err.msg);
}

static void test_choose_weight_errors(void **state)
{
    (void)state;
    tiny p;
    tiny_problem(&p);
    double grid[KN_HYBRID_GRID_MAX + 1];
    for (int g = 0; g <= KN_HYBRID_GRID_MAX; g++) grid[g] = 1.0 + g;
    char msg[64];
    expect_choose_error(&p, p.part, 3, grid, 0, "not 0", "n_grid = 0");
    expect_choose_error(&p, p.part, 3, grid, -1, "not -1", "n_grid = -1");
    snprintf(msg, sizeof msg, "1 to %d weights to try, not %d", KN_HYBRID_GRID_MAX, KN_HYBRID_GRID_MAX + 1);
    expect_choose_error(&p, p.part, 3, grid, KN_HYBRID_GRID_MAX + 1, msg, "n_grid > GRID_MAX");
    int none[TINY_N];
    for (int i = 0; i < TINY_N; i++) none[i] = -1;
    expect_choose_error(&p, none, 3, grid, 2, "no held-out rows", "every part -1");
    expect_choose_error(&p, p.part, 0, grid, 2, "no held-out rows", "parts = 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_matches_sklearn),
        cmocka_unit_test(test_probabilities_match_sklearn),
        cmocka_unit_test(test_weighted_probabilities_match_sklearn),
        cmocka_unit_test(test_join_by_hand),
        cmocka_unit_test(test_weighted_by_hand),
        cmocka_unit_test(test_weighted_rejects_bad_weights),
        cmocka_unit_test(test_choose_weight_tiny),
        cmocka_unit_test(test_choose_weight_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
