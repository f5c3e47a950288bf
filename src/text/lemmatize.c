/* lemmatize.c - Finnish base forms through libvoikko (lemmatize.h). */
#include "text/lemmatize.h"

#include <libvoikko/voikko.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/analyze.h"
#include "util/strmap.h"

/* Words longer than this are kept as they are (no Finnish word is). */
#define MAX_WORD 255
/* Past this many cached words the cache is dropped and refilled: a bound on memory for a
 * stream of millions of distinct tokens (ids, typos). */
#define MAX_CACHED 1000000

/* One dictionary for the process: voikko handles are not thread-safe, and opening one costs
 * tens of milliseconds. The cache maps a word to its base form. */
static struct {
    pthread_mutex_t lock;
    struct VoikkoHandle *handle;
    int tried;
    char error[200];
    kn_strmap words; /* word -> id */
    char **form;     /* [id]: its base form */
    size_t cap;
} fi = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Under the lock. */
static int open_dictionary(void)
{
    if (!fi.tried) {
        fi.tried = 1;
        const char *error = NULL;
        fi.handle = voikkoInit(&error, "fi", NULL);
        if (!fi.handle)
            snprintf(fi.error, sizeof fi.error,
                     "the Finnish dictionary cannot be opened (%s): install Debian's voikko-fi",
                     error ? error : "unknown error");
        kn_strmap_init(&fi.words);
    }
    return fi.handle ? 0 : -1;
}

int kn_lemmatizer_available(kn_error *err)
{
    pthread_mutex_lock(&fi.lock);
    int ok = open_dictionary() == 0;
    if (!ok) kn_fail(err, "%s", fi.error);
    pthread_mutex_unlock(&fi.lock);
    return ok;
}

static void drop_cache(void)
{
    for (size_t i = 0; i < fi.words.count; i++) free(fi.form[i]);
    kn_strmap_free(&fi.words);
    kn_strmap_init(&fi.words);
}

/* Under the lock: voikko's base form of a lower-cased word, lower-cased (proper nouns come
 * back capitalised), or a copy of the word when voikko does not know it. */
static char *analyse(const char *word, size_t len)
{
    char w[MAX_WORD + 1];
    memcpy(w, word, len);
    w[len] = '\0';
    struct voikko_mor_analysis **a = voikkoAnalyzeWordCstr(fi.handle, w);
    char *value = a && a[0] ? voikko_mor_analysis_value_cstr(a[0], "BASEFORM") : NULL;
    char *form = strdup(value ? value : w);
    if (value) voikko_free_mor_analysis_value_cstr(value);
    if (a) voikko_free_mor_analysis(a);
    for (char *p = form; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return form;
}

/* Under the lock: the cached base form, or NULL when out of memory. */
static const char *base_form(const char *word, size_t len)
{
    long id = kn_strmap_find(&fi.words, word, len);
    if (id >= 0) return fi.form[id];
    if (fi.words.count >= MAX_CACHED) drop_cache();
    char *form = analyse(word, len);
    if (!form) return NULL;
    if (fi.words.count == fi.cap) {
        size_t cap = fi.cap ? 2 * fi.cap : 4096;
        char **grown = realloc(fi.form, cap * sizeof *grown);
        if (!grown) {
            free(form);
            return NULL;
        }
        fi.form = grown;
        fi.cap = cap;
    }
    int added = 0;
    id = kn_strmap_intern(&fi.words, word, len, &added);
    if (id < 0 || !added) {
        free(form);
        return NULL;
    }
    fi.form[id] = form;
    return form;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    if (o->failed) return;
    if (o->len + n + 2 > o->cap) {
        size_t cap = (o->len + n + 2) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    if (o->len) o->buf[o->len++] = ' ';
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void each_word(const char *word, size_t len, void *ctx)
{
    out_buf *o = ctx;
    if (len > MAX_WORD) {
        put(o, word, len);
        return;
    }
    const char *form = base_form(word, len);
    if (!form) o->failed = 1;
    else put(o, form, strlen(form));
}

int kn_lemmatize_fi(const char *text, size_t len, char **out, size_t *out_len, kn_error *err)
{
    *out = NULL;
    *out_len = 0;
    out_buf o = {0};
    pthread_mutex_lock(&fi.lock);
    int rc = open_dictionary();
    if (rc != 0) kn_fail(err, "%s", fi.error);
    else if (kn_analyze_words(text, len, 1, 1, each_word, &o) < 0 || o.failed)
        rc = kn_fail(err, "lemmatizing: out of memory");
    pthread_mutex_unlock(&fi.lock);
    if (rc != 0) {
        free(o.buf);
        return -1;
    }
    if (!o.buf && !(o.buf = calloc(1, 1))) return kn_fail(err, "lemmatizing: out of memory");
    *out = o.buf;
    *out_len = o.len;
    return 0;
}
