/* api_ui_messages.c - what the web UI reads (issue 7):
 *   GET /api/me        {"name", "role"} of the token
 *   GET /api/messages  a filtered, ordered page of messages with their labels, prediction,
 *                      decision and map cluster (query parameters below), or only ids
 *   GET /api/stats     the workspace's counts
 * Every query parameter is checked; an unknown name, a repeated one or a value outside its
 * list answers 400 naming the parameter. The queries are in src/store/message_query.c. */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "store/ui_messages.h"
#include "text/utf8.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 1000        /* messages with their details */
#define MAX_LIMIT_IDS 100000  /* fields=id: the map highlights every match at once */
#define MAX_IDS 1000
#define MAX_QUERY_BYTES 1000
#define MAX_OFFSET 1000000000



/* GET /api/me */
void kn_api_me(kn_request *r, char **args)
{
    (void)args;
    kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:s,s:s}", "name", r->token_name, "role", r->role));
}

/* ---- query parameters ------------------------------------------------------------------- */

enum { P_LIMIT, P_OFFSET, P_LABELLED, P_DECISION, P_STATUS, P_ORDER, P_SEED, P_Q, P_IDS, P_CLUSTER, P_FIELDS, N_PARAMS };
static const char *const PARAM_NAMES[N_PARAMS] = {"limit", "offset", "labelled", "decision", "status", "order",
                                                  "seed",  "q",      "ids",      "cluster",  "fields"};

typedef struct params {
    const char *value[N_PARAMS]; /* NULL: not given */
    char problem[300];           /* the first problem with the names */
} params;

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    params *p = cls;
    if (*p->problem) return MHD_NO;
    for (int i = 0; i < N_PARAMS; i++) {
        if (strcmp(key, PARAM_NAMES[i]) != 0) continue;
        if (p->value[i]) snprintf(p->problem, sizeof p->problem, "the parameter %s is given twice", key);
        p->value[i] = value ? value : "";
        return MHD_YES;
    }
    snprintf(p->problem, sizeof p->problem,
             "unknown parameter \"%.60s\" (limit, offset, labelled, decision, status, order, seed, q, ids, cluster, "
             "fields)",
             key);
    return MHD_NO;
}

/* Decimal digits only, at most max. -1 otherwise. */
static long long parse_count(const char *s, long long max)
{
    if (!*s || strlen(s) > 19) return -1;
    unsigned long long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > (unsigned long long)max) return -1;
    }
    return (long long)v;
}

/* The index of s in the NULL-terminated list, or -1. */
static int one_of(const char *s, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0) return i;
    return -1;
}

static int bad_param(kn_request *r, const char *fmt, const char *name, const char *value)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, name, value);
    kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "%s", msg);
    return -1;
}

/* "1,2,3" into ids (MAX_IDS at most). */
static int parse_ids(kn_request *r, const char *s, int64_t *ids, size_t *n)
{
    *n = 0;
    while (1) {
        size_t len = strcspn(s, ",");
        char item[24];
        if (*n == MAX_IDS) {
            kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "ids: at most %d ids", MAX_IDS);
            return -1;
        }
        int64_t id = -1;
        if (len > 0 && len < sizeof item) {
            memcpy(item, s, len);
            item[len] = '\0';
            id = kn_api_parse_id(item);
        }
        if (id < 0) {
            kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                             "ids: item %zu is not a message id (ids=1,2,3: up to %d non-negative integers)", *n + 1,
                             MAX_IDS);
            return -1;
        }
        ids[(*n)++] = id;
        if (!s[len]) return 0;
        s += len + 1;
    }
}

/* Fills q from the query string; *ids_only for fields=id. 0, or -1 after a 400. */
static int read_query(kn_request *r, kn_message_query *q, int64_t *ids, int *ids_only)
{
    static const char *const LABELLED[] = {"any", "yes", "no", NULL};
    static const char *const DECISIONS[] = {"any", "auto_reply", "human", "none", NULL};
    static const char *const STATUSES[] = {"any", "new", "queued", "auto_answered", "answered", NULL};
    static const char *const ORDERS[] = {"id", "newest", "random", "uncertain", "cluster", NULL};
    params p;
    memset(&p, 0, sizeof p);
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_param, &p);
    if (*p.problem) {
        kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "%s", p.problem);
        return -1;
    }
    const char *const *v = p.value;
    memset(q, 0, sizeof *q);
    *ids_only = 0;
    if (v[P_FIELDS]) {
        if (strcmp(v[P_FIELDS], "id") != 0)
            return bad_param(r, "%s must be \"id\" (only the ids) or left out (every field), not \"%.40s\"", "fields",
                             v[P_FIELDS]);
        *ids_only = 1;
    }
    long long max_limit = *ids_only ? MAX_LIMIT_IDS : MAX_LIMIT, n;
    q->limit = DEFAULT_LIMIT;
    if (v[P_LIMIT]) {
        if ((n = parse_count(v[P_LIMIT], max_limit)) < 0) {
            kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                             "limit must be an integer from 0 to %lld%s, not \"%.40s\"", max_limit,
                             *ids_only ? "" : " (100000 with fields=id)", v[P_LIMIT]);
            return -1;
        }
        q->limit = (size_t)n;
    }
    if (v[P_OFFSET]) {
        if ((n = parse_count(v[P_OFFSET], MAX_OFFSET)) < 0)
            return bad_param(r, "%s must be an integer from 0 to 1000000000, not \"%.40s\"", "offset", v[P_OFFSET]);
        q->offset = (size_t)n;
    }
    int i;
    if (v[P_LABELLED]) {
        if ((i = one_of(v[P_LABELLED], LABELLED)) < 0)
            return bad_param(r, "%s must be any, yes or no, not \"%.40s\"", "labelled", v[P_LABELLED]);
        q->labelled = i == 0 ? KN_LABELLED_ANY : i == 1 ? KN_LABELLED_YES : KN_LABELLED_NO;
    }
    if (v[P_DECISION]) {
        if ((i = one_of(v[P_DECISION], DECISIONS)) < 0)
            return bad_param(r, "%s must be any, auto_reply, human or none, not \"%.40s\"", "decision", v[P_DECISION]);
        static const int DECIDED[] = {KN_DECIDED_ANY, KN_DECIDED_AUTO_REPLY, KN_DECIDED_HUMAN, KN_DECIDED_NONE};
        q->decided = DECIDED[i];
    }
    if (v[P_STATUS]) {
        if ((i = one_of(v[P_STATUS], STATUSES)) < 0)
            return bad_param(r, "%s must be any, new, queued, auto_answered or answered, not \"%.40s\"", "status",
                             v[P_STATUS]);
        q->status = i == 0 ? NULL : STATUSES[i];
    }
    if (v[P_ORDER]) {
        if ((i = one_of(v[P_ORDER], ORDERS)) < 0)
            return bad_param(r, "%s must be id, newest, random, uncertain or cluster, not \"%.40s\"", "order",
                             v[P_ORDER]);
        static const int ORDER[] = {KN_ORDER_ID, KN_ORDER_NEWEST, KN_ORDER_RANDOM, KN_ORDER_UNCERTAIN, KN_ORDER_CLUSTER};
        q->order = ORDER[i];
    }
    if (v[P_SEED]) {
        if ((n = parse_count(v[P_SEED], 9007199254740991LL)) < 0) /* what a JavaScript number holds exactly */
            return bad_param(r, "%s must be an integer from 0 to 2^53-1, not \"%.40s\"", "seed", v[P_SEED]);
        q->seed = (uint64_t)n;
    }
    if (v[P_Q] && *v[P_Q]) {
        size_t len = strlen(v[P_Q]);
        if (len > MAX_QUERY_BYTES) {
            kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "q is %zu bytes; the limit is %d", len,
                             MAX_QUERY_BYTES);
            return -1;
        }
        size_t bad = kn_utf8_first_invalid(v[P_Q], len);
        if (bad != len) {
            kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_parameter", "q: invalid UTF-8 at byte %zu", bad + 1);
            return -1;
        }
        q->q = v[P_Q];
    }
    if (v[P_IDS]) {
        if (parse_ids(r, v[P_IDS], ids, &q->n_ids) != 0) return -1;
        q->ids = ids;
        q->has_ids = 1;
    }
    if (v[P_CLUSTER]) {
        if ((n = parse_count(v[P_CLUSTER], 1000000000)) < 0)
            return bad_param(r, "%s must be a non-negative integer, not \"%.40s\"", "cluster", v[P_CLUSTER]);
        q->cluster = n;
        q->has_cluster = 1;
    }
    return 0;
}

/* ---- GET /api/messages ------------------------------------------------------------------ */

static json_t *view_json(const kn_message_view *v)
{
    const kn_message *m = &v->message;
    json_t *labels = json_array();
    for (size_t i = 0; i < v->n_labels; i++)
        json_array_append_new(labels, json_pack("{s:I,s:s,s:o}", "annotation_id", (json_int_t)v->labels[i].annotation_id,
                                                "topic", v->labels[i].topic, "annotator",
                                                kn_json_str_or_null(v->labels[i].annotator)));
    json_t *prediction = v->has_prediction ? json_pack("{s:o,s:f}", "topic", kn_json_str_or_null(v->prediction_topic),
                                                       "probability", v->prediction_probability)
                                           : json_null();
    json_t *decision = v->has_decision
                           ? json_pack("{s:o,s:o,s:f,s:o,s:o,s:I}", "action", kn_json_str_or_null(v->decision_action), "topic",
                                       kn_json_str_or_null(v->decision_topic), "probability", v->decision_probability,
                                       "reason", kn_json_str_or_null(v->decision_reason), "reply_text",
                                       kn_json_str_or_null(v->decision_reply_text), "created_at",
                                       (json_int_t)v->decision_created_at)
                           : json_null();
    return json_pack("{s:I,s:o,s:s,s:o,s:o,s:I,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)m->id, "external_id",
                     kn_json_str_or_null(m->external_id), "text", m->text ? m->text : "", "language", kn_json_str_or_null(m->language),
                     "channel", kn_json_str_or_null(m->channel), "received_at", (json_int_t)m->received_at, "status",
                     m->status ? m->status : "new", "labels", labels, "prediction", prediction, "decision", decision,
                     "cluster", v->has_cluster ? json_integer(v->cluster) : json_null());
}

void kn_api_messages_list(kn_request *r, char **args)
{
    (void)args;
    int64_t *wanted = malloc(MAX_IDS * sizeof *wanted);
    kn_message_query q;
    int ids_only;
    if (!wanted) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    if (read_query(r, &q, wanted, &ids_only) != 0) {
        free(wanted);
        return;
    }
    kn_error err = {{0}};
    size_t n = 0, total = 0;
    if (ids_only) {
        int64_t *ids = NULL;
        kn_api_lock_store(r->srv);
        int rc = kn_store_query_message_ids(r->srv->store, &q, &ids, &n, &total, &err);
        kn_api_unlock_store(r->srv);
        if (rc != 0) {
            kn_api_internal_error(r, &err);
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_integer(ids[i]));
            kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:I,s:o}", "total", (json_int_t)total, "ids", arr));
        }
        free(ids);
    } else {
        kn_message_view *views = NULL;
        kn_api_lock_store(r->srv);
        int rc = kn_store_query_messages(r->srv->store, &q, &views, &n, &total, &err);
        kn_api_unlock_store(r->srv);
        if (rc != 0) {
            kn_api_internal_error(r, &err);
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++) json_array_append_new(arr, view_json(&views[i]));
            kn_respond_json(r, MHD_HTTP_OK, json_pack("{s:I,s:o}", "total", (json_int_t)total, "messages", arr));
        }
        kn_message_views_free(views, n);
    }
    free(wanted);
}

/* ---- GET /api/stats --------------------------------------------------------------------- */

void kn_api_stats(kn_request *r, char **args)
{
    (void)args;
    kn_workspace_stats st;
    kn_error err = {{0}};
    kn_api_lock_store(r->srv);
    int rc = kn_store_workspace_stats(r->srv->store, &st, &err);
    kn_api_unlock_store(r->srv);
    if (rc != 0) {
        kn_api_internal_error(r, &err);
        return;
    }
    json_t *topics = json_array();
    for (size_t i = 0; i < st.n_topics; i++)
        json_array_append_new(topics, json_pack("{s:s,s:I,s:b,s:f}", "name", st.topics[i].name, "labelled",
                                                (json_int_t)st.topics[i].labelled, "automatable",
                                                st.topics[i].automatable, "threshold", st.topics[i].threshold));
    kn_respond_json(r, MHD_HTTP_OK,
                    json_pack("{s:I,s:I,s:I,s:o,s:{s:I,s:I},s:o}", "messages", (json_int_t)st.messages, "labelled",
                              (json_int_t)st.labelled, "unlabelled", (json_int_t)(st.messages - st.labelled),
                              "topics", topics, "decisions", "auto_reply", (json_int_t)st.auto_reply, "human",
                              (json_int_t)st.human, "active_model",
                              st.active_model > 0 ? json_integer(st.active_model) : json_null()));
    kn_workspace_stats_free(&st);
}
