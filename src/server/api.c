/* api.c - the endpoints: a table of (method, path pattern, roles, handler), the dispatcher
 * that picks the handler (404 unknown path, 405 wrong method, then authentication), and
 * the handlers over the store and the bundle. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/route.h"
#include "server/server_internal.h"
#include "text/language_tag.h"
#include "text/texts.h"

#define ALL_ROLES (KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR | KN_ROLE_SERVICE)
#define MAX_SEGMENTS 8
#define MAX_SHORT KN_API_MAX_SHORT

void kn_api_lock_store(kn_server *s) { pthread_mutex_lock(&s->store_lock); }
void kn_api_unlock_store(kn_server *s) { pthread_mutex_unlock(&s->store_lock); }
json_t *kn_json_str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

void kn_api_internal_error(kn_request *r, const kn_error *err)
{
    kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s", err->msg);
}

/* ---- validation helpers ---------------------------------------------------------------- */

/* 0 when s is a language tag (text/language_tag.h: the rule the store and the router use),
 * its canonical form in out; else 422 naming it. */
static int language_tag(kn_request *r, const char *where, const char *s, char out[KN_LANGUAGE_TAG_MAX + 1])
{
    char why[64];
    if (kn_language_tag_canonical(s, out, why, sizeof why) == 0) return 0;
    kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                     "%slanguage \"%.40s\" %s: not a language tag such as \"fi\" or \"pt-BR\"", where, s, why);
    return -1;
}

/* Fails (422) when obj has a key outside allowed (NULL-terminated). */
int kn_api_only_keys(kn_request *r, json_t *obj, const char *where, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, key) == 0;
        if (!ok) {
            kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%sunknown field \"%.100s\"", where, key);
            return -1;
        }
    }
    return 0;
}

/* An optional string member (absent or null: *out = NULL). */
static int opt_string(kn_request *r, json_t *obj, const char *where, const char *key, size_t max, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s%s must be a string", where, key);
        return -1;
    }
    if (json_string_length(v) > max) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%s%s is %zu bytes; the limit is %zu", where, key,
                         json_string_length(v), max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* A required non-empty text member. */
static int req_text(kn_request *r, json_t *obj, const char *where, const char **out)
{
    if (opt_string(r, obj, where, "text", KN_MAX_TEXT_BYTES, out) != 0) return -1;
    if (!*out || !**out) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%stext is required and must not be empty",
                         where);
        return -1;
    }
    return 0;
}

/* "42" -> 42; anything else (or out of range) -> -1. */
int64_t kn_api_parse_id(const char *s)
{
    if (!*s || strlen(s) > 18) return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* ---- JSON views ------------------------------------------------------------------------ */


static json_t *message_json(const kn_message *m)
{
    return json_pack("{s:I,s:o,s:o,s:o,s:s,s:I,s:s}", "id", (json_int_t)m->id, "external_id",
                     kn_json_str_or_null(m->external_id), "channel", kn_json_str_or_null(m->channel), "language",
                     kn_json_str_or_null(m->language), "text", m->text, "received_at", (json_int_t)m->received_at, "status",
                     m->status ? m->status : "new");
}

static json_t *topic_json(const kn_topic *t)
{
    return json_pack("{s:I,s:s,s:o,s:b,s:f}", "id", (json_int_t)t->id, "name", t->name, "description",
                     kn_json_str_or_null(t->description), "automatable", t->automatable, "threshold", t->threshold);
}

/* {"topic", "probability", "top": [up to 3 of {"topic", "probability"}]} */
json_t *kn_api_top_json(char *const *classes, int n_classes, const float *proba, int *best_out)
{
    int best[3] = {-1, -1, -1};
    for (int c = 0; c < n_classes; c++) {
        for (int k = 0; k < 3; k++) {
            if (best[k] < 0 || proba[c] > proba[best[k]]) {
                for (int j = 2; j > k; j--) best[j] = best[j - 1];
                best[k] = c;
                break;
            }
        }
    }
    json_t *top = json_array();
    for (int k = 0; k < 3 && best[k] >= 0; k++)
        json_array_append_new(top, json_pack("{s:s,s:f}", "topic", classes[best[k]], "probability",
                                             (double)proba[best[k]]));
    *best_out = best[0];
    return top;
}

static json_t *prediction_json(const kn_bundle *b, const float *proba)
{
    int best;
    json_t *top = kn_api_top_json(b->classes, b->n_classes, proba, &best);
    return json_pack("{s:s,s:f,s:o}", "topic", b->classes[best], "probability", (double)proba[best], "top", top);
}

/* ---- the model --------------------------------------------------------------------------- */

/* proba (n_classes floats, malloc'ed) for one text, by the request's model; NULL after
 * queueing 500. */
static float *predict(kn_request *r, const char *text)
{
    kn_live_model *model = r->model;
    if (!model) {
        kn_api_no_model(r);
        return NULL;
    }
    float *proba = malloc((size_t)model->bundle->n_classes * sizeof *proba);
    kn_error err = {{0}};
    if (!proba) kn_fail(&err, "out of memory");
    else if (kn_live_predict(model, text, proba, &err) == 0) return proba;
    free(proba);
    kn_api_internal_error(r, &err);
    return NULL;
}

/* Reads message id into *m; 0, or -1 after queueing 404 or 500. */
static int load_message(kn_request *r, const char *id_text, kn_message *m)
{
    int64_t id = kn_api_parse_id(id_text);
    kn_error err = {{0}};
    int rc = 1;
    memset(m, 0, sizeof *m);
    if (id >= 0) {
        kn_api_lock_store(r->srv);
        rc = kn_store_get_message(r->srv->store, id, m, &err);
        kn_api_unlock_store(r->srv);
    }
    if (rc == 0) return 0;
    if (rc < 0) kn_api_internal_error(r, &err);
    else kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "message %.40s does not exist", id_text);
    return -1;
}

/* Records a prediction (the JSON of prediction_json) of message_id; the store lock is held. */
static int record_prediction(kn_server *srv, const kn_live_model *model, int64_t message_id, json_t *prediction,
                             kn_error *err)
{
    char *top = json_dumps(json_object_get(prediction, "top"), JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (!top) return kn_fail(err, "out of memory");
    int64_t id = kn_store_add_prediction(srv->store, message_id, model->id,
                                         json_string_value(json_object_get(prediction, "topic")),
                                         json_real_value(json_object_get(prediction, "probability")), top, err);
    free(top);
    return id < 0 ? -1 : 0;
}

/* ---- handlers ---------------------------------------------------------------------------- */

typedef void (*handler_fn)(kn_request *r, char **args);

static void health(kn_request *r, char **args)
{
    (void)args;
    kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* Fills m from one message object (where names it in errors); 0 or -1 after a 422. */
static int read_message(kn_request *r, json_t *obj, const char *where, kn_message *m)
{
    static const char *const keys[] = {"text", "external_id", "channel", "language", "received_at", NULL};
    if (!json_is_object(obj)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "%.40smust be an object", where);
        return -1;
    }
    const char *text, *ext, *channel, *language;
    if (kn_api_only_keys(r, obj, where, keys) != 0 || req_text(r, obj, where, &text) != 0 ||
        opt_string(r, obj, where, "external_id", MAX_SHORT, &ext) != 0 ||
        opt_string(r, obj, where, "channel", MAX_SHORT, &channel) != 0 ||
        opt_string(r, obj, where, "language", MAX_SHORT, &language) != 0)
        return -1;
    char tag[KN_LANGUAGE_TAG_MAX + 1];
    if (language && language_tag(r, where, language, tag) != 0) return -1; /* the store keeps the canonical form */
    json_t *at = json_object_get(obj, "received_at");
    if (at && !json_is_null(at) && (!json_is_integer(at) || json_integer_value(at) < 0)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         "%sreceived_at must be unix seconds (an integer >= 0)", where);
        return -1;
    }
    m->text = (char *)text;
    m->external_id = (char *)ext;
    m->channel = (char *)channel;
    m->language = (char *)language;
    m->received_at = at && json_is_integer(at) ? (int64_t)json_integer_value(at) : 0;
    return 0;
}

/* POST /api/messages: {text, ...} -> {"id", "added"}; {"messages": [...]} -> {"ids", "added"}. */
static void messages_create(kn_request *r, char **args)
{
    (void)args;
    json_t *body = kn_request_json(r);
    if (!body) return;
    json_t *list = json_object_get(body, "messages");
    int batch = list != NULL;
    size_t n = batch ? json_array_size(list) : 1;
    kn_message *msgs = NULL;
    int64_t *ids = NULL;
    if (batch && !json_is_array(list)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "messages must be an array of message objects");
        goto done;
    }
    if (batch && (json_object_size(body) != 1 || n == 0)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         n == 0 ? "messages is empty" : "a batch is {\"messages\": [...]} and nothing else");
        goto done;
    }
    msgs = calloc(n, sizeof *msgs);
    ids = calloc(n, sizeof *ids);
    if (!msgs || !ids) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        char where[48] = "";
        if (batch) snprintf(where, sizeof where, "messages[%zu]: ", i);
        if (read_message(r, batch ? json_array_get(list, i) : body, where, &msgs[i]) != 0) goto done;
    }
    kn_error err = {{0}};
    size_t added = 0;
    kn_api_lock_store(r->srv);
    int rc = kn_store_add_messages(r->srv->store, msgs, n, ids, &added, &err);
    kn_api_unlock_store(r->srv);
    if (rc != 0) {
        kn_api_internal_error(r, &err);
        goto done;
    }
    unsigned status = added > 0 ? MHD_HTTP_CREATED : MHD_HTTP_OK;
    if (!batch) {
        kn_respond_json(r, status, json_pack("{s:I,s:b}", "id", (json_int_t)ids[0], "added", added > 0));
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_integer((json_int_t)ids[i]));
        kn_respond_json(r, status, json_pack("{s:o,s:I}", "ids", arr, "added", (json_int_t)added));
    }
done:
    free(msgs);
    free(ids);
    json_decref(body);
}

static void message_get(kn_request *r, char **args)
{
    kn_message m;
    if (load_message(r, args[0], &m) != 0) return;
    kn_respond_json(r, MHD_HTTP_OK, message_json(&m));
    kn_message_free(&m);
}

static void message_classify(kn_request *r, char **args)
{
    kn_message m;
    if (load_message(r, args[0], &m) != 0) return;
    float *proba = predict(r, m.text);
    json_t *out = proba ? prediction_json(r->model->bundle, proba) : NULL;
    if (out) {
        kn_error err = {{0}};
        kn_api_lock_store(r->srv);
        int rc = record_prediction(r->srv, r->model, m.id, out, &err);
        kn_api_unlock_store(r->srv);
        json_object_set_new(out, "message_id", json_integer((json_int_t)m.id));
        if (rc != 0) {
            json_decref(out);
            kn_api_internal_error(r, &err);
        } else {
            kn_respond_json(r, MHD_HTTP_OK, out);
        }
    } else if (proba) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    }
    free(proba);
    kn_message_free(&m);
}

/* POST /api/classify {"text": ...} */
static void classify_text(kn_request *r, char **args)
{
    (void)args;
    static const char *const keys[] = {"text", NULL};
    json_t *body = kn_request_json(r);
    const char *text;
    if (!body || kn_api_only_keys(r, body, "", keys) != 0 || req_text(r, body, "", &text) != 0) {
        json_decref(body);
        return;
    }
    float *proba = predict(r, text);
    if (proba) kn_respond_json(r, MHD_HTTP_OK, prediction_json(r->model->bundle, proba));
    free(proba);
    json_decref(body);
}

static int reply_lookup(void *ctx, const char *topic, const char *language, char **text, kn_error *err)
{
    return kn_store_get_reply(ctx, topic, language, text, err);
}

/* Decides with the workspace's topic settings and replies, records the prediction and the
 * decision, and sets the message's status; the store lock is held throughout. 0, or -1. */
static int decide(kn_server *srv, const kn_live_model *model, const kn_message *m, const float *proba,
                  kn_route_decision *d, kn_error *err)
{
    const kn_bundle *b = model->bundle;
    kn_topic *topics = NULL;
    size_t n_topics = 0;
    kn_route_topic *rt = calloc((size_t)b->n_classes, sizeof *rt);
    if (!rt) return kn_fail(err, "out of memory");
    int rc = kn_store_list_topics(srv->store, &topics, &n_topics, err);
    for (int c = 0; rc == 0 && c < b->n_classes; c++) {
        rt[c].name = b->classes[c];
        for (size_t t = 0; t < n_topics; t++) {
            if (strcmp(topics[t].name, b->classes[c]) != 0) continue;
            rt[c].known = 1;
            rt[c].automatable = topics[t].automatable;
            rt[c].threshold = topics[t].threshold;
        }
        if (!rt[c].known) rt[c].threshold = 1.0;
    }
    if (rc == 0) {
        kn_route_input in = {.proba = proba,
                             .n_classes = b->n_classes,
                             .topics = rt,
                             .margin = srv->opt.margin,
                             .language = m->language,
                             .fallback_language = srv->opt.fallback_language,
                             .reply = reply_lookup,
                             .reply_ctx = srv->store};
        rc = kn_route_decide(&in, d, err);
    }
    if (rc == 0) {
        int automatic = d->action == KN_ROUTE_AUTO_REPLY;
        kn_decision_record rec = {.message_id = m->id,
                                  .model_id = model->id,
                                  .action = automatic ? "auto_reply" : "human",
                                  .topic = b->classes[d->topic],
                                  .probability = d->probability,
                                  .threshold = d->threshold,
                                  .margin = d->margin,
                                  .reason = d->reason,
                                  .reply_language = automatic ? d->reply_language : NULL,
                                  .reply_text = automatic ? d->reply_text : NULL};
        json_t *prediction = prediction_json(b, proba);
        rc = prediction ? record_prediction(srv, model, m->id, prediction, err) : kn_fail(err, "out of memory");
        json_decref(prediction);
        if (rc == 0 && kn_store_add_decision(srv->store, &rec, err) < 0) rc = -1;
        if (rc != 0) kn_route_decision_free(d);
    }
    for (size_t t = 0; t < n_topics; t++) kn_topic_free(&topics[t]);
    free(topics);
    free(rt);
    return rc;
}

int kn_api_decide(kn_server *srv, const kn_live_model *model, const kn_message *m, const float *proba,
                  kn_route_decision *d, kn_error *err)
{
    return decide(srv, model, m, proba, d, err);
}

/* POST /api/messages/{id}/route */
static void message_route(kn_request *r, char **args)
{
    kn_message m;
    if (load_message(r, args[0], &m) != 0) return;
    float *proba = predict(r, m.text);
    if (!proba) {
        kn_message_free(&m);
        return;
    }
    kn_route_decision d;
    kn_error err = {{0}};
    kn_api_lock_store(r->srv);
    int rc = decide(r->srv, r->model, &m, proba, &d, &err);
    kn_api_unlock_store(r->srv);
    if (rc != 0) {
        kn_api_internal_error(r, &err);
    } else {
        int automatic = d.action == KN_ROUTE_AUTO_REPLY;
        json_t *reply = automatic ? json_pack("{s:s,s:s}", "language", d.reply_language, "text", d.reply_text)
                                  : json_null();
        kn_respond_json(r, MHD_HTTP_OK,
                        json_pack("{s:I,s:s,s:s,s:f,s:f,s:f,s:s,s:o}", "message_id", (json_int_t)m.id, "action",
                                  automatic ? "auto_reply" : "human", "topic", r->model->bundle->classes[d.topic],
                                  "probability", d.probability, "margin", d.margin, "threshold", d.threshold,
                                  "reason", d.reason, "reply", reply));
        kn_metrics_decision(r->srv->metrics, r->model->bundle->classes[d.topic], automatic ? "auto_reply" : "human");
        kn_route_decision_free(&d);
    }
    free(proba);
    kn_message_free(&m);
}

static void topics_list(kn_request *r, char **args)
{
    (void)args;
    kn_topic *topics = NULL;
    size_t n = 0;
    kn_error err = {{0}};
    kn_api_lock_store(r->srv);
    int rc = kn_store_list_topics(r->srv->store, &topics, &n, &err);
    kn_api_unlock_store(r->srv);
    if (rc != 0) {
        kn_api_internal_error(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, topic_json(&topics[i]));
        kn_topic_free(&topics[i]);
    }
    free(topics);
    kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:o}", "topics", arr));
}

/* Reads topic name into *t: 0 found, 1 after queueing 404, -1 after queueing 500 (or 422 for
 * a name the store cannot hold). */
static int load_topic(kn_request *r, const char *name, kn_topic *t, int respond_missing)
{
    kn_error err = {{0}};
    memset(t, 0, sizeof *t);
    if (strlen(name) > MAX_SHORT) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "a topic name is at most %d bytes", MAX_SHORT);
        return -1;
    }
    kn_api_lock_store(r->srv);
    int rc = kn_store_get_topic(r->srv->store, name, t, &err);
    kn_api_unlock_store(r->srv);
    if (rc < 0) kn_api_internal_error(r, &err);
    if (rc == 1 && respond_missing)
        kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "topic \"%.200s\" does not exist", name);
    return rc;
}

static void topic_get(kn_request *r, char **args)
{
    kn_topic t;
    if (load_topic(r, args[0], &t, 1) != 0) return;
    char **langs = NULL;
    size_t n = 0;
    kn_error err = {{0}};
    kn_api_lock_store(r->srv);
    int rc = kn_store_reply_languages(r->srv->store, t.name, &langs, &n, &err);
    kn_api_unlock_store(r->srv);
    if (rc < 0) {
        kn_api_internal_error(r, &err);
    } else {
        json_t *out = topic_json(&t), *arr = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_string(langs[i]));
        json_object_set_new(out, "reply_languages", arr);
        kn_respond_json(r, MHD_HTTP_OK, out);
    }
    kn_store_strings_free(langs, n);
    kn_topic_free(&t);
}

/* PUT /api/topics/{name} {description?, automatable?, threshold?}: creates the topic (not
 * automatable, threshold 0.9 unless given) or updates only the given fields. */
static void topic_put(kn_request *r, char **args)
{
    static const char *const keys[] = {"description", "automatable", "threshold", NULL};
    json_t *body = kn_request_json(r);
    if (!body || kn_api_only_keys(r, body, "", keys) != 0) goto done;
    kn_topic t;
    int found = load_topic(r, args[0], &t, 0);
    if (found < 0) goto done;
    int created = found == 1;
    if (created) {
        t.automatable = 0;
        t.threshold = 0.9;
    }
    json_t *desc = json_object_get(body, "description"), *aut = json_object_get(body, "automatable"),
           *thr = json_object_get(body, "threshold");
    if (desc && !json_is_string(desc) && !json_is_null(desc)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "description must be a string or null");
    } else if (aut && !json_is_boolean(aut)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "automatable must be true or false");
    } else if (thr && !(json_is_number(thr) && json_number_value(thr) >= 0.0 && json_number_value(thr) <= 1.0)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "threshold must be a number in [0, 1]");
    } else {
        if (desc) {
            free(t.description);
            t.description = json_is_string(desc) ? strdup(json_string_value(desc)) : NULL;
        }
        if (aut) t.automatable = json_is_true(aut);
        if (thr) t.threshold = json_number_value(thr);
        if (created) t.name = strdup(args[0]);
        kn_error err = {{0}};
        kn_api_lock_store(r->srv);
        t.id = t.name ? kn_store_put_topic(r->srv->store, &t, &err) : kn_fail(&err, "out of memory");
        kn_api_unlock_store(r->srv);
        if (t.id < 0) kn_api_internal_error(r, &err);
        else kn_respond_json(r, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, topic_json(&t));
    }
    kn_topic_free(&t);
done:
    json_decref(body);
}

static void topic_delete(kn_request *r, char **args)
{
    kn_error err = {{0}};
    kn_api_lock_store(r->srv);
    int rc = kn_store_delete_topic(r->srv->store, args[0], &err);
    kn_api_unlock_store(r->srv);
    if (rc == 1) kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "topic \"%.200s\" does not exist", args[0]);
    else if (rc < 0) kn_respond_error(r, MHD_HTTP_CONFLICT, "conflict", "%s", err.msg);
    else kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:s}", "deleted", args[0]));
}

/* PUT /api/topics/{name}/replies/{lang} {"text": ...} */
static void reply_put(kn_request *r, char **args)
{
    static const char *const keys[] = {"text", NULL};
    json_t *body = kn_request_json(r);
    const char *text;
    if (!body || kn_api_only_keys(r, body, "", keys) != 0 || req_text(r, body, "", &text) != 0) goto done;
    char lang[KN_LANGUAGE_TAG_MAX + 1];
    if (language_tag(r, "", args[1], lang) != 0) goto done;
    kn_topic t;
    if (load_topic(r, args[0], &t, 1) != 0) goto done;
    kn_topic_free(&t);
    kn_error err = {{0}};
    kn_api_lock_store(r->srv);
    int rc = kn_store_put_reply(r->srv->store, args[0], lang, text, &err);
    kn_api_unlock_store(r->srv);
    if (rc != 0) kn_api_internal_error(r, &err);
    else kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:s,s:s,s:s}", "topic", args[0], "language", lang, "text", text));
done:
    json_decref(body);
}

/* ---- the table and the dispatcher ----------------------------------------------------- */

/* GET /metrics (admin, service): Prometheus text format 0.0.4. */
static void metrics_get(kn_request *r, char **args)
{
    (void)args;
    char *text = kn_metrics_render(r->srv->metrics);
    if (!text) kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    else kn_respond_text(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text);
}

/* GET /api/openapi.json (no token): the OpenAPI 3.0 description compiled into the binary. */
static void openapi_get(kn_request *r, char **args)
{
    (void)args;
    kn_respond_static(r, MHD_HTTP_OK, "application/json", kn_openapi_json);
}

typedef struct api_route {
    const char *method;
    const char *pattern; /* "*" segments capture one path segment */
    const char *name;    /* the pattern as metrics and the docs show it */
    int roles;           /* 0: no token needed */
    handler_fn fn;
} api_route;

/* Keep in step with the OpenAPI document (openapi.c) and docs/API.md. */
static const api_route routes[] = {
    {"GET", "/healthz", "/healthz", 0, health},
    {"GET", "/metrics", "/metrics", KN_ROLE_ADMIN | KN_ROLE_SERVICE, metrics_get},
    {"GET", "/api/openapi.json", "/api/openapi.json", 0, openapi_get},
    {"POST", "/api/messages", "/api/messages", ALL_ROLES, messages_create},
    {"GET", "/api/messages", "/api/messages", ALL_ROLES, kn_api_messages_list},
    {"GET", "/api/me", "/api/me", ALL_ROLES, kn_api_me},
    {"GET", "/api/stats", "/api/stats", ALL_ROLES, kn_api_stats},
    {"POST", "/api/import", "/api/import", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR, kn_api_import},
    {"GET", "/api/messages/*", "/api/messages/{id}", ALL_ROLES, message_get},
    {"POST", "/api/messages/*/classify", "/api/messages/{id}/classify", ALL_ROLES, message_classify},
    {"POST", "/api/messages/*/route", "/api/messages/{id}/route", KN_ROLE_ADMIN | KN_ROLE_SERVICE, message_route},
    {"GET", "/api/messages/*/annotations", "/api/messages/{id}/annotations", ALL_ROLES, kn_api_annotations_list},
    {"POST", "/api/messages/*/annotations", "/api/messages/{id}/annotations", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR,
     kn_api_annotations_create},
    /* before /api/annotations/{id}, so that metrics name them by their own pattern */
    {"POST", "/api/annotations/bulk", "/api/annotations/bulk", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR,
     kn_api_annotations_bulk},
    {"POST", "/api/annotations/bulk-delete", "/api/annotations/bulk-delete", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR,
     kn_api_annotations_bulk_delete},
    {"GET", "/api/annotations/*", "/api/annotations/{id}", ALL_ROLES, kn_api_annotation_get},
    {"DELETE", "/api/annotations/*", "/api/annotations/{id}", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR,
     kn_api_annotation_delete},
    {"POST", "/api/classify", "/api/classify", ALL_ROLES, classify_text},
    {"GET", "/api/topics", "/api/topics", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR, topics_list},
    {"GET", "/api/topics/*", "/api/topics/{name}", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR, topic_get},
    {"PUT", "/api/topics/*", "/api/topics/{name}", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR, topic_put},
    {"DELETE", "/api/topics/*", "/api/topics/{name}", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR, topic_delete},
    {"PUT", "/api/topics/*/replies/*", "/api/topics/{name}/replies/{lang}", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR,
     reply_put},
    {"GET", "/api/models", "/api/models", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR | KN_ROLE_SERVICE, kn_api_models_list},
    {"POST", "/api/models", "/api/models", KN_ROLE_ADMIN, kn_api_models_create},
    {"POST", "/api/models/*/activate", "/api/models/{id}/activate", KN_ROLE_ADMIN, kn_api_models_activate},
    {"GET", "/api/models/*", "/api/models/{id}", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR | KN_ROLE_SERVICE, kn_api_model_get},
    {"POST", "/api/train", "/api/train", KN_ROLE_ADMIN, kn_api_train},
    {"GET", "/api/jobs", "/api/jobs", ALL_ROLES, kn_api_jobs_list},
    {"GET", "/api/jobs/*", "/api/jobs/{id}", ALL_ROLES, kn_api_job_get},
    {"POST", "/api/map", "/api/map", KN_ROLE_ADMIN | KN_ROLE_ANNOTATOR, kn_api_map_compute},
    {"GET", "/api/map", "/api/map", ALL_ROLES, kn_api_map_get},
    {"POST", "/api/route", "/api/route", KN_ROLE_ADMIN, kn_api_route_all},
};

/* Splits "/a/b/c" in place into segments; -1 for too many or empty segments. */
static int split(char *path, char **seg)
{
    int n = 0;
    if (*path != '/') return -1;
    while (*path == '/') {
        *path++ = '\0';
        if (!*path || *path == '/' || n == MAX_SEGMENTS) return -1;
        seg[n++] = path;
        path += strcspn(path, "/");
    }
    return n;
}

/* 1 when the pattern's segments match; captured segments go to args. */
static int match(const char *pattern, char **seg, int n, char **args)
{
    char pat[128], *pseg[MAX_SEGMENTS];
    snprintf(pat, sizeof pat, "%s", pattern);
    int m = split(pat, pseg), k = 0;
    if (m != n) return 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(pseg[i], "*") == 0) args[k++] = seg[i];
        else if (strcmp(pseg[i], seg[i]) != 0) return 0;
    }
    return 1;
}

const char *kn_api_pattern(const char *url)
{
    static const char unmatched[] = "unmatched"; /* one pointer: metrics compare patterns by address */
    char path[512], *seg[MAX_SEGMENTS], *args[MAX_SEGMENTS];
    if (strlen(url) >= sizeof path) return unmatched;
    memcpy(path, url, strlen(url) + 1);
    int n = split(path, seg);
    for (size_t i = 0; n >= 0 && i < sizeof routes / sizeof routes[0]; i++)
        if (match(routes[i].pattern, seg, n, args)) return routes[i].name;
    return unmatched;
}

void kn_api_dispatch(kn_request *r)
{
    char *path = strdup(r->path), *seg[MAX_SEGMENTS], *args[MAX_SEGMENTS];
    if (!path) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    int n = split(path, seg);
    char allow[64] = "";
    const api_route *found = NULL;
    for (size_t i = 0; n >= 0 && !found && i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, seg, n, args)) continue;
        if (!r->pattern) r->pattern = routes[i].name; /* for the metrics: the path's endpoint */
        if (strcmp(routes[i].method, r->method) == 0) found = &routes[i];
        else snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", *allow ? ", " : "", routes[i].method);
    }
    if (found) {
        if (found->roles == 0 || kn_auth_check(r, found->roles) == 0) {
            /* The handler works with the model live when it starts, to its end, even if an
             * activation swaps in another one meanwhile. */
            r->model = kn_live_acquire(r->srv);
            found->fn(r, args);
            kn_live_release(r->srv, r->model);
            r->model = NULL;
        }
    } else if (*allow) {
        kn_respond_method_not_allowed(r, allow);
    } else {
        kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no endpoint %.200s", r->path);
    }
    free(path);
}
