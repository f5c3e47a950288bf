/* api_jobs.c - reading background jobs (GET /api/jobs, /api/jobs/{id}), routing every message
 * of a status in the background (POST /api/route), and what the job endpoints share: the
 * "no active model" answer and the base encoder. */
#include <stdlib.h>
#include <string.h>

#include "model/registry.h"
#include "server/server_internal.h"
#include "store/ui_store.h"
#include "util/fs.h"

#define ROUTE_BATCH 32 /* messages predicted per hold of the model's lock */

void kn_api_no_model(kn_request *r)
{
    kn_respond_error(r, MHD_HTTP_CONFLICT, "no_active_model",
                     "the workspace has no active model yet: train one (POST /api/train) and activate it "
                     "(POST /api/models/{id}/activate)");
}

int kn_api_base_encoder(kn_server *srv, char *out, size_t cap, kn_error *err)
{
    char models_dir[4096];
    if (kn_models_dir(models_dir, sizeof models_dir, NULL, err) != 0) return -1;
    if (srv->opt.base_model) return kn_model_path(out, cap, models_dir, srv->opt.base_model, err);
    kn_model_info active;
    pthread_mutex_lock(&srv->store_lock);
    int rc = kn_store_active_model(srv->store, &active, err);
    pthread_mutex_unlock(&srv->store_lock);
    if (rc < 0) return -1;
    if (rc == 0) {
        /* A frozen or setfit bundle carries its encoder; tfidf and bm25 ones have none. */
        char cfg[4200];
        int found = kn_path_join(out, cap, active.bundle_path, "encoder") == 0 &&
                    kn_path_join(cfg, sizeof cfg, out, "config.json") == 0 && kn_is_file(cfg);
        kn_model_info_free(&active);
        if (found) return 0;
    }
    return kn_model_path(out, cap, models_dir, KN_DEFAULT_MODEL, err);
}

void kn_api_jobs_list(kn_request *r, char **args)
{
    (void)args;
    kn_respond_json(r, MHD_HTTP_OK, kn_jobs_list_json(r->srv->jobs));
}

void kn_api_job_get(kn_request *r, char **args)
{
    int64_t id = kn_api_parse_id(args[0]);
    json_t *job = id > 0 ? kn_jobs_get_json(r->srv->jobs, id) : NULL;
    if (job) kn_respond_json(r, MHD_HTTP_OK, job);
    else kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "job %.40s does not exist", args[0]);
}

void kn_api_respond_started(kn_request *r, int64_t id, int64_t running, const char *kind, const kn_error *err)
{
    if (id > 0) kn_respond_json(r, MHD_HTTP_ACCEPTED, json_pack("{s:I}", "job", (json_int_t)id));
    else if (id == 0)
        kn_respond_error(r, MHD_HTTP_CONFLICT, "job_running", "a %s job (%lld) is still running; one at a time", kind,
                         (long long)running);
    else kn_api_internal_error(r, err);
}

/* ---- POST /api/route {"status": "new"} --------------------------------------------------- */

typedef struct route_job {
    kn_server *srv;
    kn_live_model *model; /* a reference, dropped when the job ends */
    char status[16];
} route_job;

static void route_job_free(void *p)
{
    route_job *j = p;
    kn_live_release(j->srv, j->model);
    free(j);
}

/* Routes one message already predicted (proba); skips it when its status changed since it
 * was listed (someone routed or answered it meanwhile). */
static int route_one(route_job *j, int64_t id, const float *proba, kn_error *err)
{
    kn_server *srv = j->srv;
    kn_message m;
    kn_route_decision d;
    pthread_mutex_lock(&srv->store_lock);
    int rc = kn_store_get_message(srv->store, id, &m, err), decided = 0;
    if (rc == 0 && strcmp(m.status ? m.status : "new", j->status) == 0) {
        rc = kn_api_decide(srv, j->model, &m, proba, &d, err);
        decided = rc == 0;
    }
    pthread_mutex_unlock(&srv->store_lock);
    if (decided) {
        kn_metrics_decision(srv->metrics, j->model->bundle->classes[d.topic],
                            d.action == KN_ROUTE_AUTO_REPLY ? "auto_reply" : "human");
        kn_route_decision_free(&d);
    }
    if (rc == 0) kn_message_free(&m);
    return rc < 0 ? -1 : 0; /* 1: the message was deleted meanwhile */
}

static int route_all(kn_job *job, void *ctx, kn_error *err)
{
    route_job *j = ctx;
    kn_server *srv = j->srv;
    kn_text_list list;
    kn_job_progress(job, "routing", 0.0);
    kn_job_set_model(job, j->model->id);
    pthread_mutex_lock(&srv->store_lock);
    int rc = kn_store_message_texts(srv->store, j->status, &list, err);
    pthread_mutex_unlock(&srv->store_lock);
    if (rc != 0) return -1;
    int n_classes = j->model->bundle->n_classes;
    float *proba = malloc((size_t)ROUTE_BATCH * (size_t)n_classes * sizeof *proba);
    size_t *lens = malloc(ROUTE_BATCH * sizeof *lens);
    if (!proba || !lens) rc = kn_fail(err, "routing: out of memory");
    for (size_t at = 0; rc == 0 && at < list.n; at += ROUTE_BATCH) {
        if (kn_job_stopping(job)) {
            rc = kn_fail(err, "stopped after %zu of %zu messages: the server is stopping", at, list.n);
            break;
        }
        size_t b = list.n - at < ROUTE_BATCH ? list.n - at : ROUTE_BATCH;
        for (size_t i = 0; i < b; i++) lens[i] = strlen(list.texts[at + i]);
        pthread_mutex_lock(&j->model->lock);
        rc = kn_bundle_predict(j->model->bundle, (const char *const *)list.texts + at, lens, b, proba, NULL, NULL,
                               err);
        pthread_mutex_unlock(&j->model->lock);
        for (size_t i = 0; rc == 0 && i < b; i++)
            rc = route_one(j, list.ids[at + i], proba + i * (size_t)n_classes, err);
        kn_job_progress(job, NULL, (double)(at + b) / (double)list.n);
    }
    free(proba);
    free(lens);
    kn_text_list_free(&list);
    return rc;
}

void kn_api_route_all(kn_request *r, char **args)
{
    (void)args;
    static const char *const keys[] = {"status", NULL};
    static const char *const statuses[] = {"new", "queued", "auto_answered", "answered", NULL};
    json_t *body = kn_request_json(r);
    if (!body || kn_api_only_keys(r, body, "", keys) != 0) goto done;
    json_t *s = json_object_get(body, "status");
    const char *status = s ? json_string_value(s) : "new";
    int known = 0;
    for (const char *const *p = statuses; status && *p && !known; p++) known = strcmp(*p, status) == 0;
    if (!known) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         "status must be one of new, queued, auto_answered, answered");
        goto done;
    }
    route_job *j = calloc(1, sizeof *j);
    if (!j) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto done;
    }
    j->srv = r->srv;
    snprintf(j->status, sizeof j->status, "%s", status);
    j->model = kn_live_acquire(r->srv);
    if (!j->model) {
        free(j);
        kn_api_no_model(r);
        goto done;
    }
    int64_t running = 0;
    kn_error err = {{0}};
    int64_t id = kn_jobs_start(r->srv->jobs, KN_JOB_ROUTE, route_all, j, route_job_free, &running, &err);
    if (id <= 0) route_job_free(j);
    kn_api_respond_started(r, id, running, "route", &err);
done:
    json_decref(body);
}
