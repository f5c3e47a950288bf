/* store_internal.h - what the files of src/store share: the handle, SQLite error helpers,
 * transactions and the validation of one message (used by kn_store_add_messages and by
 * kn_store_import, so both refuse the same things with the same words). Not for use outside
 * src/store. */
#ifndef KN_STORE_INTERNAL_H
#define KN_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct kn_store {
    sqlite3 *db;
    int version;    /* PRAGMA user_version after opening (and migrating) */
    char path[512]; /* for error messages */
};

/* Formats "CONTEXT: SQLITE MESSAGE" into err; returns -1. */
int kn_store_sql_fail(kn_store *s, kn_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepares one statement; on failure fills err (naming what) and returns -1. */
int kn_store_prepare(kn_store *s, sqlite3_stmt **st, const char *sql, const char *what, kn_error *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. rollback never fails loudly (it is the error path). */
int kn_store_begin(kn_store *s, const char *what, kn_error *err);
int kn_store_commit(kn_store *s, const char *what, kn_error *err);
void kn_store_rollback(kn_store *s);

/* Binds a string that may be NULL (NULL -> SQL NULL). */
int kn_store_bind_text(sqlite3_stmt *st, int i, const char *text);
/* Copies column i (NULL stays NULL); -1 when out of memory. */
int kn_store_column_text(sqlite3_stmt *st, int i, char **out);

int64_t kn_store_now(void);

/* 0 when m can be stored; otherwise -1 with the reason (no file or index) in why, e.g.
 * "invalid UTF-8 in the text at byte 3". text_len is the byte length of m->text (which
 * may hold a NUL byte when read from a file; that is refused). */
int kn_store_check_message(const kn_message *m, size_t text_len, char *why, size_t cap);

/* 1 when status is one of the message statuses of the schema. */
int kn_store_valid_status(const char *status);

/* Creates the schema (only when create) or migrates it forward (schema.c); refuses a newer
 * schema and an SQLite database that is not a workspace. Fills s->version. */
int kn_store_migrate(kn_store *s, int create, kn_error *err);

#endif
