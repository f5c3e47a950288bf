/* hf_unigram.c - XLM-R style unigram tokenization as SentencePiece does it,
 * configured from a Hugging Face tokenizer.json.
 *
 * A tokenizer.json spells SentencePiece's normalizer as a chain of HF steps.
 * The steps are read only to recover spm's settings; the text is then
 * processed the spm way, because that is what the model was trained on and
 * where the HF steps differ in corner cases:
 *  - Precompiled: spm takes the longest rule at each byte position; HF applies
 *    rules per grapheme cluster. Here: spm's way (precompiled_charsmap.c).
 *  - Strip / Replace " {2,}" / WhitespaceSplit mean remove_extra_whitespaces:
 *    spm drops leading spaces, runs of spaces and trailing spaces judging only
 *    U+0020 in the *normalized* output (so U+0085, which the nmt_nfkc rules keep,
 *    is not a space, though Unicode and HF call it whitespace), and an empty or
 *    all-space normalized text gives no tokens at all.
 *  - Metaspace prepend_scheme / add_prefix_space means add_dummy_prefix: one
 *    "▁" in front of the whole text, and every U+0020 becomes "▁". HF splits on
 *    "▁" and runs the model per word; spm runs one Viterbi over the whole text.
 *  - The vocab lists <s>, <pad>, </s>, <unk>, <mask> as ordinary entries (score
 *    0); spm never matches control or unknown pieces in text, so special added
 *    tokens and unk_id are left out of the lattice and out of the minimum score.
 *  - Viterbi follows spm's optimized encoder exactly, ties and rounding included
 *    (see viterbi()); runs of unknown characters become one unk id. */
#include "text/hf_unigram.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/piece_trie.h"
#include "text/nfkc.h"
#include "text/token_ids.h"
#include "text/precompiled_charsmap.h"
#include "text/utf8.h"

#define SPACE_MARK "\xE2\x96\x81"   /* U+2581, SentencePiece's visible space */
#define UNK_PENALTY 10.0f           /* spm: unknown characters score min - 10 */
#define WHERE_MAX 160

struct kn_hf_unigram {
    kn_charsmap charsmap;
    bool has_charsmap;
    bool nfkc; /* an NFKC normalizer step: applied to the whole text first */
    bool add_dummy_prefix;
    bool remove_extra_whitespaces;
    int n_metaspace;             /* while loading: Metaspace steps seen */
    size_t n_pieces;
    float *score;                /* per id, as spm stores it (float) */
    bool *matchable;             /* per id: may be matched in text */
    kn_piece_trie trie;          /* code points of every piece -> id */
    int32_t unk_id;
    float unk_score;
};

/* ---- reading the pipeline ---- */

static const char *type_of(const json_t *node)
{
    return json_string_value(json_object_get(node, "type"));
}

static int load_normalizer(kn_hf_unigram *u, const json_t *node, const char *where,
                           const char *path, kn_error *err)
{
    if (!node || json_is_null(node)) return 0;
    const char *type = type_of(node);
    if (!type) return kn_fail(err, "%s: %s is not an object with a \"type\"", path, where);

    if (strcmp(type, "Sequence") == 0) {
        const json_t *steps = json_object_get(node, "normalizers");
        if (!json_is_array(steps)) return kn_fail(err, "%s: %s.normalizers is not a list", path, where);
        for (size_t i = 0; i < json_array_size(steps); i++) {
            char sub[WHERE_MAX];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", where, i);
            if (load_normalizer(u, json_array_get(steps, i), sub, path, err) != 0) return -1;
        }
        return 0;
    }
    if (strcmp(type, "Precompiled") == 0) {
        const json_t *b64 = json_object_get(node, "precompiled_charsmap");
        if (u->has_charsmap) return kn_fail(err, "%s: %s is a second Precompiled normalizer", path, where);
        if (!b64 || json_is_null(b64) || (json_is_string(b64) && json_string_length(b64) == 0))
            return 0;   /* spm's "identity" rules: no charsmap */
        if (!json_is_string(b64))
            return kn_fail(err, "%s: %s.precompiled_charsmap is not a base64 string", path, where);
        char what[WHERE_MAX + 512];
        snprintf(what, sizeof what, "%s: %s.precompiled_charsmap", path, where);
        if (kn_charsmap_parse_base64(&u->charsmap, json_string_value(b64), json_string_length(b64),
                                     what, err) != 0)
            return -1;
        u->has_charsmap = true;
        return 0;
    }
    if (strcmp(type, "NFKC") == 0) { /* Unicode NFKC instead of (or before) a charsmap */
        u->nfkc = true;
        return 0;
    }
    if (strcmp(type, "Strip") == 0) {
        u->remove_extra_whitespaces = true;
        return 0;
    }
    if (strcmp(type, "Replace") == 0) {
        const char *regex = json_string_value(json_object_get(json_object_get(node, "pattern"), "Regex"));
        const char *content = json_string_value(json_object_get(node, "content"));
        if (!regex || strcmp(regex, " {2,}") != 0 || !content ||
            (strcmp(content, " ") != 0 && strcmp(content, SPACE_MARK) != 0))
            return kn_fail(err, "%s: %s: only the Replace of the regex \" {2,}\" by \" \" or \"▁\" "
                           "(SentencePiece's space collapsing) is supported", path, where);
        u->remove_extra_whitespaces = true;
        return 0;
    }
    return kn_fail(err, "%s: %s: unknown normalizer type \"%s\" (supported: Precompiled, NFKC, Strip, "
                   "Replace \" {2,}\", Sequence)", path, where, type);
}

static int load_metaspace(kn_hf_unigram *u, const json_t *node, const char *where,
                          const char *path, kn_error *err)
{
    const char *rep = json_string_value(json_object_get(node, "replacement"));
    if (!rep || strcmp(rep, SPACE_MARK) != 0)
        return kn_fail(err, "%s: %s.replacement must be \"▁\" (U+2581)", path, where);
    const json_t *scheme = json_object_get(node, "prepend_scheme");
    const json_t *prefix = json_object_get(node, "add_prefix_space");
    if (json_is_string(scheme)) {
        const char *s = json_string_value(scheme);
        /* "first" prepends to the first piece of the input only: for one text
         * without added tokens that is the same as "always". */
        if (strcmp(s, "always") == 0 || strcmp(s, "first") == 0) u->add_dummy_prefix = true;
        else if (strcmp(s, "never") == 0) u->add_dummy_prefix = false;
        else return kn_fail(err, "%s: %s.prepend_scheme \"%s\" is not always, first or never", path, where, s);
    } else if (json_is_boolean(prefix)) {
        u->add_dummy_prefix = json_is_true(prefix);
    } else if (scheme || prefix) {
        return kn_fail(err, "%s: %s: prepend_scheme or add_prefix_space has the wrong type", path, where);
    } else {
        u->add_dummy_prefix = true;   /* HF's default */
    }
    u->n_metaspace++;
    return 0;
}

static int load_pre_tokenizer(kn_hf_unigram *u, const json_t *node, const char *where,
                              const char *path, kn_error *err)
{
    const char *type = type_of(node);
    if (!type) return kn_fail(err, "%s: %s is missing or has no \"type\" (a Metaspace is needed)", path, where);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *steps = json_object_get(node, "pretokenizers");
        if (!json_is_array(steps)) return kn_fail(err, "%s: %s.pretokenizers is not a list", path, where);
        for (size_t i = 0; i < json_array_size(steps); i++) {
            char sub[WHERE_MAX];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", where, i);
            if (load_pre_tokenizer(u, json_array_get(steps, i), sub, path, err) != 0) return -1;
        }
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) return load_metaspace(u, node, where, path, err);
    if (strcmp(type, "WhitespaceSplit") == 0) {
        u->remove_extra_whitespaces = true;
        return 0;
    }
    return kn_fail(err, "%s: %s: unknown pre_tokenizer type \"%s\" (supported: Metaspace, "
                   "WhitespaceSplit, Sequence)", path, where, type);
}

/* ---- reading the vocabulary ---- */

/* Adds vocab entry i = [piece, score]; syms is scratch room for its code points. */
static int add_piece(kn_hf_unigram *u, size_t i, const json_t *entry, uint32_t **syms, size_t *cap,
                     const char *path, kn_error *err)
{
    const json_t *piece = json_array_get(entry, 0), *score = json_array_get(entry, 1);
    if (!json_is_array(entry) || json_array_size(entry) != 2 || !json_is_string(piece) || !json_is_number(score))
        return kn_fail(err, "%s: model.vocab[%zu] is not [piece, score]", path, i);
    const char *text = json_string_value(piece);
    size_t len = json_string_length(piece);
    if (kn_utf8_first_invalid(text, len) != len)
        return kn_fail(err, "%s: model.vocab[%zu] is not valid UTF-8", path, i);
    u->score[i] = (float)json_number_value(score);
    u->matchable[i] = true;
    if (len == 0) {
        u->matchable[i] = false;   /* an empty piece would match nothing */
        return 0;
    }
    if (len > *cap) {
        uint32_t *grown = realloc(*syms, len * sizeof *grown);
        if (!grown) return kn_fail(err, "%s: out of memory reading model.vocab", path);
        *syms = grown;
        *cap = len;
    }
    size_t n = 0;
    for (size_t at = 0; at < len; n++) at += kn_utf8_decode(text + at, len - at, *syms + n);
    /* A piece listed twice: the later entry wins, as in HF's token-to-id map. */
    if (kn_piece_trie_insert(&u->trie, *syms, n, (int32_t)i) != 0)
        return kn_fail(err, "%s: out of memory reading model.vocab", path);
    return 0;
}

static int load_model(kn_hf_unigram *u, const json_t *model, const char *path, kn_error *err)
{
    if (!json_is_object(model)) return kn_fail(err, "%s: \"model\" is missing or not an object", path);
    const char *type = type_of(model);
    if (type && strcmp(type, "Unigram") != 0)
        return kn_fail(err, "%s: model.type is \"%s\", expected \"Unigram\"", path, type);
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return kn_fail(err, "%s: model.byte_fallback is true; byte fallback is not supported", path);

    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_array(vocab)) return kn_fail(err, "%s: model.vocab is not a list of [piece, score]", path);
    size_t n = json_array_size(vocab);
    if (n == 0 || n > INT32_MAX) return kn_fail(err, "%s: model.vocab has %zu entries", path, n);

    const json_t *unk = json_object_get(model, "unk_id");
    if (!json_is_integer(unk))
        return kn_fail(err, "%s: model.unk_id is missing or not an integer; unknown characters need an id", path);
    json_int_t unk_id = json_integer_value(unk);
    if (unk_id < 0 || (size_t)unk_id >= n)
        return kn_fail(err, "%s: model.unk_id %lld is outside the vocab of %zu entries", path, (long long)unk_id, n);
    u->unk_id = (int32_t)unk_id;

    u->n_pieces = n;
    u->score = malloc(n * sizeof *u->score);
    u->matchable = malloc(n * sizeof *u->matchable);
    if (!u->score || !u->matchable || kn_piece_trie_init(&u->trie) != 0)
        return kn_fail(err, "%s: out of memory reading model.vocab", path);
    uint32_t *syms = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = add_piece(u, i, json_array_get(vocab, i), &syms, &cap, path, err);
    free(syms);
    return rc;
}

/* Special added tokens (<s>, <pad>, </s>, <unk>, <mask>) are spm's control and
 * unknown pieces: never matched in text. */
static int load_added_tokens(kn_hf_unigram *u, const json_t *added, const char *path, kn_error *err)
{
    if (!added || json_is_null(added)) return 0;
    if (!json_is_array(added)) return kn_fail(err, "%s: added_tokens is not a list", path);
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *tok = json_array_get(added, i);
        const json_t *id = json_object_get(tok, "id");
        const char *content = json_string_value(json_object_get(tok, "content"));
        if (!json_is_integer(id) || !content)
            return kn_fail(err, "%s: added_tokens[%zu] has no integer \"id\" and string \"content\"", path, i);
        if (!json_is_true(json_object_get(tok, "special")))
            return kn_fail(err, "%s: added_tokens[%zu] \"%s\" is not special; non-special added tokens "
                           "are not supported", path, i, content);
        json_int_t v = json_integer_value(id);
        if (v >= 0 && (size_t)v < u->n_pieces) u->matchable[v] = false;
    }
    return 0;
}

kn_hf_unigram *kn_hf_unigram_load(const json_t *root, const char *path, kn_error *err)
{
    kn_hf_unigram *u = calloc(1, sizeof *u);
    if (!u) {
        kn_fail(err, "%s: out of memory", path);
        return NULL;
    }
    if (!json_is_object(root)) {
        kn_fail(err, "%s: not a tokenizer.json object", path);
        goto fail;
    }
    if (load_model(u, json_object_get(root, "model"), path, err) != 0 ||
        load_added_tokens(u, json_object_get(root, "added_tokens"), path, err) != 0 ||
        load_normalizer(u, json_object_get(root, "normalizer"), "normalizer", path, err) != 0 ||
        load_pre_tokenizer(u, json_object_get(root, "pre_tokenizer"), "pre_tokenizer", path, err) != 0)
        goto fail;
    if (u->n_metaspace != 1) {
        kn_fail(err, "%s: pre_tokenizer has %d Metaspace steps, expected exactly one", path, u->n_metaspace);
        goto fail;
    }

    u->matchable[u->unk_id] = false;
    bool any = false;
    float min_score = 0;
    for (size_t i = 0; i < u->n_pieces; i++) {
        if (!u->matchable[i]) continue;
        if (!any || u->score[i] < min_score) min_score = u->score[i];
        any = true;
    }
    if (!any) {
        kn_fail(err, "%s: model.vocab has no pieces besides special tokens and unk", path);
        goto fail;
    }
    u->unk_score = min_score - UNK_PENALTY;
    return u;
fail:
    kn_hf_unigram_free(u);
    return NULL;
}

void kn_hf_unigram_free(kn_hf_unigram *u)
{
    if (!u) return;
    if (u->has_charsmap) kn_charsmap_free(&u->charsmap);
    if (u->trie.piece_at) kn_piece_trie_free(&u->trie);
    free(u->score);
    free(u->matchable);
    free(u);
}

int32_t kn_hf_unigram_token_id(const kn_hf_unigram *u, const char *piece)
{
    size_t len = strlen(piece);
    if (len == 0 || kn_utf8_first_invalid(piece, len) != len) return -1;
    int32_t node = 0;
    for (size_t at = 0; at < len && node >= 0;) {
        uint32_t cp;
        at += kn_utf8_decode(piece + at, len - at, &cp);
        node = kn_piece_trie_child(&u->trie, node, cp);
    }
    return node < 0 ? -1 : kn_piece_trie_piece(&u->trie, node);
}

/* ---- normalization (spm's Normalizer::Normalize) ---- */

typedef struct {
    char *p;
    size_t len, cap;
} byte_buf;

static int buf_reserve(byte_buf *b, size_t more)
{
    if (b->cap - b->len >= more) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    char *grown = realloc(b->p, cap);
    if (!grown) return -1;
    b->p = grown;
    b->cap = cap;
    return 0;
}

/* spm's NormalizePrefix: how many bytes at s the next step consumes and what it
 * writes. The longest charsmap rule wins; otherwise one character is copied.
 * The input is valid UTF-8, but a rule may end inside a character; spm then
 * turns each stray byte into U+FFFD. */
static size_t normalize_prefix(const kn_hf_unigram *u, const char *s, size_t len,
                               const char **rep, size_t *rep_len)
{
    if (u->has_charsmap) {
        size_t used = kn_charsmap_longest(&u->charsmap, s, len, rep, rep_len);
        if (used > 0) return used;
    }
    if (kn_utf8_first_invalid(s, len < 4 ? len : 4) == 0) {
        *rep = "\xEF\xBF\xBD";
        *rep_len = 3;
        return 1;
    }
    uint32_t cp;
    *rep = s;
    *rep_len = kn_utf8_decode(s, len, &cp);
    return *rep_len;
}

static int normalize(const kn_hf_unigram *u, const char *s, size_t len, byte_buf *out)
{
    const char *rep;
    size_t rep_len, used;
    bool collapse = u->remove_extra_whitespaces;
    /* Leading steps that produce exactly one space are dropped (a deleted
     * character, which produces nothing, already stops this). */
    while (collapse && len > 0) {
        used = normalize_prefix(u, s, len, &rep, &rep_len);
        if (!(rep_len == 1 && rep[0] == ' ')) break;
        s += used;
        len -= used;
    }
    if (len == 0) return 0;
    if (u->add_dummy_prefix) {
        if (buf_reserve(out, 3) != 0) return -1;
        memcpy(out->p + out->len, SPACE_MARK, 3);
        out->len += 3;
    }
    bool prev_space = collapse;   /* the dummy prefix counts as a space */
    while (len > 0) {
        used = normalize_prefix(u, s, len, &rep, &rep_len);
        s += used;
        len -= used;
        while (prev_space && rep_len > 0 && rep[0] == ' ') {
            rep++;
            rep_len--;
        }
        if (rep_len > 0) {
            if (buf_reserve(out, 3 * rep_len) != 0) return -1;
            for (size_t k = 0; k < rep_len; k++) {
                if (rep[k] == ' ') {
                    memcpy(out->p + out->len, SPACE_MARK, 3);
                    out->len += 3;
                } else {
                    out->p[out->len++] = rep[k];
                }
            }
            prev_space = rep[rep_len - 1] == ' ';
        }
        if (!collapse) prev_space = false;
    }
    /* Trailing "▁"s go, whether they came from spaces or from a literal U+2581. */
    while (collapse && out->len >= 3 && memcmp(out->p + out->len - 3, SPACE_MARK, 3) == 0) out->len -= 3;
    return 0;
}

/* ---- segmentation (spm's Model::EncodeOptimized) ---- */

#define UNSET SIZE_MAX

typedef struct {
    float score;      /* best total score of a path ending here */
    int32_t id;       /* its last piece */
    size_t start;     /* where that piece starts, or UNSET */
} path_end;

/* best[e] = the best path over cps[0..e). Arcs are tried by ascending start,
 * then ascending length, and only a strictly better score replaces, so ties
 * keep the earliest arc. spm adds a piece score as a double (its score
 * expression is double-typed) and compares that sum with the stored float; the
 * unknown arc is added and compared in float. Both are reproduced. */
static void viterbi(const kn_hf_unigram *u, const uint32_t *cps, size_t n, path_end *best)
{
    for (size_t i = 0; i <= n; i++) best[i] = (path_end){0, -1, UNSET};
    for (size_t s = 0; s < n; s++) {
        float here = best[s].score;
        bool has_single = false;
        int32_t node = 0;
        for (size_t e = s + 1; e <= n; e++) {
            node = kn_piece_trie_child(&u->trie, node, cps[e - 1]);
            if (node < 0) break;
            int32_t id = kn_piece_trie_piece(&u->trie, node);
            if (id < 0 || !u->matchable[id]) continue;
            double cand = (double)u->score[id] + (double)here;
            path_end *t = &best[e];
            if (t->start == UNSET || cand > (double)t->score) *t = (path_end){(float)cand, id, s};
            if (e == s + 1) has_single = true;
        }
        if (!has_single) {
            float cand = u->unk_score + here;
            path_end *t = &best[s + 1];
            if (t->start == UNSET || cand > t->score) *t = (path_end){cand, u->unk_id, s};
        }
    }
}

/* Walks back from the end; writes ids in text order with runs of unk merged. */
static size_t backtrack(const kn_hf_unigram *u, const path_end *best, size_t n, int32_t *ids)
{
    size_t k = 0;
    for (size_t e = n; e > 0; e = best[e].start) ids[k++] = best[e].id;
    return kn_ids_reverse_merge_unk(ids, k, u->unk_id);
}

int kn_hf_unigram_encode(const kn_hf_unigram *u, const char *text, size_t len,
                         int32_t **ids, size_t *n, kn_error *err)
{
    *ids = NULL;
    *n = 0;
    size_t bad = kn_utf8_first_invalid(text, len);
    if (bad < len) return kn_fail(err, "invalid UTF-8 at byte offset %zu", bad);

    char *nfkc_text = NULL;
    if (u->nfkc) {
        uint32_t *nf = NULL;
        size_t n_nf = 0;
        if (kn_nfkc(text, len, &nf, &n_nf, err) != 0) return -1;
        nfkc_text = malloc(n_nf * 4 + 1);
        if (!nfkc_text) { free(nf); return kn_fail(err, "out of memory normalizing %zu bytes of text", len); }
        size_t w = 0;
        for (size_t i = 0; i < n_nf; i++) w += (size_t)utf8proc_encode_char((utf8proc_int32_t)nf[i], (utf8proc_uint8_t *)nfkc_text + w);
        free(nf);
        text = nfkc_text;
        len = w;
    }
    byte_buf norm = {0};
    int nrc = normalize(u, text, len, &norm);
    free(nfkc_text);
    if (nrc != 0) {
        free(norm.p);
        return kn_fail(err, "out of memory normalizing %zu bytes of text", len);
    }
    if (norm.len == 0) {
        free(norm.p);
        return 0;
    }
    uint32_t *cps = malloc(norm.len * sizeof *cps);
    path_end *best = malloc((norm.len + 1) * sizeof *best);
    int32_t *out = malloc(norm.len * sizeof *out);
    int rc = 0;
    if (!cps || !best || !out) {
        rc = kn_fail(err, "out of memory tokenizing %zu bytes of text", len);
        free(out);
    } else {
        size_t n_cps = 0;
        for (size_t at = 0; at < norm.len; n_cps++) at += kn_utf8_decode(norm.p + at, norm.len - at, cps + n_cps);
        viterbi(u, cps, n_cps, best);
        *n = backtrack(u, best, n_cps, out);
        *ids = out;
    }
    free(norm.p);
    free(cps);
    free(best);
    return rc;
}
