/* schema.c - the workspace schema as an ordered list of migration steps.
 *
 * Step i takes the database from user_version i-1 to i; each step runs in its own
 * transaction (BEGIN IMMEDIATE, so two processes opening a new workspace at once do not both
 * run it: the version is read again inside the transaction). To change the schema, append a
 * step and raise KN_STORE_SCHEMA_VERSION in store.h; never edit a released step.
 *
 * Deleting a topic: its replies go with it (ON DELETE CASCADE); annotations refuse it (ON
 * DELETE RESTRICT: experts' labels are never dropped implicitly, kn_store_delete_topic says
 * how many there are); predictions and decisions keep their row with topic_id set to NULL. */
#include <stdio.h>
#include <string.h>

#include "store/store_internal.h"

typedef struct migration {
    int version;
    const char *sql;
} migration;

static const migration MIGRATIONS[] = {
    {1,
     "CREATE TABLE messages (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  external_id TEXT,\n"
     "  channel TEXT,\n"
     "  language TEXT,\n"
     "  text TEXT NOT NULL CHECK (length(text) > 0),\n"
     "  received_at INTEGER NOT NULL,\n"
     "  status TEXT NOT NULL DEFAULT 'new'\n"
     "    CHECK (status IN ('new', 'auto_answered', 'queued', 'answered'))\n"
     ");\n"
     "CREATE UNIQUE INDEX messages_external_id ON messages(external_id) WHERE external_id IS NOT NULL;\n"
     "CREATE INDEX messages_status ON messages(status, id);\n"
     "CREATE TABLE topics (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),\n"
     "  description TEXT,\n"
     "  automatable INTEGER NOT NULL DEFAULT 1 CHECK (automatable IN (0, 1)),\n"
     "  threshold REAL NOT NULL DEFAULT 0.9 CHECK (threshold >= 0 AND threshold <= 1)\n"
     ");\n"
     "CREATE TABLE replies (\n"
     "  topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,\n"
     "  language TEXT NOT NULL CHECK (length(language) > 0),\n"
     "  text TEXT NOT NULL,\n"
     "  PRIMARY KEY (topic_id, language)\n"
     ");\n"
     "CREATE TABLE annotations (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,\n"
     "  topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE RESTRICT,\n"
     "  annotator TEXT,\n"
     "  created_at INTEGER NOT NULL\n"
     ");\n"
     "CREATE INDEX annotations_message ON annotations(message_id);\n"
     "CREATE INDEX annotations_topic ON annotations(topic_id);\n"
     "CREATE TABLE models (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  bundle_path TEXT NOT NULL,\n"
     "  method TEXT NOT NULL,\n"
     "  metrics TEXT,\n"
     "  created_at INTEGER NOT NULL,\n"
     "  active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))\n"
     ");\n"
     "CREATE UNIQUE INDEX models_one_active ON models(active) WHERE active = 1;\n"
     "CREATE TABLE predictions (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,\n"
     "  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,\n"
     "  topic_id INTEGER REFERENCES topics(id) ON DELETE SET NULL,\n"
     "  probability REAL NOT NULL,\n"
     "  top TEXT,\n"
     "  created_at INTEGER NOT NULL\n"
     ");\n"
     "CREATE INDEX predictions_message ON predictions(message_id);\n"
     "CREATE INDEX predictions_model ON predictions(model_id);\n"
     "CREATE INDEX predictions_topic ON predictions(topic_id);\n"
     "CREATE TABLE decisions (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,\n"
     "  model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,\n"
     "  action TEXT NOT NULL CHECK (action IN ('auto_reply', 'human')),\n"
     "  topic_id INTEGER REFERENCES topics(id) ON DELETE SET NULL,\n"
     "  probability REAL,\n"
     "  threshold REAL,\n"
     "  margin REAL,\n"
     "  reason TEXT,\n"
     "  reply_language TEXT,\n"
     "  reply_text TEXT,\n"
     "  created_at INTEGER NOT NULL\n"
     ");\n"
     "CREATE INDEX decisions_message ON decisions(message_id);\n"
     "CREATE INDEX decisions_model ON decisions(model_id);\n"
     "CREATE INDEX decisions_topic ON decisions(topic_id);\n"
     "CREATE TABLE tokens (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  name TEXT NOT NULL CHECK (length(name) > 0),\n"
     "  role TEXT NOT NULL CHECK (role IN ('admin', 'annotator', 'service')),\n"
     "  hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),\n"
     "  created_at INTEGER NOT NULL,\n"
     "  revoked_at INTEGER\n"
     ");\n"
     "CREATE UNIQUE INDEX tokens_active_name ON tokens(name) WHERE revoked_at IS NULL;\n"},
    /* The web UI (issue 7): the 2-D map of a model's messages (UMAP + k-means clusters) and
     * the held-out evaluation of a model trained from the annotations. Evaluations have their
     * own table because the server rewrites models.metrics on every activation. A map point
     * with model_id NULL belongs to the base map, drawn with the base encoder before any
     * model exists; the unique index keys it as model 0 (no models row has id 0). */
    {2,
     "CREATE TABLE map_points (\n"
     "  model_id INTEGER REFERENCES models(id) ON DELETE CASCADE,\n"
     "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,\n"
     "  x REAL NOT NULL,\n"
     "  y REAL NOT NULL,\n"
     "  cluster INTEGER NOT NULL\n"
     ");\n"
     "CREATE UNIQUE INDEX map_points_key ON map_points(coalesce(model_id, 0), message_id);\n"
     "CREATE INDEX map_points_message ON map_points(message_id);\n"
     "CREATE TABLE model_evaluations (\n"
     "  model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,\n"
     "  report TEXT NOT NULL\n"
     ");\n"},
};

#define N_MIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

_Static_assert(N_MIGRATIONS == KN_STORE_SCHEMA_VERSION, "one migration step per schema version");

static int read_version(kn_store *s, int *version, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "PRAGMA user_version", "reading the schema version", err) != 0) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return kn_store_sql_fail(s, err, "%s: reading the schema version", s->path);
    return 0;
}

static int refuse_newer(kn_store *s, int version, kn_error *err)
{
    return kn_fail(err,
                   "%s: the workspace has schema version %d, newer than the schema version %d this "
                   "Kanava knows; use a newer Kanava",
                   s->path, version, KN_STORE_SCHEMA_VERSION);
}

/* Number of tables, indexes, ... in the database (0 for a new one). */
static int count_objects(kn_store *s, int *n, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT count(*) FROM sqlite_schema", "reading the schema", err) != 0) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return kn_store_sql_fail(s, err, "%s: reading the schema", s->path);
    return 0;
}

int kn_store_migrate(kn_store *s, int create, kn_error *err)
{
    int version = 0;
    if (read_version(s, &version, err) != 0) return -1;
    if (version > KN_STORE_SCHEMA_VERSION) return refuse_newer(s, version, err);
    if (version < 0) return kn_fail(err, "%s: invalid schema version %d", s->path, version);
    if (version == 0 && !create) return kn_fail(err, "%s is empty, not a workspace; run `kanava init`", s->path);
    for (size_t i = 0; i < N_MIGRATIONS; i++) {
        const migration *m = &MIGRATIONS[i];
        if (m->version <= version) continue;
        char what[64];
        snprintf(what, sizeof what, "migrating the schema to version %d", m->version);
        if (kn_store_begin(s, what, err) != 0) return -1;
        int now = 0;
        /* Another process may have migrated between our read and our lock. */
        if (read_version(s, &now, err) != 0) goto fail;
        if (now > KN_STORE_SCHEMA_VERSION) {
            refuse_newer(s, now, err);
            goto fail;
        }
        if (now >= m->version) {
            kn_store_rollback(s);
            version = now;
            continue;
        }
        int objects = 0;
        if (now == 0 && count_objects(s, &objects, err) != 0) goto fail;
        if (objects > 0) {
            kn_fail(err, "%s is an SQLite database but not a Kanava workspace (schema version 0, %d objects)", s->path,
                    objects);
            goto fail;
        }
        if (now != m->version - 1) {
            kn_fail(err, "%s: schema version %d cannot be migrated to %d", s->path, now, m->version);
            goto fail;
        }
        if (sqlite3_exec(s->db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
            kn_store_sql_fail(s, err, "%s: %s", s->path, what);
            goto fail;
        }
        /* PRAGMA takes no parameters; the number is this table's constant, not data. */
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
        if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            kn_store_sql_fail(s, err, "%s: %s", s->path, what);
            goto fail;
        }
        if (kn_store_commit(s, what, err) != 0) goto fail;
        version = m->version;
        continue;
    fail:
        kn_store_rollback(s);
        return -1;
    }
    s->version = version;
    return 0;
}
