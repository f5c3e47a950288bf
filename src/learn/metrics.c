/* metrics.c - evaluation metrics of `kanava eval` (definitions in metrics.h), their JSON
 * form and a readable text report. */
#include "learn/metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double AUTOMATION_TARGETS[KN_AUTOMATION_TARGETS] = {0.90, 0.95, 0.99};

/* Confusions listed in the text report, and the class count up to which the whole matrix
 * is printed (wider matrices do not fit a terminal). */
enum { TOP_CONFUSIONS = 10, FULL_MATRIX_MAX_CLASSES = 20, NAME_WIDTH_MAX = 32 };

static int check_rows(const int32_t *truth, const int32_t *pred, const float *conf, size_t n, int n_classes,
                      kn_error *err)
{
    if (n_classes < 1) return kn_fail(err, "evaluation needs at least one class, got %d", n_classes);
    if (n == 0) return kn_fail(err, "no rows to evaluate");
    for (size_t i = 0; i < n; i++) {
        if (truth[i] < -1 || truth[i] >= n_classes)
            return kn_fail(err, "row %zu: true class %d is out of range (0..%d, or -1 for out of scope)", i + 1,
                           (int)truth[i], n_classes - 1);
        if (pred[i] < 0 || pred[i] >= n_classes)
            return kn_fail(err, "row %zu: predicted class %d is out of range (0..%d)", i + 1, (int)pred[i],
                           n_classes - 1);
        if (isnan(conf[i])) return kn_fail(err, "row %zu: confidence is NaN", i + 1);
        if (conf[i] < 0.0f || conf[i] > 1.0f)
            return kn_fail(err, "row %zu: confidence %.9g is outside [0, 1]", i + 1, (double)conf[i]);
    }
    return 0;
}

static int is_correct(int32_t truth, int32_t pred)
{
    return truth >= 0 && truth == pred; /* an out-of-scope row has no right answer */
}

static double ratio_or_zero(double num, double den)
{
    return den > 0 ? num / den : 0.0;
}

/* Per-class scores from the confusion matrix plus the predictions made on out-of-scope rows
 * (predicted[c] counts every row predicted as c); macro F1 over classes that occur. */
static void class_scores(kn_eval_report *r, const int64_t *predicted)
{
    int k = r->n_classes;
    double f1_sum = 0;
    int occurring = 0;
    for (int c = 0; c < k; c++) {
        double tp = (double)r->confusion[(size_t)c * k + c];
        double fp = (double)predicted[c] - tp, fn = (double)r->support[c] - tp;
        r->precision[c] = ratio_or_zero(tp, tp + fp);
        r->recall[c] = ratio_or_zero(tp, tp + fn);
        r->f1[c] = ratio_or_zero(2 * tp, 2 * tp + fp + fn);
        if (r->support[c] > 0 || predicted[c] > 0) {
            f1_sum += r->f1[c];
            occurring++;
        }
    }
    r->macro_f1 = f1_sum / occurring; /* n >= 1, so some class was predicted */
}

static double calibration_error(const int32_t *truth, const int32_t *pred, const float *conf, size_t n)
{
    double conf_sum[KN_ECE_BINS] = {0};
    int64_t count[KN_ECE_BINS] = {0}, correct[KN_ECE_BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        /* A float times 15 is exact in double, so this is exactly b/15 <= conf < (b+1)/15. */
        int b = (int)floor((double)conf[i] * KN_ECE_BINS);
        if (b >= KN_ECE_BINS) b = KN_ECE_BINS - 1; /* conf == 1.0 */
        count[b]++;
        correct[b] += is_correct(truth[i], pred[i]);
        conf_sum[b] += conf[i];
    }
    double ece = 0;
    for (int b = 0; b < KN_ECE_BINS; b++) {
        if (!count[b]) continue;
        double gap = fabs((double)correct[b] / count[b] - conf_sum[b] / count[b]);
        ece += (double)count[b] / (double)n * gap;
    }
    return ece;
}

typedef struct {
    float conf;
    int correct;
} scored_row;

static int by_conf_descending(const void *a, const void *b)
{
    float x = ((const scored_row *)a)->conf, y = ((const scored_row *)b)->conf;
    return (x < y) - (x > y);
}

/* Walks thresholds from the most confident row down, one tie group at a time; the answered
 * count only grows, so the last group meeting a target gives its largest rate. */
static int automation_rates(const int32_t *truth, const int32_t *pred, const float *conf, size_t n,
                            kn_automation *out, kn_error *err)
{
    scored_row *rows = malloc(n * sizeof *rows);
    if (!rows) return kn_fail(err, "out of memory sorting %zu confidences", n);
    for (size_t i = 0; i < n; i++) rows[i] = (scored_row){conf[i], is_correct(truth[i], pred[i])};
    qsort(rows, n, sizeof *rows, by_conf_descending);

    for (int t = 0; t < KN_AUTOMATION_TARGETS; t++)
        out[t] = (kn_automation){AUTOMATION_TARGETS[t], 0.0, INFINITY, NAN};
    size_t answered = 0, correct = 0;
    while (answered < n) {
        float threshold = rows[answered].conf;
        while (answered < n && rows[answered].conf == threshold) correct += (size_t)rows[answered++].correct;
        double precision = (double)correct / (double)answered;
        for (int t = 0; t < KN_AUTOMATION_TARGETS; t++)
            if (precision >= out[t].precision_target)
                out[t] = (kn_automation){out[t].precision_target, (double)answered / (double)n, threshold, precision};
    }
    free(rows);
    return 0;
}

int kn_evaluate(const int32_t *truth, const int32_t *pred, const float *conf, size_t n, int n_classes,
                kn_eval_report *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    if (check_rows(truth, pred, conf, n, n_classes, err) != 0) return -1;
    size_t k = (size_t)n_classes;
    out->n = n;
    out->n_classes = n_classes;
    out->precision = calloc(k, sizeof *out->precision);
    out->recall = calloc(k, sizeof *out->recall);
    out->f1 = calloc(k, sizeof *out->f1);
    out->support = calloc(k, sizeof *out->support);
    out->confusion = calloc(k * k, sizeof *out->confusion);
    int64_t *predicted = calloc(k, sizeof *predicted);
    if (!out->precision || !out->recall || !out->f1 || !out->support || !out->confusion || !predicted) {
        free(predicted);
        kn_eval_report_free(out);
        return kn_fail(err, "out of memory for an evaluation report of %d classes", n_classes);
    }

    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        predicted[pred[i]]++;
        correct += (size_t)is_correct(truth[i], pred[i]);
        if (truth[i] < 0) {
            out->n_out_of_scope++;
            continue;
        }
        out->support[truth[i]]++;
        out->confusion[(size_t)truth[i] * k + (size_t)pred[i]]++;
    }
    out->accuracy = (double)correct / (double)n;
    class_scores(out, predicted);
    free(predicted);
    out->ece = calibration_error(truth, pred, conf, n);
    if (automation_rates(truth, pred, conf, n, out->automation, err) != 0) {
        kn_eval_report_free(out);
        return -1;
    }
    return 0;
}

void kn_eval_report_free(kn_eval_report *r)
{
    if (!r) return;
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->support);
    free(r->confusion);
    memset(r, 0, sizeof *r);
}

/* ---- JSON ---- */

static const char *class_name(const char *const *class_names, int c, char *buf, size_t cap)
{
    if (class_names && class_names[c]) return class_names[c];
    snprintf(buf, cap, "%d", c);
    return buf;
}

/* JSON has no infinity or NaN: such values (no threshold, nothing answered) become null. */
static json_t *number_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* Sets key to value (stealing it); returns 1 if either the value or the set failed. */
static int put(json_t *obj, const char *key, json_t *value)
{
    return !value || json_object_set_new(obj, key, value) != 0;
}

static int append(json_t *arr, json_t *value)
{
    return !value || json_array_append_new(arr, value) != 0;
}

int kn_eval_report_json(const kn_eval_report *r, const char *const *class_names, char **json_out)
{
    *json_out = NULL;
    json_t *root = json_object();
    if (!root) return -1;
    int bad = put(root, "n", json_integer((json_int_t)r->n));
    bad |= put(root, "n_classes", json_integer(r->n_classes));
    bad |= put(root, "n_out_of_scope", json_integer(r->n_out_of_scope));
    bad |= put(root, "accuracy", json_real(r->accuracy));
    bad |= put(root, "macro_f1", json_real(r->macro_f1));
    bad |= put(root, "ece", json_real(r->ece));

    json_t *automation = json_object();
    bad |= put(root, "automation", automation);
    for (int t = 0; automation && t < KN_AUTOMATION_TARGETS; t++) {
        const kn_automation *a = &r->automation[t];
        char key[16];
        snprintf(key, sizeof key, "%.2f", a->precision_target);
        json_t *entry = json_object();
        bad |= put(automation, key, entry);
        if (!entry) continue;
        bad |= put(entry, "rate", json_real(a->rate));
        bad |= put(entry, "threshold", number_or_null(a->threshold));
        bad |= put(entry, "precision", number_or_null(a->precision));
    }

    json_t *per_class = json_array(), *confusion = json_array();
    bad |= put(root, "per_class", per_class);
    bad |= put(root, "confusion", confusion);
    for (int c = 0; per_class && confusion && c < r->n_classes; c++) {
        char buf[16];
        json_t *entry = json_object(), *row = json_array();
        bad |= append(per_class, entry);
        bad |= append(confusion, row);
        if (!entry || !row) continue;
        bad |= put(entry, "name", json_string(class_name(class_names, c, buf, sizeof buf)));
        bad |= put(entry, "precision", json_real(r->precision[c]));
        bad |= put(entry, "recall", json_real(r->recall[c]));
        bad |= put(entry, "f1", json_real(r->f1[c]));
        bad |= put(entry, "support", json_integer(r->support[c]));
        for (int p = 0; p < r->n_classes; p++)
            bad |= append(row, json_integer(r->confusion[(size_t)c * (size_t)r->n_classes + (size_t)p]));
    }
    if (!bad) *json_out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *json_out ? 0 : -1;
}

/* ---- text report ---- */

typedef struct {
    double f1;
    int64_t support;
    int cls;
} class_rank;

/* Worst F1 first; among equals the larger class first (it matters more), then by id. */
static int by_f1_ascending(const void *a, const void *b)
{
    const class_rank *x = a, *y = b;
    if (x->f1 != y->f1) return x->f1 < y->f1 ? -1 : 1;
    if (x->support != y->support) return x->support > y->support ? -1 : 1;
    return x->cls - y->cls;
}

typedef struct {
    int64_t count;
    int truth, pred;
} confusion_cell;

static int by_count_descending(const void *a, const void *b)
{
    const confusion_cell *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    if (x->truth != y->truth) return x->truth - y->truth;
    return x->pred - y->pred;
}

static int name_width(const kn_eval_report *r, const char *const *class_names, int at_least)
{
    int width = at_least;
    for (int c = 0; c < r->n_classes; c++) {
        char buf[16];
        int len = (int)strlen(class_name(class_names, c, buf, sizeof buf));
        if (len > width) width = len;
    }
    return width < NAME_WIDTH_MAX ? width : NAME_WIDTH_MAX;
}

static void print_automation(const kn_eval_report *r, FILE *f)
{
    fprintf(f, "\nAutomatic answers (answer when confidence >= threshold)\n");
    fprintf(f, "  %-16s %9s %10s %10s\n", "precision target", "answered", "threshold", "precision");
    for (int t = 0; t < KN_AUTOMATION_TARGETS; t++) {
        const kn_automation *a = &r->automation[t];
        fprintf(f, "  %15.0f%% %8.1f%%", 100 * a->precision_target, 100 * a->rate);
        if (a->rate > 0)
            fprintf(f, " %10.4f %9.1f%%\n", a->threshold, 100 * a->precision);
        else
            fprintf(f, " %10s %10s\n", "-", "-");
    }
}

static void print_per_class(const kn_eval_report *r, const char *const *class_names, int width, FILE *f)
{
    class_rank *order = malloc((size_t)r->n_classes * sizeof *order);
    if (!order) {
        fprintf(f, "\n(out of memory for the per-topic table)\n");
        return;
    }
    for (int c = 0; c < r->n_classes; c++) order[c] = (class_rank){r->f1[c], r->support[c], c};
    qsort(order, (size_t)r->n_classes, sizeof *order, by_f1_ascending);
    fprintf(f, "\nPer topic (worst F1 first)\n");
    fprintf(f, "  %-*s %9s %7s %6s %8s\n", width, "topic", "precision", "recall", "F1", "support");
    for (int i = 0; i < r->n_classes; i++) {
        int c = order[i].cls;
        char buf[16];
        fprintf(f, "  %-*.*s %9.3f %7.3f %6.3f %8lld\n", width, width, class_name(class_names, c, buf, sizeof buf),
                r->precision[c], r->recall[c], r->f1[c], (long long)r->support[c]);
    }
    free(order);
}

static void print_matrix(const kn_eval_report *r, const char *const *class_names, int width, FILE *f)
{
    size_t k = (size_t)r->n_classes;
    int64_t largest = 0;
    for (size_t i = 0; i < k * k; i++)
        if (r->confusion[i] > largest) largest = r->confusion[i];
    int cell = snprintf(NULL, 0, "%lld", (long long)largest);
    if (cell < 2) cell = 2;
    fprintf(f, "\nConfusion matrix (rows: true topic, columns: predicted topic by number)\n");
    fprintf(f, "  %*s %-*s", 3, "", width, "");
    for (size_t p = 0; p < k; p++) fprintf(f, " %*zu", cell, p);
    fputc('\n', f);
    for (size_t t = 0; t < k; t++) {
        char buf[16];
        fprintf(f, "  %3zu %-*.*s", t, width, width, class_name(class_names, (int)t, buf, sizeof buf));
        for (size_t p = 0; p < k; p++) fprintf(f, " %*lld", cell, (long long)r->confusion[t * k + p]);
        fputc('\n', f);
    }
}

static void print_top_confusions(const kn_eval_report *r, const char *const *class_names, FILE *f)
{
    size_t k = (size_t)r->n_classes, n_cells = 0;
    for (size_t t = 0; t < k; t++)
        for (size_t p = 0; p < k; p++) n_cells += t != p && r->confusion[t * k + p] > 0;
    fprintf(f, "\nMost frequent confusions (true -> predicted)\n");
    if (n_cells == 0) {
        fprintf(f, "  none\n");
        return;
    }
    confusion_cell *cells = malloc(n_cells * sizeof *cells);
    if (!cells) {
        fprintf(f, "  (out of memory)\n");
        return;
    }
    size_t at = 0;
    for (size_t t = 0; t < k; t++)
        for (size_t p = 0; p < k; p++)
            if (t != p && r->confusion[t * k + p] > 0) cells[at++] = (confusion_cell){r->confusion[t * k + p], (int)t, (int)p};
    qsort(cells, n_cells, sizeof *cells, by_count_descending);
    for (size_t i = 0; i < n_cells && i < TOP_CONFUSIONS; i++) {
        char a[16], b[16];
        const confusion_cell *c = &cells[i];
        fprintf(f, "  %6lld  %s -> %s\n", (long long)c->count, class_name(class_names, c->truth, a, sizeof a),
                class_name(class_names, c->pred, b, sizeof b));
    }
    free(cells);
}

void kn_eval_report_print(const kn_eval_report *r, const char *const *class_names, FILE *f)
{
    fprintf(f, "Evaluated %zu messages, %d topics", r->n, r->n_classes);
    if (r->n_out_of_scope)
        fprintf(f, ", %lld out of scope (every answer to them counts as wrong)", (long long)r->n_out_of_scope);
    fprintf(f, "\n  accuracy  %6.2f%%\n  macro F1  %7.4f  (over topics that are true or predicted at least once)\n"
               "  ECE       %7.4f  (%d confidence bins)\n",
            100 * r->accuracy, r->macro_f1, r->ece, KN_ECE_BINS);
    print_automation(r, f);
    int width = name_width(r, class_names, 5);
    print_per_class(r, class_names, width, f);
    if (r->n_classes <= FULL_MATRIX_MAX_CLASSES) print_matrix(r, class_names, width, f);
    print_top_confusions(r, class_names, f);
}
