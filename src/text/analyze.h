/* analyze.h - text analysis for the lexical methods (BM25, TF-IDF): Unicode lower-casing,
 * words, word n-grams and character n-grams, with scikit-learn's semantics so that the
 * references in tools/learn can be written in a few lines of Python, and with no English
 * assumptions (Finnish, Swedish and other Latin-script languages tokenise the same way).
 *
 *   lower-casing   utf8proc's simple lower-case mapping of each code point (Python's
 *                  str.lower() differs only for U+0130 and the Greek final sigma; the
 *                  references map those two first).
 *   words          maximal runs of word characters of the lower-cased text: Unicode
 *                  letters (L*), numbers (N*) and '_' - Python's re.findall(r"\w+", s).
 *   word n-grams   n consecutive words joined by one space, n = min_n..max_n, all 1-grams
 *                  first, then all 2-grams, ... (sklearn's _word_ngrams order).
 *   char_wb        sklearn's analyzer='char_wb': the lower-cased text split on white space
 *                  (Python's str.split(): Zs, or bidi class WS, B or S), each piece padded
 *                  with one space on both sides, and every n-gram of code points of the
 *                  padded piece for n = min_n..max_n; once n reaches the padded length the
 *                  piece yields itself (once) and no longer n-grams: " a " gives " a", "a ",
 *                  " a " for 2..5.
 *
 * Input must be valid UTF-8 (callers read texts through the strict readers). */
#ifndef KN_ANALYZE_H
#define KN_ANALYZE_H

#include <stddef.h>

/* Called once per term; term is not NUL-terminated and only valid during the call. */
typedef void (*kn_term_fn)(const char *term, size_t len, void *ctx);

/* Word n-grams for n in [min_n, max_n] (1 <= min_n <= max_n). Returns the number of words,
 * or -1 when out of memory. */
long kn_analyze_words(const char *text, size_t len, int min_n, int max_n, kn_term_fn emit, void *ctx);

/* Character n-grams inside word boundaries (char_wb) for n in [min_n, max_n]. Returns the
 * number of terms emitted, or -1 when out of memory. */
long kn_analyze_char_wb(const char *text, size_t len, int min_n, int max_n, kn_term_fn emit, void *ctx);

#endif
