/* language_id.c - naive Bayes over character n-grams of words (language_id.h). */
#include "text/language_id.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text/analyze.h"
#include "text/language_samples.h"
#include "util/strmap.h"

#define MAX_LANGUAGES 8
#define MAX_N 3
/* Add-alpha smoothing of each language's n-gram counts. */
#define ALPHA 0.5
/* The smallest mean log-likelihood lead per n-gram that makes a guess; below it the two
 * best languages are too close to call. */
#define MIN_LEAD 0.02

typedef struct model {
    kn_strmap vocab;       /* every n-gram of any language's samples */
    double *count[MAX_LANGUAGES];
    size_t cap;
    double total[MAX_LANGUAGES];
    const char *tag[MAX_LANGUAGES];
    int n_languages;
    int failed;
} model;

static model the_model;
static pthread_once_t model_once = PTHREAD_ONCE_INIT;

/* The n-grams of one word: every 1..MAX_N code points of " word ". */
typedef void (*gram_fn)(const char *gram, size_t len, void *ctx);

typedef struct {
    gram_fn fn;
    void *ctx;
    size_t letters;
} word_walk;

static void each_gram_of_word(const char *word, size_t len, void *ctx)
{
    word_walk *w = ctx;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)word[i] >= '0' && (unsigned char)word[i] <= '9') return; /* numbers tell no language */
    char padded[512];
    if (len + 2 > sizeof padded) return;
    padded[0] = ' ';
    memcpy(padded + 1, word, len);
    padded[len + 1] = ' ';
    const size_t plen = len + 2;
    /* code point starts */
    size_t starts[512], n_cp = 0;
    for (size_t i = 0; i < plen; i++)
        if (((unsigned char)padded[i] & 0xC0) != 0x80) starts[n_cp++] = i;
    starts[n_cp] = plen;
    w->letters += n_cp - 2;
    for (size_t a = 0; a < n_cp; a++)
        for (size_t n = 1; n <= MAX_N && a + n <= n_cp; n++) {
            if (n == 1 && padded[starts[a]] == ' ') continue;
            w->fn(padded + starts[a], starts[a + n] - starts[a], w->ctx);
        }
}

static size_t walk_text(const char *text, size_t len, gram_fn fn, void *ctx)
{
    word_walk w = {fn, ctx, 0};
    /* kn_analyze_words lower-cases and splits into runs of letters and digits. */
    kn_analyze_words(text, len, 1, 1, each_gram_of_word, &w);
    return w.letters;
}

typedef struct {
    model *m;
    int lang;
} train_ctx;

static void train_gram(const char *gram, size_t len, void *ctx)
{
    train_ctx *t = ctx;
    model *m = t->m;
    if (m->failed) return;
    long id = kn_strmap_intern(&m->vocab, gram, len, NULL);
    if (id < 0) {
        m->failed = 1;
        return;
    }
    if ((size_t)id >= m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 4096;
        for (int l = 0; l < MAX_LANGUAGES; l++) {
            double *c = realloc(m->count[l], cap * sizeof *c);
            if (!c) {
                m->failed = 1;
                return;
            }
            memset(c + m->cap, 0, (cap - m->cap) * sizeof *c);
            m->count[l] = c;
        }
        m->cap = cap;
    }
    m->count[t->lang][id] += 1;
    m->total[t->lang] += 1;
}

static void build_model(void)
{
    model *m = &the_model;
    kn_strmap_init(&m->vocab);
    for (int l = 0; kn_language_sample_sets[l].tag && l < MAX_LANGUAGES; l++) {
        m->tag[l] = kn_language_sample_sets[l].tag;
        m->n_languages = l + 1;
        train_ctx t = {m, l};
        for (const char *const *s = kn_language_sample_sets[l].sentences; *s; s++) walk_text(*s, strlen(*s), train_gram, &t);
    }
}

typedef struct {
    const model *m;
    double loglik[MAX_LANGUAGES];
    size_t grams;
} score_ctx;

static void score_gram(const char *gram, size_t len, void *ctx)
{
    score_ctx *s = ctx;
    const model *m = s->m;
    long id = kn_strmap_find(&m->vocab, gram, len);
    if (id < 0) return; /* unseen in every language: the same for all */
    const double V = (double)m->vocab.count;
    for (int l = 0; l < m->n_languages; l++)
        s->loglik[l] += log((m->count[l][id] + ALPHA) / (m->total[l] + ALPHA * V));
    s->grams++;
}

const char *kn_language_guess(const char *text, size_t len, double *confidence)
{
    pthread_once(&model_once, build_model);
    const model *m = &the_model;
    if (confidence) *confidence = 0;
    if (m->failed || m->n_languages < 2) return NULL;
    score_ctx s = {.m = m};
    size_t letters = walk_text(text, len, score_gram, &s);
    if (letters < KN_LANGUAGE_MIN_LETTERS || s.grams == 0) return NULL;
    int best = 0, second = -1;
    for (int l = 1; l < m->n_languages; l++)
        if (s.loglik[l] > s.loglik[best]) best = l;
    for (int l = 0; l < m->n_languages; l++)
        if (l != best && (second < 0 || s.loglik[l] > s.loglik[second])) second = l;
    if ((s.loglik[best] - s.loglik[second]) / (double)s.grams < MIN_LEAD) return NULL;
    if (confidence) {
        const double scale = 1.0 / sqrt((double)s.grams);
        double sum = 0;
        for (int l = 0; l < m->n_languages; l++) sum += exp((s.loglik[l] - s.loglik[best]) * scale);
        *confidence = 1.0 / sum;
    }
    return m->tag[best];
}

size_t kn_language_count(const char *const *texts, const size_t *lens, size_t n, const char *tag, size_t *told)
{
    size_t hits = 0, guessed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *lang = kn_language_guess(texts[i], lens[i], NULL);
        if (!lang) continue;
        guessed++;
        hits += strcmp(lang, tag) == 0;
    }
    if (told) *told = guessed;
    return hits;
}
