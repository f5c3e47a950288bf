/* jobs.h - background jobs of `kanava serve` (training, the map, routing every message): one
 * worker thread per running job, at most one running job of each kind, progress and stage
 * readable at any time. Finished jobs stay listed (the newest JOBS_KEPT). */
#ifndef KN_JOBS_H
#define KN_JOBS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum kn_job_kind { KN_JOB_TRAIN, KN_JOB_MAP, KN_JOB_ROUTE, KN_JOB_KINDS } kn_job_kind;

typedef struct kn_jobs kn_jobs;
typedef struct kn_job kn_job;

/* The work, run in the job's thread: 0 when done, -1 with err when it failed. It reports
 * with kn_job_progress and stops early (failing) when kn_job_stopping says so. */
typedef int (*kn_job_fn)(kn_job *job, void *ctx, kn_error *err);

kn_jobs *kn_jobs_new(void);
/* Asks running jobs to stop, waits for them, frees everything. */
void kn_jobs_free(kn_jobs *jobs);

/* Starts fn(ctx) as a new job of kind. Returns its id (> 0); 0 when a job of that kind is
 * still running (*running = its id; nothing started, ctx untouched); -1 with err. Once
 * started, the job owns ctx and frees it with free_ctx when it ends. */
int64_t kn_jobs_start(kn_jobs *jobs, kn_job_kind kind, kn_job_fn fn, void *ctx, void (*free_ctx)(void *),
                      int64_t *running, kn_error *err);

/* The job's JSON view {"id", "kind", "state", "progress", "stage", "error", "model_id",
 * "created_at", "finished_at"}; NULL when there is no such job. */
json_t *kn_jobs_get_json(kn_jobs *jobs, int64_t id);
/* {"jobs": [...]}, newest first. */
json_t *kn_jobs_list_json(kn_jobs *jobs);

/* ---- for the job's thread ---- */

/* Sets the stage (a static string) and progress in [0, 1]. */
void kn_job_progress(kn_job *job, const char *stage, double progress);
void kn_job_set_model(kn_job *job, int64_t model_id);
int64_t kn_job_id(const kn_job *job);
int kn_job_stopping(kn_job *job);

/* A kn_progress_fn that maps done/total of one step onto [lo, hi] of the job's progress. */
typedef struct kn_job_span {
    kn_job *job;
    const char *stage;
    double lo, hi;
} kn_job_span;
void kn_job_span_update(void *span, size_t done, size_t total);

#endif
