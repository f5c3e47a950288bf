/* qgemm.h - int8 matrix products for quantised linear layers.
 *
 * Weights: int8 in [-127, 127] with one F32 scale per output column (w ~ q * scale[n]).
 * Activations: quantised per row when they arrive (dynamic): s = max|x| / 127,
 * q = rint(x * (127 / max|x|)) (round half to even), a zero row stays zero with s = 1.
 * Products accumulate exactly in int32, then y = acc * s_row * scale[n] + bias[n].
 *
 * Kernels (chosen at run time, best first; $KANAVA_INT8_KERNEL=portable|avx2|vnni forces
 * one the CPU has): AVX-512 VNNI (vpdpbusd, unsigned activations offset by 128 and the
 * offset taken back out with the weights' column sums), AVX2 (vpmaddubsw on |x| and
 * sign-adjusted weights: exact because |x|, |w| <= 127), and portable C. All three give
 * the same int32 sums, bit for bit. */
#ifndef KN_QGEMM_H
#define KN_QGEMM_H

#include <stddef.h>
#include <stdint.h>

/* Columns per packed block; K is padded to a multiple of 4 inside a block. */
#define KN_Q8_NB 16

typedef enum { KN_Q8_PORTABLE, KN_Q8_AVX2, KN_Q8_VNNI } kn_q8_kernel;

/* Weights packed for the kernels: ceil(N / 16) blocks of [Kp / 4][16][4] bytes. */
typedef struct kn_q8_matrix {
    int8_t *packed;
    float *scale;    /* [N] */
    int32_t *colsum; /* [N] sums of each column's weights (the VNNI offset correction) */
    int K, Kp, N;
} kn_q8_matrix;

/* Element (k, n) of a source weight; see kn_q8_pack. */
typedef int8_t (*kn_q8_get)(const void *ctx, int k, int n);

/* Packs q (int8 [K, N], row-major, k-th row = input k) with scales [N]. 0, or -1 when out
 * of memory. */
int kn_q8_pack(kn_q8_matrix *m, const int8_t *q, const float *scale, int K, int N);
/* The same from any element getter (weights stored transposed or in several parts). */
int kn_q8_pack_get(kn_q8_matrix *m, kn_q8_get get, const void *ctx, const float *scale, int K, int N);
void kn_q8_free(kn_q8_matrix *m);

/* Per-output-channel quantisation of a weight column: scale = max|w| / 127 (1 when all
 * zero), q = rint(w / scale) clamped to [-127, 127]. w[i * stride], i < n. */
float kn_q8_quantize_channel(const float *w, long stride, int n, int8_t *q, long qstride);

/* Dynamic quantisation of M rows of K activations into q (ldq bytes per row, zero-padded
 * up to ldq) with one scale per row. */
void kn_q8_quantize_rows(const float *x, int M, int K, int8_t *q, int ldq, float *row_scale);

/* acc[M, N] (int32, ldc per row) = xq[M, Kp] @ W, exact; xq rows ldq = m->Kp bytes. 0, or
 * -1 when out of memory (the VNNI kernel works on an unsigned copy of xq). */
int kn_q8_gemm_s32(int32_t *acc, int ldc, const int8_t *xq, const kn_q8_matrix *m, int M, kn_q8_kernel kernel);

/* y[M, N] = x[M, K] @ W + b (b may be NULL), through dynamic activation quantisation and
 * the best kernel. Returns -1 when out of memory for the quantised activations. */
int kn_q8_linear(float *y, const float *x, const kn_q8_matrix *m, const float *b, int M);
/* The same with a given kernel (the portable one when the CPU lacks it): for tests. */
int kn_q8_linear_with(float *y, const float *x, const kn_q8_matrix *m, const float *b, int M, kn_q8_kernel kernel);

/* The kernel kn_q8_linear uses, and whether one is available on this CPU. */
kn_q8_kernel kn_q8_best_kernel(void);
int kn_q8_kernel_available(kn_q8_kernel k);
const char *kn_q8_kernel_name(kn_q8_kernel k);

#endif
