/* fs.h - small file-system helpers shared by every layer. */
#ifndef KN_FS_H
#define KN_FS_H

#include <stddef.h>

#include "util/error.h"

/* Reads a whole file (or stdin when path is "-") into a NUL-terminated malloc'd buffer. */
char *kn_read_file(const char *path, size_t *len, kn_error *err);
int kn_mkdir_p(const char *path, kn_error *err);
int kn_rm_rf(const char *path);
int kn_is_dir(const char *path);
int kn_is_file(const char *path);
/* snprintf into a fixed buffer; fails (returns -1) instead of truncating. */
int kn_path_join(char *out, size_t cap, const char *a, const char *b);
/* Makes a new directory <base>/<prefix>-XXXXXX (base: the given directory, else $TMPDIR,
 * else /tmp) and writes its path to out. */
int kn_make_scratch_dir(char *out, size_t cap, const char *base, const char *prefix, kn_error *err);
/* Whether s ends with suffix. */
int kn_ends_with(const char *s, const char *suffix);

#endif
