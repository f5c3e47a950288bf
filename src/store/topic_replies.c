/* topic_replies.c - kn_store_reply_languages: the languages a topic has a reply template
 * in, for `kanava topic list` and `kanava topic show`. Declared in the "reply languages"
 * block of store.h. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

void kn_store_strings_free(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

int kn_store_reply_languages(kn_store *s, const char *topic, char ***langs, size_t *n, kn_error *err)
{
    *langs = NULL;
    *n = 0;
    if (!topic) return 1;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT id FROM topics WHERE name = ?1", "listing a topic's replies", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int64_t id = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (step == SQLITE_DONE) return 1;
    if (step != SQLITE_ROW) return kn_store_sql_fail(s, err, "topic \"%.200s\": looking it up", topic);

    if (kn_store_prepare(s, &st, "SELECT language FROM replies WHERE topic_id = ?1 ORDER BY language",
                         "listing a topic's replies", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    char **list = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t grown_cap = cap ? 2 * cap : 8;
            char **grown = realloc(list, grown_cap * sizeof *grown);
            if (!grown) {
                rc = kn_fail(err, "topic \"%.200s\": listing its replies: out of memory", topic);
                break;
            }
            list = grown;
            cap = grown_cap;
        }
        if (kn_store_column_text(st, 0, &list[count]) != 0 || !list[count]) {
            free(list[count]);
            rc = kn_fail(err, "topic \"%.200s\": listing its replies: out of memory", topic);
            break;
        }
        count++;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "topic \"%.200s\": listing its replies", topic);
    sqlite3_finalize(st);
    if (rc != 0) {
        kn_store_strings_free(list, count);
        return -1;
    }
    *langs = list;
    *n = count;
    return 0;
}
