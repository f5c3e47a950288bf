/* hf_bert.h - sentence-transformers models of the BERT and XLM-RoBERTa families, read
 * from a Hugging Face directory (config.json, modules.json, 1_Pooling, 2_Normalize,
 * sentence_bert_config.json, tokenizer.json, model.safetensors). */
#ifndef KN_HF_BERT_H
#define KN_HF_BERT_H

#include <jansson.h>

#include "model/encoder.h"

/* config: the directory's parsed config.json (it has "model_type"). */
kn_encoder *kn_hf_bert_open(const char *dir, const json_t *config, kn_error *err);

#endif
