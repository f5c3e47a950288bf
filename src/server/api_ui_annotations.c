/* api_ui_annotations.c - labelling many messages at once, and undoing it (issue 7):
 *   POST /api/annotations/bulk         {"message_ids": [...], "topic", "annotator"?} -> 201
 *                                      {"annotation_ids": [...]} in the order of message_ids
 *   POST /api/annotations/bulk-delete  {"annotation_ids": [...]} -> {"deleted": N}
 * One transaction each: an unknown topic (422) or message (404, naming the first unknown
 * id) stores nothing. The annotator defaults to the token's name. Admin and annotator. */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "store/ui_messages.h"

#define MAX_BULK 20000

/* A required array of at most MAX_BULK non-negative integers into *ids (malloc'ed); 0, or
 * -1 after a 422 naming the field and the position. */
static int id_array(kn_request *r, json_t *body, const char *key, int64_t **ids, size_t *n)
{
    json_t *arr = json_object_get(body, key);
    *ids = NULL;
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s is required: a non-empty array of ids", key);
        return -1;
    }
    size_t count = json_array_size(arr);
    if (count > MAX_BULK) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s has %zu ids; the limit is %d", key, count,
                         MAX_BULK);
        return -1;
    }
    *ids = malloc(count * sizeof **ids);
    if (!*ids) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s[%zu] must be a non-negative integer",
                             key, i);
            free(*ids);
            *ids = NULL;
            return -1;
        }
        (*ids)[i] = json_integer_value(v);
    }
    *n = count;
    return 0;
}

void kn_api_annotations_bulk(kn_request *r, char **args)
{
    (void)args;
    static const char *const keys[] = {"message_ids", "topic", "annotator", NULL};
    json_t *body = kn_request_json(r);
    int64_t *ids = NULL, *created = NULL;
    size_t n = 0;
    const char *topic, *annotator;
    if (!body || kn_api_only_keys(r, body, "", keys) != 0 || kn_api_short_string(r, body, "topic", 1, &topic) != 0 ||
        kn_api_short_string(r, body, "annotator", 0, &annotator) != 0 || id_array(r, body, "message_ids", &ids, &n) != 0)
        goto done;
    if (!annotator) annotator = r->token_name;
    if (!(created = malloc(n * sizeof *created))) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto done;
    }
    kn_error err = {{0}};
    int64_t missing = -1;
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_annotate_many(r->srv->store, ids, n, topic, annotator, created, &missing, &err);
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc == 1) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         "topic \"%.200s\" does not exist; create it with PUT /api/topics/{name} first; nothing was "
                         "stored",
                         topic);
    } else if (rc == 2) {
        kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "message %lld does not exist; nothing was stored",
                         (long long)missing);
    } else if (rc != 0) {
        kn_api_internal_error(r, &err);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_integer(created[i]));
        kn_respond_json(r, MHD_HTTP_CREATED, json_pack("{s:o}", "annotation_ids", arr));
    }
done:
    free(ids);
    free(created);
    json_decref(body);
}

void kn_api_annotations_bulk_delete(kn_request *r, char **args)
{
    (void)args;
    static const char *const keys[] = {"annotation_ids", NULL};
    json_t *body = kn_request_json(r);
    int64_t *ids = NULL;
    size_t n = 0;
    if (!body || kn_api_only_keys(r, body, "", keys) != 0 || id_array(r, body, "annotation_ids", &ids, &n) != 0)
        goto done;
    kn_error err = {{0}};
    size_t deleted = 0;
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_delete_annotations(r->srv->store, ids, n, &deleted, &err);
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc != 0) kn_api_internal_error(r, &err);
    else kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:I}", "deleted", (json_int_t)deleted));
done:
    free(ids);
    json_decref(body);
}
