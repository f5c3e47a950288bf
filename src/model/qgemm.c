/* qgemm.c - packing, quantisation, the portable kernel and the run-time kernel choice. */
#include "model/qgemm.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model/qgemm_internal.h"

/* A plain row-major int8 [K, N] source for kn_q8_pack. */
typedef struct {
    const int8_t *q;
    int N;
} row_major;

static int8_t get_row_major(const void *ctx, int k, int n)
{
    const row_major *r = ctx;
    return r->q[(long)k * r->N + n];
}

int kn_q8_pack_get(kn_q8_matrix *m, kn_q8_get get, const void *ctx, const float *scale, int K, int N)
{
    memset(m, 0, sizeof *m);
    m->K = K;
    m->N = N;
    m->Kp = (K + 3) & ~3;
    size_t nblocks = ((size_t)N + KN_Q8_NB - 1) / KN_Q8_NB, block = (size_t)m->Kp * KN_Q8_NB;
    m->packed = aligned_alloc(64, nblocks * block);
    m->scale = malloc(nblocks * KN_Q8_NB * sizeof *m->scale);
    m->colsum = aligned_alloc(64, nblocks * KN_Q8_NB * sizeof *m->colsum);
    if (!m->packed || !m->scale || !m->colsum) {
        kn_q8_free(m);
        return -1;
    }
    /* Padding (columns past N, inputs past K) is zero, so it adds nothing to any sum. */
    memset(m->packed, 0, nblocks * block);
    memset(m->colsum, 0, nblocks * KN_Q8_NB * sizeof *m->colsum);
    for (size_t j = 0; j < nblocks * KN_Q8_NB; j++) m->scale[j] = j < (size_t)N ? scale[j] : 0.0f;
    for (int n = 0; n < N; n++) {
        int8_t *blk = m->packed + (size_t)(n / KN_Q8_NB) * block + (size_t)(n % KN_Q8_NB) * 4;
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            int8_t q = get(ctx, k, n);
            blk[(size_t)(k / 4) * KN_Q8_NB * 4 + k % 4] = q;
            sum += q;
        }
        m->colsum[n] = sum;
    }
    return 0;
}

int kn_q8_pack(kn_q8_matrix *m, const int8_t *q, const float *scale, int K, int N)
{
    row_major src = {q, N};
    return kn_q8_pack_get(m, get_row_major, &src, scale, K, N);
}

void kn_q8_free(kn_q8_matrix *m)
{
    free(m->packed);
    free(m->scale);
    free(m->colsum);
    memset(m, 0, sizeof *m);
}

float kn_q8_quantize_channel(const float *w, long stride, int n, int8_t *q, long qstride)
{
    float amax = 0.0f;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[i * stride]));
    float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
    for (int i = 0; i < n; i++) {
        float v = rintf(w[i * stride] / scale);
        q[i * qstride] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v);
    }
    return scale;
}

/* flip = 0x80 writes x + 128 as unsigned bytes (the VNNI kernel's form, padding included)
 * in the same pass instead of a second one over the rows. */
static void quantize_rows(const float *x, int M, int K, int8_t *q, int ldq, float *row_scale, uint8_t flip)
{
#pragma omp parallel for schedule(static) if ((long)M * K >= (1L << 16))
    for (int r = 0; r < M; r++) {
        const float *xr = x + (long)r * K;
        uint8_t *qr = (uint8_t *)q + (long)r * ldq;
        /* A plain compare declared a max reduction, not fmaxf: fmaxf's NaN rules keep it a
         * scalar libm call (activations are finite). */
        float amax = 0.0f;
#pragma omp simd reduction(max : amax)
        for (int k = 0; k < K; k++) {
            float a = fabsf(xr[k]);
            amax = a > amax ? a : amax;
        }
        /* |x| * (127 / amax) <= 127 up to rounding of the product, hence the clamp. */
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
#pragma omp simd
        for (int k = 0; k < K; k++) {
            float v = rintf(xr[k] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            qr[k] = (uint8_t)((int)v & 0xff) ^ flip;
        }
        memset(qr + K, flip, (size_t)(ldq - K));
        row_scale[r] = amax > 0.0f ? amax / 127.0f : 1.0f;
    }
}

void kn_q8_quantize_rows(const float *x, int M, int K, int8_t *q, int ldq, float *row_scale)
{
    quantize_rows(x, M, K, q, ldq, row_scale, 0);
}

/* One int32 sum at a time over the packed layout: the reference the SIMD kernels match. */
void kn_q8_tile_portable(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int r0, int r1, int b0, int b1)
{
    size_t block = (size_t)m->Kp * KN_Q8_NB;
    for (int r = r0; r < r1; r++) {
        const int8_t *x = xq + (size_t)r * m->Kp;
        for (int b = b0; b < b1; b++) {
            const int8_t *w = m->packed + (size_t)b * block;
            int32_t s[KN_Q8_NB] = {0};
            for (int k4 = 0; k4 < m->Kp / 4; k4++)
                for (int c = 0; c < KN_Q8_NB; c++)
                    for (int j = 0; j < 4; j++) s[c] += (int32_t)x[k4 * 4 + j] * w[((size_t)k4 * KN_Q8_NB + c) * 4 + j];
            kn_q8_store(o, m, r, b * KN_Q8_NB, s, KN_Q8_NB);
        }
    }
}

int kn_q8_kernel_available(kn_q8_kernel k)
{
    __builtin_cpu_init();
    switch (k) {
    case KN_Q8_PORTABLE: return 1;
    case KN_Q8_AVX2: return __builtin_cpu_supports("avx2");
    case KN_Q8_VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
    }
    return 0;
}

const char *kn_q8_kernel_name(kn_q8_kernel k)
{
    return k == KN_Q8_VNNI ? "vnni" : k == KN_Q8_AVX2 ? "avx2" : "portable";
}

kn_q8_kernel kn_q8_best_kernel(void)
{
    static int chosen = -1;
    if (chosen >= 0) return (kn_q8_kernel)chosen;
    kn_q8_kernel k = kn_q8_kernel_available(KN_Q8_VNNI) ? KN_Q8_VNNI
                     : kn_q8_kernel_available(KN_Q8_AVX2) ? KN_Q8_AVX2
                                                           : KN_Q8_PORTABLE;
    const char *force = getenv("KANAVA_INT8_KERNEL");
    if (force)
        for (int i = KN_Q8_PORTABLE; i <= KN_Q8_VNNI; i++)
            if (strcmp(force, kn_q8_kernel_name((kn_q8_kernel)i)) == 0 && kn_q8_kernel_available((kn_q8_kernel)i))
                k = (kn_q8_kernel)i;
    chosen = (int)k;
    return k;
}

static kn_q8_tile_fn tile_fn(kn_q8_kernel k)
{
    if (k == KN_Q8_VNNI && kn_q8_kernel_available(k)) return kn_q8_tile_vnni;
    if (k == KN_Q8_AVX2 && kn_q8_kernel_available(k)) return kn_q8_tile_avx2;
    return kn_q8_tile_portable;
}

/* Rows in tiles of ROW_TILE and column blocks in groups of BLOCK_GROUP, the tiles split
 * between threads; a group's weights (Kp x 64 bytes) stay in L1 across a row tile. */
enum { ROW_TILE = 96, BLOCK_GROUP = 4 };

static void run_tiles(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int M, kn_q8_tile_fn fn)
{
    int nblocks = (m->N + KN_Q8_NB - 1) / KN_Q8_NB;
    int row_tiles = (M + ROW_TILE - 1) / ROW_TILE, groups = (nblocks + BLOCK_GROUP - 1) / BLOCK_GROUP;
    long work = (long)M * m->Kp * m->N;
#pragma omp parallel for collapse(2) schedule(static) if (work >= (1L << 20) && row_tiles * groups > 1)
    for (int t = 0; t < row_tiles; t++)
        for (int g = 0; g < groups; g++) {
            int r0 = t * ROW_TILE, r1 = r0 + ROW_TILE < M ? r0 + ROW_TILE : M;
            int b0 = g * BLOCK_GROUP, b1 = b0 + BLOCK_GROUP < nblocks ? b0 + BLOCK_GROUP : nblocks;
            fn(o, xq, m, r0, r1, b0, b1);
        }
}

void kn_q8_flip(int8_t *xq, size_t n)
{
    uint8_t *u = (uint8_t *)xq;
    for (size_t i = 0; i < n; i++) u[i] ^= 0x80;
}

int kn_q8_gemm_s32(int32_t *acc, int ldc, const int8_t *xq, const kn_q8_matrix *m, int M, kn_q8_kernel kernel)
{
    kn_q8_out o = {.acc = acc, .ldc = ldc};
    kn_q8_tile_fn fn = tile_fn(kernel);
    if (fn != kn_q8_tile_vnni) {
        run_tiles(&o, xq, m, M, fn);
        return 0;
    }
    int8_t *flipped = malloc((size_t)M * m->Kp + 1);
    if (!flipped) return -1;
    memcpy(flipped, xq, (size_t)M * m->Kp);
    kn_q8_flip(flipped, (size_t)M * m->Kp);
    run_tiles(&o, flipped, m, M, fn);
    free(flipped);
    return 0;
}

int kn_q8_linear(float *y, const float *x, const kn_q8_matrix *m, const float *b, int M)
{
    return kn_q8_linear_with(y, x, m, b, M, kn_q8_best_kernel());
}

/* The quantised activations of the calling thread, kept between its calls: a fresh buffer
 * of a few MiB per layer came from mmap and paid its page faults every time (2 % of an int8
 * MiniLM forward). It grows to the thread's largest call and is freed when the thread ends. */
typedef struct {
    int8_t *q;
    float *scale;
    size_t q_bytes, rows;
} q8_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    q8_scratch *s = p;
    free(s->q);
    free(s->scale);
    free(s);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static q8_scratch *thread_scratch(size_t q_bytes, size_t rows)
{
    pthread_once(&scratch_once, scratch_key_init);
    q8_scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (q_bytes > s->q_bytes) {
        int8_t *p = aligned_alloc(64, (q_bytes + 63) & ~(size_t)63);
        if (!p) return NULL;
        free(s->q);
        s->q = p;
        s->q_bytes = q_bytes;
    }
    if (rows > s->rows) {
        float *p = malloc(rows * sizeof *p);
        if (!p) return NULL;
        free(s->scale);
        s->scale = p;
        s->rows = rows;
    }
    return s;
}

int kn_q8_linear_with(float *y, const float *x, const kn_q8_matrix *m, const float *b, int M, kn_q8_kernel kernel)
{
    q8_scratch *s = thread_scratch((size_t)M * m->Kp + 64, (size_t)(M > 0 ? M : 1));
    if (!s) return -1;
    kn_q8_tile_fn fn = tile_fn(kernel);
    quantize_rows(x, M, m->K, s->q, m->Kp, s->scale, fn == kn_q8_tile_vnni ? 0x80 : 0);
    kn_q8_out o = {.y = y, .ldy = m->N, .row_scale = s->scale, .bias = b};
    run_tiles(&o, s->q, m, M, fn);
    return 0;
}
