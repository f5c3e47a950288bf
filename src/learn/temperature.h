/* temperature.h - fitting a softmax temperature to held-out scores: the T in [0.05, 20]
 * minimising the mean negative log-likelihood of softmax(z / T). Shared by the
 * logistic-regression head (calibrate.c) and BM25. */
#ifndef KN_TEMPERATURE_H
#define KN_TEMPERATURE_H

#include <stddef.h>
#include <stdint.h>

#define KN_T_MIN 0.05
#define KN_T_MAX 20.0

/* Z: n x K scores, y: true classes. Rows with use[i] == 0 are ignored (use may be NULL:
 * every row). Needs at least one used row. */
double kn_fit_temperature(const double *Z, const int32_t *y, const unsigned char *use, size_t n, int K);
/* Mean NLL of softmax(Z / T) over the used rows. */
double kn_temperature_nll(const double *Z, const int32_t *y, const unsigned char *use, size_t n, int K, double T);

#endif
