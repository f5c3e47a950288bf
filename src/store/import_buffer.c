/* import_buffer.c - importing a CSV file that arrived in memory (POST /api/import) with the
 * very reader `kanava import` uses (import.c), but all or nothing for a malformed file: the
 * bytes go to a private temporary file and kn_store_import reads it as a single batch, i.e.
 * one transaction, which a fatal error never reaches. The temporary file's name is taken out
 * of every message ("line 3: ...", never a path the client has not seen). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_internal.h"
#include "store/ui_messages.h"

#define MAX_DIR 200 /* a longer workspace directory: the temporary file goes to TMPDIR */

/* Rewrites "PATH:12: what" as "line 12: what" and "PATH: what" as "what", anywhere in msg. */
static void without_path(const char *msg, const char *path, char *out, size_t cap)
{
    size_t plen = strlen(path), o = 0;
    while (*msg && o + 1 < cap) {
        if (strncmp(msg, path, plen) == 0 && msg[plen] == ':') {
            msg += plen + 1;
            if (*msg >= '0' && *msg <= '9') o += (size_t)snprintf(out + o, cap - o, "line ");
            else while (*msg == ' ') msg++;
            if (o >= cap) break;
            continue;
        }
        out[o++] = *msg++;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* Creates the temporary file beside the workspace database (so the messages stay on its
 * disk) or in TMPDIR; path gets its name. */
static FILE *temp_file(kn_store *s, char *path, size_t cap, kn_error *err)
{
    const char *slash = strrchr(s->path, '/');
    int dir_len = slash ? (int)(slash - s->path) : 1;
    const char *dir = slash ? s->path : ".";
    if (dir_len > MAX_DIR || dir_len == 0) {
        dir = getenv("TMPDIR");
        if (!dir || !*dir || strlen(dir) > MAX_DIR) dir = "/tmp";
        dir_len = (int)strlen(dir);
    }
    snprintf(path, cap, "%.*s/.kanava-import-XXXXXX.csv", dir_len, dir);
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        kn_fail(err, "importing messages: cannot create a temporary file in %.*s: %s", dir_len, dir, strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        kn_fail(err, "importing messages: %s", strerror(errno));
        close(fd);
        unlink(path);
    }
    return f;
}

/* Parses the report's "PATH:LINE: what" lines into errors. */
static void collect_errors(const char *report, const char *path, kn_import_row_error *errors, size_t max_errors,
                           size_t *n_errors)
{
    size_t plen = strlen(path);
    for (const char *line = report; line && *line && *n_errors < max_errors;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > plen + 1 && strncmp(line, path, plen) == 0 && line[plen] == ':') {
            char *rest;
            unsigned long n = strtoul(line + plen + 1, &rest, 10);
            if (rest > line + plen + 1 && *rest == ':') {
                rest++;
                while (*rest == ' ') rest++;
                kn_import_row_error *e = &errors[(*n_errors)++];
                e->line = n;
                int what = (int)(len - (size_t)(rest - line));
                snprintf(e->error, sizeof e->error, "%.*s", what, rest);
            }
        }
        line = end ? end + 1 : NULL;
    }
}

int kn_store_import_csv_buffer(kn_store *s, const char *data, size_t len, kn_import_stats *stats,
                               kn_import_row_error *errors, size_t max_errors, size_t *n_errors, kn_error *err)
{
    memset(stats, 0, sizeof *stats);
    *n_errors = 0;
    if (len > 0 && !data) return kn_fail(err, "importing messages: no data given");
    char path[MAX_DIR + 64];
    FILE *f = temp_file(s, path, sizeof path, err);
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        unlink(path);
        return kn_fail(err, "importing messages: writing the temporary file: %s", strerror(errno));
    }
    /* Rows never outnumber the lines, so this one batch holds the whole file. */
    size_t lines = 1;
    for (const char *p = data; p && (p = memchr(p, '\n', len - (size_t)(p - data))); p++) lines++;
    char *report = NULL;
    size_t report_len = 0;
    FILE *rf = open_memstream(&report, &report_len);
    if (!rf) {
        unlink(path);
        return kn_fail(err, "importing messages: out of memory");
    }
    kn_error e = {{0}};
    int rc = kn_store_import(s, path, lines + 1, rf, stats, NULL, NULL, &e);
    fclose(rf);
    unlink(path);
    if (rc != 0) {
        /* The reader's errors name a line of the file (or say it is empty); the others
         * (a failed write to the database, ...) are not the file's fault. */
        size_t plen = strlen(path);
        int names_line = strncmp(e.msg, path, plen) == 0 && e.msg[plen] == ':' && e.msg[plen + 1] >= '0' &&
                         e.msg[plen + 1] <= '9';
        if (names_line || strstr(e.msg, ": the file is empty")) rc = 1;
        if (err) without_path(e.msg, path, err->msg, sizeof err->msg);
        memset(stats, 0, sizeof *stats);
    } else if (errors && max_errors > 0) {
        collect_errors(report, path, errors, max_errors, n_errors);
    }
    free(report);
    return rc;
}
