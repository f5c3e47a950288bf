/* test_kmeans.c - k-means (src/learn/kmeans.c): a hand-computed split, well-separated
 * clusters recovered exactly with their means as centers, determinism for a seed, the
 * errors, and the map's cluster count. */
#include <math.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "learn/kmeans.h"

/* 1-D points 0, 1, 10, 11 into 2 clusters: {0, 1} and {10, 11}, centers 0.5 and 10.5,
 * inertia 4 * 0.25 = 1 (scikit-learn's KMeans gives the same inertia_). */
static void test_hand_computed(void **state)
{
    (void)state;
    const float x[] = {0, 1, 10, 11};
    int labels[4];
    float centers[2];
    double inertia = -1;
    kn_error err;
    assert_int_equal(kn_kmeans(x, 4, 1, 2, 100, 7, labels, centers, &inertia, &err), 0);
    assert_int_equal(labels[0], labels[1]);
    assert_int_equal(labels[2], labels[3]);
    assert_int_not_equal(labels[0], labels[2]);
    assert_float_equal(centers[labels[0]], 0.5, 1e-6);
    assert_float_equal(centers[labels[2]], 10.5, 1e-6);
    assert_float_equal(inertia, 1.0, 1e-9);
}

/* Three tight blobs far apart: every seed must find exactly them. */
static void test_separated_blobs(void **state)
{
    (void)state;
    enum { PER = 50, K = 3, N = PER * K };
    static const float mid[K][2] = {{-20, 0}, {20, 5}, {0, 30}};
    float x[N * 2];
    int truth[N], labels[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        truth[i] = i % K;
        for (int d = 0; d < 2; d++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[2 * i + d] = mid[truth[i]][d] + (float)((double)(s >> 40) / (double)(1u << 24) - 0.5);
        }
    }
    for (uint64_t seed = 1; seed <= 5; seed++) {
        float centers[K * 2];
        double inertia;
        kn_error err;
        assert_int_equal(kn_kmeans(x, N, 2, K, 100, seed, labels, centers, &inertia, &err), 0);
        int map[K] = {-1, -1, -1};
        for (int i = 0; i < N; i++) {
            if (map[truth[i]] < 0) map[truth[i]] = labels[i];
            assert_int_equal(labels[i], map[truth[i]]); /* one cluster per blob */
        }
        assert_true(map[0] != map[1] && map[1] != map[2] && map[0] != map[2]);
        /* Centers are the blobs' means, inertia their scatter (computed here directly). */
        double want_inertia = 0;
        for (int c = 0; c < K; c++) {
            double mx = 0, my = 0;
            for (int i = c; i < N; i += K) mx += x[2 * i], my += x[2 * i + 1];
            mx /= PER, my /= PER;
            assert_float_equal(centers[2 * map[c]], mx, 1e-4);
            assert_float_equal(centers[2 * map[c] + 1], my, 1e-4);
            for (int i = c; i < N; i += K)
                want_inertia += (x[2 * i] - mx) * (x[2 * i] - mx) + (x[2 * i + 1] - my) * (x[2 * i + 1] - my);
        }
        assert_float_equal(inertia, want_inertia, 1e-3);
    }
}

/* The same seed gives the same labels; every label is in [0, k). */
static void test_deterministic(void **state)
{
    (void)state;
    enum { N = 300 };
    float x[N * 2];
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)sin(i * 0.37) * 5.0f;
        x[2 * i + 1] = (float)cos(i * 0.11) * 3.0f;
    }
    int a[N], b[N];
    kn_error err;
    assert_int_equal(kn_kmeans(x, N, 2, 9, 100, 42, a, NULL, NULL, &err), 0);
    assert_int_equal(kn_kmeans(x, N, 2, 9, 100, 42, b, NULL, NULL, &err), 0);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < N; i++) assert_true(a[i] >= 0 && a[i] < 9);
}

/* Identical points: k clusters still come out (no crash, labels in range). */
static void test_duplicates(void **state)
{
    (void)state;
    float x[10] = {0};
    int labels[5];
    kn_error err;
    assert_int_equal(kn_kmeans(x, 5, 2, 3, 50, 1, labels, NULL, NULL, &err), 0);
    for (int i = 0; i < 5; i++) assert_true(labels[i] >= 0 && labels[i] < 3);
}

static void test_errors(void **state)
{
    (void)state;
    float x[6] = {0, 1, 2, 3, 4, 5};
    int labels[3];
    kn_error err;
    assert_int_equal(kn_kmeans(x, 3, 2, 4, 10, 1, labels, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "4 clusters for 3 points"));
    assert_int_equal(kn_kmeans(x, 3, 2, 0, 10, 1, labels, NULL, NULL, &err), -1);
    x[3] = NAN;
    assert_int_equal(kn_kmeans(x, 3, 2, 2, 10, 1, labels, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "point 1"));
}

/* clamp(round(sqrt(n / 4)), 2, 40), at most n. */
static void test_cluster_count(void **state)
{
    (void)state;
    assert_int_equal(kn_map_cluster_count(0), 0);
    assert_int_equal(kn_map_cluster_count(1), 1);
    assert_int_equal(kn_map_cluster_count(2), 2);
    assert_int_equal(kn_map_cluster_count(48), 3);     /* sqrt(12) = 3.46 */
    assert_int_equal(kn_map_cluster_count(100), 5);
    assert_int_equal(kn_map_cluster_count(4000), 32);  /* sqrt(1000) = 31.6 */
    assert_int_equal(kn_map_cluster_count(20000), 40); /* sqrt(5000) = 70.7, capped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed), cmocka_unit_test(test_separated_blobs),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_cluster_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
