/* cmd_serve.c - `kanava serve`: the HTTP JSON API (src/server) over a workspace and a
 * trained bundle (--model DIR, or the workspace's active model), until SIGINT or SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/workspace.h"
#include "server/server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kanava serve [--model BUNDLE_DIR] [options]\n"
            "  --workspace DIR          the workspace (default $KANAVA_WORKSPACE or ./" KN_DEFAULT_WORKSPACE ")\n"
            "  --model DIR              the trained bundle that classifies (kanava train --out DIR);\n"
            "                           registered in the workspace and made its active model.\n"
            "                           Default: the workspace's active model (POST /api/models/{id}/activate\n"
            "                           swaps models while the server runs)\n"
            "  --base-model DIR         the encoder models are trained on from the UI (POST /api/train);\n"
            "                           default: the active model's encoder, else use-lite\n"
            "  --bind ADDR              numeric address to listen on (default 127.0.0.1)\n"
            "  --port N                 default 8080\n"
            "  --threads N              cores the model computes on (default: all)\n"
            "  --http-threads N         connection threads (default 4); requests that arrive together\n"
            "                           are classified together in one batch\n"
            "  --margin X               routing: needed lead over the second topic (default 0.1)\n"
            "  --fallback-language TAG  routing: reply language when the message's has none (default en)\n"
            "  --max-body BYTES         largest request body (default 1048576)\n"
            "Stops on SIGINT or SIGTERM. Logs one line per request to stderr, never message text.\n"
            "The API: GET /api/openapi.json, or docs/API.md.\n");
}

/* A whole number in [lo, hi]; -1 otherwise. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"workspace", required_argument, 0, 'w'}, {"model", required_argument, 0, 'm'},
        {"bind", required_argument, 0, 'b'},      {"port", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'},   {"margin", required_argument, 0, 'M'},
        {"http-threads", required_argument, 0, 'H'},
        {"fallback-language", required_argument, 0, 'f'}, {"max-body", required_argument, 0, 'x'},
        {"base-model", required_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    kn_server_options o;
    kn_server_default_options(&o);
    const char *workspace = NULL;
    long v;
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': workspace = optarg; break;
        case 'm': o.model_dir = optarg; break;
        case 'B': o.base_model = optarg; break;
        case 'b': o.bind = optarg; break;
        case 'f': o.fallback_language = optarg; break;
        case 'p':
            if (parse_long(optarg, 1, 65535, &v) != 0) { fprintf(stderr, "kanava serve: --port wants 1 to 65535, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            o.port = (int)v;
            break;
        case 't':
            if (parse_long(optarg, 1, 256, &v) != 0) { fprintf(stderr, "kanava serve: --threads wants 1 to 256, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            o.threads = (int)v;
            break;
        case 'H':
            if (parse_long(optarg, 1, 256, &v) != 0) { fprintf(stderr, "kanava serve: --http-threads wants 1 to 256, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            o.http_threads = (int)v;
            break;
        case 'x':
            if (parse_long(optarg, 1, 1L << 30, &v) != 0) { fprintf(stderr, "kanava serve: --max-body wants 1 to 1073741824 bytes, not '%s'\n", optarg); return KN_EXIT_USAGE; }
            o.max_body = (size_t)v;
            break;
        case 'M':
            o.margin = strtod(optarg, &end);
            if (end == optarg || *end || !(o.margin >= 0 && o.margin <= 1)) { fprintf(stderr, "kanava serve: --margin wants a number in [0, 1], not '%s'\n", optarg); return KN_EXIT_USAGE; }
            break;
        case 'h': usage(stdout); return KN_EXIT_OK;
        default: usage(stderr); return KN_EXIT_USAGE;
        }
    }
    if (optind != argc) { usage(stderr); return KN_EXIT_USAGE; }
    char dir[4096], db[4200];
    kn_workspace_dir(dir, sizeof dir, workspace);
    snprintf(db, sizeof db, "%s/kanava.db", dir);
    o.db_path = db;
    kn_error err;
    if (kn_server_run(&o, &err) != 0) {
        fprintf(stderr, "kanava serve: %s\n", err.msg);
        return KN_EXIT_FAIL;
    }
    return KN_EXIT_OK;
}
