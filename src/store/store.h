/* store.h - the workspace: one SQLite database (WAL mode) holding messages, topics with their
 * replies, annotations, models, predictions, routing decisions and API tokens.
 *
 * Schema (versioned; kn_store_open creates it or migrates an older one forward, in one
 * transaction per migration step, and refuses a database newer than this Kanava):
 *   messages     id, external_id (unique when set), channel, language, text, received_at
 *                (unix seconds), status ('new', 'auto_answered', 'queued', 'answered')
 *   topics       id, name (unique), description (the labelling guideline), automatable (0/1:
 *                never-automate topics are 0), threshold (confidence needed to auto-answer)
 *   replies      topic_id, language, text  (one reply template per topic and language)
 *   annotations  id, message_id, topic_id, annotator, created_at
 *   models       id, bundle_path, method, metrics (JSON text), created_at, active (at most
 *                one row is 1)
 *   predictions  id, message_id, model_id, topic_id, probability, top (JSON text), created_at
 *   decisions    id, message_id, model_id, action ('auto_reply' or 'human'), topic_id,
 *                probability, threshold, margin, reason, reply_language, reply_text,
 *                created_at
 *   tokens       id, name, role ('admin', 'annotator', 'service'), hash (hex SHA-256 of the
 *                token), created_at, revoked_at
 *   map_points   model_id, message_id, x, y, cluster  (the UI's 2-D map; ui_store.h)
 *   model_evaluations  model_id, report (JSON text: held-out metrics; ui_store.h)
 *
 * Every function returns 0 (or a count / an id >= 0) on success and -1 with a message in
 * err. Strings handed out are malloc'ed and owned by the caller (the *_free functions). */
#ifndef KN_STORE_H
#define KN_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"
#include "util/progress.h"

typedef struct kn_store kn_store;

#define KN_STORE_SCHEMA_VERSION 2

/* Opens (creating when asked) the workspace database at path. */
kn_store *kn_store_open(const char *path, int create, kn_error *err);
void kn_store_close(kn_store *s);
int kn_store_schema_version(kn_store *s);

/* ---- messages ---------------------------------------------------------------------- */

typedef struct kn_message {
    int64_t id;
    char *external_id; /* may be NULL */
    char *channel;     /* may be NULL */
    char *language;    /* BCP 47 tag such as "fi", "en"; may be NULL (unknown) */
    char *text;
    int64_t received_at;
    char *status;
} kn_message;

void kn_message_free(kn_message *m);

/* Adds messages in one transaction: all or none. A message whose external_id is already
 * stored is not added again; ids[i] is then the stored message's id (idempotent imports).
 * ids may be NULL. Text must be valid UTF-8, non-empty and at most KN_MAX_TEXT_BYTES. */
int kn_store_add_messages(kn_store *s, const kn_message *msgs, size_t n, int64_t *ids, size_t *added,
                          kn_error *err);
/* 0 and *out, 1 when there is no such message, -1 on error. */
int kn_store_get_message(kn_store *s, int64_t id, kn_message *out, kn_error *err);
int kn_store_set_message_status(kn_store *s, int64_t id, const char *status, kn_error *err);

/* Streams a CSV (columns text and optionally external_id, channel, language, received_at)
 * or JSONL file (one object per line with the same keys) into the store, batch_size rows per
 * transaction, in constant memory. Invalid rows are reported to report (file:line: what)
 * and skipped; valid rows are kept. Counts go to the optional outputs. */
typedef struct kn_import_stats {
    size_t rows, added, duplicates, invalid;
} kn_import_stats;
int kn_store_import(kn_store *s, const char *path, size_t batch_size, FILE *report, kn_import_stats *stats,
                    kn_progress_fn progress, void *progress_ctx, kn_error *err);

/* ---- topics and replies --------------------------------------------------------------- */

typedef struct kn_topic {
    int64_t id;
    char *name;
    char *description;
    int automatable;
    double threshold;
} kn_topic;

void kn_topic_free(kn_topic *t);
/* Inserts or updates by name; returns the id. */
int64_t kn_store_put_topic(kn_store *s, const kn_topic *t, kn_error *err);
int kn_store_get_topic(kn_store *s, const char *name, kn_topic *out, kn_error *err); /* 1: none */
/* All topics ordered by name; *out malloc'ed. */
int kn_store_list_topics(kn_store *s, kn_topic **out, size_t *n, kn_error *err);
int kn_store_delete_topic(kn_store *s, const char *name, kn_error *err); /* 1: none */
int kn_store_put_reply(kn_store *s, const char *topic, const char *language, const char *text, kn_error *err);
/* The reply of topic in language; 1 when there is none (text untouched). */
int kn_store_get_reply(kn_store *s, const char *topic, const char *language, char **text, kn_error *err);

/* ---- annotations ----------------------------------------------------------------------- */

int64_t kn_store_annotate(kn_store *s, int64_t message_id, const char *topic, const char *annotator,
                          kn_error *err);

/* ---- tokens ----------------------------------------------------------------------------- */

/* Creates a token for role with a name; writes the token text (shown once, never stored:
 * only its SHA-256 is) into token (needs 65 bytes). */
int kn_store_create_token(kn_store *s, const char *role, const char *name, char token[65], kn_error *err);
/* The role of a valid, unrevoked token (copied into role, 16 bytes); 1 when the token is
 * unknown or revoked. Compares hashes in constant time. */
int kn_store_check_token(kn_store *s, const char *token, char role[16], kn_error *err);
/* The same, also copying the token's name (the annotator of what it creates) into name. */
int kn_store_check_token_named(kn_store *s, const char *token, char role[16], char *name, size_t name_cap,
                               kn_error *err);
int kn_store_revoke_token(kn_store *s, const char *name, kn_error *err); /* 1: none */

/* ---- workspace CLI (issue 6): token listing (token_list.c) and reply languages
 * (topic_replies.c) -------------------------------------------------------------------- */

/* One API token as listed: never its hash. revoked is 0 for an active token. */
typedef struct kn_token_info {
    int64_t id;
    char *name;
    char *role;
    int64_t created_at; /* unix seconds */
    int revoked;
    int64_t revoked_at; /* unix seconds when revoked */
} kn_token_info;

/* Every token, active and revoked, oldest first; free with kn_token_infos_free. */
int kn_store_list_tokens(kn_store *s, kn_token_info **out, size_t *n, kn_error *err);
void kn_token_infos_free(kn_token_info *list, size_t n);
/* The languages topic has a reply in, sorted; 1 when there is no such topic. Free with
 * kn_store_strings_free. */
int kn_store_reply_languages(kn_store *s, const char *topic, char ***langs, size_t *n, kn_error *err);
void kn_store_strings_free(char **v, size_t n);

/* ---- end of workspace CLI block ------------------------------------------------------ */

/* ---- server (issue 6): the server's model, predictions and routing decisions
 * (decisions.c) ------------------------------------------------------------------------- */

/* Records a prediction of model_id for message_id: the most probable topic (by name; the
 * topic_id is NULL when the workspace has no such topic), its probability and the top
 * topics as JSON text. Returns its id. */
int64_t kn_store_add_prediction(kn_store *s, int64_t message_id, int64_t model_id, const char *topic,
                                double probability, const char *top_json, kn_error *err);

typedef struct kn_decision_record {
    int64_t message_id;
    int64_t model_id;     /* <= 0: none */
    const char *action;   /* "auto_reply" or "human" */
    const char *topic;    /* the suggested topic (by name) */
    double probability, threshold, margin;
    const char *reason;
    const char *reply_language, *reply_text; /* NULL unless auto_reply */
} kn_decision_record;

/* Records a routing decision and sets the message's status (auto_answered for auto_reply,
 * queued for human) in one transaction. Returns the decision's id. */
int64_t kn_store_add_decision(kn_store *s, const kn_decision_record *d, kn_error *err);

/* ---- end of server block ------------------------------------------------------------- */

/* ---- server models (issue 6): the models a server can run and the active one
 * (models.c) ---------------------------------------------------------------------------- */

/* One row of the models table. metrics is JSON text (the server keeps {"classes": N} there)
 * or NULL. */
typedef struct kn_model_info {
    int64_t id;
    char *bundle_path;
    char *method;
    char *metrics;
    int64_t created_at; /* unix seconds */
    int active;
} kn_model_info;

void kn_model_info_free(kn_model_info *m);
void kn_model_infos_free(kn_model_info *list, size_t n);
/* The id of the row for bundle_path and method, adding it (not active) when there is none
 * (*added = 1, added may be NULL); metrics_json, when given, replaces the row's metrics. */
int64_t kn_store_register_model(kn_store *s, const char *bundle_path, const char *method, const char *metrics_json,
                                int *added, kn_error *err);
/* Every model, by id; free with kn_model_infos_free. */
int kn_store_list_models(kn_store *s, kn_model_info **out, size_t *n, kn_error *err);
/* 0 and *out, 1 when there is no such model (or no active one), -1 on error. */
int kn_store_get_model(kn_store *s, int64_t id, kn_model_info *out, kn_error *err);
int kn_store_active_model(kn_store *s, kn_model_info *out, kn_error *err);
/* Makes id the one active model (in one transaction); 1 when there is no such model. */
int kn_store_activate_model(kn_store *s, int64_t id, kn_error *err);

/* ---- end of server models block ------------------------------------------------------- */

/* ---- annotations CRUD (issue: topics and annotations CRUD over the HTTP API): reading
 * and deleting annotations (annotations.c); adding one is kn_store_annotate ------------- */

/* One annotation: an expert's topic for a message. */
typedef struct kn_annotation {
    int64_t id;
    int64_t message_id;
    char *topic;        /* the topic's name */
    char *annotator;    /* may be NULL */
    int64_t created_at; /* unix seconds */
} kn_annotation;

void kn_annotation_free(kn_annotation *a);
void kn_annotations_free(kn_annotation *list, size_t n);
/* The annotations of message_id, oldest first (by id; possibly none); 1 when there is no
 * such message. Free *out with kn_annotations_free. */
int kn_store_list_annotations(kn_store *s, int64_t message_id, kn_annotation **out, size_t *n, kn_error *err);
/* 0 and *out (free with kn_annotation_free), 1 when there is no such annotation. */
int kn_store_get_annotation(kn_store *s, int64_t id, kn_annotation *out, kn_error *err);
/* 1 when there is no such annotation. */
int kn_store_delete_annotation(kn_store *s, int64_t id, kn_error *err);

/* ---- end of annotations CRUD block ---------------------------------------------------- */

#endif
