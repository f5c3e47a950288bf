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
#include "route/route.h"
#include "server/jobs.h"
#include "server/server.h"
#include "store/store.h"

typedef struct kn_predict_item kn_predict_item; /* live_model.c: one text waiting for a batch */

/* A bundle as the server runs it, shared by the requests that use it. refs counts the
 * server's own reference (while it is the live model) and one per request in flight; the
 * last release closes the bundle. The bundle has scratch buffers, so one thread at a time
 * predicts with it: texts that arrive while it is busy queue up and the next free request
 * thread predicts all of them as one batch (micro-batching; requests on different models
 * predict in parallel). */
typedef struct kn_live_model {
    kn_bundle *bundle;
    int64_t id; /* its row in the models table (predictions, decisions) */
    pthread_mutex_t lock;  /* guards queue and busy */
    pthread_cond_t batch_done;
    kn_predict_item *queue, *queue_tail;
    int busy;
    int refs; /* under kn_server.model_lock */
} kn_live_model;

typedef struct kn_metrics kn_metrics; /* http_metrics.c */

/* The store (one SQLite connection) is used by one thread at a time (store_lock). live is
 * swapped under model_lock, held only to take or drop a reference; swap_lock orders whole
 * activations (open the new bundle, mark it active in the store, swap). Lock order:
 * swap_lock, then store_lock or model_lock or a model's lock, never two of the last three. */
typedef struct kn_server {
    kn_server_options opt;
    kn_store *store;
    pthread_mutex_t store_lock;
    kn_live_model *live;
    pthread_mutex_t model_lock;
    pthread_mutex_t swap_lock;
    kn_metrics *metrics;
    kn_jobs *jobs; /* background jobs (jobs.h): training, the map, routing every message */
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
    char token_name[257]; /* set by kn_auth_check: the annotator of annotations made with it */
    kn_live_model *model; /* a reference to the live model while the handler runs */
    const char *pattern;  /* the endpoint's path pattern, once kn_api_dispatch matched it */
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
/* Queues text (malloc'ed, consumed) or a static text with a content type. 0 or -1. */
int kn_respond_text(kn_request *r, unsigned status, const char *content_type, char *text);
int kn_respond_static(kn_request *r, unsigned status, const char *content_type, const char *text);
/* Whether a Content-Type header value is want (case-insensitive, parameters allowed). */
int kn_content_type_is(const char *type, const char *want);
/* Parses the body as one JSON object. NULL after queueing 415 (not application/json),
 * 400 (empty, malformed: names the problem and its position) or 422 (not an object). */
json_t *kn_request_json(kn_request *r);

/* ---- auth.c ---------------------------------------------------------------------------- */

enum { KN_ROLE_ADMIN = 1, KN_ROLE_ANNOTATOR = 2, KN_ROLE_SERVICE = 4 };

/* Checks the bearer token and that its role is in roles (a mask of KN_ROLE_*). 0 when the
 * request may go on; -1 after queueing 401, 403 or 500. */
int kn_auth_check(kn_request *r, int roles);

/* ---- api.c ----------------------------------------------------------------------------- */

/* Routes a complete request to its handler, which queues the response; the handler runs
 * with a reference to the live model in r->model. */
void kn_api_dispatch(kn_request *r);
/* The path pattern of the endpoint that path belongs to ("/api/messages/{id}/route"), for
 * metrics; "unmatched" when there is none. A static string. */
const char *kn_api_pattern(const char *path);
/* Helpers the handler files share. */
#define KN_API_MAX_SHORT 1024 /* external_id, channel, names, annotators: what the store accepts */
void kn_api_lock_store(kn_server *s);
void kn_api_unlock_store(kn_server *s);
json_t *kn_json_str_or_null(const char *s);
/* The top 3 of proba, best first: [{"topic", "probability"}, ...]; the best class in *best. */
json_t *kn_api_top_json(char *const *classes, int n_classes, const float *proba, int *best);
/* obj[key] as a non-empty string of at most KN_API_MAX_SHORT bytes (NULL when absent and
 * not required). 0, or -1 after queueing 422 naming the key. */
int kn_api_short_string(kn_request *r, json_t *obj, const char *key, int required, const char **out);
int64_t kn_api_parse_id(const char *s);
int kn_api_only_keys(kn_request *r, json_t *obj, const char *where, const char *const *allowed);
void kn_api_internal_error(kn_request *r, const kn_error *err);

/* ---- api_models.c: GET/POST /api/models, POST /api/models/{id}/activate --------------- */

void kn_api_models_list(kn_request *r, char **args);
void kn_api_models_create(kn_request *r, char **args);
void kn_api_models_activate(kn_request *r, char **args);

/* ---- api_annotations.c: /api/messages/{id}/annotations, /api/annotations/{id} ---------- */

void kn_api_annotations_create(kn_request *r, char **args);
void kn_api_annotations_list(kn_request *r, char **args);
void kn_api_annotation_get(kn_request *r, char **args);
void kn_api_annotation_delete(kn_request *r, char **args);

/* ---- UI jobs (issue 7): api_jobs.c (GET /api/jobs, /api/jobs/{id}, POST /api/route),
 * api_train.c (POST /api/train, GET /api/models/{id}), api_map.c (POST and GET /api/map) -- */

void kn_api_jobs_list(kn_request *r, char **args);
void kn_api_job_get(kn_request *r, char **args);
void kn_api_route_all(kn_request *r, char **args);
void kn_api_train(kn_request *r, char **args);
void kn_api_model_get(kn_request *r, char **args);
void kn_api_map_compute(kn_request *r, char **args);
void kn_api_map_get(kn_request *r, char **args);
/* Answers a job start (kn_jobs_start's id): 202 {"job": id}, 409 job_running, or 500. */
void kn_api_respond_started(kn_request *r, int64_t id, int64_t running, const char *kind, const kn_error *err);
/* 409 {"error": {"code": "no_active_model"}}: the workspace has no live model yet. */
void kn_api_no_model(kn_request *r);
/* The encoder directory new models are trained on (and tfidf/bm25 models are mapped with):
 * --base-model, else the active model's encoder, else the default model. -1 with err. */
int kn_api_base_encoder(kn_server *srv, char *out, size_t cap, kn_error *err);
/* Routes one message as POST /api/messages/{id}/route does (api.c): decides, records the
 * prediction and the decision, sets the status; the store lock is held by the caller. */
int kn_api_decide(kn_server *srv, const kn_live_model *model, const kn_message *m, const float *proba,
                  kn_route_decision *d, kn_error *err);

/* ---- UI messages (issue 7): api_ui_messages.c (GET /api/me, /api/messages, /api/stats),
 * api_ui_import.c (POST /api/import), api_ui_annotations.c (POST /api/annotations/bulk,
 * /api/annotations/bulk-delete) ----------------------------------------------------------- */

void kn_api_me(kn_request *r, char **args);
void kn_api_messages_list(kn_request *r, char **args);
void kn_api_stats(kn_request *r, char **args);
void kn_api_import(kn_request *r, char **args);
void kn_api_annotations_bulk(kn_request *r, char **args);
void kn_api_annotations_bulk_delete(kn_request *r, char **args);

/* ---- live_model.c: the live bundle and its hot swap ----------------------------------- */

/* Opens the bundle at dir (an absolute path) as model id, with one reference. */
kn_live_model *kn_live_open(const char *dir, int64_t id, kn_error *err);
/* A reference to the live model (never NULL while the server runs); drop it with release. */
kn_live_model *kn_live_acquire(kn_server *srv);
void kn_live_release(kn_server *srv, kn_live_model *m);
/* Makes m (with its one reference, which the server takes over) the live model; the old one
 * is closed once its last request is done. Counts a swap in the metrics. */
void kn_live_swap(kn_server *srv, kn_live_model *m);
/* proba (n_classes floats) of one text, predicted in a batch with the texts of other
 * requests that arrive while the model is busy. */
int kn_live_predict(kn_live_model *m, const char *text, float *proba, kn_error *err);
/* Batches predicted and texts in them since the server started (for /metrics). */
void kn_live_batch_stats(uint64_t *batches, uint64_t *texts);
/* The kernel threads each prediction may use (0: the OpenMP default, all cores). */
void kn_live_set_compute_threads(int n);
/* The classes count recorded in the models table: {"classes": N}; malloc'ed. */
char *kn_live_metrics_json(const kn_bundle *b);
/* Opens dir and registers it in the store (not active; the store lock is taken here): the
 * model with one reference, or NULL with err (bad_bundle = 1 when the bundle did not open). */
kn_live_model *kn_live_load(kn_server *srv, const char *dir, int *bad_bundle, kn_error *err);
/* Marks model id the workspace's active one (the store lock is taken here). */
int kn_live_mark_active(kn_server *srv, int64_t id, kn_error *err);

/* ---- http_metrics.c: Prometheus counters ----------------------------------------------- */

kn_metrics *kn_metrics_new(void);
void kn_metrics_free(kn_metrics *m);
/* One answered request: method, path pattern (static strings), status, seconds. */
void kn_metrics_request(kn_metrics *m, const char *method, const char *pattern, unsigned status, double seconds);
void kn_metrics_decision(kn_metrics *m, const char *topic, const char *action);
void kn_metrics_swap(kn_metrics *m, int64_t active_id, int count_swap);
/* The text exposition format 0.0.4; malloc'ed, NULL when out of memory. */
char *kn_metrics_render(kn_metrics *m);

/* ---- openapi.c ----------------------------------------------------------------------- */

extern const char kn_openapi_json[];

#endif
