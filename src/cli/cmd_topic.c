/* cmd_topic.c - `kanava topic add|list|show|reply|remove`: the workspace's topics, their
 * auto-answer settings (automatable, confidence threshold) and reply templates. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/workspace.h"

#define DEFAULT_THRESHOLD 0.9

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava topic add NAME [--description TEXT] [--threshold X] [--never-automate|--automate]\n"
            "                         creates a topic, or updates the given settings of an existing one\n"
            "       kanava topic list name, automatable, threshold and reply languages of every topic\n"
            "       kanava topic show NAME\n"
            "       kanava topic reply NAME LANG TEXT\n"
            "                         sets the reply template of NAME in language LANG (e.g. fi, en)\n"
            "       kanava topic remove NAME\n"
            "  --threshold X    confidence from 0 to 1 needed to answer automatically (default %.2g)\n"
            "  --never-automate never answer this topic automatically (--automate undoes it)\n"
            "  --workspace DIR  (default $KANAVA_WORKSPACE, else ./" KN_DEFAULT_WORKSPACE ")\n",
            DEFAULT_THRESHOLD);
}

/* The shortest form of x that reads back as x (0.9, 0.95, 0.9999; never rounded to 1). */
static const char *fmt_threshold(double x, char *buf, size_t cap)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        if (strtod(buf, NULL) == x) break;
    }
    return buf;
}

/* 0 and the topic, or an exit code after printing why. */
static int get_topic(kn_store *s, const char *name, kn_topic *t)
{
    kn_error err;
    int rc = kn_store_get_topic(s, name, t, &err);
    if (rc == 1) {
        fprintf(stderr, "kanava topic: no topic named \"%s\" (see `kanava topic list`)\n", name);
        return KN_EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    return 0;
}

/* "fi,en" or "-"; *out malloc'ed. 0 or an exit code. */
static int languages(kn_store *s, const char *topic, char **out)
{
    kn_error err;
    char **langs;
    size_t n;
    int rc = kn_store_reply_languages(s, topic, &langs, &n, &err);
    if (rc != 0) {
        if (rc == 1) fprintf(stderr, "kanava topic: no topic named \"%s\"\n", topic);
        else fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    size_t len = 2;
    for (size_t i = 0; i < n; i++) len += strlen(langs[i]) + 1;
    char *joined = malloc(len);
    if (!joined) {
        kn_store_strings_free(langs, n);
        fprintf(stderr, "kanava topic: out of memory\n");
        return KN_EXIT_FAIL;
    }
    strcpy(joined, n ? "" : "-");
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(joined, ",");
        strcat(joined, langs[i]);
    }
    kn_store_strings_free(langs, n);
    *out = joined;
    return 0;
}

static int add(kn_store *s, const char *name, const char *description, double threshold, int automatable)
{
    kn_error err;
    kn_topic t;
    int rc = kn_store_get_topic(s, name, &t, &err);
    if (rc < 0) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    int existed = rc == 0;
    kn_topic put = {.name = (char *)name,
                    .description = description ? (char *)description : existed ? t.description : NULL,
                    .automatable = automatable >= 0 ? automatable : existed ? t.automatable : 1,
                    .threshold = threshold >= 0 ? threshold : existed ? t.threshold : DEFAULT_THRESHOLD};
    int64_t id = kn_store_put_topic(s, &put, &err);
    if (existed) kn_topic_free(&t);
    if (id < 0) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_USAGE; /* the store refuses only bad names and descriptions here */
    }
    char th[32];
    fprintf(stderr, "%s topic \"%s\": %s, threshold %s\n", existed ? "updated" : "added", name,
            put.automatable ? "automatable" : "never automated", fmt_threshold(put.threshold, th, sizeof th));
    return KN_EXIT_OK;
}

static int list(kn_store *s)
{
    kn_error err;
    kn_topic *topics;
    size_t n;
    if (kn_store_list_topics(s, &topics, &n, &err) != 0) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    int width = 4, code = KN_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(topics[i].name);
        if (len > (size_t)width) width = len > 48 ? 48 : (int)len;
    }
    if (n == 0) fprintf(stderr, "no topics; add one with `kanava topic add NAME`\n");
    else printf("%-*s  %-11s  %-9s  %s\n", width, "NAME", "AUTOMATABLE", "THRESHOLD", "REPLIES");
    for (size_t i = 0; i < n && code == KN_EXIT_OK; i++) {
        char *langs;
        if ((code = languages(s, topics[i].name, &langs)) != 0) break;
        char th[32];
        printf("%-*s  %-11s  %-9s  %s\n", width, topics[i].name, topics[i].automatable ? "yes" : "no",
               fmt_threshold(topics[i].threshold, th, sizeof th), langs);
        free(langs);
    }
    for (size_t i = 0; i < n; i++) kn_topic_free(&topics[i]);
    free(topics);
    return code;
}

static int show(kn_store *s, const char *name)
{
    kn_topic t;
    int code = get_topic(s, name, &t);
    if (code != 0) return code;
    kn_error err;
    char **langs;
    size_t n;
    if (kn_store_reply_languages(s, name, &langs, &n, &err) != 0) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        kn_topic_free(&t);
        return KN_EXIT_FAIL;
    }
    printf("name:        %s\n", t.name);
    printf("description: %s\n", t.description && *t.description ? t.description : "-");
    printf("automatable: %s\n", t.automatable ? "yes" : "no (never answered automatically)");
    char th[32];
    printf("threshold:   %s\n", fmt_threshold(t.threshold, th, sizeof th));
    printf("replies:%s\n", n ? "" : "     -");
    for (size_t i = 0; i < n && code == KN_EXIT_OK; i++) {
        char *text = NULL;
        int rc = kn_store_get_reply(s, name, langs[i], &text, &err);
        if (rc < 0) {
            fprintf(stderr, "kanava topic: %s\n", err.msg);
            code = KN_EXIT_FAIL;
        } else if (rc == 0) {
            printf("  [%s] %s\n", langs[i], text);
            free(text);
        }
    }
    kn_store_strings_free(langs, n);
    kn_topic_free(&t);
    return code;
}

static int reply(kn_store *s, const char *name, const char *lang, const char *text)
{
    kn_topic t;
    int code = get_topic(s, name, &t);
    if (code != 0) return code;
    kn_topic_free(&t);
    kn_error err;
    if (kn_store_put_reply(s, name, lang, text, &err) != 0) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_USAGE; /* the topic exists: what is refused is the language or text */
    }
    fprintf(stderr, "set the \"%s\" reply of topic \"%s\"\n", lang, name);
    return KN_EXIT_OK;
}

static int remove_topic(kn_store *s, const char *name)
{
    kn_error err;
    int rc = kn_store_delete_topic(s, name, &err);
    if (rc == 1) {
        fprintf(stderr, "kanava topic: no topic named \"%s\" (see `kanava topic list`)\n", name);
        return KN_EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    fprintf(stderr, "removed topic \"%s\" and its replies\n", name);
    return KN_EXIT_OK;
}

int cmd_topic(int argc, char **argv)
{
    static const struct option opts[] = {{"workspace", required_argument, 0, 'w'},
                                          {"description", required_argument, 0, 'd'},
                                          {"threshold", required_argument, 0, 't'},
                                          {"never-automate", no_argument, 0, 'N'},
                                          {"automate", no_argument, 0, 'A'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *flag = NULL, *description = NULL;
    double threshold = -1;
    int automatable = -1, settings = 0, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': flag = optarg; break;
        case 'd': description = optarg; settings = 1; break;
        case 't':
            errno = 0;
            threshold = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(threshold) || threshold < 0 || threshold > 1) {
                fprintf(stderr, "kanava topic: --threshold must be a number from 0 to 1, not '%s'\n", optarg);
                return KN_EXIT_USAGE;
            }
            settings = 1;
            break;
        case 'N': automatable = 0; settings = 1; break;
        case 'A': automatable = 1; settings = 1; break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (optind >= argc) { usage(stderr); return KN_EXIT_USAGE; }
    const char *sub = argv[optind++];
    int nargs = argc - optind, want;
    if (strcmp(sub, "add") == 0 || strcmp(sub, "show") == 0 || strcmp(sub, "remove") == 0) want = 1;
    else if (strcmp(sub, "list") == 0) want = 0;
    else if (strcmp(sub, "reply") == 0) want = 3;
    else {
        fprintf(stderr, "kanava topic: unknown subcommand '%s' (add, list, show, reply or remove)\n", sub);
        return KN_EXIT_USAGE;
    }
    if (nargs != want || (settings && strcmp(sub, "add") != 0)) { usage(stderr); return KN_EXIT_USAGE; }
    if (want >= 1 && !*argv[optind]) {
        fprintf(stderr, "kanava topic: the topic name is empty\n");
        return KN_EXIT_USAGE;
    }

    kn_error err;
    kn_store *s = kn_workspace_open(flag, 0, &err);
    if (!s) {
        fprintf(stderr, "kanava topic: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    int code;
    const char *name = want >= 1 ? argv[optind] : NULL;
    if (strcmp(sub, "add") == 0) code = add(s, name, description, threshold, automatable);
    else if (strcmp(sub, "list") == 0) code = list(s);
    else if (strcmp(sub, "show") == 0) code = show(s, name);
    else if (strcmp(sub, "reply") == 0) code = reply(s, name, argv[optind + 1], argv[optind + 2]);
    else code = remove_topic(s, name);
    kn_store_close(s);
    return code;
}
