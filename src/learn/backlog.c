/* backlog.c - streaming the unlabelled messages into a bounded, de-duplicated sample
 * (backlog.h). */
#include "learn/backlog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/csv.h"
#include "text/texts.h"
#include "text/utf8.h"
#include "util/rng.h"

/* Texts are told apart by a 64-bit hash (FNV-1a): a million texts collide with odds of
 * about 1 in 30 million, and a collision only drops one text from the sample. */
typedef struct {
    uint64_t *slot; /* 0 = empty; a hash of 0 is stored as 1 */
    size_t cap, count;
} hash_set;

static uint64_t text_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ? h : 1;
}

static int hash_set_has(const hash_set *s, uint64_t h)
{
    if (!s->cap) return 0;
    for (size_t j = h & (s->cap - 1); s->slot[j]; j = (j + 1) & (s->cap - 1))
        if (s->slot[j] == h) return 1;
    return 0;
}

/* 1 when added, 0 when present, -1 out of memory. */
static int hash_set_add(hash_set *s, uint64_t h)
{
    if (2 * (s->count + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        uint64_t *slot = calloc(cap, sizeof *slot);
        if (!slot) return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) {
                size_t j = s->slot[i] & (cap - 1);
                while (slot[j]) j = (j + 1) & (cap - 1);
                slot[j] = s->slot[i];
            }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    size_t j = h & (s->cap - 1);
    while (s->slot[j]) {
        if (s->slot[j] == h) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slot[j] = h;
    s->count++;
    return 1;
}

typedef struct {
    kn_backlog *out;
    hash_set labelled, seen;
    size_t cap; /* room in out->text / out->len */
    size_t max_texts;
    uint64_t rng;
    const char *name;
} reader;

/* Offers one record's text (not yet checked) to the sample. */
static int offer(reader *r, const char *text, size_t len, size_t line, kn_error *err)
{
    kn_backlog *b = r->out;
    b->lines++;
    if (memchr(text, '\0', len)) return kn_fail(err, "%s:%zu: the text contains a NUL byte", r->name, line);
    size_t bad = kn_utf8_first_invalid(text, len);
    if (bad < len)
        return kn_fail(err, "%s:%zu: invalid UTF-8 at byte %zu of the text (0x%02x)", r->name, line, bad + 1,
                       (unsigned char)text[bad]);
    if (len > KN_MAX_TEXT_BYTES)
        return kn_fail(err, "%s:%zu: the text is %zu bytes; the limit is %u", r->name, line, len, KN_MAX_TEXT_BYTES);
    if (len == 0) {
        b->empty++;
        return 0;
    }
    const uint64_t h = text_hash(text, len);
    if (hash_set_has(&r->labelled, h)) {
        b->labelled++;
        return 0;
    }
    int added = hash_set_add(&r->seen, h);
    if (added < 0) return kn_fail(err, "%s:%zu: out of memory", r->name, line);
    if (added == 0) {
        b->duplicates++;
        return 0;
    }
    /* Reservoir sampling: the k-th distinct text replaces a random kept one with
     * probability max_texts / k, so every distinct text is kept with the same chance. */
    size_t k = ++b->distinct, at = b->n;
    if (b->n == r->max_texts) {
        at = (size_t)(kn_splitmix64(&r->rng) % k);
        if (at >= r->max_texts) return 0;
    }
    if (at == r->cap) { /* grow with the sample: a small backlog stays small */
        size_t cap = r->cap ? 2 * r->cap : 1024;
        if (cap > r->max_texts) cap = r->max_texts;
        char **text = realloc(b->text, cap * sizeof *text);
        if (text) b->text = text;
        size_t *lens = text ? realloc(b->len, cap * sizeof *lens) : NULL;
        if (!lens) return kn_fail(err, "%s:%zu: out of memory for %zu texts", r->name, line, cap);
        b->len = lens;
        r->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return kn_fail(err, "%s:%zu: out of memory", r->name, line);
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (at < b->n) {
        free(b->text[at]);
    } else {
        b->n++;
    }
    b->text[at] = copy;
    b->len[at] = len;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int read_table(reader *r, const char *path, char delim, const char *column, kn_error *err)
{
    kn_csv *csv = kn_csv_open(path, delim, err);
    if (!csv) return -1;
    kn_csv_row row;
    int got = kn_csv_next(csv, &row, err), rc = 0;
    long col = -1;
    if (got == 0) rc = kn_fail(err, "%s: empty file (a header row with a '%s' column is needed)", r->name, column);
    else if (got < 0) rc = -1;
    else if ((col = kn_csv_column(&row, column)) < 0)
        rc = kn_fail(err, "%s:%zu: no column named '%s' in the header", r->name, row.line, column);
    while (rc == 0 && (got = kn_csv_next(csv, &row, err)) == 1)
        rc = offer(r, row.fields[col], row.lengths[col], row.line, err);
    if (rc == 0 && got < 0) rc = -1;
    kn_csv_close(csv);
    return rc;
}

/* One text per line, or (json) one object per line with a string field `column`. */
static int read_lines(reader *r, const char *path, int json, const char *column, kn_error *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return kn_fail(err, "%s: cannot open", r->name);
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)got;
        no++;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        char *start = line;
        if (no == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) start += 3, len -= 3; /* a byte order mark */
        if (!json) {
            rc = offer(r, start, len, no, err);
            continue;
        }
        if (len == 0) continue; /* a blank line between objects */
        json_error_t jerr;
        json_t *obj = json_loadb(start, len, 0, &jerr);
        json_t *field = json_object_get(obj, column);
        if (!obj) rc = kn_fail(err, "%s:%zu: not JSON: %s (column %d)", r->name, no, jerr.text, jerr.column);
        else if (!json_is_object(obj)) rc = kn_fail(err, "%s:%zu: a JSON object is needed, one per line", r->name, no);
        else if (!json_is_string(field))
            rc = kn_fail(err, "%s:%zu: the object has no string field '%s'", r->name, no, column);
        else rc = offer(r, json_string_value(field), json_string_length(field), no, err);
        json_decref(obj);
    }
    if (rc == 0 && ferror(f)) rc = kn_fail(err, "%s: read error after line %zu", r->name, no);
    free(line);
    if (f != stdin) fclose(f);
    return rc;
}

int kn_backlog_read(const char *path, const char *column, const char *const *labelled, const size_t *labelled_lens,
                    size_t n_labelled, size_t max_texts, uint64_t seed, kn_backlog *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    if (!column) column = "text";
    if (max_texts == 0) return kn_fail(err, "backlog: max_texts must be at least 1");
    reader r = {.out = out, .max_texts = max_texts, .rng = seed, .name = strcmp(path, "-") == 0 ? "stdin" : path};
    int rc = 0;
    for (size_t i = 0; i < n_labelled && rc == 0; i++)
        if (hash_set_add(&r.labelled, text_hash(labelled[i], labelled_lens[i])) < 0) rc = kn_fail(err, "out of memory");
    if (rc == 0) {
        if (ends_with(path, ".csv")) rc = read_table(&r, path, ',', column, err);
        else if (ends_with(path, ".tsv")) rc = read_table(&r, path, '\t', column, err);
        else rc = read_lines(&r, path, ends_with(path, ".jsonl") || ends_with(path, ".ndjson"), column, err);
    }
    free(r.labelled.slot);
    free(r.seen.slot);
    if (rc == 0 && out->n == 0)
        rc = kn_fail(err, "%s: no unlabelled texts in the backlog (%zu records: %zu empty, %zu duplicates, %zu labelled)",
                     r.name, out->lines, out->empty, out->duplicates, out->labelled);
    if (rc != 0) kn_backlog_free(out);
    return rc;
}

void kn_backlog_free(kn_backlog *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->text[i]);
    free(b->text);
    free(b->len);
    memset(b, 0, sizeof *b);
}
