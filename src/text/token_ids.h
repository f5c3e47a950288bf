/* token_ids.h - small steps shared by the tokenizers' back-tracking. */
#ifndef KN_TOKEN_IDS_H
#define KN_TOKEN_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Back-tracking a lattice yields ids last to first: reverse them in place, then merge
 * runs of the unknown id into one (as both SentencePiece and the USE tokenizer do).
 * Returns the new count. */
static inline size_t kn_ids_reverse_merge_unk(int32_t *ids, size_t n, int32_t unk)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        int32_t t = ids[i];
        ids[i] = ids[j - 1];
        ids[j - 1] = t;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!(ids[i] == unk && kept > 0 && ids[kept - 1] == unk)) ids[kept++] = ids[i];
    return kept;
}

#endif
