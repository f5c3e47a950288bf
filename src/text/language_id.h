/* language_id.h - which language a message is written in, for the messages that arrive
 * without a `language` (so the reply goes out in it) and for `--method auto` (an English-only
 * encoder must not judge a Finnish workspace alone).
 *
 * A naive Bayes model over character 1- to 3-grams within words (lowercased, words padded
 * with spaces), trained once per process on the sample sentences Kanava ships
 * (language_samples.c): English, Finnish and Swedish, the languages of a Finnish bank's
 * customer service. A text with fewer than KN_LANGUAGE_MIN_LETTERS letters, or whose two
 * best languages are too close to call, gets no guess. */
#ifndef KN_LANGUAGE_ID_H
#define KN_LANGUAGE_ID_H

#include <stddef.h>

#define KN_LANGUAGE_MIN_LETTERS 8

/* "en", "fi" or "sv", or NULL when the text is too short or too close to call (text must be
 * valid UTF-8). confidence (may be NULL): the winner's posterior probability with the n-grams
 * counted as independent but scaled by 1 / sqrt(n-grams), so that long texts do not all
 * come out at 1.0. Thread-safe. */
const char *kn_language_guess(const char *text, size_t len, double *confidence);

/* How many of n texts kn_language_guess calls `tag`; *told (may be NULL) gets how many it
 * gave any guess for. */
size_t kn_language_count(const char *const *texts, const size_t *lens, size_t n, const char *tag, size_t *told);

#endif
