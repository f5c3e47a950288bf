/* backlog.h - the unlabelled messages a team already has, for the methods that learn from
 * them (the idf of the n-gram blocks, hybrid's self-training; see train.c). Read as a
 * stream, so a file of millions of lines needs memory for what is kept (at most max_texts
 * distinct texts, a uniform random sample by reservoir when there are more) and 8 to 24
 * bytes per distinct line for telling repeats apart (about 24 MB per million lines).
 *
 * Formats, by the file name: .csv / .tsv (a header row and a text column, csv.h), .jsonl /
 * .ndjson (one JSON object per line with a string field of that name), else one text per
 * line. Empty texts are skipped; texts equal to one already kept or to a labelled text are
 * skipped and counted. Invalid UTF-8, a NUL byte, a text over KN_MAX_TEXT_BYTES, malformed
 * JSON or CSV, or a missing field are errors naming the file and line. */
#ifndef KN_BACKLOG_H
#define KN_BACKLOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct kn_backlog {
    char **text; /* NUL-terminated, valid UTF-8 */
    size_t *len;
    size_t n;            /* texts kept */
    size_t lines;        /* records read */
    size_t empty;        /* skipped: empty text */
    size_t duplicates;   /* skipped: the same text met before in the backlog */
    size_t labelled;     /* skipped: a labelled text */
    size_t distinct;     /* distinct new texts seen (n, or more when sampled) */
} kn_backlog;

#define KN_BACKLOG_MAX_TEXTS_DEFAULT 100000

/* Reads path ("-": stdin as one text per line). column: the CSV/TSV column or JSON field
 * (NULL: "text"). The labelled texts are left out of the backlog. Which texts a sample
 * keeps depends on seed only. */
int kn_backlog_read(const char *path, const char *column, const char *const *labelled, const size_t *labelled_lens,
                    size_t n_labelled, size_t max_texts, uint64_t seed, kn_backlog *out, kn_error *err);
void kn_backlog_free(kn_backlog *b);

#endif
