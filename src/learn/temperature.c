/* temperature.c - golden-section search on log T, then Newton steps on s = 1 / T (the NLL is
 * convex in s). */
#include "learn/temperature.h"

#include <math.h>

/* Mean NLL of softmax(s * z) over the used rows, with its first and second derivatives in s. */
static double nll_at(const double *Z, const int32_t *y, const unsigned char *use, size_t n, int K, double s,
                     double *d1, double *d2)
{
    double total = 0, g = 0, h = 0;
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        if (use && !use[i]) continue;
        const double *z = Z + i * K;
        double zmax = -INFINITY, sum = 0, mean = 0, sq = 0;
        for (int j = 0; j < K; j++) zmax = fmax(zmax, s * z[j]);
        for (int j = 0; j < K; j++) {
            double e = exp(s * z[j] - zmax);
            sum += e;
            mean += e * z[j];
            sq += e * z[j] * z[j];
        }
        mean /= sum;
        /* >= 0 exactly; (zmax - s z_y) rounds to a few 1e-16 below -log(sum) when one logit dominates */
        total += fmax(log(sum) + zmax - s * z[y[i]], 0.0);
        g += mean - z[y[i]];
        h += fmax(sq / sum - mean * mean, 0);
        rows++;
    }
    if (d1) *d1 = g / (double)rows;
    if (d2) *d2 = h / (double)rows;
    return total / (double)rows;
}

double kn_temperature_nll(const double *Z, const int32_t *y, const unsigned char *use, size_t n, int K, double T)
{
    return nll_at(Z, y, use, n, K, 1.0 / T, NULL, NULL);
}

double kn_fit_temperature(const double *Z, const int32_t *y, const unsigned char *use, size_t n, int K)
{
    const double phi = 0.5 * (sqrt(5.0) - 1.0);
    double a = log(KN_T_MIN), b = log(KN_T_MAX);
    double u1 = b - phi * (b - a), u2 = a + phi * (b - a);
    double f1 = nll_at(Z, y, use, n, K, exp(-u1), NULL, NULL), f2 = nll_at(Z, y, use, n, K, exp(-u2), NULL, NULL);
    while (b - a > 1e-4) {
        if (f1 <= f2) {
            b = u2;
            u2 = u1;
            f2 = f1;
            u1 = b - phi * (b - a);
            f1 = nll_at(Z, y, use, n, K, exp(-u1), NULL, NULL);
        } else {
            a = u1;
            u1 = u2;
            f1 = f2;
            u2 = a + phi * (b - a);
            f2 = nll_at(Z, y, use, n, K, exp(-u2), NULL, NULL);
        }
    }
    double s = exp(-0.5 * (a + b)), d1, d2, f = nll_at(Z, y, use, n, K, s, &d1, &d2);
    for (int it = 0; it < 20 && d2 > 0; it++) {
        double s_new = fmin(fmax(s - d1 / d2, 1.0 / KN_T_MAX), 1.0 / KN_T_MIN), n1, n2;
        double f_new = nll_at(Z, y, use, n, K, s_new, &n1, &n2);
        if (!(f_new < f)) break;
        int done = fabs(s_new - s) <= 1e-12 * s;
        s = s_new, f = f_new, d1 = n1, d2 = n2;
        if (done) break;
    }
    return 1.0 / s;
}
