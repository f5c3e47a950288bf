/* cmd_model.c - `kanava model fetch|add|list|quantize|export-hf`. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "learn/bundle.h"
#include "model/concat_encoder.h"
#include "model/hf_bert_train.h"
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
               "       kanava model quantize MODEL|BUNDLE --out DIR   (int8 weights; a bundle keeps its head)\n"
               "       kanava model export-hf BUNDLE|MODEL --out DIR  (a BERT-family encoder as a\n"
               "                                                      sentence-transformers directory, F32)\n");
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

/* A SetFit bundle's encoder is the tuned one beside its base (model/concat_encoder.h): what
 * is exported is the tuned part, the first. */
static int tuned_part(char *dir, size_t cap, kn_error *err)
{
    char path[4200], part[4200];
    json_t *cfg = kn_path_join(path, sizeof path, dir, "config.json") == 0 ? json_load_file(path, 0, NULL) : NULL;
    kn_concat_part parts[KN_CONCAT_MAX_PARTS];
    int n_parts = 0, rc = 0;
    if (cfg && kn_model_family_of(cfg) == KN_FAMILY_CONCAT) {
        rc = kn_concat_parts(cfg, path, parts, &n_parts, err);
        if (rc == 0 && (kn_path_join(part, sizeof part, dir, parts[0].dir) != 0 || strlen(part) >= cap))
            rc = kn_fail(err, "%s: path too long", dir);
        if (rc == 0) memcpy(dir, part, strlen(part) + 1);
    }
    json_decref(cfg);
    return rc;
}

/* The model directory to export: a bundle's encoder/ (what is refused is named as the
 * bundle's), or a model name or directory. *what is "bundle" or "model". */
static int export_source(const char *models_dir, const char *src, char *dir, size_t cap, const char **what,
                         kn_error *err)
{
    char path[4096];
    if (!kn_is_dir(src) && strchr(src, '/')) return kn_fail(err, "%s: no such bundle or model directory", src);
    if (kn_path_join(path, sizeof path, src, "bundle.json") == 0 && kn_is_file(path)) {
        *what = "bundle";
        json_t *desc = json_load_file(path, 0, NULL);
        const char *method = json_string_value(json_object_get(desc, "method"));
        int has_encoder = kn_path_join(dir, cap, src, "encoder") == 0 && kn_is_dir(dir);
        int rc = has_encoder ? 0 : kn_fail(err, "bundle %s has no encoder to export (method %s)", src, method ? method : "?");
        json_decref(desc);
        return rc == 0 ? tuned_part(dir, cap, err) : rc;
    }
    *what = "model";
    return kn_model_path(dir, cap, models_dir, src, err);
}

/* A bundle's encoder (or a model) of the BERT family written as a sentence-transformers
 * directory with F32 weights: staged beside out and renamed into place. */
static int export_hf(const char *models_dir, const char *src, const char *out)
{
    kn_error err;
    char dir[4096], path[4200];
    const char *what = "model";
    if (export_source(models_dir, src, dir, sizeof dir, &what, &err) != 0) {
        fprintf(stderr, "kanava: model export-hf %s: %s\n", src, err.msg);
        return KN_EXIT_USAGE;
    }
    json_t *cfg = kn_path_join(path, sizeof path, dir, "config.json") == 0 ? json_load_file(path, 0, NULL) : NULL;
    const char *family = json_string_value(json_object_get(cfg, "family"));
    int hf = cfg && !family && json_object_get(cfg, "model_type");
    char fam[64];
    snprintf(fam, sizeof fam, "%s", family ? family : hf ? "" : "unknown");
    json_decref(cfg);
    if (!hf) {
        fprintf(stderr, "kanava: model export-hf %s: export-hf writes BERT-family encoders; %s %s\n", src,
                strcmp(what, "bundle") == 0 ? "this bundle's encoder is" : "this model is", fam);
        return KN_EXIT_USAGE;
    }
    if (kn_model_is_quantized(dir)) {
        int bundle = strcmp(what, "bundle") == 0;
        fprintf(stderr, "kanava: model export-hf %s: %s quantised (int8); export-hf writes F32 weights: %s\n", src,
                bundle ? "this bundle's encoder is" : "this model is",
                bundle ? "export the F32 bundle (trained without --quantize)" : "export the float model it was quantised from");
        return KN_EXIT_USAGE;
    }
    if (kn_is_dir(out) || kn_is_file(out)) {
        fprintf(stderr, "kanava: model export-hf: %s already exists; give a new directory\n", out);
        return KN_EXIT_USAGE;
    }
    char parent[4096], stage[4200];
    snprintf(parent, sizeof parent, "%s", out);
    kn_bert_train *t = kn_bert_train_new(dir, &err);
    int rc = t ? kn_make_scratch_dir(stage, sizeof stage, dirname(parent), ".export-hf", &err) : -1;
    if (rc == 0) {
        /* mkdtemp makes it 0700; the exported model is an ordinary directory */
        mode_t mask = umask(0);
        umask(mask);
        chmod(stage, 0777 & ~mask);
        rc = kn_bert_train_save(t, stage, &err);
        if (rc == 0 && rename(stage, out) != 0) rc = kn_fail(&err, "%s: cannot rename into place: %s", out, strerror(errno));
        if (rc != 0) kn_rm_rf(stage);
    }
    kn_bert_train_free(t);
    if (rc != 0) {
        fprintf(stderr, "kanava: model export-hf %s: %s\n", src, err.msg);
        return KN_EXIT_FAIL;
    }
    fprintf(stderr, "exported the encoder of %s %s into %s (F32 sentence-transformers directory)\n", what, src, out);
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
    if (strcmp(sub, "export-hf") == 0) {
        if (optind + 2 != argc || !out) { usage(stderr); return KN_EXIT_USAGE; }
        return export_hf(models_dir, argv[optind + 1], out);
    }
    fprintf(stderr, "kanava model: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return KN_EXIT_USAGE;
}
