/* jobs.c - the job registry. One mutex guards every job's fields; a job's thread takes it
 * only to report progress, so readers never wait on work. Threads are joined when a job of
 * the same kind starts again and when the server stops. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/jobs.h"

#define JOBS_KEPT 100 /* finished jobs listed; older ones are forgotten */

static const char *const KIND_NAMES[KN_JOB_KINDS] = {"train", "map", "route"};

enum job_state { JOB_RUNNING, JOB_DONE, JOB_FAILED };

struct kn_job {
    kn_jobs *owner;
    int64_t id, model_id;
    kn_job_kind kind;
    enum job_state state;
    double progress;
    const char *stage;
    char *error;
    int64_t created_at, finished_at;
    pthread_t thread;
    int joinable;
    kn_job_fn fn;
    void *ctx;
    void (*free_ctx)(void *);
    kn_job *next; /* newer first */
};

struct kn_jobs {
    pthread_mutex_t lock;
    kn_job *list;
    int64_t next_id;
    int stopping;
};

kn_jobs *kn_jobs_new(void)
{
    kn_jobs *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->lock, NULL);
    j->next_id = 1;
    return j;
}

static void job_free(kn_job *job)
{
    free(job->error);
    free(job);
}

void kn_jobs_free(kn_jobs *jobs)
{
    if (!jobs) return;
    pthread_mutex_lock(&jobs->lock);
    jobs->stopping = 1;
    pthread_mutex_unlock(&jobs->lock);
    /* The list only grows at its head, and nothing starts jobs any more: walk it unlocked. */
    for (kn_job *j = jobs->list; j; j = j->next)
        if (j->joinable) pthread_join(j->thread, NULL);
    while (jobs->list) {
        kn_job *next = jobs->list->next;
        job_free(jobs->list);
        jobs->list = next;
    }
    pthread_mutex_destroy(&jobs->lock);
    free(jobs);
}

static void *run(void *arg)
{
    kn_job *job = arg;
    kn_error err = {{0}};
    int rc = job->fn(job, job->ctx, &err);
    if (job->free_ctx) job->free_ctx(job->ctx);
    char *msg = rc != 0 ? strdup(err.msg[0] ? err.msg : "failed") : NULL;
    pthread_mutex_lock(&job->owner->lock);
    job->ctx = NULL;
    job->state = rc == 0 ? JOB_DONE : JOB_FAILED;
    if (rc == 0) job->progress = 1.0;
    job->error = msg;
    job->finished_at = (int64_t)time(NULL);
    pthread_mutex_unlock(&job->owner->lock);
    return NULL;
}

/* Joins finished threads and forgets the oldest finished jobs beyond JOBS_KEPT; locked. */
static void reap(kn_jobs *jobs)
{
    int kept = 0;
    for (kn_job **p = &jobs->list; *p;) {
        kn_job *j = *p;
        if (j->state != JOB_RUNNING && j->joinable) {
            pthread_join(j->thread, NULL); /* it has finished its work: returns at once */
            j->joinable = 0;
        }
        if (j->state != JOB_RUNNING && ++kept > JOBS_KEPT) {
            *p = j->next;
            job_free(j);
        } else {
            p = &j->next;
        }
    }
}

int64_t kn_jobs_start(kn_jobs *jobs, kn_job_kind kind, kn_job_fn fn, void *ctx, void (*free_ctx)(void *),
                      int64_t *running, kn_error *err)
{
    *running = 0;
    pthread_mutex_lock(&jobs->lock);
    reap(jobs);
    for (kn_job *j = jobs->list; j; j = j->next) {
        if (j->kind == kind && j->state == JOB_RUNNING) {
            *running = j->id;
            pthread_mutex_unlock(&jobs->lock);
            return 0;
        }
    }
    kn_job *job = calloc(1, sizeof *job);
    if (!job || jobs->stopping) {
        pthread_mutex_unlock(&jobs->lock);
        free(job);
        return kn_fail(err, jobs->stopping ? "the server is stopping" : "out of memory");
    }
    job->owner = jobs;
    job->id = jobs->next_id++;
    job->kind = kind;
    job->state = JOB_RUNNING;
    job->stage = "queued";
    job->created_at = (int64_t)time(NULL);
    job->fn = fn;
    job->ctx = ctx;
    job->free_ctx = free_ctx;
    if (pthread_create(&job->thread, NULL, run, job) != 0) {
        pthread_mutex_unlock(&jobs->lock);
        free(job);
        return kn_fail(err, "cannot start a thread for the %s job", KIND_NAMES[kind]);
    }
    job->joinable = 1;
    job->next = jobs->list;
    jobs->list = job;
    int64_t id = job->id;
    pthread_mutex_unlock(&jobs->lock);
    return id;
}

static json_t *job_json(const kn_job *j)
{
    static const char *const STATES[] = {"running", "done", "failed"};
    return json_pack("{s:I,s:s,s:s,s:f,s:s,s:o,s:o,s:I,s:o}", "id", (json_int_t)j->id, "kind", KIND_NAMES[j->kind],
                     "state", STATES[j->state], "progress", j->progress, "stage", j->stage, "error",
                     j->error ? json_string(j->error) : json_null(), "model_id",
                     j->model_id > 0 ? json_integer((json_int_t)j->model_id) : json_null(), "created_at",
                     (json_int_t)j->created_at, "finished_at",
                     j->state == JOB_RUNNING ? json_null() : json_integer((json_int_t)j->finished_at));
}

json_t *kn_jobs_get_json(kn_jobs *jobs, int64_t id)
{
    json_t *out = NULL;
    pthread_mutex_lock(&jobs->lock);
    for (kn_job *j = jobs->list; j && !out; j = j->next)
        if (j->id == id) out = job_json(j);
    pthread_mutex_unlock(&jobs->lock);
    return out;
}

json_t *kn_jobs_list_json(kn_jobs *jobs)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&jobs->lock);
    for (kn_job *j = jobs->list; j; j = j->next) json_array_append_new(arr, job_json(j));
    pthread_mutex_unlock(&jobs->lock);
    return json_pack("{s:o}", "jobs", arr);
}

void kn_job_progress(kn_job *job, const char *stage, double progress)
{
    pthread_mutex_lock(&job->owner->lock);
    if (stage) job->stage = stage;
    if (progress < 0) progress = 0;
    if (progress > 1) progress = 1;
    /* Progress never goes back: a poller sees a monotone bar. */
    if (progress > job->progress) job->progress = progress;
    pthread_mutex_unlock(&job->owner->lock);
}

void kn_job_set_model(kn_job *job, int64_t model_id)
{
    pthread_mutex_lock(&job->owner->lock);
    job->model_id = model_id;
    pthread_mutex_unlock(&job->owner->lock);
}

int64_t kn_job_id(const kn_job *job) { return job->id; }

int kn_job_stopping(kn_job *job)
{
    pthread_mutex_lock(&job->owner->lock);
    int s = job->owner->stopping;
    pthread_mutex_unlock(&job->owner->lock);
    return s;
}

void kn_job_span_update(void *span, size_t done, size_t total)
{
    kn_job_span *s = span;
    double f = total ? (double)done / (double)total : 1.0;
    kn_job_progress(s->job, s->stage, s->lo + (s->hi - s->lo) * f);
}
