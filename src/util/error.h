/* error.h - one error type for every layer: a message naming what is wrong and where. */
#ifndef KN_ERROR_H
#define KN_ERROR_H

#include <stddef.h>

typedef struct kn_error {
    char msg[512];
} kn_error;

/* Formats into err->msg (err may be NULL). Always returns -1 so callers can `return kn_fail(...)`. */
int kn_fail(kn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
