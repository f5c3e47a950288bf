/* test_adamw.c - AdamW + linear warm-up schedule (src/learn/adamw.c).
 * Always: step 1 and the schedule against values worked out by hand, argument checks.
 * With $KANAVA_ADAMW_REF (tools/torch/check_adamw.sh): every step of torch.optim.AdamW +
 * LambdaLR trajectories within 1e-5 relative (|a - b| / max(|b|, 1e-3), so values that
 * pass near zero are compared absolutely at 1e-8). */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "learn/adamw.h"

static void test_schedule_by_hand(void **state)
{
    (void)state;
    /* lr 1, warm-up 4, total 12: t/4 for t < 4, then (12 - t)/8, never below 0. */
    static const double want[] = {0, 0.25, 0.5, 0.75, 1, 7 / 8.0, 6 / 8.0, 5 / 8.0, 4 / 8.0,
                                  3 / 8.0, 2 / 8.0, 1 / 8.0, 0, 0, 0};
    kn_adamw *o = kn_adamw_new(1.0, 0.9, 0.999, 1e-8, 0.0, 4, 12);
    assert_non_null(o);
    for (size_t t = 0; t < sizeof want / sizeof *want; t++) {
        if (fabs(kn_adamw_lr(o) - want[t]) > 1e-15) fail_msg("step %zu: lr %g, want %g", t, kn_adamw_lr(o), want[t]);
        kn_adamw_step(o); /* no parameters: only the schedule moves */
    }
    kn_adamw_free(o);
    /* No warm-up: starts at the full rate. */
    o = kn_adamw_new(0.5, 0.9, 0.999, 1e-8, 0.0, 0, 2);
    assert_true(kn_adamw_lr(o) == 0.5);
    kn_adamw_step(o);
    assert_true(kn_adamw_lr(o) == 0.25);
    kn_adamw_free(o);
}

static void test_step_one_by_hand(void **state)
{
    (void)state;
    /* lr 0.1, weight decay 0.5, no warm-up. After one step m_hat = g and v_hat = g^2, so the
     * Adam move is lr * g / (|g| + eps) = 0.1 * sign(g) (to 2e-8), after decay scales by
     * 1 - 0.1 * 0.5 = 0.95:
     *   w = 2, g = 0.5   -> 2 * 0.95 - 0.1 = 1.8
     *   w = 1, g = 0     -> 1 * 0.95       = 0.95 (m = 0: decay only)
     *   b = 2, g = -0.5  -> 2 + 0.1        = 2.1  (no decay)
     *   b = -3, g = 4    -> -3 - 0.1       = -3.1 */
    float w[2] = {2, 1}, gw[2] = {0.5f, 0};
    float b[2] = {2, -3}, gb[2] = {-0.5f, 4};
    kn_error err;
    kn_adamw *o = kn_adamw_new(0.1, 0.9, 0.999, 1e-8, 0.5, 0, 10);
    assert_int_equal(kn_adamw_add_param(o, w, gw, 2, 1, &err), 0);
    assert_int_equal(kn_adamw_add_param(o, b, gb, 2, 0, &err), 0);
    kn_adamw_step(o);
    assert_float_equal(w[0], 1.8, 1e-6);
    assert_float_equal(w[1], 0.95, 1e-6);
    assert_float_equal(b[0], 2.1, 1e-6);
    assert_float_equal(b[1], -3.1, 1e-6);
    assert_float_equal(kn_adamw_lr(o), 0.09, 1e-15); /* (10 - 1) / 10 */
    kn_adamw_free(o);

    /* Under warm-up the first step runs at lr 0: nothing moves, not even by decay. */
    float x = 1.5f, gx = 1;
    o = kn_adamw_new(0.1, 0.9, 0.999, 1e-8, 0.5, 2, 10);
    assert_int_equal(kn_adamw_add_param(o, &x, &gx, 1, 1, &err), 0);
    kn_adamw_step(o);
    assert_true(x == 1.5f);
    kn_adamw_step(o); /* lr 0.05; m_hat = v_hat^0.5 = 1 after two equal gradients */
    assert_float_equal(x, 1.5 * (1 - 0.05 * 0.5) - 0.05, 1e-6);
    kn_adamw_free(o);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(kn_adamw_new(-1, 0.9, 0.999, 1e-8, 0, 0, 10));
    assert_null(kn_adamw_new(NAN, 0.9, 0.999, 1e-8, 0, 0, 10));
    assert_null(kn_adamw_new(1e-3, 1.0, 0.999, 1e-8, 0, 0, 10));
    assert_null(kn_adamw_new(1e-3, 0.9, -0.1, 1e-8, 0, 0, 10));
    assert_null(kn_adamw_new(1e-3, 0.9, 0.999, -1, 0, 0, 10));
    assert_null(kn_adamw_new(1e-3, 0.9, 0.999, 1e-8, -1, 0, 10));
    assert_null(kn_adamw_new(1e-3, 0.9, 0.999, 1e-8, 0, 11, 10));
    assert_null(kn_adamw_new(1e-3, 0.9, 0.999, 1e-8, 0, -1, 10));
    assert_null(kn_adamw_new(1e-3, 0.9, 0.999, 1e-8, 0, 0, 0));
    kn_adamw_free(NULL);
    kn_adamw *o = kn_adamw_new(1e-3, 0.9, 0.999, 1e-8, 0, 0, 10);
    float v = 0, g = 0;
    kn_error err = {{0}};
    assert_int_equal(kn_adamw_add_param(o, &v, &g, 0, 1, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(kn_adamw_add_param(o, &v, NULL, 1, 1, &err), -1);
    assert_non_null(strstr(err.msg, "NULL"));
    /* Many parameters: the table grows. */
    float many[40], grads[40] = {0};
    for (int i = 0; i < 40; i++) {
        many[i] = (float)i;
        assert_int_equal(kn_adamw_add_param(o, many + i, grads + i, 1, i & 1, &err), 0);
    }
    kn_adamw_step(o);
    for (int i = 0; i < 40; i++) assert_float_equal(many[i], (float)i, 1e-6 * i); /* zero grads, tiny decay */
    kn_adamw_free(o);
}

static void test_matches_torch(void **state)
{
    (void)state;
    const char *ref = getenv("KANAVA_ADAMW_REF");
    if (!ref || !*ref) {
        printf("KANAVA_ADAMW_REF unset: torch comparison skipped (tools/torch/check_adamw.sh runs it)\n");
        skip();
    }
    char path[4400];
    snprintf(path, sizeof path, "%s/index.json", ref);
    json_t *index = json_load_file(path, 0, NULL);
    if (!index) fail_msg("cannot read %s", path);
    size_t ci, configs = 0;
    json_t *jname;
    json_array_foreach(json_object_get(index, "configs"), ci, jname) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", ref, json_string_value(jname));
        snprintf(path, sizeof path, "%s/meta.json", dir);
        json_t *meta = json_load_file(path, 0, NULL);
        if (!meta) fail_msg("cannot read %s", path);
        json_t *sizes = json_object_get(meta, "sizes"), *decay = json_object_get(meta, "decay");
        json_t *betas = json_object_get(meta, "betas");
        size_t steps = (size_t)json_integer_value(json_object_get(meta, "steps")), total = 0;
        for (size_t k = 0; k < json_array_size(sizes); k++) total += (size_t)json_integer_value(json_array_get(sizes, k));
        float *value = test_read_exact(dir, "init.f32", total * sizeof(float));
        float *grads = test_read_exact(dir, "grads.f32", steps * total * sizeof(float));
        float *want = test_read_exact(dir, "params.f32", steps * total * sizeof(float));
        double *lrs = test_read_exact(dir, "lr.f64", steps * sizeof(double));
        float *grad = malloc(total * sizeof *grad);
        kn_adamw *o = kn_adamw_new(json_number_value(json_object_get(meta, "lr")),
                                   json_number_value(json_array_get(betas, 0)),
                                   json_number_value(json_array_get(betas, 1)),
                                   json_number_value(json_object_get(meta, "eps")),
                                   json_number_value(json_object_get(meta, "weight_decay")),
                                   (long)json_integer_value(json_object_get(meta, "warmup")),
                                   (long)json_integer_value(json_object_get(meta, "total")));
        assert_non_null(o);
        kn_error err;
        size_t off = 0;
        for (size_t k = 0; k < json_array_size(sizes); k++) {
            size_t n = (size_t)json_integer_value(json_array_get(sizes, k));
            int d = (int)json_integer_value(json_array_get(decay, k));
            if (kn_adamw_add_param(o, value + off, grad + off, n, d, &err)) fail_msg("%s", err.msg);
            off += n;
        }
        double worst = 0;
        for (size_t s = 0; s < steps; s++) {
            if (fabs(kn_adamw_lr(o) - lrs[s]) > 1e-12 * fmax(1, fabs(lrs[s])))
                fail_msg("%s step %zu: lr %.17g, torch %.17g", dir, s + 1, kn_adamw_lr(o), lrs[s]);
            memcpy(grad, grads + s * total, total * sizeof *grad);
            kn_adamw_step(o);
            for (size_t i = 0; i < total; i++) {
                double w = want[s * total + i];
                double rel = fabs(value[i] - w) / fmax(fabs(w), 1e-3);
                if (rel > 1e-5) fail_msg("%s step %zu value %zu: %.9g, torch %.9g", dir, s + 1, i, value[i], w);
                worst = fmax(worst, rel);
            }
        }
        printf("config %-9s %zu values, %zu steps: max relative difference %.2e\n", json_string_value(jname), total,
               steps, worst);
        kn_adamw_free(o);
        free(value);
        free(grads);
        free(want);
        free(lrs);
        free(grad);
        json_decref(meta);
        configs++;
    }
    json_decref(index);
    assert_true(configs >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_by_hand),
        cmocka_unit_test(test_step_one_by_hand),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_matches_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
