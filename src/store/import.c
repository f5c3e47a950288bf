/* import.c - kn_store_import: a CSV (TSV when the name ends in .tsv) or JSONL (.jsonl,
 * .json) file of messages into the store, batch by batch.
 *
 * Memory: one record (the CSV reader's buffer, or one JSONL line of at most MAX_LINE bytes)
 * plus one batch of copied messages; each batch is one kn_store_add_messages call, i.e. one
 * transaction. Rows that cannot be stored are reported as "FILE:LINE: what" and skipped.
 * Fatal errors (the file cannot be opened or read, a CSV quote that is never closed or text
 * after a closing quote, after which the reader cannot find the next record) return -1;
 * the batches committed before stay, the rows of the unfinished batch are not added.
 *
 * received_at: unix seconds (digits), or ISO 8601 "YYYY-MM-DDTHH:MM:SS" with optional
 * fractional seconds (ignored) and a zone, "Z" or "+HH:MM" / "-HH:MM" (a time without a zone
 * is refused: it would be ambiguous); empty (CSV), null or missing means now. In JSONL it may
 * also be an integer. external_id may be a JSON string or integer (123 and "123" are the same
 * message); channel and language are strings; null or "" means none. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store_internal.h"
#include "text/csv.h"
#include "text/texts.h"
#include "text/utf8.h"

#define DEFAULT_BATCH 1000
/* A JSONL line may escape every character of a maximal text (\uXXXX is 6 bytes). */
#define MAX_LINE (6u * KN_MAX_TEXT_BYTES + 65536u)

typedef struct importer {
    kn_store *s;
    const char *path;
    FILE *report;
    kn_import_stats stats;
    kn_progress_fn progress;
    void *progress_ctx;
    kn_message *batch;
    size_t n, cap;
    size_t first_line, last_line; /* lines of the rows in the batch */
    size_t committed_line;        /* line of the last row of the last committed batch */
} importer;

static void report_row(importer *im, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report_row(importer *im, size_t line, const char *fmt, ...)
{
    im->stats.invalid++;
    if (!im->report) return;
    fprintf(im->report, "%s:%zu: ", im->path, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(im->report, fmt, ap);
    va_end(ap);
    fputc('\n', im->report);
}

static void free_batch(importer *im)
{
    for (size_t i = 0; i < im->n; i++) kn_message_free(&im->batch[i]);
    im->n = 0;
}

static int flush(importer *im, kn_error *err)
{
    if (im->n == 0) return 0;
    size_t added = 0;
    kn_error e;
    int rc = kn_store_add_messages(im->s, im->batch, im->n, NULL, &added, &e);
    if (rc != 0) {
        free_batch(im);
        return kn_fail(err, "%s: lines %zu-%zu: %s", im->path, im->first_line, im->last_line, e.msg);
    }
    im->stats.added += added;
    im->stats.duplicates += im->n - added;
    im->committed_line = im->last_line;
    free_batch(im);
    if (im->progress) im->progress(im->progress_ctx, im->stats.rows, 0);
    return 0;
}

static char *dup_or_null(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* One row's fields (external_id, channel, language may be NULL; "" counts as NULL).
 * Returns 0 (stored in the batch or reported as invalid) or -1 on a fatal error. */
static int add_row(importer *im, size_t line, const char *ext, size_t ext_len, const char *channel, size_t channel_len,
                   const char *language, size_t language_len, const char *text, size_t text_len, int64_t received_at,
                   kn_error *err)
{
    struct {
        const char *name, *value;
        size_t len;
    } shorts[3] = {{"external_id", ext, ext_len}, {"channel", channel, channel_len}, {"language", language, language_len}};
    for (int i = 0; i < 3; i++)
        if (shorts[i].value && strlen(shorts[i].value) != shorts[i].len) {
            report_row(im, line, "the %s holds a NUL byte", shorts[i].name);
            return 0;
        }
    kn_message m = {.text = (char *)text, .external_id = (char *)(ext_len ? ext : NULL),
                    .channel = (char *)(channel_len ? channel : NULL), .language = (char *)(language_len ? language : NULL),
                    .received_at = received_at};
    char why[200];
    if (kn_store_check_message(&m, text ? text_len : 0, why, sizeof why) != 0) {
        report_row(im, line, "%s", why);
        return 0;
    }
    kn_message *slot = &im->batch[im->n];
    memset(slot, 0, sizeof *slot);
    slot->received_at = received_at;
    slot->text = dup_or_null(text, text_len);
    int oom = !slot->text;
    if (m.external_id && !(slot->external_id = dup_or_null(ext, ext_len))) oom = 1;
    if (m.channel && !(slot->channel = dup_or_null(channel, channel_len))) oom = 1;
    if (m.language && !(slot->language = dup_or_null(language, language_len))) oom = 1;
    if (oom) {
        kn_message_free(slot);
        return kn_fail(err, "%s:%zu: out of memory", im->path, line);
    }
    if (im->n == 0) im->first_line = line;
    im->last_line = line;
    im->n++;
    return im->n == im->cap ? flush(im, err) : 0;
}

/* ---- received_at -------------------------------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

#define LATEST_TIME 253402300799LL /* 9999-12-31T23:59:59Z */

/* Parses unix seconds or ISO 8601 with a zone (see the top of the file). 0 or -1 with why. */
static int parse_time(const char *s, size_t len, int64_t *out, char *why, size_t cap)
{
    static const char FORMS[] = "unix seconds or 'YYYY-MM-DDTHH:MM:SSZ'";
    if (len > 0 && strspn(s, "0123456789") == len) {
        if (len > 12) goto bad;
        int64_t v = 0;
        for (size_t i = 0; i < len; i++) v = v * 10 + (s[i] - '0');
        if (v > LATEST_TIME) goto bad;
        *out = v;
        return 0;
    }
    int y, mo, d, h, mi, sec;
    if (len < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
        s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        goto bad;
    static const int MDAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > MDAYS[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 || sec > 59) {
        snprintf(why, cap, "received_at \"%.*s\" is not a valid date and time", (int)(len < 40 ? len : 40), s);
        return -1;
    }
    size_t i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == start) goto bad;
    }
    int64_t offset = 0;
    if (i + 1 == len && s[i] == 'Z') {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59) goto bad;
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        if (i == len) {
            snprintf(why, cap, "received_at \"%.*s\" has no time zone (end it with Z or +HH:MM)", (int)(len < 40 ? len : 40), s);
            return -1;
        }
        goto bad;
    }
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    if (*out < 0) {
        snprintf(why, cap, "received_at \"%.*s\" is before 1970", (int)(len < 40 ? len : 40), s);
        return -1;
    }
    return 0;
bad:
    snprintf(why, cap, "received_at \"%.*s%s\" is neither %s", (int)(len < 40 ? len : 40), s, len > 40 ? "..." : "", FORMS);
    return -1;
}

/* ---- CSV -------------------------------------------------------------------------------------------- */

/* The CSV reader has consumed the whole record when it reports a wrong field count, so that
 * error is per row; every other reader error leaves it mid-record and is fatal. */
static int field_count_error(const char *msg)
{
    return strstr(msg, ": record has ") && strstr(msg, "but the first record");
}

static int import_csv(importer *im, char delim, kn_error *err)
{
    kn_csv *csv = kn_csv_open(im->path, delim, err);
    if (!csv) return -1;
    kn_csv_row row;
    kn_error e;
    int got = kn_csv_next(csv, &row, &e);
    if (got <= 0) {
        if (got == 0) kn_fail(err, "%s: the file is empty (a header row with a `text` column is needed)", im->path);
        else kn_fail(err, "%s", e.msg);
        kn_csv_close(csv);
        return -1;
    }
    long c_text = kn_csv_column(&row, "text"), c_ext = kn_csv_column(&row, "external_id"),
         c_channel = kn_csv_column(&row, "channel"), c_lang = kn_csv_column(&row, "language"),
         c_time = kn_csv_column(&row, "received_at");
    if (c_text < 0) {
        kn_fail(err, "%s:%zu: the header has no `text` column", im->path, row.line);
        kn_csv_close(csv);
        return -1;
    }
    int rc = 0;
    while (rc == 0 && (got = kn_csv_next(csv, &row, &e)) != 0) {
        if (got < 0) {
            if (!field_count_error(e.msg)) {
                rc = kn_fail(err, "%s", e.msg);
                break;
            }
            im->stats.rows++;
            im->stats.invalid++;
            if (im->report) fprintf(im->report, "%s\n", e.msg);
            continue;
        }
        im->stats.rows++;
        int64_t t = 0;
        if (c_time >= 0 && row.lengths[c_time] > 0) {
            char why[200];
            if (parse_time(row.fields[c_time], row.lengths[c_time], &t, why, sizeof why) != 0) {
                report_row(im, row.line, "%s", why);
                continue;
            }
        }
#define FIELD(c) (c >= 0 ? row.fields[c] : NULL), (c >= 0 ? row.lengths[c] : 0)
        rc = add_row(im, row.line, FIELD(c_ext), FIELD(c_channel), FIELD(c_lang), FIELD(c_text), t, err);
#undef FIELD
    }
    kn_csv_close(csv);
    return rc;
}

/* ---- JSONL ------------------------------------------------------------------------------------------- */

/* Reads one line (without its LF) into *buf. Returns 1, 0 at EOF, -1 on a read error; a line
 * longer than MAX_LINE is consumed and flagged with *too_long. */
static int read_line(FILE *f, char **buf, size_t *cap, size_t *len, int *too_long)
{
    *len = 0;
    *too_long = 0;
    if (!*buf) {
        if (!(*buf = malloc(4096))) return -2;
        *cap = 4096;
    }
    int c, any = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        any = 1;
        if (c == '\n') break;
        if (*len >= MAX_LINE) {
            *too_long = 1;
            continue;
        }
        if (*len + 1 >= *cap) {
            size_t grown_cap = 2 * *cap;
            char *grown = realloc(*buf, grown_cap);
            if (!grown) return -2;
            *buf = grown;
            *cap = grown_cap;
        }
        (*buf)[(*len)++] = (char)c;
    }
    if (ferror(f)) return -1;
    if (!any) return 0;
    if (*len > 0 && (*buf)[*len - 1] == '\r') (*len)--;
    (*buf)[*len] = '\0';
    return 1;
}

/* An optional string member: 0 with *value/len (NULL when null or missing), -1 when it has
 * another type (reported). Integers are accepted when allow_int (written into num). */
static int string_member(importer *im, size_t line, json_t *obj, const char *key, int allow_int, char num[32],
                         const char **value, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    *value = NULL;
    *len = 0;
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        *value = json_string_value(v);
        *len = json_string_length(v);
        return 0;
    }
    if (allow_int && json_is_integer(v)) {
        snprintf(num, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *value = num;
        *len = strlen(num);
        return 0;
    }
    report_row(im, line, "\"%s\" must be a string%s", key, allow_int ? " or an integer" : "");
    return -1;
}

static int import_object(importer *im, size_t line, json_t *obj, kn_error *err)
{
    json_t *text = json_object_get(obj, "text");
    if (!text) {
        report_row(im, line, "no \"text\"");
        return 0;
    }
    if (!json_is_string(text)) {
        report_row(im, line, "\"text\" must be a string");
        return 0;
    }
    char num[32];
    const char *ext, *channel, *language;
    size_t ext_len, channel_len, language_len;
    if (string_member(im, line, obj, "external_id", 1, num, &ext, &ext_len) != 0 ||
        string_member(im, line, obj, "channel", 0, NULL, &channel, &channel_len) != 0 ||
        string_member(im, line, obj, "language", 0, NULL, &language, &language_len) != 0)
        return 0;
    int64_t t = 0;
    json_t *when = json_object_get(obj, "received_at");
    if (when && json_is_integer(when)) {
        json_int_t v = json_integer_value(when);
        if (v < 0 || v > LATEST_TIME) {
            report_row(im, line, "received_at %" JSON_INTEGER_FORMAT " is out of range", v);
            return 0;
        }
        t = (int64_t)v;
    } else if (when && json_is_string(when)) {
        char why[200];
        size_t len = json_string_length(when);
        if (len > 0 && parse_time(json_string_value(when), len, &t, why, sizeof why) != 0) {
            report_row(im, line, "%s", why);
            return 0;
        }
    } else if (when && !json_is_null(when)) {
        report_row(im, line, "\"received_at\" must be unix seconds (an integer) or a string 'YYYY-MM-DDTHH:MM:SSZ'");
        return 0;
    }
    return add_row(im, line, ext, ext_len, channel, channel_len, language, language_len, json_string_value(text),
                   json_string_length(text), t, err);
}

static int import_jsonl(importer *im, kn_error *err)
{
    FILE *f = fopen(im->path, "rb");
    if (!f) return kn_fail(err, "%s: cannot open: %s", im->path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, len = 0, line = 0;
    int too_long, got, rc = 0;
    while (rc == 0 && (got = read_line(f, &buf, &cap, &len, &too_long)) > 0) {
        line++;
        char *p = buf;
        if (line == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
            p += 3;
            len -= 3;
        }
        size_t blank = strspn(p, " \t\r");
        if (!too_long && blank == len) continue; /* blank line */
        if (im->stats.rows == 0 && p[blank] == '[') {
            rc = kn_fail(err, "%s:%zu: a JSON array; write one JSON object per line (JSON Lines)", im->path, line);
            break;
        }
        im->stats.rows++;
        if (too_long) {
            report_row(im, line, "the line is longer than %u bytes", MAX_LINE);
            continue;
        }
        size_t bad = kn_utf8_first_invalid(p, len);
        if (bad != len) {
            report_row(im, line, "invalid UTF-8 at byte %zu of the line", bad + 1);
            continue;
        }
        json_error_t jerr;
        json_t *obj = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) {
            report_row(im, line, "malformed JSON: %s (column %d)", jerr.text, jerr.column);
            continue;
        }
        if (!json_is_object(obj)) report_row(im, line, "expected a JSON object, one message per line");
        else rc = import_object(im, line, obj, err);
        json_decref(obj);
    }
    if (rc == 0 && got == -2) rc = kn_fail(err, "%s:%zu: out of memory", im->path, line + 1);
    else if (rc == 0 && got < 0) rc = kn_fail(err, "%s:%zu: read error: %s", im->path, line + 1, strerror(errno));
    free(buf);
    fclose(f);
    return rc;
}

/* ---- entry point ----------------------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int kn_store_import(kn_store *s, const char *path, size_t batch_size, FILE *report, kn_import_stats *stats,
                    kn_progress_fn progress, void *progress_ctx, kn_error *err)
{
    if (stats) memset(stats, 0, sizeof *stats);
    if (!path || !*path) return kn_fail(err, "importing messages: no file given");
    importer im = {.s = s, .path = path, .report = report, .progress = progress, .progress_ctx = progress_ctx};
    im.cap = batch_size ? batch_size : DEFAULT_BATCH;
    im.batch = calloc(im.cap, sizeof *im.batch);
    if (!im.batch) return kn_fail(err, "%s: out of memory for a batch of %zu messages", path, im.cap);
    int rc;
    if (ends_with(path, ".jsonl") || ends_with(path, ".json")) rc = import_jsonl(&im, err);
    else rc = import_csv(&im, ends_with(path, ".tsv") ? '\t' : ',', err);
    if (rc == 0) rc = flush(&im, err);
    if (rc != 0 && im.committed_line > 0 && err) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used, " (the rows up to line %zu were imported: %zu added)",
                 im.committed_line, im.stats.added);
    }
    free_batch(&im);
    free(im.batch);
    if (stats) *stats = im.stats;
    return rc;
}
