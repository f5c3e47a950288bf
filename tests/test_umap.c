/* test_umap.c - UMAP (src/learn/umap*.c, knn*.c): input errors, tiny inputs, determinism
 * (per seed and across thread counts), Gaussian blobs in 50-D that must stay apart in 2-D
 * (leave-one-out 10-NN accuracy of the blob labels), the curve fit against scipy's
 * curve_fit, the fast x^y against libm, exact neighbours against a brute-force double-precision search, NN-descent's
 * recall against exact, and the fuzzy graph's symmetry and memberships. */
#include "test_util.h"

#include <math.h>
#include <omp.h>

#include "learn/umap.h"
#include "learn/umap_parts.h"
#include "util/rng.h"

static double gaussian(uint64_t *s)
{
    double u1 = ((double)(kn_splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(kn_splitmix64(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* `blobs` clusters of `per` points in dim dimensions: centres N(0, spread^2), points N(centre, 1). */
static float *make_blobs(int blobs, int per, int dim, double spread, uint64_t seed, int *labels)
{
    float *x = malloc((size_t)blobs * per * dim * sizeof *x);
    double *centre = malloc((size_t)dim * sizeof *centre);
    uint64_t s = seed;
    for (int b = 0; b < blobs; b++) {
        for (int j = 0; j < dim; j++) centre[j] = spread * gaussian(&s);
        for (int p = 0; p < per; p++) {
            size_t i = (size_t)b * per + p;
            if (labels) labels[i] = b;
            for (int j = 0; j < dim; j++) x[i * dim + j] = (float)(centre[j] + gaussian(&s));
        }
    }
    free(centre);
    return x;
}

static void assert_layout_ok(const float *xy, size_t n)
{
    double extent = 0.0, mx = 0.0, my = 0.0;
    for (size_t i = 0; i < 2 * n; i++) {
        if (!isfinite(xy[i])) fail_msg("coordinate %zu is not finite", i);
        extent = fmax(extent, fabs(xy[i]));
    }
    for (size_t i = 0; i < n; i++) mx += xy[2 * i], my += xy[2 * i + 1];
    assert_true(extent <= 10.0 + 1e-4);
    assert_true(fabs(mx / n) < 1e-3 && fabs(my / n) < 1e-3); /* centred */
}

static kn_umap_options opts(int epochs)
{
    kn_umap_options o;
    kn_umap_default_options(&o);
    o.n_epochs = epochs;
    return o;
}

static void test_defaults(void **state)
{
    (void)state;
    kn_umap_options o;
    kn_umap_default_options(&o);
    assert_int_equal(o.n_neighbors, 15);
    assert_true(o.min_dist == 0.1f);
    assert_int_equal(o.n_epochs, 0);
    assert_true(o.seed == 42);
}

static void expect_error(const float *x, size_t n, int dim, const kn_umap_options *o, const char *needle)
{
    float out[64];
    kn_error err = {{0}};
    assert_int_equal(kn_umap(x, n, dim, o, out, NULL, NULL, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_bad_input(void **state)
{
    (void)state;
    float x[20] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 3, 5, 7, 9, 2, 4, 6, 8, 0};
    kn_umap_options o = opts(10);
    expect_error(x, 1, 4, &o, "at least 2 rows");
    expect_error(x, 0, 4, &o, "at least 2 rows");
    expect_error(x, 5, 0, &o, "dimension");
    expect_error(NULL, 5, 4, &o, "no input");
    float bad[20];
    memcpy(bad, x, sizeof bad);
    bad[13] = NAN;
    expect_error(bad, 5, 4, &o, "row 3, column 1");
    bad[13] = INFINITY;
    expect_error(bad, 5, 4, &o, "row 3, column 1");
    kn_umap_options b = o;
    b.n_neighbors = 1;
    expect_error(x, 5, 4, &b, "n_neighbors");
    b = o;
    b.min_dist = -0.5f;
    expect_error(x, 5, 4, &b, "min_dist");
    b.min_dist = NAN;
    expect_error(x, 5, 4, &b, "min_dist");
    b = o;
    b.n_epochs = -1;
    expect_error(x, 5, 4, &b, "n_epochs");
}

static void test_tiny(void **state)
{
    (void)state;
    float x[5 * 3] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 5, 1, -3, 2, 2};
    for (size_t n = 2; n <= 5; n++) {
        float xy[10];
        kn_error err;
        kn_umap_options o = opts(0);
        assert_int_equal(kn_umap(x, n, 3, &o, xy, NULL, NULL, &err), 0);
        assert_layout_ok(xy, n);
        /* Distinct inputs stay distinct, and the largest coordinate is scaled to 10. */
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                assert_true(fabsf(xy[2 * i] - xy[2 * j]) + fabsf(xy[2 * i + 1] - xy[2 * j + 1]) > 1e-3f);
        double extent = 0.0;
        for (size_t i = 0; i < 2 * n; i++) extent = fmax(extent, fabs(xy[i]));
        assert_true(fabs(extent - 10.0) < 1e-4);
    }
}

static void test_degenerate(void **state)
{
    (void)state;
    /* Every row equal, and one-dimensional input: finite output, no failure. */
    float same[40 * 4], line[40], xy[80];
    for (int i = 0; i < 160; i++) same[i] = 0.25f;
    for (int i = 0; i < 40; i++) line[i] = (float)(i % 7);
    kn_error err;
    kn_umap_options o = opts(50);
    assert_int_equal(kn_umap(same, 40, 4, &o, xy, NULL, NULL, &err), 0);
    assert_layout_ok(xy, 40);
    assert_int_equal(kn_umap(line, 40, 1, &o, xy, NULL, NULL, &err), 0);
    assert_layout_ok(xy, 40);
}

/* Leave-one-out majority label among the k nearest others in 2-D. */
static double knn_accuracy_2d(const float *xy, const int *labels, size_t n, int k, int n_labels)
{
    int *idx = malloc(n * k * sizeof *idx);
    float *dist = malloc(n * k * sizeof *dist);
    kn_error err;
    if (kn_knn_exact(xy, n, 2, k, idx, dist, NULL, NULL, &err) != 0) fail_msg("%s", err.msg);
    size_t hits = 0;
    int *votes = calloc((size_t)n_labels, sizeof *votes);
    for (size_t i = 0; i < n; i++) {
        memset(votes, 0, (size_t)n_labels * sizeof *votes);
        for (int j = 0; j < k; j++) votes[labels[idx[i * k + j]]]++;
        int best = 0;
        for (int l = 1; l < n_labels; l++)
            if (votes[l] > votes[best]) best = l;
        hits += best == labels[i];
    }
    free(votes), free(idx), free(dist);
    return (double)hits / n;
}

static void test_blobs_stay_apart(void **state)
{
    (void)state;
    enum { BLOBS = 6, PER = 60, DIM = 50 };
    int labels[BLOBS * PER];
    float *x = make_blobs(BLOBS, PER, DIM, 3.0, 7, labels), xy[2 * BLOBS * PER];
    kn_error err;
    kn_umap_options o = opts(0);
    double t0 = kn_now();
    assert_int_equal(kn_umap(x, BLOBS * PER, DIM, &o, xy, NULL, NULL, &err), 0);
    assert_layout_ok(xy, BLOBS * PER);
    double acc = knn_accuracy_2d(xy, labels, BLOBS * PER, 10, BLOBS);
    printf("blobs: 10-NN label accuracy in 2-D %.4f (%.2f s)\n", acc, kn_now() - t0);
    assert_true(acc >= 0.95);
    free(x);
}

static int progress_calls;
static size_t progress_last, progress_total;
static void record_progress(void *ctx, size_t done, size_t total)
{
    (void)ctx;
    if (done < progress_last || done > total) fail_msg("progress went from %zu to %zu of %zu", progress_last, done, total);
    if (progress_total && total != progress_total) fail_msg("progress total changed from %zu to %zu", progress_total, total);
    progress_last = done;
    progress_total = total;
    progress_calls++;
}

static void test_deterministic(void **state)
{
    (void)state;
    /* Above the size where the epochs run on several threads. */
    enum { N = 2500, DIM = 16 };
    float *x = make_blobs(5, N / 5, DIM, 2.0, 11, NULL);
    float *a = malloc(4 * 2 * N * sizeof *a), *b = a + 2 * N, *c = b + 2 * N, *d = c + 2 * N;
    kn_error err;
    kn_umap_options o = opts(40);
    int threads = omp_get_max_threads();
    omp_set_num_threads(2);
    progress_calls = 0;
    progress_last = progress_total = 0;
    assert_int_equal(kn_umap(x, N, DIM, &o, a, record_progress, NULL, &err), 0);
    assert_true(progress_calls >= 40);
    assert_true(progress_total > 0);
    assert_int_equal(progress_last, progress_total); /* ends full */
    assert_int_equal(kn_umap(x, N, DIM, &o, b, NULL, NULL, &err), 0);
    assert_memory_equal(a, b, 2 * N * sizeof *a);
    /* The same on one thread: each point's moves depend only on the epoch's start. */
    omp_set_num_threads(1);
    assert_int_equal(kn_umap(x, N, DIM, &o, c, NULL, NULL, &err), 0);
    omp_set_num_threads(threads);
    assert_memory_equal(a, c, 2 * N * sizeof *a);
    o.seed = 43;
    assert_int_equal(kn_umap(x, N, DIM, &o, d, NULL, NULL, &err), 0);
    assert_memory_not_equal(a, d, 2 * N * sizeof *a);
    free(a);
    free(x);
}

/* scipy.optimize.curve_fit of 1 / (1 + a x^(2b)) on the same 300 points (scipy 1.10). */
static void test_curve_fit(void **state)
{
    (void)state;
    static const struct {
        float min_dist;
        double a, b;
    } ref[] = {{0.1f, 1.57694346, 0.89506088}, {0.0f, 1.9328084, 0.79049497}, {0.5f, 0.58303002, 1.33416699},
               {0.001f, 1.9290734, 0.79150453}, {1.0f, 0.11497568, 1.92923715}};
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        float a, b;
        kn_umap_fit_ab(ref[i].min_dist, 1.0f, &a, &b);
        if (fabs(a - ref[i].a) > 1e-4 * ref[i].a || fabs(b - ref[i].b) > 1e-4 * ref[i].b)
            fail_msg("min_dist %g: a %g b %g, scipy %g %g", (double)ref[i].min_dist, (double)a, (double)b, ref[i].a, ref[i].b);
    }
}

/* The polynomial x^y of the layout optimisation against libm's pow in double. */
static void test_fast_powf(void **state)
{
    (void)state;
    static const float ys[] = {0.7904950f, 0.8950609f, 1.3341670f, 1.9292372f};
    for (size_t j = 0; j < sizeof ys / sizeof ys[0]; j++)
        for (double lx = -12.0; lx <= 12.0; lx += 0.001) {
            float x = (float)pow(10.0, lx);
            double want = pow((double)x, (double)ys[j]), got = kn_umap_fast_powf(x, ys[j]);
            if (fabs(got - want) > 5e-5 * want) fail_msg("%g^%g: %.9g, pow %.9g", (double)x, (double)ys[j], got, want);
        }
}

static void test_knn_exact(void **state)
{
    (void)state;
    enum { N = 300, DIM = 24, K = 7 };
    float *x = make_blobs(3, N / 3, DIM, 1.5, 5, NULL);
    int32_t idx[N * K];
    float dist[N * K];
    kn_error err;
    assert_int_equal(kn_knn_exact(x, N, DIM, K, idx, dist, NULL, NULL, &err), 0);
    /* Brute force in double: every row's K nearest others, compared as distance sets. */
    for (size_t i = 0; i < N; i++) {
        double ref[N];
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int t = 0; t < DIM; t++) s += ((double)x[i * DIM + t] - x[j * DIM + t]) * ((double)x[i * DIM + t] - x[j * DIM + t]);
            ref[j] = j == i ? INFINITY : sqrt(s);
        }
        for (int r = 0; r < K; r++) {
            size_t best = 0;
            for (size_t j = 1; j < N; j++)
                if (ref[j] < ref[best]) best = j;
            if (fabs(dist[i * K + r] - ref[best]) > 1e-3 * (1.0 + ref[best]))
                fail_msg("row %zu rank %d: distance %g, brute force %g", i, r, (double)dist[i * K + r], ref[best]);
            if ((size_t)idx[i * K + r] != best && fabs(ref[idx[i * K + r]] - ref[best]) > 1e-4)
                fail_msg("row %zu rank %d: index %d, brute force %zu", i, r, idx[i * K + r], best);
            ref[best] = INFINITY;
        }
    }
    assert_int_equal(kn_knn_exact(x, N, DIM, N, idx, dist, NULL, NULL, &err), -1);
    free(x);
}

static void test_knn_descent_recall(void **state)
{
    (void)state;
    enum { N = 3000, DIM = 32, K = 14 };
    float *x = make_blobs(30, N / 30, DIM, 1.0, 9, NULL);
    int32_t *ei = malloc(N * K * sizeof *ei), *ai = malloc(N * K * sizeof *ai), *bi = malloc(N * K * sizeof *bi);
    float *ed = malloc(N * K * sizeof *ed), *ad = malloc(N * K * sizeof *ad), *bd = malloc(N * K * sizeof *bd);
    kn_error err;
    assert_int_equal(kn_knn_exact(x, N, DIM, K, ei, ed, NULL, NULL, &err), 0);
    double t0 = kn_now();
    assert_int_equal(kn_knn_descent(x, N, DIM, K, ai, ad, 42, NULL, NULL, &err), 0);
    double secs = kn_now() - t0;
    /* Deterministic, and the same on one thread. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(kn_knn_descent(x, N, DIM, K, bi, bd, 42, NULL, NULL, &err), 0);
    omp_set_num_threads(threads);
    assert_memory_equal(ai, bi, N * K * sizeof *ai);
    assert_memory_equal(ad, bd, N * K * sizeof *ad);
    size_t found = 0;
    for (size_t i = 0; i < N; i++) {
        for (int r = 1; r < K; r++) assert_true(ad[i * K + r - 1] <= ad[i * K + r]);
        for (int r = 0; r < K; r++) {
            assert_true((size_t)ai[i * K + r] != i);
            for (int s = 0; s < K; s++) found += ai[i * K + r] == ei[i * K + s];
        }
    }
    double recall = (double)found / (N * K);
    printf("nn-descent: recall %.4f against exact (%.2f s)\n", recall, secs);
    assert_true(recall >= 0.9);
    free(x), free(ei), free(ai), free(bi), free(ed), free(ad), free(bd);
}

/* Equal rows give the trees no hyperplane to split on: still k distinct others at 0. */
static void test_knn_descent_equal_rows(void **state)
{
    (void)state;
    enum { N = 600, DIM = 4, K = 9 };
    float *x = malloc(N * DIM * sizeof *x);
    for (int i = 0; i < N * DIM; i++) x[i] = (float)(i % DIM);
    int32_t idx[N * K];
    float dist[N * K];
    kn_error err;
    assert_int_equal(kn_knn_descent(x, N, DIM, K, idx, dist, 1, NULL, NULL, &err), 0);
    for (size_t i = 0; i < N; i++)
        for (int r = 0; r < K; r++) {
            assert_true(dist[i * K + r] == 0.0f && (size_t)idx[i * K + r] != i);
            for (int s = 0; s < r; s++) assert_true(idx[i * K + s] != idx[i * K + r]);
        }
    free(x);
}

static void test_fuzzy_graph(void **state)
{
    (void)state;
    enum { N = 120, DIM = 8, K = 6 };
    float *x = make_blobs(2, N / 2, DIM, 2.0, 3, NULL);
    int32_t idx[N * K];
    float dist[N * K];
    kn_error err;
    kn_umap_graph g;
    assert_int_equal(kn_knn_exact(x, N, DIM, K, idx, dist, NULL, NULL, &err), 0);
    assert_int_equal(kn_umap_fuzzy_graph(idx, dist, N, K, &g, &err), 0);
    for (size_t i = 0; i < N; i++) {
        assert_true(g.rowptr[i + 1] - g.rowptr[i] >= K);
        for (size_t e = g.rowptr[i]; e < g.rowptr[i + 1]; e++) {
            size_t j = (size_t)g.col[e];
            assert_true(j != i && g.w[e] > 0.0f && g.w[e] <= 1.0f);
            if (e > g.rowptr[i]) assert_true(g.col[e - 1] < g.col[e]);
            int back = 0;
            for (size_t f = g.rowptr[j]; f < g.rowptr[j + 1]; f++)
                if ((size_t)g.col[f] == i) back = g.w[f] == g.w[e];
            if (!back) fail_msg("edge %zu-%zu has no equal reverse edge", i, j);
        }
        /* The nearest neighbour is fully a member (distance = rho). */
        for (size_t e = g.rowptr[i]; e < g.rowptr[i + 1]; e++)
            if (g.col[e] == idx[i * K]) assert_true(g.w[e] == 1.0f);
    }
    kn_umap_graph_free(&g);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_tiny),            cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_blobs_stay_apart), cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_curve_fit),       cmocka_unit_test(test_fast_powf),
        cmocka_unit_test(test_knn_exact),
        cmocka_unit_test(test_knn_descent_recall), cmocka_unit_test(test_knn_descent_equal_rows),
        cmocka_unit_test(test_fuzzy_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
