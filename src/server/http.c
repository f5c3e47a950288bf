/* http.c - request plumbing: the body (accumulated up to the size limit), JSON responses
 * and errors, and the one log line per request. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server_internal.h"
#include "server/static.h"

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void free_request(kn_request *r)
{
    if (!r) return;
    free(r->body);
    free((char *)r->method);
    free((char *)r->path);
    free(r);
}

/* ---- responses ------------------------------------------------------------------------- */

static int queue_with(kn_request *r, unsigned status, const char *text, enum MHD_ResponseMemoryMode mode,
                      const char *content_type, const char *allow)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) free((char *)text);
        return -1;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    if (ok != MHD_YES) return -1;
    r->responded = 1;
    r->status = status;
    return 0;
}

static int queue(kn_request *r, unsigned status, char *text, const char *allow)
{
    return queue_with(r, status, text, MHD_RESPMEM_MUST_FREE, "application/json", allow);
}

int kn_respond_text(kn_request *r, unsigned status, const char *content_type, char *text)
{
    return queue_with(r, status, text, MHD_RESPMEM_MUST_FREE, content_type, NULL);
}

int kn_respond_static(kn_request *r, unsigned status, const char *content_type, const char *text)
{
    return queue_with(r, status, text, MHD_RESPMEM_PERSISTENT, content_type, NULL);
}

static int respond(kn_request *r, unsigned status, json_t *body, const char *allow)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(body);
    if (!text) {
        /* Out of memory: a fixed body, copied so that MHD may free it. */
        text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
        if (!text) return -1;
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 2); /* a trailing newline, for curl users */
    if (line) {
        line[n] = '\n';
        line[n + 1] = '\0';
        text = line;
    }
    return queue(r, status, text, allow);
}

int kn_respond_json(kn_request *r, unsigned status, json_t *body) { return respond(r, status, body, NULL); }

static json_t *error_body(const char *code, const char *message)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

int kn_respond_error(kn_request *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return respond(r, status, error_body(code, msg), NULL);
}

int kn_respond_method_not_allowed(kn_request *r, const char *allow)
{
    char msg[160];
    snprintf(msg, sizeof msg, "%s is not allowed here; allowed: %s", r->method, allow);
    return respond(r, MHD_HTTP_METHOD_NOT_ALLOWED, error_body("method_not_allowed", msg), allow);
}

/* ---- request bodies -------------------------------------------------------------------- */

/* "application/json", optionally followed by parameters ("; charset=utf-8"). */
int kn_content_type_is(const char *type, const char *want)
{
    if (!type) return 0;
    while (*type == ' ' || *type == '\t') type++;
    size_t n = strlen(want);
    if (strncasecmp(type, want, n) != 0) return 0;
    char c = type[n];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

json_t *kn_request_json(kn_request *r)
{
    const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!kn_content_type_is(type, "application/json")) {
        kn_respond_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                         "the body must be JSON sent with Content-Type: application/json (got %.100s)",
                         type ? type : "no Content-Type");
        return NULL;
    }
    if (r->len == 0) {
        kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_json", "the request body is empty; expected a JSON object");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_json", "invalid JSON at line %d, column %d (byte %d): %s",
                         e.line, e.column, e.position, e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* Appends a chunk of the body; beyond the limit the body is dropped and marked too large. */
static int append_body(kn_request *r, const char *data, size_t n)
{
    size_t limit = r->srv->opt.max_body;
    if (r->too_large || n > limit - r->len) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) return -1;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 0;
}

static int too_large(kn_request *r)
{
    return kn_respond_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", "the request body is larger than %zu bytes",
                            r->srv->opt.max_body);
}

/* ---- the MHD callbacks ----------------------------------------------------------------- */

enum MHD_Result kn_http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    kn_request *r = *con_cls;
    if (!r) {
        /* The headers are in: set up the request; the body (if any) comes in later calls. */
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = cls;
        r->conn = conn;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        r->method = strdup(method);
        r->path = strdup(url);
        *con_cls = r;
        if (!r->method || !r->path) return MHD_NO;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end != cl && n > r->srv->opt.max_body) return too_large(r) == 0 ? MHD_YES : MHD_NO;
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        int rc = r->responded ? 0 : append_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc == 0 ? MHD_YES : MHD_NO;
    }
    if (r->responded) return MHD_YES;
    if (r->too_large) return too_large(r) == 0 ? MHD_YES : MHD_NO;
    if (!kn_static_handle(r)) kn_api_dispatch(r); /* / and /ui/: the web UI, no token */
    if (!r->responded &&
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "the request was not answered") != 0)
        return MHD_NO;
    return MHD_YES;
}

/* Writes s with control and non-ASCII bytes escaped, at most max bytes of it. */
static void put_escaped(FILE *f, const char *s, size_t max)
{
    size_t i = 0;
    for (; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\') fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    if (s[i]) fputs("...", f);
}

void kn_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    kn_request *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    if (r->method && r->path)
        /* dispatch matched the path already; a request refused before it (a body too large)
         * is matched here */
        kn_metrics_request(r->srv->metrics, r->method, r->pattern ? r->pattern : kn_api_pattern(r->path), r->status,
                           ms_since(&r->start) / 1e3);
    if (r->method && r->path) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        flockfile(stderr);
        fprintf(stderr, "%s ", stamp);
        put_escaped(stderr, r->method, 16);
        fputc(' ', stderr);
        put_escaped(stderr, r->path, 200);
        fprintf(stderr, " %u %.1fms%s\n", r->status, ms_since(&r->start),
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
        funlockfile(stderr);
    }
    free_request(r);
}
