/* qgemm_internal.h - what the int8 kernels (qgemm_*.c) share with qgemm.c. */
#ifndef KN_QGEMM_INTERNAL_H
#define KN_QGEMM_INTERNAL_H

#include "model/qgemm.h"

/* Where a tile's results go: int32 sums (acc != NULL) or dequantised floats. */
typedef struct kn_q8_out {
    int32_t *acc;
    int ldc;
    float *y;
    int ldy;
    const float *row_scale; /* [M] */
    const float *bias;      /* [N] or NULL */
} kn_q8_out;

/* Rows [r0, r1) against column blocks [b0, b1): every kernel has this shape. xq rows are
 * m->Kp bytes apart. */
typedef void (*kn_q8_tile_fn)(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int r0, int r1, int b0,
                              int b1);

void kn_q8_tile_portable(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int r0, int r1, int b0, int b1);
void kn_q8_tile_avx2(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int r0, int r1, int b0, int b1);
/* The VNNI tile takes its activations flipped to unsigned (kn_q8_flip: x + 128). */
void kn_q8_tile_vnni(const kn_q8_out *o, const int8_t *xq, const kn_q8_matrix *m, int r0, int r1, int b0, int b1);
void kn_q8_flip(int8_t *xq, size_t n);

/* Writes the sums s[0..width) of row r, columns n0.. (clipped to N) to o. */
static inline void kn_q8_store(const kn_q8_out *o, const kn_q8_matrix *m, int r, int n0, const int32_t *s, int width)
{
    int n = m->N - n0 < width ? m->N - n0 : width;
    if (o->acc) {
        int32_t *dst = o->acc + (long)r * o->ldc + n0;
        for (int j = 0; j < n; j++) dst[j] = s[j];
        return;
    }
    float *dst = o->y + (long)r * o->ldy + n0;
    const float rs = o->row_scale[r], *sc = m->scale + n0;
    if (o->bias) {
        const float *b = o->bias + n0;
        for (int j = 0; j < n; j++) dst[j] = (float)s[j] * (rs * sc[j]) + b[j];
    } else {
        for (int j = 0; j < n; j++) dst[j] = (float)s[j] * (rs * sc[j]);
    }
}

#endif
