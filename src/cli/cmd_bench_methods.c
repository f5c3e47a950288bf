/* cmd_bench_methods.c - `kanava bench-methods`: every method on the same few-shot splits.
 *
 * For each shots value k and seed, k labelled messages per topic are drawn from the training
 * pool; each Kanava method is trained on them and evaluated on the test file, and each peer
 * (an external command, see bench/peers/) is run on the very same split through
 *     PEER_COMMAND TRAIN.csv TEST.csv OUT_DIR
 * which writes OUT_DIR/predictions.csv (label,confidence per test row) and
 * OUT_DIR/timing.json ({"train_seconds", "predict_seconds"}). Kanava scores every method with
 * the same metric code (metrics.h) and writes PREFIX.md, PREFIX.json and one precision /
 * automation-rate plot per shots value, PREFIX-k<K>.svg (all: PREFIX-all.svg). */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/svg_plot.h"
#include "learn/bundle.h"
#include "learn/curve.h"
#include "learn/dataset.h"
#include "learn/metrics.h"
#include "model/registry.h"
#include "text/csv.h"
#include "util/fs.h"
#include "util/progress.h"
#include "util/rng.h"
#include "util/spawn.h"

#define MAX_ENTRIES 16
#define MAX_SHOTS 16
#define ALL_SHOTS 0 /* "all": the whole pool */

typedef struct entry {
    char name[64];
    int is_peer;
    kn_method method;
    kn_bm25_mode bm25_mode; /* "bm25" is neighbour mode, "bm25-topic" topic mode */
    int tune;               /* "hybrid-setfit": hybrid on a SetFit-tuned encoder */
    int auto_select;        /* "auto" */
    const char *command; /* peers */
} entry;

typedef struct run {
    int entry, shots, seed;
    double accuracy, macro_f1, ece, auto95, train_s, per_s;
} run;

/* Confidences and correctness of every prediction of one (shots, entry), pooled over seeds. */
typedef struct pool {
    float *conf;
    unsigned char *correct;
    size_t n, cap;
} pool;

typedef struct bench {
    entry entries[MAX_ENTRIES];
    int n_entries;
    int shots[MAX_SHOTS], n_shots, seeds;
    kn_dataset train, test;
    kn_train_options train_opt;
    int backlog_rest; /* --backlog rest: the pool's undrawn texts are the methods' backlog */
    char tmp[4096], test_csv[4200];
    run *runs;
    size_t n_runs, cap_runs;
    pool pools[MAX_SHOTS][MAX_ENTRIES];
} bench;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava bench-methods --data TRAIN.csv --test TEST.csv [options]\n"
            "  --shots LIST          examples per topic, e.g. 5,10,20,all (default 5,10,20,all)\n"
            "  --seeds N             draws per shots value (default 5; 'all' is drawn once)\n"
            "  --methods LIST        Kanava methods: frozen,setfit,tfidf,bm25,bm25-topic,\n"
            "                        hybrid,hybrid-setfit,auto (default frozen,tfidf,bm25)\n"
            "  --peer NAME=COMMAND   an external method run as COMMAND TRAIN.csv TEST.csv OUT_DIR (repeatable)\n"
            "  --out PREFIX          writes PREFIX.md, PREFIX.json, PREFIX-k<K>.svg (default bench-methods)\n"
            "  --title TEXT          heading of the report (default: the data file)\n"
            "  --base MODEL          encoder of frozen and setfit (default use-lite)\n"
            "  --max-steps N         setfit optimizer steps (default 500)\n"
            "  --batch-texts N       setfit texts per step (default 32)\n"
            "  --backlog rest|none   rest: the training pool's undrawn texts are the backlog of the methods\n"
            "                        that learn from one (tfidf, hybrid, auto; default none)\n"
            "  --self-train X        hybrid's self-training threshold on the backlog (default 0.5; 0: off)\n"
            "  --pseudo-weight X     the pseudo-labelled texts' weight (default 0.5)\n"
            "  --budget SECONDS      auto's time budget (default 180)\n"
            "  --text-column NAME    default text; --label-column NAME default category\n"
            "  --threads N, --models-dir DIR\n"
            "Files ending in .tsv are read as tab-separated.\n");
}

/* Row indices of k examples per topic (all of a topic's rows when it has fewer), drawn
 * from seed; shots == ALL_SHOTS takes every row. Returns the count; rows has room for n. */
static size_t draw(const kn_dataset *d, int shots, int seed, size_t *rows)
{
    size_t n = 0;
    if (shots == ALL_SHOTS) {
        for (size_t i = 0; i < d->n; i++) rows[n++] = i;
        return n;
    }
    uint64_t rng = 0x6b616e617661ull ^ ((uint64_t)seed * 0x9e3779b97f4a7c15ull);
    size_t *members = malloc(d->n * sizeof *members);
    if (!members) return 0;
    for (int c = 0; c < d->n_classes; c++) {
        size_t m = 0;
        for (size_t i = 0; i < d->n; i++)
            if (d->label[i] == c) members[m++] = i;
        for (size_t j = 0; j < m && j < (size_t)shots; j++) { /* partial Fisher-Yates */
            size_t k = j + (size_t)(kn_splitmix64(&rng) % (m - j)), t = members[j];
            members[j] = members[k];
            members[k] = t;
            rows[n++] = members[j];
        }
    }
    free(members);
    return n;
}

static void csv_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_csv(const char *path, const kn_dataset *d, const size_t *rows, size_t n, kn_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return kn_fail(err, "%s: cannot write", path);
    fputs("text,category\n", f);
    for (size_t r = 0; r < n; r++) {
        size_t i = rows ? rows[r] : r;
        csv_field(f, d->text[i]);
        fputc(',', f);
        csv_field(f, d->label[i] >= 0 ? d->classes[d->label[i]] : "");
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : kn_fail(err, "%s: write failed", path);
}

/* Runs a peer on the split; fills pred/conf and its timings. */
static int run_peer(bench *b, const entry *e, const char *train_csv, int32_t *pred, float *conf, double *train_s,
                    double *predict_s, kn_error *err)
{
    char out[4300], path[4400], script[2048];
    snprintf(out, sizeof out, "%s/peer-%s", b->tmp, e->name);
    kn_rm_rf(out);
    if (kn_mkdir_p(out, err) != 0) return -1;
    snprintf(script, sizeof script, "%s \"$@\"", e->command);
    const char *argv[] = {"sh", "-c", script, "sh", train_csv, b->test_csv, out, NULL};
    kn_error re;
    if (kn_run(argv, NULL, &re) != 0) return kn_fail(err, "peer %s failed: %s", e->name, re.msg);
    snprintf(path, sizeof path, "%s/timing.json", out);
    json_error_t jerr;
    json_t *t = json_load_file(path, 0, &jerr);
    if (!t) return kn_fail(err, "peer %s: %s: %s", e->name, path, jerr.text);
    *train_s = json_number_value(json_object_get(t, "train_seconds"));
    *predict_s = json_number_value(json_object_get(t, "predict_seconds"));
    json_decref(t);
    snprintf(path, sizeof path, "%s/predictions.csv", out);
    kn_csv *csv = kn_csv_open(path, ',', err);
    if (!csv) return -1;
    kn_csv_row row;
    size_t n = 0;
    int rc = kn_csv_next(csv, &row, err) == 1 ? 0 : kn_fail(err, "peer %s: %s has no header", e->name, path);
    while (rc == 0) {
        int got = kn_csv_next(csv, &row, err);
        if (got < 0) rc = -1;
        if (got <= 0) break;
        if (n >= b->test.n) {
            rc = kn_fail(err, "peer %s: %s:%zu: more predictions than the %zu test rows", e->name, path, row.line, b->test.n);
            break;
        }
        int c = -1;
        for (int k = 0; k < b->train.n_classes; k++)
            if (strcmp(row.fields[0], b->train.classes[k]) == 0) c = k;
        char *end;
        double p = row.n_fields >= 2 ? strtod(row.fields[1], &end) : NAN;
        if (c < 0 || !(p >= 0 && p <= 1)) {
            rc = kn_fail(err, "peer %s: %s:%zu: needs a training topic and a confidence in [0,1]", e->name, path, row.line);
            break;
        }
        pred[n] = c;
        conf[n++] = (float)p;
    }
    kn_csv_close(csv);
    if (rc == 0 && n != b->test.n)
        rc = kn_fail(err, "peer %s: %s has %zu predictions for %zu test rows", e->name, path, n, b->test.n);
    return rc;
}

static int run_method(bench *b, const entry *e, const size_t *rows, size_t n_rows, int seed, int32_t *pred,
                      float *conf, double *train_s, double *predict_s, kn_error *err)
{
    const char **texts = malloc(n_rows * sizeof *texts);
    size_t *lens = malloc(n_rows * sizeof *lens);
    int32_t *labels = malloc(n_rows * sizeof *labels);
    float *proba = malloc(b->test.n * (size_t)b->train.n_classes * sizeof *proba);
    int rc = -1;
    kn_bundle *model = NULL;
    if (!texts || !lens || !labels || !proba) {
        kn_fail(err, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < n_rows; r++) {
        texts[r] = b->train.text[rows[r]];
        lens[r] = b->train.len[rows[r]];
        labels[r] = b->train.label[rows[r]];
    }
    kn_train_options o = b->train_opt;
    o.method = e->method;
    o.bm25.mode = e->bm25_mode;
    o.hybrid_tune = e->tune;
    o.auto_select = e->auto_select;
    const char **backlog = NULL;
    size_t *backlog_lens = NULL;
    if (b->backlog_rest && n_rows < b->train.n) {
        unsigned char *drawn = calloc(b->train.n, 1);
        backlog = malloc(b->train.n * sizeof *backlog);
        backlog_lens = malloc(b->train.n * sizeof *backlog_lens);
        if (!drawn || !backlog || !backlog_lens) {
            free(drawn);
            free(backlog);
            free(backlog_lens);
            kn_fail(err, "out of memory");
            goto done;
        }
        for (size_t r = 0; r < n_rows; r++) drawn[rows[r]] = 1;
        for (size_t i = 0; i < b->train.n; i++)
            if (!drawn[i]) {
                backlog[o.n_unlabelled] = b->train.text[i];
                backlog_lens[o.n_unlabelled++] = b->train.len[i];
            }
        free(drawn);
        o.unlabelled = backlog;
        o.unlabelled_lens = backlog_lens;
    }
    o.seed = (uint64_t)seed;
    double t0 = kn_now();
    model = kn_bundle_train(&o, texts, lens, labels, n_rows, b->train.classes, b->train.n_classes, err);
    free(backlog);
    free(backlog_lens);
    if (!model) goto done;
    double t1 = kn_now();
    if (kn_bundle_predict(model, (const char *const *)b->test.text, b->test.len, b->test.n, proba, NULL, NULL, err) != 0)
        goto done;
    *train_s = t1 - t0;
    *predict_s = kn_now() - t1;
    const int K = b->train.n_classes;
    for (size_t i = 0; i < b->test.n; i++) {
        const float *p = proba + i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        pred[i] = best;
        conf[i] = p[best] > 1.0f ? 1.0f : p[best];
    }
    rc = 0;
done:
    kn_bundle_close(model);
    free(texts);
    free(lens);
    free(labels);
    free(proba);
    return rc;
}

static int pool_add(pool *p, const int32_t *truth, const int32_t *pred, const float *conf, size_t n)
{
    if (p->n + n > p->cap) {
        size_t cap = (p->n + n) * 2;
        float *c = realloc(p->conf, cap * sizeof *c);
        if (c) p->conf = c;
        unsigned char *k = c ? realloc(p->correct, cap) : NULL;
        if (!c || !k) return -1;
        p->correct = k;
        p->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        p->conf[p->n] = conf[i];
        p->correct[p->n++] = truth[i] == pred[i];
    }
    return 0;
}

static void shots_label(int shots, char *buf, size_t cap)
{
    if (shots == ALL_SHOTS) snprintf(buf, cap, "all");
    else snprintf(buf, cap, "%d", shots);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of one field over the runs of (shots, entry): timings, where a run disturbed by
 * other work on the machine should not move the figure. */
static double median(const bench *b, int shots, int entry_id, size_t field_offset)
{
    double v[256];
    int n = 0;
    for (size_t r = 0; r < b->n_runs && n < 256; r++) {
        const run *x = &b->runs[r];
        if (x->shots == shots && x->entry == entry_id) v[n++] = *(const double *)((const char *)x + field_offset);
    }
    if (!n) return NAN;
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Mean and sample standard deviation of one field over the runs of (shots, entry). */
static void summarize(const bench *b, int shots, int entry_id, size_t field_offset, double *mean, double *sd,
                      int *count)
{
    double s = 0, ss = 0;
    int n = 0;
    for (size_t r = 0; r < b->n_runs; r++) {
        const run *x = &b->runs[r];
        if (x->shots != shots || x->entry != entry_id) continue;
        double v = *(const double *)((const char *)x + field_offset);
        s += v;
        n++;
    }
    *mean = n ? s / n : NAN;
    for (size_t r = 0; r < b->n_runs; r++) {
        const run *x = &b->runs[r];
        if (x->shots != shots || x->entry != entry_id) continue;
        double v = *(const double *)((const char *)x + field_offset) - *mean;
        ss += v * v;
    }
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
    *count = n;
}

static int write_reports(bench *b, const char *prefix, const char *title, kn_error *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s.md", prefix);
    FILE *md = fopen(path, "w");
    if (!md) return kn_fail(err, "%s: cannot write", path);
    fprintf(md, "### %s\n\n", title);
    fprintf(md, "Train pool %zu messages, test %zu messages, %d topics; mean ± standard deviation over seeds.\n\n",
            b->train.n, b->test.n, b->train.n_classes);
    fprintf(md, "| shots | method | runs | accuracy %% | macro-F1 | ECE | automation @95%% | train s | messages/s |\n");
    fprintf(md, "|---|---|---|---|---|---|---|---|---|\n");
    json_t *rows = json_array();
    for (int s = 0; s < b->n_shots; s++) {
        char sl[16];
        shots_label(b->shots[s], sl, sizeof sl);
        for (int e = 0; e < b->n_entries; e++) {
            double m[6], sd[4];
            int n = 0;
            size_t offs[6] = {offsetof(run, accuracy), offsetof(run, macro_f1), offsetof(run, ece),
                              offsetof(run, auto95), offsetof(run, train_s), offsetof(run, per_s)};
            for (int f = 0; f < 4; f++) summarize(b, b->shots[s], e, offs[f], &m[f], &sd[f], &n); /* mean ± sd */
            if (!n) continue;
            m[4] = median(b, b->shots[s], e, offs[4]); /* timings: medians */
            m[5] = median(b, b->shots[s], e, offs[5]);
            fprintf(md, "| %s | %s | %d | %.1f ± %.1f | %.3f ± %.3f | %.3f ± %.3f | %.1f%% ± %.1f | %.2f | %.0f |\n", sl,
                    b->entries[e].name, n, 100 * m[0], 100 * sd[0], m[1], sd[1], m[2], sd[2], 100 * m[3], 100 * sd[3],
                    m[4], m[5]);
            json_array_append_new(rows, json_pack("{s:s, s:s, s:b, s:i, s:{s:f, s:f}, s:{s:f, s:f}, s:{s:f, s:f}, "
                                                  "s:{s:f, s:f}, s:f, s:f}",
                                                  "shots", sl, "method", b->entries[e].name, "peer",
                                                  b->entries[e].is_peer, "runs", n, "accuracy", "mean", m[0], "sd", sd[0],
                                                  "macro_f1", "mean", m[1], "sd", sd[1], "ece", "mean", m[2], "sd", sd[2],
                                                  "automation_at_95", "mean", m[3], "sd", sd[3], "train_seconds", m[4],
                                                  "messages_per_second", m[5]));
        }
    }
    fprintf(md, "\nautomation @95%%: the largest share of test messages that can be answered automatically while "
                "95%% of the answers are right (0 when no threshold reaches 95%%). Train s: median wall time to train "
                "one model, including embedding or feature extraction and calibration. messages/s: median test-set "
                "prediction rate.\n");
    fclose(md);
    json_t *per_run = json_array();
    for (size_t r = 0; r < b->n_runs; r++) {
        const run *x = &b->runs[r];
        char sl[16];
        shots_label(x->shots, sl, sizeof sl);
        json_array_append_new(per_run, json_pack("{s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "method",
                                                 b->entries[x->entry].name, "shots", sl, "seed", x->seed, "accuracy",
                                                 x->accuracy, "macro_f1", x->macro_f1, "ece", x->ece,
                                                 "automation_at_95", x->auto95, "train_seconds", x->train_s,
                                                 "messages_per_second", x->per_s));
    }
    json_t *doc = json_pack("{s:s, s:I, s:I, s:i, s:o, s:o}", "title", title, "train_rows", (json_int_t)b->train.n,
                            "test_rows", (json_int_t)b->test.n, "topics", b->train.n_classes, "summary", rows, "runs",
                            per_run);
    snprintf(path, sizeof path, "%s.json", prefix);
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : kn_fail(err, "%s: cannot write", path);
    json_decref(doc);
    for (int s = 0; rc == 0 && s < b->n_shots; s++) {
        kn_svg_series series[MAX_ENTRIES];
        kn_curve_point *pts[MAX_ENTRIES] = {0};
        size_t ns = 0;
        for (int e = 0; e < b->n_entries; e++) {
            pool *p = &b->pools[s][e];
            long got = kn_precision_curve(p->conf, p->correct, p->n, 200, &pts[e]);
            if (got > 0) series[ns++] = (kn_svg_series){b->entries[e].name, pts[e], (size_t)got};
        }
        char sl[16], plot_title[512];
        shots_label(b->shots[s], sl, sizeof sl);
        snprintf(plot_title, sizeof plot_title, "%s: %s examples per topic, pooled over seeds", title, sl);
        snprintf(path, sizeof path, "%s-%s%s.svg", prefix, b->shots[s] == ALL_SHOTS ? "" : "k", sl);
        rc = kn_svg_precision_plot(path, plot_title, series, ns, 0.5, err);
        for (int e = 0; e < b->n_entries; e++) free(pts[e]);
    }
    return rc;
}

static int parse_shots(bench *b, char *list)
{
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (b->n_shots == MAX_SHOTS) return -1;
        if (strcmp(tok, "all") == 0) {
            b->shots[b->n_shots++] = ALL_SHOTS;
            continue;
        }
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < 1 || v > 1000000) return -1;
        b->shots[b->n_shots++] = (int)v;
    }
    return b->n_shots ? 0 : -1;
}

static int add_entry(bench *b, const char *name, int is_peer, const char *command)
{
    if (b->n_entries == MAX_ENTRIES || strlen(name) >= sizeof b->entries[0].name || !*name) return -1;
    entry *e = &b->entries[b->n_entries];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->is_peer = is_peer;
    e->command = command;
    e->bm25_mode = KN_BM25_NEIGHBOUR;
    e->tune = 0;
    e->auto_select = 0;
    if (!is_peer && strcmp(name, "auto") == 0) {
        e->method = KN_METHOD_HYBRID;
        e->auto_select = 1;
    } else if (!is_peer && strcmp(name, "bm25-topic") == 0) {
        e->method = KN_METHOD_BM25;
        e->bm25_mode = KN_BM25_TOPIC;
    } else if (!is_peer && strcmp(name, "hybrid-setfit") == 0) {
        e->method = KN_METHOD_HYBRID;
        e->tune = 1;
    } else if (!is_peer && kn_method_parse(name, &e->method) != 0) {
        return -1;
    }
    b->n_entries++;
    return 0;
}

static int bench_all(bench *b, kn_error *err)
{
    const size_t n_test = b->test.n;
    int32_t *pred = malloc(n_test * sizeof *pred);
    float *conf = malloc(n_test * sizeof *conf);
    size_t *rows = malloc(b->train.n * sizeof *rows);
    int rc = 0;
    if (!pred || !conf || !rows) {
        rc = kn_fail(err, "out of memory");
        goto done;
    }
    for (int s = 0; s < b->n_shots && rc == 0; s++) {
        int seeds = b->shots[s] == ALL_SHOTS ? 1 : b->seeds;
        for (int seed = 1; seed <= seeds && rc == 0; seed++) {
            size_t n_rows = draw(&b->train, b->shots[s], seed, rows);
            char train_csv[4300], sl[16];
            shots_label(b->shots[s], sl, sizeof sl);
            snprintf(train_csv, sizeof train_csv, "%s/train-%s-%d.csv", b->tmp, sl, seed);
            int need_csv = 0;
            for (int e = 0; e < b->n_entries; e++) need_csv |= b->entries[e].is_peer;
            if (need_csv && (rc = write_csv(train_csv, &b->train, rows, n_rows, err)) != 0) break;
            for (int e = 0; e < b->n_entries && rc == 0; e++) {
                const entry *en = &b->entries[e];
                double train_s = 0, predict_s = 0;
                rc = en->is_peer ? run_peer(b, en, train_csv, pred, conf, &train_s, &predict_s, err)
                                 : run_method(b, en, rows, n_rows, seed, pred, conf, &train_s, &predict_s, err);
                if (rc != 0) break;
                kn_eval_report rep;
                if ((rc = kn_evaluate(b->test.label, pred, conf, n_test, b->train.n_classes, &rep, err)) != 0) break;
                run x = {e, b->shots[s], seed, rep.accuracy, rep.macro_f1, rep.ece, rep.automation[1].rate, train_s,
                         predict_s > 0 ? (double)n_test / predict_s : INFINITY};
                kn_eval_report_free(&rep);
                if (b->n_runs == b->cap_runs) {
                    size_t cap = b->cap_runs ? 2 * b->cap_runs : 64;
                    run *grown = realloc(b->runs, cap * sizeof *grown);
                    if (!grown) { rc = kn_fail(err, "out of memory"); break; }
                    b->runs = grown;
                    b->cap_runs = cap;
                }
                b->runs[b->n_runs++] = x;
                if (pool_add(&b->pools[s][e], b->test.label, pred, conf, n_test) != 0) { rc = kn_fail(err, "out of memory"); break; }
                fprintf(stderr, "shots %-4s seed %d %-16s accuracy %5.1f%%  macro-F1 %.3f  ECE %.3f  auto@95 %5.1f%%  train %.2f s  %.0f msg/s\n",
                        sl, seed, en->name, 100 * x.accuracy, x.macro_f1, x.ece, 100 * x.auto95, x.train_s, x.per_s);
            }
        }
    }
done:
    free(pred);
    free(conf);
    free(rows);
    return rc;
}

int cmd_bench_methods(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, 0, 'D'},       {"test", required_argument, 0, 'E'},
        {"shots", required_argument, 0, 'k'},      {"seeds", required_argument, 0, 's'},
        {"methods", required_argument, 0, 'm'},    {"peer", required_argument, 0, 'p'},
        {"out", required_argument, 0, 'o'},        {"title", required_argument, 0, 'T'},
        {"base", required_argument, 0, 'B'},       {"max-steps", required_argument, 0, 'S'},
        {"batch-texts", required_argument, 0, 'X'},
        {"text-column", required_argument, 0, 'x'}, {"label-column", required_argument, 0, 'l'},
        {"threads", required_argument, 0, 't'},    {"models-dir", required_argument, 0, 'd'},
        {"backlog", required_argument, 0, 'K'},    {"self-train", required_argument, 0, 'Y'},
        {"pseudo-weight", required_argument, 0, 'W'}, {"budget", required_argument, 0, 'G'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    static bench b;
    memset(&b, 0, sizeof b);
    kn_train_default_options(&b.train_opt);
    char shots_list[256] = "5,10,20,all", methods_list[256] = "frozen,tfidf,bm25";
    const char *data = NULL, *test = NULL, *prefix = "bench-methods", *title = NULL, *base = KN_DEFAULT_MODEL;
    const char *text_col = "text", *label_col = "category", *models_flag = NULL;
    const char *peers[MAX_ENTRIES];
    int n_peers = 0, c;
    long threads = 0;
    b.seeds = 5;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'D': data = optarg; break;
        case 'E': test = optarg; break;
        case 'k': snprintf(shots_list, sizeof shots_list, "%s", optarg); break;
        case 's': b.seeds = (int)strtol(optarg, NULL, 10); break;
        case 'm': snprintf(methods_list, sizeof methods_list, "%s", optarg); break;
        case 'p':
            if (n_peers == MAX_ENTRIES) { fprintf(stderr, "kanava bench-methods: too many --peer\n"); return KN_EXIT_USAGE; }
            peers[n_peers++] = optarg;
            break;
        case 'o': prefix = optarg; break;
        case 'T': title = optarg; break;
        case 'B': base = optarg; break;
        case 'S': b.train_opt.setfit.max_steps = strtol(optarg, NULL, 10); break;
        case 'X': b.train_opt.setfit.batch_texts = (int)strtol(optarg, NULL, 10); break;
        case 'x': text_col = optarg; break;
        case 'l': label_col = optarg; break;
        case 't': threads = strtol(optarg, NULL, 10); break;
        case 'd': models_flag = optarg; break;
        case 'K':
            if (strcmp(optarg, "rest") == 0) b.backlog_rest = 1;
            else if (strcmp(optarg, "none") != 0) { fprintf(stderr, "kanava bench-methods: --backlog is rest or none\n"); return KN_EXIT_USAGE; }
            break;
        case 'Y': b.train_opt.self_train_threshold = strtod(optarg, NULL); break;
        case 'W': b.train_opt.pseudo_weight = strtod(optarg, NULL); break;
        case 'G': b.train_opt.budget_seconds = strtod(optarg, NULL); break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (!data || !test || optind != argc || b.seeds < 1 || b.train_opt.setfit.max_steps < 1 ||
        b.train_opt.setfit.batch_texts < 4 || b.train_opt.setfit.batch_texts > 1024) { usage(stderr); return KN_EXIT_USAGE; }
    if (parse_shots(&b, shots_list) != 0) {
        fprintf(stderr, "kanava bench-methods: --shots wants positive numbers or 'all', comma-separated\n");
        return KN_EXIT_USAGE;
    }
    for (char *tok = strtok(methods_list, ","); tok; tok = strtok(NULL, ","))
        if (add_entry(&b, tok, 0, NULL) != 0) {
            fprintf(stderr, "kanava bench-methods: unknown method '%s' (frozen, setfit, tfidf, bm25, bm25-topic, hybrid, hybrid-setfit, auto)\n", tok);
            return KN_EXIT_USAGE;
        }
    for (int p = 0; p < n_peers; p++) {
        char *eq = strchr(peers[p], '=');
        if (!eq || !eq[1]) { fprintf(stderr, "kanava bench-methods: --peer wants NAME=COMMAND, not '%s'\n", peers[p]); return KN_EXIT_USAGE; }
        *eq = '\0';
        if (add_entry(&b, peers[p], 1, eq + 1) != 0) { fprintf(stderr, "kanava bench-methods: bad peer name '%s'\n", peers[p]); return KN_EXIT_USAGE; }
    }
    if (threads > 0) kn_set_threads((int)threads);
    kn_error err;
    int code = KN_EXIT_FAIL;
    char models_dir[4096], model_dir[4200];
    if (kn_dataset_read(data, text_col, label_col, NULL, 0, &b.train, stderr, &err) != 0 ||
        kn_dataset_check_training(&b.train, NULL, &err) != 0 ||
        kn_dataset_read(test, text_col, label_col, b.train.classes, b.train.n_classes, &b.test, stderr, &err) != 0) {
        fprintf(stderr, "kanava bench-methods: %s\n", err.msg);
        kn_dataset_free(&b.train);
        return KN_EXIT_USAGE;
    }
    for (size_t i = 0; i < b.test.n; i++)
        if (b.test.label[i] < 0) {
            fprintf(stderr, "kanava bench-methods: %s:%zu: topic '%s' is not in the training data\n", test, b.test.line[i],
                    b.test.unknown[i]);
            code = KN_EXIT_USAGE;
            goto done;
        }
    for (int e = 0; e < b.n_entries; e++)
        if (!b.entries[e].is_peer && kn_method_uses_encoder(b.entries[e].method)) {
            if (kn_models_dir(models_dir, sizeof models_dir, models_flag, &err) != 0 ||
                kn_model_path(model_dir, sizeof model_dir, models_dir, base, &err) != 0)
                goto done;
            b.train_opt.encoder_dir = model_dir;
            break;
        }
    if (kn_make_scratch_dir(b.tmp, sizeof b.tmp, NULL, "kanava-bench", &err) != 0) { b.tmp[0] = '\0'; goto done; }
    snprintf(b.test_csv, sizeof b.test_csv, "%s/test.csv", b.tmp);
    if (write_csv(b.test_csv, &b.test, NULL, b.test.n, &err) != 0) goto done;
    b.train_opt.scratch_dir = b.tmp;
    if (bench_all(&b, &err) != 0) goto done;
    if (write_reports(&b, prefix, title ? title : data, &err) != 0) goto done;
    fprintf(stderr, "wrote %s.md, %s.json and the plots %s-*.svg\n", prefix, prefix, prefix);
    code = KN_EXIT_OK;
done:
    if (code != KN_EXIT_OK && code != KN_EXIT_USAGE) fprintf(stderr, "kanava bench-methods: %s\n", err.msg);
    if (b.tmp[0]) kn_rm_rf(b.tmp);
    for (int s = 0; s < MAX_SHOTS; s++)
        for (int e = 0; e < MAX_ENTRIES; e++) {
            free(b.pools[s][e].conf);
            free(b.pools[s][e].correct);
        }
    free(b.runs);
    kn_dataset_free(&b.train);
    kn_dataset_free(&b.test);
    return code;
}
