/* curve.c - sort by confidence, walk down, keep running counts. */
#include "learn/curve.h"

#include <stdlib.h>

typedef struct scored {
    float conf;
    unsigned char correct;
} scored;

static int by_conf_desc(const void *a, const void *b)
{
    float x = ((const scored *)a)->conf, y = ((const scored *)b)->conf;
    return x > y ? -1 : x < y;
}

long kn_precision_curve(const float *conf, const unsigned char *correct, size_t n, size_t max_points,
                        kn_curve_point **points)
{
    *points = NULL;
    if (n == 0) return 0;
    scored *s = malloc(n * sizeof *s);
    kn_curve_point *all = malloc(n * sizeof *all);
    if (!s || !all) {
        free(s);
        free(all);
        return -1;
    }
    for (size_t i = 0; i < n; i++) s[i] = (scored){conf[i], correct[i]};
    qsort(s, n, sizeof *s, by_conf_desc);
    size_t count = 0, right = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j].conf == s[i].conf) right += s[j++].correct;
        all[count++] = (kn_curve_point){(double)j / (double)n, (double)right / (double)j, s[i].conf};
        i = j;
    }
    free(s);
    if (max_points >= 2 && count > max_points) {
        /* Keep points evenly spaced in rate; always the first and the last. */
        size_t kept = 0;
        double next = 0, step = 1.0 / (double)(max_points - 1);
        for (size_t k = 0; k < count; k++)
            if (k == 0 || k == count - 1 || all[k].rate >= next) {
                all[kept++] = all[k];
                next = all[k].rate + step;
            }
        count = kept;
    }
    *points = all;
    return (long)count;
}
