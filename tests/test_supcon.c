/* test_supcon.c - the supervised contrastive loss and its gradient (src/learn/supcon.c).
 * Always: a loss worked out by hand, the "no positives" cases (0 and a zeroed gradient),
 * invariances that follow from normalising rows, and central finite differences of the
 * loss itself on every entry of two small batches (Richardson-extrapolated, at points
 * where e +- h are exact in float32, so what is left is double rounding).
 * With $KANAVA_SUPCON_REF (tools/torch/check_supcon.sh): PyTorch float64 autograd cases
 * from tools/torch/supcon_reference.py; loss within 1e-6 relative, gradient within 1e-5
 * max-norm relative (max |a - b| / max |b|), over the batch and over each row, so a tiny
 * gradient row is not hidden behind a large one. */
#include "test_util.h"

#include <math.h>

#include "learn/supcon.h"

#define LOSS_TOL 1e-6
#define GRAD_TOL 1e-5

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static float urand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23)) - 1.0);
}

/* cmocka's assert_float_equal rounds to float: this one compares in double. */
#define assert_near(a, b, tol) assert_near_at((a), (b), (tol), #a, __LINE__)
static void assert_near_at(double a, double b, double tol, const char *what, int line)
{
    if (!(fabs(a - b) <= tol)) fail_msg("line %d: %s = %.17g, want %.17g within %g", line, what, a, b, tol);
}

/* max |a - b| / max |b| over n values; when b is all zero, max |a| (an absolute error). */
static double max_rel(const float *a, const double *b, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

static void test_by_hand(void **state)
{
    (void)state;
    /* e0 = e1 = (2, 0), e2 = (0, 0.5), topics 0, 0, 1, tau 1: anchors 0 and 1 each see
     * s = 1 for the positive and 0 for row 2, so l = log(e + 1) - 1; row 2 (no positive)
     * is only a negative. */
    const float e[6] = {2, 0, 2, 0, 0, 0.5f};
    const int32_t labels[3] = {0, 0, 1};
    float de[6];
    double loss = kn_supcon_loss_backward(de, e, labels, 3, 2, 1.0);
    assert_near(loss, log(M_E + 1) - 1, 1e-12);
    /* Row 2 is a negative of both anchors: its gradient points away from them (z2 moves
     * toward -x), and along its own direction it is zero (a norm change does nothing). */
    assert_true(de[4] > 0.01f);
    assert_near(de[5], 0, 1e-7);
    /* The same loss without the gradient, and the temperature enters as s / tau. */
    assert_near(kn_supcon_loss_backward(NULL, e, labels, 3, 2, 1.0), loss, 1e-15);
    assert_near(kn_supcon_loss_backward(NULL, e, labels, 3, 2, 0.5), log(exp(2.0) + 1) - 2, 1e-12);
}

static void test_no_positives(void **state)
{
    (void)state;
    enum { B = 7, D = 5 };
    float e[B * D], de[B * D];
    const int32_t distinct[B] = {3, -1, 0, 9, 1 << 30, 2, 4};
    for (int i = 0; i < B * D; i++) e[i] = urand();
    for (int i = 0; i < B * D; i++) de[i] = 123.0f; /* must be overwritten */
    assert_true(kn_supcon_loss_backward(de, e, distinct, B, D, 0.1) == 0.0);
    for (int i = 0; i < B * D; i++)
        if (de[i] != 0.0f) fail_msg("de[%d] = %g, want 0", i, de[i]);
    /* One row: no other row, so no positive either. */
    for (int i = 0; i < D; i++) de[i] = 123.0f;
    assert_true(kn_supcon_loss_backward(de, e, distinct, 1, D, 0.1) == 0.0);
    for (int i = 0; i < D; i++) assert_true(de[i] == 0.0f);
    /* Two rows of one topic: the positive is the only candidate, l = s - s = 0. */
    const int32_t same[2] = {5, 5};
    assert_near(kn_supcon_loss_backward(de, e, same, 2, D, 0.1), 0, 1e-12);
    for (int i = 0; i < 2 * D; i++) assert_near(de[i], 0, 1e-9);
}

static void test_invariances(void **state)
{
    (void)state;
    enum { B = 9, D = 6 };
    float e[B * D], scaled[B * D], de[B * D], de_scaled[B * D];
    const int32_t labels[B] = {0, 1, 2, 0, 1, 2, 0, 3, 4};
    for (int i = 0; i < B * D; i++) e[i] = urand();
    double loss = kn_supcon_loss_backward(de, e, labels, B, D, 0.2);
    assert_true(loss > 0);
    /* Rows are normalised: scaling row i by c (a power of two, exact) leaves the loss and
     * divides row i's gradient by c; and each row's gradient is orthogonal to the row. */
    memcpy(scaled, e, sizeof e);
    for (int d = 0; d < D; d++) scaled[4 * D + d] *= 8.0f;
    assert_near(kn_supcon_loss_backward(de_scaled, scaled, labels, B, D, 0.2), loss, 1e-13);
    double gmax = 0;
    for (int i = 0; i < B * D; i++) gmax = fmax(gmax, fabs(de[i]));
    for (int i = 0; i < B; i++) {
        double c = i == 4 ? 8.0 : 1.0, dot = 0, norm = 0;
        for (int d = 0; d < D; d++) {
            assert_near(de_scaled[i * D + d] * c, de[i * D + d], 1e-6 * gmax);
            dot += (double)de[i * D + d] * e[i * D + d];
            norm += (double)e[i * D + d] * e[i * D + d];
        }
        assert_near(dot / sqrt(norm), 0, 1e-6 * gmax);
    }
    /* Relabelling topics (another set of values, same partition) changes nothing. */
    int32_t renamed[B];
    for (int i = 0; i < B; i++) renamed[i] = -1000 + 77 * labels[i];
    assert_near(kn_supcon_loss_backward(NULL, e, renamed, B, D, 0.2), loss, 1e-15);
}

/* Every entry of e: the gradient against central differences of the loss. Entries are
 * first rounded to multiples of 2^-12 so e +- h, e +- 2h (h = 2^-10) are exact floats. */
static void check_finite_differences(const char *what, const int32_t *labels, int B, int D, double tau)
{
    float *e = calloc((size_t)B * D, sizeof *e), *de = calloc((size_t)B * D, sizeof *de);
    assert_true(e && de);
    for (int i = 0; i < B * D; i++) e[i] = ldexpf(roundf(ldexpf(urand() * 1.5f, 12)), -12);
    const double h = 0x1p-10;
    assert_true(kn_supcon_loss_backward(de, e, labels, B, D, tau) > 0);
    double gmax = 0, worst = 0;
    for (int i = 0; i < B * D; i++) gmax = fmax(gmax, fabs(de[i]));
    for (int i = 0; i < B * D; i++) {
        const float x = e[i];
        double f[4];
        const double steps[4] = {h, -h, 2 * h, -2 * h};
        for (int k = 0; k < 4; k++) {
            e[i] = (float)(x + steps[k]);
            assert_true((double)e[i] == x + steps[k]);
            f[k] = kn_supcon_loss_backward(NULL, e, labels, B, D, tau);
        }
        e[i] = x;
        double fd = (8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * h);
        double err = fabs(fd - de[i]) / gmax;
        worst = fmax(worst, err);
        if (!(err <= GRAD_TOL))
            fail_msg("%s: d loss / d e[%d][%d] = %.9g, finite difference %.9g", what, i / D, i % D, de[i], fd);
    }
    print_message("finite differences %-8s B %d D %d tau %.2f: max error %.2e of max |grad| %.3g\n", what, B, D,
                  tau, worst, gmax);
    free(e);
    free(de);
}

static void test_finite_differences(void **state)
{
    (void)state;
    const int32_t mixed[6] = {0, 0, 1, 1, 1, 2}; /* row 5 only a negative */
    check_finite_differences("mixed", mixed, 6, 5, 0.1);
    const int32_t same[5] = {7, 7, 7, 7, 7};
    check_finite_differences("same", same, 5, 3, 0.5);
    const int32_t pairs[8] = {0, 1, 2, 3, 3, 2, 1, 0};
    check_finite_differences("pairs", pairs, 8, 4, 0.05);
}

static void test_matches_torch(void **state)
{
    (void)state;
    const char *ref = getenv("KANAVA_SUPCON_REF");
    if (!ref || !*ref) {
        printf("KANAVA_SUPCON_REF unset: torch comparison skipped (tools/torch/check_supcon.sh runs it)\n");
        skip();
    }
    json_t *meta = test_read_json(ref, "meta.json");
    size_t ci, n_cases = 0;
    json_t *c;
    json_array_foreach(json_object_get(meta, "cases"), ci, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        int B = (int)json_integer_value(json_object_get(c, "B")), D = (int)json_integer_value(json_object_get(c, "D"));
        double tau = json_number_value(json_object_get(c, "tau")), want = json_number_value(json_object_get(c, "loss"));
        assert_true(name && B > 0 && D > 0 && tau > 0);
        char file[300];
        size_t n = (size_t)B * D;
        snprintf(file, sizeof file, "%s.e.f32", name);
        float *e = test_read_exact(ref, file, n * sizeof(float));
        snprintf(file, sizeof file, "%s.labels.i32", name);
        int32_t *labels = test_read_exact(ref, file, (size_t)B * sizeof(int32_t));
        snprintf(file, sizeof file, "%s.grad.f64", name);
        double *grad = test_read_exact(ref, file, n * sizeof(double));
        float *de = malloc(n * sizeof *de);
        for (size_t i = 0; i < n; i++) de[i] = NAN;

        double loss = kn_supcon_loss_backward(de, e, labels, B, D, tau);
        double loss_err = fabs(loss - want) / fmax(fabs(want), 1e-6);
        double grad_err = max_rel(de, grad, n), row_err = 0;
        for (int i = 0; i < B; i++) row_err = fmax(row_err, max_rel(de + (size_t)i * D, grad + (size_t)i * D, (size_t)D));
        printf("case %-13s B %3d D %3d tau %-5g loss %.10g (torch %.10g, rel %.1e), grad rel %.1e, worst row %.1e\n",
               name, B, D, tau, loss, want, loss_err, grad_err, row_err);
        if (!(loss_err <= LOSS_TOL)) fail_msg("%s: loss %.12g, torch %.12g", name, loss, want);
        if (!(grad_err <= GRAD_TOL)) fail_msg("%s: gradient max-norm relative error %.3e", name, grad_err);
        if (!(row_err <= GRAD_TOL)) fail_msg("%s: a gradient row is off by %.3e (row-relative)", name, row_err);
        free(e);
        free(labels);
        free(grad);
        free(de);
        n_cases++;
    }
    json_decref(meta);
    assert_true(n_cases >= 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_no_positives),
        cmocka_unit_test(test_invariances),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_matches_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
