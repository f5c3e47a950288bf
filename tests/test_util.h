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
#include <jansson.h>
#include <time.h>

#include "text/texts.h"
#include "util/fs.h"
#include "util/progress.h" /* kn_now: the clock the tests time with */

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
} test_dataset;

/* Reads dir/name, which must hold exactly `bytes` bytes. */
static inline void *test_read_exact(const char *dir, const char *name, size_t bytes)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    void *buf = malloc(bytes ? bytes : 1);
    size_t got = fread(buf, 1, bytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != bytes || extra) fail_msg("%s: expected %zu bytes", path, bytes);
    return buf;
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
            int rc = kn_texts_read_table_column(path, strstr(source, ".tsv") ? '\t' : ',', "text", &d->texts, &err);
            if (rc != 0) return NULL;
            snprintf(d->source, sizeof d->source, "%s", source);
        }
    }
    if (!d || row >= d->texts.n) return NULL;
    *len = d->texts.len[row];
    return d->texts.text[row];
}

/* dir/name parsed as JSON; fails the calling test when it cannot be read. */
static inline json_t *test_read_json(const char *dir, const char *name)
{
    char path[4400];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *v = json_load_file(path, 0, &jerr);
    if (!v) fail_msg("cannot read %s: %s", path, jerr.text);
    return v;
}

/* One JSON value per line of dir/name, as a JSON array (empty lines skipped); fails the
 * calling test naming the line of a malformed value. */
static inline json_t *test_read_jsonl(const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    json_t *rows = json_array();
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) got--;
        if (got == 0) continue;
        json_error_t jerr;
        json_t *v = json_loadb(line, (size_t)got, 0, &jerr);
        if (!v) fail_msg("%s:%zu: %s", path, lineno, jerr.text);
        json_array_append_new(rows, v);
    }
    free(line);
    fclose(f);
    return rows;
}

#endif
