/* api_models.c - the models endpoints: list the workspace's models, register a bundle
 * directory (validated by opening it), and activate one, which swaps the live bundle without
 * failing or holding up the requests in flight (live_model.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define MAX_PATH_BYTES 4096

/* {"id", "bundle_path", "method", "classes" (null when unknown), "created_at", "active"} */
static json_t *model_json(const kn_model_info *m)
{
    json_t *classes = json_null();
    if (m->metrics) {
        json_t *metrics = json_loads(m->metrics, 0, NULL);
        json_t *c = json_object_get(metrics, "classes");
        if (json_is_integer(c)) {
            json_decref(classes);
            classes = json_integer(json_integer_value(c));
        }
        json_decref(metrics);
    }
    return json_pack("{s:I,s:s,s:s,s:o,s:I,s:b}", "id", (json_int_t)m->id, "bundle_path", m->bundle_path, "method",
                     m->method, "classes", classes, "created_at", (json_int_t)m->created_at, "active", m->active);
}

/* Responds with the models row id (status), or 500. */
static void respond_model(kn_request *r, unsigned status, int64_t id)
{
    kn_model_info m;
    kn_error err = {{0}};
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_get_model(r->srv->store, id, &m, &err);
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc == 1) kn_fail(&err, "model %lld vanished", (long long)id);
    if (rc != 0) {
        kn_api_internal_error(r, &err);
        return;
    }
    kn_respond_json(r, status, model_json(&m));
    kn_model_info_free(&m);
}

/* GET /api/models -> {"models": [...], "live_model_id": N} */
void kn_api_models_list(kn_request *r, char **args)
{
    (void)args;
    kn_model_info *list = NULL;
    size_t n = 0;
    kn_error err = {{0}};
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_list_models(r->srv->store, &list, &n, &err);
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc != 0) {
        kn_api_internal_error(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, model_json(&list[i]));
    kn_model_infos_free(list, n);
    kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:o}", "models", arr));
}

/* POST /api/models {"bundle_path": DIR} (admin): opens DIR to check that it is a bundle,
 * then registers it (not active). 201 when added, 200 when it was registered already. */
void kn_api_models_create(kn_request *r, char **args)
{
    (void)args;
    static const char *const keys[] = {"bundle_path", NULL};
    json_t *body = kn_request_json(r);
    if (!body || kn_api_only_keys(r, body, "", keys) != 0) goto done;
    json_t *p = json_object_get(body, "bundle_path");
    if (!json_is_string(p) || json_string_length(p) == 0 || json_string_length(p) > MAX_PATH_BYTES ||
        strlen(json_string_value(p)) != json_string_length(p)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         "bundle_path is required: the path of a bundle directory (kanava train --out DIR) on the "
                         "server, at most %d bytes",
                         MAX_PATH_BYTES);
        goto done;
    }
    const char *dir = json_string_value(p);
    kn_error err = {{0}};
    char *path = realpath(dir, NULL);
    if (!path) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_bundle", "%.300s: %s", dir, strerror(errno));
        goto done;
    }
    kn_bundle *b = kn_bundle_open(path, &err);
    if (!b) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_bundle", "%s", err.msg);
        free(path);
        goto done;
    }
    char *metrics = kn_live_metrics_json(b);
    const char *method = kn_method_name(b->method);
    int added = 0;
    int64_t id = -1;
    if (!metrics) {
        kn_fail(&err, "out of memory");
    } else {
        pthread_mutex_lock(&r->srv->store_lock);
        id = kn_store_register_model(r->srv->store, path, method, metrics, &added, &err);
        pthread_mutex_unlock(&r->srv->store_lock);
    }
    kn_bundle_close(b);
    free(metrics);
    free(path);
    if (id < 0) kn_api_internal_error(r, &err);
    else respond_model(r, added ? MHD_HTTP_CREATED : MHD_HTTP_OK, id);
done:
    json_decref(body);
}

/* POST /api/models/{id}/activate (admin): opens the model's bundle, marks it active in the
 * workspace and swaps it in. Activations run one at a time; requests do not wait for them. */
void kn_api_models_activate(kn_request *r, char **args)
{
    kn_server *srv = r->srv;
    int64_t id = kn_api_parse_id(args[0]);
    kn_model_info m;
    kn_error err = {{0}};
    pthread_mutex_lock(&srv->swap_lock);
    pthread_mutex_lock(&srv->store_lock);
    int rc = kn_store_get_model(srv->store, id, &m, &err);
    pthread_mutex_unlock(&srv->store_lock);
    if (rc == 1) {
        kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "model %.40s does not exist", args[0]);
    } else if (rc < 0) {
        kn_api_internal_error(r, &err);
    } else {
        int bad_bundle = 0;
        kn_live_model *live = kn_live_load(srv, m.bundle_path, &bad_bundle, &err);
        if (live && kn_live_mark_active(srv, live->id, &err) != 0) {
            kn_live_release(srv, live); /* its only reference: closes it */
            kn_api_internal_error(r, &err);
        } else if (live) {
            int64_t live_id = live->id;
            kn_live_swap(srv, live);
            respond_model(r, MHD_HTTP_OK, live_id);
        } else if (bad_bundle) {
            kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_bundle", "model %lld: %s", (long long)id,
                             err.msg);
        } else {
            kn_api_internal_error(r, &err);
        }
        kn_model_info_free(&m);
    }
    pthread_mutex_unlock(&srv->swap_lock);
}
