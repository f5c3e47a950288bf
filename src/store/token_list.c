/* token_list.c - kn_store_list_tokens: every API token's name, role and times (never its
 * hash), for `kanava token list`. Declared in the "token listing" block of store.h. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

void kn_token_infos_free(kn_token_info *list, size_t n)
{
    if (!list) return;
    for (size_t i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].role);
    }
    free(list);
}

int kn_store_list_tokens(kn_store *s, kn_token_info **out, size_t *n, kn_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT id, name, role, created_at, revoked_at FROM tokens ORDER BY created_at, id",
                         "listing tokens", err) != 0)
        return -1;
    kn_token_info *list = NULL;
    size_t count = 0, cap = 0;
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t grown_cap = cap ? 2 * cap : 16;
            kn_token_info *grown = realloc(list, grown_cap * sizeof *grown);
            if (!grown) {
                rc = kn_fail(err, "listing tokens: out of memory");
                break;
            }
            list = grown;
            cap = grown_cap;
        }
        kn_token_info *t = &list[count];
        memset(t, 0, sizeof *t);
        t->id = sqlite3_column_int64(st, 0);
        t->created_at = sqlite3_column_int64(st, 3);
        t->revoked = sqlite3_column_type(st, 4) != SQLITE_NULL;
        t->revoked_at = t->revoked ? sqlite3_column_int64(st, 4) : 0;
        if (kn_store_column_text(st, 1, &t->name) != 0 || kn_store_column_text(st, 2, &t->role) != 0 || !t->name ||
            !t->role) {
            free(t->name);
            free(t->role);
            rc = kn_fail(err, "listing tokens: out of memory");
            break;
        }
        count++;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "listing tokens");
    sqlite3_finalize(st);
    if (rc != 0) {
        kn_token_infos_free(list, count);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}
