/* test_util.h - shared helpers for the C tests: where the repo, ../shared and the
 * installed models are, and reading dataset rows that fixtures refer to. */
#ifndef KN_TEST_UTIL_H
#define KN_TEST_UTIL_H

#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text/texts.h"
#include "util/fs.h"

/* Repo root: $KANAVA_ROOT, else the parent of this file's directory. */
static inline const char *test_root(void)
{
    static char root[4096];
    if (root[0]) return root;
    const char *env = getenv("KANAVA_ROOT");
    if (env && *env) {
        snprintf(root, sizeof root, "%s", env);
    } else {
        snprintf(root, sizeof root, "%s", __FILE__);
        char *slash = strrchr(root, '/');
        if (slash) *slash = '\0'; /* tests */
        slash = strrchr(root, '/');
        if (slash) *slash = '\0';
        else snprintf(root, sizeof root, ".");
    }
    return root;
}

/* ../shared beside the repo, or $KANAVA_SHARED. */
static inline const char *test_shared(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *env = getenv("KANAVA_SHARED");
        if (env && *env) snprintf(dir, sizeof dir, "%s", env);
        else snprintf(dir, sizeof dir, "%s/../shared", test_root());
    }
    return dir;
}

static inline void test_path(char *out, size_t cap, const char *base, const char *rel)
{
    snprintf(out, cap, "%s/%s", base, rel);
}

/* The installed use-lite model directory ($KANAVA_MODELS/use-lite); NULL if absent. */
static inline const char *test_use_lite_dir(void)
{
    static char dir[4096];
    const char *models = getenv("KANAVA_MODELS");
    if (!models || !*models) return NULL;
    snprintf(dir, sizeof dir, "%s/use-lite", models);
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    return kn_is_file(cfg) ? dir : NULL;
}

/* Text column of a dataset file under ../shared/datasets: banking77 CSVs (column "text")
 * and SIB-200 TSVs (header index_id, category, text). Cached per source. */
typedef struct {
    char source[256];
    kn_texts texts;
    char *tsv_buf;
} test_dataset;

static inline int test_read_tsv_text(const char *path, test_dataset *d)
{
    kn_error err;
    size_t len;
    char *buf = kn_read_file(path, &len, &err);
    if (!buf) return -1;
    d->tsv_buf = buf;
    size_t cap = 1024;
    d->texts.text = malloc(cap * sizeof *d->texts.text);
    d->texts.len = malloc(cap * sizeof *d->texts.len);
    char *line = strchr(buf, '\n'); /* skip header */
    while (line && line[1]) {
        char *start = line + 1, *end = strchr(start, '\n');
        if (end) *end = '\0';
        char *t1 = strchr(start, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) return -1;
        char *text = t2 + 1;
        size_t tl = strlen(text);
        if (tl && text[tl - 1] == '\r') text[--tl] = '\0';
        if (d->texts.n == cap) {
            cap *= 2;
            d->texts.text = realloc(d->texts.text, cap * sizeof *d->texts.text);
            d->texts.len = realloc(d->texts.len, cap * sizeof *d->texts.len);
        }
        d->texts.text[d->texts.n] = text;
        d->texts.len[d->texts.n] = tl;
        d->texts.n++;
        line = end;
    }
    return 0;
}

/* Returns the text of data row `row` (0-based, after the header) of source, or NULL. */
static inline const char *test_dataset_text(const char *source, size_t row, size_t *len)
{
    static test_dataset cache[8];
    test_dataset *d = NULL;
    for (int i = 0; i < 8 && !d; i++) {
        if (strcmp(cache[i].source, source) == 0) d = &cache[i];
        else if (!cache[i].source[0]) {
            d = &cache[i];
            char path[4096], rel[512];
            snprintf(rel, sizeof rel, "datasets/%s", source);
            test_path(path, sizeof path, test_shared(), rel);
            kn_error err;
            int rc = strstr(source, ".tsv") ? test_read_tsv_text(path, d) : kn_texts_read_csv_column(path, "text", &d->texts, &err);
            if (rc != 0) return NULL;
            snprintf(d->source, sizeof d->source, "%s", source);
        }
    }
    if (!d || row >= d->texts.n) return NULL;
    *len = d->texts.len[row];
    return d->texts.text[row];
}

#endif
