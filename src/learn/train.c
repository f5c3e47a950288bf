/* train.c - one entry point that trains any method into an in-memory bundle (bundle.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "learn/bundle.h"
#include "learn/self_train.h"
#include "learn/temperature.h"
#include "text/language_id.h"
#include "text/lemmatize.h"
#include "model/concat_encoder.h"
#include "model/quantize.h"
#include "util/fs.h"
#include "util/progress.h"

void kn_train_default_options(kn_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = KN_METHOD_FROZEN;
    kn_logreg_default_options(&o->head);
    o->head.C = 0; /* the method's default */
    o->calibration_folds = 5;
    o->seed = 42;
    o->base_weight = 0.5;
    o->budget_seconds = 180;
    o->self_train_threshold = 0.5;
    o->pseudo_weight = 0.5;
    const double grid[] = KN_HYBRID_GRID_DEFAULT;
    o->hybrid_n_grid = (int)(sizeof grid / sizeof grid[0]);
    memcpy(o->hybrid_grid, grid, sizeof grid);
    kn_setfit_default_options(&o->setfit);
    kn_tfidf_default_options(&o->tfidf);
    o->tfidf.lemmatize = KN_LEMMA_AUTO;
    kn_bm25_default_options(&o->bm25);
}

static kn_logreg_options head_options(const kn_train_options *o, size_t n)
{
    kn_logreg_options h = o->head;
    const int sparse = o->method == KN_METHOD_TFIDF || o->method == KN_METHOD_HYBRID;
    if (!(h.C > 0)) h.C = sparse ? 10.0 : 100.0;
    /* TF-IDF heads have millions of parameters: stop where scikit-learn's lbfgs stops
     * (largest gradient component 1e-4 on its objective, which is ours divided by C * n)
     * instead of at the tight default, which only buys digits nobody uses. */
    if (sparse && o->head.tol == 1e-6) {
        h.tol = 1e-4 * h.C * (double)n;
        h.tol_max_abs = 1;
    }
    return h;
}

/* A temperature fitted before the head (SetFit's separate calibration fine-tune). */
typedef struct {
    float T;
    double before, after; /* held-out NLL at T = 1 and at T */
    const char *source;
} held_temperature;

/* Fits the head on dense embeddings or sparse features and calibrates its temperature: the
 * preset one when given, else on fold 0 of held_fold when given (texts the encoder was not
 * tuned on), else by cross-validation. */
static int fit_head(kn_bundle *b, const kn_train_options *o, const float *X, const kn_csr *S, int dim,
                    const int32_t *labels, size_t n, const int *held_fold, const held_temperature *preset,
                    json_t *meta, kn_error *err)
{
    kn_logreg_options h = head_options(o, n);
    double before = 0, after = 0;
    const char *source = S ? "held-out third" : held_fold ? "held-out fold" : "cross-validation";
    /* TF-IDF heads hold out one third once instead of cross-validating: a fold fit (from
     * zero, see calibrate.c) costs most of a full fit, and the temperature from one held-out
     * third was within 0.05 of 5-fold cross-validation's (SIB-200 English 0.554 / 0.540,
     * Finnish 0.549 / 0.501, Banking77 0.619 / 0.628) at a fifth of the cost. */
    int folds = S && o->calibration_folds >= 2 ? 3 : o->calibration_folds, fits = S ? 1 : 0;
    if (preset) {
        fits = 1;
        if (kn_logreg_fit(&b->head, X, labels, n, dim, b->n_classes, &h, err) != 0) return -1;
        b->head.temperature = preset->T;
        before = preset->before;
        after = preset->after;
        source = preset->source;
    } else if (S) {
        /* The held-out fit does not need the full fit, so the two run side by side, one
         * thread each (nested regions inside them run on one thread). The held-out fit stops
         * at 3x the tolerance: the temperature moved by under 1 % (0.556 / 0.554 SIB-200
         * English, 0.624 / 0.619 Banking77) for 15-35 % less time. */
        kn_logreg_options held = h;
        held.tol *= 3;
        kn_error fit_err = {{0}}, cal_err = {{0}};
        int fit_rc = 0, cal_rc = 0;
        float T = 1.0f;
#pragma omp parallel sections num_threads(2)
        {
#pragma omp section
            fit_rc = kn_logreg_fit_sparse(&b->head, S, labels, b->n_classes, &h, &fit_err);
#pragma omp section
            if (folds >= 2)
                cal_rc = kn_logreg_holdout_temperature_sparse(S, labels, b->n_classes, &held, folds, o->seed, &T,
                                                              &before, &after, &cal_err);
        }
        if (fit_rc != 0 || cal_rc != 0) {
            *err = fit_rc != 0 ? fit_err : cal_err;
            return -1;
        }
        b->head.temperature = T;
    } else if (held_fold) {
        /* Fold 0's embeddings are as new to the encoder as tomorrow's messages. */
        fits = 1;
        if (kn_logreg_fit(&b->head, X, labels, n, dim, b->n_classes, &h, err) != 0) return -1;
        if (kn_logreg_holdout_temperature(X, dim, labels, n, b->n_classes, &h, folds, held_fold, &b->head.temperature,
                                          &before, &after, err) != 0)
            return -1;
    } else {
        if (kn_logreg_fit(&b->head, X, labels, n, dim, b->n_classes, &h, err) != 0) return -1;
        if (folds >= 2 && kn_logreg_calibrate(&b->head, X, labels, n, &h, folds, o->seed, &before, &after, err) != 0)
            return -1;
    }
    json_object_set_new(meta, "head", json_pack("{s:f, s:b, s:s, s:i, s:f, s:f, s:f}", "C", h.C, "balanced",
                                                h.balanced, "calibration", source, "calibration_folds",
                                                fits ? fits : folds, "temperature",
                                                (double)b->head.temperature, "cv_nll_before_calibration", before,
                                                "cv_nll_after_calibration", after));
    return 0;
}

/* Where a long step's progress goes: the caller's callback over [lo, hi] of the whole job, or a
 * bar of its own on the terminal, or nowhere. */
typedef struct {
    kn_progress bar;
    kn_progress_span span;
    int use_span, use_bar;
} step_progress;

static void step_progress_begin(step_progress *p, const kn_train_options *o, const char *label, double lo, double hi)
{
    kn_progress_init(&p->bar, label);
    p->span = (kn_progress_span){o->progress, o->progress_ctx, lo, hi};
    p->use_span = o->progress != NULL;
    p->use_bar = !p->use_span && o->show_progress;
}

static kn_progress_fn step_progress_fn(const step_progress *p)
{
    return p->use_span ? kn_progress_span_update : p->use_bar ? kn_progress_update : NULL;
}

static void *step_progress_ctx(step_progress *p) { return p->use_span ? (void *)&p->span : (void *)&p->bar; }

static void step_progress_end(step_progress *p)
{
    if (p->use_bar) kn_progress_finish(&p->bar);
}

/* Lays out dir as a concat encoder (model/concat_encoder.h): the tuned encoder goes into
 * dir/tuned (its path in tuned), and dir/base links to the base model, which the bundle's
 * copy resolves (cp -L) and kn_rm_rf leaves alone (it does not follow links). On the five
 * Banking77 draws of 10 texts per topic the head on both (base at weight 0.5) scored 80.5 %
 * against 80.1 % on the tuned vectors alone, higher on every draw (5 texts, first draw:
 * 70.7 / 70.5; all texts: 91.2 / 91.1). */
static int make_concat_dir(const char *dir, const char *base_dir, double weight, char *tuned, size_t cap,
                           kn_error *err)
{
    char link_path[4300], *base_abs = realpath(base_dir, NULL);
    if (!base_abs) return kn_fail(err, "%s: %s", base_dir, strerror(errno));
    int rc = kn_path_join(tuned, cap, dir, "tuned") != 0 || kn_path_join(link_path, sizeof link_path, dir, "base") != 0
                 ? kn_fail(err, "scratch path too long")
                 : 0;
    if (rc == 0) rc = kn_mkdir_p(tuned, err);
    if (rc == 0 && symlink(base_abs, link_path) != 0) rc = kn_fail(err, "%s: %s", link_path, strerror(errno));
    free(base_abs);
    kn_concat_part parts[2] = {{"tuned", 1.0f}, {"base", (float)weight}};
    return rc == 0 ? kn_concat_write_config(dir, parts, 2, err) : rc;
}

/* SetFit: fine-tunes the base encoder on every text outside held_fold's fold 0 (all texts
 * when held_fold is NULL) into a scratch directory that becomes the bundle's encoder (int8
 * with o->quantize), then embeds every text with it into *emb. Progress covers [lo, hi]. */
static int tune_and_embed(kn_bundle *b, const kn_train_options *o, const char *const *texts, const size_t *lens,
                          const int32_t *labels, size_t n, const int *held_fold, const char *label, double lo,
                          double hi, float **emb, json_t *meta, kn_error *err)
{
    char scratch[4200], tuned[4300];
    if (kn_make_scratch_dir(scratch, sizeof scratch, o->scratch_dir, "kanava-setfit", err) != 0) return -1;
    free(b->encoder_dir);
    if (!(b->encoder_dir = strdup(scratch))) return kn_fail(err, "out of memory");
    b->owns_encoder_dir = 1;
    if (!(o->base_weight > 0)) memcpy(tuned, scratch, sizeof scratch);
    else if (make_concat_dir(scratch, o->encoder_dir, o->base_weight, tuned, sizeof tuned, err) != 0) return -1;
    kn_setfit_options sf = o->setfit;
    sf.seed = o->seed;
    const char **tune_texts = malloc(n * sizeof *tune_texts);
    size_t *tune_lens = malloc(n * sizeof *tune_lens), n_tune = 0;
    int32_t *tune_labels = malloc(n * sizeof *tune_labels);
    int rc = !tune_texts || !tune_lens || !tune_labels ? kn_fail(err, "out of memory") : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!held_fold || held_fold[i] != 0) {
            tune_texts[n_tune] = texts[i];
            tune_lens[n_tune] = lens[i];
            tune_labels[n_tune++] = labels[i];
        }
    step_progress tune;
    step_progress_begin(&tune, o, label, lo, lo + 0.8 * (hi - lo));
    double loss = 0;
    if (rc == 0)
        rc = kn_setfit_tune(o->encoder_dir, tune_texts, tune_lens, tune_labels, n_tune, &sf, tuned,
                            step_progress_fn(&tune), step_progress_ctx(&tune), &loss, err);
    free(tune_texts);
    free(tune_lens);
    free(tune_labels);
    step_progress_end(&tune);
    if (rc != 0) return -1;
    if (meta)
        json_object_set_new(meta, "setfit",
                            json_pack("{s:s, s:I, s:f, s:i, s:i, s:f, s:i, s:I, s:f, s:f}", "loss",
                                      kn_setfit_loss_name(sf.loss), "max_steps", (json_int_t)sf.max_steps, "lr", sf.lr,
                                      "batch_pairs", sf.batch_pairs, "batch_texts", sf.batch_texts, "tau", sf.tau,
                                      "freeze", sf.freeze, "tuned_on", (json_int_t)n_tune, "final_loss", loss,
                                      "base_weight", o->base_weight > 0 ? o->base_weight : 0.0));
    if (o->quantize ? kn_bundle_quantize_encoder(b, o->scratch_dir, err) != 0
                    : !(b->encoder = kn_encoder_open(b->encoder_dir, err)))
        return -1;
    if (!(*emb = malloc(n * (size_t)b->encoder->dim * sizeof **emb)))
        return kn_fail(err, "out of memory for %zu embeddings", n);
    step_progress embed;
    step_progress_begin(&embed, o, "embedding", lo + 0.8 * (hi - lo), hi);
    rc = kn_encoder_embed(b->encoder, texts, lens, n, 32, *emb, step_progress_fn(&embed), step_progress_ctx(&embed),
                          err);
    step_progress_end(&embed);
    return rc;
}

/* A first fine-tune without fold 0 of held_fold for a SetFit head whose encoder is tuned on
 * every text: every text embedded by it into *emb (dim in *dim), fold 0 new to it as
 * tomorrow's messages will be to the final encoder; the first encoder is then discarded.
 * Progress covers [0, hi]. */
static int calibration_fine_tune(const kn_train_options *o, const char *const *texts, const size_t *lens,
                                 const int32_t *labels, size_t n, const int *held_fold, double hi, float **emb,
                                 int *dim, kn_bundle **keep, kn_error *err)
{
    kn_bundle *cal = calloc(1, sizeof *cal);
    if (!cal) return kn_fail(err, "out of memory");
    cal->method = o->method;
    *emb = NULL;
    int rc = tune_and_embed(cal, o, texts, lens, labels, n, held_fold, "fine-tuning (for calibration)", 0.0, hi, emb,
                            NULL, err);
    if (rc == 0) *dim = cal->encoder->dim;
    if (rc == 0 && keep) *keep = cal; /* the caller closes it */
    else kn_bundle_close(cal);        /* removes the first encoder's scratch directory */
    return rc;
}

/* The temperature of a SetFit head from the calibration fine-tune's fold 0. */
static int calibration_temperature(const kn_train_options *o, const char *const *texts, const size_t *lens,
                                   const int32_t *labels, size_t n, int n_classes, const int *held_fold, double hi,
                                   float *T, double *before, double *after, kn_error *err)
{
    float *emb = NULL;
    int dim = 0;
    kn_logreg_options h = head_options(o, n);
    int rc = calibration_fine_tune(o, texts, lens, labels, n, held_fold, hi, &emb, &dim, NULL, err);
    if (rc == 0)
        rc = kn_logreg_holdout_temperature(emb, dim, labels, n, n_classes, &h, o->calibration_folds, held_fold, T,
                                           before, after, err);
    free(emb);
    return rc;
}

static int train_encoder_method(kn_bundle *b, const kn_train_options *o, const char *const *texts,
                                const size_t *lens, const int32_t *labels, size_t n, json_t *meta, kn_error *err)
{
    if (!o->encoder_dir) return kn_fail(err, "train: method %s needs an encoder", kn_method_name(o->method));
    if (o->method != KN_METHOD_SETFIT) {
        if (!(b->encoder_dir = strdup(o->encoder_dir))) return kn_fail(err, "out of memory");
        /* frozen --quantize never uses the float encoder: the int8 one is opened instead */
        if (!o->quantize && !(b->encoder = kn_encoder_open(b->encoder_dir, err))) return -1;
        if (o->quantize && kn_bundle_quantize_encoder(b, o->scratch_dir, err) != 0) return -1;
        float *emb = malloc(n * (size_t)b->encoder->dim * sizeof *emb);
        if (!emb) return kn_fail(err, "out of memory for %zu embeddings", n);
        step_progress embed;
        step_progress_begin(&embed, o, "embedding", 0.0, 1.0);
        int rc = kn_encoder_embed(b->encoder, texts, lens, n, 32, emb, step_progress_fn(&embed),
                                  step_progress_ctx(&embed), err);
        step_progress_end(&embed);
        if (rc == 0) rc = fit_head(b, o, emb, NULL, b->encoder->dim, labels, n, NULL, NULL, meta, err);
        free(emb);
        return rc;
    }
    /* SetFit's calibration needs texts the encoder was not tuned on: fold 0 of the head's
     * calibration folds sits out a fine-tuning and the temperature is fitted on it. */
    int *held_fold = NULL;
    if (o->calibration_folds >= 2 &&
        (!(held_fold = malloc(n * sizeof *held_fold)) ||
         kn_stratified_folds(labels, n, b->n_classes, o->calibration_folds, o->seed, held_fold) != 0)) {
        free(held_fold);
        return kn_fail(err, "out of memory");
    }
    int rc = 0;
    held_temperature given = {0};
    const held_temperature *preset = NULL;
    /* With a small held-out fold (a few texts per topic) the final encoder is tuned on every
     * text and a first fine-tune is spent on the temperature alone. On the five Banking77
     * draws of 10 texts per topic, tuning on all ten instead of eight raised mean test
     * accuracy from 79.8 to 80.1 % (one fine-tune's batch order alone moves a draw by up to
     * 1.7 points); with 20 % of 10,003 texts held out there is little to win and a second
     * fine-tune would double the training time. */
    if (held_fold && kn_holdout_is_small(held_fold, n, b->n_classes)) {
        rc = calibration_temperature(o, texts, lens, labels, n, b->n_classes, held_fold, 0.5, &given.T, &given.before,
                                     &given.after, err);
        given.source = "held-out fold of a separate fine-tune";
        preset = &given;
    }
    float *emb = NULL;
    if (rc == 0)
        rc = tune_and_embed(b, o, texts, lens, labels, n, preset ? NULL : held_fold, "fine-tuning", preset ? 0.5 : 0.0,
                            1.0, &emb, meta, err);
    if (rc == 0) rc = fit_head(b, o, emb, NULL, b->encoder->dim, labels, n, preset ? NULL : held_fold, preset, meta, err);
    free(emb);
    free(held_fold);
    return rc;
}

/* The n-gram vocabulary of the labelled texts, its idf from them and the backlog. */
kn_tfidf_options kn_train_tfidf_options(const kn_train_options *o, const char *const *texts, const size_t *lens,
                                        size_t n)
{
    kn_tfidf_options t = o->tfidf;
    if (t.lemmatize != KN_LEMMA_AUTO) return t;
    const size_t finnish = kn_language_count(texts, lens, n, "fi", NULL);
    t.lemmatize = 2 * finnish >= n && n > 0 && kn_lemmatizer_available(NULL) ? KN_LEMMA_FI : KN_LEMMA_NONE;
    return t;
}

static kn_tfidf *fit_tfidf(const kn_train_options *o, const char *const *texts, const size_t *lens, size_t n,
                           kn_error *err)
{
    kn_tfidf_options t = kn_train_tfidf_options(o, texts, lens, n);
    return kn_tfidf_fit_idf_corpus(texts, lens, n, o->unlabelled, o->unlabelled_lens, o->n_unlabelled, &t, err);
}

static int train_tfidf(kn_bundle *b, const kn_train_options *o, const char *const *texts, const size_t *lens,
                       const int32_t *labels, size_t n, json_t *meta, kn_error *err)
{
    if (!(b->tfidf = fit_tfidf(o, texts, lens, n, err))) return -1;
    kn_csr X;
    if (kn_tfidf_transform(b->tfidf, texts, lens, n, &X, err) != 0) return -1;
    int rc = fit_head(b, o, NULL, &X, X.n_cols, labels, n, NULL, NULL, meta, err);
    kn_csr_free(&X);
    const kn_tfidf_options *t = &o->tfidf;
    json_object_set_new(meta, "tfidf", json_pack("{s:[i,i], s:[i,i], s:b, s:i, s:s}", "word_ngrams", t->word_min_n,
                                                 t->word_max_n, "char_ngrams", t->char_min_n, t->char_max_n,
                                                 "sublinear_tf", t->sublinear_tf, "features", kn_tfidf_dim(b->tfidf),
                                                 "lemmatize",
                                                 kn_tfidf_get_options(b->tfidf)->lemmatize == KN_LEMMA_FI ? "voikko-fi"
                                                                                                       : "none"));
    return rc;
}

/* The held-out rows the hybrid weight and temperature are chosen on, as parts (hybrid.h):
 * with every row's embedding honest (a frozen encoder) and few rows, every fold of `fold`
 * in turn (cross-validation); with many rows fold 0 alone. With a tuned encoder only fold 0
 * is honest: a small fold 0 is split into parts, each scored by a head fitted on every other
 * row (as kn_logreg_holdout_temperature does), a large one is one part. Returns parts. */
static int hybrid_parts(const int *fold, size_t n, int n_classes, int folds, int tuned, int *part)
{
    const int small = kn_holdout_is_small(fold, n, n_classes);
    size_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tuned && small) part[i] = fold[i];
        else if (fold[i] != 0) part[i] = -1;
        else part[i] = small ? (int)(next++ % (size_t)folds) : 0;
    }
    return small ? folds : 1;
}

/* Rows [i] of X whose part is not k (negative parts always train) into *out, their labels
 * into y and weights (1) into w; returns how many. */
static size_t rows_outside_part(const kn_csr *X, const int32_t *labels, const int *part, int k, kn_csr *out,
                                int32_t *y, float *w, unsigned char *mask, kn_error *err, int *rc)
{
    size_t m = 0;
    for (size_t i = 0; i < X->n_rows; i++) {
        mask[i] = part[i] != k;
        if (mask[i]) y[m] = labels[i], w[m++] = 1.0f;
    }
    memset(out, 0, sizeof *out);
    *rc = kn_csr_append(out, X, mask, err);
    return m;
}

/* Self-training (self_train.h): the backlog texts the head labels confidently join the
 * labelled rows X at o->pseudo_weight and the head is fitted again. The temperature comes
 * from the held-out parts of the weight choice (the labelled rows as `held` has them, the
 * backlog's rows in the same encoder's space from held_enc): for each part a head without it
 * picks its own pseudo-labels and is refitted with them, so no held-out text's label reaches
 * its own score through the backlog (with one head's picks for all parts, near-copies of a
 * held-out text carry its label in: Banking77 k = 10, ECE 0.087 instead of ~0.02). */
static int self_train_head(kn_bundle *b, const kn_train_options *o, const kn_csr *X, const kn_csr *held,
                           kn_encoder *held_enc, const int32_t *labels, size_t n, const int *part, int parts,
                           double lo, double hi, json_t *meta, kn_error *err)
{
    const double t0 = kn_now();
    const int K = b->n_classes;
    kn_logreg_options h = head_options(o, n);
    const size_t nb = o->n_unlabelled < KN_SELF_TRAIN_MAX_BACKLOG ? o->n_unlabelled : KN_SELF_TRAIN_MAX_BACKLOG;
    kn_csr Xb = {0}, Xbh = {0}, A = {0};
    kn_head_layout final_layout = {b->encoder, b->tfidf, b->hybrid_weight}, held_layout = final_layout;
    held_layout.enc = held_enc;
    const size_t m = n + nb;
    int32_t *y = malloc(m * sizeof *y), *pl = malloc((nb ? nb : 1) * sizeof *pl);
    float *w = malloc(m * sizeof *w);
    unsigned char *mask = malloc(n ? n : 1), *keep = malloc(nb ? nb : 1), *use = calloc(n ? n : 1, 1);
    double *Z = calloc(n * (size_t)K, sizeof *Z);
    int rc = !y || !pl || !w || !mask || !keep || !use || !Z ? kn_fail(err, "out of memory for %zu rows", m) : 0;
    step_progress embed;
    const double mid = held_enc == b->encoder ? hi : 0.5 * (lo + hi);
    step_progress_begin(&embed, o, "embedding the backlog", lo, mid);
    if (rc == 0)
        rc = kn_layout_rows(&final_layout, o->unlabelled, o->unlabelled_lens, nb, &Xb, step_progress_fn(&embed),
                            step_progress_ctx(&embed), err);
    step_progress_end(&embed);
    const kn_csr *Xbh_use = &Xb;
    if (rc == 0 && held_enc != b->encoder) {
        step_progress_begin(&embed, o, "embedding the backlog (for calibration)", mid, hi);
        rc = kn_layout_rows(&held_layout, o->unlabelled, o->unlabelled_lens, nb, &Xbh, step_progress_fn(&embed),
                            step_progress_ctx(&embed), err);
        step_progress_end(&embed);
        Xbh_use = &Xbh;
    }
    size_t picked_total = 0;
    for (int k = 0; rc == 0 && k < parts; k++) {
        kn_csr sub;
        size_t ns = rows_outside_part(held, labels, part, k, &sub, y, w, mask, err, &rc);
        kn_logreg hk = {0}, hk2 = {0};
        if (rc == 0) rc = kn_logreg_fit_sparse(&hk, &sub, y, K, &h, err);
        long kept = 0;
        if (rc == 0) {
            hk.temperature = b->head.temperature;
            if ((kept = kn_self_train_pick(&hk, Xbh_use, o->self_train_threshold, KN_SELF_TRAIN_MAX_ROWS, keep, pl)) < 0)
                rc = kn_fail(err, "out of memory");
        }
        if (rc == 0) rc = kn_csr_append(&sub, Xbh_use, keep, err);
        for (size_t j = 0, at = ns; rc == 0 && j < nb; j++)
            if (keep[j]) y[at] = pl[j], w[at++] = (float)o->pseudo_weight;
        if (rc == 0) rc = kn_logreg_fit_sparse_weighted(&hk2, &sub, y, w, K, &h, err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (part[i] == k) {
                kn_logreg_logits_sparse(&hk2, held, i, Z + i * (size_t)K);
                use[i] = 1;
            }
        picked_total += (size_t)kept;
        kn_logreg_free(&hk);
        kn_logreg_free(&hk2);
        kn_csr_free(&sub);
    }
    float T = 1.0f;
    double before = 0, after = 0;
    if (rc == 0) {
        before = kn_temperature_nll(Z, labels, use, n, K, 1.0);
        T = (float)kn_fit_temperature(Z, labels, use, n, K);
        after = kn_temperature_nll(Z, labels, use, n, K, T);
        if (!(after <= before)) T = 1.0f, after = before;
    }
    long kept = 0;
    if (rc == 0 && (kept = kn_self_train_pick(&b->head, &Xb, o->self_train_threshold, KN_SELF_TRAIN_MAX_ROWS, keep, pl)) < 0)
        rc = kn_fail(err, "out of memory");
    if (rc == 0) rc = kn_csr_append(&A, X, NULL, err);
    if (rc == 0) rc = kn_csr_append(&A, &Xb, keep, err);
    for (size_t i = 0, at = n; rc == 0 && i < m; i++) {
        if (i < n) y[i] = labels[i], w[i] = 1.0f;
        else if (keep[i - n]) y[at] = pl[i - n], w[at++] = (float)o->pseudo_weight;
    }
    kn_logreg head = {0};
    if (rc == 0) rc = kn_logreg_fit_sparse_weighted(&head, &A, y, w, K, &h, err);
    if (rc == 0) {
        const float T_before = b->head.temperature;
        kn_logreg_free(&b->head);
        b->head = head;
        b->head.temperature = T;
        json_object_set_new(meta, "self_training",
                            json_pack("{s:f, s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f}", "threshold",
                                      o->self_train_threshold, "pseudo_weight", o->pseudo_weight, "backlog_read",
                                      (json_int_t)nb, "pseudo_labelled", (json_int_t)kept,
                                      "pseudo_labelled_per_part_mean", parts ? (double)picked_total / parts : 0.0,
                                      "temperature_before", (double)T_before, "temperature", (double)T, "heldout_nll",
                                      after, "seconds", kn_now() - t0));
    }
    kn_csr_free(&Xb);
    kn_csr_free(&Xbh);
    kn_csr_free(&A);
    free(y);
    free(pl);
    free(w);
    free(mask);
    free(keep);
    free(use);
    free(Z);
    return rc;
}

/* Hybrid: TF-IDF of the labelled texts beside the encoder's vectors (frozen, or tuned as
 * SetFit does with its calibration rules), the dense weight and the temperature chosen on
 * held-out rows, then one head on every text. */
static int train_hybrid(kn_bundle *b, const kn_train_options *o, const char *const *texts, const size_t *lens,
                        const int32_t *labels, size_t n, json_t *meta, kn_error *err)
{
    if (!o->encoder_dir) return kn_fail(err, "train: method hybrid needs an encoder");
    const int folds = o->calibration_folds >= 2 ? o->calibration_folds : 5;
    kn_logreg_options h = head_options(o, n);
    kn_hybrid_score scores[KN_HYBRID_GRID_MAX] = {{0}};
    int best = 0, parts = 0, held_dim = 0;
    int *fold = malloc(n * sizeof *fold), *part = malloc(n * sizeof *part);
    float *emb = NULL, *held_emb = NULL;
    kn_csr S = {0}, X = {0};
    kn_bundle *cal = NULL; /* with a backlog: the calibration fine-tune's encoder, for its view of it */
    int rc = !fold || !part || kn_stratified_folds(labels, n, b->n_classes, folds, o->seed, fold) != 0
                 ? kn_fail(err, "out of memory")
                 : 0;
    if (rc == 0 && !(b->tfidf = fit_tfidf(o, texts, lens, n, err))) rc = -1;
    if (rc == 0) rc = kn_tfidf_transform(b->tfidf, texts, lens, n, &S, err);
    if (rc == 0) parts = hybrid_parts(fold, n, b->n_classes, folds, o->hybrid_tune, part);
    const int small = kn_holdout_is_small(fold, n, b->n_classes);
    if (rc == 0 && !o->hybrid_tune) {
        if (!(b->encoder_dir = strdup(o->encoder_dir))) rc = kn_fail(err, "out of memory");
        else if (o->quantize) rc = kn_bundle_quantize_encoder(b, o->scratch_dir, err);
        else if (!(b->encoder = kn_encoder_open(b->encoder_dir, err))) rc = -1;
        if (rc == 0 && !(emb = malloc(n * (size_t)b->encoder->dim * sizeof *emb)))
            rc = kn_fail(err, "out of memory for %zu embeddings", n);
        if (rc == 0) {
            step_progress embed;
            step_progress_begin(&embed, o, "embedding", 0.0, o->n_unlabelled ? 0.3 : 0.9);
            rc = kn_encoder_embed(b->encoder, texts, lens, n, 32, emb, step_progress_fn(&embed),
                                  step_progress_ctx(&embed), err);
            step_progress_end(&embed);
        }
        held_emb = emb;
        held_dim = rc == 0 ? b->encoder->dim : 0;
    } else if (rc == 0 && small) {
        /* The weights and temperature on a first fine-tune's fold 0, the final encoder tuned on
         * every text (as SetFit's calibration does, train_encoder_method). */
        const double mid = o->n_unlabelled ? 0.35 : 0.45, end = o->n_unlabelled ? 0.7 : 0.9;
        rc = calibration_fine_tune(o, texts, lens, labels, n, fold, mid, &held_emb, &held_dim,
                                   o->n_unlabelled ? &cal : NULL, err);
        if (rc == 0) rc = tune_and_embed(b, o, texts, lens, labels, n, NULL, "fine-tuning", mid, end, &emb, meta, err);
    } else if (rc == 0) {
        rc = tune_and_embed(b, o, texts, lens, labels, n, fold, "fine-tuning", 0.0, o->n_unlabelled ? 0.7 : 0.9, &emb,
                            meta, err);
        held_emb = emb;
        held_dim = rc == 0 ? b->encoder->dim : 0;
    }
    if (rc == 0)
        rc = kn_hybrid_choose_weight(held_emb, held_dim, &S, labels, b->n_classes, &h, part, parts, o->hybrid_grid,
                                     o->hybrid_n_grid, scores, &best, err);
    if (rc == 0) {
        b->hybrid_weight = (float)scores[best].weight;
        rc = kn_hybrid_join(emb, b->encoder->dim, b->hybrid_weight, &S, &X, err);
    }
    if (rc == 0) rc = kn_logreg_fit_sparse(&b->head, &X, labels, b->n_classes, &h, err);
    if (rc == 0) b->head.temperature = scores[best].temperature;
    if (rc == 0 && o->n_unlabelled > 0 && o->self_train_threshold > 0) {
        kn_csr held = {0};
        rc = held_emb == emb ? 0 : kn_hybrid_join(held_emb, held_dim, b->hybrid_weight, &S, &held, err);
        if (rc == 0)
            rc = self_train_head(b, o, &X, held_emb == emb ? &X : &held, cal ? cal->encoder : b->encoder, labels, n,
                                 part, parts, 0.7, 0.9, meta, err);
        kn_csr_free(&held);
    }
    if (rc == 0) {
        size_t held = 0;
        for (size_t i = 0; i < n; i++) held += part[i] >= 0;
        json_t *grid = json_array();
        for (int g = 0; g < o->hybrid_n_grid; g++)
            json_array_append_new(grid, json_pack("{s:f, s:f, s:f, s:f}", "dense_weight", scores[g].weight,
                                                  "heldout_nll", scores[g].nll, "heldout_accuracy",
                                                  scores[g].accuracy, "temperature", (double)scores[g].temperature));
        const kn_tfidf_options *t = &o->tfidf;
        json_object_set_new(
            meta, "hybrid",
            json_pack("{s:b, s:f, s:I, s:s, s:o, s:{s:[i,i], s:[i,i], s:b, s:i, s:s}}", "tuned", o->hybrid_tune,
                      "dense_weight", (double)b->hybrid_weight, "heldout_rows", (json_int_t)held, "chosen_on",
                      !o->hybrid_tune && small ? "cross-validation"
                      : o->hybrid_tune && small ? "held-out fold of a separate fine-tune"
                                                : "held-out fold",
                      "grid", grid, "tfidf", "word_ngrams", t->word_min_n, t->word_max_n, "char_ngrams",
                      t->char_min_n, t->char_max_n, "sublinear_tf", t->sublinear_tf, "features",
                      kn_tfidf_dim(b->tfidf), "lemmatize",
                      kn_tfidf_get_options(b->tfidf)->lemmatize == KN_LEMMA_FI ? "voikko-fi" : "none"));
        json_object_set_new(meta, "head", json_pack("{s:f, s:s, s:f, s:f, s:f}", "C", h.C, "calibration",
                                                    o->n_unlabelled > 0 && o->self_train_threshold > 0
                                                        ? "held-out rows of the weight choice, with the pseudo-labels"
                                                        : "held-out rows of the weight choice",
                                                    "temperature",
                                                    (double)b->head.temperature, "cv_nll_before_calibration",
                                                    scores[best].nll_before, "cv_nll_after_calibration",
                                                    scores[best].nll));
    }
    if (held_emb != emb) free(held_emb);
    kn_bundle_close(cal);
    free(emb);
    free(fold);
    free(part);
    kn_csr_free(&S);
    kn_csr_free(&X);
    return rc;
}

static int train_bm25(kn_bundle *b, const kn_train_options *o, const char *const *texts, const size_t *lens,
                      const int32_t *labels, size_t n, json_t *meta, kn_error *err)
{
    b->texts = calloc(n, sizeof *b->texts);
    b->labels = malloc(n * sizeof *b->labels);
    if (!b->texts || !b->labels) return kn_fail(err, "out of memory");
    for (size_t i = 0; i < n; i++, b->n_texts++) {
        if (!(b->texts[i] = strndup(texts[i], lens[i]))) return kn_fail(err, "out of memory");
        b->labels[i] = labels[i];
    }
    if (kn_bm25_train(&b->bm25, texts, lens, labels, n, b->n_classes, &o->bm25, err) != 0) return -1;
    json_object_set_new(meta, "bm25", json_pack("{s:f, s:f, s:s, s:f}", "k1", o->bm25.k1, "b", o->bm25.b, "mode",
                                                o->bm25.mode == KN_BM25_TOPIC ? "topic" : "neighbour", "temperature",
                                                b->bm25.temperature));
    return 0;
}

kn_bundle *kn_bundle_train(const kn_train_options *o, const char *const *texts, const size_t *lens,
                           const int32_t *labels, size_t n, char *const *classes, int n_classes, kn_error *err)
{
    if (n == 0 || n_classes < 2) {
        kn_fail(err, "train: needs labelled texts of at least two topics (got %zu texts, %d topics)", n, n_classes);
        return NULL;
    }
    if (o->auto_select) return kn_bundle_train_auto(o, texts, lens, labels, n, classes, n_classes, err);
    kn_bundle *b = calloc(1, sizeof *b);
    if (!b || !(b->classes = calloc((size_t)n_classes, sizeof *b->classes))) {
        free(b);
        kn_fail(err, "out of memory");
        return NULL;
    }
    b->method = o->method;
    b->n_classes = n_classes;
    for (int c = 0; c < n_classes; c++)
        if (!(b->classes[c] = strdup(classes[c]))) {
            kn_fail(err, "out of memory");
            kn_bundle_close(b);
            return NULL;
        }
    double t0 = kn_now();
    b->meta = json_pack("{s:s, s:I, s:i, s:I, s:I}", "method", kn_method_name(o->method), "rows", (json_int_t)n,
                        "topics", n_classes, "seed", (json_int_t)o->seed, "unlabelled_rows",
                        (json_int_t)o->n_unlabelled);
    int rc;
    switch (o->method) {
    case KN_METHOD_FROZEN:
    case KN_METHOD_SETFIT: rc = train_encoder_method(b, o, texts, lens, labels, n, b->meta, err); break;
    case KN_METHOD_TFIDF: rc = train_tfidf(b, o, texts, lens, labels, n, b->meta, err); break;
    case KN_METHOD_BM25: rc = train_bm25(b, o, texts, lens, labels, n, b->meta, err); break;
    case KN_METHOD_HYBRID: rc = train_hybrid(b, o, texts, lens, labels, n, b->meta, err); break;
    default: rc = kn_fail(err, "train: unknown method %d", (int)o->method);
    }
    if (rc != 0) {
        kn_bundle_close(b);
        return NULL;
    }
    json_object_set_new(b->meta, "train_seconds", json_real(kn_now() - t0));
    return b;
}
