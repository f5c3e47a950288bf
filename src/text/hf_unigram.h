/* hf_unigram.h - the SentencePiece unigram tokenizer of XLM-R style Hugging Face
 * models (e.g. paraphrase-multilingual-MiniLM-L12-v2), configured by their
 * tokenizer.json and id-for-id equal to python3-sentencepiece on the .model the
 * file was converted from (hf_unigram.c says how the two pipelines map).
 *
 * Special tokens (<s> ... </s>) and truncation are the caller's business. */
#ifndef KN_HF_UNIGRAM_H
#define KN_HF_UNIGRAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct kn_hf_unigram kn_hf_unigram;

/* root: the parsed tokenizer.json. Reads "normalizer" (Precompiled with a base64
 * "precompiled_charsmap", alone or in a Sequence with the whitespace steps HF
 * writes for XLM-R: Strip, Replace " {2,}"), "pre_tokenizer" (Metaspace with
 * replacement "▁", alone or in a Sequence with WhitespaceSplit), "model" (type
 * Unigram: vocab [[piece, score], ...] whose indices are the ids, unk_id,
 * byte_fallback false) and "added_tokens" (special ones are never matched in
 * text). Anything else is refused, naming it and where it is. path is only
 * used in error messages. NULL on error. */
kn_hf_unigram *kn_hf_unigram_load(const json_t *root, const char *path, kn_error *err);

/* Tokenizes len bytes of UTF-8 (NULs allowed) into ids without special tokens.
 * *ids is malloc'd for the caller (NULL when *n == 0). Invalid UTF-8 fails with
 * a message naming the byte offset. Safe to call from many threads at once. */
int kn_hf_unigram_encode(const kn_hf_unigram *u, const char *text, size_t len,
                         int32_t **ids, size_t *n, kn_error *err);

/* Id of a vocabulary entry by its exact text ("<s>", "</s>", ...), or -1. */
int32_t kn_hf_unigram_token_id(const kn_hf_unigram *u, const char *piece);

void kn_hf_unigram_free(kn_hf_unigram *u);

#endif
