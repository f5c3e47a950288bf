/* qgemm_avx2.c - the AVX2 int8 kernel.
 *
 * vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16 with
 * saturation. With |x| as the unsigned side and the weights carrying x's sign (vpsignb),
 * each product is x * w and a pair is at most 2 * 127 * 127 = 32258 < 32767: no
 * saturation, so the sums are exact. vpmaddwd by ones widens pairs of pairs to int32.
 * A ymm holds 8 columns x 4 inputs (half a block); a micro-tile is MR rows x one block. */
#include <immintrin.h>
#include <string.h>

#include "model/qgemm_internal.h"

#define AVX2_TARGET __attribute__((target("avx2")))

enum { MR = 4 };

AVX2_TARGET static inline __attribute__((always_inline)) void micro(const kn_q8_out *o, const int8_t *xq,
                                                                   const kn_q8_matrix *m, int r0, int b,
                                                                   const int mr)
{
    const int8_t *w = m->packed + (size_t)b * m->Kp * KN_Q8_NB;
    const int8_t *x = xq + (size_t)r0 * m->Kp;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[MR][2];
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int k4 = 0; k4 < m->Kp / 4; k4++) {
        __m256i w0 = _mm256_load_si256((const __m256i *)(w + (size_t)k4 * 64));
        __m256i w1 = _mm256_load_si256((const __m256i *)(w + (size_t)k4 * 64 + 32));
        for (int r = 0; r < mr; r++) {
            int32_t x4;
            memcpy(&x4, x + (size_t)r * m->Kp + (size_t)k4 * 4, 4);
            __m256i xb = _mm256_set1_epi32(x4), ax = _mm256_abs_epi8(xb);
            __m256i p0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xb));
            __m256i p1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xb));
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, ones));
        }
    }
    for (int r = 0; r < mr; r++) {
        int32_t s[KN_Q8_NB] __attribute__((aligned(32)));
        _mm256_store_si256((__m256i *)s, acc[r][0]);
        _mm256_store_si256((__m256i *)(s + 8), acc[r][1]);
        kn_q8_store(o, m, r0 + r, b * KN_Q8_NB, s, KN_Q8_NB);
    }
}

AVX2_TARGET void kn_q8_tile_avx2(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int r0, int r1, int b0,
                                 int b1)
{
    for (int b = b0; b < b1; b++) {
        int r = r0;
        for (; r + MR <= r1; r += MR) micro(o, xq, m, r, b, MR);
        switch (r1 - r) {
        case 3: micro(o, xq, m, r, b, 3); break;
        case 2: micro(o, xq, m, r, b, 2); break;
        case 1: micro(o, xq, m, r, b, 1); break;
        default: break;
        }
    }
}
