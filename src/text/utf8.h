/* utf8.h - strict UTF-8 validation and UTF-8 / code point / UTF-16 conversion. */
#ifndef KN_UTF8_H
#define KN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Byte offset of the first invalid sequence in s[0..len), or len if all of it is
 * valid UTF-8. Overlong forms, surrogates (U+D800..U+DFFF), code points above
 * U+10FFFF, stray continuation bytes and sequences cut short all count as invalid. */
size_t kn_utf8_first_invalid(const char *s, size_t len);

/* Decodes one code point from valid UTF-8 at s (len > 0 bytes left); returns the
 * number of bytes consumed. Only call on text kn_utf8_first_invalid accepted. */
size_t kn_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Writes cp (a Unicode scalar value) as UTF-16 into out; returns 1 or 2 units. */
static inline size_t kn_utf16_put(uint16_t *out, uint32_t cp)
{
    if (cp < 0x10000) {
        out[0] = (uint16_t)cp;
        return 1;
    }
    cp -= 0x10000;
    out[0] = (uint16_t)(0xD800 | (cp >> 10));
    out[1] = (uint16_t)(0xDC00 | (cp & 0x3FF));
    return 2;
}

/* Converts valid UTF-8 to UTF-16. out needs room for len units (UTF-16 never
 * needs more units than UTF-8 needs bytes). Returns the number of units written. */
size_t kn_utf8_to_utf16(const char *s, size_t len, uint16_t *out);

#endif
