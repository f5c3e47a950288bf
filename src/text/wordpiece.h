/* wordpiece.h - BERT WordPiece tokenization as a Hugging Face tokenizer.json configures it:
 * BertNormalizer, BertPreTokenizer and the WordPiece model, with the semantics of the
 * `tokenizers` library. Special tokens, truncation and padding are the caller's. */
#ifndef KN_WORDPIECE_H
#define KN_WORDPIECE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct kn_wordpiece kn_wordpiece;

/* root: the parsed tokenizer.json. Reads "normalizer" (BertNormalizer or null),
 * "pre_tokenizer" (BertPreTokenizer or null) and "model" (WordPiece: vocab, unk_token,
 * continuing_subword_prefix, max_input_chars_per_word); any other type is refused.
 * path only names the file in error messages. */
kn_wordpiece *kn_wordpiece_load(const json_t *root, const char *path, kn_error *err);

/* Ids of valid UTF-8 text (NUL bytes allowed), without special tokens. *ids is
 * malloc'd (NULL when *n is 0). Invalid UTF-8 returns -1 naming the byte offset. */
int kn_wordpiece_encode(const kn_wordpiece *wp, const char *text, size_t len,
                        int32_t **ids, size_t *n, kn_error *err);

/* Id of a vocabulary piece taken literally (e.g. "[CLS]"), or -1 if absent. */
int32_t kn_wordpiece_token_id(const kn_wordpiece *wp, const char *token);

void kn_wordpiece_free(kn_wordpiece *wp);

#endif
