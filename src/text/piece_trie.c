/* piece_trie.c - trie nodes in arrays, edges in one linear-probing hash table. */
#include "text/piece_trie.h"

#include <stdlib.h>

int kn_piece_trie_init(kn_piece_trie *trie)
{
    *trie = (kn_piece_trie){0};
    trie->node_cap = 1024;
    trie->piece_at = malloc(trie->node_cap * sizeof *trie->piece_at);
    size_t slots = 2048;
    trie->edge_key = malloc(slots * sizeof *trie->edge_key);
    trie->edge_child = malloc(slots * sizeof *trie->edge_child);
    if (!trie->piece_at || !trie->edge_key || !trie->edge_child) {
        kn_piece_trie_free(trie);
        return -1;
    }
    for (size_t i = 0; i < slots; i++) trie->edge_key[i] = KN_PIECE_TRIE_EMPTY;
    trie->edge_mask = slots - 1;
    trie->piece_at[0] = -1;     /* the root: the empty string is never a piece */
    trie->n_nodes = 1;
    return 0;
}

void kn_piece_trie_free(kn_piece_trie *trie)
{
    free(trie->piece_at);
    free(trie->edge_key);
    free(trie->edge_child);
    *trie = (kn_piece_trie){0};
}

static void put_edge(uint64_t *keys, int32_t *children, size_t mask, uint64_t key, int32_t child)
{
    size_t i = (size_t)(kn_piece_trie_hash(key) >> 32) & mask;
    while (keys[i] != KN_PIECE_TRIE_EMPTY) i = (i + 1) & mask;
    keys[i] = key;
    children[i] = child;
}

/* Keeps the table at most half full so probe chains stay short. */
static int grow_edges(kn_piece_trie *trie)
{
    size_t slots = (trie->edge_mask + 1) * 2;
    uint64_t *keys = malloc(slots * sizeof *keys);
    int32_t *children = malloc(slots * sizeof *children);
    if (!keys || !children) {
        free(keys);
        free(children);
        return -1;
    }
    for (size_t i = 0; i < slots; i++) keys[i] = KN_PIECE_TRIE_EMPTY;
    for (size_t i = 0; i <= trie->edge_mask; i++)
        if (trie->edge_key[i] != KN_PIECE_TRIE_EMPTY)
            put_edge(keys, children, slots - 1, trie->edge_key[i], trie->edge_child[i]);
    free(trie->edge_key);
    free(trie->edge_child);
    trie->edge_key = keys;
    trie->edge_child = children;
    trie->edge_mask = slots - 1;
    return 0;
}

static int32_t add_child(kn_piece_trie *trie, int32_t parent, uint32_t symbol)
{
    if (trie->n_nodes == trie->node_cap) {
        if (trie->node_cap > (size_t)INT32_MAX / 2) return -1;
        int32_t *grown = realloc(trie->piece_at, 2 * trie->node_cap * sizeof *grown);
        if (!grown) return -1;
        trie->piece_at = grown;
        trie->node_cap *= 2;
    }
    if (2 * (trie->n_edges + 1) > trie->edge_mask + 1 && grow_edges(trie) != 0) return -1;
    int32_t child = (int32_t)trie->n_nodes++;
    trie->piece_at[child] = -1;
    put_edge(trie->edge_key, trie->edge_child, trie->edge_mask,
             ((uint64_t)parent << 21) | symbol, child);
    trie->n_edges++;
    return child;
}

int kn_piece_trie_insert(kn_piece_trie *trie, const uint32_t *sym, size_t n, int32_t id)
{
    if (n == 0) return -1;
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        if (sym[i] > KN_PIECE_TRIE_MAX_SYMBOL) return -1;
        int32_t next = kn_piece_trie_child(trie, node, sym[i]);
        if (next < 0) next = add_child(trie, node, sym[i]);
        if (next < 0) return -1;
        node = next;
    }
    trie->piece_at[node] = id;
    return 0;
}
