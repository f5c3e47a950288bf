/* cmd_classify.c - `kanava classify`: the topic of each text, its probability, the top 3.
 * Message text is never echoed: output lines follow the input order. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "learn/bundle.h"
#include "text/texts.h"
#include "text/utf8.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kanava classify --model DIR [--json] [TEXT...]\n"
               "  Without TEXT arguments, reads texts one per line from stdin.\n");
}

/* Indices of the k most probable topics, best first. */
static void top_k(const float *p, int n, int *idx, int k)
{
    for (int i = 0; i < k; i++) {
        int best = -1;
        for (int c = 0; c < n; c++) {
            int taken = 0;
            for (int j = 0; j < i; j++) taken |= idx[j] == c;
            if (!taken && (best < 0 || p[c] > p[best])) best = c;
        }
        idx[i] = best;
    }
}

int cmd_classify(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'M'}, {"json", no_argument, 0, 'j'},
                                         {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL;
    int json = 0, c;
    long threads = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'M') model = optarg;
        else if (c == 'j') json = 1;
        else if (c == 't') threads = strtol(optarg, NULL, 10);
        else if (c == 'h') { usage(stdout); return KN_EXIT_OK; }
        else { usage(stderr); return KN_EXIT_USAGE; }
    }
    if (!model) { usage(stderr); return KN_EXIT_USAGE; }
    kn_error err;
    kn_texts stdin_texts = {0};
    const char **texts;
    size_t *lens, n;
    if (optind < argc) {
        n = (size_t)(argc - optind);
        texts = (const char **)(argv + optind);
        lens = malloc(n * sizeof *lens);
        for (size_t i = 0; i < n; i++) {
            lens[i] = strlen(texts[i]);
            size_t bad = kn_utf8_first_invalid(texts[i], lens[i]);
            if (bad < lens[i]) {
                fprintf(stderr, "kanava classify: text %zu: invalid UTF-8 at byte %zu\n", i + 1, bad + 1);
                free(lens);
                return KN_EXIT_USAGE;
            }
        }
    } else {
        if (kn_texts_read_lines("-", &stdin_texts, &err) != 0) {
            fprintf(stderr, "kanava classify: %s\n", err.msg);
            return KN_EXIT_USAGE;
        }
        n = stdin_texts.n;
        texts = stdin_texts.text;
        lens = malloc((n ? n : 1) * sizeof *lens);
        memcpy(lens, stdin_texts.len, n * sizeof *lens);
    }
    if (threads > 0) kn_set_threads((int)threads);
    int code = KN_EXIT_OK;
    kn_bundle *b = kn_bundle_open(model, &err);
    float *proba = b ? malloc((n ? n : 1) * (size_t)b->n_classes * sizeof *proba) : NULL;
    if (!b || !proba || kn_bundle_predict(b, texts, lens, n, proba, NULL, NULL, &err) != 0) {
        fprintf(stderr, "kanava classify: %s\n", b && !proba ? "out of memory" : err.msg);
        code = KN_EXIT_FAIL;
    }
    for (size_t i = 0; code == KN_EXIT_OK && i < n; i++) {
        const float *p = proba + i * (size_t)b->n_classes;
        int idx[3] = {0, 0, 0}, k = b->n_classes < 3 ? b->n_classes : 3;
        top_k(p, b->n_classes, idx, k);
        if (json) {
            json_t *top = json_array();
            for (int j = 0; j < k; j++)
                json_array_append_new(top, json_pack("{s:s, s:f}", "topic", b->classes[idx[j]], "probability", (double)p[idx[j]]));
            json_t *o = json_pack("{s:I, s:s, s:f, s:o}", "index", (json_int_t)i, "topic", b->classes[idx[0]],
                                  "probability", (double)p[idx[0]], "top", top);
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            printf("%s\n", s);
            free(s);
            json_decref(o);
        } else {
            printf("%s\t%.4f", b->classes[idx[0]], (double)p[idx[0]]);
            for (int j = 1; j < k; j++) printf("\t%s %.4f", b->classes[idx[j]], (double)p[idx[j]]);
            printf("\n");
        }
    }
    free(proba);
    free(lens);
    kn_bundle_close(b);
    kn_texts_free(&stdin_texts);
    return code;
}
