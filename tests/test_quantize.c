/* test_quantize.c - int8 model directories end to end: `kanava model quantize` of the real
 * USE-lite model and of the tiny Hugging Face models keeps every embedding within cosine
 * 0.99 of the float model's (USE-lite: Banking77 test texts against our F32 engine, whose
 * own agreement with TensorFlow.js is tested elsewhere; tiny BERT/XLM-R: directly against
 * the PyTorch reference embeddings), files shrink to <= 30 %, and misuse is refused.
 * Needs $KANAVA_MODELS/use-lite and $KANAVA_HF_TINY (tests/run.sh sets both). */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

#include "model/encoder.h"
#include "model/quantize.h"
#include "model/registry.h"
#include "model/safetensors.h"

static char scratch[256];

static int setup(void **state)
{
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/kanava-test-quantize-XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kn_rm_rf(scratch);
    return 0;
}

static long file_size(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb + 1e-30);
}

static void test_use_lite_int8_keeps_embeddings(void **state)
{
    (void)state;
    char models[4096], f32_dir[4200], q8_dir[4200];
    kn_error err;
    assert_int_equal(kn_models_dir(models, sizeof models, NULL, &err), 0);
    snprintf(f32_dir, sizeof f32_dir, "%s/use-lite", models);
    snprintf(q8_dir, sizeof q8_dir, "%s/use-lite-int8", scratch);
    if (kn_model_quantize(f32_dir, q8_dir, &err) != 0) fail_msg("quantize: %s", err.msg);
    assert_true(kn_model_is_quantized(q8_dir));
    assert_false(kn_model_is_quantized(f32_dir));
    double ratio = (double)file_size(q8_dir, "model.safetensors") / (double)file_size(f32_dir, "model.safetensors");
    print_message("USE-lite int8 file: %.1f %% of F32\n", 100 * ratio);
    assert_true(ratio > 0.2 && ratio <= 0.30);

    /* Banking77 test texts, the same through both models. */
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/datasets/banking77/test.csv", test_shared());
    kn_texts texts;
    if (kn_texts_read_csv_column(csv, "text", &texts, &err) != 0) fail_msg("%s", err.msg);
    size_t n = texts.n < 400 ? texts.n : 400;
    kn_encoder *a = kn_encoder_open(f32_dir, &err), *b = kn_encoder_open(q8_dir, &err);
    assert_non_null(a);
    assert_non_null(b);
    float *ea = malloc(n * a->dim * sizeof *ea), *eb = malloc(n * b->dim * sizeof *eb);
    assert_int_equal(kn_encoder_embed(a, texts.text, texts.len, n, 32, ea, NULL, NULL, &err), 0);
    assert_int_equal(kn_encoder_embed(b, texts.text, texts.len, n, 32, eb, NULL, NULL, &err), 0);
    double worst = 1, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double c = cosine(ea + i * a->dim, eb + i * b->dim, a->dim);
        worst = fmin(worst, c);
        sum += c;
    }
    print_message("USE-lite int8 vs F32 on %zu Banking77 texts: cosine min %.5f, mean %.5f\n", n, worst, sum / n);
    assert_true(worst >= 0.99);
    assert_true(sum / n < 1.0 - 1e-7); /* it really is a different (quantised) computation */
    free(ea), free(eb);
    kn_encoder_close(a);
    kn_encoder_close(b);
    kn_texts_free(&texts);
}

/* The tiny models' reference.jsonl holds PyTorch's float embeddings of token-id sequences. */
static void check_tiny(const char *name, double *worst_out)
{
    char src[4200], dst[4200], path[4300];
    snprintf(src, sizeof src, "%s/%s", getenv("KANAVA_HF_TINY"), name);
    snprintf(dst, sizeof dst, "%s/%s-int8", scratch, name);
    kn_error err;
    if (kn_model_quantize(src, dst, &err) != 0) fail_msg("%s: %s", name, err.msg);
    kn_encoder *enc = kn_encoder_open(dst, &err);
    if (!enc) fail_msg("%s: %s", dst, err.msg);
    snprintf(path, sizeof path, "%s/reference.jsonl", src);
    char *jsonl = kn_read_file(path, NULL, &err);
    assert_non_null(jsonl);
    float *out = malloc((size_t)enc->dim * sizeof *out);
    double worst = 1;
    int cases = 0;
    for (char *line = strtok(jsonl, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL), *ids = json_object_get(j, "ids"), *emb = json_object_get(j, "embedding");
        kn_token_seq seq = {malloc((json_array_size(ids) + 1) * sizeof(int32_t)), json_array_size(ids)};
        for (size_t k = 0; k < seq.n; k++) seq.ids[k] = (int32_t)json_integer_value(json_array_get(ids, k));
        assert_int_equal(enc->ops->forward(enc, &seq, 1, out, &err), 0);
        float *ref = malloc((size_t)enc->dim * sizeof *ref);
        for (int k = 0; k < enc->dim; k++) ref[k] = (float)json_number_value(json_array_get(emb, (size_t)k));
        worst = fmin(worst, cosine(out, ref, enc->dim));
        cases++;
        free(ref);
        free(seq.ids);
        json_decref(j);
    }
    assert_true(cases > 0);
    print_message("%-24s int8 vs PyTorch F32: %d sequences, cosine min %.5f\n", name, cases, worst);
    free(out);
    free(jsonl);
    kn_encoder_close(enc);
    *worst_out = worst;
}

static void test_tiny_hf_int8_against_pytorch(void **state)
{
    (void)state;
    if (!getenv("KANAVA_HF_TINY")) fail_msg("KANAVA_HF_TINY is not set (tests/run.sh generates the tiny models)");
    static const char *const names[] = {"bert_wp_f32_mean_norm", "bert_wp_f16_mean_norm", "bert_wp_bf16_mean_norm",
                                        "xlmr_f32_mean_norm", "mbert_uni_f32_cls_norm", "xlmr_pfx_f32_max"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        double worst;
        check_tiny(names[i], &worst);
        assert_true(worst >= 0.99);
    }
}

static void test_misuse_is_refused(void **state)
{
    (void)state;
    char models[4096], f32_dir[4200], q8_dir[4200], again[4200], busy[4200];
    kn_error err;
    assert_int_equal(kn_models_dir(models, sizeof models, NULL, &err), 0);
    snprintf(f32_dir, sizeof f32_dir, "%s/use-lite", models);
    snprintf(q8_dir, sizeof q8_dir, "%s/misuse-int8", scratch);
    assert_int_equal(kn_model_quantize(f32_dir, q8_dir, &err), 0);
    /* quantising twice */
    snprintf(again, sizeof again, "%s/twice", scratch);
    assert_int_equal(kn_model_quantize(q8_dir, again, &err), -1);
    assert_non_null(strstr(err.msg, "already quantised"));
    assert_false(kn_is_dir(again));
    /* an output directory with something in it is never overwritten */
    snprintf(busy, sizeof busy, "%s/busy", scratch);
    assert_int_equal(kn_mkdir_p(busy, &err), 0);
    char keep[4300];
    snprintf(keep, sizeof keep, "%s/keep.txt", busy);
    FILE *f = fopen(keep, "w");
    fputs("customer data", f);
    fclose(f);
    assert_int_equal(kn_model_quantize(f32_dir, busy, &err), -1);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_true(kn_is_file(keep));
    /* not a model */
    assert_int_equal(kn_model_quantize(scratch, again, &err), -1);
    assert_non_null(strstr(err.msg, "config.json"));
}

/* An int8 model whose scales are missing or the wrong size is refused, naming the tensor. */
static void test_broken_int8_model_is_refused(void **state)
{
    (void)state;
    char src[4200], dst[4200], path[4300];
    snprintf(src, sizeof src, "%s/bert_wp_f32_mean_norm", getenv("KANAVA_HF_TINY"));
    snprintf(dst, sizeof dst, "%s/broken-int8", scratch);
    kn_error err;
    assert_int_equal(kn_model_quantize(src, dst, &err), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    for (int variant = 0; variant < 2; variant++) {
        kn_safetensors *st = kn_st_open(path, &err);
        assert_non_null(st);
        size_t n = kn_st_count(st), k = 0;
        kn_tensor *keep = calloc(n, sizeof *keep);
        char victim[256] = "";
        float shorter[4] = {1, 1, 1, 1};
        for (size_t i = 0; i < n; i++) {
            const kn_tensor *t = kn_st_at(st, i);
            int is_scale = strstr(t->name, KN_Q8_SCALE_SUFFIX) != NULL;
            if (is_scale && !victim[0] && strstr(t->name, "intermediate.dense")) {
                snprintf(victim, sizeof victim, "%s", t->name);
                if (variant == 0) continue; /* dropped */
                keep[k] = *t;                /* or cut to 4 values */
                keep[k].shape[0] = 4;
                keep[k].data = shorter;
                keep[k++].nbytes = sizeof shorter;
                continue;
            }
            keep[k++] = *t;
        }
        assert_true(victim[0]);
        char out[4400];
        snprintf(out, sizeof out, "%s.new", path);
        assert_int_equal(kn_st_write(out, keep, k, NULL, &err), 0);
        free(keep);
        kn_st_close(st);
        assert_int_equal(rename(out, path), 0);
        kn_encoder *enc = kn_encoder_open(dst, &err);
        assert_null(enc);
        if (!strstr(err.msg, victim)) fail_msg("variant %d: the error does not name %s: %s", variant, victim, err.msg);
        print_message("variant %d refused: %s\n", variant, err.msg);
        if (variant == 0) { /* restore for the next variant */
            kn_rm_rf(dst);
            assert_int_equal(kn_model_quantize(src, dst, &err), 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_use_lite_int8_keeps_embeddings),
        cmocka_unit_test(test_tiny_hf_int8_against_pytorch),
        cmocka_unit_test(test_misuse_is_refused),
        cmocka_unit_test(test_broken_int8_model_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
