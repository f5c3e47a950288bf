/* progress.h - a progress bar with ETA on a terminal (stderr), silent otherwise. */
#ifndef KN_PROGRESS_H
#define KN_PROGRESS_H

#include <stddef.h>

/* Long work reports progress through this: done of total items. */
typedef void (*kn_progress_fn)(void *ctx, size_t done, size_t total);

/* One step of longer work: its done/total is reported to fn as the share [lo, hi] of the
 * whole (in millionths), so several steps make one bar that only moves forward. fn may be
 * NULL (nothing is reported). */
typedef struct kn_progress_span {
    kn_progress_fn fn;
    void *ctx;
    double lo, hi;
} kn_progress_span;
/* Matches kn_progress_fn; ctx is a kn_progress_span. */
void kn_progress_span_update(void *ctx, size_t done, size_t total);

typedef struct kn_progress {
    const char *label;
    double start;
    double last_draw;
    int enabled;
} kn_progress;

void kn_progress_init(kn_progress *p, const char *label);
/* Matches kn_progress_fn; ctx is a kn_progress. */
void kn_progress_update(void *ctx, size_t done, size_t total);
void kn_progress_finish(kn_progress *p);
double kn_now(void);

#endif
