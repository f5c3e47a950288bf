#include "text/texts.h"

#include <stdlib.h>
#include <string.h>

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

/* CSV: fields are unquoted in place inside buf (quoted content shifts left over the
 * doubled quotes), so every field is a NUL-terminated slice of the one buffer. */
typedef struct {
    char *p, *end;
    size_t line; /* line where the current record starts (1-based) */
    size_t cur_line;
} csv_cursor;

/* Reads one field; *last says whether it ended its record. */
static int csv_field(csv_cursor *c, char **field, size_t *len, int *last, const char *name, kn_error *err)
{
    char *start = c->p, *w = c->p;
    if (c->p < c->end && *c->p == '"') {
        size_t quote_line = c->cur_line;
        c->p++;
        for (;;) {
            if (c->p >= c->end) return kn_fail(err, "%s:%zu: a quoted field is never closed", name, quote_line);
            if (*c->p == '"') {
                if (c->p + 1 < c->end && c->p[1] == '"') { *w++ = '"'; c->p += 2; continue; }
                c->p++;
                break;
            }
            if (*c->p == '\n') c->cur_line++;
            *w++ = *c->p++;
        }
        if (c->p < c->end && *c->p == '\r') c->p++;
        if (c->p < c->end && *c->p != ',' && *c->p != '\n')
            return kn_fail(err, "%s:%zu: unexpected character after a closing quote", name, c->cur_line);
    } else {
        while (c->p < c->end && *c->p != ',' && *c->p != '\n') {
            if (*c->p == '"') return kn_fail(err, "%s:%zu: a quote inside an unquoted field", name, c->cur_line);
            *w++ = *c->p++;
        }
        if (w > start && w[-1] == '\r') w--;
    }
    *last = c->p >= c->end || *c->p == '\n';
    if (*last && c->p < c->end) c->cur_line++;
    if (c->p < c->end) c->p++;
    *w = '\0';
    *field = start;
    *len = (size_t)(w - start);
    return 0;
}

int kn_texts_read_csv_column(const char *path, const char *column, kn_texts *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    size_t size;
    char *buf = kn_read_file(path, &size, err);
    if (!buf) return -1;
    out->buf = buf;
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    size_t bad = kn_utf8_first_invalid(buf, size);
    if (bad < size) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++) line += buf[i] == '\n';
        kn_texts_free(out);
        return kn_fail(err, "%s:%zu: invalid UTF-8 (byte 0x%02x at file offset %zu)", name, line, (unsigned char)buf[bad], bad);
    }
    csv_cursor c = {buf, buf + size, 1, 1};
    if (size >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) c.p += 3; /* byte-order mark */
    size_t n_fields = 0, col = (size_t)-1, cap = 0;
    int last = 0;
    while (!last) {
        char *f = NULL;
        size_t len = 0;
        if (c.p >= c.end) { kn_texts_free(out); return kn_fail(err, "%s: empty file, expected a header row", name); }
        if (csv_field(&c, &f, &len, &last, name, err) != 0) { kn_texts_free(out); return -1; }
        if (strcmp(f, column) == 0 && col == (size_t)-1) col = n_fields;
        n_fields++;
    }
    if (col == (size_t)-1) {
        kn_texts_free(out);
        return kn_fail(err, "%s:1: no column named '%s' in the header", name, column);
    }
    while (c.p < c.end) {
        c.line = c.cur_line;
        if (*c.p == '\n' || (*c.p == '\r' && c.p + 1 < c.end && c.p[1] == '\n')) { /* blank line: skip */
            c.p += *c.p == '\r' ? 2 : 1;
            c.cur_line++;
            continue;
        }
        size_t k = 0;
        char *text = NULL;
        size_t text_len = 0;
        last = 0;
        while (!last) {
            char *f = NULL;
            size_t len = 0;
            if (csv_field(&c, &f, &len, &last, name, err) != 0) { kn_texts_free(out); return -1; }
            if (k == col) { text = f; text_len = len; }
            k++;
        }
        if (k != n_fields) {
            kn_texts_free(out);
            return kn_fail(err, "%s:%zu: %zu fields, the header has %zu", name, c.line, k, n_fields);
        }
        if (text_len > KN_MAX_TEXT_BYTES) {
            kn_texts_free(out);
            return kn_fail(err, "%s:%zu: the text is %zu bytes; the limit is %u", name, c.line, text_len, KN_MAX_TEXT_BYTES);
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 256;
            const char **t = realloc(out->text, cap * sizeof *t);
            size_t *l = t ? realloc(out->len, cap * sizeof *l) : NULL;
            if (t) out->text = t;
            if (!t || !l) { kn_texts_free(out); return kn_fail(err, "%s: out of memory", name); }
            out->len = l;
        }
        out->text[out->n] = text;
        out->len[out->n] = text_len;
        out->n++;
    }
    return 0;
}
