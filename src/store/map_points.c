/* map_points.c - the cached 2-D map of a model's messages (table map_points), or the base
 * map (KN_BASE_MAP: stored with model_id NULL, keyed as 0 by the index map_points_key):
 * replaced as a whole when it is computed again, read back with what the UI colours points
 * by (the latest annotation and the model's newest prediction). Declared in ui_store.h.
 * Every query names the rows by coalesce(model_id, 0) = ?1, the indexed expression. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/ui_store.h"

void kn_map_points_free(kn_map_point *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].label);
        free(p[i].prediction);
    }
    free(p);
}

/* "model N" or "the base map", for errors. */
static const char *map_name(int64_t model_id, char *buf, size_t cap)
{
    if (model_id == KN_BASE_MAP) return "the base map";
    snprintf(buf, cap, "model %lld", (long long)model_id);
    return buf;
}

static int exec_model(kn_store *s, const char *sql, int64_t model_id, const char *what, kn_error *err)
{
    sqlite3_stmt *st;
    char name[32];
    if (kn_store_prepare(s, &st, sql, what, err) != 0) return -1;
    sqlite3_bind_int64(st, 1, model_id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : kn_store_sql_fail(s, err, "%s: %s", map_name(model_id, name, sizeof name), what);
    sqlite3_finalize(st);
    return rc;
}

int kn_store_put_map(kn_store *s, int64_t model_id, const int64_t *message_ids, const float *xy,
                     const int *clusters, size_t n, kn_error *err)
{
    const char *what = "storing the map";
    if (kn_store_begin(s, what, err) != 0) return -1;
    sqlite3_stmt *st = NULL;
    int rc = exec_model(s, "DELETE FROM map_points WHERE coalesce(model_id, 0) = ?1", model_id, what, err);
    if (rc == 0)
        rc = kn_store_prepare(s, &st,
                              "INSERT INTO map_points (model_id, message_id, x, y, cluster) VALUES (?1, ?2, ?3, ?4, ?5)",
                              what, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_reset(st);
        if (model_id == KN_BASE_MAP) sqlite3_bind_null(st, 1);
        else sqlite3_bind_int64(st, 1, model_id);
        sqlite3_bind_int64(st, 2, message_ids[i]);
        sqlite3_bind_double(st, 3, xy[2 * i]);
        sqlite3_bind_double(st, 4, xy[2 * i + 1]);
        sqlite3_bind_int(st, 5, clusters[i]);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = kn_store_sql_fail(s, err, "message %lld: %s", (long long)message_ids[i], what);
    }
    sqlite3_finalize(st);
    if (rc == 0) rc = kn_store_commit(s, what, err);
    if (rc != 0) kn_store_rollback(s);
    return rc;
}

int kn_store_get_map(kn_store *s, int64_t model_id, kn_map_point **out, size_t *n, kn_error *err)
{
    *out = NULL;
    *n = 0;
    const char *what = "reading the map";
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "SELECT p.message_id, p.x, p.y, p.cluster, "
                         " (SELECT t.name FROM annotations a JOIN topics t ON t.id = a.topic_id "
                         "  WHERE a.message_id = p.message_id ORDER BY a.id DESC LIMIT 1), "
                         " pr.topic, pr.probability "
                         "FROM map_points p LEFT JOIN ("
                         "  SELECT q.message_id, t.name AS topic, q.probability, "
                         "   row_number() OVER (PARTITION BY q.message_id ORDER BY q.id DESC) AS k "
                         "  FROM predictions q LEFT JOIN topics t ON t.id = q.topic_id WHERE q.model_id = ?1"
                         ") pr ON pr.message_id = p.message_id AND pr.k = 1 "
                         "WHERE coalesce(p.model_id, 0) = ?1 ORDER BY p.message_id",
                         what, err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, model_id);
    kn_map_point *list = NULL;
    size_t len = 0, cap = 0;
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t c = cap ? 2 * cap : 256;
            kn_map_point *l = realloc(list, c * sizeof *l);
            if (!l) {
                rc = kn_fail(err, "%s: out of memory", what);
                break;
            }
            list = l;
            cap = c;
        }
        kn_map_point *p = &list[len];
        memset(p, 0, sizeof *p);
        p->message_id = sqlite3_column_int64(st, 0);
        p->x = sqlite3_column_double(st, 1);
        p->y = sqlite3_column_double(st, 2);
        p->cluster = sqlite3_column_int(st, 3);
        p->probability = sqlite3_column_type(st, 6) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 6);
        len++;
        if (kn_store_column_text(st, 4, &p->label) != 0 || kn_store_column_text(st, 5, &p->prediction) != 0) {
            rc = kn_fail(err, "%s: out of memory", what);
            break;
        }
    }
    char name[32];
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "%s: %s", map_name(model_id, name, sizeof name), what);
    sqlite3_finalize(st);
    if (rc != 0) {
        kn_map_points_free(list, len);
        return -1;
    }
    *out = list;
    *n = len;
    return 0;
}
