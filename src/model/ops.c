#include "model/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* The small-M kernel works on blocks of MR rows x NBV vectors of columns, with the
 * accumulators in vector registers (GCC vector extensions: zmm with AVX-512, else ymm). */
#if defined(__AVX512F__)
typedef float vfloat __attribute__((vector_size(64), aligned(4)));
enum { VW = 16, NBV = 4, MR = 6 };
#else
typedef float vfloat __attribute__((vector_size(32), aligned(4)));
enum { VW = 8, NBV = 2, MR = 6 };
#endif
enum { NB = VW * NBV };

/* y[MR, NB] += x[MR, K] @ w[K, NB], each with its own row stride.
 * w is streamed once per row block and never packed. */
static inline void small_block(float *y, long ldy, const float *x, long ldx, const float *w, long ldw, int K)
{
    vfloat acc[MR][NBV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NBV; v++) acc[r][v] = *(const vfloat *)(y + r * ldy + v * VW);
    for (int k = 0; k < K; k++) {
        vfloat wv[NBV];
        for (int v = 0; v < NBV; v++) wv[v] = *(const vfloat *)(w + k * ldw + v * VW);
        for (int r = 0; r < MR; r++) {
            float xs = x[r * ldx + k];
            for (int v = 0; v < NBV; v++) acc[r][v] += xs * wv[v];
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NBV; v++) *(vfloat *)(y + r * ldy + v * VW) = acc[r][v];
}

/* y += x @ w for few rows. OpenBLAS packs the whole weight matrix on every call, which
 * dominates when M is one short sentence; this kernel reads w directly instead. The last
 * partial row block goes through zero-padded copies. Column blocks are split between
 * threads. */
static void small_m_gemm(float *y, const float *x, const float *w, int M, int K, int N)
{
    int nblocks = N / NB, full = M / MR * MR, rest = M - full;
#pragma omp parallel for schedule(static) if (nblocks >= 8 && (long)M * K * N >= (1L << 21))
    for (int nb = 0; nb < nblocks; nb++) {
        for (int i0 = 0; i0 < full; i0 += MR)
            small_block(y + (long)i0 * N + nb * NB, N, x + (long)i0 * K, K, w + nb * NB, N, K);
        if (rest) {
            float xt[MR * K], yt[MR * NB];
            memset(xt, 0, sizeof xt);
            memset(yt, 0, sizeof yt);
            memcpy(xt, x + (long)full * K, (size_t)rest * K * sizeof *xt);
            for (int r = 0; r < rest; r++) memcpy(yt + r * NB, y + (long)(full + r) * N + nb * NB, NB * sizeof *yt);
            small_block(yt, NB, xt, K, w + nb * NB, N, K);
            for (int r = 0; r < rest; r++) memcpy(y + (long)(full + r) * N + nb * NB, yt + r * NB, NB * sizeof *yt);
        }
    }
}

void kn_linear(float *y, const float *x, const float *w, const float *b, int M, int K, int N)
{
    if (M <= KN_SMALL_M && N % NB == 0) {
        for (int i = 0; i < M; i++) {
            if (b) memcpy(y + (long)i * N, b, (size_t)N * sizeof *y);
            else memset(y + (long)i * N, 0, (size_t)N * sizeof *y);
        }
        small_m_gemm(y, x, w, M, K, N);
        return;
    }
    float beta = 0.0f;
    if (b) {
        /* Seed each row with the bias so the GEMM accumulates onto it in one pass. */
        for (int i = 0; i < M; i++) memcpy(y + (long)i * N, b, (size_t)N * sizeof *y);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, w, N, beta, y, N);
}

void kn_layernorm(float *y, const float *x, const float *scale, const float *bias, int M, int D, float eps)
{
    for (int i = 0; i < M; i++) {
        const float *xi = x + (long)i * D;
        float *yi = y + (long)i * D;
        float mean = 0.0f;
        for (int j = 0; j < D; j++) mean += xi[j];
        mean /= (float)D;
        float var = 0.0f;
        for (int j = 0; j < D; j++) {
            float d = xi[j] - mean;
            var += d * d;
        }
        var /= (float)D;
        float rstd = 1.0f / sqrtf(var + eps);
        for (int j = 0; j < D; j++) yi[j] = (xi[j] - mean) * rstd * scale[j] + bias[j];
    }
}

void kn_softmax_rows(float *x, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        float *r = x + (long)i * cols;
        float mx = r[0];
        for (int j = 1; j < cols; j++) mx = r[j] > mx ? r[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j < cols; j++) {
            r[j] = expf(r[j] - mx);
            sum += r[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < cols; j++) r[j] *= inv;
    }
}

void kn_relu(float *x, long n)
{
    for (long i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void kn_add(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++) y[i] += x[i];
}

void kn_attention(float *ctx, const float *qkv, int T, int D, int heads, float q_scale, float *scores)
{
    int hd = D / heads, ld = 3 * D;
    for (int h = 0; h < heads; h++) {
        const float *q = qkv + h * hd, *k = qkv + D + h * hd, *v = qkv + 2 * D + h * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, q_scale, q, ld, k, ld, 0.0f, scores, T);
        kn_softmax_rows(scores, T, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, scores, T, v, ld, 0.0f, ctx + h * hd, D);
    }
}

void kn_l2_normalize(float *x, int rows, int cols, float eps)
{
    for (int i = 0; i < rows; i++) {
        float *r = x + (long)i * cols;
        float ss = 0.0f;
        for (int j = 0; j < cols; j++) ss += r[j] * r[j];
        float inv = 1.0f / sqrtf(ss > eps ? ss : eps);
        for (int j = 0; j < cols; j++) r[j] *= inv;
    }
}
