/* ui_messages.h - the queries behind the web UI's message endpoints (issue 7): the filtered,
 * ordered message list with each message's labels, prediction, decision and map cluster
 * (message_query.c), the workspace counts (workspace_stats.c), annotating and un-annotating
 * many messages in one transaction (bulk_annotations.c), importing a CSV held in memory
 * with nothing stored on a malformed file (import_buffer.c) and a token's name
 * (token_identity.c). Same conventions as store.h: 0 (or a count) on success, -1 with err. */
#ifndef KN_UI_MESSAGES_H
#define KN_UI_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ---- message_query.c ---------------------------------------------------------------- */

enum { KN_LABELLED_ANY, KN_LABELLED_YES, KN_LABELLED_NO };
enum { KN_DECIDED_ANY, KN_DECIDED_AUTO_REPLY, KN_DECIDED_HUMAN, KN_DECIDED_NONE };
enum { KN_ORDER_ID, KN_ORDER_NEWEST, KN_ORDER_RANDOM, KN_ORDER_UNCERTAIN, KN_ORDER_CLUSTER };

/* What to list. A zeroed struct lists every message by id (limit 0: none, only the total).
 * "Prediction" is the newest prediction of the workspace's active model, "decision" the
 * newest routing decision (any model), "cluster" the message's cluster on the active model's
 * map (table map_points; none when the map is not computed). */
typedef struct kn_message_query {
    size_t limit, offset;
    int labelled;        /* KN_LABELLED_*: at least one annotation, or none */
    int decided;         /* KN_DECIDED_*: the action of the newest decision, or no decision */
    const char *status;  /* NULL: any; else one of the message statuses */
    int order;           /* KN_ORDER_*: id; received_at newest first; a shuffle fixed by seed;
                          * unlabelled first by ascending probability (no prediction last);
                          * by cluster (none last), then as uncertain */
    uint64_t seed;
    const char *q;       /* NULL or "": any; else a case-insensitive substring of the text */
    const int64_t *ids;  /* has_ids: only these messages (unknown ids are not an error) */
    size_t n_ids;
    int has_ids;
    int64_t cluster;     /* has_cluster: only messages in this map cluster */
    int has_cluster;
} kn_message_query;

typedef struct kn_message_label {
    int64_t annotation_id;
    char *topic;
    char *annotator; /* may be NULL */
} kn_message_label;

/* One listed message. Absent parts have has_* = 0 and NULL strings. */
typedef struct kn_message_view {
    kn_message message;
    kn_message_label *labels; /* oldest first */
    size_t n_labels;
    int has_prediction;
    char *prediction_topic; /* NULL when the prediction names no topic */
    double prediction_probability;
    int has_decision;
    char *decision_action, *decision_topic, *decision_reason, *decision_reply_text;
    double decision_probability;
    int64_t decision_created_at;
    int has_cluster;
    int64_t cluster;
} kn_message_view;

void kn_message_views_free(kn_message_view *v, size_t n);
/* The ids of the page (*ids malloc'ed, *n of them) and the number of messages matching the
 * filters (*total), in one read transaction. */
int kn_store_query_message_ids(kn_store *s, const kn_message_query *q, int64_t **ids, size_t *n, size_t *total,
                               kn_error *err);
/* The page with every message's details; free with kn_message_views_free. */
int kn_store_query_messages(kn_store *s, const kn_message_query *q, kn_message_view **out, size_t *n,
                            size_t *total, kn_error *err);
/* 1 when text (len bytes of valid UTF-8) contains needle ignoring case (Unicode simple
 * lower-case mapping, code point by code point); an empty needle is contained everywhere. */
int kn_text_contains_ci(const char *text, size_t len, const char *needle);

/* ---- workspace_stats.c -------------------------------------------------------------- */

typedef struct kn_topic_count {
    char *name;
    int64_t labelled; /* messages whose latest annotation is this topic */
    int automatable;
    double threshold;
} kn_topic_count;

typedef struct kn_workspace_stats {
    int64_t messages;
    int64_t labelled; /* messages with at least one annotation */
    kn_topic_count *topics; /* by name */
    size_t n_topics;
    int64_t auto_reply, human; /* messages by the action of their newest decision */
    int64_t active_model;      /* -1: none */
} kn_workspace_stats;

int kn_store_workspace_stats(kn_store *s, kn_workspace_stats *out, kn_error *err);
void kn_workspace_stats_free(kn_workspace_stats *st);

/* ---- bulk_annotations.c --------------------------------------------------------------- */

/* Annotates every message of message_ids with topic in one transaction; annotation_ids[i]
 * gets the id of message_ids[i]'s new annotation. 1: no such topic; 2: no message
 * *missing_id (the first unknown one); nothing is stored unless 0 is returned. */
int kn_store_annotate_many(kn_store *s, const int64_t *message_ids, size_t n, const char *topic,
                           const char *annotator, int64_t *annotation_ids, int64_t *missing_id, kn_error *err);
/* Deletes the annotations of ids in one transaction; unknown ids are skipped. *deleted: how
 * many were deleted. */
int kn_store_delete_annotations(kn_store *s, const int64_t *ids, size_t n, size_t *deleted, kn_error *err);

/* ---- import_buffer.c ------------------------------------------------------------------ */

/* A row that was skipped: its line in the file and why (never its text). */
typedef struct kn_import_row_error {
    size_t line;
    char error[256];
} kn_import_row_error;

/* Imports a CSV file held in memory (as `kanava import` reads a file) in one transaction:
 * rows that cannot be stored are skipped and the first max_errors of them described in
 * errors (*n_errors); a malformed file (empty, no text column, a quote never closed)
 * returns 1 with err naming "line N" and stores nothing; -1 for other failures (nothing
 * stored either). */
int kn_store_import_csv_buffer(kn_store *s, const char *data, size_t len, kn_import_stats *stats,
                               kn_import_row_error *errors, size_t max_errors, size_t *n_errors, kn_error *err);


#endif
