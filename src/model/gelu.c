/* gelu.c - exact (erf) GELU. Built with -ffast-math (see Makefile) so that glibc's vector
 * math library evaluates erff 16 lanes at a time; scalar erff was 15 % of a BERT forward.
 * Only this file gets the flag: the rest of the engine keeps strict IEEE semantics. */
#include <math.h>

#include "model/ops.h"

void kn_gelu(float *x, long n)
{
#pragma omp simd
    for (long i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}
