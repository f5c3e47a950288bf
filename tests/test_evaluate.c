/* test_evaluate.c - the held-out split and report of models trained from the annotations
 * (src/learn/evaluate.c). The report's numbers are checked against values worked out by
 * hand and confirmed with scikit-learn:
 *   t = [0,0,1,1,2,2]; p = [0,1,1,1,0,2]
 *   accuracy_score 0.6667, f1_score(average='macro') 0.65556,
 *   precision [0.5, 0.6667, 1], recall [0.5, 1, 0.5], f1 [0.5, 0.8, 0.6667],
 *   confusion_matrix [[1,1,0],[0,2,0],[1,0,1]]. */
#include <math.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "learn/evaluate.h"

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static void test_report(void **state)
{
    (void)state;
    const char *classes[] = {"a", "b", "c"};
    const int32_t truth[] = {0, 0, 1, 1, 2, 2};
    const float proba[] = {0.9f, 0.05f, 0.05f, 0.3f, 0.6f, 0.1f, 0.2f, 0.7f, 0.1f,
                           0.1f, 0.8f,  0.1f,  0.5f, 0.1f, 0.4f, 0.1f, 0.2f, 0.7f};
    kn_error err;
    json_t *r = kn_holdout_report(truth, proba, 6, 3, classes, 24, 200, &err);
    assert_non_null(r);
    assert_float_equal(num(r, "accuracy"), 4.0 / 6.0, 1e-9);
    assert_float_equal(num(r, "macro_f1"), 0.6555555555555556, 1e-9);
    assert_int_equal(json_integer_value(json_object_get(r, "n_train")), 24);
    assert_int_equal(json_integer_value(json_object_get(r, "n_eval")), 6);
    const double prec[] = {0.5, 2.0 / 3.0, 1.0}, rec[] = {0.5, 1.0, 0.5}, f1[] = {0.5, 0.8, 2.0 / 3.0};
    json_t *pt = json_object_get(r, "per_topic");
    assert_int_equal(json_array_size(pt), 3);
    for (int c = 0; c < 3; c++) {
        json_t *t = json_array_get(pt, (size_t)c);
        assert_string_equal(json_string_value(json_object_get(t, "topic")), classes[c]);
        assert_float_equal(num(t, "precision"), prec[c], 1e-9);
        assert_float_equal(num(t, "recall"), rec[c], 1e-9);
        assert_float_equal(num(t, "f1"), f1[c], 1e-9);
        assert_int_equal(json_integer_value(json_object_get(t, "support")), 2);
    }
    const int cm[3][3] = {{1, 1, 0}, {0, 2, 0}, {1, 0, 1}};
    json_t *conf = json_object_get(r, "confusion");
    assert_string_equal(json_string_value(json_array_get(json_object_get(conf, "topics"), 2)), "c");
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(conf, "matrix"),
                                                                              (size_t)i), (size_t)k)),
                             cm[i][k]);
    /* Confidences 0.9, 0.6, 0.7, 0.8, 0.5, 0.7 (right, wrong, right, right, wrong, right):
     * answering at >= t, from the top: t 0.9: 1 answered, all right; 0.8: 2, 2; 0.7: 4 (ties
     * together), 4; 0.6: 5, 4; 0.5: 6, 4. */
    const double thr[] = {0.9, 0.8, 0.7, 0.6, 0.5}, pr[] = {1, 1, 1, 0.8, 4.0 / 6.0};
    const int answered[] = {1, 2, 4, 5, 6};
    json_t *curve = json_object_get(r, "curve");
    assert_int_equal(json_array_size(curve), 5);
    for (size_t k = 0; k < 5; k++) {
        json_t *p = json_array_get(curve, k);
        assert_float_equal(num(p, "threshold"), thr[k], 1e-6);
        assert_float_equal(num(p, "precision"), pr[k], 1e-9);
        assert_float_equal(num(p, "automation"), answered[k] / 6.0, 1e-9);
        assert_int_equal(json_integer_value(json_object_get(p, "answered")), answered[k]);
    }
    json_decref(r);
}

/* Nothing held out (topics too small): nulls and empty lists, not a failure. */
static void test_empty_report(void **state)
{
    (void)state;
    const char *classes[] = {"a", "b"};
    kn_error err;
    json_t *r = kn_holdout_report(NULL, NULL, 0, 2, classes, 4, 200, &err);
    assert_non_null(r);
    assert_true(json_is_null(json_object_get(r, "accuracy")));
    assert_true(json_is_null(json_object_get(r, "macro_f1")));
    assert_int_equal(json_integer_value(json_object_get(r, "n_eval")), 0);
    assert_int_equal(json_array_size(json_object_get(r, "curve")), 0);
    assert_int_equal(json_array_size(json_object_get(r, "per_topic")), 2);
    json_decref(r);
}

/* Per class round(0.2 * count), keeping one to train on: counts 10, 4, 2, 1 hold out 2, 1,
 * 0, 0; the same seed picks the same rows, another seed other rows. */
static void test_stratified_holdout(void **state)
{
    (void)state;
    enum { N = 17 };
    int32_t labels[N];
    int counts[4] = {10, 4, 2, 1}, k = 0;
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < counts[c]; i++) labels[k++] = c;
    unsigned char a[N], b[N];
    assert_int_equal(kn_stratified_holdout(labels, N, 4, 0.2, 42, a), 3);
    int held[4] = {0};
    for (int i = 0; i < N; i++)
        if (a[i]) held[labels[i]]++;
    assert_int_equal(held[0], 2);
    assert_int_equal(held[1], 1);
    assert_int_equal(held[2], 0);
    assert_int_equal(held[3], 0);
    assert_int_equal(kn_stratified_holdout(labels, N, 4, 0.2, 42, b), 3);
    assert_memory_equal(a, b, N);
    int differs = 0;
    for (uint64_t seed = 1; seed < 20 && !differs; seed++) {
        kn_stratified_holdout(labels, N, 4, 0.2, seed, b);
        differs = memcmp(a, b, N) != 0;
    }
    assert_true(differs);
    /* Two per class: round(0.4) = 0; five: round(1.0) = 1; a half rounds up: 0.5 * 3 = 1.5 -> 2. */
    const int32_t two[] = {0, 0, 1, 1, 1, 1, 1};
    assert_int_equal(kn_stratified_holdout(two, 7, 2, 0.2, 1, a), 1);
    const int32_t three[] = {0, 0, 0};
    assert_int_equal(kn_stratified_holdout(three, 3, 1, 0.5, 1, a), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_empty_report),
        cmocka_unit_test(test_stratified_holdout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
