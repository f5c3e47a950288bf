/* test_logreg.c - the logistic-regression head against scikit-learn
 * (tools/learn/logreg_reference.py): probabilities on training and held-out points within
 * 1e-4 for C in {1, 100}, with and without balanced class weights; then fit time at SetFit
 * size, determinism, errors, and temperature scaling (T > 1 where the head is over-confident,
 * T close to 1 where the model is well specified), and the held-out temperature of SetFit
 * heads (both of its rules: one head, parts of a small held-out fold) against the same
 * computed from scikit-learn heads.
 * Reference data: $KANAVA_LOGREG_REF (tools/learn/check_logreg.sh generates all datasets,
 * including the 77-class one), else the committed tests/fixtures/logreg (the small ones). */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
#include <time.h>

#include "learn/logreg.h"


static const char *reference_dir(void)
{
    static char dir[4096];
    const char *env = getenv("KANAVA_LOGREG_REF");
    if (env && *env) return env;
    snprintf(dir, sizeof dir, "%s/tests/fixtures/logreg", test_root());
    return dir;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

static void test_probabilities_match_sklearn(void **state)
{
    (void)state;
    char path[4400], name[256];
    snprintf(path, sizeof path, "%s/index.json", reference_dir());
    json_t *index = json_load_file(path, 0, NULL);
    if (!index) fail_msg("cannot read %s", path);
    json_t *names = json_object_get(index, "datasets"), *jname;
    size_t di, fits_checked = 0;
    json_array_foreach(names, di, jname) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", reference_dir(), json_string_value(jname));
        snprintf(path, sizeof path, "%s/meta.json", dir);
        json_t *meta = json_load_file(path, 0, NULL);
        if (!meta) fail_msg("cannot read %s", path);
        size_t n = json_integer_value(json_object_get(meta, "n"));
        size_t n_test = json_integer_value(json_object_get(meta, "n_test"));
        int dim = (int)json_integer_value(json_object_get(meta, "dim"));
        int K = (int)json_integer_value(json_object_get(meta, "n_classes"));
        float *X = test_read_exact(dir, "X.f32", n * dim * sizeof(float));
        float *Xt = test_read_exact(dir, "Xtest.f32", n_test * dim * sizeof(float));
        int32_t *y = test_read_exact(dir, "y.i32", n * sizeof(int32_t));
        float *P = malloc(n * K * sizeof *P), *Pt = malloc(n_test * K * sizeof *Pt);
        size_t fi;
        json_t *fit;
        json_array_foreach(json_object_get(meta, "fits"), fi, fit) {
            const char *tag = json_string_value(json_object_get(fit, "tag"));
            kn_logreg_options opt;
            kn_logreg_default_options(&opt);
            opt.C = json_number_value(json_object_get(fit, "C"));
            opt.balanced = json_is_true(json_object_get(fit, "balanced"));
            kn_logreg m;
            kn_error err;
            double t0 = kn_now();
            if (kn_logreg_fit(&m, X, y, n, dim, K, &opt, &err) != 0) fail_msg("%s %s: %s", dir, tag, err.msg);
            double seconds = kn_now() - t0;
            kn_logreg_predict_proba(&m, X, n, P);
            kn_logreg_predict_proba(&m, Xt, n_test, Pt);
            snprintf(name, sizeof name, "%s.proba.f32", tag);
            float *ref = test_read_exact(dir, name, n * K * sizeof(float));
            snprintf(name, sizeof name, "%s.proba_test.f32", tag);
            float *ref_t = test_read_exact(dir, name, n_test * K * sizeof(float));
            snprintf(name, sizeof name, "%s.lbfgs_proba.f32", tag);
            float *lbfgs = test_read_exact(dir, name, n * K * sizeof(float));
            double train = max_abs_diff(P, ref, n * K), held = max_abs_diff(Pt, ref_t, n_test * K);
            double vs_lbfgs = max_abs_diff(P, lbfgs, n * K);
            printf("fixture %-9s %-13s %4zu x %3d, %2d classes: max abs diff train %.1e, held-out %.1e "
                   "(sklearn lbfgs, which stops early: %.1e); fit %.3f s\n",
                   json_string_value(jname), tag, n, dim, K, train, held, vs_lbfgs, seconds);
            if (train > 1e-4 || held > 1e-4) fail_msg("%s %s: probabilities differ from sklearn", dir, tag);
            free(ref);
            free(ref_t);
            free(lbfgs);
            kn_logreg_free(&m);
            fits_checked++;
        }
        free(X);
        free(Xt);
        free(y);
        free(P);
        free(Pt);
        json_decref(meta);
    }
    json_decref(index);
    assert_true(fits_checked >= 8);
}

/* Deterministic pseudo-random data for the tests below. */
static uint64_t rng_state;
static double uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return ((double)((z ^ (z >> 31)) >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void)
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* Unit-norm "sentence embeddings": a shared direction, a class direction and noise. */
static void embedding_like(float *X, int32_t *y, size_t n, int dim, int K, uint64_t seed)
{
    rng_state = seed;
    float *dirs = malloc((size_t)(K + 1) * dim * sizeof *dirs);
    for (size_t k = 0; k < (size_t)(K + 1) * dim; k++) dirs[k] = (float)(normal() / sqrt(dim));
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % (size_t)K);
        float *x = X + i * dim;
        double norm = 0;
        for (int k = 0; k < dim; k++) {
            x[k] = (float)(0.6 * dirs[(size_t)K * dim + k] + 0.5 * dirs[(size_t)y[i] * dim + k] + 0.7 * normal() / sqrt(dim));
            norm += (double)x[k] * x[k];
        }
        for (int k = 0; k < dim; k++) x[k] = (float)(x[k] / sqrt(norm));
    }
    free(dirs);
}

static void test_setfit_sized_fit_is_deterministic(void **state)
{
    (void)state;
    enum { N = 770, D = 512, K = 77 };
    float *X = malloc((size_t)N * D * sizeof *X);
    int32_t y[N];
    embedding_like(X, y, N, D, K, 7);
    for (int pass = 0; pass < 2; pass++) {
        kn_logreg_options opt;
        kn_logreg_default_options(&opt);
        opt.C = pass ? 100.0 : 1.0;
        kn_logreg a, b;
        kn_error err;
        double t0 = kn_now();
        assert_int_equal(kn_logreg_fit(&a, X, y, N, D, K, &opt, &err), 0);
        double seconds = kn_now() - t0;
        assert_int_equal(kn_logreg_fit(&b, X, y, N, D, K, &opt, &err), 0);
        /* Speed is measured in bench/, not asserted here: a busy machine would fail it. */
        printf("fit %d x %d, %d classes, C=%g: %.3f s; second fit bit-identical: %s\n", N, D, K, opt.C, seconds,
               memcmp(a.W, b.W, sizeof(float) * K * D) == 0 && memcmp(a.b, b.b, sizeof(float) * K) == 0 ? "yes"
                                                                                                         : "NO");
        assert_memory_equal(a.W, b.W, sizeof(float) * K * D);
        assert_memory_equal(a.b, b.b, sizeof(float) * K);
        kn_logreg_free(&a);
        kn_logreg_free(&b);
    }
    free(X);
}

static void expect_fit_error(const float *X, const int32_t *y, size_t n, int dim, int K, const char *needle)
{
    kn_logreg m;
    kn_error err = {{0}};
    if (kn_logreg_fit(&m, X, y, n, dim, K, NULL, &err) == 0) fail_msg("accepted (expected '%s')", needle);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
    assert_null(m.W);
    kn_logreg_free(&m);
}

static void test_bad_input_is_a_named_error(void **state)
{
    (void)state;
    float X[8] = {0, 1, 1, 0, 1, 1, 0.5f, 0.5f};
    int32_t y[4] = {0, 1, 0, 1};
    expect_fit_error(X, y, 4, 2, 3, "class 2 has no training examples");
    expect_fit_error(X, y, 0, 2, 2, "no training examples (n = 0)");
    expect_fit_error(X, y, 4, 0, 2, "dimension must be positive, got 0");
    expect_fit_error(X, y, 4, 2, 1, "at least 2 classes");
    int32_t bad[4] = {0, 1, 5, 1};
    expect_fit_error(X, bad, 4, 2, 2, "label 5 of example 2 is outside [0, 2)");
    X[3] = NAN;
    expect_fit_error(X, y, 4, 2, 2, "example 1, feature 1 is not finite");
    X[3] = 0;
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    opt.C = 0;
    kn_logreg m;
    kn_error err;
    assert_int_equal(kn_logreg_fit(&m, X, y, 4, 2, 2, &opt, &err), -1);
    assert_non_null(strstr(err.msg, "C must be positive"));

    /* Calibration: an unfitted model, too few folds, labels the model does not have. */
    kn_logreg empty = {0};
    assert_int_equal(kn_logreg_calibrate(&empty, X, y, 4, NULL, 5, 1, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not fitted"));
    assert_int_equal(kn_logreg_fit(&m, X, y, 4, 2, 2, NULL, &err), 0);
    assert_int_equal(kn_logreg_calibrate(&m, X, y, 4, NULL, 1, 1, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "at least 2 folds"));
    assert_int_equal(kn_logreg_calibrate(&m, X, bad, 4, NULL, 2, 1, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "label 5 of example 2"));
    int32_t singletons[2] = {0, 1};
    assert_int_equal(kn_logreg_calibrate(&m, X, singletons, 2, NULL, 2, 1, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "single example"));
    assert_true(m.temperature == 1.0f);
    kn_logreg_free(&m);
}

/* Few, overlapping points in many dimensions with C = 100: the head separates its training
 * data perfectly and is far too sure on new points, so T must come out > 1. */
static void test_calibration_softens_an_overconfident_head(void **state)
{
    (void)state;
    enum { N = 120, D = 64, K = 6 };
    float X[N * D], P1[N * K], P2[N * K];
    int32_t y[N];
    rng_state = 11;
    float centers[K * D];
    for (int k = 0; k < K * D; k++) centers[k] = (float)(0.3 * normal());
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int k = 0; k < D; k++) X[i * D + k] = centers[y[i] * D + k] + (float)normal();
    }
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    opt.C = 100;
    kn_logreg m;
    kn_error err;
    assert_int_equal(kn_logreg_fit(&m, X, y, N, D, K, &opt, &err), 0);
    kn_logreg_predict_proba(&m, X, N, P1);
    double before, after;
    double t0 = kn_now();
    if (kn_logreg_calibrate(&m, X, y, N, &opt, 5, 42, &before, &after, &err) != 0) fail_msg("%s", err.msg);
    printf("over-confident head (C=100, %d x %d, %d classes): T = %.3f, held-out NLL %.4f -> %.4f (%.2f s)\n", N, D,
           K, m.temperature, before, after, kn_now() - t0);
    assert_true(m.temperature > 1.5f);
    assert_true(after < before);
    /* Temperature keeps each row's ranking and the rows normalised. */
    kn_logreg_predict_proba(&m, X, N, P2);
    for (int i = 0; i < N; i++) {
        double sum = 0;
        int a1 = 0, a2 = 0;
        for (int j = 0; j < K; j++) {
            sum += P2[i * K + j];
            if (P1[i * K + j] > P1[i * K + a1]) a1 = j;
            if (P2[i * K + j] > P2[i * K + a2]) a2 = j;
        }
        assert_true(fabs(sum - 1) < 1e-5);
        assert_int_equal(a1, a2);
    }
    /* Same seed, same folds, same T. */
    float t = m.temperature;
    assert_int_equal(kn_logreg_calibrate(&m, X, y, N, &opt, 5, 42, NULL, NULL, &err), 0);
    assert_true(m.temperature == t);
    kn_logreg_free(&m);
}

/* Labels drawn from a true multinomial logistic model with plenty of data: the fitted head
 * is already calibrated, so T must stay close to 1. */
static void test_calibration_keeps_a_well_specified_head(void **state)
{
    (void)state;
    enum { N = 3000, D = 5, K = 3 };
    static float X[N * D];
    static int32_t y[N];
    rng_state = 5;
    double W[K][D], b[K] = {0.3, -0.2, 0};
    for (int j = 0; j < K; j++)
        for (int k = 0; k < D; k++) W[j][k] = normal();
    for (int i = 0; i < N; i++) {
        double z[K], zmax = -INFINITY, sum = 0;
        for (int k = 0; k < D; k++) X[i * D + k] = (float)normal();
        for (int j = 0; j < K; j++) {
            z[j] = b[j];
            for (int k = 0; k < D; k++) z[j] += W[j][k] * X[i * D + k];
            zmax = fmax(zmax, z[j]);
        }
        for (int j = 0; j < K; j++) sum += (z[j] = exp(z[j] - zmax));
        double u = uniform() * sum;
        int c = 0;
        while (c < K - 1 && u > z[c]) u -= z[c++];
        y[i] = c;
    }
    kn_logreg m;
    kn_error err;
    assert_int_equal(kn_logreg_fit(&m, X, y, N, D, K, NULL, &err), 0);
    double before, after;
    if (kn_logreg_calibrate(&m, X, y, N, NULL, 5, 3, &before, &after, &err) != 0) fail_msg("%s", err.msg);
    printf("well-specified head (C=1, %d x %d, %d classes): T = %.4f, held-out NLL %.6f -> %.6f\n", N, D, K,
           m.temperature, before, after);
    assert_true(fabs(m.temperature - 1.0f) < 0.1f);
    assert_true(after <= before);
    kn_logreg_free(&m);
}

/* Classes with fewer examples than folds (1, 2, 3 examples with 5 folds) still calibrate;
 * two classes, balanced weights. */
static void test_calibration_with_tiny_classes(void **state)
{
    (void)state;
    enum { D = 8, K = 4 };
    const int counts[K] = {1, 2, 3, 30};
    float X[36 * D];
    int32_t y[36];
    int n = 0;
    rng_state = 99;
    for (int c = 0; c < K; c++)
        for (int r = 0; r < counts[c]; r++, n++) {
            y[n] = c;
            for (int k = 0; k < D; k++) X[n * D + k] = (float)((k == c ? 2.0 : 0.0) + normal());
        }
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    opt.balanced = 1;
    kn_logreg m;
    kn_error err;
    assert_int_equal(kn_logreg_fit(&m, X, y, (size_t)n, D, K, &opt, &err), 0);
    double before, after;
    if (kn_logreg_calibrate(&m, X, y, (size_t)n, &opt, 5, 1, &before, &after, &err) != 0) fail_msg("%s", err.msg);
    printf("tiny classes (1, 2, 3, 30 examples, 5 folds): T = %.3f, NLL %.4f -> %.4f\n", m.temperature, before, after);
    assert_true(m.temperature >= 0.05f && m.temperature <= 20.0f && after <= before);
    kn_logreg_free(&m);

    /* Two classes: the two-logit softmax; both probabilities sum to one. */
    for (int i = 0; i < n; i++) y[i] = y[i] == 3;
    assert_int_equal(kn_logreg_fit(&m, X, y, (size_t)n, D, 2, NULL, &err), 0);
    float P[36 * 2];
    kn_logreg_predict_proba(&m, X, (size_t)n, P);
    for (int i = 0; i < n; i++) assert_true(fabs(P[2 * i] + P[2 * i + 1] - 1.0) < 1e-6);
    kn_logreg_free(&m);
}

/* kn_logreg_holdout_temperature against tools/learn/logreg_reference.py's holdout_reference
 * (sklearn newton-cg heads, scipy's bounded minimiser): T within 1e-3 relative; the heads
 * agree to ~1e-5 in probability, the minimisers to far less than that. */
static void test_holdout_temperature_matches_reference(void **state)
{
    (void)state;
    char path[4400];
    snprintf(path, sizeof path, "%s/index.json", reference_dir());
    json_t *index = json_load_file(path, 0, NULL);
    if (!index) fail_msg("cannot read %s", path);
    json_t *jname, *c;
    size_t di, ci, checked = 0, parts = 0;
    json_array_foreach(json_object_get(index, "datasets"), di, jname) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", reference_dir(), json_string_value(jname));
        snprintf(path, sizeof path, "%s/meta.json", dir);
        json_t *meta = json_load_file(path, 0, NULL);
        snprintf(path, sizeof path, "%s/holdout.json", dir);
        json_t *ref = json_load_file(path, 0, NULL);
        if (!meta || !ref) fail_msg("cannot read %s or its meta.json", path);
        size_t n = json_integer_value(json_object_get(meta, "n"));
        int dim = (int)json_integer_value(json_object_get(meta, "dim"));
        int K = (int)json_integer_value(json_object_get(meta, "n_classes"));
        float *X = test_read_exact(dir, "X.f32", n * dim * sizeof(float));
        int32_t *y = test_read_exact(dir, "y.i32", n * sizeof(int32_t));
        int *fold = malloc(n * sizeof *fold);
        json_array_foreach(json_object_get(ref, "cases"), ci, c) {
            int32_t *fold32 = test_read_exact(dir, json_string_value(json_object_get(c, "fold_file")),
                                              n * sizeof(int32_t));
            for (size_t i = 0; i < n; i++) fold[i] = fold32[i];
            kn_logreg_options opt;
            kn_logreg_default_options(&opt);
            opt.C = json_number_value(json_object_get(c, "C"));
            int folds = (int)json_integer_value(json_object_get(c, "folds"));
            double want = json_number_value(json_object_get(c, "temperature"));
            const char *mode = json_string_value(json_object_get(c, "mode"));
            float T = 0;
            kn_error err;
            if (kn_logreg_holdout_temperature(X, dim, y, n, K, &opt, folds, fold, &T, NULL, NULL, &err) != 0)
                fail_msg("%s: %s", dir, err.msg);
            printf("held-out temperature %-9s %-8s (%3d rows held out): %.6f, reference %.6f\n",
                   json_string_value(jname), mode, (int)json_integer_value(json_object_get(c, "held_out")), T, want);
            if (fabs(T - want) > 1e-3 * want) fail_msg("%s: held-out temperature %.6f, reference %.6f", dir, T, want);
            checked++;
            parts += strcmp(mode, "parts") == 0;
            free(fold32);
        }
        free(X);
        free(y);
        free(fold);
        json_decref(meta);
        json_decref(ref);
    }
    json_decref(index);
    assert_true(checked >= 2 && parts >= 1 && parts < checked); /* both rules checked */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probabilities_match_sklearn),
        cmocka_unit_test(test_setfit_sized_fit_is_deterministic),
        cmocka_unit_test(test_bad_input_is_a_named_error),
        cmocka_unit_test(test_calibration_softens_an_overconfident_head),
        cmocka_unit_test(test_calibration_keeps_a_well_specified_head),
        cmocka_unit_test(test_calibration_with_tiny_classes),
        cmocka_unit_test(test_holdout_temperature_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
