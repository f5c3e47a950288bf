#include "cli/vector_output.h"

#include <string.h>

int kn_parse_out_format(const char *s, kn_out_format *out)
{
    if (strcmp(s, "jsonl") == 0) *out = KN_OUT_JSONL;
    else if (strcmp(s, "tsv") == 0) *out = KN_OUT_TSV;
    else if (strcmp(s, "npy") == 0) *out = KN_OUT_NPY;
    else return -1;
    return 0;
}

/* NPY format 1.0: magic, version, header length, a Python dict literal padded so the
 * data starts on a 64-byte boundary, then little-endian float32 rows. */
static int write_npy(FILE *f, const float *v, size_t n, int dim)
{
    char header[128];
    int hl = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", n, dim);
    int total = 10 + hl + 1, pad = (64 - total % 64) % 64;
    unsigned short len = (unsigned short)(hl + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 0xff), (unsigned char)(len >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(header, 1, (size_t)hl, f) != (size_t)hl) return -1;
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    return fwrite(v, sizeof *v, n * (size_t)dim, f) == n * (size_t)dim ? 0 : -1;
}

int kn_write_vectors(FILE *f, kn_out_format fmt, const float *v, size_t n, int dim)
{
    if (fmt == KN_OUT_NPY) return write_npy(f, v, n, dim);
    for (size_t i = 0; i < n; i++) {
        const float *r = v + i * (size_t)dim;
        if (fmt == KN_OUT_JSONL) fputs("{\"embedding\":[", f);
        for (int j = 0; j < dim; j++) {
            if (j) fputc(fmt == KN_OUT_JSONL ? ',' : '\t', f);
            fprintf(f, "%.9g", (double)r[j]);
        }
        fputs(fmt == KN_OUT_JSONL ? "]}\n" : "\n", f);
    }
    return ferror(f) ? -1 : 0;
}
