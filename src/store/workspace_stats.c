/* workspace_stats.c - the counts the web UI shows at a glance (GET /api/stats): messages,
 * labelled ones, per topic the messages whose latest annotation is that topic (the label a
 * training run uses, so the per-topic counts add up to the labelled total), messages by the
 * action of their newest routing decision, and the active model. One read transaction. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/ui_messages.h"

void kn_workspace_stats_free(kn_workspace_stats *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->n_topics; i++) free(st->topics[i].name);
    free(st->topics);
    memset(st, 0, sizeof *st);
}

/* One integer from sql (0 when it has no row). */
static int count(kn_store *s, const char *sql, const char *what, int64_t *out, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, sql, what, err) != 0) return -1;
    int step = sqlite3_step(st);
    *out = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return kn_store_sql_fail(s, err, "%s", what);
    return 0;
}

static int topic_counts(kn_store *s, kn_workspace_stats *out, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "WITH latest AS (SELECT a.topic_id, count(*) AS n FROM annotations a "
                         "JOIN (SELECT max(id) AS id FROM annotations GROUP BY message_id) l ON l.id = a.id "
                         "GROUP BY a.topic_id) "
                         "SELECT t.name, coalesce(latest.n, 0), t.automatable, t.threshold FROM topics t "
                         "LEFT JOIN latest ON latest.topic_id = t.id ORDER BY t.name",
                         "counting labels per topic", err) != 0)
        return -1;
    size_t cap = 0;
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n_topics == cap) {
            size_t grown_cap = cap ? 2 * cap : 16;
            kn_topic_count *grown = realloc(out->topics, grown_cap * sizeof *grown);
            if (!grown) {
                rc = kn_fail(err, "counting labels per topic: out of memory");
                break;
            }
            out->topics = grown;
            cap = grown_cap;
        }
        kn_topic_count *t = &out->topics[out->n_topics];
        memset(t, 0, sizeof *t);
        t->labelled = sqlite3_column_int64(st, 1);
        t->automatable = sqlite3_column_int(st, 2);
        t->threshold = sqlite3_column_double(st, 3);
        if (kn_store_column_text(st, 0, &t->name) != 0 || !t->name) {
            rc = kn_fail(err, "counting labels per topic: out of memory");
            break;
        }
        out->n_topics++;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "counting labels per topic");
    sqlite3_finalize(st);
    return rc;
}

static int decision_counts(kn_store *s, kn_workspace_stats *out, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "SELECT d.action, count(*) FROM decisions d "
                         "JOIN (SELECT max(id) AS id FROM decisions GROUP BY message_id) l ON l.id = d.id "
                         "GROUP BY d.action",
                         "counting decisions", err) != 0)
        return -1;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *action = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (action && strcmp(action, "auto_reply") == 0) out->auto_reply = n;
        else if (action && strcmp(action, "human") == 0) out->human = n;
    }
    int rc = step == SQLITE_DONE ? 0 : kn_store_sql_fail(s, err, "counting decisions");
    sqlite3_finalize(st);
    return rc;
}

int kn_store_workspace_stats(kn_store *s, kn_workspace_stats *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    out->active_model = -1;
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return kn_store_sql_fail(s, err, "counting messages: starting a transaction");
    int64_t active = 0;
    int rc = count(s, "SELECT count(*) FROM messages", "counting messages", &out->messages, err);
    if (rc == 0)
        rc = count(s, "SELECT count(DISTINCT message_id) FROM annotations", "counting labelled messages",
                   &out->labelled, err);
    if (rc == 0) rc = topic_counts(s, out, err);
    if (rc == 0) rc = decision_counts(s, out, err);
    if (rc == 0)
        rc = count(s, "SELECT coalesce((SELECT id FROM models WHERE active = 1), 0)", "finding the active model", &active,
                   err);
    if (rc == 0 && active > 0) out->active_model = active;
    kn_store_rollback(s); /* read only */
    if (rc != 0) kn_workspace_stats_free(out);
    return rc;
}
