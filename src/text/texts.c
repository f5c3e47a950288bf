#include "text/texts.h"

#include <stdlib.h>
#include <string.h>

#include "text/csv.h"
#include "text/utf8.h"
#include "util/fs.h"

void kn_texts_free(kn_texts *t)
{
    free(t->text);
    free(t->len);
    free(t->buf);
    memset(t, 0, sizeof *t);
}

int kn_texts_read_lines(const char *path, kn_texts *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    size_t size;
    char *buf = kn_read_file(path, &size, err);
    if (!buf) return -1;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++) lines += buf[i] == '\n';
    if (size > 0 && buf[size - 1] != '\n') lines++;
    out->buf = buf;
    out->text = malloc((lines ? lines : 1) * sizeof *out->text);
    out->len = malloc((lines ? lines : 1) * sizeof *out->len);
    if (!out->text || !out->len) {
        kn_texts_free(out);
        return kn_fail(err, "%s: out of memory for %zu lines", path, lines);
    }
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    char *p = buf, *end = buf + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);
        if (len > 0 && p[len - 1] == '\r') len--;
        p[len] = '\0';
        size_t line = out->n + 1;
        if (memchr(p, '\0', len)) {
            kn_texts_free(out);
            return kn_fail(err, "%s:%zu: the line contains a NUL byte", name, line);
        }
        size_t bad = kn_utf8_first_invalid(p, len);
        if (bad < len) {
            kn_fail(err, "%s:%zu: invalid UTF-8 at byte %zu of the line (0x%02x)", name, line, bad + 1, (unsigned char)p[bad]);
            kn_texts_free(out);
            return -1;
        }
        if (len > KN_MAX_TEXT_BYTES) {
            kn_texts_free(out);
            return kn_fail(err, "%s:%zu: the text is %zu bytes; the limit is %u", name, line, len, KN_MAX_TEXT_BYTES);
        }
        out->text[out->n] = p;
        out->len[out->n] = len;
        out->n++;
        p = stop + 1;
    }
    return 0;
}

/* Appends one text to out, copying it into the growing buffer; pointers are fixed up
 * at the end because the buffer may move while it grows. */
typedef struct {
    char *buf;
    size_t used, cap;
    size_t *offset;
    size_t n, n_cap;
} text_arena;

static int arena_add(text_arena *a, const char *text, size_t len, kn_texts *out)
{
    if (a->used + len + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 1 << 16;
        while (cap < a->used + len + 1) cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b) return -1;
        a->buf = b;
        a->cap = cap;
    }
    if (a->n == a->n_cap) {
        size_t cap = a->n_cap ? a->n_cap * 2 : 256;
        size_t *o = realloc(a->offset, cap * sizeof *o), *l = o ? realloc(out->len, cap * sizeof *l) : NULL;
        if (o) a->offset = o;
        if (!o || !l) return -1;
        out->len = l;
        a->n_cap = cap;
    }
    memcpy(a->buf + a->used, text, len);
    a->buf[a->used + len] = '\0';
    a->offset[a->n] = a->used;
    out->len[a->n] = len;
    a->used += len + 1;
    a->n++;
    return 0;
}

int kn_texts_read_table_column(const char *path, char delimiter, const char *column, kn_texts *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    kn_csv *csv = kn_csv_open(path, delimiter, err);
    if (!csv) return -1;
    kn_csv_row row;
    int rc = kn_csv_next(csv, &row, err);
    if (rc == 0) rc = kn_fail(err, "%s: empty file, expected a header row", name);
    long col = rc == 1 ? kn_csv_column(&row, column) : -1;
    if (rc == 1 && col < 0) rc = kn_fail(err, "%s:%zu: no column named '%s' in the header", name, row.line, column);
    text_arena a = {0};
    while (rc == 1 && (rc = kn_csv_next(csv, &row, err)) == 1) {
        const char *text = row.fields[col];
        size_t len = row.lengths[col], bad = kn_utf8_first_invalid(text, len);
        if (bad < len)
            rc = kn_fail(err, "%s:%zu: invalid UTF-8 in column '%s' at byte %zu of the field (0x%02x)", name, row.line,
                         column, bad + 1, (unsigned char)text[bad]);
        else if (memchr(text, '\0', len))
            rc = kn_fail(err, "%s:%zu: column '%s' contains a NUL byte", name, row.line, column);
        else if (len > KN_MAX_TEXT_BYTES)
            rc = kn_fail(err, "%s:%zu: the text is %zu bytes; the limit is %u", name, row.line, len, KN_MAX_TEXT_BYTES);
        else if (arena_add(&a, text, len, out) != 0)
            rc = kn_fail(err, "%s: out of memory", name);
    }
    kn_csv_close(csv);
    out->buf = a.buf;
    out->n = a.n;
    out->text = malloc((a.n ? a.n : 1) * sizeof *out->text);
    if (rc == 0 && !out->text) rc = kn_fail(err, "%s: out of memory", name);
    for (size_t i = 0; rc == 0 && i < a.n; i++) out->text[i] = a.buf + a.offset[i];
    free(a.offset);
    if (rc != 0) {
        kn_texts_free(out);
        return -1;
    }
    return 0;
}

int kn_texts_read_csv_column(const char *path, const char *column, kn_texts *out, kn_error *err)
{
    return kn_texts_read_table_column(path, ',', column, out, err);
}
