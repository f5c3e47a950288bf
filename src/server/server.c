/* server.c - starting and stopping `kanava serve`: open the workspace and the first model
 * (--model DIR or the workspace's active model), start
 * libmicrohttpd's thread pool on the bind address, wait for SIGINT or SIGTERM, stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "route/route.h"
#include "model/encoder.h"
#include "server/server_internal.h"

#define CONNECTION_MEMORY (64 * 1024) /* headers and MHD's buffers per connection */
#define CONNECTION_TIMEOUT 30         /* seconds of inactivity */

void kn_server_default_options(kn_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->bind = "127.0.0.1";
    o->port = 8080;
    o->threads = 0;
    o->http_threads = 4;
    o->margin = 0.1;
    o->fallback_language = "en";
    o->max_body = 1048576;
}

static int no_reply(void *ctx, const char *topic, const char *language, char **text, kn_error *err)
{
    (void)ctx, (void)topic, (void)language, (void)text, (void)err;
    return 1;
}

static void on_stop_signal(int sig) { (void)sig; }

/* The routing settings are checked once here (a dry run of the policy), so a bad margin or
 * fallback language stops the server at start rather than failing every route call. */
static int check_routing(const kn_server_options *o, kn_error *err)
{
    float p = 1.0f;
    kn_route_topic t = {.name = "check", .known = 0, .threshold = 1.0};
    kn_route_input in = {.proba = &p, .n_classes = 1, .topics = &t, .margin = o->margin,
                         .fallback_language = o->fallback_language, .reply = no_reply};
    kn_route_decision d;
    if (kn_route_decide(&in, &d, err) != 0) return -1;
    kn_route_decision_free(&d);
    return 0;
}

/* Fills addr for host:port (numeric IPv4 or IPv6). */
static int make_address(const char *host, int port, struct sockaddr_storage *addr, int *ipv6, kn_error *err)
{
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *ipv6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *ipv6 = 1;
        return 0;
    }
    return kn_fail(err, "--bind %s: not a numeric IPv4 or IPv6 address", host);
}

/* The model to start with: --model DIR (registered here; marked active once the server
 * listens), else the workspace's active model. Opens it and makes it live. */
static int load_first_model(kn_server *srv, kn_error *err)
{
    const char *dir = srv->opt.model_dir;
    kn_model_info active = {0};
    if (!dir) {
        int rc = kn_store_active_model(srv->store, &active, err);
        if (rc < 0) return -1;
        if (rc == 1) {
            /* A new workspace: messages are imported, labelled and trained from the UI. */
            fprintf(stderr, "no active model yet: classify and route answer 409 until one is trained and activated\n");
            return 0;
        }
        dir = active.bundle_path;
    }
    int bad_bundle = 0;
    kn_live_model *m = kn_live_load(srv, dir, &bad_bundle, err);
    if (!m && active.bundle_path) {
        kn_error e = *err;
        kn_fail(err, "the workspace's active model %lld: %s", (long long)active.id, e.msg);
    }
    kn_model_info_free(&active);
    if (!m) return -1;
    kn_live_swap(srv, m);
    return 0;
}

static struct MHD_Daemon *start(kn_server *srv, kn_error *err)
{
    const kn_server_options *o = &srv->opt;
    struct sockaddr_storage addr;
    int ipv6 = 0;
    if (make_address(o->bind, o->port, &addr, &ipv6, err) != 0) return NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, kn_http_access, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->http_threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
        MHD_OPTION_NOTIFY_COMPLETED, kn_http_completed, srv, MHD_OPTION_END);
    if (!d) kn_fail(err, "cannot listen on %s port %d (in use, or not an address of this machine?)", o->bind, o->port);
    return d;
}

int kn_server_run(const kn_server_options *o, kn_error *err)
{
    kn_server srv;
    memset(&srv, 0, sizeof srv);
    srv.opt = *o;
    if (!o->db_path) return kn_fail(err, "no workspace database given");
    if (o->threads < 0 || o->threads > 256) return kn_fail(err, "--threads %d: expected 1 to 256", o->threads);
    if (o->http_threads < 1 || o->http_threads > 256)
        return kn_fail(err, "--http-threads %d: expected 1 to 256", o->http_threads);
    kn_set_threads(o->threads);
    kn_live_set_compute_threads(o->threads);
    if (o->port < 1 || o->port > 65535) return kn_fail(err, "--port %d: expected 1 to 65535", o->port);
    if (o->max_body < 1) return kn_fail(err, "--max-body must be at least 1 byte");
    if (check_routing(o, err) != 0) return -1;

    /* Block the stop signals before MHD starts its threads (they inherit the mask), so only
     * sigwait below sees them. A handler (never run) replaces an inherited SIG_IGN (a shell
     * starts background jobs with SIGINT ignored), which POSIX lets a system discard. */
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = -1;
    struct MHD_Daemon *daemon = NULL;
    pthread_mutex_init(&srv.store_lock, NULL);
    pthread_mutex_init(&srv.model_lock, NULL);
    pthread_mutex_init(&srv.swap_lock, NULL);
    srv.metrics = kn_metrics_new();
    srv.jobs = kn_jobs_new();
    if (!srv.metrics || !srv.jobs) kn_fail(err, "out of memory");
    else srv.store = kn_store_open(o->db_path, 0, err);
    if (srv.store && load_first_model(&srv, err) == 0) daemon = start(&srv, err);
    /* Only a server that runs makes its model the workspace's active one (a failed start,
     * say a port in use, leaves the workspace as it was). */
    if (daemon && srv.live && kn_live_mark_active(&srv, srv.live->id, err) != 0) {
        MHD_stop_daemon(daemon);
        daemon = NULL;
    }
    if (daemon) {
        fprintf(stderr, "listening on http://%s%s%s:%d\n", strchr(o->bind, ':') ? "[" : "", o->bind,
                strchr(o->bind, ':') ? "]" : "", o->port);
        int sig = 0;
        sigwait(&stop, &sig);
        fprintf(stderr, "%s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        MHD_stop_daemon(daemon);
        rc = 0;
    }
    kn_jobs_free(srv.jobs); /* running jobs stop at their next step; they use the store and models */
    kn_live_swap(&srv, NULL); /* every request is done: this closes the live bundle */
    if (srv.store) kn_store_close(srv.store);
    kn_metrics_free(srv.metrics);
    pthread_mutex_destroy(&srv.store_lock);
    pthread_mutex_destroy(&srv.model_lock);
    pthread_mutex_destroy(&srv.swap_lock);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    return rc;
}
