/* live_model.c - the bundle the server classifies with, and its hot swap. The live model is
 * a refcounted holder: a request takes a reference when it starts and drops it when its
 * handler is done; activation opens the new bundle without any lock held by requests,
 * swaps the pointer under a short lock and drops the server's reference to the old one,
 * which is closed when its last request finishes. No request fails or waits on a swap. */
#include <errno.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

kn_live_model *kn_live_open(const char *dir, int64_t id, kn_error *err)
{
    kn_live_model *m = calloc(1, sizeof *m);
    if (!m) {
        kn_fail(err, "out of memory");
        return NULL;
    }
    m->bundle = kn_bundle_open(dir, err);
    if (!m->bundle) {
        free(m);
        return NULL;
    }
    m->id = id;
    m->refs = 1;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->batch_done, NULL);
    return m;
}

static void destroy(kn_live_model *m)
{
    kn_bundle_close(m->bundle);
    pthread_cond_destroy(&m->batch_done);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

kn_live_model *kn_live_acquire(kn_server *srv)
{
    pthread_mutex_lock(&srv->model_lock);
    kn_live_model *m = srv->live;
    if (m) m->refs++;
    pthread_mutex_unlock(&srv->model_lock);
    return m;
}

void kn_live_release(kn_server *srv, kn_live_model *m)
{
    if (!m) return;
    pthread_mutex_lock(&srv->model_lock);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&srv->model_lock);
    if (last) destroy(m); /* outside the lock: closing a bundle may take a while */
}

void kn_live_swap(kn_server *srv, kn_live_model *m)
{
    if (m) {
        flockfile(stderr);
        fprintf(stderr, "model %lld (%s, %d topics) is live\n", (long long)m->id, kn_method_name(m->bundle->method),
                m->bundle->n_classes);
        funlockfile(stderr);
    }
    pthread_mutex_lock(&srv->model_lock);
    kn_live_model *old = srv->live;
    srv->live = m;
    pthread_mutex_unlock(&srv->model_lock);
    kn_metrics_swap(srv->metrics, m ? m->id : 0, old != NULL && m != NULL);
    kn_live_release(srv, old);
}

/* ---- micro-batching ------------------------------------------------------------------ */

/* Larger batches would only make the first request of a burst wait for the last. */
enum { MAX_BATCH = 32 };

struct kn_predict_item {
    const char *text;
    size_t len;
    float *proba;
    int done, rc;
    kn_error err;
    kn_predict_item *next;
};

static _Atomic uint64_t batches_run, texts_run;
static int compute_threads;

void kn_live_set_compute_threads(int n)
{
    compute_threads = n;
}

void kn_live_batch_stats(uint64_t *batches, uint64_t *texts)
{
    *batches = batches_run;
    *texts = texts_run;
}

/* Predicts the taken items (the model lock is not held). One forward pass for all; if it
 * fails, each text again alone, so an error belongs to the text that caused it. */
static void predict_batch(kn_live_model *m, kn_predict_item **items, int n)
{
    const char *texts[MAX_BATCH];
    size_t lens[MAX_BATCH];
    int k = m->bundle->n_classes;
    float *proba = n > 1 ? malloc((size_t)n * k * sizeof *proba) : NULL;
    for (int i = 0; i < n; i++) texts[i] = items[i]->text, lens[i] = items[i]->len;
#ifdef _OPENMP
    /* OpenMP's thread count is per calling thread: each connection thread sets its own. */
    if (compute_threads > 0) omp_set_num_threads(compute_threads);
#endif
    if (proba && kn_bundle_predict(m->bundle, texts, lens, (size_t)n, proba, NULL, NULL, &items[0]->err) == 0) {
        for (int i = 0; i < n; i++) {
            memcpy(items[i]->proba, proba + (size_t)i * k, (size_t)k * sizeof *proba);
            items[i]->rc = 0;
        }
    } else {
        for (int i = 0; i < n; i++)
            items[i]->rc = kn_bundle_predict(m->bundle, &texts[i], &lens[i], 1, items[i]->proba, NULL, NULL, &items[i]->err);
    }
    free(proba);
    batches_run++;
    texts_run += (uint64_t)n;
}

int kn_live_predict(kn_live_model *m, const char *text, float *proba, kn_error *err)
{
    kn_predict_item self = {.text = text, .len = strlen(text), .proba = proba};
    pthread_mutex_lock(&m->lock);
    if (m->queue_tail) m->queue_tail->next = &self;
    else m->queue = &self;
    m->queue_tail = &self;
    while (!self.done) {
        if (m->busy) {
            pthread_cond_wait(&m->batch_done, &m->lock);
            continue;
        }
        /* The model is free: this thread predicts everything queued (its own text among it,
         * or it would be done already), up to MAX_BATCH. */
        kn_predict_item *items[MAX_BATCH];
        int n = 0;
        while (m->queue && n < MAX_BATCH) {
            items[n++] = m->queue;
            m->queue = m->queue->next;
        }
        if (!m->queue) m->queue_tail = NULL;
        m->busy = 1;
        pthread_mutex_unlock(&m->lock);
        predict_batch(m, items, n);
        pthread_mutex_lock(&m->lock);
        for (int i = 0; i < n; i++) items[i]->done = 1;
        m->busy = 0;
        pthread_cond_broadcast(&m->batch_done);
    }
    pthread_mutex_unlock(&m->lock);
    if (self.rc != 0) *err = self.err;
    return self.rc;
}

char *kn_live_metrics_json(const kn_bundle *b)
{
    char *s = malloc(40);
    if (s) snprintf(s, 40, "{\"classes\":%d}", b->n_classes);
    return s;
}

kn_live_model *kn_live_load(kn_server *srv, const char *dir, int *bad_bundle, kn_error *err)
{
    *bad_bundle = 0;
    char *path = realpath(dir, NULL);
    if (!path) {
        *bad_bundle = 1;
        kn_fail(err, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    kn_live_model *m = kn_live_open(path, 0, err);
    char *metrics = m ? kn_live_metrics_json(m->bundle) : NULL;
    if (!m) {
        *bad_bundle = 1;
    } else if (!metrics) {
        kn_fail(err, "out of memory");
    } else {
        pthread_mutex_lock(&srv->store_lock);
        m->id = kn_store_register_model(srv->store, path, kn_method_name(m->bundle->method), metrics, NULL, err);
        pthread_mutex_unlock(&srv->store_lock);
    }
    free(metrics);
    free(path);
    if (m && m->id <= 0) {
        destroy(m);
        m = NULL;
    }
    return m;
}

int kn_live_mark_active(kn_server *srv, int64_t id, kn_error *err)
{
    pthread_mutex_lock(&srv->store_lock);
    int rc = kn_store_activate_model(srv->store, id, err);
    pthread_mutex_unlock(&srv->store_lock);
    if (rc == 1) return kn_fail(err, "model %lld vanished while it was activated", (long long)id);
    return rc;
}
