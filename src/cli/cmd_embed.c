/* cmd_embed.c - `kanava embed`: texts in, one vector per text out, in input order. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/vector_output.h"
#include "model/encoder.h"
#include "model/registry.h"
#include "text/texts.h"
#include "util/progress.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava embed [options] [FILE]\n"
            "  Reads texts one per line from FILE (or stdin) and writes one vector per text.\n"
            "  --model NAME|DIR     model name in the models dir, or a model directory (default use-lite)\n"
            "  --format FMT         jsonl (objects with an \"embedding\" array), tsv or npy (default jsonl)\n"
            "  --column NAME        read FILE as CSV with a header row and embed this column\n"
            "  --output FILE        write here instead of stdout\n"
            "  --batch N            texts per forward pass (default 32)\n"
            "  --threads N          matrix-kernel threads (default: all cores)\n"
            "  --models-dir DIR     where models live (default $KANAVA_MODELS or ~/.local/share/kanava/models)\n");
}

int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'M'},  {"format", required_argument, 0, 'f'},
        {"column", required_argument, 0, 'c'}, {"output", required_argument, 0, 'o'},
        {"batch", required_argument, 0, 'b'},  {"threads", required_argument, 0, 't'},
        {"models-dir", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = KN_DEFAULT_MODEL, *column = NULL, *output = NULL, *models_flag = NULL;
    kn_out_format fmt = KN_OUT_JSONL;
    long batch = 32, threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'M': model = optarg; break;
        case 'f':
            if (kn_parse_out_format(optarg, &fmt) != 0) {
                fprintf(stderr, "kanava embed: --format must be jsonl, npy or tsv, not '%s'\n", optarg);
                return KN_EXIT_USAGE;
            }
            break;
        case 'c': column = optarg; break;
        case 'o': output = optarg; break;
        case 'b': batch = strtol(optarg, NULL, 10); break;
        case 't': threads = strtol(optarg, NULL, 10); break;
        case 'd': models_flag = optarg; break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (batch < 1 || batch > 4096 || threads < 0 || threads > 256 || optind + 1 < argc) {
        fprintf(stderr, "kanava embed: --batch must be 1..4096, --threads 0..256, and at most one FILE\n");
        return KN_EXIT_USAGE;
    }
    const char *input = optind < argc ? argv[optind] : "-";
    kn_error err;
    kn_texts texts;
    int rc = column ? kn_texts_read_csv_column(input, column, &texts, &err) : kn_texts_read_lines(input, &texts, &err);
    if (rc != 0) {
        fprintf(stderr, "kanava embed: %s\n", err.msg);
        return KN_EXIT_USAGE;
    }
    char models_dir[4096], model_dir[4096];
    kn_encoder *enc = NULL;
    if (kn_models_dir(models_dir, sizeof models_dir, models_flag, &err) != 0 ||
        kn_model_path(model_dir, sizeof model_dir, models_dir, model, &err) != 0 || !(enc = kn_encoder_open(model_dir, &err))) {
        fprintf(stderr, "kanava embed: %s\n", err.msg);
        kn_texts_free(&texts);
        return KN_EXIT_FAIL;
    }
    if (threads > 0) kn_set_threads((int)threads);
    float *vectors = malloc((texts.n ? texts.n : 1) * (size_t)enc->dim * sizeof *vectors);
    int exit_code = KN_EXIT_OK;
    kn_progress progress;
    kn_progress_init(&progress, "embedding");
    if (!vectors) {
        fprintf(stderr, "kanava embed: out of memory for %zu vectors\n", texts.n);
        exit_code = KN_EXIT_FAIL;
    } else if (kn_encoder_embed(enc, texts.text, texts.len, texts.n, (size_t)batch, vectors, kn_progress_update, &progress, &err) != 0) {
        fprintf(stderr, "\nkanava embed: %s\n", err.msg);
        exit_code = KN_EXIT_USAGE;
    } else {
        kn_progress_finish(&progress);
        FILE *f = output ? fopen(output, "wb") : stdout;
        if (!f || kn_write_vectors(f, fmt, vectors, texts.n, enc->dim) != 0 || (output && fclose(f) != 0)) {
            fprintf(stderr, "kanava embed: could not write %s\n", output ? output : "stdout");
            exit_code = KN_EXIT_FAIL;
        }
    }
    free(vectors);
    kn_encoder_close(enc);
    kn_texts_free(&texts);
    return exit_code;
}
