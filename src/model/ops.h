/* ops.h - the transformer building blocks shared by every encoder family.
 * Row-major float32 throughout; matrices that multiply activations are stored [in, out]. */
#ifndef KN_OPS_H
#define KN_OPS_H

/* Up to this many rows, linear layers use Kanava's own kernel instead of OpenBLAS sgemm. */
#ifndef KN_SMALL_M
#define KN_SMALL_M 128
#endif

/* A weight matrix [K, N] as stored (row-major, usually memory-mapped), plus a copy cut
 * into contiguous column panels for the small-M kernel (NULL when N does not divide). */
typedef struct kn_matrix {
    const float *w;
    float *panels;
    int K, N;
} kn_matrix;

/* Returns 0, or -1 when out of memory. */
int kn_matrix_init(kn_matrix *m, const float *w, int K, int N);
void kn_matrix_free(kn_matrix *m);

/* y[M,N] = x[M,K] @ w[K,N] + b[N] (b may be NULL). */
void kn_linear(float *y, const float *x, const kn_matrix *w, const float *b, int M);
/* y = (x - mean) / sqrt(var + eps) * scale + bias, per row of D. y may equal x. */
void kn_layernorm(float *y, const float *x, const float *scale, const float *bias, int M, int D, float eps);
void kn_softmax_rows(float *x, int rows, int cols);
void kn_relu(float *x, long n);
void kn_add(float *y, const float *x, long n); /* y += x */
/* Multi-head self-attention over one sequence of T tokens with no padding.
 * qkv: [T, 3*D] laid out q | k | v, heads split D into equal slices; ctx: [T, D].
 * scores: scratch of at least T*T floats. */
void kn_attention(float *ctx, const float *qkv, int T, int D, int heads, float q_scale, float *scores);
/* Rows scaled to unit L2 norm (rsqrt of max(sum of squares, eps)). */
void kn_l2_normalize(float *x, int rows, int cols, float eps);

#endif
