/* test_backlog.c - reading the unlabelled backlog (src/learn/backlog.h, kn_backlog_read):
 *   - the formats: one text per line (LF, CRLF, no final newline, a leading byte order mark,
 *     stdin as "-"), .csv with a text column (quoted commas, quotes and a multi-line field;
 *     another column name), .tsv, .jsonl / .ndjson (field "text" or another one, blank
 *     lines, \u escapes);
 *   - the counts (lines, empty, duplicates, labelled, distinct) on a hand-made file, and the
 *     labelled texts left out (by their given lengths, exact bytes only);
 *   - the reservoir: exactly max_texts kept, distinct, from the file, fixed by the seed; and
 *     every line kept equally often over 2000 seeds (a "keep the first k" would fail);
 *   - errors naming the file and line (invalid UTF-8, NUL, a text over KN_MAX_TEXT_BYTES,
 *     bad JSON, a non-object, a missing field, a CSV without the column, empty inputs, a
 *     missing file), after which the out struct is all zero (and ASan sees no leak).
 * Error messages are compared in full, so a wrong line number or a missing file name fails.
 * Every input file lives in one mkdtemp directory that the group teardown removes. */
#include "test_util.h"

#include <math.h>
#include <unistd.h>

#include "learn/backlog.h"
#include "text/texts.h"
#include "util/fs.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kanava-test-backlog.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return kn_rm_rf(g_dir) == 0 ? 0 : -1;
}

/* Writes len bytes to g_dir/name; the full path goes to path (cap 512). */
static void write_bytes(const char *name, const void *data, size_t len, char *path)
{
    snprintf(path, 512, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s", path);
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) fail_msg("cannot write %s", path);
}

static void write_text(const char *name, const char *data, char *path) { write_bytes(name, data, strlen(data), path); }

/* err->msg must equal the formatted text exactly. */
#define assert_msg(err, ...) assert_msg_at(__FILE__, __LINE__, (err), __VA_ARGS__)
static void assert_msg_at(const char *file, int line, const kn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void assert_msg_at(const char *file, int line, const kn_error *err, const char *fmt, ...)
{
    char want[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    if (strcmp(err->msg, want) != 0) fail_msg("%s:%d: error is\n  \"%s\"\nexpected\n  \"%s\"", file, line, err->msg, want);
}

/* The backlog holds exactly the texts want[0..n) (as a set: the order is not promised),
 * each NUL-terminated with the right length. */
static void assert_texts(const kn_backlog *b, const char *const *want, size_t n)
{
    if (b->n != n) fail_msg("%zu texts kept, expected %zu", b->n, n);
    for (size_t i = 0; i < n; i++) {
        size_t wl = strlen(want[i]), hits = 0;
        for (size_t j = 0; j < b->n; j++) {
            assert_true(b->text[j][b->len[j]] == '\0');
            hits += b->len[j] == wl && memcmp(b->text[j], want[i], wl) == 0;
        }
        if (hits != 1) fail_msg("text \"%s\" kept %zu times, expected once", want[i], hits);
    }
}

static void assert_counts(const kn_backlog *b, size_t lines, size_t empty, size_t duplicates, size_t labelled,
                          size_t distinct)
{
    if (b->lines != lines || b->empty != empty || b->duplicates != duplicates || b->labelled != labelled ||
        b->distinct != distinct)
        fail_msg("counts lines %zu empty %zu duplicates %zu labelled %zu distinct %zu; expected %zu %zu %zu %zu %zu",
                 b->lines, b->empty, b->duplicates, b->labelled, b->distinct, lines, empty, duplicates, labelled,
                 distinct);
}

/* Reads path with no labelled texts and a large max_texts; fails the test on an error. */
static void read_ok(const char *path, const char *column, kn_backlog *b)
{
    kn_error err = {{0}};
    if (kn_backlog_read(path, column, NULL, NULL, 0, KN_BACKLOG_MAX_TEXTS_DEFAULT, 1, b, &err) != 0)
        fail_msg("%s: %s", path, err.msg);
}

/* ---- 1. Formats -------------------------------------------------------------------- */

static void test_plain_lines(void **state)
{
    (void)state;
    char path[512];
    /* An empty line, two repeats and a last line without '\n'. */
    write_text("plain.txt", "alpha\nbeta\n\ngamma\nbeta\nalpha\ndelta", path);
    kn_backlog b;
    read_ok(path, NULL, &b);
    assert_texts(&b, (const char *[]){"alpha", "beta", "gamma", "delta"}, 4);
    assert_counts(&b, 7, 1, 2, 0, 4);
    kn_backlog_free(&b);
    /* kn_backlog_free leaves a zero struct: freeing twice is safe. */
    assert_null(b.text);
    assert_int_equal(b.n, 0);
    kn_backlog_free(&b);

    /* A UTF-8 byte order mark before the first line is not part of the text (as in .csv), so
     * the first text matches the labelled "hello"; in .jsonl it does not break the object. */
    write_text("bom.txt", "\xef\xbb\xbfhello\nworld\n", path);
    kn_error err = {{0}};
    const char *hello[] = {"hello"};
    const size_t hello_len[] = {5};
    if (kn_backlog_read(path, NULL, hello, hello_len, 1, 10, 1, &b, &err) != 0) fail_msg("%s", err.msg);
    assert_texts(&b, (const char *[]){"world"}, 1);
    assert_counts(&b, 2, 0, 0, 1, 1);
    kn_backlog_free(&b);
    write_text("bom.jsonl", "\xef\xbb\xbf{\"text\": \"hello\"}\n", path);
    read_ok(path, NULL, &b);
    assert_texts(&b, (const char *[]){"hello"}, 1);
    kn_backlog_free(&b);

    /* A name that is neither .csv, .tsv nor .jsonl is read as lines, commas and braces included. */
    write_text("backlog.log", "{\"text\": \"x\"}\na,b,c\n", path);
    read_ok(path, NULL, &b);
    assert_texts(&b, (const char *[]){"{\"text\": \"x\"}", "a,b,c"}, 2);
    kn_backlog_free(&b);
}

static void test_crlf_lines(void **state)
{
    (void)state;
    char path[512];
    /* CR before LF is not part of the text: "two\r\n" and "two\n" are the same text, "\r\n" is
     * an empty line; a CR inside a line stays. */
    write_text("crlf.txt", "one\r\ntwo\r\n\r\nthree\r\ntwo\nin\rside\r\nlast\r", path);
    kn_backlog b;
    read_ok(path, NULL, &b);
    assert_texts(&b, (const char *[]){"one", "two", "three", "in\rside", "last"}, 5);
    assert_counts(&b, 7, 1, 1, 0, 5);
    kn_backlog_free(&b);
}

static void test_stdin(void **state)
{
    (void)state;
    char path[512];
    write_text("stdin.txt", "from stdin\nsecond\nfrom stdin\n", path);
    if (!freopen(path, "rb", stdin)) fail_msg("cannot reopen stdin from %s", path);
    kn_backlog b;
    read_ok("-", NULL, &b); /* "-" is lines even though the content could be anything */
    assert_texts(&b, (const char *[]){"from stdin", "second"}, 2);
    assert_counts(&b, 3, 0, 1, 0, 2);
    kn_backlog_free(&b);
    /* Errors on stdin name it "stdin". */
    write_text("stdin-bad.txt", "fine\nbad \xc3\n", path);
    if (!freopen(path, "rb", stdin)) fail_msg("cannot reopen stdin from %s", path);
    kn_error err;
    assert_int_equal(kn_backlog_read("-", NULL, NULL, NULL, 0, 10, 1, &b, &err), -1);
    assert_msg(&err, "stdin:2: invalid UTF-8 at byte 5 of the text (0xc3)");
}

static void test_csv(void **state)
{
    (void)state;
    char path[512];
    /* The text is the second column; quoted commas, doubled quotes and a field over three
     * lines; an empty text field; a BOM before the header (csv.h skips it). */
    write_text("backlog.csv",
               "\xef\xbb\xbfid,text,label\n"
               "1,hello,x\n"
               "2,\"multi\nline, with comma\n and more\",y\n"
               "3,\"she said \"\"hi\"\"\",z\n"
               "4,,w\n"
               "5,hello,v\n",
               path);
    kn_backlog b;
    read_ok(path, NULL, &b);
    assert_texts(&b, (const char *[]){"hello", "multi\nline, with comma\n and more", "she said \"hi\""}, 3);
    assert_counts(&b, 5, 1, 1, 0, 3); /* records, not physical lines */
    kn_backlog_free(&b);

    /* Another column, CRLF records. */
    write_text("body.csv", "text,body\r\nnot this,first body\r\nnor this,\"second, body\"\r\n", path);
    read_ok(path, "body", &b);
    assert_texts(&b, (const char *[]){"first body", "second, body"}, 2);
    kn_backlog_free(&b);

    /* An error after the multi-line field (lines 3-5) names the line its record starts on: 6. */
    write_text("late.csv", "text\nok\n\"one\ntwo\nthree\"\n\"bad \xff\"\n", path);
    kn_error err;
    assert_int_equal(kn_backlog_read(path, NULL, NULL, NULL, 0, 10, 1, &b, &err), -1);
    assert_msg(&err, "%s:6: invalid UTF-8 at byte 5 of the text (0xff)", path);
}

static void test_tsv(void **state)
{
    (void)state;
    char path[512];
    write_text("backlog.tsv", "label\ttext\na\tfirst one\nb\tsecond, with comma\nc\t\"quoted\ttab\"\n", path);
    kn_backlog b;
    read_ok(path, NULL, &b);
    assert_texts(&b, (const char *[]){"first one", "second, with comma", "quoted\ttab"}, 3);
    assert_counts(&b, 3, 0, 0, 0, 3);
    kn_backlog_free(&b);

    write_text("message.tsv", "message\ttext\nthe message\tnot this\n", path);
    read_ok(path, "message", &b);
    assert_texts(&b, (const char *[]){"the message"}, 1);
    kn_backlog_free(&b);
}

static void test_jsonl(void **state)
{
    (void)state;
    char path[512];
    /* Other fields are ignored, blank lines between objects are not records, escapes are
     * decoded ("caf\u00e9" is the same text as the raw UTF-8 "café"), an empty string is an
     * empty text, CRLF line ends. */
    write_text("backlog.jsonl",
               "{\"text\": \"first\"}\n"
               "\n"
               "{\"label\": \"x\", \"text\": \"second \\\"quoted\\\"\\nline\"}\r\n"
               "{\"text\": \"\"}\n"
               "{\"text\": \"caf\\u00e9\"}\n"
               "{\"text\": \"caf\xc3\xa9\"}\n",
               path);
    kn_backlog b;
    read_ok(path, NULL, &b);
    assert_texts(&b, (const char *[]){"first", "second \"quoted\"\nline", "caf\xc3\xa9"}, 3);
    assert_counts(&b, 5, 1, 1, 0, 3);
    kn_backlog_free(&b);

    /* A custom field, in an .ndjson file; "text" is then just another field. */
    write_text("custom.ndjson", "{\"text\": \"no\", \"body\": \"yes one\"}\n{\"body\": \"yes two\"}\n", path);
    read_ok(path, "body", &b);
    assert_texts(&b, (const char *[]){"yes one", "yes two"}, 2);
    kn_backlog_free(&b);
}

/* ---- 2. Counts and labelled texts -------------------------------------------------- */

static void test_counts_and_labelled(void **state)
{
    (void)state;
    char path[512];
    /* 14 records: 3 empty, 3 labelled (one twice), 2 duplicates, 6 distinct new texts. A
     * labelled text differing in case or by a trailing space is not labelled. */
    write_text("counts.txt",
               "refund please\n" /* labelled */
               "where is my card\n"
               "\n"
               "Refund please\n" /* not labelled: case */
               "card lost\n"     /* labelled, given with a longer buffer */
               "where is my card\n" /* duplicate */
               "refund please\n" /* labelled again */
               "top up failed\n"
               "\r\n"
               "refund please \n" /* not labelled: trailing space */
               "exchange rate\n"
               "top up failed\n" /* duplicate */
               "\n"
               "pin blocked\n",
               path);
    /* labelled_lens decide: "card lost and found" cut at 9 bytes is "card lost". */
    const char *labelled[] = {"refund please", "card lost and found", "never in the backlog"};
    const size_t lens[] = {13, 9, 20};
    kn_backlog b;
    kn_error err = {{0}};
    if (kn_backlog_read(path, NULL, labelled, lens, LEN(labelled), 100, 7, &b, &err) != 0) fail_msg("%s", err.msg);
    assert_texts(&b,
                 (const char *[]){"where is my card", "Refund please", "top up failed", "refund please ", "exchange rate",
                                  "pin blocked"},
                 6);
    assert_counts(&b, 14, 3, 2, 3, 6);
    kn_backlog_free(&b);

    /* A backlog of labelled texts only is an error that gives the counts. */
    write_text("all-labelled.txt", "refund please\ncard lost\n\nrefund please\n", path);
    assert_int_equal(kn_backlog_read(path, NULL, labelled, lens, LEN(labelled), 100, 7, &b, &err), -1);
    assert_msg(&err, "%s: no unlabelled texts in the backlog (4 records: 1 empty, 0 duplicates, 3 labelled)", path);
    assert_null(b.text);
}

/* ---- 3. The reservoir -------------------------------------------------------------- */

/* The line numbers (0-based) of the kept "line NNNN" texts, sorted; fails on any text that is
 * not one of the file's n lines. */
static void kept_lines(const kn_backlog *b, size_t n, size_t *out)
{
    for (size_t j = 0; j < b->n; j++) {
        unsigned v;
        int used = 0;
        if (sscanf(b->text[j], "line %4u%n", &v, &used) != 1 || (size_t)used != b->len[j] || v >= n)
            fail_msg("kept text \"%s\" is not a line of the file", b->text[j]);
        out[j] = v;
    }
    for (size_t i = 1; i < b->n; i++) /* insertion sort: tiny */
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            size_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
}

static void write_numbered(const char *name, size_t n, size_t repeat, char *path)
{
    char *buf = malloc(n * repeat * 16 + 1);
    size_t at = 0;
    for (size_t r = 0; r < repeat; r++)
        for (size_t i = 0; i < n; i++) at += (size_t)sprintf(buf + at, "line %04zu\n", i);
    write_bytes(name, buf, at, path);
    free(buf);
}

static void test_reservoir_keeps_max_texts(void **state)
{
    (void)state;
    char path[512];
    write_numbered("thousand.txt", 1000, 1, path);
    size_t a[10], again[10], other[10];
    kn_backlog b;
    kn_error err;
    assert_int_equal(kn_backlog_read(path, NULL, NULL, NULL, 0, 10, 42, &b, &err), 0);
    assert_int_equal(b.n, 10);
    assert_counts(&b, 1000, 0, 0, 0, 1000); /* distinct counts every new text, kept or not */
    kept_lines(&b, 1000, a);
    for (size_t i = 1; i < 10; i++) assert_true(a[i] > a[i - 1]); /* all distinct */
    assert_true(a[9] >= 10); /* not simply the first ten */
    kn_backlog_free(&b);
    /* The same seed keeps the same texts; another seed a different set. */
    assert_int_equal(kn_backlog_read(path, NULL, NULL, NULL, 0, 10, 42, &b, &err), 0);
    kept_lines(&b, 1000, again);
    kn_backlog_free(&b);
    assert_memory_equal(a, again, sizeof a);
    assert_int_equal(kn_backlog_read(path, NULL, NULL, NULL, 0, 10, 43, &b, &err), 0);
    assert_int_equal(b.n, 10);
    kept_lines(&b, 1000, other);
    kn_backlog_free(&b);
    assert_memory_not_equal(a, other, sizeof a);
    printf("reservoir 10 of 1000: seed 42 keeps lines");
    for (size_t i = 0; i < 10; i++) printf(" %zu", a[i]);
    printf("; seed 43");
    for (size_t i = 0; i < 10; i++) printf(" %zu", other[i]);
    printf("\n");

    /* Repeats of evicted texts stay duplicates: 100 texts three times over, 10 kept. */
    write_numbered("repeated.txt", 100, 3, path);
    assert_int_equal(kn_backlog_read(path, NULL, NULL, NULL, 0, 10, 5, &b, &err), 0);
    assert_counts(&b, 300, 0, 200, 0, 100);
    kept_lines(&b, 100, a);
    for (size_t i = 1; i < 10; i++) assert_true(a[i] > a[i - 1]);
    kn_backlog_free(&b);

    /* Exactly max_texts distinct texts: all kept, no sampling. */
    write_numbered("ten.txt", 10, 1, path);
    assert_int_equal(kn_backlog_read(path, NULL, NULL, NULL, 0, 10, 5, &b, &err), 0);
    kept_lines(&b, 10, a);
    for (size_t i = 0; i < 10; i++) assert_int_equal(a[i], i);
    kn_backlog_free(&b);

    /* max_texts 0 is refused. */
    assert_int_equal(kn_backlog_read(path, NULL, NULL, NULL, 0, 0, 5, &b, &err), -1);
    assert_msg(&err, "backlog: max_texts must be at least 1");
    assert_null(b.text);
}

/* Over 2000 seeds, 5 of 50 lines: each line must be kept in about 5/50 of the runs. The
 * counts are hypergeometric sums (variance 2000 * 0.1 * 0.9 = 180 per line, slightly
 * negatively correlated), so sum (c - 200)^2 / 200 is about chi-square with 49 degrees of
 * freedom, times 0.9: mean ~45, sd ~9. The limit 100 is passed by chance with odds far
 * below 1e-6; keeping the first 5 gives ~18000, keeping the last 5 the same, and a
 * replacement probability of 1/k instead of max/k (late lines favoured) thousands. The
 * first and the last 5 lines (where a biased reservoir goes wrong) get their own check,
 * within 6 sd of 200 each. Also: every run keeps exactly 5 distinct lines. */
static void test_reservoir_is_uniform(void **state)
{
    (void)state;
    enum { LINES = 50, KEEP = 5, RUNS = 2000 };
    char path[512];
    write_numbered("fifty.txt", LINES, 1, path);
    size_t count[LINES] = {0}, kept[KEEP];
    for (uint64_t seed = 1; seed <= RUNS; seed++) {
        kn_backlog b;
        kn_error err;
        if (kn_backlog_read(path, NULL, NULL, NULL, 0, KEEP, seed, &b, &err) != 0) fail_msg("seed %lu: %s", (unsigned long)seed, err.msg);
        assert_int_equal(b.n, KEEP);
        kept_lines(&b, LINES, kept);
        for (size_t i = 0; i < KEEP; i++) {
            if (i) assert_true(kept[i] > kept[i - 1]);
            count[kept[i]]++;
        }
        kn_backlog_free(&b);
    }
    const double expect = (double)RUNS * KEEP / LINES, sd = sqrt(RUNS * 0.1 * 0.9);
    double chi2 = 0, worst = 0;
    size_t lo = RUNS, hi = 0;
    for (size_t i = 0; i < LINES; i++) {
        double d = (double)count[i] - expect;
        chi2 += d * d / expect;
        worst = fmax(worst, fabs(d));
        if (count[i] < lo) lo = count[i];
        if (count[i] > hi) hi = count[i];
    }
    printf("reservoir 5 of 50 over %d seeds: counts %zu..%zu (expected %.0f, sd %.1f), chi-square %.1f on 49 df "
           "(limit 100); first line %zu, last line %zu\n",
           RUNS, lo, hi, expect, sd, chi2, count[0], count[LINES - 1]);
    if (!(chi2 < 100)) fail_msg("chi-square %.1f: lines are not kept uniformly", chi2);
    for (size_t i = 0; i < LINES; i++)
        if ((i < 5 || i >= LINES - 5) && !(fabs((double)count[i] - expect) <= 6 * sd))
            fail_msg("line %zu kept %zu times of %d, expected %.0f +- %.0f", i, count[i], RUNS, expect, 6 * sd);
}

/* ---- 4. Errors --------------------------------------------------------------------- */

/* kn_backlog_read on path fails with exactly msg (formatted with the path where it has a
 * %s), or with a message that starts with it when prefix is set (the rest is jansson's
 * wording, which varies between its versions); and it leaves out all zero although it
 * started as garbage. */
static void expect_error_at(const char *path, const char *column, const char *want_fmt, int prefix)
{
    kn_backlog b, zero;
    memset(&b, 0xab, sizeof b);
    memset(&zero, 0, sizeof zero);
    kn_error err = {{0}};
    int rc = kn_backlog_read(path, column, NULL, NULL, 0, 3, 1, &b, &err);
    if (rc != -1) fail_msg("%s: returned %d, expected -1", path, rc);
    char want[1024];
    snprintf(want, sizeof want, want_fmt, path);
    if (prefix ? strncmp(err.msg, want, strlen(want)) != 0 || strlen(err.msg) == strlen(want) : strcmp(err.msg, want) != 0)
        fail_msg("error is\n  \"%s\"\nexpected%s\n  \"%s\"", err.msg, prefix ? " to start with" : "", want);
    if (memcmp(&b, &zero, sizeof b) != 0) fail_msg("%s: the backlog is not empty after the error", path);
    printf("  %s\n", err.msg);
}

static void expect_error(const char *path, const char *column, const char *want_fmt)
{
    expect_error_at(path, column, want_fmt, 0);
}

static void test_errors_in_texts(void **state)
{
    (void)state;
    char path[512];
    /* The texts before the bad line were kept (and must be freed). */
    write_text("utf8.txt", "ok one\nok two\nbad \xff here\nok four\n", path);
    expect_error(path, NULL, "%s:3: invalid UTF-8 at byte 5 of the text (0xff)");
    /* An overlong form and a lone continuation byte are invalid too. */
    write_text("overlong.txt", "fine\n\xc0\xafslash\n", path);
    expect_error(path, NULL, "%s:2: invalid UTF-8 at byte 1 of the text (0xc0)");
    write_bytes("nul.txt", "a\nb\0c\nd\n", 8, path);
    expect_error(path, NULL, "%s:2: the text contains a NUL byte");
    /* In a CSV field too. */
    write_bytes("nul.csv", "text\nfine\n\"x\0y\"\n", 16, path);
    expect_error(path, NULL, "%s:3: the text contains a NUL byte");

    /* KN_MAX_TEXT_BYTES is allowed, one byte more is not. */
    const size_t big = KN_MAX_TEXT_BYTES + 1;
    char *buf = malloc(2 * big + 8);
    size_t at = 0;
    memcpy(buf, "short\n", 6), at = 6;
    memset(buf + at, 'x', big - 1), at += big - 1; /* exactly the limit */
    buf[at++] = '\n';
    memset(buf + at, 'y', big), at += big; /* one over */
    buf[at++] = '\n';
    write_bytes("limit-ok.txt", buf, 6 + big, path);
    kn_backlog b;
    read_ok(path, NULL, &b);
    assert_int_equal(b.n, 2);
    assert_true(b.len[0] == KN_MAX_TEXT_BYTES || b.len[1] == KN_MAX_TEXT_BYTES);
    kn_backlog_free(&b);
    write_bytes("too-long.txt", buf, at, path);
    char want[128];
    snprintf(want, sizeof want, "%%s:3: the text is %zu bytes; the limit is %u", big, KN_MAX_TEXT_BYTES);
    expect_error(path, NULL, want);
    free(buf);
}

static void test_errors_in_json_and_csv(void **state)
{
    (void)state;
    char path[512];
    write_text("bad.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"\n", path);
    expect_error_at(path, NULL, "%s:2: not JSON: ", 1);
    write_text("array.jsonl", "{\"text\": \"a\"}\n\n[\"b\"]\n", path);
    expect_error(path, NULL, "%s:3: a JSON object is needed, one per line");
    write_text("missing.jsonl", "{\"text\": \"a\"}\n{\"body\": \"b\"}\n", path);
    expect_error(path, NULL, "%s:2: the object has no string field 'text'");
    write_text("number.jsonl", "{\"body\": 5}\n", path);
    expect_error(path, "body", "%s:1: the object has no string field 'body'");
    write_text("null.jsonl", "{\"text\": null}\n", path);
    expect_error(path, NULL, "%s:1: the object has no string field 'text'");
    /* jansson refuses \u0000 (it would be a NUL byte in the text). */
    write_text("nul.jsonl", "{\"text\": \"a\"}\n{\"text\": \"a\\u0000b\"}\n", path);
    expect_error_at(path, NULL, "%s:2: not JSON: \\u0000 is not allowed", 1);

    write_text("nocol.csv", "id,body\n1,hello\n", path);
    expect_error(path, NULL, "%s:1: no column named 'text' in the header");
    write_text("nocol.tsv", "id\ttext\n1\thello\n", path);
    expect_error(path, "message", "%s:1: no column named 'message' in the header");
    write_text("empty.csv", "", path);
    expect_error(path, NULL, "%s: empty file (a header row with a 'text' column is needed)");
    write_text("header-only.csv", "id,text\n", path);
    expect_error(path, NULL, "%s: no unlabelled texts in the backlog (0 records: 0 empty, 0 duplicates, 0 labelled)");
    write_text("unclosed.csv", "text\nfine\n\"never closed\nat all\n", path);
    expect_error(path, NULL, "%s:3: quoted field is never closed");
    write_text("fields.csv", "id,text\n1,a\n2,b,extra\n", path);
    expect_error(path, NULL, "%s:3: record has 3 fields, but the first record (line 1) has 2");
}

static void test_errors_empty_and_missing(void **state)
{
    (void)state;
    char path[512];
    write_text("empty.txt", "", path);
    expect_error(path, NULL, "%s: no unlabelled texts in the backlog (0 records: 0 empty, 0 duplicates, 0 labelled)");
    write_text("blank.txt", "\n\r\n\n", path);
    expect_error(path, NULL, "%s: no unlabelled texts in the backlog (3 records: 3 empty, 0 duplicates, 0 labelled)");
    write_text("blank.jsonl", "\n\n", path); /* blank lines are not records in JSONL */
    expect_error(path, NULL, "%s: no unlabelled texts in the backlog (0 records: 0 empty, 0 duplicates, 0 labelled)");
    write_text("empties.jsonl", "{\"text\": \"\"}\n{\"text\": \"\"}\n", path);
    expect_error(path, NULL, "%s: no unlabelled texts in the backlog (2 records: 2 empty, 0 duplicates, 0 labelled)");

    snprintf(path, sizeof path, "%s/does-not-exist.txt", g_dir);
    expect_error(path, NULL, "%s: cannot open");
    snprintf(path, sizeof path, "%s/does-not-exist.jsonl", g_dir);
    expect_error(path, NULL, "%s: cannot open");
    snprintf(path, sizeof path, "%s/does-not-exist.csv", g_dir);
    expect_error(path, NULL, "%s: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_lines),
        cmocka_unit_test(test_crlf_lines),
        cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_tsv),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_counts_and_labelled),
        cmocka_unit_test(test_reservoir_keeps_max_texts),
        cmocka_unit_test(test_reservoir_is_uniform),
        cmocka_unit_test(test_errors_in_texts),
        cmocka_unit_test(test_errors_in_json_and_csv),
        cmocka_unit_test(test_errors_empty_and_missing),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
