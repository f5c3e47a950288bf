/* test_self_train.c - the parts of self-training (src/learn/self_train.h):
 *   - kn_csr_append: onto an empty matrix (also one whose n_cols differs), with and without a
 *     keep mask, empty rows, no rows, a column mismatch (an error that leaves dst as it was);
 *     indptr / indices / values compared entry by entry; and random matrices appended in
 *     masked pieces equal to the rows filtered directly;
 *   - kn_self_train_pick with heads whose W, b and temperature are set by hand on tiny
 *     sparse rows, so every row's probability is known in closed form: rows at or above the
 *     threshold kept with their argmax topic, the max_rows cap keeping the most confident,
 *     a threshold above every probability keeping none, the temperature and the intercept
 *     taken into account, ties at the cap; and a random head where the picks must be the
 *     top min(passing, max_rows) rows by confidence. */
#include "test_util.h"

#include <math.h>

#include "learn/logreg.h"
#include "learn/self_train.h"
#include "learn/sparse.h"
#include "util/rng.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- 1. kn_csr_append --------------------------------------------------------------- */

/* m must be exactly rows x cols with these indptr / indices / values. */
static void expect_csr(const kn_csr *m, size_t rows, int cols, const size_t *indptr, const int32_t *indices,
                       const float *values)
{
    assert_int_equal(m->n_rows, rows);
    assert_int_equal(m->n_cols, cols);
    for (size_t i = 0; i <= rows; i++)
        if (m->indptr[i] != indptr[i]) fail_msg("indptr[%zu] = %zu, expected %zu", i, m->indptr[i], indptr[i]);
    for (size_t e = 0; e < indptr[rows]; e++) {
        if (m->indices[e] != indices[e]) fail_msg("indices[%zu] = %d, expected %d", e, m->indices[e], indices[e]);
        if (m->values[e] != values[e]) fail_msg("values[%zu] = %g, expected %g", e, m->values[e], values[e]);
    }
}

/* A: 3 x 4 with an empty middle row; B: 2 x 4; C: 1 x 5. */
static size_t a_ptr[] = {0, 2, 2, 5};
static int32_t a_idx[] = {0, 3, 1, 2, 3};
static float a_val[] = {1, 2, 3, 4, 5};
static size_t b_ptr[] = {0, 1, 2};
static int32_t b_idx[] = {2, 0};
static float b_val[] = {6, 7};
static size_t c_ptr[] = {0, 1};
static int32_t c_idx[] = {4};
static float c_val[] = {8};

static void test_csr_append(void **state)
{
    (void)state;
    const kn_csr A = {.n_rows = 3, .n_cols = 4, .indptr = a_ptr, .indices = a_idx, .values = a_val};
    const kn_csr B = {.n_rows = 2, .n_cols = 4, .indptr = b_ptr, .indices = b_idx, .values = b_val};
    const kn_csr C = {.n_rows = 1, .n_cols = 5, .indptr = c_ptr, .indices = c_idx, .values = c_val};
    kn_error err = {{0}};
    kn_csr dst = {0};

    /* Onto an empty matrix, all rows: a copy of A. */
    assert_int_equal(kn_csr_append(&dst, &A, NULL, &err), 0);
    expect_csr(&dst, 3, 4, a_ptr, a_idx, a_val);
    assert_true(dst.indices != a_idx && dst.values != a_val); /* copied, not shared */

    /* B's second row only: entries continue after A's, indptr shifted by A's 5 entries. */
    assert_int_equal(kn_csr_append(&dst, &B, (const unsigned char[]){0, 1}, &err), 0);
    expect_csr(&dst, 4, 4, (const size_t[]){0, 2, 2, 5, 6}, (const int32_t[]){0, 3, 1, 2, 3, 0},
               (const float[]){1, 2, 3, 4, 5, 7});

    /* A's first two rows (the second is empty: a row with no entries is still a row). */
    assert_int_equal(kn_csr_append(&dst, &A, (const unsigned char[]){1, 1, 0}, &err), 0);
    const size_t ptr6[] = {0, 2, 2, 5, 6, 8, 8};
    const int32_t idx6[] = {0, 3, 1, 2, 3, 0, 0, 3};
    const float val6[] = {1, 2, 3, 4, 5, 7, 1, 2};
    expect_csr(&dst, 6, 4, ptr6, idx6, val6);

    /* A mask that keeps nothing, and a source without rows: nothing changes. */
    assert_int_equal(kn_csr_append(&dst, &A, (const unsigned char[]){0, 0, 0}, &err), 0);
    expect_csr(&dst, 6, 4, ptr6, idx6, val6);
    const kn_csr none = {.n_rows = 0, .n_cols = 4, .indptr = a_ptr, .indices = a_idx, .values = a_val};
    assert_int_equal(kn_csr_append(&dst, &none, NULL, &err), 0);
    expect_csr(&dst, 6, 4, ptr6, idx6, val6);

    /* Another column count is refused and dst is left as it was. */
    assert_int_equal(kn_csr_append(&dst, &C, NULL, &err), -1);
    assert_string_equal(err.msg, "appending rows of 5 columns to rows of 4");
    expect_csr(&dst, 6, 4, ptr6, idx6, val6);
    kn_csr_free(&dst);

    /* An empty dst takes the source's columns, whatever n_cols it had. */
    kn_csr fresh = {.n_cols = 7};
    assert_int_equal(kn_csr_append(&fresh, &A, (const unsigned char[]){0, 0, 1}, &err), 0);
    expect_csr(&fresh, 1, 4, (const size_t[]){0, 3}, (const int32_t[]){1, 2, 3}, (const float[]){3, 4, 5});
    kn_csr_free(&fresh);
    /* ... also when nothing is kept: zero rows, indptr[0] = 0, the source's columns; after
     * which C (5 columns) is still accepted, dst having no rows. */
    kn_csr zero = {.n_cols = 7};
    assert_int_equal(kn_csr_append(&zero, &A, (const unsigned char[]){0, 0, 0}, &err), 0);
    assert_int_equal(zero.n_rows, 0);
    assert_int_equal(zero.n_cols, 4);
    assert_non_null(zero.indptr);
    assert_int_equal(zero.indptr[0], 0);
    assert_int_equal(kn_csr_append(&zero, &C, NULL, &err), 0);
    expect_csr(&zero, 1, 5, c_ptr, c_idx, c_val);
    kn_csr_free(&zero);
}

/* Random matrices appended in masked pieces give the kept rows, in order, bit for bit. */
static void test_csr_append_random(void **state)
{
    (void)state;
    enum { PIECES = 6, COLS = 50 };
    uint64_t rng = 99;
    kn_csr dst = {0}, want = {.n_cols = COLS};
    size_t want_cap = 4096;
    want.indptr = malloc((PIECES * 200 + 1) * sizeof *want.indptr);
    want.indices = malloc(want_cap * sizeof *want.indices);
    want.values = malloc(want_cap * sizeof *want.values);
    want.indptr[0] = 0;
    kn_error err;
    for (int piece = 0; piece < PIECES; piece++) {
        const size_t rows = kn_splitmix64(&rng) % 200;
        const int masked = piece % 2 == 0; /* every other piece without a mask: all rows */
        kn_csr src = {.n_rows = rows, .n_cols = COLS};
        src.indptr = malloc((rows + 1) * sizeof *src.indptr);
        src.indices = malloc((rows * COLS + 1) * sizeof *src.indices);
        src.values = malloc((rows * COLS + 1) * sizeof *src.values);
        unsigned char *keep = malloc(rows + 1);
        src.indptr[0] = 0;
        for (size_t i = 0; i < rows; i++) {
            size_t at = src.indptr[i];
            for (int c = 0; c < COLS; c++)
                if (kn_splitmix64(&rng) % 8 == 0) {
                    src.indices[at] = c;
                    src.values[at++] = (float)(kn_splitmix64(&rng) % 1000) / 7.0f;
                }
            src.indptr[i + 1] = at;
            keep[i] = !masked || kn_splitmix64(&rng) % 3 != 0;
            if (!keep[i]) continue;
            const size_t len = at - src.indptr[i], base = want.indptr[want.n_rows];
            if (base + len > want_cap) {
                want_cap = 2 * (base + len);
                want.indices = realloc(want.indices, want_cap * sizeof *want.indices);
                want.values = realloc(want.values, want_cap * sizeof *want.values);
            }
            memcpy(want.indices + base, src.indices + src.indptr[i], len * sizeof *want.indices);
            memcpy(want.values + base, src.values + src.indptr[i], len * sizeof *want.values);
            want.indptr[++want.n_rows] = base + len;
        }
        assert_int_equal(kn_csr_append(&dst, &src, masked ? keep : NULL, &err), 0);
        assert_int_equal(dst.n_rows, want.n_rows);
        free(keep);
        free(src.indptr);
        free(src.indices);
        free(src.values);
    }
    expect_csr(&dst, want.n_rows, COLS, want.indptr, want.indices, want.values);
    printf("appended %d random pieces: %zu rows, %zu entries, equal to the kept rows\n", PIECES, dst.n_rows,
           dst.indptr[dst.n_rows]);
    kn_csr_free(&dst);
    kn_csr_free(&want);
}

/* ---- 2. kn_self_train_pick ---------------------------------------------------------- */

/* Head A: 3 topics, 3 columns, W = identity, b = 0, temperature T. A row with value v in
 * column c alone has logits v at topic c and 0 elsewhere, so p_c = e^(v/T) / (e^(v/T) + 2):
 * the value for a wanted p is T ln(2p / (1 - p)). */
enum { K = 3, D = 3, ROWS = 9 };

typedef struct tiny {
    size_t indptr[ROWS + 1];
    int32_t indices[2 * ROWS];
    float values[2 * ROWS];
    kn_csr X;
    float W[K * D], b[K];
    kn_logreg head;
} tiny;

static float value_for(double p, double T) { return (float)(T * log(2 * p / (1 - p))); }

/* The rows and their probabilities at T = 2:
 *   0: col 0 -> 0.9 (topic 0)        5: col 0, v = T ln 0.25 -> topics 1, 2 tie at 1/2.25 = 0.444
 *   1: col 1 -> 0.8 (1)                 (topic 1, the first of the tie; topic 0 only 0.111)
 *   2: col 2 -> 0.6 (2)              6: col 1 -> 0.99 (1)
 *   3: no entry -> 1/3 each (0)      7: col 0 -> 0.7 (0)
 *   4: col 2 -> 0.95 (2)             8: col 0 e^(v/T) = 3, col 1 e^(v/T) = 6 -> 6/10 = 0.6 (1) */
static const double P_T2[ROWS] = {0.9, 0.8, 0.6, 1.0 / 3, 0.95, 1 / 2.25, 0.99, 0.7, 0.6};
static const int32_t TOPIC[ROWS] = {0, 1, 2, 0, 2, 1, 1, 0, 1};

static void tiny_head(tiny *t, float temperature)
{
    memset(t, 0, sizeof *t);
    const double T = 2.0;
    const struct { int col; float v; } one[ROWS] = {
        {0, value_for(0.9, T)}, {1, value_for(0.8, T)}, {2, value_for(0.6, T)}, {-1, 0},
        {2, value_for(0.95, T)}, {0, (float)(T * log(0.25))}, {1, value_for(0.99, T)}, {0, value_for(0.7, T)},
        {0, (float)(T * log(3.0))},
    };
    size_t at = 0;
    for (int i = 0; i < ROWS; i++) {
        if (one[i].col >= 0) t->indices[at] = one[i].col, t->values[at++] = one[i].v;
        if (i == 8) t->indices[at] = 1, t->values[at++] = (float)(T * log(6.0));
        t->indptr[i + 1] = at;
    }
    t->X = (kn_csr){.n_rows = ROWS, .n_cols = D, .indptr = t->indptr, .indices = t->indices, .values = t->values};
    for (int k = 0; k < K; k++) t->W[k * D + k] = 1;
    t->head = (kn_logreg){.n_classes = K, .dim = D, .W = t->W, .b = t->b, .temperature = temperature};
}

/* pick with (threshold, max_rows) must keep exactly the rows want[0..n) with their topics. */
static void expect_pick(const tiny *t, double threshold, size_t max_rows, const int *want, size_t n, const char *what)
{
    unsigned char keep[ROWS];
    int32_t label[ROWS];
    memset(keep, 0x5a, sizeof keep); /* garbage: every entry must be written */
    long got = kn_self_train_pick(&t->head, &t->X, threshold, max_rows, keep, label);
    unsigned char expect[ROWS] = {0};
    for (size_t j = 0; j < n; j++) expect[want[j]] = 1;
    for (int i = 0; i < ROWS; i++) {
        if (keep[i] != expect[i])
            fail_msg("%s (threshold %g, max %zu): row %d keep = %d, expected %d", what, threshold, max_rows, i, keep[i],
                     expect[i]);
        if (keep[i] && label[i] != TOPIC[i]) fail_msg("%s: row %d labelled %d, expected %d", what, i, label[i], TOPIC[i]);
    }
    if (got != (long)n) fail_msg("%s: returned %ld, expected %zu", what, got, n);
}

static void test_pick_by_hand(void **state)
{
    (void)state;
    tiny t;
    tiny_head(&t, 2.0f);
    /* The probabilities are the closed-form ones (float rounding aside). */
    float P[ROWS * K];
    kn_logreg_predict_proba_sparse(&t.head, &t.X, P);
    for (int i = 0; i < ROWS; i++)
        if (!(fabs(P[i * K + TOPIC[i]] - P_T2[i]) <= 1e-6))
            fail_msg("row %d: probability %.9g of topic %d, closed form %.9g", i, P[i * K + TOPIC[i]], TOPIC[i], P_T2[i]);

    expect_pick(&t, 0.75, 100, (const int[]){0, 1, 4, 6}, 4, "0.75");
    expect_pick(&t, 0.5, 100, (const int[]){0, 1, 2, 4, 6, 7, 8}, 7, "0.5");
    /* Threshold 0: every row, the uniform one with topic 0, the tied one with topic 1. */
    expect_pick(&t, 0.0, 100, (const int[]){0, 1, 2, 3, 4, 5, 6, 7, 8}, 9, "0");
    /* The cap keeps the most confident: 0.99, 0.95, 0.9 (then 0.8, 0.7). */
    expect_pick(&t, 0.5, 3, (const int[]){6, 4, 0}, 3, "0.5 max 3");
    expect_pick(&t, 0.5, 5, (const int[]){6, 4, 0, 1, 7}, 5, "0.5 max 5");
    expect_pick(&t, 0.5, 7, (const int[]){0, 1, 2, 4, 6, 7, 8}, 7, "0.5 max 7 (= passing)");
    expect_pick(&t, 0.5, 1, (const int[]){6}, 1, "0.5 max 1");
    expect_pick(&t, 0.5, 0, NULL, 0, "0.5 max 0");
    /* Above every probability: none. */
    expect_pick(&t, 0.995, 100, NULL, 0, "0.995");
    expect_pick(&t, 1.0, 100, NULL, 0, "1");
    expect_pick(&t, 1.5, 100, NULL, 0, "1.5");
    /* At the threshold: a row whose probability equals it is kept. */
    expect_pick(&t, (double)P[7 * K + 0], 100, (const int[]){0, 1, 4, 6, 7}, 5, "row 7's probability");
    expect_pick(&t, (double)P[1 * K + 1], 100, (const int[]){0, 1, 4, 6}, 4, "row 1's probability");

    /* Six of the seven passing rows: 0.6 is shared by rows 2 and 8 (up to rounding), so
     * exactly one of them goes with the five above 0.6. */
    unsigned char keep[ROWS];
    int32_t label[ROWS];
    assert_int_equal(kn_self_train_pick(&t.head, &t.X, 0.5, 6, keep, label), 6);
    for (int i = 0; i < ROWS; i++)
        if (i != 2 && i != 8) assert_int_equal(keep[i], P_T2[i] > 0.6 && P_T2[i] >= 0.5);
    assert_int_equal(keep[2] + keep[8], 1);

    /* The temperature counts: at T = 1 the same rows are sharper, e^(v) = (e^(v/2))^2:
     * row 1 64/66, row 2 9/11, row 7 (14/3)^2 / ((14/3)^2 + 2) = 0.916, row 8 36/46 = 0.783,
     * row 5's tie 1/(1/16 + 2) = 0.485: at 0.75 seven rows pass instead of four. */
    tiny_head(&t, 1.0f);
    expect_pick(&t, 0.75, 100, (const int[]){0, 1, 2, 4, 6, 7, 8}, 7, "0.75 at T = 1");
    expect_pick(&t, 0.8, 100, (const int[]){0, 1, 2, 4, 6, 7}, 6, "0.8 at T = 1");
    expect_pick(&t, 0.48, 100, (const int[]){0, 1, 2, 4, 5, 6, 7, 8}, 8, "0.48 at T = 1");
}

/* Head B: W = 0 and b = (T ln 8, 0, 0): every row gets topic 0 at 8 / 10 = 0.8, from the
 * intercept alone (and its temperature). */
static void test_pick_intercept_and_ties(void **state)
{
    (void)state;
    tiny t;
    tiny_head(&t, 0.5f);
    memset(t.W, 0, sizeof t.W);
    t.b[0] = (float)(0.5 * log(8.0));
    float P[ROWS * K];
    kn_logreg_predict_proba_sparse(&t.head, &t.X, P);
    for (int i = 0; i < ROWS; i++) assert_true(fabs(P[i * K] - 0.8) <= 1e-6);
    unsigned char keep[ROWS];
    int32_t label[ROWS];
    assert_int_equal(kn_self_train_pick(&t.head, &t.X, 0.7, 100, keep, label), ROWS);
    for (int i = 0; i < ROWS; i++) assert_true(keep[i] == 1 && label[i] == 0);
    /* All tied: the cap still keeps exactly max_rows of them. */
    assert_int_equal(kn_self_train_pick(&t.head, &t.X, 0.7, 4, keep, label), 4);
    int kept = 0;
    for (int i = 0; i < ROWS; i++) kept += keep[i], assert_true(!keep[i] || label[i] == 0);
    assert_int_equal(kept, 4);
    assert_int_equal(kn_self_train_pick(&t.head, &t.X, 0.81, 100, keep, label), 0);
    for (int i = 0; i < ROWS; i++) assert_int_equal(keep[i], 0);
    /* No rows at all. */
    const kn_csr empty = {.n_rows = 0, .n_cols = D, .indptr = t.indptr, .indices = t.indices, .values = t.values};
    assert_int_equal(kn_self_train_pick(&t.head, &empty, 0.5, 10, keep, label), 0);
}

static int desc_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* A random head on random rows: the picks are the min(passing, max_rows) most confident
 * passing rows, each with the argmax topic of the head's own probabilities. */
static void test_pick_random(void **state)
{
    (void)state;
    enum { N = 400, RK = 5, RD = 12 };
    uint64_t rng = 2024;
    float *W = malloc(RK * RD * sizeof *W), b[RK];
    for (int q = 0; q < RK * RD; q++) W[q] = (float)((double)(kn_splitmix64(&rng) % 2001) / 1000.0 - 1.0) * 3;
    for (int k = 0; k < RK; k++) b[k] = (float)((double)(kn_splitmix64(&rng) % 2001) / 1000.0 - 1.0);
    const kn_logreg head = {.n_classes = RK, .dim = RD, .W = W, .b = b, .temperature = 1.3f};
    size_t *indptr = malloc((N + 1) * sizeof *indptr);
    int32_t *indices = malloc(N * RD * sizeof *indices);
    float *values = malloc(N * RD * sizeof *values);
    indptr[0] = 0;
    for (size_t i = 0; i < N; i++) {
        size_t at = indptr[i];
        for (int c = 0; c < RD; c++)
            if (kn_splitmix64(&rng) % 3 == 0) indices[at] = c, values[at++] = (float)(kn_splitmix64(&rng) % 1000) / 500.0f;
        indptr[i + 1] = at;
    }
    const kn_csr X = {.n_rows = N, .n_cols = RD, .indptr = indptr, .indices = indices, .values = values};
    float *P = malloc(N * RK * sizeof *P), conf[N], sorted[N];
    int32_t topic[N], label[N];
    unsigned char keep[N];
    kn_logreg_predict_proba_sparse(&head, &X, P);
    for (size_t i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < RK; k++)
            if (P[i * RK + k] > P[i * RK + best]) best = k;
        topic[i] = best;
        conf[i] = P[i * RK + best];
    }
    const double thresholds[] = {0.25, 0.4, 0.6, 0.8, 0.95};
    const size_t caps[] = {0, 1, 7, 50, 200, 10000};
    for (size_t a = 0; a < LEN(thresholds); a++)
        for (size_t c = 0; c < LEN(caps); c++) {
            size_t passing = 0, n_pass = 0;
            for (size_t i = 0; i < N; i++)
                if (conf[i] >= thresholds[a]) sorted[n_pass++] = conf[i], passing++;
            qsort(sorted, n_pass, sizeof *sorted, desc_float);
            const size_t want = passing < caps[c] ? passing : caps[c];
            long got = kn_self_train_pick(&head, &X, thresholds[a], caps[c], keep, label);
            if (got != (long)want) fail_msg("threshold %g max %zu: kept %ld, expected %zu", thresholds[a], caps[c], got, want);
            size_t kept = 0;
            for (size_t i = 0; i < N; i++) {
                if (!keep[i]) {
                    /* a passing row left out is no more confident than the least kept one */
                    if (want && conf[i] >= thresholds[a]) assert_true(conf[i] <= sorted[want - 1]);
                    continue;
                }
                kept++;
                assert_true(conf[i] >= thresholds[a]);
                assert_true(conf[i] >= sorted[want - 1]);
                assert_int_equal(label[i], topic[i]);
            }
            assert_int_equal(kept, want);
        }
    printf("random head, %d rows x %d topics: picks are the top min(passing, max_rows) for %zu thresholds x %zu caps\n", N,
           RK, LEN(thresholds), LEN(caps));
    free(W);
    free(indptr);
    free(indices);
    free(values);
    free(P);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_append),
        cmocka_unit_test(test_csr_append_random),
        cmocka_unit_test(test_pick_by_hand),
        cmocka_unit_test(test_pick_intercept_and_ties),
        cmocka_unit_test(test_pick_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
