/* vecmath.c - the transcendental loops of the forward pass: exact (erf) GELU and the
 * exponentials of softmax. Built with -ffast-math (see Makefile) so that glibc's vector math
 * library evaluates erff and expf 16 lanes at a time; scalar erff was 15 % of a BERT forward
 * and scalar expf 5 % of an int8 one. Only this file gets the flag: the rest of the engine
 * keeps strict IEEE semantics. */
#include <math.h>

#include "model/ops.h"

void kn_gelu(float *x, long n)
{
#pragma omp parallel for simd schedule(static) if (n >= KN_PARALLEL_ELEMS)
    for (long i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

float kn_exp_shifted(float *x, int n, float shift)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        x[j] = expf(x[j] - shift);
        sum += x[j];
    }
    return sum;
}
