/* test_use_lite.c - the C USE-lite encoder against the TensorFlow.js reference:
 * the package's published snapshot (<= 1e-5) and the fixture of 500+ texts that
 * tools/tfjs/make_reference.mjs produced with the TF.js runtime (ids identical,
 * vectors <= 1e-4), embedded in padded batches and one by one. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "model/encoder.h"

static kn_encoder *enc;

static int setup(void **state)
{
    (void)state;
    const char *dir = test_use_lite_dir();
    if (!dir) {
        fprintf(stderr, "KANAVA_MODELS/use-lite is not installed (run `kanava model fetch use-lite`)\n");
        return -1;
    }
    kn_error err;
    enc = kn_encoder_open(dir, &err);
    if (!enc) fprintf(stderr, "%s\n", err.msg);
    return enc ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kn_encoder_close(enc);
    return 0;
}

static float max_abs_diff(const float *a, const float *b, int n)
{
    float m = 0.0f;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void embed_one(const char *text, float *out)
{
    kn_error err;
    size_t len = strlen(text);
    int rc = kn_encoder_embed(enc, &text, &len, 1, 1, out, NULL, NULL, &err);
    if (rc != 0) fail_msg("%s", err.msg);
}

/* The vitest snapshot lists the two vectors' numbers one per line inside a template
 * literal that ends with "`;"; "hello world" has only its first component. */
static int parse_snapshot(float vecs[2][512], float *hello_first)
{
    char path[4096];
    test_path(path, sizeof path, test_shared(), "reference/use-lite-snapshot.txt");
    kn_error err;
    char *s = kn_read_file(path, NULL, &err);
    if (!s) return -1;
    const char *key = "compute embedding for array of text 1`] = `";
    char *p = strstr(s, key), *stop = p ? strstr(p + strlen(key), "`;") : NULL;
    int k = 0;
    for (char *t = p ? p + strlen(key) : NULL; t && t < stop && k < 1024; t++) {
        if (!(*t == '-' || (*t >= '0' && *t <= '9'))) continue;
        char *end;
        double x = strtod(t, &end);
        vecs[k / 512][k % 512] = (float)x;
        k++;
        t = end;
    }
    const char *hkey = "compute embedding for text 1`] = `";
    char *h = strstr(s, hkey);
    if (h) *hello_first = strtof(h + strlen(hkey), NULL);
    free(s);
    return k == 1024 && h ? 0 : -1;
}

static void test_published_snapshot(void **state)
{
    (void)state;
    float ref[2][512], hello_first = 0, out[512];
    assert_int_equal(parse_snapshot(ref, &hello_first), 0);
    embed_one("the fox jumped over the lazy dog", out);
    float d1 = max_abs_diff(out, ref[0], 512);
    embed_one("lorem ipsum", out);
    float d2 = max_abs_diff(out, ref[1], 512);
    embed_one("hello world", out);
    float d0 = fabsf(out[0] - hello_first);
    printf("snapshot max abs diff: fox %.3g, lorem %.3g, hello[0] %.3g\n", d1, d2, d0);
    assert_true(d1 <= 1e-5f && d2 <= 1e-5f && d0 <= 1e-5f);
}

typedef struct {
    const char **text;
    size_t *len;
    json_t **ids;
    size_t n;
    float *ref;
    json_t *all;
} fixture;

static int load_fixture(fixture *fx)
{
    char path[4096];
    test_path(path, sizeof path, test_root(), "tests/fixtures/use_lite/cases.jsonl");
    kn_error err;
    char *jsonl = kn_read_file(path, NULL, &err);
    if (!jsonl) return -1;
    fx->all = json_array();
    for (char *line = strtok(jsonl, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) { free(jsonl); return -1; }
        json_array_append_new(fx->all, j);
    }
    free(jsonl);
    fx->n = json_array_size(fx->all);
    fx->text = calloc(fx->n, sizeof *fx->text);
    fx->len = calloc(fx->n, sizeof *fx->len);
    fx->ids = calloc(fx->n, sizeof *fx->ids);
    for (size_t i = 0; i < fx->n; i++) {
        json_t *c = json_array_get(fx->all, i);
        const char *source = json_string_value(json_object_get(c, "source"));
        fx->ids[i] = json_object_get(c, "ids");
        if (strcmp(source, "edge") == 0) {
            fx->text[i] = json_string_value(json_object_get(c, "text"));
            fx->len[i] = json_string_length(json_object_get(c, "text"));
        } else {
            fx->text[i] = test_dataset_text(source, (size_t)json_integer_value(json_object_get(c, "row")), &fx->len[i]);
        }
        if (!fx->text[i]) { fprintf(stderr, "case %zu: cannot read %s\n", i, source); return -1; }
    }
    test_path(path, sizeof path, test_root(), "tests/fixtures/use_lite/embeddings.f32");
    size_t bytes;
    fx->ref = (float *)kn_read_file(path, &bytes, &err);
    return fx->ref && bytes == fx->n * 512 * sizeof(float) ? 0 : -1;
}

static void test_fixture_ids_and_vectors(void **state)
{
    (void)state;
    fixture fx = {0};
    assert_int_equal(load_fixture(&fx), 0);
    assert_true(fx.n >= 500);
    kn_error err;
    size_t id_mismatch = 0;
    for (size_t i = 0; i < fx.n; i++) {
        kn_token_seq seq;
        assert_int_equal(enc->ops->tokenize(enc, fx.text[i], fx.len[i], &seq, &err), 0);
        int same = seq.n == json_array_size(fx.ids[i]);
        for (size_t k = 0; same && k < seq.n; k++) same = seq.ids[k] == json_integer_value(json_array_get(fx.ids[i], k));
        if (!same) {
            if (id_mismatch++ < 5) fprintf(stderr, "case %zu: token ids differ from TF.js\n", i);
        }
        free(seq.ids);
    }
    /* Padded batches of 32 (the CLI default) and, for a subset, one text at a time. */
    float *out = malloc(fx.n * 512 * sizeof *out), one[512];
    assert_int_equal(kn_encoder_embed(enc, fx.text, fx.len, fx.n, 32, out, NULL, NULL, &err), 0);
    float worst = 0.0f, worst_single = 0.0f;
    size_t worst_i = 0;
    for (size_t i = 0; i < fx.n; i++) {
        float d = max_abs_diff(out + i * 512, fx.ref + i * 512, 512);
        if (d > worst) { worst = d; worst_i = i; }
        if (i % 7 == 0) {
            assert_int_equal(kn_encoder_embed(enc, &fx.text[i], &fx.len[i], 1, 1, one, NULL, NULL, &err), 0);
            worst_single = fmaxf(worst_single, max_abs_diff(one, fx.ref + i * 512, 512));
        }
    }
    printf("fixture: %zu texts, token-id mismatches %zu, max abs diff %.3g (case %zu), batch-1 subset %.3g\n", fx.n,
           id_mismatch, worst, worst_i, worst_single);
    assert_int_equal(id_mismatch, 0);
    assert_true(worst <= 1e-4f);
    assert_true(worst_single <= 1e-4f);
    free(out);
    free(fx.ref);
    free(fx.text);
    free(fx.len);
    free(fx.ids);
    json_decref(fx.all);
}

/* Batching must not change a vector: the empty text and a 128+-token text among others. */
static void test_batch_independence(void **state)
{
    (void)state;
    static char longtext[6000];
    for (int i = 0; i < 5000; i++) longtext[i] = "abcde fghij "[i % 12];
    const char *texts[] = {"", "card arrived broken", longtext, "   ", "🙂 émoji"};
    size_t lens[5];
    for (int i = 0; i < 5; i++) lens[i] = strlen(texts[i]);
    float batch[5 * 512], one[512];
    kn_error err;
    assert_int_equal(kn_encoder_embed(enc, texts, lens, 5, 5, batch, NULL, NULL, &err), 0);
    for (int i = 0; i < 5; i++) {
        embed_one(texts[i], one);
        assert_true(max_abs_diff(one, batch + i * 512, 512) <= 1e-5f);
        float norm = 0;
        for (int j = 0; j < 512; j++) norm += one[j] * one[j];
        assert_true(fabsf(norm - 1.0f) < 1e-4f);
    }
}

static void test_invalid_utf8_is_an_error(void **state)
{
    (void)state;
    const char *texts[] = {"fine", "bad \xC3\x28 byte"};
    size_t lens[] = {4, 11};
    float out[2 * 512];
    kn_error err = {{0}};
    assert_int_not_equal(kn_encoder_embed(enc, texts, lens, 2, 8, out, NULL, NULL, &err), 0);
    printf("error: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "text 2"));
    assert_non_null(strstr(err.msg, "UTF-8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_snapshot),
        cmocka_unit_test(test_fixture_ids_and_vectors),
        cmocka_unit_test(test_batch_independence),
        cmocka_unit_test(test_invalid_utf8_is_an_error),
    };
    return cmocka_run_group_tests_name("use_lite", tests, setup, teardown);
}
