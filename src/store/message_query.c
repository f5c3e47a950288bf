/* message_query.c - the message list of the web UI (GET /api/messages).
 *
 * Two steps in one read transaction. First one SQL statement picks the ids that pass the
 * filters in the requested order; the text filter and the seeded shuffle are applied here in
 * C while the rows stream by (SQLite's LIKE folds ASCII only, and SQLite has no seeded
 * random), counting the total and keeping only the page. Then each message of the page gets
 * its labels, prediction, decision and cluster by indexed lookups (a page is at most a few
 * thousand messages; the first step is what must scale to 100,000).
 *
 * Every SQL text below is built from constant fragments; values are bound. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "store/store_internal.h"
#include "store/ui_messages.h"
#include "text/utf8.h"
#include "util/rng.h"

#define MAX_NEEDLE_BYTES 4096

/* Correlated sub-queries over the indexes of schema version 1 (annotations_message,
 * predictions_message, decisions_message) and map_points_key. ?1 is the model, ?5 the map. */
#define LABELLED "EXISTS (SELECT 1 FROM annotations a WHERE a.message_id = m.id)"
#define PROBABILITY                                                                                                  \
    "(SELECT p.probability FROM predictions p WHERE p.message_id = m.id AND +p.model_id = ?1 ORDER BY p.id DESC " \
    "LIMIT 1)"
#define CLUSTER "(SELECT mp.cluster FROM map_points mp WHERE coalesce(mp.model_id, 0) = ?5 AND mp.message_id = m.id)"
#define NEWEST_ACTION "(SELECT d.action FROM decisions d WHERE d.message_id = m.id ORDER BY d.id DESC LIMIT 1)"

/* ---- case-insensitive search ------------------------------------------------------------- */

typedef struct needle {
    int32_t *cp; /* lower-cased code points */
    size_t n;
} needle;

static int32_t lower_at(const uint8_t *t, size_t len, size_t *pos)
{
    if (t[*pos] < 0x80) {
        uint8_t c = t[(*pos)++];
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t used = utf8proc_iterate(t + *pos, (utf8proc_ssize_t)(len - *pos), &c);
    if (used <= 0) { /* not UTF-8 (the store refuses it): step over the byte, match nothing */
        (*pos)++;
        return -1;
    }
    *pos += (size_t)used;
    return utf8proc_tolower(c);
}

static int needle_init(needle *nd, const char *s, kn_error *err)
{
    size_t len = strlen(s), pos = 0;
    nd->n = 0;
    nd->cp = malloc((len + 1) * sizeof *nd->cp);
    if (!nd->cp) return kn_fail(err, "searching messages: out of memory");
    while (pos < len) nd->cp[nd->n++] = lower_at((const uint8_t *)s, len, &pos);
    return 0;
}

static int contains(const uint8_t *t, size_t len, const needle *nd)
{
    if (nd->n == 0) return 1;
    for (size_t start = 0; start < len; start++) {
        if ((t[start] & 0xC0) == 0x80) continue; /* inside a code point */
        size_t pos = start, k = 0;
        while (k < nd->n && pos < len && lower_at(t, len, &pos) == nd->cp[k]) k++;
        if (k == nd->n) return 1;
        if (pos >= len && k > 0) return 0; /* the rest of the text is shorter than the needle */
    }
    return 0;
}

int kn_text_contains_ci(const char *text, size_t len, const char *needle_text)
{
    needle nd;
    kn_error err;
    if (needle_init(&nd, needle_text, &err) != 0) return 0;
    int found = contains((const uint8_t *)text, len, &nd);
    free(nd.cp);
    return found;
}

/* ---- the workspace's active model and map ------------------------------------------------ */

static int active_model(kn_store *s, int64_t *id, kn_error *err)
{
    sqlite3_stmt *st;
    *id = -1;
    if (kn_store_prepare(s, &st, "SELECT id FROM models WHERE active = 1", "listing messages", err) != 0) return -1;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return kn_store_sql_fail(s, err, "listing messages: the active model");
    return 0;
}

/* Which cached map gives the clusters: the active model's when it has one, else the base
 * map (drawn before any model; model_id NULL, keyed 0), else none (-1). */
static int choose_map(kn_store *s, int64_t model, int64_t *map, kn_error *err)
{
    *map = -1;
    sqlite3_stmt *st;
    int step;
    if (kn_store_prepare(s, &st, "SELECT EXISTS (SELECT 1 FROM map_points WHERE coalesce(model_id, 0) = ?1)",
                         "listing messages", err) != 0)
        return -1;
    for (int base = model > 0 ? 0 : 1; base <= 1 && *map < 0; base++) {
        int64_t candidate = base ? 0 : model;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, candidate);
        step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            sqlite3_finalize(st);
            return kn_store_sql_fail(s, err, "listing messages: the map table");
        }
        if (sqlite3_column_int(st, 0)) *map = candidate;
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- step 1: the ids ---------------------------------------------------------------------- */

static void append(char *sql, size_t cap, const char *fragment)
{
    size_t used = strlen(sql);
    snprintf(sql + used, cap - used, "%s", fragment);
}

/* Columns: id, text (only with a text filter), labelled, probability key, cluster key. */
static int build_sql(const kn_message_query *q, int64_t map_id, char *sql, size_t cap)
{
    int by_uncertainty = q->order == KN_ORDER_UNCERTAIN || q->order == KN_ORDER_CLUSTER;
    int map = map_id >= 0;
    snprintf(sql, cap, "SELECT m.id, %s, %s, %s, %s FROM messages m WHERE 1", q->q && *q->q ? "m.text" : "NULL",
             by_uncertainty ? LABELLED : "0", by_uncertainty ? "coalesce(" PROBABILITY ", 2.0)" : "0",
             q->order == KN_ORDER_CLUSTER && map ? "coalesce(" CLUSTER ", 9223372036854775807)" : "0");
    if (q->status) append(sql, cap, " AND m.status = ?2");
    if (q->labelled == KN_LABELLED_YES) append(sql, cap, " AND " LABELLED);
    else if (q->labelled == KN_LABELLED_NO) append(sql, cap, " AND NOT " LABELLED);
    else if (q->labelled != KN_LABELLED_ANY) return -1;
    if (q->decided == KN_DECIDED_AUTO_REPLY) append(sql, cap, " AND " NEWEST_ACTION " = 'auto_reply'");
    else if (q->decided == KN_DECIDED_HUMAN) append(sql, cap, " AND " NEWEST_ACTION " = 'human'");
    else if (q->decided == KN_DECIDED_NONE)
        append(sql, cap, " AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.message_id = m.id)");
    else if (q->decided != KN_DECIDED_ANY) return -1;
    if (q->has_ids) append(sql, cap, " AND m.id IN (SELECT value FROM json_each(?3))");
    if (q->has_cluster) append(sql, cap, map ? " AND " CLUSTER " = ?4" : " AND 0");
    switch (q->order) {
    case KN_ORDER_ID:
    case KN_ORDER_RANDOM: append(sql, cap, " ORDER BY m.id"); break;
    case KN_ORDER_NEWEST: append(sql, cap, " ORDER BY m.received_at DESC, m.id DESC"); break;
    case KN_ORDER_UNCERTAIN: append(sql, cap, " ORDER BY 3, 4, 1"); break;
    case KN_ORDER_CLUSTER: append(sql, cap, " ORDER BY 5, 3, 4, 1"); break;
    default: return -1;
    }
    return strlen(sql) + 1 < cap ? 0 : -1;
}

/* "[1,2,3]" for json_each; malloc'ed. */
static char *ids_json(const int64_t *ids, size_t n)
{
    char *out = malloc(n * 21 + 3), *p = out;
    if (!out) return NULL;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) p += sprintf(p, "%s%lld", i ? "," : "", (long long)ids[i]);
    *p++ = ']';
    *p = '\0';
    return out;
}

typedef struct keyed_id {
    uint64_t key;
    int64_t id;
} keyed_id;

static int by_key(const void *a, const void *b)
{
    const keyed_id *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* A message's place in the shuffle of seed: the same for the same (seed, id). */
static uint64_t shuffle_key(uint64_t seed, int64_t id)
{
    uint64_t state = seed ^ ((uint64_t)id * 0xd1342543de82ef95ull);
    return kn_splitmix64(&state);
}

typedef struct id_list {
    int64_t *ids;
    size_t n, cap;
} id_list;

static int push_id(id_list *l, int64_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int64_t *grown = realloc(l->ids, cap * sizeof *grown);
        if (!grown) return -1;
        l->ids = grown;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return 0;
}

static int check_query(const kn_message_query *q, kn_error *err)
{
    if (q->status && !kn_store_valid_status(q->status))
        return kn_fail(err, "listing messages: unknown status \"%.64s\" (new, auto_answered, queued or answered)",
                       q->status);
    if (q->has_ids && q->n_ids > 0 && !q->ids) return kn_fail(err, "listing messages: no ids given");
    if (q->q) {
        size_t len = strlen(q->q);
        if (len > MAX_NEEDLE_BYTES)
            return kn_fail(err, "listing messages: the search text is %zu bytes; the limit is %d", len, MAX_NEEDLE_BYTES);
        size_t bad = kn_utf8_first_invalid(q->q, len);
        if (bad != len) return kn_fail(err, "listing messages: invalid UTF-8 in the search text at byte %zu", bad + 1);
    }
    return 0;
}

/* Step 1 inside the caller's transaction. */
static int select_ids(kn_store *s, const kn_message_query *q, int64_t model, int64_t map, id_list *page,
                      size_t *total, kn_error *err)
{
    char sql[2048];
    if (build_sql(q, map, sql, sizeof sql) != 0)
        return kn_fail(err, "listing messages: unknown filter or order value");
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, sql, "listing messages", err) != 0) return -1;
    char *json = NULL;
    needle nd = {0};
    int rc = 0;
    sqlite3_bind_int64(st, 1, model);
    if (q->status) sqlite3_bind_text(st, 2, q->status, -1, SQLITE_STATIC);
    if (q->has_ids) {
        json = ids_json(q->ids, q->n_ids);
        if (!json) rc = kn_fail(err, "listing messages: out of memory");
        else sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    }
    if (q->has_cluster) sqlite3_bind_int64(st, 4, q->cluster);
    if (map >= 0) sqlite3_bind_int64(st, 5, map);
    int filter_text = q->q && *q->q;
    if (rc == 0 && filter_text) rc = needle_init(&nd, q->q, err);

    keyed_id *all = NULL; /* the shuffle needs every match before it can page */
    size_t n_all = 0, cap_all = 0, count = 0;
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (filter_text) {
            const uint8_t *text = sqlite3_column_text(st, 1);
            if (!text || !contains(text, (size_t)sqlite3_column_bytes(st, 1), &nd)) continue;
        }
        if (q->order == KN_ORDER_RANDOM) {
            if (n_all == cap_all) {
                size_t grown_cap = cap_all ? 2 * cap_all : 1024;
                keyed_id *grown = realloc(all, grown_cap * sizeof *grown);
                if (!grown) {
                    rc = kn_fail(err, "listing messages: out of memory");
                    break;
                }
                all = grown;
                cap_all = grown_cap;
            }
            all[n_all++] = (keyed_id){shuffle_key(q->seed, id), id};
            continue;
        }
        if (count >= q->offset && count - q->offset < q->limit && push_id(page, id) != 0)
            rc = kn_fail(err, "listing messages: out of memory");
        count++;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "listing messages");
    if (rc == 0 && q->order == KN_ORDER_RANDOM) {
        if (n_all > 1) qsort(all, n_all, sizeof *all, by_key);
        for (size_t i = q->offset; rc == 0 && i < n_all && i - q->offset < q->limit; i++)
            if (push_id(page, all[i].id) != 0) rc = kn_fail(err, "listing messages: out of memory");
        count = n_all;
    }
    *total = count;
    free(all);
    free(nd.cp);
    sqlite3_finalize(st);
    free(json);
    return rc;
}

/* Opens the read transaction and runs step 1; the caller ends the transaction. */
static int begin_and_select(kn_store *s, const kn_message_query *q, id_list *page, size_t *total, int64_t *model,
                            int64_t *map, kn_error *err)
{
    if (check_query(q, err) != 0) return -1;
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return kn_store_sql_fail(s, err, "listing messages: starting a transaction");
    if (active_model(s, model, err) != 0 || choose_map(s, *model, map, err) != 0) return -1;
    return select_ids(s, q, *model, *map, page, total, err);
}

int kn_store_query_message_ids(kn_store *s, const kn_message_query *q, int64_t **ids, size_t *n, size_t *total,
                               kn_error *err)
{
    *ids = NULL;
    *n = *total = 0;
    id_list page = {0};
    int64_t model, map;
    int rc = begin_and_select(s, q, &page, total, &model, &map, err);
    kn_store_rollback(s); /* read only */
    if (rc != 0) {
        free(page.ids);
        return -1;
    }
    *ids = page.ids;
    *n = page.n;
    return 0;
}

/* ---- step 2: the details of the page ------------------------------------------------------ */

enum { ST_MESSAGE, ST_LABELS, ST_PREDICTION, ST_DECISION, ST_CLUSTER, N_STATEMENTS };

static const char *const DETAIL_SQL[N_STATEMENTS] = {
    "SELECT id, external_id, channel, language, text, received_at, status FROM messages WHERE id = ?1",
    "SELECT a.id, t.name, a.annotator FROM annotations a JOIN topics t ON t.id = a.topic_id WHERE a.message_id = ?1 "
    "ORDER BY a.id",
    /* topic_id is NULL when the workspace has no topic of the predicted name: then the
     * name comes from the stored top topics. */
    "SELECT coalesce(t.name, CASE WHEN json_valid(p.top) THEN json_extract(p.top, '$[0].topic') END), "
    "p.probability FROM predictions p LEFT JOIN topics t ON t.id = p.topic_id "
    "WHERE p.message_id = ?1 AND +p.model_id = ?2 ORDER BY p.id DESC LIMIT 1",
    "SELECT d.action, t.name, d.probability, d.reason, d.reply_text, d.created_at FROM decisions d "
    "LEFT JOIN topics t ON t.id = d.topic_id WHERE d.message_id = ?1 ORDER BY d.id DESC LIMIT 1",
    "SELECT cluster FROM map_points WHERE coalesce(model_id, 0) = ?2 AND message_id = ?1",
};

static void view_free(kn_message_view *v)
{
    kn_message_free(&v->message);
    for (size_t i = 0; i < v->n_labels; i++) {
        free(v->labels[i].topic);
        free(v->labels[i].annotator);
    }
    free(v->labels);
    free(v->prediction_topic);
    free(v->decision_action);
    free(v->decision_topic);
    free(v->decision_reason);
    free(v->decision_reply_text);
    memset(v, 0, sizeof *v);
}

void kn_message_views_free(kn_message_view *v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) view_free(&v[i]);
    free(v);
}

/* Runs statement st for message id (and model); 1 when it found a row. -1 on error. */
static int lookup(kn_store *s, sqlite3_stmt *st, int64_t id, int64_t model, kn_error *err)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_bind_parameter_count(st) >= 2) sqlite3_bind_int64(st, 2, model);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) return 1;
    if (step == SQLITE_DONE) return 0;
    return kn_store_sql_fail(s, err, "listing messages: reading message %lld", (long long)id);
}

#define OOM(id) kn_fail(err, "listing messages: message %lld: out of memory", (long long)(id))

static int read_labels(kn_store *s, sqlite3_stmt *st, kn_message_view *v, kn_error *err)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, v->message.id);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (v->n_labels == cap) {
            size_t grown_cap = cap ? 2 * cap : 4;
            kn_message_label *grown = realloc(v->labels, grown_cap * sizeof *grown);
            if (!grown) return OOM(v->message.id);
            v->labels = grown;
            cap = grown_cap;
        }
        kn_message_label *l = &v->labels[v->n_labels++];
        memset(l, 0, sizeof *l);
        l->annotation_id = sqlite3_column_int64(st, 0);
        if (kn_store_column_text(st, 1, &l->topic) != 0 || kn_store_column_text(st, 2, &l->annotator) != 0)
            return OOM(v->message.id);
    }
    if (step != SQLITE_DONE)
        return kn_store_sql_fail(s, err, "listing messages: the labels of message %lld", (long long)v->message.id);
    return 0;
}

static int read_view(kn_store *s, sqlite3_stmt **st, int64_t id, int64_t model, int64_t map, kn_message_view *v,
                     kn_error *err)
{
    int found = lookup(s, st[ST_MESSAGE], id, model, err);
    if (found <= 0) return found < 0 ? -1 : kn_fail(err, "listing messages: message %lld vanished", (long long)id);
    sqlite3_stmt *m = st[ST_MESSAGE];
    v->message.id = sqlite3_column_int64(m, 0);
    v->message.received_at = sqlite3_column_int64(m, 5);
    if (kn_store_column_text(m, 1, &v->message.external_id) | kn_store_column_text(m, 2, &v->message.channel) |
        kn_store_column_text(m, 3, &v->message.language) | kn_store_column_text(m, 4, &v->message.text) |
        kn_store_column_text(m, 6, &v->message.status))
        return OOM(id);
    if (read_labels(s, st[ST_LABELS], v, err) != 0) return -1;

    if (model > 0) {
        sqlite3_stmt *p = st[ST_PREDICTION];
        if ((found = lookup(s, p, id, model, err)) < 0) return -1;
        if (found) {
            v->has_prediction = 1;
            v->prediction_probability = sqlite3_column_double(p, 1);
            if (kn_store_column_text(p, 0, &v->prediction_topic) != 0) return OOM(id);
        }
    }
    sqlite3_stmt *d = st[ST_DECISION];
    if ((found = lookup(s, d, id, model, err)) < 0) return -1;
    if (found) {
        v->has_decision = 1;
        v->decision_probability = sqlite3_column_double(d, 2);
        v->decision_created_at = sqlite3_column_int64(d, 5);
        if (kn_store_column_text(d, 0, &v->decision_action) | kn_store_column_text(d, 1, &v->decision_topic) |
            kn_store_column_text(d, 3, &v->decision_reason) | kn_store_column_text(d, 4, &v->decision_reply_text))
            return OOM(id);
    }
    if (map >= 0) {
        sqlite3_stmt *c = st[ST_CLUSTER];
        if ((found = lookup(s, c, id, map, err)) < 0) return -1;
        if (found) {
            v->has_cluster = 1;
            v->cluster = sqlite3_column_int64(c, 0);
        }
    }
    return 0;
}

int kn_store_query_messages(kn_store *s, const kn_message_query *q, kn_message_view **out, size_t *n,
                            size_t *total, kn_error *err)
{
    *out = NULL;
    *n = *total = 0;
    id_list page = {0};
    int64_t model = -1;
    int64_t map = -1;
    sqlite3_stmt *st[N_STATEMENTS] = {0};
    kn_message_view *views = NULL;
    int rc = begin_and_select(s, q, &page, total, &model, &map, err);
    if (rc == 0 && page.n > 0 && !(views = calloc(page.n, sizeof *views)))
        rc = kn_fail(err, "listing messages: out of memory");
    for (int i = 0; rc == 0 && page.n > 0 && i < N_STATEMENTS; i++)
        if ((i != ST_CLUSTER || map >= 0) && kn_store_prepare(s, &st[i], DETAIL_SQL[i], "listing messages", err) != 0)
            rc = -1;
    for (size_t i = 0; rc == 0 && i < page.n; i++) rc = read_view(s, st, page.ids[i], model, map, &views[i], err);
    for (int i = 0; i < N_STATEMENTS; i++) sqlite3_finalize(st[i]);
    kn_store_rollback(s); /* read only */
    if (rc != 0) {
        kn_message_views_free(views, page.n);
        free(page.ids);
        *total = 0;
        return -1;
    }
    *out = views;
    *n = page.n;
    free(page.ids);
    return 0;
}
