/* dataset.h - labelled messages from a CSV file: a text column and a label column. */
#ifndef KN_DATASET_H
#define KN_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

typedef struct kn_dataset {
    char **text;        /* NUL-terminated, valid UTF-8 */
    size_t *len;
    int32_t *label;     /* index into classes; -1 for a label the caller's class list lacks */
    size_t *line;       /* CSV line of each row, for messages */
    size_t n;
    char **classes;     /* class names, in order of first appearance (or the caller's order) */
    int n_classes;
    char **unknown;     /* per row: the label text when label == -1, else NULL */
} kn_dataset;

/* Reads FILE's text_col and label_col (tab-separated when the name ends in .tsv, else CSV). Rows with an empty text are skipped with a warning
 * naming the line (written to warn, may be NULL); invalid UTF-8, a missing column or a
 * missing label are errors naming the line. classes: NULL to collect the classes from the
 * data, or the model's class list (then unknown labels get label -1 and are listed in
 * unknown[]). */
int kn_dataset_read(const char *path, const char *text_col, const char *label_col, char *const *classes,
                    int n_classes, kn_dataset *out, FILE *warn, kn_error *err);
/* Checks a training set: at least two classes; warns about classes with a single example
 * and duplicate texts (with their lines). */
int kn_dataset_check_training(const kn_dataset *d, FILE *warn, kn_error *err);
void kn_dataset_free(kn_dataset *d);

#endif
