/* server.h - `kanava serve`: the HTTP JSON API over a workspace and its live model.
 *
 * Endpoints (JSON in and out; every one but GET /healthz and GET /api/openapi.json needs
 * "Authorization: Bearer TOKEN", a token of the workspace; the route table in api.c says
 * which role may call what, docs/API.md and the OpenAPI document describe them):
 *   GET    /healthz                              {"status": "ok"}
 *   GET    /metrics                              Prometheus text format 0.0.4
 *   GET    /api/openapi.json                     the OpenAPI 3.0 description (openapi.c)
 *   POST   /api/messages                         one message or {"messages": [...]}
 *   GET    /api/messages/{id}
 *   POST   /api/messages/{id}/classify           topic, probability, top 3
 *   POST   /api/messages/{id}/route              auto_reply or human, sets the status
 *   GET    /api/messages/{id}/annotations        {"annotations": [...]}
 *   POST   /api/messages/{id}/annotations        {"topic", "annotator"?} -> 201 the annotation
 *   GET    /api/annotations/{id}
 *   DELETE /api/annotations/{id}                 204
 *   POST   /api/classify                         {"text": ...} -> topic, probability, top 3
 *   GET    /api/topics
 *   GET    /api/topics/{name}
 *   PUT    /api/topics/{name}                    {description?, automatable?, threshold?}
 *   DELETE /api/topics/{name}
 *   PUT    /api/topics/{name}/replies/{lang}     {"text": ...}
 *   GET    /api/models                           the workspace's models, which one is active
 *   POST   /api/models                           {"bundle_path": DIR}: validate and register
 *   POST   /api/models/{id}/activate             hot swap: requests in flight keep their model
 * Errors: {"error": {"code": "...", "message": "..."}} with the HTTP status.
 * One line per request goes to stderr (method, path, status, milliseconds); message text
 * never does. */
#ifndef KN_SERVER_H
#define KN_SERVER_H

#include <stddef.h>

#include "util/error.h"

typedef struct kn_server_options {
    const char *db_path;           /* the workspace database (DIR/kanava.db) */
    const char *model_dir;         /* the bundle directory (registered and made active); NULL:
                                    * the workspace's active model */
    const char *bind;              /* numeric address, default 127.0.0.1 */
    int port;                      /* default 8080 */
    int threads;                   /* cores the model computes on (its kernel threads); 0: all */
    int http_threads;              /* connection threads (MHD pool), default 4: concurrent requests
                                    * wait for the model together and are predicted as one batch */
    double margin;                 /* routing ambiguity margin, default 0.1 */
    const char *fallback_language; /* default "en" */
    size_t max_body;               /* bytes per request body, default 1 MiB */
    const char *base_model;        /* encoder directory for POST /api/train; NULL: the active
                                    * model's encoder, else the default model (use-lite) */
} kn_server_options;

void kn_server_default_options(kn_server_options *o);

/* Opens the workspace and the first model, listens, and serves until SIGINT or SIGTERM; then
 * stops cleanly. 0 after a clean stop, -1 with err when it cannot start. */
int kn_server_run(const kn_server_options *o, kn_error *err);

#endif
