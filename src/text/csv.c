/* csv.c - byte-at-a-time CSV state machine over a buffered FILE. */
#include "text/csv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct kn_csv {
    FILE *file;
    bool owns_file;
    char name[256];       /* for error messages */
    int delim;
    unsigned char buf[1 << 16];
    size_t pos, len;
    bool at_start;        /* nothing read yet: a BOM may follow */
    size_t line;          /* line of the next unread byte */
    size_t expected_fields;
    size_t header_line;
    char *text;           /* the record's fields, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *starts, *lengths;
    char **fields;
    size_t n_fields, fields_cap;
};

kn_csv *kn_csv_open(const char *path, char delimiter, kn_error *err)
{
    if (delimiter == '"' || delimiter == '\r' || delimiter == '\n') {
        kn_fail(err, "%s: a quote or line break cannot be the delimiter", path);
        return NULL;
    }
    kn_csv *csv = calloc(1, sizeof *csv);
    if (!csv) {
        kn_fail(err, "%s: out of memory", path);
        return NULL;
    }
    bool is_stdin = strcmp(path, "-") == 0;
    csv->file = is_stdin ? stdin : fopen(path, "rb");
    if (!csv->file) {
        kn_fail(err, "%s: cannot open: %s", path, strerror(errno));
        free(csv);
        return NULL;
    }
    csv->owns_file = !is_stdin;
    snprintf(csv->name, sizeof csv->name, "%s", is_stdin ? "stdin" : path);
    csv->delim = (unsigned char)delimiter;
    csv->line = 1;
    csv->at_start = true;
    return csv;
}

void kn_csv_close(kn_csv *csv)
{
    if (!csv) return;
    if (csv->owns_file) fclose(csv->file);
    free(csv->text);
    free(csv->starts);
    free(csv->lengths);
    free(csv->fields);
    free(csv);
}

/* Next byte, or EOF (also on a read error, which kn_csv_next reports). */
static int next_byte(kn_csv *csv)
{
    if (csv->pos == csv->len) {
        csv->len = fread(csv->buf, 1, sizeof csv->buf, csv->file);
        csv->pos = 0;
        if (csv->len == 0) return EOF;
    }
    return csv->buf[csv->pos++];
}

static int peek_byte(kn_csv *csv)
{
    int c = next_byte(csv);
    if (c != EOF) csv->pos--;   /* the byte is still in the buffer after a refill */
    return c;
}

static int append(kn_csv *csv, char c)
{
    if (csv->text_len == csv->text_cap) {
        size_t cap = csv->text_cap ? 2 * csv->text_cap : 256;
        char *grown = realloc(csv->text, cap);
        if (!grown) return -1;
        csv->text = grown;
        csv->text_cap = cap;
    }
    csv->text[csv->text_len++] = c;
    return 0;
}

static int start_field(kn_csv *csv)
{
    if (csv->n_fields == csv->fields_cap) {
        size_t cap = csv->fields_cap ? 2 * csv->fields_cap : 16;
        size_t *starts = realloc(csv->starts, cap * sizeof *starts);
        if (starts) csv->starts = starts;
        size_t *lengths = realloc(csv->lengths, cap * sizeof *lengths);
        if (lengths) csv->lengths = lengths;
        char **fields = realloc(csv->fields, cap * sizeof *fields);
        if (fields) csv->fields = fields;
        if (!starts || !lengths || !fields) return -1;
        csv->fields_cap = cap;
    }
    csv->starts[csv->n_fields++] = csv->text_len;
    return 0;
}

static int end_field(kn_csv *csv)
{
    size_t i = csv->n_fields - 1;
    csv->lengths[i] = csv->text_len - csv->starts[i];
    return append(csv, '\0');
}

/* Where a record may end: returns 1 at the end of the record (consuming LF or
 * CRLF, or at EOF), 0 if c is not a record end. */
static int ends_record(kn_csv *csv, int c)
{
    if (c == EOF) return 1;
    if (c == '\n' || (c == '\r' && peek_byte(csv) == '\n')) {
        if (c == '\r') next_byte(csv);
        csv->line++;
        return 1;
    }
    return 0;
}

/* Parses one record into text/starts/lengths. 1 = got one, 0 = EOF, -1 = error. */
static int parse_record(kn_csv *csv, bool *blank, kn_error *err)
{
    csv->text_len = 0;
    csv->n_fields = 0;
    if (peek_byte(csv) == EOF) return 0;
    bool quoted_any = false;
    for (;;) {
        if (start_field(csv) != 0) return kn_fail(err, "%s: out of memory", csv->name);
        int c = next_byte(csv);
        bool record_done;
        if (c == '"') {
            quoted_any = true;
            size_t opened = csv->line;
            for (;;) {
                c = next_byte(csv);
                if (c == EOF)
                    return kn_fail(err, "%s:%zu: quoted field is never closed", csv->name, opened);
                if (c == '"') {
                    if (peek_byte(csv) != '"') break;
                    next_byte(csv);
                }
                if (c == '\n') csv->line++;
                if (append(csv, (char)c) != 0) return kn_fail(err, "%s: out of memory", csv->name);
            }
            c = next_byte(csv);
            record_done = ends_record(csv, c);
            if (!record_done && c != csv->delim)
                return kn_fail(err, "%s:%zu: text after a closing quote (write a quote inside "
                               "a quoted field as \"\")", csv->name, csv->line);
        } else {
            while (c != csv->delim && !(record_done = ends_record(csv, c))) {
                if (append(csv, (char)c) != 0) return kn_fail(err, "%s: out of memory", csv->name);
                c = next_byte(csv);
            }
            if (c == csv->delim) record_done = false;
        }
        if (end_field(csv) != 0) return kn_fail(err, "%s: out of memory", csv->name);
        if (record_done) break;
    }
    *blank = csv->n_fields == 1 && csv->lengths[0] == 0 && !quoted_any;
    return 1;
}

int kn_csv_next(kn_csv *csv, kn_csv_row *row, kn_error *err)
{
    if (csv->at_start) {
        csv->at_start = false;
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        if (peek_byte(csv) == bom[0] && csv->len - csv->pos >= 3 && memcmp(csv->buf + csv->pos, bom, 3) == 0)
            csv->pos += 3;
    }
    for (;;) {
        size_t line = csv->line;
        bool blank = false;
        int got = parse_record(csv, &blank, err);
        if (got <= 0 && ferror(csv->file))
            return kn_fail(err, "%s:%zu: read error: %s", csv->name, csv->line, strerror(errno));
        if (got <= 0) return got;
        if (blank) continue;
        if (csv->expected_fields == 0) {
            csv->expected_fields = csv->n_fields;
            csv->header_line = line;
        } else if (csv->n_fields != csv->expected_fields) {
            return kn_fail(err, "%s:%zu: record has %zu field%s, but the first record (line %zu) has %zu",
                           csv->name, line, csv->n_fields, csv->n_fields == 1 ? "" : "s", csv->header_line,
                           csv->expected_fields);
        }
        for (size_t i = 0; i < csv->n_fields; i++) csv->fields[i] = csv->text + csv->starts[i];
        row->n_fields = csv->n_fields;
        row->fields = csv->fields;
        row->lengths = csv->lengths;
        row->line = line;
        return 1;
    }
}

long kn_csv_column(const kn_csv_row *header, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < header->n_fields; i++)
        if (header->lengths[i] == len && memcmp(header->fields[i], name, len) == 0) return (long)i;
    return -1;
}
