/* test_use_lite_grad.c - src/model/use_lite_train.c: the USE-lite training forward and
 * backward under SetFit's CosineSimilarityLoss, three ways:
 *  1. the training forward equals the inference encoder's output (1e-5) on the same ids;
 *  2. every parameter gradient against PyTorch autograd in float64
 *     (tools/torch/use_lite_grad_reference.py writes them into $KANAVA_USE_GRAD_REF;
 *     tools/torch/check_use_lite_grad.sh does both): max|a-b| / max|b| <= 1e-3 per tensor,
 *     the loss within 1e-5;
 *  3. central finite differences of the loss (double) on a few entries of different tensors.
 * Needs $KANAVA_MODELS/use-lite and $KANAVA_USE_GRAD_REF; skips without them. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
#include <time.h>

#include "model/backward.h"
#include "model/encoder.h"
#include "model/use_lite_train.h"

#define GRAD_TOL 1e-3
#define LOSS_TOL 1e-5
#define OUT_TOL 1e-5
#define MAX_P 64
/* The forward is float32: the loss carries ~1e-8 of rounding, which h = 2^-9 turns into a
 * few 1e-3 of the probed gradients; FD_TOL still catches any wrong factor or sign. */
#define FD_TOL 2e-2

typedef struct {
    const char *model_dir, *ref;
    json_t *meta;
    size_t n_texts, pairs;
    kn_token_seq *seqs;
    float *labels;
} fixture;

static fixture F;

static void read_file_f32(const char *name, float *buf, long n)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", F.ref, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    size_t got = fread(buf, sizeof *buf, (size_t)n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != (size_t)n || extra) fail_msg("%s: expected %ld floats", path, n);
}

static int setup(void **state)
{
    (void)state;
    F.model_dir = test_use_lite_dir();
    F.ref = getenv("KANAVA_USE_GRAD_REF");
    if (!F.model_dir || !F.ref || !*F.ref) return 0;
    char path[4400];
    snprintf(path, sizeof path, "%s/meta.json", F.ref);
    json_error_t jerr;
    F.meta = json_load_file(path, 0, &jerr);
    if (!F.meta) {
        print_error("%s: %s\n", path, jerr.text);
        return -1;
    }
    json_t *ids = json_object_get(F.meta, "ids"), *labels = json_object_get(F.meta, "labels");
    F.n_texts = json_array_size(ids);
    F.pairs = json_array_size(labels);
    if (F.n_texts != 2 * F.pairs || F.pairs == 0) {
        print_error("%s: expects 2 texts per label\n", path);
        return -1;
    }
    F.seqs = calloc(F.n_texts, sizeof *F.seqs);
    F.labels = calloc(F.pairs, sizeof *F.labels);
    for (size_t i = 0; i < F.n_texts; i++) {
        json_t *a = json_array_get(ids, i);
        F.seqs[i].n = json_array_size(a);
        F.seqs[i].ids = calloc(F.seqs[i].n + 1, sizeof(int32_t));
        for (size_t j = 0; j < F.seqs[i].n; j++) F.seqs[i].ids[j] = (int32_t)json_integer_value(json_array_get(a, j));
    }
    for (size_t i = 0; i < F.pairs; i++) F.labels[i] = (float)json_number_value(json_array_get(labels, i));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < F.n_texts && F.seqs; i++) free(F.seqs[i].ids);
    free(F.seqs);
    free(F.labels);
    json_decref(F.meta);
    return 0;
}

static int enabled(void)
{
    if (F.meta) return 1;
    print_message("skipped: needs KANAVA_MODELS (with use-lite) and KANAVA_USE_GRAD_REF "
                  "(tools/torch/check_use_lite_grad.sh)\n");
    skip();
    return 0;
}

static kn_use_train *open_train(void)
{
    kn_error err;
    kn_use_train *t = kn_use_train_new(F.model_dir, &err);
    if (!t) fail_msg("kn_use_train_new: %s", err.msg);
    return t;
}

/* Forward of n texts laid out as pairs (u rows then v rows); returns the loss and, when
 * backward is set, runs the whole backward into the accumulated gradients. */
static double loss_step(kn_use_train *t, const kn_token_seq *seqs, const float *labels, size_t pairs, int backward)
{
    kn_error err;
    int dim = kn_use_train_dim(t);
    size_t n = 2 * pairs;
    float *out = malloc(n * dim * sizeof *out), *dout = malloc(n * dim * sizeof *dout);
    if (kn_use_train_forward(t, seqs, n, out, &err) != 0) fail_msg("forward: %s", err.msg);
    double loss = kn_cosine_loss_backward(backward ? dout : NULL, backward ? dout + pairs * dim : NULL, out,
                                          out + pairs * dim, labels, (int)pairs, dim);
    if (backward && kn_use_train_backward(t, dout, &err) != 0) fail_msg("backward: %s", err.msg);
    free(out);
    free(dout);
    return loss;
}

static double rel_err(const float *a, const float *b, long n)
{
    double diff = 0.0, scale = 1e-12;
    for (long i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

static void test_forward_matches_encoder(void **state)
{
    (void)state;
    if (!enabled()) return;
    kn_error err;
    kn_encoder *enc = kn_encoder_open(F.model_dir, &err);
    if (!enc) fail_msg("kn_encoder_open: %s", err.msg);
    kn_use_train *t = open_train();
    assert_int_equal(kn_use_train_dim(t), enc->dim);
    /* The reference's ids are the encoder's (Python and C tokenizers agree). */
    json_t *texts = json_object_get(F.meta, "texts");
    for (size_t i = 0; i < F.n_texts; i++) {
        const char *s = json_string_value(json_array_get(texts, i));
        kn_token_seq a, b;
        if (enc->ops->tokenize(enc, s, strlen(s), &a, &err) != 0) fail_msg("tokenize: %s", err.msg);
        if (kn_use_train_tokenize(t, s, strlen(s), &b, &err) != 0) fail_msg("tokenize: %s", err.msg);
        assert_int_equal(a.n, F.seqs[i].n);
        assert_int_equal(b.n, F.seqs[i].n);
        for (size_t j = 0; j < a.n; j++) {
            assert_int_equal(a.ids[j], F.seqs[i].ids[j]);
            assert_int_equal(b.ids[j], F.seqs[i].ids[j]);
        }
        free(a.ids);
        free(b.ids);
    }
    size_t n = F.n_texts;
    int dim = enc->dim;
    float *want = malloc(n * dim * sizeof *want), *got = malloc(n * dim * sizeof *got);
    float *ref = malloc(n * dim * sizeof *ref);
    if (enc->ops->forward(enc, F.seqs, n, want, &err) != 0) fail_msg("encoder forward: %s", err.msg);
    if (kn_use_train_forward(t, F.seqs, n, got, &err) != 0) fail_msg("train forward: %s", err.msg);
    double d = 0.0;
    for (size_t i = 0; i < n * dim; i++) d = fmax(d, fabs((double)got[i] - want[i]));
    read_file_f32("outputs.f32", ref, (long)(n * dim));
    double dr = 0.0;
    for (size_t i = 0; i < n * dim; i++) dr = fmax(dr, fabs((double)got[i] - ref[i]));
    print_message("train forward vs encoder: max abs diff %.2e; vs torch float64 %.2e\n", d, dr);
    assert_true(d <= OUT_TOL);
    assert_true(dr <= 1e-4);
    /* A batch of one sentence gives the same row (no batch dependence). */
    if (kn_use_train_forward(t, F.seqs + 1, 1, got, &err) != 0) fail_msg("train forward: %s", err.msg);
    d = 0.0;
    for (int j = 0; j < dim; j++) d = fmax(d, fabs((double)got[j] - want[dim + j]));
    assert_true(d <= OUT_TOL);
    free(want);
    free(got);
    free(ref);
    kn_use_train_free(t);
    kn_encoder_close(enc);
}

static void test_gradients_vs_torch(void **state)
{
    (void)state;
    if (!enabled()) return;
    kn_use_train *t = open_train();
    const char *names[MAX_P];
    float *vals[MAX_P], *grads[MAX_P];
    size_t sizes[MAX_P];
    size_t np = kn_use_train_param_count(t);
    assert_true(np <= MAX_P);
    for (size_t i = 0; i < np; i++) kn_use_train_param(t, i, &names[i], &vals[i], &grads[i], &sizes[i]);
    json_t *params = json_object_get(F.meta, "params"), *rows = json_object_get(F.meta, "embed_rows");
    assert_int_equal(np, json_array_size(params));

    kn_use_train_zero_grad(t);
    double loss = loss_step(t, F.seqs, F.labels, F.pairs, 1);
    double want_loss = json_number_value(json_object_get(F.meta, "loss"));
    print_message("loss %.10f, torch %.10f (diff %.1e)\n", loss, want_loss, fabs(loss - want_loss));
    assert_true(fabs(loss - want_loss) <= LOSS_TOL);

    double worst = 0.0;
    int failed = 0;
    for (size_t k = 0; k < np; k++) {
        json_t *p = json_array_get(params, k);
        const char *name = json_string_value(json_object_get(p, "name"));
        size_t i = 0;
        while (i < np && strcmp(names[i], name) != 0) i++;
        if (i == np) fail_msg("reference parameter %s is not trained", name);
        int shape[2];
        kn_use_train_param_shape(t, i, shape);
        json_t *sh = json_object_get(p, "shape");
        long want_size = 1;
        for (size_t d = 0; d < json_array_size(sh); d++) want_size *= (long)json_integer_value(json_array_get(sh, d));
        assert_int_equal(want_size, (long)sizes[i]);
        double e;
        if (strcmp(name, "embed.weight") == 0) {
            /* Only the used rows have gradients; every other row must stay exactly zero. */
            long R = (long)json_array_size(rows), D = shape[1];
            float *want = malloc((size_t)(R * D) * sizeof *want), *got = malloc((size_t)(R * D) * sizeof *got);
            read_file_f32("embed.weight.f32", want, R * D);
            char *used = calloc((size_t)shape[0], 1);
            for (long r = 0; r < R; r++) {
                long id = (long)json_integer_value(json_array_get(rows, r));
                used[id] = 1;
                memcpy(got + r * D, grads[i] + id * D, (size_t)D * sizeof *got);
            }
            long nonzero = 0;
            for (long r = 0; r < shape[0]; r++)
                for (long j = 0; j < D && !used[r]; j++) nonzero += grads[i][r * D + j] != 0.0f;
            assert_int_equal(nonzero, 0);
            e = rel_err(got, want, R * D);
            free(used);
            free(want);
            free(got);
        } else {
            float *want = malloc(sizes[i] * sizeof *want);
            char file[128];
            snprintf(file, sizeof file, "%s.f32", name);
            read_file_f32(file, want, (long)sizes[i]);
            e = rel_err(grads[i], want, (long)sizes[i]);
            free(want);
        }
        print_message("%-22s rel err %.2e\n", name, e);
        worst = fmax(worst, e);
        if (!(e <= GRAD_TOL)) failed++;
    }
    print_message("worst relative error over %zu tensors: %.2e\n", np, worst);
    assert_int_equal(failed, 0);

    /* Gradients accumulate: a second backward of the same batch doubles them. */
    float *first = malloc(sizes[np - 2] * sizeof *first);
    memcpy(first, grads[np - 2], sizes[np - 2] * sizeof *first);
    loss_step(t, F.seqs, F.labels, F.pairs, 1);
    for (size_t j = 0; j < sizes[np - 2]; j++) assert_true(fabs(grads[np - 2][j] - 2.0f * first[j]) <= 1e-6f + 1e-5f * fabsf(first[j]));
    kn_use_train_zero_grad(t);
    for (size_t j = 0; j < sizes[np - 2]; j++) assert_true(grads[np - 2][j] == 0.0f);
    free(first);
    kn_use_train_free(t);
}

/* The loss at value v of one parameter entry. */
static double loss_at(kn_use_train *t, float *entry, float v)
{
    float keep = *entry;
    *entry = v;
    double l = loss_step(t, F.seqs, F.labels, F.pairs, 0);
    *entry = keep;
    return l;
}

static void test_finite_differences(void **state)
{
    (void)state;
    if (!enabled()) return;
    kn_use_train *t = open_train();
    const char *names[MAX_P];
    float *vals[MAX_P], *grads[MAX_P];
    size_t sizes[MAX_P];
    size_t np = kn_use_train_param_count(t);
    assert_true(np <= MAX_P);
    for (size_t i = 0; i < np; i++) kn_use_train_param(t, i, &names[i], &vals[i], &grads[i], &sizes[i]);
    kn_use_train_zero_grad(t);
    loss_step(t, F.seqs, F.labels, F.pairs, 1);
    static const char *const probe[] = {"embed.weight", "l0.attn_ln.scale", "l0.attn.qkv.weight", "l0.res.weight",
                                        "l0.ffn.b1",    "l1.attn.qkv.bias", "l1.attn.out.weight", "l1.ffn_ln.bias",
                                        "l1.ffn.w2",    "proj.weight"};
    const double h = 1.0 / 512;
    int failed = 0;
    for (size_t k = 0; k < sizeof probe / sizeof *probe; k++) {
        size_t i = 0;
        while (i < np && strcmp(names[i], probe[k]) != 0) i++;
        assert_true(i < np);
        /* The entry with the largest gradient: the difference is then well above rounding. */
        size_t at = 0;
        for (size_t j = 1; j < sizes[i]; j++)
            if (fabsf(grads[i][j]) > fabsf(grads[i][at])) at = j;
        float *e = vals[i] + at, v = *e;
        double f1 = loss_at(t, e, (float)(v + h)) - loss_at(t, e, (float)(v - h));
        double f2 = loss_at(t, e, (float)(v + 2 * h)) - loss_at(t, e, (float)(v - 2 * h));
        double fd = (8 * f1 - f2) / (12 * h), an = grads[i][at];
        double rel = fabs(fd - an) / fmax(fabs(an), 1e-6);
        print_message("fd %-20s [%7zu] analytic % .6e fd % .6e rel %.1e\n", probe[k], at, an, fd, rel);
        if (!(rel <= FD_TOL)) failed++;
    }
    assert_int_equal(failed, 0);
    kn_use_train_free(t);
}

static void test_timing(void **state)
{
    (void)state;
    if (!enabled()) return;
    kn_use_train *t = open_train();
    enum { PAIRS = 16 };
    kn_token_seq seqs[2 * PAIRS];
    float labels[PAIRS];
    for (int p = 0; p < PAIRS; p++) {
        seqs[p] = F.seqs[p % F.pairs];
        seqs[PAIRS + p] = F.seqs[F.pairs + (p + p / (int)F.pairs) % F.pairs];
        labels[p] = (float)(p % 2);
    }
    loss_step(t, seqs, labels, PAIRS, 1); /* warm up */
    struct timespec a, b;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        loss_step(t, seqs, labels, PAIRS, 1);
        clock_gettime(CLOCK_MONOTONIC, &b);
        best = fmin(best, (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
    }
    long tokens = 0;
    for (int i = 0; i < 2 * PAIRS; i++) tokens += (long)seqs[i].n;
    print_message("forward+backward, %d pairs (%ld tokens): %.1f ms (best of 3)\n", PAIRS, tokens, best);
    kn_use_train_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_encoder),
        cmocka_unit_test(test_gradients_vs_torch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_timing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
