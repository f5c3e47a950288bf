/* wordpiece.c - BERT WordPiece tokenization with the semantics of Hugging Face
 * `tokenizers` (BertNormalizer, BertPreTokenizer, WordPiece), which follow the original
 * BERT BasicTokenizer + WordpieceTokenizer. Where the two differ, `tokenizers` wins:
 *  - clean_text drops NUL, U+FFFD and Cc/Cf/Co characters (its `is_other`), but keeps
 *    unassigned code points (original BERT drops every C* category);
 *  - whitespace is the Unicode White_Space property (Rust's char::is_whitespace), so
 *    U+2028/U+2029 split words;
 *  - the CJK ranges are its own: extension E counts from U+2B920, not U+2B820;
 *  - accents are stripped before lowercasing.
 * Character data (categories, canonical decomposition, lowercase) comes from utf8proc.
 *
 * Every stage is one pass over code points, and WordPiece walks a trie instead of
 * trying every substring, so encoding is linear in the text: finding one piece costs at
 * most as many trie steps as the longest vocabulary piece has characters. */
#include "text/wordpiece.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/piece_trie.h"
#include "text/utf8.h"

/* Trie symbol that stands for continuing_subword_prefix: above every code point, so
 * "##ing" is found both literally ('#','#','i','n','g') and as CONTINUE,'i','n','g'. */
#define CONTINUE_MARK KN_PIECE_TRIE_MAX_SYMBOL

struct kn_wordpiece {
    bool normalize;           /* a BertNormalizer is present */
    bool clean_text, chinese_chars, strip_accents, lowercase;
    bool split_words;         /* a BertPreTokenizer is present */
    bool continue_from_root;  /* continuing_subword_prefix is "": no CONTINUE_MARK */
    int32_t unk_id;
    int32_t empty_piece_id;   /* id of "" if the vocab has it (the trie cannot hold it) */
    size_t max_word_chars;
    kn_piece_trie trie;
};

/* ---- loading ---- */

static const char *type_of(const json_t *obj)
{
    const char *t = json_string_value(json_object_get(obj, "type"));
    return t ? t : "(no type)";
}

/* obj[key] as a bool: absent keeps *out (the default); anything but true/false fails. */
static int read_bool(const json_t *obj, const char *where, const char *key, bool *out,
                     const char *path, kn_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return kn_fail(err, "%s: %s.%s is not true or false", path, where, key);
    *out = json_is_true(v);
    return 0;
}

static int load_normalizer(kn_wordpiece *wp, const json_t *norm, const char *path, kn_error *err)
{
    if (!norm || json_is_null(norm)) return 0;
    if (!json_is_object(norm) || strcmp(type_of(norm), "BertNormalizer") != 0)
        return kn_fail(err, "%s: normalizer type \"%s\" is not supported (expected BertNormalizer or null)",
                       path, json_is_object(norm) ? type_of(norm) : "(not an object)");
    wp->normalize = true;
    wp->clean_text = wp->chinese_chars = wp->lowercase = true;   /* the documented defaults */
    if (read_bool(norm, "normalizer", "clean_text", &wp->clean_text, path, err) != 0 ||
        read_bool(norm, "normalizer", "handle_chinese_chars", &wp->chinese_chars, path, err) != 0 ||
        read_bool(norm, "normalizer", "lowercase", &wp->lowercase, path, err) != 0)
        return -1;
    /* strip_accents null (or absent) follows lowercase, as in the original BERT. */
    wp->strip_accents = wp->lowercase;
    const json_t *strip = json_object_get(norm, "strip_accents");
    if (strip && !json_is_null(strip) &&
        read_bool(norm, "normalizer", "strip_accents", &wp->strip_accents, path, err) != 0)
        return -1;
    return 0;
}

static int load_pre_tokenizer(kn_wordpiece *wp, const json_t *pre, const char *path, kn_error *err)
{
    if (!pre || json_is_null(pre)) return 0;
    if (!json_is_object(pre) || strcmp(type_of(pre), "BertPreTokenizer") != 0)
        return kn_fail(err, "%s: pre_tokenizer type \"%s\" is not supported (expected BertPreTokenizer or null)",
                       path, json_is_object(pre) ? type_of(pre) : "(not an object)");
    wp->split_words = true;
    return 0;
}

/* Decodes valid UTF-8 s[0..len) into cps (room for len); returns the count. */
static size_t decode_all(const char *s, size_t len, uint32_t *cps)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) i += kn_utf8_decode(s + i, len - i, &cps[n++]);
    return n;
}

/* Adds one vocab entry: the whole piece from the root and, when it starts with the
 * continuation prefix (prefix_cps code points, at least one), the rest of it again
 * under CONTINUE_MARK. scratch has room for len code points. */
static int add_piece(kn_wordpiece *wp, const char *piece, size_t len, int32_t id, const char *prefix,
                     size_t prefix_len, size_t prefix_cps, uint32_t *scratch, const char *path, kn_error *err)
{
    if (kn_utf8_first_invalid(piece, len) != len)
        return kn_fail(err, "%s: model.vocab has a piece that is not valid UTF-8 (id %d)", path, id);
    if (len == 0) {
        wp->empty_piece_id = id;
        return 0;
    }
    size_t n = decode_all(piece, len, scratch);
    if (kn_piece_trie_insert(&wp->trie, scratch, n, id) != 0)
        return kn_fail(err, "%s: out of memory adding model.vocab piece %d", path, id);
    if (prefix_len > 0 && len > prefix_len && memcmp(piece, prefix, prefix_len) == 0) {
        uint32_t *rest = scratch + prefix_cps - 1;
        *rest = CONTINUE_MARK;
        if (kn_piece_trie_insert(&wp->trie, rest, n - prefix_cps + 1, id) != 0)
            return kn_fail(err, "%s: out of memory adding model.vocab piece %d", path, id);
    }
    return 0;
}

/* obj[key] as a string, or dflt when absent. */
static int read_string(const json_t *obj, const char *key, const char *dflt, const char **out,
                       size_t *len, const char *path, kn_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = dflt;
        *len = strlen(dflt);
        return 0;
    }
    if (!json_is_string(v)) return kn_fail(err, "%s: model.%s is not a string", path, key);
    *out = json_string_value(v);
    *len = json_string_length(v);
    if (kn_utf8_first_invalid(*out, *len) != *len)
        return kn_fail(err, "%s: model.%s is not valid UTF-8", path, key);
    return 0;
}

static int load_model(kn_wordpiece *wp, const json_t *model, const char *path, kn_error *err)
{
    if (!model || json_is_null(model)) return kn_fail(err, "%s: no \"model\"", path);
    if (!json_is_object(model)) return kn_fail(err, "%s: \"model\" is not an object", path);
    if (strcmp(type_of(model), "WordPiece") != 0)
        return kn_fail(err, "%s: model type \"%s\" is not supported (expected WordPiece)", path, type_of(model));

    const char *unk, *prefix;
    size_t unk_len, prefix_len;
    if (read_string(model, "unk_token", "[UNK]", &unk, &unk_len, path, err) != 0 ||
        read_string(model, "continuing_subword_prefix", "##", &prefix, &prefix_len, path, err) != 0)
        return -1;
    wp->max_word_chars = 100;
    const json_t *max = json_object_get(model, "max_input_chars_per_word");
    if (max) {
        if (!json_is_integer(max) || json_integer_value(max) < 0)
            return kn_fail(err, "%s: model.max_input_chars_per_word is not a non-negative integer", path);
        wp->max_word_chars = (size_t)json_integer_value(max);
    }

    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return kn_fail(err, "%s: model.vocab is not an object of piece -> id", path);
    if (json_object_size(vocab) == 0) return kn_fail(err, "%s: model.vocab is empty", path);

    size_t longest = 0;
    const char *key;
    size_t key_len;
    json_t *value;
    json_object_keylen_foreach((json_t *)vocab, key, key_len, value) {
        if (!json_is_integer(value) || json_integer_value(value) < 0 || json_integer_value(value) > INT32_MAX)
            return kn_fail(err, "%s: model.vocab[\"%.*s\"] is not an integer id in 0..2147483647", path,
                           key_len > 64 ? 64 : (int)key_len, key);
        if (key_len > longest) longest = key_len;
    }
    uint32_t *scratch = malloc((longest + 1) * sizeof *scratch);
    if (!scratch) return kn_fail(err, "%s: out of memory reading model.vocab", path);
    size_t prefix_cps = 0;   /* code points: bytes that do not continue a sequence */
    for (size_t i = 0; i < prefix_len; i++) prefix_cps += ((unsigned char)prefix[i] & 0xC0) != 0x80;
    wp->continue_from_root = prefix_len == 0;
    json_object_keylen_foreach((json_t *)vocab, key, key_len, value) {
        if (add_piece(wp, key, key_len, (int32_t)json_integer_value(value), prefix, prefix_len, prefix_cps,
                      scratch, path, err) != 0) {
            free(scratch);
            return -1;
        }
    }
    free(scratch);

    /* tokenizers only notices a missing unk piece when it needs it; every BERT vocab has one. */
    const json_t *unk_id = json_object_getn(vocab, unk, unk_len);
    if (!unk_id) return kn_fail(err, "%s: model.unk_token \"%s\" is not in model.vocab", path, unk);
    wp->unk_id = (int32_t)json_integer_value(unk_id);
    return 0;
}

kn_wordpiece *kn_wordpiece_load(const json_t *root, const char *path, kn_error *err)
{
    if (!json_is_object(root)) {
        kn_fail(err, "%s: tokenizer.json is not a JSON object", path);
        return NULL;
    }
    kn_wordpiece *wp = calloc(1, sizeof *wp);
    if (!wp || kn_piece_trie_init(&wp->trie) != 0) {
        free(wp);
        kn_fail(err, "%s: out of memory loading the tokenizer", path);
        return NULL;
    }
    wp->empty_piece_id = -1;
    if (load_normalizer(wp, json_object_get(root, "normalizer"), path, err) != 0 ||
        load_pre_tokenizer(wp, json_object_get(root, "pre_tokenizer"), path, err) != 0 ||
        load_model(wp, json_object_get(root, "model"), path, err) != 0) {
        kn_wordpiece_free(wp);
        return NULL;
    }
    return wp;
}

void kn_wordpiece_free(kn_wordpiece *wp)
{
    if (!wp) return;
    if (wp->trie.piece_at) kn_piece_trie_free(&wp->trie);
    free(wp);
}

int32_t kn_wordpiece_token_id(const kn_wordpiece *wp, const char *token)
{
    size_t len = strlen(token);
    if (len == 0) return wp->empty_piece_id;
    if (kn_utf8_first_invalid(token, len) != len) return -1;
    int32_t node = 0;
    for (size_t i = 0; i < len && node >= 0;) {
        uint32_t cp;
        i += kn_utf8_decode(token + i, len - i, &cp);
        node = kn_piece_trie_child(&wp->trie, node, cp);
    }
    return node < 0 ? -1 : kn_piece_trie_piece(&wp->trie, node);
}

/* ---- character classes ---- */

/* The Unicode White_Space property (PropList.txt), which Rust's char::is_whitespace
 * tests; Python's str.isspace differs (it also accepts U+001C..U+001F). */
static bool is_whitespace(uint32_t c)
{
    if (c <= 0x20) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    if (c < 0x85) return false;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* What clean_text drops: NUL, U+FFFD and control, format and private-use characters,
 * except tab and line breaks, which are whitespace. */
static bool is_dropped_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return false;
    if (c == 0 || c == 0xFFFD) return true;
    if (c < 0x7F) return c < 0x20;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO;
}

/* ASCII punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~, which includes symbols such as
 * $ + < = > ^ ` | ~) or any Unicode P* category. */
static bool is_punctuation(uint32_t c)
{
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                         (c >= 123 && c <= 126);
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* The ideograph ranges tokenizers treats as Chinese characters. */
static bool is_chinese_char(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int combining_class(uint32_t c)
{
    return c < 0x300 ? 0 : utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
}

/* ---- normalization stages: each reads in[0..n) and writes out ---- */

typedef struct {
    uint32_t *cp;
    size_t n, cap;
} cp_buf;

static bool reserve(cp_buf *b, size_t need)
{
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    uint32_t *grown = realloc(b->cp, cap * sizeof *grown);
    if (!grown) return false;
    b->cp = grown;
    b->cap = cap;
    return true;
}

static void clean_text(const uint32_t *in, size_t n, cp_buf *out)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_dropped_control(in[i])) out->cp[out->n++] = is_whitespace(in[i]) ? ' ' : in[i];
}

static void space_chinese_chars(const uint32_t *in, size_t n, cp_buf *out)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_chinese_char(in[i])) {
            out->cp[out->n++] = ' ';
            out->cp[out->n++] = in[i];
            out->cp[out->n++] = ' ';
        } else {
            out->cp[out->n++] = in[i];
        }
    }
}

/* Stable sort of a run of combining marks by combining class (canonical ordering).
 * Runs are nearly always short; long ones get a counting sort so that a text of
 * nothing but marks stays linear. */
static bool sort_marks(uint32_t *run, size_t n)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            uint32_t c = run[i];
            int key = combining_class(c);
            size_t j = i;
            for (; j > 0 && combining_class(run[j - 1]) > key; j--) run[j] = run[j - 1];
            run[j] = c;
        }
        return true;
    }
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return false;
    size_t start[257] = {0};
    for (size_t i = 0; i < n; i++) start[combining_class(run[i]) + 1]++;
    for (int k = 1; k <= 256; k++) start[k] += start[k - 1];
    for (size_t i = 0; i < n; i++) tmp[start[combining_class(run[i])]++] = run[i];
    memcpy(run, tmp, n * sizeof *tmp);
    free(tmp);
    return true;
}

/* NFD (canonical decomposition, then canonical ordering), then drop nonspacing marks.
 * The marks are dropped only after ordering: a dropped mark of class 0 (e.g. U+034F)
 * still separates the runs that ordering may not mix. */
static bool strip_accents(const uint32_t *in, size_t n, cp_buf *out)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        utf8proc_int32_t parts[32];
        int boundclass = 0;
        utf8proc_ssize_t k = in[i] < 0xC0 ? 0 : utf8proc_decompose_char((utf8proc_int32_t)in[i], parts, 32,
                                                                         UTF8PROC_DECOMPOSE, &boundclass);
        if (k <= 0 || k > 32) {     /* ASCII/Latin-1 controls and symbols never decompose */
            parts[0] = (utf8proc_int32_t)in[i];
            k = 1;
        }
        if (!reserve(out, out->n + (size_t)k)) return false;
        for (utf8proc_ssize_t j = 0; j < k; j++) out->cp[out->n++] = (uint32_t)parts[j];
    }
    for (size_t i = 0; i < out->n;) {
        if (combining_class(out->cp[i]) == 0) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < out->n && combining_class(out->cp[j]) != 0) j++;
        if (j - i > 1 && !sort_marks(out->cp + i, j - i)) return false;
        i = j;
    }
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++)
        if (out->cp[i] < 0x300 || utf8proc_category((utf8proc_int32_t)out->cp[i]) != UTF8PROC_CATEGORY_MN)
            out->cp[kept++] = out->cp[i];
    out->n = kept;
    return true;
}

/* Full lowercase per code point (Rust's char::to_lowercase): the simple mapping, except
 * U+0130 (capital I with dot above), the one character whose lowercase is two. */
static void lowercase(const uint32_t *in, size_t n, cp_buf *out)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0x80) {
            out->cp[out->n++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        } else if (c == 0x130) {
            out->cp[out->n++] = 'i';
            out->cp[out->n++] = 0x307;
        } else {
            out->cp[out->n++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        }
    }
}

/* ---- WordPiece ---- */

typedef struct {
    int32_t *id;
    size_t n, cap;
} id_buf;

static bool push_id(id_buf *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        int32_t *grown = realloc(b->id, cap * sizeof *grown);
        if (!grown) return false;
        b->id = grown;
        b->cap = cap;
    }
    b->id[b->n++] = id;
    return true;
}

/* Greedy longest-match-first: at each position take the longest vocab piece that
 * starts there (a continuation piece after the first); a word with a position that no
 * piece matches, or longer than max_word_chars, becomes the single unknown id. */
static bool wordpiece_word(const kn_wordpiece *wp, const uint32_t *word, size_t n, id_buf *out)
{
    if (n == 0) return true;
    if (n > wp->max_word_chars) return push_id(out, wp->unk_id);
    size_t mark = out->n;
    int32_t continue_root = wp->continue_from_root ? 0 : kn_piece_trie_child(&wp->trie, 0, CONTINUE_MARK);
    for (size_t start = 0; start < n;) {
        int32_t node = start == 0 ? 0 : continue_root, best_id = -1;
        size_t best_end = start;
        for (size_t end = start; end < n && node >= 0; end++) {
            node = kn_piece_trie_child(&wp->trie, node, word[end]);
            if (node >= 0 && kn_piece_trie_piece(&wp->trie, node) >= 0) {
                best_id = kn_piece_trie_piece(&wp->trie, node);
                best_end = end + 1;
            }
        }
        if (best_id < 0) {
            out->n = mark;
            return push_id(out, wp->unk_id);
        }
        if (!push_id(out, best_id)) return false;
        start = best_end;
    }
    return true;
}

/* BertPreTokenizer: whitespace separates words and is dropped; every punctuation
 * character is a word of its own. */
static bool split_and_encode(const kn_wordpiece *wp, const uint32_t *cps, size_t n, id_buf *out)
{
    for (size_t i = 0; i < n;) {
        if (is_whitespace(cps[i])) {
            i++;
        } else if (is_punctuation(cps[i])) {
            if (!wordpiece_word(wp, cps + i, 1, out)) return false;
            i++;
        } else {
            size_t j = i + 1;
            while (j < n && !is_whitespace(cps[j]) && !is_punctuation(cps[j])) j++;
            if (!wordpiece_word(wp, cps + i, j - i, out)) return false;
            i = j;
        }
    }
    return true;
}

int kn_wordpiece_encode(const kn_wordpiece *wp, const char *text, size_t len,
                        int32_t **ids, size_t *n, kn_error *err)
{
    *ids = NULL;
    *n = 0;
    size_t bad = kn_utf8_first_invalid(text, len);
    if (bad < len) return kn_fail(err, "invalid UTF-8 at byte offset %zu", bad);
    if (len > SIZE_MAX / (3 * sizeof(uint32_t))) return kn_fail(err, "text too long to tokenize");

    /* Two buffers that the stages ping-pong between; a stage's output fits in 3x its input
     * (Chinese spacing), 2x (lowercase), or grows on demand (decomposition). */
    cp_buf a = {0}, b = {0};
    id_buf out = {0};
    if (!reserve(&a, len + 1)) goto oom;
    a.n = decode_all(text, len, a.cp);
    if (wp->normalize) {
        if (wp->clean_text) {
            if (!reserve(&b, a.n + 1)) goto oom;
            clean_text(a.cp, a.n, &b);
            cp_buf t = a; a = b; b = t;
        }
        if (wp->chinese_chars) {
            if (!reserve(&b, 3 * a.n + 1)) goto oom;
            space_chinese_chars(a.cp, a.n, &b);
            cp_buf t = a; a = b; b = t;
        }
        if (wp->strip_accents) {
            if (!reserve(&b, a.n + 1) || !strip_accents(a.cp, a.n, &b)) goto oom;
            cp_buf t = a; a = b; b = t;
        }
        if (wp->lowercase) {
            if (!reserve(&b, 2 * a.n + 1)) goto oom;
            lowercase(a.cp, a.n, &b);
            cp_buf t = a; a = b; b = t;
        }
    }
    bool ok = wp->split_words ? split_and_encode(wp, a.cp, a.n, &out) : wordpiece_word(wp, a.cp, a.n, &out);
    if (!ok) goto oom;
    free(a.cp);
    free(b.cp);
    if (out.n == 0) free(out.id);
    else *ids = out.id;
    *n = out.n;
    return 0;
oom:
    free(a.cp);
    free(b.cp);
    free(out.id);
    return kn_fail(err, "out of memory tokenizing %zu bytes", len);
}
