/* precompiled_charsmap.h - SentencePiece's compiled normalization rules
 * (NormalizerSpec.precompiled_charsmap, the "Precompiled" normalizer of a
 * Hugging Face tokenizer.json), read from its bytes.
 *
 * The blob is <u32 little-endian trie size><darts-clone double array><strings>:
 * the double array maps UTF-8 source sequences to byte offsets into the
 * strings area, which holds NUL-terminated UTF-8 replacements. Lookups walk
 * the array the way darts-clone's commonPrefixSearch does, so they agree with
 * SentencePiece byte for byte. */
#ifndef KN_PRECOMPILED_CHARSMAP_H
#define KN_PRECOMPILED_CHARSMAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct kn_charsmap {
    uint32_t *units;     /* double-array units, host byte order */
    size_t n_units;
    char *strings;       /* replacements, each NUL-terminated */
    size_t strings_len;
} kn_charsmap;

/* Parses a blob (the raw bytes). `where` names the source in error messages,
 * e.g. "tokenizer.json: normalizer.precompiled_charsmap". Fails on a blob that
 * is truncated, whose trie size is not whole units, or whose entries point
 * outside the strings or at invalid UTF-8, so lookups never read out of bounds. */
int kn_charsmap_parse(kn_charsmap *map, const unsigned char *blob, size_t len,
                      const char *where, kn_error *err);

/* Decodes standard base64 (padding optional, no whitespace) and parses it. */
int kn_charsmap_parse_base64(kn_charsmap *map, const char *b64, size_t len,
                             const char *where, kn_error *err);

void kn_charsmap_free(kn_charsmap *map);

/* The longest rule whose source is a prefix of s[0..len): returns the source's
 * byte length and points *out at the replacement (*out_len bytes, possibly 0
 * for a deletion). Returns 0 when no rule matches. */
size_t kn_charsmap_longest(const kn_charsmap *map, const char *s, size_t len,
                           const char **out, size_t *out_len);

#endif
