/* test_hf_unigram.c - the XLM-R style unigram tokenizer (src/text/hf_unigram.c)
 * against ids from python3-sentencepiece.
 *
 * Always: the committed fixture tests/fixtures/hf_unigram/ (a 200-piece model
 * with a small custom charsmap, and a hand-made model that pins spm's tie and
 * rounding rules; regenerate with tools/hf/unigram_make_fixture.sh), the
 * charsmap reader, malformed tokenizer.json files, long texts and speed.
 *
 * With KANAVA_UNIGRAM_JSON (a tokenizer.json) and KANAVA_UNIGRAM_CASES (JSON
 * lines {"text": ..., "ids": [...]}) it also checks every case and prints
 * "N passed, M failed"; tools/hf/check_unigram.sh runs it that way. */
#include "test_util.h"

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "text/hf_unigram.h"
#include "text/precompiled_charsmap.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void fixture_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/tests/fixtures/hf_unigram/%s", test_root(), name);
}

static json_t *read_json(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    return root;
}

static kn_hf_unigram *load_tokenizer(const json_t *root, const char *path)
{
    kn_error err;
    kn_hf_unigram *u = kn_hf_unigram_load(root, path, &err);
    if (!u) fail_msg("%s", err.msg);
    return u;
}

/* ---- comparing with reference ids ---- */

typedef struct {
    const kn_hf_unigram *u;
    size_t passed, failed, shown, bytes;
    double ms;
} case_run;

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", label);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

static void check_case(const json_t *obj, size_t line, case_run *run)
{
    const json_t *text = json_object_get(obj, "text"), *want = json_object_get(obj, "ids");
    const char *name = json_string_value(json_object_get(obj, "name"));
    if (!json_is_string(text) || !json_is_array(want)) fail_msg("case on line %zu has no text and ids", line);
    size_t n_want = json_array_size(want);
    int32_t *expect = malloc((n_want + 1) * sizeof *expect);
    for (size_t i = 0; i < n_want; i++) expect[i] = (int32_t)json_integer_value(json_array_get(want, i));

    int32_t *ids;
    size_t n;
    kn_error err;
    double t0 = now_ms();
    int rc = kn_hf_unigram_encode(run->u, json_string_value(text), json_string_length(text), &ids, &n, &err);
    run->ms += now_ms() - t0;
    run->bytes += json_string_length(text);

    bool same = rc == 0 && n == n_want && (n == 0 || memcmp(ids, expect, n * sizeof *ids) == 0);
    if (same) {
        run->passed++;
    } else {
        run->failed++;
        if (run->shown++ < 10) {
            fprintf(stderr, "  mismatch: line %zu %s\n", line, name ? name : "");
            if (rc != 0) fprintf(stderr, "    error: %s\n", err.msg);
            print_ids("sentencepiece", expect, n_want);
            if (rc == 0) print_ids("kanava       ", ids, n);
        }
    }
    free(ids);
    free(expect);
}

static void run_cases(const char *path, case_run *run)
{
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &jerr);
        if (!obj) fail_msg("%s:%zu: %s", path, lineno, jerr.text);
        check_case(obj, lineno, run);
        json_decref(obj);
    }
    free(line);
    fclose(f);
}

static void expect_all_pass(const json_t *root, const char *json_path, const char *cases_name)
{
    char cases[4096];
    fixture_path(cases, sizeof cases, cases_name);
    kn_hf_unigram *u = load_tokenizer(root, json_path);
    case_run run = {.u = u};
    run_cases(cases, &run);
    kn_hf_unigram_free(u);
    if (run.failed || run.passed == 0)
        fail_msg("%s: %zu passed, %zu failed", cases_name, run.passed, run.failed);
}

static void test_fixture_cases(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof path, "tokenizer.json");
    json_t *root = read_json(path);
    expect_all_pass(root, path, "cases.jsonl");
    json_decref(root);
}

/* Ties keep the earliest arc; piece scores are summed in double against the
 * stored float (see tools/hf/unigram_crafted_model.py). */
static void test_crafted_cases(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof path, "crafted.json");
    json_t *root = read_json(path);
    expect_all_pass(root, path, "crafted_cases.jsonl");
    json_decref(root);
}

/* Older XLM-R files: Precompiled alone, WhitespaceSplit + Metaspace(add_prefix_space). */
static void test_legacy_layout(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof path, "tokenizer.json");
    json_t *root = read_json(path);
    json_t *precompiled = json_array_get(json_object_get(json_object_get(root, "normalizer"), "normalizers"), 0);
    json_object_set(root, "normalizer", precompiled);
    json_t *pre = json_pack("{s:s, s:[{s:s}, {s:s, s:s, s:b}]}", "type", "Sequence", "pretokenizers",
                            "type", "WhitespaceSplit", "type", "Metaspace", "replacement", "\xE2\x96\x81",
                            "add_prefix_space", 1);
    json_object_set_new(root, "pre_tokenizer", pre);
    expect_all_pass(root, path, "cases.jsonl");
    json_decref(root);
}

static void test_token_ids(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof path, "tokenizer.json");
    json_t *root = read_json(path);
    kn_hf_unigram *u = load_tokenizer(root, path);
    size_t n_vocab = json_array_size(json_object_get(json_object_get(root, "model"), "vocab"));
    assert_int_equal(kn_hf_unigram_token_id(u, "<s>"), 0);
    assert_int_equal(kn_hf_unigram_token_id(u, "<pad>"), 1);
    assert_int_equal(kn_hf_unigram_token_id(u, "</s>"), 2);
    assert_int_equal(kn_hf_unigram_token_id(u, "<unk>"), 3);
    assert_int_equal(kn_hf_unigram_token_id(u, "<mask>"), (int32_t)n_vocab - 1);
    assert_int_equal(kn_hf_unigram_token_id(u, "no such piece"), -1);
    assert_int_equal(kn_hf_unigram_token_id(u, ""), -1);
    assert_int_equal(kn_hf_unigram_token_id(u, "<s"), -1);
    assert_int_equal(kn_hf_unigram_token_id(u, "\xFF"), -1);

    /* Special tokens written in text are text, as in spm: "<s>" is not id 0. */
    int32_t *ids;
    size_t n;
    kn_error err;
    assert_int_equal(kn_hf_unigram_encode(u, "<s>", 3, &ids, &n, &err), 0);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] != 0);
    free(ids);
    kn_hf_unigram_free(u);
    json_decref(root);
}

static void test_empty_and_invalid(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof path, "tokenizer.json");
    json_t *root = read_json(path);
    kn_hf_unigram *u = load_tokenizer(root, path);
    int32_t *ids = (int32_t *)&ids;   /* must be reset */
    size_t n = 7;
    kn_error err;
    assert_int_equal(kn_hf_unigram_encode(u, "", 0, &ids, &n, &err), 0);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_int_equal(kn_hf_unigram_encode(u, " \t\n ", 4, &ids, &n, &err), 0);
    assert_null(ids);
    assert_int_equal(n, 0);

    static const struct { const char *s; size_t len, bad; } bad[] = {
        {"ab\xC3", 3, 2}, {"\xFF", 1, 0}, {"ok \xED\xA0\x80", 6, 3}, {"x\xC0\x80", 3, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(kn_hf_unigram_encode(u, bad[i].s, bad[i].len, &ids, &n, &err), -1);
        assert_null(ids);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", bad[i].bad);
        if (!strstr(err.msg, want)) fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, want);
    }
    kn_hf_unigram_free(u);
    json_decref(root);
}

/* ---- malformed tokenizer.json ---- */

static json_t *at_path(json_t *root, const char *a, const char *b)
{
    json_t *x = json_object_get(root, a);
    return b ? json_object_get(x, b) : x;
}

static void expect_load_error(json_t *root, const char *label, const char *want)
{
    kn_error err = {{0}};
    kn_hf_unigram *u = kn_hf_unigram_load(root, "bad/tokenizer.json", &err);
    if (u) {
        kn_hf_unigram_free(u);
        fail_msg("%s: loaded, expected an error saying \"%s\"", label, want);
    }
    if (!strstr(err.msg, "bad/tokenizer.json") || !strstr(err.msg, want))
        fail_msg("%s: error \"%s\" does not name the file and \"%s\"", label, err.msg, want);
}

static void test_malformed(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof path, "tokenizer.json");
    json_t *good = read_json(path);
    const char *b64 = json_string_value(json_object_get(
        json_array_get(at_path(good, "normalizer", "normalizers"), 0), "precompiled_charsmap"));
    char truncated[401];
    snprintf(truncated, sizeof truncated, "%s", b64);   /* 300 of the blob's bytes */

    enum { CHARSMAP, STEP1, VOCAB, VOCAB5, UNK, MODEL_TYPE, BYTE_FALLBACK, PRE, REPLACEMENT, ADDED, ROOT };
    static const struct { int where; const char *json; const char *want; } cases[] = {
        {CHARSMAP, "\"not base64!\"", "invalid base64"},
        {CHARSMAP, "\"QUJD=\"", "invalid base64"},
        {CHARSMAP, "\"AAAAAAAA\"", "trie size 0"},
        {CHARSMAP, "\"CAAAAAAAAAAA\"", "truncated"},
        {CHARSMAP, NULL, "truncated"},             /* the real blob cut short */
        {CHARSMAP, "7", "precompiled_charsmap is not a base64 string"},
        {STEP1, "{\"type\": \"NFD\"}", "normalizer.normalizers[1]: unknown normalizer type \"NFD\""},
        {STEP1, "{\"type\": \"Replace\", \"pattern\": {\"String\": \"``\"}, \"content\": \"\\\"\"}", "Replace"},
        {STEP1, "{\"kind\": \"Strip\"}", "normalizer.normalizers[1] is not an object with a \"type\""},
        {VOCAB, "{\"a\": 1}", "model.vocab is not a list"},
        {VOCAB, "[]", "model.vocab has 0 entries"},
        {VOCAB5, "\"x\"", "model.vocab[5] is not [piece, score]"},
        {VOCAB5, "[\"x\", \"-1\"]", "model.vocab[5] is not [piece, score]"},
        {UNK, "100000", "model.unk_id 100000 is outside the vocab"},
        {UNK, "-1", "model.unk_id -1 is outside the vocab"},
        {UNK, "null", "model.unk_id is missing"},
        {MODEL_TYPE, "\"BPE\"", "expected \"Unigram\""},
        {BYTE_FALLBACK, "true", "byte_fallback"},
        {PRE, "null", "pre_tokenizer is missing"},
        {PRE, "{\"type\": \"ByteLevel\"}", "unknown pre_tokenizer type \"ByteLevel\""},
        {PRE, "{\"type\": \"WhitespaceSplit\"}", "0 Metaspace steps"},
        {REPLACEMENT, "\"_\"", "pre_tokenizer.replacement must be"},
        {ADDED, "[{\"id\": 5, \"content\": \"xyz\", \"special\": false}]", "not special"},
        {ADDED, "[{\"content\": \"xyz\", \"special\": true}]", "added_tokens[0] has no integer"},
        {ROOT, "[1, 2]", "not a tokenizer.json object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *root = json_deep_copy(good);
        json_error_t jerr;
        json_t *value = cases[i].json ? json_loads(cases[i].json, JSON_DECODE_ANY, &jerr) : json_string(truncated);
        if (!value) fail_msg("case %zu: bad test JSON: %s", i, jerr.text);
        json_t *steps = at_path(root, "normalizer", "normalizers");
        json_t *model = json_object_get(root, "model");
        char label[32];
        snprintf(label, sizeof label, "case %zu", i);
        switch (cases[i].where) {
        case CHARSMAP: json_object_set_new(json_array_get(steps, 0), "precompiled_charsmap", value); break;
        case STEP1: json_array_set_new(steps, 1, value); break;
        case VOCAB: json_object_set_new(model, "vocab", value); break;
        case VOCAB5: json_array_set_new(json_object_get(model, "vocab"), 5, value); break;
        case UNK: json_object_set_new(model, "unk_id", value); break;
        case MODEL_TYPE: json_object_set_new(model, "type", value); break;
        case BYTE_FALLBACK: json_object_set_new(model, "byte_fallback", value); break;
        case PRE: json_object_set_new(root, "pre_tokenizer", value); break;
        case REPLACEMENT: json_object_set_new(json_object_get(root, "pre_tokenizer"), "replacement", value); break;
        case ADDED: json_object_set_new(root, "added_tokens", value); break;
        case ROOT:
            json_decref(root);
            root = value;
            break;
        }
        expect_load_error(root, label, cases[i].want);
        json_decref(root);
    }
    json_decref(good);
}

/* ---- the charsmap reader on hand-built double arrays ---- */

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* 256 units: the root's children sit at 1 ^ byte. "a" is unit 0x60; it ends a
 * key (its value unit is 0x60 ^ 0x10 = 0x70) and its children sit at 0x70 ^ byte,
 * so "ab" is unit 0x12, whose value unit is 0x12 ^ 0x30 = 0x22.
 * Strings: "x\0yz\0", "a" -> offset a_value, "ab" -> "yz". */
static size_t build_blob(unsigned char *blob, uint32_t a_value)
{
    uint32_t units[256] = {0};
    units[0] = 1u << 10;                                  /* root: children at 1 ^ byte */
    units[0x60] = 0x61 | (1u << 8) | (0x10u << 10);       /* 'a', has leaf, offset 0x10 -> 0x70 */
    units[0x70] = 0x80000000u | a_value;                  /* value of "a" */
    units[0x70 ^ 0x62] = 0x62 | (1u << 8) | (0x30u << 10);/* 'b' under "a": 0x12, leaf, -> 0x22 */
    units[0x12 ^ 0x30] = 0x80000000u | 2;                 /* value of "ab": "yz" */
    put_le32(blob, sizeof units);
    for (size_t i = 0; i < 256; i++) put_le32(blob + 4 + 4 * i, units[i]);
    memcpy(blob + 4 + sizeof units, "x\0yz\0", 5);
    return 4 + sizeof units + 5;
}

static void test_charsmap_reader(void **state)
{
    (void)state;
    unsigned char blob[4 + 1024 + 5];
    size_t len = build_blob(blob, 0);
    kn_charsmap map;
    kn_error err;
    if (kn_charsmap_parse(&map, blob, len, "test", &err) != 0) fail_msg("%s", err.msg);
    const char *out;
    size_t out_len;
    assert_int_equal(kn_charsmap_longest(&map, "ac", 2, &out, &out_len), 1);
    assert_int_equal(out_len, 1);
    assert_memory_equal(out, "x", 1);
    assert_int_equal(kn_charsmap_longest(&map, "abc", 3, &out, &out_len), 2);
    assert_int_equal(out_len, 2);
    assert_memory_equal(out, "yz", 2);
    assert_int_equal(kn_charsmap_longest(&map, "ab", 1, &out, &out_len), 1);   /* len limits the walk */
    assert_int_equal(kn_charsmap_longest(&map, "ba", 2, &out, &out_len), 0);
    kn_charsmap_free(&map);

    build_blob(blob, 9);   /* "a" points past the strings */
    assert_int_equal(kn_charsmap_parse(&map, blob, len, "test", &err), -1);
    assert_non_null(strstr(err.msg, "outside"));
    build_blob(blob, 0);
    assert_int_equal(kn_charsmap_parse(&map, blob, len - 6, "test", &err), -1);  /* cut into the trie */
    assert_non_null(strstr(err.msg, "truncated"));
    blob[4 + 1024 + 2] = (char)0xFF;   /* invalid UTF-8 in the strings */
    assert_int_equal(kn_charsmap_parse(&map, blob, len, "test", &err), -1);
    assert_non_null(strstr(err.msg, "UTF-8"));
}

/* ---- long texts and speed ---- */

static void test_long_text(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof path, "tokenizer.json");
    json_t *root = read_json(path);
    kn_hf_unigram *u = load_tokenizer(root, path);
    const char *sentence = "Kävimme Jyväskylässä, and the café was closed. ";
    size_t slen = strlen(sentence), reps = 20000;
    char *text = malloc(slen * reps);
    for (size_t i = 0; i < reps; i++) memcpy(text + i * slen, sentence, slen);

    int32_t *one, *all;
    size_t n_one, n_all;
    kn_error err;
    assert_int_equal(kn_hf_unigram_encode(u, sentence, slen, &one, &n_one, &err), 0);
    double t0 = now_ms();
    assert_int_equal(kn_hf_unigram_encode(u, text, slen * reps, &all, &n_all, &err), 0);
    double ms = now_ms() - t0;
    /* Words are independent in spm's lattice (pieces only start with "▁"), so the
     * repeated sentence tokenizes as the repeated ids. */
    assert_int_equal(n_all, n_one * reps);
    for (size_t i = 0; i < n_all; i++) assert_int_equal(all[i], one[i % n_one]);
    printf("long text: %zu bytes -> %zu ids in %.1f ms\n", slen * reps, n_all, ms);
    free(one);
    free(all);
    free(text);
    kn_hf_unigram_free(u);
    json_decref(root);
}

static void test_speed_banking77(void **state)
{
    (void)state;
    size_t len;
    if (!test_dataset_text("banking77/train.csv", 0, &len)) skip();
    char path[4096];
    fixture_path(path, sizeof path, "tokenizer.json");
    json_t *root = read_json(path);
    kn_hf_unigram *u = load_tokenizer(root, path);
    size_t count = 0, n_ids = 0;
    double t0 = now_ms();
    for (size_t row = 0; row < 10000; row++) {
        const char *text = test_dataset_text("banking77/train.csv", row, &len);
        if (!text) break;
        int32_t *ids;
        size_t n;
        kn_error err;
        if (kn_hf_unigram_encode(u, text, len, &ids, &n, &err) != 0) fail_msg("row %zu: %s", row, err.msg);
        free(ids);
        n_ids += n;
        count++;
    }
    double ms = now_ms() - t0;
    printf("fixture model: %zu Banking77 texts -> %zu ids in %.1f ms\n", count, n_ids, ms);
    kn_hf_unigram_free(u);
    json_decref(root);
}

/* ---- a full model against python3-sentencepiece (tools/hf/check_unigram.sh) ---- */

static void test_env_cases(void **state)
{
    (void)state;
    const char *json_path = getenv("KANAVA_UNIGRAM_JSON"), *cases = getenv("KANAVA_UNIGRAM_CASES");
    if (!json_path || !*json_path || !cases || !*cases) {
        fprintf(stderr, "KANAVA_UNIGRAM_JSON / KANAVA_UNIGRAM_CASES not set: skipping the full comparison "
                        "(tools/hf/check_unigram.sh sets them)\n");
        skip();
    }
    json_t *root = read_json(json_path);
    double t0 = now_ms();
    kn_hf_unigram *u = load_tokenizer(root, json_path);
    double load_ms = now_ms() - t0;
    case_run run = {.u = u};
    run_cases(cases, &run);
    printf("load %.1f ms; encode %.1f ms for %zu texts (%zu bytes)\n", load_ms, run.ms,
           run.passed + run.failed, run.bytes);
    printf("%zu passed, %zu failed\n", run.passed, run.failed);
    kn_hf_unigram_free(u);
    json_decref(root);
    if (run.failed) fail_msg("%zu of %zu texts differ from sentencepiece", run.failed, run.passed + run.failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charsmap_reader),
        cmocka_unit_test(test_fixture_cases),
        cmocka_unit_test(test_crafted_cases),
        cmocka_unit_test(test_legacy_layout),
        cmocka_unit_test(test_token_ids),
        cmocka_unit_test(test_empty_and_invalid),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_long_text),
        cmocka_unit_test(test_speed_banking77),
        cmocka_unit_test(test_env_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
