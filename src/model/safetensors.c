#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct kn_safetensors {
    void *map;
    size_t map_size;
    kn_tensor *tensors;
    size_t n;
    json_t *header; /* owns the name strings */
    int owns_map;   /* 1: mmap'd by kn_st_open */
};

static const char *const dtype_names[] = {"F32", "F16", "BF16", "I32", "I64", "I8"};

size_t kn_dtype_size(kn_dtype t)
{
    switch (t) {
    case KN_F32: case KN_I32: return 4;
    case KN_F16: case KN_BF16: return 2;
    case KN_I64: return 8;
    case KN_I8: return 1;
    default: return 0;
    }
}

const char *kn_dtype_name(kn_dtype t)
{
    return t < KN_DTYPE_UNKNOWN ? dtype_names[t] : "unknown";
}

static kn_dtype dtype_from_name(const char *s)
{
    for (int i = 0; i < KN_DTYPE_UNKNOWN; i++)
        if (strcmp(s, dtype_names[i]) == 0) return (kn_dtype)i;
    return KN_DTYPE_UNKNOWN;
}

void kn_st_close(kn_safetensors *st)
{
    if (!st) return;
    if (st->map && st->owns_map) munmap(st->map, st->map_size);
    free(st->tensors);
    json_decref(st->header);
    free(st);
}

/* Parses one header entry into t; data_start/data_size bound the data section. */
static int parse_entry(const char *path, const char *name, json_t *v, const uint8_t *data_start,
                       size_t data_size, kn_tensor *t, kn_error *err)
{
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
    json_t *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2)
        return kn_fail(err, "%s: tensor '%s': header entry needs dtype, shape and data_offsets", path, name);
    t->name = name;
    t->dtype = dtype_from_name(json_string_value(dt));
    if (t->dtype == KN_DTYPE_UNKNOWN)
        return kn_fail(err, "%s: tensor '%s': unsupported dtype %s", path, name, json_string_value(dt));
    size_t nd = json_array_size(shape);
    if (nd > KN_MAX_DIMS) return kn_fail(err, "%s: tensor '%s': %zu dimensions is too many", path, name, nd);
    t->ndim = (int)nd;
    uint64_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return kn_fail(err, "%s: tensor '%s': bad shape", path, name);
        t->shape[i] = json_integer_value(d);
        if (t->shape[i] != 0 && count > UINT64_MAX / (uint64_t)t->shape[i])
            return kn_fail(err, "%s: tensor '%s': shape overflows", path, name);
        count *= (uint64_t)t->shape[i];
    }
    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (!json_is_integer(b) || !json_is_integer(e)) return kn_fail(err, "%s: tensor '%s': bad data_offsets", path, name);
    json_int_t begin = json_integer_value(b), end = json_integer_value(e);
    if (begin < 0 || end < begin || (uint64_t)end > data_size)
        return kn_fail(err, "%s: tensor '%s': data_offsets [%lld, %lld] outside the %zu-byte data section (truncated file?)",
                       path, name, (long long)begin, (long long)end, data_size);
    if ((uint64_t)(end - begin) != count * kn_dtype_size(t->dtype))
        return kn_fail(err, "%s: tensor '%s': %lld bytes for %llu elements of %s", path, name,
                       (long long)(end - begin), (unsigned long long)count, kn_dtype_name(t->dtype));
    t->data = data_start + begin;
    t->nbytes = (size_t)(end - begin);
    return 0;
}

/* Parses the header of the bytes at st->map (st->map_size long); path names errors. */
static int parse(kn_safetensors *st, const char *path, kn_error *err)
{
    const uint8_t *p = st->map;
    size_t size = st->map_size;
    if (size < 8) return kn_fail(err, "%s: %zu bytes is too short for a safetensors file", path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > size - 8)
        return kn_fail(err, "%s: header length %llu exceeds the file size %zu (truncated file?)", path,
                       (unsigned long long)hlen, size);
    json_error_t jerr;
    st->header = json_loadb((const char *)p + 8, (size_t)hlen, 0, &jerr);
    if (!json_is_object(st->header)) return kn_fail(err, "%s: header is not a JSON object: %s", path, jerr.text);
    size_t n = json_object_size(st->header);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    if (!st->tensors) return kn_fail(err, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(st->header, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (parse_entry(path, key, val, p + 8 + hlen, size - 8 - (size_t)hlen, &st->tensors[st->n], err) != 0) return -1;
        st->n++;
    }
    return 0;
}

kn_safetensors *kn_st_open(const char *path, kn_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { kn_fail(err, "%s: %s", path, strerror(errno)); return NULL; }
    struct stat sb;
    if (fstat(fd, &sb) != 0) { kn_fail(err, "%s: %s", path, strerror(errno)); close(fd); return NULL; }
    size_t size = (size_t)sb.st_size;
    if (size < 8) { kn_fail(err, "%s: %zu bytes is too short for a safetensors file", path, size); close(fd); return NULL; }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) { kn_fail(err, "%s: mmap: %s", path, strerror(errno)); return NULL; }
    kn_safetensors *st = calloc(1, sizeof *st);
    if (!st) { munmap(map, size); kn_fail(err, "out of memory"); return NULL; }
    st->map = map;
    st->map_size = size;
    st->owns_map = 1;
    if (parse(st, path, err) != 0) {
        kn_st_close(st);
        return NULL;
    }
    return st;
}

kn_safetensors *kn_st_from_buffer(const void *buf, size_t size, const char *name, kn_error *err)
{
    kn_safetensors *st = calloc(1, sizeof *st);
    if (!st) { kn_fail(err, "out of memory"); return NULL; }
    st->map = (void *)buf;
    st->map_size = size;
    if (parse(st, name, err) != 0) {
        kn_st_close(st);
        return NULL;
    }
    return st;
}

size_t kn_st_count(const kn_safetensors *st) { return st->n; }
const kn_tensor *kn_st_at(const kn_safetensors *st, size_t i) { return i < st->n ? &st->tensors[i] : NULL; }

const kn_tensor *kn_st_find(const kn_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const float *kn_st_f32(const kn_safetensors *st, const char *name, int ndim, const int64_t *shape, kn_error *err)
{
    const kn_tensor *t = kn_st_find(st, name);
    if (!t) { kn_fail(err, "weights: tensor '%s' is missing", name); return NULL; }
    if (t->dtype != KN_F32) { kn_fail(err, "weights: tensor '%s' is %s, expected F32", name, kn_dtype_name(t->dtype)); return NULL; }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) { kn_fail(err, "weights: tensor '%s' has an unexpected shape", name); return NULL; }
    return t->data;
}

const char *kn_st_metadata(const kn_safetensors *st, const char *key)
{
    json_t *md = json_object_get(st->header, "__metadata__");
    json_t *v = md ? json_object_get(md, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int write_all(FILE *f, const void *buf, size_t n) { return fwrite(buf, 1, n, f) == n ? 0 : -1; }

int kn_st_write(const char *path, const kn_tensor *tensors, size_t n, const char *const *metadata, kn_error *err)
{
    json_t *hdr = json_object();
    uint64_t off = 0;
    if (metadata) {
        json_t *md = json_object();
        for (size_t i = 0; metadata[i] && metadata[i + 1]; i += 2) json_object_set_new(md, metadata[i], json_string(metadata[i + 1]));
        json_object_set_new(hdr, "__metadata__", md);
    }
    for (size_t i = 0; i < n; i++) {
        const kn_tensor *t = &tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *e = json_object();
        json_object_set_new(e, "dtype", json_string(kn_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", json_pack("[II]", (json_int_t)off, (json_int_t)(off + t->nbytes)));
        json_object_set_new(hdr, t->name, e);
        off += t->nbytes;
    }
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(hdr);
    if (!text) return kn_fail(err, "%s: could not serialise the header", path);
    size_t tlen = strlen(text), padded = (tlen + 7) & ~(size_t)7;

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { free(text); return kn_fail(err, "%s: %s", tmp, strerror(errno)); }
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int bad = write_all(f, lenbuf, 8) || write_all(f, text, tlen) || write_all(f, "        ", padded - tlen);
    free(text);
    for (size_t i = 0; !bad && i < n; i++) bad = write_all(f, tensors[i].data, tensors[i].nbytes);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return kn_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    return 0;
}
