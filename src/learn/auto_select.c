/* auto_select.c - `--method auto`: the method chosen by measurement on the labelled data
 * (bundle.h, kn_train_options.auto_select).
 *
 * Stage 1 scores the cheap candidates on the same held-out rows with one head machinery
 * (hybrid.h): tfidf (the n-gram block alone), frozen (the encoder's vectors alone, at the
 * weight that makes the sparse head's C = 10 equal to the frozen head's C = 100) and the
 * hybrid weight grid, from one embedding of the texts. With few texts per topic the
 * held-out rows are every row by 5-fold cross-validation, else a fifth. Stage 2, when the
 * budget allows it, trains hybrid on a SetFit-tuned encoder for real: its own held-out fold
 * (texts the encoder was not tuned on) scores it, so the measurement costs nothing beyond
 * the training. The best held-out accuracy wins (lower NLL on ties); the winner is trained
 * on every text unless it already is. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn/bundle.h"
#include "learn/hybrid.h"
#include "learn/self_train.h"
#include "model/encoder.h"
#include "text/language_id.h"
#include "util/fs.h"
#include "util/progress.h"

/* The frozen head's C (100) over the sparse head's (10): the dense weight that makes them equal. */
#define FROZEN_EQUIVALENT_WEIGHT 3.16227766

/* Fine-tuning costs about this many forward passes' time per text and step (forward,
 * backward, AdamW), from USE-lite on 2 cores: ~45 s for 500 steps of 32 texts at ~1,100
 * texts/s forward. A rough guide for the budget, not a promise. */
#define TUNE_COST_PER_FORWARD 3.0
/* Self-training's refits (2 per held-out part and the final one, with the pseudo-labelled
 * rows) over stage 1's hybrid scoring time, per backlog text per labelled text: Banking77
 * k = 10, 9,233 backlog texts: 62 s of refits against 15 s of scoring. */
#define SELF_TRAIN_REFIT_FACTOR 0.35
/* The job's progress: stage 1 (embedding, scoring) takes [0, 0.15], the tuned candidate
 * [0.15, 0.8] when it runs, the final training the rest. */
#define AUTO_STAGE1_SHARE 0.15
#define AUTO_TUNED_END 0.8

typedef struct candidate {
    const char *name;
    kn_method method;
    int tune;
    double weight; /* stage 1: the dense weight (frozen's, or hybrid's best) */
    kn_hybrid_score score;
    double seconds;
    int scored;
    char skipped[160];
} candidate;

static int encoder_is_english_only(const char *dir)
{
    char path[4200];
    if (kn_path_join(path, sizeof path, dir, "config.json") != 0) return 0;
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr);
    int english = cfg && kn_model_family_of(cfg) == KN_FAMILY_USE_LITE;
    json_decref(cfg);
    return english;
}

static int better(const kn_hybrid_score *a, const kn_hybrid_score *b)
{
    return a->accuracy > b->accuracy + 1e-12 || (fabs(a->accuracy - b->accuracy) <= 1e-12 && a->nll < b->nll);
}

static json_t *candidate_json(const candidate *c)
{
    if (!c->scored) return json_pack("{s:s, s:s}", "method", c->name, "skipped", c->skipped);
    return json_pack("{s:s, s:f, s:f, s:I, s:f, s:f}", "method", c->name, "heldout_accuracy", c->score.accuracy,
                     "heldout_nll", c->score.nll, "heldout_rows", (json_int_t)c->score.rows, "dense_weight",
                     c->weight, "seconds", c->seconds);
}

/* The stage-1 scores, all from one embedding and one n-gram fit of the texts. */
static int score_cheap(const kn_train_options *o, const char *const *texts, const size_t *lens,
                       const int32_t *labels, size_t n, int n_classes, int exclude_frozen, candidate *cand,
                       int *n_cand, double *embed_rate, kn_error *err)
{
    const int folds = o->calibration_folds >= 2 ? o->calibration_folds : 5;
    int *fold = malloc(n * sizeof *fold), *part = malloc(n * sizeof *part);
    float *emb = NULL;
    kn_csr S = {0}, none = {0};
    kn_tfidf *tfidf = NULL;
    kn_encoder *enc = NULL;
    kn_logreg_options h = o->head;
    if (!(h.C > 0)) h.C = 10.0;
    if (h.tol == 1e-6) h.tol = 1e-4 * h.C * (double)n, h.tol_max_abs = 1; /* as train.c's sparse heads */
    int rc = !fold || !part || kn_stratified_folds(labels, n, n_classes, folds, o->seed, fold) != 0
                 ? kn_fail(err, "out of memory")
                 : 0;
    int parts = 1;
    if (rc == 0) {
        const int small = kn_holdout_is_small(fold, n, n_classes);
        for (size_t i = 0; i < n; i++) part[i] = small ? fold[i] : fold[i] == 0 ? 0 : -1;
        parts = small ? folds : 1;
    }
    const kn_tfidf_options topt = kn_train_tfidf_options(o, texts, lens, n);
    if (rc == 0 && !(tfidf = kn_tfidf_fit_idf_corpus(texts, lens, n, o->unlabelled, o->unlabelled_lens,
                                                     o->n_unlabelled, &topt, err)))
        rc = -1;
    if (rc == 0) rc = kn_tfidf_transform(tfidf, texts, lens, n, &S, err);
    double t0 = kn_now();
    if (rc == 0 && !(enc = kn_encoder_open(o->encoder_dir, err))) rc = -1;
    if (rc == 0 && !(emb = malloc(n * (size_t)enc->dim * sizeof *emb))) rc = kn_fail(err, "out of memory");
    kn_progress bar;
    kn_progress_init(&bar, "auto: embedding");
    kn_progress_span span = {o->progress, o->progress_ctx, 0.0, AUTO_STAGE1_SHARE};
    if (rc == 0)
        rc = kn_encoder_embed(enc, texts, lens, n, 32, emb,
                              o->progress ? kn_progress_span_update : o->show_progress ? kn_progress_update : NULL,
                              o->progress ? (void *)&span : (void *)&bar, err);
    if (o->show_progress && !o->progress) kn_progress_finish(&bar);
    *embed_rate = rc == 0 ? (double)n / fmax(kn_now() - t0, 1e-6) : 0;
    /* An n-row matrix without columns: the frozen candidate's "no n-grams". */
    if (rc == 0 && !(none.indptr = calloc(n + 1, sizeof *none.indptr))) rc = kn_fail(err, "out of memory");
    none.n_rows = n;
    const double *grid = o->hybrid_grid; /* kn_train_default_options fills it */
    const int n_grid = o->hybrid_n_grid;
    candidate *tf = &cand[(*n_cand)++], *fr = &cand[(*n_cand)++], *hy = &cand[(*n_cand)++];
    *tf = (candidate){.name = "tfidf", .method = KN_METHOD_TFIDF};
    *fr = (candidate){.name = "frozen", .method = KN_METHOD_FROZEN, .weight = FROZEN_EQUIVALENT_WEIGHT};
    if (exclude_frozen) {
        snprintf(fr->skipped, sizeof fr->skipped, "most texts are not English; the encoder reads English only");
        fr = NULL;
    }
    *hy = (candidate){.name = "hybrid", .method = KN_METHOD_HYBRID};
    double t = kn_now();
    if (rc == 0) rc = kn_hybrid_heldout_score(NULL, 0, 0, &S, labels, n_classes, &h, part, parts, &tf->score, err);
    tf->scored = rc == 0;
    tf->seconds = kn_now() - t;
    if (rc == 0 && fr) {
        t = kn_now();
        rc = kn_hybrid_heldout_score(emb, enc->dim, fr->weight, &none, labels, n_classes, &h, part, parts, &fr->score,
                                     err);
        fr->scored = rc == 0;
        fr->seconds = kn_now() - t;
    }
    for (int g = 0; rc == 0 && g < n_grid; g++) {
        kn_hybrid_score s;
        t = kn_now();
        rc = kn_hybrid_heldout_score(emb, enc->dim, grid[g], &S, labels, n_classes, &h, part, parts, &s, err);
        hy->seconds += kn_now() - t;
        /* The grid is chosen by NLL, as the hybrid method itself chooses it. */
        if (rc == 0 && (!hy->scored || s.nll < hy->score.nll)) hy->score = s, hy->weight = grid[g], hy->scored = 1;
    }
    kn_encoder_close(enc);
    kn_tfidf_free(tfidf);
    kn_csr_free(&S);
    kn_csr_free(&none);
    free(emb);
    free(fold);
    free(part);
    return rc;
}

kn_bundle *kn_bundle_train_auto(const kn_train_options *o, const char *const *texts, const size_t *lens,
                                const int32_t *labels, size_t n, char *const *classes, int n_classes, kn_error *err)
{
    const double t0 = kn_now();
    if (!o->encoder_dir) {
        kn_fail(err, "train: method auto needs an encoder to compare with (--base)");
        return NULL;
    }
    size_t told = 0;
    const size_t english = kn_language_count(texts, lens, n, "en", &told);
    const double en = told ? (double)english / (double)told : 1.0; /* share of the texts it can tell */
    const int english_only = encoder_is_english_only(o->encoder_dir);
    const int exclude_encoder_alone = english_only && en < 0.5;
    candidate cand[4];
    int n_cand = 0;
    double rate = 0;
    if (o->show_progress) fprintf(stderr, "auto: scoring tfidf, %shybrid on held-out texts\n", exclude_encoder_alone ? "" : "frozen, ");
    if (score_cheap(o, texts, lens, labels, n, n_classes, exclude_encoder_alone, cand, &n_cand, &rate, err) != 0)
        return NULL;
    int best = 0;
    for (int c = 1; c < n_cand; c++)
        if (cand[c].scored && better(&cand[c].score, &cand[best].score)) best = c;
    /* Stage 2: hybrid on a tuned encoder, trained for real when it fits in the budget. */
    candidate *tuned = &cand[n_cand++];
    *tuned = (candidate){.name = "hybrid-setfit", .method = KN_METHOD_HYBRID, .tune = 1};
    kn_train_options to = *o;
    to.auto_select = 0;
    to.method = KN_METHOD_HYBRID;
    to.hybrid_tune = 1;
    int *fold = malloc(n * sizeof *fold);
    const int small = fold && kn_stratified_folds(labels, n, n_classes, 5, o->seed, fold) == 0 &&
                      kn_holdout_is_small(fold, n, n_classes);
    free(fold);
    const double tunes = small ? 2 : 1;
    /* Rough costs from what stage 1 measured: a fine-tune by the encoder's speed; the
     * backlog by its embedding (twice for a tuned hybrid with a separate calibration
     * fine-tune, twice again for the base kept beside the tuned encoder) and self-training's
     * refits, which grow with the pseudo-labelled rows (up to one per backlog text). */
    const double nb = (double)(o->n_unlabelled < KN_SELF_TRAIN_MAX_BACKLOG ? o->n_unlabelled : KN_SELF_TRAIN_MAX_BACKLOG);
    const double self_train = o->self_train_threshold > 0 && nb > 0;
    const double refits = self_train ? SELF_TRAIN_REFIT_FACTOR * cand[2].seconds * nb / (double)n : 0;
    const double final_cheap = cand[best].seconds + (cand[best].method == KN_METHOD_HYBRID ? refits + nb / fmax(rate, 1e-9) : 0);
    const double estimate = tunes * TUNE_COST_PER_FORWARD * (double)o->setfit.max_steps * o->setfit.batch_texts /
                                fmax(rate, 1e-9) +
                            (self_train ? 2 * tunes * nb / fmax(rate, 1e-9) + refits : 0) + cand[2].seconds;
    const double elapsed = kn_now() - t0;
    kn_bundle *b = NULL;
    kn_progress_span tuned_span = {o->progress, o->progress_ctx, AUTO_STAGE1_SHARE, AUTO_TUNED_END};
    kn_progress_span final_span = {o->progress, o->progress_ctx, AUTO_STAGE1_SHARE, 1.0};
    if (o->progress) kn_progress_span_update(&final_span, 0, 1); /* stage 1 done */
    if (exclude_encoder_alone) {
        snprintf(tuned->skipped, sizeof tuned->skipped,
                 "%.0f %% of the texts read as English; the encoder reads English only", 100 * en);
    } else if (elapsed + estimate + final_cheap > o->budget_seconds) {
        snprintf(tuned->skipped, sizeof tuned->skipped,
                 "estimated %.0f s (and %.0f s to train %s if it lost) would pass the %.0f s budget", estimate,
                 final_cheap, cand[best].name, o->budget_seconds);
    } else {
        if (o->show_progress) fprintf(stderr, "auto: training hybrid on a SetFit-tuned encoder (about %.0f s)\n", estimate);
        if (o->progress) {
            to.progress = kn_progress_span_update;
            to.progress_ctx = &tuned_span;
        }
        double t = kn_now();
        if (!(b = kn_bundle_train(&to, texts, lens, labels, n, classes, n_classes, err))) return NULL;
        tuned->seconds = kn_now() - t;
        json_t *grid = json_object_get(json_object_get(b->meta, "hybrid"), "grid");
        size_t i;
        json_t *g;
        json_array_foreach(grid, i, g)
        {
            if (fabs(json_number_value(json_object_get(g, "dense_weight")) - b->hybrid_weight) > 1e-6) continue;
            tuned->score.accuracy = json_number_value(json_object_get(g, "heldout_accuracy"));
            tuned->score.nll = json_number_value(json_object_get(g, "heldout_nll"));
            tuned->score.rows = (size_t)json_integer_value(json_object_get(json_object_get(b->meta, "hybrid"), "heldout_rows"));
            tuned->weight = b->hybrid_weight;
            tuned->scored = 1;
        }
        if (tuned->scored && better(&tuned->score, &cand[best].score)) best = n_cand - 1;
    }
    for (int c = 0; c < n_cand && o->show_progress; c++) {
        if (cand[c].scored)
            fprintf(stderr, "auto: %-14s held-out accuracy %5.1f %%  NLL %.3f  (%zu texts)%s\n", cand[c].name,
                    100 * cand[c].score.accuracy, cand[c].score.nll, cand[c].score.rows, c == best ? "  <- chosen" : "");
        else
            fprintf(stderr, "auto: %-14s skipped: %s\n", cand[c].name, cand[c].skipped);
    }
    if (best != n_cand - 1) {
        kn_bundle_close(b);
        kn_train_options fo = *o;
        fo.auto_select = 0;
        fo.method = cand[best].method;
        fo.hybrid_tune = 0;
        if (fo.method == KN_METHOD_HYBRID) fo.hybrid_grid[0] = cand[best].weight, fo.hybrid_n_grid = 1;
        if (o->progress) {
            if (tuned->scored) final_span.lo = AUTO_TUNED_END; /* never backwards */
            fo.progress = kn_progress_span_update;
            fo.progress_ctx = &final_span;
        }
        if (!(b = kn_bundle_train(&fo, texts, lens, labels, n, classes, n_classes, err))) return NULL;
    }
    if (o->quantize && !kn_method_uses_encoder(b->method)) {
        /* the winner has no encoder to quantise: say so instead of pretending */
        json_object_set_new(b->meta, "quantized", json_string("not applicable: the chosen method has no encoder"));
        if (o->show_progress) fprintf(stderr, "auto: note: %s has no encoder, --quantize does not apply\n", kn_method_name(b->method));
    }
    json_t *list = json_array();
    for (int c = 0; c < n_cand; c++) json_array_append_new(list, candidate_json(&cand[c]));
    json_object_set_new(b->meta, "auto",
                        json_pack("{s:s, s:f, s:f, s:o, s:f, s:I, s:b}", "chosen", cand[best].name, "budget_seconds",
                                  o->budget_seconds, "seconds", kn_now() - t0, "candidates", list, "english_share", en,
                                  "language_guessed", (json_int_t)told, "encoder_english_only", english_only));
    json_object_set_new(b->meta, "train_seconds", json_real(kn_now() - t0));
    if (o->progress) o->progress(o->progress_ctx, 1, 1);
    return b;
}
