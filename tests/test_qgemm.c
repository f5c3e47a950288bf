/* test_qgemm.c - the int8 kernels against a plain C triple loop, bit for bit, on shapes
 * with every kind of tail, on the extreme values (where a careless AVX2 kernel saturates),
 * and the quantised linear layer against the float product within its error bound. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "model/qgemm.h"
#include "util/rng.h"

static int8_t rand_q(uint64_t *s)
{
    return (int8_t)((int)(kn_splitmix64(s) % 255) - 127);
}

/* acc = x @ w in int64 (no overflow possible), the independent reference. */
static void reference(int64_t *acc, const int8_t *x, const int8_t *w, int M, int K, int N)
{
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            int64_t s = 0;
            for (int k = 0; k < K; k++) s += (int64_t)x[i * K + k] * w[k * N + n];
            acc[i * N + n] = s;
        }
}

static void check_shape(int M, int K, int N, int extreme)
{
    uint64_t seed = (uint64_t)(M * 1000003 + K * 1009 + N);
    int8_t *w = malloc((size_t)K * N), *x = malloc((size_t)M * K);
    float *scale = malloc((size_t)N * sizeof *scale);
    for (int i = 0; i < K * N; i++) w[i] = extreme ? (i % 3 ? -127 : 127) : rand_q(&seed);
    for (int i = 0; i < M * K; i++) x[i] = extreme ? (i % 2 ? -127 : 127) : rand_q(&seed);
    if (extreme) /* all the same sign in one row too: the largest pair sums */
        for (int k = 0; k < K; k++) x[k] = -127, w[k * N] = -127;
    for (int n = 0; n < N; n++) scale[n] = 1.0f;
    kn_q8_matrix m;
    assert_int_equal(kn_q8_pack(&m, w, scale, K, N), 0);
    /* Activations as the kernels take them: rows of Kp bytes, zero-padded. */
    int8_t *xq = calloc((size_t)M * m.Kp, 1);
    for (int i = 0; i < M; i++) memcpy(xq + (size_t)i * m.Kp, x + (size_t)i * K, (size_t)K);
    int64_t *want = malloc((size_t)M * N * sizeof *want);
    int32_t *got = malloc((size_t)M * N * sizeof *got);
    reference(want, x, w, M, K, N);
    for (int k = KN_Q8_PORTABLE; k <= KN_Q8_VNNI; k++) {
        if (!kn_q8_kernel_available((kn_q8_kernel)k)) {
            print_message("kernel %s not available on this CPU, skipped\n", kn_q8_kernel_name((kn_q8_kernel)k));
            continue;
        }
        memset(got, 0x55, (size_t)M * N * sizeof *got);
        assert_int_equal(kn_q8_gemm_s32(got, N, xq, &m, M, (kn_q8_kernel)k), 0);
        for (int i = 0; i < M * N; i++)
            if (got[i] != want[i])
                fail_msg("kernel %s, M=%d K=%d N=%d: element (%d, %d) is %d, expected %lld",
                         kn_q8_kernel_name((kn_q8_kernel)k), M, K, N, i / N, i % N, got[i], (long long)want[i]);
    }
    kn_q8_free(&m);
    free(w), free(x), free(scale), free(xq), free(want), free(got);
}

static void test_kernels_bit_exact(void **state)
{
    (void)state;
    static const int Ms[] = {1, 2, 3, 4, 5, 7, 13, 97, 200};
    static const int Ks[] = {1, 3, 4, 5, 37, 256, 384};
    static const int Ns[] = {1, 15, 16, 17, 63, 64, 65, 100};
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ks / sizeof *Ks; b++)
            for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++) check_shape(Ms[a], Ks[b], Ns[c], 0);
    /* The shapes of the real models. */
    check_shape(16, 384, 1152, 0);
    check_shape(40, 1536, 384, 0);
    check_shape(33, 512, 1536, 0);
}

static void test_kernels_extreme_values(void **state)
{
    (void)state;
    check_shape(5, 1536, 33, 1);
    check_shape(9, 4, 16, 1);
}

static void test_quantize_rows(void **state)
{
    (void)state;
    float x[2][5] = {{0.5f, -1.0f, 0.25f, 0.0f, 1.0f / 127.0f}, {0, 0, 0, 0, 0}};
    int8_t q[2][8];
    float s[2];
    memset(q, 0x7f, sizeof q);
    kn_q8_quantize_rows(&x[0][0], 2, 5, &q[0][0], 8, s);
    assert_float_equal(s[0], 1.0f / 127.0f, 1e-9);
    int8_t want0[8] = {64 /* 63.5 rounds to even */, -127, 32 /* 31.75 */, 0, 1, 0, 0, 0};
    assert_memory_equal(q[0], want0, 8);
    assert_float_equal(s[1], 1.0f, 0);
    for (int k = 0; k < 8; k++) assert_int_equal(q[1][k], 0);

    float w[4] = {0.2f, -0.4f, 0.0f, 0.1f};
    int8_t qw[4];
    float sc = kn_q8_quantize_channel(w, 1, 4, qw, 1);
    assert_float_equal(sc, 0.4f / 127.0f, 1e-9);
    assert_int_equal(qw[1], -127);
    assert_int_equal(qw[0], 64); /* 63.5 -> 64 (even) */
    assert_int_equal(qw[3], 32); /* 31.75 */
}

/* y = x @ W + b through quantisation stays within the bound the two roundings allow:
 * |error| <= sum_k (|x_k| e_w + |w_k| e_x + e_x e_w) with e = scale / 2 per side. */
static void test_linear_error_bound(void **state)
{
    (void)state;
    enum { M = 7, K = 300, N = 45 };
    uint64_t seed = 7;
    float *x = malloc(M * K * sizeof *x), *w = malloc(K * N * sizeof *w), b[N], *y = malloc(M * N * sizeof *y);
    for (int i = 0; i < M * K; i++) x[i] = (float)((double)(kn_splitmix64(&seed) % 20001) / 10000.0 - 1.0);
    for (int i = 0; i < K * N; i++) w[i] = (float)((double)(kn_splitmix64(&seed) % 20001) / 40000.0 - 0.25);
    for (int n = 0; n < N; n++) b[n] = (float)n / 10.0f;
    int8_t *q = malloc(K * N);
    float scale[N];
    for (int n = 0; n < N; n++) scale[n] = kn_q8_quantize_channel(w + n, N, K, q + n, N);
    kn_q8_matrix m;
    assert_int_equal(kn_q8_pack(&m, q, scale, K, N), 0);
    assert_int_equal(kn_q8_linear(y, x, &m, b, M), 0);
    double worst = 0;
    for (int i = 0; i < M; i++) {
        float amax = 0;
        for (int k = 0; k < K; k++) amax = fmaxf(amax, fabsf(x[i * K + k]));
        double ex = amax / 127.0 / 2;
        for (int n = 0; n < N; n++) {
            double exact = b[n], bound = 1e-4;
            for (int k = 0; k < K; k++) {
                exact += (double)x[i * K + k] * w[k * N + n];
                bound += fabs(x[i * K + k]) * scale[n] / 2 + fabs(w[k * N + n]) * ex + ex * scale[n] / 2;
            }
            double e = fabs(y[i * N + n] - exact);
            if (e > bound) fail_msg("y(%d, %d) = %g, exact %g: error %g over the bound %g", i, n, y[i * N + n], exact, e, bound);
            if (e > worst) worst = e;
        }
    }
    print_message("quantised linear: max abs error %.3g\n", worst);
    assert_true(worst > 0); /* it really went through int8 */
    /* Every kernel's float output (its own dequantising epilogue) equals the portable one's
     * up to the rounding of one multiply-add. */
    float *ref = malloc(M * N * sizeof *ref), *other = malloc(M * N * sizeof *other);
    assert_int_equal(kn_q8_linear_with(ref, x, &m, b, M, KN_Q8_PORTABLE), 0);
    for (int k = KN_Q8_AVX2; k <= KN_Q8_VNNI; k++) {
        if (!kn_q8_kernel_available((kn_q8_kernel)k)) continue;
        assert_int_equal(kn_q8_linear_with(other, x, &m, b, M, (kn_q8_kernel)k), 0);
        for (int i = 0; i < M * N; i++)
            if (fabsf(other[i] - ref[i]) > 1e-5f * (1.0f + fabsf(ref[i])))
                fail_msg("kernel %s: y[%d] = %.9g, portable %.9g", kn_q8_kernel_name((kn_q8_kernel)k), i, other[i], ref[i]);
    }
    free(ref), free(other);
    kn_q8_free(&m);
    free(x), free(w), free(y), free(q);
}

int main(void)
{
    print_message("int8 kernel in use: %s\n", kn_q8_kernel_name(kn_q8_best_kernel()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_bit_exact),
        cmocka_unit_test(test_kernels_extreme_values),
        cmocka_unit_test(test_quantize_rows),
        cmocka_unit_test(test_linear_error_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
