/* analyze.c - lower-casing and n-gram extraction for the lexical methods (see analyze.h). */
#include "text/analyze.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/utf8.h"

/* Python's \w: letters, numbers and '_'. */
static int is_word_char(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* Python's str.isspace(): general category Zs, or bidi class WS, B or S. */
static int is_space(uint32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* The lower-cased text as code points. *out is malloc'ed; returns the count or -1. */
static long lower_code_points(const char *text, size_t len, uint32_t **out)
{
    uint32_t *cps = malloc((len ? len : 1) * sizeof *cps);
    if (!cps) return -1;
    long n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        if ((unsigned char)text[i] < 0x80) {
            cp = (unsigned char)text[i++];
            if (cp >= 'A' && cp <= 'Z') cp += 32;
        } else {
            i += kn_utf8_decode(text + i, len - i, &cp);
            cp = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
        }
        cps[n++] = cp;
    }
    *out = cps;
    return n;
}

/* Appends the UTF-8 of cps[0..n) to buf at *pos (buf has room for 4 bytes per code point). */
static void put_utf8(char *buf, size_t *pos, const uint32_t *cps, long n)
{
    for (long k = 0; k < n; k++) {
        uint32_t cp = cps[k];
        if (cp < 0x80) buf[(*pos)++] = (char)cp;
        else *pos += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)buf + *pos);
    }
}

long kn_analyze_words(const char *text, size_t len, int min_n, int max_n, kn_term_fn emit, void *ctx)
{
    uint32_t *cps;
    long n_cps = lower_code_points(text, len, &cps);
    if (n_cps < 0) return -1;
    /* Word k is cps[start[k] .. end[k]). */
    long *start = malloc((size_t)(n_cps + 1) * sizeof *start), *end = malloc((size_t)(n_cps + 1) * sizeof *end);
    char *buf = malloc((size_t)n_cps * 4 + (size_t)max_n + 1);
    if (!start || !end || !buf) {
        free(cps), free(start), free(end), free(buf);
        return -1;
    }
    long words = 0;
    for (long i = 0; i < n_cps;) {
        if (!is_word_char(cps[i])) {
            i++;
            continue;
        }
        start[words] = i;
        while (i < n_cps && is_word_char(cps[i])) i++;
        end[words++] = i;
    }
    for (int n = min_n; n <= max_n; n++) {
        for (long k = 0; k + n <= words; k++) {
            size_t pos = 0;
            for (int j = 0; j < n; j++) {
                if (j) buf[pos++] = ' ';
                put_utf8(buf, &pos, cps + start[k + j], end[k + j] - start[k + j]);
            }
            emit(buf, pos, ctx);
        }
    }
    free(cps), free(start), free(end), free(buf);
    return words;
}

long kn_analyze_char_wb(const char *text, size_t len, int min_n, int max_n, kn_term_fn emit, void *ctx)
{
    uint32_t *cps;
    long n_cps = lower_code_points(text, len, &cps);
    if (n_cps < 0) return -1;
    /* A padded piece: ' ' + piece + ' ', as code points, and the byte offset of each. */
    uint32_t *w = malloc((size_t)(n_cps + 2) * sizeof *w);
    size_t *at = malloc((size_t)(n_cps + 3) * sizeof *at);
    char *buf = malloc((size_t)(n_cps + 2) * 4 + 1);
    if (!w || !at || !buf) {
        free(cps), free(w), free(at), free(buf);
        return -1;
    }
    long terms = 0;
    for (long i = 0; i < n_cps;) {
        if (is_space(cps[i])) {
            i++;
            continue;
        }
        long w_len = 0;
        w[w_len++] = ' ';
        while (i < n_cps && !is_space(cps[i])) w[w_len++] = cps[i++];
        w[w_len++] = ' ';
        size_t pos = 0;
        for (long k = 0; k < w_len; k++) {
            at[k] = pos;
            put_utf8(buf, &pos, w + k, 1);
        }
        at[w_len] = pos;
        for (int n = min_n; n <= max_n; n++) {
            long offset = 0, last = n < w_len ? n : w_len;
            emit(buf, at[last], ctx);
            terms++;
            while (offset + n < w_len) {
                offset++;
                emit(buf + at[offset], at[offset + n] - at[offset], ctx);
                terms++;
            }
            if (offset == 0) break; /* sklearn counts a short piece only once */
        }
    }
    free(cps), free(w), free(at), free(buf);
    return terms;
}
