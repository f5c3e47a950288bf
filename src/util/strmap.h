/* strmap.h - a hash map from byte strings to dense ids 0, 1, 2, ... in insertion order:
 * the vocabularies of the lexical methods. Keys are copied into the map. */
#ifndef KN_STRMAP_H
#define KN_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct kn_strmap {
    uint32_t *slots;   /* id + 1 per slot, 0 = empty */
    size_t cap;        /* power of two */
    size_t count;
    char *keys;        /* all keys, back to back */
    size_t keys_len, keys_cap;
    size_t *key_at;    /* [count + 1]: key i is keys[key_at[i] .. key_at[i+1]) */
    uint64_t *hashes;  /* [count] */
    size_t at_cap;
} kn_strmap;

void kn_strmap_init(kn_strmap *m);
/* The id of key, or -1. */
long kn_strmap_find(const kn_strmap *m, const char *key, size_t len);
/* The id of key, adding it with the next id when absent (*added = 1 then; may be NULL).
 * Returns -1 when out of memory or the map is full (2^31 keys). */
long kn_strmap_intern(kn_strmap *m, const char *key, size_t len, int *added);
/* Key i (not NUL-terminated) and its length. */
const char *kn_strmap_key(const kn_strmap *m, size_t id, size_t *len);
void kn_strmap_free(kn_strmap *m);

#endif
