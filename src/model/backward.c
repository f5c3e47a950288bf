/* backward.c - gradients of the ops.h building blocks (see backward.h for conventions).
 * Row sums that feed a subtraction (layer norm, softmax, L2, cosine) are accumulated in
 * double: they are small next to the GEMMs and cancellation there is what costs accuracy. */
#include "model/backward.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/ops.h"

void kn_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W, int M,
                        int K, int N, int transposed)
{
    if (M <= 0) return; /* no rows: nothing to write or accumulate */
    if (dx) {
        /* dx[M,K] = dy[M,N] @ W^T; with W stored [N,K] that is dy @ W as stored. */
        if (transposed)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dy, N, W, K, 0.0f, dx, K);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, dy, N, W, N, 0.0f, dx, K);
    }
    if (dW) {
        /* beta = 1: accumulate. [K,N] += x^T dy, or [N,K] += dy^T x. */
        if (transposed)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dy, N, x, K, 1.0f, dW, K);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, x, K, dy, N, 1.0f, dW, N);
    }
    if (db)
        for (int i = 0; i < M; i++) {
            const float *r = dy + (long)i * N;
            for (int j = 0; j < N; j++) db[j] += r[j];
        }
}

void kn_layernorm_backward(float *dx, float *dscale, float *dbias, const float *dy, const float *x,
                           const float *scale, int M, int D, float eps)
{
    for (int i = 0; i < M; i++) {
        const float *xi = x + (long)i * D, *gi = dy + (long)i * D;
        /* mean and rstd as the forward computes them (float, two passes). */
        float mean = 0.0f, var = 0.0f;
        for (int j = 0; j < D; j++) mean += xi[j];
        mean /= (float)D;
        for (int j = 0; j < D; j++) var += (xi[j] - mean) * (xi[j] - mean);
        var /= (float)D;
        float rstd = 1.0f / sqrtf(var + eps);
        /* With g = dy * scale and xhat the normalised input:
         * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)). */
        double sg = 0.0, sgx = 0.0;
        for (int j = 0; j < D; j++) {
            float xhat = (xi[j] - mean) * rstd, g = gi[j] * scale[j];
            sg += g;
            sgx += (double)g * xhat;
            if (dscale) dscale[j] += gi[j] * xhat;
            if (dbias) dbias[j] += gi[j];
        }
        if (!dx) continue;
        float mg = (float)(sg / D), mgx = (float)(sgx / D);
        float *di = dx + (long)i * D;
        for (int j = 0; j < D; j++) {
            float xhat = (xi[j] - mean) * rstd;
            di[j] = rstd * (gi[j] * scale[j] - mg - xhat * mgx);
        }
    }
}

void kn_relu_backward(float *dx, const float *dy, const float *y, long n)
{
    for (long i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void kn_tanh_backward(float *dx, const float *dy, const float *y, long n)
{
    for (long i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void kn_gelu_backward(float *dx, const float *dy, const float *x, long n)
{
    /* d/dx [x Phi(x)] = Phi(x) + x phi(x). */
    const float inv_sqrt2 = 0.70710678118654752f, inv_sqrt2pi = 0.39894228040143268f;
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * inv_sqrt2));
        float pdf = inv_sqrt2pi * expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

void kn_softmax_rows_backward(float *dx, const float *dp, const float *p, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        const float *pi = p + (long)i * cols, *gi = dp + (long)i * cols;
        double s = 0.0;
        for (int j = 0; j < cols; j++) s += (double)gi[j] * pi[j];
        float *di = dx + (long)i * cols;
        for (int j = 0; j < cols; j++) di[j] = pi[j] * (gi[j] - (float)s);
    }
}

/* One head of one sequence. q, k, v, dq, dk, dv point at the head's slice of row 0 with
 * row stride 3D; dc into dctx with stride D. P and dS: T*T floats of scratch each. */
static void attention_head_backward(float *dq, float *dk, float *dv, const float *dc, const float *q,
                                    const float *k, const float *v, int T, int D, int hd, float q_scale, float *P,
                                    float *dS)
{
    int ld = 3 * D;
    /* Recompute P = softmax(q k^T * q_scale), as the forward did. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, q_scale, q, ld, k, ld, 0.0f, P, T);
    for (int i = 0; i < T; i++) {
        float *r = P + (long)i * T, mx = r[0];
        for (int j = 1; j < T; j++) mx = r[j] > mx ? r[j] : mx;
        float s = 0.0f;
        for (int j = 0; j < T; j++) s += r[j] = expf(r[j] - mx);
        for (int j = 0; j < T; j++) r[j] /= s;
    }
    /* ctx = P v: dv = P^T dc, dP = dc v^T. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, P, T, dc, D, 0.0f, dv, ld);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dc, D, v, ld, 0.0f, dS, T);
    kn_softmax_rows_backward(dS, dS, P, T, T);
    /* scores = q_scale * q k^T: dq = q_scale dS k, dk = q_scale dS^T q. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, q_scale, dS, T, k, ld, 0.0f, dq, ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, q_scale, dS, T, q, ld, 0.0f, dk, ld);
}

int kn_attention_batch_backward(float *dqkv, const float *dctx, const float *qkv, const int *lengths, int n, int D,
                                int heads, float q_scale)
{
    int hd = D / heads, Tmax = 0;
    long *start = kn_seq_starts(lengths, n, &Tmax);
    if (!start) return -1;
    int failed = 0;
    /* (sentence, head) pairs write disjoint column slices of dqkv: run them in parallel.
     * Inside the region OpenBLAS (OpenMP build) runs each call on the calling thread. */
#pragma omp parallel if ((long)n * heads > 1 && (long)Tmax * D >= 4096)
    {
        float *scratch = malloc((2 * (size_t)Tmax * Tmax + 1) * sizeof *scratch);
        if (!scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (long p = 0; p < (long)n * heads; p++) {
            int s = (int)(p / heads), h = (int)(p % heads), T = lengths[s];
            if (!scratch || T == 0) continue;
            const float *x = qkv + start[s] * 3 * D + h * hd;
            float *dx = dqkv + start[s] * 3 * D + h * hd;
            attention_head_backward(dx, dx + D, dx + 2 * D, dctx + start[s] * D + h * hd, x, x + D, x + 2 * D, T, D,
                                    hd, q_scale, scratch, scratch + (size_t)T * T);
        }
        free(scratch);
    }
    free(start);
    return failed ? -1 : 0;
}

void kn_mean_pool_backward(float *dx, const float *dy, const int *lengths, int n, int D)
{
    long row = 0;
    for (int s = 0; s < n; s++) {
        float inv = lengths[s] > 0 ? 1.0f / (float)lengths[s] : 0.0f;
        for (int t = 0; t < lengths[s]; t++, row++)
            for (int j = 0; j < D; j++) dx[row * D + j] = dy[(long)s * D + j] * inv;
    }
}

void kn_cls_pool_backward(float *dx, const float *dy, const int *lengths, int n, int D)
{
    long row = 0;
    for (int s = 0; s < n; s++) {
        if (lengths[s] == 0) continue;
        memcpy(dx + row * D, dy + (long)s * D, (size_t)D * sizeof *dx);
        memset(dx + (row + 1) * D, 0, (size_t)(lengths[s] - 1) * D * sizeof *dx);
        row += lengths[s];
    }
}

void kn_l2_normalize_backward(float *dx, const float *dy, const float *x, int rows, int cols, float eps)
{
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (long)i * cols, *gi = dy + (long)i * cols;
        double ss = 0.0, xg = 0.0;
        for (int j = 0; j < cols; j++) {
            ss += (double)xi[j] * xi[j];
            xg += (double)xi[j] * gi[j];
        }
        float *di = dx + (long)i * cols;
        if (ss <= eps) { /* clamped: y = x * const */
            float inv = 1.0f / sqrtf(eps);
            for (int j = 0; j < cols; j++) di[j] = gi[j] * inv;
            continue;
        }
        /* y = x r, r = ss^-1/2: dx = r dy - x r^3 (x . dy). */
        double r = 1.0 / sqrt(ss);
        float a = (float)r, c = (float)(r * r * r * xg);
        for (int j = 0; j < cols; j++) di[j] = a * gi[j] - c * xi[j];
    }
}

/* u.v, |u|^2 and |v|^2 in double. */
static void dot3(const float *u, const float *v, int D, double *uv, double *uu, double *vv)
{
    double a = 0.0, b = 0.0, c = 0.0;
    for (int j = 0; j < D; j++) {
        a += (double)u[j] * v[j];
        b += (double)u[j] * u[j];
        c += (double)v[j] * v[j];
    }
    *uv = a, *uu = b, *vv = c;
}

double kn_cosine_similarity(const float *u, const float *v, int D)
{
    double uv, uu, vv;
    dot3(u, v, D, &uv, &uu, &vv);
    return uv / fmax(sqrt(uu * vv), KN_COSINE_EPS);
}

void kn_cosine_backward(float *du, float *dv, double dcos, const float *u, const float *v, int D)
{
    double uv, uu, vv;
    dot3(u, v, D, &uv, &uu, &vv);
    double den = sqrt(uu * vv);
    if (den <= KN_COSINE_EPS) { /* clamped denominator: cos = u.v / eps, linear in each */
        for (int j = 0; j < D; j++) {
            if (du) du[j] = (float)(dcos * v[j] / KN_COSINE_EPS);
            if (dv) dv[j] = (float)(dcos * u[j] / KN_COSINE_EPS);
        }
        return;
    }
    /* d cos / du = v / (|u||v|) - cos u / |u|^2, and symmetrically for v. */
    double c = uv / den, a = dcos / den;
    for (int j = 0; j < D; j++) {
        if (du) du[j] = (float)(a * v[j] - dcos * c * u[j] / uu);
        if (dv) dv[j] = (float)(a * u[j] - dcos * c * v[j] / vv);
    }
}

double kn_cosine_loss_backward(float *du, float *dv, const float *u, const float *v, const float *labels, int pairs,
                               int D)
{
    if (pairs <= 0) return 0.0;
    double loss = 0.0;
    for (int i = 0; i < pairs; i++) {
        const float *ui = u + (long)i * D, *vi = v + (long)i * D;
        double err = kn_cosine_similarity(ui, vi, D) - labels[i];
        loss += err * err;
        /* d/dcos of mean (cos - label)^2 */
        if (du || dv)
            kn_cosine_backward(du ? du + (long)i * D : NULL, dv ? dv + (long)i * D : NULL, 2.0 * err / pairs, ui, vi,
                               D);
    }
    return loss / pairs;
}
