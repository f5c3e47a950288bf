/* cmd_train.c - `kanava train`: labelled CSV in, a classifier bundle out. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "learn/bundle.h"
#include "learn/dataset.h"
#include "learn/logreg.h"
#include "learn/setfit.h"
#include "model/encoder.h"
#include "model/registry.h"
#include "util/progress.h"
#include "util/fs.h"
#include "util/sha256.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava train --data FILE.csv --out DIR [options]\n"
            "  --base MODEL          encoder: a model name or directory (default use-lite)\n"
            "  --method M            frozen (default): the encoder as it is; setfit: contrastive fine-tuning\n"
            "                        of the encoder on pairs first (USE-lite for now)\n"
            "  --max-steps N         setfit optimizer steps of 16 pairs (default 500)\n"
            "  --lr X                setfit learning rate (default 1e-4)\n"
            "  --sampling S          setfit pairs: oversampling (default), undersampling, unique\n"
            "  --text-column NAME    default text\n"
            "  --label-column NAME   default category\n"
            "  --C X                 inverse L2 strength of the logistic-regression head (default 100)\n"
            "  --balanced            weight topics inversely to their frequency\n"
            "  --seed N              seed for the calibration folds (default 42)\n"
            "  --threads N, --models-dir DIR\n");
}

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"base", required_argument, 0, 'B'},       {"data", required_argument, 0, 'D'},
        {"out", required_argument, 0, 'o'},        {"text-column", required_argument, 0, 'T'},
        {"label-column", required_argument, 0, 'L'}, {"seed", required_argument, 0, 's'},
        {"method", required_argument, 0, 'm'},     {"C", required_argument, 0, 'C'},
        {"balanced", no_argument, 0, 'b'},         {"threads", required_argument, 0, 't'},
        {"max-steps", required_argument, 0, 'S'},  {"lr", required_argument, 0, 'r'},
        {"sampling", required_argument, 0, 'P'},
        {"models-dir", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *base = KN_DEFAULT_MODEL, *data = NULL, *out = NULL, *text_col = "text", *label_col = "category";
    const char *method = "frozen", *models_flag = NULL;
    long seed = 42, threads = 0;
    kn_logreg_options opt;
    kn_logreg_default_options(&opt);
    kn_setfit_options sf;
    kn_setfit_default_options(&sf);
    opt.C = 100.0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'B': base = optarg; break;
        case 'D': data = optarg; break;
        case 'o': out = optarg; break;
        case 'T': text_col = optarg; break;
        case 'L': label_col = optarg; break;
        case 's': seed = strtol(optarg, NULL, 10); break;
        case 'm': method = optarg; break;
        case 'C': opt.C = strtod(optarg, NULL); break;
        case 'b': opt.balanced = 1; break;
        case 't': threads = strtol(optarg, NULL, 10); break;
        case 'd': models_flag = optarg; break;
        case 'S': sf.max_steps = strtol(optarg, NULL, 10); break;
        case 'r': sf.lr = strtod(optarg, NULL); break;
        case 'P':
            if (strcmp(optarg, "oversampling") == 0) sf.strategy = KN_PAIRS_OVERSAMPLING;
            else if (strcmp(optarg, "undersampling") == 0) sf.strategy = KN_PAIRS_UNDERSAMPLING;
            else if (strcmp(optarg, "unique") == 0) sf.strategy = KN_PAIRS_UNIQUE;
            else { fprintf(stderr, "kanava train: --sampling must be oversampling, undersampling or unique\n"); return KN_EXIT_USAGE; }
            break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (!data || !out || optind != argc || !(opt.C > 0)) { usage(stderr); return KN_EXIT_USAGE; }
    int setfit = strcmp(method, "setfit") == 0;
    if (!setfit && strcmp(method, "frozen") != 0) {
        fprintf(stderr, "kanava train: --method must be frozen or setfit, not '%s'\n", method);
        return KN_EXIT_USAGE;
    }
    if (sf.max_steps < 1 || !(sf.lr > 0)) { usage(stderr); return KN_EXIT_USAGE; }
    sf.seed = (uint64_t)seed;
    if (threads > 0) kn_set_threads((int)threads);
    kn_error err;
    kn_dataset ds;
    if (kn_dataset_read(data, text_col, label_col, NULL, 0, &ds, stderr, &err) != 0 ||
        kn_dataset_check_training(&ds, stderr, &err) != 0) {
        fprintf(stderr, "kanava train: %s\n", err.msg);
        return KN_EXIT_USAGE;
    }
    char models_dir[4096], model_dir[4200], data_hash[65] = "";
    kn_encoder *enc = NULL;
    int code = KN_EXIT_FAIL;
    float *emb = NULL;
    kn_logreg head = {0};
    double t0 = kn_now(), nll_before = 0, nll_after = 0, pair_loss = 0;
    char tuned_dir[4200] = "";
    if (kn_models_dir(models_dir, sizeof models_dir, models_flag, &err) != 0 ||
        kn_model_path(model_dir, sizeof model_dir, models_dir, base, &err) != 0 || !(enc = kn_encoder_open(model_dir, &err)))
        goto done;
    if (setfit) {
        if (strcmp(enc->ops->family, "use-lite") != 0) {
            kn_fail(&err, "--method setfit supports the use-lite encoder for now (%s is %s)", base, enc->ops->family);
            goto done;
        }
        kn_encoder_close(enc);
        enc = NULL;
        snprintf(tuned_dir, sizeof tuned_dir, "%s.encoder-tmp-%ld", out, (long)getpid());
        kn_progress tune;
        kn_progress_init(&tune, "fine-tuning");
        if (kn_setfit_tune_use_lite(model_dir, (const char *const *)ds.text, ds.len, ds.label, ds.n, &sf, tuned_dir,
                                    kn_progress_update, &tune, &pair_loss, &err) != 0)
            goto done;
        kn_progress_finish(&tune);
        snprintf(model_dir, sizeof model_dir, "%s", tuned_dir);
        if (!(enc = kn_encoder_open(model_dir, &err))) goto done;
    }
    fprintf(stderr, "training on %zu messages, %d topics, encoder %s\n", ds.n, ds.n_classes, base);
    emb = malloc(ds.n * (size_t)enc->dim * sizeof *emb);
    if (!emb) { kn_fail(&err, "out of memory"); goto done; }
    kn_progress progress;
    kn_progress_init(&progress, "embedding");
    if (kn_encoder_embed(enc, (const char *const *)ds.text, ds.len, ds.n, 32, emb, kn_progress_update, &progress, &err) != 0)
        goto done;
    kn_progress_finish(&progress);
    if (kn_logreg_fit(&head, emb, ds.label, ds.n, enc->dim, ds.n_classes, &opt, &err) != 0) goto done;
    if (kn_logreg_calibrate(&head, emb, ds.label, ds.n, &opt, 5, (uint64_t)seed, &nll_before, &nll_after, &err) != 0) goto done;
    kn_sha256_file(data, data_hash, &err);
    json_t *meta = json_pack("{s:s, s:s, s:s, s:i, s:i, s:{s:f, s:b, s:i}, s:f, s:f, s:f, s:I}", "base", base, "data",
                             data, "data_sha256", data_hash, "rows", (int)ds.n, "topics", ds.n_classes, "head", "C", opt.C,
                             "balanced", opt.balanced, "calibration_folds", 5, "cv_nll_before_calibration", nll_before,
                             "cv_nll_after_calibration", nll_after, "seconds", kn_now() - t0, "seed", (json_int_t)seed);
    if (setfit)
        json_object_set_new(meta, "setfit", json_pack("{s:I, s:f, s:i, s:f}", "max_steps", (json_int_t)sf.max_steps, "lr",
                                                      sf.lr, "batch_pairs", sf.batch_pairs, "final_pair_loss", pair_loss));
    int rc = kn_bundle_save(out, model_dir, method, &head, ds.classes, ds.n_classes, meta, &err);
    json_decref(meta);
    if (rc != 0) goto done;
    fprintf(stderr, "saved %s: %d topics, temperature %.3f (held-out NLL %.4f -> %.4f), %.1f s\n", out, ds.n_classes,
            (double)head.temperature, nll_before, nll_after, kn_now() - t0);
    code = KN_EXIT_OK;
done:
    if (code != KN_EXIT_OK) fprintf(stderr, "kanava train: %s\n", err.msg);
    if (tuned_dir[0]) kn_rm_rf(tuned_dir);
    free(emb);
    kn_logreg_free(&head);
    kn_encoder_close(enc);
    kn_dataset_free(&ds);
    return code;
}
