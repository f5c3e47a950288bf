/* test_pairs.c - SetFit pair generation (src/learn/pairs.c): counts per strategy worked out
 * by hand, validity of every pair, coverage and balance, the max_pairs cap, determinism per
 * seed, and errors. */
#include "test_util.h"

#include "learn/pairs.h"

/* Each pair indexes labels, never pairs an example with itself and is labelled by whether
 * the classes match; unique strategies also keep a < b. Returns the number of positives. */
static size_t check_valid(const int32_t *y, size_t n, const kn_pair *p, size_t np, int ordered)
{
    size_t pos = 0;
    for (size_t k = 0; k < np; k++) {
        if (p[k].a < 0 || p[k].b < 0 || (size_t)p[k].a >= n || (size_t)p[k].b >= n)
            fail_msg("pair %zu (%d, %d) out of range", k, p[k].a, p[k].b);
        if (p[k].a == p[k].b) fail_msg("pair %zu pairs %d with itself", k, p[k].a);
        if (ordered && p[k].a > p[k].b) fail_msg("pair %zu (%d, %d) not ordered", k, p[k].a, p[k].b);
        float want = y[p[k].a] == y[p[k].b] ? 1.0f : 0.0f;
        if (p[k].label != want) fail_msg("pair %zu (%d, %d) labelled %g", k, p[k].a, p[k].b, p[k].label);
        pos += p[k].label == 1.0f;
    }
    return pos;
}

/* How often each unordered pair occurs: counts[a * n + b] with a < b. */
static unsigned *occurrences(size_t n, const kn_pair *p, size_t np)
{
    unsigned *c = calloc(n * n, sizeof *c);
    for (size_t k = 0; k < np; k++) {
        size_t a = (size_t)p[k].a, b = (size_t)p[k].b;
        c[a < b ? a * n + b : b * n + a]++;
    }
    return c;
}

static kn_pair *make(const int32_t *y, size_t n, kn_pair_strategy s, int iters, size_t max_pairs, uint64_t seed,
                     size_t *np)
{
    kn_pair *p;
    kn_error err;
    if (kn_make_pairs(y, n, s, iters, max_pairs, seed, &p, np, &err) != 0) fail_msg("%s", err.msg);
    return p;
}

/* A = {0,0,0,1,1}: positives C(3,2) + C(2,2) = 3 + 1 = 4, negatives 3 * 2 = 6, 10 unique.
 * B = {0,1,2,2,2,2}: two single-example classes; positives C(4,2) = 6, negatives
 *     C(6,2) - 6 = 9, 15 unique.
 * D = {-5,7,-5,7,100}: ids need be neither small nor contiguous; positives 1 + 1 = 2,
 *     negatives 10 - 2 = 8. */
static const int32_t A[] = {0, 0, 0, 1, 1}, B[] = {0, 1, 2, 2, 2, 2}, D[] = {-5, 7, -5, 7, 100};

static void expect_counts(const int32_t *y, size_t n, size_t u_pos, size_t u_neg)
{
    size_t big = u_pos > u_neg ? u_pos : u_neg, small = u_pos < u_neg ? u_pos : u_neg, np;
    for (uint64_t seed = 0; seed < 5; seed++) {
        /* unique: each unique pair exactly once */
        kn_pair *p = make(y, n, KN_PAIRS_UNIQUE, 0, 0, seed, &np);
        assert_int_equal(np, u_pos + u_neg);
        assert_int_equal(check_valid(y, n, p, np, 1), u_pos);
        unsigned *c = occurrences(n, p, np);
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++) assert_int_equal(c[a * n + b], 1);
        free(c);
        free(p);
        /* oversampling: both sides at the larger size, every unique pair at least once */
        p = make(y, n, KN_PAIRS_OVERSAMPLING, 0, 0, seed, &np);
        assert_int_equal(np, 2 * big);
        assert_int_equal(check_valid(y, n, p, np, 1), big);
        c = occurrences(n, p, np);
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++)
                if (c[a * n + b] < 1) fail_msg("seed %llu: pair (%zu, %zu) missing", (unsigned long long)seed, a, b);
        free(c);
        free(p);
        /* undersampling: both sides at the smaller size, no repeats */
        p = make(y, n, KN_PAIRS_UNDERSAMPLING, 0, 0, seed, &np);
        assert_int_equal(np, 2 * small);
        assert_int_equal(check_valid(y, n, p, np, 1), small);
        c = occurrences(n, p, np);
        for (size_t k = 0; k < n * n; k++) assert_true(c[k] <= 1);
        free(c);
        free(p);
    }
}

static void test_counts_unique_over_under(void **state)
{
    (void)state;
    expect_counts(A, 5, 4, 6);  /* unique 10, over 12, under 8 */
    expect_counts(B, 6, 6, 9);  /* unique 15, over 18, under 12 */
    expect_counts(D, 5, 2, 8);  /* unique 10, over 16 (positives repeated 4x), under 4 */
}

static void test_iterations(void **state)
{
    (void)state;
    size_t np;
    /* A, 3 iterations: 2 * 5 * 3 = 30, half positive. */
    kn_pair *p = make(A, 5, KN_PAIRS_ITERATIONS, 3, 0, 42, &np);
    assert_int_equal(np, 30);
    assert_int_equal(check_valid(A, 5, p, np, 0), 15);
    /* every sentence anchors 3 positives and 3 negatives */
    unsigned anchored[5] = {0};
    for (size_t k = 0; k < np; k++) anchored[p[k].a]++;
    for (int i = 0; i < 5; i++) assert_int_equal(anchored[i], 6);
    free(p);
    /* B, 2 iterations: 6 negatives + 4 positives (the two singletons have no partner) per
     * iteration = 20, 8 positive. */
    p = make(B, 6, KN_PAIRS_ITERATIONS, 2, 0, 42, &np);
    assert_int_equal(np, 20);
    assert_int_equal(check_valid(B, 6, p, np, 0), 8);
    free(p);
    /* All singletons {0,1,2}: negatives only, 3 per iteration. */
    static const int32_t S[] = {0, 1, 2};
    p = make(S, 3, KN_PAIRS_ITERATIONS, 1, 0, 1, &np);
    assert_int_equal(np, 3);
    assert_int_equal(check_valid(S, 3, p, np, 0), 0);
    free(p);
    /* Over many draws every valid partner turns up (the skip arithmetic reaches both ends). */
    p = make(D, 5, KN_PAIRS_ITERATIONS, 200, 0, 9, &np);
    assert_int_equal(np, 2 * 4 * 200 + 200); /* 100 is a singleton: 9 pairs per iteration */
    check_valid(D, 5, p, np, 0);
    unsigned *c = occurrences(5, p, np);
    for (size_t a = 0; a < 5; a++)
        for (size_t b = a + 1; b < 5; b++) assert_true(c[a * 5 + b] > 0);
    free(c);
    free(p);
}

static void test_max_pairs(void **state)
{
    (void)state;
    size_t np;
    /* A oversampled is 12; capped at 7: 4 positives and 3 negatives. */
    kn_pair *p = make(A, 5, KN_PAIRS_OVERSAMPLING, 0, 7, 3, &np);
    assert_int_equal(np, 7);
    assert_int_equal(check_valid(A, 5, p, np, 1), 4);
    free(p);
    p = make(A, 5, KN_PAIRS_UNDERSAMPLING, 0, 6, 3, &np); /* 8 -> 6: 3 + 3 */
    assert_int_equal(np, 6);
    assert_int_equal(check_valid(A, 5, p, np, 1), 3);
    free(p);
    p = make(A, 5, KN_PAIRS_UNIQUE, 0, 5, 3, &np);
    assert_int_equal(np, 5);
    check_valid(A, 5, p, np, 1);
    free(p);
    p = make(A, 5, KN_PAIRS_ITERATIONS, 3, 11, 3, &np);
    assert_int_equal(np, 11);
    check_valid(A, 5, p, np, 0);
    free(p);
    p = make(A, 5, KN_PAIRS_UNIQUE, 0, 1000, 3, &np); /* a cap above the total changes nothing */
    assert_int_equal(np, 10);
    free(p);
}

static void test_deterministic_per_seed(void **state)
{
    (void)state;
    int32_t y[40];
    for (int i = 0; i < 40; i++) y[i] = i % 4; /* positives 4 * C(10,2) = 180, negatives 780 - 180 = 600 */
    static const kn_pair_strategy all[] = {KN_PAIRS_OVERSAMPLING, KN_PAIRS_UNDERSAMPLING, KN_PAIRS_UNIQUE,
                                           KN_PAIRS_ITERATIONS};
    static const size_t want[] = {1200, 360, 780, 160};
    for (int s = 0; s < 4; s++) {
        size_t n1, n2, n3;
        kn_pair *p1 = make(y, 40, all[s], 2, 0, 7, &n1), *p2 = make(y, 40, all[s], 2, 0, 7, &n2);
        kn_pair *p3 = make(y, 40, all[s], 2, 0, 8, &n3);
        assert_int_equal(n1, want[s]);
        assert_int_equal(n1, n2);
        assert_int_equal(n1, n3);
        assert_memory_equal(p1, p2, n1 * sizeof *p1);
        assert_true(memcmp(p1, p3, n1 * sizeof *p1) != 0);
        assert_int_equal(check_valid(y, 40, p3, n3, all[s] != KN_PAIRS_ITERATIONS), s == 2 ? 180 : want[s] / 2);
        free(p1);
        free(p2);
        free(p3);
    }
}

static void expect_error(const int32_t *y, size_t n, kn_pair_strategy s, int iters, const char *needle)
{
    kn_pair *p = (kn_pair *)1;
    size_t np = 99;
    kn_error err = {{0}};
    if (kn_make_pairs(y, n, s, iters, 0, 1, &p, &np, &err) == 0) fail_msg("accepted (expected '%s')", needle);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
    assert_null(p);
    assert_int_equal(np, 0);
}

static void test_errors(void **state)
{
    (void)state;
    static const int32_t one_class[] = {3, 3, 3}, singletons[] = {0, 1, 2};
    expect_error(A, 1, KN_PAIRS_UNIQUE, 0, "at least 2 examples");
    expect_error(A, 0, KN_PAIRS_OVERSAMPLING, 0, "at least 2 examples");
    expect_error(one_class, 3, KN_PAIRS_UNIQUE, 0, "two classes");
    expect_error(singletons, 3, KN_PAIRS_OVERSAMPLING, 0, "no positive pairs");
    expect_error(singletons, 3, KN_PAIRS_UNDERSAMPLING, 0, "no positive pairs");
    expect_error(A, 5, KN_PAIRS_ITERATIONS, 0, "num_iterations");
    expect_error(A, 5, (kn_pair_strategy)17, 0, "unknown strategy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_unique_over_under),
        cmocka_unit_test(test_iterations),
        cmocka_unit_test(test_max_pairs),
        cmocka_unit_test(test_deterministic_per_seed),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
