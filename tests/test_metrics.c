/* test_metrics.c - evaluation metrics (src/learn/metrics.c): small examples computed by
 * hand, input errors, the JSON and text forms, and (when KANAVA_METRICS_CASES names the file
 * tools/learn/check_metrics.sh generates) every number against the Python reference. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "learn/metrics.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* This cmocka has no assert_double_equal. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __FILE__, __LINE__)
static void assert_near_at(double got, double want, double tol, const char *what, const char *file, int line)
{
    if (!(fabs(got - want) <= tol)) /* also fails on NaN */
        fail_msg("%s:%d: %s = %.17g, expected %.17g (within %g)", file, line, what, got, want, tol);
}

/* Eight rows, three classes, one out of scope. Confidences keep clear of the ECE bin edges
 * (b/15), so float rounding cannot move a row to another bin.
 *
 *   row truth pred conf  right  ECE bin floor(15 conf)
 *    1    0    0   0.95   yes   14
 *    2    0    0   0.90   yes   13
 *    3    0    1   0.62   no     9
 *    4    1    1   0.82   yes   12
 *    5    1    2   0.42   no     6
 *    6    2    2   0.70   yes   10
 *    7   -1    0   0.85   no    12   (out of scope: any answer is wrong)
 *    8    2    2   0.30   yes    4
 */
static const int32_t SMALL_TRUTH[] = {0, 0, 0, 1, 1, 2, -1, 2};
static const int32_t SMALL_PRED[] = {0, 0, 1, 1, 2, 2, 0, 2};
static const float SMALL_CONF[] = {0.95f, 0.90f, 0.62f, 0.82f, 0.42f, 0.70f, 0.85f, 0.30f};
static const char *const SMALL_NAMES[] = {"card", "billing", "delivery"};

static void evaluate_small(kn_eval_report *r)
{
    kn_error err;
    if (kn_evaluate(SMALL_TRUTH, SMALL_PRED, SMALL_CONF, LEN(SMALL_CONF), 3, r, &err) != 0) fail_msg("%s", err.msg);
}

static void test_small_by_hand(void **state)
{
    (void)state;
    kn_eval_report r;
    evaluate_small(&r);
    assert_int_equal(r.n, 8);
    assert_int_equal(r.n_classes, 3);
    assert_int_equal(r.n_out_of_scope, 1);
    /* 5 of 8 right (rows 1, 2, 4, 6, 8). */
    assert_near(r.accuracy, 0.625, 1e-12);

    /* Support (in-scope truth): 3, 2, 2. Predicted: class 0 by rows 1, 2, 7 (the out-of-scope
     * row is a false positive of class 0), class 1 by rows 3, 4, class 2 by rows 5, 6, 8.
     * TP 2, 1, 2.  class 0: P 2/3, R 2/3, F1 4/6;  class 1: P 1/2, R 1/2, F1 2/4;
     * class 2: P 2/3, R 2/2, F1 4/5.  Macro F1 = (2/3 + 1/2 + 4/5) / 3 = 59/90. */
    const int64_t support[] = {3, 2, 2};
    const double precision[] = {2.0 / 3, 0.5, 2.0 / 3}, recall[] = {2.0 / 3, 0.5, 1.0}, f1[] = {2.0 / 3, 0.5, 0.8};
    for (int c = 0; c < 3; c++) {
        assert_int_equal(r.support[c], support[c]);
        assert_near(r.precision[c], precision[c], 1e-12);
        assert_near(r.recall[c], recall[c], 1e-12);
        assert_near(r.f1[c], f1[c], 1e-12);
    }
    assert_near(r.macro_f1, 59.0 / 90, 1e-12);

    /* Rows = truth, columns = prediction; row 7 (out of scope) is not in it. */
    const int64_t confusion[] = {2, 1, 0, 0, 1, 1, 0, 0, 2};
    for (int i = 0; i < 9; i++) assert_int_equal(r.confusion[i], confusion[i]);

    /* ECE bins: 14 {0.95 right}, 13 {0.90 right}, 12 {0.82 right, 0.85 wrong}, 10 {0.70 right},
     * 9 {0.62 wrong}, 6 {0.42 wrong}, 4 {0.30 right}:
     * (0.05 + 0.10 + 2 * |0.5 - 0.835| + 0.30 + 0.62 + 0.42 + 0.70) / 8 = 2.86 / 8 = 0.3575
     * (up to float rounding of the confidences). */
    assert_near(r.ece, 0.3575, 1e-6);

    /* Sorted: 0.95 yes, 0.90 yes, 0.85 no (out of scope), 0.82 yes, ...: the top two are the
     * only answered sets with precision >= 0.90, so every target answers 2 of 8 at 0.90. */
    for (int t = 0; t < KN_AUTOMATION_TARGETS; t++) {
        assert_near(r.automation[t].rate, 0.25, 1e-12);
        assert_true(r.automation[t].threshold == 0.90f);
        assert_near(r.automation[t].precision, 1.0, 1e-12);
    }
    assert_near(r.automation[0].precision_target, 0.90, 1e-12);
    assert_near(r.automation[1].precision_target, 0.95, 1e-12);
    assert_near(r.automation[2].precision_target, 0.99, 1e-12);
    kn_eval_report_free(&r);
}

/* 40 rows, two classes; every row is true class 0, a wrong row predicts 1.
 *   10 rows at 0.99, all right       answered 10, right 10: precision 1
 *    1 row  at 0.98, wrong           answered 11, right 10: 0.909
 *    9 rows at 0.97, all right       answered 20, right 19: 0.95
 *   10 rows at 0.50, 8 right         answered 30, right 27: 0.90
 *   10 rows at 0.20, all wrong       answered 40, right 27: 0.675
 * target 0.99 -> 10/40 at 0.99; 0.95 -> 20/40 at 0.97 (exactly 0.95 counts);
 * 0.90 -> 30/40 at 0.50 (exactly 0.90 counts). */
static void test_automation_targets_by_hand(void **state)
{
    (void)state;
    int32_t truth[40] = {0}, pred[40];
    float conf[40];
    for (int i = 0; i < 40; i++) {
        conf[i] = i < 10 ? 0.99f : i < 11 ? 0.98f : i < 20 ? 0.97f : i < 30 ? 0.50f : 0.20f;
        /* the wrong ones: row 11, two of the 0.50 tie (placed first in it), all of 0.20 */
        pred[i] = (i == 10 || i == 20 || i == 21 || i >= 30) ? 1 : 0;
    }
    kn_eval_report r;
    kn_error err;
    assert_int_equal(kn_evaluate(truth, pred, conf, 40, 2, &r, &err), 0);
    const double rate[] = {0.75, 0.5, 0.25}, precision[] = {0.9, 0.95, 1.0};
    const float threshold[] = {0.50f, 0.97f, 0.99f};
    for (int t = 0; t < KN_AUTOMATION_TARGETS; t++) {
        assert_near(r.automation[t].rate, rate[t], 1e-12);
        assert_true(r.automation[t].threshold == threshold[t]);
        assert_near(r.automation[t].precision, precision[t], 1e-12);
    }
    kn_eval_report_free(&r);
}

/* 0.9 right; a tie of three at 0.8 with one wrong; 0.1 right. Splitting the tie after its
 * right rows would answer 3 of 5 at precision 1, but the tie goes together (3 of 4 right),
 * so only the 0.9 row is answered: rate 1/5 for every target. */
static void test_ties_are_never_split(void **state)
{
    (void)state;
    const int32_t truth[] = {0, 0, 0, 0, 1}, pred[] = {0, 0, 1, 0, 1};
    const float conf[] = {0.9f, 0.8f, 0.8f, 0.8f, 0.1f};
    kn_eval_report r;
    kn_error err;
    assert_int_equal(kn_evaluate(truth, pred, conf, 5, 2, &r, &err), 0);
    for (int t = 0; t < KN_AUTOMATION_TARGETS; t++) {
        assert_near(r.automation[t].rate, 0.2, 1e-12);
        assert_true(r.automation[t].threshold == 0.9f);
    }
    kn_eval_report_free(&r);
}

/* Every answer wrong: nothing can be answered. Classes: truth {0, 1}, predictions {1, 2};
 * class 3 occurs in neither, so macro F1 averages classes 0, 1, 2 (all F1 0). */
static void test_all_wrong_answers_nothing(void **state)
{
    (void)state;
    const int32_t truth[] = {0, 1, -1}, pred[] = {1, 2, 2};
    const float conf[] = {1.0f, 0.5f, 0.0f};
    kn_eval_report r;
    kn_error err;
    assert_int_equal(kn_evaluate(truth, pred, conf, 3, 4, &r, &err), 0);
    assert_near(r.accuracy, 0.0, 0);
    assert_near(r.macro_f1, 0.0, 0);
    for (int t = 0; t < KN_AUTOMATION_TARGETS; t++) {
        assert_near(r.automation[t].rate, 0.0, 0);
        assert_true(isinf(r.automation[t].threshold) && r.automation[t].threshold > 0);
        assert_true(isnan(r.automation[t].precision));
    }
    /* bins 14 {1.0 wrong}, 7 {0.5 wrong}, 0 {0.0 wrong}: (1 + 0.5 + 0) / 3 = 0.5 */
    assert_near(r.ece, 0.5, 1e-12);
    kn_eval_report_free(&r);
}

/* Perfect and confident: everything answered at the lowest confidence, ECE = mean (1 - conf).
 * Class 1 never occurs and stays out of macro F1 (which is therefore 1, not 2/3). */
static void test_perfect(void **state)
{
    (void)state;
    const int32_t truth[] = {0, 2, 2, 0}, pred[] = {0, 2, 2, 0};
    const float conf[] = {1.0f, 0.75f, 1.0f, 0.75f};
    kn_eval_report r;
    kn_error err;
    assert_int_equal(kn_evaluate(truth, pred, conf, 4, 3, &r, &err), 0);
    assert_near(r.accuracy, 1.0, 0);
    assert_near(r.macro_f1, 1.0, 1e-12);
    assert_near(r.f1[1], 0.0, 0);
    /* bins 14 {1, 1} gap 0; 11 {0.75, 0.75} gap 0.25: 2/4 * 0.25 = 0.125 */
    assert_near(r.ece, 0.125, 1e-12);
    for (int t = 0; t < KN_AUTOMATION_TARGETS; t++) {
        assert_near(r.automation[t].rate, 1.0, 0);
        assert_true(r.automation[t].threshold == 0.75);
    }
    kn_eval_report_free(&r);
}

static void expect_error(const int32_t *truth, const int32_t *pred, const float *conf, size_t n, int k,
                         const char *needle)
{
    kn_eval_report r;
    kn_error err = {{0}};
    assert_int_equal(kn_evaluate(truth, pred, conf, n, k, &r, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
    assert_null(r.confusion);
    kn_eval_report_free(&r); /* safe on a failed report */
}

static void test_errors_name_the_row(void **state)
{
    (void)state;
    const int32_t ok3[] = {0, 1, 2}, truth_big[] = {0, 1, 3}, truth_neg[] = {0, -2, 1}, pred_neg[] = {0, 1, -1};
    const float conf[] = {0.5f, 0.5f, 0.5f}, conf_big[] = {1.5f, 0.5f, 0.5f}, conf_neg[] = {0.5f, 0.5f, -0.1f};
    const float conf_nan[] = {0.5f, NAN, 0.5f};
    expect_error(ok3, truth_big, conf, 3, 3, "row 3: predicted class 3");
    expect_error(truth_big, ok3, conf, 3, 3, "row 3: true class 3");
    expect_error(truth_neg, ok3, conf, 3, 3, "row 2: true class -2");
    expect_error(ok3, pred_neg, conf, 3, 3, "row 3: predicted class -1");
    expect_error(ok3, ok3, conf_big, 3, 3, "row 1: confidence 1.5");
    expect_error(ok3, ok3, conf_neg, 3, 3, "row 3: confidence -0.1");
    expect_error(ok3, ok3, conf_nan, 3, 3, "row 2: confidence is NaN");
    expect_error(ok3, ok3, conf, 0, 3, "no rows");
    expect_error(ok3, ok3, conf, 3, 0, "at least one class");
}

static void test_json(void **state)
{
    (void)state;
    kn_eval_report r;
    evaluate_small(&r);
    char *text;
    assert_int_equal(kn_eval_report_json(&r, SMALL_NAMES, &text), 0);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j) fail_msg("%s: %s", jerr.text, text);
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 8);
    assert_near(json_real_value(json_object_get(j, "accuracy")), 0.625, 0);
    assert_near(json_real_value(json_object_get(j, "macro_f1")), r.macro_f1, 0);
    assert_near(json_real_value(json_object_get(j, "ece")), r.ece, 0);
    json_t *a = json_object_get(json_object_get(j, "automation"), "0.95");
    assert_near(json_real_value(json_object_get(a, "rate")), 0.25, 0);
    assert_near(json_real_value(json_object_get(a, "threshold")), 0.90f, 0);
    assert_non_null(json_object_get(json_object_get(j, "automation"), "0.90"));
    assert_non_null(json_object_get(json_object_get(j, "automation"), "0.99"));
    json_t *billing = json_array_get(json_object_get(j, "per_class"), 1);
    assert_string_equal(json_string_value(json_object_get(billing, "name")), "billing");
    assert_near(json_real_value(json_object_get(billing, "f1")), 0.5, 0);
    assert_int_equal(json_integer_value(json_object_get(billing, "support")), 2);
    json_t *row0 = json_array_get(json_object_get(j, "confusion"), 0);
    assert_int_equal(json_array_size(row0), 3);
    assert_int_equal(json_integer_value(json_array_get(row0, 1)), 1);
    json_decref(j);
    free(text);

    /* No threshold reaches a target: threshold and precision are null; no names: ids. */
    r.automation[2] = (kn_automation){0.99, 0.0, INFINITY, NAN};
    assert_int_equal(kn_eval_report_json(&r, NULL, &text), 0);
    j = json_loads(text, 0, &jerr);
    assert_non_null(j);
    a = json_object_get(json_object_get(j, "automation"), "0.99");
    assert_true(json_is_null(json_object_get(a, "threshold")));
    assert_true(json_is_null(json_object_get(a, "precision")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "per_class"), 2), "name")), "2");
    json_decref(j);
    free(text);
    kn_eval_report_free(&r);
}

static char *print_to_string(const kn_eval_report *r, const char *const *names)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    kn_eval_report_print(r, names, f);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    return buf;
}

static void test_text_report(void **state)
{
    (void)state;
    kn_eval_report r;
    evaluate_small(&r);
    char *text = print_to_string(&r, SMALL_NAMES);
    assert_non_null(strstr(text, "62.50%"));
    assert_non_null(strstr(text, "1 out of scope"));
    assert_non_null(strstr(text, "Automatic answers"));
    assert_non_null(strstr(text, "Confusion matrix"));
    /* Per topic by F1 ascending: billing 0.5, card 0.667, delivery 0.8. */
    const char *table = strstr(text, "Per topic");
    assert_non_null(table);
    const char *billing = strstr(table, "billing"), *card = strstr(table, "card"), *delivery = strstr(table, "delivery");
    assert_true(billing && card && delivery && billing < card && card < delivery);
    /* The confusions, each once: card -> billing, billing -> delivery. */
    const char *top = strstr(text, "Most frequent confusions");
    assert_non_null(top);
    assert_non_null(strstr(top, "card -> billing"));
    assert_non_null(strstr(top, "billing -> delivery"));
    free(text);
    kn_eval_report_free(&r);

    /* 25 classes: no full matrix, the most frequent confusion first. */
    enum { N = 100, K = 25 };
    int32_t truth[N], pred[N];
    float conf[N];
    for (int i = 0; i < N; i++) {
        truth[i] = i % K;
        pred[i] = i < 7 ? 24 : i % K; /* classes 0..6 once each predicted as 24 */
        conf[i] = 0.5f;
    }
    pred[K + 3] = 24; /* class 3 twice */
    kn_error err;
    assert_int_equal(kn_evaluate(truth, pred, conf, N, K, &r, &err), 0);
    text = print_to_string(&r, NULL);
    assert_null(strstr(text, "Confusion matrix"));
    top = strstr(text, "Most frequent confusions");
    assert_non_null(top);
    assert_non_null(strstr(top, "     2  3 -> 24"));
    free(text);
    kn_eval_report_free(&r);
}

/* ---- against the Python reference (tools/learn/check_metrics.sh) ---- */

/* Compares got with want (the reference) under path; appends the first difference to why. */
static int same_json(const json_t *got, const json_t *want, const char *path, char *why, size_t cap)
{
    if (json_is_number(want) && json_is_number(got)) {
        if (json_is_integer(want) && json_is_integer(got)) {
            if (json_integer_value(got) == json_integer_value(want)) return 1;
        } else if (fabs(json_number_value(got) - json_number_value(want)) <= 1e-9) {
            return 1;
        }
        snprintf(why, cap, "%s: %.17g, reference %.17g", path, json_number_value(got), json_number_value(want));
        return 0;
    }
    if (json_typeof(got) != json_typeof(want)) {
        snprintf(why, cap, "%s: JSON types differ (%d vs reference %d)", path, json_typeof(got), json_typeof(want));
        return 0;
    }
    char sub[512];
    if (json_is_object(want)) {
        const char *key;
        json_t *w;
        json_object_foreach((json_t *)want, key, w) {
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            json_t *g = json_object_get(got, key);
            if (!g) {
                snprintf(why, cap, "%s: missing", sub);
                return 0;
            }
            if (!same_json(g, w, sub, why, cap)) return 0;
        }
        return 1;
    }
    if (json_is_array(want)) {
        if (json_array_size(got) != json_array_size(want)) {
            snprintf(why, cap, "%s: %zu items, reference %zu", path, json_array_size(got), json_array_size(want));
            return 0;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (!same_json(json_array_get(got, i), json_array_get(want, i), sub, why, cap)) return 0;
        }
        return 1;
    }
    if (json_is_string(want) && strcmp(json_string_value(got), json_string_value(want)) != 0) {
        snprintf(why, cap, "%s: \"%s\", reference \"%s\"", path, json_string_value(got), json_string_value(want));
        return 0;
    }
    return 1; /* equal strings, null, true, false */
}

/* One case; returns 1 if the C agrees with the reference, else prints why. */
static int check_case(json_t *c, size_t line_no)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *jt = json_object_get(c, "truth"), *jp = json_object_get(c, "pred"), *jc = json_object_get(c, "conf");
    json_t *jnames = json_object_get(c, "names");
    size_t n = json_array_size(jt);
    int k = (int)json_integer_value(json_object_get(c, "n_classes"));
    int32_t *truth = malloc((n + 1) * sizeof *truth), *pred = malloc((n + 1) * sizeof *pred);
    float *conf = malloc((n + 1) * sizeof *conf);
    const char **names = malloc((json_array_size(jnames) + 1) * sizeof *names);
    for (size_t i = 0; i < n; i++) {
        truth[i] = (int32_t)json_integer_value(json_array_get(jt, i));
        pred[i] = (int32_t)json_integer_value(json_array_get(jp, i));
        json_t *v = json_array_get(jc, i);
        conf[i] = json_is_null(v) ? NAN : (float)json_number_value(v); /* null stands for NaN */
    }
    for (size_t i = 0; i < json_array_size(jnames); i++) names[i] = json_string_value(json_array_get(jnames, i));

    char why[1024] = "";
    kn_eval_report r;
    kn_error err = {{0}};
    int rc = kn_evaluate(truth, pred, conf, n, k, &r, &err);
    json_t *want_error = json_object_get(c, "error");
    if (want_error) {
        if (rc == 0) snprintf(why, sizeof why, "no error, expected one containing \"%s\"", json_string_value(want_error));
        else if (!strstr(err.msg, json_string_value(want_error)))
            snprintf(why, sizeof why, "error \"%s\" does not contain \"%s\"", err.msg, json_string_value(want_error));
    } else if (rc != 0) {
        snprintf(why, sizeof why, "unexpected error: %s", err.msg);
    } else {
        char *text;
        if (kn_eval_report_json(&r, names, &text) != 0) {
            snprintf(why, sizeof why, "kn_eval_report_json failed");
        } else {
            json_t *got = json_loads(text, 0, NULL);
            if (!got) snprintf(why, sizeof why, "kn_eval_report_json wrote invalid JSON");
            else same_json(got, json_object_get(c, "expected"), "report", why, sizeof why);
            json_decref(got);
            free(text);
        }
    }
    kn_eval_report_free(&r);
    free(truth);
    free(pred);
    free(conf);
    free(names);
    if (why[0]) fprintf(stderr, "MISMATCH line %zu (%s): %s\n", line_no, name ? name : "", why);
    return why[0] == 0;
}

static void test_reference_cases(void **state)
{
    (void)state;
    const char *path = getenv("KANAVA_METRICS_CASES");
    if (!path || !*path) {
        print_message("KANAVA_METRICS_CASES not set: skipping reference cases\n");
        skip();
    }
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0, passed = 0, failed = 0, line_no = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        line_no++;
        json_error_t jerr;
        json_t *c = json_loadb(line, (size_t)got, 0, &jerr);
        if (!c) fail_msg("%s:%zu: %s", path, line_no, jerr.text);
        if (check_case(c, line_no)) passed++;
        else failed++;
        json_decref(c);
    }
    free(line);
    fclose(f);
    print_message("reference cases: %zu passed, %zu failed\n", passed, failed);
    assert_true(passed > 0);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_by_hand),
        cmocka_unit_test(test_automation_targets_by_hand),
        cmocka_unit_test(test_ties_are_never_split),
        cmocka_unit_test(test_all_wrong_answers_nothing),
        cmocka_unit_test(test_perfect),
        cmocka_unit_test(test_errors_name_the_row),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text_report),
        cmocka_unit_test(test_reference_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
