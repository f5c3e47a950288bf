/* svg_plot.h - a small line chart as a standalone SVG file: precision against automation rate,
 * one line per method. */
#ifndef KN_SVG_PLOT_H
#define KN_SVG_PLOT_H

#include <stddef.h>

#include "learn/curve.h"
#include "util/error.h"

typedef struct kn_svg_series {
    const char *name;
    const kn_curve_point *points;
    size_t n;
} kn_svg_series;

/* x: automation rate 0..1; y: precision from y_min to 1, with dashed guides at 90/95/99%. */
int kn_svg_precision_plot(const char *path, const char *title, const kn_svg_series *series, size_t n_series,
                          double y_min, kn_error *err);

#endif
