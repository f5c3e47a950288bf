/* hf_bert.h - sentence-transformers models of the BERT and XLM-RoBERTa families, read
 * from a Hugging Face directory (config.json, modules.json, 1_Pooling, 2_Normalize,
 * sentence_bert_config.json, tokenizer.json, model.safetensors). */
#ifndef KN_HF_BERT_H
#define KN_HF_BERT_H

#include <jansson.h>

#include "model/encoder.h"
#include "model/safetensors.h"

/* config: the directory's parsed config.json (it has "model_type"). */
kn_encoder *kn_hf_bert_open(const char *dir, const json_t *config, kn_error *err);

/* What the directory's JSON files say, shared by the inference encoder and the training
 * context (hf_bert_train.h) so both read a directory the same way. */
typedef enum { KN_BERT_POOL_MEAN, KN_BERT_POOL_CLS, KN_BERT_POOL_MAX } kn_bert_pooling;

typedef struct kn_bert_config {
    char model_type[32]; /* "bert" or "xlm-roberta" */
    int hidden, layers, heads, inter, vocab, max_pos;
    int position_offset; /* XLM-R numbers positions from pad_token_id + 1; BERT from 0 */
    int max_tokens;      /* max_seq_length, at most what the position table holds */
    float ln_eps;
    kn_bert_pooling pool;
    int normalize;       /* modules.json lists Normalize */
} kn_bert_config;

/* Reads config (config.json, parsed), modules.json, the pooling config and
 * sentence_bert_config.json of dir; refuses what the forward does not implement. */
int kn_bert_config_read(const char *dir, const json_t *config, kn_bert_config *out, kn_error *err);

/* The tensor-name prefix the checkpoint uses: "", "bert." or "roberta.". */
const char *kn_bert_tensor_prefix(const kn_safetensors *st);

/* Tensor prefix + name, checked to be F32, F16 or BF16 (or I8 when allow_i8) with shape
 * [d0] (d1 == 0) or [d0, d1]. Error messages start with "model.safetensors: ". */
const kn_tensor *kn_bert_tensor(const kn_safetensors *st, const char *prefix, const char *name, int64_t d0,
                                int64_t d1, int allow_i8, kn_error *err);

#endif
