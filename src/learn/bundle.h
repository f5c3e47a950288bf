/* bundle.h - a trained classifier in one directory: the encoder it embeds with, the
 * logistic-regression head, the topic names and the training metadata.
 *
 *   <dir>/bundle.json        format, method, topics, head temperature, training metadata
 *   <dir>/head.safetensors   head.weight [topics, dim], head.bias [topics]
 *   <dir>/encoder/           a complete model directory (USE-lite or Hugging Face)
 */
#ifndef KN_BUNDLE_H
#define KN_BUNDLE_H

#include <jansson.h>
#include <stddef.h>

#include "learn/logreg.h"
#include "model/encoder.h"
#include "util/error.h"

typedef struct kn_bundle {
    kn_encoder *encoder;
    kn_logreg head;
    char **classes;
    int n_classes;
    json_t *meta; /* the parsed bundle.json */
} kn_bundle;

/* Writes a bundle to dir (staged beside it and renamed into place; an existing bundle at
 * dir is replaced only once the new one is complete). encoder_dir is copied in. meta is
 * extra training metadata stored under "training" (may be NULL). */
int kn_bundle_save(const char *dir, const char *encoder_dir, const char *method, const kn_logreg *head,
                   char *const *classes, int n_classes, json_t *meta, kn_error *err);
kn_bundle *kn_bundle_open(const char *dir, kn_error *err);
/* proba: n x n_classes. */
int kn_bundle_predict(kn_bundle *b, const char *const *texts, const size_t *lens, size_t n, float *proba,
                      kn_progress_fn progress, void *progress_ctx, kn_error *err);
void kn_bundle_close(kn_bundle *b);

#endif
