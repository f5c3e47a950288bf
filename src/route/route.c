/* route.c - the routing policy of route.h: the rules, their order and the reason texts.
 *
 * Numbers in reasons have 3 decimals; when two numbers that are compared would print the
 * same (0.8996 below 0.9000 prints as "0.900 ... 0.900"), both get more decimals (up to 9)
 * until they differ, so a reason never contradicts itself.
 *
 * Language tags: compared case-insensitively, '_' is read as '-'. Each tag is put in the
 * BCP 47 case (language lower, script title, region upper: "fi-FI", "zh-Hant-TW") before
 * it is given to the reply lookup, and a lookup that finds nothing moves to the next,
 * shorter tag ("zh-Hant-TW" -> "zh-Hant" -> "zh"). The message language and its shorter
 * forms come first, then the fallback language and its shorter forms, each tag tried once.
 * A tag must fit reply_language (at most 15 characters) and hold only letters, digits and
 * separators; anything else is invalid input. */
#include "route/route.h"
#include "text/language_tag.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slack of the >= comparisons (probability vs threshold, margin vs required margin).
 * Probabilities arrive as float, thresholds and margins as double: 0.9f is
 * 0.89999997615814 as a double, and 0.9f - 0.8f is 0.09999996423721, so an exact (or
 * 1e-12) comparison would send a message whose probability is "0.9" to a person at
 * threshold 0.9. Rounding a value in [0, 1] to float is off by at most FLT_EPSILON / 4
 * (FLT_EPSILON / 2 for a difference of two), so FLT_EPSILON (1.2e-7) covers it while
 * staying far below any meaningful difference in probability. Equality passes. */
#define KN_ROUTE_SLACK ((double)FLT_EPSILON)

/* The longest tag that fits reply_language, and the most tags tried: every shorter form of
 * the message tag and of the fallback (a tag of TAG_MAX characters has at most 8 subtags). */
enum { TAG_MAX = (int)sizeof(((kn_route_decision *)0)->reply_language) - 1, MAX_CANDIDATES = 2 * ((TAG_MAX + 1) / 2) };
_Static_assert(TAG_MAX == KN_LANGUAGE_TAG_MAX, "reply_language holds any stored tag");

/* snprintf into a reason: a long topic name is cut at the end of the buffer, by design. */
__attribute__((format(printf, 3, 4))) static void textf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static int reaches(double value, double required)
{
    return value >= required - KN_ROUTE_SLACK;
}

/* Formats a and b with the same number of decimals, 3 or more (up to 9) until they differ. */
static void format_pair(double a, double b, char *sa, char *sb, size_t cap)
{
    for (int d = 3; d <= 9; d++) {
        snprintf(sa, cap, "%.*f", d, a);
        snprintf(sb, cap, "%.*f", d, b);
        if (strcmp(sa, sb) != 0) return;
    }
}

/* The empty decision: what *out holds on error and before any rule is checked. */
static void reset(kn_route_decision *out)
{
    memset(out, 0, sizeof *out);
    out->action = KN_ROUTE_HUMAN;
    out->topic = -1;
    out->second = -1;
    out->reply_text = NULL;
}

/* Writes tag in BCP 47 case into out[TAG_MAX + 1] (text/language_tag.h, the rule the store
 * applies too); -1 when the tag is not well formed. */
static int canonical_tag(const char *tag, char *out, const char *what, kn_error *err)
{
    char why[64];
    if (kn_language_tag_canonical(tag, out, why, sizeof why) == 0) return 0;
    return kn_fail(err, "route: %s language tag '%.40s%s' %s", what, tag, strlen(tag) > 40 ? "..." : "", why);
}

/* Appends tag and its shorter forms to cand (skipping tags already there). */
static void add_candidates(const char *tag, char cand[][TAG_MAX + 1], int *n)
{
    char t[TAG_MAX + 1];
    snprintf(t, sizeof t, "%s", tag);
    for (;;) {
        int seen = 0;
        for (int k = 0; k < *n; k++) seen |= strcmp(cand[k], t) == 0;
        if (!seen && *n < MAX_CANDIDATES) snprintf(cand[(*n)++], TAG_MAX + 1, "%s", t);
        char *dash = strrchr(t, '-');
        if (!dash) return;
        *dash = '\0';
        char *prev = strrchr(t, '-'); /* drop a trailing singleton too: "de-x-foo" -> "de" */
        if (prev && strlen(prev + 1) == 1) *prev = '\0';
    }
}

/* Appends "'a', 'b' or 'c'" for cand[from..to) to buf; last_sep goes before the last one. */
static void list_tags(char *buf, size_t cap, char cand[][TAG_MAX + 1], int from, int to, const char *last_sep)
{
    for (int k = from; k < to; k++) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s'%s'", k > from ? (k + 1 == to ? last_sep : ", ") : "", cand[k]);
    }
}

static int check_input(const kn_route_input *in, kn_error *err)
{
    if (in->n_classes < 1) return kn_fail(err, "route: needs at least one class, got %d", in->n_classes);
    if (!in->proba) return kn_fail(err, "route: no probabilities (proba is NULL)");
    if (!in->topics) return kn_fail(err, "route: no topic settings (topics is NULL)");
    if (!in->reply) return kn_fail(err, "route: no reply lookup (reply callback is NULL)");
    for (int c = 0; c < in->n_classes; c++) {
        const kn_route_topic *t = &in->topics[c];
        if (!t->name || !t->name[0]) return kn_fail(err, "route: class %d has no topic name", c);
        double p = (double)in->proba[c];
        if (isnan(p)) return kn_fail(err, "route: probability of class %d ('%s') is NaN", c, t->name);
        if (!(p >= 0.0 && p <= 1.0))
            return kn_fail(err, "route: probability %g of class %d ('%s') is outside [0, 1]", p, c, t->name);
        if (!(t->threshold >= 0.0 && t->threshold <= 1.0))
            return kn_fail(err, "route: threshold %g of class %d ('%s') is outside [0, 1]", t->threshold, c,
                           t->name);
    }
    if (!(in->margin >= 0.0) || isinf(in->margin))
        return kn_fail(err, "route: ambiguity margin %g is not a finite number >= 0", in->margin);
    /* Tags are checked here, not only at rule 4, so the same input fails whatever the rules decide. */
    char tag[TAG_MAX + 1];
    if (in->language && in->language[0] && canonical_tag(in->language, tag, "message", err) != 0) return -1;
    if (in->fallback_language && in->fallback_language[0] &&
        canonical_tag(in->fallback_language, tag, "fallback", err) != 0)
        return -1;
    return 0;
}

/* Rule 4: tries each candidate language. 0 with out->reply_text set, 1 when no candidate
 * has a reply (out->reason says so), -1 on a failing lookup. */
static int find_reply(const kn_route_input *in, const char *topic, kn_route_decision *out, const char *nums,
                      kn_error *err)
{
    char cand[MAX_CANDIDATES][TAG_MAX + 1], tag[TAG_MAX + 1];
    int n = 0, n_message = 0;
    if (in->language && in->language[0]) {
        if (canonical_tag(in->language, tag, "message", err) != 0) return -1;
        add_candidates(tag, cand, &n);
        n_message = n;
    }
    if (in->fallback_language && in->fallback_language[0]) {
        if (canonical_tag(in->fallback_language, tag, "fallback", err) != 0) return -1;
        add_candidates(tag, cand, &n);
    }
    for (int k = 0; k < n; k++) {
        char *text = NULL;
        kn_error lerr = {{0}};
        int rc = in->reply(in->reply_ctx, topic, cand[k], &text, &lerr);
        if (rc == 1) continue;
        if (rc != 0 && rc != -1)
            return kn_fail(err, "route: reply lookup for '%s' in '%s' returned %d (expected 0, 1 or -1)", topic,
                           cand[k], rc);
        if (rc != 0)
            return kn_fail(err, "route: reply lookup for '%s' in '%s' failed%s%s", topic, cand[k],
                           lerr.msg[0] ? ": " : "", lerr.msg);
        if (!text)
            return kn_fail(err, "route: reply lookup for '%s' in '%s' succeeded without a text", topic, cand[k]);
        /* The reply is copied: the decision owns an exact-size string of its own. */
        out->reply_text = strdup(text);
        free(text);
        if (!out->reply_text) return kn_fail(err, "route: out of memory copying the reply for '%s'", topic);
        memcpy(out->reply_language, cand[k], sizeof out->reply_language); /* both TAG_MAX + 1 */
        textf(out->reason, sizeof out->reason, "%s, reply in '%s'%s", nums, cand[k],
              k >= n_message ? " (fallback)" : "");
        return 0;
    }
    char where[sizeof out->reason] = "";
    if (n == 0) {
        snprintf(where, sizeof where, ": no message language and no fallback language");
    } else {
        snprintf(where, sizeof where, " in ");
        int fallback_given = in->fallback_language && in->fallback_language[0];
        if (n_message > 0) list_tags(where, sizeof where, cand, 0, n_message, n > n_message ? ", " : " or ");
        size_t used = strlen(where);
        if (n > n_message) {
            snprintf(where + used, sizeof where - used, "%sthe fallback ", n_message > 0 ? " or " : "");
            list_tags(where, sizeof where, cand, n_message, n, " or ");
        } else if (fallback_given) {
            snprintf(where + used, sizeof where - used, " (also the fallback)");
        } else {
            snprintf(where + used, sizeof where - used, " (no fallback language)");
        }
    }
    textf(out->reason, sizeof out->reason, "no reply for '%s'%s", topic, where);
    return 1;
}

int kn_route_decide(const kn_route_input *in, kn_route_decision *out, kn_error *err)
{
    if (!out) return kn_fail(err, "route: no decision to fill (out is NULL)");
    reset(out);
    if (!in) return kn_fail(err, "route: no input (in is NULL)");
    if (check_input(in, err) != 0) return -1;

    int top = 0, second = -1;
    for (int c = 1; c < in->n_classes; c++)
        if (in->proba[c] > in->proba[top]) top = c; /* strict: ties keep the lowest index */
    for (int c = 0; c < in->n_classes; c++)
        if (c != top && (second < 0 || in->proba[c] > in->proba[second])) second = c;
    const kn_route_topic *t = &in->topics[top];
    double p = (double)in->proba[top];
    out->topic = top;
    out->second = second;
    out->probability = p;
    out->margin = second >= 0 ? p - (double)in->proba[second] : p;
    out->threshold = t->threshold;

    char a[32], b[32];
    /* Rule 1: a known, automatable topic. */
    if (!t->known) {
        textf(out->reason, sizeof out->reason, "topic '%s' is not configured in this workspace", t->name);
        return 0;
    }
    if (!t->automatable) {
        textf(out->reason, sizeof out->reason, "topic '%s' is never answered automatically", t->name);
        return 0;
    }
    /* Rule 2: the topic's threshold. */
    if (!reaches(p, t->threshold)) {
        format_pair(p, t->threshold, a, b, sizeof a);
        textf(out->reason, sizeof out->reason, "probability %s of '%s' is below its threshold %s", a, t->name, b);
        return 0;
    }
    /* Rule 3: the ambiguity margin. */
    if (!reaches(out->margin, in->margin)) {
        format_pair(out->margin, in->margin, a, b, sizeof a);
        if (second >= 0)
            textf(out->reason, sizeof out->reason, "margin %s to '%s' is below %s", a, in->topics[second].name,
                     b);
        else
            textf(out->reason, sizeof out->reason, "margin %s (single class) is below %s", a, b);
        return 0;
    }
    /* Rule 4: a reply in the message's language or the fallback. */
    /* Within the slack a value may sit just below what it reached: shown as equal, never as
     * "0.900 >= 0.901". */
    char nums[128];
    snprintf(nums, sizeof nums, "probability %.3f >= threshold %.3f, margin %.3f >= %.3f", fmax(p, t->threshold),
             t->threshold, fmax(out->margin, in->margin), in->margin);
    int rc = find_reply(in, t->name, out, nums, err);
    if (rc < 0) {
        free(out->reply_text);
        reset(out);
        return -1;
    }
    if (rc == 0) out->action = KN_ROUTE_AUTO_REPLY;
    return 0;
}

void kn_route_decision_free(kn_route_decision *d)
{
    if (!d) return;
    free(d->reply_text);
    d->reply_text = NULL;
}
