/* use_tokenizer.c - USE lite tokenization: NFKC, "▁" for spaces, then a Viterbi
 * pass over UTF-16 code units that copies the JavaScript original exactly.
 *
 * The JS (tokenizer/index.js, trie.js) differs from SentencePiece proper, and
 * every difference changes ids, so each one is reproduced on purpose:
 *  - The text is split into UTF-16 units (TypeScript compiled to ES5 indexes the
 *    string), so a character outside the BMP is two symbols.
 *  - Where no piece starts, a pseudo-piece of one unit with id 0, score 0 is used.
 *  - best[] starts at 0 and "0" means unset: an arc wins if best[end] is exactly 0
 *    or its score is >= best[end] (so ties go to the later arc, and a position
 *    whose best path really sums to 0 can be overwritten by anything).
 *  - A position no arc reaches keeps best 0 (as if free) and word 0.
 *  - The backward pass steps back by the length of the chosen id's vocabulary
 *    text, and runs of id 0 are merged into one.
 *  - A JSON null score acts as 0 (JS `null + x`); for a piece listed twice the
 *    later entry wins (the vocab has "”5" three times, ids 230, 238, 4464). */
#include "text/use_tokenizer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#include "text/nfkc.h"
#include "text/piece_trie.h"
#include "text/token_ids.h"
#include "text/utf8.h"

#define SPACE_MARK 0x2581   /* "▁" LOWER ONE EIGHTH BLOCK: SentencePiece's space */

struct kn_use_tokenizer {
    size_t n_pieces;
    double *score;      /* per id */
    uint32_t *length;   /* per id: UTF-16 length of its text, the backward step */
    kn_piece_trie trie; /* UTF-16 units -> id, for ids >= KN_USE_RESERVED_PIECES */
};

/* ---- loading ---- */

#define MAX_PIECE_BYTES 4096

/* Reads entry i = [piece, score]; stores its length and, unless reserved, adds it to the trie. */
static int add_piece(kn_use_tokenizer *tok, size_t i, json_t *entry, const char *path, kn_error *err)
{
    json_t *piece = json_array_get(entry, 0), *score = json_array_get(entry, 1);
    if (!json_is_array(entry) || !json_is_string(piece) || !score ||
        !(json_is_number(score) || json_is_null(score)))
        return kn_fail(err, "%s: entry %zu is not [piece, score]", path, i);

    const char *utf8 = json_string_value(piece);
    size_t len = json_string_length(piece);
    if (len > MAX_PIECE_BYTES || kn_utf8_first_invalid(utf8, len) != len)
        return kn_fail(err, "%s: entry %zu has an invalid or over-long piece", path, i);

    uint16_t units[MAX_PIECE_BYTES];
    uint32_t symbols[MAX_PIECE_BYTES];
    size_t n = kn_utf8_to_utf16(utf8, len, units);
    for (size_t k = 0; k < n; k++) symbols[k] = units[k];
    tok->score[i] = json_is_null(score) ? 0.0 : json_number_value(score);
    tok->length[i] = (uint32_t)n;

    if (i < KN_USE_RESERVED_PIECES || n == 0) return 0; /* JS never inserts these */
    if (kn_piece_trie_insert(&tok->trie, symbols, n, (int32_t)i) != 0)
        return kn_fail(err, "%s: out of memory adding piece %zu", path, i);
    return 0;
}

kn_use_tokenizer *kn_use_tokenizer_load(const char *path, kn_error *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        kn_fail(err, "%s:%d:%d: cannot read vocabulary: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    kn_use_tokenizer *tok = calloc(1, sizeof *tok);
    size_t n = json_is_array(root) ? json_array_size(root) : 0;
    if (!tok) {
        kn_fail(err, "out of memory loading %s", path);
        goto fail;
    }
    if (n == 0 || n > INT32_MAX) {
        kn_fail(err, "%s: expected a non-empty JSON array of [piece, score]", path);
        goto fail;
    }
    tok->n_pieces = n;
    tok->score = malloc(n * sizeof *tok->score);
    tok->length = malloc(n * sizeof *tok->length);
    if (!tok->score || !tok->length || kn_piece_trie_init(&tok->trie) != 0) {
        kn_fail(err, "out of memory loading %s", path);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (add_piece(tok, i, json_array_get(root, i), path, err) != 0) goto fail;
    /* Unknown characters step back by the length of piece 0; JS would loop forever on 0. */
    if (tok->length[0] == 0) {
        kn_fail(err, "%s: piece 0 (the unknown piece) must not be empty", path);
        goto fail;
    }
    json_decref(root);
    return tok;
fail:
    json_decref(root);
    kn_use_tokenizer_free(tok);
    return NULL;
}

size_t kn_use_tokenizer_vocab_size(const kn_use_tokenizer *tok)
{
    return tok->n_pieces;
}

void kn_use_tokenizer_free(kn_use_tokenizer *tok)
{
    if (!tok) return;
    free(tok->score);
    free(tok->length);
    if (tok->trie.piece_at) kn_piece_trie_free(&tok->trie);
    free(tok);
}

/* ---- encoding ---- */

/* JS processInput after NFKC: "▁" in front, every U+0020 (only that) becomes "▁".
 * Returns the number of UTF-16 units written to out (room for 1 + 2 * n needed). */
static size_t mark_spaces_utf16(const uint32_t *cps, size_t n, uint16_t *out)
{
    size_t k = 0;
    out[k++] = SPACE_MARK;
    for (size_t i = 0; i < n; i++) k += kn_utf16_put(out + k, cps[i] == ' ' ? SPACE_MARK : cps[i]);
    return k;
}

/* One lattice arc start -> end. Arcs into the same end arrive in ascending start
 * order, the order the JS visits them (integer object keys iterate ascending). */
static inline void relax(double *best, int32_t *word, size_t start, size_t end, double score, int32_t id)
{
    double s = score + best[start];
    if (best[end] == 0 || s >= best[end]) {
        best[end] = s;
        word[end] = id;
    }
}

/* Forward pass: word[end] = id of the best piece ending at end (units[0..n)). */
static void viterbi(const kn_use_tokenizer *tok, const uint16_t *units, size_t n, double *best, int32_t *word)
{
    for (size_t i = 0; i <= n; i++) {
        best[i] = 0;
        word[i] = 0;
    }
    for (size_t start = 0; start < n; start++) {
        bool matched = false;
        int32_t node = 0;
        for (size_t end = start + 1; end <= n; end++) {
            node = kn_piece_trie_child(&tok->trie, node, units[end - 1]);
            if (node < 0) break;
            int32_t id = kn_piece_trie_piece(&tok->trie, node);
            if (id >= 0) {
                relax(best, word, start, end, tok->score[id], id);
                matched = true;
            }
        }
        if (!matched) relax(best, word, start, start + 1, 0.0, 0);
    }
}

/* Backward pass from the end, then merge runs of id 0; writes ids in text order. */
static size_t backtrack(const kn_use_tokenizer *tok, const int32_t *word, size_t n, int32_t *ids)
{
    size_t n_ids = 0;
    for (size_t at = n; at > 0;) {
        int32_t id = word[at];
        ids[n_ids++] = id;
        at = tok->length[id] >= at ? 0 : at - tok->length[id];
    }
    return kn_ids_reverse_merge_unk(ids, n_ids, 0);
}

int kn_use_tokenizer_encode(const kn_use_tokenizer *tok, const char *text, size_t len,
                            int32_t **ids, size_t *n_ids, kn_error *err)
{
    *ids = NULL;
    *n_ids = 0;
    size_t bad = kn_utf8_first_invalid(text, len);
    if (bad < len) return kn_fail(err, "invalid UTF-8 at byte offset %zu", bad);

    uint32_t *cps;
    size_t n_cps;
    if (kn_nfkc(text, len, &cps, &n_cps, err) != 0) return -1;
    if (n_cps == 0) return 0;  /* JS: empty after NFKC -> no "▁", no tokens */
    if (n_cps > (SIZE_MAX / 8 - 1) / 2) {
        free(cps);
        return kn_fail(err, "text too long to tokenize");
    }

    size_t cap = 1 + 2 * n_cps;   /* every code point may need two UTF-16 units */
    uint16_t *units = malloc(cap * sizeof *units);
    double *best = malloc((cap + 1) * sizeof *best);
    int32_t *word = malloc((cap + 1) * sizeof *word);
    int32_t *out = malloc(cap * sizeof *out);
    int rc = 0;
    if (!units || !best || !word || !out) {
        rc = kn_fail(err, "out of memory tokenizing %zu bytes of text", len);
        free(out);
        out = NULL;
    } else {
        size_t n = mark_spaces_utf16(cps, n_cps, units);
        viterbi(tok, units, n, best, word);
        *n_ids = backtrack(tok, word, n, out);
        *ids = out;
    }
    free(cps);
    free(units);
    free(best);
    free(word);
    return rc;
}
