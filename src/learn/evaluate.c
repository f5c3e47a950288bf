/* evaluate.c - the held-out split and report behind GET /api/models/{id} "metrics". The
 * numbers come from kn_evaluate (metrics.c) and kn_precision_curve (curve.c); this file only
 * splits, predicts the argmax and shapes the JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn/curve.h"
#include "learn/evaluate.h"
#include "learn/metrics.h"
#include "util/rng.h"

size_t kn_stratified_holdout(const int32_t *labels, size_t n, int n_classes, double share, uint64_t seed,
                             unsigned char *is_eval)
{
    memset(is_eval, 0, n);
    size_t *rows = malloc((n ? n : 1) * sizeof *rows), held = 0;
    if (!rows) return 0;
    uint64_t state = seed;
    for (int c = 0; c < n_classes; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c) rows[m++] = i;
        size_t want = (size_t)floor(share * (double)m + 0.5);
        if (want >= m) want = m ? m - 1 : 0;
        /* A partial Fisher-Yates shuffle: the first `want` rows are a uniform draw. */
        for (size_t j = 0; j < want; j++) {
            size_t r = j + (size_t)(kn_splitmix64(&state) % (uint64_t)(m - j));
            size_t t = rows[j];
            rows[j] = rows[r];
            rows[r] = t;
            is_eval[rows[j]] = 1;
        }
        held += want;
    }
    free(rows);
    return held;
}

static json_t *number_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *kn_holdout_report(const int32_t *truth, const float *proba, size_t n, int n_classes,
                          const char *const *classes, size_t n_train, size_t max_points, kn_error *err)
{
    if (n_classes < 1) {
        kn_fail(err, "evaluation: no topics");
        return NULL;
    }
    int32_t *pred = malloc((n ? n : 1) * sizeof *pred);
    float *conf = malloc((n ? n : 1) * sizeof *conf);
    unsigned char *correct = malloc(n ? n : 1);
    kn_eval_report rep;
    memset(&rep, 0, sizeof rep);
    kn_curve_point *curve = NULL;
    long n_points = 0;
    json_t *out = NULL;
    if (!pred || !conf || !correct) {
        kn_fail(err, "evaluation: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const float *p = proba + i * (size_t)n_classes;
        int best = 0;
        for (int c = 1; c < n_classes; c++)
            if (p[c] > p[best]) best = c;
        pred[i] = best;
        conf[i] = p[best];
        correct[i] = truth[i] == best;
    }
    if (n > 0) {
        if (kn_evaluate(truth, pred, conf, n, n_classes, &rep, err) != 0) goto done;
        n_points = kn_precision_curve(conf, correct, n, max_points, &curve);
        if (n_points < 0) {
            kn_fail(err, "evaluation: out of memory");
            goto done;
        }
    }
    json_t *per_topic = json_array(), *names = json_array(), *matrix = json_array(), *points = json_array();
    for (int c = 0; c < n_classes; c++) {
        json_array_append_new(names, json_string(classes[c]));
        json_array_append_new(per_topic, json_pack("{s:s,s:f,s:f,s:f,s:I}", "topic", classes[c], "precision",
                                                   n ? rep.precision[c] : 0.0, "recall", n ? rep.recall[c] : 0.0,
                                                   "f1", n ? rep.f1[c] : 0.0, "support",
                                                   (json_int_t)(n ? rep.support[c] : 0)));
        json_t *row = json_array();
        for (int p = 0; p < n_classes; p++)
            json_array_append_new(row, json_integer(n ? (json_int_t)rep.confusion[(size_t)c * (size_t)n_classes + (size_t)p]
                                                      : 0));
        json_array_append_new(matrix, row);
    }
    for (long k = 0; k < n_points; k++)
        json_array_append_new(points, json_pack("{s:f,s:f,s:f,s:I}", "threshold", curve[k].threshold, "automation",
                                                curve[k].rate, "precision", curve[k].precision, "answered",
                                                (json_int_t)llround(curve[k].rate * (double)n)));
    out = json_pack("{s:o,s:o,s:I,s:I,s:o,s:{s:o,s:o},s:o}", "accuracy", n ? number_or_null(rep.accuracy) : json_null(),
                    "macro_f1", n ? number_or_null(rep.macro_f1) : json_null(), "n_train", (json_int_t)n_train,
                    "n_eval", (json_int_t)n, "per_topic", per_topic, "confusion", "topics", names, "matrix", matrix,
                    "curve", points);
    if (!out) kn_fail(err, "evaluation: out of memory");
done:
    kn_eval_report_free(&rep);
    free(curve);
    free(pred);
    free(conf);
    free(correct);
    return out;
}
