/* umap_curve.c - the low-dimensional similarity 1 / (1 + a d^(2b)): a and b are fitted by
 * Levenberg-Marquardt least squares to a curve that is 1 up to min_dist and then decays
 * as exp(-(d - min_dist) / spread), so min_dist controls how tightly points pack. */
#include <math.h>

#include "learn/umap_parts.h"

#define CURVE_POINTS 300

/* Sum of squared residuals; fills the normal equations J^T J and J^T r when asked. */
static double curve_cost(double a, double b, const double *xs, const double *ys, double jtj[3], double jtr[2])
{
    double cost = 0.0;
    if (jtj) jtj[0] = jtj[1] = jtj[2] = jtr[0] = jtr[1] = 0.0;
    for (int i = 0; i < CURVE_POINTS; i++) {
        double x = xs[i], p = x > 0.0 ? pow(x, 2.0 * b) : 0.0;
        double den = 1.0 + a * p, f = 1.0 / den, r = f - ys[i];
        cost += r * r;
        if (!jtj) continue;
        double da = -p / (den * den);
        double db = x > 0.0 ? -a * p * 2.0 * log(x) / (den * den) : 0.0;
        jtj[0] += da * da;
        jtj[1] += da * db;
        jtj[2] += db * db;
        jtr[0] += da * r;
        jtr[1] += db * r;
    }
    return cost;
}

void kn_umap_fit_ab(float min_dist, float spread, float *a_out, float *b_out)
{
    double xs[CURVE_POINTS], ys[CURVE_POINTS];
    for (int i = 0; i < CURVE_POINTS; i++) {
        xs[i] = 3.0 * spread * i / (CURVE_POINTS - 1);
        ys[i] = xs[i] < min_dist ? 1.0 : exp(-(xs[i] - min_dist) / spread);
    }
    double a = 1.0, b = 1.0, lambda = 1e-3, jtj[3], jtr[2];
    double cost = curve_cost(a, b, xs, ys, jtj, jtr);
    for (int iter = 0; iter < 200; iter++) {
        double m00 = jtj[0] * (1.0 + lambda), m11 = jtj[2] * (1.0 + lambda), m01 = jtj[1];
        double det = m00 * m11 - m01 * m01;
        if (!(fabs(det) > 0.0)) break;
        double step_a = -(m11 * jtr[0] - m01 * jtr[1]) / det;
        double step_b = -(m00 * jtr[1] - m01 * jtr[0]) / det;
        double na = a + step_a, nb = b + step_b;
        double ncost = na > 0.0 && nb > 0.0 ? curve_cost(na, nb, xs, ys, NULL, NULL) : INFINITY;
        if (ncost < cost) {
            int converged = cost - ncost < 1e-15 * (1.0 + cost) && fabs(step_a) < 1e-10 && fabs(step_b) < 1e-10;
            a = na;
            b = nb;
            cost = curve_cost(a, b, xs, ys, jtj, jtr);
            lambda *= 0.3;
            if (converged) break;
        } else {
            lambda *= 10.0;
            if (lambda > 1e12) break;
        }
    }
    *a_out = (float)a;
    *b_out = (float)b;
}
