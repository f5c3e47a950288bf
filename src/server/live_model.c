/* live_model.c - the bundle the server classifies with, and its hot swap. The live model is
 * a refcounted holder: a request takes a reference when it starts and drops it when its
 * handler is done; activation opens the new bundle without any lock held by requests,
 * swaps the pointer under a short lock and drops the server's reference to the old one,
 * which is closed when its last request finishes. No request fails or waits on a swap. */
#include <errno.h>
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
    return m;
}

static void destroy(kn_live_model *m)
{
    kn_bundle_close(m->bundle);
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

int kn_live_predict(kn_live_model *m, const char *text, float *proba, kn_error *err)
{
    size_t len = strlen(text);
    pthread_mutex_lock(&m->lock);
    int rc = kn_bundle_predict(m->bundle, &text, &len, 1, proba, NULL, NULL, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
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
