/* models.c - the models table as `kanava serve` manages it: register a bundle directory,
 * list the models, look one up, and make one the active model (at most one is). Declared in
 * the "server models" block of store.h. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

void kn_model_info_free(kn_model_info *m)
{
    if (!m) return;
    free(m->bundle_path);
    free(m->method);
    free(m->metrics);
    memset(m, 0, sizeof *m);
}

void kn_model_infos_free(kn_model_info *list, size_t n)
{
    for (size_t i = 0; i < n; i++) kn_model_info_free(&list[i]);
    free(list);
}

#define MODEL_COLUMNS "id, bundle_path, method, metrics, created_at, active"

/* Reads the columns of MODEL_COLUMNS from a row. */
static int read_row(kn_store *s, sqlite3_stmt *st, kn_model_info *m, kn_error *err)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    m->created_at = sqlite3_column_int64(st, 4);
    m->active = sqlite3_column_int(st, 5) != 0;
    if (kn_store_column_text(st, 1, &m->bundle_path) != 0 || kn_store_column_text(st, 2, &m->method) != 0 ||
        kn_store_column_text(st, 3, &m->metrics) != 0) {
        kn_model_info_free(m);
        (void)s;
        return kn_fail(err, "reading a model: out of memory");
    }
    return 0;
}

int64_t kn_store_register_model(kn_store *s, const char *bundle_path, const char *method, const char *metrics_json,
                                int *added, kn_error *err)
{
    if (added) *added = 0;
    if (!bundle_path || !*bundle_path || !method || !*method)
        return kn_fail(err, "registering a model: no bundle path or method");
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "SELECT id FROM models WHERE bundle_path = ?1 AND method = ?2 ORDER BY id DESC LIMIT 1",
                         "looking up a model", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, bundle_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int64_t id = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return kn_store_sql_fail(s, err, "model %.200s: looking it up", bundle_path);
    if (step == SQLITE_ROW) {
        if (!metrics_json) return id;
        if (kn_store_prepare(s, &st, "UPDATE models SET metrics = ?2 WHERE id = ?1", "updating a model", err) != 0)
            return -1;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, metrics_json, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) id = kn_store_sql_fail(s, err, "model %lld: updating it", (long long)id);
        sqlite3_finalize(st);
        return id;
    }
    if (kn_store_prepare(s, &st, "INSERT INTO models (bundle_path, method, metrics, created_at) VALUES (?1, ?2, ?3, ?4)",
                         "registering a model", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, bundle_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
    kn_store_bind_text(st, 3, metrics_json);
    sqlite3_bind_int64(st, 4, kn_store_now());
    if (sqlite3_step(st) == SQLITE_DONE) {
        id = sqlite3_last_insert_rowid(s->db);
        if (added) *added = 1;
    } else {
        id = kn_store_sql_fail(s, err, "model %.200s: registering it", bundle_path);
    }
    sqlite3_finalize(st);
    return id;
}

int kn_store_list_models(kn_store *s, kn_model_info **out, size_t *n, kn_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT " MODEL_COLUMNS " FROM models ORDER BY id", "listing the models", err) != 0)
        return -1;
    kn_model_info *list = NULL;
    size_t len = 0, cap = 0;
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t c = cap ? 2 * cap : 8;
            kn_model_info *l = realloc(list, c * sizeof *l);
            if (!l) {
                rc = kn_fail(err, "listing the models: out of memory");
                break;
            }
            list = l;
            cap = c;
        }
        if (read_row(s, st, &list[len], err) != 0) {
            rc = -1;
            break;
        }
        len++;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "listing the models");
    sqlite3_finalize(st);
    if (rc != 0) {
        kn_model_infos_free(list, len);
        return -1;
    }
    *out = list;
    *n = len;
    return 0;
}

/* One row by a WHERE clause with an optional id parameter: 0, 1 none, -1. */
static int get_one(kn_store *s, const char *sql, int64_t id, kn_model_info *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, sql, "looking up a model", err) != 0) return -1;
    if (id >= 0) sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW) rc = read_row(s, st, out, err);
    else if (step == SQLITE_DONE) rc = 1;
    else rc = kn_store_sql_fail(s, err, "looking up a model");
    sqlite3_finalize(st);
    return rc;
}

int kn_store_get_model(kn_store *s, int64_t id, kn_model_info *out, kn_error *err)
{
    if (id < 0) {
        memset(out, 0, sizeof *out);
        return 1;
    }
    return get_one(s, "SELECT " MODEL_COLUMNS " FROM models WHERE id = ?1", id, out, err);
}

int kn_store_active_model(kn_store *s, kn_model_info *out, kn_error *err)
{
    return get_one(s, "SELECT " MODEL_COLUMNS " FROM models WHERE active = 1", -1, out, err);
}

int kn_store_activate_model(kn_store *s, int64_t id, kn_error *err)
{
    kn_model_info m;
    int rc = kn_store_get_model(s, id, &m, err);
    if (rc != 0) return rc;
    kn_model_info_free(&m);
    if (kn_store_begin(s, "activating a model", err) != 0) return -1;
    sqlite3_stmt *st = NULL;
    rc = kn_store_prepare(s, &st, "UPDATE models SET active = 0 WHERE active = 1 AND id <> ?1", "activating a model",
                          err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "model %lld: activating it", (long long)id);
        sqlite3_finalize(st);
    }
    if (rc == 0) rc = kn_store_prepare(s, &st, "UPDATE models SET active = 1 WHERE id = ?1", "activating a model", err);
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "model %lld: activating it", (long long)id);
        sqlite3_finalize(st);
    }
    if (rc == 0) rc = kn_store_commit(s, "activating a model", err);
    if (rc != 0) kn_store_rollback(s);
    return rc;
}
