/* setfit.c - the contrastive fine-tuning loop: a batch of texts -> forward -> loss
 * (cosine pairs or in-batch supervised contrastive) -> backward -> AdamW, for max_steps
 * steps; then the tuned weights are saved as a model directory. */
#include "learn/setfit.h"

#include <stdlib.h>
#include <string.h>

#include "learn/adamw.h"
#include "learn/supcon.h"
#include "model/backward.h"
#include "model/trainable.h"
#include "util/rng.h"

#define MAX_PARAMS 512

void kn_setfit_default_options(kn_setfit_options *o)
{
    o->loss = KN_SETFIT_SUPCON;
    o->strategy = KN_PAIRS_OVERSAMPLING;
    o->num_iterations = 20;
    o->max_steps = 500;
    o->batch_pairs = 16;
    o->batch_texts = 32;
    o->per_topic = 2;
    o->tau = 0.05;
    o->freeze = 0;
    o->token_drop = -1;
    o->lr = 1e-4;
    o->weight_decay = 0.01;
    o->warmup_ratio = 0.1;
    o->seed = 42;
}

const char *kn_setfit_loss_name(kn_setfit_loss l) { return l == KN_SETFIT_COSINE ? "cosine" : "supcon"; }

int kn_setfit_loss_parse(const char *name, kn_setfit_loss *l)
{
    if (strcmp(name, "supcon") == 0) *l = KN_SETFIT_SUPCON;
    else if (strcmp(name, "cosine") == 0) *l = KN_SETFIT_COSINE;
    else return -1;
    return 0;
}

/* ---- supcon batches: topics in shuffled passes, each topic's texts in shuffled passes -- */

typedef struct {
    int n_topics;
    size_t *start, *count, *next; /* per topic: its run in members, the next member to give */
    int32_t *members;             /* text indices grouped by topic */
    int32_t *topic_order; /* topics with two or more texts */
    int next_topic;
    uint64_t rng;
} topic_sampler;

static void shuffle_i32(int32_t *a, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = kn_splitmix64(rng) % i;
        int32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static void sampler_free(topic_sampler *s)
{
    free(s->start);
    free(s->count);
    free(s->next);
    free(s->members);
    free(s->topic_order);
}

/* Only topics with two or more texts take part: a single text has no positive. */
static int sampler_init(topic_sampler *s, const int32_t *labels, size_t n, uint64_t seed, kn_error *err)
{
    memset(s, 0, sizeof *s);
    s->rng = seed ^ 0x5eedc0de5eedc0deull;
    int32_t max_label = 0;
    for (size_t i = 0; i < n; i++)
        if (labels[i] > max_label) max_label = labels[i];
    size_t T = (size_t)max_label + 1;
    s->start = calloc(T, sizeof *s->start);
    s->count = calloc(T, sizeof *s->count);
    s->next = calloc(T, sizeof *s->next);
    s->members = malloc((n ? n : 1) * sizeof *s->members);
    s->topic_order = malloc(T * sizeof *s->topic_order);
    if (!s->start || !s->count || !s->next || !s->members || !s->topic_order) {
        sampler_free(s);
        return kn_fail(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) s->count[labels[i]]++;
    for (size_t t = 1; t < T; t++) s->start[t] = s->start[t - 1] + s->count[t - 1];
    for (size_t i = 0; i < n; i++) s->members[s->start[labels[i]] + s->next[labels[i]]++] = (int32_t)i;
    for (size_t t = 0; t < T; t++) {
        s->next[t] = 0;
        shuffle_i32(s->members + s->start[t], s->count[t], &s->rng);
        if (s->count[t] >= 2) s->topic_order[s->n_topics++] = (int32_t)t;
    }
    if (s->n_topics < 2) {
        sampler_free(s);
        return kn_fail(err, "setfit supcon needs at least two topics with two or more examples each");
    }
    shuffle_i32(s->topic_order, (size_t)s->n_topics, &s->rng);
    return 0;
}

static int32_t take_member(topic_sampler *s, int t)
{
    if (s->next[t] == s->count[t]) {
        s->next[t] = 0;
        shuffle_i32(s->members + s->start[t], s->count[t], &s->rng);
    }
    return s->members[s->start[t] + s->next[t]++];
}

/* Fills idx with up to B texts: per_topic from each of the next topics (distinct within a
 * batch while enough topics remain). Returns the count. */
static int sample_batch(topic_sampler *s, int B, int per_topic, int32_t *idx)
{
    int topics = B / per_topic, m = 0;
    if (topics > s->n_topics) topics = s->n_topics;
    for (int k = 0; k < topics; k++) {
        if (s->next_topic == s->n_topics) {
            s->next_topic = 0;
            shuffle_i32(s->topic_order, (size_t)s->n_topics, &s->rng);
        }
        int t = s->topic_order[s->next_topic++];
        int take = per_topic < (int)s->count[t] ? per_topic : (int)s->count[t];
        for (int j = 0; j < take; j++) idx[m++] = take_member(s, t);
    }
    return m;
}

/* Copies src into dst (room for src->n ids) without a random share of its tokens; the
 * first and the last (a model's [CLS] / [SEP] or <s> / </s>) always stay, and so does one
 * inner token. */
static void drop_tokens(const kn_token_seq *src, kn_token_seq *dst, double share, uint64_t *rng)
{
    size_t m = 0;
    for (size_t i = 0; i < src->n; i++) {
        int edge = i == 0 || i + 1 == src->n;
        if (edge || (double)(kn_splitmix64(rng) >> 11) * 0x1.0p-53 >= share) dst->ids[m++] = src->ids[i];
    }
    if (m == 2 && src->n > 2) { /* every inner token dropped: put one back between the edges */
        dst->ids[2] = dst->ids[1];
        dst->ids[1] = src->ids[1 + kn_splitmix64(rng) % (src->n - 2)];
        m = 3;
    }
    dst->n = m;
}

/* ---- the loop ------------------------------------------------------------------------ */

static int tokenize_all(kn_trainable *t, const char *const *texts, const size_t *lens, size_t n, kn_token_seq *tok,
                        kn_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (t->ops->tokenize(t, texts[i], lens[i], &tok[i], err) != 0) {
            char inner[sizeof err->msg];
            memcpy(inner, err->msg, sizeof inner);
            return kn_fail(err, "text %zu: %s", i + 1, inner);
        }
    }
    return 0;
}

static kn_adamw *make_optimizer(kn_trainable *t, const kn_setfit_options *opt, long steps, kn_error *err)
{
    kn_adamw *adam = kn_adamw_new(opt->lr, 0.9, 0.999, 1e-6, opt->weight_decay, (long)(opt->warmup_ratio * steps), steps);
    if (!adam) { kn_fail(err, "bad optimizer settings"); return NULL; }
    kn_trainable_param p[MAX_PARAMS];
    size_t np = t->ops->params(t, p, MAX_PARAMS);
    if (np > MAX_PARAMS) { kn_adamw_free(adam); kn_fail(err, "model has %zu tensors, more than %d", np, MAX_PARAMS); return NULL; }
    for (size_t i = 0; i < np; i++)
        if (p[i].depth >= opt->freeze && kn_adamw_add_param(adam, p[i].value, p[i].grad, p[i].size, p[i].ndim == 2, err) != 0) { /* no decay: biases, norms */
            kn_adamw_free(adam);
            return NULL;
        }
    return adam;
}

int kn_setfit_tune(const char *model_dir, const char *const *texts, const size_t *lens, const int32_t *labels,
                   size_t n, const kn_setfit_options *opt, const char *out_dir, kn_progress_fn progress,
                   void *progress_ctx, double *final_loss, kn_error *err)
{
    kn_trainable *t = kn_trainable_open(model_dir, err);
    if (!t) return -1;
    int cosine = opt->loss == KN_SETFIT_COSINE;
    int B = cosine ? 2 * (opt->batch_pairs > 0 ? opt->batch_pairs : 16) : (opt->batch_texts > 1 ? opt->batch_texts : 32);
    int per_topic = opt->per_topic >= 2 ? opt->per_topic : 2, D = t->dim, rc = 0;
    kn_token_seq *tok = calloc(n, sizeof *tok), *batch = calloc((size_t)B, sizeof *batch);
    float *out = malloc((size_t)B * D * sizeof *out), *dout = malloc((size_t)B * D * sizeof *dout);
    float *pair_label = malloc((size_t)B * sizeof *pair_label);
    int32_t *idx = malloc((size_t)B * sizeof *idx), *batch_label = malloc((size_t)B * sizeof *batch_label);
    kn_pair *pairs = NULL;
    size_t n_pairs = 0;
    topic_sampler sampler = {0};
    int have_sampler = 0;
    kn_adamw *adam = NULL;
    long steps = opt->max_steps;
    int32_t *aug_ids = NULL; /* token_drop: the batch's shortened copies */
    uint64_t aug_rng = opt->seed ^ 0xa5a5a5a5deadbeefull;
    if (!tok || !batch || !out || !dout || !pair_label || !idx || !batch_label) rc = kn_fail(err, "out of memory");
    if (rc == 0) rc = tokenize_all(t, texts, lens, n, tok, err);
    if (rc == 0 && cosine) {
        size_t max_pairs = opt->max_steps > 0 ? (size_t)opt->max_steps * (B / 2) : 0;
        rc = kn_make_pairs(labels, n, opt->strategy, opt->num_iterations, max_pairs, opt->seed, &pairs, &n_pairs, err);
        steps = rc == 0 ? (long)((n_pairs + B / 2 - 1) / (B / 2)) : 0;
    } else if (rc == 0) {
        rc = sampler_init(&sampler, labels, n, opt->seed, err);
        have_sampler = rc == 0;
    }
    double token_drop = opt->token_drop;
    if (token_drop < 0) token_drop = (double)steps * B >= 4.0 * (double)n ? 0.2 : 0.0;
    if (rc == 0 && !cosine && token_drop > 0) {
        size_t longest = 1;
        for (size_t i = 0; i < n; i++) longest = tok[i].n > longest ? tok[i].n : longest;
        if (!(aug_ids = malloc((size_t)B * longest * sizeof *aug_ids))) rc = kn_fail(err, "out of memory");
        for (int k = 0; rc == 0 && k < B; k++) batch[k].ids = aug_ids + (size_t)k * longest;
    }
    if (rc == 0 && !(adam = make_optimizer(t, opt, steps, err))) rc = -1;
    double loss = 0;
    for (long s = 0; rc == 0 && s < steps; s++) {
        int m;
        if (cosine) {
            size_t first = (size_t)s * (B / 2);
            int np = (int)(n_pairs - first < (size_t)(B / 2) ? n_pairs - first : (size_t)(B / 2));
            for (int k = 0; k < np; k++) {
                batch[k] = tok[pairs[first + k].a];
                batch[np + k] = tok[pairs[first + k].b];
                pair_label[k] = pairs[first + k].label;
            }
            m = 2 * np;
        } else {
            m = sample_batch(&sampler, B, per_topic, idx);
            for (int k = 0; k < m; k++) {
                if (aug_ids) drop_tokens(&tok[idx[k]], &batch[k], token_drop, &aug_rng);
                else batch[k] = tok[idx[k]];
                batch_label[k] = labels[idx[k]];
            }
        }
        t->ops->zero_grad(t);
        if ((rc = t->ops->forward(t, batch, (size_t)m, out, err)) != 0) break;
        if (cosine) {
            loss = kn_cosine_loss_backward(dout, dout + (size_t)(m / 2) * D, out, out + (size_t)(m / 2) * D, pair_label,
                                           m / 2, D);
        } else if ((loss = kn_supcon_loss_backward(dout, out, batch_label, m, D, opt->tau)) < 0) {
            rc = kn_fail(err, "out of memory");
            break;
        }
        if ((rc = t->ops->backward(t, dout, err)) != 0) break;
        kn_adamw_step(adam);
        if (progress) progress(progress_ctx, (size_t)s + 1, (size_t)steps);
    }
    if (final_loss) *final_loss = loss;
    if (rc == 0) rc = t->ops->save(t, out_dir, err);
    for (size_t i = 0; tok && i < n; i++) free(tok[i].ids);
    free(tok);
    free(batch);
    free(out);
    free(dout);
    free(pair_label);
    free(idx);
    free(batch_label);
    free(pairs);
    free(aug_ids);
    if (have_sampler) sampler_free(&sampler);
    kn_adamw_free(adam);
    kn_trainable_close(t);
    return rc;
}
