/* cmd_import.c - `kanava import FILE`: messages from a CSV or JSONL file into the workspace.
 *
 * Invalid rows are reported on stderr as FILE:LINE: what, then a summary. Message text is
 * never printed: the report goes through a filter that drops the " near '...'" excerpt
 * JSON parse errors carry (it quotes the input). On a terminal a progress line shows the
 * rows read so far (the total is unknown while streaming); a report line first clears it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/workspace.h"
#include "util/progress.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava import FILE.csv|FILE.jsonl [--workspace DIR] [--batch N]\n"
            "  CSV (TSV when the name ends in .tsv): a header with a `text` column and optionally\n"
            "  external_id, channel, language, received_at; JSONL: one object per line, same keys\n"
            "  --batch N       rows per transaction (default 1000)\n"
            "  --workspace DIR (default $KANAVA_WORKSPACE, else ./" KN_DEFAULT_WORKSPACE ")\n"
            "  messages already in the workspace (same external_id) are not added again\n");
}

/* ---- the report filter ----------------------------------------------------------------- */

typedef struct report_sink {
    int *progress_drawn; /* the progress line is on screen: clear it before a report line */
    char *line;
    size_t len, cap;
} report_sink;

/* Removes " near '...'" (up to the last "' (column") from a "malformed JSON" line. */
static void drop_excerpt(char *line)
{
    if (!strstr(line, "malformed JSON")) return;
    char *near = strstr(line, " near '");
    if (!near) return;
    char *end = NULL, *p = near;
    while ((p = strstr(p + 1, "' (column ")) != NULL) end = p;
    if (end) memmove(near, end + 1, strlen(end + 1) + 1);
    else *near = '\0';
}

static void emit_line(report_sink *r)
{
    if (*r->progress_drawn) {
        fputs("\r\033[K", stderr);
        *r->progress_drawn = 0;
    }
    if (r->line) {
        r->line[r->len] = '\0';
        drop_excerpt(r->line);
        fputs(r->line, stderr);
    }
    fputc('\n', stderr);
    r->len = 0;
}

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
    report_sink *r = cookie;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n') {
            emit_line(r);
            continue;
        }
        if (r->len + 1 >= r->cap) {
            size_t grown_cap = r->cap ? 2 * r->cap : 512;
            char *grown = realloc(r->line, grown_cap);
            if (!grown) {
                errno = ENOMEM;
                return -1;
            }
            r->line = grown;
            r->cap = grown_cap;
        }
        r->line[r->len++] = buf[i];
    }
    return (ssize_t)size;
}

static int sink_close(void *cookie)
{
    report_sink *r = cookie;
    if (r->len > 0) emit_line(r);
    return 0;
}

/* ---- progress: rows done, total unknown ------------------------------------------------ */

typedef struct import_progress {
    kn_progress bar;
    int drawn;
} import_progress;

static void show_rows(void *ctx, size_t done, size_t total)
{
    (void)total;
    import_progress *p = ctx;
    double now = kn_now();
    if (!p->bar.enabled || now - p->bar.last_draw < 0.1) return;
    p->bar.last_draw = now;
    double elapsed = now - p->bar.start;
    fprintf(stderr, "\r\033[K%s %zu rows  %.0f rows/s", p->bar.label, done, elapsed > 0 ? (double)done / elapsed : 0.0);
    fflush(stderr);
    p->drawn = 1;
}

/* ---- the command ------------------------------------------------------------------------- */

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {{"workspace", required_argument, 0, 'w'},
                                          {"batch", required_argument, 0, 'b'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *flag = NULL;
    long batch = 1000;
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': flag = optarg; break;
        case 'b':
            errno = 0;
            batch = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || batch < 1 || batch > 1000000) {
                fprintf(stderr, "kanava import: --batch must be a whole number from 1 to 1000000, not '%s'\n", optarg);
                return KN_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) { usage(stderr); return KN_EXIT_USAGE; }
    const char *path = argv[optind];

    kn_error err;
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        fprintf(stderr, "kanava import: %s: cannot open: %s\n", path, strerror(errno));
        return KN_EXIT_USAGE;
    }
    fclose(probe);
    kn_store *s = kn_workspace_open(flag, 0, &err);
    if (!s) {
        fprintf(stderr, "kanava import: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }

    import_progress prog = {.drawn = 0};
    kn_progress_init(&prog.bar, "importing");
    report_sink sink = {.progress_drawn = &prog.drawn};
    cookie_io_functions_t io = {.write = sink_write, .close = sink_close};
    FILE *report = fopencookie(&sink, "w", io);
    if (report) setvbuf(report, NULL, _IOLBF, 0);
    else report = stderr; /* out of memory for a stream: report unfiltered rather than not at all */

    kn_import_stats st;
    int rc = kn_store_import(s, path, (size_t)batch, report, &st, show_rows, &prog, &err);
    if (report != stderr) fclose(report);
    free(sink.line);
    if (prog.drawn) {
        fputs("\r\033[K", stderr);
        prog.drawn = 0;
    }
    kn_store_close(s);
    if (rc != 0) {
        /* err says which rows before the failure were kept (import.c). */
        fprintf(stderr, "kanava import: %s\n", err.msg);
        return KN_EXIT_USAGE;
    }
    fprintf(stderr, "imported %zu rows: %zu added, %zu already there, %zu invalid\n", st.rows, st.added, st.duplicates,
            st.invalid);
    return KN_EXIT_OK;
}
