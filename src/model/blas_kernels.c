#include "model/blas_kernels.h"

#include <cblas.h>

const char *kn_blas_kernels(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}
