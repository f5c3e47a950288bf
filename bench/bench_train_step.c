/* bench_train_step.c - Kanava's side of the SetFit training-step benchmark
 * (bench/train_step_bench.sh; the PyTorch side is bench/peers/use_lite_train_torch.py).
 *
 * usage: bench_train_step --model DIR --data CSV [--pairs B] [--steps S] [--warmup W]
 *                         [--threads T] [--lr LR]
 * Picks 2*B*(W+S) texts spread evenly over the CSV (row floor(k * rows / N) of the
 * "text" column; the peer computes the same indices), pairs text 2i with 2i+1 (label 1
 * when their "category" is equal, else 0) and tokenises them up front, as SetFit does.
 * Then W untimed and S timed steps of exactly the SetFit loop (src/learn/setfit.c):
 * zero_grad, forward of the 2B texts (first texts, then second ones), CosineSimilarityLoss
 * and its gradient, backward, AdamW (betas 0.9/0.999, eps 1e-6, decay 0.01 on matrices,
 * linear warm-up over 10% of the steps). Each step uses its own B pairs.
 * Prints one JSON line: ms/step median and p90 (nearest rank), the median of every phase,
 * tokens per step and the first and last step's loss (the peer must agree on the first:
 * same texts, same weights, nothing updated yet) and OMP_WAIT_POLICY as libgomp read it. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "learn/adamw.h"
#include "model/backward.h"
#include "model/trainable.h"
#include "text/csv.h"
#include "util/progress.h"

typedef struct {
    char **text;
    size_t *len;
    char **category;
    size_t n;
} rows;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static double pct(const double *sorted, int n, double p)
{
    int k = (int)((p / 100.0) * n + 0.999999);
    if (k < 1) k = 1;
    return sorted[k - 1];
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return pct(v, n, 50);
}

static char *dup_field(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

static int read_rows(const char *path, rows *r, kn_error *err)
{
    memset(r, 0, sizeof *r);
    kn_csv *csv = kn_csv_open(path, ',', err);
    if (!csv) return -1;
    kn_csv_row row;
    int rc = kn_csv_next(csv, &row, err);
    if (rc != 1) {
        kn_csv_close(csv);
        return rc == 0 ? kn_fail(err, "%s: empty", path) : -1;
    }
    long ct = kn_csv_column(&row, "text"), cc = kn_csv_column(&row, "category");
    if (ct < 0 || cc < 0) {
        kn_csv_close(csv);
        return kn_fail(err, "%s: needs columns text and category", path);
    }
    size_t cap = 0;
    while ((rc = kn_csv_next(csv, &row, err)) == 1) {
        if (r->n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **t = realloc(r->text, cap * sizeof *t), **c = NULL;
            size_t *l = NULL;
            if (t) r->text = t;
            if (t && (c = realloc(r->category, cap * sizeof *c))) r->category = c;
            if (c && (l = realloc(r->len, cap * sizeof *l))) r->len = l;
            if (!l) {
                kn_csv_close(csv);
                return kn_fail(err, "out of memory");
            }
        }
        r->text[r->n] = dup_field(row.fields[ct], row.lengths[ct]);
        r->len[r->n] = row.lengths[ct];
        r->category[r->n] = dup_field(row.fields[cc], row.lengths[cc]);
        if (!r->text[r->n] || !r->category[r->n]) {
            kn_csv_close(csv);
            return kn_fail(err, "out of memory");
        }
        r->n++;
    }
    kn_csv_close(csv);
    if (rc < 0) return -1;
    return r->n ? 0 : kn_fail(err, "%s: no rows", path);
}

/* Tokens the model sees of one text (it ignores those past max_tokens). */
static long used_tokens(const kn_token_seq *s, int max_tokens)
{
    return (long)(s->n < (size_t)max_tokens ? s->n : (size_t)max_tokens);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_train_step --model DIR --data CSV [--pairs B] [--steps S] [--warmup W] "
                    "[--threads T] [--lr LR]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    int B = 16, S = 20, W = 3, threads = 2;
    double lr = 1e-4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--pairs")) B = atoi(v);
        else if (!strcmp(a, "--steps")) S = atoi(v);
        else if (!strcmp(a, "--warmup")) W = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--lr")) lr = atof(v);
        else usage();
        i++;
    }
    if (!model || !data || B < 1 || S < 1 || W < 0 || threads < 1) usage();
    kn_set_threads(threads);

    kn_error err;
    rows r;
    if (read_rows(data, &r, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
    kn_trainable *t = kn_trainable_open(model, &err);
    if (!t) { fprintf(stderr, "%s\n", err.msg); return 1; }
    const int D = t->dim, steps = W + S;
    const size_t N = (size_t)2 * B * steps;
    kn_token_seq *tok = calloc(N, sizeof *tok), *batch = calloc((size_t)2 * B, sizeof *batch);
    float *label = malloc(sizeof(float) * (size_t)B * steps);
    float *out = malloc(sizeof(float) * 2 * B * D), *dout = malloc(sizeof(float) * 2 * B * D);
    double *ms = malloc(sizeof(double) * S), *ph[4];
    for (int k = 0; k < 4; k++) ph[k] = malloc(sizeof(double) * S);
    if (!tok || !batch || !label || !out || !dout || !ms || !ph[0] || !ph[1] || !ph[2] || !ph[3]) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    /* Texts spread evenly over the file; pair i is (text 2i, text 2i+1). */
    size_t prev_row = 0;
    for (size_t k = 0; k < N; k++) {
        size_t row = (size_t)((unsigned long long)k * r.n / N);
        if (t->ops->tokenize(t, r.text[row], r.len[row], &tok[k], &err) != 0) {
            fprintf(stderr, "%s: row %zu: %s\n", data, row + 1, err.msg);
            return 1;
        }
        if (k % 2 == 1) label[k / 2] = strcmp(r.category[prev_row], r.category[row]) == 0;
        prev_row = row;
    }

    kn_adamw *adam = kn_adamw_new(lr, 0.9, 0.999, 1e-6, 0.01, (long)(0.1 * steps), steps);
    kn_trainable_param p[512];
    size_t np = t->ops->params(t, p, 512), n_values = 0;
    if (!adam || np > 512) { fprintf(stderr, "optimizer setup failed\n"); return 1; }
    for (size_t i = 0; i < np; i++) {
        n_values += p[i].size;
        if (kn_adamw_add_param(adam, p[i].value, p[i].grad, p[i].size, p[i].ndim == 2, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    }

    double first_loss = 0, last_loss = 0;
    long tokens = 0, positives = 0;
    for (int s = 0; s < steps; s++) {
        long step_tokens = 0;
        for (int k = 0; k < B; k++) {
            size_t pair = (size_t)s * B + k;
            batch[k] = tok[2 * pair];
            batch[B + k] = tok[2 * pair + 1];
            step_tokens += used_tokens(&batch[k], t->max_tokens) + used_tokens(&batch[B + k], t->max_tokens);
            positives += label[pair] != 0;
        }
        double t0 = kn_now();
        t->ops->zero_grad(t);
        double t1 = kn_now();
        if (t->ops->forward(t, batch, (size_t)2 * B, out, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double loss = kn_cosine_loss_backward(dout, dout + (size_t)B * D, out, out + (size_t)B * D,
                                              label + (size_t)s * B, B, D);
        double t2 = kn_now();
        if (t->ops->backward(t, dout, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
        double t3 = kn_now();
        kn_adamw_step(adam);
        double t4 = kn_now();
        if (s == 0) first_loss = loss;
        last_loss = loss;
        if (s >= W) {
            int i = s - W;
            ms[i] = (t4 - t0) * 1e3;
            ph[0][i] = (t1 - t0) * 1e3;
            ph[1][i] = (t2 - t1) * 1e3;
            ph[2][i] = (t3 - t2) * 1e3;
            ph[3][i] = (t4 - t3) * 1e3;
            tokens += step_tokens;
        }
    }
    qsort(ms, (size_t)S, sizeof *ms, cmp_double);
    double mean = 0;
    for (int i = 0; i < S; i++) mean += ms[i] / S;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"runtime\":\"kanava\",\"threads\":%d,\"blas\":\"%s\",\"pairs\":%d,\"steps\":%d,\"warmup\":%d,"
           "\"ms_per_step_p50\":%.2f,\"ms_per_step_p90\":%.2f,\"ms_per_step_mean\":%.2f,"
           "\"zero_grad_ms_p50\":%.2f,\"forward_loss_ms_p50\":%.2f,\"backward_ms_p50\":%.2f,\"adamw_ms_p50\":%.2f,"
           "\"tokens_per_step\":%.1f,\"positive_pairs\":%ld,\"params\":%zu,\"first_loss\":%.7f,\"last_loss\":%.7f,"
           "\"peak_rss_mib\":%.0f,\"omp_wait_policy\":\"%s\"}\n",
           threads, openblas_get_config(), B, S, W, pct(ms, S, 50), pct(ms, S, 90), mean, median_of(ph[0], S),
           median_of(ph[1], S), median_of(ph[2], S), median_of(ph[3], S), (double)tokens / S, positives, n_values,
           first_loss, last_loss, ru.ru_maxrss / 1024.0,
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default");

    for (size_t k = 0; k < N; k++) free(tok[k].ids);
    for (size_t i = 0; i < r.n; i++) {
        free(r.text[i]);
        free(r.category[i]);
    }
    free(r.text);
    free(r.len);
    free(r.category);
    free(tok);
    free(batch);
    free(label);
    free(out);
    free(dout);
    free(ms);
    for (int k = 0; k < 4; k++) free(ph[k]);
    kn_adamw_free(adam);
    kn_trainable_close(t);
    return 0;
}
