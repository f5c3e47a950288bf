/* safetensors.h - read (memory-mapped) and write the safetensors weight format.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section),
 * then the data section. Readers never copy tensor data: pointers point into the mapping. */
#ifndef KN_SAFETENSORS_H
#define KN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum { KN_F32, KN_F16, KN_BF16, KN_I32, KN_I64, KN_I8, KN_DTYPE_UNKNOWN } kn_dtype;

#define KN_MAX_DIMS 8

typedef struct kn_tensor {
    const char *name;
    kn_dtype dtype;
    int ndim;
    int64_t shape[KN_MAX_DIMS];
    const void *data;   /* inside the mapping (reader) or caller-owned (writer) */
    size_t nbytes;
} kn_tensor;

typedef struct kn_safetensors kn_safetensors;

kn_safetensors *kn_st_open(const char *path, kn_error *err);
/* The same over bytes the caller keeps alive (tests, fuzzing); name labels errors. */
kn_safetensors *kn_st_from_buffer(const void *buf, size_t size, const char *name, kn_error *err);
void kn_st_close(kn_safetensors *st);
size_t kn_st_count(const kn_safetensors *st);
const kn_tensor *kn_st_at(const kn_safetensors *st, size_t i);
const kn_tensor *kn_st_find(const kn_safetensors *st, const char *name);
/* Finds `name` and checks it is F32 with exactly the given shape (ndim values). */
const float *kn_st_f32(const kn_safetensors *st, const char *name, int ndim, const int64_t *shape, kn_error *err);
/* The "__metadata__" value for key, or NULL. */
const char *kn_st_metadata(const kn_safetensors *st, const char *key);

/* Writes tensors (in the given order, 8-byte aligned header) to path via a temporary file
 * and rename, so a crash never leaves a half-written file under the final name.
 * metadata: NULL or NULL-terminated array of key, value, key, value, ... */
int kn_st_write(const char *path, const kn_tensor *tensors, size_t n, const char *const *metadata, kn_error *err);

size_t kn_dtype_size(kn_dtype t);
const char *kn_dtype_name(kn_dtype t);

#endif
