/* ui_store.h - the queries behind the web UI's background jobs (issue 7): the training set
 * from the annotations, message texts to predict, route or map, predictions in batches,
 * a model's held-out evaluation (table model_evaluations) and the 2-D map (table
 * map_points). Same conventions as store.h: 0 (or a count) on success, -1 with err. */
#ifndef KN_UI_STORE_H
#define KN_UI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Messages as parallel arrays, by id. topics[i] is the latest annotation's topic (NULL
 * unless the list came from kn_store_latest_labels). */
typedef struct kn_text_list {
    size_t n;
    int64_t *ids;
    char **texts;
    char **topics;
} kn_text_list;

void kn_text_list_free(kn_text_list *l);

/* Every annotated message with the topic of its latest annotation (highest id). */
int kn_store_latest_labels(kn_store *s, kn_text_list *out, kn_error *err);
/* The messages without an annotation (the backlog training learns from): each distinct text
 * once, none equal to a labelled message's text, at most max of them (a fixed pseudo-random
 * sample when there are more). */
int kn_store_unlabelled_texts(kn_store *s, size_t max, kn_text_list *out, kn_error *err);
/* Every message (status NULL) or those with that status, by id; topics stay NULL. */
int kn_store_message_texts(kn_store *s, const char *status, kn_text_list *out, kn_error *err);

/* One stored prediction (the fields of kn_store_add_prediction). */
typedef struct kn_prediction_row {
    int64_t message_id;
    const char *topic;
    double probability;
    const char *top_json;
} kn_prediction_row;

/* Records n predictions of model_id in one transaction (all or none). */
int kn_store_add_predictions(kn_store *s, int64_t model_id, const kn_prediction_row *rows, size_t n, kn_error *err);

/* The held-out evaluation of model_id as JSON text (replaced when set again); get returns
 * 1 when the model has none. */
int kn_store_set_evaluation(kn_store *s, int64_t model_id, const char *report_json, kn_error *err);
int kn_store_get_evaluation(kn_store *s, int64_t model_id, char **report_json, kn_error *err);

/* ---- map_points.c ------------------------------------------------------------------- */

/* The model id that names the base map: every message embedded with the base encoder, for
 * a workspace that has no model yet. It has no predictions. */
#define KN_BASE_MAP 0

/* One point of a model's map (or of the base map), with what the UI colours it by. */
typedef struct kn_map_point {
    int64_t message_id;
    double x, y;
    int cluster;
    char *label;        /* latest annotation's topic, or NULL */
    char *prediction;   /* the model's newest prediction for the message, or NULL */
    double probability; /* of that prediction; NaN when there is none */
} kn_map_point;

void kn_map_points_free(kn_map_point *p, size_t n);
/* Replaces the map of model_id (or KN_BASE_MAP) with n points (message_ids, xy: n x 2,
 * clusters) in one transaction. */
int kn_store_put_map(kn_store *s, int64_t model_id, const int64_t *message_ids, const float *xy,
                     const int *clusters, size_t n, kn_error *err);
/* The map of model_id (or KN_BASE_MAP) by message id; *n = 0 when none has been computed. */
int kn_store_get_map(kn_store *s, int64_t model_id, kn_map_point **out, size_t *n, kn_error *err);

#endif
