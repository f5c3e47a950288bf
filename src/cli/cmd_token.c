/* cmd_token.c - `kanava token create|revoke|list`: API tokens of the workspace. A token is
 * printed once, alone on stdout, when it is created; only its SHA-256 is stored, and no
 * command ever prints a hash. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cli/commands.h"
#include "cli/workspace.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava token create --role admin|annotator|service [--name NAME]\n"
            "                           prints a new API token (once: keep it; only its hash is stored)\n"
            "       kanava token revoke NAME\n"
            "       kanava token list   names, roles, when created and revoked\n"
            "  --name NAME     default ROLE-N (the first free number)\n"
            "  --workspace DIR (default $KANAVA_WORKSPACE, else ./" KN_DEFAULT_WORKSPACE ")\n");
}

static int valid_role(const char *role)
{
    return strcmp(role, "admin") == 0 || strcmp(role, "annotator") == 0 || strcmp(role, "service") == 0;
}

/* "2026-11-28 19:05:00Z" in UTC. */
static void format_time(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0) snprintf(out, cap, "%lld", (long long)t);
}

/* 1 when a token (active or revoked) is called name. */
static int name_used(const kn_token_info *list, size_t n, const char *name, int active_only)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0 && (!active_only || !list[i].revoked)) return 1;
    return 0;
}

static int create(kn_store *s, const char *role, const char *name)
{
    kn_error err;
    kn_token_info *list;
    size_t n;
    if (kn_store_list_tokens(s, &list, &n, &err) != 0) {
        fprintf(stderr, "kanava token: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    char def[64];
    if (!name) {
        for (size_t i = 1;; i++) {
            snprintf(def, sizeof def, "%s-%zu", role, i);
            if (!name_used(list, n, def, 0)) break;
        }
        name = def;
    }
    int taken = name_used(list, n, name, 1);
    kn_token_infos_free(list, n);
    if (taken) {
        fprintf(stderr, "kanava token: a token named \"%s\" already exists; revoke it first or pick another --name\n", name);
        return KN_EXIT_USAGE;
    }
    char token[65];
    if (kn_store_create_token(s, role, name, token, &err) != 0) {
        fprintf(stderr, "kanava token: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    printf("%s\n", token);
    fflush(stdout);
    OPENSSL_cleanse(token, sizeof token);
    fprintf(stderr, "created %s token \"%s\"; it is shown only this once: store it now\n", role, name);
    return KN_EXIT_OK;
}

static int list_tokens(kn_store *s)
{
    kn_error err;
    kn_token_info *list;
    size_t n;
    if (kn_store_list_tokens(s, &list, &n, &err) != 0) {
        fprintf(stderr, "kanava token: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    int width = 4;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(list[i].name);
        if (len > (size_t)width) width = len > 64 ? 64 : (int)len;
    }
    if (n == 0) fprintf(stderr, "no tokens; create one with `kanava token create --role ROLE`\n");
    else printf("%-*s  %-9s  %-20s  %s\n", width, "NAME", "ROLE", "CREATED", "REVOKED");
    for (size_t i = 0; i < n; i++) {
        char created[40], revoked[40] = "-";
        format_time(list[i].created_at, created, sizeof created);
        if (list[i].revoked) format_time(list[i].revoked_at, revoked, sizeof revoked);
        printf("%-*s  %-9s  %-20s  %s\n", width, list[i].name, list[i].role, created, revoked);
    }
    kn_token_infos_free(list, n);
    return KN_EXIT_OK;
}

int cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {{"workspace", required_argument, 0, 'w'},
                                          {"role", required_argument, 0, 'r'},
                                          {"name", required_argument, 0, 'n'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *flag = NULL, *role = NULL, *name = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': flag = optarg; break;
        case 'r': role = optarg; break;
        case 'n': name = optarg; break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (optind >= argc) { usage(stderr); return KN_EXIT_USAGE; }
    const char *sub = argv[optind++];
    int nargs = argc - optind;
    if (strcmp(sub, "create") == 0) {
        if (nargs != 0) { usage(stderr); return KN_EXIT_USAGE; }
        if (!role) {
            fprintf(stderr, "kanava token create: --role is required (admin, annotator or service)\n");
            return KN_EXIT_USAGE;
        }
        if (!valid_role(role)) {
            fprintf(stderr, "kanava token: unknown role '%s' (admin, annotator or service)\n", role);
            return KN_EXIT_USAGE;
        }
        if (name && !*name) {
            fprintf(stderr, "kanava token: --name is empty\n");
            return KN_EXIT_USAGE;
        }
    } else if (strcmp(sub, "revoke") == 0 || strcmp(sub, "list") == 0) {
        if (nargs != (strcmp(sub, "revoke") == 0 ? 1 : 0) || role || name) { usage(stderr); return KN_EXIT_USAGE; }
    } else {
        fprintf(stderr, "kanava token: unknown subcommand '%s' (create, revoke or list)\n", sub);
        return KN_EXIT_USAGE;
    }

    kn_error err;
    kn_store *s = kn_workspace_open(flag, 0, &err);
    if (!s) {
        fprintf(stderr, "kanava token: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    int code;
    if (strcmp(sub, "create") == 0) {
        code = create(s, role, name);
    } else if (strcmp(sub, "list") == 0) {
        code = list_tokens(s);
    } else {
        const char *target = argv[optind];
        int rc = kn_store_revoke_token(s, target, &err);
        if (rc == 0) {
            fprintf(stderr, "revoked token \"%s\"\n", target);
            code = KN_EXIT_OK;
        } else if (rc == 1) {
            fprintf(stderr, "kanava token: no active token named \"%s\" (see `kanava token list`)\n", target);
            code = KN_EXIT_USAGE;
        } else {
            fprintf(stderr, "kanava token: %s\n", err.msg);
            code = KN_EXIT_FAIL;
        }
    }
    kn_store_close(s);
    return code;
}
