/* test_wordpiece.c - the BERT WordPiece tokenizer (src/text/wordpiece.c).
 *
 * Without environment variables: unit tests on the tiny hand-made vocabulary in
 * tests/fixtures/wordpiece/tiny_tokenizer.json, whose expected ids were worked out by
 * hand from the BERT / tokenizers descriptions. With
 *   KANAVA_WORDPIECE_JSON  = a tokenizer.json (tools/hf/make_wordpiece_vocab.py makes one)
 *   KANAVA_WORDPIECE_CASES = JSON lines {"text": ..., "ids": [...]} (tools/hf/wordpiece_ref.py)
 * it also checks every case against the reference and prints "N passed, M failed";
 * tools/hf/check_wordpiece.sh drives that. */
#include "test_util.h"

#include <jansson.h>
#include <time.h>

#include "text/wordpiece.h"

#define TINY "tests/fixtures/wordpiece/tiny_tokenizer.json"

static json_t *tiny_root;

static int setup(void **state)
{
    (void)state;
    char path[4096];
    test_path(path, sizeof path, test_root(), TINY);
    json_error_t jerr;
    tiny_root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!tiny_root) fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
    return tiny_root ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(tiny_root);
    return 0;
}

/* A copy of the tiny tokenizer.json with obj[key] = value, where obj is the root
 * (where = "") or one of its members ("normalizer", "model"). value is stolen. */
static json_t *tiny_with(const char *where, const char *key, json_t *value)
{
    json_t *root = json_deep_copy(tiny_root);
    json_t *obj = *where ? json_object_get(root, where) : root;
    assert_non_null(obj);
    json_object_set_new(obj, key, value);
    return root;
}

static kn_wordpiece *load_or_fail(const json_t *root)
{
    kn_error err;
    kn_wordpiece *wp = kn_wordpiece_load(root, "tiny.json", &err);
    if (!wp) fail_msg("load: %s", err.msg);
    return wp;
}

/* Encodes text[0..len) and compares with want[0..n_want). */
static void expect_ids_n(const kn_wordpiece *wp, const char *text, size_t len, const int32_t *want, size_t n_want)
{
    int32_t *ids;
    size_t n;
    kn_error err;
    if (kn_wordpiece_encode(wp, text, len, &ids, &n, &err) != 0) fail_msg("\"%s\": %s", text, err.msg);
    if (n_want == 0) assert_null(ids);
    for (size_t i = 0; i < n && i < n_want; i++)
        if (ids[i] != want[i]) {
            int32_t got = ids[i];
            free(ids);
            fail_msg("\"%s\": id %zu is %d, want %d", text, i, got, want[i]);
        }
    free(ids);
    if (n != n_want) fail_msg("\"%s\": %zu ids, want %zu", text, n, n_want);
}

#define EXPECT(wp, text, ...) do { \
        static const int32_t want_[] = {__VA_ARGS__}; \
        expect_ids_n(wp, text, strlen(text), want_, sizeof want_ / sizeof *want_); \
    } while (0)
#define EXPECT_NONE(wp, text) expect_ids_n(wp, text, strlen(text), NULL, 0)

/* Ids of the tiny vocabulary. */
enum { UNK = 1, CLS = 2, UN = 5, AFF = 6, ABLE = 7, HELLO = 8, COMMA = 9, WORLD = 10, BANG = 11,
       CAFE = 12, ZHONG = 13, WEN = 14, A = 15, CONT_A = 16, DOT = 17, I = 18, CONT_DOT_ABOVE = 19,
       X = 20, CONT_STEM = 21, CONT_AUG_DOT = 22, HELLO_CASED = 25, CAFE_ACCENT = 26 };

/* ---- the default (uncased) configuration ---- */

static void test_basic_words_and_punctuation(void **state)
{
    (void)state;
    kn_wordpiece *wp = load_or_fail(tiny_root);
    EXPECT(wp, "Hello, World!", HELLO, COMMA, WORLD, BANG);
    EXPECT(wp, "hello,world!!", HELLO, COMMA, WORLD, BANG, BANG);
    EXPECT(wp, "a...a", A, DOT, DOT, DOT, A);
    /* The BERT README's example of greedy longest-match-first. */
    EXPECT(wp, "unaffable", UN, AFF, ABLE);
    /* One position without a piece makes the whole word unknown, not just its tail. */
    EXPECT(wp, "unaffablex", UNK);
    EXPECT(wp, "unaffable xunaffable", UN, AFF, ABLE, UNK);
    EXPECT(wp, "aaa", A, CONT_A, CONT_A);
    EXPECT_NONE(wp, "");
    EXPECT_NONE(wp, "  \t\r\n \xC2\xA0\xE2\x80\xA8\xE3\x80\x80 ");   /* NBSP, U+2028, U+3000 */
    kn_wordpiece_free(wp);
}

static void test_normalization(void **state)
{
    (void)state;
    kn_wordpiece *wp = load_or_fail(tiny_root);
    EXPECT(wp, "Caf\xC3\xA9", CAFE);                 /* é stripped */
    EXPECT(wp, "CAFE\xCC\x81", CAFE);                /* decomposed: E + U+0301 */
    EXPECT(wp, "\xE4\xB8\xAD\xE6\x96\x87", ZHONG, WEN); /* 中文: one word each */
    EXPECT(wp, "a\xE4\xB8\xAD" "a", A, ZHONG, A);
    /* NUL, BEL, DEL, ZWSP (Cf), soft hyphen (Cf), BOM (Cf), U+FFFD, private use: dropped. */
    static const char controls[] = "a\0\a\x7F\xE2\x80\x8B\xC2\xAD\xEF\xBB\xBF\xEF\xBF\xBD\xEE\x80\x80" "a";
    static const int32_t aa[] = {A, CONT_A};
    expect_ids_n(wp, controls, sizeof controls - 1, aa, 2);
    /* Vertical tab, form feed and NEL are control characters: dropped, not spaces. */
    EXPECT(wp, "a\va\fa\xC2\x85" "a", A, CONT_A, CONT_A, CONT_A);
    /* Tab, CR, LF, U+2028, NBSP, U+3000 are whitespace. */
    EXPECT(wp, "a\ta\ra\na\xE2\x80\xA8" "a\xC2\xA0" "a\xE3\x80\x80" "a", A, A, A, A, A, A, A);
    /* Dotted capital I: NFD gives I + U+0307, the mark goes, then lowercase. */
    EXPECT(wp, "\xC4\xB0", I);
    /* x + U+1D16D (ccc 226) + U+1D165 (ccc 216): both spacing marks (Mc), so they survive
     * accent stripping; NFD puts them in combining-class order. */
    EXPECT(wp, "x\xF0\x9D\x85\xAD\xF0\x9D\x85\xA5", X, CONT_STEM, CONT_AUG_DOT);
    EXPECT(wp, "x\xF0\x9D\x85\xA5\xF0\x9D\x85\xAD", X, CONT_STEM, CONT_AUG_DOT);
    /* U+034F (a nonspacing mark of class 0) blocks the reordering, then is dropped. */
    EXPECT(wp, "x\xF0\x9D\x85\xAD\xCD\x8F\xF0\x9D\x85\xA5", X, CONT_AUG_DOT, CONT_STEM);
    /* U+1D15E (half note) decomposes canonically to U+1D157 U+1D165: no piece for U+1D157. */
    EXPECT(wp, "x\xF0\x9D\x85\x9E", UNK);
    kn_wordpiece_free(wp);
}

static void test_word_length_limit(void **state)
{
    (void)state;
    kn_wordpiece *wp = load_or_fail(tiny_root);
    char word[202];
    memset(word, 'a', 101);
    word[101] = '\0';
    expect_ids_n(wp, word, 101, (const int32_t[]){UNK}, 1);
    int32_t want[100] = {A};
    for (int i = 1; i < 100; i++) want[i] = CONT_A;
    expect_ids_n(wp, word, 100, want, 100);
    /* The limit counts code points after normalization: 100 x "A" + U+0301 is 100. */
    char accented[400];
    size_t len = 0;
    for (int i = 0; i < 100; i++) len += (size_t)sprintf(accented + len, "A\xCC\x81");
    expect_ids_n(wp, accented, len, want, 100);
    kn_wordpiece_free(wp);
}

static void test_token_id(void **state)
{
    (void)state;
    kn_wordpiece *wp = load_or_fail(tiny_root);
    assert_int_equal(kn_wordpiece_token_id(wp, "[CLS]"), CLS);
    assert_int_equal(kn_wordpiece_token_id(wp, "[UNK]"), UNK);
    assert_int_equal(kn_wordpiece_token_id(wp, "##aff"), AFF);
    assert_int_equal(kn_wordpiece_token_id(wp, "caf\xC3\xA9"), CAFE_ACCENT);
    assert_int_equal(kn_wordpiece_token_id(wp, "aff"), -1);
    assert_int_equal(kn_wordpiece_token_id(wp, "[CLS"), -1);
    assert_int_equal(kn_wordpiece_token_id(wp, ""), -1);
    assert_int_equal(kn_wordpiece_token_id(wp, "\xFF"), -1);
    kn_wordpiece_free(wp);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    kn_wordpiece *wp = load_or_fail(tiny_root);
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    kn_error err;
    assert_int_equal(kn_wordpiece_encode(wp, "hello \xED\xA0\x80 world", 15, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "byte offset 6"));
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_int_equal(kn_wordpiece_encode(wp, "ab\xFF", 3, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "byte offset 2"));
    kn_wordpiece_free(wp);
}

/* ---- other configurations ---- */

static void test_cased_and_accent_options(void **state)
{
    (void)state;
    /* lowercase false, strip_accents null: neither lowercasing nor accent stripping. */
    json_t *root = tiny_with("normalizer", "lowercase", json_false());
    kn_wordpiece *wp = load_or_fail(root);
    EXPECT(wp, "Hello hello", HELLO_CASED, HELLO);
    EXPECT(wp, "caf\xC3\xA9", CAFE_ACCENT);
    EXPECT(wp, "Caf\xC3\xA9", UNK);
    kn_wordpiece_free(wp);
    json_decref(root);

    /* lowercase true, strip_accents false: full lowercase of U+0130 is i + U+0307. */
    root = tiny_with("normalizer", "strip_accents", json_false());
    wp = load_or_fail(root);
    EXPECT(wp, "CAF\xC3\x89", CAFE_ACCENT);
    EXPECT(wp, "cafe\xCC\x81", UNK);       /* no NFD: e + U+0301 stays two code points */
    EXPECT(wp, "\xC4\xB0", I, CONT_DOT_ABOVE);
    kn_wordpiece_free(wp);
    json_decref(root);

    /* lowercase false, strip_accents true. */
    root = tiny_with("normalizer", "lowercase", json_false());
    json_object_set_new(json_object_get(root, "normalizer"), "strip_accents", json_true());
    wp = load_or_fail(root);
    EXPECT(wp, "caf\xC3\xA9 Hello", CAFE, HELLO_CASED);
    kn_wordpiece_free(wp);
    json_decref(root);
}

static void test_clean_text_and_chinese_off(void **state)
{
    (void)state;
    json_t *root = tiny_with("normalizer", "clean_text", json_false());
    json_object_set_new(json_object_get(root, "normalizer"), "handle_chinese_chars", json_false());
    kn_wordpiece *wp = load_or_fail(root);
    static const char with_nul[] = "a\0a a";
    static const int32_t want[] = {UNK, A};
    expect_ids_n(wp, with_nul, sizeof with_nul - 1, want, 2);
    EXPECT(wp, "\xE4\xB8\xAD\xE6\x96\x87", UNK);   /* 中文 is one word; no "##文" */
    /* The pre-tokenizer still splits on every White_Space character, VT and NEL included. */
    EXPECT(wp, "a\va\xC2\x85" "a", A, A, A);
    kn_wordpiece_free(wp);
    json_decref(root);
}

static void test_no_normalizer_no_pre_tokenizer(void **state)
{
    (void)state;
    json_t *root = tiny_with("", "normalizer", json_null());
    kn_wordpiece *wp = load_or_fail(root);
    EXPECT(wp, "Hello hello", HELLO_CASED, HELLO);
    kn_wordpiece_free(wp);
    json_decref(root);

    /* Without a pre-tokenizer the whole normalized text is one word. */
    root = tiny_with("", "pre_tokenizer", json_null());
    wp = load_or_fail(root);
    EXPECT(wp, "unaffable", UN, AFF, ABLE);
    EXPECT(wp, "hello world", UNK);
    EXPECT_NONE(wp, "");
    kn_wordpiece_free(wp);
    json_decref(root);
}

static void test_other_prefix_and_limit(void **state)
{
    (void)state;
    /* An empty continuation prefix: continuation pieces are ordinary pieces. */
    json_t *root = tiny_with("model", "continuing_subword_prefix", json_string(""));
    kn_wordpiece *wp = load_or_fail(root);
    EXPECT(wp, "helloworld", HELLO, WORLD);
    EXPECT(wp, "unaffable", UNK);
    kn_wordpiece_free(wp);
    json_decref(root);

    root = tiny_with("model", "max_input_chars_per_word", json_integer(3));
    wp = load_or_fail(root);
    EXPECT(wp, "aaa aaaa", A, CONT_A, CONT_A, UNK);
    kn_wordpiece_free(wp);
    json_decref(root);
}

/* ---- malformed tokenizer.json ---- */

static void expect_load_error(json_t *root, const char *want)
{
    kn_error err;
    kn_wordpiece *wp = kn_wordpiece_load(root, "tiny.json", &err);
    json_decref(root);
    if (wp) {
        kn_wordpiece_free(wp);
        fail_msg("loaded, want error \"%s\"", want);
    }
    if (!strstr(err.msg, want) || strncmp(err.msg, "tiny.json: ", 11) != 0)
        fail_msg("got \"%s\", want \"tiny.json: ...%s...\"", err.msg, want);
}

static void test_load_errors(void **state)
{
    (void)state;
    json_t *root = json_deep_copy(tiny_root);
    json_object_del(root, "model");
    expect_load_error(root, "no \"model\"");
    expect_load_error(tiny_with("model", "vocab", json_array()), "model.vocab is not an object");
    expect_load_error(tiny_with("model", "vocab", json_object()), "model.vocab is empty");
    expect_load_error(tiny_with("model", "type", json_string("BPE")), "model type \"BPE\" is not supported");
    expect_load_error(tiny_with("normalizer", "type", json_string("NFKC")),
                      "normalizer type \"NFKC\" is not supported");
    expect_load_error(tiny_with("normalizer", "lowercase", json_string("yes")),
                      "normalizer.lowercase is not true or false");
    expect_load_error(tiny_with("", "pre_tokenizer", json_pack("{s:s}", "type", "Whitespace")),
                      "pre_tokenizer type \"Whitespace\" is not supported");
    expect_load_error(tiny_with("model", "unk_token", json_string("<unk>")),
                      "model.unk_token \"<unk>\" is not in model.vocab");
    expect_load_error(tiny_with("model", "max_input_chars_per_word", json_real(1.5)),
                      "max_input_chars_per_word is not a non-negative integer");

    root = json_deep_copy(tiny_root);
    json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), "hello", json_string("8"));
    expect_load_error(root, "model.vocab[\"hello\"] is not an integer id");
    root = json_deep_copy(tiny_root);
    json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), "world", json_real(10.0));
    expect_load_error(root, "model.vocab[\"world\"] is not an integer id");
    root = json_deep_copy(tiny_root);
    json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), "x", json_integer(-3));
    expect_load_error(root, "model.vocab[\"x\"] is not an integer id");

    kn_error err;
    json_t *arr = json_array();
    assert_null(kn_wordpiece_load(arr, "tiny.json", &err));
    assert_non_null(strstr(err.msg, "tiny.json: tokenizer.json is not a JSON object"));
    json_decref(arr);
}

/* ---- speed: linear in the text ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Best of three runs: the machine is shared, and one slow run says little. */
static double time_encode(const kn_wordpiece *wp, const char *text, size_t len, size_t *n_ids)
{
    double best = 1e9;
    for (int run = 0; run < 3; run++) {
        int32_t *ids;
        kn_error err;
        double t0 = now_ms();
        if (kn_wordpiece_encode(wp, text, len, &ids, n_ids, &err) != 0) fail_msg("%s", err.msg);
        double ms = now_ms() - t0;
        free(ids);
        if (ms < best) best = ms;
    }
    return best;
}

/* Fills buf with copies of unit up to cap bytes; returns the length. */
static size_t repeat(char *buf, size_t cap, const char *unit)
{
    size_t len = 0, u = strlen(unit);
    while (len + u <= cap) {
        memcpy(buf + len, unit, u);
        len += u;
    }
    return len;
}

/* 100 KB of text must take well under 50 ms. The greedy worst case needs a made-up
 * vocabulary (a 100-character piece) and does up to 50 trie steps per character, so it
 * gets a looser bound; ASan/UBSan builds are several times slower still. */
#if defined(__SANITIZE_ADDRESS__)
#define SPEED_LIMIT_MS 1000.0
#define WORST_CASE_LIMIT_MS 1000.0
#else
#define SPEED_LIMIT_MS 50.0
#define WORST_CASE_LIMIT_MS 150.0
#endif

static void test_speed(void **state)
{
    (void)state;
    enum { SIZE = 100 * 1024 };
    char *text = malloc(SIZE);
    assert_non_null(text);
    size_t n_ids;

    kn_wordpiece *wp = load_or_fail(tiny_root);
    size_t len = repeat(text, SIZE, "Hello, unaffable Caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 world! aaaa x\xF0\x9F\x98\x80 ");
    double mixed = time_encode(wp, text, len, &n_ids);
    assert_true(n_ids > len / 8);
    memset(text, 'a', SIZE);
    double one_word = time_encode(wp, text, SIZE, &n_ids);
    assert_int_equal(n_ids, 1);
    len = repeat(text, SIZE, "x\xF0\x9D\x85\xAD\xF0\x9D\x85\xA5");   /* marks to reorder, one word */
    double marks = time_encode(wp, text, len, &n_ids);
    kn_wordpiece_free(wp);

    /* Worst case for the greedy walk: each step scans to the end of a 100-character word
     * (the trie has "##" + 98 a's + "q") and then takes a one-character piece. */
    json_t *root = json_deep_copy(tiny_root);
    char piece[128] = "##";
    memset(piece + 2, 'a', 98);
    strcpy(piece + 100, "q");
    json_object_set_new(json_object_get(json_object_get(root, "model"), "vocab"), piece, json_integer(27));
    wp = load_or_fail(root);
    char unit[102];
    memset(unit, 'a', 100);
    strcpy(unit + 100, " ");
    len = repeat(text, SIZE, unit);
    double greedy = time_encode(wp, text, len, &n_ids);
    assert_int_equal(n_ids, len / 101 * 100);
    kn_wordpiece_free(wp);
    json_decref(root);
    free(text);

    print_message("100 KB: mixed text %.2f ms, one word %.2f ms, combining marks %.2f ms, "
                  "greedy worst case %.2f ms\n", mixed, one_word, marks, greedy);
    assert_true(mixed < SPEED_LIMIT_MS && one_word < SPEED_LIMIT_MS && marks < SPEED_LIMIT_MS);
    assert_true(greedy < WORST_CASE_LIMIT_MS);
}

/* ---- against the Python reference (tools/hf/check_wordpiece.sh) ---- */

static void test_reference_cases(void **state)
{
    (void)state;
    const char *json_path = getenv("KANAVA_WORDPIECE_JSON"), *cases_path = getenv("KANAVA_WORDPIECE_CASES");
    if (!json_path || !*json_path || !cases_path || !*cases_path) {
        print_message("KANAVA_WORDPIECE_JSON / KANAVA_WORDPIECE_CASES not set: skipping reference cases\n");
        skip();
    }
    json_error_t jerr;
    json_t *root = json_load_file(json_path, 0, &jerr);
    if (!root) fail_msg("%s:%d: %s", json_path, jerr.line, jerr.text);
    kn_error err;
    kn_wordpiece *wp = kn_wordpiece_load(root, json_path, &err);
    json_decref(root);
    if (!wp) fail_msg("%s", err.msg);

    FILE *f = fopen(cases_path, "r");
    if (!f) fail_msg("cannot open %s", cases_path);
    char *line = NULL;
    size_t cap = 0, passed = 0, failed = 0, line_no = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        line_no++;
        json_t *c = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &jerr);
        if (!c) fail_msg("%s:%zu: %s", cases_path, line_no, jerr.text);
        json_t *text = json_object_get(c, "text"), *want = json_object_get(c, "ids");
        if (!json_is_string(text) || !json_is_array(want)) fail_msg("%s:%zu: no text or ids", cases_path, line_no);
        int32_t *ids;
        size_t n;
        if (kn_wordpiece_encode(wp, json_string_value(text), json_string_length(text), &ids, &n, &err) != 0)
            fail_msg("%s:%zu: %s", cases_path, line_no, err.msg);
        size_t first_diff = n == json_array_size(want) ? SIZE_MAX : (n < json_array_size(want) ? n : json_array_size(want));
        for (size_t i = 0; i < n && i < json_array_size(want); i++)
            if (ids[i] != json_integer_value(json_array_get(want, i))) {
                first_diff = i;
                break;
            }
        if (first_diff == SIZE_MAX) {
            passed++;
        } else {
            if (failed < 10) {
                const char *label = json_string_value(json_object_get(c, "name"));
                fprintf(stderr, "MISMATCH %s:%zu (%s): %zu ids vs %zu in the reference, first difference at %zu"
                        " (%d vs %lld)\n", cases_path, line_no, label ? label : "", n, json_array_size(want),
                        first_diff, first_diff < n ? ids[first_diff] : -1,
                        first_diff < json_array_size(want) ? json_integer_value(json_array_get(want, first_diff)) : -1LL);
            }
            failed++;
        }
        free(ids);
        json_decref(c);
    }
    free(line);
    fclose(f);
    kn_wordpiece_free(wp);
    print_message("reference cases: %zu passed, %zu failed\n", passed, failed);
    if (failed) fail_msg("%zu of %zu texts differ from the reference", failed, passed + failed);
    assert_true(passed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_words_and_punctuation),
        cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_word_length_limit),
        cmocka_unit_test(test_token_id),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_cased_and_accent_options),
        cmocka_unit_test(test_clean_text_and_chinese_off),
        cmocka_unit_test(test_no_normalizer_no_pre_tokenizer),
        cmocka_unit_test(test_other_prefix_and_limit),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_reference_cases),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
