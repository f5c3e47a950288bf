/* sparse.h - a compressed-sparse-row matrix of floats: the TF-IDF features. */
#ifndef KN_SPARSE_H
#define KN_SPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kn_csr {
    size_t n_rows;
    int n_cols;
    size_t *indptr;   /* [n_rows + 1]: row i is entries indptr[i] .. indptr[i+1]-1 */
    int32_t *indices; /* column of each entry, ascending within a row */
    float *values;
} kn_csr;

void kn_csr_free(kn_csr *m);

#endif
