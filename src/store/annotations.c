/* annotations.c - reading and deleting annotations (an expert's topic for a message), for
 * the annotations endpoints of the HTTP API. Adding one is kn_store_annotate (store.c).
 * Declared in the "annotations CRUD" block of store.h. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

#define ANNOTATION_COLUMNS \
    "SELECT a.id, a.message_id, t.name, a.annotator, a.created_at FROM annotations a JOIN topics t ON t.id = a.topic_id "

void kn_annotation_free(kn_annotation *a)
{
    if (!a) return;
    free(a->topic);
    free(a->annotator);
    memset(a, 0, sizeof *a);
}

void kn_annotations_free(kn_annotation *list, size_t n)
{
    if (!list) return;
    for (size_t i = 0; i < n; i++) kn_annotation_free(&list[i]);
    free(list);
}

/* One row of ANNOTATION_COLUMNS into *out; -1 when out of memory. */
static int read_annotation(sqlite3_stmt *st, kn_annotation *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    out->message_id = sqlite3_column_int64(st, 1);
    out->created_at = sqlite3_column_int64(st, 4);
    if (kn_store_column_text(st, 2, &out->topic) != 0 || !out->topic ||
        kn_store_column_text(st, 3, &out->annotator) != 0) {
        kn_annotation_free(out);
        return -1;
    }
    return 0;
}

/* 0 when message id exists, 1 when not, -1 on error. */
static int message_exists(kn_store *s, int64_t id, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT 1 FROM messages WHERE id = ?1", "listing annotations", err) != 0) return -1;
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW) rc = 0;
    else if (step == SQLITE_DONE) rc = 1;
    else rc = kn_store_sql_fail(s, err, "message %lld: looking it up", (long long)id);
    sqlite3_finalize(st);
    return rc;
}

int kn_store_list_annotations(kn_store *s, int64_t message_id, kn_annotation **out, size_t *n, kn_error *err)
{
    *out = NULL;
    *n = 0;
    /* One read transaction, so the message cannot vanish between the two statements. */
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return kn_store_sql_fail(s, err, "listing annotations: starting a transaction");
    int rc = message_exists(s, message_id, err);
    sqlite3_stmt *st = NULL;
    kn_annotation *list = NULL;
    size_t count = 0, cap = 0;
    if (rc == 0 && kn_store_prepare(s, &st, ANNOTATION_COLUMNS "WHERE a.message_id = ?1 ORDER BY a.id",
                                    "listing annotations", err) != 0)
        rc = -1;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, message_id);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            if (count == cap) {
                size_t grown_cap = cap ? 2 * cap : 8;
                kn_annotation *grown = realloc(list, grown_cap * sizeof *grown);
                if (!grown) {
                    rc = kn_fail(err, "listing annotations: out of memory");
                    break;
                }
                list = grown;
                cap = grown_cap;
            }
            if (read_annotation(st, &list[count]) != 0) {
                rc = kn_fail(err, "listing annotations: out of memory");
                break;
            }
            count++;
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = kn_store_sql_fail(s, err, "listing the annotations of message %lld", (long long)message_id);
        sqlite3_finalize(st);
    }
    kn_store_rollback(s); /* read only: nothing to commit */
    if (rc != 0) {
        kn_annotations_free(list, count);
        return rc;
    }
    *out = list;
    *n = count;
    return 0;
}

int kn_store_get_annotation(kn_store *s, int64_t id, kn_annotation *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, ANNOTATION_COLUMNS "WHERE a.id = ?1", "reading an annotation", err) != 0) return -1;
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_DONE) rc = 1;
    else if (step != SQLITE_ROW) rc = kn_store_sql_fail(s, err, "annotation %lld: reading it", (long long)id);
    else if (read_annotation(st, out) != 0) rc = kn_fail(err, "annotation %lld: out of memory", (long long)id);
    else rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int kn_store_delete_annotation(kn_store *s, int64_t id, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "DELETE FROM annotations WHERE id = ?1", "deleting an annotation", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc;
    if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "annotation %lld: deleting it", (long long)id);
    else rc = sqlite3_changes(s->db) == 0 ? 1 : 0;
    sqlite3_finalize(st);
    return rc;
}
