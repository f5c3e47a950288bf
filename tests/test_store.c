/* test_store.c - the workspace store (src/store): opening, creating and migrating the
 * database (WAL, schema version, a newer schema refused), messages (round trip with NULL
 * fields, idempotency by external_id, all-or-none batches), CSV and JSONL import (invalid
 * rows reported with their lines and skipped, re-import adds nothing, fatal errors keep the
 * committed batches, constant memory on a large file), topics, replies, annotations and API
 * tokens. Every database lives in one mkdtemp directory that the group teardown removes;
 * some checks read the database file directly with SQLite. */
#include "test_util.h"
#include "text/language_id.h"

#include <math.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifndef __SANITIZE_ADDRESS__
#include <malloc.h>
#endif

#include "store/store.h"
#include "util/fs.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kanava-test-store.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return kn_rm_rf(g_dir) == 0 ? 0 : -1;
}

static void path_in_dir(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

/* A new workspace g_dir/name (which must not exist yet). */
static kn_store *new_store(const char *name, char *path, size_t cap)
{
    path_in_dir(path, cap, name);
    kn_error err = {{0}};
    kn_store *s = kn_store_open(path, 1, &err);
    if (!s) fail_msg("%s: %s", path, err.msg);
    return s;
}

static void write_file(const char *name, const char *data, char *path, size_t cap)
{
    path_in_dir(path, cap, name);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s", path);
    size_t len = strlen(data);
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) fail_msg("cannot write %s", path);
}

/* ---- reading the database file directly ---------------------------------------------------- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) fail_msg("sqlite3_open %s", path);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The integer result of sql (one optional text parameter) on the database at path. */
static long long raw_int(const char *path, const char *sql, const char *param)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (param) sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row", sql);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The text result of sql into out (cap bytes); "" when the row or value is missing. */
static void raw_text(const char *path, const char *sql, const char *param, char *out, size_t cap)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (param) sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static long long count_messages(const char *path) { return raw_int(path, "SELECT count(*) FROM messages", NULL); }

/* The stored message with this external_id (its id -1 when there is none). */
static kn_message message_by_external_id(kn_store *s, const char *db, const char *ext)
{
    kn_message m = {0};
    m.id = -1;
    long long id = raw_int(db, "SELECT coalesce((SELECT id FROM messages WHERE external_id = ?1), -1)", ext);
    if (id < 0) return m;
    kn_error err;
    assert_int_equal(kn_store_get_message(s, id, &m, &err), 0);
    return m;
}

/* ---- opening --------------------------------------------------------------------------------- */

static void test_open_create_reopen(void **state)
{
    (void)state;
    char path[512];
    path_in_dir(path, sizeof path, "reopen.db");
    kn_error err = {{0}};
    /* Missing file without create: an error naming the path and what to do. */
    assert_null(kn_store_open(path, 0, &err));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "no workspace at"));
    assert_non_null(strstr(err.msg, "kanava init"));
    assert_int_equal(access(path, F_OK), -1); /* and nothing was created */

    kn_store *s = kn_store_open(path, 1, &err);
    assert_non_null(s);
    assert_int_equal(kn_store_schema_version(s), KN_STORE_SCHEMA_VERSION);
    kn_message m = {.external_id = "keep-1", .text = "Saako tilauksen perua?", .language = "fi", .received_at = 1700000000};
    int64_t id = -1;
    size_t added = 0;
    assert_int_equal(kn_store_add_messages(s, &m, 1, &id, &added, &err), 0);
    assert_int_equal(added, 1);
    kn_topic t = {.name = "billing", .description = "Invoices", .automatable = 1, .threshold = 0.8};
    assert_true(kn_store_put_topic(s, &t, &err) > 0);
    kn_store_close(s);

    /* Reopen without create: the data is there, nothing is migrated again. */
    s = kn_store_open(path, 0, &err);
    assert_non_null(s);
    assert_int_equal(kn_store_schema_version(s), KN_STORE_SCHEMA_VERSION);
    kn_message got;
    assert_int_equal(kn_store_get_message(s, id, &got, &err), 0);
    assert_string_equal(got.text, "Saako tilauksen perua?");
    kn_message_free(&got);
    kn_topic gt;
    assert_int_equal(kn_store_get_topic(s, "billing", &gt, &err), 0);
    assert_string_equal(gt.description, "Invoices");
    kn_topic_free(&gt);
    kn_store_close(s);
    /* Reopen with create: also keeps the data. */
    s = kn_store_open(path, 1, &err);
    assert_non_null(s);
    assert_int_equal(kn_store_get_message(s, id, &got, &err), 0);
    kn_message_free(&got);
    kn_store_close(s);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM messages", NULL), 1);
}

static void test_schema_version_and_wal(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("wal.db", path, sizeof path);
    assert_int_equal(kn_store_schema_version(s), KN_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), KN_STORE_SCHEMA_VERSION);
    char mode[32];
    raw_text(path, "PRAGMA journal_mode", NULL, mode, sizeof mode);
    assert_string_equal(mode, "wal");
    /* Every table of the schema exists. */
    static const char *const TABLES[] = {"messages", "topics", "replies", "annotations", "models", "predictions",
                                         "decisions", "tokens"};
    for (size_t i = 0; i < LEN(TABLES); i++)
        assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1", TABLES[i]), 1);
    kn_store_close(s);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("newer.db", path, sizeof path);
    kn_store_close(s);
    int newer = KN_STORE_SCHEMA_VERSION + 41;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", newer);
    raw_exec(path, sql);
    kn_error err = {{0}};
    assert_null(kn_store_open(path, 0, &err));
    char want_db[64], want_ours[64];
    snprintf(want_db, sizeof want_db, "schema version %d,", newer);
    snprintf(want_ours, sizeof want_ours, "schema version %d ", KN_STORE_SCHEMA_VERSION);
    assert_non_null(strstr(err.msg, want_db));
    assert_non_null(strstr(err.msg, want_ours));
    assert_non_null(strstr(err.msg, path));
    assert_null(kn_store_open(path, 1, &err)); /* create does not help */
    assert_non_null(strstr(err.msg, want_db));
    assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), newer); /* untouched */

    /* An SQLite database of something else, and an empty file without create. */
    char other[512];
    path_in_dir(other, sizeof other, "other.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(kn_store_open(other, 1, &err));
    assert_non_null(strstr(err.msg, "not a Kanava workspace"));
    char empty[512];
    write_file("empty.db", "", empty, sizeof empty);
    assert_null(kn_store_open(empty, 0, &err));
    assert_non_null(strstr(err.msg, "kanava init"));
    /* A file that is not a database at all: SQLite's message, with the path. */
    char junk[512];
    write_file("junk.db", "this is not a database, just some text that is long enough to have a header.......", junk,
               sizeof junk);
    assert_null(kn_store_open(junk, 0, &err));
    assert_non_null(strstr(err.msg, junk));
    assert_non_null(strstr(err.msg, "not a database"));
}

/* ---- messages -------------------------------------------------------------------------------------- */

static void test_message_round_trip(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("messages.db", path, sizeof path);
    kn_error err;
    kn_message in[2] = {
        {.text = "Minimal message"}, /* every optional field NULL, received_at 0 */
        {.external_id = "ext-9", .channel = "email", .language = "sv", .text = "Hej, var är mitt paket? 📦",
         .received_at = 1234567890, .status = "queued"},
    };
    int64_t ids[2] = {-1, -1};
    size_t added = 0;
    int64_t before = (int64_t)time(NULL);
    assert_int_equal(kn_store_add_messages(s, in, 2, ids, &added, &err), 0);
    int64_t after = (int64_t)time(NULL);
    assert_int_equal(added, 2);
    /* A language is stored in canonical case; a malformed one is refused and nothing stored. */
    kn_message cased = {.text = "Olá", .language = "pt-br"}, bad = {.text = "x", .language = "fi--FI"};
    int64_t cased_id = -1, bad_id = -1;
    assert_int_equal(kn_store_add_messages(s, &cased, 1, &cased_id, NULL, &err), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM messages WHERE language = 'pt-BR'", NULL), 1);
    assert_int_equal(kn_store_add_messages(s, &bad, 1, &bad_id, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "empty subtag"));
    assert_int_equal(count_messages(path), 3);
    raw_exec(path, "DELETE FROM messages WHERE language = 'pt-BR'");
    assert_true(ids[0] > 0 && ids[1] > 0 && ids[0] != ids[1]);

    kn_message m;
    assert_int_equal(kn_store_get_message(s, ids[0], &m, &err), 0);
    assert_int_equal(m.id, ids[0]);
    assert_null(m.external_id);
    assert_null(m.channel);
    /* no language given: the guess (text/language_id.h, tested on real data in test_language_id) */
    const char *guess = kn_language_guess("Minimal message", 15, NULL);
    if (guess) assert_string_equal(m.language, guess);
    else assert_null(m.language);
    assert_string_equal(m.text, "Minimal message");
    assert_true(m.received_at >= before && m.received_at <= after); /* defaults to now */
    assert_string_equal(m.status, "new");                           /* defaults to new */
    kn_message_free(&m);
    assert_null(m.text); /* freed and zeroed */

    assert_int_equal(kn_store_get_message(s, ids[1], &m, &err), 0);
    assert_string_equal(m.external_id, "ext-9");
    assert_string_equal(m.channel, "email");
    assert_string_equal(m.language, "sv");
    assert_string_equal(m.text, in[1].text);
    assert_int_equal(m.received_at, 1234567890);
    assert_string_equal(m.status, "queued");
    kn_message_free(&m);

    assert_int_equal(kn_store_get_message(s, 999999, &m, &err), 1);
    assert_null(m.text);

    assert_int_equal(kn_store_set_message_status(s, ids[0], "answered", &err), 0);
    assert_int_equal(kn_store_get_message(s, ids[0], &m, &err), 0);
    assert_string_equal(m.status, "answered");
    kn_message_free(&m);
    assert_int_equal(kn_store_set_message_status(s, ids[0], "done", &err), -1);
    assert_non_null(strstr(err.msg, "\"done\""));
    assert_int_equal(kn_store_set_message_status(s, 999999, "queued", &err), -1);
    assert_non_null(strstr(err.msg, "999999"));

    /* Zeroed structs are fine to free. */
    kn_message zm = {0};
    kn_message_free(&zm);
    kn_message_free(NULL);
    kn_topic zt = {0};
    kn_topic_free(&zt);
    kn_topic_free(NULL);
    kn_store_close(s);
}

static void test_idempotent_by_external_id(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("idempotent.db", path, sizeof path);
    kn_error err;
    kn_message in[3] = {{.external_id = "x1", .text = "one"}, {.external_id = "x2", .text = "two"}, {.text = "no id"}};
    int64_t first[3], second[3];
    size_t added = 99;
    assert_int_equal(kn_store_add_messages(s, in, 3, first, &added, &err), 0);
    assert_int_equal(added, 3);
    assert_int_equal(kn_store_add_messages(s, in, 2, second, &added, &err), 0);
    assert_int_equal(added, 0);
    assert_int_equal(second[0], first[0]);
    assert_int_equal(second[1], first[1]);
    assert_int_equal(count_messages(path), 3);
    /* A new one among old ones; the same external id twice in one batch is added once. */
    kn_message mixed[3] = {{.external_id = "x2", .text = "two again"}, {.external_id = "x3", .text = "three"},
                           {.external_id = "x3", .text = "three again"}};
    int64_t ids[3];
    assert_int_equal(kn_store_add_messages(s, mixed, 3, ids, &added, &err), 0);
    assert_int_equal(added, 1);
    assert_int_equal(ids[0], first[1]);
    assert_int_equal(ids[1], ids[2]);
    assert_int_equal(count_messages(path), 4);
    kn_message m;
    assert_int_equal(kn_store_get_message(s, first[1], &m, &err), 0);
    assert_string_equal(m.text, "two"); /* not overwritten */
    kn_message_free(&m);
    /* ids may be NULL. */
    assert_int_equal(kn_store_add_messages(s, in, 1, NULL, &added, &err), 0);
    assert_int_equal(added, 0);
    kn_store_close(s);
}

static void test_batch_all_or_none(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("allornone.db", path, sizeof path);
    kn_error err = {{0}};
    size_t added = 99;
    kn_message bad_utf8[3] = {{.external_id = "ok-1", .text = "fine"},
                              {.external_id = "bad-2", .text = "broken \xc3\x28 here"},
                              {.external_id = "ok-3", .text = "fine too"}};
    assert_int_equal(kn_store_add_messages(s, bad_utf8, 3, NULL, &added, &err), -1);
    assert_non_null(strstr(err.msg, "message 2"));
    assert_non_null(strstr(err.msg, "bad-2"));
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_int_equal(added, 0);
    assert_int_equal(count_messages(path), 0);
    /* Nothing is pending either: the valid ones of that batch are new to this connection. */
    assert_int_equal(kn_store_add_messages(s, bad_utf8, 1, NULL, &added, &err), 0);
    assert_int_equal(added, 1);
    raw_exec(path, "DELETE FROM messages");

    kn_message empty[2] = {{.text = "fine"}, {.text = ""}};
    assert_int_equal(kn_store_add_messages(s, empty, 2, NULL, &added, &err), -1);
    assert_non_null(strstr(err.msg, "message 2: the text is empty"));
    kn_message null_text[2] = {{.text = "fine"}, {.text = NULL}};
    assert_int_equal(kn_store_add_messages(s, null_text, 2, NULL, &added, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));

    char *big = malloc(KN_MAX_TEXT_BYTES + 2);
    assert_non_null(big);
    memset(big, 'a', KN_MAX_TEXT_BYTES + 1);
    big[KN_MAX_TEXT_BYTES + 1] = '\0';
    kn_message too_long[2] = {{.text = "fine"}, {.text = big}};
    assert_int_equal(kn_store_add_messages(s, too_long, 2, NULL, &added, &err), -1);
    assert_non_null(strstr(err.msg, "limit"));
    big[KN_MAX_TEXT_BYTES] = '\0'; /* exactly the limit is fine */
    too_long[1].text = big;
    assert_int_equal(kn_store_add_messages(s, &too_long[1], 1, NULL, &added, &err), 0);
    assert_int_equal(added, 1);
    free(big);

    kn_message bad_status[1] = {{.text = "fine", .status = "closed"}};
    assert_int_equal(kn_store_add_messages(s, bad_status, 1, NULL, &added, &err), -1);
    assert_non_null(strstr(err.msg, "closed"));
    assert_int_equal(count_messages(path), 1);
    kn_store_close(s);
}

/* ---- import ------------------------------------------------------------------------------------------ */

typedef struct import_run {
    kn_import_stats stats;
    char *report;
    size_t report_len;
    int rc;
    kn_error err;
} import_run;

static import_run run_import(kn_store *s, const char *path, size_t batch)
{
    import_run r;
    memset(&r, 0, sizeof r);
    FILE *rep = open_memstream(&r.report, &r.report_len);
    assert_non_null(rep);
    r.rc = kn_store_import(s, path, batch, rep, &r.stats, NULL, NULL, &r.err);
    fclose(rep);
    return r;
}

static void assert_reported(const import_run *r, const char *file, int line, const char *what)
{
    char want[1024];
    snprintf(want, sizeof want, "%s:%d: %s\n", file, line, what);
    if (!strstr(r->report, want)) fail_msg("report lacks \"%s\"; it is:\n%s", want, r->report);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_import_csv(void **state)
{
    (void)state;
    char db[512], csv[512];
    kn_store *s = new_store("import_csv.db", db, sizeof db);
    write_file("messages.csv",
               "external_id,channel,language,received_at,text\n"          /* 1 */
               "a1,email,fi,1700000000,Hei maailma\n"                      /* 2 */
               "a2,email,fi,,broken \xff text\n"                           /* 3: bad UTF-8 */
               "a3,chat,en,,\n"                                            /* 4: empty text */
               "a4,chat,en\n"                                              /* 5: 3 fields */
               "a5,chat,,2024-02-29T12:00:00Z,\"multi\n"                   /* 6 */
               "line, with \"\"quotes\"\"\"\n"                             /* 7 */
               "a6,chat,en,2023-02-29T00:00:00Z,no such day\n"             /* 8: bad date */
               ",web,,,no external id\n"                                   /* 9 */
               "a1,email,fi,1700000000,Hei maailma\n"                      /* 10: duplicate */
               "a7,web,sv,2024-01-01T02:00:00+02:00,Hej\r\n"               /* 11 */
               "a8,web,sv,yesterday,Hej igen\n"                            /* 12: bad date */
               "\n"                                                        /* 13: blank */
               "a9,web,en,1,\"\"\n",                                       /* 14: empty (quoted) */
               csv, sizeof csv);
    import_run r = run_import(s, csv, 2);
    if (r.rc != 0) fail_msg("%s", r.err.msg);
    assert_int_equal(r.stats.rows, 11);
    assert_int_equal(r.stats.invalid, 6);
    assert_int_equal(r.stats.added, 4);
    assert_int_equal(r.stats.duplicates, 1);
    assert_reported(&r, csv, 3, "invalid UTF-8 in the text at byte 8");
    assert_reported(&r, csv, 4, "the text is empty");
    assert_reported(&r, csv, 5, "record has 3 fields, but the first record (line 1) has 5");
    assert_reported(&r, csv, 8, "received_at \"2023-02-29T00:00:00Z\" is not a valid date and time");
    assert_reported(&r, csv, 12, "received_at \"yesterday\" is neither unix seconds or 'YYYY-MM-DDTHH:MM:SSZ'");
    assert_reported(&r, csv, 14, "the text is empty");
    assert_int_equal(count_lines(r.report), 6);
    free(r.report);
    assert_int_equal(count_messages(db), 4);

    kn_message m = message_by_external_id(s, db, "a1");
    assert_string_equal(m.text, "Hei maailma");
    assert_string_equal(m.channel, "email");
    assert_string_equal(m.language, "fi");
    assert_int_equal(m.received_at, 1700000000);
    assert_string_equal(m.status, "new");
    kn_message_free(&m);
    m = message_by_external_id(s, db, "a5");
    assert_string_equal(m.text, "multi\nline, with \"quotes\"");
    /* an empty field is no language: the guess fills it, or it stays NULL */
    const char *guess = kn_language_guess(m.text, strlen(m.text), NULL);
    if (guess) assert_string_equal(m.language, guess);
    else assert_null(m.language);
    assert_int_equal(m.received_at, 1709208000);
    kn_message_free(&m);
    m = message_by_external_id(s, db, "a7");
    assert_string_equal(m.text, "Hej");
    assert_int_equal(m.received_at, 1704067200);
    kn_message_free(&m);
    for (const char *const *bad = (const char *const[]){"a2", "a3", "a4", "a6", "a8", "a9", NULL}; *bad; bad++) {
        m = message_by_external_id(s, db, *bad);
        assert_int_equal(m.id, -1);
    }
    assert_int_equal(raw_int(db, "SELECT count(*) FROM messages WHERE external_id IS NULL AND text = 'no external id'", NULL), 1);

    /* Re-import: nothing new (the row without an external id is not idempotent: it is
     * added again, by design). */
    r = run_import(s, csv, 1000);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.added, 1);
    assert_int_equal(r.stats.duplicates, 4);
    assert_int_equal(r.stats.invalid, 6);
    free(r.report);
    assert_int_equal(count_messages(db), 5);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM messages WHERE external_id IS NOT NULL", NULL), 3);

    /* report may be NULL. */
    kn_import_stats st;
    kn_error err;
    assert_int_equal(kn_store_import(s, csv, 3, NULL, &st, NULL, NULL, &err), 0);
    assert_int_equal(st.invalid, 6);
    kn_store_close(s);
}

static void test_import_jsonl(void **state)
{
    (void)state;
    char db[512], jsonl[512];
    kn_store *s = new_store("import_jsonl.db", db, sizeof db);
    write_file("messages.jsonl",
               "{\"external_id\": \"j1\", \"text\": \"first\", \"channel\": \"chat\", \"language\": \"en\", "
               "\"received_at\": 1700000001}\n"                                                          /* 1 */
               "{\"external_id\": 42, \"text\": \"numeric id\", \"received_at\": \"2000-03-01T23:59:59.123Z\"}\n" /* 2 */
               "{\"external_id\": \"j3\", \"text\": \"broken\"\n"                                         /* 3 */
               "\n"                                                                                       /* 4 */
               "[1, 2, 3]\n"                                                                              /* 5 */
               "{\"external_id\": \"j6\", \"text\": 7}\n"                                                 /* 6 */
               "{\"external_id\": \"j7\", \"text\": \"bad \xff\"}\n"                                      /* 7 */
               "{\"external_id\": \"j8\", \"text\": \"tz\", \"received_at\": \"2100-12-31T05:30:00+05:30\"}\r\n" /* 8 */
               "{\"external_id\": \"j9\", \"text\": \"no zone\", \"received_at\": \"2024-01-01T00:00:00\"}\n" /* 9 */
               "{\"external_id\": \"j10\", \"text\": \"\"}\n"                                             /* 10 */
               "{\"external_id\": \"j11\", \"channel\": 5, \"text\": \"x\"}\n"                            /* 11 */
               "{\"text\": \"no id, \\u00e4\", \"received_at\": \"1700000000\", \"external_id\": null}\n" /* 12 */
               "{\"external_id\": \"j13\", \"text\": \"nul \\u0000\"}\n"                                  /* 13 */
               "{\"external_id\": \"j14\"}",                                                              /* 14 */
               jsonl, sizeof jsonl);
    import_run r = run_import(s, jsonl, 2);
    if (r.rc != 0) fail_msg("%s", r.err.msg);
    assert_int_equal(r.stats.rows, 13);
    assert_int_equal(r.stats.added, 4);
    assert_int_equal(r.stats.invalid, 9);
    assert_int_equal(r.stats.duplicates, 0);
    char *p = strstr(r.report, ":3: malformed JSON: ");
    assert_non_null(p);
    assert_reported(&r, jsonl, 5, "expected a JSON object, one message per line");
    assert_reported(&r, jsonl, 6, "\"text\" must be a string");
    assert_reported(&r, jsonl, 7, "invalid UTF-8 at byte 36 of the line");
    assert_reported(&r, jsonl, 9, "received_at \"2024-01-01T00:00:00\" has no time zone (end it with Z or +HH:MM)");
    assert_reported(&r, jsonl, 10, "the text is empty");
    assert_reported(&r, jsonl, 11, "\"channel\" must be a string");
    assert_non_null(strstr(r.report, ":13: malformed JSON: "));
    assert_reported(&r, jsonl, 14, "no \"text\"");
    assert_int_equal(count_lines(r.report), 9);
    free(r.report);

    kn_message m = message_by_external_id(s, db, "j1");
    assert_string_equal(m.text, "first");
    assert_string_equal(m.channel, "chat");
    assert_string_equal(m.language, "en");
    assert_int_equal(m.received_at, 1700000001);
    kn_message_free(&m);
    m = message_by_external_id(s, db, "42");
    assert_string_equal(m.text, "numeric id");
    assert_int_equal(m.received_at, 951955199);
    kn_message_free(&m);
    m = message_by_external_id(s, db, "j8");
    assert_int_equal(m.received_at, 4133894400LL);
    kn_message_free(&m);
    assert_int_equal(raw_int(db, "SELECT received_at FROM messages WHERE text = 'no id, ' || char(228)", NULL), 1700000000);

    /* Re-import: the three with external ids are duplicates. */
    r = run_import(s, jsonl, 1000);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.stats.duplicates, 3);
    assert_int_equal(r.stats.added, 1);
    free(r.report);
    assert_int_equal(count_messages(db), 5);
    kn_store_close(s);
}

static void test_import_fatal(void **state)
{
    (void)state;
    char db[512], path[512];
    kn_store *s = new_store("import_fatal.db", db, sizeof db);
    kn_error err = {{0}};
    kn_import_stats st;
    path_in_dir(path, sizeof path, "missing.csv");
    assert_int_equal(kn_store_import(s, path, 10, NULL, &st, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, path));
    path_in_dir(path, sizeof path, "missing.jsonl");
    assert_int_equal(kn_store_import(s, path, 10, NULL, &st, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, path));

    write_file("notext.csv", "id,body\n1,hello\n", path, sizeof path);
    assert_int_equal(kn_store_import(s, path, 10, NULL, &st, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, ":1: the header has no `text` column"));
    write_file("empty.csv", "", path, sizeof path);
    assert_int_equal(kn_store_import(s, path, 10, NULL, &st, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));

    /* An unclosed quote on line 7 after five good rows with batches of 2: the two committed
     * batches stay, the unfinished one is not added. */
    write_file("unclosed.csv", "external_id,text\nu1,a\nu2,b\nu3,c\nu4,d\nu5,e\nu6,\"never closed\nu7,f\n", path,
               sizeof path);
    assert_int_equal(kn_store_import(s, path, 2, NULL, &st, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, ":7: quoted field is never closed (the rows up to line 5 were imported: 4 added)"));
    assert_int_equal(st.added, 4);
    assert_int_equal(count_messages(db), 4);

    /* A JSON array in a .json file: not one object per line. */
    write_file("array.json", "\n[\n  {\"text\": \"a\"}\n]\n", path, sizeof path);
    assert_int_equal(kn_store_import(s, path, 2, NULL, &st, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, ":2: a JSON array"));
    assert_int_equal(count_messages(db), 4);
    kn_store_close(s);
}

/* The large import: progress is called once per batch; memory does not grow with the file. */
typedef struct mem_probe {
    size_t calls, last_done, bad_steps, batch;
    size_t heap_min, heap_max; /* bytes in use (glibc malloc) from the 10th batch on */
    long rss_max;              /* resident bytes, the largest seen between batches */
} mem_probe;

/* The resident set size now, in bytes (from /proc/self/statm). */
static long rss_now(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void probe_progress(void *ctx, size_t done, size_t total)
{
    mem_probe *p = ctx;
    p->calls++;
    if (total != 0 || done != p->last_done + p->batch) p->bad_steps++;
    p->last_done = done;
    long rss = rss_now();
    if (rss > p->rss_max) p->rss_max = rss;
#ifndef __SANITIZE_ADDRESS__
    if (p->calls >= 10) {
        struct mallinfo2 mi = mallinfo2();
        size_t used = mi.uordblks + mi.hblkhd;
        if (p->heap_min == 0 || used < p->heap_min) p->heap_min = used;
        if (used > p->heap_max) p->heap_max = used;
    }
#endif
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_import_large(void **state)
{
    (void)state;
#ifdef __SANITIZE_ADDRESS__
    const size_t rows = 20000;
#else
    const size_t rows = 100000;
#endif
    const size_t batch = 1000;
    char db[512], csv[512];
    kn_store *s = new_store("large.db", db, sizeof db);
    path_in_dir(csv, sizeof csv, "large.csv");
    FILE *f = fopen(csv, "wb");
    assert_non_null(f);
    fprintf(f, "external_id,channel,language,received_at,text\n");
    for (size_t i = 0; i < rows; i++)
        fprintf(f, "m%zu,web,%s,%zu,\"Viesti %zu: tilaukseni ei ole saapunut, voisitteko tarkistaa missä se on? "
                   "Order %zu has not arrived yet and I would like to know where it is, thanks. Hälsningar, kund %zu\"\n",
                i, i % 2 ? "fi" : "en", 1700000000 + i, i, i * 7919 % 100003, i);
    long file_bytes = ftell(f);
    assert_int_equal(fclose(f), 0);

    mem_probe probe = {.batch = batch};
    long rss_before = max_rss_kib(), rss_start = rss_now();
    double t0 = (double)clock() / CLOCKS_PER_SEC;
    kn_import_stats st;
    kn_error err = {{0}};
    int rc = kn_store_import(s, csv, batch, NULL, &st, probe_progress, &probe, &err);
    double secs = (double)clock() / CLOCKS_PER_SEC - t0;
    long rss_growth_kib = max_rss_kib() - rss_before;
    if (rc != 0) fail_msg("%s", err.msg);
    long rss_growth = probe.rss_max - rss_start;
    print_message("imported %zu rows (%ld bytes) in %.2f s CPU; RSS grew by %ld KiB (peak RSS by %ld KiB)\n", rows,
                  file_bytes, secs, rss_growth / 1024, rss_growth_kib);
    assert_int_equal(st.rows, rows);
    assert_int_equal(st.added, rows);
    assert_int_equal(st.invalid, 0);
    /* One transaction and one progress call per batch, each batch_size rows further. */
    assert_int_equal(probe.calls, rows / batch);
    assert_int_equal(probe.bad_steps, 0);
    assert_int_equal(count_messages(db), (long long)rows);
#ifndef __SANITIZE_ADDRESS__
    /* The heap in use between batches stays flat from the 10th batch to the 100th (holding
     * the rows would add ~file size), and the process grows by far less than the file. */
    print_message("heap in use between batches: %zu..%zu bytes\n", probe.heap_min, probe.heap_max);
    assert_true(probe.heap_max - probe.heap_min < 1024 * 1024);
    assert_true(rss_growth < file_bytes / 4);
    assert_true(rss_growth_kib * 1024 < file_bytes / 4);
#endif
    kn_store_close(s);
}

/* A message stored without a language (none given, or an empty one) gets the guessed one; a
 * given language is kept even when the text reads otherwise; a text too short to tell keeps
 * none. The same through kn_store_add_messages and an import without a language column. */
static void test_language_guessed(void **state)
{
    (void)state;
    char db[512], csv[512];
    kn_store *s = new_store("guess.db", db, sizeof db);
    kn_error err = {{0}};
    kn_message in[] = {
        {.external_id = "g-fi", .text = "Miten tilaan uuden kortin? Korttini katosi eilen illalla."},
        {.external_id = "g-en", .text = "Hello, my new card has not arrived yet. Where is it?"},
        {.external_id = "g-sv", .text = "Var är mitt nya kort? Jag har väntat i två veckor."},
        {.external_id = "g-empty", .text = "Mitä kuuluu? Tilini on lukittu eikä sovellus toimi.", .language = ""},
        {.external_id = "g-given", .text = "Miten tilaan uuden kortin? Korttini katosi eilen illalla.", .language = "sv"},
        {.external_id = "g-short", .text = "ok"},
    };
    const char *want[] = {"fi", "en", "sv", "fi", "sv", NULL};
    int64_t ids[LEN(in)];
    size_t added = 0;
    assert_int_equal(kn_store_add_messages(s, in, LEN(in), ids, &added, &err), 0);
    assert_int_equal(added, LEN(in));
    for (size_t i = 0; i < LEN(in); i++) {
        kn_message m = message_by_external_id(s, db, in[i].external_id);
        assert_int_equal(m.id, ids[i]);
        if (want[i]) {
            if (!m.language) fail_msg("%s: no language, %s expected", in[i].external_id, want[i]);
            assert_string_equal(m.language, want[i]);
        } else if (m.language) {
            fail_msg("%s: language \"%s\", none expected", in[i].external_id, m.language);
        }
        kn_message_free(&m);
    }
    assert_int_equal(raw_int(db, "SELECT count(*) FROM messages WHERE language = ''", NULL), 0);
    /* an import without a language column guesses too */
    write_file("guess.csv",
               "external_id,text\n"
               "i-fi,Haluan tilata uuden pankkikortin. Vanha korttini on rikki.\n"
               "i-en,\"I would like to order a new debit card, my old one is broken.\"\n"
               "i-short,Hej\n",
               csv, sizeof csv);
    import_run r = run_import(s, csv, 2);
    if (r.rc != 0) fail_msg("%s", r.err.msg);
    assert_int_equal(r.stats.added, 3);
    free(r.report);
    kn_message m = message_by_external_id(s, db, "i-fi");
    assert_non_null(m.language);
    assert_string_equal(m.language, "fi");
    kn_message_free(&m);
    m = message_by_external_id(s, db, "i-en");
    assert_non_null(m.language);
    assert_string_equal(m.language, "en");
    kn_message_free(&m);
    m = message_by_external_id(s, db, "i-short");
    assert_true(m.id > 0);
    assert_null(m.language);
    kn_message_free(&m);
    kn_store_close(s);
}

/* ---- topics, replies, annotations ---------------------------------------------------------------------- */

static void test_topics(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("topics.db", path, sizeof path);
    kn_error err = {{0}};
    kn_topic billing = {.name = "billing", .description = "Invoices and payments", .automatable = 1, .threshold = 0.9};
    kn_topic fraud = {.name = "fraud", .description = NULL, .automatable = 0, .threshold = 1.0};
    kn_topic account = {.name = "account", .description = "Login", .automatable = 1, .threshold = 0.0};
    int64_t b = kn_store_put_topic(s, &billing, &err), f = kn_store_put_topic(s, &fraud, &err),
            a = kn_store_put_topic(s, &account, &err);
    assert_true(b > 0 && f > 0 && a > 0 && b != f && f != a);

    kn_topic t;
    assert_int_equal(kn_store_get_topic(s, "fraud", &t, &err), 0);
    assert_int_equal(t.id, f);
    assert_string_equal(t.name, "fraud");
    assert_null(t.description);
    assert_int_equal(t.automatable, 0);
    assert_true(t.threshold == 1.0);
    kn_topic_free(&t);
    assert_int_equal(kn_store_get_topic(s, "shipping", &t, &err), 1);

    /* Put by an existing name updates that topic. */
    kn_topic billing2 = {.name = "billing", .description = "Invoices", .automatable = 0, .threshold = 0.75};
    assert_int_equal(kn_store_put_topic(s, &billing2, &err), b);
    assert_int_equal(kn_store_get_topic(s, "billing", &t, &err), 0);
    assert_string_equal(t.description, "Invoices");
    assert_int_equal(t.automatable, 0);
    assert_true(fabs(t.threshold - 0.75) < 1e-12);
    kn_topic_free(&t);

    /* Threshold outside [0, 1] (and NaN), an empty name: refused, nothing changes. */
    double bad[] = {-0.01, 1.01, NAN, INFINITY};
    for (size_t i = 0; i < LEN(bad); i++) {
        kn_topic x = {.name = "billing", .threshold = bad[i]};
        assert_int_equal(kn_store_put_topic(s, &x, &err), -1);
        assert_non_null(strstr(err.msg, "billing"));
        assert_non_null(strstr(err.msg, "threshold"));
    }
    kn_topic unnamed = {.name = "", .threshold = 0.5};
    assert_int_equal(kn_store_put_topic(s, &unnamed, &err), -1);

    kn_topic *list = NULL;
    size_t n = 0;
    assert_int_equal(kn_store_list_topics(s, &list, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].name, "account");
    assert_string_equal(list[1].name, "billing");
    assert_true(fabs(list[1].threshold - 0.75) < 1e-12);
    assert_string_equal(list[2].name, "fraud");
    for (size_t i = 0; i < n; i++) kn_topic_free(&list[i]);
    free(list);

    assert_int_equal(kn_store_delete_topic(s, "account", &err), 0);
    assert_int_equal(kn_store_delete_topic(s, "account", &err), 1);
    assert_int_equal(kn_store_get_topic(s, "account", &t, &err), 1);
    assert_int_equal(kn_store_list_topics(s, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) kn_topic_free(&list[i]);
    free(list);

    /* Machine output keeps its rows when its topic goes: topic_id becomes NULL. */
    kn_message m = {.text = "Someone used my card"};
    int64_t mid;
    assert_int_equal(kn_store_add_messages(s, &m, 1, &mid, NULL, &err), 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO models (id, bundle_path, method, created_at) VALUES (1, '/b', 'tfidf', 1);"
             "INSERT INTO predictions (message_id, model_id, topic_id, probability, created_at) VALUES (%lld, 1, %lld, 0.9, 1);"
             "INSERT INTO decisions (message_id, model_id, action, topic_id, created_at) VALUES (%lld, 1, 'human', %lld, 1);",
             (long long)mid, (long long)f, (long long)mid, (long long)f);
    raw_exec(path, sql);
    assert_int_equal(kn_store_delete_topic(s, "fraud", &err), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM predictions WHERE topic_id IS NULL", NULL), 1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM decisions WHERE topic_id IS NULL", NULL), 1);
    kn_store_close(s);
}

static void test_replies(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("replies.db", path, sizeof path);
    kn_error err = {{0}};
    kn_topic t = {.name = "delivery", .automatable = 1, .threshold = 0.9};
    assert_true(kn_store_put_topic(s, &t, &err) > 0);
    assert_int_equal(kn_store_put_reply(s, "delivery", "fi", "Pakettisi on matkalla.", &err), 0);
    assert_int_equal(kn_store_put_reply(s, "delivery", "en", "Your parcel is on its way.", &err), 0);
    char *text = NULL;
    assert_int_equal(kn_store_get_reply(s, "delivery", "fi", &text, &err), 0);
    assert_string_equal(text, "Pakettisi on matkalla.");
    free(text);
    assert_int_equal(kn_store_get_reply(s, "delivery", "en", &text, &err), 0);
    assert_string_equal(text, "Your parcel is on its way.");
    free(text);
    text = (char *)"untouched";
    assert_int_equal(kn_store_get_reply(s, "delivery", "sv", &text, &err), 1);
    assert_string_equal(text, "untouched");
    assert_int_equal(kn_store_get_reply(s, "nosuch", "fi", &text, &err), 1);

    /* Upsert by topic and language. */
    assert_int_equal(kn_store_put_reply(s, "delivery", "fi", "Paketti on tulossa.", &err), 0);
    assert_int_equal(kn_store_get_reply(s, "delivery", "fi", &text, &err), 0);
    assert_string_equal(text, "Paketti on tulossa.");
    free(text);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM replies", NULL), 2);

    assert_int_equal(kn_store_put_reply(s, "returns", "fi", "Palautus", &err), -1);
    assert_non_null(strstr(err.msg, "\"returns\""));
    assert_int_equal(kn_store_put_reply(s, "delivery", "", "x", &err), -1);
    assert_int_equal(kn_store_put_reply(s, "delivery", "fi", "", &err), -1);
    assert_int_equal(kn_store_put_reply(s, "delivery", "fi", "bad \xe2\x82", &err), -1);
    assert_non_null(strstr(err.msg, "UTF-8"));

    /* Languages are stored in canonical case, the form the router looks them up in, and a
     * malformed tag is refused, naming the problem. */
    assert_int_equal(kn_store_put_reply(s, "delivery", "PT-br", "Está a caminho.", &err), 0);
    assert_int_equal(kn_store_get_reply(s, "delivery", "pt-BR", &text, &err), 0);
    assert_string_equal(text, "Está a caminho.");
    free(text);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM replies WHERE language = 'PT-br'", NULL), 0);
    assert_int_equal(kn_store_put_reply(s, "delivery", "en US", "x", &err), -1);
    assert_non_null(strstr(err.msg, "invalid character at 2"));
    assert_int_equal(kn_store_put_reply(s, "delivery", "de-DE-x-phonebook", "x", &err), -1);
    assert_non_null(strstr(err.msg, "longer than 15"));
    assert_int_equal(raw_int(path, "SELECT count(*) FROM replies", NULL), 3);

    /* Deleting the topic deletes its replies. */
    assert_int_equal(kn_store_delete_topic(s, "delivery", &err), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM replies", NULL), 0);
    assert_true(kn_store_put_topic(s, &t, &err) > 0);
    assert_int_equal(kn_store_get_reply(s, "delivery", "fi", &text, &err), 1);
    kn_store_close(s);
}

static void test_annotations(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("annotations.db", path, sizeof path);
    kn_error err = {{0}};
    kn_topic t = {.name = "refund", .automatable = 1, .threshold = 0.9};
    assert_true(kn_store_put_topic(s, &t, &err) > 0);
    kn_message m = {.text = "I want my money back"};
    int64_t mid;
    assert_int_equal(kn_store_add_messages(s, &m, 1, &mid, NULL, &err), 0);

    int64_t a1 = kn_store_annotate(s, mid, "refund", "liisa", &err);
    assert_true(a1 > 0);
    int64_t a2 = kn_store_annotate(s, mid, "refund", NULL, &err);
    assert_true(a2 > a1);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM annotations WHERE message_id = %lld", (long long)mid);
    assert_int_equal(raw_int(path, sql, NULL), 2);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM annotations WHERE message_id = %lld AND annotator = 'liisa'",
             (long long)mid);
    assert_int_equal(raw_int(path, sql, NULL), 1);

    assert_int_equal(kn_store_annotate(s, 424242, "refund", "liisa", &err), -1);
    assert_non_null(strstr(err.msg, "no message with id 424242"));
    assert_int_equal(kn_store_annotate(s, mid, "refnud", "liisa", &err), -1);
    assert_non_null(strstr(err.msg, "no topic named \"refnud\""));
    assert_int_equal(raw_int(path, "SELECT count(*) FROM annotations", NULL), 2);

    /* A topic with annotations is not deleted (and keeps its replies). */
    assert_int_equal(kn_store_put_reply(s, "refund", "en", "We refund within 14 days.", &err), 0);
    assert_int_equal(kn_store_delete_topic(s, "refund", &err), -1);
    assert_non_null(strstr(err.msg, "\"refund\" has 2 annotations"));
    kn_topic got;
    assert_int_equal(kn_store_get_topic(s, "refund", &got, &err), 0);
    kn_topic_free(&got);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM replies", NULL), 1);
    kn_store_close(s);
}

/* ---- tokens ------------------------------------------------------------------------------------------------- */

static int is_hex64(const char *s)
{
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* 1 when the file at path holds needle anywhere (0 when there is no such file). */
static int file_contains(const char *path, const char *needle)
{
    size_t len = 0;
    kn_error err;
    char *data = kn_read_file(path, &len, &err);
    if (!data) return 0;
    int found = memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return found;
}

static void test_tokens(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("tokens.db", path, sizeof path);
    kn_error err = {{0}};
    char admin[65], annot[65], role[16];
    assert_int_equal(kn_store_create_token(s, "admin", "ops", admin, &err), 0);
    assert_int_equal(kn_store_create_token(s, "annotator", "liisa", annot, &err), 0);
    assert_true(is_hex64(admin));
    assert_true(is_hex64(annot));
    assert_string_not_equal(admin, annot);

    assert_int_equal(kn_store_check_token(s, admin, role, &err), 0);
    assert_string_equal(role, "admin");
    assert_int_equal(kn_store_check_token(s, annot, role, &err), 0);
    assert_string_equal(role, "annotator");

    /* Wrong tokens: one digit changed, cut short, not hex, empty. */
    char wrong[65];
    memcpy(wrong, admin, sizeof wrong);
    wrong[17] = wrong[17] == '0' ? '1' : '0';
    assert_int_equal(kn_store_check_token(s, wrong, role, &err), 1);
    wrong[17] = admin[17];
    wrong[63] = '\0';
    assert_int_equal(kn_store_check_token(s, wrong, role, &err), 1);
    assert_int_equal(kn_store_check_token(s, "zz", role, &err), 1);
    assert_int_equal(kn_store_check_token(s, "", role, &err), 1);

    /* Only the SHA-256 is stored: never the token itself, in the database or its WAL. */
    char stored[128];
    raw_text(path, "SELECT hash FROM tokens WHERE name = ?1", "ops", stored, sizeof stored);
    assert_true(is_hex64(stored));
    assert_string_not_equal(stored, admin);
    unsigned char md[32];
    unsigned int md_len = 0;
    assert_true(EVP_Digest(admin, 64, md, &md_len, EVP_sha256(), NULL) && md_len == 32);
    char want[65];
    for (int i = 0; i < 32; i++) snprintf(want + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(stored, want);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM tokens WHERE hash = ?1 OR name = ?1 OR role = ?1", admin), 0);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_false(file_contains(path, admin));
    assert_false(file_contains(wal, admin));
    assert_true(file_contains(path, stored) || file_contains(wal, stored)); /* the search itself works */

    /* Names are unique among unrevoked tokens; roles are checked. */
    char other[65];
    assert_int_equal(kn_store_create_token(s, "service", "ops", other, &err), -1);
    assert_non_null(strstr(err.msg, "\"ops\" already exists"));
    assert_int_equal(kn_store_create_token(s, "root", "newname", other, &err), -1);
    assert_non_null(strstr(err.msg, "\"root\""));
    assert_int_equal(kn_store_create_token(s, "admin", "", other, &err), -1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM tokens", NULL), 2);

    /* Revoked: check gives 1; the name can be reused; revoking again gives 1. */
    assert_int_equal(kn_store_revoke_token(s, "ops", &err), 0);
    assert_int_equal(kn_store_check_token(s, admin, role, &err), 1);
    assert_int_equal(kn_store_revoke_token(s, "ops", &err), 1);
    assert_int_equal(kn_store_revoke_token(s, "nobody", &err), 1);
    assert_int_equal(kn_store_create_token(s, "service", "ops", other, &err), 0);
    assert_int_equal(kn_store_check_token(s, other, role, &err), 0);
    assert_string_equal(role, "service");
    assert_int_equal(kn_store_check_token(s, admin, role, &err), 1);
    assert_int_equal(kn_store_check_token(s, annot, role, &err), 0);
    assert_string_equal(role, "annotator");
    kn_store_close(s);

    /* Tokens survive a reopen. */
    s = kn_store_open(path, 0, &err);
    assert_non_null(s);
    assert_int_equal(kn_store_check_token(s, other, role, &err), 0);
    assert_string_equal(role, "service");
    kn_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_create_reopen),
        cmocka_unit_test(test_schema_version_and_wal),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_message_round_trip),
        cmocka_unit_test(test_idempotent_by_external_id),
        cmocka_unit_test(test_batch_all_or_none),
        cmocka_unit_test(test_import_csv),
        cmocka_unit_test(test_import_jsonl),
        cmocka_unit_test(test_import_fatal),
        cmocka_unit_test(test_import_large),
        cmocka_unit_test(test_language_guessed),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_annotations),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
