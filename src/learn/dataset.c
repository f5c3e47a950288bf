#include "learn/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "text/csv.h"
#include "text/texts.h"
#include "text/utf8.h"

void kn_dataset_free(kn_dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->text[i]);
        if (d->unknown) free(d->unknown[i]);
    }
    for (int c = 0; c < d->n_classes; c++) free(d->classes[c]);
    free(d->text);
    free(d->len);
    free(d->label);
    free(d->line);
    free(d->classes);
    free(d->unknown);
    memset(d, 0, sizeof *d);
}

static int find_class(const kn_dataset *d, const char *name)
{
    for (int c = 0; c < d->n_classes; c++)
        if (strcmp(d->classes[c], name) == 0) return c;
    return -1;
}

static int grow(kn_dataset *d, size_t *cap)
{
    if (d->n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 256;
    char **t = realloc(d->text, c * sizeof *t);
    if (t) d->text = t;
    size_t *l = t ? realloc(d->len, c * sizeof *l) : NULL;
    if (l) d->len = l;
    int32_t *y = l ? realloc(d->label, c * sizeof *y) : NULL;
    if (y) d->label = y;
    size_t *ln = y ? realloc(d->line, c * sizeof *ln) : NULL;
    if (ln) d->line = ln;
    char **u = ln ? realloc(d->unknown, c * sizeof *u) : NULL;
    if (u) d->unknown = u;
    if (!u) return -1;
    *cap = c;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int kn_dataset_read(const char *path, const char *text_col, const char *label_col, char *const *classes,
                    int n_classes, kn_dataset *out, FILE *warn, kn_error *err)
{
    memset(out, 0, sizeof *out);
    size_t plen = strlen(path);
    char delimiter = plen >= 4 && strcmp(path + plen - 4, ".tsv") == 0 ? '\t' : ','; /* by extension */
    kn_csv *csv = kn_csv_open(path, delimiter, err);
    if (!csv) return -1;
    kn_csv_row row;
    int rc = kn_csv_next(csv, &row, err);
    if (rc == 0) rc = kn_fail(err, "%s: empty file, expected a header row", path);
    long tc = -1, lc = -1;
    if (rc == 1) {
        tc = kn_csv_column(&row, text_col);
        lc = kn_csv_column(&row, label_col);
        if (tc < 0) rc = kn_fail(err, "%s:%zu: no column named '%s' (the text column; see --text-column)", path, row.line, text_col);
        else if (lc < 0) rc = kn_fail(err, "%s:%zu: no column named '%s' (the label column; see --label-column)", path, row.line, label_col);
    }
    int fixed = classes != NULL;
    if (rc == 1 && fixed) {
        out->classes = calloc((size_t)n_classes, sizeof *out->classes);
        if (!out->classes) rc = kn_fail(err, "out of memory");
        for (int c = 0; rc == 1 && c < n_classes; c++) {
            out->classes[c] = strdup(classes[c]);
            out->n_classes = c + 1;
        }
    }
    size_t cap = 0, skipped = 0;
    while (rc == 1 && (rc = kn_csv_next(csv, &row, err)) == 1) {
        const char *text = row.fields[tc], *label = row.fields[lc];
        size_t tl = row.lengths[tc], ll = row.lengths[lc], bad = kn_utf8_first_invalid(text, tl);
        if (bad < tl) { rc = kn_fail(err, "%s:%zu: invalid UTF-8 in the text at byte %zu", path, row.line, bad + 1); break; }
        if (kn_utf8_first_invalid(label, ll) < ll) { rc = kn_fail(err, "%s:%zu: invalid UTF-8 in the label", path, row.line); break; }
        if (memchr(text, '\0', tl)) { rc = kn_fail(err, "%s:%zu: the text contains a NUL byte", path, row.line); break; }
        if (memchr(label, '\0', ll)) { rc = kn_fail(err, "%s:%zu: the label contains a NUL byte", path, row.line); break; }
        if (tl > KN_MAX_TEXT_BYTES) {
            rc = kn_fail(err, "%s:%zu: the text is %zu bytes; the limit is %u", path, row.line, tl, KN_MAX_TEXT_BYTES);
            break;
        }
        if (ll == 0) { rc = kn_fail(err, "%s:%zu: the label is empty", path, row.line); break; }
        size_t start = 0;
        while (start < tl && (text[start] == ' ' || text[start] == '\t')) start++;
        if (start == tl) {
            if (warn && skipped++ < 10) fprintf(warn, "warning: %s:%zu: empty text, row skipped\n", path, row.line);
            continue;
        }
        if (grow(out, &cap) != 0) { rc = kn_fail(err, "out of memory"); break; }
        int c = find_class(out, label);
        if (c < 0 && !fixed) {
            char **cl = realloc(out->classes, ((size_t)out->n_classes + 1) * sizeof *cl);
            if (!cl) { rc = kn_fail(err, "out of memory"); break; }
            out->classes = cl;
            out->classes[out->n_classes] = strdup(label);
            c = out->n_classes++;
        }
        size_t i = out->n;
        out->text[i] = dup_n(text, tl);
        out->len[i] = tl;
        out->label[i] = c;
        out->line[i] = row.line;
        out->unknown[i] = c < 0 ? strdup(label) : NULL;
        out->n++;
        if (!out->text[i]) { rc = kn_fail(err, "out of memory"); break; }
    }
    if (warn && skipped > 10) fprintf(warn, "warning: %s: %zu empty texts skipped in all\n", path, skipped);
    kn_csv_close(csv);
    if (rc == 0 && out->n == 0) rc = kn_fail(err, "%s: no rows with text", path);
    if (rc < 0) {
        kn_dataset_free(out);
        return -1;
    }
    return 0;
}

static int cmp_row_text(const void *a, const void *b, void *ctx)
{
    const kn_dataset *d = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(d->text[i], d->text[j]);
    return c ? c : (i > j) - (i < j);
}

int kn_dataset_check_training(const kn_dataset *d, FILE *warn, kn_error *err)
{
    if (d->n_classes < 2)
        return kn_fail(err, "training needs at least two topics; the data has %d ('%s')", d->n_classes,
                       d->n_classes ? d->classes[0] : "");
    size_t *count = calloc((size_t)d->n_classes, sizeof *count);
    if (!count) return kn_fail(err, "out of memory");
    for (size_t i = 0; i < d->n; i++) count[d->label[i]]++;
    for (int c = 0; warn && c < d->n_classes; c++)
        if (count[c] == 1) {
            size_t line = 0;
            for (size_t i = 0; i < d->n && !line; i++)
                if (d->label[i] == c) line = d->line[i];
            fprintf(warn, "warning: topic '%s' has a single example (line %zu); its probabilities will be unreliable\n",
                    d->classes[c], line);
        }
    free(count);
    /* Duplicate texts: sort row indices by text and compare neighbours. */
    size_t *order = malloc(d->n * sizeof *order);
    if (!order) return kn_fail(err, "out of memory");
    for (size_t i = 0; i < d->n; i++) order[i] = i;
    qsort_r(order, d->n, sizeof *order, cmp_row_text, (void *)d);
    size_t dups = 0;
    for (size_t k = 1; k < d->n; k++) {
        size_t i = order[k - 1], j = order[k];
        if (strcmp(d->text[i], d->text[j]) != 0) continue;
        if (warn && dups < 10)
            fprintf(warn, "warning: line %zu repeats the text of line %zu%s\n", d->line[j], d->line[i],
                    d->label[i] != d->label[j] ? " with a different topic" : "");
        dups++;
    }
    free(order);
    if (warn && dups > 10) fprintf(warn, "warning: %zu duplicate texts in all; duplicates weigh more in training\n", dups);
    return 0;
}
