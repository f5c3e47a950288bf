/* quantize.h - int8 model directories: `kanava model quantize DIR --out DIR8`.
 *
 * A quantised directory is the model's own directory with model.safetensors rewritten:
 * every linear layer's weight and the token embedding table become I8 with one F32 scale
 * per output channel (per token row for embeddings) in a tensor named "<name>.q8scale";
 * everything else (biases, layer norms, position tables) stays as it was. config.json
 * records {"quantization": {"weights": "int8", ...}}. The encoders load either form; the
 * linear layers then run through qgemm.h. */
#ifndef KN_QUANTIZE_H
#define KN_QUANTIZE_H

#include <stdint.h>

#include "model/safetensors.h"
#include "util/error.h"

#define KN_Q8_SCALE_SUFFIX ".q8scale"

/* Quantises the model in in_dir (a USE-lite or Hugging Face BERT-family directory with F32,
 * F16 or BF16 weights) into out_dir (created; must not exist or be empty). Fails on an
 * already quantised model. */
int kn_model_quantize(const char *in_dir, const char *out_dir, kn_error *err);

/* Whether the model directory holds quantised weights (config.json "quantization"). */
int kn_model_is_quantized(const char *dir);

/* The scales of I8 tensor name: F32 [n] "<name>.q8scale", or NULL with err. */
const float *kn_st_q8_scale(const kn_safetensors *st, const char *name, int64_t n, kn_error *err);

/* Row `row` of an embedding table [rows, d] stored F32, F16, BF16 or I8 (with its row
 * scales) into out as F32. */
void kn_embedding_row(const kn_tensor *table, const float *row_scale, int64_t row, int d, float *out);

#endif
