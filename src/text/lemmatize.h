/* lemmatize.h - Finnish words to their base forms, for the n-gram features: Finnish inflects
 * (kortti, kortin, korttini, kortillani are one card) and the base form gives the character
 * n-grams one spelling to learn. Through Debian's libvoikko and its voikko-fi dictionary.
 *
 * Measured with scikit-learn on SIB-200 Finnish (char 2-5-gram TF-IDF + the head): all
 * training texts 73.5 -> 80.9 % on the base forms, 10 per topic 46.3 -> 48.9 % (5 draws);
 * Snowball stems gave 77.5 / 48.7 and word blocks of stems or base forms beside the char
 * block did worse than the char block on base forms. */
#ifndef KN_LEMMATIZE_H
#define KN_LEMMATIZE_H

#include <stddef.h>

#include "util/error.h"

/* Whether the Finnish dictionary can be opened (1) or not (0; err says why when given). */
int kn_lemmatizer_available(kn_error *err);

/* The text as its words' base forms: the words (runs of letters and digits, lower-cased, as
 * text/analyze.h finds them) each replaced by the base form of voikko's first analysis, or
 * kept as they are when voikko knows none, joined by single spaces. *out is malloc'd and
 * NUL-terminated. Thread-safe (one dictionary behind a lock, base forms cached). -1 with err
 * when the dictionary cannot be opened or out of memory. */
int kn_lemmatize_fi(const char *text, size_t len, char **out, size_t *out_len, kn_error *err);

#endif
