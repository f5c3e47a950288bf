/* store.c - opening the workspace database, messages, topics, replies and annotations.
 * Schema and migrations: schema.c; file import: import.c; API tokens: tokens.c. */
#include "store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store_internal.h"
#include "text/language_id.h"
#include "text/language_tag.h"
#include "text/texts.h"
#include "text/utf8.h"

#define BUSY_TIMEOUT_MS 5000
#define MAX_SHORT_FIELD 1024 /* external_id, channel, language, names: bytes */

/* ---- shared helpers (store_internal.h) ---------------------------------------------------- */

int kn_store_sql_fail(kn_store *s, kn_error *err, const char *fmt, ...)
{
    char ctx[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    return kn_fail(err, "%s: %s", ctx, s && s->db ? sqlite3_errmsg(s->db) : "no database");
}

int kn_store_prepare(kn_store *s, sqlite3_stmt **st, const char *sql, const char *what, kn_error *err)
{
    *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        kn_store_sql_fail(s, err, "%s", what);
        sqlite3_finalize(*st);
        *st = NULL;
        return -1;
    }
    return 0;
}

static int exec_simple(kn_store *s, const char *sql, const char *what, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, sql, what, err) != 0) return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) kn_store_sql_fail(s, err, "%s", what);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int kn_store_begin(kn_store *s, const char *what, kn_error *err)
{
    char ctx[256];
    snprintf(ctx, sizeof ctx, "%s: starting a transaction", what);
    return exec_simple(s, "BEGIN IMMEDIATE", ctx, err);
}

int kn_store_commit(kn_store *s, const char *what, kn_error *err)
{
    char ctx[256];
    snprintf(ctx, sizeof ctx, "%s: committing", what);
    return exec_simple(s, "COMMIT", ctx, err);
}

void kn_store_rollback(kn_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int kn_store_bind_text(sqlite3_stmt *st, int i, const char *text)
{
    return text ? sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

int kn_store_column_text(sqlite3_stmt *st, int i, char **out)
{
    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return 0;
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return -1; /* not NULL, so this is out of memory */
    int len = sqlite3_column_bytes(st, i);
    *out = malloc((size_t)len + 1);
    if (!*out) return -1;
    memcpy(*out, t, (size_t)len);
    (*out)[len] = '\0';
    return 0;
}

int64_t kn_store_now(void) { return (int64_t)time(NULL); }

int kn_store_valid_status(const char *status)
{
    static const char *const STATUSES[] = {"new", "auto_answered", "queued", "answered"};
    for (size_t i = 0; i < sizeof STATUSES / sizeof STATUSES[0]; i++)
        if (strcmp(status, STATUSES[i]) == 0) return 1;
    return 0;
}

/* A short optional string field: valid UTF-8, at most MAX_SHORT_FIELD bytes. */
static int check_short(const char *name, const char *value, char *why, size_t cap)
{
    if (!value) return 0;
    size_t len = strlen(value);
    if (len > MAX_SHORT_FIELD) {
        snprintf(why, cap, "the %s is %zu bytes; the limit is %d", name, len, MAX_SHORT_FIELD);
        return -1;
    }
    size_t bad = kn_utf8_first_invalid(value, len);
    if (bad != len) {
        snprintf(why, cap, "invalid UTF-8 in the %s at byte %zu", name, bad + 1);
        return -1;
    }
    return 0;
}

int kn_store_check_message(const kn_message *m, size_t text_len, char *why, size_t cap)
{
    if (!m->text || text_len == 0) {
        snprintf(why, cap, "the text is empty");
        return -1;
    }
    if (text_len > KN_MAX_TEXT_BYTES) {
        snprintf(why, cap, "the text is %zu bytes; the limit is %u", text_len, KN_MAX_TEXT_BYTES);
        return -1;
    }
    size_t nul = strlen(m->text);
    if (nul != text_len) {
        snprintf(why, cap, "the text holds a NUL byte at byte %zu", nul + 1);
        return -1;
    }
    size_t bad = kn_utf8_first_invalid(m->text, text_len);
    if (bad != text_len) {
        snprintf(why, cap, "invalid UTF-8 in the text at byte %zu", bad + 1);
        return -1;
    }
    if (check_short("external_id", m->external_id, why, cap) != 0 || check_short("channel", m->channel, why, cap) != 0 ||
        check_short("language", m->language, why, cap) != 0)
        return -1;
    char tag[KN_LANGUAGE_TAG_MAX + 1], tag_why[64];
    if (m->language && *m->language && kn_language_tag_canonical(m->language, tag, tag_why, sizeof tag_why) != 0) {
        snprintf(why, cap, "the language \"%.40s\" %s (a tag such as \"fi\" or \"pt-BR\")", m->language, tag_why);
        return -1;
    }
    if (m->received_at < 0) {
        snprintf(why, cap, "received_at %lld is before 1970", (long long)m->received_at);
        return -1;
    }
    if (m->status && !kn_store_valid_status(m->status)) {
        snprintf(why, cap, "unknown status \"%.64s\" (new, auto_answered, queued or answered)", m->status);
        return -1;
    }
    return 0;
}

/* ---- opening --------------------------------------------------------------------------------- */

static int set_pragmas(kn_store *s, kn_error *err)
{
    char ctx[600];
    snprintf(ctx, sizeof ctx, "%s: enabling foreign keys", s->path);
    if (exec_simple(s, "PRAGMA foreign_keys = ON", ctx, err) != 0) return -1;
    sqlite3_stmt *st;
    snprintf(ctx, sizeof ctx, "%s: checking foreign keys", s->path);
    if (kn_store_prepare(s, &st, "PRAGMA foreign_keys", ctx, err) != 0) return -1;
    int on = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    sqlite3_finalize(st);
    if (!on) return kn_fail(err, "%s: this SQLite does not enforce foreign keys", s->path);
    return 0;
}

static int set_wal(kn_store *s, kn_error *err)
{
    char ctx[600];
    snprintf(ctx, sizeof ctx, "%s: switching to WAL mode", s->path);
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "PRAGMA journal_mode = WAL", ctx, err) != 0) return -1;
    int rc = sqlite3_step(st);
    char mode[32] = "";
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_ROW) kn_store_sql_fail(s, err, "%s", ctx);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return -1;
    if (strcmp(mode, "wal") != 0)
        return kn_fail(err, "%s: cannot use WAL mode (the journal mode stays \"%s\"; is it on a network file system?)",
                       s->path, mode);
    snprintf(ctx, sizeof ctx, "%s: setting synchronous = NORMAL", s->path);
    return exec_simple(s, "PRAGMA synchronous = NORMAL", ctx, err);
}

kn_store *kn_store_open(const char *path, int create, kn_error *err)
{
    if (!path || !*path) {
        kn_fail(err, "no workspace path given");
        return NULL;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT || !create) {
            if (errno == ENOENT) kn_fail(err, "no workspace at %s; run `kanava init`", path);
            else kn_fail(err, "%s: %s", path, strerror(errno));
            return NULL;
        }
    } else if (S_ISDIR(sb.st_mode)) {
        kn_fail(err, "%s is a directory, not a workspace database", path);
        return NULL;
    }
    kn_store *s = calloc(1, sizeof *s);
    if (!s) {
        kn_fail(err, "%s: out of memory", path);
        return NULL;
    }
    if ((size_t)snprintf(s->path, sizeof s->path, "%s", path) >= sizeof s->path) {
        kn_fail(err, "workspace path too long: %.100s...", path);
        free(s);
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        kn_store_sql_fail(s, err, "%s: cannot open the workspace", path);
        kn_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* The schema check comes before WAL so that a newer workspace is refused untouched. */
    if (set_pragmas(s, err) != 0 || kn_store_migrate(s, create, err) != 0 || set_wal(s, err) != 0) {
        kn_store_close(s);
        return NULL;
    }
    return s;
}

void kn_store_close(kn_store *s)
{
    if (!s) return;
    sqlite3_close_v2(s->db);
    free(s);
}

int kn_store_schema_version(kn_store *s) { return s ? s->version : -1; }

/* ---- messages ---------------------------------------------------------------------------------- */

void kn_message_free(kn_message *m)
{
    if (!m) return;
    free(m->external_id);
    free(m->channel);
    free(m->language);
    free(m->text);
    free(m->status);
    memset(m, 0, sizeof *m);
}

/* "message 3" or "message 3 (external_id \"abc\")" for error messages. */
static void message_label(const kn_message *m, size_t i, char *out, size_t cap)
{
    if (m->external_id && *m->external_id) snprintf(out, cap, "message %zu (external_id \"%.64s\")", i + 1, m->external_id);
    else snprintf(out, cap, "message %zu", i + 1);
}

int kn_store_add_messages(kn_store *s, const kn_message *msgs, size_t n, int64_t *ids, size_t *added, kn_error *err)
{
    if (added) *added = 0;
    if (n == 0) return 0;
    if (!msgs) return kn_fail(err, "adding messages: no messages given");
    char label[128], why[160];
    for (size_t i = 0; i < n; i++) {
        const kn_message *m = &msgs[i];
        if (kn_store_check_message(m, m->text ? strlen(m->text) : 0, why, sizeof why) != 0) {
            message_label(m, i, label, sizeof label);
            return kn_fail(err, "%s: %s; no message of the %zu was added", label, why, n);
        }
    }
    sqlite3_stmt *find = NULL, *insert = NULL;
    if (kn_store_prepare(s, &find, "SELECT id FROM messages WHERE external_id = ?1", "adding messages", err) != 0 ||
        kn_store_prepare(s, &insert,
                         "INSERT INTO messages (external_id, channel, language, text, received_at, status) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                         "adding messages", err) != 0) {
        sqlite3_finalize(find);
        return -1;
    }
    if (kn_store_begin(s, "adding messages", err) != 0) {
        sqlite3_finalize(find);
        sqlite3_finalize(insert);
        return -1;
    }
    int64_t now = kn_store_now();
    size_t n_added = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const kn_message *m = &msgs[i];
        const char *ext = m->external_id && *m->external_id ? m->external_id : NULL;
        int64_t id = -1;
        if (ext) {
            sqlite3_bind_text(find, 1, ext, -1, SQLITE_STATIC);
            int step = sqlite3_step(find);
            if (step == SQLITE_ROW) id = sqlite3_column_int64(find, 0);
            else if (step != SQLITE_DONE) {
                message_label(m, i, label, sizeof label);
                rc = kn_store_sql_fail(s, err, "%s: looking up the external_id", label);
            }
            sqlite3_reset(find);
        }
        if (rc == 0 && id < 0) {
            kn_store_bind_text(insert, 1, ext);
            kn_store_bind_text(insert, 2, m->channel);
            /* checked above: stored in canonical case, the form the router looks up */
            char tag[KN_LANGUAGE_TAG_MAX + 1], tag_why[64];
            int has_tag = m->language && *m->language && kn_language_tag_canonical(m->language, tag, tag_why, sizeof tag_why) == 0;
            /* A message without a language gets the guessed one (en, fi, sv; none when the text
             * is too short or unclear), so that its reply goes out in the customer's language. */
            const char *guess = m->language && *m->language ? NULL : kn_language_guess(m->text, strlen(m->text), NULL);
            kn_store_bind_text(insert, 3, has_tag ? tag : guess ? guess : m->language);
            sqlite3_bind_text(insert, 4, m->text, -1, SQLITE_STATIC);
            sqlite3_bind_int64(insert, 5, m->received_at ? m->received_at : now);
            sqlite3_bind_text(insert, 6, m->status ? m->status : "new", -1, SQLITE_STATIC);
            if (sqlite3_step(insert) != SQLITE_DONE) {
                message_label(m, i, label, sizeof label);
                rc = kn_store_sql_fail(s, err, "%s: adding it", label);
            } else {
                id = sqlite3_last_insert_rowid(s->db);
                n_added++;
            }
            sqlite3_reset(insert);
        }
        if (ids) ids[i] = id;
    }
    if (rc == 0) rc = kn_store_commit(s, "adding messages", err);
    if (rc != 0) kn_store_rollback(s);
    sqlite3_finalize(find);
    sqlite3_finalize(insert);
    if (rc == 0 && added) *added = n_added;
    return rc;
}

int kn_store_get_message(kn_store *s, int64_t id, kn_message *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "SELECT id, external_id, channel, language, text, received_at, status FROM messages "
                         "WHERE id = ?1",
                         "reading a message", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_DONE) {
        rc = 1;
    } else if (step != SQLITE_ROW) {
        rc = kn_store_sql_fail(s, err, "reading message %lld", (long long)id);
    } else {
        out->id = sqlite3_column_int64(st, 0);
        out->received_at = sqlite3_column_int64(st, 5);
        rc = kn_store_column_text(st, 1, &out->external_id) | kn_store_column_text(st, 2, &out->channel) |
             kn_store_column_text(st, 3, &out->language) | kn_store_column_text(st, 4, &out->text) |
             kn_store_column_text(st, 6, &out->status);
        if (rc != 0 || !out->text || !out->status) {
            kn_message_free(out);
            rc = kn_fail(err, "reading message %lld: out of memory", (long long)id);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int kn_store_set_message_status(kn_store *s, int64_t id, const char *status, kn_error *err)
{
    if (!status || !kn_store_valid_status(status))
        return kn_fail(err, "message %lld: unknown status \"%.64s\" (new, auto_answered, queued or answered)",
                       (long long)id, status ? status : "(null)");
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "UPDATE messages SET status = ?2 WHERE id = ?1", "setting a message's status", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "message %lld: setting the status", (long long)id);
    else if (sqlite3_changes(s->db) == 0) rc = kn_fail(err, "no message with id %lld", (long long)id);
    sqlite3_finalize(st);
    return rc;
}

/* ---- topics and replies ------------------------------------------------------------------------ */

void kn_topic_free(kn_topic *t)
{
    if (!t) return;
    free(t->name);
    free(t->description);
    memset(t, 0, sizeof *t);
}

static int check_name(const char *what, const char *name, kn_error *err)
{
    if (!name || !*name) return kn_fail(err, "%s: the name is empty", what);
    char why[160];
    if (check_short("name", name, why, sizeof why) != 0) return kn_fail(err, "%s: %s", what, why);
    return 0;
}

int64_t kn_store_put_topic(kn_store *s, const kn_topic *t, kn_error *err)
{
    if (!t) return kn_fail(err, "saving a topic: no topic given");
    if (check_name("saving a topic", t->name, err) != 0) return -1;
    if (!(t->threshold >= 0.0 && t->threshold <= 1.0))
        return kn_fail(err, "topic \"%s\": the threshold %g is outside [0, 1]", t->name, t->threshold);
    if (t->description) {
        size_t len = strlen(t->description), bad = kn_utf8_first_invalid(t->description, len);
        if (bad != len) return kn_fail(err, "topic \"%s\": invalid UTF-8 in the description at byte %zu", t->name, bad + 1);
        if (len > KN_MAX_TEXT_BYTES)
            return kn_fail(err, "topic \"%s\": the description is %zu bytes; the limit is %u", t->name, len,
                           KN_MAX_TEXT_BYTES);
    }
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "INSERT INTO topics (name, description, automatable, threshold) VALUES (?1, ?2, ?3, ?4) "
                         "ON CONFLICT (name) DO UPDATE SET description = excluded.description, "
                         "automatable = excluded.automatable, threshold = excluded.threshold RETURNING id",
                         "saving a topic", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
    kn_store_bind_text(st, 2, t->description);
    sqlite3_bind_int(st, 3, t->automatable ? 1 : 0);
    sqlite3_bind_double(st, 4, t->threshold);
    int64_t id = -1;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) id = sqlite3_column_int64(st, 0);
    if (step != SQLITE_DONE || id < 0) id = kn_store_sql_fail(s, err, "topic \"%s\": saving it", t->name);
    sqlite3_finalize(st);
    return id;
}

static int read_topic(sqlite3_stmt *st, kn_topic *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    out->automatable = sqlite3_column_int(st, 3);
    out->threshold = sqlite3_column_double(st, 4);
    if (kn_store_column_text(st, 1, &out->name) != 0 || kn_store_column_text(st, 2, &out->description) != 0 || !out->name) {
        kn_topic_free(out);
        return -1;
    }
    return 0;
}

int kn_store_get_topic(kn_store *s, const char *name, kn_topic *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name) return 1;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT id, name, description, automatable, threshold FROM topics WHERE name = ?1",
                         "reading a topic", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_DONE) rc = 1;
    else if (step != SQLITE_ROW) rc = kn_store_sql_fail(s, err, "topic \"%.200s\": reading it", name);
    else if (read_topic(st, out) != 0) rc = kn_fail(err, "topic \"%.200s\": out of memory", name);
    else rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int kn_store_list_topics(kn_store *s, kn_topic **out, size_t *n, kn_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT id, name, description, automatable, threshold FROM topics ORDER BY name",
                         "listing topics", err) != 0)
        return -1;
    kn_topic *list = NULL;
    size_t count = 0, cap = 0;
    int step, rc = 0;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t grown_cap = cap ? 2 * cap : 16;
            kn_topic *grown = realloc(list, grown_cap * sizeof *grown);
            if (!grown) {
                rc = kn_fail(err, "listing topics: out of memory");
                break;
            }
            list = grown;
            cap = grown_cap;
        }
        if (read_topic(st, &list[count]) != 0) rc = kn_fail(err, "listing topics: out of memory");
        else count++;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "listing topics");
    sqlite3_finalize(st);
    if (rc != 0) {
        for (size_t i = 0; i < count; i++) kn_topic_free(&list[i]);
        free(list);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

/* The id of topic name: 0, 1 when there is none, -1 on error. */
static int topic_id(kn_store *s, const char *name, int64_t *id, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT id FROM topics WHERE name = ?1", "looking up a topic", err) != 0) return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (step == SQLITE_DONE) {
        rc = 1;
    } else {
        rc = kn_store_sql_fail(s, err, "topic \"%.200s\": looking it up", name);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Deleting a topic deletes its replies; a topic with annotations is refused (see schema.c). */
int kn_store_delete_topic(kn_store *s, const char *name, kn_error *err)
{
    if (!name) return 1;
    if (kn_store_begin(s, "deleting a topic", err) != 0) return -1;
    int64_t id = 0;
    int rc = topic_id(s, name, &id, err);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && kn_store_prepare(s, &st, "SELECT count(*) FROM annotations WHERE topic_id = ?1", "deleting a topic",
                                    err) != 0)
        rc = -1;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = kn_store_sql_fail(s, err, "topic \"%.200s\": counting its annotations", name);
        } else {
            int64_t n = sqlite3_column_int64(st, 0);
            if (n > 0)
                rc = kn_fail(err,
                             "topic \"%.200s\" has %lld annotation%s; delete them or label those messages with "
                             "another topic before deleting the topic",
                             name, (long long)n, n == 1 ? "" : "s");
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == 0 && kn_store_prepare(s, &st, "DELETE FROM topics WHERE id = ?1", "deleting a topic", err) != 0) rc = -1;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "topic \"%.200s\": deleting it", name);
        sqlite3_finalize(st);
    }
    if (rc == 0) rc = kn_store_commit(s, "deleting a topic", err);
    if (rc != 0) kn_store_rollback(s);
    return rc;
}

int kn_store_put_reply(kn_store *s, const char *topic, const char *language, const char *text, kn_error *err)
{
    if (check_name("saving a reply", topic, err) != 0) return -1;
    if (!language || !*language) return kn_fail(err, "topic \"%s\": a reply needs a language", topic);
    char why[160];
    if (check_short("language", language, why, sizeof why) != 0) return kn_fail(err, "topic \"%s\": %s", topic, why);
    char tag[KN_LANGUAGE_TAG_MAX + 1];
    if (kn_language_tag_canonical(language, tag, why, sizeof why) != 0)
        return kn_fail(err, "topic \"%s\": the reply language \"%.40s\" %s (a tag such as \"fi\" or \"pt-BR\")", topic,
                       language, why);
    language = tag; /* stored in canonical case, the form the router looks up */
    kn_message m = {.text = (char *)text};
    if (kn_store_check_message(&m, text ? strlen(text) : 0, why, sizeof why) != 0)
        return kn_fail(err, "topic \"%s\", reply in \"%s\": %s", topic, language, why);
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "INSERT INTO replies (topic_id, language, text) SELECT id, ?2, ?3 FROM topics WHERE name = ?1 "
                         "ON CONFLICT (topic_id, language) DO UPDATE SET text = excluded.text",
                         "saving a reply", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, language, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "topic \"%s\", reply in \"%s\": saving it", topic, language);
    else if (sqlite3_changes(s->db) == 0) rc = kn_fail(err, "no topic named \"%s\" (saving its reply in \"%s\")", topic, language);
    sqlite3_finalize(st);
    return rc;
}

int kn_store_get_reply(kn_store *s, const char *topic, const char *language, char **text, kn_error *err)
{
    if (!topic || !language) return 1;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st,
                         "SELECT r.text FROM replies r JOIN topics t ON t.id = r.topic_id "
                         "WHERE t.name = ?1 AND r.language = ?2",
                         "reading a reply", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, language, -1, SQLITE_STATIC);
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_DONE) {
        rc = 1;
    } else if (step != SQLITE_ROW) {
        rc = kn_store_sql_fail(s, err, "topic \"%.200s\", reply in \"%.64s\": reading it", topic, language);
    } else {
        char *copy;
        if (kn_store_column_text(st, 0, &copy) != 0 || !copy) {
            free(copy);
            rc = kn_fail(err, "topic \"%.200s\", reply in \"%.64s\": out of memory", topic, language);
        } else {
            *text = copy;
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- annotations ------------------------------------------------------------------------------- */

int64_t kn_store_annotate(kn_store *s, int64_t message_id, const char *topic, const char *annotator, kn_error *err)
{
    if (check_name("annotating a message", topic, err) != 0) return -1;
    char why[160];
    if (check_short("annotator", annotator, why, sizeof why) != 0)
        return kn_fail(err, "annotating message %lld: %s", (long long)message_id, why);
    if (kn_store_begin(s, "annotating a message", err) != 0) return -1;
    int64_t tid = 0, id = -1;
    int rc = topic_id(s, topic, &tid, err);
    if (rc == 1) rc = kn_fail(err, "annotating message %lld: no topic named \"%s\"", (long long)message_id, topic);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && kn_store_prepare(s, &st, "SELECT 1 FROM messages WHERE id = ?1", "annotating a message", err) != 0) rc = -1;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, message_id);
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE) rc = kn_fail(err, "annotating with topic \"%s\": no message with id %lld", topic, (long long)message_id);
        else if (step != SQLITE_ROW) rc = kn_store_sql_fail(s, err, "annotating message %lld", (long long)message_id);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == 0 && kn_store_prepare(s, &st,
                                    "INSERT INTO annotations (message_id, topic_id, annotator, created_at) "
                                    "VALUES (?1, ?2, ?3, ?4)",
                                    "annotating a message", err) != 0)
        rc = -1;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, message_id);
        sqlite3_bind_int64(st, 2, tid);
        kn_store_bind_text(st, 3, annotator);
        sqlite3_bind_int64(st, 4, kn_store_now());
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = kn_store_sql_fail(s, err, "annotating message %lld with topic \"%s\"", (long long)message_id, topic);
        else id = sqlite3_last_insert_rowid(s->db);
        sqlite3_finalize(st);
    }
    if (rc == 0) rc = kn_store_commit(s, "annotating a message", err);
    if (rc != 0) {
        kn_store_rollback(s);
        return -1;
    }
    return id;
}
