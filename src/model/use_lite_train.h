/* use_lite_train.h - USE-lite training forward and backward (the encoder side of SetFit
 * fine-tuning).
 *
 * A kn_use_train owns float32 copies of every trainable tensor of a use-lite model
 * directory (embedding table, both layers, the tanh projection; the timing signal has no
 * parameters) and a gradient buffer of the same shape for each. kn_use_train_forward
 * computes exactly what use_lite.c's inference forward computes (packed tokens,
 * x = 2 E[id] + timing, two pre-norm layers, layer 0 projecting its residual 256 -> 512,
 * ReLU FFN, mean pooling, tanh projection, L2 normalisation) and keeps the activations the
 * backward needs; kn_use_train_backward takes d(output embeddings) of that same batch and
 * ACCUMULATES (+=) every parameter gradient (the embedding gradient only in the rows the
 * batch used). Parameters are read from the values arrays on every forward, so an
 * optimiser may update them in place between steps. One thread at a time. */
#ifndef KN_USE_LITE_TRAIN_H
#define KN_USE_LITE_TRAIN_H

#include <stddef.h>

#include "model/encoder.h"
#include "util/error.h"

typedef struct kn_use_train kn_use_train;

/* Loads model_dir (config.json, model.safetensors, vocab.json) of family use-lite. */
kn_use_train *kn_use_train_new(const char *model_dir, kn_error *err);
void kn_use_train_free(kn_use_train *t);

/* Width of the output embeddings (512). */
int kn_use_train_dim(const kn_use_train *t);

/* Token ids of text as the inference encoder produces them (ids malloc'd into out). */
int kn_use_train_tokenize(const kn_use_train *t, const char *text, size_t len, kn_token_seq *out, kn_error *err);

/* out: n x dim. Sequences longer than 128 tokens are clipped as in inference. Saves the
 * activations of this batch for kn_use_train_backward. */
int kn_use_train_forward(kn_use_train *t, const kn_token_seq *seqs, size_t n, float *out, kn_error *err);

/* dout: n x dim, the gradient of the loss with respect to the last forward's out.
 * Accumulates into the parameter gradients. Fails if no forward ran. */
int kn_use_train_backward(kn_use_train *t, const float *dout, kn_error *err);

/* Sets every gradient to zero. */
void kn_use_train_zero_grad(kn_use_train *t);

/* Trainable tensors by Kanava tensor name ("embed.weight", "l0.attn.qkv.weight", ...,
 * "proj.bias"), i < kn_use_train_param_count: name, value and gradient (pointing into the
 * context) and size in elements. Returns ndim (1 or 2), or -1 past the end. */
size_t kn_use_train_param_count(const kn_use_train *t);
int kn_use_train_param(kn_use_train *t, size_t i, const char **name, float **value, float **grad, size_t *size);

/* Shape of parameter i (ndim 1 or 2; shape[1] is 1 for vectors). Returns ndim or -1. */
int kn_use_train_param_shape(const kn_use_train *t, size_t i, int shape[2]);

/* Tokens per sequence the forward keeps (the model's max_positions). */
int kn_use_train_max_tokens(const kn_use_train *t);

#endif
