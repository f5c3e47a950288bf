/* adamw.c - see adamw.h. The update mirrors torch's _single_tensor_adamw line by line, in
 * float32 as torch keeps its moments, so the only differences are rounding. Large tensors
 * are split over the OpenMP threads: the step is memory-bound (five streams per value). */
#include "learn/adamw.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float *value;
    const float *grad;
    float *m, *v; /* first and second moments */
    size_t n;
    int decay;
} adamw_param;

struct kn_adamw {
    double lr, beta1, beta2, eps, weight_decay;
    long warmup, total, t; /* t: steps taken */
    adamw_param *params;
    size_t n_params, cap;
};

kn_adamw *kn_adamw_new(double lr, double beta1, double beta2, double eps, double weight_decay, long warmup_steps,
                       long total_steps)
{
    /* Written so NaN fails every test. */
    if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps >= 0) ||
        !(weight_decay >= 0) || warmup_steps < 0 || total_steps < 1 || total_steps < warmup_steps)
        return NULL;
    kn_adamw *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->warmup = warmup_steps;
    o->total = total_steps;
    return o;
}

int kn_adamw_add_param(kn_adamw *o, float *value, const float *grad, size_t n, int decay, kn_error *err)
{
    if (!o || !value || !grad) return kn_fail(err, "adamw: parameter %zu: NULL optimizer, value or grad", o ? o->n_params : 0);
    if (n == 0) return kn_fail(err, "adamw: parameter %zu is empty", o->n_params);
    if (o->n_params == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        adamw_param *p = realloc(o->params, cap * sizeof *p);
        if (!p) return kn_fail(err, "adamw: out of memory for parameter %zu", o->n_params);
        o->params = p;
        o->cap = cap;
    }
    float *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    if (!m || !v) {
        free(m);
        free(v);
        return kn_fail(err, "adamw: out of memory for the moments of parameter %zu (%zu values)", o->n_params, n);
    }
    o->params[o->n_params++] = (adamw_param){value, grad, m, v, n, decay != 0};
    return 0;
}

/* transformers' lr_lambda for get_linear_schedule_with_warmup. */
static double schedule(const kn_adamw *o, long step)
{
    if (step < o->warmup) return (double)step / (double)(o->warmup > 1 ? o->warmup : 1);
    long rest = o->total - o->warmup;
    double f = (double)(o->total - step) / (double)(rest > 1 ? rest : 1);
    return f > 0 ? f : 0;
}

double kn_adamw_lr(const kn_adamw *o)
{
    return o->lr * schedule(o, o->t);
}

void kn_adamw_step(kn_adamw *o)
{
    double lr = kn_adamw_lr(o);
    long step = ++o->t;
    double b1 = o->beta1, b2 = o->beta2;
    double step_size = lr / (1 - pow(b1, (double)step));
    double bc2_sqrt = sqrt(1 - pow(b2, (double)step));
    for (size_t k = 0; k < o->n_params; k++) {
        adamw_param *p = &o->params[k];
        /* Decoupled decay: shrink before the Adam step, independent of the gradient. */
        const float shrink = (float)(p->decay ? 1 - lr * o->weight_decay : 1);
        const float fb1 = (float)b1, fb2 = (float)b2, a1 = (float)(1 - b1), a2 = (float)(1 - b2);
        const float fstep = (float)step_size, fbc2 = (float)bc2_sqrt, feps = (float)o->eps;
        float *restrict value = p->value, *restrict m = p->m, *restrict v = p->v;
        const float *restrict grad = p->grad;
        const long n = (long)p->n;
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            float g = grad[i];
            float x = value[i] * shrink;
            m[i] = fb1 * m[i] + a1 * g;
            v[i] = fb2 * v[i] + a2 * g * g;
            float denom = sqrtf(v[i]) / fbc2 + feps;
            value[i] = x - fstep * m[i] / denom;
        }
    }
}

void kn_adamw_free(kn_adamw *o)
{
    if (!o) return;
    for (size_t k = 0; k < o->n_params; k++) {
        free(o->params[k].m);
        free(o->params[k].v);
    }
    free(o->params);
    free(o);
}
