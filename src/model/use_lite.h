/* use_lite.h - Universal Sentence Encoder lite: a 2-layer transformer over SentencePiece
 * ids, mean pooled, tanh projection, L2 normalised (512 dims). */
#ifndef KN_USE_LITE_H
#define KN_USE_LITE_H

#include <jansson.h>

#include "model/encoder.h"

/* Tensor names in Kanava's use-lite model.safetensors; "%d" is the layer index. */
#define KN_USE_LAYERS 2

kn_encoder *kn_use_lite_open(const char *dir, const json_t *config, kn_error *err);

/* Converts the TensorFlow.js package files (model.json, shards, vocab.json in dist_dir)
 * into a Kanava model directory out_dir (config.json, model.safetensors, vocab.json).
 * source: a JSON object recorded in config.json under "source" (may be NULL). */
int kn_use_lite_convert(const char *dist_dir, const char *out_dir, json_t *source, kn_error *err);

#endif
