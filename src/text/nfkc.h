/* nfkc.h - Unicode NFKC normalization, as JavaScript's String.prototype.normalize('NFKC'). */
#ifndef KN_NFKC_H
#define KN_NFKC_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Normalizes valid UTF-8 text (embedded NULs allowed) to NFKC code points.
 * *cps is malloc'd (caller frees; may be NULL when *n_cps is 0). The result
 * matches Node 20's ICU (Unicode 17) for every single code point; see nfkc.c. */
int kn_nfkc(const char *text, size_t len, uint32_t **cps, size_t *n_cps, kn_error *err);

#endif
