/* concat_encoder.h - an encoder made of two or more encoders of one tokenizer, whose vectors
 * are laid side by side, each scaled by its weight: a SetFit bundle's tuned encoder beside the
 * untuned base it came from (the base's features keep what few-shot tuning wears away).
 *
 * Its directory holds one sub-directory per part and a config.json:
 *   {"family": "concat", "parts": [{"dir": "tuned", "weight": 1}, {"dir": "base", "weight": 0.5}]}
 * Every part must tokenize as the first does (same family and vocabulary): the parts are
 * the tuned and the untuned weights of one model. */
#ifndef KN_CONCAT_ENCODER_H
#define KN_CONCAT_ENCODER_H

#include <jansson.h>

#include "model/encoder.h"

#define KN_CONCAT_MAX_PARTS 4

typedef struct {
    const char *dir; /* relative to the concat directory */
    float weight;
} kn_concat_part;

kn_encoder *kn_concat_open(const char *dir, const json_t *config, kn_error *err);

/* Reads config's parts (at most KN_CONCAT_MAX_PARTS; dir strings point into config). */
int kn_concat_parts(const json_t *config, const char *where, kn_concat_part *parts, int *n_parts, kn_error *err);

/* Writes dir/config.json naming the parts (their directories are the caller's to fill). */
int kn_concat_write_config(const char *dir, const kn_concat_part *parts, int n_parts, kn_error *err);

#endif
