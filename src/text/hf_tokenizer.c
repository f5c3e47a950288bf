/* hf_tokenizer.c - placeholder until the WordPiece and Unigram tokenizers land. */
#include "text/hf_tokenizer.h"

kn_hf_tokenizer *kn_hf_tokenizer_load(const char *path, kn_error *err)
{
    kn_fail(err, "%s: Hugging Face tokenizers are not available yet", path);
    return 0;
}

int kn_hf_tokenizer_encode(const kn_hf_tokenizer *t, const char *text, size_t len, size_t max_len, int32_t **ids,
                           size_t *n, kn_error *err)
{
    (void)t; (void)text; (void)len; (void)max_len; (void)ids; (void)n;
    return kn_fail(err, "not available");
}

const char *kn_hf_tokenizer_kind(const kn_hf_tokenizer *t)
{
    (void)t;
    return "none";
}

void kn_hf_tokenizer_free(kn_hf_tokenizer *t)
{
    (void)t;
}
