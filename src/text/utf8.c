/* utf8.c - strict UTF-8 validation (Unicode table 3-7) and conversions. */
#include "text/utf8.h"

#include <string.h>

size_t kn_utf8_first_invalid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        /* Most text is ASCII: skip it eight bytes at a time. */
        if (i + 8 <= len) {
            uint64_t chunk;
            memcpy(&chunk, s + i, 8);
            if ((chunk & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* Lead byte fixes the length and the allowed range of the second byte,
         * which is where overlongs, surrogates and > U+10FFFF are ruled out. */
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            if (c == 0xED) hi = 0x9F;      /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            if (c == 0xF4) hi = 0x8F;      /* above U+10FFFF */
        } else {
            return i;                      /* C0, C1, F5..FF or a stray continuation */
        }
        if (i + 1 >= len || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < n; k++)
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80) return i;
        i += n;
    }
    return len;
}

size_t kn_utf8_decode(const char *text, size_t len, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n > len) {          /* cut short: only possible if the precondition was broken */
        *cp = 0xFFFD;
        return len;
    }
    switch (n) {
    case 1: *cp = c; break;
    case 2: *cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F); break;
    case 3: *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F); break;
    default:
        *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
              ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
    return n;
}

size_t kn_utf8_to_utf16(const char *s, size_t len, uint16_t *out)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        i += kn_utf8_decode(s + i, len - i, &cp);
        n += kn_utf16_put(out + n, cp);
    }
    return n;
}
