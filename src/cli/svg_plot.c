/* svg_plot.c - writes the chart with fprintf; coordinates in a fixed 720 x 440 frame. */
#include "cli/svg_plot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { WIDTH = 720, HEIGHT = 440, LEFT = 60, RIGHT = 170, TOP = 40, BOTTOM = 50 };

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* Text for SVG: &, <, > and quotes escaped. */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int kn_svg_precision_plot(const char *path, const char *title, const kn_svg_series *series, size_t n_series,
                          double y_min, kn_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return kn_fail(err, "%s: %s", path, strerror(errno));
    const double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define X(v) (LEFT + (v) * pw)
#define Y(v) (TOP + (1.0 - ((v) - y_min) / (1.0 - y_min)) * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", WIDTH, HEIGHT);
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"14\">", LEFT);
    put_escaped(f, title);
    fprintf(f, "</text>\n");
    for (int k = 0; k <= 10; k++) {
        double v = k / 10.0, y = y_min + (1.0 - y_min) * v;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", X(v), TOP, X(v), TOP + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.0f%%</text>\n", X(v), TOP + ph + 16, v * 100);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, Y(y), LEFT + pw, Y(y));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n", LEFT - 6, Y(y) + 4, y * 100);
    }
    const double guides[] = {0.90, 0.95, 0.99};
    for (int g = 0; g < 3; g++)
        if (guides[g] > y_min)
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
                    LEFT, Y(guides[g]), LEFT + pw, Y(guides[g]));
    fprintf(f, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">automation rate (share of messages answered)</text>\n",
            LEFT + pw / 2, HEIGHT - 12);
    fprintf(f, "<text transform=\"translate(16 %.0f) rotate(-90)\" text-anchor=\"middle\">precision of the answers</text>\n",
            TOP + ph / 2);
    for (size_t s = 0; s < n_series; s++) {
        const char *colour = colours[s % (sizeof colours / sizeof *colours)];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", colour);
        for (size_t i = 0; i < series[s].n; i++) {
            double p = series[s].points[i].precision;
            fprintf(f, "%.1f,%.1f ", X(series[s].points[i].rate), Y(p < y_min ? y_min : p));
        }
        fprintf(f, "\"/>\n<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"3\" fill=\"%s\"/>\n", LEFT + pw + 14,
                TOP + 10 + 20.0 * s, colour);
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">", LEFT + pw + 34, TOP + 15 + 20.0 * s);
        put_escaped(f, series[s].name);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
#undef X
#undef Y
    if (fclose(f) != 0) return kn_fail(err, "%s: %s", path, strerror(errno));
    return 0;
}
