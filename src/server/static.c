/* static.c - serves the web UI from the table that tools/embed_assets.sh generates:
 * GET / is the app's page, GET /ui/PATH its scripts and styles. Every response carries a
 * Content-Security-Policy that allows only this origin (no inline script, no CDN), and an
 * ETag so that a reload costs a 304, not the bytes. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"
#include "server/static.h"

static const char *content_type(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".ico", "image/x-icon"},
        {".json", "application/json"},         {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

static const kn_static_asset *find(const char *path)
{
    for (const kn_static_asset *a = kn_static_assets; a->path; a++)
        if (strcmp(a->path, path) == 0) return a;
    return NULL;
}

/* A strong validator from the bytes (FNV-1a 64): the assets change only with the binary. */
static void etag_of(const kn_static_asset *a, char *out, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < a->size; i++) h = (h ^ a->data[i]) * 1099511628211ull;
    snprintf(out, n, "\"%016llx\"", (unsigned long long)h);
}

static void respond_asset(kn_request *r, const kn_static_asset *a)
{
    char etag[24];
    etag_of(a, etag, sizeof etag);
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    unsigned status = inm && strcmp(inm, etag) == 0 ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
    size_t size = status == MHD_HTTP_OK ? a->size : 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(a->path));
    /* no-cache: the browser may keep a copy but asks (ETag) before it uses it, so a new
     * binary's UI shows up on the next load. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'self'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (MHD_queue_response(r->conn, status, resp) == MHD_YES) {
        r->responded = 1;
        r->status = status;
    }
    MHD_destroy_response(resp);
}

int kn_static_handle(kn_request *r)
{
    const char *path = r->path;
    const char *asset;
    if (strcmp(path, "/") == 0 || strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0) asset = "index.html";
    else if (strncmp(path, "/ui/", 4) == 0) asset = path + 4;
    else return 0;
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        kn_respond_method_not_allowed(r, "GET, HEAD");
        return 1;
    }
    const kn_static_asset *a = find(asset);
    if (!a) kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no web asset %.200s", path);
    else respond_asset(r, a);
    return 1;
}
