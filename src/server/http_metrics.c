/* http_metrics.c - the counters behind GET /metrics (Prometheus text format 0.0.4):
 *   kanava_http_requests_total{method,path_pattern,status}       counter
 *   kanava_http_request_duration_seconds{path_pattern}           histogram
 *   kanava_route_decisions_total{topic,action}                   counter
 *   kanava_model_swaps_total                                     counter
 *   kanava_model_batches_total, kanava_model_batch_texts_total   counters (micro-batching)
 *   kanava_active_model_id                                       gauge
 * Labels are bounded: methods outside a fixed list are "other", paths are endpoint patterns
 * (never ids or text), topics come from the bundles' class names (at most MAX_DECISIONS
 * series, then "other"). One small mutex guards everything; updates are a few additions. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define MAX_REQUEST_SERIES 512
#define MAX_PATTERNS 64
#define MAX_DECISIONS 1024

static const double BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

typedef struct request_series {
    const char *method, *pattern; /* static strings */
    unsigned status;
    uint64_t count;
} request_series;

typedef struct duration_series {
    const char *pattern;
    uint64_t bucket[N_BUCKETS]; /* non-cumulative here; summed when rendered */
    uint64_t count;
    double sum;
} duration_series;

typedef struct decision_series {
    char *topic;
    const char *action;
    uint64_t count;
} decision_series;

struct kn_metrics {
    pthread_mutex_t lock;
    request_series req[MAX_REQUEST_SERIES];
    size_t n_req;
    uint64_t req_dropped; /* beyond MAX_REQUEST_SERIES (cannot happen with bounded labels) */
    duration_series dur[MAX_PATTERNS];
    size_t n_dur;
    decision_series *dec;
    size_t n_dec, cap_dec;
    uint64_t swaps;
    int64_t active_id;
};

kn_metrics *kn_metrics_new(void)
{
    kn_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->lock, NULL);
    return m;
}

void kn_metrics_free(kn_metrics *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_dec; i++) free(m->dec[i].topic);
    free(m->dec);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const char *method_label(const char *method)
{
    static const char *const KNOWN[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (method && strcmp(method, KNOWN[i]) == 0) return KNOWN[i];
    return "other";
}

void kn_metrics_request(kn_metrics *m, const char *method, const char *pattern, unsigned status, double seconds)
{
    if (!m) return;
    const char *ml = method_label(method);
    if (status > 999) status = 999;
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    while (i < m->n_req && !(m->req[i].status == status && m->req[i].method == ml && m->req[i].pattern == pattern)) i++;
    if (i == m->n_req && i < MAX_REQUEST_SERIES) m->req[m->n_req++] = (request_series){ml, pattern, status, 0};
    if (i < m->n_req) m->req[i].count++;
    else m->req_dropped++;
    size_t d = 0;
    while (d < m->n_dur && m->dur[d].pattern != pattern) d++;
    if (d == m->n_dur && d < MAX_PATTERNS) {
        memset(&m->dur[d], 0, sizeof m->dur[d]);
        m->dur[d].pattern = pattern;
        m->n_dur++;
    }
    if (d < m->n_dur) {
        duration_series *s = &m->dur[d];
        size_t b = 0;
        while (b < N_BUCKETS && seconds > BUCKETS[b]) b++;
        if (b < N_BUCKETS) s->bucket[b]++;
        s->count++;
        s->sum += seconds;
    }
    pthread_mutex_unlock(&m->lock);
}

void kn_metrics_decision(kn_metrics *m, const char *topic, const char *action)
{
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    while (i < m->n_dec && !(strcmp(m->dec[i].action, action) == 0 && strcmp(m->dec[i].topic, topic) == 0)) i++;
    if (i == m->n_dec && m->n_dec >= MAX_DECISIONS) {
        topic = "other";
        i = 0;
        while (i < m->n_dec && !(strcmp(m->dec[i].action, action) == 0 && strcmp(m->dec[i].topic, topic) == 0)) i++;
    }
    if (i == m->n_dec) {
        if (m->n_dec == m->cap_dec) {
            size_t cap = m->cap_dec ? 2 * m->cap_dec : 16;
            decision_series *d = realloc(m->dec, cap * sizeof *d);
            if (!d) goto out;
            m->dec = d;
            m->cap_dec = cap;
        }
        char *t = strdup(topic);
        if (!t) goto out;
        m->dec[m->n_dec++] = (decision_series){t, action, 0};
    }
    m->dec[i].count++;
out:
    pthread_mutex_unlock(&m->lock);
}

void kn_metrics_swap(kn_metrics *m, int64_t active_id, int count_swap)
{
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->active_id = active_id;
    if (count_swap) m->swaps++;
    pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ----------------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = 2 * b->cap + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value with \, " and newline escaped as the format asks. */
static void put_label(buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') put(b, "\\\\");
        else if (*s == '"') put(b, "\\\"");
        else if (*s == '\n') put(b, "\\n");
        else put(b, "%c", *s);
    }
}

char *kn_metrics_render(kn_metrics *m)
{
    buf b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&m->lock);
    put(&b, "# HELP kanava_http_requests_total HTTP requests answered, by method, endpoint path pattern and status.\n"
            "# TYPE kanava_http_requests_total counter\n");
    for (size_t i = 0; i < m->n_req; i++)
        put(&b, "kanava_http_requests_total{method=\"%s\",path_pattern=\"%s\",status=\"%u\"} %" PRIu64 "\n",
            m->req[i].method, m->req[i].pattern, m->req[i].status, m->req[i].count);
    put(&b, "# HELP kanava_http_request_duration_seconds Time from the request's first header to its response, by "
            "endpoint path pattern.\n"
            "# TYPE kanava_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_dur; i++) {
        const duration_series *s = &m->dur[i];
        uint64_t cum = 0;
        for (size_t k = 0; k < N_BUCKETS; k++) {
            cum += s->bucket[k];
            put(&b, "kanava_http_request_duration_seconds_bucket{path_pattern=\"%s\",le=\"%g\"} %" PRIu64 "\n",
                s->pattern, BUCKETS[k], cum);
        }
        put(&b, "kanava_http_request_duration_seconds_bucket{path_pattern=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
            s->pattern, s->count);
        put(&b, "kanava_http_request_duration_seconds_sum{path_pattern=\"%s\"} %.9g\n", s->pattern, s->sum);
        put(&b, "kanava_http_request_duration_seconds_count{path_pattern=\"%s\"} %" PRIu64 "\n", s->pattern,
            s->count);
    }
    put(&b, "# HELP kanava_route_decisions_total Routing decisions, by suggested topic and action.\n"
            "# TYPE kanava_route_decisions_total counter\n");
    for (size_t i = 0; i < m->n_dec; i++) {
        put(&b, "kanava_route_decisions_total{topic=\"");
        put_label(&b, m->dec[i].topic);
        put(&b, "\",action=\"%s\"} %" PRIu64 "\n", m->dec[i].action, m->dec[i].count);
    }
    put(&b, "# HELP kanava_model_swaps_total Activations that replaced the live model.\n"
            "# TYPE kanava_model_swaps_total counter\n"
            "kanava_model_swaps_total %" PRIu64 "\n",
        m->swaps);
    uint64_t batches, texts;
    kn_live_batch_stats(&batches, &texts);
    put(&b, "# HELP kanava_model_batches_total Forward passes of the live model (micro-batches of concurrent requests).\n"
            "# TYPE kanava_model_batches_total counter\n"
            "kanava_model_batches_total %" PRIu64 "\n"
            "# HELP kanava_model_batch_texts_total Texts predicted in those batches.\n"
            "# TYPE kanava_model_batch_texts_total counter\n"
            "kanava_model_batch_texts_total %" PRIu64 "\n",
        batches, texts);
    put(&b, "# HELP kanava_active_model_id The models-table id of the live model.\n"
            "# TYPE kanava_active_model_id gauge\n"
            "kanava_active_model_id %" PRId64 "\n",
        m->active_id);
    pthread_mutex_unlock(&m->lock);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
