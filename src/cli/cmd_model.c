/* cmd_model.c - `kanava model fetch|add|list|quantize`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "learn/bundle.h"
#include "model/quantize.h"
#include "model/registry.h"
#include "util/fs.h"

static void print_line(void *ctx, const char *text)
{
    (void)ctx;
    printf("%s\n", text);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kanava model fetch NAME [--from-tarball FILE] [--models-dir DIR]\n"
               "       kanava model add NAME DIR [--models-dir DIR]   (a sentence-transformers directory)\n"
               "       kanava model list [--models-dir DIR]\n"
               "       kanava model quantize MODEL|BUNDLE --out DIR   (int8 weights; a bundle keeps its head)\n");
}

/* A bundle (bundle.json) gets its encoder quantised and keeps its head; a model (a name
 * or a directory) is quantised as it is. */
static int quantize(const char *models_dir, const char *src, const char *out)
{
    kn_error err;
    char path[4096];
    int is_bundle = kn_path_join(path, sizeof path, src, "bundle.json") == 0 && kn_is_file(path);
    if (!is_bundle) {
        if (kn_model_path(path, sizeof path, models_dir, src, &err) != 0 || kn_model_quantize(path, out, &err) != 0) {
            fprintf(stderr, "kanava: model quantize %s: %s\n", src, err.msg);
            return KN_EXIT_FAIL;
        }
        fprintf(stderr, "quantised %s into %s\n", src, out);
        return KN_EXIT_OK;
    }
    if (kn_is_dir(out) || kn_is_file(out)) {
        fprintf(stderr, "kanava: model quantize: %s already exists; give a new directory\n", out);
        return KN_EXIT_USAGE;
    }
    kn_bundle *b = kn_bundle_open(src, &err);
    int rc = b ? kn_bundle_quantize_encoder(b, NULL, &err) : -1;
    if (rc == 0) rc = kn_bundle_save(b, out, NULL, &err);
    kn_bundle_close(b);
    if (rc != 0) {
        fprintf(stderr, "kanava: model quantize %s: %s\n", src, err.msg);
        return KN_EXIT_FAIL;
    }
    fprintf(stderr, "quantised the encoder of bundle %s into %s\n", src, out);
    return KN_EXIT_OK;
}

int cmd_model(int argc, char **argv)
{
    static const struct option opts[] = {
        {"models-dir", required_argument, 0, 'm'}, {"from-tarball", required_argument, 0, 't'},
        {"out", required_argument, 0, 'o'},        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *models_flag = NULL, *tarball = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'm') models_flag = optarg;
        else if (c == 't') tarball = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'h') { usage(stdout); return KN_EXIT_OK; }
        else { usage(stderr); return KN_EXIT_USAGE; }
    }
    if (optind >= argc) { usage(stderr); return KN_EXIT_USAGE; }
    const char *sub = argv[optind];
    char models_dir[4096];
    kn_error err;
    if (kn_models_dir(models_dir, sizeof models_dir, models_flag, &err) != 0) {
        fprintf(stderr, "kanava: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    if (strcmp(sub, "fetch") == 0) {
        if (optind + 2 != argc) { usage(stderr); return KN_EXIT_USAGE; }
        const char *name = argv[optind + 1];
        int rc = kn_model_fetch(models_dir, name, tarball, &err);
        if (rc < 0) {
            fprintf(stderr, "kanava: model fetch %s: %s\n", name, err.msg);
            return KN_EXIT_FAIL;
        }
        fprintf(stderr, rc == 1 ? "%s is already installed in %s/%s\n" : "installed %s in %s/%s\n", name, models_dir, name);
        return KN_EXIT_OK;
    }
    if (strcmp(sub, "add") == 0) {
        if (optind + 3 != argc) { usage(stderr); return KN_EXIT_USAGE; }
        int rc = kn_model_add(models_dir, argv[optind + 1], argv[optind + 2], &err);
        if (rc < 0) {
            fprintf(stderr, "kanava: model add %s: %s\n", argv[optind + 1], err.msg);
            return KN_EXIT_FAIL;
        }
        fprintf(stderr, rc == 1 ? "%s is already registered\n" : "added %s (%s)\n", argv[optind + 1], argv[optind + 2]);
        return KN_EXIT_OK;
    }
    if (strcmp(sub, "list") == 0) {
        if (kn_model_list(models_dir, print_line, NULL, &err) != 0) {
            fprintf(stderr, "kanava: %s\n", err.msg);
            return KN_EXIT_FAIL;
        }
        return KN_EXIT_OK;
    }
    if (strcmp(sub, "quantize") == 0) {
        if (optind + 2 != argc || !out) { usage(stderr); return KN_EXIT_USAGE; }
        return quantize(models_dir, argv[optind + 1], out);
    }
    fprintf(stderr, "kanava model: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return KN_EXIT_USAGE;
}
