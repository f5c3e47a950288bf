/* vector_output.h - writing embeddings as JSON lines, TSV or a NumPy .npy file. */
#ifndef KN_VECTOR_OUTPUT_H
#define KN_VECTOR_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

typedef enum { KN_OUT_JSONL, KN_OUT_TSV, KN_OUT_NPY } kn_out_format;

int kn_parse_out_format(const char *s, kn_out_format *out);
/* Writes n rows of dim floats; returns 0 or -1 on a write error. */
int kn_write_vectors(FILE *f, kn_out_format fmt, const float *v, size_t n, int dim);

#endif
