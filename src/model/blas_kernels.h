/* blas_kernels.h - which kernels OpenBLAS runs, for version output and benchmark reports.
 * OpenBLAS picks them from the CPU when it loads unless OPENBLAS_CORETYPE names one (this
 * workplace's machines set Haswell, the AVX2 kernels; unset, they detect Cooperlake, the
 * AVX-512 ones, about 1.6-1.8x faster on float32 products). Kanava leaves the choice to
 * the environment. */
#ifndef KN_BLAS_KERNELS_H
#define KN_BLAS_KERNELS_H

/* The kernel family OpenBLAS runs ("Haswell", "SkylakeX", "Cooperlake", ...). */
const char *kn_blas_kernels(void);

#endif
