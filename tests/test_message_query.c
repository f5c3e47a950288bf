/* test_message_query.c - the web UI's message queries in the store (src/store/
 * message_query.c, workspace_stats.c, bulk_annotations.c, import_buffer.c,
 * token_identity.c):
 *   - case-insensitive search against a reference that lower-cases whole strings and
 *     compares bytes;
 *   - every filter and order, paged, against a plain C reference computed from the rows the
 *     test wrote (random workspace of 300 messages); the seeded shuffle is checked for
 *     stability, paging and being a permutation;
 *   - a message's details: labels, the newest prediction of the active model only, the
 *     newest decision, the map cluster;
 *   - the stats, bulk annotation (an unknown id in the middle stores nothing), bulk delete,
 *     CSV import from memory (skipped rows named by line, a malformed file stores nothing),
 *     a token's name;
 *   - speed: ids matching a word among 20,000 messages, and order=uncertain over 100,000. */
#include "test_util.h"
#include "text/language_id.h"

#include <sqlite3.h>
#include <utf8proc.h>

#include "store/store.h"
#include "store/ui_messages.h"
#include "util/rng.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOWDOWN 8.0 /* ASan + UBSan */
#else
#define SLOWDOWN 1.0
#endif

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kanava-test-mquery.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return kn_rm_rf(g_dir) == 0 ? 0 : -1;
}

static kn_store *new_store(const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    kn_error err = {{0}};
    kn_store *s = kn_store_open(path, 1, &err);
    if (!s) fail_msg("%s: %s", path, err.msg);
    return s;
}

/* A second connection to the same database, for what the store has no function for. */
static void sql(const char *path, const char *text)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", text, msg);
    sqlite3_close(db);
}

static int has_map_table(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'map_points'", -1, &st, NULL),
                     SQLITE_OK);
    int yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return yes;
}

static int64_t add_topic(kn_store *s, const char *name, int automatable, double threshold)
{
    kn_error err = {{0}};
    kn_topic t = {.name = (char *)name, .automatable = automatable, .threshold = threshold};
    int64_t id = kn_store_put_topic(s, &t, &err);
    if (id <= 0) fail_msg("%s", err.msg);
    return id;
}

/* ---- search ---------------------------------------------------------------------------- */

/* Reference: lower-case both whole strings code point by code point, then compare bytes. */
static char *lower_copy(const char *s)
{
    size_t len = strlen(s), o = 0;
    char *out = malloc(4 * len + 1);
    utf8proc_ssize_t pos = 0;
    while ((size_t)pos < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t used = utf8proc_iterate((const utf8proc_uint8_t *)s + pos, (utf8proc_ssize_t)len - pos, &c);
        assert_true(used > 0);
        pos += used;
        o += (size_t)utf8proc_encode_char(utf8proc_tolower(c), (utf8proc_uint8_t *)out + o);
    }
    out[o] = '\0';
    return out;
}

static int reference_contains(const char *text, const char *needle)
{
    char *t = lower_copy(text), *n = lower_copy(needle);
    int found = strstr(t, n) != NULL;
    free(t);
    free(n);
    return found;
}

static const char *const WORDS[] = {"Kortti", "HÄVISI", "hävisi", "lasku", "Maksu", "ÖLJY", "öljy", "card",
                                    "CARD",   "lost",   "Åland",  "ÅLAND", "refund", "ääni", "x",    "Straße"};
#define N_WORDS (sizeof WORDS / sizeof WORDS[0])

static void test_contains_ci(void **state)
{
    (void)state;
    const char *t = "Korttini HÄVISI eilen Åland-saarilla";
    assert_true(kn_text_contains_ci(t, strlen(t), "hävisi"));
    assert_true(kn_text_contains_ci(t, strlen(t), "HÄVISI"));
    assert_true(kn_text_contains_ci(t, strlen(t), "åland"));
    assert_true(kn_text_contains_ci(t, strlen(t), "SAARILLA"));
    assert_true(kn_text_contains_ci(t, strlen(t), ""));
    assert_false(kn_text_contains_ci(t, strlen(t), "havisi")); /* ä is not a */
    assert_false(kn_text_contains_ci(t, strlen(t), "saarillaa"));
    assert_true(kn_text_contains_ci("aaab", 4, "aab"));
    assert_false(kn_text_contains_ci("ab", 2, "abc"));
    /* Random texts of the words against the reference. */
    uint64_t rng = 7;
    for (int i = 0; i < 3000; i++) {
        char text[256] = "", needle[64] = "";
        int n = 1 + (int)(kn_splitmix64(&rng) % 6);
        for (int w = 0; w < n; w++) {
            strcat(text, WORDS[kn_splitmix64(&rng) % N_WORDS]);
            if (kn_splitmix64(&rng) % 2) strcat(text, " ");
        }
        const char *word = WORDS[kn_splitmix64(&rng) % N_WORDS];
        size_t cut = strlen(word);
        /* sometimes a prefix of a word (on a code point boundary) */
        if (kn_splitmix64(&rng) % 3 == 0)
            while (cut > 1 && ((unsigned char)word[cut - 1] & 0xC0) == 0x80) cut--;
        snprintf(needle, sizeof needle, "%.*s", (int)cut, word);
        if (kn_text_contains_ci(text, strlen(text), needle) != reference_contains(text, needle))
            fail_msg("search mismatch on case %d", i);
    }
}

/* ---- a random workspace and a reference of its rows --------------------------------------- */

#define N_MSG 300

typedef struct ref_msg {
    int64_t id, received_at;
    const char *status;
    char text[128];
    int labelled;
    int has_prob;
    double prob;      /* newest prediction of the active model */
    int decided;      /* KN_DECIDED_*: newest decision */
    int has_cluster;
    int64_t cluster;
    int64_t latest_topic; /* index into TOPICS of the latest annotation, -1 */
} ref_msg;

static const char *const TOPICS[] = {"card_lost", "refund", "billing"};
static const char *const STATUSES[] = {"new", "queued", "auto_answered", "answered"};

typedef struct world {
    char path[512];
    kn_store *s;
    ref_msg m[N_MSG];
    int64_t active, other;
    int map;
} world;

static void add_prediction(kn_store *s, int64_t message, int64_t model, const char *topic, double p)
{
    char top[128];
    snprintf(top, sizeof top, "[{\"topic\":\"%s\",\"probability\":%.6f}]", topic, p);
    kn_error err = {{0}};
    if (kn_store_add_prediction(s, message, model, topic, p, top, &err) < 0) fail_msg("%s", err.msg);
}

static void add_decision(kn_store *s, int64_t message, int64_t model, const char *action)
{
    kn_error err = {{0}};
    kn_decision_record d = {.message_id = message, .model_id = model, .action = action, .topic = "refund",
                            .probability = 0.5, .threshold = 0.9, .margin = 0.1, .reason = "test"};
    if (kn_store_add_decision(s, &d, &err) < 0) fail_msg("%s", err.msg);
}

/* 300 messages with random times, texts, statuses, labels, predictions (of the active model
 * and of another one), decisions and map clusters; the reference rows in w->m. */
static void build_world(world *w, const char *name)
{
    kn_error err = {{0}};
    w->s = new_store(name, w->path, sizeof w->path);
    for (size_t t = 0; t < 3; t++) add_topic(w->s, TOPICS[t], 1, 0.9);
    uint64_t rng = 42;
    kn_message msgs[N_MSG];
    int64_t ids[N_MSG];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < N_MSG; i++) {
        ref_msg *r = &w->m[i];
        int n = 1 + (int)(kn_splitmix64(&rng) % 5);
        for (int k = 0; k < n; k++) {
            strcat(r->text, WORDS[kn_splitmix64(&rng) % N_WORDS]);
            strcat(r->text, " ");
        }
        r->received_at = 1700000000 + (int64_t)(kn_splitmix64(&rng) % 50); /* many ties */
        msgs[i].text = r->text;
        msgs[i].received_at = r->received_at;
    }
    assert_int_equal(kn_store_add_messages(w->s, msgs, N_MSG, ids, NULL, &err), 0);
    int added = 0;
    w->other = kn_store_register_model(w->s, "/models/old", "tfidf", NULL, &added, &err);
    w->active = kn_store_register_model(w->s, "/models/new", "tfidf", NULL, &added, &err);
    assert_true(w->other > 0 && w->active > w->other);
    assert_int_equal(kn_store_activate_model(w->s, w->active, &err), 0);
    w->map = has_map_table(w->path);
    char *map_sql = malloc(N_MSG * 80 + 64);
    strcpy(map_sql, "BEGIN;");
    for (int i = 0; i < N_MSG; i++) {
        ref_msg *r = &w->m[i];
        r->id = ids[i];
        r->latest_topic = -1;
        int n_ann = (int)(kn_splitmix64(&rng) % 4) - 1; /* about half have none */
        for (int k = 0; k < n_ann; k++) {
            r->latest_topic = (int64_t)(kn_splitmix64(&rng) % 3);
            assert_true(kn_store_annotate(w->s, r->id, TOPICS[r->latest_topic], "t", &err) > 0);
            r->labelled = 1;
        }
        int n_pred = (int)(kn_splitmix64(&rng) % 3);
        for (int k = 0; k < n_pred; k++) {
            r->has_prob = 1;
            r->prob = (double)(kn_splitmix64(&rng) % 1000) / 1000.0; /* ties happen */
            add_prediction(w->s, r->id, w->active, TOPICS[k % 3], r->prob);
        }
        if (kn_splitmix64(&rng) % 2) add_prediction(w->s, r->id, w->other, "refund", 0.0001); /* never shown */
        int n_dec = (int)(kn_splitmix64(&rng) % 3);
        r->decided = KN_DECIDED_NONE;
        for (int k = 0; k < n_dec; k++) {
            int automatic = (int)(kn_splitmix64(&rng) % 2);
            add_decision(w->s, r->id, w->active, automatic ? "auto_reply" : "human");
            r->decided = automatic ? KN_DECIDED_AUTO_REPLY : KN_DECIDED_HUMAN;
        }
        r->status = STATUSES[kn_splitmix64(&rng) % 4];
        assert_int_equal(kn_store_set_message_status(w->s, r->id, r->status, &err), 0);
        if (w->map && kn_splitmix64(&rng) % 5 != 0) {
            r->has_cluster = 1;
            r->cluster = (int64_t)(kn_splitmix64(&rng) % 4);
            sprintf(map_sql + strlen(map_sql),
                    "INSERT INTO map_points VALUES (%lld, %lld, 0.5, 0.25, %lld);", (long long)w->active,
                    (long long)r->id, (long long)r->cluster);
        }
    }
    strcat(map_sql, "COMMIT;");
    if (w->map) sql(w->path, map_sql);
    free(map_sql);
}

static const kn_message_query *g_q; /* for the reference comparators */

static int ref_passes(const ref_msg *r, const kn_message_query *q)
{
    if (q->status && strcmp(q->status, r->status) != 0) return 0;
    if (q->labelled == KN_LABELLED_YES && !r->labelled) return 0;
    if (q->labelled == KN_LABELLED_NO && r->labelled) return 0;
    if (q->decided != KN_DECIDED_ANY && q->decided != r->decided) return 0;
    if (q->q && *q->q && !reference_contains(r->text, q->q)) return 0;
    if (q->has_ids) {
        int in = 0;
        for (size_t i = 0; i < q->n_ids; i++) in |= q->ids[i] == r->id;
        if (!in) return 0;
    }
    if (q->has_cluster && !(r->has_cluster && r->cluster == q->cluster)) return 0;
    return 1;
}

static int cmp_num(double a, double b) { return a < b ? -1 : a > b; }

static int ref_cmp(const void *pa, const void *pb)
{
    const ref_msg *a = *(const ref_msg *const *)pa, *b = *(const ref_msg *const *)pb;
    int c = 0;
    switch (g_q->order) {
    case KN_ORDER_NEWEST:
        c = cmp_num((double)b->received_at, (double)a->received_at);
        return c ? c : cmp_num((double)b->id, (double)a->id);
    case KN_ORDER_CLUSTER:
        c = cmp_num(a->has_cluster ? (double)a->cluster : 1e18, b->has_cluster ? (double)b->cluster : 1e18);
        if (c) return c;
        /* fall through */
    case KN_ORDER_UNCERTAIN:
        c = cmp_num(a->labelled, b->labelled);
        if (!c) c = cmp_num(a->has_prob ? a->prob : 2.0, b->has_prob ? b->prob : 2.0);
        return c ? c : cmp_num((double)a->id, (double)b->id);
    default: return cmp_num((double)a->id, (double)b->id);
    }
}

/* The reference's full ordered list of ids for q (ignoring limit and offset). */
static size_t reference_ids(const world *w, const kn_message_query *q, int64_t *out)
{
    const ref_msg *sel[N_MSG];
    size_t n = 0;
    for (int i = 0; i < N_MSG; i++)
        if (ref_passes(&w->m[i], q)) sel[n++] = &w->m[i];
    g_q = q;
    qsort(sel, n, sizeof *sel, ref_cmp);
    for (size_t i = 0; i < n; i++) out[i] = sel[i]->id;
    return n;
}

static void check_query(const world *w, kn_message_query q, const char *what)
{
    int64_t expect[N_MSG];
    size_t n_expect = reference_ids(w, &q, expect);
    int64_t *got = NULL;
    size_t n = 0, total = 0;
    kn_error err = {{0}};
    if (kn_store_query_message_ids(w->s, &q, &got, &n, &total, &err) != 0) fail_msg("%s: %s", what, err.msg);
    if (total != n_expect) fail_msg("%s: total %zu, expected %zu", what, total, n_expect);
    size_t start = q.offset < n_expect ? q.offset : n_expect;
    size_t want = n_expect - start < q.limit ? n_expect - start : q.limit;
    if (n != want) fail_msg("%s: %zu ids on the page, expected %zu", what, n, want);
    for (size_t i = 0; i < n; i++)
        if (got[i] != expect[start + i])
            fail_msg("%s: position %zu is message %lld, expected %lld", what, start + i, (long long)got[i],
                     (long long)expect[start + i]);
    free(got);
}

static void test_filters_and_orders(void **state)
{
    (void)state;
    world *w = calloc(1, sizeof *w);
    build_world(w, "filters.db");
    const int orders[] = {KN_ORDER_ID, KN_ORDER_NEWEST, KN_ORDER_UNCERTAIN, KN_ORDER_CLUSTER};
    const char *statuses[] = {NULL, "new", "queued"};
    const char *needles[] = {NULL, "hävisi", "CARD", "nothing-matches"};
    size_t pages[][2] = {{1000, 0}, {7, 3}, {5, 295}, {0, 0}};
    int checked = 0;
    for (int o = 0; o < 4; o++)
        for (int l = 0; l < 3; l++)
            for (int d = 0; d < 4; d++)
                for (int st = 0; st < 3; st++)
                    for (int nd = 0; nd < 4; nd++) {
                        size_t *pg = pages[(o + l + d + st + nd) % 4];
                        kn_message_query q = {.limit = pg[0], .offset = pg[1], .order = orders[o], .labelled = l,
                                              .decided = d, .status = statuses[st], .q = needles[nd]};
                        char what[160];
                        snprintf(what, sizeof what, "order %d labelled %d decided %d status %s q %s", orders[o], l, d,
                                 statuses[st] ? statuses[st] : "any", needles[nd] ? needles[nd] : "-");
                        check_query(w, q, what);
                        checked++;
                    }
    assert_int_equal(checked, 576);
    /* ids= and cluster= */
    int64_t some[] = {w->m[5].id, w->m[17].id, w->m[200].id, 999999};
    check_query(w, (kn_message_query){.limit = 50, .has_ids = 1, .ids = some, .n_ids = 4}, "ids");
    check_query(w, (kn_message_query){.limit = 50, .has_ids = 1, .ids = some, .n_ids = 4, .order = KN_ORDER_NEWEST,
                                      .q = "a"},
                "ids, newest, q");
    for (int64_t c = 0; c < 5; c++)
        check_query(w, (kn_message_query){.limit = 1000, .has_cluster = 1, .cluster = c, .order = KN_ORDER_UNCERTAIN},
                    "cluster");
    /* The uncertain order puts unlabelled messages first, least confident first. */
    int64_t *got = NULL;
    size_t n, total;
    kn_error err = {{0}};
    assert_int_equal(kn_store_query_message_ids(w->s, &(kn_message_query){.limit = 1000, .order = KN_ORDER_UNCERTAIN},
                                                &got, &n, &total, &err),
                     0);
    assert_int_equal(n, N_MSG);
    int seen_labelled = 0;
    for (size_t i = 0; i < n; i++) {
        const ref_msg *r = NULL;
        for (int k = 0; k < N_MSG; k++)
            if (w->m[k].id == got[i]) r = &w->m[k];
        assert_non_null(r);
        if (r->labelled) seen_labelled = 1;
        else assert_false(seen_labelled);
    }
    free(got);
    kn_store_close(w->s);
    free(w);
}

static void test_random_order(void **state)
{
    (void)state;
    world *w = calloc(1, sizeof *w);
    build_world(w, "random.db");
    kn_error err = {{0}};
    int64_t *a = NULL, *b = NULL, *c = NULL;
    size_t na, nb, nc, total;
    kn_message_query q = {.limit = 1000, .order = KN_ORDER_RANDOM, .seed = 11};
    assert_int_equal(kn_store_query_message_ids(w->s, &q, &a, &na, &total, &err), 0);
    assert_int_equal(kn_store_query_message_ids(w->s, &q, &b, &nb, &total, &err), 0);
    assert_int_equal(na, N_MSG);
    assert_memory_equal(a, b, na * sizeof *a); /* stable for a seed */
    /* a permutation of every message, not the id order */
    int64_t sorted[N_MSG];
    memcpy(sorted, a, sizeof sorted);
    int in_id_order = 1;
    for (size_t i = 1; i < na; i++) in_id_order &= a[i] > a[i - 1];
    assert_false(in_id_order);
    for (size_t i = 0; i < na; i++)
        for (size_t j = i + 1; j < na; j++) assert_true(sorted[i] != sorted[j]);
    q.seed = 12;
    assert_int_equal(kn_store_query_message_ids(w->s, &q, &c, &nc, &total, &err), 0);
    assert_int_equal(nc, N_MSG);
    assert_true(memcmp(a, c, na * sizeof *a) != 0); /* another seed, another order */
    free(c);
    /* pages of the shuffle are slices of the whole */
    for (size_t off = 0; off < N_MSG; off += 70) {
        kn_message_query pq = {.limit = 70, .offset = off, .order = KN_ORDER_RANDOM, .seed = 11};
        assert_int_equal(kn_store_query_message_ids(w->s, &pq, &c, &nc, &total, &err), 0);
        assert_int_equal(total, N_MSG);
        assert_memory_equal(c, a + off, nc * sizeof *c);
        free(c);
    }
    /* with a filter: the shuffle of the filtered set */
    kn_message_query fq = {.limit = 1000, .order = KN_ORDER_RANDOM, .seed = 11, .labelled = KN_LABELLED_NO};
    assert_int_equal(kn_store_query_message_ids(w->s, &fq, &c, &nc, &total, &err), 0);
    size_t k = 0;
    for (size_t i = 0; i < na && k < nc; i++)
        if (a[i] == c[k]) k++;
    assert_int_equal(k, nc); /* same relative order as the unfiltered shuffle */
    free(c);
    free(a);
    free(b);
    kn_store_close(w->s);
    free(w);
}

static void test_details(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("details.db", path, sizeof path);
    kn_error err = {{0}};
    add_topic(s, "refund", 1, 0.8);
    add_topic(s, "fraud", 0, 0.9);
    kn_message msgs[3] = {{.text = "Haluan rahani takaisin", .language = "fi", .channel = "email", .received_at = 100},
                          {.text = "card gone", .external_id = "e-2", .received_at = 200},
                          {.text = "nothing", .received_at = 300}};
    int64_t id[3];
    assert_int_equal(kn_store_add_messages(s, msgs, 3, id, NULL, &err), 0);

    /* no active model: no prediction; a cluster only from the base map (drawn before any
     * model: model_id NULL) */
    int map = has_map_table(path);
    if (map) {
        char text[200];
        snprintf(text, sizeof text, "INSERT INTO map_points VALUES (NULL, %lld, 1, 2, 7)", (long long)id[2]);
        sql(path, text);
    }
    kn_message_view *v = NULL;
    size_t n, total;
    kn_message_query q = {.limit = 10};
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), 0);
    assert_int_equal(n, 3);
    assert_false(v[0].has_prediction || v[0].has_decision || v[0].has_cluster || v[0].n_labels);
    assert_int_equal(v[2].has_cluster, map);
    if (map) assert_int_equal(v[2].cluster, 7);
    assert_string_equal(v[0].message.text, "Haluan rahani takaisin");
    assert_string_equal(v[0].message.language, "fi");
    assert_string_equal(v[0].message.channel, "email");
    assert_int_equal(v[0].message.received_at, 100);
    assert_string_equal(v[0].message.status, "new");
    /* stored without a language: the store's guess (text/language_id.h), or none */
    const char *guess = kn_language_guess("card gone", 9, NULL);
    if (guess) assert_string_equal(v[1].message.language, guess);
    else assert_null(v[1].message.language);
    kn_message_views_free(v, n);

    int added;
    int64_t old = kn_store_register_model(s, "/m/old", "bm25", NULL, &added, &err);
    int64_t cur = kn_store_register_model(s, "/m/cur", "tfidf", NULL, &added, &err);
    assert_int_equal(kn_store_activate_model(s, cur, &err), 0);
    add_prediction(s, id[0], cur, "fraud", 0.4);
    add_prediction(s, id[0], cur, "refund", 0.75); /* newest of the active model */
    add_prediction(s, id[0], old, "fraud", 0.99);  /* another model: not shown */
    add_prediction(s, id[1], cur, "not_a_topic", 0.6); /* no such topic: name from the top list */
    add_prediction(s, id[2], old, "fraud", 0.5);
    int64_t a1 = kn_store_annotate(s, id[0], "fraud", "liisa", &err);
    int64_t a2 = kn_store_annotate(s, id[0], "refund", NULL, &err);
    add_decision(s, id[0], cur, "human");
    kn_decision_record d = {.message_id = id[0], .model_id = cur, .action = "auto_reply", .topic = "refund",
                            .probability = 0.75, .threshold = 0.7, .margin = 0.3, .reason = "confident",
                            .reply_language = "fi", .reply_text = "Palautus tulossa"};
    assert_true(kn_store_add_decision(s, &d, &err) > 0);
    if (map) {
        char text[200];
        snprintf(text, sizeof text, "INSERT INTO map_points VALUES (%lld, %lld, 1, 2, 3), (%lld, %lld, 1, 2, 9)",
                 (long long)cur, (long long)id[0], (long long)old, (long long)id[1]);
        sql(path, text);
    }
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(total, 3);
    assert_int_equal(v[0].n_labels, 2);
    assert_int_equal(v[0].labels[0].annotation_id, a1);
    assert_string_equal(v[0].labels[0].topic, "fraud");
    assert_string_equal(v[0].labels[0].annotator, "liisa");
    assert_int_equal(v[0].labels[1].annotation_id, a2);
    assert_null(v[0].labels[1].annotator);
    assert_true(v[0].has_prediction);
    assert_string_equal(v[0].prediction_topic, "refund");
    assert_float_equal(v[0].prediction_probability, 0.75, 1e-12);
    assert_true(v[0].has_decision);
    assert_string_equal(v[0].decision_action, "auto_reply");
    assert_string_equal(v[0].decision_topic, "refund");
    assert_string_equal(v[0].decision_reason, "confident");
    assert_string_equal(v[0].decision_reply_text, "Palautus tulossa");
    assert_string_equal(v[0].message.status, "auto_answered");
    assert_int_equal(v[0].has_cluster, map);
    if (map) assert_int_equal(v[0].cluster, 3);
    assert_false(v[1].has_cluster); /* its point is on another model's map */
    assert_false(v[2].has_cluster); /* the active model has a map: the base map is not mixed in */
    assert_true(v[1].has_prediction);
    assert_string_equal(v[1].prediction_topic, "not_a_topic");
    assert_string_equal(v[1].message.external_id, "e-2");
    assert_false(v[2].has_prediction); /* only another model predicted it */
    assert_false(v[2].has_decision);
    kn_message_views_free(v, n);

    /* limit 0: only the total */
    q.limit = 0;
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(total, 3);
    assert_null(v);
    /* bad values are refused by name */
    q = (kn_message_query){.limit = 5, .status = "pending"};
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), -1);
    assert_non_null(strstr(err.msg, "pending"));
    q = (kn_message_query){.limit = 5, .q = "\xff"};
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), -1);
    assert_non_null(strstr(err.msg, "UTF-8"));
    q = (kn_message_query){.limit = 5, .order = 42};
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), -1);
    kn_store_close(s);
}

/* ---- stats ----------------------------------------------------------------------------------- */

static void test_stats(void **state)
{
    (void)state;
    world *w = calloc(1, sizeof *w);
    build_world(w, "stats.db");
    kn_workspace_stats st;
    kn_error err = {{0}};
    assert_int_equal(kn_store_workspace_stats(w->s, &st, &err), 0);
    int64_t labelled = 0, per_topic[3] = {0}, autos = 0, humans = 0;
    for (int i = 0; i < N_MSG; i++) {
        labelled += w->m[i].labelled;
        if (w->m[i].latest_topic >= 0) per_topic[w->m[i].latest_topic]++;
        autos += w->m[i].decided == KN_DECIDED_AUTO_REPLY;
        humans += w->m[i].decided == KN_DECIDED_HUMAN;
    }
    assert_int_equal(st.messages, N_MSG);
    assert_int_equal(st.labelled, labelled);
    assert_int_equal(st.auto_reply, autos);
    assert_int_equal(st.human, humans);
    assert_int_equal(st.active_model, w->active);
    assert_int_equal(st.n_topics, 3);
    /* by name: billing, card_lost, refund */
    assert_string_equal(st.topics[0].name, "billing");
    assert_int_equal(st.topics[0].labelled, per_topic[2]);
    assert_string_equal(st.topics[1].name, "card_lost");
    assert_int_equal(st.topics[1].labelled, per_topic[0]);
    assert_string_equal(st.topics[2].name, "refund");
    assert_int_equal(st.topics[2].labelled, per_topic[1]);
    assert_int_equal(per_topic[0] + per_topic[1] + per_topic[2], labelled);
    assert_true(st.topics[0].automatable);
    assert_float_equal(st.topics[0].threshold, 0.9, 1e-12);
    kn_workspace_stats_free(&st);
    kn_store_close(w->s);
    free(w);

    char path[512];
    kn_store *s = new_store("empty-stats.db", path, sizeof path);
    assert_int_equal(kn_store_workspace_stats(s, &st, &err), 0);
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.active_model, -1);
    assert_int_equal(st.n_topics, 0);
    kn_workspace_stats_free(&st);
    kn_store_close(s);
}

/* ---- bulk annotations ------------------------------------------------------------------------- */

static int64_t count_rows(const char *path, const char *table)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char text[128];
    snprintf(text, sizeof text, "SELECT count(*) FROM %s", table);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_bulk_annotations(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("bulk.db", path, sizeof path);
    kn_error err = {{0}};
    add_topic(s, "refund", 1, 0.9);
    kn_message msgs[4] = {{.text = "a"}, {.text = "b"}, {.text = "c"}, {.text = "d"}};
    int64_t id[4];
    assert_int_equal(kn_store_add_messages(s, msgs, 4, id, NULL, &err), 0);

    int64_t created[4] = {0}, missing = -1;
    int64_t with_unknown[] = {id[0], id[1], 777777, id[2]};
    assert_int_equal(kn_store_annotate_many(s, with_unknown, 4, "refund", "liisa", created, &missing, &err), 2);
    assert_int_equal(missing, 777777);
    assert_int_equal(count_rows(path, "annotations"), 0); /* the first two were rolled back */
    assert_int_equal(kn_store_annotate_many(s, id, 4, "no_such_topic", "liisa", created, &missing, &err), 1);
    assert_int_equal(count_rows(path, "annotations"), 0);

    assert_int_equal(kn_store_annotate_many(s, id, 3, "refund", "liisa", created, &missing, &err), 0);
    assert_int_equal(count_rows(path, "annotations"), 3);
    for (int i = 0; i < 3; i++) {
        kn_annotation a;
        assert_int_equal(kn_store_get_annotation(s, created[i], &a, &err), 0);
        assert_int_equal(a.message_id, id[i]);
        assert_string_equal(a.topic, "refund");
        assert_string_equal(a.annotator, "liisa");
        kn_annotation_free(&a);
    }
    int64_t undo[] = {created[0], 888888, created[2]};
    size_t deleted = 0;
    assert_int_equal(kn_store_delete_annotations(s, undo, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(count_rows(path, "annotations"), 1);
    kn_annotation a;
    assert_int_equal(kn_store_get_annotation(s, created[1], &a, &err), 0);
    kn_annotation_free(&a);
    assert_int_equal(kn_store_get_annotation(s, created[0], &a, &err), 1);
    kn_store_close(s);
}

/* ---- CSV import from memory ------------------------------------------------------------------ */

static void test_import_buffer(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("import.db", path, sizeof path);
    kn_error err = {{0}};
    kn_import_stats stats;
    kn_import_row_error errors[2];
    size_t n_errors = 0;
    const char *csv = "external_id,text,language,received_at\n"
                      "e1,Kortti hävisi,fi,2026-01-02T03:04:05Z\n"
                      "e2,,en,\n"                    /* line 3: empty text */
                      "e3,\"two\nlines\",en,\n"      /* lines 4-5 */
                      "e4,bad time,en,yesterday\n"   /* line 6 */
                      "e1,again,fi,\n"               /* duplicate */
                      "e5,fine,en,1700000000\n";
    assert_int_equal(kn_store_import_csv_buffer(s, csv, strlen(csv), &stats, errors, 2, &n_errors, &err), 0);
    assert_int_equal(stats.added, 3);
    assert_int_equal(stats.invalid, 2);
    assert_int_equal(stats.duplicates, 1);
    assert_int_equal(n_errors, 2);
    assert_int_equal(errors[0].line, 3);
    assert_non_null(strstr(errors[0].error, "empty"));
    assert_int_equal(errors[1].line, 6);
    assert_non_null(strstr(errors[1].error, "received_at"));
    assert_null(strstr(errors[1].error, g_dir)); /* no temporary path */
    assert_int_equal(count_rows(path, "messages"), 3);

    /* A quote never closed: nothing stored, the line named. */
    const char *broken = "text\nfirst fine\nsecond fine\n\"never closed\nmore\n";
    assert_int_equal(kn_store_import_csv_buffer(s, broken, strlen(broken), &stats, errors, 2, &n_errors, &err), 1);
    assert_non_null(strstr(err.msg, "line 4"));
    assert_null(strstr(err.msg, ".kanava-import"));
    assert_int_equal(count_rows(path, "messages"), 3);
    const char *no_text = "body,channel\nhello,email\n";
    assert_int_equal(kn_store_import_csv_buffer(s, no_text, strlen(no_text), &stats, errors, 2, &n_errors, &err), 1);
    assert_non_null(strstr(err.msg, "line 1"));
    assert_non_null(strstr(err.msg, "text"));
    assert_int_equal(kn_store_import_csv_buffer(s, "", 0, &stats, errors, 2, &n_errors, &err), 1);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(count_rows(path, "messages"), 3);
    kn_store_close(s);
}

/* ---- token names -------------------------------------------------------------------------------- */

static void test_token_name(void **state)
{
    (void)state;
    char path[512];
    kn_store *s = new_store("tokens.db", path, sizeof path);
    kn_error err = {{0}};
    char token[65], other[65], name[257], role[16];
    assert_int_equal(kn_store_create_token(s, "annotator", "Liisa Virtanen", token, &err), 0);
    assert_int_equal(kn_store_create_token(s, "admin", "ops", other, &err), 0);
    assert_int_equal(kn_store_check_token_named(s, token, role, name, sizeof name, &err), 0);
    assert_string_equal(name, "Liisa Virtanen");
    assert_string_equal(role, "annotator");
    assert_int_equal(kn_store_check_token_named(s, other, role, name, sizeof name, &err), 0);
    assert_string_equal(name, "ops");
    strcpy(name, "unchanged");
    assert_int_equal(kn_store_check_token_named(s, "0000000000000000000000000000000000000000000000000000000000000000",
                                                role, name, sizeof name, &err),
                     1);
    assert_string_equal(name, "unchanged"); /* nothing is copied for an unknown token */
    assert_int_equal(kn_store_revoke_token(s, "ops", &err), 0);
    assert_int_equal(kn_store_check_token_named(s, other, role, name, sizeof name, &err), 1);
    kn_store_close(s);
}

/* ---- speed ------------------------------------------------------------------------------------------ */

/* n messages added through the store, predictions (for 90 %) and labels (every 10th) by SQL. */
static kn_store *big_store(const char *name, char *path, size_t cap, size_t n, int64_t *model)
{
    kn_store *s = new_store(name, path, cap);
    kn_error err = {{0}};
    add_topic(s, "refund", 1, 0.9);
    kn_message *msgs = calloc(n, sizeof *msgs);
    char (*texts)[96] = malloc(n * sizeof *texts);
    uint64_t rng = 3;
    for (size_t i = 0; i < n; i++) {
        snprintf(texts[i], sizeof texts[i], "Hei, %s ja %s %s: tilaus %zu ei ole vielä perillä", WORDS[kn_splitmix64(&rng) % N_WORDS],
                 WORDS[kn_splitmix64(&rng) % N_WORDS], WORDS[kn_splitmix64(&rng) % N_WORDS], i);
        msgs[i].text = texts[i];
        msgs[i].received_at = 1700000000 + (int64_t)i;
    }
    assert_int_equal(kn_store_add_messages(s, msgs, n, NULL, NULL, &err), 0);
    free(msgs);
    free(texts);
    int added;
    *model = kn_store_register_model(s, "/m/big", "tfidf", NULL, &added, &err);
    assert_int_equal(kn_store_activate_model(s, *model, &err), 0);
    char text[512];
    snprintf(text, sizeof text,
             "BEGIN;"
             "INSERT INTO predictions (message_id, model_id, topic_id, probability, top, created_at) "
             "SELECT id, %lld, 1, (id * 7919 %% 1000) / 1000.0, NULL, 0 FROM messages WHERE id %% 10 != 3;"
             "INSERT INTO annotations (message_id, topic_id, annotator, created_at) "
             "SELECT id, 1, 't', 0 FROM messages WHERE id %% 10 = 0;"
             "COMMIT;",
             (long long)*model);
    sql(path, text);
    return s;
}

static void test_speed(void **state)
{
    (void)state;
    char path[512];
    int64_t model;
    kn_error err = {{0}};
    kn_store *s = big_store("speed20k.db", path, sizeof path, 20000, &model);
    int64_t *ids = NULL;
    size_t n, total;
    kn_message_query q = {.limit = 100000, .q = "HÄVISI"};
    double t0 = kn_now();
    assert_int_equal(kn_store_query_message_ids(s, &q, &ids, &n, &total, &err), 0);
    double search = kn_now() - t0;
    assert_true(total > 1000 && total == n);
    free(ids);
    print_message("fields=id&q=HÄVISI over 20,000 messages: %zu matches in %.1f ms\n", total, search * 1e3);
    assert_true(search < 0.1 * SLOWDOWN);
    kn_store_close(s);

    s = big_store("speed100k.db", path, sizeof path, 100000, &model);
    kn_message_view *v = NULL;
    q = (kn_message_query){.limit = 50, .order = KN_ORDER_UNCERTAIN};
    t0 = kn_now();
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), 0);
    double uncertain = kn_now() - t0;
    assert_int_equal(total, 100000);
    assert_int_equal(n, 50);
    /* least confident unlabelled message first */
    assert_false(v[0].n_labels);
    assert_true(v[0].has_prediction);
    assert_float_equal(v[0].prediction_probability, 0.001, 1e-12); /* 0 only for labelled ids */
    kn_message_views_free(v, n);
    print_message("order=uncertain over 100,000 messages: %.1f ms\n", uncertain * 1e3);
    assert_true(uncertain < 1.0 * SLOWDOWN);
    q = (kn_message_query){.limit = 50, .order = KN_ORDER_ID};
    t0 = kn_now();
    assert_int_equal(kn_store_query_messages(s, &q, &v, &n, &total, &err), 0);
    print_message("order=id over 100,000 messages: %.1f ms\n", (kn_now() - t0) * 1e3);
    kn_message_views_free(v, n);
    kn_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contains_ci),   cmocka_unit_test(test_filters_and_orders),
        cmocka_unit_test(test_random_order),  cmocka_unit_test(test_details),
        cmocka_unit_test(test_stats),         cmocka_unit_test(test_bulk_annotations),
        cmocka_unit_test(test_import_buffer), cmocka_unit_test(test_token_name),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
