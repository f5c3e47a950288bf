/* training_set.c - what the web UI's jobs read and write in bulk: the annotated messages a
 * model is trained on, the messages to predict or route, and a model's held-out evaluation
 * (a job's predictions are stored by decisions.c). Declared in ui_store.h. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/ui_store.h"

void kn_text_list_free(kn_text_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->texts[i]);
        if (l->topics) free(l->topics[i]);
    }
    free(l->ids);
    free(l->texts);
    free(l->topics);
    memset(l, 0, sizeof *l);
}

/* Appends one row (id, text[, topic]) of st to l, growing it; -1 when out of memory. */
static int append_row(kn_text_list *l, size_t *cap, sqlite3_stmt *st, int with_topic)
{
    if (l->n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        int64_t *ids = realloc(l->ids, c * sizeof *ids);
        if (ids) l->ids = ids;
        char **texts = ids ? realloc(l->texts, c * sizeof *texts) : NULL;
        if (texts) l->texts = texts;
        char **topics = texts && with_topic ? realloc(l->topics, c * sizeof *topics) : NULL;
        if (topics) l->topics = topics;
        if (!ids || !texts || (with_topic && !topics)) return -1;
        *cap = c;
    }
    l->ids[l->n] = sqlite3_column_int64(st, 0);
    if (kn_store_column_text(st, 1, &l->texts[l->n]) != 0) return -1;
    if (with_topic && kn_store_column_text(st, 2, &l->topics[l->n]) != 0) {
        free(l->texts[l->n]);
        return -1;
    }
    l->n++;
    return 0;
}

static int read_list(kn_store *s, sqlite3_stmt *st, int with_topic, const char *what, kn_text_list *out,
                     kn_error *err)
{
    size_t cap = 0;
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (append_row(out, &cap, st, with_topic) != 0) {
            rc = kn_fail(err, "%s: out of memory", what);
            break;
        }
    }
    if (rc == 0 && step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "%s", what);
    sqlite3_finalize(st);
    if (rc != 0) kn_text_list_free(out);
    return rc;
}

int kn_store_latest_labels(kn_store *s, kn_text_list *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    /* The latest annotation wins: an expert who relabels a message changes their mind. */
    if (kn_store_prepare(s, &st,
                         "SELECT m.id, m.text, t.name FROM annotations a "
                         "JOIN messages m ON m.id = a.message_id JOIN topics t ON t.id = a.topic_id "
                         "WHERE a.id = (SELECT max(b.id) FROM annotations b WHERE b.message_id = a.message_id) "
                         "ORDER BY m.id",
                         "reading the labelled messages", err) != 0)
        return -1;
    return read_list(s, st, 1, "reading the labelled messages", out, err);
}

int kn_store_message_texts(kn_store *s, const char *status, kn_text_list *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    if (status && !kn_store_valid_status(status)) return kn_fail(err, "unknown message status \"%.40s\"", status);
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT id, text FROM messages WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
                         "reading the messages", err) != 0)
        return -1;
    kn_store_bind_text(st, 1, status);
    return read_list(s, st, 0, "reading the messages", out, err);
}

int kn_store_unlabelled_texts(kn_store *s, size_t max, kn_text_list *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    /* Each distinct text once (its first message), none equal to a labelled text (a copy of a
     * labelled message would be self-trained on with its own label); past max a random
     * sample, the same from run to run (ordered by a hash of the id), so that a big backlog
     * costs what max messages cost. */
    if (kn_store_prepare(s, &st,
                         "SELECT min(m.id) AS id, m.text FROM messages m WHERE NOT EXISTS "
                         "(SELECT 1 FROM annotations a WHERE a.message_id = m.id) "
                         "AND m.text NOT IN (SELECT l.text FROM messages l JOIN annotations a ON a.message_id = l.id) "
                         "GROUP BY m.text ORDER BY ((min(m.id) * 2654435761) % 4294967296), min(m.id) LIMIT ?1",
                         "reading the unlabelled messages", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, max > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
    return read_list(s, st, 0, "reading the unlabelled messages", out, err);
}

int kn_store_set_evaluation(kn_store *s, int64_t model_id, const char *report_json, kn_error *err)
{
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "INSERT OR REPLACE INTO model_evaluations (model_id, report) VALUES (?1, ?2)",
                         "recording an evaluation", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, model_id);
    sqlite3_bind_text(st, 2, report_json, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = kn_store_sql_fail(s, err, "model %lld: recording its evaluation", (long long)model_id);
    sqlite3_finalize(st);
    return rc;
}

int kn_store_get_evaluation(kn_store *s, int64_t model_id, char **report_json, kn_error *err)
{
    *report_json = NULL;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT report FROM model_evaluations WHERE model_id = ?1",
                         "reading an evaluation", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, model_id);
    int step = sqlite3_step(st), rc = 1;
    if (step == SQLITE_ROW)
        rc = kn_store_column_text(st, 0, report_json) == 0 ? 0 : kn_fail(err, "reading an evaluation: out of memory");
    else if (step != SQLITE_DONE)
        rc = kn_store_sql_fail(s, err, "model %lld: reading its evaluation", (long long)model_id);
    sqlite3_finalize(st);
    return rc;
}
