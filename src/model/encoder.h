/* encoder.h - the one interface every sentence encoder implements.
 *
 * Callers (CLI, learning, server) only see this: tokenize text into ids, run a batched
 * forward pass that writes one L2-comparable vector per text. A model family (USE-lite,
 * BERT, XLM-R, ...) provides a kn_encoder_ops table; kn_encoder_open picks it from the
 * model directory's config.json "family" field. An encoder is used by one thread at a
 * time (it owns scratch buffers); open one per thread for concurrency. */
#ifndef KN_ENCODER_H
#define KN_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/progress.h"

typedef struct kn_token_seq {
    int32_t *ids;
    size_t n;
} kn_token_seq;

typedef struct kn_encoder kn_encoder;

typedef struct kn_encoder_ops {
    const char *family;
    /* ids are malloc'd into out->ids; text must be valid UTF-8. */
    int (*tokenize)(const kn_encoder *enc, const char *text, size_t len, kn_token_seq *out, kn_error *err);
    /* Embeds n token sequences into out (n x dim, row-major). */
    int (*forward)(kn_encoder *enc, const kn_token_seq *seqs, size_t n, float *out, kn_error *err);
    void (*destroy)(kn_encoder *enc);
    /* Floating-point operations forward() performs for these sequences (for benchmarks). */
    double (*flops)(const kn_encoder *enc, const kn_token_seq *seqs, size_t n);
} kn_encoder_ops;

struct kn_encoder {
    const kn_encoder_ops *ops;
    char name[256];
    int dim;
    int max_tokens; /* forward ignores tokens past this many */
};

/* Opens the model in directory dir (which holds config.json). */
kn_encoder *kn_encoder_open(const char *dir, kn_error *err);

/* The family a parsed config.json (a jansson json_t) names: "family": "use-lite" or
 * "concat" (model/concat_encoder.h), or a Hugging Face directory (a model_type and no
 * family). Inference and training both decide by it. */
typedef enum { KN_FAMILY_UNKNOWN, KN_FAMILY_USE_LITE, KN_FAMILY_HF, KN_FAMILY_CONCAT } kn_model_family;
struct json_t;
kn_model_family kn_model_family_of(const struct json_t *cfg);
void kn_encoder_close(kn_encoder *enc);

/* Tokenizes and embeds n texts, batch_size at a time; out is n x enc->dim.
 * progress (may be NULL) is called after each batch with the number of texts done. */
int kn_encoder_embed(kn_encoder *enc, const char *const *texts, const size_t *lens, size_t n, size_t batch_size,
                     float *out, kn_progress_fn progress, void *progress_ctx, kn_error *err);

/* Number of threads the matrix kernels may use (OpenBLAS). */
void kn_set_threads(int n);

#endif
