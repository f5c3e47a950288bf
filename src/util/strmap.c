/* strmap.c - open addressing with linear probing; FNV-1a-style 64-bit hashing. */
#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

void kn_strmap_init(kn_strmap *m)
{
    memset(m, 0, sizeof *m);
}

void kn_strmap_free(kn_strmap *m)
{
    free(m->slots);
    free(m->keys);
    free(m->key_at);
    free(m->hashes);
    memset(m, 0, sizeof *m);
}

const char *kn_strmap_key(const kn_strmap *m, size_t id, size_t *len)
{
    *len = m->key_at[id + 1] - m->key_at[id];
    return m->keys + m->key_at[id];
}

static int key_equals(const kn_strmap *m, size_t id, const char *key, size_t len)
{
    return m->key_at[id + 1] - m->key_at[id] == len && memcmp(m->keys + m->key_at[id], key, len) == 0;
}

long kn_strmap_find(const kn_strmap *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    uint64_t h = hash_bytes(key, len);
    for (size_t s = h & (m->cap - 1);; s = (s + 1) & (m->cap - 1)) {
        uint32_t v = m->slots[s];
        if (!v) return -1;
        if (m->hashes[v - 1] == h && key_equals(m, v - 1, key, len)) return (long)(v - 1);
    }
}

static int grow_slots(kn_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t id = 0; id < m->count; id++) {
        size_t s = m->hashes[id] & (cap - 1);
        while (slots[s]) s = (s + 1) & (cap - 1);
        slots[s] = (uint32_t)id + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

long kn_strmap_intern(kn_strmap *m, const char *key, size_t len, int *added)
{
    if (added) *added = 0;
    long found = kn_strmap_find(m, key, len);
    if (found >= 0) return found;
    if (m->count >= 0x7fffffffu) return -1;
    if ((m->count + 1) * 2 > m->cap && grow_slots(m) != 0) return -1; /* load <= 1/2 */
    if (m->count + 2 > m->at_cap) {
        size_t cap = m->at_cap ? m->at_cap * 2 : 1024;
        size_t *at = realloc(m->key_at, cap * sizeof *at);
        if (!at) return -1;
        m->key_at = at;
        uint64_t *hs = realloc(m->hashes, cap * sizeof *hs);
        if (!hs) return -1;
        m->hashes = hs;
        m->at_cap = cap;
    }
    if (m->keys_len + len > m->keys_cap) {
        size_t cap = m->keys_cap ? m->keys_cap : 4096;
        while (cap < m->keys_len + len) cap *= 2;
        char *keys = realloc(m->keys, cap);
        if (!keys) return -1;
        m->keys = keys;
        m->keys_cap = cap;
    }
    uint64_t h = hash_bytes(key, len);
    size_t id = m->count;
    if (id == 0) m->key_at[0] = 0;
    memcpy(m->keys + m->keys_len, key, len);
    m->keys_len += len;
    m->key_at[id + 1] = m->keys_len;
    m->hashes[id] = h;
    size_t s = h & (m->cap - 1);
    while (m->slots[s]) s = (s + 1) & (m->cap - 1);
    m->slots[s] = (uint32_t)id + 1;
    m->count++;
    if (added) *added = 1;
    return (long)id;
}
