/* cmd_model.c - `kanava model fetch|list`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "model/registry.h"

static void print_line(void *ctx, const char *text)
{
    (void)ctx;
    printf("%s\n", text);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kanava model fetch NAME [--from-tarball FILE] [--models-dir DIR]\n"
               "       kanava model add NAME DIR [--models-dir DIR]   (a sentence-transformers directory)\n"
               "       kanava model list [--models-dir DIR]\n");
}

int cmd_model(int argc, char **argv)
{
    static const struct option opts[] = {
        {"models-dir", required_argument, 0, 'm'}, {"from-tarball", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *models_flag = NULL, *tarball = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'm') models_flag = optarg;
        else if (c == 't') tarball = optarg;
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
    fprintf(stderr, "kanava model: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return KN_EXIT_USAGE;
}
