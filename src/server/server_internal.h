/* server_internal.h - what the files of src/server share: the server state, one request,
 * response helpers (http.c), authentication (auth.c) and the API dispatcher (api.c). */
#ifndef KN_SERVER_INTERNAL_H
#define KN_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "learn/bundle.h"
#include "server/server.h"
#include "store/store.h"

/* The store (one SQLite connection) and the bundle (scratch buffers) are each used by one
 * thread at a time. Nobody holds both locks at once. */
typedef struct kn_server {
    kn_server_options opt;
    kn_store *store;
    pthread_mutex_t store_lock;
    int64_t model_id; /* the bundle's row in the models table (predictions, decisions) */
    kn_bundle *bundle;
    pthread_mutex_t bundle_lock;
} kn_server;

/* One HTTP request, from its first header to the completion callback. */
typedef struct kn_request {
    kn_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char *body; /* NUL-terminated; NULL when empty */
    size_t len, cap;
    int too_large;  /* the body went over opt.max_body: it is discarded, 413 at the end */
    int responded;  /* a response is queued */
    unsigned status;
    struct timespec start;
    char role[16];  /* set by kn_auth_check */
} kn_request;

/* ---- http.c ---------------------------------------------------------------------------- */

/* The MHD access handler and completion callback (cls is the kn_server). */
enum MHD_Result kn_http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls);
void kn_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe);

/* Queues body (consumed, even on failure) as the JSON response with status. 0 or -1. */
int kn_respond_json(kn_request *r, unsigned status, json_t *body);
/* Queues {"error": {"code": code, "message": ...}} with status. */
int kn_respond_error(kn_request *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 405 with an Allow header. */
int kn_respond_method_not_allowed(kn_request *r, const char *allow);
/* Parses the body as one JSON object. NULL after queueing 415 (not application/json),
 * 400 (empty, malformed: names the problem and its position) or 422 (not an object). */
json_t *kn_request_json(kn_request *r);

/* ---- auth.c ---------------------------------------------------------------------------- */

enum { KN_ROLE_ADMIN = 1, KN_ROLE_ANNOTATOR = 2, KN_ROLE_SERVICE = 4 };

/* Checks the bearer token and that its role is in roles (a mask of KN_ROLE_*). 0 when the
 * request may go on; -1 after queueing 401, 403 or 500. */
int kn_auth_check(kn_request *r, int roles);

/* ---- api.c ----------------------------------------------------------------------------- */

/* Routes a complete request to its handler, which queues the response. */
void kn_api_dispatch(kn_request *r);

#endif
