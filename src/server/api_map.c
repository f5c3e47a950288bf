/* api_map.c - the 2-D map of every message for the web UI: POST /api/map computes it in the
 * background (embed with the model's encoder, or the base encoder for tfidf and bm25 models;
 * UMAP; k-means clusters) and caches it per model; GET /api/map reads it with each point's
 * label and the model's prediction. Before any model exists the map is the base map
 * (KN_BASE_MAP): the base encoder's view, labels only, so a new team can lasso and label. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/kmeans.h"
#include "learn/umap.h"
#include "model/encoder.h"
#include "model/registry.h"
#include "server/server_internal.h"
#include "store/ui_store.h"
#include "util/fs.h"

#define MAP_SEED 42
#define EMBED_CHUNK 512 /* texts embedded between two looks at the stop flag */
#define KMEANS_ROUNDS 100

typedef struct map_job {
    kn_server *srv;
    int64_t model_id;
    char encoder_dir[4200];
} map_job;

static int map_run(kn_job *job, void *ctx, kn_error *err)
{
    map_job *j = ctx;
    kn_text_list list;
    kn_job_set_model(job, j->model_id);
    kn_job_progress(job, "embedding", 0.0);
    pthread_mutex_lock(&j->srv->store_lock);
    int rc = kn_store_message_texts(j->srv->store, NULL, &list, err);
    pthread_mutex_unlock(&j->srv->store_lock);
    if (rc != 0) return -1;
    if (list.n < 2) {
        kn_text_list_free(&list);
        return kn_fail(err, "the map needs at least 2 messages; the workspace has %zu", list.n);
    }
    kn_encoder *enc = kn_encoder_open(j->encoder_dir, err);
    size_t n = list.n;
    float *emb = NULL, *xy = malloc(2 * n * sizeof *xy);
    size_t *lens = malloc(n * sizeof *lens);
    int *clusters = malloc(n * sizeof *clusters);
    if (!enc) rc = -1;
    else if (!(emb = malloc(n * (size_t)enc->dim * sizeof *emb)) || !xy || !lens || !clusters)
        rc = kn_fail(err, "the map of %zu messages: out of memory", n);
    for (size_t at = 0; rc == 0 && at < n; at += EMBED_CHUNK) {
        if (kn_job_stopping(job)) {
            rc = kn_fail(err, "stopped while embedding: the server is stopping");
            break;
        }
        size_t m = n - at < EMBED_CHUNK ? n - at : EMBED_CHUNK;
        for (size_t i = 0; i < m; i++) lens[at + i] = strlen(list.texts[at + i]);
        rc = kn_encoder_embed(enc, (const char *const *)list.texts + at, lens + at, m, 32,
                              emb + at * (size_t)enc->dim, NULL, NULL, err);
        kn_job_progress(job, NULL, 0.5 * (double)(at + m) / (double)n);
    }
    if (rc == 0) {
        kn_umap_options o;
        kn_umap_default_options(&o);
        o.seed = MAP_SEED;
        kn_job_span span = {job, "projecting", 0.5, 0.95};
        kn_job_progress(job, "projecting", 0.5);
        rc = kn_umap(emb, n, enc->dim, &o, xy, kn_job_span_update, &span, err);
    }
    if (rc == 0) {
        kn_job_progress(job, "clustering", 0.95);
        rc = kn_kmeans(xy, n, 2, kn_map_cluster_count(n), KMEANS_ROUNDS, MAP_SEED, clusters, NULL, NULL, err);
    }
    if (rc == 0) {
        kn_job_progress(job, "saving", 0.98);
        pthread_mutex_lock(&j->srv->store_lock);
        rc = kn_store_put_map(j->srv->store, j->model_id, list.ids, xy, clusters, n, err);
        pthread_mutex_unlock(&j->srv->store_lock);
    }
    kn_encoder_close(enc);
    free(emb);
    free(xy);
    free(lens);
    free(clusters);
    kn_text_list_free(&list);
    return rc;
}

/* The encoder of the base map: --base-model, else the default model. Not the active model's
 * own encoder (as kn_api_base_encoder would give), so the base map means one thing. */
static int base_map_encoder(kn_server *srv, char *out, size_t cap, kn_error *err)
{
    char models_dir[4096];
    if (kn_models_dir(models_dir, sizeof models_dir, NULL, err) != 0) return -1;
    return kn_model_path(out, cap, models_dir, srv->opt.base_model ? srv->opt.base_model : KN_DEFAULT_MODEL, err);
}

/* The map a request names: id > 0 (that model), KN_BASE_MAP ("base") or -1 (the default).
 * 0, or -1 after answering 422 (POST, body) or 400 (GET, query) with what was wrong. */
static int parse_map_id(kn_request *r, json_t *v, const char *q, int64_t *id)
{
    int64_t given = q ? kn_api_parse_id(q) : -1;
    *id = -1;
    if (q) *id = strcmp(q, "base") == 0 ? KN_BASE_MAP : given > 0 ? given : -2;
    else if (v && json_is_string(v) && strcmp(json_string_value(v), "base") == 0) *id = KN_BASE_MAP;
    else if (v && json_is_integer(v)) *id = json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : -2;
    else if (v && !json_is_null(v)) *id = -2;
    if (*id != -2) return 0;
    if (q) kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "invalid", "model_id \"%.40s\" is not a model's id or \"base\"", q);
    else kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                          "model_id must be a model's id (a positive integer) or \"base\"");
    return -1;
}

/* POST /api/map {"model_id"?: ID | "base"} (admin, annotator) -> 202 {"job": id}. No model_id:
 * the active model's map, or the base map while there is no active model. */
void kn_api_map_compute(kn_request *r, char **args)
{
    (void)args;
    static const char *const keys[] = {"model_id", NULL};
    json_t *body = r->body ? kn_request_json(r) : json_object();
    map_job *j = NULL;
    int64_t id;
    if (!body || kn_api_only_keys(r, body, "", keys) != 0) goto done;
    if (parse_map_id(r, json_object_get(body, "model_id"), NULL, &id) != 0) goto done;
    if (!(j = calloc(1, sizeof *j))) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto done;
    }
    j->srv = r->srv;
    j->model_id = KN_BASE_MAP;
    kn_error err = {{0}};
    if (id != KN_BASE_MAP) {
        kn_model_info m;
        pthread_mutex_lock(&r->srv->store_lock);
        int rc = id < 0 ? kn_store_active_model(r->srv->store, &m, &err) : kn_store_get_model(r->srv->store, id, &m, &err);
        pthread_mutex_unlock(&r->srv->store_lock);
        if (rc < 0) {
            kn_api_internal_error(r, &err);
            goto done;
        }
        if (rc == 1 && id > 0) {
            kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "model %lld does not exist", (long long)id);
            goto done;
        }
        if (rc == 0) {
            /* The model's own encoder when it has one (frozen, setfit), else the base encoder. */
            char cfg[4400];
            j->model_id = m.id;
            int own = kn_path_join(j->encoder_dir, sizeof j->encoder_dir, m.bundle_path, "encoder") == 0 &&
                      kn_path_join(cfg, sizeof cfg, j->encoder_dir, "config.json") == 0 && kn_is_file(cfg);
            kn_model_info_free(&m);
            if (!own && kn_api_base_encoder(r->srv, j->encoder_dir, sizeof j->encoder_dir, &err) != 0) {
                kn_respond_error(r, MHD_HTTP_CONFLICT, "no_base_model", "no encoder to map the messages with: %s",
                                 err.msg);
                goto done;
            }
        }
    }
    if (j->model_id == KN_BASE_MAP && base_map_encoder(r->srv, j->encoder_dir, sizeof j->encoder_dir, &err) != 0) {
        kn_respond_error(r, MHD_HTTP_CONFLICT, "no_base_model", "no encoder to map the messages with: %s", err.msg);
        goto done;
    }
    int64_t running = 0;
    int64_t job = kn_jobs_start(r->srv->jobs, KN_JOB_MAP, map_run, j, free, &running, &err);
    if (job > 0) j = NULL;
    kn_api_respond_started(r, job, running, "map", &err);
done:
    free(j);
    json_decref(body);
}

/* GET /api/map?model_id=ID|base -> {"model_id", "base", "points": [{"id", "x", "y", "cluster",
 * "label", "prediction", "probability"}]}. No model_id: the active model's map once computed,
 * else the base map; 404 map_not_computed when there is none. */
void kn_api_map_get(kn_request *r, char **args)
{
    (void)args;
    int64_t id;
    if (parse_map_id(r, NULL, MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "model_id"), &id) != 0)
        return;
    int by_default = id < 0;
    kn_error err = {{0}};
    kn_map_point *pts = NULL;
    size_t n = 0;
    int rc = 0;
    pthread_mutex_lock(&r->srv->store_lock);
    if (by_default) {
        kn_model_info m;
        rc = kn_store_active_model(r->srv->store, &m, &err);
        id = rc == 0 ? m.id : KN_BASE_MAP;
        if (rc == 0) kn_model_info_free(&m);
        if (rc == 1) rc = 0;
    }
    if (rc == 0) rc = kn_store_get_map(r->srv->store, id, &pts, &n, &err);
    if (rc == 0 && n == 0 && by_default && id != KN_BASE_MAP) { /* the active model's map is not computed yet */
        id = KN_BASE_MAP;
        rc = kn_store_get_map(r->srv->store, id, &pts, &n, &err);
    }
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc < 0) {
        kn_api_internal_error(r, &err);
        return;
    }
    if (n == 0) {
        if (by_default) kn_respond_error(r, MHD_HTTP_NOT_FOUND, "map_not_computed",
                                         "there is no map yet: compute it with POST /api/map");
        else if (id == KN_BASE_MAP) kn_respond_error(r, MHD_HTTP_NOT_FOUND, "map_not_computed",
                                                     "the base map is not computed: POST /api/map {\"model_id\": \"base\"}");
        else kn_respond_error(r, MHD_HTTP_NOT_FOUND, "map_not_computed",
                              "model %lld has no map yet: compute it with POST /api/map", (long long)id);
        kn_map_points_free(pts, n);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const kn_map_point *p = &pts[i];
        json_array_append_new(
            arr, json_pack("{s:I,s:f,s:f,s:i,s:o,s:o,s:o}", "id", (json_int_t)p->message_id, "x", p->x, "y", p->y,
                           "cluster", p->cluster, "label", p->label ? json_string(p->label) : json_null(), "prediction",
                           p->prediction ? json_string(p->prediction) : json_null(), "probability",
                           isnan(p->probability) ? json_null() : json_real(p->probability)));
    }
    kn_map_points_free(pts, n);
    kn_respond_json(r, MHD_HTTP_OK,
                    json_pack("{s:o,s:b,s:o}", "model_id", id == KN_BASE_MAP ? json_null() : json_integer((json_int_t)id),
                              "base", id == KN_BASE_MAP, "points", arr));
}
