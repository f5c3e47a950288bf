#include "util/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double kn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void kn_progress_init(kn_progress *p, const char *label)
{
    p->label = label;
    p->start = kn_now();
    p->last_draw = 0.0;
    p->enabled = isatty(STDERR_FILENO);
}

void kn_progress_update(void *ctx, size_t done, size_t total)
{
    kn_progress *p = ctx;
    double now = kn_now();
    if (!p->enabled || total == 0 || (now - p->last_draw < 0.1 && done < total)) return;
    p->last_draw = now;
    double frac = (double)done / (double)total, elapsed = now - p->start;
    double eta = done > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
    char bar[31];
    int filled = (int)(frac * 30.0);
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %zu/%zu %3.0f%%  %.0f/s  ETA %02d:%02d ", p->label, bar, done, total, frac * 100.0,
            elapsed > 0 ? (double)done / elapsed : 0.0, (int)(eta / 60), (int)eta % 60);
    fflush(stderr);
}

void kn_progress_finish(kn_progress *p)
{
    if (p->enabled) fputc('\n', stderr);
}

void kn_progress_span_update(void *ctx, size_t done, size_t total)
{
    const kn_progress_span *s = ctx;
    if (!s->fn) return;
    enum { SCALE = 1000000 };
    double f = total ? (double)done / (double)total : 1.0;
    s->fn(s->ctx, (size_t)((s->lo + (s->hi - s->lo) * f) * SCALE), SCALE);
}
