/* adamw.h - AdamW as torch.optim.AdamW (decoupled weight decay, bias correction, eps added
 * after the square root) driven by transformers' get_linear_schedule_with_warmup: the
 * learning rate rises linearly from 0 over warmup_steps, then falls linearly to 0 at
 * total_steps. Parameters are float; the moments are kept in double (torch keeps float),
 * which agrees with torch to ~1e-7 relative per step. */
#ifndef KN_ADAMW_H
#define KN_ADAMW_H

#include <stddef.h>

#include "util/error.h"

typedef struct kn_adamw kn_adamw;

/* NULL when out of memory or when an argument is out of range: lr < 0, betas outside
 * [0, 1), eps < 0, weight_decay < 0, warmup_steps < 0, total_steps < warmup_steps or
 * total_steps < 1. */
kn_adamw *kn_adamw_new(double lr, double beta1, double beta2, double eps, double weight_decay, long warmup_steps,
                       long total_steps);

/* Registers n values and their gradient buffer (both owned by the caller and read at every
 * step). decay = 0 exempts the tensor from weight decay (biases, layer norms). */
int kn_adamw_add_param(kn_adamw *o, float *value, const float *grad, size_t n, int decay, kn_error *err);

/* One update of every parameter at kn_adamw_lr(o), then advances the schedule. As with
 * LambdaLR, step k (1-based) uses lr * schedule(k - 1), so the first step under warm-up
 * has learning rate 0 (the moments still move). */
void kn_adamw_step(kn_adamw *o);

/* The learning rate the next kn_adamw_step will use. */
double kn_adamw_lr(const kn_adamw *o);

void kn_adamw_free(kn_adamw *o);

#endif
