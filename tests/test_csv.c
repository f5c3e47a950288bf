/* test_csv.c - the CSV/TSV readers (src/text/csv.c, kn_texts_read_csv_column /
 * kn_texts_read_table_column in src/text/texts.c, kn_dataset_read in src/learn/dataset.c)
 * on malformed and awkward input: unclosed quotes, text after a closing quote, wrong field
 * counts, unknown columns, empty labels, invalid UTF-8, NUL bytes, texts over 1 MiB; and the
 * forms they accept: a UTF-8 BOM, CRLF, quoted delimiters / quotes / line breaks, empty
 * lines, no final newline, empty files, records straddling the 64 KiB read buffer.
 *
 * Error messages are compared in full ("FILE:LINE: what"), so a wrong line number, a
 * missing file name or changed wording fails. The kn_csv and kn_texts cases run once with
 * ',' and once with '\t' (the inputs are written with ',' and translated). Every input
 * file lives in one mkdtemp directory that the group teardown removes. */
#include "test_util.h"

#include <unistd.h>

#include "learn/dataset.h"
#include "text/csv.h"
#include "text/texts.h"
#include "util/fs.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static char g_dir[64];
static const char COMMA = ',', TAB = '\t';

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kanava-test-csv.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return kn_rm_rf(g_dir) == 0 ? 0 : -1;
}

static char delim_of(void **state) { return *(const char *)*state; }

/* Writes len bytes of data to g_dir/name; the full path goes to path (cap 512). */
static void write_bytes(const char *name, const void *data, size_t len, char *path)
{
    snprintf(path, 512, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s", path);
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) fail_msg("cannot write %s", path);
}

/* Writes the first len bytes of tmpl with every ',' replaced by delim, as NAME.csv or
 * NAME.tsv. */
static void write_delim_n(const char *name, const char *tmpl, size_t len, char delim, char *path)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    for (size_t i = 0; i < len; i++) copy[i] = tmpl[i] == ',' ? delim : tmpl[i];
    char file[128];
    snprintf(file, sizeof file, "%s.%s", name, delim == '\t' ? "tsv" : "csv");
    write_bytes(file, copy, len, path);
    free(copy);
}

static void write_delim(const char *name, const char *tmpl, char delim, char *path)
{
    write_delim_n(name, tmpl, strlen(tmpl), delim, path);
}

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

/* Reads path with kn_csv to the end or the first error; returns the last kn_csv_next
 * result (0 or -1) and the number of records read before it. */
static int csv_drain(const char *path, char delim, size_t *records, kn_error *err)
{
    kn_csv *csv = kn_csv_open(path, delim, err);
    if (!csv) fail_msg("kn_csv_open(%s): %s", path, err->msg);
    kn_csv_row row;
    int rc;
    size_t n = 0;
    while ((rc = kn_csv_next(csv, &row, err)) == 1) n++;
    kn_csv_close(csv);
    *records = n;
    return rc;
}

/* A malformed input: kn_csv must read `good` records, then fail with exactly
 * "PATH:" + tail. */
static void expect_csv_error(const char *name, const char *tmpl, size_t len, char delim, size_t good, const char *tail)
{
    char path[512];
    write_delim_n(name, tmpl, len, delim, path);
    kn_error err = {{0}};
    size_t records;
    int rc = csv_drain(path, delim, &records, &err);
    if (rc != -1) fail_msg("%s: kn_csv_next ended with %d after %zu records, expected an error", path, rc, records);
    assert_msg(&err, "%s:%s", path, tail);
    if (records != good) fail_msg("%s: %zu records before the error, expected %zu", path, records, good);
}
#define EXPECT_CSV_ERROR(name, lit, delim, good, tail) expect_csv_error(name, lit, sizeof(lit) - 1, delim, good, tail)

/* ---------------------------------------------------------------- kn_csv: errors */

static void test_csv_unclosed_quote(void **state)
{
    char d = delim_of(state);
    /* The record starts on line 4 (line 3 is empty and skipped); the quote runs to EOF. */
    EXPECT_CSV_ERROR("unclosed", "a,b\n1,2\n\n\"open,3\n4,5\n", d, 2, "4: quoted field is never closed");
    /* A quote as the very last byte. */
    EXPECT_CSV_ERROR("unclosed_last", "a,b\n1,\"", d, 1, "2: quoted field is never closed");
    /* CRLF and a BOM do not move the line. */
    EXPECT_CSV_ERROR("unclosed_crlf", "\xEF\xBB\xBF" "a,b\r\n1,2\r\n\r\n3,\"x\r\ny\r\n", d, 2,
                     "4: quoted field is never closed");
    /* The message names the line where the unclosed quote opens: here the record starts on
     * line 2, its first field spans lines 2-3, and the second field's quote opens on line 3. */
    EXPECT_CSV_ERROR("unclosed_later", "a,b\n\"x\ny\",\"open\nmore\n", d, 1, "3: quoted field is never closed");
}

static void test_csv_text_after_closing_quote(void **state)
{
    char d = delim_of(state);
    static const char *const tail = ": text after a closing quote (write a quote inside a quoted field as \"\")";
    char want[256];
    snprintf(want, sizeof want, "3%s", tail);
    EXPECT_CSV_ERROR("after_quote", "a,b\n1,2\n\"x\"y,2\n", d, 2, want);
    /* A space after the quote is text too; the closing quote is on line 3 of a record that
     * starts on line 2, and line 3 is named. */
    EXPECT_CSV_ERROR("after_quote_ml", "a,b\n\"x\ny\" ,2\n", d, 1, want);
    /* In the last field; a lone CR after the quote (not CRLF) is text as well. */
    snprintf(want, sizeof want, "2%s", tail);
    EXPECT_CSV_ERROR("after_quote_last", "a,b\n1,\"2\"3\n", d, 1, want);
    EXPECT_CSV_ERROR("after_quote_cr", "a,b\n\"x\"\rz,2\n", d, 1, want);
}

static void test_csv_field_counts(void **state)
{
    char d = delim_of(state);
    EXPECT_CSV_ERROR("too_many", "a,b\n1,2\n1,2,3\n", d, 2, "3: record has 3 fields, but the first record (line 1) has 2");
    EXPECT_CSV_ERROR("too_few", "a,b,c\n1,2,3\n\n1,2\n", d, 2, "4: record has 2 fields, but the first record (line 1) has 3");
    EXPECT_CSV_ERROR("one_field", "a,b\n1\n", d, 1, "2: record has 1 field, but the first record (line 1) has 2");
    /* A trailing delimiter makes one more (empty) field. */
    EXPECT_CSV_ERROR("trailing", "a,b\n1,2,\n", d, 1, "2: record has 3 fields, but the first record (line 1) has 2");
    /* The header is not on line 1 (BOM, then an empty line and an empty CRLF line). */
    EXPECT_CSV_ERROR("late_header", "\xEF\xBB\xBF\n\r\na,b\n1,2,3\n", d, 1,
                     "4: record has 3 fields, but the first record (line 3) has 2");
    /* A record spanning lines 2-4 (a quoted field with an empty line inside): the next
     * record starts on line 5. */
    EXPECT_CSV_ERROR("after_multiline", "a,b\n\"x\n\ny\",2\n1\n", d, 2,
                     "5: record has 1 field, but the first record (line 1) has 2");
    /* A quoted empty field is a field, not an empty line. */
    EXPECT_CSV_ERROR("quoted_empty", "a,b\n\"\"\n", d, 1, "2: record has 1 field, but the first record (line 1) has 2");
}

static void test_csv_open_errors(void **state)
{
    (void)state;
    kn_error err = {{0}};
    char path[512];
    snprintf(path, sizeof path, "%s/does-not-exist.csv", g_dir);
    assert_null(kn_csv_open(path, ',', &err));
    assert_msg(&err, "%s: cannot open: No such file or directory", path);
    write_bytes("ok.csv", "a,b\n", 4, path);
    const char bad[] = {'"', '\n', '\r'};
    for (size_t i = 0; i < LEN(bad); i++) {
        memset(&err, 0, sizeof err);
        assert_null(kn_csv_open(path, bad[i], &err));
        assert_msg(&err, "%s: a quote or line break cannot be the delimiter", path);
    }
}

/* ---------------------------------------------------------------- kn_csv: accepted forms */

/* Written with ',' (translated to the delimiter under test). Lines:
 *  1  BOM, header, CRLF            8  a quoted empty text
 *  2  plain CRLF record            9  a quote inside an unquoted field; a quoted label
 *  3  empty CRLF line             10  a lone CR inside a field
 *  4  quoted delimiter            11-13  a label with an empty line inside
 *  5-6  doubled quotes + CRLF inside quotes   14  no final newline
 *  7  empty LF line */
static const char AWKWARD[] = "\xEF\xBB\xBF" "text,label\r\n"
                              "plain,a\r\n"
                              "\r\n"
                              "\"with, comma\",b\r\n"
                              "\"say \"\"hi\"\"\r\nsecond line\",c\r\n"
                              "\n"
                              "\"\",d\n"
                              "5\" tall,\"e\"\r\n"
                              "lone\rcr,f\n"
                              "x,\"multi\n\nline\"\n"
                              "last,g";

typedef struct { const char *text, *label; size_t line; } awkward_row;
static const awkward_row AWKWARD_ROWS[] = {
    {"plain", "a", 2},
    {"with, comma", "b", 4}, /* the ',' becomes the delimiter under test */
    {"say \"hi\"\r\nsecond line", "c", 5},
    {"", "d", 8},
    {"5\" tall", "e", 9},
    {"lone\rcr", "f", 10},
    {"x", "multi\n\nline", 11},
    {"last", "g", 14},
};

/* s with ',' replaced by delim, in a static buffer (for the expected values). */
static const char *with_delim(const char *s, char delim)
{
    static char buf[8][128];
    static int k;
    char *out = buf[k++ % 8];
    snprintf(out, sizeof buf[0], "%s", s);
    for (char *p = out; *p; p++)
        if (*p == ',') *p = delim;
    return out;
}

static void assert_field(const kn_csv_row *row, size_t i, const char *want)
{
    if (i >= row->n_fields) fail_msg("line %zu: no field %zu", row->line, i);
    size_t n = strlen(want);
    if (row->lengths[i] != n || memcmp(row->fields[i], want, n) != 0 || row->fields[i][n] != '\0')
        fail_msg("line %zu field %zu: got \"%s\" (%zu bytes), expected \"%s\" (%zu bytes)", row->line, i,
                 row->fields[i], row->lengths[i], want, n);
}

static void test_csv_awkward_accepted(void **state)
{
    char d = delim_of(state);
    char path[512];
    write_delim_n("awkward", AWKWARD, sizeof AWKWARD - 1, d, path);
    kn_error err = {{0}};
    kn_csv *csv = kn_csv_open(path, d, &err);
    assert_non_null(csv);
    kn_csv_row row;
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    /* The BOM is not part of the first header name. */
    assert_int_equal(row.line, 1);
    assert_int_equal(row.n_fields, 2);
    assert_field(&row, 0, "text");
    assert_field(&row, 1, "label");
    assert_int_equal(kn_csv_column(&row, "text"), 0);
    assert_int_equal(kn_csv_column(&row, "label"), 1);
    assert_int_equal(kn_csv_column(&row, "\xEF\xBB\xBFtext"), -1);
    assert_int_equal(kn_csv_column(&row, "tex"), -1);
    assert_int_equal(kn_csv_column(&row, "Text"), -1);
    for (size_t i = 0; i < LEN(AWKWARD_ROWS); i++) {
        const awkward_row *w = &AWKWARD_ROWS[i];
        int rc = kn_csv_next(csv, &row, &err);
        if (rc != 1) fail_msg("row %zu: kn_csv_next = %d (%s)", i, rc, err.msg);
        if (row.line != w->line) fail_msg("row %zu (\"%s\"): line %zu, expected %zu", i, w->text, row.line, w->line);
        assert_int_equal(row.n_fields, 2);
        assert_field(&row, 0, with_delim(w->text, d));
        assert_field(&row, 1, w->label);
        /* CRLF record ends leave no '\r' behind: the only CRs are the one inside quotes
         * (kept verbatim, as RFC 4180 says) and the lone CR (an ordinary character). */
        int cr_expected = strchr(w->text, '\r') != NULL;
        assert_int_equal(memchr(row.fields[0], '\r', row.lengths[0]) != NULL, cr_expected);
        assert_null(memchr(row.fields[1], '\r', row.lengths[1]));
    }
    assert_int_equal(kn_csv_next(csv, &row, &err), 0);
    assert_int_equal(kn_csv_next(csv, &row, &err), 0); /* stays at the end */
    kn_csv_close(csv);
}

static void test_csv_quotes_and_delimiters(void **state)
{
    char d = delim_of(state), other = d == '\t' ? ',' : '\t';
    char path[512];
    /* \x01 is the delimiter under test, \x02 the other common one (an ordinary character
     * here, quoted or not). A BOM before a quoted header name; quoted delimiters; a field
     * that is only a doubled quote; a field that starts with one; a '"' inside an unquoted
     * field is ordinary. */
    const char content[] = "\xEF\xBB\xBF\"id\"\x01name\n"
                           "1\x01\"a\x01" "b\"\n"
                           "2\x01x\x02y\n"
                           "3\x01\"\"\"\"\n"
                           "4\x01\"\"\"quoted\"\" start\x02\x01\"\n"
                           "5\x01" "a\"b\"\n";
    char buf[sizeof content];
    memcpy(buf, content, sizeof content);
    for (size_t i = 0; i < sizeof buf - 1; i++) {
        if (buf[i] == '\x01') buf[i] = d;
        else if (buf[i] == '\x02') buf[i] = other;
    }
    write_bytes(d == '\t' ? "quotes.tsv" : "quotes.csv", buf, sizeof buf - 1, path);
    const char with_d[] = {'a', d, 'b', '\0'}, with_other[] = {'x', other, 'y', '\0'};
    const char quoted[] = {'"', 'q', 'u', 'o', 't', 'e', 'd', '"', ' ', 's', 't', 'a', 'r', 't', other, d, '\0'};
    kn_error err = {{0}};
    kn_csv *csv = kn_csv_open(path, d, &err);
    assert_non_null(csv);
    kn_csv_row row;
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(row.n_fields, 2);
    assert_field(&row, 0, "id");
    assert_field(&row, 1, "name");
    static const size_t lines[] = {2, 3, 4, 5, 6};
    const char *want[] = {with_d, with_other, "\"", quoted, "a\"b\""};
    for (size_t i = 0; i < LEN(lines); i++) {
        int rc = kn_csv_next(csv, &row, &err);
        if (rc != 1) fail_msg("record %zu: %d (%s)", i, rc, err.msg);
        assert_int_equal(row.line, lines[i]);
        assert_int_equal(row.n_fields, 2);
        assert_field(&row, 1, want[i]);
    }
    assert_int_equal(kn_csv_next(csv, &row, &err), 0);
    kn_csv_close(csv);
}

static void test_csv_bom_only_at_start(void **state)
{
    char d = delim_of(state);
    char path[512];
    /* A BOM further on is data. */
    write_delim("bom_inside", "a,b\n\xEF\xBB\xBFx,y\n", d, path);
    kn_error err = {{0}};
    kn_csv *csv = kn_csv_open(path, d, &err);
    assert_non_null(csv);
    kn_csv_row row;
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_field(&row, 0, "\xEF\xBB\xBFx");
    kn_csv_close(csv);
    /* Only a BOM: no records. A truncated BOM is data. */
    size_t records;
    write_delim("bom_only", "\xEF\xBB\xBF", d, path);
    assert_int_equal(csv_drain(path, d, &records, &err), 0);
    assert_int_equal(records, 0);
    write_delim("bom_short", "\xEF\xBB" "a,b\n", d, path);
    csv = kn_csv_open(path, d, &err);
    assert_non_null(csv);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_field(&row, 0, "\xEF\xBB" "a");
    kn_csv_close(csv);
}

static void test_csv_empty_inputs(void **state)
{
    char d = delim_of(state);
    char path[512];
    kn_error err = {{0}};
    size_t records;
    /* Empty file, empty lines only: end of input at once, no error. */
    static const char *const nothing[] = {"", "\n", "\n\r\n\n"};
    for (size_t i = 0; i < LEN(nothing); i++) {
        write_delim("nothing", nothing[i], d, path);
        assert_int_equal(csv_drain(path, d, &records, &err), 0);
        assert_int_equal(records, 0);
    }
    /* A header only, with and without a final newline: one record. */
    static const char *const header_only[] = {"a,b\n", "a,b", "a,b\r\n\r\n"};
    for (size_t i = 0; i < LEN(header_only); i++) {
        write_delim("header_only", header_only[i], d, path);
        kn_csv *csv = kn_csv_open(path, d, &err);
        assert_non_null(csv);
        kn_csv_row row;
        assert_int_equal(kn_csv_next(csv, &row, &err), 1);
        assert_int_equal(row.n_fields, 2);
        assert_field(&row, 1, "b");
        assert_int_equal(kn_csv_next(csv, &row, &err), 0);
        kn_csv_close(csv);
    }
}

static void test_csv_nul_bytes(void **state)
{
    char d = delim_of(state);
    char path[512];
    static const char content[] = "a,b\nx\0y,\"q\0\"\n";
    write_delim_n("nul", content, sizeof content - 1, d, path);
    kn_error err = {{0}};
    kn_csv *csv = kn_csv_open(path, d, &err);
    assert_non_null(csv);
    kn_csv_row row;
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(row.line, 2);
    assert_int_equal(row.lengths[0], 3);
    assert_memory_equal(row.fields[0], "x\0y", 4);
    assert_int_equal(row.lengths[1], 2);
    assert_memory_equal(row.fields[1], "q\0", 3);
    assert_int_equal(kn_csv_next(csv, &row, &err), 0);
    kn_csv_close(csv);
}

/* The reader refills a 64 KiB buffer: a CRLF, a doubled quote and a BOM-free header split
 * across the refill must read as if they were not. */
static void test_csv_buffer_boundary(void **state)
{
    char d = delim_of(state);
    enum { BUF = 1 << 16 };
    size_t cap = 3 * BUF;
    char *data = malloc(cap);
    assert_non_null(data);
    char path[512];
    kn_error err = {{0}};
    kn_csv_row row;

    /* "t\r\n" + x... so that '\r' is the buffer's last byte and '\n' the next one's first. */
    size_t n = 0;
    memcpy(data, "t\r\n", 3);
    n = 3;
    while (n < BUF - 1) data[n++] = 'x';
    size_t first_len = n - 3;
    data[n++] = '\r';
    data[n++] = '\n';
    memcpy(data + n, "next\r\n", 6);
    n += 6;
    write_delim_n("crlf_split", data, n, d, path);
    kn_csv *csv = kn_csv_open(path, d, &err);
    assert_non_null(csv);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(row.line, 2);
    assert_int_equal(row.lengths[0], first_len);
    assert_null(memchr(row.fields[0], '\r', row.lengths[0]));
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(row.line, 3);
    assert_field(&row, 0, "next");
    assert_int_equal(kn_csv_next(csv, &row, &err), 0);
    kn_csv_close(csv);

    /* A doubled quote split across the refill, then a field longer than the buffer. */
    memcpy(data, "t\n\"", 3);
    n = 3;
    while (n < BUF - 1) data[n++] = 'y';
    data[n++] = '"';
    data[n++] = '"';
    size_t quote_at = n - 2 - 3;
    memcpy(data + n, "z\"\n", 3);
    n += 3;
    size_t long_start = n;
    while (n < long_start + BUF + 100) data[n++] = 'w';
    size_t long_len = n - long_start;
    data[n++] = '\n';
    memcpy(data + n, "end", 3);
    n += 3;
    write_delim_n("quote_split", data, n, d, path);
    csv = kn_csv_open(path, d, &err);
    assert_non_null(csv);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(row.line, 2);
    assert_int_equal(row.lengths[0], quote_at + 2);
    assert_int_equal(row.fields[0][quote_at], '"');
    assert_int_equal(row.fields[0][quote_at + 1], 'z');
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(row.line, 3);
    assert_int_equal(row.lengths[0], long_len);
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    assert_int_equal(row.line, 4);
    assert_field(&row, 0, "end");
    assert_int_equal(kn_csv_next(csv, &row, &err), 0);
    kn_csv_close(csv);
    free(data);
}

/* ---------------------------------------------------------------- kn_texts */

/* Reads column of path with delim; for ',' also checks that kn_texts_read_csv_column gives
 * the same result and message. */
static int read_column(const char *path, char delim, const char *column, kn_texts *out, kn_error *err)
{
    int rc = kn_texts_read_table_column(path, delim, column, out, err);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        /* On an error nothing is left behind. */
        assert_int_equal(out->n, 0);
        assert_null(out->text);
        assert_null(out->len);
        assert_null(out->buf);
    }
    if (delim == ',') {
        kn_texts again;
        kn_error err2 = {{0}};
        int rc2 = kn_texts_read_csv_column(path, column, &again, &err2);
        assert_int_equal(rc2, rc);
        if (rc != 0) assert_string_equal(err2.msg, err->msg);
        else {
            assert_int_equal(again.n, out->n);
            for (size_t i = 0; i < out->n; i++) {
                assert_int_equal(again.len[i], out->len[i]);
                assert_memory_equal(again.text[i], out->text[i], out->len[i] + 1);
            }
        }
        kn_texts_free(&again);
    }
    return rc;
}

static void expect_texts_error(const char *name, const char *tmpl, size_t len, char delim, const char *column,
                               const char *tail)
{
    char path[512];
    write_delim_n(name, tmpl, len, delim, path);
    kn_texts t;
    kn_error err = {{0}};
    if (read_column(path, delim, column, &t, &err) != -1) fail_msg("%s: read %zu texts, expected an error", path, t.n);
    assert_msg(&err, "%s%s", path, tail);
}
#define EXPECT_TEXTS_ERROR(name, lit, delim, column, tail) \
    expect_texts_error(name, lit, sizeof(lit) - 1, delim, column, tail)

static void test_texts_awkward_accepted(void **state)
{
    char d = delim_of(state);
    char path[512];
    write_delim_n("texts_awkward", AWKWARD, sizeof AWKWARD - 1, d, path);
    kn_texts t;
    kn_error err = {{0}};
    if (read_column(path, d, "text", &t, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(t.n, LEN(AWKWARD_ROWS)); /* the quoted empty text is kept */
    for (size_t i = 0; i < t.n; i++) {
        const char *want = with_delim(AWKWARD_ROWS[i].text, d);
        assert_int_equal(t.len[i], strlen(want));
        assert_string_equal(t.text[i], want);
    }
    kn_texts_free(&t);
    assert_int_equal(t.n, 0);
    if (read_column(path, d, "label", &t, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(t.n, LEN(AWKWARD_ROWS));
    for (size_t i = 0; i < t.n; i++) assert_string_equal(t.text[i], AWKWARD_ROWS[i].label);
    kn_texts_free(&t);

    /* Invalid UTF-8 and NUL bytes in a column that is not read are no concern. */
    static const char other[] = "id,text\n\xff\0,fine\n";
    write_delim_n("texts_other", other, sizeof other - 1, d, path);
    if (read_column(path, d, "text", &t, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.text[0], "fine");
    kn_texts_free(&t);

    /* A header only: no texts, no error. */
    write_delim("texts_header_only", "\xEF\xBB\xBFtext,b\r\n\r\n", d, path);
    assert_int_equal(read_column(path, d, "text", &t, &err), 0);
    assert_int_equal(t.n, 0);
    kn_texts_free(&t);

    /* A single-column file: an empty line is skipped, a quoted empty text is kept. */
    write_delim("texts_single", "text\none\n\n\"\"\nthree", d, path);
    if (read_column(path, d, "text", &t, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.text[0], "one");
    assert_string_equal(t.text[1], "");
    assert_string_equal(t.text[2], "three");
    kn_texts_free(&t);
}

static void test_texts_errors(void **state)
{
    char d = delim_of(state);
    /* Columns: the header's line is named; names match exactly (case, no BOM). */
    EXPECT_TEXTS_ERROR("tx_nocol", "id,body\n1,hi\n", d, "text", ":1: no column named 'text' in the header");
    EXPECT_TEXTS_ERROR("tx_nocol_late", "\xEF\xBB\xBF\n\r\nid,Text\n1,hi\n", d, "text",
                       ":3: no column named 'text' in the header");
    /* No header at all. */
    EXPECT_TEXTS_ERROR("tx_empty", "", d, "text", ": empty file, expected a header row");
    EXPECT_TEXTS_ERROR("tx_blank", "\n\r\n", d, "text", ": empty file, expected a header row");
    EXPECT_TEXTS_ERROR("tx_bom", "\xEF\xBB\xBF", d, "text", ": empty file, expected a header row");
    /* Malformed CSV: the kn_csv message, unchanged. */
    EXPECT_TEXTS_ERROR("tx_unclosed", "text,b\nok,1\n\n\"open,2\nx,3\n", d, "text", ":4: quoted field is never closed");
    EXPECT_TEXTS_ERROR("tx_after_quote", "text,b\n\"a\"b,1\n", d, "text",
                       ":2: text after a closing quote (write a quote inside a quoted field as \"\")");
    EXPECT_TEXTS_ERROR("tx_too_many", "text,b\nok,1\nx,2,3\n", d, "text",
                       ":3: record has 3 fields, but the first record (line 1) has 2");
    EXPECT_TEXTS_ERROR("tx_too_few", "text,b\r\nok,1\r\nx\r\n", d, "text",
                       ":3: record has 1 field, but the first record (line 1) has 2");
    /* Invalid UTF-8: line (the record's first), byte within the field, the byte. */
    EXPECT_TEXTS_ERROR("tx_utf8", "text,b\nok,1\n\nab\xff,2\n", d, "text",
                       ":4: invalid UTF-8 in column 'text' at byte 3 of the field (0xff)");
    EXPECT_TEXTS_ERROR("tx_utf8_ml", "text,b\n\"two\nlines\",1\n\"x\n\xed\xa0\x80\",2\n", d, "text",
                       ":4: invalid UTF-8 in column 'text' at byte 3 of the field (0xed)");
    EXPECT_TEXTS_ERROR("tx_utf8_cut", "b,text\n1,\"caf\xc3\"\n", d, "text",
                       ":2: invalid UTF-8 in column 'text' at byte 4 of the field (0xc3)");
    /* NUL bytes. */
    EXPECT_TEXTS_ERROR("tx_nul", "text,b\nok,1\nx\0y,2\n", d, "text", ":3: column 'text' contains a NUL byte");
}

/* A text of exactly KN_MAX_TEXT_BYTES is read; one byte more is an error naming the line. */
static void test_texts_size_limit(void **state)
{
    char d = delim_of(state);
    size_t cap = KN_MAX_TEXT_BYTES + 64;
    char *data = malloc(cap);
    assert_non_null(data);
    char path[512];
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = 0;
        memcpy(data, "text,b\nok,1\n\"", 13);
        n = 13;
        for (size_t i = 0; i < KN_MAX_TEXT_BYTES + (size_t)extra; i++) data[n++] = i % 1000 == 999 ? '\n' : 'a';
        memcpy(data + n, "\",2\nafter,3\n", 12);
        n += 12;
        write_delim_n(extra ? "tx_big" : "tx_limit", data, n, d, path);
        kn_texts t;
        kn_error err = {{0}};
        int rc = read_column(path, d, "text", &t, &err);
        if (!extra) {
            if (rc != 0) fail_msg("%s", err.msg);
            assert_int_equal(t.n, 3);
            assert_int_equal(t.len[1], KN_MAX_TEXT_BYTES);
            assert_string_equal(t.text[2], "after");
            kn_texts_free(&t);
        } else {
            assert_int_equal(rc, -1);
            assert_msg(&err, "%s:3: the text is %u bytes; the limit is %u", path, KN_MAX_TEXT_BYTES + 1, KN_MAX_TEXT_BYTES);
        }
    }
    free(data);
}

/* Path "-" reads stdin; kn_csv's messages and kn_texts' own call it "stdin" alike. */
static void test_stdin_name(void **state)
{
    (void)state;
    char path[512];
    kn_texts t;
    kn_error err = {{0}};
    write_bytes("stdin1.csv", "text,b\nok,1\n\"open,2\n", 20, path);
    if (!freopen(path, "rb", stdin)) fail_msg("freopen %s", path);
    assert_int_equal(kn_texts_read_csv_column("-", "text", &t, &err), -1);
    assert_msg(&err, "stdin:3: quoted field is never closed");
    write_bytes("stdin2.csv", "text,b\nok,1\n\xc0\xaf,2\n", 17, path);
    if (!freopen(path, "rb", stdin)) fail_msg("freopen %s", path);
    assert_int_equal(kn_texts_read_csv_column("-", "text", &t, &err), -1);
    assert_msg(&err, "stdin:3: invalid UTF-8 in column 'text' at byte 1 of the field (0xc0)");
    if (!freopen("/dev/null", "rb", stdin)) fail_msg("freopen /dev/null");
}

/* ---------------------------------------------------------------- kn_dataset_read */

static char *g_warn_buf;
static size_t g_warn_len;

/* kn_dataset_read on path (text,label columns), warnings captured in g_warn_buf. */
static int read_dataset(const char *path, char *const *classes, int n_classes, kn_dataset *d, kn_error *err)
{
    free(g_warn_buf);
    g_warn_buf = NULL;
    FILE *warn = open_memstream(&g_warn_buf, &g_warn_len);
    assert_non_null(warn);
    int rc = kn_dataset_read(path, "text", "label", classes, n_classes, d, warn, err);
    fclose(warn);
    if (rc != 0) {
        assert_int_equal(rc, -1);
        assert_int_equal(d->n, 0);
        assert_null(d->text);
        assert_null(d->classes);
    }
    return rc;
}

static void expect_dataset_error(const char *name, const char *content, size_t len, const char *tail)
{
    char path[512];
    char file[128];
    snprintf(file, sizeof file, "%s.csv", name);
    write_bytes(file, content, len, path);
    kn_dataset d;
    kn_error err = {{0}};
    if (read_dataset(path, NULL, 0, &d, &err) != -1) fail_msg("%s: read %zu rows, expected an error", path, d.n);
    assert_msg(&err, "%s%s", path, tail);
}
#define EXPECT_DATASET_ERROR(name, lit, tail) expect_dataset_error(name, lit, sizeof(lit) - 1, tail)

static const char DATASET[] = "\xEF\xBB\xBF" "text,label\r\n"        /* 1 */
                              "plain,billing\r\n"                    /* 2 */
                              "\r\n"                                 /* 3 */
                              "\"with, comma\",card\r\n"             /* 4 */
                              "\"say \"\"hi\"\"\nsecond line\",billing\r\n" /* 5-6 */
                              "\n"                                   /* 7 */
                              "\" \t \",card\n"                      /* 8: blank text, skipped */
                              "5\" tall,\"delivery\"\r\n"            /* 9 */
                              "last,card";                           /* 10, no final newline */

static void test_dataset_accepted(void **state)
{
    (void)state;
    char path[512];
    write_bytes("dataset.csv", DATASET, sizeof DATASET - 1, path);
    kn_dataset d;
    kn_error err = {{0}};
    if (read_dataset(path, NULL, 0, &d, &err) != 0) fail_msg("%s", err.msg);
    static const char *const texts[] = {"plain", "with, comma", "say \"hi\"\nsecond line", "5\" tall", "last"};
    static const int32_t labels[] = {0, 1, 0, 2, 1};
    static const size_t lines[] = {2, 4, 5, 9, 10};
    assert_int_equal(d.n, LEN(texts));
    for (size_t i = 0; i < d.n; i++) {
        assert_string_equal(d.text[i], texts[i]);
        assert_int_equal(d.len[i], strlen(texts[i]));
        assert_int_equal(d.label[i], labels[i]);
        assert_int_equal(d.line[i], lines[i]);
        assert_null(d.unknown[i]);
    }
    assert_int_equal(d.n_classes, 3);
    assert_string_equal(d.classes[0], "billing");
    assert_string_equal(d.classes[1], "card");
    assert_string_equal(d.classes[2], "delivery");
    char want[1024];
    snprintf(want, sizeof want, "warning: %s:8: empty text, row skipped\n", path);
    assert_non_null(g_warn_buf);
    assert_string_equal(g_warn_buf, want);
    kn_dataset_free(&d);

    /* The model's class list: labels map onto it, an unknown one becomes -1. */
    char *classes[] = {"card", "billing"};
    if (read_dataset(path, classes, 2, &d, &err) != 0) fail_msg("%s", err.msg);
    static const int32_t fixed[] = {1, 0, 1, -1, 0};
    assert_int_equal(d.n, LEN(fixed));
    assert_int_equal(d.n_classes, 2);
    assert_string_equal(d.classes[0], "card");
    for (size_t i = 0; i < d.n; i++) {
        assert_int_equal(d.label[i], fixed[i]);
        if (fixed[i] < 0) assert_string_equal(d.unknown[i], "delivery");
        else assert_null(d.unknown[i]);
    }
    kn_dataset_free(&d);

    /* More than ten empty texts: ten warnings with lines, then a count. */
    char many[1024] = "text,label\nfirst,a\n";
    for (int i = 0; i < 12; i++) strcat(many, ",a\n");
    strcat(many, "last,b\n");
    write_bytes("dataset_blanks.csv", many, strlen(many), path);
    if (read_dataset(path, NULL, 0, &d, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.line[1], 15);
    char tail[1200];
    snprintf(tail, sizeof tail, "warning: %s:12: empty text, row skipped\nwarning: %s: 12 empty texts skipped in all\n",
             path, path);
    assert_true(g_warn_len >= strlen(tail));
    assert_string_equal(g_warn_buf + g_warn_len - strlen(tail), tail);
    snprintf(tail, sizeof tail, "%s:13:", path);
    assert_null(strstr(g_warn_buf, tail));
    kn_dataset_free(&d);
}

static void test_dataset_errors(void **state)
{
    (void)state;
    /* Columns. */
    EXPECT_DATASET_ERROR("ds_no_text", "body,label\nhi,a\n", ":1: no column named 'text' (the text column; see --text-column)");
    EXPECT_DATASET_ERROR("ds_no_label", "\xEF\xBB\xBF\ntext,topic\nhi,a\n", ":2: no column named 'label' (the label column; see --label-column)");
    /* Missing labels: an empty field, and no field at all. */
    EXPECT_DATASET_ERROR("ds_empty_label", "text,label\nhi,a\n\nthere,\n", ":4: the label is empty");
    EXPECT_DATASET_ERROR("ds_quoted_empty_label", "text,label\nhi,\"\"\n", ":2: the label is empty");
    EXPECT_DATASET_ERROR("ds_no_label_field", "text,label\r\nhi,a\r\nthere\r\n",
                         ":3: record has 1 field, but the first record (line 1) has 2");
    EXPECT_DATASET_ERROR("ds_too_many", "text,label\nhi,a,b\n", ":2: record has 3 fields, but the first record (line 1) has 2");
    /* Malformed quoting. */
    EXPECT_DATASET_ERROR("ds_unclosed", "text,label\nhi,a\n\"open,b\nmore,c\n", ":3: quoted field is never closed");
    EXPECT_DATASET_ERROR("ds_after_quote", "text,label\n\"a\"b,c\n",
                         ":2: text after a closing quote (write a quote inside a quoted field as \"\")");
    /* Invalid UTF-8, in the text (the record starts on line 6) and in the label. */
    EXPECT_DATASET_ERROR("ds_utf8_text", "text,label\nhi,a\n\n\"multi\nline\",a\nb\xc3(,a\n", ":6: invalid UTF-8 in the text at byte 2");
    EXPECT_DATASET_ERROR("ds_utf8_label", "text,label\nhi,\xff\n", ":2: invalid UTF-8 in the label");
    /* NUL bytes, in the text and in the label. */
    EXPECT_DATASET_ERROR("ds_nul_text", "text,label\nh\0i,a\n", ":2: the text contains a NUL byte");
    EXPECT_DATASET_ERROR("ds_nul_label", "text,label\nhi,a\0b\n", ":2: the label contains a NUL byte");
    /* Nothing to read. */
    EXPECT_DATASET_ERROR("ds_empty", "", ": empty file, expected a header row");
    EXPECT_DATASET_ERROR("ds_blank", "\xEF\xBB\xBF\r\n\n", ": empty file, expected a header row");
    EXPECT_DATASET_ERROR("ds_header_only", "text,label\n", ": no rows with text");
    EXPECT_DATASET_ERROR("ds_all_blank", "text,label\n ,a\n\"\",b\n", ": no rows with text");
}

static void test_dataset_size_limit(void **state)
{
    (void)state;
    size_t cap = KN_MAX_TEXT_BYTES + 64;
    char *data = malloc(cap);
    assert_non_null(data);
    for (int extra = 0; extra <= 1; extra++) {
        memcpy(data, "text,label\nhi,a\n", 16);
        size_t n = 16;
        for (size_t i = 0; i < KN_MAX_TEXT_BYTES + (size_t)extra; i++) data[n++] = 'a';
        memcpy(data + n, ",b\n", 3);
        n += 3;
        if (extra) {
            char tail[128];
            snprintf(tail, sizeof tail, ":3: the text is %u bytes; the limit is %u", KN_MAX_TEXT_BYTES + 1, KN_MAX_TEXT_BYTES);
            expect_dataset_error("ds_big", data, n, tail);
        } else {
            char path[512];
            write_bytes("ds_limit.csv", data, n, path);
            kn_dataset d;
            kn_error err = {{0}};
            if (read_dataset(path, NULL, 0, &d, &err) != 0) fail_msg("%s", err.msg);
            assert_int_equal(d.n, 2);
            assert_int_equal(d.len[1], KN_MAX_TEXT_BYTES);
            kn_dataset_free(&d);
        }
    }
    free(data);
}

#define BOTH(fn) {#fn "_csv", fn, NULL, NULL, (void *)&COMMA}, {#fn "_tsv", fn, NULL, NULL, (void *)&TAB}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_csv_unclosed_quote),
        BOTH(test_csv_text_after_closing_quote),
        BOTH(test_csv_field_counts),
        cmocka_unit_test(test_csv_open_errors),
        BOTH(test_csv_awkward_accepted),
        BOTH(test_csv_quotes_and_delimiters),
        BOTH(test_csv_bom_only_at_start),
        BOTH(test_csv_empty_inputs),
        BOTH(test_csv_nul_bytes),
        BOTH(test_csv_buffer_boundary),
        BOTH(test_texts_awkward_accepted),
        BOTH(test_texts_errors),
        BOTH(test_texts_size_limit),
        cmocka_unit_test(test_stdin_name),
        cmocka_unit_test(test_dataset_accepted),
        cmocka_unit_test(test_dataset_errors),
        cmocka_unit_test(test_dataset_size_limit),
    };
    int failed = cmocka_run_group_tests(tests, make_dir, remove_dir);
    free(g_warn_buf);
    return failed;
}
