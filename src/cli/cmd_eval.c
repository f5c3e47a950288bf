/* cmd_eval.c - `kanava eval`: a trained bundle against labelled data: accuracy, macro-F1,
 * per-topic precision/recall, confusions, calibration error and the automation rate. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "learn/bundle.h"
#include "learn/dataset.h"
#include "learn/metrics.h"
#include "util/progress.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kanava eval --model DIR --data FILE.csv [--json] [--oos-label NAME]\n"
               "                   [--text-column text] [--label-column category]\n"
               "  --oos-label NAME  rows with this label are out of scope: answering them is an error\n");
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'M'},        {"data", required_argument, 0, 'D'},
        {"json", no_argument, 0, 'j'},               {"oos-label", required_argument, 0, 'O'},
        {"text-column", required_argument, 0, 'T'},  {"label-column", required_argument, 0, 'L'},
        {"threads", required_argument, 0, 't'},      {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *oos = NULL, *text_col = "text", *label_col = "category";
    int json = 0, c;
    long threads = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'M': model = optarg; break;
        case 'D': data = optarg; break;
        case 'j': json = 1; break;
        case 'O': oos = optarg; break;
        case 'T': text_col = optarg; break;
        case 'L': label_col = optarg; break;
        case 't': threads = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (!model || !data || optind != argc) { usage(stderr); return KN_EXIT_USAGE; }
    if (threads > 0) kn_set_threads((int)threads);
    kn_error err;
    kn_bundle *b = kn_bundle_open(model, &err);
    if (!b) { fprintf(stderr, "kanava eval: %s\n", err.msg); return KN_EXIT_FAIL; }
    kn_dataset ds;
    if (kn_dataset_read(data, text_col, label_col, b->classes, b->n_classes, &ds, stderr, &err) != 0) {
        fprintf(stderr, "kanava eval: %s\n", err.msg);
        kn_bundle_close(b);
        return KN_EXIT_USAGE;
    }
    int code = KN_EXIT_OK;
    /* Labels the model does not know: out of scope if named so, otherwise an error. */
    for (size_t i = 0; i < ds.n; i++) {
        if (ds.label[i] >= 0) continue;
        if (oos && strcmp(ds.unknown[i], oos) == 0) continue;
        fprintf(stderr, "kanava eval: %s:%zu: topic '%s' is not one the model knows; name it with --oos-label if it "
                        "stands for out-of-scope messages\n", data, ds.line[i], ds.unknown[i]);
        code = KN_EXIT_USAGE;
        break;
    }
    float *proba = malloc(ds.n * (size_t)b->n_classes * sizeof *proba), *conf = malloc(ds.n * sizeof *conf);
    int32_t *pred = malloc(ds.n * sizeof *pred);
    kn_eval_report rep = {0};
    kn_progress progress;
    kn_progress_init(&progress, "classifying");
    if (code == KN_EXIT_OK && (!proba || !conf || !pred)) {
        fprintf(stderr, "kanava eval: out of memory\n");
        code = KN_EXIT_FAIL;
    } else if (code == KN_EXIT_OK &&
               kn_bundle_predict(b, (const char *const *)ds.text, ds.len, ds.n, proba, kn_progress_update, &progress, &err) != 0) {
        fprintf(stderr, "kanava eval: %s\n", err.msg);
        code = KN_EXIT_FAIL;
    }
    if (code == KN_EXIT_OK) {
        kn_progress_finish(&progress);
        for (size_t i = 0; i < ds.n; i++) {
            const float *p = proba + i * (size_t)b->n_classes;
            int best = 0;
            for (int k = 1; k < b->n_classes; k++) best = p[k] > p[best] ? k : best;
            pred[i] = best;
            conf[i] = p[best];
        }
        if (kn_evaluate(ds.label, pred, conf, ds.n, b->n_classes, &rep, &err) != 0) {
            fprintf(stderr, "kanava eval: %s\n", err.msg);
            code = KN_EXIT_FAIL;
        } else if (json) {
            char *s = NULL;
            if (kn_eval_report_json(&rep, (const char *const *)b->classes, &s) == 0) printf("%s\n", s);
            free(s);
        } else {
            kn_eval_report_print(&rep, (const char *const *)b->classes, stdout);
        }
    }
    kn_eval_report_free(&rep);
    free(proba);
    free(conf);
    free(pred);
    kn_dataset_free(&ds);
    kn_bundle_close(b);
    return code;
}
