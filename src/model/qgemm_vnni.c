/* qgemm_vnni.c - the AVX-512 VNNI int8 kernel.
 *
 * vpdpbusd multiplies unsigned by signed bytes and adds groups of four into int32 lanes
 * without intermediate saturation. Activations are signed, so they arrive flipped to
 * x + 128 (xor 0x80 per byte, written so by the quantiser or kn_q8_flip) and 128 * (column
 * sum of the weights) is subtracted at the end: the same exact sum as the signed product.
 * Each row's four bytes go straight from memory into vpdpbusd as a broadcast operand. One
 * zmm holds one block's 16 columns x 4 inputs; a micro-tile is MR = 4 rows x up to 4 blocks in 16 accumulators. With
 * the accumulators kept in registers (dpbusd below) the Zen 5 cores here retire about two
 * vpdpbusd a cycle, 700-760 GOP/s on one core, and every tile from 8 x 2 to 8 x 3 and 12 x 2
 * ran within 5 % of 4 x 4. */
#include <immintrin.h>
#include <string.h>

#include "model/qgemm_internal.h"

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

enum { MR = 4, NVMAX = 4 };

/* acc += u8 x . s8 w in place. GCC 12 compiles the intrinsic with a register copy around
 * every vpdpbusd and spills accumulators to the stack (the instruction's accumulator is
 * tied to its result); written as one instruction the 16 accumulators stay put. */
VNNI_TARGET static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i x, __m512i w)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "vm"(w));
    return acc;
}

VNNI_TARGET static inline __attribute__((always_inline)) void micro(const kn_q8_out *o, const int8_t *xq,
                                                                   const kn_q8_matrix *m, int r0, int b0,
                                                                   const int mr, const int nv)
{
    const size_t block = (size_t)m->Kp * KN_Q8_NB;
    const int8_t *w = m->packed + (size_t)b0 * block;
    const int8_t *x = xq + (size_t)r0 * m->Kp;
    __m512i acc[MR][NVMAX];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_si512();
    for (int k4 = 0; k4 < m->Kp / 4; k4++) {
        __m512i wv[NVMAX];
        for (int v = 0; v < nv; v++) wv[v] = _mm512_load_si512((const void *)(w + v * block + (size_t)k4 * 64));
        for (int r = 0; r < mr; r++) {
            int32_t x4;
            memcpy(&x4, x + (size_t)r * m->Kp + (size_t)k4 * 4, 4);
            __m512i xb = _mm512_set1_epi32(x4);
            for (int v = 0; v < nv; v++) acc[r][v] = dpbusd(acc[r][v], xb, wv[v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        int n0 = (b0 + v) * KN_Q8_NB;
        __m512i offset = _mm512_slli_epi32(_mm512_load_si512((const void *)(m->colsum + n0)), 7);
        if (o->acc || n0 + KN_Q8_NB > m->N) { /* int32 results, or the last, partial block */
            for (int r = 0; r < mr; r++) {
                int32_t s[KN_Q8_NB] __attribute__((aligned(64)));
                _mm512_store_si512((void *)s, _mm512_sub_epi32(acc[r][v], offset));
                kn_q8_store(o, m, r0 + r, n0, s, KN_Q8_NB);
            }
            continue;
        }
        /* Full blocks straight to floats: (acc - offset) * (row scale * column scale) + bias,
         * the same arithmetic as kn_q8_store, 16 lanes at a time. */
        __m512 col = _mm512_loadu_ps(m->scale + n0);
        __m512 bias = o->bias ? _mm512_loadu_ps(o->bias + n0) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++) {
            __m512 sums = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], offset));
            __m512 sc = _mm512_mul_ps(_mm512_set1_ps(o->row_scale[r0 + r]), col);
            _mm512_storeu_ps(o->y + (size_t)(r0 + r) * o->ldy + n0, _mm512_add_ps(_mm512_mul_ps(sums, sc), bias));
        }
    }
}

/* mr and nv become constants in each case, so the accumulators live in registers. */
#define ROWS(NV)                                                                                 \
    do {                                                                                         \
        int r = r0;                                                                              \
        for (; r + MR <= r1; r += MR) micro(o, xq, m, r, b, MR, NV);                             \
        switch (r1 - r) {                                                                        \
        case 3: micro(o, xq, m, r, b, 3, NV); break;                                             \
        case 2: micro(o, xq, m, r, b, 2, NV); break;                                             \
        case 1: micro(o, xq, m, r, b, 1, NV); break;                                             \
        default: break;                                                                          \
        }                                                                                        \
    } while (0)

VNNI_TARGET void kn_q8_tile_vnni(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int r0, int r1, int b0,
                                 int b1)
{
    for (int b = b0; b < b1; b += NVMAX) {
        switch (b1 - b < NVMAX ? b1 - b : NVMAX) {
        case 4: ROWS(4); break;
        case 3: ROWS(3); break;
        case 2: ROWS(2); break;
        case 1: ROWS(1); break;
        default: break;
        }
    }
}
