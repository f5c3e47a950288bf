/* csv.h - a streaming RFC 4180 reader for CSV and TSV files.
 *
 * A field that starts with '"' is quoted: it runs to the next lone '"', "" stands
 * for one '"', and it may hold delimiters and line breaks. Records end at LF or
 * CRLF. Lenient where real files are messy: a '"' inside an unquoted field and a
 * lone CR are ordinary characters, a UTF-8 byte order mark is skipped, and empty
 * lines are skipped. Strict where data would be lost: an unclosed quote, text
 * after a closing quote, or a record whose field count differs from the first
 * record's is an error naming the file and line. */
#ifndef KN_CSV_H
#define KN_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "util/error.h"

typedef struct kn_csv kn_csv;

typedef struct kn_csv_row {
    size_t n_fields;
    char **fields;        /* NUL-terminated; valid until the next kn_csv_next/close */
    const size_t *lengths;/* byte lengths (a field may hold NUL bytes) */
    size_t line;          /* 1-based line on which the record starts */
} kn_csv_row;

/* Opens path ("-" reads stdin). delimiter is ',' or '\t' (any byte but '"', CR, LF). */
kn_csv *kn_csv_open(const char *path, char delimiter, kn_error *err);

/* Reads the next record into row: returns 1, 0 at end of input, -1 on error. */
int kn_csv_next(kn_csv *csv, kn_csv_row *row, kn_error *err);

/* Index of the field equal to name in a header row, or -1. */
long kn_csv_column(const kn_csv_row *header, const char *name);

void kn_csv_close(kn_csv *csv);

#endif
