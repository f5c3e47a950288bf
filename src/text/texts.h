/* texts.h - reading the texts to work on: one per line, or one CSV column. */
#ifndef KN_TEXTS_H
#define KN_TEXTS_H

#include <stddef.h>

#include "util/error.h"

typedef struct kn_texts {
    const char **text; /* point into buf (NUL-terminated) */
    size_t *len;
    size_t n;
    char *buf;
} kn_texts;

#define KN_MAX_TEXT_BYTES (1u << 20) /* one message larger than 1 MiB is an input error */

/* One text per line ("\n" or "\r\n"); path "-" is stdin. Every line must be valid UTF-8;
 * errors name the line and byte. A final newline does not start another text. */
int kn_texts_read_lines(const char *path, kn_texts *out, kn_error *err);
/* The column named `column` of a CSV file (RFC 4180 with a header row; see csv.h). Errors
 * name the line and what is wrong (unclosed quote, wrong field count, unknown column,
 * invalid UTF-8). */
int kn_texts_read_csv_column(const char *path, const char *column, kn_texts *out, kn_error *err);
/* The same for another delimiter ('\t' for TSV). */
int kn_texts_read_table_column(const char *path, char delimiter, const char *column, kn_texts *out, kn_error *err);
void kn_texts_free(kn_texts *t);

#endif
