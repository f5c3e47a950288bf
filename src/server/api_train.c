/* api_train.c - training from the annotations in the background (POST /api/train) and one
 * model with its held-out evaluation (GET /api/models/{id}).
 *
 * The train job: (1) a model on a stratified 80 % of the labelled messages (seed 42) is
 * evaluated on the other 20 %; (2) the final model is trained on all of them, saved under
 * WORKSPACE/models/ and registered (not active); (3) every message is predicted with it so
 * the UI can sort by uncertainty and colour the map. The store lock is held only for short
 * reads and batched writes, never while embedding or training. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "learn/backlog.h"
#include "learn/evaluate.h"
#include "server/server_internal.h"
#include "store/ui_store.h"
#include "util/fs.h"

#define TRAIN_SEED 42
#define HOLDOUT_SHARE 0.2
#define CURVE_POINTS 200
#define PREDICT_BATCH 256 /* messages predicted (and their predictions stored) at a time */

typedef struct train_job {
    kn_server *srv;
    kn_method method;
    int auto_select, tune;
    double budget_seconds;
    int use_backlog;         /* learn from the messages without a label too */
    kn_text_list backlog;
    size_t *backlog_lens;
    char encoder_dir[4200]; /* empty for tfidf and bm25 */
    char models_dir[4200];  /* WORKSPACE/models */
    char **texts;
    size_t *lens;
    int32_t *labels;
    size_t n;
    char **classes;
    int n_classes;
} train_job;

static void train_job_free(void *p)
{
    train_job *j = p;
    if (!j) return;
    for (size_t i = 0; i < j->n; i++) free(j->texts[i]);
    for (int c = 0; c < j->n_classes; c++) free(j->classes[c]);
    free(j->texts);
    free(j->lens);
    free(j->labels);
    free(j->classes);
    kn_text_list_free(&j->backlog);
    free(j->backlog_lens);
    free(j);
}

/* The top 3 of proba as stored predictions keep them: [{"topic", "probability"}, ...]. */
static char *top_json(char *const *classes, int n_classes, const float *proba, int *best_out)
{
    json_t *arr = kn_api_top_json(classes, n_classes, proba, best_out);
    char *s = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(arr);
    return s;
}

/* Step 1: train on the 80 %, predict the 20 %, report (progress 0 to 0.45). */
static json_t *evaluate(kn_job *job, train_job *j, const kn_train_options *o, kn_error *err)
{
    unsigned char *is_eval = malloc(j->n);
    const char **tr_text = malloc(j->n * sizeof *tr_text), **ev_text = malloc(j->n * sizeof *ev_text);
    size_t *tr_len = malloc(j->n * sizeof *tr_len), *ev_len = malloc(j->n * sizeof *ev_len);
    int32_t *tr_lab = malloc(j->n * sizeof *tr_lab), *ev_lab = malloc(j->n * sizeof *ev_lab);
    float *proba = NULL;
    kn_bundle *b = NULL;
    json_t *report = NULL;
    size_t n_tr = 0, n_ev = 0;
    if (!is_eval || !tr_text || !ev_text || !tr_len || !ev_len || !tr_lab || !ev_lab) {
        kn_fail(err, "evaluation: out of memory");
        goto done;
    }
    kn_stratified_holdout(j->labels, j->n, j->n_classes, HOLDOUT_SHARE, TRAIN_SEED, is_eval);
    for (size_t i = 0; i < j->n; i++) {
        if (is_eval[i]) ev_text[n_ev] = j->texts[i], ev_len[n_ev] = j->lens[i], ev_lab[n_ev++] = j->labels[i];
        else tr_text[n_tr] = j->texts[i], tr_len[n_tr] = j->lens[i], tr_lab[n_tr++] = j->labels[i];
    }
    if (n_ev > 0) {
        kn_job_progress(job, "evaluating", 0.02);
        kn_job_span train_span = {job, "evaluating", 0.02, 0.35};
        kn_train_options eo = *o;
        eo.progress = kn_job_span_update;
        eo.progress_ctx = &train_span;
        b = kn_bundle_train(&eo, tr_text, tr_len, tr_lab, n_tr, j->classes, j->n_classes, err);
        if (!b) goto done;
        proba = malloc(n_ev * (size_t)j->n_classes * sizeof *proba);
        if (!proba) {
            kn_fail(err, "evaluation: out of memory");
            goto done;
        }
        kn_job_span span = {job, "evaluating", 0.35, 0.45};
        kn_job_progress(job, NULL, 0.35);
        if (kn_bundle_predict(b, ev_text, ev_len, n_ev, proba, kn_job_span_update, &span, err) != 0) goto done;
    }
    report = kn_holdout_report(ev_lab, proba, n_ev, j->n_classes, (const char *const *)j->classes, n_tr, CURVE_POINTS,
                               err);
done:
    kn_bundle_close(b);
    free(proba);
    free(is_eval);
    free(tr_text);
    free(ev_text);
    free(tr_len);
    free(ev_len);
    free(tr_lab);
    free(ev_lab);
    return report;
}

/* Step 2b: saves b under models_dir and registers it with its evaluation; the model's id. */
static int64_t save_and_register(kn_job *job, train_job *j, kn_bundle *b, json_t *report, kn_error *err)
{
    char dir[4400];
    /* The model's id is known only once it is registered: name it by time and job. */
    snprintf(dir, sizeof dir, "%s/model-%lld-job%lld", j->models_dir, (long long)time(NULL), (long long)kn_job_id(job));
    if (kn_mkdir_p(j->models_dir, err) != 0) return -1;
    json_t *meta = json_pack("{s:s,s:O}", "source", "annotations", "evaluation", report);
    int rc = kn_bundle_save(b, dir, meta, err);
    json_decref(meta);
    if (rc != 0) return -1;
    char *path = realpath(dir, NULL);
    char *classes = kn_live_metrics_json(b);
    char *eval = json_dumps(report, JSON_COMPACT | JSON_REAL_PRECISION(9));
    int64_t id = -1;
    if (!path) {
        kn_fail(err, "%s: %s", dir, strerror(errno));
    } else if (!classes || !eval) {
        kn_fail(err, "out of memory");
    } else {
        pthread_mutex_lock(&j->srv->store_lock);
        id = kn_store_register_model(j->srv->store, path, kn_method_name(b->method), classes, NULL, err);
        if (id > 0 && kn_store_set_evaluation(j->srv->store, id, eval, err) != 0) id = -1;
        pthread_mutex_unlock(&j->srv->store_lock);
    }
    free(path);
    free(classes);
    free(eval);
    return id;
}

/* Step 3: predicts every message with b and stores the predictions (progress 0.9 to 1). */
static int predict_all(kn_job *job, train_job *j, kn_bundle *b, int64_t model_id, kn_error *err)
{
    kn_text_list list;
    pthread_mutex_lock(&j->srv->store_lock);
    int rc = kn_store_message_texts(j->srv->store, NULL, &list, err);
    pthread_mutex_unlock(&j->srv->store_lock);
    if (rc != 0) return -1;
    float *proba = malloc((size_t)PREDICT_BATCH * (size_t)b->n_classes * sizeof *proba);
    size_t *lens = malloc(PREDICT_BATCH * sizeof *lens);
    kn_prediction_row *rows = calloc(PREDICT_BATCH, sizeof *rows);
    char **tops = calloc(PREDICT_BATCH, sizeof *tops);
    if (!proba || !lens || !rows || !tops) rc = kn_fail(err, "predicting: out of memory");
    for (size_t at = 0; rc == 0 && at < list.n; at += PREDICT_BATCH) {
        if (kn_job_stopping(job)) {
            rc = kn_fail(err, "stopped while predicting: the server is stopping");
            break;
        }
        size_t m = list.n - at < PREDICT_BATCH ? list.n - at : PREDICT_BATCH;
        for (size_t i = 0; i < m; i++) lens[i] = strlen(list.texts[at + i]);
        rc = kn_bundle_predict(b, (const char *const *)list.texts + at, lens, m, proba, NULL, NULL, err);
        for (size_t i = 0; rc == 0 && i < m; i++) {
            int best = 0;
            tops[i] = top_json(b->classes, b->n_classes, proba + i * (size_t)b->n_classes, &best);
            if (!tops[i]) rc = kn_fail(err, "predicting: out of memory");
            rows[i] = (kn_prediction_row){list.ids[at + i], b->classes[best],
                                          proba[i * (size_t)b->n_classes + (size_t)best], tops[i]};
        }
        if (rc == 0) {
            pthread_mutex_lock(&j->srv->store_lock);
            rc = kn_store_add_predictions(j->srv->store, model_id, rows, m, err);
            pthread_mutex_unlock(&j->srv->store_lock);
        }
        for (size_t i = 0; i < m; i++) {
            free(tops[i]);
            tops[i] = NULL;
        }
        kn_job_progress(job, NULL, 0.9 + 0.1 * (double)(at + m) / (double)list.n);
    }
    free(proba);
    free(lens);
    free(rows);
    free(tops);
    kn_text_list_free(&list);
    return rc;
}

static int train_run(kn_job *job, void *ctx, kn_error *err)
{
    train_job *j = ctx;
    kn_train_options o;
    kn_train_default_options(&o);
    o.method = j->method;
    o.auto_select = j->auto_select;
    o.hybrid_tune = j->tune;
    if (j->budget_seconds > 0) o.budget_seconds = j->budget_seconds;
    o.encoder_dir = j->encoder_dir[0] ? j->encoder_dir : NULL;
    o.seed = TRAIN_SEED;
    if (j->backlog.n > 0) {
        o.unlabelled = (const char *const *)j->backlog.texts;
        o.unlabelled_lens = j->backlog_lens;
        o.n_unlabelled = j->backlog.n;
    }
    kn_job_progress(job, "evaluating", 0.0);
    json_t *report = evaluate(job, j, &o, err);
    if (!report) return -1;
    kn_bundle *b = NULL;
    int rc = -1;
    if (kn_job_stopping(job)) {
        kn_fail(err, "stopped after the evaluation: the server is stopping");
        goto done;
    }
    kn_job_progress(job, "training", 0.45);
    kn_job_span train_span = {job, "training", 0.45, 0.85};
    o.progress = kn_job_span_update;
    o.progress_ctx = &train_span;
    b = kn_bundle_train(&o, (const char *const *)j->texts, j->lens, j->labels, j->n, j->classes, j->n_classes, err);
    if (!b) goto done;
    kn_job_progress(job, "saving", 0.85);
    int64_t id = save_and_register(job, j, b, report, err);
    if (id <= 0) goto done;
    kn_job_set_model(job, id);
    kn_job_progress(job, "predicting", 0.9);
    rc = predict_all(job, j, b, id, err);
done:
    kn_bundle_close(b);
    json_decref(report);
    return rc;
}

static int by_topic(const void *a, const void *b, void *topics)
{
    char **t = topics;
    size_t i = *(const size_t *)a, k = *(const size_t *)b;
    int c = strcmp(t[i], t[k]);
    return c ? c : (i > k) - (i < k);
}

/* Fills j with the labelled messages of topics that have at least 2 (topics by name). 0, or
 * -1 after queueing 422 (fewer than 2 such topics) or 500. */
static int gather(kn_request *r, train_job *j)
{
    kn_text_list l;
    kn_error err = {{0}};
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_latest_labels(r->srv->store, &l, &err);
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc != 0) {
        kn_api_internal_error(r, &err);
        return -1;
    }
    size_t *order = malloc((l.n ? l.n : 1) * sizeof *order);
    j->texts = calloc(l.n ? l.n : 1, sizeof *j->texts);
    j->lens = calloc(l.n ? l.n : 1, sizeof *j->lens);
    j->labels = calloc(l.n ? l.n : 1, sizeof *j->labels);
    j->classes = calloc(l.n ? l.n : 1, sizeof *j->classes);
    if (!order || !j->texts || !j->lens || !j->labels || !j->classes) {
        free(order);
        kn_text_list_free(&l);
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < l.n; i++) order[i] = i;
    qsort_r(order, l.n, sizeof *order, by_topic, l.topics);
    int labelled_topics = 0;
    for (size_t s = 0; s < l.n;) {
        size_t e = s;
        while (e < l.n && strcmp(l.topics[order[e]], l.topics[order[s]]) == 0) e++;
        labelled_topics++;
        if (e - s >= 2) {
            int c = j->n_classes++;
            j->classes[c] = l.topics[order[s]];
            l.topics[order[s]] = NULL; /* moved */
            /* Back in message-id order inside the topic: training sees a stable order. */
            for (size_t k = s; k < e; k++) {
                size_t i = order[k];
                j->texts[j->n] = l.texts[i];
                j->lens[j->n] = strlen(l.texts[i]);
                j->labels[j->n++] = c;
                l.texts[i] = NULL;
            }
        }
        s = e;
    }
    size_t n_labelled = l.n;
    free(order);
    kn_text_list_free(&l);
    if (j->n_classes < 2) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "not_enough_labels",
                         "training needs at least 2 topics with 2 or more labelled messages each; the annotations "
                         "have %d such topic%s (%zu labelled messages in %d topics)",
                         j->n_classes, j->n_classes == 1 ? "" : "s", n_labelled, labelled_topics);
        return -1;
    }
    return 0;
}

/* The backlog: the stored messages without a label (at most KN_BACKLOG_MAX_TEXTS_DEFAULT).
 * 0, or -1 after queueing 500. */
static int gather_backlog(kn_request *r, train_job *j)
{
    kn_error err = {{0}};
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_unlabelled_texts(r->srv->store, KN_BACKLOG_MAX_TEXTS_DEFAULT, &j->backlog, &err);
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc == 0 && !(j->backlog_lens = malloc((j->backlog.n ? j->backlog.n : 1) * sizeof *j->backlog_lens)))
        rc = kn_fail(&err, "out of memory for %zu unlabelled messages", j->backlog.n);
    for (size_t i = 0; rc == 0 && i < j->backlog.n; i++) j->backlog_lens[i] = strlen(j->backlog.texts[i]);
    if (rc != 0) kn_api_internal_error(r, &err);
    return rc;
}

/* POST /api/train {"method": "auto"|"frozen"|"setfit"|"tfidf"|"bm25"|"hybrid", "tune": bool,
 * "budget_seconds": number, "unlabelled": bool} (admin) -> 202 {"job": id} */
void kn_api_train(kn_request *r, char **args)
{
    (void)args;
    static const char *const keys[] = {"method", "tune", "budget_seconds", "unlabelled", NULL};
    json_t *body = r->body ? kn_request_json(r) : json_object(); /* an empty body trains with the defaults */
    train_job *j = NULL;
    if (!body || kn_api_only_keys(r, body, "", keys) != 0) goto done;
    json_t *m = json_object_get(body, "method"), *tune = json_object_get(body, "tune");
    json_t *budget = json_object_get(body, "budget_seconds"), *unl = json_object_get(body, "unlabelled");
    kn_method method = KN_METHOD_HYBRID;
    int auto_select = !m || (json_is_string(m) && strcmp(json_string_value(m), "auto") == 0);
    if (!auto_select && (!json_is_string(m) || kn_method_parse(json_string_value(m), &method) != 0)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         "method must be \"auto\", \"frozen\", \"setfit\", \"tfidf\", \"bm25\" or \"hybrid\"");
        goto done;
    }
    if ((tune && !json_is_boolean(tune)) || (unl && !json_is_boolean(unl)) ||
        (budget && (!json_is_number(budget) || !(json_number_value(budget) >= 10 && json_number_value(budget) <= 86400)))) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid",
                         "tune and unlabelled must be true or false, budget_seconds a number of seconds in [10, 86400]");
        goto done;
    }
    if (json_is_true(tune) && (auto_select || method != KN_METHOD_HYBRID)) {
        kn_respond_error(r, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid", "tune is for method \"hybrid\"");
        goto done;
    }
    if (!(j = calloc(1, sizeof *j))) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        goto done;
    }
    j->srv = r->srv;
    j->method = method;
    j->auto_select = auto_select;
    j->tune = json_is_true(tune);
    j->budget_seconds = budget ? json_number_value(budget) : 0;
    j->use_backlog = !json_is_false(unl);
    kn_error err = {{0}};
    if (kn_method_uses_encoder(method) && kn_api_base_encoder(r->srv, j->encoder_dir, sizeof j->encoder_dir, &err)) {
        kn_respond_error(r, MHD_HTTP_CONFLICT, "no_base_model", "no encoder to train %s on: %s", kn_method_name(method),
                         err.msg);
        goto done;
    }
    /* The workspace is the database's directory. */
    const char *db = r->srv->opt.db_path, *slash = strrchr(db, '/');
    int dlen = slash ? (int)(slash - db) : 1;
    snprintf(j->models_dir, sizeof j->models_dir, "%.*s/models", dlen, slash ? (slash == db ? "/" : db) : ".");
    if (gather(r, j) != 0) goto done;
    if (j->use_backlog && gather_backlog(r, j) != 0) goto done;
    int64_t running = 0;
    int64_t id = kn_jobs_start(r->srv->jobs, KN_JOB_TRAIN, train_run, j, train_job_free, &running, &err);
    if (id > 0) j = NULL; /* the job owns it */
    kn_api_respond_started(r, id, running, "train", &err);
done:
    train_job_free(j);
    json_decref(body);
}

/* GET /api/models/{id}: the model row with "metrics", its held-out evaluation (null when it
 * was not trained from the annotations). */
void kn_api_model_get(kn_request *r, char **args)
{
    int64_t id = kn_api_parse_id(args[0]);
    kn_model_info m;
    char *eval = NULL;
    kn_error err = {{0}};
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_get_model(r->srv->store, id, &m, &err);
    int erc = rc == 0 ? kn_store_get_evaluation(r->srv->store, id, &eval, &err) : 0;
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc == 1) {
        kn_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", "model %.40s does not exist", args[0]);
        return;
    }
    if (rc < 0 || erc < 0) {
        if (rc == 0) kn_model_info_free(&m);
        kn_api_internal_error(r, &err);
        return;
    }
    json_t *note = m.metrics ? json_loads(m.metrics, 0, NULL) : NULL;
    json_t *classes = json_object_get(note, "classes");
    json_t *metrics = eval ? json_loads(eval, 0, NULL) : NULL;
    kn_respond_json(r, MHD_HTTP_OK,
                    json_pack("{s:I,s:s,s:s,s:o,s:I,s:b,s:o}", "id", (json_int_t)m.id, "bundle_path", m.bundle_path,
                              "method", m.method, "classes", json_is_integer(classes) ? json_copy(classes) : json_null(),
                              "created_at", (json_int_t)m.created_at, "active", m.active, "metrics",
                              metrics ? metrics : json_null()));
    json_decref(note);
    free(eval);
    kn_model_info_free(&m);
}
