/* test_route.c - the routing policy (src/route/route.h): each rule, their order and their
 * reason texts; the equality boundaries of threshold and margin with float probabilities;
 * the language chain (message tag, its primary subtag, the fallback) with case-insensitive
 * tags; single-class input and ties; invalid input and failing reply lookups (-1, a message
 * naming the problem, *out reset); the reply text copied out of the lookup's buffer.
 * Replies come from a small in-test table. */
#include "test_util.h"

#include <math.h>
#include <strings.h>

#include "route/route.h"

/* ---- the reply table ---------------------------------------------------------------- */

typedef struct {
    const char *topic, *language, *text;
} reply_row;

typedef struct {
    const reply_row *rows;
    int n_rows;
    int fail;           /* 1: return -1 with a message; 2: 0 without text; 3: return 7 */
    int calls;
    char asked[8][32];  /* languages asked, in order */
    const char *given;  /* the last buffer handed out */
} reply_table;

static int table_lookup(void *ctx, const char *topic, const char *language, char **text, kn_error *err)
{
    reply_table *t = ctx;
    if (t->calls < 8) snprintf(t->asked[t->calls], sizeof t->asked[0], "%s", language);
    t->calls++;
    if (t->fail == 1) return kn_fail(err, "database is locked");
    if (t->fail == 2) return 0;
    if (t->fail == 3) return 7;
    for (int i = 0; i < t->n_rows; i++) {
        /* exact match: the router hands over tags in BCP 47 case */
        if (strcmp(t->rows[i].topic, topic) == 0 && strcmp(t->rows[i].language, language) == 0) {
            size_t len = strlen(t->rows[i].text);
            char *buf = malloc(len + 64); /* larger than needed: the router copies it */
            memcpy(buf, t->rows[i].text, len + 1);
            *text = buf;
            t->given = buf;
            return 0;
        }
    }
    return 1;
}

static const reply_row ROWS[] = {
    {"card_arrival", "fi", "Kortti saapuu 3-5 arkipäivässä."},
    {"card_arrival", "en", "Your card arrives in 3-5 working days."},
    {"card_arrival", "pt-BR", "Seu cartão chega em 3 a 5 dias úteis."},
    {"card_delivery_estimate", "fi", "Toimitusarvio on viikko."},
    {"fraud_report", "en", "We take fraud seriously."},
};
enum { N_ROWS = sizeof ROWS / sizeof ROWS[0] };

/* Replies only in English, or none at all. */
static const reply_row EN_ONLY[] = {{"card_arrival", "en", "Your card arrives in 3-5 working days."}};

/* ---- fixtures ------------------------------------------------------------------------ */

enum { ARRIVAL = 0, DELIVERY = 1, FRAUD = 2, LOST = 3, N_TOPICS = 4 };

static kn_route_topic TOPICS[N_TOPICS] = {
    {"card_arrival", 1, 1, 0.9},
    {"card_delivery_estimate", 1, 1, 0.9},
    {"fraud_report", 1, 0, 0.5},
    {"lost_card", 0, 1, 0.5}, /* the model knows it, the workspace does not */
};

static kn_route_input input(const float *proba, int n, const kn_route_topic *topics, reply_table *table)
{
    kn_route_input in = {
        .proba = proba,
        .n_classes = n,
        .topics = topics,
        .margin = 0.1,
        .language = "fi",
        .fallback_language = "en",
        .reply = table_lookup,
        .reply_ctx = table,
    };
    return in;
}

static reply_table table_of(const reply_row *rows, int n)
{
    reply_table t;
    memset(&t, 0, sizeof t);
    t.rows = rows;
    t.n_rows = n;
    return t;
}

/* Decides, expecting success; the caller frees d. */
static void decide_ok(const kn_route_input *in, kn_route_decision *d)
{
    kn_error err = {{0}};
    int rc = kn_route_decide(in, d, &err);
    if (rc != 0) fail_msg("kn_route_decide failed: %s", err.msg);
}

/* Decides, expecting -1 with a message containing each of the NULL-terminated needles, and
 * *out reset although it held garbage. */
static void decide_fails(const kn_route_input *in, ...)
{
    kn_route_decision d;
    memset(&d, 0xab, sizeof d);
    kn_error err = {{0}};
    assert_int_equal(kn_route_decide(in, &d, &err), -1);
    va_list ap;
    va_start(ap, in);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (!strstr(err.msg, needle)) fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
    va_end(ap);
    assert_int_equal(d.action, KN_ROUTE_HUMAN);
    assert_int_equal(d.topic, -1);
    assert_int_equal(d.second, -1);
    assert_null(d.reply_text);
    assert_string_equal(d.reason, "");
    assert_string_equal(d.reply_language, "");
    assert_true(d.probability == 0.0 && d.margin == 0.0 && d.threshold == 0.0);
    kn_route_decision_free(&d);
}

static void assert_human(const kn_route_decision *d, const char *reason)
{
    assert_int_equal(d->action, KN_ROUTE_HUMAN);
    assert_null(d->reply_text);
    assert_string_equal(d->reply_language, "");
    assert_string_equal(d->reason, reason);
}

/* ---- rule 1 -------------------------------------------------------------------------- */

static void test_never_automate_even_at_certainty(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    const float p[N_TOPICS] = {0, 0, 1, 0};
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    in.margin = 0;
    in.language = "en"; /* a reply exists: it still must not be sent */
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_human(&d, "topic 'fraud_report' is never answered automatically");
    assert_int_equal(d.topic, FRAUD);
    assert_int_equal(d.second, ARRIVAL);
    assert_true(d.probability == 1.0);
    assert_true(d.margin == 1.0);
    assert_true(d.threshold == 0.5);
    assert_int_equal(t.calls, 0);
    kn_route_decision_free(&d);
}

static void test_unknown_topic(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    const float p[N_TOPICS] = {0.01f, 0.01f, 0.01f, 0.97f};
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_human(&d, "topic 'lost_card' is not configured in this workspace");
    assert_int_equal(d.topic, LOST);

    /* not known wins over not automatable and over the threshold (rule order) */
    kn_route_topic topics[2] = {{"card_arrival", 0, 0, 0.99}, {"fraud_report", 1, 0, 0.5}};
    const float q[2] = {0.6f, 0.4f};
    in = input(q, 2, topics, &t);
    kn_route_decision e;
    decide_ok(&in, &e);
    assert_human(&e, "topic 'card_arrival' is not configured in this workspace");
    assert_int_equal(t.calls, 0);
    kn_route_decision_free(&d);
    kn_route_decision_free(&e);
}

/* ---- rule 2 -------------------------------------------------------------------------- */

static void test_below_threshold(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    const float p[N_TOPICS] = {0.812f, 0.1f, 0.05f, 0.038f};
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_human(&d, "probability 0.812 of 'card_arrival' is below its threshold 0.900");
    assert_int_equal(d.topic, ARRIVAL);
    assert_int_equal(d.second, DELIVERY);
    assert_true(fabs(d.probability - 0.812) < 1e-6);
    assert_true(d.threshold == 0.9);
    assert_int_equal(t.calls, 0);
    kn_route_decision_free(&d);

    /* just below: more decimals rather than "0.900 is below 0.900" */
    const float q[N_TOPICS] = {0.8996f, 0.1f, 0.0004f, 0};
    in = input(q, N_TOPICS, TOPICS, &t);
    decide_ok(&in, &d);
    assert_human(&d, "probability 0.8996 of 'card_arrival' is below its threshold 0.9000");
    kn_route_decision_free(&d);

    /* a float one step of 1e-5 below still fails: the slack is far smaller */
    const float r[N_TOPICS] = {0.89999f, 0, 0, 0};
    in = input(r, N_TOPICS, TOPICS, &t);
    decide_ok(&in, &d);
    assert_human(&d, "probability 0.89999 of 'card_arrival' is below its threshold 0.90000");
    kn_route_decision_free(&d);

    /* the threshold is checked before the margin (both fail here) */
    const float s[N_TOPICS] = {0.45f, 0.44f, 0.11f, 0};
    in = input(s, N_TOPICS, TOPICS, &t);
    decide_ok(&in, &d);
    assert_human(&d, "probability 0.450 of 'card_arrival' is below its threshold 0.900");
    kn_route_decision_free(&d);
}

static void test_equal_to_threshold_passes(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    /* 0.9f is 0.89999997615814 as a double: must still count as reaching 0.9 */
    const float p[N_TOPICS] = {0.9f, 0.05f, 0.05f, 0};
    assert_true((double)p[0] < 0.9);
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reason, "probability 0.900 >= threshold 0.900, margin 0.850 >= 0.100, reply in 'fi'");
    assert_string_equal(d.reply_text, "Kortti saapuu 3-5 arkipäivässä.");
    assert_string_equal(d.reply_language, "fi");
    kn_route_decision_free(&d);

    /* within the slack but below: shown as equal, never as "0.900 >= threshold 0.901" */
    kn_route_topic odd[2] = {{"card_arrival", 1, 1, 0.9005001}, {"card_delivery_estimate", 1, 1, 0.9}};
    const float w[2] = {0.9005f, 0.0f};
    assert_true((double)w[0] < odd[0].threshold);
    in = input(w, 2, odd, &t);
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reason, "probability 0.901 >= threshold 0.901, margin 0.900 >= 0.100, reply in 'fi'");
    kn_route_decision_free(&d);

    /* threshold 0 and probability 0 (every class 0: a degenerate but valid input) */
    kn_route_topic zero[2] = {{"card_arrival", 1, 1, 0.0}, {"card_delivery_estimate", 1, 1, 0.0}};
    const float z[2] = {0, 0};
    in = input(z, 2, zero, &t);
    in.margin = 0;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reason, "probability 0.000 >= threshold 0.000, margin 0.000 >= 0.000, reply in 'fi'");
    kn_route_decision_free(&d);

    /* threshold 1 with probability 1 */
    kn_route_topic one[1] = {{"card_arrival", 1, 1, 1.0}};
    const float o[1] = {1.0f};
    in = input(o, 1, one, &t);
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    kn_route_decision_free(&d);
}

/* ---- rule 3 -------------------------------------------------------------------------- */

static void test_ambiguity_margin(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_topic topics[N_TOPICS];
    memcpy(topics, TOPICS, sizeof topics);
    topics[ARRIVAL].threshold = 0.5;
    const float p[N_TOPICS] = {0.52f, 0.479f, 0.001f, 0};
    kn_route_input in = input(p, N_TOPICS, topics, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_human(&d, "margin 0.041 to 'card_delivery_estimate' is below 0.100");
    assert_int_equal(d.topic, ARRIVAL);
    assert_int_equal(d.second, DELIVERY);
    assert_true(fabs(d.margin - 0.041) < 1e-6);
    assert_int_equal(t.calls, 0); /* the reply is not looked up */
    kn_route_decision_free(&d);

    /* the same margin passes a smaller requirement */
    in.margin = 0.04;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reason, "probability 0.520 >= threshold 0.500, margin 0.041 >= 0.040, reply in 'fi'");
    kn_route_decision_free(&d);

    /* equal margin passes: 0.5f - 0.4f is 0.09999999404 in double, below 0.1 */
    const float q[N_TOPICS] = {0.5f, 0.4f, 0.1f, 0};
    assert_true((double)q[0] - (double)q[1] < 0.1);
    in = input(q, N_TOPICS, topics, &t);
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reason, "probability 0.500 >= threshold 0.500, margin 0.100 >= 0.100, reply in 'fi'");
    kn_route_decision_free(&d);

    /* just below the margin: the decimals grow until the numbers differ */
    const float r[N_TOPICS] = {0.5f, 0.4004f, 0.0996f, 0};
    in = input(r, N_TOPICS, topics, &t);
    decide_ok(&in, &d);
    assert_human(&d, "margin 0.0996 to 'card_delivery_estimate' is below 0.1000");
    kn_route_decision_free(&d);
}

/* ---- rule 4 and languages -------------------------------------------------------------- */

static void test_success_reason(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    const float p[N_TOPICS] = {0.973f, 0.073f, 0, 0};
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reason, "probability 0.973 >= threshold 0.900, margin 0.900 >= 0.100, reply in 'fi'");
    assert_string_equal(d.reply_language, "fi");
    assert_string_equal(d.reply_text, "Kortti saapuu 3-5 arkipäivässä.");
    assert_int_equal(t.calls, 1);
    assert_string_equal(t.asked[0], "fi");
    assert_int_equal(d.topic, ARRIVAL);
    assert_int_equal(d.second, DELIVERY);
    assert_true(fabs(d.probability - 0.973) < 1e-6);
    assert_true(fabs(d.margin - 0.9) < 1e-6);
    assert_true(d.threshold == 0.9);
    kn_route_decision_free(&d);
}

static void test_language_fallback_chain(void **state)
{
    (void)state;
    const float p[N_TOPICS] = {0.973f, 0.073f, 0, 0};
    kn_route_decision d;

    /* 'fi-FI' with only a 'fi' reply: the primary subtag before the fallback */
    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "fi-FI";
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reply_language, "fi");
    assert_string_equal(d.reply_text, "Kortti saapuu 3-5 arkipäivässä.");
    assert_int_equal(t.calls, 2);
    assert_string_equal(t.asked[0], "fi-FI");
    assert_string_equal(t.asked[1], "fi");
    kn_route_decision_free(&d);

    /* 'sv' with only the fallback 'en' */
    t = table_of(ROWS, N_ROWS);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "sv";
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_string_equal(d.reply_language, "en");
    assert_string_equal(d.reply_text, "Your card arrives in 3-5 working days.");
    assert_string_equal(d.reason,
                        "probability 0.973 >= threshold 0.900, margin 0.900 >= 0.100, reply in 'en' (fallback)");
    assert_int_equal(t.calls, 2);
    assert_string_equal(t.asked[0], "sv");
    assert_string_equal(t.asked[1], "en");
    kn_route_decision_free(&d);

    /* no reply at all: a person, with the languages tried */
    t = table_of(ROWS, 0);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "sv";
    decide_ok(&in, &d);
    assert_human(&d, "no reply for 'card_arrival' in 'sv' or the fallback 'en'");
    assert_int_equal(d.topic, ARRIVAL);
    assert_true(fabs(d.probability - 0.973) < 1e-6);
    kn_route_decision_free(&d);

    t = table_of(ROWS, 0);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "fi-FI";
    decide_ok(&in, &d);
    assert_human(&d, "no reply for 'card_arrival' in 'fi-FI', 'fi' or the fallback 'en'");
    assert_int_equal(t.calls, 3);
    kn_route_decision_free(&d);

    /* a regional fallback falls back to its primary subtag too */
    t = table_of(EN_ONLY, 1);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "sv";
    in.fallback_language = "en-GB";
    decide_ok(&in, &d);
    assert_string_equal(d.reply_language, "en");
    assert_int_equal(t.calls, 3);
    assert_string_equal(t.asked[1], "en-GB");
    kn_route_decision_free(&d);

    /* longer tags shorten one subtag at a time */
    t = table_of(ROWS, 0);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "zh-hant-tw";
    in.fallback_language = NULL;
    decide_ok(&in, &d);
    assert_human(&d, "no reply for 'card_arrival' in 'zh-Hant-TW', 'zh-Hant' or 'zh' (no fallback language)");
    kn_route_decision_free(&d);

    /* no message language: only the fallback */
    t = table_of(ROWS, N_ROWS);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "";
    decide_ok(&in, &d);
    assert_string_equal(d.reply_language, "en");
    assert_int_equal(t.calls, 1);
    kn_route_decision_free(&d);

    t = table_of(ROWS, 0);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = NULL;
    decide_ok(&in, &d);
    assert_human(&d, "no reply for 'card_arrival' in the fallback 'en'");
    kn_route_decision_free(&d);

    /* no fallback */
    t = table_of(EN_ONLY, 1);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "sv";
    in.fallback_language = "";
    decide_ok(&in, &d);
    assert_human(&d, "no reply for 'card_arrival' in 'sv' (no fallback language)");
    assert_int_equal(t.calls, 1);
    kn_route_decision_free(&d);

    /* no language at all */
    t = table_of(ROWS, N_ROWS);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = NULL;
    in.fallback_language = NULL;
    decide_ok(&in, &d);
    assert_human(&d, "no reply for 'card_arrival': no message language and no fallback language");
    assert_int_equal(t.calls, 0);
    kn_route_decision_free(&d);
}

static void test_case_insensitive_tags(void **state)
{
    (void)state;
    const float p[N_TOPICS] = {0.973f, 0.073f, 0, 0};
    kn_route_decision d;

    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "FI";
    decide_ok(&in, &d);
    assert_string_equal(d.reply_language, "fi");
    assert_int_equal(t.calls, 1);
    kn_route_decision_free(&d);

    /* any case, '_' for '-': handed over in BCP 47 case */
    t = table_of(ROWS, N_ROWS);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "PT_br";
    decide_ok(&in, &d);
    assert_string_equal(t.asked[0], "pt-BR");
    assert_string_equal(d.reply_language, "pt-BR");
    assert_string_equal(d.reply_text, "Seu cartão chega em 3 a 5 dias úteis.");
    kn_route_decision_free(&d);

    /* the fallback equal to the message language up to case is asked once */
    t = table_of(ROWS, 0);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "EN";
    in.fallback_language = "en";
    decide_ok(&in, &d);
    assert_int_equal(t.calls, 1);
    assert_human(&d, "no reply for 'card_arrival' in 'en' (also the fallback)");
    kn_route_decision_free(&d);

    t = table_of(ROWS, N_ROWS);
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "sv-SE";
    in.fallback_language = "EN";
    decide_ok(&in, &d);
    assert_string_equal(d.reply_language, "en");
    assert_string_equal(t.asked[2], "en");
    kn_route_decision_free(&d);
}

/* ---- shapes ------------------------------------------------------------------------------ */

static void test_single_class(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_topic one[1] = {{"card_arrival", 1, 1, 0.9}};
    const float p[1] = {0.973f};
    kn_route_input in = input(p, 1, one, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_int_equal(d.topic, 0);
    assert_int_equal(d.second, -1);
    assert_true(d.margin == d.probability);
    assert_string_equal(d.reason, "probability 0.973 >= threshold 0.900, margin 0.973 >= 0.100, reply in 'fi'");
    kn_route_decision_free(&d);

    in.margin = 0.98;
    decide_ok(&in, &d);
    assert_human(&d, "margin 0.973 (single class) is below 0.980");
    kn_route_decision_free(&d);
}

static void test_ties(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_topic topics[N_TOPICS];
    memcpy(topics, TOPICS, sizeof topics);
    topics[ARRIVAL].threshold = topics[DELIVERY].threshold = 0.4;
    kn_route_decision d;

    /* a tie for the top: the lowest index, the other second, margin 0 */
    const float p[N_TOPICS] = {0.4f, 0.4f, 0.2f, 0};
    kn_route_input in = input(p, N_TOPICS, topics, &t);
    decide_ok(&in, &d);
    assert_int_equal(d.topic, ARRIVAL);
    assert_int_equal(d.second, DELIVERY);
    assert_true(d.margin == 0.0);
    assert_human(&d, "margin 0.000 to 'card_delivery_estimate' is below 0.100");
    kn_route_decision_free(&d);

    /* reversed order of the same tie at a later position */
    const float q[N_TOPICS] = {0.2f, 0, 0.4f, 0.4f};
    in = input(q, N_TOPICS, topics, &t);
    decide_ok(&in, &d);
    assert_int_equal(d.topic, FRAUD);
    assert_int_equal(d.second, LOST);
    kn_route_decision_free(&d);

    /* a margin of 0 accepts the tie */
    in = input(p, N_TOPICS, topics, &t);
    in.margin = 0;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    assert_int_equal(d.topic, ARRIVAL);
    kn_route_decision_free(&d);

    /* a tie for second: the lowest index other than the top */
    const float r[N_TOPICS] = {0.2f, 0.5f, 0.2f, 0.1f};
    in = input(r, N_TOPICS, topics, &t);
    decide_ok(&in, &d);
    assert_int_equal(d.topic, DELIVERY);
    assert_int_equal(d.second, ARRIVAL);
    kn_route_decision_free(&d);

    /* all equal */
    const float s[N_TOPICS] = {0.25f, 0.25f, 0.25f, 0.25f};
    in = input(s, N_TOPICS, topics, &t);
    decide_ok(&in, &d);
    assert_int_equal(d.topic, ARRIVAL);
    assert_int_equal(d.second, DELIVERY);
    kn_route_decision_free(&d);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_invalid_input(void **state)
{
    (void)state;
    reply_table t = table_of(ROWS, N_ROWS);
    float p[N_TOPICS] = {0.5f, 0.3f, 0.2f, 0};
    kn_route_input in;

    p[2] = NAN;
    in = input(p, N_TOPICS, TOPICS, &t);
    decide_fails(&in, "class 2", "fraud_report", "NaN", (char *)NULL);

    p[2] = 0.2f;
    p[1] = 1.5f;
    in = input(p, N_TOPICS, TOPICS, &t);
    decide_fails(&in, "probability 1.5 ", "class 1", "[0, 1]", (char *)NULL);

    p[1] = -0.25f;
    in = input(p, N_TOPICS, TOPICS, &t);
    decide_fails(&in, "probability -0.25 ", "class 1", (char *)NULL);

    p[1] = INFINITY;
    in = input(p, N_TOPICS, TOPICS, &t);
    decide_fails(&in, "probability inf ", "class 1", (char *)NULL);
    p[1] = 0.3f;

    kn_route_topic topics[N_TOPICS];
    memcpy(topics, TOPICS, sizeof topics);
    topics[0].threshold = -0.1;
    in = input(p, N_TOPICS, topics, &t);
    decide_fails(&in, "threshold -0.1 ", "class 0", "card_arrival", (char *)NULL);
    /* an unknown topic's threshold is checked too */
    topics[0].threshold = 0.9;
    topics[LOST].threshold = 1.01;
    in = input(p, N_TOPICS, topics, &t);
    decide_fails(&in, "threshold 1.01 ", "class 3", (char *)NULL);
    topics[LOST].threshold = NAN;
    in = input(p, N_TOPICS, topics, &t);
    decide_fails(&in, "threshold nan ", "class 3", (char *)NULL);
    topics[LOST].threshold = 0.5;
    topics[1].name = NULL;
    in = input(p, N_TOPICS, topics, &t);
    decide_fails(&in, "class 1 has no topic name", (char *)NULL);

    in = input(p, N_TOPICS, TOPICS, &t);
    in.margin = -0.05;
    decide_fails(&in, "margin -0.05 ", (char *)NULL);
    in.margin = NAN;
    decide_fails(&in, "margin nan ", (char *)NULL);

    in = input(p, 0, TOPICS, &t);
    decide_fails(&in, "at least one class, got 0", (char *)NULL);
    in = input(p, -3, TOPICS, &t);
    decide_fails(&in, "got -3", (char *)NULL);

    in = input(p, N_TOPICS, TOPICS, &t);
    in.reply = NULL;
    decide_fails(&in, "reply callback is NULL", (char *)NULL);
    in = input(NULL, N_TOPICS, TOPICS, &t);
    decide_fails(&in, "proba is NULL", (char *)NULL);
    in = input(p, N_TOPICS, NULL, &t);
    decide_fails(&in, "topics is NULL", (char *)NULL);
    decide_fails(NULL, "in is NULL", (char *)NULL);

    /* language tags: even when the message goes to a person for another reason */
    in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "fi FI";
    decide_fails(&in, "message language tag 'fi FI'", "invalid character at 2", (char *)NULL);
    in.language = "fi";
    in.fallback_language = "en--GB";
    decide_fails(&in, "fallback language tag 'en--GB'", "empty subtag", (char *)NULL);
    in.fallback_language = "en";
    in.language = "de-DE-x-phonebook"; /* 17 characters do not fit reply_language */
    decide_fails(&in, "message language tag 'de-DE-x-phonebook'", "longer than 15", (char *)NULL);
    assert_int_equal(t.calls, 0);

    kn_error err;
    assert_int_equal(kn_route_decide(&in, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "out is NULL"));
    /* sums need not be 1 */
    const float loose[N_TOPICS] = {0.973f, 0.073f, 0.01f, 0};
    in = input(loose, N_TOPICS, TOPICS, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_AUTO_REPLY);
    kn_route_decision_free(&d);
}

static void test_failing_reply_callback(void **state)
{
    (void)state;
    const float p[N_TOPICS] = {0.973f, 0.073f, 0, 0};
    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    in.language = "sv";

    t.fail = 1;
    decide_fails(&in, "reply lookup for 'card_arrival' in 'sv' failed: database is locked", (char *)NULL);
    assert_int_equal(t.calls, 1); /* the first failure stops the chain */

    t.fail = 2;
    decide_fails(&in, "reply lookup for 'card_arrival' in 'sv' succeeded without a text", (char *)NULL);

    t.fail = 3;
    decide_fails(&in, "reply lookup for 'card_arrival' in 'sv' returned 7", (char *)NULL);

    /* the callback is not called when an earlier rule decides */
    t = table_of(ROWS, N_ROWS);
    t.fail = 1;
    const float q[N_TOPICS] = {0.5f, 0.5f, 0, 0};
    in = input(q, N_TOPICS, TOPICS, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_HUMAN);
    assert_int_equal(t.calls, 0);
    kn_route_decision_free(&d);
}

static void test_reply_text_is_copied(void **state)
{
    (void)state;
    const float p[N_TOPICS] = {0.973f, 0.073f, 0, 0};
    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_input in = input(p, N_TOPICS, TOPICS, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_non_null(t.given);
    /* the decision owns its own copy; the lookup's buffer was freed by the router (ASan
     * would report a leak otherwise, or a double free if the decision still pointed at it) */
    assert_ptr_not_equal(d.reply_text, t.given);
    assert_string_equal(d.reply_text, "Kortti saapuu 3-5 arkipäivässä.");
    kn_route_decision_free(&d);
    assert_null(d.reply_text);
    kn_route_decision_free(&d); /* twice is harmless */

    kn_route_decision zero;
    memset(&zero, 0, sizeof zero);
    kn_route_decision_free(&zero);
    kn_route_decision_free(NULL);
}

static void test_reason_never_overflows(void **state)
{
    (void)state;
    char name[400];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    kn_route_topic topics[1] = {{name, 1, 1, 0.9}};
    const float p[1] = {0.5f};
    reply_table t = table_of(ROWS, N_ROWS);
    kn_route_input in = input(p, 1, topics, &t);
    kn_route_decision d;
    decide_ok(&in, &d);
    assert_int_equal(d.action, KN_ROUTE_HUMAN);
    assert_int_equal(strlen(d.reason), sizeof d.reason - 1);
    assert_int_equal(strncmp(d.reason, "probability 0.500 of 'xxx", 25), 0);
    kn_route_decision_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_automate_even_at_certainty),
        cmocka_unit_test(test_unknown_topic),
        cmocka_unit_test(test_below_threshold),
        cmocka_unit_test(test_equal_to_threshold_passes),
        cmocka_unit_test(test_ambiguity_margin),
        cmocka_unit_test(test_success_reason),
        cmocka_unit_test(test_language_fallback_chain),
        cmocka_unit_test(test_case_insensitive_tags),
        cmocka_unit_test(test_single_class),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_failing_reply_callback),
        cmocka_unit_test(test_reply_text_is_copied),
        cmocka_unit_test(test_reason_never_overflows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
