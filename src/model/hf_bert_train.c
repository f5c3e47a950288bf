/* hf_bert_train.c - placeholder until the BERT backward lands. */
#include "model/trainable.h"

kn_trainable *kn_bert_trainable_open(const char *dir, kn_error *err)
{
    kn_fail(err, "%s: fine-tuning BERT-family models is not built yet", dir);
    return NULL;
}
