/* trainable.h - the one interface SetFit fine-tunes through, whatever the model family.
 *
 * A family's training context (use_lite_train.h, hf_bert_train.h) owns float32 copies of
 * every trainable tensor and a gradient buffer of the same shape; forward keeps the
 * activations of its batch, backward takes d(output embeddings) of that batch and
 * ACCUMULATES every parameter gradient. Parameters are read from their value arrays on
 * every forward, so an optimiser updates them in place between steps. save writes a
 * complete model directory of the same family that kn_encoder_open loads. One thread at a
 * time (the matrix kernels inside use the threads kn_set_threads allows). */
#ifndef KN_TRAINABLE_H
#define KN_TRAINABLE_H

#include <stddef.h>

#include "model/encoder.h"
#include "util/error.h"

typedef struct kn_trainable kn_trainable;

typedef struct kn_trainable_param {
    const char *name; /* the family's tensor name as saved */
    float *value, *grad;
    size_t size;      /* elements */
    int ndim;         /* 1 or 2: biases and norms (1) get no weight decay */
    int depth;        /* 0 embeddings, 1.. the transformer layers bottom up, then what follows */
} kn_trainable_param;

typedef struct kn_trainable_ops {
    const char *family;
    int (*tokenize)(kn_trainable *t, const char *text, size_t len, kn_token_seq *out, kn_error *err);
    int (*forward)(kn_trainable *t, const kn_token_seq *seqs, size_t n, float *out, kn_error *err);
    int (*backward)(kn_trainable *t, const float *dout, kn_error *err);
    void (*zero_grad)(kn_trainable *t);
    /* Fills up to cap entries and returns the total count. */
    size_t (*params)(kn_trainable *t, kn_trainable_param *out, size_t cap);
    /* Writes the current weights as a model directory (created if needed). */
    int (*save)(kn_trainable *t, const char *out_dir, kn_error *err);
    void (*destroy)(kn_trainable *t);
} kn_trainable_ops;

struct kn_trainable {
    const kn_trainable_ops *ops;
    int dim;        /* width of the output embeddings */
    int max_tokens; /* tokens past this many are ignored, as in inference */
};

/* Opens the float model in dir for training; picks the family from config.json as
 * kn_encoder_open does. Quantised models and families without a backward are refused. */
kn_trainable *kn_trainable_open(const char *dir, kn_error *err);
void kn_trainable_close(kn_trainable *t);

/* Family constructors (kn_trainable_open dispatches to them). */
kn_trainable *kn_use_trainable_open(const char *dir, kn_error *err);
kn_trainable *kn_bert_trainable_open(const char *dir, kn_error *err);

#endif
