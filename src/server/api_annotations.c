/* api_annotations.c - the annotations endpoints: an expert's topic for a stored message.
 *   POST   /api/messages/{id}/annotations   {"topic", "annotator"?} -> 201 the annotation
 *   GET    /api/messages/{id}/annotations   {"annotations": [...]}, oldest first
 *   GET    /api/annotations/{id}
 *   DELETE /api/annotations/{id}            204
 * Writing is for admin and annotator tokens, reading also for service tokens (route table in
 * api.c). A topic that has annotations cannot be deleted (409, kn_store_delete_topic). */
#include <string.h>

#include "server/server_internal.h"

#define MAX_SHORT KN_API_MAX_SHORT

/* {"id", "message_id", "topic", "annotator" (null when not recorded), "created_at"} */
static json_t *annotation_json(const kn_annotation *a)
{
    return json_pack("{s:I,s:I,s:s,s:o,s:I}", "id", (json_int_t)a->id, "message_id", (json_int_t)a->message_id,
                     "topic", a->topic, "annotator", a->annotator ? json_string(a->annotator) : json_null(),
                     "created_at", (json_int_t)a->created_at);
}

/* A string member: absent or null gives *out = NULL when optional (a 422 when required); a
 * wrong type, an empty string, a NUL byte or more than MAX_SHORT bytes answers 422. */
int kn_api_short_string(kn_request *r, json_t *obj, const char *key, int required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required) return 0;
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s is required: a non-empty string", key);
        return -1;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s must be a non-empty string", key);
        return -1;
    }
    if (json_string_length(v) > MAX_SHORT) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s is %zu bytes; the limit is %d", key,
                         json_string_length(v), MAX_SHORT);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static void respond_not_found(kn_request *r, const char *what, const char *id_text)
{
    kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "%s %.40s does not exist", what, id_text);
}

/* POST /api/messages/{id}/annotations {"topic": NAME, "annotator": NAME?} -> 201. 404 for an
 * unknown message, 422 naming an unknown topic. */
void kn_api_annotations_create(kn_request *r, char **args)
{
    static const char *const keys[] = {"topic", "annotator", NULL};
    json_t *body = kn_request_json(r);
    const char *topic, *annotator;
    if (!body || kn_api_only_keys(r, body, "", keys) != 0 || kn_api_short_string(r, body, "topic", 1, &topic) != 0 ||
        kn_api_short_string(r, body, "annotator", 0, &annotator) != 0)
        goto done;
    if (!annotator) annotator = r->token_name; /* the token's name, set by kn_auth_check */
    int64_t message_id = kn_api_parse_id(args[0]);
    if (message_id < 0) {
        respond_not_found(r, "message", args[0]);
        goto done;
    }
    kn_server *srv = r->srv;
    kn_error err = {{0}};
    kn_message m;
    kn_topic t;
    kn_annotation a;
    memset(&m, 0, sizeof m);
    memset(&t, 0, sizeof t);
    memset(&a, 0, sizeof a);
    int64_t id = -1;
    /* The checks and the insert under one hold of the store lock: nothing of this server
     * deletes the message or the topic in between. */
    pthread_mutex_lock(&srv->store_lock);
    int rc = kn_store_get_message(srv->store, message_id, &m, &err), missing = 0;
    if (rc == 1) missing = 1;
    if (rc == 0) {
        rc = kn_store_get_topic(srv->store, topic, &t, &err);
        if (rc == 1) missing = 2;
    }
    if (rc == 0) {
        id = kn_store_annotate(srv->store, message_id, topic, annotator, &err);
        rc = id < 0 ? -1 : kn_store_get_annotation(srv->store, id, &a, &err);
        if (rc == 1) rc = kn_fail(&err, "annotation %lld vanished", (long long)id);
    }
    pthread_mutex_unlock(&srv->store_lock);
    if (missing == 1) respond_not_found(r, "message", args[0]);
    else if (missing == 2)
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         "topic \"%.200s\" does not exist; create it with PUT /api/topics/{name} first", topic);
    else if (rc != 0) kn_api_internal_error(r, &err);
    else kn_respond_json(r, MHD_HTTP_CREATED, annotation_json(&a));
    kn_message_free(&m);
    kn_topic_free(&t);
    kn_annotation_free(&a);
done:
    json_decref(body);
}

/* GET /api/messages/{id}/annotations -> {"annotations": [...]} */
void kn_api_annotations_list(kn_request *r, char **args)
{
    int64_t message_id = kn_api_parse_id(args[0]);
    kn_annotation *list = NULL;
    size_t n = 0;
    kn_error err = {{0}};
    int rc = 1;
    if (message_id >= 0) {
        pthread_mutex_lock(&r->srv->store_lock);
        rc = kn_store_list_annotations(r->srv->store, message_id, &list, &n, &err);
        pthread_mutex_unlock(&r->srv->store_lock);
    }
    if (rc == 1) {
        respond_not_found(r, "message", args[0]);
    } else if (rc < 0) {
        kn_api_internal_error(r, &err);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(arr, annotation_json(&list[i]));
        kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:o}", "annotations", arr));
    }
    kn_annotations_free(list, n);
}

/* GET /api/annotations/{id} */
void kn_api_annotation_get(kn_request *r, char **args)
{
    int64_t id = kn_api_parse_id(args[0]);
    kn_annotation a;
    kn_error err = {{0}};
    int rc = 1;
    memset(&a, 0, sizeof a);
    if (id >= 0) {
        pthread_mutex_lock(&r->srv->store_lock);
        rc = kn_store_get_annotation(r->srv->store, id, &a, &err);
        pthread_mutex_unlock(&r->srv->store_lock);
    }
    if (rc == 1) respond_not_found(r, "annotation", args[0]);
    else if (rc < 0) kn_api_internal_error(r, &err);
    else kn_respond_json(r, MHD_HTTP_OK, annotation_json(&a));
    kn_annotation_free(&a);
}

/* DELETE /api/annotations/{id} -> 204, no body */
void kn_api_annotation_delete(kn_request *r, char **args)
{
    int64_t id = kn_api_parse_id(args[0]);
    kn_error err = {{0}};
    int rc = 1;
    if (id >= 0) {
        pthread_mutex_lock(&r->srv->store_lock);
        rc = kn_store_delete_annotation(r->srv->store, id, &err);
        pthread_mutex_unlock(&r->srv->store_lock);
    }
    if (rc == 1) respond_not_found(r, "annotation", args[0]);
    else if (rc < 0) kn_api_internal_error(r, &err);
    else kn_respond_static(r, MHD_HTTP_NO_CONTENT, "application/json", "");
}
