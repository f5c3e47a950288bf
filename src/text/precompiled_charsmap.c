/* precompiled_charsmap.c - reading and querying SentencePiece's compiled
 * normalization rules (see precompiled_charsmap.h for the layout).
 *
 * A darts-clone unit is one u32: bits 0-7 the label (the byte leading to it),
 * bit 8 "has a leaf" (the node ends a key), bit 9 selects an offset shift of
 * 8, bits 10-30 the offset to the children, bit 31 marks a value unit whose
 * low 31 bits are the value (here: a byte offset into the strings). */
#include "text/precompiled_charsmap.h"

#include <stdlib.h>
#include <string.h>

#include "text/utf8.h"

static inline int unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
/* A value unit has bit 31 set, so its label never equals a byte. */
static inline uint32_t unit_label(uint32_t u) { return u & (0x80000000u | 0xFFu); }
static inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

static uint32_t read_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void kn_charsmap_free(kn_charsmap *map)
{
    free(map->units);
    free(map->strings);
    *map = (kn_charsmap){0};
}

/* Every node that ends a key must point at a value unit whose string lies
 * inside the strings area and is NUL-terminated there. */
static int check_leaves(const kn_charsmap *map, const char *where, kn_error *err)
{
    const char *last_nul = map->strings_len ? memrchr(map->strings, '\0', map->strings_len) : NULL;
    size_t limit = last_nul ? (size_t)(last_nul - map->strings) : 0; /* values must be <= this */
    for (size_t i = 0; i < map->n_units; i++) {
        uint32_t u = map->units[i];
        if ((u >> 31) || !unit_has_leaf(u)) continue;
        size_t j = i ^ unit_offset(u);
        if (j >= map->n_units || !(map->units[j] >> 31))
            return kn_fail(err, "%s: trie unit %zu points at a missing value (unit %zu of %zu)",
                           where, i, j, map->n_units);
        uint32_t v = unit_value(map->units[j]);
        if (!last_nul || v > limit)
            return kn_fail(err, "%s: trie unit %zu points at byte %u, outside the %zu bytes of "
                           "NUL-terminated replacements", where, i, v, map->strings_len);
    }
    return 0;
}

int kn_charsmap_parse(kn_charsmap *map, const unsigned char *blob, size_t len,
                      const char *where, kn_error *err)
{
    *map = (kn_charsmap){0};
    if (len < 4) return kn_fail(err, "%s: %zu bytes, too short for the trie size header", where, len);
    uint32_t trie_bytes = read_le32(blob);
    if (trie_bytes == 0 || trie_bytes % 4 != 0)
        return kn_fail(err, "%s: trie size %u is not a positive multiple of 4", where, trie_bytes);
    if (trie_bytes > len - 4)
        return kn_fail(err, "%s: truncated: the trie needs %u bytes but only %zu follow the header",
                       where, trie_bytes, len - 4);

    map->n_units = trie_bytes / 4;
    map->strings_len = len - 4 - trie_bytes;
    map->units = malloc(map->n_units * sizeof *map->units);
    map->strings = malloc(map->strings_len + 1);
    if (!map->units || !map->strings) {
        kn_charsmap_free(map);
        return kn_fail(err, "%s: out of memory", where);
    }
    for (size_t i = 0; i < map->n_units; i++) map->units[i] = read_le32(blob + 4 + 4 * i);
    memcpy(map->strings, blob + 4 + trie_bytes, map->strings_len);
    map->strings[map->strings_len] = '\0';

    size_t bad = kn_utf8_first_invalid(map->strings, map->strings_len);
    if (bad < map->strings_len) {
        kn_charsmap_free(map);
        return kn_fail(err, "%s: replacement strings are not valid UTF-8 at byte %zu", where, bad);
    }
    if (check_leaves(map, where, err) != 0) {
        kn_charsmap_free(map);
        return -1;
    }
    return 0;
}

/* ---- base64 ---- */

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int kn_charsmap_parse_base64(kn_charsmap *map, const char *b64, size_t len,
                             const char *where, kn_error *err)
{
    *map = (kn_charsmap){0};
    size_t data_len = len;
    while (data_len > 0 && b64[data_len - 1] == '=' && len - data_len < 2) data_len--;
    if (data_len % 4 == 1 || (len != data_len && len % 4 != 0))
        return kn_fail(err, "%s: invalid base64: length %zu is not possible", where, len);

    unsigned char *bytes = malloc(data_len / 4 * 3 + 3);
    if (!bytes) return kn_fail(err, "%s: out of memory", where);
    size_t n = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < data_len; i++) {
        int d = b64_digit((unsigned char)b64[i]);
        if (d < 0) {
            free(bytes);
            return kn_fail(err, "%s: invalid base64 character 0x%02X at offset %zu",
                           where, (unsigned char)b64[i], i);
        }
        acc = acc << 6 | (uint32_t)d;
        if (i % 4 == 3) {
            bytes[n++] = (unsigned char)(acc >> 16);
            bytes[n++] = (unsigned char)(acc >> 8);
            bytes[n++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (data_len % 4 == 2) {
        bytes[n++] = (unsigned char)(acc >> 4);
    } else if (data_len % 4 == 3) {
        bytes[n++] = (unsigned char)(acc >> 10);
        bytes[n++] = (unsigned char)(acc >> 2);
    }
    int rc = kn_charsmap_parse(map, bytes, n, where, err);
    free(bytes);
    return rc;
}

/* ---- lookup ---- */

size_t kn_charsmap_longest(const kn_charsmap *map, const char *s, size_t len,
                           const char **out, size_t *out_len)
{
    /* darts-clone commonPrefixSearch from the root; every index is checked
     * because a well-formed array needs no checks but a file may be anything. */
    size_t best_len = 0;
    uint32_t best_value = 0;
    size_t node = unit_offset(map->units[0]);
    for (size_t i = 0; i < len; i++) {
        unsigned char byte = (unsigned char)s[i];
        node ^= byte;
        if (node >= map->n_units) break;
        uint32_t u = map->units[node];
        if (unit_label(u) != byte) break;
        node ^= unit_offset(u);
        if (unit_has_leaf(u) && node < map->n_units) {
            best_len = i + 1;
            best_value = unit_value(map->units[node]);
        }
    }
    if (best_len == 0) return 0;
    *out = map->strings + best_value;
    *out_len = strlen(*out);
    return best_len;
}
