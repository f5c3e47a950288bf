/* nfkc.c - NFKC through utf8proc, plus the few mappings utf8proc 2.8 lacks.
 *
 * utf8proc 2.8 knows Unicode 15; Node 20 (ICU 78) normalizes by Unicode 17.
 * Comparing every code point and 300k random composable sequences showed the
 * only differences are code points new since Unicode 15 that NFKC maps to
 * ASCII: U+A7F1 MODIFIER LETTER CAPITAL S and the outlined letters and digits
 * U+1CCD6..U+1CCF9. We map those before utf8proc sees them. (New combining
 * marks of Unicode 16/17 still get combining class 0 here; that only matters
 * for scripts the vocabulary cannot tokenize anyway.) */
#include "text/nfkc.h"

#include <stdlib.h>
#include <utf8proc.h>

static utf8proc_int32_t unicode17_compat(utf8proc_int32_t cp, void *unused)
{
    (void)unused;
    if (cp < 0xA7F1) return cp;
    if (cp == 0xA7F1) return 'S';
    if (cp >= 0x1CCD6 && cp <= 0x1CCEF) return 'A' + (cp - 0x1CCD6);
    if (cp >= 0x1CCF0 && cp <= 0x1CCF9) return '0' + (cp - 0x1CCF0);
    return cp;
}

int kn_nfkc(const char *text, size_t len, uint32_t **cps, size_t *n_cps, kn_error *err)
{
    const utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    *cps = NULL;
    *n_cps = 0;
    if (len == 0) return 0;

    /* Decomposition rarely makes more code points than there are bytes; when it
     * does (U+FDFA becomes 18), utf8proc tells us the size and we decompose again. */
    utf8proc_ssize_t cap = (utf8proc_ssize_t)len + 16;
    utf8proc_int32_t *buf = NULL;
    for (;;) {
        utf8proc_int32_t *grown = realloc(buf, (size_t)cap * sizeof *buf);
        if (!grown) {
            free(buf);
            return kn_fail(err, "out of memory normalizing %zu bytes of text", len);
        }
        buf = grown;
        utf8proc_ssize_t n = utf8proc_decompose_custom((const utf8proc_uint8_t *)text,
                                                       (utf8proc_ssize_t)len, buf, cap, opts,
                                                       unicode17_compat, NULL);
        if (n < 0) {
            free(buf);
            return kn_fail(err, "NFKC normalization failed: %s", utf8proc_errmsg(n));
        }
        if (n <= cap) {
            n = utf8proc_normalize_utf32(buf, n, opts); /* canonical composition */
            if (n < 0) {
                free(buf);
                return kn_fail(err, "NFKC normalization failed: %s", utf8proc_errmsg(n));
            }
            /* int32_t and uint32_t may alias (C11 6.5p7); all values are scalars. */
            *cps = (uint32_t *)buf;
            *n_cps = (size_t)n;
            return 0;
        }
        cap = n;
    }
}
