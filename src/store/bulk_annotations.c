/* bulk_annotations.c - labelling a selection of messages at once (the web UI's lasso on the
 * map) and undoing it: one transaction each, so a selection is labelled whole or not at all. */
#include <string.h>

#include "store/store_internal.h"
#include "store/ui_messages.h"
#include "text/utf8.h"

#define MAX_SHORT 1024 /* names and annotators, as store.c accepts them */

static int check_short(const char *what, const char *s, kn_error *err)
{
    size_t len = strlen(s);
    if (len == 0 || len > MAX_SHORT) return kn_fail(err, "annotating messages: the %s must be 1 to %d bytes", what, MAX_SHORT);
    size_t bad = kn_utf8_first_invalid(s, len);
    if (bad != len) return kn_fail(err, "annotating messages: invalid UTF-8 in the %s at byte %zu", what, bad + 1);
    return 0;
}

/* The id of topic name: 0, 1 when there is none, -1 on error. */
static int find_topic(kn_store *s, const char *name, int64_t *id, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT id FROM topics WHERE name = ?1", "annotating messages", err) != 0) return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st), rc = 1;
    if (step == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (step != SQLITE_DONE) {
        rc = kn_store_sql_fail(s, err, "annotating messages: looking up topic \"%.200s\"", name);
    }
    sqlite3_finalize(st);
    return rc;
}

int kn_store_annotate_many(kn_store *s, const int64_t *message_ids, size_t n, const char *topic,
                           const char *annotator, int64_t *annotation_ids, int64_t *missing_id, kn_error *err)
{
    if (!topic || check_short("topic", topic, err) != 0) return topic ? -1 : kn_fail(err, "annotating messages: no topic");
    if (annotator && check_short("annotator", annotator, err) != 0) return -1;
    if (n > 0 && (!message_ids || !annotation_ids)) return kn_fail(err, "annotating messages: no ids given");
    if (kn_store_begin(s, "annotating messages", err) != 0) return -1;
    int64_t topic_id = 0, now = kn_store_now();
    int rc = find_topic(s, topic, &topic_id, err);
    sqlite3_stmt *exists = NULL, *insert = NULL;
    if (rc == 0 && (kn_store_prepare(s, &exists, "SELECT 1 FROM messages WHERE id = ?1", "annotating messages", err) != 0 ||
                    kn_store_prepare(s, &insert,
                                     "INSERT INTO annotations (message_id, topic_id, annotator, created_at) "
                                     "VALUES (?1, ?2, ?3, ?4)",
                                     "annotating messages", err) != 0))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(exists, 1, message_ids[i]);
        int step = sqlite3_step(exists);
        sqlite3_reset(exists);
        if (step == SQLITE_DONE) {
            if (missing_id) *missing_id = message_ids[i];
            rc = 2;
            break;
        }
        if (step != SQLITE_ROW) {
            rc = kn_store_sql_fail(s, err, "annotating message %lld", (long long)message_ids[i]);
            break;
        }
        sqlite3_bind_int64(insert, 1, message_ids[i]);
        sqlite3_bind_int64(insert, 2, topic_id);
        kn_store_bind_text(insert, 3, annotator);
        sqlite3_bind_int64(insert, 4, now);
        if (sqlite3_step(insert) != SQLITE_DONE)
            rc = kn_store_sql_fail(s, err, "annotating message %lld with topic \"%.200s\"", (long long)message_ids[i], topic);
        else annotation_ids[i] = sqlite3_last_insert_rowid(s->db);
        sqlite3_reset(insert);
    }
    sqlite3_finalize(exists);
    sqlite3_finalize(insert);
    if (rc == 0) rc = kn_store_commit(s, "annotating messages", err);
    if (rc != 0) kn_store_rollback(s);
    return rc;
}

int kn_store_delete_annotations(kn_store *s, const int64_t *ids, size_t n, size_t *deleted, kn_error *err)
{
    *deleted = 0;
    if (n > 0 && !ids) return kn_fail(err, "deleting annotations: no ids given");
    if (kn_store_begin(s, "deleting annotations", err) != 0) return -1;
    sqlite3_stmt *st = NULL;
    int rc = kn_store_prepare(s, &st, "DELETE FROM annotations WHERE id = ?1", "deleting annotations", err);
    size_t count = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "deleting annotation %lld", (long long)ids[i]);
        else count += (size_t)sqlite3_changes(s->db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == 0) rc = kn_store_commit(s, "deleting annotations", err);
    if (rc != 0) {
        kn_store_rollback(s);
        return -1;
    }
    *deleted = count;
    return 0;
}
