/* decisions.c - what `kanava serve` records: predictions (one, or a job's many in one
 * transaction), and routing decisions with the message's new status (models themselves are
 * in models.c). Declared in the "server" block of store.h and in ui_store.h. */
#include <string.h>

#include "store/store_internal.h"
#include "store/ui_store.h"

static int prepare_prediction(kn_store *s, sqlite3_stmt **st, kn_error *err)
{
    return kn_store_prepare(s, st,
                            "INSERT INTO predictions (message_id, model_id, topic_id, probability, top, created_at) "
                            "VALUES (?1, ?2, (SELECT id FROM topics WHERE name = ?3), ?4, ?5, ?6)",
                            "recording a prediction", err);
}

/* One row through the prepared insert (reset for the next): its id, or -1. */
static int64_t insert_prediction(kn_store *s, sqlite3_stmt *st, int64_t message_id, int64_t model_id,
                                 const char *topic, double probability, const char *top_json, kn_error *err)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, message_id);
    sqlite3_bind_int64(st, 2, model_id);
    kn_store_bind_text(st, 3, topic);
    sqlite3_bind_double(st, 4, probability);
    kn_store_bind_text(st, 5, top_json);
    sqlite3_bind_int64(st, 6, kn_store_now());
    if (sqlite3_step(st) == SQLITE_DONE) return sqlite3_last_insert_rowid(s->db);
    return kn_store_sql_fail(s, err, "message %lld: recording its prediction", (long long)message_id);
}

int64_t kn_store_add_prediction(kn_store *s, int64_t message_id, int64_t model_id, const char *topic,
                                double probability, const char *top_json, kn_error *err)
{
    sqlite3_stmt *st;
    if (prepare_prediction(s, &st, err) != 0) return -1;
    int64_t id = insert_prediction(s, st, message_id, model_id, topic, probability, top_json, err);
    sqlite3_finalize(st);
    return id;
}

int kn_store_add_predictions(kn_store *s, int64_t model_id, const kn_prediction_row *rows, size_t n, kn_error *err)
{
    if (n == 0) return 0;
    sqlite3_stmt *st;
    if (kn_store_begin(s, "recording predictions", err) != 0) return -1;
    if (prepare_prediction(s, &st, err) != 0) {
        kn_store_rollback(s);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const kn_prediction_row *p = &rows[i];
        if (insert_prediction(s, st, p->message_id, model_id, p->topic, p->probability, p->top_json, err) < 0) rc = -1;
    }
    sqlite3_finalize(st);
    if (rc == 0 && kn_store_commit(s, "recording predictions", err) != 0) rc = -1;
    if (rc != 0) kn_store_rollback(s);
    return rc;
}

static int64_t insert_decision(kn_store *s, const kn_decision_record *d, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "INSERT INTO decisions (message_id, model_id, action, topic_id, probability, threshold, "
                         "margin, reason, reply_language, reply_text, created_at) VALUES (?1, ?2, ?3, "
                         "(SELECT id FROM topics WHERE name = ?4), ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                         "recording a decision", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, d->message_id);
    if (d->model_id > 0) sqlite3_bind_int64(st, 2, d->model_id);
    else sqlite3_bind_null(st, 2);
    sqlite3_bind_text(st, 3, d->action, -1, SQLITE_STATIC);
    kn_store_bind_text(st, 4, d->topic);
    sqlite3_bind_double(st, 5, d->probability);
    sqlite3_bind_double(st, 6, d->threshold);
    sqlite3_bind_double(st, 7, d->margin);
    kn_store_bind_text(st, 8, d->reason);
    kn_store_bind_text(st, 9, d->reply_language);
    kn_store_bind_text(st, 10, d->reply_text);
    sqlite3_bind_int64(st, 11, kn_store_now());
    int64_t id;
    if (sqlite3_step(st) == SQLITE_DONE) id = sqlite3_last_insert_rowid(s->db);
    else id = kn_store_sql_fail(s, err, "message %lld: recording its routing decision", (long long)d->message_id);
    sqlite3_finalize(st);
    return id;
}

int64_t kn_store_add_decision(kn_store *s, const kn_decision_record *d, kn_error *err)
{
    int automatic;
    if (!d || !d->action) return kn_fail(err, "recording a decision: no decision given");
    if (strcmp(d->action, "auto_reply") == 0) automatic = 1;
    else if (strcmp(d->action, "human") == 0) automatic = 0;
    else return kn_fail(err, "message %lld: unknown routing action \"%.40s\"", (long long)d->message_id, d->action);
    if (kn_store_begin(s, "recording a decision", err) != 0) return -1;
    int64_t id = insert_decision(s, d, err);
    if (id >= 0 && kn_store_set_message_status(s, d->message_id, automatic ? "auto_answered" : "queued", err) != 0)
        id = -1;
    if (id >= 0 && kn_store_commit(s, "recording a decision", err) != 0) id = -1;
    if (id < 0) kn_store_rollback(s);
    return id;
}
