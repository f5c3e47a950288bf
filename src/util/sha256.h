/* sha256.h - file digests (OpenSSL's libcrypto does the hashing). */
#ifndef KN_SHA256_H
#define KN_SHA256_H

#include "util/error.h"

/* Writes the lowercase hex digest (64 chars + NUL) of the file at path into hex. */
int kn_sha256_file(const char *path, char hex[65], kn_error *err);

#endif
