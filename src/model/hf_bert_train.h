/* hf_bert_train.h - BERT / XLM-RoBERTa training forward and backward (the encoder side of
 * SetFit fine-tuning of a Hugging Face sentence-transformers directory).
 *
 * A kn_bert_train owns float32 copies of every trainable tensor of the directory's
 * model.safetensors (F32, F16 or BF16; quantised directories are refused), under the
 * checkpoint's own names (prefix "", "bert." or "roberta." as the source has it), and a
 * gradient buffer of the same shape for each. The query, key and value tensors of a layer
 * (weights, then biases) sit next to each other in memory, so they are the fused q|k|v
 * matrix [3H, H] the attention kernel wants while keeping their HF names.
 *
 * kn_bert_train_forward computes what hf_bert.c's inference forward computes (packed
 * tokens; word + position + token type 0, layer norm; post-LN layers with exact GELU;
 * mean, CLS or max pooling; optional L2 normalisation) and keeps the activations;
 * kn_bert_train_backward takes d(output embeddings) of that batch and ACCUMULATES (+=)
 * every parameter gradient: word embeddings only in the rows the batch used, position
 * rows used, token type row 0. Parameters are read from the value arrays on every
 * forward, so an optimiser may update them in place between steps. One thread at a time. */
#ifndef KN_HF_BERT_TRAIN_H
#define KN_HF_BERT_TRAIN_H

#include <stddef.h>

#include "model/encoder.h"
#include "model/hf_bert.h"
#include "util/error.h"

typedef struct kn_bert_train kn_bert_train;

/* Loads dir (config.json, modules.json, pooling, tokenizer.json, model.safetensors). */
kn_bert_train *kn_bert_train_new(const char *dir, kn_error *err);
void kn_bert_train_free(kn_bert_train *t);

const kn_bert_config *kn_bert_train_config(const kn_bert_train *t);
/* Width of the output embeddings (hidden_size). */
int kn_bert_train_dim(const kn_bert_train *t);
/* Tokens per sequence the forward keeps (max_seq_length, as inference). */
int kn_bert_train_max_tokens(const kn_bert_train *t);

/* Token ids of text as the inference encoder produces them (ids malloc'd into out). */
int kn_bert_train_tokenize(const kn_bert_train *t, const char *text, size_t len, kn_token_seq *out, kn_error *err);

/* out: n x dim. Saves the activations of this batch for kn_bert_train_backward. */
int kn_bert_train_forward(kn_bert_train *t, const kn_token_seq *seqs, size_t n, float *out, kn_error *err);

/* dout: n x dim, the gradient of the loss with respect to the last forward's out.
 * Accumulates into the parameter gradients. Fails if no forward ran. */
int kn_bert_train_backward(kn_bert_train *t, const float *dout, kn_error *err);

void kn_bert_train_zero_grad(kn_bert_train *t);

/* Trainable tensors i < count by their checkpoint name: value and gradient point into the
 * context, size in elements. Returns ndim (1 or 2), or -1 past the end. */
size_t kn_bert_train_param_count(const kn_bert_train *t);
int kn_bert_train_param(kn_bert_train *t, size_t i, const char **name, float **value, float **grad, size_t *size);
/* Shape of parameter i (shape[1] is 1 for vectors). Returns ndim or -1. */
int kn_bert_train_param_shape(const kn_bert_train *t, size_t i, int shape[2]);

/* Writes the current weights as a sentence-transformers directory out_dir (created if
 * needed; not the source directory): model.safetensors in F32 with every tensor of the
 * source under its source name (trainable ones at their current values, the rest such as
 * the pooler widened to F32, integer buffers as they were), and every other file and
 * folder of the source copied. */
int kn_bert_train_save(const kn_bert_train *t, const char *out_dir, kn_error *err);

#endif
