/* language_tag.c - checking and case-folding language tags (language_tag.h). */
#include "text/language_tag.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int kn_language_tag_canonical(const char *tag, char *out, char *why, size_t why_cap)
{
    size_t len = strlen(tag);
    if (len > KN_LANGUAGE_TAG_MAX) {
        snprintf(why, why_cap, "is longer than %d characters", KN_LANGUAGE_TAG_MAX);
        return -1;
    }
    if (len == 0) {
        snprintf(why, why_cap, "is empty");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tag[i];
        if (!(c < 128 && (isalnum(c) || c == '-' || c == '_'))) {
            snprintf(why, why_cap, "has an invalid character at %zu", i);
            return -1;
        }
        int sep = c == '-' || c == '_';
        if (sep && (i == 0 || i + 1 == len || tag[i + 1] == '-' || tag[i + 1] == '_')) {
            snprintf(why, why_cap, "has an empty subtag");
            return -1;
        }
    }
    /* Language lower case; after it, 2-letter regions upper and 4-letter scripts title case;
     * everything after a singleton ("x-...") lower case. */
    int first = 1, private_use = 0;
    size_t i = 0;
    while (i < len) {
        size_t n = 0;
        while (i + n < len && tag[i + n] != '-' && tag[i + n] != '_') n++;
        int alpha = 1;
        for (size_t k = 0; k < n; k++) alpha &= isalpha((unsigned char)tag[i + k]) != 0;
        for (size_t k = 0; k < n; k++) {
            int c = tolower((unsigned char)tag[i + k]);
            if (!first && !private_use && alpha && (n == 2 || (n == 4 && k == 0))) c = toupper(c);
            out[i + k] = (char)c;
        }
        if (!first && n == 1) private_use = 1;
        first = 0;
        i += n;
        if (i < len) out[i++] = '-';
    }
    out[len] = '\0';
    return 0;
}
