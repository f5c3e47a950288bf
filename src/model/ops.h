/* ops.h - the transformer building blocks shared by every encoder family.
 * Row-major float32 throughout; matrices that multiply activations are stored [in, out]. */
#ifndef KN_OPS_H
#define KN_OPS_H

#include <stdint.h>

/* Element-wise passes over a whole batch (add, layer norm, GELU) run on every thread once
 * they are this large: left serial they made the second core wait at each layer (int8
 * MiniLM, 2 threads). */
#define KN_PARALLEL_ELEMS (1L << 15)

/* Up to this many rows, linear layers use Kanava's own kernel instead of OpenBLAS sgemm. */
#ifndef KN_SMALL_M
#define KN_SMALL_M 128
#endif

#include "model/qgemm.h"
#include "model/safetensors.h"

/* Where a block of a weight matrix's output columns comes from: n columns stored either
 * [K, n] (in x out, TensorFlow) or, when transposed, [n, K] (out x in, PyTorch Linear),
 * in F32, F16, BF16 or I8 (quantised, with one scale per output column in scale). Several
 * sources side by side make one matrix (fused q|k|v). */
typedef struct kn_weight_src {
    const void *data;
    kn_dtype dtype;
    int n;
    int transposed;
    const float *scale; /* I8 only: [n] */
} kn_weight_src;

#define KN_MAX_PARTS 3

/* A weight matrix [K, N] for y = x @ W: always a copy cut into contiguous column panels
 * (F32) for Kanava's kernel, and, when every source is F32, the sources themselves for
 * OpenBLAS on large batches. When every source is I8 it is only the int8 packing (q8). */
typedef struct kn_matrix {
    kn_q8_matrix q8;     /* quantised: q8.packed != NULL */
    float *panels;       /* column panels of the panel width; the last one zero-padded */
    uint16_t *panels_h;  /* the same in F16, instead of panels, when every source is F16 */
    int K, N;
    int nparts;    /* 0: no F32 sources; large batches use the panels too */
    kn_weight_src part[KN_MAX_PARTS];
} kn_matrix;

/* Returns 0, or -1 when out of memory or the shapes do not add up. */
int kn_matrix_init_src(kn_matrix *m, int K, const kn_weight_src *src, int nsrc);
/* A single F32 [K, N] source (row-major, in x out). */
int kn_matrix_init(kn_matrix *m, const float *w, int K, int N);
void kn_matrix_free(kn_matrix *m);

/* Element conversions for half-precision weights. */
float kn_f16_to_f32(uint16_t h);
static inline float kn_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}
/* Element i of a tensor of dtype F32/F16/BF16 as float. */
static inline float kn_load_f32(const void *data, kn_dtype dtype, long i)
{
    if (dtype == KN_F32) return ((const float *)data)[i];
    if (dtype == KN_BF16) return kn_bf16_to_f32(((const uint16_t *)data)[i]);
    return kn_f16_to_f32(((const uint16_t *)data)[i]);
}

/* y[M,N] = x[M,K] @ w[K,N] + b[N] (b may be NULL). -1 only when a quantised matrix runs
 * out of memory for its quantised activations. */
int kn_linear(float *y, const float *x, const kn_matrix *w, const float *b, int M);
/* y = (x - mean) / sqrt(var + eps) * scale + bias, per row of D. y may equal x. */
void kn_layernorm(float *y, const float *x, const float *scale, const float *bias, int M, int D, float eps);
/* Post-LN residual: h += x, then x = layernorm(h), row by row while the row is in cache
 * (one pass over the batch instead of two). */
void kn_residual_layernorm(float *x, float *h, const float *scale, const float *bias, int M, int D, float eps);
void kn_softmax_rows(float *x, int rows, int cols);
void kn_relu(float *x, long n);
void kn_add(float *y, const float *x, long n); /* y += x */
/* Multi-head self-attention over n packed sequences (lengths[s] tokens each, no padding):
 * qkv rows [sum T, 3*D] laid out q | k | v per row, heads split D into equal slices;
 * ctx: [sum T, D]. (sentence, head) pairs run in parallel. Returns -1 if out of memory. */
int kn_attention_batch(float *ctx, const float *qkv, const int *lengths, int n, int D, int heads, float q_scale);
/* Row offsets of n packed sequences: a malloc'd array of n + 1 starts (the last is the
 * total), and the longest length in *max_len. NULL when out of memory. */
long *kn_seq_starts(const int *lengths, int n, int *max_len);
/* Rows scaled to unit L2 norm (rsqrt of max(sum of squares, eps)). */
void kn_l2_normalize(float *x, int rows, int cols, float eps);
/* x = gelu(x) with the exact erf form (vecmath.c). */
void kn_gelu(float *x, long n);
/* x[j] = exp(x[j] - shift); returns their sum (vecmath.c). */
float kn_exp_shifted(float *x, int n, float shift);

#endif
