#include "model/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void kn_linear(float *y, const float *x, const float *w, const float *b, int M, int K, int N)
{
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
