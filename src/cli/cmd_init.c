/* cmd_init.c - `kanava init`: create the workspace (directory and database). Running it on
 * an existing workspace says so and changes nothing. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/workspace.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava init [--workspace DIR]\n"
            "  creates the workspace DIR (default $KANAVA_WORKSPACE, else ./" KN_DEFAULT_WORKSPACE ")\n"
            "  with its database DIR/kanava.db and prints its path; an existing workspace is left as it is\n");
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"workspace", required_argument, 0, 'w'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *flag = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': flag = optarg; break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (optind != argc) { usage(stderr); return KN_EXIT_USAGE; }
    char dir[4096], db[4200];
    kn_workspace_dir(dir, sizeof dir, flag);
    snprintf(db, sizeof db, "%s/kanava.db", dir);
    struct stat sb;
    int existed = stat(db, &sb) == 0;
    if (!existed && errno != ENOENT) {
        fprintf(stderr, "kanava init: %s: %s\n", db, strerror(errno));
        return KN_EXIT_FAIL;
    }
    kn_error err;
    /* An existing database is only opened (checked to be a workspace), never created over. */
    kn_store *s = kn_workspace_open(flag, !existed, &err);
    if (!s) {
        fprintf(stderr, "kanava init: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    kn_store_close(s);
    char real[PATH_MAX];
    const char *shown = realpath(dir, real) ? real : dir;
    if (existed) fprintf(stderr, "kanava init: a workspace already exists at %s; nothing changed\n", shown);
    else fprintf(stderr, "created workspace %s\n", shown);
    printf("%s\n", shown);
    return KN_EXIT_OK;
}
