/* hf_tokenizer.h - a Hugging Face tokenizer.json: WordPiece (BERT) or Unigram (XLM-R)
 * models, with the post-processor's special tokens and truncation. */
#ifndef KN_HF_TOKENIZER_H
#define KN_HF_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct kn_hf_tokenizer kn_hf_tokenizer;

kn_hf_tokenizer *kn_hf_tokenizer_load(const char *path, kn_error *err);
/* Ids with special tokens ([CLS] ... [SEP] or <s> ... </s>), at most max_len in all: the
 * text's own ids are truncated, the special tokens kept. *ids is malloc'd. */
int kn_hf_tokenizer_encode(const kn_hf_tokenizer *t, const char *text, size_t len, size_t max_len, int32_t **ids,
                           size_t *n, kn_error *err);
/* "WordPiece" or "Unigram". */
const char *kn_hf_tokenizer_kind(const kn_hf_tokenizer *t);
void kn_hf_tokenizer_free(kn_hf_tokenizer *t);

#endif
