/* curve.h - precision against automation rate: answering every message whose confidence is at
 * least t, what share of all messages is answered (the rate) and how many of the answers are
 * right (the precision), for every threshold t. metrics.h reports single points of it. */
#ifndef KN_CURVE_H
#define KN_CURVE_H

#include <stddef.h>

typedef struct kn_curve_point {
    double rate, precision, threshold;
} kn_curve_point;

/* conf[i] in [0,1], correct[i] 0/1. Writes one point per distinct confidence, from the most
 * confident down (ties are answered together), thinned to at most max_points (the last point,
 * answering everything, is always kept). Returns the number of points, or -1 when out of
 * memory. *points is malloc'ed. */
long kn_precision_curve(const float *conf, const unsigned char *correct, size_t n, size_t max_points,
                        kn_curve_point **points);

#endif
