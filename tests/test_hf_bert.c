/* test_hf_bert.c - the BERT / XLM-R loader and forward pass against the PyTorch reference
 * (tools/hf/bert_reference.py) on tiny random models in the exact Hugging Face layout
 * (tools/hf/tiny_models.py): every architecture, F32/F16/BF16, mean/CLS/max pooling, with
 * and without Normalize, one sequence at a time and in padded batches; unsupported
 * architectures refused with a message naming what is unsupported.
 * KANAVA_HF_TINY names the directory the generator wrote (tests/run.sh sets it). */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "model/encoder.h"

static const char *tiny_dir(void)
{
    const char *d = getenv("KANAVA_HF_TINY");
    if (!d || !*d) fail_msg("KANAVA_HF_TINY is not set (tests/run.sh generates the tiny models)");
    return d;
}

/* Checks one model's reference.jsonl: returns the worst abs difference. */
static double check_model(const char *dir, int *n_cases)
{
    kn_error err;
    kn_encoder *enc = kn_encoder_open(dir, &err);
    if (!enc) fail_msg("%s: %s", dir, err.msg);
    char path[4200];
    snprintf(path, sizeof path, "%s/reference.jsonl", dir);
    char *jsonl = kn_read_file(path, NULL, &err);
    assert_non_null(jsonl);
    enum { MAXC = 64 };
    kn_token_seq seqs[MAXC];
    double *ref[MAXC];
    int n = 0;
    for (char *line = strtok(jsonl, "\n"); line && n < MAXC; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        json_t *ids = json_object_get(j, "ids"), *emb = json_object_get(j, "embedding");
        assert_int_equal(json_array_size(emb), (size_t)enc->dim);
        seqs[n].n = json_array_size(ids);
        seqs[n].ids = malloc((seqs[n].n ? seqs[n].n : 1) * sizeof(int32_t));
        for (size_t k = 0; k < seqs[n].n; k++) seqs[n].ids[k] = (int32_t)json_integer_value(json_array_get(ids, k));
        ref[n] = malloc((size_t)enc->dim * sizeof(double));
        for (int k = 0; k < enc->dim; k++) ref[n][k] = json_number_value(json_array_get(emb, (size_t)k));
        json_decref(j);
        n++;
    }
    free(jsonl);
    float *one = malloc((size_t)enc->dim * sizeof *one), *batch = malloc((size_t)n * enc->dim * sizeof *batch);
    double worst = 0;
    assert_int_equal(enc->ops->forward(enc, seqs, (size_t)n, batch, &err), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(enc->ops->forward(enc, &seqs[i], 1, one, &err), 0);
        for (int k = 0; k < enc->dim; k++) {
            worst = fmax(worst, fabs(one[k] - ref[i][k]));
            worst = fmax(worst, fabs(batch[(long)i * enc->dim + k] - ref[i][k]));
        }
        free(seqs[i].ids);
        free(ref[i]);
    }
    free(one);
    free(batch);
    kn_encoder_close(enc);
    *n_cases = n;
    return worst;
}

static void test_tiny_models_match_pytorch(void **state)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/models.json", tiny_dir());
    json_error_t jerr;
    json_t *models = json_load_file(path, 0, &jerr);
    assert_non_null(models);
    size_t i, ok = 0, refused = 0;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *expect = json_string_value(json_object_get(m, "expect"));
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", tiny_dir(), name);
        if (strcmp(expect, "refuse") == 0) {
            kn_error err = {{0}};
            assert_null(kn_encoder_open(dir, &err));
            /* the reason's last word (mpnet, rotary, ...) must be named in the message */
            const char *reason = json_string_value(json_object_get(m, "reason"));
            const char *word = strrchr(reason, ' ') ? strrchr(reason, ' ') + 1 : reason;
            printf("%-26s refused: %s\n", name, err.msg);
            if (!strstr(err.msg, word)) fail_msg("%s: '%s' does not name '%s'", name, err.msg, word);
            refused++;
            continue;
        }
        int n = 0;
        double worst = check_model(dir, &n);
        printf("%-26s %s %2d sequences, max abs diff %.3g\n", name, json_string_value(json_object_get(m, "dtype")), n, worst);
        if (worst > 1e-5) fail_msg("%s: max abs diff %.3g > 1e-5", name, worst);
        ok++;
    }
    json_decref(models);
    printf("%zu models matched, %zu refused\n", ok, refused);
    assert_true(ok >= 10 && refused >= 2);
}

/* Text in, vector out, through tokenizer.json: the CLI path works for every family. */
static void test_text_embeds_and_batches_agree(void **state)
{
    (void)state;
    const char *names[] = {"bert_wp_f32_mean_norm", "mbert_uni_f32_mean", "xlmr_f32_mean_norm"};
    const char *texts[] = {"How do I order a new card?", "", "Tilin avaaminen verkossa", "a very long text a very long text "
                           "a very long text a very long text a very long text a very long text a very long text"};
    for (int m = 0; m < 3; m++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", tiny_dir(), names[m]);
        kn_error err;
        kn_encoder *enc = kn_encoder_open(dir, &err);
        if (!enc) fail_msg("%s", err.msg);
        size_t lens[4];
        for (int i = 0; i < 4; i++) lens[i] = strlen(texts[i]);
        float *batch = malloc(4 * (size_t)enc->dim * sizeof *batch), *one = malloc((size_t)enc->dim * sizeof *one);
        assert_int_equal(kn_encoder_embed(enc, texts, lens, 4, 4, batch, NULL, NULL, &err), 0);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(kn_encoder_embed(enc, &texts[i], &lens[i], 1, 1, one, NULL, NULL, &err), 0);
            for (int k = 0; k < enc->dim; k++) assert_true(fabsf(one[k] - batch[i * enc->dim + k]) < 1e-5f);
        }
        kn_token_seq seq;
        assert_int_equal(enc->ops->tokenize(enc, texts[3], lens[3], &seq, &err), 0);
        assert_true(seq.n <= (size_t)enc->max_tokens); /* truncated to max_seq_length */
        free(seq.ids);
        free(batch);
        free(one);
        kn_encoder_close(enc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_models_match_pytorch),
        cmocka_unit_test(test_text_embeds_and_batches_agree),
    };
    return cmocka_run_group_tests_name("hf_bert", tests, NULL, NULL);
}
