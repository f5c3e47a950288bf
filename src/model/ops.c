#include "model/ops.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
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

/* One vector of VW weights from a panel of F32 or, when half is set, F16 values. */
static inline __attribute__((always_inline)) vfloat load_w(const void *w, long i, const int half)
{
    if (!half) return *(const vfloat *)((const float *)w + i);
#if defined(__AVX512F__)
    return (vfloat)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
#elif defined(__F16C__) && defined(__AVX__)
    return (vfloat)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
#else
    vfloat v;
    for (int l = 0; l < VW; l++) v[l] = kn_f16_to_f32(((const uint16_t *)w)[i + l]);
    return v;
#endif
}

/* y[mr, NB] += x[mr, K] @ w[K, NB], each with its own row stride; mr <= MR and half are
 * compile-time constants at every call site so the loops unroll into registers. */
static inline __attribute__((always_inline)) void small_block(float *y, long ldy, const float *x, long ldx,
                                                              const void *w, long ldw, int K, const int mr,
                                                              const int half)
{
    vfloat acc[MR][NBV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < NBV; v++) acc[r][v] = *(const vfloat *)(y + r * ldy + v * VW);
    for (int k = 0; k < K; k++) {
        vfloat wv[NBV];
        for (int v = 0; v < NBV; v++) wv[v] = load_w(w, k * ldw + v * VW, half);
        for (int r = 0; r < mr; r++) {
            float xs = x[r * ldx + k];
            for (int v = 0; v < NBV; v++) acc[r][v] += xs * wv[v];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < NBV; v++) *(vfloat *)(y + r * ldy + v * VW) = acc[r][v];
}

float kn_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { /* subnormal: renormalise */
        int e = -1;
        do { e++; mant <<= 1; } while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    union { uint32_t u; float f; } v = {bits};
    return v.f;
}

/* Element (k, n) of I8 sources side by side, for kn_q8_pack_get. */
typedef struct {
    const kn_weight_src *src;
    int nsrc, K;
} q8_sources;

static int8_t q8_source_get(const void *ctx, int k, int n)
{
    const q8_sources *c = ctx;
    int i = 0;
    while (n >= c->src[i].n) n -= c->src[i++].n;
    const kn_weight_src *s = &c->src[i];
    return ((const int8_t *)s->data)[s->transposed ? (long)n * c->K + k : (long)k * s->n + n];
}

static int init_q8(kn_matrix *m, int K, const kn_weight_src *src, int nsrc)
{
    float *scale = malloc((size_t)m->N * sizeof *scale);
    if (!scale) return -1;
    for (int i = 0, col = 0; i < nsrc; col += src[i].n, i++) memcpy(scale + col, src[i].scale, (size_t)src[i].n * sizeof *scale);
    q8_sources ctx = {src, nsrc, K};
    int rc = kn_q8_pack_get(&m->q8, q8_source_get, &ctx, scale, K, m->N);
    free(scale);
    return rc;
}

int kn_matrix_init_src(kn_matrix *m, int K, const kn_weight_src *src, int nsrc)
{
    memset(m, 0, sizeof *m);
    if (nsrc < 1 || nsrc > KN_MAX_PARTS) return -1;
    int all_f32 = 1, all_f16 = 1, any_i8 = 0;
    for (int i = 0; i < nsrc; i++) {
        m->N += src[i].n;
        all_f32 &= src[i].dtype == KN_F32;
        all_f16 &= src[i].dtype == KN_F16;
        any_i8 |= src[i].dtype == KN_I8;
        if (src[i].dtype == KN_I8 && !src[i].scale) return -1;
    }
    m->K = K;
    if (any_i8) {
        for (int i = 0; i < nsrc; i++)
            if (src[i].dtype != KN_I8) return -1; /* a matrix is quantised whole or not at all */
        return init_q8(m, K, src, nsrc);
    }
    if (all_f32) {
        m->nparts = nsrc;
        memcpy(m->part, src, (size_t)nsrc * sizeof *src);
    }
    /* The last panel is zero-padded to full width when N is not a multiple of NB. */
    size_t npanels = ((size_t)m->N + NB - 1) / NB;
    if (all_f16) { /* kept as F16: half the memory and bandwidth, widened in the kernel */
        m->panels_h = aligned_alloc(64, npanels * (size_t)K * NB * sizeof *m->panels_h);
        if (!m->panels_h) return -1;
        memset(m->panels_h, 0, npanels * (size_t)K * NB * sizeof *m->panels_h);
        int col = 0;
        for (int i = 0; i < nsrc; i++)
            for (int n = 0; n < src[i].n; n++, col++)
                for (int k = 0; k < K; k++) {
                    long at = src[i].transposed ? (long)n * K + k : (long)k * src[i].n + n;
                    m->panels_h[(long)(col / NB) * K * NB + (long)k * NB + col % NB] = ((const uint16_t *)src[i].data)[at];
                }
        return 0;
    }
    m->panels = aligned_alloc(64, npanels * (size_t)K * NB * sizeof *m->panels);
    if (!m->panels) return -1;
    memset(m->panels, 0, npanels * (size_t)K * NB * sizeof *m->panels);
    int col = 0;
    for (int i = 0; i < nsrc; i++) {
        const kn_weight_src *s = &src[i];
        for (int n = 0; n < s->n; n++, col++) {
            float *dst = m->panels + (long)(col / NB) * K * NB + col % NB;
            for (int k = 0; k < K; k++) {
                long at = s->transposed ? (long)n * K + k : (long)k * s->n + n;
                dst[(long)k * NB] = kn_load_f32(s->data, s->dtype, at);
            }
        }
    }
    return 0;
}

int kn_matrix_init(kn_matrix *m, const float *w, int K, int N)
{
    kn_weight_src src = {w, KN_F32, N, 0, NULL};
    return kn_matrix_init_src(m, K, &src, 1);
}

void kn_matrix_free(kn_matrix *m)
{
    kn_q8_free(&m->q8);
    free(m->panels);
    free(m->panels_h);
    m->panels = NULL;
    m->panels_h = NULL;
}

/* One panel against rows [0, M): full blocks of MR rows, then one narrower block. */
#define PANEL_ROWS(NAME, HALF)                                                                         \
    static void NAME(float *y, long ldy, const float *x, long ldx, const void *panel, int K, int M)   \
    {                                                                                                  \
        int i0 = 0;                                                                                    \
        for (; i0 + MR <= M; i0 += MR) small_block(y + i0 * ldy, ldy, x + i0 * ldx, ldx, panel, NB, K, MR, HALF); \
        float *yr = y + i0 * ldy;                                                                      \
        const float *xr = x + i0 * ldx;                                                                \
        switch (M - i0) {                                                                              \
        case 5: small_block(yr, ldy, xr, ldx, panel, NB, K, 5, HALF); break;                          \
        case 4: small_block(yr, ldy, xr, ldx, panel, NB, K, 4, HALF); break;                          \
        case 3: small_block(yr, ldy, xr, ldx, panel, NB, K, 3, HALF); break;                          \
        case 2: small_block(yr, ldy, xr, ldx, panel, NB, K, 2, HALF); break;                          \
        case 1: small_block(yr, ldy, xr, ldx, panel, NB, K, 1, HALF); break;                          \
        default: break;                                                                                \
        }                                                                                              \
    }
PANEL_ROWS(panel_rows_f32, 0)
PANEL_ROWS(panel_rows_f16, 1)

/* y += x @ w for few rows. OpenBLAS packs the whole weight matrix on every call, which
 * dominates when M is one short sentence; this kernel reads the pre-cut panels instead,
 * each panel (K x NB, contiguous) once for all rows while it sits in cache. Panels are
 * split between threads. F16 panels halve the bytes streamed when that is the bound. */
static void small_m_gemm(float *y, const float *x, const kn_matrix *w, int M)
{
    int K = w->K, N = w->N, nblocks = N / NB, tail = N % NB;
    const int half = w->panels_h != NULL;
    void (*rows)(float *, long, const float *, long, const void *, int, int) = half ? panel_rows_f16 : panel_rows_f32;
    const char *base = half ? (const char *)w->panels_h : (const char *)w->panels;
    size_t panel_bytes = (size_t)K * NB * (half ? 2 : 4);
#pragma omp parallel for schedule(static) if (nblocks >= 8 && (long)M * K * N >= (1L << 20))
    for (int nb = 0; nb < nblocks; nb++) rows(y + nb * NB, N, x, K, base + nb * panel_bytes, K, M);
    if (tail) {
        /* The zero-padded last panel goes through a full-width scratch, a row block at a time. */
        const void *panel = base + nblocks * panel_bytes;
        for (int i0 = 0; i0 < M; i0 += MR) {
            int mr = M - i0 < MR ? M - i0 : MR;
            float yt[MR * NB] = {0};
            for (int r = 0; r < mr; r++) memcpy(yt + r * NB, y + (long)(i0 + r) * N + nblocks * NB, tail * sizeof *yt);
            rows(yt, NB, x + (long)i0 * K, K, panel, K, mr);
            for (int r = 0; r < mr; r++) memcpy(y + (long)(i0 + r) * N + nblocks * NB, yt + r * NB, tail * sizeof *yt);
        }
    }
}

int kn_linear(float *y, const float *x, const kn_matrix *w, const float *b, int M)
{
    int K = w->K, N = w->N;
    if (w->q8.packed) return kn_q8_linear(y, x, &w->q8, b, M);
    if (M <= KN_SMALL_M || w->nparts == 0) {
        for (int i = 0; i < M; i++) {
            if (b) memcpy(y + (long)i * N, b, (size_t)N * sizeof *y);
            else memset(y + (long)i * N, 0, (size_t)N * sizeof *y);
        }
        small_m_gemm(y, x, w, M);
        return 0;
    }
    float beta = 0.0f;
    if (b) {
        /* Seed each row with the bias so the GEMM accumulates onto it in one pass. */
        for (int i = 0; i < M; i++) memcpy(y + (long)i * N, b, (size_t)N * sizeof *y);
        beta = 1.0f;
    }
    int col = 0;
    for (int p = 0; p < w->nparts; p++) {
        const kn_weight_src *s = &w->part[p];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, s->transposed ? CblasTrans : CblasNoTrans, M, s->n, K, 1.0f, x, K,
                    s->data, s->transposed ? K : s->n, beta, y + col, N);
        col += s->n;
    }
    return 0;
}


/* Reductions in VW-wide partial sums: strict C keeps a scalar loop in order, which the
 * compiler may not vectorize; these orders are as valid and many times faster. */
static inline float hsum(vfloat v)
{
    float s = 0.0f;
    for (int i = 0; i < VW; i++) s += v[i];
    return s;
}

static inline float dot(const float *a, const float *b, int n)
{
    vfloat acc = {0};
    int i = 0;
    for (; i + VW <= n; i += VW) acc += *(const vfloat *)(a + i) * *(const vfloat *)(b + i);
    float s = hsum(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline float sum(const float *a, int n)
{
    vfloat acc = {0};
    int i = 0;
    for (; i + VW <= n; i += VW) acc += *(const vfloat *)(a + i);
    float s = hsum(acc);
    for (; i < n; i++) s += a[i];
    return s;
}

/* Sum of (a[i] - mean)^2. */
static inline float sum_sq_dev(const float *a, float mean, int n)
{
    vfloat acc = {0};
    int i = 0;
    for (; i + VW <= n; i += VW) {
        vfloat d = *(const vfloat *)(a + i) - mean;
        acc += d * d;
    }
    float s = hsum(acc);
    for (; i < n; i++) s += (a[i] - mean) * (a[i] - mean);
    return s;
}

static inline void layernorm_row(float *yi, const float *xi, const float *scale, const float *bias, int D, float eps)
{
    float mean = sum(xi, D) / (float)D;
    float var = sum_sq_dev(xi, mean, D) / (float)D;
    float rstd = 1.0f / sqrtf(var + eps);
    for (int j = 0; j < D; j++) yi[j] = (xi[j] - mean) * rstd * scale[j] + bias[j];
}

void kn_layernorm(float *y, const float *x, const float *scale, const float *bias, int M, int D, float eps)
{
#pragma omp parallel for schedule(static) if ((long)M * D >= KN_PARALLEL_ELEMS)
    for (int i = 0; i < M; i++) layernorm_row(y + (long)i * D, x + (long)i * D, scale, bias, D, eps);
}

void kn_residual_layernorm(float *x, float *h, const float *scale, const float *bias, int M, int D, float eps)
{
#pragma omp parallel for schedule(static) if ((long)M * D >= KN_PARALLEL_ELEMS)
    for (int i = 0; i < M; i++) {
        float *xi = x + (long)i * D, *hi = h + (long)i * D;
        for (int j = 0; j < D; j++) hi[j] += xi[j];
        layernorm_row(xi, hi, scale, bias, D, eps);
    }
}

void kn_softmax_rows(float *x, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        float *r = x + (long)i * cols;
        float mx = r[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < cols; j++) mx = r[j] > mx ? r[j] : mx;
        float sum = kn_exp_shifted(r, cols, mx);
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
#pragma omp parallel for simd schedule(static) if (n >= KN_PARALLEL_ELEMS)
    for (long i = 0; i < n; i++) y[i] += x[i];
}

/* Attention tiles keep 16 (AVX-512) or 8 (AVX2) accumulators in flight: with one vector
 * per query row the FMA chains waited on each other's latency (int8 MiniLM at 64 tokens:
 * attention 10 % of the forward pass before, about half of that after). */
enum { QR = 4, KB = VW == 16 ? 4 : 2, PR = VW == 16 ? 8 : 4, CB = 2 };

/* scores[i0 + r][j0 .. j0 + nk * VW) = q_scale * (q_{i0+r} . k_j), r < rows; kt is K
 * transposed, Tp floats per input column. */
static inline __attribute__((always_inline)) void score_tile(float *scores, const float *q, int ld, const float *kt,
                                                             int Tp, int hd, int i0, int rows, int j0, float q_scale,
                                                             const int nk)
{
    vfloat acc[QR][KB];
    for (int r = 0; r < QR; r++)
        for (int v = 0; v < nk; v++) acc[r][v] = (vfloat){0};
    for (int c = 0; c < hd; c++) {
        vfloat kv[KB];
        for (int v = 0; v < nk; v++) kv[v] = *(const vfloat *)(kt + (long)c * Tp + j0 + v * VW);
        for (int r = 0; r < QR; r++) {
            float qv = q[(long)(i0 + (r < rows ? r : 0)) * ld + c];
            for (int v = 0; v < nk; v++) acc[r][v] += qv * kv[v];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nk; v++) *(vfloat *)(scores + (long)(i0 + r) * Tp + j0 + v * VW) = acc[r][v] * q_scale;
}

/* ctx[i0 + r][c0 .. c0 + nc * VW) = sum_j p[i0 + r][j] v_j, r < rows. */
static inline __attribute__((always_inline)) void value_tile(float *ctx, int D, const float *p, int Tp, const float *v,
                                                             int ld, int T, int i0, int rows, int c0, const int nc)
{
    vfloat acc[PR][CB];
    for (int r = 0; r < PR; r++)
        for (int u = 0; u < nc; u++) acc[r][u] = (vfloat){0};
    for (int j = 0; j < T; j++) {
        vfloat vv[CB];
        for (int u = 0; u < nc; u++) vv[u] = *(const vfloat *)(v + (long)j * ld + c0 + u * VW);
        for (int r = 0; r < PR; r++) {
            float pr = p[(long)(i0 + (r < rows ? r : 0)) * Tp + j];
            for (int u = 0; u < nc; u++) acc[r][u] += pr * vv[u];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int u = 0; u < nc; u++) *(vfloat *)(ctx + (long)(i0 + r) * D + c0 + u * VW) = acc[r][u];
}

#if defined(__AVX512F__)
/* dst row c (16 floats, ldd apart) = column c of the 16 x 16 block at src (lds apart). */
static void transpose16(float *dst, long ldd, const float *src, long lds)
{
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i++) { /* rows 2i, 2i+1 interleaved within each 128-bit lane */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i + k], lane L: column 4L + k of rows 4i .. 4i + 3 */
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) { /* gather lane L of the four row groups: column 4L + k */
        __m512 v0 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88), v1 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xDD);
        __m512 w0 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88), w1 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xDD);
        _mm512_storeu_ps(dst + (4 * 0 + k) * ldd, _mm512_shuffle_f32x4(v0, w0, 0x88));
        _mm512_storeu_ps(dst + (4 * 1 + k) * ldd, _mm512_shuffle_f32x4(v1, w1, 0x88));
        _mm512_storeu_ps(dst + (4 * 2 + k) * ldd, _mm512_shuffle_f32x4(v0, w0, 0xDD));
        _mm512_storeu_ps(dst + (4 * 3 + k) * ldd, _mm512_shuffle_f32x4(v1, w1, 0xDD));
    }
}
#endif

/* kt[c][j] = k[j][c] for c < hd, j < T, zero for T <= j < Tp: the keys transposed so that a
 * vector holds one input column of VW keys. Whole 16 x 16 blocks go through registers
 * (element by element the strided reads took a third of the attention time). */
static void transpose_keys(float *kt, int Tp, const float *k, int ld, int T, int hd)
{
    int j_done = 0, c_done = 0;
#if defined(__AVX512F__)
    j_done = T / 16 * 16, c_done = hd / 16 * 16;
    for (int j0 = 0; j0 < j_done; j0 += 16)
        for (int c0 = 0; c0 < c_done; c0 += 16) transpose16(kt + (long)c0 * Tp + j0, Tp, k + (long)j0 * ld + c0, ld);
#endif
    for (int c = 0; c < hd; c++) {
        for (int j = c < c_done ? j_done : 0; j < T; j++) kt[(long)c * Tp + j] = k[(long)j * ld + c];
        for (int j = T; j < Tp; j++) kt[(long)c * Tp + j] = 0.0f;
    }
}

/* One head of one sequence, T <= KN_SMALL_M, in register-blocked tiles: query rows against
 * blocks of keys (K transposed and zero-padded to Tp columns), then rows of probabilities
 * against blocks of value columns. BLAS calls this small cost more in dispatch than in
 * math. scratch: T*Tp + hd*Tp floats, Tp = T rounded up to VW. */
static void attention_head(float *ctx, const float *qkv, int T, int D, int hd, int h, float q_scale, float *scratch)
{
    int ld = 3 * D, Tp = (T + VW - 1) / VW * VW;
    float *scores = scratch, *kt = scratch + (long)T * Tp;
    const float *q = qkv + h * hd, *v = qkv + 2 * D + h * hd;
    transpose_keys(kt, Tp, qkv + D + h * hd, ld, T, hd);
    for (int i0 = 0; i0 < T; i0 += QR) {
        int rows = T - i0 < QR ? T - i0 : QR;
        for (int j0 = 0; j0 < Tp; j0 += KB * VW) {
            int nk = (Tp - j0) / VW < KB ? (Tp - j0) / VW : KB;
            if (nk == KB) score_tile(scores, q, ld, kt, Tp, hd, i0, rows, j0, q_scale, KB);
            else
                for (int u = 0; u < nk; u++) score_tile(scores, q, ld, kt, Tp, hd, i0, rows, j0 + u * VW, q_scale, 1);
        }
    }
    for (int i = 0; i < T; i++) kn_softmax_rows(scores + (long)i * Tp, 1, T);
    float *out = ctx + h * hd;
    int cv = hd / VW * VW; /* columns in whole vectors */
    for (int i0 = 0; i0 < T; i0 += PR) {
        int rows = T - i0 < PR ? T - i0 : PR;
        int c0 = 0;
        for (; c0 + CB * VW <= cv; c0 += CB * VW) value_tile(out, D, scores, Tp, v, ld, T, i0, rows, c0, CB);
        for (; c0 < cv; c0 += VW) value_tile(out, D, scores, Tp, v, ld, T, i0, rows, c0, 1);
    }
    for (int i = 0; i < T && cv < hd; i++) { /* head widths that are not a multiple of VW */
        float *o = out + (long)i * D;
        for (int c = cv; c < hd; c++) o[c] = 0.0f;
        for (int j = 0; j < T; j++) {
            float p = scores[(long)i * Tp + j];
            const float *vj = v + (long)j * ld;
            for (int c = cv; c < hd; c++) o[c] += p * vj[c];
        }
    }
}

/* One head of a long sequence through OpenBLAS. scratch: T*T floats. */
static void attention_head_blas(float *ctx, const float *qkv, int T, int D, int hd, int h, float q_scale, float *scores)
{
    int ld = 3 * D;
    const float *q = qkv + h * hd, *k = qkv + D + h * hd, *v = qkv + 2 * D + h * hd;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, q_scale, q, ld, k, ld, 0.0f, scores, T);
    kn_softmax_rows(scores, T, T);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, scores, T, v, ld, 0.0f, ctx + h * hd, D);
}

long *kn_seq_starts(const int *lengths, int n, int *max_len)
{
    long *start = malloc(((size_t)n + 1) * sizeof *start);
    if (!start) return NULL;
    start[0] = 0;
    *max_len = 0;
    for (int s = 0; s < n; s++) {
        start[s + 1] = start[s] + lengths[s];
        *max_len = lengths[s] > *max_len ? lengths[s] : *max_len;
    }
    return start;
}

int kn_attention_batch(float *ctx, const float *qkv, const int *lengths, int n, int D, int heads, float q_scale)
{
    int hd = D / heads, Tmax = 0;
    long *start = kn_seq_starts(lengths, n, &Tmax);
    if (!start) return -1;
    int failed = 0;
    /* (sentence, head) pairs are independent: spread them over the threads. */
#pragma omp parallel if ((long)n * heads > 1 && (long)Tmax * D >= 4096)
    {
        size_t Tp = ((size_t)Tmax + VW - 1) / VW * VW;
        float *scratch = aligned_alloc(64, ((size_t)Tmax * Tp + (size_t)hd * Tp + VW) * sizeof *scratch);
        if (!scratch) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (long p = 0; p < (long)n * heads; p++) {
            int s = (int)(p / heads), h = (int)(p % heads), T = lengths[s];
            if (!scratch || T == 0) continue;
            float *c = ctx + start[s] * D;
            const float *x = qkv + start[s] * 3 * D;
            if (T <= KN_SMALL_M) attention_head(c, x, T, D, hd, h, q_scale, scratch);
            else attention_head_blas(c, x, T, D, hd, h, q_scale, scratch);
        }
        free(scratch);
    }
    free(start);
    return failed ? -1 : 0;
}

void kn_l2_normalize(float *x, int rows, int cols, float eps)
{
    for (int i = 0; i < rows; i++) {
        float *r = x + (long)i * cols;
        float ss = dot(r, r, cols);
        float inv = 1.0f / sqrtf(ss > eps ? ss : eps);
        for (int j = 0; j < cols; j++) r[j] *= inv;
    }
}
