/* server_fixture.c - test helper for tests/server_test.sh (not a cmocka test): creates the
 * workspace database if needed and an API token, or revokes one.
 *   server_fixture DB ROLE NAME     prints the new token
 *   server_fixture DB revoke NAME */
#include <stdio.h>
#include <string.h>

#include "store/store.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: server_fixture DB ROLE NAME | server_fixture DB revoke NAME\n");
        return 2;
    }
    kn_error err;
    kn_store *s = kn_store_open(argv[1], 1, &err);
    if (s && strcmp(argv[2], "revoke") == 0) {
        int rc = kn_store_revoke_token(s, argv[3], &err);
        if (rc != 0) fprintf(stderr, "server_fixture: %s\n", rc < 0 ? err.msg : "no such token");
        kn_store_close(s);
        return rc == 0 ? 0 : 1;
    }
    char token[65];
    if (!s || kn_store_create_token(s, argv[2], argv[3], token, &err) != 0) {
        fprintf(stderr, "server_fixture: %s\n", err.msg);
        kn_store_close(s);
        return 1;
    }
    printf("%s\n", token);
    kn_store_close(s);
    return 0;
}
