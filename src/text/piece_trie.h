/* piece_trie.h - a trie from symbol strings to vocabulary piece ids, for
 * SentencePiece-style "all pieces that start here" lookups.
 *
 * Symbols are small integers (UTF-16 units for USE, code points or bytes for
 * other tokenizers), below 2^21. Nodes are ints; the root is node 0. Child
 * lookup is one probe into an open-addressing hash table keyed by (node, symbol),
 * so walking a piece of k symbols costs k probes. */
#ifndef KN_PIECE_TRIE_H
#define KN_PIECE_TRIE_H

#include <stddef.h>
#include <stdint.h>

#define KN_PIECE_TRIE_MAX_SYMBOL 0x1FFFFFu

typedef struct kn_piece_trie {
    int32_t *piece_at;   /* per node: id of the piece ending here, or -1 */
    size_t n_nodes, node_cap;
    uint64_t *edge_key;  /* (parent << 21 | symbol), or KN_PIECE_TRIE_EMPTY */
    int32_t *edge_child;
    size_t edge_mask;    /* table size - 1 (a power of two) */
    size_t n_edges;
} kn_piece_trie;

#define KN_PIECE_TRIE_EMPTY UINT64_MAX

/* Returns 0, or -1 when out of memory. */
int kn_piece_trie_init(kn_piece_trie *trie);
void kn_piece_trie_free(kn_piece_trie *trie);

/* Adds the piece sym[0..n) (n > 0) with this id; inserting the same symbols
 * again overwrites the id. Returns 0, or -1 when out of memory or a symbol
 * exceeds KN_PIECE_TRIE_MAX_SYMBOL. */
int kn_piece_trie_insert(kn_piece_trie *trie, const uint32_t *sym, size_t n, int32_t id);

static inline uint64_t kn_piece_trie_hash(uint64_t key)
{
    return key * 0x9E3779B97F4A7C15ULL;   /* Fibonacci hashing; use the high bits */
}

/* Child of node along symbol, or -1. */
static inline int32_t kn_piece_trie_child(const kn_piece_trie *trie, int32_t node, uint32_t symbol)
{
    uint64_t key = ((uint64_t)node << 21) | symbol;
    size_t i = (size_t)(kn_piece_trie_hash(key) >> 32) & trie->edge_mask;
    for (;;) {
        uint64_t k = trie->edge_key[i];
        if (k == key) return trie->edge_child[i];
        if (k == KN_PIECE_TRIE_EMPTY) return -1;
        i = (i + 1) & trie->edge_mask;
    }
}

/* Id of the piece that ends at node, or -1 if node is only a prefix. */
static inline int32_t kn_piece_trie_piece(const kn_piece_trie *trie, int32_t node)
{
    return trie->piece_at[node];
}

#endif
