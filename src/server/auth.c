/* auth.c - bearer tokens: "Authorization: Bearer TOKEN", checked against the workspace's
 * tokens (only their SHA-256 is stored), and the role each endpoint allows. */
#include <string.h>
#include <strings.h>

#include "server/server_internal.h"
#include "store/ui_messages.h"

static int role_bit(const char *role)
{
    if (strcmp(role, "admin") == 0) return KN_ROLE_ADMIN;
    if (strcmp(role, "annotator") == 0) return KN_ROLE_ANNOTATOR;
    if (strcmp(role, "service") == 0) return KN_ROLE_SERVICE;
    return 0;
}

int kn_auth_check(kn_request *r, int roles)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        kn_respond_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", "this endpoint needs an Authorization: Bearer TOKEN header");
        return -1;
    }
    const char *token = h + 7;
    while (*token == ' ') token++;
    kn_server *srv = r->srv;
    kn_error err = {{0}};
    pthread_mutex_lock(&srv->store_lock);
    int rc = kn_store_check_token_named(srv->store, token, r->role, r->token_name, sizeof r->token_name, &err);
    pthread_mutex_unlock(&srv->store_lock);
    if (rc < 0) {
        kn_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "checking the token: %s", err.msg);
        return -1;
    }
    if (rc == 1) {
        kn_respond_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", "unknown or revoked token");
        return -1;
    }
    if (!(role_bit(r->role) & roles)) {
        kn_respond_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "the role %s may not call %s %s", r->role, r->method,
                         r->path);
        return -1;
    }
    return 0;
}
